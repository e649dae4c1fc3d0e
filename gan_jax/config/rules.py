"""The check tables: the registries' fields and rules, and the run's own.

Every section a registry owns (data, model, loss, eval.metrics) is checked
from the registry: all registered components' fields (also those the
chosen one ignores: a bad value should not wait for the day a config
switches the name), then the chosen component's own rules. `CHECKS` is
every check, in the order `gan_jax.config.validate` runs them.
"""

from __future__ import annotations

from gan_jax import fields
from gan_jax import registry
from gan_jax.config.checks import Context
from gan_jax.config.checks import FieldCheck
from gan_jax.fields import choices_text
from gan_jax.fields import ConfigError

OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULES = ("constant", "linear", "cosine")
# 'pmap' was removed (jax.pmap is in maintenance); old runs saved with it
# read as 'shard_map' (`gan_jax.config.resume.migrate`).
PARALLELISM = ("shard_map",)
ON_DIVERGENCE = ("stop", "restore")
# train.generator_noise: G's step draws fresh z (Algorithm 1) or reuses the
# last D sub-step's (the seed notebooks).
GENERATOR_NOISE = ("fresh", "discriminator")
# train.fake_labels: a conditional G's labels in D's steps.
FAKE_LABELS = ("sampled", "real")


def _registry_fields(reg: registry.Registry):
  def check(config, unused_context: Context) -> None:
    reg.check_fields(config[reg.section], f"config.{reg.section}",
                     config.plugins)
  return check


def _chosen_rules(reg: registry.Registry):
  def check(config, unused_context: Context) -> None:
    for rule in reg.get(config[reg.section].name, config.plugins).rules:
      rule(config)
  return check


def _check_name(reg: registry.Registry):
  def check(config, unused_context: Context) -> None:
    reg.get(config[reg.section].name, config.plugins)
  return check


# --- Data.


def _check_data_name(config, unused_context: Context) -> None:
  """A registered name, or any TFDS name with source 'tfds'."""
  name = config.data.name
  if name in registry.DATASETS.names():
    _chosen_rules(registry.DATASETS)(config, None)
    return
  if config.data.source == "idx":
    from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    raise ConfigError(
        f"config.data.name = {name!r} is not valid; choose a toy "
        f"distribution ({choices_text(data_lib.TOY_DATASETS)}), an IDX data "
        f"set ({choices_text(data_lib.IDX_DATASETS)}), a stacked one "
        f"({choices_text(data_lib.STACKED_DATASETS)}), or set "
        "config.data.source = 'tfds' for other image data sets")
  if not isinstance(name, str) or not name:
    raise ConfigError(f"config.data.name = {name!r} must name a data set: "
                      f"{choices_text(registry.DATASETS.names())} or a TFDS "
                      "name")


_DATA = (
    FieldCheck("data.source", "choice",
               registry.DATASETS.common_fields["source"].argument),
    _check_data_name,
    _registry_fields(registry.DATASETS),
)


# --- Model.


def _check_model_builds(config, unused_context: Context) -> None:
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
    if not data_lib.is_toy(config.data):
      # The image shape comes from the data: name where it was read.
      message += (f" (the image shape {shape} is that of "
                  f"{data_lib.describe_source(config.data)})")
    raise ConfigError(message) from None


def _check_output_matches_pixel_range(config, unused_context: Context
                                      ) -> None:
  """A sigmoid G draws [0, 1], a tanh G [-1, 1]: the data must be there too."""
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  if data_lib.is_toy(config.data):
    return
  activation = config.model.get("output_activation", "tanh")
  pixel_range = config.data.get("pixel_range", "[-1,1]")
  wanted = {"tanh": "[-1,1]", "sigmoid": "[0,1]"}.get(activation)
  if wanted is not None and pixel_range != wanted:
    raise ConfigError(
        f"config.model.output_activation = {activation!r} draws images in "
        f"{wanted} but config.data.pixel_range = {pixel_range!r}; set "
        f"config.data.pixel_range = {wanted!r} (or output_activation = "
        f"{'sigmoid' if activation == 'tanh' else 'tanh'!r})")


_MODEL = (
    _check_name(registry.MODELS),
    _registry_fields(registry.MODELS),
    _chosen_rules(registry.MODELS),
    _check_output_matches_pixel_range,
    _check_model_builds,
)


