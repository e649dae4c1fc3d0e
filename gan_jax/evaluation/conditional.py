"""Metrics of class-conditional generators: samples scored with their labels.

Each is a `ConditionalEvaluator` registered in `gan_jax.registry.EVALUATORS`
with conditional=True, called as `evaluator(samples, labels)`: samples
[n, H, W, C] in the model range [-1, 1] generated for the requested labels
int32 [n] (`evaluators.conditional_labels`: i mod C). All of them use the
project's classifier (`gan_jax.feature_extractor`), C = num_classes:

* class_accuracy: the fraction of samples the classifier assigns to their
  requested class, (1/n) sum_i [argmax_k logits_k(x_i) = y_i]; beside the
  classifier's own accuracy on the real test images and their ratio (1.0:
  the samples are as recognisable as real images).
* intra_fid (Miyato & Koyama 2018, cGANs with projection discriminator):
  FID within each class, (1/C) sum_c FID(f(samples of c), f(test images
  of c)), in the classifier's feature space f; beside the same with real
  train images of each class in place of the samples (its floor).
* cas, the Classification Accuracy Score (Ravuri & Vinyals 2019): a fresh
  classifier of the same architecture trained on the samples and their
  requested labels only, then tested on the real test set; beside real_cas,
  the same training on as many real train images with their labels.

The real-data values do not depend on the samples: they are computed once
per evaluator and kept in ``conditional_floors.json`` in the classifier's
cache folder (beside the image metrics' real_floors.json). This module
imports no flax at import time (the classifier is loaded when first used).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Optional

from absl import logging
import numpy as np

from gan_jax import data as data_lib
from gan_jax import fields
from gan_jax import registry
from gan_jax.evaluation import evaluators
from gan_jax.evaluation import features as features_lib

# Steps of the CAS classifier (batch 128, Adam 1e-3 with cosine decay): 12.8
# epochs of 10,000 samples, about 30 s per evaluation on 2 CPU cores; real
# Fashion-MNIST train images reach real_cas 87.2% (500 steps: 86.6%, 14 s).
CAS_STEPS = 1000
FLOORS_FILE = "conditional_floors.json"
# Part of the floors' cache key: bump when a floor's computation changes.
_FLOORS_VERSION = 1


@dataclasses.dataclass
class LabelledImages:
  """A data set's images (uint8 [n, H, W, C]) with their labels (int32 [n])."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


def load_labelled(data_config) -> LabelledImages:
  """The train and test splits with their labels (`data.load_images/labels`).

  Raises:
    data.DataError: missing files, or labels that differ in number.
  """
  arrays = []
  for split in ("train", "test"):
    images = data_lib.load_images(data_config, split)
    labels = data_lib.load_labels(data_config, split)
    if labels.shape != images.shape[:1]:
      raise data_lib.DataError(
          f"config.data.name={data_config.name!r}: the {split} split has "
          f"{images.shape[0]} images but labels of shape {labels.shape}")
    arrays += [images, labels.astype(np.int32)]
  return LabelledImages(*arrays)


def check_labels(labels, n: int, num_classes: int) -> np.ndarray:
  """labels as int32 [n] in [0, num_classes); ValueError naming them if not."""
  labels = np.asarray(labels)
  if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be int [{n}] (one per sample), got "
                     f"{labels.dtype} {labels.shape}")
  if n and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f"labels must be in [0, {num_classes}) (num_classes), "
                     f"got [{labels.min()}, {labels.max()}]")
  return labels.astype(np.int32)


def class_counts(labels, num_classes: int) -> np.ndarray:
  """Samples per class: int [num_classes]."""
  return np.bincount(labels, minlength=num_classes)[:num_classes]


def per_class_accuracy(logits, labels, num_classes: int
                       ) -> tuple[float, list[float]]:
  """(1/n) sum_i [argmax logits_i = y_i], and the same within each class.

  Args:
    logits: [n, num_classes].
    labels: int [n], the requested classes.
    num_classes: C.

  Returns:
    (accuracy, [accuracy of the samples of class c for c < C]) — nan for a
    class without samples.
  """
  correct = np.argmax(np.asarray(logits), axis=-1) == labels
  counts = class_counts(labels, num_classes)
  hits = np.bincount(labels, weights=correct, minlength=num_classes)
  per_class = [float(h / c) if c else float("nan")
               for h, c in zip(hits[:num_classes], counts)]
  return float(np.mean(correct)), per_class


