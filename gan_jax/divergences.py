"""Divergences behind the GAN game, exact and by Monte Carlo; jax only.

Natural logarithms throughout. Exact versions take either probability vectors
along the last axis (`dx=1`) or densities sampled on a uniform grid with
spacing `dx`, in which case sums become Riemann sums of the integrals. The
convention 0 log 0 = 0 holds, and KL(p || q) is +inf where p > 0 = q.

  KL(P || Q)       = E_P log(p / q)
  JSD(P || Q)      = 1/2 KL(P || M) + 1/2 KL(Q || M),  M = (P + Q) / 2
  JSD_pi(P || Q)   = pi KL(P || M_pi) + (1 - pi) KL(Q || M_pi),
                     M_pi = pi P + (1 - pi) Q                 (Huszar 2015)
  D*(x)            = (1 - a)(1 - pi) p_data / ((1 - pi) p_data + pi p_g)
  V(G, D*)         = -log 4 + 2 JSD(p_data || p_g)    (Goodfellow et al. 2014)
  D_f(P || Q)      = sum_x q f(p / q) dx = sup_T E_P T - E_Q f*(T),
  T*(x)            = f'(p(x) / q(x))              (Nowozin et al. 2016, f-GAN)
  W1(P, Q)         = int |F_P - F_Q| dx   in 1D   (Arjovsky et al. 2017)

The f-divergences (`F_DIVERGENCES`; P = p_data, Q = p_g, u = p / q):

  kl                 f(u) = u log u                        KL(P || Q)
  reverse_kl         f(u) = -log u                         KL(Q || P)
  pearson            f(u) = (u - 1)^2                      sum (p - q)^2 / q
  neyman             f(u) = (1 - u)^2 / u                  sum (p - q)^2 / p
  squared_hellinger  f(u) = (sqrt(u) - 1)^2            sum (sqrt p - sqrt q)^2
  jensen_shannon     f(u) = 1/2 [u log u - (u + 1) log((u + 1) / 2)]   JSD
  gan                f(u) = u log u - (u + 1) log(u + 1)   2 JSD - log 4
  total_variation    f(u) = 1/2 |u - 1|                    1/2 sum |p - q|

Nowozin's Table 1 lists the Jensen-Shannon f without the 1/2 (its D_f is
2 JSD); here 'jensen_shannon' is the JSD itself, equal to
`jensen_shannon_divergence`, and 'gan' equals `value_at_optimum`.

Monte Carlo versions take log-density functions and samples, and return the
estimate with its standard error.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import rel_entr
from jax.scipy.special import xlog1py
from jax.scipy.special import xlogy

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
LogDensity = Callable[[Array], Array]


def _check_pi(pi, name: str) -> None:
  if isinstance(pi, (int, float)) and not 0.0 <= pi <= 1.0:
    raise ValueError(f"{name} must lie in [0, 1], got {pi}")


def kl_divergence(p: ArrayLike, q: ArrayLike, *, dx: float = 1.0) -> Array:
  """KL(p || q) = sum_x p log(p / q) dx over the last axis.

  Args:
    p, q: probabilities or grid densities, shape [..., n] (broadcastable).
    dx: grid spacing; 1 for probability vectors.

  Returns:
    [...] divergences, >= 0; +inf where some p > 0 has q = 0.
  """
  p, q = jnp.asarray(p), jnp.asarray(q)
  # rel_entr(p, q) = p log(p/q), 0 at p = 0 and +inf at p > 0 = q.
  return jnp.sum(rel_entr(p, q), axis=-1) * dx


def _xlog_x_over_mixture(p: Array, q: Array, log_a, log_b) -> Array:
  """p log(p / (a p + b q)) elementwise, from log a and log b; 0 where p = 0.

      log(p / (a p + b q)) = -log(a + b q / p)
                           = -logaddexp(log a, log b + log q - log p)

  The direct form becomes +inf in float32 where p and q lie just above the
  smallest normal number (1.2e-38): a p + b q is then subnormal and XLA:CPU
  flushes it to 0. The ratio form never forms the mixture; it is bounded by
  -log a and finite for a > 0. Densities below the smallest normal count as 0
  (their terms are < 1e-36).
  """
  tiny = jnp.finfo(jnp.result_type(p, q, float)).tiny
  p_positive, q_positive = p > tiny, q > tiny
  log_p = jnp.log(jnp.where(p_positive, p, 1.0))
  log_q = jnp.log(jnp.where(q_positive, q, 1.0))
  # The double `where` keeps gradients finite where a density is 0.
  log_q_over_p = jnp.where(q_positive, log_q - log_p, -jnp.inf)
  log_p_over_m = -jnp.logaddexp(log_a, log_b + log_q_over_p)
  return jnp.where(p_positive, p * log_p_over_m, 0.0)


def _kl_to_mixture(p: Array, q: Array, weight, dx: float) -> Array:
  """KL(P || M), M = weight P + (1 - weight) Q, through the density ratio.

  See `_xlog_x_over_mixture`: finite for weight in (0, 1] even where the
  mixture density would underflow.
  """
  terms = _xlog_x_over_mixture(p, q, jnp.log(weight), jnp.log1p(-weight))
  return jnp.sum(terms, axis=-1) * dx


def generalized_jsd(p: ArrayLike, q: ArrayLike, pi, *,
                    dx: float = 1.0) -> Array:
  """Huszar's (2015) generalised Jensen-Shannon divergence JSD_pi(p || q).

      JSD_pi(P || Q) = pi KL(P || pi P + (1-pi) Q) + (1-pi) KL(Q || pi P + (1-pi) Q)

  JSD_1/2 is the JSD; JSD_pi(P||Q) = JSD_{1-pi}(Q||P); JSD_pi / pi -> KL(P||Q)
  as pi -> 0 and JSD_pi / (1-pi) -> KL(Q||P) as pi -> 1. Always finite:
  0 <= JSD_pi <= H(pi) = -pi log pi - (1-pi) log(1-pi). Computed through
  the density ratios (`_kl_to_mixture`), so it stays finite in float32 where
  the mixture density would underflow.

  Args:
    p, q: probabilities or grid densities, shape [..., n].
    pi: weight of P in the mixture, in [0, 1].
    dx: grid spacing; 1 for probability vectors.
  """
  _check_pi(pi, "pi")
  p, q = jnp.asarray(p), jnp.asarray(q)
  # A zero weight must give 0, not 0 * inf, when at pi = 0 (or 1) the other
  # distribution misses part of this one's support.
  return (jnp.where(pi > 0, pi * _kl_to_mixture(p, q, pi, dx), 0.0) +
          jnp.where(pi < 1, (1.0 - pi) * _kl_to_mixture(q, p, 1.0 - pi, dx),
                    0.0))


def jensen_shannon_divergence(p: ArrayLike, q: ArrayLike, *,
                              dx: float = 1.0) -> Array:
  """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2.

  Symmetric, in [0, log 2], zero iff p = q.
  """
  return generalized_jsd(p, q, 0.5, dx=dx)


def optimal_discriminator(p_data: ArrayLike, p_g: ArrayLike, *,
                          fake_fraction: float = 0.5,
                          label_smoothing: float = 0.0) -> Array:
  """D*(x) for a fixed generator (Goodfellow et al. 2014, Proposition 1).

      D*(x) = (1 - a) (1 - pi) p_data(x) / ((1 - pi) p_data(x) + pi p_g(x))

  with pi = `fake_fraction` and a = one-sided `label_smoothing`, the pointwise
  maximiser of -`gan_jax.losses.discriminator_loss`. At pi = 1/2, a = 0 it is
  p_data / (p_data + p_g). Where both densities vanish D* is undefined; 1/2 is
  returned there.

  Args:
    p_data, p_g: densities (or probabilities) at the same points.
    fake_fraction: pi in (0, 1).
    label_smoothing: a in [0, 1).
  """
  p_data, p_g = jnp.asarray(p_data), jnp.asarray(p_g)
  real = (1.0 - fake_fraction) * p_data
  total = real + fake_fraction * p_g
  safe_total = jnp.where(total > 0, total, 1.0)
  return (1.0 - label_smoothing) * jnp.where(total > 0, real / safe_total,
                                             0.5)


def value_at_optimum(p_data: ArrayLike, p_g: ArrayLike, *,
                     fake_fraction: float = 0.5, dx: float = 1.0) -> Array:
  """V(G, D*) evaluated from the definition of V, not from the JSD identity.

      V_pi(G, D) = 2 [(1-pi) E_{p_data} log D(x) + pi E_{p_g} log(1 - D(x))]

  with D = D*_pi (`optimal_discriminator`). At pi = 1/2 this is Goodfellow's
  V(G, D*), which the theory says equals -log 4 + 2 JSD(p_data || p_g); for
  general pi it equals 2 [pi log pi + (1-pi) log(1-pi) + JSD_pi(p_g || p_data)]
  (Huszar 2015). Both identities are checked numerically in the tests, so this
  function deliberately does not use them. 0 log 0 = 0 where a density is 0.

  Args:
    p_data, p_g: densities on a grid (or probabilities), shape [..., n].
    fake_fraction: pi in (0, 1).
    dx: grid spacing.
  """
  p_data, p_g = jnp.asarray(p_data), jnp.asarray(p_g)
  d_star = optimal_discriminator(p_data, p_g, fake_fraction=fake_fraction)
  # 1 - D*, computed without the cancellation of `1 - d_star`, which rounds to
  # 0 (log -> -inf) wherever pi p_g < 1e-16 (1-pi) p_data but p_g > 0.
  one_minus_d_star = optimal_discriminator(p_g, p_data,
                                           fake_fraction=1.0 - fake_fraction)
  # p log D with D = (1-pi)p / ((1-pi)p + pi q) > 0 wherever p > 0, so the
  # guarded log only matters where p = 0 and the term is 0 anyway.
  safe = lambda w, v: jnp.where(w > 0, w * jnp.log(jnp.where(w > 0, v, 1.0)),
                                0.0)
  real_term = jnp.sum(safe(p_data, d_star), axis=-1) * dx
  fake_term = jnp.sum(safe(p_g, one_minus_d_star), axis=-1) * dx
  return 2.0 * ((1.0 - fake_fraction) * real_term + fake_fraction * fake_term)


# ----------------------------------------------------------------------------
# f-divergences (Nowozin, Cseke & Tomioka 2016, "f-GAN", Table 1).
# ----------------------------------------------------------------------------

F_DIVERGENCES = ("kl", "reverse_kl", "pearson", "neyman", "squared_hellinger",
                 "jensen_shannon", "gan", "total_variation")

_LOG2 = math.log(2.0)


def _check_divergence(divergence: str) -> None:
  if divergence not in F_DIVERGENCES:
    raise ValueError(
        f"divergence must be one of {F_DIVERGENCES}, got {divergence!r}")


def _gan_f(u: Array) -> Array:
  # u log(u / (u+1)) - log(u+1), without the cancellation of u log u against
  # (u+1) log(u+1) for large u; u log1p(1/u) = 0 at u = 0.
  return -xlog1py(u, 1.0 / u) - jnp.log1p(u)


# f(u) for u >= 0; f(0) is the limit u -> 0+ (+inf for reverse_kl, neyman).
_F = {
    "kl": lambda u: xlogy(u, u),
    "reverse_kl": lambda u: -jnp.log(u),
    "pearson": lambda u: (u - 1.0)**2,
    "neyman": lambda u: (1.0 - u)**2 / u,
    "squared_hellinger": lambda u: (jnp.sqrt(u) - 1.0)**2,
    "jensen_shannon": lambda u: 0.5 * (_gan_f(u) + (u + 1.0) * _LOG2),
    "gan": _gan_f,
    "total_variation": lambda u: 0.5 * jnp.abs(u - 1.0),
}

# f'(u) for u in [0, inf]; the limits at 0 and inf follow from IEEE arithmetic.
_F_PRIME = {
    "kl": lambda u: 1.0 + jnp.log(u),
    "reverse_kl": lambda u: -1.0 / u,
    "pearson": lambda u: 2.0 * (u - 1.0),
    "neyman": lambda u: 1.0 - 1.0 / u**2,
    "squared_hellinger": lambda u: 1.0 - 1.0 / jnp.sqrt(u),
    "jensen_shannon": lambda u: 0.5 * (_LOG2 - jnp.log1p(1.0 / u)),
    "gan": lambda u: -jnp.log1p(1.0 / u),
    "total_variation": lambda u: 0.5 * jnp.sign(u - 1.0),
}


def f_function(u: ArrayLike, divergence: str) -> Array:
  """The generator function f(u) of an f-divergence, elementwise.

  See the module docstring for each f (Nowozin et al. 2016, Table 1, with
  'jensen_shannon' halved). f is convex with f(1) = 0, except 'gan', whose
  f(1) = -log 4 (its D_f is offset by that constant). At u = 0 f takes its
  limit from above: +inf for 'reverse_kl' and 'neyman', 0 for 'kl' and
  'gan' (0 log 0 = 0), 1 for 'pearson' and 'squared_hellinger', log(2) / 2
  for 'jensen_shannon' and 1/2 for 'total_variation'.

  Args:
    u: density ratios p / q >= 0, any shape.
    divergence: one of `F_DIVERGENCES`.

  Returns:
    f(u), the shape of u.
  """
  _check_divergence(divergence)
  return _F[divergence](jnp.asarray(u, jnp.result_type(u, float)))


def f_derivative(u: ArrayLike, divergence: str) -> Array:
  """f'(u) for the f of `f_function`, elementwise; T* = f'(p / q).

      kl 1 + log u            reverse_kl -1/u        pearson 2 (u - 1)
      neyman 1 - 1/u^2        squared_hellinger 1 - 1/sqrt(u)
      jensen_shannon 1/2 log(2u / (u + 1))          gan log(u / (u + 1))
      total_variation 1/2 sign(u - 1)  (a subgradient; 0 at u = 1)

  u = 0 gives the limit from above (-inf for all but 'pearson', -2, and
  'total_variation', -1/2); u = +inf gives the limit as u -> inf (+inf for
  'kl' and 'pearson', 0 for 'reverse_kl' and 'gan', 1 for 'neyman' and
  'squared_hellinger', log(2) / 2 for 'jensen_shannon', 1/2 for
  'total_variation').

  Args:
    u: density ratios p / q in [0, inf], any shape.
    divergence: one of `F_DIVERGENCES`.

  Returns:
    f'(u), the shape of u.
  """
  _check_divergence(divergence)
  return _F_PRIME[divergence](jnp.asarray(u, jnp.result_type(u, float)))


def _ratio_term(num: Array, den: Array, fn) -> Array:
  """fn(num, den) where den > 0; +inf where den = 0 < num; 0 where both 0."""
  safe_den = jnp.where(den > 0, den, 1.0)
  return jnp.where(den > 0, fn(num, safe_den),
                   jnp.where(num > 0, jnp.inf, 0.0))


def _squared_difference_over(a: Array, b: Array) -> Array:
  """(a - b)^2 / b as ((a - b) / sqrt(b))^2, for b > 0.

  The gradient of the direct form has (a - b)^2 / b^2, which is 0 / 0 = NaN
  in float32 Gaussian tails (b < 1e-19: b^2 underflows); this one divides by
  sqrt(b)^2 = b only, finite for b above the smallest normal number.
  """
  return ((a - b) / jnp.sqrt(b))**2


def _safe_sqrt(x: Array) -> Array:
  # sqrt with a zero (not infinite) gradient at 0, so that a point where
  # both densities vanish gives a finite gradient.
  positive = x > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _gan_term(p: Array, q: Array) -> Array:
  # p log(p / (p + q)) + q log(q / (p + q)), each through the density ratio.
  return (_xlog_x_over_mixture(p, q, 0.0, 0.0) +
          _xlog_x_over_mixture(q, p, 0.0, 0.0))


def _jensen_shannon_term(p: Array, q: Array) -> Array:
  # 1/2 [p log(p / m) + q log(q / m)], m = (p + q) / 2, as `generalized_jsd`.
  log_half = -_LOG2
  return 0.5 * (_xlog_x_over_mixture(p, q, log_half, log_half) +
                _xlog_x_over_mixture(q, p, log_half, log_half))


# q f(p / q) in closed form, with its limits where p or q is 0.
_F_TERM = {
    "kl": rel_entr,
    "reverse_kl": lambda p, q: rel_entr(q, p),
    "pearson": lambda p, q: _ratio_term(p, q, _squared_difference_over),
    "neyman": lambda p, q: _ratio_term(q, p, _squared_difference_over),
    "squared_hellinger": lambda p, q: (_safe_sqrt(p) - _safe_sqrt(q))**2,
    "jensen_shannon": _jensen_shannon_term,
    "gan": _gan_term,
    "total_variation": lambda p, q: 0.5 * jnp.abs(p - q),
}


def f_divergence(p: ArrayLike, q: ArrayLike, divergence: str, *,
                 dx: float = 1.0) -> Array:
  """D_f(P || Q) = sum_x q f(p / q) dx, last axis (Nowozin et al. 2016).

  P = p_data is the first argument, Q = p_g the second; f is `f_function`'s.
  Each term q f(p / q) is computed in a closed form that needs no ratio
  (e.g. p log(p / q) by `rel_entr`, (p - q)^2 / q, (sqrt p - sqrt q)^2), so
  zeros and tiny densities need no special care, and the gradients stay
  finite where both densities vanish or are so small that their squares
  underflow. A point where both vanish adds 0. A point with q = 0 < p adds
  p lim_{u->inf} f(u) / u: +inf for 'kl' and 'pearson'; p for 'neyman' and
  'squared_hellinger'; p log(2) / 2 for 'jensen_shannon'; 0 for
  'reverse_kl' and 'gan'; p / 2 for 'total_variation'. A point with
  p = 0 < q adds q f(0): +inf for 'reverse_kl' and 'neyman', finite for the
  rest (in `F_DIVERGENCES` order: 0, q, q, q log(2) / 2, 0, q / 2).

  'kl' is `kl_divergence(p, q)`, 'reverse_kl' is `kl_divergence(q, p)`,
  'jensen_shannon' is `jensen_shannon_divergence` and 'gan' is
  `value_at_optimum` (= 2 JSD - log 4); the JS-type terms go through the
  density ratio as those do, and stay finite in float32 tails.

  Args:
    p, q: probabilities or grid densities, shape [..., n] (broadcastable).
    divergence: one of `F_DIVERGENCES`.
    dx: grid spacing; 1 for probability vectors.

  Returns:
    [...] divergences (>= 0 except 'gan', which is >= -log 4).
  """
  _check_divergence(divergence)
  dtype = jnp.result_type(p, q, float)
  p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
  return jnp.sum(_F_TERM[divergence](p, q), axis=-1) * dx


def optimal_critic(p: ArrayLike, q: ArrayLike, divergence: str) -> Array:
  """T*(x) = f'(p(x) / q(x)), elementwise (Nowozin et al. 2016, eqs. 4-5).

  The pointwise maximiser of the variational bound
  D_f(P || Q) >= E_P T(x) - E_Q f*(T(x)), where f* is the convex conjugate;
  the bound is tight at T*. For 'gan', T* = log D*(x) with D* the optimal
  discriminator p / (p + q). Where q = 0 < p the ratio is +inf and where
  p = 0 < q it is 0, each giving `f_derivative`'s limit there (e.g. 'kl':
  +inf and -inf). Where both vanish T* is arbitrary; f'(1) is returned
  (matching D* = 1/2 of `optimal_discriminator`).

  Args:
    p, q: densities (or probabilities) at the same points, broadcastable.
    divergence: one of `F_DIVERGENCES`.

  Returns:
    T*, the broadcast shape of p and q.
  """
  _check_divergence(divergence)
  dtype = jnp.result_type(p, q, float)
  p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
  safe_q = jnp.where(q > 0, q, 1.0)
  u = jnp.where(q > 0, p / safe_q, jnp.where(p > 0, jnp.inf, 1.0))
  return _F_PRIME[divergence](u)


# ----------------------------------------------------------------------------
# Monte Carlo estimators.
# ----------------------------------------------------------------------------


class MonteCarloEstimate(NamedTuple):
  """A Monte Carlo estimate and its standard error (std / sqrt(n))."""
  value: Array
  stderr: Array


def _mean_and_stderr(values: Array) -> tuple[Array, Array]:
  n = values.shape[0]
  return jnp.mean(values), jnp.std(values, ddof=1) / jnp.sqrt(n)


def kl_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                     samples_p: ArrayLike) -> MonteCarloEstimate:
  """KL(P || Q) ~ mean_i [log p(x_i) - log q(x_i)], x_i ~ P.

  Args:
    log_p, log_q: functions mapping [n, d] points to [n] log densities.
    samples_p: [n, d] samples from P.
  """
  samples_p = jnp.asarray(samples_p)
  return MonteCarloEstimate(*_mean_and_stderr(log_p(samples_p) -
                                              log_q(samples_p)))


def generalized_jsd_mc(log_p: LogDensity, log_q: LogDensity,
                       samples_p: ArrayLike, samples_q: ArrayLike,
                       pi: float) -> MonteCarloEstimate:
  """JSD_pi(P || Q) from samples of both, with log m by logaddexp.

      pi E_P[log p - log m] + (1-pi) E_Q[log q - log m],  m = pi p + (1-pi) q

  The two sample sets are independent, so their variances add.
  """
  _check_pi(pi, "pi")

  def log_mixture(x):
    return jnp.logaddexp(jnp.log(pi) + log_p(x), jnp.log1p(-pi) + log_q(x))

  samples_p, samples_q = jnp.asarray(samples_p), jnp.asarray(samples_q)
  mean_p, se_p = _mean_and_stderr(log_p(samples_p) - log_mixture(samples_p))
  mean_q, se_q = _mean_and_stderr(log_q(samples_q) - log_mixture(samples_q))
  value = pi * mean_p + (1.0 - pi) * mean_q
  stderr = jnp.sqrt((pi * se_p)**2 + ((1.0 - pi) * se_q)**2)
  return MonteCarloEstimate(value, stderr)


def jensen_shannon_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                                 samples_p: ArrayLike,
                                 samples_q: ArrayLike) -> MonteCarloEstimate:
  """JSD(P || Q) from samples of both (see `generalized_jsd_mc`)."""
  return generalized_jsd_mc(log_p, log_q, samples_p, samples_q, 0.5)


def value_at_optimum_mc(log_p_data: LogDensity, log_p_g: LogDensity,
                        samples_data: ArrayLike,
                        samples_g: ArrayLike) -> MonteCarloEstimate:
  """V(G, D*) = E_data log D*(x) + E_g log(1 - D*(x)) from samples.

  log D* = log p_data - log(p_data + p_g), computed in log space.
  """
  samples_data, samples_g = jnp.asarray(samples_data), jnp.asarray(samples_g)

  def log_total(x):
    return jnp.logaddexp(log_p_data(x), log_p_g(x))

  mean_d, se_d = _mean_and_stderr(log_p_data(samples_data) -
                                  log_total(samples_data))
  mean_g, se_g = _mean_and_stderr(log_p_g(samples_g) - log_total(samples_g))
  return MonteCarloEstimate(mean_d + mean_g, jnp.sqrt(se_d**2 + se_g**2))


def _u_times(log_u: Array, fn) -> Array:
  """exp(log_u) fn(log_u); 0 where log_u = -inf (u = 0), even if fn = inf."""
  finite = log_u > -jnp.inf
  safe = jnp.where(finite, log_u, 0.0)
  return jnp.where(finite, jnp.exp(safe) * fn(safe), 0.0)


def _gan_f_of_log(log_u: Array) -> Array:
  # -u softplus(-l) - softplus(l) = u log(u / (u+1)) - log(u+1).
  return (-_u_times(log_u, lambda l: jax.nn.softplus(-l)) -
          jax.nn.softplus(log_u))


# f(exp(l)) from l = log u, without forming u where that loses accuracy.
_F_OF_LOG = {
    "kl": lambda l: _u_times(l, lambda l: l),
    "reverse_kl": lambda l: -l,
    "pearson": lambda l: jnp.expm1(l)**2,
    # (1-u)^2 / u = u - 2 + 1/u = 4 sinh(l/2)^2, finite wherever u^2 is not.
    "neyman": lambda l: 4.0 * jnp.sinh(0.5 * l)**2,
    "squared_hellinger": lambda l: jnp.expm1(0.5 * l)**2,
    "jensen_shannon":
        lambda l: 0.5 * (_gan_f_of_log(l) + (jnp.exp(l) + 1.0) * _LOG2),
    "gan": _gan_f_of_log,
    "total_variation": lambda l: 0.5 * jnp.abs(jnp.expm1(l)),
}


def f_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                    samples_q: ArrayLike,
                    divergence: str) -> MonteCarloEstimate:
  """D_f(P || Q) ~ mean_i f(p(x_i) / q(x_i)), x_i ~ Q (see `f_divergence`).

  f is evaluated from l = log p - log q in a form stable in l (e.g. u log u
  = e^l l, (u - 1)^2 = expm1(l)^2, (1 - u)^2 / u = 4 sinh(l / 2)^2), so no
  density is exponentiated on its own. The estimator's variance is finite
  only when E_Q f(p/q)^2 is: e.g. for Gaussians P = N(m1, s1^2) and
  Q = N(m2, s2^2) (any means), 'reverse_kl' always; 'kl',
  'squared_hellinger', 'jensen_shannon', 'gan' and 'total_variation' need
  s2 > s1 / sqrt(2); 'pearson' s2 > s1 sqrt(3) / 2; 'neyman' both
  s2 > s1 / sqrt(2) and s2 < s1 sqrt(3/2). Outside these ranges the standard
  error is meaningless.

  Args:
    log_p, log_q: functions mapping [n, d] points to [n] log densities
      (log p may be -inf; log q must be finite on Q's samples).
    samples_q: [n, d] samples from Q = p_g.
    divergence: one of `F_DIVERGENCES`.
  """
  _check_divergence(divergence)
  samples_q = jnp.asarray(samples_q)
  log_ratio = log_p(samples_q) - log_q(samples_q)
  return MonteCarloEstimate(*_mean_and_stderr(_F_OF_LOG[divergence](log_ratio)))


# ----------------------------------------------------------------------------
# Wasserstein-1 in one dimension.
# ----------------------------------------------------------------------------


def wasserstein_1d(p: ArrayLike, q: ArrayLike, *, dx: float = 1.0) -> Array:
  """W1(P, Q) = int |F_P(x) - F_Q(x)| dx on a uniform 1D grid (last axis).

  The 1D closed form of the Wasserstein-1 distance of Arjovsky et al. 2017.

  The discretisation: F_P[i] = sum_{j <= i} p[j] dx (the cumulative sum
  times dx), and W1 = sum_i |F_P[i] - F_Q[i]| dx. This is the exact W1
  between the discrete distributions with masses p[i] dx and q[i] dx at the
  grid points x_i (cells of width dx), equal to
  `scipy.stats.wasserstein_distance(x, x, u_weights=p, v_weights=q)` when
  p and q have the same total mass; scipy normalises the weights, this does
  not, so pass densities renormalised on the grid (or probability vectors,
  dx = 1 meaning unit spacing). With unequal masses F_P - F_Q does not
  return to 0 at the right end and the result is not a distance.

  Args:
    p, q: grid densities (or probabilities), shape [..., n] (broadcastable).
    dx: grid spacing.

  Returns:
    [...] distances >= 0.
  """
  dtype = jnp.result_type(p, q, float)
  p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
  # One cumulative sum of p - q, not two that cancel in the tails.
  cdf_difference = jnp.cumsum(p - q, axis=-1) * dx
  return jnp.sum(jnp.abs(cdf_difference), axis=-1) * dx


def _as_1d_samples(x: ArrayLike, name: str) -> Array:
  x = jnp.asarray(x)
  if x.ndim == 2 and x.shape[1] == 1:
    x = x[:, 0]
  if x.ndim != 1:
    raise ValueError(
        f"{name} must have shape [n] or [n, 1] (1D samples), got {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"{name} must hold at least one sample, got {x.shape}")
  return x


def wasserstein_1d_samples(x: ArrayLike, y: ArrayLike) -> Array:
  """Exact W1 between the empirical distributions of 1D samples x and y.

      W1 = int |F_x(t) - F_y(t)| dt

  over the merged sorted support, F_x(t) = #{x_i <= t} / n, as
  `scipy.stats.wasserstein_distance(x, y)`. The sizes may differ; for equal
  sizes it reduces to mean_i |sort(x)_i - sort(y)_i|.

  Args:
    x: [n] or [n, 1] samples of P.
    y: [m] or [m, 1] samples of Q.

  Returns:
    A scalar >= 0.

  Raises:
    ValueError: if a sample array is empty or not one-dimensional.
  """
  x, y = _as_1d_samples(x, "x"), _as_1d_samples(y, "y")
  n, m = x.shape[0], y.shape[0]
  dtype = jnp.result_type(x, y, float)
  values = jnp.concatenate([x.astype(dtype), y.astype(dtype)])
  from_x = jnp.concatenate([jnp.ones(n, jnp.int32), jnp.zeros(m, jnp.int32)])
  values, from_x = jax.lax.sort((values, from_x), num_keys=1)
  # Exact integer counts of x and y at or below each sorted value; within a
  # run of ties they are partial, but there the gap to the next value is 0.
  count_x = jnp.cumsum(from_x)[:-1]
  count_y = jnp.arange(1, n + m, dtype=jnp.int32) - count_x
  cdf_difference = count_x.astype(dtype) / n - count_y.astype(dtype) / m
  return jnp.sum(jnp.abs(cdf_difference) * jnp.diff(values))