# --- Loss (the game and D's penalties) and optimisers.


def _check_game_fields_apply(config, unused_context: Context) -> None:
  """A field of other games, set away from its default, is an error.

  A value set for another game would otherwise be silently ignored.
  """
  game = registry.GAMES.get(config.loss.name, config.plugins)
  for field_name, field in registry.GAMES.fields(config.plugins).items():
    value = config.loss[field_name]
    if field_name in game.fields or value == field.default:
      continue
    takers = [c.name for c in registry.GAMES.components(config.plugins)
              if field_name in c.fields]
    raise ConfigError(
        f"config.loss.{field_name} = {value!r} applies only to "
        f"{choices_text(takers)}, not to config.loss.name = "
        f"{config.loss.name!r}; set it to {field.default!r}")


def _check_penalty_rules(config, unused_context: Context) -> None:
  for penalty in registry.PENALTIES.components(config.plugins):
    if config.loss[penalty.info["weight_field"]]:
      for rule in penalty.rules:
        rule(config)


def _check_weight_clip(config, unused_context: Context) -> None:
  """Clipping is WGAN's Lipschitz constraint; a gradient penalty or spectral
  norm is another: one of them, not two."""
  clip = config.loss.weight_clip
  if not clip:
    return
  for penalty in registry.PENALTIES.components(config.plugins):
    field = penalty.info["weight_field"]
    if config.loss[field]:
      raise ConfigError(
          f"config.loss.weight_clip = {clip} and config.loss.{field} = "
          f"{config.loss[field]} both constrain D; drop one (set "
          f"config.loss.{field} = 0, or config.loss.weight_clip = 0)")
  if config.model.get("discriminator_spectral_norm", False):
    raise ConfigError(
        f"config.loss.weight_clip = {clip} and config.model."
        f"discriminator_spectral_norm = True both constrain D's Lipschitz "
        f"constant; drop one (set discriminator_spectral_norm = False, or "
        f"config.loss.weight_clip = 0)")


_LOSS = (
    _check_name(registry.GAMES),
    _registry_fields(registry.GAMES),
    _check_game_fields_apply,
    _chosen_rules(registry.GAMES),
    _registry_fields(registry.PENALTIES),
    _check_penalty_rules,
    FieldCheck("loss.acgan_discriminator_weight", "range",
               fields.NON_NEGATIVE),
    FieldCheck("loss.acgan_generator_weight", "range", fields.NON_NEGATIVE),
    FieldCheck("loss.acgan_fake_weight", "range", fields.NON_NEGATIVE),
    FieldCheck("loss.weight_clip", "range", fields.NON_NEGATIVE),
    _check_weight_clip,
)

_OPTIMIZER = tuple(
    check for prefix in ("optimizer.generator", "optimizer.discriminator")
    for check in (
        FieldCheck(f"{prefix}.name", "choice", OPTIMIZERS),
        FieldCheck(f"{prefix}.learning_rate", "range", fields.POSITIVE),
        FieldCheck(f"{prefix}.b1", "range", fields.UNIT),
        FieldCheck(f"{prefix}.b2", "range", fields.UNIT),
        FieldCheck(f"{prefix}.momentum", "range", fields.UNIT),
        FieldCheck(f"{prefix}.eps", "range", fields.POSITIVE),
        FieldCheck(f"{prefix}.decay", "range", fields.UNIT),
        FieldCheck(f"{prefix}.initial_scale", "range", fields.NON_NEGATIVE),
        FieldCheck(f"{prefix}.centered", "bool"),
        FieldCheck(f"{prefix}.schedule", "choice", SCHEDULES),
        FieldCheck(f"{prefix}.decay_steps", "int", 0),
        FieldCheck(f"{prefix}.end_factor", "range", fields.CLOSED_UNIT),
    ))


# --- Training loop, parallelism and evaluation.



def _check_image_num_samples(config, unused_context: Context) -> None:
  """Precision/recall needs more than its k samples; FID needs two."""
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  FieldCheck("eval.image_num_samples", "int",
             evaluation.PRECISION_RECALL_K + 1)(config)


def _check_batch_divides(config, context: Context) -> None:
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


