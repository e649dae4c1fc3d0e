"""A model's config section from the registry, and the MLP presets.

`default_model_config(name)` gives every field of every registered model,
with `name`'s defaults (so a config may switch `config.model.name` on the
command line); `MLP_PRESETS` holds the field values of well-known MLP sizes.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from gan_jax import registry

# Field values for well-known MLP sizes; apply with
# `config.model.update(MLP_PRESETS['classic'])`.
MLP_PRESETS: dict[str, dict[str, Any]] = {
    # Goodfellow et al. 2014, MNIST (the paper's pylearn2 configuration):
    # G two ReLU layers of 1200; D two maxout layers of 240 units x 5
    # pieces, dropout 0.5 on hidden layers and 0.2 on the input. The paper's
    # sigmoid G output is replaced by tanh because images are in [-1, 1].
    "goodfellow2014": dict(
        name="mlp",
        latent_dim=100,
        generator_widths=(1200, 1200),
        generator_activation="relu",
        generator_batch_norm=False,
        discriminator_widths=(240, 240),
        discriminator_activation="maxout",
        maxout_pieces=5,
        discriminator_dropout=0.5,
        discriminator_input_dropout=0.2,
        discriminator_batch_norm=False,
    ),
    # eriklindernoren/PyTorch-GAN `implementations/gan/gan.py`: G
    # 100-128-256-512-1024-784, BatchNorm on all hidden layers but the first,
    # LeakyReLU 0.2, tanh; D 784-512-256-1 LeakyReLU 0.2. (That code passes
    # 0.8 as BatchNorm's eps by accident; we keep the standard eps.)
    "classic": dict(
        name="mlp",
        latent_dim=100,
        generator_widths=(128, 256, 512, 1024),
        generator_activation="leaky_relu",
        generator_batch_norm=True,
        generator_batch_norm_first_layer=False,
        discriminator_widths=(512, 256),
        discriminator_activation="leaky_relu",
        discriminator_dropout=0.0,
        discriminator_input_dropout=0.0,
        discriminator_batch_norm=False,
        leaky_relu_slope=0.2,
    ),
}


def default_model_config(name: str = "mlp",
                         plugins=None) -> ml_collections.ConfigDict:
  """A model ConfigDict: every registered model's fields, `name`'s defaults.

  Each model declares its fields (with defaults, checks and a doc line)
  where it registers (`gan_jax.registry.MODELS`); all of them exist whatever
  the name, so a config may switch `config.model.name` on the command line.

  `plugins` (config.plugins) limits the fields to the package's models and
  those plug-ins'; None: `registry.current_plugins()`.

  Raises:
    ConfigError: `name` is not a registered model (listing those that are).
  """
  if plugins is None:
    plugins = registry.current_plugins()
  registry.MODELS.get(name, plugins)
  return ml_collections.ConfigDict(
      dict(name=name, **registry.MODELS.defaults(name, plugins)))


def mlp_preset(preset: str) -> ml_collections.ConfigDict:
  """Returns `default_model_config('mlp')` updated by `MLP_PRESETS[preset]`."""
  if preset not in MLP_PRESETS:
    raise ValueError(f"unknown MLP preset {preset!r}; valid: "
                     f"{', '.join(MLP_PRESETS)}")
  config = default_model_config("mlp")
  config.update(MLP_PRESETS[preset])
  return config
