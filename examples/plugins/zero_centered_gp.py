"""A D penalty added from outside gan_jax: the zero-centred gradient penalty.

Thanh-Tung, Tran & Venkatesh 2019, "Improving generalization and stability
of GANs" (0-GP): lambda E_{x^} |grad_x D(x^)|^2 at x^ = x + a (G(z) - x),
a ~ U(0, 1) per example, pulling D's gradient towards 0 (WGAN-GP pulls its
norm towards 1). The step computes the per-example input gradients at the
inputs the penalty names and calls its term on them. Use it with
`--plugins examples/plugins/zero_centered_gp.py --config.loss.gp0_weight=10`.
"""

from __future__ import annotations

from gan_jax import fields
from gan_jax import registry
# R1's term, E_i |g_i|^2 of per-example gradients [n, d]: 0-GP takes it at
# the interpolates instead of the real batch.
from gan_jax.games.penalties import squared_gradient_norm

registry.PENALTIES.add(
    "zero_centered_gp", squared_gradient_norm,
    fields=dict(gp0_weight=fields.real(
        0.0, fields.NON_NEGATIVE,
        doc="0-GP: lambda E|grad_x D(x^)|^2 between real and fake; 0 = off")),
    weight_field="gp0_weight", weight=float, inputs="interpolated")