def _check_feature_extractor_dir(config, unused_context: Context) -> None:
  if not isinstance(config.eval.feature_extractor_dir, str):
    raise ConfigError(f"config.eval.feature_extractor_dir = "
                      f"{config.eval.feature_extractor_dir!r} must be a folder "
                      "path ('' = the user cache)")


# The k D sub-steps are unrolled in the compiled update (a Python loop:
# XLA:CPU runs convolutions inside a while loop several times slower), so its
# compile time grows with k (measured: docs/performance.md). Far past the k
# of any recipe (1 to 5), a typo (k = 100000) would compile for days.
MAX_DISCRIMINATOR_STEPS = 100


def _check_discriminator_steps_bound(config, unused_context: Context) -> None:
  k = config.train.discriminator_steps
  if k > MAX_DISCRIMINATOR_STEPS:
    raise ConfigError(
        f"config.train.discriminator_steps = {k} must be an integer in [1, "
        f"{MAX_DISCRIMINATOR_STEPS}]: the k D steps are unrolled in the "
        f"compiled update, whose compile time grows with k")


def _check_fake_labels_conditional(config, unused_context: Context) -> None:
  if (config.train.get("fake_labels", "sampled") == "real" and
      not config.model.get("num_classes", 0)):
    raise ConfigError(
        "config.train.fake_labels = 'real' gives a conditional G the real "
        "batch's labels; this model is unconditional (config.model."
        "num_classes = 0): leave it at 'sampled'")


_TRAIN = (
    FieldCheck("train.steps", "int", 1),
    FieldCheck("train.batch_size", "int", 1),
    _check_batch_divides,
    FieldCheck("train.discriminator_steps", "int", 1),
    _check_discriminator_steps_bound,
    FieldCheck("train.steps_per_call", "int", 1),
    FieldCheck("train.max_call_seconds", "range", fields.POSITIVE),
    FieldCheck("train.log_every", "int", 1),
    FieldCheck("train.checkpoint_every", "int", 0),
    FieldCheck("train.sample_every", "int", 0),
    FieldCheck("train.ema_decay", "range", fields.UNIT),
    FieldCheck("train.on_divergence", "choice", ON_DIVERGENCE),
    FieldCheck("train.divergence_lr_factor", "range", fields.OPEN_UNIT),
    FieldCheck("train.max_divergence_restores", "int", 0),
    FieldCheck("train.generator_noise", "choice", GENERATOR_NOISE),
    FieldCheck("train.fake_labels", "choice", FAKE_LABELS),
    _check_fake_labels_conditional,
)

def _check_parallelism(config, unused_context: Context) -> None:
  if config.parallelism == "pmap":
    raise ConfigError(
        "config.parallelism = 'pmap' was removed (jax.pmap is in maintenance;"
        " shard_map computes the same step): use 'shard_map'. A run saved "
        "with 'pmap' resumes as it is")
  FieldCheck("parallelism", "choice", PARALLELISM)(config)


_PARALLELISM = (_check_parallelism,)


def _check_metrics(config, unused_context: Context) -> None:
  """eval.metrics: registered evaluators that apply to the data kind."""
  metrics = config.eval.metrics
  if not isinstance(metrics, (tuple, list)) or not all(
      isinstance(m, str) for m in metrics):
    raise ConfigError(
        f"config.eval.metrics = {metrics!r} must be a tuple of evaluator "
        f"names (() = the data kind's defaults): "
        f"{choices_text(registry.EVALUATORS.names(config.plugins))}")
  # Imported here: the evaluators import jax, which gan_jax.config need not.
  from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  evaluators.check_metrics(config)


_EVAL = (
    FieldCheck("eval.num_samples", "int", 1),
    FieldCheck("eval.num_sample_images", "int", 1),
    FieldCheck("eval.every", "int", 0),
    _check_image_num_samples,
    _check_metrics,
    _registry_fields(registry.EVALUATORS),
    FieldCheck("eval.parzen", "bool"),
    FieldCheck("eval.parzen_validation", "int", 1),
    FieldCheck("eval.features", "bool"),
    _check_feature_extractor_dir,
    FieldCheck("eval.feature_extractor_steps", "int", 1),
)

# Every check, in the order they run.
CHECKS = ((FieldCheck("seed", "int", 0),) + _DATA + _MODEL +
          _LOSS + _OPTIMIZER + _TRAIN + _PARALLELISM + _EVAL)
