"""Config schema and validation: every bad field is named, with its choices."""

import os
import subprocess
import sys

import ml_collections
import pytest

from gan_jax import config as config_lib
from gan_jax import data

from helpers import CONFIG_FILES, ROOT, config_leaves



def test_all_five_configs_exist():
  names = {os.path.basename(p) for p in CONFIG_FILES}
  assert {"gaussian_1d.py", "ring.py", "grid.py", "fashion_mnist_mlp.py",
          "fashion_mnist_dcgan.py"} <= names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_shipped_configs_validate(path, idx_dir):
  config = config_lib.from_file(path)
  if not data.is_toy(config.data):
    config.data.data_dir = idx_dir
  config_lib.validate(config, num_devices=1)
  config_lib.validate(config, num_devices=4)
  # The docstring holds the exact run command.
  with open(path) as f:
    source = f.read()
  relative = os.path.relpath(path, ROOT)
  assert f"python launch.py --config {relative}" in source


def test_default_config_validates():
  config_lib.validate(config_lib.default_config(), num_devices=1)


def _set(config, field, value):
  node = config
  parts = field.split(".")
  for part in parts[:-1]:
    node = node[part]
  with node.ignore_type():
    node[parts[-1]] = value


BAD_FIELDS = [
    # (field, value, words the message must contain)
    ("loss.name", "minimax", ["config.loss.name", "non_saturating", "hinge"]),
    ("model.name", "resnet", ["config.model.name", "mlp", "dcgan"]),
    ("data.name", "cifar", ["config.data.name", "ring", "fashion_mnist"]),
    ("data.source", "http", ["config.data.source", "idx", "tfds"]),
    ("train.discriminator_steps", 0, ["config.train.discriminator_steps",
                                      ">= 1"]),
    ("train.discriminator_steps", 101, ["config.train.discriminator_steps",
                                        "[1, 100]", "unrolled"]),
    ("train.max_call_seconds", 0.0, ["config.train.max_call_seconds",
                                     "(0.0, inf)"]),
    ("loss.fake_fraction", 0.0, ["config.loss.fake_fraction", "(0.0, 1.0)"]),
    ("loss.fake_fraction", 1.0, ["config.loss.fake_fraction", "(0.0, 1.0)"]),
    ("loss.label_smoothing", 1.0, ["config.loss.label_smoothing", "[0.0"]),
    ("loss.r1_gamma", -1.0, ["config.loss.r1_gamma"]),
    ("optimizer.generator.name", "adagrad",
     ["config.optimizer.generator.name", "adam", "sgd", "rmsprop"]),
    # RMSProp's options (the seed WGAN notebook's optimiser).
    ("optimizer.discriminator.decay", 1.0,
     ["config.optimizer.discriminator.decay", "[0.0, 1.0)"]),
    ("optimizer.discriminator.decay", -0.5,
     ["config.optimizer.discriminator.decay"]),
    ("optimizer.generator.eps", 0.0, ["config.optimizer.generator.eps",
                                      "(0.0, inf)"]),
    ("optimizer.generator.initial_scale", -1.0,
     ["config.optimizer.generator.initial_scale", "[0.0, inf)"]),
    ("optimizer.generator.momentum", 1.0,
     ["config.optimizer.generator.momentum", "[0.0, 1.0)"]),
    ("optimizer.generator.centered", "yes",
     ["config.optimizer.generator.centered"]),
    ("loss.weight_clip", -0.01, ["config.loss.weight_clip", "[0.0, inf)"]),
    ("train.generator_noise", "same", ["config.train.generator_noise",
                                       "fresh", "discriminator"]),
    ("train.fake_labels", "given", ["config.train.fake_labels", "sampled",
                                    "real"]),
    ("model.latent_distribution", "laplace",
     ["config.model.latent_distribution", "normal", "uniform"]),
    ("model.output_activation", "relu", ["config.model.output_activation",
                                         "tanh", "sigmoid"]),
    ("model.parameter_init", "xavier", ["config.model.parameter_init",
                                        "default", "scaled_normal"]),
    ("data.pixel_range", "[0,255]", ["config.data.pixel_range", "[-1,1]",
                                     "[0,1]"]),
    ("optimizer.discriminator.learning_rate", 0.0,
     ["config.optimizer.discriminator.learning_rate"]),
    ("optimizer.generator.b1", 1.5, ["config.optimizer.generator.b1"]),
    ("train.batch_size", 0, ["config.train.batch_size"]),
    ("train.steps", 0, ["config.train.steps"]),
    ("train.steps_per_call", 0, ["config.train.steps_per_call"]),
    ("train.ema_decay", 1.0, ["config.train.ema_decay", "[0.0, 1.0)"]),
    ("parallelism", "xmap", ["config.parallelism", "shard_map"]),
    ("eval.num_samples", 0, ["config.eval.num_samples"]),
    ("eval.every", -1, ["config.eval.every", ">= 0"]),
    ("eval.image_num_samples", 3, ["config.eval.image_num_samples", ">= 4"]),
    ("eval.parzen_validation", 0, ["config.eval.parzen_validation"]),
    ("eval.feature_extractor_steps", 0,
     ["config.eval.feature_extractor_steps"]),
    ("data.std", -0.1, ["config.data.std"]),
    ("data.num_modes", 0, ["config.data.num_modes"]),
    ("model.generator_widths", (8, 0), ["config.model.generator_widths"]),
    ("model.generator_activation", "swish",
     ["config.model.generator_activation", "relu"]),
    ("model.latent_dim", 0, ["config.model.latent_dim"]),
    ("seed", -1, ["config.seed"]),
]


