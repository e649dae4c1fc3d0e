"""Relativistic pairing (RpGAN): losses of paired D(x_i) - D(G(z_i)).

Jolicoeur-Martineau 2019; Huang et al. 2024 (R3GAN), Eq. 2.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.losses._checks import as_float
from gan_jax.losses._checks import check_weights
from gan_jax.losses._checks import expectation
from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike


def _paired(real_logits: ArrayLike, fake_logits: ArrayLike,
            weights: Optional[ArrayLike]):
  """Checked (real, fake, weights) of equal shapes."""
  real = as_float(real_logits, "real_logits")
  fake = as_float(fake_logits, "fake_logits")
  if real.shape != fake.shape:
    raise ValueError(
        "relativistic losses pair real_logits[i] with fake_logits[i]: their "
        f"shapes must be equal, got {real.shape} and {fake.shape}")
  dtype = jnp.result_type(real, fake)
  return real, fake, check_weights(weights, real.shape, dtype, "weights")


def relativistic_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    weights: Optional[ArrayLike] = None,
) -> Array:
  """RpGAN discriminator loss: E_i softplus(-(r_i - f_i)).

  = -E_i log sigmoid(D(x_i) - D(G(z_i))): D is asked how much more real x_i
  looks than its paired fake (Jolicoeur-Martineau 2019, RpGAN; Huang et al.
  2024, Eq. 2, R3GAN). Its expected value over independent pairs is at most
  log 2 (at a constant D), with equality at the optimal D exactly when
  p_g = p_data.

  Args:
    real_logits: D's raw outputs r on data samples, any shape.
    fake_logits: D's raw outputs f on generator samples, the same shape; pair
      i is (r[i], f[i]).
    weights: optional per-pair weights broadcastable to that shape (one
      weight per pair, since each term involves both outputs).

  Returns:
    Scalar loss (>= 0). r - f = +inf adds 0, -inf gives +inf; r = f = +-inf
    has no limit and gives NaN.

  Raises:
    ValueError: if the shapes differ, an input is empty, or concrete weights
      are negative or all zero.
  """
  real, fake, weights = _paired(real_logits, fake_logits, weights)
  return expectation(lambda d: jax.nn.softplus(-d), real - fake, weights)


def relativistic_generator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    weights: Optional[ArrayLike] = None,
) -> Array:
  """RpGAN generator loss: E_i softplus(-(f_i - r_i)).

  The discriminator loss with the roles swapped (Huang et al. 2024, Eq. 2):
  G makes its samples look more real than the paired data. Takes the real
  outputs first, like the discriminator loss (`LossPair.generator_needs_real`).

  Args:
    real_logits: D's raw outputs r on data samples, any shape.
    fake_logits: D's raw outputs f on generator samples, the same shape.
    weights: optional per-pair weights broadcastable to that shape.

  Returns:
    Scalar loss (>= 0); infinities as in `relativistic_discriminator_loss`.
  """
  real, fake, weights = _paired(real_logits, fake_logits, weights)
  return expectation(lambda d: jax.nn.softplus(-d), fake - real, weights)
