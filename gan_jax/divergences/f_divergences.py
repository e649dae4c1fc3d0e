"""f-divergences, their generator functions f and optimal critics T*.

  D_f(P || Q) = sum_x q f(p / q) dx = sup_T E_P T - E_Q f*(T),
  T*(x)       = f'(p(x) / q(x))      (Nowozin, Cseke & Tomioka 2016, Table 1)

The f of each name of `F_DIVERGENCES` is listed in the package docstring.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import rel_entr
from jax.scipy.special import xlog1py
from jax.scipy.special import xlogy

from gan_jax.divergences._common import Array
from gan_jax.divergences._common import ArrayLike
from gan_jax.divergences._common import xlog_x_over_mixture


F_DIVERGENCES = ("kl", "reverse_kl", "pearson", "neyman", "squared_hellinger",
                 "jensen_shannon", "gan", "total_variation")

LOG2 = math.log(2.0)


def check_divergence(divergence: str) -> None:
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
    "jensen_shannon": lambda u: 0.5 * (_gan_f(u) + (u + 1.0) * LOG2),
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
    "jensen_shannon": lambda u: 0.5 * (LOG2 - jnp.log1p(1.0 / u)),
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
  check_divergence(divergence)
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
  check_divergence(divergence)
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
  return (xlog_x_over_mixture(p, q, 0.0, 0.0) +
          xlog_x_over_mixture(q, p, 0.0, 0.0))


def _jensen_shannon_term(p: Array, q: Array) -> Array:
  # 1/2 [p log(p / m) + q log(q / m)], m = (p + q) / 2, as `generalized_jsd`.
  log_half = -LOG2
  return 0.5 * (xlog_x_over_mixture(p, q, log_half, log_half) +
                xlog_x_over_mixture(q, p, log_half, log_half))


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
  check_divergence(divergence)
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
  check_divergence(divergence)
  dtype = jnp.result_type(p, q, float)
  p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
  safe_q = jnp.where(q > 0, q, 1.0)
  u = jnp.where(q > 0, p / safe_q, jnp.where(p > 0, jnp.inf, 1.0))
  return _F_PRIME[divergence](u)
