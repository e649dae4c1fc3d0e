"""Stacked Fashion-MNIST: the data set, the mode count, evaluation, config."""

import json
import math
import os

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import sweep
from gan_jax import train
from gan_jax.evaluation import stacked as stacked_eval
from gan_jax.train import stacked_modes

from helpers import ROOT, write_fake_sweep, write_idx_dataset

CONFIG = os.path.join(ROOT, "experiments", "configs",
                      "stacked_fashion_mnist.py")
FAST_COMPILE = {"xla_backend_optimization_level": 0}
NAME = "stacked_fashion_mnist"


@pytest.fixture(scope="module")
def idx10(tmp_path_factory):
  """A tiny 10-class IDX data set: (folder, train/test images and labels)."""
  folder = str(tmp_path_factory.mktemp("idx10"))
  arrays = write_idx_dataset(folder, num_train=50, num_test=20,
                             num_classes=10, seed=3)
  return folder, arrays


def stacked_config(folder, image_size=0):
  config = data.default_data_config(NAME)
  config.data_dir = folder
  config.image_size = image_size
  return config


# --- The data set.


@pytest.mark.parametrize("image_size", [0, 32])
@pytest.mark.parametrize("split,count", [("train", 50), ("test", 20)])
def test_shapes_dtype_and_channels_are_base_images(idx10, split, count,
                                                   image_size):
  folder, _ = idx10
  config = stacked_config(folder, image_size)
  size = image_size or 28
  images = data.load_images(config, split)
  assert images.shape == (count, size, size, 3) and images.dtype == np.uint8
  assert data.num_examples(config, split) == count
  assert data.data_shape(config) == (size, size, 3)
  base = data.load_images(data.stacked_base(config), split)[..., 0]
  indices = data.stack_indices(count, count, data.stacked.split_seed(split))
  for c in range(3):
    np.testing.assert_array_equal(images[..., c], base[indices[:, c]])
  # Labels: the class triple of each stack's channels.
  base_labels = data.load_labels(data.stacked_base(config), split)
  labels = data.load_labels(config, split)
  assert labels.shape == (count, 3) and labels.dtype == np.int32
  np.testing.assert_array_equal(labels, base_labels[indices])


def test_deterministic_sliced_and_splits_differ(idx10):
  folder, _ = idx10
  config = stacked_config(folder)
  first = data.load_images(config, "train")
  np.testing.assert_array_equal(first, data.load_images(config, "train"))
  np.testing.assert_array_equal(first[7:19],
                                data.load_images(config, "train", start=7,
                                                 stop=19))
  images, labels = data.load_stacked(config, "test", num_stacks=33)
  assert images.shape == (33, 28, 28, 3) and labels.shape == (33, 3)
  assert not np.array_equal(data.stack_indices(20, 20, data.stacked.split_seed(
      "train")), data.stack_indices(20, 20, data.stacked.split_seed("test")))


def test_triples_of_balanced_labels_are_uniform_and_independent():
  # 60,000 stacks of 1,000 images with balanced labels, as Fashion-MNIST's
  # train split: each of the 1,000 triples has probability 1/1,000.
  labels = np.arange(1000) % 10
  triples = data.stack_labels(labels, data.stack_indices(1000, 60_000, 0))
  counts = stacked_eval.mode_histogram(triples)
  assert np.all(counts > 0)
  # Pearson's chi-square against uniform: chi2(999), mean 999, sd 44.7.
  chi2 = np.sum((counts - 60.0) ** 2 / 60.0)
  assert abs(chi2 - 999) < 5 * math.sqrt(2 * 999)
  # Channels drawn independently: correlations ~ N(0, 1/sqrt(n)).
  correlation = np.corrcoef(triples.T)
  off_diagonal = correlation[~np.eye(3, dtype=bool)]
  assert np.all(np.abs(off_diagonal) < 5 / math.sqrt(60_000))


HAS_FASHION_MNIST = os.path.isfile(os.path.join(
    data.DEFAULT_IDX_DIR, "train-labels-idx1-ubyte.gz"))


@pytest.mark.skipif(not HAS_FASHION_MNIST,
                    reason="no Fashion-MNIST (apt-get install "
                    "dataset-fashion-mnist)")
def test_real_fashion_mnist_triples_cover_all_1000():
  labels = data.load_labels(data.default_data_config(NAME), "train")
  assert labels.shape == (60_000, 3)
  counts = stacked_eval.mode_histogram(labels)
  assert np.all(counts > 0)
  chi2 = np.sum((counts - 60.0) ** 2 / 60.0)
  assert abs(chi2 - 999) < 5 * math.sqrt(2 * 999)


