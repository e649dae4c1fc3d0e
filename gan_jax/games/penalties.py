"""D's penalties on its input gradients: R1, R2 and WGAN-GP.

Each is registered under its metric name with its weight field in
`config.loss` (on when > 0), the batch it differentiates D at, and its term
of the per-example input gradients g_i = grad_x D(x_i), [n, prod(shape)]:

  r1_penalty        gamma_1/2 E_{x~p_data} |g|^2   (Mescheder et al. 2018)
  r2_penalty        gamma_2/2 E_{x~p_g}    |g|^2   (Huang et al. 2024, R3GAN)
  gradient_penalty  lambda E_{x^} (|g| - 1)^2, x^ = x + a (G(z) - x),
                    a ~ U(0, 1) per example        (Gulrajani et al. 2017)

`inputs` is 'real', 'fake' or 'interpolated'; `weight(value)` the factor
D's loss gets from the field's value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax import losses
from gan_jax import registry


def squared_gradient_norm(gradients: jax.Array) -> jax.Array:
  """E_i |g_i|^2 over per-example gradients [n, d]."""
  return jnp.mean(jnp.sum(jnp.square(gradients), axis=-1))


registry.PENALTIES.add(
    "r1_penalty", squared_gradient_norm,
    fields=dict(r1_gamma=fields.real(
        0.0, fields.NON_NEGATIVE,
        doc="R1: gamma/2 E_data |grad_x D(x)|^2; 0 = off")),
    weight_field="r1_gamma", weight=lambda gamma: 0.5 * gamma,
    inputs="real")

registry.PENALTIES.add(
    "r2_penalty", squared_gradient_norm,
    fields=dict(r2_gamma=fields.real(
        0.0, fields.NON_NEGATIVE,
        doc="R2: gamma/2 E_g |grad_x D(x)|^2 on fakes (R3GAN); 0 = off")),
    weight_field="r2_gamma", weight=lambda gamma: 0.5 * gamma,
    inputs="fake")

registry.PENALTIES.add(
    "gradient_penalty", losses.gradient_norm_penalty,
    fields=dict(gp_weight=fields.real(
        0.0, fields.NON_NEGATIVE,
        doc="WGAN-GP: lambda E(|grad_x D(x^)| - 1)^2 at x^ between real and "
        "fake; 0 = off")),
    weight_field="gp_weight", weight=float, inputs="interpolated")
