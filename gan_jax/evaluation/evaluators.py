"""The evaluator interface and the built-in evaluators, registered by name.

An evaluator is a small class registered in `gan_jax.registry.EVALUATORS`
(big_vision's `evaluators/common.py` is the model): it is built once per run
with the run's `context`, called on generator samples, and says what it
reports and how to summarise it:

  @registry.EVALUATORS.register("my_metric", kinds=("toy2d",),
                                fields=dict(my_metric_bins=...))
  class MyMetric(evaluators.Evaluator):
    def __call__(self, samples):           # model range, [n, *data_shape]
      return {"my_metric": ..., "real_my_metric": ...}
    def headline(self, results):
      return f"my metric {results['my_metric']:.3f}"

`config.eval.metrics` chooses them by name; () runs `default_metrics`, the
defaults of the data kind: 'toy2d' (ring, grid) modes; 'toy1d' jsd;
'images' parzen, fid, kid, precision, recall, and for a conditional model
(config.model.num_classes > 0) class_accuracy and intra_fid; 'stacked'
parzen, stacked_modes (`config.eval.parzen` / `features` = False drop
theirs).

A conditional evaluator (`ConditionalEvaluator`, registered with
conditional=True: class_accuracy, intra_fid, cas in
`gan_jax.evaluation.conditional`) is called as `evaluator(samples, labels)`
with the labels the samples were generated for (`conditional_labels`).
The results of all chosen evaluators go, merged, to eval.jsonl,
TensorBoard, summary.json and the sweep tables; their headlines make the
progress line.

The context (`gan_jax.train.Experiment`) gives `config`, `distribution`
(toy p_data or None) and `image_results(samples)`: the chosen image metrics
of `gan_jax.evaluation.ImageEvaluator` (or the stacked mode count), computed
once per evaluation for all of them — each metric has its own computation
and floor there (`ImageEvaluator.fid_metrics`, ...; only the chosen ones
run), and they share the samples' features, which are computed once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_jax import registry
from gan_jax.evaluation import images as images_lib
from gan_jax.evaluation import toy as toy_lib
from gan_jax.fields import ConfigError

# Data kinds an evaluator may apply to (see `data_kind`).
KINDS = registry.EVALUATOR_KINDS
# What default_metrics adds for images when config.model.num_classes > 0
# (`gan_jax.evaluation.conditional`; cas costs a classifier's training per
# evaluation, so it runs only when chosen).
CONDITIONAL_DEFAULTS = ("class_accuracy", "intra_fid")


class Evaluator:
  """One metric (or a few computed together) of generator samples.

  Attributes:
    context: the run's `gan_jax.train.Experiment` (config, distribution,
      image_results).
    columns: (result key, label) of the numbers a sweep's results.md shows
      for it (results.csv has every number).
  """
  columns: tuple[tuple[str, str], ...] = ()

  def __init__(self, context: Any):
    self.context = context

  def __call__(self, samples: np.ndarray) -> dict[str, Any]:
    """Results of samples [n, *data_shape] in the model's range (flat dict)."""
    raise NotImplementedError

  def headline(self, results: dict[str, Any]) -> str:
    """A few words for the progress line ('' for none)."""
    del results
    return ""


class ConditionalEvaluator(Evaluator):
  """A metric of class-conditional samples: called with their labels.

  Registered with `conditional=True` (and kinds=("images",)); the run calls
  it as `evaluator(samples, labels)`, the samples generated for the
  requested labels (`conditional_labels`).
  """
  conditional = True

  def __call__(self, samples: np.ndarray,  # pytype: disable=signature-mismatch
               labels: np.ndarray) -> dict[str, Any]:
    """Results of samples [n, *data_shape] (model range) for labels [n]."""
    raise NotImplementedError


def is_conditional(name_or_evaluator) -> bool:
  """Whether an evaluator (registered name or instance) takes labels."""
  if isinstance(name_or_evaluator, str):
    return bool(registry.EVALUATORS.get(name_or_evaluator).info.get(
        "conditional", False))
  return bool(getattr(name_or_evaluator, "conditional", False))


def conditional_labels(n: int, num_classes: int) -> np.ndarray:
  """The requested labels of n conditional samples: int32 [n], i mod C.

  Balanced over the classes (each has n // C or n // C + 1 samples).
  """
  if num_classes < 1:
    raise ValueError(f"num_classes = {num_classes} must be >= 1")
  return (np.arange(n) % num_classes).astype(np.int32)


