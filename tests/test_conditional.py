"""Class-conditional GANs through the engine: labels in the step, sampling,
grids, the checks of num_classes against the data, and the toy check that
a conditional G puts class c in mode c (the ring with the mode index as
label)."""

import json
import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import step as step_lib
from gan_jax import train
from gan_jax.train.experiment import Experiment

from helpers import ROOT, write_idx_dataset

FAST_COMPILE = {"xla_backend_optimization_level": 0}
RING = os.path.join(ROOT, "experiments", "configs", "ring.py")
DCGAN = os.path.join(ROOT, "experiments", "configs", "fashion_mnist_dcgan.py")


def ring_config(generator="concat", discriminator="projection", **overrides):
  config = config_lib.from_file(RING)
  config.model.num_classes = 8
  config.model.generator_conditioning = generator
  config.model.discriminator_conditioning = discriminator
  config.update_from_flattened_dict(overrides)
  return config


def tiny_image_config(folder, generator="cbn", discriminator="projection",
                      **overrides):
  """A 28x28 DCGAN of 4 channels on a labelled 3-class IDX set."""
  config = config_lib.from_file(DCGAN)
  config.data.data_dir = folder
  config.model.num_classes = 3
  config.model.generator_conditioning = generator
  config.model.discriminator_conditioning = discriminator
  config.model.generator_base_features = 4
  config.model.discriminator_base_features = 4
  config.model.latent_dim = 4
  config.train.batch_size = 8
  config.train.steps = 2
  config.train.log_every = 1
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  config.train.ema_decay = 0.0
  config.eval.parzen = False
  config.eval.features = False
  config.eval.num_sample_images = 7
  config.eval.image_num_samples = 16
  config.update_from_flattened_dict(overrides)
  return config


@pytest.fixture(scope="module")
def labelled_idx(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("labelled"))
  write_idx_dataset(folder, num_train=48, num_test=24, num_classes=3)
  return folder


# ----------------------------------------------------------------------------
# Labels in the step.
# ----------------------------------------------------------------------------


def test_fake_labels_follow_the_class_frequencies():
  probs = np.array([0.7, 0.2, 0.1], np.float32)
  labels = np.asarray(step_lib.sample_labels(
      jax.random.PRNGKey(0), jnp.arange(20_000), jnp.log(probs)))
  assert labels.dtype == np.int32
  freq = np.bincount(labels, minlength=3) / labels.size
  # 3 standard errors of a binomial proportion at n = 20,000: < 0.01.
  np.testing.assert_allclose(freq, probs, atol=0.01)


def test_the_ring_sampler_labels_points_by_their_mode():
  config = ring_config()
  sampler = step_lib.make_real_sampler(config.data, labels=True)
  x, y = sampler(jax.random.PRNGKey(1), jnp.arange(512), None, 0)
  means = np.asarray(data.make_toy_distribution(config.data).means)
  nearest = np.argmin(((np.asarray(x)[:, None] - means[None]) ** 2).sum(-1),
                      axis=1)
  np.testing.assert_array_equal(nearest, np.asarray(y))
  assert len(set(np.asarray(y).tolist())) == 8


def test_the_image_sampler_returns_each_images_own_label():
  images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * 20
  labels = np.arange(10, dtype=np.int32) % 4
  sampler = step_lib.make_real_sampler(data.default_data_config(
      "fashion_mnist"), labels=True)
  x, y = sampler(jax.random.PRNGKey(0), jnp.arange(64),
                 dict(images=jnp.asarray(images), labels=jnp.asarray(labels)))
  index = np.rint((np.asarray(x).reshape(-1) + 1.0) * 127.5 / 20).astype(int)
  np.testing.assert_array_equal(np.asarray(y), labels[index])


