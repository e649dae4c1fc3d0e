"""KL, JSD, Huszar's JSD_pi, the optimal discriminator D* and V(G, D*).

  KL(P || Q)       = E_P log(p / q)
  JSD_pi(P || Q)   = pi KL(P || M_pi) + (1 - pi) KL(Q || M_pi),
                     M_pi = pi P + (1 - pi) Q                 (Huszar 2015)
  D*(x)            = (1 - a)(1 - pi) p_data / ((1 - pi) p_data + pi p_g)
  V(G, D*)         = -log 4 + 2 JSD(p_data || p_g)    (Goodfellow et al. 2014)

On probability vectors or grid densities (last axis); see the package
docstring for the conventions.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import rel_entr

from gan_jax.divergences._common import Array
from gan_jax.divergences._common import ArrayLike
from gan_jax.divergences._common import check_pi
from gan_jax.divergences._common import xlog_x_over_mixture


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

  See `xlog_x_over_mixture`: finite for weight in (0, 1] even where the
  mixture density would underflow.
  """
  terms = xlog_x_over_mixture(p, q, jnp.log(weight), jnp.log1p(-weight))
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
  check_pi(pi, "pi")
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
  # As 1 / (1 + r), r = pi p_g / ((1 - pi) p_data), with the density ratio
  # formed first: (1 - pi) p_data itself underflows where p_data is near
  # float32's smallest normal (~1.2e-38) and XLA flushes the subnormal
  # product to 0, which made D* exactly 0 (and log D* = -inf) where
  # p_data > 0.
  data_positive = p_data > 0
  ratio = jnp.where(data_positive,
                    p_g / jnp.where(data_positive, p_data, 1.0), jnp.inf)
  ratio = ratio * (fake_fraction / (1.0 - fake_fraction))
  optimum = jnp.where(data_positive | (p_g > 0), 1.0 / (1.0 + ratio), 0.5)
  return (1.0 - label_smoothing) * optimum


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