def intra_frechet_distance(features, labels, test_features, test_labels,
                           num_classes: int) -> tuple[float, list[float]]:
  """Intra-class FID (Miyato & Koyama 2018): the mean over classes of FID.

    intra-FID = (1/C) sum_c FID(features[labels == c],
                                test_features[test_labels == c])

  with `frechet_distance` (sample means and covariances, ddof=1).

  Args:
    features: [n, f] of the samples; labels: int [n].
    test_features: [m, f] of the real images; test_labels: int [m].
    num_classes: C; a class needs >= 2 of each for its FID.

  Returns:
    (intra-FID, [FID of class c for c < C]). A class with fewer than 2
    samples or real images has no FID (nan, with a warning): the mean is
    over the others (nan if none has one), so that an evaluation at the end
    of a long run still reports what it can.
  """
  per_class = []
  for c in range(num_classes):
    ours, theirs = features[labels == c], test_features[test_labels == c]
    if min(len(ours), len(theirs)) < 2:
      logging.warning("intra-FID: class %d has %d samples and %d real images;"
                      " its FID needs >= 2 of each and is left out", c,
                      len(ours), len(theirs))
      per_class.append(float("nan"))
      continue
    per_class.append(features_lib.frechet_distance(ours, theirs))
  finite = [v for v in per_class if np.isfinite(v)]
  return (float(np.mean(finite)) if finite else float("nan")), per_class


def first_of_each_class(images, labels, counts) -> tuple[np.ndarray,
                                                         np.ndarray]:
  """The first counts[c] images of each class c (in data order), labelled.

  The real stand-ins for samples generated with counts[c] of class c; a
  class with fewer images gives all it has (with a warning: its floor is
  then one of fewer images than samples).
  """
  chosen = []
  for c, count in enumerate(counts):
    where = np.flatnonzero(labels == c)[:int(count)]
    if len(where) < count:
      logging.warning("the real train split has %d images of class %d, "
                      "fewer than the %d samples: its real-data floor uses "
                      "those", len(where), c, count)
    chosen.append(where)
  index = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, int)
  return images[index], labels[index]


def classification_accuracy_score(images, labels, test_images, test_labels, *,
                                  num_classes: int, steps: int = CAS_STEPS,
                                  seed: int = 0) -> float:
  """CAS (Ravuri & Vinyals 2019): train on (images, labels), test on real.

  A fresh `feature_extractor.Classifier` trained by
  `feature_extractor.fit_classifier` (Adam, cosine decay, batch 128) for
  `steps` steps; returns its accuracy on (test_images, test_labels).

  Args:
    images: [n, H, W, C] uint8, or float in [0, 1]; labels: int [n].
    test_images, test_labels: the real test set.
    num_classes: C.
    steps: training steps.
    seed: initialisation and shuffling.
  """
  from gan_jax import feature_extractor  # pylint: disable=g-import-not-at-top
  classifier = feature_extractor.fit_classifier(
      images, labels, num_classes=num_classes, steps=steps, seed=seed)
  return classifier.accuracy(test_images, test_labels)


class _FloorCache:
  """Real-data values kept in memory and in a JSON file (key -> dict)."""

  def __init__(self, path: str):
    self.path = path
    self._memory: dict[str, dict] = {}

  def get(self, key: str, compute: Callable[[], dict]) -> dict:
    if key not in self._memory:
      self._memory[key] = self._read(key) or compute()
      self._write(key, self._memory[key])
    return self._memory[key]

  def _table(self) -> dict:
    if not self.path or not os.path.isfile(self.path):
      return {}
    try:
      with open(self.path) as f:
        table = json.load(f)
    except (OSError, ValueError):
      return {}  # unreadable: recompute and rewrite
    return table if isinstance(table, dict) else {}

  def _read(self, key: str) -> Optional[dict]:
    value = self._table().get(key)
    return value if isinstance(value, dict) else None

  def _write(self, key: str, value: dict) -> None:
    if not self.path:
      return
    table = self._table()
    if table.get(key) == value:
      return
    table[key] = value
    tmp = f"{self.path}.tmp-{os.getpid()}"
    try:
      with open(tmp, "w") as f:
        json.dump(table, f, indent=2, sort_keys=True)
      os.replace(tmp, self.path)
    except OSError:
      pass  # a read-only cache folder: the floors stay in memory


