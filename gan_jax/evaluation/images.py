"""All image metrics of a run, each beside its real-data value.

`ImageEvaluator` / `image_metrics` score generator samples against a data
set's held-out images (`load_real_images`): the Parzen log-likelihood, FID,
KID and precision/recall. Features come from a pluggable callable; the
project's own is `gan_jax.feature_extractor` (this package imports no flax).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Optional

from absl import logging
import numpy as np

from gan_jax import data as data_lib
from gan_jax.evaluation import features as features_lib
from gan_jax.evaluation import kernel as kernel_lib
from gan_jax.evaluation import parzen as parzen_lib

IMAGE_NUM_SAMPLES = 10_000
PARZEN_NUM_VALIDATION = 10_000
# The numbers of each image metric (its floors: each with real_ in front).
METRIC_KEYS = {
    "parzen": ("parzen_ll", "parzen_ll_stderr", "parzen_sigma",
               "parzen_validation_ll"),
    "fid": ("fid",),
    "kid": ("kid", "kid_stderr"),
    "precision": ("precision",),
    "recall": ("recall",),
}
FEATURE_METRICS = ("fid", "kid", "precision", "recall")


@dataclasses.dataclass
class RealImages:
  """The real images generator samples are compared with (uint8 [n, H, W, C]).

  Attributes:
    train: the first train images, standing in for generator samples to give
      each metric's real-data value (the floor a perfect generator would
      reach with as many samples).
    validation: the last train images, held out to choose the Parzen width
      (as Goodfellow et al.'s code holds out MNIST train[50000:60000]). The
      GAN itself trains on the whole split; only `train` is kept disjoint.
    test: the test split: Parzen scores it; FID, KID and P/R compare
      against it.
  """
  train: np.ndarray
  validation: np.ndarray
  test: np.ndarray


def load_real_images(data_config, *, num_samples: int = IMAGE_NUM_SAMPLES,
                     num_validation: int = PARZEN_NUM_VALIDATION,
                     train_images: Optional[np.ndarray] = None) -> RealImages:
  """Splits the data set's images for `ImageEvaluator`.

  validation = the last min(num_validation, N // 2) of the N train images;
  train = the first min(num_samples, N - that) ones; test = the test split.
  A data set without a test split (an image folder or array file without
  one) gives three disjoint parts of its N images instead, so that the
  floors do not compare images with themselves: validation = the last
  min(num_validation, N // 3), train = the first min(num_samples, N // 3),
  test = the images between (logged as a warning).

  Args:
    data_config: config.data of an image data set.
    num_samples: real stand-ins for generator samples.
    num_validation: held-out train images for choosing sigma.
    train_images: the train split if already loaded (else read here).

  Raises:
    data.DataError: missing or corrupt files (e.g. no test split).
  """
  if train_images is None:
    train_images = data_lib.load_images(data_config, "train")
  total = train_images.shape[0]
  if not data_lib.has_test_split(data_config):
    num_validation = min(int(num_validation), total // 3)
    num_samples = min(int(num_samples), total // 3)
    logging.warning(
        "evaluation: %s has no test split; the metrics compare samples with "
        "%d of its training images (the floors use %d others)",
        data_lib.describe_source(data_config),
        total - num_samples - num_validation, num_samples)
    return RealImages(train=train_images[:num_samples],
                      validation=train_images[total - num_validation:],
                      test=train_images[num_samples:total - num_validation])
  test_images = data_lib.load_images(data_config, "test")
  num_validation = min(int(num_validation), total // 2)
  num_samples = min(int(num_samples), total - num_validation)
  return RealImages(train=train_images[:num_samples],
                    validation=train_images[total - num_validation:],
                    test=test_images)


def _flat_parzen(result: dict) -> dict:
  return dict(zip(METRIC_KEYS["parzen"], (result["mean"], result["stderr"],
                                          result["sigma"],
                                          result["validation_mean"])))


class ImageEvaluator:
  """Parzen log-likelihood, FID, KID and precision/recall of image samples.

  Calling it on generator samples returns one flat dict of numbers:

    parzen_ll, parzen_ll_stderr, parzen_sigma, parzen_validation_ll
        `parzen_evaluate(samples, real.validation, real.test)`
    fid                    `frechet_distance(f(samples), f(real.test))`
    kid, kid_stderr        `kernel_distance(f(real.test), f(samples),
                           num_subsets=kid_num_subsets,
                           subset_size=kid_subset_size)` (stderr nan when
                           the subsets are the whole sets)
    precision, recall      `precision_recall(f(real.test), f(samples), k)`
    real_*                 the same with real.train in place of the samples:
                           the floor (ceiling for Parzen, P and R) that a
                           generator matching the data would reach.
    num_samples            number of samples scored.

  with f the feature extractor (any callable images [n, H, W, C] in [0, 1]
  -> features [n, f]; e.g. `gan_jax.feature_extractor.load_or_train(...)`).
  `metrics` chooses among them (keys of METRIC_KEYS; only those are computed,
  floors included); by default Parzen's keys when `parzen`, the feature
  metrics' when `feature_fn` is given.
  The floors do not depend on the samples: they are computed once, and kept
  in the JSON file `floor_cache_path` (under `floor_cache_key`) if given; a
  cached entry that lacks one of the floors this evaluator gives (written
  before a metric was added) is recomputed.
  """

  def __init__(self, real: RealImages, *,
               feature_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
               parzen: bool = True, sigmas=parzen_lib.PARZEN_SIGMAS,
               k: int = features_lib.PRECISION_RECALL_K,
               batch_size: int = parzen_lib.DEFAULT_BATCH_SIZE,
               kid_num_subsets: int = kernel_lib.KID_NUM_SUBSETS,
               kid_subset_size: int = kernel_lib.KID_SUBSET_SIZE,
               floor_cache_path: Optional[str] = None,
               floor_cache_key: str = "",
               metrics: Optional[tuple[str, ...]] = None):
    if metrics is None:
      metrics = ((("parzen",) if parzen else ()) +
                 (FEATURE_METRICS if feature_fn is not None else ()))
    unknown = set(metrics) - set(METRIC_KEYS)
    if unknown or (feature_fn is None and set(metrics) & set(FEATURE_METRICS)):
      raise ValueError(f"metrics {metrics}: each one of {tuple(METRIC_KEYS)}, "
                       "the feature metrics only with a feature_fn")
    self.metrics = tuple(m for m in METRIC_KEYS if m in metrics)
    self.real = real
    self.feature_fn = feature_fn
    self.parzen = "parzen" in self.metrics
    self.sigmas = tuple(float(s) for s in sigmas)
    self.k = k
    self.batch_size = batch_size
    self.kid_num_subsets = kid_num_subsets
    self.kid_subset_size = kid_subset_size
    self.floor_cache_path = floor_cache_path
    self.floor_cache_key = floor_cache_key
    self._floors = None
    self._test_features = None
    self._test_moments = None
    self._test_manifold = None

  def _features(self, images) -> np.ndarray:
    return np.asarray(self.feature_fn(data_lib.to_unit_range(images)),
                      np.float64)

  def _feature_space(self):
    """The test set's features, moments and k-NN radii (computed once)."""
    if self._test_manifold is None:
      self._test_features = self._features(self.real.test)
      self._test_moments = features_lib.feature_moments(self._test_features)
      self._test_manifold = features_lib.RealManifold(
          self._test_features, self.k, self.batch_size)

  def parzen_metrics(self, samples, unused_features=None) -> dict:
    """Goodfellow et al. 2014's Parzen window: sigma on validation, test."""
    return _flat_parzen(parzen_lib.parzen_evaluate(
        samples, self.real.validation, self.real.test, sigmas=self.sigmas,
        batch_size=self.batch_size))

  def fid_metrics(self, unused_samples, features) -> dict:
    """FID against the test set's feature moments."""
    return {"fid": features_lib.frechet_distance_from_moments(
        *features_lib.feature_moments(features), *self._test_moments)}

  def kid_metrics(self, unused_samples, features) -> dict:
    kid, stderr = kernel_lib.kernel_distance(
        self._test_features, features, num_subsets=self.kid_num_subsets,
        subset_size=self.kid_subset_size)
    return {"kid": kid, "kid_stderr": stderr}

  def precision_recall_metrics(self, unused_samples, features) -> dict:
    """Improved precision and recall: one k-NN computation gives both."""
    if min(len(features), len(self.real.test)) <= self.k:
      raise ValueError(f"precision/recall with k={self.k} needs more than "
                       f"{self.k} samples and test images, got "
                       f"{len(features)} and {len(self.real.test)}")
    return self._test_manifold.precision_recall(features)

  def _sample_metrics(self, samples) -> dict:
    results = {}
    if self.parzen:
      results.update(self.parzen_metrics(samples))
    chosen = [m for m in FEATURE_METRICS if m in self.metrics]
    if not chosen:
      return results
    self._feature_space()
    features = self._features(samples)
    if "fid" in chosen:
      results.update(self.fid_metrics(samples, features))
    if "kid" in chosen:
      results.update(self.kid_metrics(samples, features))
    if "precision" in chosen or "recall" in chosen:
      pr = self.precision_recall_metrics(samples, features)
      results.update({k: v for k, v in pr.items() if k in chosen})
    return results

  def floors(self) -> dict:
    """The real_* values (computed once; read from the cache file if there)."""
    if self._floors is None:
      self._floors = self._read_floor_cache()
    if self._floors is None:
      self._floors = {f"real_{name}": value for name, value in
                      self._sample_metrics(self.real.train).items()}
      self._floors["real_num_samples"] = int(self.real.train.shape[0])
      self._write_floor_cache(self._floors)
    names = self._floor_names()
    return {k: v for k, v in self._floors.items() if k in names}

  def __call__(self, samples) -> dict:
    """Metrics of `samples` ([n, H, W, C] in [0, 1]) and the floors."""
    samples = data_lib.to_unit_range(samples)
    results = self._sample_metrics(samples)
    results["num_samples"] = int(samples.shape[0])
    results.update(self.floors())
    return results

  def _floor_names(self) -> set[str]:
    names = [key for metric in self.metrics for key in METRIC_KEYS[metric]]
    return {f"real_{name}" for name in names} | {"real_num_samples"}

  def _read_floor_cache(self) -> Optional[dict]:
    if not self.floor_cache_path or not os.path.isfile(self.floor_cache_path):
      return None
    try:
      with open(self.floor_cache_path) as f:
        floors = json.load(f).get(self.floor_cache_key)
    except (OSError, ValueError, AttributeError):
      return None  # unreadable: recompute and rewrite
    if not isinstance(floors, dict) or not self._floor_names() <= set(floors):
      return None  # from before a metric was added: recompute
    return floors

  def _write_floor_cache(self, floors: dict) -> None:
    if not self.floor_cache_path:
      return
    try:
      table = {}
      if os.path.isfile(self.floor_cache_path):
        try:
          with open(self.floor_cache_path) as f:
            table = dict(json.load(f))
        except (OSError, ValueError, TypeError):
          table = {}
      # Floors of other metrics cached under the same key stay.
      previous = table.get(self.floor_cache_key)
      table[self.floor_cache_key] = {
          **(previous if isinstance(previous, dict) else {}), **floors}
      tmp = f"{self.floor_cache_path}.tmp-{os.getpid()}"
      with open(tmp, "w") as f:
        json.dump(table, f, indent=2, sort_keys=True)
      os.replace(tmp, self.floor_cache_path)
    except OSError:
      pass  # a read-only cache folder: the floors stay in memory


def image_metrics(samples, data_config, *,
                  feature_fn: Optional[Callable[[np.ndarray],
                                                np.ndarray]] = None,
                  parzen: bool = True,
                  num_validation: int = PARZEN_NUM_VALIDATION) -> dict:
  """One-off `ImageEvaluator` for `samples` against `data_config`'s data.

  Args:
    samples: generator samples [n, H, W, C] in [0, 1] (10,000 for the Parzen
      protocol); the real floors use min(n, ...) first train images.
    data_config: config.data of an image data set.
    feature_fn: images -> features for FID, KID and P/R (None: skip them).
    parzen: whether to compute the Parzen log-likelihood.
    num_validation: held-out train images for choosing sigma.

  Returns:
    The flat dict described in `ImageEvaluator`.
  """
  real = load_real_images(data_config, num_samples=len(samples),
                          num_validation=num_validation)
  return ImageEvaluator(real, feature_fn=feature_fn, parzen=parzen)(samples)
