"""The per-section check tables and the cross-field rules.

Each table is a sequence of `_Field` checks and rules, run in order by
`gan_jax.config.checks._run`; `_CHECKS` is all of them, in the order
`gan_jax.config.validate` runs them.
"""

from __future__ import annotations

from gan_jax.config.checks import _CLOSED_UNIT
from gan_jax.config.checks import _choices
from gan_jax.config.checks import _Context
from gan_jax.config.checks import _Field
from gan_jax.config.checks import _FINITE
from gan_jax.config.checks import _NON_NEGATIVE
from gan_jax.config.checks import _OPEN_UNIT
from gan_jax.config.checks import _POSITIVE
from gan_jax.config.checks import _run
from gan_jax.config.checks import _UNIT
from gan_jax.config.checks import ConfigError
from gan_jax.config.names import ACTIVATIONS
from gan_jax.config.names import COMPUTE_DTYPES
from gan_jax.config.names import CONV_IMPLS
from gan_jax.config.names import CROSS_ENTROPY_LOSSES
from gan_jax.config.names import DATA_SOURCES
from gan_jax.config.names import F_DIVERGENCES
from gan_jax.config.names import FAKE_FRACTION_LOSSES
from gan_jax.config.names import IDX_DATA
from gan_jax.config.names import LOSS_NAMES
from gan_jax.config.names import MODEL_NAMES
from gan_jax.config.names import ON_DIVERGENCE
from gan_jax.config.names import OPTIMIZERS
from gan_jax.config.names import PARALLELISM
from gan_jax.config.names import PRECISION_RECALL_K
from gan_jax.config.names import SCHEDULES
from gan_jax.config.names import STACKED_DATA
from gan_jax.config.names import TOY_DATA

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
  """A toy name (and its fields), an IDX or stacked name, or any TFDS name."""
  name = config.data.name
  if name in TOY_DATA:
    _run(config, _TOY_FIELDS[name], context)
  elif config.data.source == "idx":
    if name not in IDX_DATA + STACKED_DATA:
      raise ConfigError(
          f"config.data.name = {name!r} is not valid; choose a toy "
          f"distribution ({_choices(TOY_DATA)}), an IDX data set "
          f"({_choices(IDX_DATA)}), a stacked one ({_choices(STACKED_DATA)}),"
          f" or set config.data.source = 'tfds' for other image data sets")
  elif not isinstance(name, str) or not name:
    raise ConfigError(f"config.data.name = {name!r} must name a data set: "
                      f"{_choices(TOY_DATA + IDX_DATA + STACKED_DATA)} or a "
                      "TFDS name")


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
  if dropout and config.model.discriminator_spectral_norm:
    # One example at a time, the power iteration's state would never update.
    raise ConfigError(
        "config.model.discriminator_spectral_norm = True needs a "
        "discriminator without dropout (dropout masks are drawn per example, "
        "one example at a time); set discriminator_dropout and "
        "discriminator_input_dropout to 0")


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
    _Field("model.discriminator_spectral_norm", "bool"),
    _Field("model.discriminator_dropout", "range", _UNIT),
    _Field("model.discriminator_input_dropout", "range", _UNIT),
    _Field("model.batch_norm_momentum", "range", _UNIT),
    _Field("model.batch_norm_epsilon", "range", _POSITIVE),
    _Field("model.compute_dtype", "choice", COMPUTE_DTYPES),
    _Field("model.conv_impl", "choice", CONV_IMPLS),
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


def _check_fake_fraction_loss(config, unused_context: _Context) -> None:
  if (config.loss.fake_fraction != 0.5 and
      config.loss.name not in FAKE_FRACTION_LOSSES):
    raise ConfigError(
        f"config.loss.fake_fraction = {config.loss.fake_fraction} applies "
        f"only to {_choices(FAKE_FRACTION_LOSSES)}, not to config.loss.name = "
        f"{config.loss.name!r}; set it to 0.5")


def _check_divergence_loss(config, unused_context: _Context) -> None:
  if config.loss.divergence != "gan" and config.loss.name != "f_gan":
    raise ConfigError(
        f"config.loss.divergence = {config.loss.divergence!r} applies only to "
        f"config.loss.name = 'f_gan', not to {config.loss.name!r}; set "
        "loss.name='f_gan' or leave loss.divergence='gan'")


_LOSS = (
    _Field("loss.name", "choice", LOSS_NAMES),
    _Field("loss.fake_fraction", "range", _OPEN_UNIT),
    _check_fake_fraction_loss,
    _Field("loss.label_smoothing", "range", _UNIT),
    _check_label_smoothing_loss,
    _Field("loss.divergence", "choice", F_DIVERGENCES),
    _check_divergence_loss,
    _Field("loss.r1_gamma", "range", _NON_NEGATIVE),
    _Field("loss.r2_gamma", "range", _NON_NEGATIVE),
    _Field("loss.gp_weight", "range", _NON_NEGATIVE),
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
                      "path ('' = the user cache)")


# The k D sub-steps are unrolled in the compiled update (a Python loop:
# XLA:CPU runs convolutions inside a while loop several times slower), so its
# compile time grows with k: on 2 CPU cores the ring config's update took 9 s
# to compile with k = 1, 37 s with 8 and 158 s with 32. Far past the k of any
# recipe (1 to 5), a typo (k = 100000) would compile for days.
MAX_DISCRIMINATOR_STEPS = 100


def _check_discriminator_steps_bound(config, unused_context: _Context) -> None:
  k = config.train.discriminator_steps
  if k > MAX_DISCRIMINATOR_STEPS:
    raise ConfigError(
        f"config.train.discriminator_steps = {k} must be an integer in [1, "
        f"{MAX_DISCRIMINATOR_STEPS}]: the k D steps are unrolled in the "
        f"compiled update, whose compile time grows with k")


_TRAIN = (
    _Field("train.steps", "int", 1),
    _Field("train.batch_size", "int", 1),
    _check_batch_divides,
    _Field("train.discriminator_steps", "int", 1),
    _check_discriminator_steps_bound,
    _Field("train.steps_per_call", "int", 1),
    _Field("train.max_call_seconds", "range", _POSITIVE),
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