class ConditionalMetric(evaluators.ConditionalEvaluator):
  """What the conditional metrics share: the classifier and labelled data.

  The classifier is `context.classifier()` when the context has one, else
  `feature_extractor.load_or_train(config.data,
  cache_dir=config.eval.feature_extractor_dir,
  steps=config.eval.feature_extractor_steps)`; the data
  `load_labelled(config.data)`. Both are read on first use and kept.
  """

  def __init__(self, context: Any):
    super().__init__(context)
    self.config = context.config
    self.num_classes = evaluators.num_classes(self.config)
    self._classifier = None
    self._real = None
    self._floors = None

  def classifier(self):
    if self._classifier is None:
      provided = getattr(self.context, "classifier", None)
      if callable(provided):
        self._classifier = provided()
      else:
        from gan_jax import feature_extractor  # pylint: disable=g-import-not-at-top
        self._classifier = feature_extractor.load_or_train(
            self.config.data, cache_dir=self.config.eval.feature_extractor_dir,
            steps=self.config.eval.feature_extractor_steps)
    return self._classifier

  def real(self) -> LabelledImages:
    if self._real is None:
      self._real = load_labelled(self.config.data)
    return self._real

  def floor(self, name: str, settings: dict, compute: Callable[[], dict]
            ) -> dict:
    """compute(), cached under (name, data set, settings) on disk if it can."""
    if self._floors is None:
      path = getattr(self.classifier(), "path", "")
      self._floors = _FloorCache(os.path.join(path, FLOORS_FILE) if path
                                 else "")
    data = self.config.data
    key = json.dumps(dict(
        version=_FLOORS_VERSION, metric=name,
        data=[data.name, data.get("source", ""), data.get("data_dir", ""),
              data.get("tfds_name", ""), data.get("image_size", 0)],
        **settings), sort_keys=True)
    return self._floors.get(key, compute)

  def inputs(self, samples, labels) -> tuple[np.ndarray, np.ndarray]:
    """Samples in [0, 1] (float32 [n, H, W, C]) and checked labels."""
    samples = np.asarray(samples)
    if samples.ndim != 4:
      raise ValueError(f"samples must be images [n, H, W, C], got "
                       f"{samples.shape}")
    return (data_lib.from_model_range(samples,
                                      data_lib.pixel_range(self.config.data)),
            check_labels(labels, samples.shape[0], self.num_classes))


@registry.EVALUATORS.register("class_accuracy", kinds=("images",),
                              conditional=True)
class ClassAccuracy(ConditionalMetric):
  """Whether samples show their class: the classifier's accuracy on them.

  class_accuracy = (1/n) sum_i [argmax_k logits_k(x_i) = y_i], with the
  project classifier's logits; classifier_test_accuracy its accuracy on the
  real test images; class_accuracy_ratio = the first / the second;
  class_accuracy_per_class (a list, in eval.jsonl and summary.json) and its
  minimum class_accuracy_min (the worst class, a scalar for the tables).
  """
  columns = (("class_accuracy", "sample acc."),
             ("class_accuracy_ratio", "acc. ratio"))

  def __call__(self, samples, labels):
    samples, labels = self.inputs(samples, labels)
    classifier = self.classifier()
    accuracy, per_class = per_class_accuracy(classifier.logits(samples),
                                             labels, self.num_classes)
    real = float(classifier.test_accuracy)
    return dict(class_accuracy=accuracy,
                classifier_test_accuracy=real,
                class_accuracy_ratio=accuracy / real if real else float("nan"),
                class_accuracy_per_class=per_class,
                class_accuracy_min=float(np.nanmin(per_class)))

  def headline(self, results):
    return (f"class acc. {results['class_accuracy']:.1%} (classifier "
            f"{results['classifier_test_accuracy']:.1%})")