def num_classes(config) -> int:
  """config.model.num_classes (0, unconditional, when the model lacks it)."""
  return int(config.model.get("num_classes", 0) or 0)


def has_labels(data_config) -> bool:
  """Whether a data set has one class label per image.

  Image data sets do unless registered with labels=False; stacked data's
  labels are class triples and toy data has none.
  """
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  if data_lib.is_toy(data_config) or data_lib.is_stacked(data_config):
    return False
  if data_config.name not in registry.DATASETS:
    return True  # an unregistered name fails elsewhere, with its own message
  if not registry.DATASETS.get(data_config.name).info.get("labels", True):
    return False
  try:
    # An image folder without class sub-folders (or .npz without labels)
    # has none; read from the layout, nothing is decoded.
    return data_lib.num_classes(data_config) > 0
  except data_lib.DataError:
    return True  # missing data fails elsewhere, with its own message


def data_kind(data_config) -> str:
  """'toy2d', 'toy1d', 'stacked' or 'images' for a config.data."""
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  if data_lib.is_toy(data_config):
    return "toy1d" if data_lib.data_shape(data_config) == (1,) else "toy2d"
  return "stacked" if data_lib.is_stacked(data_config) else "images"


def default_metrics(config) -> tuple[str, ...]:
  """The evaluators a run with config.eval.metrics = () runs."""
  kind = data_kind(config.data)
  parzen = ("parzen",) if config.eval.parzen else ()
  if kind == "images":
    if not config.eval.features or not has_labels(config.data):
      # The feature space is a classifier trained on the data's labels:
      # unlabelled images get the Parzen estimate alone.
      return parzen
    conditional = (CONDITIONAL_DEFAULTS if num_classes(config) > 0 and
                   has_labels(config.data) else ())
    return parzen + images_lib.FEATURE_METRICS + conditional
  if kind == "stacked":
    return parzen + (("stacked_modes",) if config.eval.features else ())
  return registry.EVALUATORS.where(kinds=(kind,), default=True)


def chosen_metrics(config) -> tuple[str, ...]:
  """config.eval.metrics, or the data kind's defaults when it is ()."""
  return tuple(config.eval.metrics) or default_metrics(config)


def check_metrics(config) -> None:
  """Each chosen evaluator is registered and applies to the data kind."""
  kind = data_kind(config.data)
  names = registry.EVALUATORS.names(config.plugins)
  for name in config.eval.metrics:
    if name not in names:
      raise ConfigError(
          f"config.eval.metrics: {name!r} is not a registered evaluator; "
          f"choose from {', '.join(map(repr, names))}")
    kinds = registry.EVALUATORS.get(name).info.get("kinds", KINDS)
    if kind not in kinds:
      raise ConfigError(
          f"config.eval.metrics: {name!r} evaluates {', '.join(kinds)} data,"
          f" not {kind} data (config.data.name = {config.data.name!r})")
    if not is_conditional(name):
      continue
    if num_classes(config) < 1:
      raise ConfigError(
          f"config.eval.metrics: {name!r} scores class-conditional samples, "
          f"but config.model.num_classes = {num_classes(config)} (an "
          f"unconditional model)")
    if not has_labels(config.data):
      raise ConfigError(
          f"config.eval.metrics: {name!r} needs class labels, which "
          f"config.data.name = {config.data.name!r} does not have")
  unlabelled_features = [n for n in chosen_metrics(config)
                         if n in images_lib.FEATURE_METRICS]
  if kind == "images" and unlabelled_features and not has_labels(config.data):
    raise ConfigError(
        f"config.eval.metrics: {unlabelled_features[0]!r} is computed in the "
        f"feature space of a classifier trained on the data's labels, which "
        f"config.data.name = {config.data.name!r} "
        f"(config.data.data_dir = {config.data.data_dir!r}) does not have; "
        "drop the feature metrics (fid, kid, precision, recall) or give the "
        "images class sub-folders")


def make_evaluators(config, context) -> tuple[Evaluator, ...]:
  """The chosen evaluators, built with the run's context."""
  return tuple(registry.EVALUATORS.get(name).target(context)
               for name in chosen_metrics(config))


def headline(evaluators, results: dict[str, Any]) -> str:
  """The evaluators' headlines joined: '8/8 modes, 97.1% HQ', ..."""
  return ", ".join(h for h in (e.headline(results) for e in evaluators) if h)


# --- Image metrics are parts of one computation (`context.image_results`).


