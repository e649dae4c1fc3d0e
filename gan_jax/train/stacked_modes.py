"""The evaluation of runs on a stacked data set: the StackedMNIST mode count.

For config.data.name in `data.STACKED_DATASETS` the image evaluation is

* with config.eval.features: the mode count of `gan_jax.evaluation.stacked`
  (Metz et al. 2017; VEEGAN, PacGAN and R3GAN report it): the bundled
  classifier (`gan_jax.feature_extractor`, trained on the base data set,
  e.g. Fashion-MNIST, at the same image size, as the FID of that data set
  uses) labels each channel of config.eval.image_num_samples generator
  samples (26,000 in the protocol), giving `modes` (of `num_modes` =
  1,000) and `mode_kl` = KL(mode histogram || uniform); beside them the
  same for as many real stacks of the test split (`real_modes`,
  `real_mode_kl`; the classifier's errors keep real KL above 0) and
  `real_triple_accuracy`, the share of real stacks whose three labels are
  all right. FID and precision/recall are not computed: the classifier
  sees one grey channel, not a stack.
* with config.eval.parzen: the Parzen log-likelihood of
  `gan_jax.evaluation.ImageEvaluator` on the stacks' pixels, unchanged.

`make_evaluator(config)` builds it for `Experiment.image_evaluator`.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from absl import logging
import numpy as np

from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import feature_extractor
from gan_jax.evaluation import stacked as stacked_lib


class StackedModeEvaluator:
  """Modes and KL from uniform of stacked samples, beside the real data's.

  Calling it on samples [n, H, W, C] in [0, 1] (or uint8) returns

    modes, mode_kl, num_modes   `mode_coverage(mode_histogram(labels))`
    mode_kl_marginal,           mode_kl's two parts (`kl_decomposition`):
    mode_kl_dependence          per-channel class balance, dependence
    num_samples                 n
    real_modes, real_mode_kl,   the same for the real stacks (the floor)
    real_mode_kl_marginal, ...
    real_mode_num_samples       how many real stacks
    real_triple_accuracy        share of real stacks labelled right in all
                                C channels
    + Parzen's keys and floors  when `pixel_evaluator` is given

  Args:
    classify: grey images [m, H, W, 1] in [0, 1] -> logits [m, num_classes]
      (e.g. a FeatureExtractor's `logits`).
    real_images: real stacks [r, H, W, C] (uint8 or in [0, 1]).
    real_labels: their class triples int [r, C].
    num_classes: K, classes per channel (K^C modes).
    pixel_evaluator: an optional `evaluation.ImageEvaluator` (Parzen only)
      whose results are merged in.
  """

  def __init__(self, classify: Callable[[np.ndarray], np.ndarray],
               real_images: np.ndarray, real_labels: np.ndarray, *,
               num_classes: int = stacked_lib.NUM_CLASSES,
               pixel_evaluator: Optional[evaluation.ImageEvaluator] = None):
    self.classify = classify
    self.real_images = real_images
    self.real_labels = np.asarray(real_labels)
    self.num_classes = int(num_classes)
    self.pixel_evaluator = pixel_evaluator
    self._floors = None

  def channel_labels(self, images) -> np.ndarray:
    """The classifier's label of each channel: int [n, C]."""
    images = np.asarray(images)
    if images.ndim != 4:
      raise ValueError(f"stacked images must be [n, H, W, C], got shape "
                       f"{images.shape}")
    columns = []
    for c in range(images.shape[-1]):  # one channel at a time: less memory
      channel = data_lib.to_unit_range(images[..., c:c + 1])
      logits = np.asarray(self.classify(channel))
      columns.append(np.argmax(logits, axis=-1))
    return np.stack(columns, axis=1).astype(np.int64)

  def _coverage(self, labels: np.ndarray, prefix: str) -> dict:
    coverage = stacked_lib.mode_coverage(stacked_lib.mode_histogram(
        labels, num_classes=self.num_classes))
    parts = stacked_lib.kl_decomposition(labels, num_classes=self.num_classes)
    return {f"{prefix}modes": coverage["modes"],
            f"{prefix}mode_kl": coverage["kl"],
            f"{prefix}mode_kl_marginal": parts["marginal"],
            f"{prefix}mode_kl_dependence": parts["dependence"],
            "num_modes": coverage["num_modes"]}

  def floors(self) -> dict:
    """The real_* values (computed once)."""
    if self._floors is None:
      start = time.time()
      labels = self.channel_labels(self.real_images)
      floors = self._coverage(labels, "real_")
      floors["real_mode_num_samples"] = int(labels.shape[0])
      floors["real_triple_accuracy"] = float(np.mean(np.all(
          labels == self.real_labels, axis=1)))
      if self.pixel_evaluator is not None:
        floors.update(self.pixel_evaluator.floors())
      logging.info("Stacked mode count of %d real stacks: %d modes, KL %.4f "
                   "(%.0f s)", labels.shape[0], floors["real_modes"],
                   floors["real_mode_kl"], time.time() - start)
      self._floors = floors
    return dict(self._floors)

  def __call__(self, samples) -> dict:
    """Mode coverage of `samples` ([n, H, W, C] in [0, 1]) and the floors."""
    results = self._coverage(self.channel_labels(samples), "")
    if self.pixel_evaluator is not None:
      results.update(self.pixel_evaluator(samples))
    results["num_samples"] = int(np.asarray(samples).shape[0])
    results.update(self.floors())
    return results


def make_evaluator(config, train_images: Optional[np.ndarray] = None, *,
                   parzen: bool = True, features: bool = True):
  """The image evaluation of a stacked run, and its classifier's accuracy.

  Args:
    config: a validated config with a stacked config.data and
      config.eval.parzen or config.eval.features set.
    train_images: the stacked train split if loaded (Parzen's validation
      images come from it; else read here).
    parzen: whether to compute the Parzen log-likelihood of the pixels.
    features: whether to count the modes with the classifier.

  Returns:
    (evaluator, test accuracy of the classifier or None): a
    `StackedModeEvaluator` (config.eval.features), else the Parzen-only
    `evaluation.ImageEvaluator`.
  """
  eval_config = config.eval
  pixel_evaluator = None
  if parzen:
    real = evaluation.load_real_images(
        config.data, num_samples=eval_config.image_num_samples,
        num_validation=eval_config.parzen_validation,
        train_images=train_images)
    pixel_evaluator = evaluation.ImageEvaluator(real, feature_fn=None,
                                                parzen=True)
  if not features:
    return pixel_evaluator, None
  # The classifier of the base data set at the stacks' size: the one FID
  # uses for that data set, so both share one cached training.
  extractor = feature_extractor.load_or_train(
      data_lib.stacked_base(config.data),
      cache_dir=eval_config.feature_extractor_dir,
      steps=eval_config.feature_extractor_steps)
  # Test-split stacks: the classifier was trained on the train split, where
  # its errors (and so the floor's KL) would be fewer than on new images.
  real_images, real_labels = data_lib.load_stacked(
      config.data, "test", num_stacks=int(eval_config.image_num_samples))
  evaluator = StackedModeEvaluator(
      extractor.logits, real_images, real_labels,
      num_classes=extractor.num_classes, pixel_evaluator=pixel_evaluator)
  return evaluator, extractor.test_accuracy