@pytest.mark.parametrize("call,words", [
    (lambda: data.stack_indices(0, 5, 0), ["0", "at least 1"]),
    (lambda: data.stack_indices(5, -1, 0), ["num_stacks", ">= 0"]),
    (lambda: data.stack_channels(np.zeros((4, 2, 2, 3), np.uint8),
                                 np.zeros((2, 3), int)),
     ["grey", "[N, H, W, 1]"]),
    (lambda: data.stack_channels(np.zeros((4, 2, 2, 1), np.uint8),
                                 np.zeros((2, 2), int)), ["[n, 3]"]),
    (lambda: data.stacked_base(data.default_data_config("fashion_mnist")),
     ["not a stacked data set", NAME]),
], ids=["no_images", "negative_count", "rgb_base", "two_channels",
        "not_stacked"])
def test_data_errors(call, words):
  with pytest.raises(data.DataError) as error:
    call()
  assert "\n" not in str(error.value)
  for word in words:
    assert word in str(error.value)


# --- The mode count.


def _all_triples():
  return np.array([(a, b, c) for a in range(10) for b in range(10)
                   for c in range(10)])


@pytest.mark.parametrize("labels,modes,kl", [
    (_all_triples(), 1000, 0.0),  # uniform
    (np.tile(_all_triples(), (26, 1)), 1000, 0.0),
    (np.full((26, 3), 7), 1, math.log(1000)),  # a single mode
    (np.array([[0, 0, 0], [9, 9, 9]] * 5), 2, math.log(500)),
    (np.array([[3, 1, 4]] * 3 + [[1, 5, 9]]), 2,
     0.75 * math.log(750) + 0.25 * math.log(250)),
], ids=["uniform", "uniform_x26", "one_mode", "two_even", "three_to_one"])
def test_mode_coverage_hand_computed(labels, modes, kl):
  result = stacked_eval.mode_coverage(stacked_eval.mode_histogram(labels))
  assert result["modes"] == modes
  assert result["num_modes"] == 1000
  assert result["kl"] == pytest.approx(kl, abs=1e-12)


def test_mode_histogram_index_and_other_sizes():
  histogram = stacked_eval.mode_histogram(np.array([[3, 1, 4], [3, 1, 4],
                                                    [0, 0, 9]]))
  assert histogram.shape == (1000,) and histogram.sum() == 3
  assert histogram[314] == 2 and histogram[9] == 1
  # K = 2 classes, C = 2 channels: modes (0,1) -> 1, (1,1) -> 3.
  small = stacked_eval.mode_histogram(np.array([[0, 1], [1, 1], [1, 1]]),
                                      num_classes=2)
  np.testing.assert_array_equal(small, [0, 1, 0, 2])
  result = stacked_eval.mode_coverage(small)
  assert result["modes"] == 2 and result["num_modes"] == 4
  expected = (1 / 3) * math.log(4 / 3) + (2 / 3) * math.log(8 / 3)
  assert result["kl"] == pytest.approx(expected, abs=1e-12)
  assert stacked_eval.mode_histogram(np.zeros((0, 3), int)).sum() == 0


def _all_triples(num_classes=10):
  grid = np.indices((num_classes,) * 3).reshape(3, -1).T
  return grid.astype(np.int64)


