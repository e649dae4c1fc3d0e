"""Conditional-generation metrics: class accuracy, intra-FID, CAS, the checks."""

import json
import os
import types

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import registry
from gan_jax.evaluation import conditional
from gan_jax.evaluation import evaluators
from gan_jax.evaluation import features as features_lib

from helpers import write_idx_dataset

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
  """Tiny labelled IDX files: class c is bright in the c-th band."""
  folder = str(tmp_path_factory.mktemp("idx_conditional"))
  write_idx_dataset(folder, num_train=240, num_test=120,
                    num_classes=NUM_CLASSES)
  return folder


def make_config(idx_folder, num_classes=NUM_CLASSES, metrics=()):
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.data_dir = idx_folder
  if num_classes is not None:
    config.model.num_classes = num_classes
  config.eval.metrics = tuple(metrics)
  return config


class FakeClassifier:
  """Known outputs: features a fixed projection of the pixels; the logits
  one-hot at round(10 * pixel[0, 0, 0])."""

  def __init__(self, num_classes=NUM_CLASSES, path=""):
    self.num_classes = num_classes
    self.test_accuracy = 0.8
    self.path = path
    self.projection = np.random.default_rng(0).normal(size=(28 * 28, 6))
    self.calls = 0

  def __call__(self, images):
    self.calls += 1
    images = data.to_unit_range(images)
    return images.reshape(len(images), -1) @ self.projection

  def logits(self, images):
    predicted = np.rint(data.to_unit_range(images)[:, 0, 0, 0] * 10)
    return np.eye(self.num_classes)[predicted.astype(int)]


def make_evaluator(name, config, classifier):
  context = types.SimpleNamespace(config=config, classifier=lambda: classifier)
  return registry.EVALUATORS.get(name).target(context)


def model_range(images):
  return data.to_unit_range(images) * 2 - 1


@pytest.mark.parametrize("seed,n", [(0, 30), (1, 31), (2, 7)])
def test_class_accuracy_is_the_hand_count(idx_folder, seed, n):
  rng = np.random.default_rng(seed)
  labels = evaluators.conditional_labels(n, NUM_CLASSES)
  predicted = rng.integers(0, NUM_CLASSES, n)
  samples = -np.ones((n, 28, 28, 1), np.float32)
  samples[:, 0, 0, 0] = predicted / 10 * 2 - 1  # the fake logits' argmax
  evaluator = make_evaluator("class_accuracy", make_config(idx_folder),
                             FakeClassifier())
  results = evaluator(samples, labels)
  hits = [sum(p == c for p, l in zip(predicted, labels) if l == c)
          for c in range(NUM_CLASSES)]
  counts = [sum(l == c for l in labels) for c in range(NUM_CLASSES)]
  assert results["class_accuracy"] == pytest.approx(sum(hits) / n, abs=1e-12)
  assert results["class_accuracy_per_class"] == pytest.approx(
      [h / c for h, c in zip(hits, counts)], abs=1e-12)
  assert results["class_accuracy_min"] == min(
      results["class_accuracy_per_class"])
  assert results["classifier_test_accuracy"] == 0.8
  assert results["class_accuracy_ratio"] == pytest.approx(sum(hits) / n / 0.8)
  json.dumps(results)  # the per-class list is JSON-able
  assert "class acc." in evaluator.headline(results)


def test_conditional_labels_are_balanced():
  labels = evaluators.conditional_labels(10, 3)
  assert labels.dtype == np.int32
  assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
  with pytest.raises(ValueError, match="num_classes"):
    evaluators.conditional_labels(10, 0)


@pytest.mark.parametrize("labels,match", [
    (np.zeros(5, np.int32), r"labels must be int \[6\]"),
    (np.zeros(6, np.float32), r"labels must be int \[6\]"),
    (np.full(6, NUM_CLASSES), r"labels must be in \[0, 3\)"),
])
def test_bad_labels_are_named(idx_folder, labels, match):
  evaluator = make_evaluator("class_accuracy", make_config(idx_folder),
                             FakeClassifier())
  with pytest.raises(ValueError, match=match):
    evaluator(np.zeros((6, 28, 28, 1), np.float32), labels)