@pytest.mark.parametrize("field, value, words", BAD_FIELDS,
                         ids=[f"{f}={v}" for f, v, _ in BAD_FIELDS])
def test_bad_field_is_named(field, value, words):
  config = config_lib.default_config()
  _set(config, field, value)
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, num_devices=1)
  for word in words:
    assert word in str(error.value)


def test_batch_not_divisible_by_devices():
  config = config_lib.default_config()
  config.train.batch_size = 10
  config_lib.validate(config, num_devices=2)
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.train\.batch_size.*divisible.*\(4\)"):
    config_lib.validate(config, num_devices=4)


def test_no_device_count_skips_only_the_device_check():
  config = config_lib.default_config()
  config.train.batch_size = 10
  config_lib.validate(config)
  config_lib.validate(config, num_devices=None)
  config.train.discriminator_steps = 0
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.train\.discriminator_steps"):
    config_lib.validate(config, None)
  config = config_lib.default_config()
  config.parallelism = "pmap"
  with pytest.raises(config_lib.ConfigError, match=r"config\.parallelism"):
    config_lib.validate(config, None, num_processes=2)


def test_import_and_validate_need_no_jax_backend():
  """`import gan_jax.config` imports no jax; validate(config) starts none."""
  script = (
      "import sys\n"
      "from gan_jax import config\n"
      "assert not [m for m in sys.modules if m.split('.')[0] in "
      "('jax', 'jaxlib', 'flax', 'optax', 'orbax')], sorted(sys.modules)\n"
      # Any backend started would fail on this platform name.
      "config.validate(config.default_config(), None)\n")
  env = dict(os.environ, JAX_PLATFORMS="no_such_platform")
  subprocess.run([sys.executable, "-c", script], check=True, env=env,
                 cwd=ROOT)


def test_no_name_list_is_copied():
  """The config package holds no copy of a registered name list."""
  for name in ("TOY_DATA", "IDX_DATA", "MODEL_NAMES", "LOSS_NAMES",
               "ACTIVATIONS", "CONV_IMPLS", "F_DIVERGENCES"):
    assert not hasattr(config_lib, name)
  assert not os.path.exists(os.path.join(ROOT, "gan_jax", "config",
                                         "names.py"))


HUGE_INT_FIELDS = ["train.batch_size", "train.steps", "seed",
                   "model.latent_dim", "eval.num_samples", "data.image_size",
                   "optimizer.discriminator.decay_steps"]


@pytest.mark.parametrize("field", HUGE_INT_FIELDS)
def test_huge_integers_are_named(field):
  config = config_lib.default_config()
  _set(config, field, 3_000_000_000)
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, num_devices=1)
  assert str(error.value) == (f"config.{field} = 3000000000 must be at most "
                              f"2147483647")
  _set(config, field, config_lib.INT_MAX)
  config_lib.validate(config, num_devices=1)


