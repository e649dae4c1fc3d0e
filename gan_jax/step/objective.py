"""The game the step plays: D's and G's losses, and D's gradient penalties.

`Objective` is the one interface `gan_jax.step.update` calls for the losses:

  d_loss = objective.discriminator(real_outputs, fake_outputs)
  g_loss = objective.generator(fake_outputs, real_outputs)

where the outputs are D's raw outputs (logits for the cross-entropy games,
critic values otherwise). A generator loss that compares fakes with reals
(RpGAN's, `objective.generator_needs_real`) gets D(x_real) on a fresh real
batch; for the others the step never computes it and passes None.

`penalties(config)` lists D's regularisers that are on (their weight field
in `config.loss` > 0), each with its weight and its term of D's input
gradients, added to D's loss in registration order (R1, R2, GP, then
plug-ins); see `gan_jax.games.penalties`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import jax
import ml_collections

from gan_jax import registry

PENALTY_INPUTS = registry.PENALTY_INPUTS


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
    name: its registered name, also its metric name.
    weight: the factor in D's loss (gamma/2 for R1 and R2, lambda for GP).
    inputs: 'real', 'fake' or 'interpolated' (one of PENALTY_INPUTS).
    term: per-example input gradients [n, prod(data_shape)] -> scalar.
  """
  name: str
  weight: float
  inputs: str
  term: Callable[[jax.Array], jax.Array]


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

  The hyperparameters each loss takes are those its registration lists
  (`discriminator_options` / `generator_options`, e.g. fake_fraction,
  label_smoothing, divergence); validation has rejected the others.
  """
  game = registry.GAMES.get(loss_config.name).info
  d_kwargs = _options(loss_config, game.get("discriminator_options", ()))
  g_kwargs = _options(loss_config, game.get("generator_options", ()))
  needs_real = bool(game.get("generator_needs_real", False))
  call = _generator_with_real if needs_real else _generator_without_real
  return Objective(
      discriminator=functools.partial(game["discriminator"], **d_kwargs),
      generator=functools.partial(call, game["generator"], g_kwargs),
      generator_needs_real=needs_real,
      name=loss_config.name)


def penalties(loss_config: ml_collections.ConfigDict) -> tuple[Penalty, ...]:
  """The penalties switched on in `config.loss` (weight > 0), in order."""
  on = []
  for penalty in registry.PENALTIES.components():
    if penalty.info["weight_field"] not in loss_config:
      continue  # a plug-in's that this config does not load
    weight = penalty.info["weight"](float(loss_config[
        penalty.info["weight_field"]]))
    if weight > 0:
      on.append(Penalty(penalty.name, weight, penalty.info["inputs"],
                        penalty.target))
  return tuple(on)
