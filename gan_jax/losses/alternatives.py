"""Least-squares, hinge and Wasserstein loss pairs (beyond the notes).

Each discriminator loss takes `fake_fraction` pi so that every loss can be
trained on the same real/fake mixture: at pi = 1/2 it is the published loss;
otherwise the real and fake terms are weighted 2(1 - pi) and 2 pi as in
`discriminator_loss` (`_mix`). Mao et al. 2017 (LSGAN), Lim & Ye 2017 and
Miyato et al. 2018 (hinge), Arjovsky et al. 2017 (Wasserstein).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.losses._checks import check_fake_fraction
from gan_jax.losses._checks import term
from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike


def _mix(real_term: Array, fake_term: Array, fake_fraction) -> Array:
  pi = check_fake_fraction(fake_fraction)
  return 2.0 * ((1.0 - pi) * real_term + pi * fake_term)


def least_squares_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """LSGAN discriminator loss: 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2.

  Mao et al. 2017, Eq. 9 with a = 0, b = 1 (c = 1 in the generator loss);
  "logits" here are D's raw, unsquashed outputs, any shape. Both terms are
  >= 0: infinite outputs give +inf, never NaN.
  """
  real_term = term(lambda l: 0.5 * jnp.square(l - 1.0), real_logits,
                    real_weights, "real_logits", "real_weights")
  fake_term = term(lambda l: 0.5 * jnp.square(l), fake_logits, fake_weights,
                    "fake_logits", "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def least_squares_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """LSGAN generator loss: 1/2 E (D(G(z)) - 1)^2 (Mao et al. 2017, Eq. 9)."""
  return term(lambda l: 0.5 * jnp.square(l - 1.0), fake_logits, fake_weights,
               "fake_logits", "fake_weights")


def hinge_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge discriminator loss: E relu(1 - D(x)) + E relu(1 + D(G(z))).

  Lim & Ye 2017; Miyato et al. 2018, Eq. 16. D's outputs are raw scores, any
  shape. Both terms are >= 0: infinite outputs give +inf or add 0.
  """
  real_term = term(lambda l: jax.nn.relu(1.0 - l), real_logits, real_weights,
                    "real_logits", "real_weights")
  fake_term = term(lambda l: jax.nn.relu(1.0 + l), fake_logits, fake_weights,
                    "fake_logits", "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def hinge_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge generator loss: -E D(G(z)) (Miyato et al. 2018, Eq. 17)."""
  return _minus_mean_fake(fake_logits, fake_weights)


def wasserstein_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Wasserstein critic loss: E f(G(z)) - E f(x) (Arjovsky et al. 2017).

  Estimates -W_1 only if the critic f is 1-Lipschitz; the loss itself does not
  enforce that (use weight clipping or `gradient_penalty` in training).
  Linear in the outputs: infinite outputs of one sign give +-inf; opposite
  infinities (e.g. real = fake = +inf) have no limit and give NaN.
  """
  real_term = term(jnp.negative, real_logits, real_weights, "real_logits",
                    "real_weights")
  fake_term = term(lambda l: l, fake_logits, fake_weights, "fake_logits",
                    "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def wasserstein_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Wasserstein generator loss: -E f(G(z)) (Arjovsky et al. 2017)."""
  return _minus_mean_fake(fake_logits, fake_weights)


def _minus_mean_fake(fake_logits: ArrayLike,
                     fake_weights: Optional[ArrayLike]) -> Array:
  """-E D(G(z)): the hinge and the Wasserstein generator loss alike."""
  return term(jnp.negative, fake_logits, fake_weights, "fake_logits",
               "fake_weights")