def test_huge_width_is_named():
  config = config_lib.default_config()
  config.model.discriminator_widths = (8, 2**31)
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.model\.discriminator_widths = \(8, "
                     r"2147483648\): every width must be at most 2147483647"):
    config_lib.validate(config, num_devices=1)


def test_discriminator_steps_up_to_the_bound_validate():
  from gan_jax.config import rules  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config()
  config.train.discriminator_steps = rules.MAX_DISCRIMINATOR_STEPS
  config_lib.validate(config, num_devices=1)
  config.train.discriminator_steps = 100_000
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, num_devices=1)
  assert "\n" not in str(error.value)
  assert str(error.value).startswith(
      "config.train.discriminator_steps = 100000 must be an integer in "
      "[1, 100]")


def test_label_smoothing_only_for_cross_entropy():
  config = config_lib.default_config()
  config.loss.label_smoothing = 0.1
  config_lib.validate(config, 1)
  config.loss.name = "hinge"
  with pytest.raises(config_lib.ConfigError,
                     match="config.loss.label_smoothing.*non_saturating"):
    config_lib.validate(config, 1)


@pytest.mark.parametrize("overrides, words", [
    ({"loss.divergence": "kl"}, ["config.loss.divergence", "'f_gan'"]),
    ({"loss.name": "f_gan", "loss.divergence": "chi2"},
     ["config.loss.divergence", "'pearson'"]),
    ({"loss.name": "relativistic", "loss.fake_fraction": 0.3},
     ["config.loss.fake_fraction", "relativistic"]),
    ({"loss.name": "f_gan", "loss.fake_fraction": 0.3},
     ["config.loss.fake_fraction", "f_gan"]),
    ({"loss.r2_gamma": -0.1}, ["config.loss.r2_gamma"]),
    ({"loss.gp_weight": float("nan")}, ["config.loss.gp_weight"]),
    ({"model.discriminator_spectral_norm": True,
      "model.discriminator_dropout": 0.5},
     ["config.model.discriminator_spectral_norm", "dropout"]),
])
def test_game_fields_only_where_they_apply(overrides, words):
  config = config_lib.default_config()
  config.update_from_flattened_dict(overrides)
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, 1)
  for word in words:
    assert word in str(error.value)


@pytest.mark.parametrize("overrides", [
    {"loss.name": "f_gan", "loss.divergence": "kl"},
    {"loss.name": "relativistic", "loss.r1_gamma": 0.1, "loss.r2_gamma": 0.1},
    {"loss.name": "wasserstein", "loss.gp_weight": 10.0},
    {"loss.name": "hinge", "loss.fake_fraction": 0.25,
     "model.discriminator_spectral_norm": True},
])
def test_game_fields_where_they_apply(overrides):
  config = config_lib.default_config()
  config.update_from_flattened_dict(overrides)
  config_lib.validate(config, 1)


def test_dcgan_needs_images():
  config = config_lib.default_config()
  config.model.name = "dcgan"
  with pytest.raises(config_lib.ConfigError, match="config.model.name"):
    config_lib.validate(config, 1)


def test_unknown_and_missing_fields():
  config = config_lib.default_config()
  config.train.unlock()
  config.train.stepz = 10
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.train\.stepz is not a known field.*steps"):
    config_lib.validate(config, 1)
  config = config_lib.default_config()
  del config.loss["r1_gamma"]
  with pytest.raises(config_lib.ConfigError, match=r"config\.loss\.r1_gamma"):
    config_lib.validate(config, 1)


def test_missing_idx_files_raise_data_error(tmp_path):
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.data_dir = str(tmp_path)
  with pytest.raises(data.DataError, match=str(tmp_path)):
    config_lib.validate(config, 1)


def test_changed_fields_and_resumable():
  a = config_lib.default_config()
  b = config_lib.default_config()
  b.train.steps = 5
  b.loss.name = "hinge"
  b.model.generator_widths = [128, 128]  # list vs tuple: same value
  assert config_lib.changed_fields(a, b) == ["loss.name", "train.steps"]
  assert config_lib.changed_fields(a, ml_collections.ConfigDict(
      a.to_dict())) == []
  assert config_lib.is_resumable_change("train.steps")
  assert config_lib.is_resumable_change("eval.num_samples")
  assert not config_lib.is_resumable_change("loss.name")
  assert not config_lib.is_resumable_change("train.batch_size")


