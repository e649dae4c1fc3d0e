"""The game the step plays: D's and G's losses, and D's gradient penalties.

`Objective` is the one interface `gan_jax.step.update` calls for the losses:

  d_loss = objective.discriminator(real_outputs, fake_outputs)
  g_loss = objective.generator(fake_outputs, real_outputs)

where the outputs are D's raw outputs (logits for the cross-entropy games,
critic values otherwise). A generator loss that compares fakes with reals
(RpGAN's, `objective.generator_needs_real`) gets D(x_real) on a fresh real
batch; for the others the step never computes it and passes None.

`penalties(config)` lists D's regularisers, each with its weight, added to
D's loss in this order:

  R1   gamma_1/2 E_{x~p_data} |grad_x D(x)|^2      (Mescheder et al. 2018)
  R2   gamma_2/2 E_{x~p_g}    |grad_x D(x)|^2      (Huang et al. 2024, R3GAN)
  GP   lambda E_{x^~} (|grad_x D(x^)| - 1)^2,  x^ = x + a (G(z) - x), a~U(0,1)
                                                   (Gulrajani et al. 2017)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import jax
import ml_collections

from gan_jax import losses

# Where each penalty takes D's input gradient: on the real batch, on the fake
# batch, or between the two (one uniform a per example).
PENALTY_INPUTS = {"r1_penalty": "real", "r2_penalty": "fake",
                  "gradient_penalty": "interpolated"}


@dataclasses.dataclass(frozen=True)
class Objective:
  """D's and G's losses of one GAN game, from D's raw outputs.

  Attributes:
    discriminator: (real_outputs [n], fake_outputs [n]) -> scalar D loss.
    generator: (fake_outputs [n], real_outputs [n] or None) -> scalar G loss.
    generator_needs_real: whether `generator` reads real_outputs.
    name: `config.loss.name`.
  """
  discriminator: Callable[[jax.Array, jax.Array], jax.Array]
  generator: Callable[[jax.Array, Optional[jax.Array]], jax.Array]
  generator_needs_real: bool
  name: str


@dataclasses.dataclass(frozen=True)
class Penalty:
  """A regulariser of D: `weight` times a mean over one input batch.

  Attributes:
    name: its metric name, a key of `PENALTY_INPUTS`.
    weight: the factor in D's loss (gamma/2 for R1 and R2, lambda for GP).
    inputs: 'real', 'fake' or 'interpolated' (`PENALTY_INPUTS[name]`).
  """
  name: str
  weight: float

  @property
  def inputs(self) -> str:
    return PENALTY_INPUTS[self.name]


def _options(loss_config: ml_collections.ConfigDict,
             names: tuple[str, ...]) -> dict:
  """The config.loss hyperparameters a loss function takes (by keyword)."""
  return {name: loss_config[name] for name in names}


def _generator_without_real(generator, kwargs, fake_outputs, real_outputs):
  del real_outputs
  return generator(fake_outputs, **kwargs)


def _generator_with_real(generator, kwargs, fake_outputs, real_outputs):
  return generator(real_outputs, fake_outputs, **kwargs)


def make_objective(loss_config: ml_collections.ConfigDict) -> Objective:
  """The game named by `config.loss.name`, with its config hyperparameters.

  The hyperparameters each loss takes are those its `losses.LossPair` lists
  (`discriminator_options` / `generator_options`: fake_fraction,
  label_smoothing, divergence); validation has rejected the others.
  """
  pair = losses.get(loss_config.name)
  d_kwargs = _options(loss_config, pair.discriminator_options)
  g_kwargs = _options(loss_config, pair.generator_options)
  call = (_generator_with_real if pair.generator_needs_real else
          _generator_without_real)
  return Objective(
      discriminator=functools.partial(pair.discriminator, **d_kwargs),
      generator=functools.partial(call, pair.generator, g_kwargs),
      generator_needs_real=pair.generator_needs_real,
      name=loss_config.name)


def penalties(loss_config: ml_collections.ConfigDict) -> tuple[Penalty, ...]:
  """The penalties switched on in `config.loss` (weight > 0), in order."""
  weights = (("r1_penalty", 0.5 * float(loss_config.r1_gamma)),
             ("r2_penalty", 0.5 * float(loss_config.r2_gamma)),
             ("gradient_penalty", float(loss_config.gp_weight)))
  return tuple(Penalty(name, weight) for name, weight in weights if weight > 0)
