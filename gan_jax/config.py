"""The experiment config schema: defaults, and validation before any compute.

Every experiment is an `ml_collections.ConfigDict` built from `default_config()`
and changed by a config file (`experiments/configs/*.py`) and command-line
overrides (`--config.train.steps=2000`). `validate(config, num_devices)` runs
before anything is compiled or loaded and raises `ConfigError` whose message
names the dotted field (`config.loss.name`) and the valid choices or range.

Schema (defaults in brackets):

  seed                       [0] seeds parameter init and all training noise
  data.*                     see `gan_jax.data.default_data_config()`:
                             name ring | grid | gaussian_1d (toy, sampled on
                             device) | fashion_mnist | mnist (source 'idx') |
                             any TFDS image set (source 'tfds'); data_dir,
                             tfds_name, image_size; toy num_modes, radius,
                             std, size, spacing, mean
  model.*                    see `gan_jax.models.default_model_config()`
  loss.name                  one of `gan_jax.losses.NAMES`
  loss.fake_fraction         [0.5] pi, share of fakes D is trained on, in (0,1)
  loss.label_smoothing       [0.0] one-sided, cross-entropy losses only
  loss.r1_gamma              [0.0] R1 penalty gamma/2 E|grad_x D(x)|^2; 0 = off
  optimizer.generator/discriminator.{name adam|sgd, learning_rate, b1, b2,
                             momentum, schedule constant|linear|cosine,
                             decay_steps (train steps; 0 = train.steps),
                             end_factor (final lr / learning_rate)}
  train.steps                number of generator steps (Algorithm 1 iterations)
  train.batch_size           m, global (all devices) batch size
  train.discriminator_steps  k, D steps per G step
  train.steps_per_call       iterations per device dispatch (lax.scan)
  train.log_every, checkpoint_every, sample_every   (0 = only at the end for
                             checkpoint_every / sample_every)
  train.ema_decay            [0.0] EMA of G's weights; 0 = off
  train.on_divergence        ['stop'] a NaN/inf loss or parameter: 'stop'
                             (DivergenceError; the last good checkpoint is
                             kept) | 'restore' (restore it and multiply both
                             learning rates by divergence_lr_factor)
  train.divergence_lr_factor [0.5] learning-rate factor per restore, in (0, 1)
  train.max_divergence_restores  [3] restores before stopping anyway
  parallelism                shard_map | pmap
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
                             bundled classifier's feature space
  eval.feature_extractor_dir ['' = beside the data, else ~/.cache] its cache
  eval.feature_extractor_steps  [3000] its training steps (part of the cache
                             key)
  (the image fields are ignored for toy data)
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import numbers
import os
from typing import Any, Iterable, Optional

import ml_collections

from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import feature_extractor
from gan_jax import losses
from gan_jax import models

TOY_DATA = data_lib.TOY_DATASETS
IDX_DATA = data_lib.IDX_DATASETS
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "cosine")
PARALLELISM = ("shard_map", "pmap")
ON_DIVERGENCE = ("stop", "restore")

# Fields that may change when a run is resumed: they change how the run is
# driven or reported, not what any one step computes.
RESUMABLE_FIELDS = (
    "train.steps",
    "train.steps_per_call",
    "train.log_every",
    "train.checkpoint_every",
    "train.sample_every",
    "train.on_divergence",
    "train.divergence_lr_factor",
    "train.max_divergence_restores",
    "parallelism",
    "eval",
)


class ConfigError(ValueError):
  """A config field has an invalid value; the message names the field."""


def _optimizer_config(learning_rate: float) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      dict(name="adam", learning_rate=learning_rate, b1=0.9, b2=0.999,
           momentum=0.0, schedule="constant", decay_steps=0, end_factor=0.0))


def set_optimizers(config: ml_collections.ConfigDict, **fields) -> None:
  """Gives G's and D's optimisers the same settings, e.g. name, learning_rate.

  Config files use it for the common case of one optimiser for both players;
  `config.optimizer.generator.<field>` still overrides one side alone.
  """
  for player in ("generator", "discriminator"):
    config.optimizer[player].update(fields)


def default_config() -> ml_collections.ConfigDict:
  """Returns the full schema with defaults; config files change fields of it."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.data = data_lib.default_data_config("ring")
  config.model = models.default_model_config("mlp")
  config.loss = ml_collections.ConfigDict(
      dict(name="non_saturating", fake_fraction=0.5, label_smoothing=0.0,
           r1_gamma=0.0))
  config.optimizer = ml_collections.ConfigDict(
      dict(generator=_optimizer_config(1e-3),
           discriminator=_optimizer_config(1e-3)))
  config.train = ml_collections.ConfigDict(
      dict(
          steps=1000,
          batch_size=256,
          discriminator_steps=1,
          steps_per_call=100,
          log_every=100,
          checkpoint_every=1000,
          sample_every=1000,
          ema_decay=0.0,
          on_divergence="stop",
          divergence_lr_factor=0.5,
          max_divergence_restores=3,
      ))
  config.parallelism = "shard_map"
  config.eval = ml_collections.ConfigDict(
      dict(num_samples=2500, num_sample_images=64, every=0,
           image_num_samples=evaluation.IMAGE_NUM_SAMPLES, parzen=True,
           parzen_validation=evaluation.PARZEN_NUM_VALIDATION, features=True,
           feature_extractor_dir="",
           feature_extractor_steps=feature_extractor.DEFAULT_STEPS))
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