def test_mirror_draws_flipped_copies_of_the_data():
  image = np.arange(6, dtype=np.uint8).reshape(1, 2, 3, 1)
  data_config = data.default_data_config("fashion_mnist")
  data_config.mirror = True
  sampler = step_lib.make_real_sampler(data_config)
  x = np.asarray(sampler(jax.random.PRNGKey(0), jnp.arange(200),
                         jnp.asarray(image))[0])
  as_uint8 = np.rint((x + 1.0) * 127.5).astype(np.uint8)
  flipped = image[0, :, ::-1]
  is_original = np.all(as_uint8 == image[0], axis=(1, 2, 3))
  is_flipped = np.all(as_uint8 == flipped, axis=(1, 2, 3))
  assert np.all(is_original | is_flipped)
  # About half of each (binomial, n = 200: 0.5 +- 0.035 std).
  assert 0.35 < is_flipped.mean() < 0.65


@pytest.mark.parametrize("generator,discriminator,loss", [
    ("cbn", "projection", "non_saturating"),
    ("concat", "concat", "hinge"),
    ("cbn", "acgan", "non_saturating"),
    ("concat", "projection", "wasserstein"),
])
def test_a_conditional_dcgan_trains_and_resumes(labelled_idx, tmp_path,
                                               generator, discriminator, loss):
  overrides = {"loss.name": loss}
  if loss == "wasserstein":
    overrides["loss.gp_weight"] = 10.0
  config = tiny_image_config(labelled_idx, generator, discriminator,
                             **overrides)
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(config, workdir,
                                     compiler_options=FAST_COMPILE)
  assert summary["step"] == 2
  metrics = [json.loads(line) for line in
             open(os.path.join(workdir, "metrics.jsonl"))]
  assert all(np.isfinite(m["d_loss"]) and np.isfinite(m["g_loss"])
             for m in metrics)
  # ACGAN logs its class loss; the others do not have one.
  assert ("class_loss" in metrics[-1]) == (discriminator == "acgan")
  if loss == "wasserstein":
    assert metrics[-1]["gradient_penalty"] > 0
  # One row per class in the final grid: 3 classes x ceil(7 / 3) columns.
  samples = train.sample(workdir, 6, labels=[0, 1, 2, 0, 1, 2])
  assert samples.shape == (6, 28, 28, 1)


@pytest.fixture(scope="module")
def conditional_run(labelled_idx, tmp_path_factory):
  """A trained 2-step conditional DCGAN's workdir (G: one-hot concat)."""
  # The one-hot input changes G's output from the start (cBN's class gains
  # start equal: their images part only as training goes on).
  config = tiny_image_config(labelled_idx, generator="concat")
  workdir = str(tmp_path_factory.mktemp("conditional") / "run")
  train.train_and_evaluate(config, workdir, compiler_options=FAST_COMPILE)
  return workdir


def test_the_same_z_with_other_labels_gives_other_images(conditional_run):
  workdir = conditional_run
  a = train.sample(workdir, 4, labels=0, seed=3)
  b = train.sample(workdir, 4, labels=1, seed=3)
  again = train.sample(workdir, 4, labels=0, seed=3)
  np.testing.assert_array_equal(a, again)
  assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("labels,message", [
    ([0, 1, 3], "in [0, 3)"),
    ([0, 1], "3 integers"),
    ([0.5, 1.0, 2.0], "integers"),
])
def test_sample_refuses_bad_labels(conditional_run, labels, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    train.sample(conditional_run, 3, labels=labels)


def test_grid_labels_give_one_row_per_class(labelled_idx):
  experiment = Experiment(tiny_image_config(labelled_idx), load_data=False)
  assert experiment.grid_columns == 3  # ceil(7 / 3)
  np.testing.assert_array_equal(experiment.grid_labels(),
                                [0, 0, 0, 1, 1, 1, 2, 2, 2])
  assert experiment.grid_noise().shape == (9, 4)
  # The final grid takes each class's first evaluation samples (label i mod
  # 3) in class order.
  eval_samples = np.arange(16)
  np.testing.assert_array_equal(experiment.grid_samples(eval_samples),
                                [0, 3, 6, 1, 4, 7, 2, 5, 8])
  np.testing.assert_array_equal(
      experiment.class_labels(16) [experiment.grid_samples(eval_samples)],
      experiment.grid_labels())


@pytest.mark.parametrize("num_classes,message", [
    (5, "has 3 classes; set config.model.num_classes = 3"),
    (2, "has 3 classes"),
])
def test_num_classes_must_agree_with_the_data(labelled_idx, tmp_path,
                                               num_classes, message):
  config = tiny_image_config(labelled_idx)
  config.model.num_classes = num_classes
  with pytest.raises(data.DataError, match=message):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_num_classes_on_the_ring_must_be_its_modes(tmp_path):
  config = ring_config()
  config.model.num_classes = 5
  with pytest.raises(data.DataError, match="has 8 classes"):
    train.train_and_evaluate(config, str(tmp_path / "run"))


# ----------------------------------------------------------------------------
# The toy check: class c in mode c.
# ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("generator,discriminator", [
    ("concat", "projection"),
    ("concat", "concat"),
    ("concat", "acgan"),
])
def test_a_conditional_generator_puts_class_c_in_mode_c(tmp_path, generator,
                                                       discriminator):
  config = ring_config(generator, discriminator, **{"train.steps": 2000})
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  means = np.asarray(data.make_toy_distribution(config.data).means)
  for label in range(8):
    x = train.sample(workdir, 500, labels=label, seed=label)
    nearest = np.argmin(((x[:, None] - means[None]) ** 2).sum(-1), axis=1)
    # An unconditional G would put 1/8 of them in mode c.
    assert np.mean(nearest == label) >= 0.95, (label, np.bincount(nearest))


