"""Lookup by config name: `LossPair`, `NAMES` and `get`."""

from __future__ import annotations

from typing import Callable, NamedTuple

from gan_jax.losses._checks import Array
from gan_jax.losses.alternatives import hinge_discriminator_loss
from gan_jax.losses.alternatives import hinge_generator_loss
from gan_jax.losses.alternatives import least_squares_discriminator_loss
from gan_jax.losses.alternatives import least_squares_generator_loss
from gan_jax.losses.alternatives import wasserstein_discriminator_loss
from gan_jax.losses.alternatives import wasserstein_generator_loss
from gan_jax.losses.cross_entropy import discriminator_loss
from gan_jax.losses.cross_entropy import maximum_likelihood_generator_loss
from gan_jax.losses.cross_entropy import non_saturating_generator_loss
from gan_jax.losses.cross_entropy import saturating_generator_loss
from gan_jax.losses.f_gan import f_gan_discriminator_loss
from gan_jax.losses.f_gan import f_gan_generator_loss
from gan_jax.losses.relativistic import relativistic_discriminator_loss
from gan_jax.losses.relativistic import relativistic_generator_loss


class LossPair(NamedTuple):
  """A discriminator loss and the generator loss it is trained against.

  Attributes:
    discriminator: `discriminator(real_outputs, fake_outputs, **options)`.
    generator: `generator(fake_outputs, **options)`, or
      `generator(real_outputs, fake_outputs, **options)` if
      `generator_needs_real`.
    uses_cross_entropy: whether the discriminator is a BCE classifier (so
      that D(x) = sigmoid(logit) is a probability and label smoothing
      applies).
    generator_needs_real: whether the generator loss compares fakes with
      reals (RpGAN) and so takes D's outputs on a real batch first.
    discriminator_options: the config hyperparameters (of 'fake_fraction',
      'label_smoothing', 'divergence') that `discriminator` takes by keyword.
    generator_options: those that `generator` takes by keyword.
  """
  discriminator: Callable[..., Array]
  generator: Callable[..., Array]
  uses_cross_entropy: bool
  generator_needs_real: bool = False
  discriminator_options: tuple[str, ...] = ()
  generator_options: tuple[str, ...] = ()


_BCE_OPTIONS = ("fake_fraction", "label_smoothing")
_LOSSES = {
    "saturating": LossPair(discriminator_loss, saturating_generator_loss, True,
                           False, _BCE_OPTIONS),
    "non_saturating": LossPair(discriminator_loss,
                               non_saturating_generator_loss, True, False,
                               _BCE_OPTIONS),
    "maximum_likelihood": LossPair(discriminator_loss,
                                   maximum_likelihood_generator_loss, True,
                                   False, _BCE_OPTIONS),
    "least_squares": LossPair(least_squares_discriminator_loss,
                              least_squares_generator_loss, False, False,
                              ("fake_fraction",)),
    "hinge": LossPair(hinge_discriminator_loss, hinge_generator_loss, False,
                      False, ("fake_fraction",)),
    "wasserstein": LossPair(wasserstein_discriminator_loss,
                            wasserstein_generator_loss, False, False,
                            ("fake_fraction",)),
    "f_gan": LossPair(f_gan_discriminator_loss, f_gan_generator_loss, False,
                      False, ("divergence",), ("divergence",)),
    "relativistic": LossPair(relativistic_discriminator_loss,
                             relativistic_generator_loss, False, True),
}

NAMES = tuple(_LOSSES)


def get(name: str) -> LossPair:
  """Returns the (discriminator, generator) loss pair called `name`.

  Args:
    name: one of `NAMES`: saturating, non_saturating, maximum_likelihood
      (BCE discriminator), least_squares, hinge, wasserstein, f_gan (needs
      the `divergence` option), relativistic (RpGAN; its generator takes the
      real outputs too).

  Raises:
    ValueError: naming the valid choices if `name` is not one of them.
  """
  try:
    return _LOSSES[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown GAN loss {name!r}; valid names: "
                     f"{', '.join(NAMES)}") from None