def test_intra_fid_is_the_mean_of_per_class_frechet_distances(idx_folder):
  config = make_config(idx_folder)
  classifier = FakeClassifier()
  real = conditional.load_labelled(config.data)
  # "Samples": noisy train images, labelled with their classes.
  rng = np.random.default_rng(0)
  samples = np.clip(model_range(real.train_images[:90]) +
                    rng.normal(0, 0.3, (90, 28, 28, 1)), -1, 1)
  labels = real.train_labels[:90]
  results = make_evaluator("intra_fid", config, classifier)(samples, labels)
  ours = classifier(data.from_model_range(samples))
  theirs = classifier(real.test_images)
  expected = [features_lib.frechet_distance(
      ours[labels == c], theirs[real.test_labels == c])
              for c in range(NUM_CLASSES)]
  assert results["intra_fid_per_class"] == pytest.approx(expected, rel=1e-9)
  assert results["intra_fid"] == pytest.approx(np.mean(expected), rel=1e-9)
  # The floor: the first n_c real train images of each class c.
  floor_images, floor_labels = conditional.first_of_each_class(
      real.train_images, real.train_labels,
      np.bincount(labels, minlength=NUM_CLASSES))
  assert np.array_equal(np.bincount(floor_labels), np.bincount(labels))
  floor = conditional.intra_frechet_distance(
      classifier(floor_images), floor_labels, theirs, real.test_labels,
      NUM_CLASSES)[0]
  assert results["real_intra_fid"] == pytest.approx(floor, rel=1e-9)


def test_intra_fid_of_the_test_images_is_zero_and_rises_with_swapped_classes(
    idx_folder):
  config = make_config(idx_folder)
  real = conditional.load_labelled(config.data)
  evaluator = make_evaluator("intra_fid", config, FakeClassifier())
  samples = model_range(real.test_images)
  same = evaluator(samples, real.test_labels)
  swapped = evaluator(samples, (real.test_labels + 1) % NUM_CLASSES)
  assert same["intra_fid"] == pytest.approx(0.0, abs=1e-6)
  assert 0 < same["real_intra_fid"] < swapped["intra_fid"] / 10
  assert "intra-FID" in evaluator.headline(same)


def test_the_floors_are_cached_beside_the_classifier(idx_folder, tmp_path,
                                                     monkeypatch):
  config = make_config(idx_folder)
  real = conditional.load_labelled(config.data)
  samples, labels = model_range(real.test_images), real.test_labels
  first = make_evaluator("intra_fid", config,
                         FakeClassifier(path=str(tmp_path)))(samples, labels)
  assert os.path.isfile(tmp_path / conditional.FLOORS_FILE)

  def fail(*args):
    raise AssertionError("the floor was recomputed")

  monkeypatch.setattr(conditional, "first_of_each_class", fail)
  again = make_evaluator("intra_fid", config,
                         FakeClassifier(path=str(tmp_path)))(samples, labels)
  assert again["real_intra_fid"] == first["real_intra_fid"]
  # Other class counts are another floor: computed, not read.
  with pytest.raises(AssertionError, match="recomputed"):
    make_evaluator("intra_fid", config, FakeClassifier(path=str(tmp_path)))(
        samples[:60], labels[:60])


def test_cas_trains_on_the_samples_and_caches_real_cas(idx_folder, tmp_path,
                                                       monkeypatch):
  """Plumbing, with the training replaced by a record of what it got."""
  config = make_config(idx_folder, metrics=("cas",))
  config.eval.cas_steps = 7
  real = conditional.load_labelled(config.data)
  trained = []

  def score(images, labels, test_images, test_labels, *, num_classes, steps):
    trained.append((np.asarray(images).copy(), np.asarray(labels).copy(),
                    num_classes, steps))
    assert np.array_equal(test_images, real.test_images)
    assert np.array_equal(test_labels, real.test_labels)
    return 0.5 if images.dtype == np.uint8 else 0.4  # real: uint8

  monkeypatch.setattr(conditional, "classification_accuracy_score", score)
  samples = model_range(real.train_images[100:130])
  labels = evaluators.conditional_labels(30, NUM_CLASSES)
  evaluator = make_evaluator("cas", config, FakeClassifier(path=str(tmp_path)))
  results = evaluator(samples, labels)
  assert results == dict(cas=0.4, real_cas=0.5, cas_ratio=pytest.approx(0.8))
  (fake_x, fake_y, c1, s1), (real_x, real_y, c2, s2) = trained
  np.testing.assert_allclose(fake_x, data.from_model_range(samples))
  assert np.array_equal(fake_y, labels)
  assert np.array_equal(real_x, real.train_images[:30])
  assert np.array_equal(real_y, real.train_labels[:30])
  assert c1 == c2 == NUM_CLASSES and s1 == s2 == 7
  # real_cas once per run, and from the file in the next run.
  evaluator(samples, labels)
  make_evaluator("cas", config, FakeClassifier(path=str(tmp_path)))(samples,
                                                                    labels)
  assert len(trained) == 4 and all(x.dtype != np.uint8 for x, *_ in
                                   trained[2:])
  assert "CAS" in evaluator.headline(results)


