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

Monte Carlo versions take log-density functions and samples, and return the
estimate with its standard error.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import rel_entr

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


def _kl_to_mixture(p: Array, q: Array, weight, dx: float) -> Array:
  """KL(P || M), M = weight P + (1 - weight) Q, through the density ratio.

      log(p / m) = -log(weight + (1 - weight) q / p)
                 = -logaddexp(log weight, log(1 - weight) + log q - log p)

  The direct p log(p / m) becomes +inf in float32 where p and q lie just
  above the smallest normal number (1.2e-38): weight p + (1 - weight) q is
  then subnormal and XLA:CPU flushes it to 0. The ratio form never forms m;
  it is bounded by -log(weight) and finite for weight in (0, 1]. Densities
  below the smallest normal count as 0 (their terms are < 1e-36).
  """
  tiny = jnp.finfo(jnp.result_type(p, q, float)).tiny
  p_positive, q_positive = p > tiny, q > tiny
  log_p = jnp.log(jnp.where(p_positive, p, 1.0))
  log_q = jnp.log(jnp.where(q_positive, q, 1.0))
  # The double `where` keeps gradients finite where a density is 0.
  log_q_over_p = jnp.where(q_positive, log_q - log_p, -jnp.inf)
  log_p_over_m = -jnp.logaddexp(jnp.log(weight),
                                jnp.log1p(-weight) + log_q_over_p)
  return jnp.sum(jnp.where(p_positive, p * log_p_over_m, 0.0), axis=-1) * dx


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