# ----------------------------------------------------------------------------
# The same config from a folder of PNGs.
# ----------------------------------------------------------------------------


def test_the_conditional_config_trains_from_a_folder_of_pngs(labelled_idx,
                                                            tmp_path):
  """tools/export_image_folder.py writes the IDX set as PNGs in class
  folders; the same config trained from them sees the same images and
  labels (in class order) and trains."""
  sys.path.insert(0, os.path.join(ROOT, "tools"))
  try:
    import export_image_folder  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.pop(0)
  idx_config = tiny_image_config(labelled_idx)
  folder = str(tmp_path / "pngs")
  counts = export_image_folder.export(idx_config.data, folder)
  assert counts == {"train": 48, "test": 24}
  config = tiny_image_config(labelled_idx)
  config.data.name = "image_folder"
  config.data.data_dir = folder
  config.data.cache_dir = str(tmp_path / "cache")
  for split in ("train", "test"):
    idx_images = data.load_images(idx_config.data, split)
    idx_labels = data.load_labels(idx_config.data, split)
    order = np.argsort(idx_labels, kind="stable")
    np.testing.assert_array_equal(data.load_images(config.data, split),
                                  idx_images[order])
    np.testing.assert_array_equal(data.load_labels(config.data, split),
                                  idx_labels[order])
  summary = train.train_and_evaluate(config, str(tmp_path / "run"),
                                     compiler_options=FAST_COMPILE)
  assert summary["step"] == 2


def _flat_png_folder(folder, num=40, size=28):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(folder)
  rng = np.random.default_rng(0)
  for i in range(num):
    Image.fromarray(rng.integers(0, 256, (size, size), np.uint8), "L").save(
        os.path.join(folder, f"{i:02d}.png"))
  return folder


def test_an_unlabelled_folder_trains_with_the_parzen_estimate_alone(
    tmp_path):
  """No labels: no classifier feature space, so FID & co. are not defaults,
  and asking for them is a one-line config error."""
  from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  folder = _flat_png_folder(str(tmp_path / "flat"))
  config = tiny_image_config(folder)
  config.model.num_classes = 0
  config.data.name = "image_folder"
  config.data.cache_dir = str(tmp_path / "cache")
  config.eval.parzen = True
  config.eval.features = True
  config.eval.parzen_validation = 8
  assert evaluators.chosen_metrics(config) == ("parzen",)
  summary = train.train_and_evaluate(config, str(tmp_path / "run"),
                                     compiler_options=FAST_COMPILE)
  assert np.isfinite(summary["evaluation"]["parzen_ll"])
  assert "fid" not in summary["evaluation"]
  config.eval.metrics = ("parzen", "fid")
  with pytest.raises(config_lib.ConfigError,
                     match="'fid' is computed in the feature space"):
    config_lib.validate(config, 1)
  config.model.num_classes = 3
  config.eval.metrics = ()
  with pytest.raises(data.DataError, match="has no labels"):
    train.train_and_evaluate(config, str(tmp_path / "run2"))