@registry.EVALUATORS.register("intra_fid", kinds=("images",), conditional=True)
class IntraFID(ConditionalMetric):
  """Intra-FID (Miyato & Koyama 2018) in the classifier's feature space.

  intra_fid = (1/C) sum_c FID(f(samples of class c), f(test images of c))
  (`intra_frechet_distance`); intra_fid_per_class the C terms (a list);
  real_intra_fid the same with, for each class c, the first n_c real train
  images of c in place of the n_c samples of c (the floor a generator
  matching the data reaches with as many samples).
  """
  columns = (("intra_fid", "intra-FID"),)

  def __init__(self, context):
    super().__init__(context)
    self._test = None  # (features, labels) of the test images

  def _features(self, images) -> np.ndarray:
    return np.asarray(self.classifier()(data_lib.to_unit_range(images)),
                      np.float64)

  def _test_features(self):
    if self._test is None:
      real = self.real()
      self._test = (self._features(real.test_images), real.test_labels)
    return self._test

  def _real_floor(self, counts) -> dict:
    real = self.real()
    images, labels = first_of_each_class(real.train_images, real.train_labels,
                                         counts)
    value, _ = intra_frechet_distance(self._features(images), labels,
                                      *self._test_features(),
                                      self.num_classes)
    return {"real_intra_fid": value}

  def __call__(self, samples, labels):
    samples, labels = self.inputs(samples, labels)
    value, per_class = intra_frechet_distance(
        self._features(samples), labels, *self._test_features(),
        self.num_classes)
    counts = class_counts(labels, self.num_classes).tolist()
    floor = self.floor("intra_fid", dict(counts=counts),
                       lambda: self._real_floor(counts))
    return dict(intra_fid=value, intra_fid_per_class=per_class, **floor)

  def headline(self, results):
    return (f"intra-FID {results['intra_fid']:.3g} (real "
            f"{results['real_intra_fid']:.2g})")


@registry.EVALUATORS.register(
    "cas", kinds=("images",), conditional=True,
    fields=dict(cas_steps=fields.integer(
        CAS_STEPS, 1, doc="cas: training steps of the classifier trained on "
        "the samples (batch 128)")))
class ClassificationAccuracyScore(ConditionalMetric):
  """CAS (Ravuri & Vinyals 2019): train on samples, test on real images.

  cas = the test accuracy of a fresh classifier (the feature extractor's
  architecture and recipe, config.eval.cas_steps steps, seed 0) trained on
  the samples and their requested labels only
  (`classification_accuracy_score`); real_cas = the same trained on the
  first n real train images and their labels; cas_ratio = cas / real_cas.
  """
  columns = (("cas", "CAS"), ("cas_ratio", "CAS ratio"))

  def _real_floor(self, n: int, steps: int) -> dict:
    real = self.real()
    if n > len(real.train_images):
      raise ValueError(f"real_cas: {n} samples but only "
                       f"{len(real.train_images)} real train images")
    return {"real_cas": classification_accuracy_score(
        real.train_images[:n], real.train_labels[:n], real.test_images,
        real.test_labels, num_classes=self.num_classes, steps=steps)}

  def __call__(self, samples, labels):
    samples, labels = self.inputs(samples, labels)
    steps = int(self.config.eval.cas_steps)
    real = self.real()
    cas = classification_accuracy_score(
        samples, labels, real.test_images, real.test_labels,
        num_classes=self.num_classes, steps=steps)
    n = int(samples.shape[0])
    floor = self.floor("cas", dict(n=n, steps=steps),
                       lambda: self._real_floor(n, steps))
    real_cas = floor["real_cas"]
    return dict(cas=cas, cas_ratio=cas / real_cas if real_cas else
                float("nan"), **floor)

  def headline(self, results):
    return f"CAS {results['cas']:.1%} (real {results['real_cas']:.1%})"
