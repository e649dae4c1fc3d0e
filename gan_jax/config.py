"""The experiment config schema: defaults, and validation before any compute.

Every experiment is an `ml_collections.ConfigDict` built from `default_config()`
and changed by a config file (`experiments/configs/*.py`) and command-line
overrides (`--config.train.steps=2000`). `validate(config, num_devices)` runs
before anything is compiled or loaded and raises `ConfigError` whose message
names the dotted field (`config.loss.name`) and the valid choices or range;
`validate(config)` (num_devices=None) checks all but the device count, before
JAX knows its devices. Importing this module does not import jax.

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
  train.ema_decay            [0.0] EMA of G's weights; 0 = off; warmed up:
                             step t uses min(ema_decay, (1+t)/(10+t))
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

import dataclasses
import difflib
import importlib.util
import math
import numbers
import os
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence

import ml_collections

# No module that imports jax is imported here: `import gan_jax.config` stays
# quick and jax-free (default_config and the model check import them when
# called). The names validation needs are therefore copied from those modules;
# tests/test_config.py asserts that each copy equals the module's value.
TOY_DATA = ("ring", "grid", "gaussian_1d")  # gan_jax.data.TOY_DATASETS
IDX_DATA = ("fashion_mnist", "mnist")  # gan_jax.data.IDX_DATASETS
DATA_SOURCES = ("idx", "tfds")  # gan_jax.data.SOURCES
MODEL_NAMES = ("mlp", "dcgan")  # gan_jax.models.MODEL_NAMES
# gan_jax.models.ACTIVATIONS.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "maxout")
# gan_jax.losses.NAMES, and those whose LossPair.uses_cross_entropy.
LOSS_NAMES = ("saturating", "non_saturating", "maximum_likelihood",
              "least_squares", "hinge", "wasserstein")
CROSS_ENTROPY_LOSSES = ("saturating", "non_saturating", "maximum_likelihood")
PRECISION_RECALL_K = 3  # gan_jax.evaluation.PRECISION_RECALL_K

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "cosine")
PARALLELISM = ("shard_map", "pmap")
ON_DIVERGENCE = ("stop", "restore")
# The largest value of any integer field (int32: steps, sizes, seeds).
INT_MAX = 2**31 - 1

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
  # pylint: disable=g-import-not-at-top
  from gan_jax import data as data_lib
  from gan_jax import evaluation
  from gan_jax import feature_extractor
  from gan_jax import models
  # pylint: enable=g-import-not-at-top
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


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool) and
          math.isfinite(value))


# --- Per-field checks: check(config, field, argument) raises ConfigError.


def _check_choice(config, field: str, choices: Iterable[str]) -> None:
  value = _get(config, field)
  if value not in tuple(choices):
    raise ConfigError(f"config.{field} = {value!r} is not valid; choose one "
                      f"of {_choices(choices)}")


def _check_int(config, field: str, minimum: int) -> None:
  """Checks minimum <= value <= INT_MAX for an integer value."""
  value = _get(config, field)
  if not _is_int(value) or value < minimum:
    raise ConfigError(f"config.{field} = {value!r} must be an integer >= "
                      f"{minimum}")
  if value > INT_MAX:
    raise ConfigError(f"config.{field} = {value!r} must be at most {INT_MAX}")


def _check_bool(config, field: str, unused_argument: None = None) -> None:
  value = _get(config, field)
  if not isinstance(value, bool):
    raise ConfigError(f"config.{field} = {value!r} must be True or False")


def _check_str(config, field: str, what: str) -> None:
  value = _get(config, field)
  if not isinstance(value, str):
    raise ConfigError(f"config.{field} = {value!r} must be a string ({what})")


def _check_widths(config, field: str, unused_argument: None = None) -> None:
  value = _get(config, field)
  if (not isinstance(value, (tuple, list)) or not value or
      not all(_is_int(w) and w >= 1 for w in value)):
    raise ConfigError(f"config.{field} = {value!r} must be a non-empty tuple "
                      f"of integers >= 1, e.g. (128, 128)")
  if any(w > INT_MAX for w in value):
    raise ConfigError(f"config.{field} = {value!r}: every width must be at "
                      f"most {INT_MAX}")


@dataclasses.dataclass(frozen=True)
class _Interval:
  """low </<= value </<= high; str() writes it as '(low, high]' etc."""
  low: float
  high: float
  low_open: bool
  high_open: bool

  def __str__(self) -> str:
    return (("(" if self.low_open else "[") + f"{self.low}, {self.high}" +
            (")" if self.high_open else "]"))

  def __contains__(self, value) -> bool:
    above = value > self.low if self.low_open else value >= self.low
    below = value < self.high if self.high_open else value <= self.high
    return above and below


_FINITE = _Interval(-math.inf, math.inf, low_open=True, high_open=True)
_POSITIVE = _Interval(0.0, math.inf, low_open=True, high_open=True)
_NON_NEGATIVE = _Interval(0.0, math.inf, low_open=False, high_open=True)
_OPEN_UNIT = _Interval(0.0, 1.0, low_open=True, high_open=True)
_CLOSED_UNIT = _Interval(0.0, 1.0, low_open=False, high_open=False)
_UNIT = _Interval(0.0, 1.0, low_open=False, high_open=True)  # [0, 1)


def _check_range(config, field: str, interval: _Interval) -> None:
  """Checks that the value is a finite real in `interval`, naming it if not."""
  value = _get(config, field)
  if not _is_real(value) or value not in interval:
    raise ConfigError(f"config.{field} = {value!r} must lie in {interval}")


_CHECKERS = {
    "choice": _check_choice,
    "int": _check_int,
    "bool": _check_bool,
    "str": _check_str,
    "widths": _check_widths,
    "range": _check_range,
}


class _Field(NamedTuple):
  """One per-field check: `_CHECKERS[kind](config, field, argument)`."""
  field: str
  kind: str
  argument: Any = None


class _Context(NamedTuple):
  """What the cross-field rules know beyond the config."""
  num_devices: Optional[int]
  num_processes: int


# A table is a sequence of _Field checks and rules, run in order: the first
# failure is the one reported. A rule is rule(config, context) -> None.
_Rule = Callable[[ml_collections.ConfigDict, _Context], None]
_Table = Sequence[_Field | _Rule]


def _run(config: ml_collections.ConfigDict, table: _Table,
         context: _Context) -> None:
  for check in table:
    if isinstance(check, _Field):
      _CHECKERS[check.kind](config, check.field, check.argument)
    else:
      check(config, context)


# --- Data.

# Checked first for the data set in use; all of them again in _DATA below.
_TOY_FIELDS = {
    "ring": (_Field("data.num_modes", "int", 1),
             _Field("data.radius", "range", _POSITIVE),
             _Field("data.std", "range", _POSITIVE)),
    "grid": (_Field("data.size", "int", 1),
             _Field("data.spacing", "range", _POSITIVE),
             _Field("data.std", "range", _POSITIVE)),
    "gaussian_1d": (_Field("data.mean", "range", _FINITE),
                    _Field("data.std", "range", _POSITIVE)),
}
assert set(_TOY_FIELDS) == set(TOY_DATA)


def _check_data_name(config, context: _Context) -> None:
  """A toy name (and its fields), an IDX name, or any TFDS name."""
  name = config.data.name
  if name in TOY_DATA:
    _run(config, _TOY_FIELDS[name], context)
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


_DATA = (
    _Field("data.source", "choice", DATA_SOURCES),
    _check_data_name,
    # Every field is checked, also those this data set ignores: a bad value
    # should not wait for the day a config switches data.name.
    _Field("data.num_modes", "int", 1),
    _Field("data.radius", "range", _POSITIVE),
    _Field("data.size", "int", 1),
    _Field("data.spacing", "range", _POSITIVE),
    _Field("data.mean", "range", _FINITE),
    _Field("data.std", "range", _POSITIVE),
    _Field("data.data_dir", "str", "a folder; '' = the default"),
    _Field("data.tfds_name", "str", "a TFDS name; '' = config.data.name"),
    _Field("data.tfds_download", "bool"),
    _Field("data.image_size", "int", 0),
)


# --- Model.


def _check_dcgan_needs_images(config, unused_context: _Context) -> None:
  name = config.data.name
  if config.model.name == "dcgan" and name in TOY_DATA:
    raise ConfigError(
        f"config.model.name = 'dcgan' needs image data, but config.data.name "
        f"= {name!r}; use 'mlp' for toy data, or image data such as "
        f"{_choices(IDX_DATA)}")


def _check_model_builds(config, unused_context: _Context) -> None:
  """The models check their own fields (naming them) against the data shape.

  The shape comes from the config, or for IDX files from their header (a
  data.DataError if they are missing or corrupt).
  """
  # Imported here: they import jax, which `import gan_jax.config` need not.
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  shape = data_lib.data_shape(config.data)
  try:
    models.validate_model_config(config.model, shape)
  except ValueError as e:
    message = str(e)
    if config.data.name not in TOY_DATA:
      # The image shape comes from the data: name where it was read.
      message += (f" (the image shape {shape} is that of "
                  f"{data_lib.describe_source(config.data)})")
    raise ConfigError(message) from None


def _check_dropout_without_batch_norm(config, unused_context: _Context
                                      ) -> None:
  dropout = (config.model.discriminator_dropout or
             config.model.discriminator_input_dropout)
  if dropout and (config.model.name == "dcgan" or
                  config.model.discriminator_batch_norm):
    raise ConfigError(
        "config.model.discriminator_dropout / discriminator_input_dropout > 0 "
        "needs a discriminator without BatchNorm (dropout masks are drawn per "
        "example, one example at a time); set them to 0, or use "
        "config.model.name = 'mlp' with discriminator_batch_norm = False")


_MODEL = (
    _Field("model.name", "choice", MODEL_NAMES),
    _Field("model.latent_dim", "int", 1),
    # Every model field, also those the chosen model ignores (see _DATA).
    *(check for player in ("generator", "discriminator") for check in (
        _Field(f"model.{player}_widths", "widths"),
        _Field(f"model.{player}_activation", "choice", ACTIVATIONS),
        _Field(f"model.{player}_base_features", "int", 1))),
    _Field("model.maxout_pieces", "int", 1),
    _Field("model.leaky_relu_slope", "range", _CLOSED_UNIT),
    _Field("model.generator_batch_norm", "bool"),
    _Field("model.generator_batch_norm_first_layer", "bool"),
    _Field("model.discriminator_batch_norm", "bool"),
    _Field("model.discriminator_dropout", "range", _UNIT),
    _Field("model.discriminator_input_dropout", "range", _UNIT),
    _Field("model.batch_norm_momentum", "range", _UNIT),
    _Field("model.batch_norm_epsilon", "range", _POSITIVE),
    _check_dcgan_needs_images,
    _check_model_builds,
    _check_dropout_without_batch_norm,
)


# --- Loss and optimisers.


def _check_label_smoothing_loss(config, unused_context: _Context) -> None:
  if (config.loss.label_smoothing and
      config.loss.name not in CROSS_ENTROPY_LOSSES):
    raise ConfigError(
        f"config.loss.label_smoothing = {config.loss.label_smoothing} applies "
        f"only to the cross-entropy losses ({_choices(CROSS_ENTROPY_LOSSES)}), "
        f"not to config.loss.name = {config.loss.name!r}; set it to 0")


_LOSS = (
    _Field("loss.name", "choice", LOSS_NAMES),
    _Field("loss.fake_fraction", "range", _OPEN_UNIT),
    _Field("loss.label_smoothing", "range", _UNIT),
    _check_label_smoothing_loss,
    _Field("loss.r1_gamma", "range", _NON_NEGATIVE),
)

_OPTIMIZER = tuple(
    check for prefix in ("optimizer.generator", "optimizer.discriminator")
    for check in (
        _Field(f"{prefix}.name", "choice", OPTIMIZERS),
        _Field(f"{prefix}.learning_rate", "range", _POSITIVE),
        _Field(f"{prefix}.b1", "range", _UNIT),
        _Field(f"{prefix}.b2", "range", _UNIT),
        _Field(f"{prefix}.momentum", "range", _UNIT),
        _Field(f"{prefix}.schedule", "choice", SCHEDULES),
        _Field(f"{prefix}.decay_steps", "int", 0),
        _Field(f"{prefix}.end_factor", "range", _CLOSED_UNIT),
    ))


# --- Training loop, parallelism and evaluation.


def _check_batch_divides(config, context: _Context) -> None:
  """The global batch splits evenly over the devices (when they are known)."""
  num_devices = context.num_devices
  if num_devices is None:
    return
  batch_size = config.train.batch_size
  if batch_size % num_devices:
    raise ConfigError(
        f"config.train.batch_size = {batch_size} must be divisible by the "
        f"number of devices ({num_devices}); e.g. use "
        f"{num_devices * max(1, round(batch_size / num_devices))}")


def _check_pmap_single_process(config, context: _Context) -> None:
  if config.parallelism == "pmap" and context.num_processes > 1:
    raise ConfigError(
        f"config.parallelism = 'pmap' runs in one process only; this run has "
        f"{context.num_processes} processes: use 'shard_map'")


def _check_feature_extractor_dir(config, unused_context: _Context) -> None:
  if not isinstance(config.eval.feature_extractor_dir, str):
    raise ConfigError(f"config.eval.feature_extractor_dir = "
                      f"{config.eval.feature_extractor_dir!r} must be a folder "
                      "path ('' = beside the data)")


_TRAIN = (
    _Field("train.steps", "int", 1),
    _Field("train.batch_size", "int", 1),
    _check_batch_divides,
    _Field("train.discriminator_steps", "int", 1),
    _Field("train.steps_per_call", "int", 1),
    _Field("train.log_every", "int", 1),
    _Field("train.checkpoint_every", "int", 0),
    _Field("train.sample_every", "int", 0),
    _Field("train.ema_decay", "range", _UNIT),
    _Field("train.on_divergence", "choice", ON_DIVERGENCE),
    _Field("train.divergence_lr_factor", "range", _OPEN_UNIT),
    _Field("train.max_divergence_restores", "int", 0),
)

_PARALLELISM = (
    _Field("parallelism", "choice", PARALLELISM),
    _check_pmap_single_process,
)

_EVAL = (
    _Field("eval.num_samples", "int", 1),
    _Field("eval.num_sample_images", "int", 1),
    _Field("eval.every", "int", 0),
    # Precision/recall needs more than k samples; FID needs two.
    _Field("eval.image_num_samples", "int", PRECISION_RECALL_K + 1),
    _Field("eval.parzen", "bool"),
    _Field("eval.parzen_validation", "int", 1),
    _Field("eval.features", "bool"),
    _check_feature_extractor_dir,
    _Field("eval.feature_extractor_steps", "int", 1),
)

# Every check, in the order they run.
_CHECKS = ((_Field("seed", "int", 0),) + _DATA + _MODEL + _LOSS + _OPTIMIZER +
           _TRAIN + _PARALLELISM + _EVAL)


def validate(config: ml_collections.ConfigDict,
             num_devices: Optional[int] = None, *,
             num_processes: int = 1) -> None:
  """Checks every field of `config`; raises `ConfigError` on the first bad one.

  Needs no JAX backend and compiles nothing (image data sets: reads the IDX
  header, or asks TFDS for the shape). Every integer field must also be at
  most `INT_MAX` (2**31 - 1).

  Args:
    config: a config built from `default_config()`.
    num_devices: devices the step is mapped over (the global batch is split
      evenly among them), over all processes. None skips the checks that need
      the device count (only: train.batch_size divisible by it), so that a
      config can be checked before JAX knows its devices; validate again with
      the count before running.
    num_processes: JAX processes the run spans (`jax.process_count()`).

  Raises:
    ConfigError: naming the dotted field and the valid choices or range.
  """
  _check_known_fields(config, default_config(), "config")
  _run(config, _CHECKS, _Context(num_devices, num_processes))


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
