"""G's and D's optimisers and their learning-rate schedules."""

from __future__ import annotations

import ml_collections
import optax


def learning_rate_schedule(optimizer_config: ml_collections.ConfigDict, *,
                           total_steps: int, updates_per_step: int = 1):
  """The learning rate: a float, or an optax schedule over updates.

  `decay_steps` counts training steps (0 = `total_steps`); D makes
  `updates_per_step` = k updates per step, so its schedule is stretched by k.
  """
  rate = optimizer_config.learning_rate
  schedule = optimizer_config.get("schedule", "constant")
  if schedule == "constant":
    return rate
  decay = (optimizer_config.decay_steps or total_steps) * updates_per_step
  end = rate * optimizer_config.end_factor
  if schedule == "linear":
    return optax.linear_schedule(rate, end, transition_steps=decay)
  if schedule == "cosine":
    return optax.cosine_decay_schedule(rate, decay_steps=decay,
                                       alpha=optimizer_config.end_factor)
  raise ValueError(f"unknown schedule {schedule!r}; valid: constant, linear, "
                   f"cosine")


def make_optimizer(optimizer_config: ml_collections.ConfigDict, *,
                   total_steps: int = 1,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """Adam (default), SGD with momentum (Goodfellow et al. 2014) or RMSProp.

  RMSProp (Hinton's lecture 6e; the WGAN of Arjovsky et al. 2017):
  ν ← ρ ν + (1 - ρ) g², θ ← θ - lr · g / sqrt(ν + ε), with ρ = `decay`,
  ε = `eps`, ν₀ = `initial_scale` (TF1's RMSPropOptimizer: ρ 0.9, ε 1e-10,
  ν₀ = 1, which the seed WGAN notebook uses; optax and PyTorch: ν₀ = 0),
  `momentum` and `centered` as optax.rmsprop.
  """
  name = optimizer_config.name
  rate = learning_rate_schedule(optimizer_config, total_steps=total_steps,
                                updates_per_step=updates_per_step)
  eps = float(optimizer_config.get("eps", 1e-8))
  if name == "adam":
    return optax.adam(rate, b1=optimizer_config.b1, b2=optimizer_config.b2,
                      eps=eps)
  if name == "sgd":
    return optax.sgd(rate, momentum=optimizer_config.momentum or None)
  if name == "rmsprop":
    return optax.rmsprop(
        rate, decay=float(optimizer_config.get("decay", 0.9)), eps=eps,
        initial_scale=float(optimizer_config.get("initial_scale", 0.0)),
        centered=bool(optimizer_config.get("centered", False)),
        momentum=optimizer_config.momentum or None)
  raise ValueError(f"unknown optimizer {name!r}; valid names: adam, sgd, "
                   f"rmsprop")


def make_optimizers(config: ml_collections.ConfigDict
                    ) -> tuple[optax.GradientTransformation,
                               optax.GradientTransformation]:
  """(G's, D's) optimisers; D's schedule counts its k updates per step."""
  steps = int(config.train.steps)
  return (make_optimizer(config.optimizer.generator, total_steps=steps),
          make_optimizer(config.optimizer.discriminator, total_steps=steps,
                         updates_per_step=int(
                             config.train.discriminator_steps)))
