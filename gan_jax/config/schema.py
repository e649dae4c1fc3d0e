"""The experiment config schema and its defaults; loading config files.

Every experiment is an `ml_collections.ConfigDict` built from `default_config()`
and changed by a config file (`experiments/configs/*.py`) and command-line
overrides (`--config.train.steps=2000`). `validate(config, num_devices)` runs
before anything is compiled or loaded and raises `ConfigError` whose message
names the dotted field (`config.loss.name`) and the valid choices or range;
`validate(config)` (num_devices=None) checks all but the device count, before
JAX knows its devices. Importing gan_jax.config does not import jax.

Schema (defaults in brackets):

  seed                       [0] seeds parameter init and all training noise
  plugins                    [()] .py files or modules that register
                             components (`gan_jax.registry.load_plugins`),
                             loaded before the rest of the config is read
  data.*                     see `gan_jax.data.default_data_config()`:
                             name ring | grid | gaussian_1d (toy, sampled on
                             device) | fashion_mnist | mnist (source 'idx') |
                             stacked_fashion_mnist | stacked_mnist (three
                             base images as channels, `gan_jax.data.stacked`)
                             | any TFDS image set (source 'tfds'); data_dir,
                             tfds_name, image_size; toy num_modes, radius,
                             std, size, spacing, mean
  model.*                    the registered models' fields (each model's in
                             its own file; `gan_jax.registry.MODELS`)
  loss.name                  a registered game (`gan_jax.registry.GAMES`)
  loss.*                     the games' fields (fake_fraction,
                             label_smoothing, divergence) and the
                             penalties' weights (r1_gamma, r2_gamma,
                             gp_weight): `gan_jax.games`
  loss.acgan_discriminator_weight, loss.acgan_generator_weight
                             >= 0: the class loss of an ACGAN D in D's
                             and G's losses (Odena et al. 2017)
  loss.acgan_fake_weight     >= 0: the fakes' term of D's class loss (1 as
                             Odena et al.; 0: real images only)
  loss.weight_clip           [0.0] >= 0: c > 0 clips every parameter of D
                             to [-c, c] after each D step (WGAN, Arjovsky et
                             al. 2017); 0 = off. Not with a gradient
                             penalty or spectral norm
  optimizer.generator/discriminator.{name adam|sgd|rmsprop, learning_rate,
                             b1, b2 (Adam), momentum (SGD, RMSProp), eps
                             (Adam, RMSProp; [1e-8]), decay (RMSProp's rho
                             [0.9]), initial_scale (RMSProp's first mean
                             square: optax's 0, TF1's 1), centered
                             (RMSProp), schedule constant|linear|cosine,
                             decay_steps (train steps; 0 = train.steps),
                             end_factor (final lr / learning_rate)}
  train.steps                number of generator steps (Algorithm 1 iterations)
  train.batch_size           m, global (all devices) batch size
  train.discriminator_steps  k, D steps per G step, at most 100 (unrolled in
                             the compiled step: compile time grows with k)
  train.steps_per_call       iterations per device dispatch (lax.scan), at
                             most; see max_call_seconds
  train.max_call_seconds     [10.0] > 0; a dispatch runs at most about this
                             long (fewer iterations when they are slow), as
                             SIGTERM is answered between dispatches: a
                             checkpoint within SLURM's 30 s KillWait
  train.log_every, checkpoint_every, sample_every   (0 = only at the end for
                             checkpoint_every / sample_every)
  train.ema_decay            [0.0] EMA of G's weights; 0 = off; warmed up:
                             step t uses min(ema_decay, (1+t)/(10+t))
  train.on_divergence        ['stop'] a NaN/inf loss or parameter: 'stop'
                             (DivergenceError; the last good checkpoint is
                             kept) | 'restore' (restore it and multiply both
                             learning rates by divergence_lr_factor)
  train.divergence_lr_factor [0.5] learning-rate factor per restore, in (0, 1)
  train.max_divergence_restores  [3] restores before stopping anyway
  train.generator_noise      ['fresh'] G's step draws fresh z (Algorithm 1)
                             | 'discriminator': it reuses the z (and fake
                             labels) of the last D sub-step, as the seed
                             notebooks feed the same z_noise to both
  train.fake_labels          ['sampled'] a conditional G's labels in D's
                             steps: drawn from the class frequencies |
                             'real': the real batch's labels (the seed
                             C-GAN notebook: y_mb fed to both)
  parallelism                shard_map (the only mapping; 'pmap' was
                             removed, and old runs' 'pmap' reads as it)
  eval.metrics               [()] the evaluators to run by registered name
                             (`gan_jax.registry.EVALUATORS`); () = the data
                             kind's defaults (`evaluators.default_metrics`)
  eval.num_samples           [2500] samples for the toy evaluation (modes,
                             JSD)
  eval.num_sample_images     [64] samples drawn in sample grids / scatters
  eval.every                 [0] also evaluate every this many steps (into
                             eval.jsonl and TensorBoard); 0 = only at the end
  eval.image_num_samples     [10000] generator samples for the image metrics
                             (Goodfellow et al. 2014's Parzen protocol: 10k)
  eval.parzen                [True] images: Parzen-window log-likelihood
  eval.parzen_validation     [10000] last train images held out to choose
                             the Parzen width
  eval.features              [True] images: FID and precision/recall in the
                             bundled classifier's feature space; stacked
                             data: instead the modes the classifier finds
                             in image_num_samples samples and their KL
                             from uniform (26,000 in the StackedMNIST
                             protocol), beside the real data's
  eval.feature_extractor_dir ['' = the user cache, C/feature_extractor with
                             C = $GAN_JAX_CACHE_DIR, else $XDG_CACHE_HOME/
                             gan_jax or ~/.cache/gan_jax] its cache folder,
                             which also keeps the real-data floors
  eval.feature_extractor_steps  [3000] its training steps (part of the cache
                             key)
  (the image fields are ignored for toy data)
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional

import ml_collections

from gan_jax import registry
from gan_jax.fields import ConfigError


def _optimizer_config(learning_rate: float) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      dict(name="adam", learning_rate=learning_rate, b1=0.9, b2=0.999,
           momentum=0.0, eps=1e-8, decay=0.9, initial_scale=0.0,
           centered=False, schedule="constant", decay_steps=0,
           end_factor=0.0))


def set_optimizers(config: ml_collections.ConfigDict, **fields) -> None:
  """Gives G's and D's optimisers the same settings, e.g. name, learning_rate.

  Config files use it for the common case of one optimiser for both players;
  `config.optimizer.generator.<field>` still overrides one side alone.
  """
  for player in ("generator", "discriminator"):
    config.optimizer[player].update(fields)


def _section(reg: registry.Registry, name: str, plugins
             ) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      dict(name=name, **reg.defaults(name, plugins)))


def default_config(plugins=None) -> ml_collections.ConfigDict:
  """The full schema with defaults; config files change fields of it.

  Args:
    plugins: .py files or module names registering components
      (`gan_jax.registry.load_plugins`); loaded first, so that their config
      fields are in the schema, and kept in `config.plugins` so that every
      process that reads the config (sweep jobs, resumed runs) loads them.
      None: `registry.current_plugins()` (those of launch.py --plugins while
      it runs the config file; else none).
  """
  # pylint: disable=g-import-not-at-top
  from gan_jax import data as data_lib
  from gan_jax import evaluation
  from gan_jax import feature_extractor
  # pylint: enable=g-import-not-at-top
  plugins = (registry.current_plugins() if plugins is None else
             tuple(plugins))
  registry.load_plugins(plugins)
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.plugins = tuple(plugins)
  config.data = data_lib.default_data_config("ring", plugins=plugins)
  config.model = _section(registry.MODELS, "mlp", plugins)
  config.loss = _section(registry.GAMES, "non_saturating", plugins)
  config.loss.update(registry.PENALTIES.defaults(plugins=plugins))
  # An auxiliary-classifier D (model.discriminator_conditioning='acgan',
  # Odena et al. 2017): the weights of its class cross-entropy in D's and
  # G's losses.
  config.loss.acgan_discriminator_weight = 1.0
  config.loss.acgan_generator_weight = 1.0
  # The fakes' term of D's class loss (Odena et al.: 1; 0 = the classifier
  # learns from real images only).
  config.loss.acgan_fake_weight = 1.0
  # WGAN's Lipschitz constraint by weight clipping (Arjovsky et al. 2017):
  # every parameter of D clipped to [-c, c] after each D step; 0 = off.
  config.loss.weight_clip = 0.0
  config.optimizer = ml_collections.ConfigDict(
      dict(generator=_optimizer_config(1e-3),
           discriminator=_optimizer_config(1e-3)))
  config.train = ml_collections.ConfigDict(
      dict(
          steps=1000,
          batch_size=256,
          discriminator_steps=1,
          steps_per_call=100,
          max_call_seconds=10.0,
          log_every=100,
          checkpoint_every=1000,
          sample_every=1000,
          ema_decay=0.0,
          on_divergence="stop",
          divergence_lr_factor=0.5,
          max_divergence_restores=3,
          generator_noise="fresh",
          fake_labels="sampled",
      ))
  config.parallelism = "shard_map"
  config.eval = ml_collections.ConfigDict(
      dict(metrics=(), num_samples=2500, num_sample_images=64, every=0,
           image_num_samples=evaluation.IMAGE_NUM_SAMPLES, parzen=True,
           parzen_validation=evaluation.PARZEN_NUM_VALIDATION, features=True,
           feature_extractor_dir="",
           feature_extractor_steps=feature_extractor.DEFAULT_STEPS,
           **registry.EVALUATORS.defaults(plugins=plugins)))
  return config


def from_file(path: str, arg: Optional[str] = None
              ) -> ml_collections.ConfigDict:
  """Loads `get_config(arg)` from a config file (as `--config path:arg` does).

  `path` may carry the argument itself: 'experiments/configs/ring.py:arg'.
  """
  if arg is None and ":" in os.path.basename(path):
    path, _, arg = path.rpartition(":")
  spec = importlib.util.spec_from_file_location(
      "_gan_jax_config_" + os.path.splitext(os.path.basename(path))[0], path)
  if spec is None or not os.path.isfile(path):
    raise ConfigError(f"config file {path} not found")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _merge(target: ml_collections.ConfigDict, values, path: str) -> None:
  if not isinstance(values, dict):
    raise ConfigError(f"{path}: expected a JSON object of config fields, got "
                      f"{type(values).__name__}")
  for key, value in values.items():
    if key not in target:
      raise ConfigError(f"{path}.{key} is not in this version's config "
                        f"schema")
    if isinstance(target[key], ml_collections.ConfigDict):
      _merge(target[key], value, f"{path}.{key}")
      continue
    try:
      target[key] = tuple(value) if isinstance(value, list) else value
    except (TypeError, ValueError) as e:
      raise ConfigError(f"{path}.{key} holds {value!r}, which this version "
                        f"cannot take ({e})") from None


def from_dict(values: dict, *, source: str = "config"
              ) -> ml_collections.ConfigDict:
  """The schema with the fields of a nested dict set (`to_dict()` output).

  JSON lists become tuples again; a field the schema does not define, or a
  value of the wrong type, is a ConfigError naming `source` and the field.
  Fields the dict lacks keep their defaults (a run saved by an older version).
  """
  plugins = values.get("plugins", ()) if isinstance(values, dict) else ()
  config = default_config(plugins if isinstance(plugins, (list, tuple))
                          else ())
  _merge(config, migrate(values), source)
  return config


def migrate(values: dict) -> dict:
  """A saved config's fields as this version names them.

  'pmap' (removed; shard_map computes the same step) reads as 'shard_map'.
  Fields added since (plugins, eval.metrics, ...) keep their defaults.
  """
  if isinstance(values, dict) and values.get("parallelism") == "pmap":
    values = dict(values, parallelism="shard_map")
  return values


def switch_component_defaults(config: ml_collections.ConfigDict,
                              before: ml_collections.ConfigDict,
                              overridden=()) -> None:
  """Gives a component chosen by an override its defaults of common fields.

  When an override changes a name (`--config.model.name=dcgan`, a sweep's
  'data.name'), each common field of that kind (e.g. model.latent_dim)
  that still holds the old component's default, and was not itself
  overridden, takes the new component's (DCGAN's latent_dim 100). The
  components' own fields have their own defaults already.

  Args:
    config: the config after the overrides (changed in place).
    before: the same config before them.
    overridden: the dotted fields the overrides set ('model.latent_dim').
  """
  plugins = tuple(config.plugins)
  for reg in (registry.MODELS, registry.GAMES, registry.DATASETS):
    section = reg.section
    old, new = before[section].name, config[section].name
    names = reg.names(plugins)
    if old == new or old not in names or new not in names:
      continue
    old_defaults = reg.defaults(old, plugins)
    new_defaults = reg.defaults(new, plugins)
    for field in reg.common_fields:
      if (f"{section}.{field}" not in overridden and
          config[section][field] == old_defaults[field]):
        config[section][field] = new_defaults[field]