def test_from_file_with_arg(tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text("from gan_jax import config as c\n"
                  "def get_config(arg=None):\n"
                  "  cfg = c.default_config()\n"
                  "  cfg.train.steps = int(arg or 7)\n"
                  "  return cfg\n")
  assert config_lib.from_file(str(path)).train.steps == 7
  assert config_lib.from_file(f"{path}:11").train.steps == 11
  with pytest.raises(config_lib.ConfigError, match="not found"):
    config_lib.from_file(str(tmp_path / "nope.py"))


def test_learning_rate_schedules():
  from gan_jax import step as step_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config()
  config.train.steps = 100
  config.train.discriminator_steps = 2
  d = config.optimizer.discriminator
  d.schedule, d.end_factor = "linear", 0.1
  config_lib.validate(config, 1)
  rate = step_lib.learning_rate_schedule(d, total_steps=100,
                                         updates_per_step=2)
  # D makes k = 2 updates per step: its schedule spans 200 updates.
  assert rate(0) == pytest.approx(1e-3)
  assert rate(100) == pytest.approx(0.55e-3)
  assert rate(200) == pytest.approx(1e-4)
  assert step_lib.learning_rate_schedule(
      config.optimizer.generator, total_steps=100) == 1e-3
  # A schedule over train.steps makes train.steps part of the experiment.
  assert not config_lib.is_resumable_change("train.steps", config)
  d.decay_steps = 50
  assert config_lib.is_resumable_change("train.steps", config)
  d.schedule = "exponential"
  with pytest.raises(config_lib.ConfigError,
                     match="config.optimizer.discriminator.schedule.*cosine"):
    config_lib.validate(config, 1)


def _wrong_type(value):
  """A value of the wrong type for a field whose default is `value`."""
  if isinstance(value, bool):
    return "yes"
  if isinstance(value, (int, float)):
    return "abc"
  if isinstance(value, str):
    return 123
  return "abc"  # tuples


ALL_FIELDS = [field for field, _ in config_leaves(config_lib.default_config())]


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_every_field_is_checked(field):
  """Each field of the schema rejects a wrong-typed value, naming the field.

  Also fields the config's data set or model ignores (data.size for ring,
  model.generator_base_features for an MLP).
  """
  config = config_lib.default_config()
  _set(config, field, _wrong_type(_get(config, field)))
  with pytest.raises(config_lib.ConfigError, match=f"config.{field}"):
    config_lib.validate(config, num_devices=1)
  config = config_lib.default_config()
  _set(config, field, None)
  with pytest.raises(config_lib.ConfigError, match=f"config.{field}"):
    config_lib.validate(config, num_devices=1)


def _get(config, field):
  for part in field.split("."):
    config = config[part]
  return config


@pytest.mark.parametrize("field, value", [
    ("data.size", 0), ("data.spacing", float("nan")), ("data.mean",
                                                       float("inf")),
    ("data.image_size", -1), ("model.generator_base_features", 0),
    ("model.leaky_relu_slope", -0.1), ("model.batch_norm_momentum", 1.0),
    ("model.batch_norm_epsilon", float("inf")),
    ("model.discriminator_widths", (8, 1.5)),
    ("model.maxout_pieces", 0), ("data.tfds_download", 1),
])
def test_out_of_range_values_of_unused_fields(field, value):
  config = config_lib.default_config()  # ring + MLP: none of these is used
  _set(config, field, value)
  with pytest.raises(config_lib.ConfigError, match=f"config.{field}"):
    config_lib.validate(config, num_devices=1)


def test_unknown_field_suggests_the_closest():
  config = config_lib.default_config()
  config.train.unlock()
  config.train.stpes = 5
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.train\.stpes.*Did you mean "
                     r"config\.train\.steps\?"):
    config_lib.validate(config, 1)


