"""A game added from outside gan_jax: the relativistic average GAN (RaGAN).

Jolicoeur-Martineau 2019, "The relativistic discriminator: a key element
missing from standard GAN", Eq. 6-7, with C the raw critic output and
sigma the logistic function:

  L_D = -E_r log sigma(C(x_r) - E_f C(x_f)) - E_f log(1 - sigma(C(x_f) - E_r C(x_r)))
  L_G = -E_f log sigma(C(x_f) - E_r C(x_r)) - E_r log(1 - sigma(C(x_r) - E_f C(x_f)))

(log sigma(t) = -softplus(-t), log(1 - sigma(t)) = -softplus(t).) G's loss
compares fakes with reals, so the step gives it D's outputs on a real batch.
Use it with `--plugins examples/plugins/relativistic_average.py
--config.loss.name=relativistic_average`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import registry


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array):
  """L_D of RaGAN; logits [n] in, a scalar out."""
  real_vs_fake = real_logits - jnp.mean(fake_logits)
  fake_vs_real = fake_logits - jnp.mean(real_logits)
  return (jnp.mean(jax.nn.softplus(-real_vs_fake)) +
          jnp.mean(jax.nn.softplus(fake_vs_real)))


def generator_loss(real_logits: jax.Array, fake_logits: jax.Array):
  """L_G of RaGAN: L_D with the roles of real and fake swapped."""
  return discriminator_loss(fake_logits, real_logits)


registry.GAMES.add(
    "relativistic_average", discriminator_loss,
    discriminator=discriminator_loss, generator=generator_loss,
    generator_needs_real=True)