@pytest.mark.parametrize("name,labels,marginal,dependence", [
    # Every triple once: uniform joint, both parts 0.
    ("uniform", _all_triples(), 0.0, 0.0),
    # c1 = c2 = c3, uniform classes: balanced channels, all KL is
    # dependence, log 1000 - log 10.
    ("copies", np.repeat(np.arange(10)[:, None], 3, axis=1), 0.0,
     2 * math.log(10)),
    # Channel 0 always class 0, the others every pair once: independent,
    # all KL is channel 0's log 10.
    ("one class", _all_triples()[_all_triples()[:, 0] == 0], math.log(10),
     0.0),
])
def test_kl_decomposition_hand_computed(name, labels, marginal, dependence):
  parts = stacked_eval.kl_decomposition(labels)
  assert parts["marginal"] == pytest.approx(marginal, abs=1e-12), name
  assert parts["dependence"] == pytest.approx(dependence, abs=1e-12), name
  assert parts["kl"] == pytest.approx(marginal + dependence, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_decomposition_parts_add_up_to_the_kl(seed):
  # Skewed, dependent labels: c2 copies c1 half the time.
  rng = np.random.default_rng(seed)
  labels = rng.choice(10, size=(5000, 3), p=np.arange(1, 11) / 55.0)
  copy = rng.random(5000) < 0.5
  labels[copy, 1] = labels[copy, 0]
  parts = stacked_eval.kl_decomposition(labels)
  joint = stacked_eval.mode_coverage(stacked_eval.mode_histogram(labels))
  assert parts["kl"] == joint["kl"]
  assert parts["marginal"] + parts["dependence"] == pytest.approx(
      joint["kl"], rel=1e-10)
  p = np.bincount(labels[:, 2], minlength=10) / 5000
  assert parts["channel_kl"][2] == pytest.approx(
      np.sum(p * np.log(10 * p)), rel=1e-12)
  assert parts["dependence"] > 0.1 and parts["marginal"] > 0.1


@pytest.mark.parametrize("labels,num_classes,words", [
    (np.zeros(5, int), 10, ["[n, channels]", "(5,)"]),
    (np.zeros((5, 3)), 10, ["integers", "float64"]),
    (np.full((2, 3), 10), 10, ["[0, 10)", "[10, 10]"]),
    (np.full((2, 3), -1), 10, ["[0, 10)"]),
    (np.zeros((2, 3), int), 0, ["num_classes", ">= 1"]),
], ids=["1d", "float", "too_large", "negative", "no_classes"])
def test_mode_histogram_errors(labels, num_classes, words):
  with pytest.raises(ValueError) as error:
    stacked_eval.mode_histogram(labels, num_classes=num_classes)
  for word in words:
    assert word in str(error.value)


@pytest.mark.parametrize("histogram,words", [
    (np.zeros(0), ["non-empty 1-D"]),
    (np.ones((2, 2)), ["non-empty 1-D", "(2, 2)"]),
    (np.array([1.0, -1.0]), [">= 0"]),
    (np.array([1.0, np.nan]), ["finite"]),
    (np.zeros(1000), ["all zeros"]),
    (np.array(["a", "b"]), ["real counts"]),
], ids=["empty", "2d", "negative", "nan", "zeros", "strings"])
def test_mode_coverage_errors(histogram, words):
  with pytest.raises(ValueError) as error:
    stacked_eval.mode_coverage(histogram)
  for word in words:
    assert word in str(error.value)


def _band_classifier(num_classes):
  """Labels write_idx_dataset's images exactly: class c's band is bright."""
  def logits(images):  # [m, H, W, 1] in [0, 1]
    rows = images[..., 0].mean(axis=2)
    band = images.shape[1] // num_classes
    return np.stack([rows[:, c * band:(c + 1) * band].mean(axis=1)
                     for c in range(num_classes)], axis=1)
  return logits


def test_evaluator_counts_modes_of_samples_and_real_stacks(idx10):
  folder, _ = idx10
  config = stacked_config(folder)
  real, real_labels = data.load_stacked(config, "test", num_stacks=300)
  evaluator = stacked_modes.StackedModeEvaluator(
      _band_classifier(10), real, real_labels, num_classes=10)
  np.testing.assert_array_equal(evaluator.channel_labels(real), real_labels)
  samples, sample_labels = data.load_stacked(config, "train", num_stacks=40)
  results = evaluator(samples.astype(np.float32) / 255.0)
  expected = stacked_eval.mode_coverage(
      stacked_eval.mode_histogram(sample_labels))
  assert results["modes"] == expected["modes"]
  assert results["mode_kl"] == pytest.approx(expected["kl"])
  floor = stacked_eval.mode_coverage(stacked_eval.mode_histogram(real_labels))
  assert results["real_modes"] == floor["modes"]
  assert results["real_mode_kl"] == pytest.approx(floor["kl"])
  assert results["real_triple_accuracy"] == 1.0
  parts = stacked_eval.kl_decomposition(sample_labels)
  assert results["mode_kl_marginal"] == pytest.approx(parts["marginal"])
  assert results["mode_kl_dependence"] == pytest.approx(parts["dependence"])
  assert results["real_mode_kl_dependence"] == pytest.approx(
      stacked_eval.kl_decomposition(real_labels)["dependence"])
  assert results["num_modes"] == 1000 and results["num_samples"] == 40
  assert results["real_mode_num_samples"] == 300
  # All samples in one mode: log(1000), whatever the floor.
  one = np.repeat(samples[:1], 26, axis=0)
  assert evaluator(one)["mode_kl"] == pytest.approx(math.log(1000))


# --- Config and sweep.


def test_config_names_match_the_data_module():
  assert data.STACKED_DATASETS == ("stacked_fashion_mnist", "stacked_mnist")
  assert data.default_data_config(NAME).source == "idx"
  assert data.stacked_base(data.default_data_config(NAME))["name"] == (
      "fashion_mnist")


def test_shipped_config_validates_and_sweeps(idx10):
  folder, _ = idx10
  config = config_lib.from_file(CONFIG)
  config.data.data_dir = folder
  config_lib.validate(config, num_devices=1)
  assert data.data_shape(config.data) == (28, 28, 3)
  assert config.eval.image_num_samples == 26_000
  module_sweep = sweep.load_sweep(CONFIG)
  assert len(module_sweep) == 9
  games = {(v["loss.name"], v["loss.r1_gamma"] > 0, v["loss.r2_gamma"] > 0)
           for v in module_sweep}
  assert games == {("non_saturating", False, False),
                   ("non_saturating", True, False),
                   ("relativistic", True, True)}
  assert {v["seed"] for v in module_sweep} == {0, 1, 2}
  assert len(sweep.load_sweep(CONFIG + ":quick")) == 3
  assert [v["seed"] for v in sweep.load_sweep(CONFIG + ":rpgan")] == [0, 1, 2]
  assert config_lib.from_file(CONFIG, "rpgan").loss.name == "relativistic"


@pytest.mark.parametrize("field,value,words", [
    ("data.name", "stacked_cifar", ["config.data.name", NAME, "stacked_mnist"]),
    ("data.image_size", -1, ["config.data.image_size", ">= 0"]),
], ids=["unknown_stacked_name", "bad_image_size"])
def test_config_errors_name_the_field(idx10, field, value, words):
  folder, _ = idx10
  config = config_lib.from_file(CONFIG)
  config.data.data_dir = folder
  config.update_from_flattened_dict({field: value})
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config)
  assert "\n" not in str(error.value)
  for word in words:
    assert word in str(error.value)