# ----------------------------------------------------------------------------
# Validation.
# ----------------------------------------------------------------------------


def _choices(values: Iterable[str]) -> str:
  return ", ".join(repr(v) for v in values)


def _check_known_fields(config: Any, schema: Any, path: str) -> None:
  """Rejects fields the schema does not define (e.g. a typo in a config file)."""
  if not isinstance(schema, ml_collections.ConfigDict):
    return
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{path} must be a group of fields "
                      f"({_choices(schema.keys())}), got {config!r}")
  for key in config.keys():
    if key not in schema:
      close = difflib.get_close_matches(str(key), list(schema.keys()), n=1)
      hint = f" Did you mean {path}.{close[0]}?" if close else ""
      raise ConfigError(f"{path}.{key} is not a known field; valid fields of "
                        f"{path}: {_choices(schema.keys())}.{hint}")
    _check_known_fields(config[key], schema[key], f"{path}.{key}")
  for key in schema.keys():
    if key not in config:
      raise ConfigError(f"{path}.{key} is missing (start configs from "
                        f"gan_jax.config.default_config())")


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  value = config
  for part in field.split("."):
    value = value[part]
  return value


def _check_choice(config, field: str, choices: Iterable[str]) -> None:
  value = _get(config, field)
  if value not in tuple(choices):
    raise ConfigError(f"config.{field} = {value!r} is not valid; choose one "
                      f"of {_choices(choices)}")


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool) and
          math.isfinite(value))


def _check_int(config, field: str, minimum: int) -> None:
  value = _get(config, field)
  if not _is_int(value) or value < minimum:
    raise ConfigError(f"config.{field} = {value!r} must be an integer >= "
                      f"{minimum}")


def _check_bool(config, field: str) -> None:
  value = _get(config, field)
  if not isinstance(value, bool):
    raise ConfigError(f"config.{field} = {value!r} must be True or False")


def _check_str(config, field: str, what: str) -> None:
  value = _get(config, field)
  if not isinstance(value, str):
    raise ConfigError(f"config.{field} = {value!r} must be a string ({what})")


def _check_widths(config, field: str) -> None:
  value = _get(config, field)
  if (not isinstance(value, (tuple, list)) or not value or
      not all(_is_int(w) and w >= 1 for w in value)):
    raise ConfigError(f"config.{field} = {value!r} must be a non-empty tuple "
                      f"of integers >= 1, e.g. (128, 128)")