@pytest.mark.slow
def test_cas_of_real_images_matches_real_cas_and_shuffled_labels_are_chance(
    idx_folder):
  """A real (tiny) classifier: 4 classes, 60 steps per training (~15 s)."""
  folder = idx_folder + "_4"
  write_idx_dataset(folder, num_train=400, num_test=200, num_classes=4)
  config = make_config(folder, num_classes=4)
  config.eval.cas_steps = 60
  real = conditional.load_labelled(config.data)
  evaluator = make_evaluator("cas", config, FakeClassifier(num_classes=4))
  samples = model_range(real.train_images[200:])
  labels = real.train_labels[200:]
  correct = evaluator(samples, labels)
  assert correct["real_cas"] >= 0.9
  assert correct["cas"] == pytest.approx(correct["real_cas"], abs=0.05)
  shuffled = evaluator(samples,
                       np.random.default_rng(1).permutation(labels))
  assert shuffled["cas"] == pytest.approx(1 / 4, abs=0.2)


def test_default_metrics_add_the_conditional_ones(idx_folder):
  config = make_config(idx_folder)
  chosen = evaluators.default_metrics(config)
  assert chosen[-2:] == evaluators.CONDITIONAL_DEFAULTS == ("class_accuracy",
                                                            "intra_fid")
  assert "cas" not in chosen
  config.model.num_classes = 0
  assert not set(evaluators.CONDITIONAL_DEFAULTS) & set(
      evaluators.default_metrics(config))
  config.model.num_classes = NUM_CLASSES
  config.eval.features = False
  assert not set(evaluators.CONDITIONAL_DEFAULTS) & set(
      evaluators.default_metrics(config))


@pytest.mark.parametrize("name", ["class_accuracy", "intra_fid", "cas"])
def test_conditional_metrics_are_registered_for_images(name):
  component = registry.EVALUATORS.get(name)
  assert component.info["conditional"] and component.info["kinds"] == (
      "images",)
  assert evaluators.is_conditional(name)
  assert not evaluators.is_conditional("fid")


@pytest.mark.parametrize("name", ["class_accuracy", "intra_fid", "cas"])
def test_check_metrics_needs_classes(idx_folder, name):
  config = make_config(idx_folder, num_classes=0, metrics=(name,))
  with pytest.raises(config_lib.ConfigError,
                     match=rf"config\.eval\.metrics: '{name}' .*"
                     r"config\.model\.num_classes = 0"):
    evaluators.check_metrics(config)
  config.model.num_classes = NUM_CLASSES
  evaluators.check_metrics(config)


def test_check_metrics_needs_labels(idx_folder, tmp_path):
  plugin = tmp_path / "unlabelled.py"
  plugin.write_text(
      "from gan_jax import registry\n"
      "registry.DATASETS.add('unlabelled_images', print, kind='images', "
      "source='idx', stacked=False, shape=(28, 28, 1), labels=False)\n")
  config = config_lib.default_config(plugins=(str(plugin),))
  config.data.name = "unlabelled_images"
  config.model.num_classes = NUM_CLASSES
  config.eval.metrics = ("intra_fid",)
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.eval\.metrics: 'intra_fid' needs class "
                     r"labels, which config\.data\.name = 'unlabelled_images'"):
    evaluators.check_metrics(config)
  assert "intra_fid" not in evaluators.default_metrics(config)


def test_cas_steps_is_validated(idx_folder):
  config = make_config(idx_folder, num_classes=None)  # a plain model's schema
  assert config.eval.cas_steps == conditional.CAS_STEPS
  config.eval.cas_steps = 0
  with pytest.raises(config_lib.ConfigError, match=r"config\.eval\.cas_steps"):
    config_lib.validate(config)


def test_intra_fid_leaves_out_a_class_without_two_of_each():
  """A class with < 2 samples or real images has no FID: the mean is over
  the others (an evaluation at the end of a run must not fail)."""
  rng = np.random.default_rng(0)
  features = rng.normal(size=(20, 3))
  labels = np.array([0] * 10 + [1] * 9 + [2])
  test = rng.normal(size=(20, 3)) + 1.0
  test_labels = np.array([0] * 10 + [1] * 10)
  mean, per_class = conditional.intra_frechet_distance(
      features, labels, test, test_labels, 3)
  assert np.isnan(per_class[2])
  expected = [features_lib.frechet_distance(features[labels == c],
                                            test[test_labels == c])
              for c in (0, 1)]
  np.testing.assert_allclose(per_class[:2], expected, rtol=1e-12)
  assert mean == pytest.approx(np.mean(expected), rel=1e-12)