def test_sweep_table_shows_modes_and_kl(tmp_path):
  def summary(modes, kl):
    return dict(step=10, steps=10, final_metrics=dict(g_loss=0.5),
                evaluation=dict(modes=modes, mode_kl=kl, num_modes=1000,
                                real_modes=1000, real_mode_kl=0.2))
  runs = [({"loss.name": name, "seed": seed}, "finished",
           summary(900 + seed, 0.5 + seed))
          for name in ("non_saturating", "relativistic") for seed in (0, 1)]
  write_fake_sweep(str(tmp_path), runs)
  _, md_path = sweep.write_results(str(tmp_path))
  with open(md_path) as f:
    header = next(line for line in f if line.startswith("|"))
  for label in ("modes (of 1000)", "mode KL", "real mode KL"):
    assert f"| {label} |" in header
  assert "high quality" not in header


# --- A training run.


@pytest.mark.slow
def test_stacked_run_writes_modes_to_eval_jsonl(tmp_path, idx10):
  folder, _ = idx10
  config = config_lib.from_file(CONFIG, "ns_r1")
  config.data.data_dir = folder
  config.model.generator_base_features = 4
  config.model.discriminator_base_features = 4
  config.model.latent_dim = 4
  config.train.update(dict(batch_size=8, steps=2, log_every=1,
                           checkpoint_every=0, sample_every=0))
  config.eval.update(dict(every=1, image_num_samples=40, num_sample_images=4,
                          feature_extractor_dir=str(tmp_path / "cache"),
                          feature_extractor_steps=2))
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(config, workdir,
                                     compiler_options=FAST_COMPILE)
  results = summary["evaluation"]
  for name in ("modes", "mode_kl", "real_modes", "real_mode_kl"):
    assert name in results, name
  assert results["num_modes"] == 1000 and results["num_samples"] == 40
  assert 1 <= results["modes"] <= 40 and 1 <= results["real_modes"] <= 40
  assert 0.0 <= results["mode_kl"] <= math.log(1000) + 1e-9
  assert "fid" not in results and "parzen_ll" not in results
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [1, 2]
  assert rows[-1]["modes"] == results["modes"]
  again = train.evaluate_workdir(workdir, compiler_options=FAST_COMPILE)
  assert again["modes"] == results["modes"]
  assert again["mode_kl"] == pytest.approx(results["mode_kl"])