def test_pmap_of_an_old_run_reads_as_shard_map():
  """'pmap' was removed: a run saved with it resumes on shard_map."""
  saved = config_lib.default_config().to_dict()
  saved["parallelism"] = "pmap"
  del saved["plugins"], saved["eval"]["metrics"]
  config = config_lib.from_dict(saved)
  assert config.parallelism == "shard_map"
  config_lib.validate(config, 4)
  with pytest.raises(config_lib.ConfigError, match=r"config\.parallelism"):
    config.parallelism = "pmap"
    config_lib.validate(config, 4)


def test_image_shape_that_the_model_cannot_take_names_the_file(tmp_path):
  from helpers import write_idx_images  # pylint: disable=g-import-not-at-top
  write_idx_images(str(tmp_path), num=4, size=20)
  config = config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "fashion_mnist_dcgan.py"))
  config.data.data_dir = str(tmp_path)
  config.data.image_size = 0  # keep the files' 20x20
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, 1)
  message = str(error.value)
  assert "config.model.name='dcgan'" in message
  assert "(20, 20, 1)" in message
  assert str(tmp_path / "train-images-idx3-ubyte.gz") in message


@pytest.mark.parametrize("overridden,latent_dim", [((), 100),
                                                   (("model.latent_dim",), 16)])
def test_a_switched_model_gets_its_defaults_of_common_fields(overridden,
                                                              latent_dim):
  """model.name mlp -> dcgan: latent_dim 16 -> DCGAN's 100 unless overridden."""
  before = config_lib.default_config()
  config = before.copy_and_resolve_references()
  config.model.name = "dcgan"
  config_lib.switch_component_defaults(config, before, overridden)
  assert config.model.latent_dim == latent_dim


def test_a_switched_data_set_gets_its_std_unless_the_config_set_one():
  before = config_lib.default_config()  # ring: std 0.02
  config = before.copy_and_resolve_references()
  config.data.name = "grid"
  config_lib.switch_component_defaults(config, before)
  assert config.data.std == 0.05
  before.data.std = 0.1  # set by the config file: kept
  config = before.copy_and_resolve_references()
  config.data.name = "grid"
  config_lib.switch_component_defaults(config, before)
  assert config.data.std == 0.1


def _image_config(**fields):
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.source = "idx"
  config.update_from_flattened_dict(fields)
  return config


@pytest.mark.parametrize("fields, words", [
    # A sigmoid G's images are in [0, 1]; the data must be too.
    ({"model.output_activation": "sigmoid"},
     ["config.model.output_activation = 'sigmoid'",
      "config.data.pixel_range = '[-1,1]'", "'[0,1]'"]),
    ({"data.pixel_range": "[0,1]"},
     ["config.model.output_activation = 'tanh'", "'[-1,1]'"]),
    # Weight clipping with another Lipschitz constraint: say which to drop.
    ({"loss.weight_clip": 0.01, "loss.gp_weight": 10.0},
     ["config.loss.weight_clip", "config.loss.gp_weight", "drop one"]),
    ({"loss.weight_clip": 0.01, "loss.r1_gamma": 1.0},
     ["config.loss.weight_clip", "config.loss.r1_gamma", "drop one"]),
    ({"loss.weight_clip": 0.01, "model.discriminator_spectral_norm": True},
     ["config.loss.weight_clip", "discriminator_spectral_norm", "drop one"]),
    ({"train.fake_labels": "real"},
     ["config.train.fake_labels = 'real'", "num_classes = 0"]),
])
def test_seed_notebook_option_conflicts(fields, words, idx_dir):
  config = _image_config(**{"data.data_dir": idx_dir, **fields})
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config, num_devices=1)
  assert "\n" not in str(error.value)
  for word in words:
    assert word in str(error.value)


def test_seed_notebook_options_validate(idx_dir):
  """The options together, as the seed notebooks' configs set them."""
  config = _image_config(**{
      "data.data_dir": idx_dir, "data.pixel_range": "[0,1]",
      "model.output_activation": "sigmoid", "loss.name": "wasserstein",
      "loss.weight_clip": 0.1, "optimizer.discriminator.name": "rmsprop",
      "model.latent_distribution": "uniform",
      "train.generator_noise": "discriminator"})
  config_lib.validate(config, num_devices=1)
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.model\.output_activation = 'sigmoid' "
                     r"applies to images"):
    toy = config_lib.default_config()
    toy.model.output_activation = "sigmoid"
    config_lib.validate(toy, num_devices=1)