class ImageMetric(Evaluator):
  """The keys of the shared image computation that this metric reports."""
  keys: tuple[str, ...] = ()

  def __call__(self, samples):
    results = self.context.image_results(samples)
    wanted = set(self.keys) | {f"real_{k}" for k in self.keys} | {
        "num_samples", "real_num_samples", "feature_extractor_test_accuracy"}
    return {k: v for k, v in results.items() if k in wanted}


# --- Toy data.


@registry.EVALUATORS.register("modes", kinds=("toy2d",), default=True)
class ToyModes(Evaluator):
  """Modes captured, % high quality and reverse KL on the ring and grid.

  `evaluate_modes` (Srivastava et al. 2017; Lin et al. 2018).
  """
  columns = (("modes", "modes"), ("high_quality_pct", "high quality %"),
             ("reverse_kl", "reverse KL"))

  def __call__(self, samples):
    dist = self.context.distribution
    return toy_lib.evaluate_modes(samples, np.asarray(dist.means),
                                  np.asarray(dist.stds))

  def headline(self, results):
    return (f"{results['modes']}/{results['num_modes']} modes, "
            f"{results['high_quality_pct']:.1f}% HQ")


@registry.EVALUATORS.register("stacked_modes", kinds=("stacked",))
class StackedModes(ImageMetric):
  """The StackedMNIST mode count and its KL from uniform (Metz et al. 2017)."""
  columns = (("modes", "modes"), ("mode_kl", "mode KL"),
             ("real_mode_kl", "real mode KL"))
  keys = ("modes", "num_modes", "mode_kl", "mode_kl_marginal",
          "mode_kl_dependence", "mode_num_samples", "triple_accuracy")

  def headline(self, results):
    return (f"{results['modes']}/{results['num_modes']} modes, KL "
            f"{results['mode_kl']:.3f} (real {results['real_modes']}, "
            f"{results['real_mode_kl']:.3f})")


@registry.EVALUATORS.register("jsd", kinds=("toy1d",), default=True)
class JensenShannon1D(Evaluator):
  """JSD(p_data || p_g) in 1D, p_g a kernel density estimate (`jsd_1d`)."""
  columns = (("jsd", "JSD"),)

  def __call__(self, samples):
    dist = self.context.distribution
    mean = float(np.asarray(dist.means).reshape(-1)[0])
    std = float(np.asarray(dist.stds).reshape(-1)[0])
    finite = samples[np.isfinite(samples)]
    low = min(mean - 8 * std, float(finite.min()) if finite.size else mean)
    high = max(mean + 8 * std, float(finite.max()) if finite.size else mean)

    def log_prob(x):
      import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
      return np.asarray(dist.log_prob(jnp.asarray(x, jnp.float32)))

    return toy_lib.jsd_1d(samples, log_prob, low=low, high=high)

  def headline(self, results):
    return f"JSD {results['jsd']:.4f}"


@registry.EVALUATORS.register("parzen", kinds=("images", "stacked"))
class Parzen(ImageMetric):
  """Parzen-window log-likelihood (Goodfellow et al. 2014, Table 1)."""
  columns = (("parzen_ll", "Parzen log-lik."),)
  keys = images_lib.METRIC_KEYS["parzen"]

  def headline(self, results):
    return (f"Parzen {results['parzen_ll']:.0f} +- "
            f"{results['parzen_ll_stderr']:.1f} "
            f"(real {results['real_parzen_ll']:.0f})")


@registry.EVALUATORS.register("fid", kinds=("images",))
class FrechetDistance(ImageMetric):
  """FID (Heusel et al. 2017) in the project classifier's feature space."""
  columns = (("fid", "FID"),)
  keys = images_lib.METRIC_KEYS["fid"]

  def headline(self, results):
    return f"FID {results['fid']:.3g} (real {results['real_fid']:.2g})"


@registry.EVALUATORS.register("kid", kinds=("images",))
class KernelDistance(ImageMetric):
  """KID (Binkowski et al. 2018) in the same feature space."""
  columns = (("kid", "KID"),)
  keys = images_lib.METRIC_KEYS["kid"]


@registry.EVALUATORS.register("precision", kinds=("images",))
class Precision(ImageMetric):
  """Improved precision (Kynkaanniemi et al. 2019), k-NN manifolds."""
  columns = (("precision", "precision"),)
  keys = images_lib.METRIC_KEYS["precision"]


@registry.EVALUATORS.register("recall", kinds=("images",))
class Recall(ImageMetric):
  """Improved recall (Kynkaanniemi et al. 2019), k-NN manifolds."""
  columns = (("recall", "recall"),)
  keys = images_lib.METRIC_KEYS["recall"]