def _registered_games():
  from gan_jax import registry  # pylint: disable=g-import-not-at-top
  return registry.GAMES.names()


# Each case compiles a step (about 2 s): with the end-to-end tests.
@pytest.mark.slow
@pytest.mark.parametrize("discriminator", ["projection", "concat", "acgan"])
@pytest.mark.parametrize("game", _registered_games())
def test_every_game_trains_with_every_conditioning(tmp_path, game,
                                                   discriminator):
  """The losses see D's logits whatever its conditioning; two steps of each
  game on the conditional ring, with a penalty, stay finite."""
  config = ring_config("concat", discriminator, **{
      "loss.name": game, "train.steps": 2, "train.steps_per_call": 2,
      "train.log_every": 2, "train.checkpoint_every": 0,
      "train.sample_every": 0, "train.batch_size": 16,
      "model.generator_widths": (8,), "model.discriminator_widths": (8,),
      "eval.num_samples": 64})
  if game == "wasserstein":
    config.loss.r1_gamma = 0.0
    config.loss.gp_weight = 1.0
  summary = train.train_and_evaluate(config, str(tmp_path / "run"),
                                     compiler_options=FAST_COMPILE)
  metrics = summary["final_metrics"]
  assert np.isfinite(metrics["d_loss"]) and np.isfinite(metrics["g_loss"])
  assert ("class_loss" in metrics) == (discriminator == "acgan")


@pytest.mark.parametrize("fake_weight", [1.0, 0.0, 0.5])
@pytest.mark.parametrize("d_weight", [1.0, 0.3])
def test_acgan_class_loss_is_the_weighted_cross_entropies(fake_weight,
                                                          d_weight):
  """L_D + w_D (CE(q(x), y) + w_f CE(q(G(z, y')), y')) (Odena et al. 2017;
  w_f = 0: D's classifier learns from real images only)."""
  from gan_jax import models as model_lib  # pylint: disable=g-import-not-at-top
  from gan_jax.step import update as update_lib  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  config = ring_config("concat", "acgan", **{
      "loss.r1_gamma": 0.0, "loss.acgan_fake_weight": fake_weight,
      "loss.acgan_discriminator_weight": d_weight, "train.batch_size": 16})
  generator, discriminator = model_lib.make_models(config.model, (2,))
  models = step_lib.Models(generator, discriminator)
  setup = update_lib.update_setup(config, models, None, 1, step_lib.AXIS,
                                  label_probs=np.full(8, 1 / 8))
  state = step_lib.init_state(config, models, (2,))
  rng = np.random.default_rng(0)
  real, fake = (jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)
                for _ in range(2))
  real_labels, fake_labels = (jnp.asarray(rng.integers(0, 8, 16), jnp.int32)
                              for _ in range(2))
  loss, (real_logits, fake_logits, _, values) = (
      update_lib.penalised_discriminator_loss(
          state.d_params, setup, {}, real, fake, jax.random.PRNGKey(0),
          jnp.arange(16), real_labels, fake_labels))
  apply = lambda x: discriminator.apply({"params": state.d_params}, x,
                                        train=True)
  (rl, rc), (fl, fc) = apply(real), apply(fake)
  ce = lambda c, y: float(np.mean(optax.softmax_cross_entropy_with_integer_labels(c, y)))
  expected_class = ce(rc, real_labels) + fake_weight * ce(fc, fake_labels)
  assert float(values["class_loss"]) == pytest.approx(expected_class,
                                                      rel=1e-6)
  expected = float(setup.objective.discriminator(rl, fl)) + (
      d_weight * expected_class)
  assert float(loss) == pytest.approx(expected, rel=1e-6)