def _check_range(config, field: str, low: float, high: float, *,
                 low_open: bool, high_open: bool) -> None:
  """Checks low </<= value </<= high, naming the interval in the message."""
  value = _get(config, field)
  ok = _is_real(value)
  if ok:
    ok = (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
  if not ok:
    interval = (("(" if low_open else "[") + f"{low}, {high}" +
                (")" if high_open else "]"))
    raise ConfigError(f"config.{field} = {value!r} must lie in {interval}")


def _check_positive(config, field: str) -> None:
  _check_range(config, field, 0.0, math.inf, low_open=True, high_open=True)


def validate(config: ml_collections.ConfigDict, num_devices: int, *,
             num_processes: int = 1) -> None:
  """Checks every field of `config`; raises `ConfigError` on the first bad one.

  Needs no JAX backend and compiles nothing (image data sets: reads the IDX
  header, or asks TFDS for the shape).

  Args:
    config: a config built from `default_config()`.
    num_devices: devices the step is mapped over (the global batch is split
      evenly among them), over all processes.
    num_processes: JAX processes the run spans (`jax.process_count()`).

  Raises:
    ConfigError: naming the dotted field and the valid choices or range.
  """
  _check_known_fields(config, default_config(), "config")

  _check_int(config, "seed", 0)

  # Data.
  _check_choice(config, "data.source", data_lib.SOURCES)
  name = config.data.name
  if name in TOY_DATA:
    if name == "ring":
      _check_int(config, "data.num_modes", 1)
      _check_positive(config, "data.radius")
    elif name == "grid":
      _check_int(config, "data.size", 1)
      _check_positive(config, "data.spacing")
    else:
      _check_range(config, "data.mean", -math.inf, math.inf, low_open=True,
                   high_open=True)
    _check_positive(config, "data.std")
  elif config.data.source == "idx":
    if name not in IDX_DATA:
      raise ConfigError(
          f"config.data.name = {name!r} is not valid; choose a toy "
          f"distribution ({_choices(TOY_DATA)}), an IDX data set "
          f"({_choices(IDX_DATA)}), or set config.data.source = 'tfds' for "
          f"other image data sets")
  elif not isinstance(name, str) or not name:
    raise ConfigError(f"config.data.name = {name!r} must name a data set: "
                      f"{_choices(TOY_DATA + IDX_DATA)} or a TFDS name")
  # Every field is checked, also those this data set ignores: a bad value
  # should not wait for the day a config switches data.name.
  _check_int(config, "data.num_modes", 1)
  _check_positive(config, "data.radius")
  _check_int(config, "data.size", 1)
  _check_positive(config, "data.spacing")
  _check_range(config, "data.mean", -math.inf, math.inf, low_open=True,
               high_open=True)
  _check_positive(config, "data.std")
  _check_str(config, "data.data_dir", "a folder; '' = the default")
  _check_str(config, "data.tfds_name", "a TFDS name; '' = config.data.name")
  _check_bool(config, "data.tfds_download")
  _check_int(config, "data.image_size", 0)

  # Model.
  _check_choice(config, "model.name", models.MODEL_NAMES)
  _check_int(config, "model.latent_dim", 1)
  # Every model field, also those the chosen model ignores (see above).
  for player in ("generator", "discriminator"):
    _check_widths(config, f"model.{player}_widths")
    _check_choice(config, f"model.{player}_activation", models.ACTIVATIONS)
    _check_int(config, f"model.{player}_base_features", 1)
  _check_int(config, "model.maxout_pieces", 1)
  _check_range(config, "model.leaky_relu_slope", 0.0, 1.0, low_open=False,
               high_open=False)
  for field in ("generator_batch_norm", "generator_batch_norm_first_layer",
                "discriminator_batch_norm"):
    _check_bool(config, f"model.{field}")
  for field in ("discriminator_dropout", "discriminator_input_dropout",
                "batch_norm_momentum"):
    _check_range(config, f"model.{field}", 0.0, 1.0, low_open=False,
                 high_open=True)
  _check_positive(config, "model.batch_norm_epsilon")
  if config.model.name == "dcgan" and name in TOY_DATA:
    raise ConfigError(
        f"config.model.name = 'dcgan' needs image data, but config.data.name "
        f"= {name!r}; use 'mlp' for toy data, or image data such as "
        f"{_choices(IDX_DATA)}")
  # The models check their own fields (naming them); the data shape comes from
  # the config, or for IDX files from their header (a data.DataError if they
  # are missing or corrupt).
  shape = data_lib.data_shape(config.data)
  try:
    models.validate_model_config(config.model, shape)
  except ValueError as e:
    message = str(e)
    if name not in TOY_DATA:
      # The image shape comes from the data: name where it was read.
      message += (f" (the image shape {shape} is that of "
                  f"{data_lib.describe_source(config.data)})")
    raise ConfigError(message) from None
  dropout = (config.model.discriminator_dropout or
             config.model.discriminator_input_dropout)
  if dropout and (config.model.name == "dcgan" or
                  config.model.discriminator_batch_norm):
    raise ConfigError(
        "config.model.discriminator_dropout / discriminator_input_dropout > 0 "
        "needs a discriminator without BatchNorm (dropout masks are drawn per "
        "example, one example at a time); set them to 0, or use "
        "config.model.name = 'mlp' with discriminator_batch_norm = False")

  # Loss.
  _check_choice(config, "loss.name", losses.NAMES)
  _check_range(config, "loss.fake_fraction", 0.0, 1.0, low_open=True,
               high_open=True)
  _check_range(config, "loss.label_smoothing", 0.0, 1.0, low_open=False,
               high_open=True)
  if (config.loss.label_smoothing and
      not losses.get(config.loss.name).uses_cross_entropy):
    bce = [n for n in losses.NAMES if losses.get(n).uses_cross_entropy]
    raise ConfigError(
        f"config.loss.label_smoothing = {config.loss.label_smoothing} applies "
        f"only to the cross-entropy losses ({_choices(bce)}), not to "
        f"config.loss.name = {config.loss.name!r}; set it to 0")
  _check_range(config, "loss.r1_gamma", 0.0, math.inf, low_open=False,
               high_open=True)

  # Optimisers.
  for player in ("generator", "discriminator"):
    prefix = f"optimizer.{player}"
    _check_choice(config, f"{prefix}.name", OPTIMIZERS)
    _check_positive(config, f"{prefix}.learning_rate")
    _check_range(config, f"{prefix}.b1", 0.0, 1.0, low_open=False,
                 high_open=True)
    _check_range(config, f"{prefix}.b2", 0.0, 1.0, low_open=False,
                 high_open=True)
    _check_range(config, f"{prefix}.momentum", 0.0, 1.0, low_open=False,
                 high_open=True)
    _check_choice(config, f"{prefix}.schedule", SCHEDULES)
    _check_int(config, f"{prefix}.decay_steps", 0)
    _check_range(config, f"{prefix}.end_factor", 0.0, 1.0, low_open=False,
                 high_open=False)

  # Training loop.
  _check_int(config, "train.steps", 1)
  _check_int(config, "train.batch_size", 1)
  if config.train.batch_size % num_devices:
    raise ConfigError(
        f"config.train.batch_size = {config.train.batch_size} must be "
        f"divisible by the number of devices ({num_devices}); e.g. use "
        f"{num_devices * max(1, round(config.train.batch_size / num_devices))}")
  _check_int(config, "train.discriminator_steps", 1)
  _check_int(config, "train.steps_per_call", 1)
  _check_int(config, "train.log_every", 1)
  _check_int(config, "train.checkpoint_every", 0)
  _check_int(config, "train.sample_every", 0)
  _check_range(config, "train.ema_decay", 0.0, 1.0, low_open=False,
               high_open=True)
  _check_choice(config, "train.on_divergence", ON_DIVERGENCE)
  _check_range(config, "train.divergence_lr_factor", 0.0, 1.0, low_open=True,
               high_open=True)
  _check_int(config, "train.max_divergence_restores", 0)

  _check_choice(config, "parallelism", PARALLELISM)
  if config.parallelism == "pmap" and num_processes > 1:
    raise ConfigError(
        f"config.parallelism = 'pmap' runs in one process only; this run has "
        f"{num_processes} processes: use 'shard_map'")
  _check_int(config, "eval.num_samples", 1)
  _check_int(config, "eval.num_sample_images", 1)
  _check_int(config, "eval.every", 0)
  # Precision/recall needs more than k samples; FID needs two.
  _check_int(config, "eval.image_num_samples",
             evaluation.PRECISION_RECALL_K + 1)
  _check_bool(config, "eval.parzen")
  _check_int(config, "eval.parzen_validation", 1)
  _check_bool(config, "eval.features")
  if not isinstance(config.eval.feature_extractor_dir, str):
    raise ConfigError(f"config.eval.feature_extractor_dir = "
                      f"{config.eval.feature_extractor_dir!r} must be a folder "
                      "path ('' = beside the data)")
  _check_int(config, "eval.feature_extractor_steps", 1)


def changed_fields(old: Any, new: Any, path: str = "") -> list[str]:
  """Dotted names of the leaves whose values differ between two configs.

  Both may be ConfigDicts or plain dicts (e.g. one read back from JSON);
  tuples and lists compare equal element-wise.
  """
  if isinstance(old, ml_collections.ConfigDict):
    old = old.to_dict()
  if isinstance(new, ml_collections.ConfigDict):
    new = new.to_dict()
  if isinstance(old, dict) and isinstance(new, dict):
    changed = []
    for key in sorted(set(old) | set(new)):
      name = f"{path}.{key}" if path else key
      if key not in old or key not in new:
        changed.append(name)
      else:
        changed.extend(changed_fields(old[key], new[key], name))
    return changed
  if isinstance(old, (tuple, list)) and isinstance(new, (tuple, list)):
    return [] if list(old) == list(new) else [path]
  return [] if old == new else [path]


def is_resumable_change(field: str,
                        config: Optional[ml_collections.ConfigDict] = None
                        ) -> bool:
  """Whether `field` may differ between a saved run and its resumption.

  train.steps may not when `config` decays a learning rate over train.steps
  (a schedule with decay_steps = 0).
  """
  if field == "train.steps" and config is not None:
    for player in ("generator", "discriminator"):
      optimizer = config.optimizer[player]
      if optimizer.schedule != "constant" and not optimizer.decay_steps:
        return False
  return any(field == f or field.startswith(f + ".") for f in RESUMABLE_FIELDS)
