"""The experiment, built once from a validated config.

`Experiment` holds what every part of a run needs and would otherwise
re-derive from raw config fields: the data shape, the toy p_data (if any),
the image data set, G and D, the real-data sampler of the step, the noise,
the update step on a set of devices, the initial state, and the evaluation
(toy mode metrics, 1D JSD, or the image metrics with their real-data floors).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import feature_extractor
from gan_jax import models as model_lib
from gan_jax import registry
from gan_jax import step as step_lib
from gan_jax.data import pipeline as pipeline_lib
from gan_jax.evaluation import evaluators as evaluators_lib
from gan_jax.train import stacked_modes

# Streams folded into PRNGKey(seed) for noise that is not training noise
# (training keys come from jax.random.split(PRNGKey(seed), 3)[2]).
_SAMPLE_GRID_STREAM = 1_000_000_001
_EVAL_STREAM = 1_000_000_002
STANDING_STATS_STREAM = 1_000_000_003
_GENERATE_CHUNK = 1024
# Batches (of train.batch_size) that the EMA generator's BatchNorm statistics
# are recomputed from before it samples (`sampling_batch_stats`).
STANDING_STATS_BATCHES = 64
# Part of the real-data floors' cache key: bump when the image metrics change
# so that floors cached by older code are recomputed (2: KID added, and
# precision/recall exact on duplicates and ties).
_FLOORS_VERSION = 2


def scale_learning_rates(config: ml_collections.ConfigDict,
                         scale: float) -> ml_collections.ConfigDict:
  """`config` with both learning rates (and so their schedules) times scale.

  Scaling the rate of Adam or SGD (momentum or not) scales its updates and
  leaves its state's meaning unchanged, so a restored optimiser state goes on
  with the lowered rate.
  """
  if scale == 1.0:
    return config
  config = config.copy_and_resolve_references()
  for player in ("generator", "discriminator"):
    config.optimizer[player].learning_rate = (
        config.optimizer[player].learning_rate * scale)
  return config


class Experiment:
  """Models, data, step, noise and evaluation of one validated config.

  Attributes:
    config: the (resolved, validated) config.
    data_shape: one example's shape, e.g. (2,) or (28, 28, 1).
    is_toy: toy data (sampled on device) rather than images.
    distribution: the toy p_data (None for images).
    dataset: the train images [N, H, W, C] uint8 (None: toy data, or not
      loaded; several processes each read only their devices' rows).
    labels: the train labels int32 [N] of a conditional model's image data
      set (None otherwise, or not loaded).
    num_classes: config.model.num_classes (0: unconditional), checked
      against the data's classes (the toy mixtures': their modes).
    label_probs: the classes' frequencies in the training data [C] (the
      fakes' labels are drawn from them); None when unconditional.
    models: G and D (`gan_jax.step.Models`).
  """

  def __init__(self, config: ml_collections.ConfigDict, *,
               load_data: bool = True,
               compiler_options: Optional[dict[str, Any]] = None):
    self.config = config
    self.compiler_options = compiler_options
    self.data_shape = data_lib.data_shape(config.data)
    self.is_toy = data_lib.is_toy(config.data)
    self.distribution = (data_lib.make_toy_distribution(config.data)
                         if self.is_toy else None)
    self.dataset = self.labels = None
    if load_data and not self.is_toy:
      self.dataset = data_lib.load_images(config.data, split="train")
    self.num_classes = int(config.model.get("num_classes", 0) or 0)
    # Read (and checked against the data) now when the data is loaded here;
    # else when the step is built (sampling a saved run needs no data).
    self._label_probs = None
    self._pipeline = None  # config.data.pipeline resolved (`pipeline`)
    if load_data and self.num_classes:
      self._label_probs = self._read_label_probs(load_data)
    self._image_evaluator = None
    self._extractor_accuracy = None
    generator, discriminator = model_lib.make_models(
        config.model, self.data_shape, axis_name=step_lib.AXIS)
    self.models = step_lib.Models(generator, discriminator)
    self.real_sampler = step_lib.make_real_sampler(
        config.data, labels=self.num_classes > 0)
    generate = lambda params, batch_stats, z, labels: step_lib.generate(
        generator, params, batch_stats, z, labels)
    self._generate = jax.jit(generate, compiler_options=compiler_options)
    # G without the mapped axis: its training-mode BatchNorm runs on the host.
    plain_generator = model_lib.make_models(config.model, self.data_shape)[0]
    statistics = lambda params, batch_stats, z, labels: (
        step_lib.batch_norm_statistics(plain_generator, params, batch_stats, z,
                                       labels))
    self._batch_norm_statistics = jax.jit(statistics,
                                          compiler_options=compiler_options)
    self._standing_stats = (None, None)  # (step, batch_stats)
    self.metrics = evaluators_lib.chosen_metrics(config)
    self.evaluators = evaluators_lib.make_evaluators(config, self)
    self._conditional_evaluators = tuple(
        bool(registry.EVALUATORS.get(name).info.get("conditional"))
        for name in self.metrics)
    self._image_results = (None, None)  # (samples, results)

  # --------------------------------------------------------------------------
  # Classes of a conditional model.
  # --------------------------------------------------------------------------

  def _data_num_classes(self) -> int:
    """The data's classes: the toy mixture's modes, the images' labels."""
    if self.is_toy:
      return int(getattr(self.distribution, "num_modes", 0) or 0)
    return int(data_lib.num_classes(self.config.data))

  @property
  def label_probs(self) -> Optional[np.ndarray]:
    """The classes' frequencies in the training data [C] (the fakes' labels
    are drawn from them); None when unconditional."""
    if self.num_classes and self._label_probs is None:
      self._label_probs = self._read_label_probs(False)
    return self._label_probs

  def _read_label_probs(self, load_data: bool) -> np.ndarray:
    """The classes' frequencies in the training data, checked against
    config.model.num_classes (a data.DataError when they disagree)."""
    data_config = self.config.data
    found = self._data_num_classes()
    if found == 0:
      raise data_lib.DataError(
          f"config.model.num_classes = {self.num_classes} asks for a "
          f"class-conditional model, but {self._describe_data()} has no "
          "labels; set config.model.num_classes = 0, or use labelled data "
          "(an image folder with one sub-folder per class, .npz with "
          "'labels', or a labelled IDX/TFDS data set)")
    if found != self.num_classes:
      raise data_lib.DataError(
          f"config.model.num_classes = {self.num_classes}, but "
          f"{self._describe_data()} has {found} classes; set "
          f"config.model.num_classes = {found}")
    if self.is_toy:
      weights = np.asarray(self.distribution.weights, np.float64)
      return (weights / weights.sum()).astype(np.float32)
    labels = data_lib.load_labels(data_config, "train")
    if load_data:
      self.labels = labels
    counts = np.bincount(np.asarray(labels).reshape(-1),
                         minlength=self.num_classes).astype(np.float64)
    return (counts / counts.sum()).astype(np.float32)

  def _describe_data(self) -> str:
    name = self.config.data.name
    if self.is_toy:
      return f"the toy data set {name!r}"
    return f"config.data.name = {name!r} ({data_lib.describe_source(self.config.data)})"

  def class_labels(self, n: int) -> Optional[np.ndarray]:
    """Labels i mod C for n samples (every class equally often); None when
    unconditional. The grids' and evaluations' classes."""
    if not self.num_classes:
      return None
    return (np.arange(n) % self.num_classes).astype(np.int32)

  # --------------------------------------------------------------------------
  # The state and the step.
  # --------------------------------------------------------------------------

  def initial_state(self) -> step_lib.TrainState:
    """The state a run starts from (seed `config.seed`), on the host."""
    return jax.device_get(step_lib.init_state(
        self.config, self.models, self.data_shape,
        compiler_options=self.compiler_options))

  def abstract_state(self) -> step_lib.TrainState:
    """A host state of zeros with the right structure (restore target)."""
    shapes = jax.eval_shape(lambda: step_lib.init_state(
        self.config, self.models, self.data_shape))
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)

  def parallel_step(self, devices: Sequence[jax.Device], *,
                    lr_scale: float = 1.0) -> step_lib.DataParallel:
    """The device-mapped update of Algorithm 1 (learning rates x lr_scale)."""
    streamed = self.pipeline(devices) == "host"
    sampler = (step_lib.make_streamed_sampler(
        labels=self.num_classes > 0,
        pixel_range=data_lib.pixel_range(self.config.data))
               if streamed else self.real_sampler)
    update = step_lib.make_update(
        scale_learning_rates(self.config, lr_scale), self.models,
        sampler, num_devices=len(devices), label_probs=self.label_probs)
    return step_lib.DataParallel(update, devices,
                                 compiler_options=self.compiler_options,
                                 streamed=streamed)

  def pipeline(self, devices: Sequence[jax.Device] = ()) -> str:
    """Where the real batches come from: 'device' or 'host' (a streamed
    `data.pipeline.Stream`), config.data.pipeline resolved on first use
    (and logged).

    Raises:
      ConfigError: 'host' for toy data.
    """
    if self._pipeline is not None:
      return self._pipeline
    devices = tuple(devices) or tuple(jax.devices())
    train_bytes = None
    if not self.is_toy:
      train_bytes = (self.dataset.nbytes if self.dataset is not None else
                     data_lib.num_examples(self.config.data, "train") *
                     int(np.prod(self.data_shape)))
    mode, why = pipeline_lib.resolve(self.config.data,
                                     train_bytes=train_bytes, devices=devices)
    logging.info("Real batches %s (%s)", "streamed from the host"
                 if mode == "host" else "drawn on the devices", why)
    self._pipeline = mode
    return mode

  def place_dataset(self, parallel: step_lib.DataParallel, *,
                    position: int = 0):
    """Images sharded over the devices (None for toy data), see place_images;
    a `data.pipeline.Stream` at iteration `position` when streamed.

    One process: from the data set loaded here; several: each process reads
    only its devices' rows from disk (streamed: all of them, as needed). A
    conditional model's data is a dict of the images and their labels,
    sharded alike.
    """
    if self.is_toy:
      return None
    if parallel.streamed:
      return self.stream(position)
    data_config = self.config.data
    source = data_lib.describe_source(data_config)
    if self.dataset is not None:
      images = self.dataset
      placed = parallel.place_images(images.shape[0],
                                     lambda a, b: images[a:b], source=source)
    else:
      placed = parallel.place_images(
          data_lib.num_examples(data_config, "train"),
          lambda a, b: data_lib.load_images(data_config, "train", start=a,
                                            stop=b),
          source=source)
    if not self.num_classes:
      return placed
    labels = self.labels
    if labels is None:
      labels = data_lib.load_labels(data_config, "train")
    return dict(images=placed, labels=parallel.place_images(
        labels.shape[0], lambda a, b: np.asarray(labels[a:b], np.int32),
        source=source))

  def stream(self, position: int = 0) -> pipeline_lib.Stream:
    """The train split streamed from the host from iteration `position`."""
    data_config = self.config.data
    images = (self.dataset if self.dataset is not None else
              data_lib.load_images(data_config, "train"))
    labels = None
    if self.num_classes:
      labels = (self.labels if self.labels is not None else
                data_lib.load_labels(data_config, "train"))
    return pipeline_lib.Stream(
        images, labels, batch_size=int(self.config.train.batch_size),
        draws=step_lib.real_draws(self.config), seed=int(self.config.seed),
        mirror=bool(data_lib.common.field(data_config, "mirror", False)),
        position=position)

  # --------------------------------------------------------------------------
  # Noise and samples.
  # --------------------------------------------------------------------------

  @property
  def pixel_range(self) -> str:
    """config.data.pixel_range: G's images are in [-1, 1] or [0, 1]."""
    return data_lib.pixel_range(self.config.data)

  def to_unit_range(self, samples) -> np.ndarray:
    """G's images in its pixel range -> numpy float32 in [0, 1]."""
    return data_lib.from_model_range(samples, self.pixel_range)

  def noise(self, key: jax.Array, n: int) -> np.ndarray:
    """z ~ p_z (config.model.latent_distribution), [n, latent_dim]."""
    return np.asarray(step_lib.draw_latent(
        key, (n, self.config.model.latent_dim),
        self.config.model.get("latent_distribution", "normal")))

  def grid_noise(self) -> np.ndarray:
    """The sample grids' z: the same at every grid of a run.

    As many as config.eval.num_sample_images; a conditional model's image
    grid rounds it up to whole rows, one per class (`grid_labels`).
    """
    key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed),
                             _SAMPLE_GRID_STREAM)
    labels = self.grid_labels()
    return self.noise(key, self.config.eval.num_sample_images
                      if labels is None else len(labels))

  def eval_noise(self) -> np.ndarray:
    """The evaluation's z: the same at every evaluation of a run."""
    key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed),
                             _EVAL_STREAM)
    return self.noise(key, self.num_eval_samples)

  def sampling_batch_stats(self, state: step_lib.TrainState):
    """G's BatchNorm statistics for sampling.

    With an EMA of G's weights these are the EMA generator's own standing
    statistics (`step.batch_norm_statistics` averaged over
    STANDING_STATS_BATCHES batches of train.batch_size, with noise fixed by
    the seed); they are computed once per step. Otherwise, and for a G
    without BatchNorm, they are the state's running averages.
    """
    if state.ema_g_params is None or not state.g_batch_stats:
      return state.g_batch_stats
    step = int(state.step)
    if self._standing_stats[0] != step:
      key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed),
                               STANDING_STATS_STREAM)
      batch = int(self.config.train.batch_size)
      batches = [self._batch_norm_statistics(
          state.ema_g_params, state.g_batch_stats,
          self.noise(jax.random.fold_in(key, b), batch),
          self.class_labels(batch))
                 for b in range(STANDING_STATS_BATCHES)]
      mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *batches)
      self._standing_stats = (step, mean)
    return self._standing_stats[1]

  def generate(self, state: step_lib.TrainState, z: np.ndarray,
               labels: Optional[np.ndarray] = None) -> np.ndarray:
    """G(z[, labels]) on the host, in chunks of fixed size.

    With an EMA, G has the EMA weights and their own BatchNorm statistics
    (`sampling_batch_stats`). `labels` (int32 [n] in [0, num_classes)): the
    classes a conditional G draws; None: `class_labels(n)`, every class
    equally often.
    """
    if self.num_classes:
      labels = self.check_labels(self.class_labels(z.shape[0])
                                 if labels is None else labels, z.shape[0])
    elif labels is not None:
      raise ValueError("labels were given, but the model is unconditional "
                       "(config.model.num_classes = 0)")
    params = (state.ema_g_params
              if state.ema_g_params is not None else state.g_params)
    batch_stats = self.sampling_batch_stats(state)
    n = z.shape[0]
    chunk = min(n, _GENERATE_CHUNK)
    outputs = []
    pad_to = lambda a, pad: np.concatenate(
        [a, np.zeros((pad,) + a.shape[1:], a.dtype)]) if pad else a
    for start in range(0, n, chunk):
      part = z[start:start + chunk]
      pad = chunk - part.shape[0]  # keep one compiled shape
      part_labels = (None if labels is None else
                     pad_to(labels[start:start + chunk], pad))
      out = np.asarray(self._generate(params, batch_stats, pad_to(part, pad),
                                      part_labels))
      outputs.append(out[:chunk - pad])
    return np.concatenate(outputs)

  def check_labels(self, labels, n: int) -> np.ndarray:
    """`labels` as int32 [n], each in [0, num_classes); else a ValueError."""
    labels = np.asarray(labels)
    if labels.ndim == 0:
      labels = np.full((n,), labels)
    if (labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer)
        or (labels.size and (labels.min() < 0 or
                             labels.max() >= self.num_classes))):
      raise ValueError(
          f"labels must be {n} integers in [0, {self.num_classes}) "
          f"(config.model.num_classes), got shape {labels.shape}, dtype "
          f"{labels.dtype}")
    return labels.astype(np.int32)

  @property
  def grid_columns(self) -> Optional[int]:
    """Columns of a conditional model's sample grids (one row per class)."""
    if not self.num_classes or self.is_toy:
      return None
    return max(1, -(-int(self.config.eval.num_sample_images) //
                    self.num_classes))

  def grid_labels(self) -> Optional[np.ndarray]:
    """The grids' classes: row c holds class c (None: unconditional)."""
    if not self.num_classes:
      return None
    if self.is_toy:
      return self.class_labels(int(self.config.eval.num_sample_images))
    return np.repeat(np.arange(self.num_classes, dtype=np.int32),
                     self.grid_columns)

  def grid_sample_labels(self, n: int) -> Optional[np.ndarray]:
    """The classes of `grid_samples`' n samples (None: unconditional)."""
    if not self.num_classes:
      return None
    if self.is_toy:
      return self.class_labels(n)
    return np.repeat(np.arange(self.num_classes, dtype=np.int32),
                     self.grid_columns)[:n]

  def grid_samples(self, eval_samples: np.ndarray) -> np.ndarray:
    """The final grid: the evaluation's samples (images: the first few).

    A conditional model's: for each class c in turn, the first samples the
    evaluation drew for class c (its labels are i mod C), so that row c of
    the grid holds class c.
    """
    if self.is_toy:
      return eval_samples
    if self.num_classes:
      columns = self.grid_columns
      index = (np.arange(self.num_classes)[:, None] +
               self.num_classes * np.arange(columns)[None, :]).reshape(-1)
      return eval_samples[index[index < len(eval_samples)]]
    return eval_samples[:self.config.eval.num_sample_images]

  # --------------------------------------------------------------------------
  # Evaluation.
  # --------------------------------------------------------------------------

  @property
  def num_eval_samples(self) -> int:
    """Samples the evaluation draws (config.eval.{image_,}num_samples)."""
    if self.is_toy:
      return int(self.config.eval.num_samples)
    return int(self.config.eval.image_num_samples)

  @property
  def evaluates_images(self) -> bool:
    """Whether a built-in image metric is chosen (`image_results`)."""
    return not self.is_toy and bool(self._uses_parzen or self._uses_features)

  @property
  def _uses_parzen(self) -> bool:
    return "parzen" in self.metrics

  @property
  def _uses_features(self) -> bool:
    return bool(set(evaluation.FEATURE_METRICS + ("stacked_modes",)) &
                set(self.metrics))

  def _floor_cache_key(self, real) -> str:
    """Tells cached real-data floors of other data or settings apart."""
    data_config, eval_config = self.config.data, self.config.eval
    return json.dumps(dict(
        version=_FLOORS_VERSION,
        data=[data_config.name, data_config.source, data_config.data_dir,
              data_config.tfds_name, data_config.image_size],
        train=int(real.train.shape[0]),
        validation=int(real.validation.shape[0]),
        test=int(real.test.shape[0]), parzen=self._uses_parzen,
        sigmas=list(evaluation.PARZEN_SIGMAS),
        k=evaluation.PRECISION_RECALL_K,
        kid=[evaluation.KID_NUM_SUBSETS, evaluation.KID_SUBSET_SIZE]),
                      sort_keys=True)

  def image_evaluator(self) -> Optional[evaluation.ImageEvaluator]:
    """The image metrics (built on first use: data, extractor, floors)."""
    if not self.evaluates_images:
      return None
    if self._image_evaluator is None and data_lib.is_stacked(self.config.data):
      # Stacked MNIST: the mode count in place of FID and P/R.
      self._image_evaluator, self._extractor_accuracy = (
          stacked_modes.make_evaluator(self.config, self.dataset,
                                       parzen=self._uses_parzen,
                                       features=self._uses_features))
    if self._image_evaluator is None:
      eval_config = self.config.eval
      real = evaluation.load_real_images(
          self.config.data, num_samples=eval_config.image_num_samples,
          num_validation=eval_config.parzen_validation,
          train_images=self.dataset)
      extractor, floor_cache = None, None
      if self._uses_features:
        extractor = feature_extractor.load_or_train(
            self.config.data, cache_dir=eval_config.feature_extractor_dir,
            steps=eval_config.feature_extractor_steps)
        if extractor.path:
          floor_cache = os.path.join(extractor.path, "real_floors.json")
      self._image_evaluator = evaluation.ImageEvaluator(
          real, feature_fn=extractor, floor_cache_path=floor_cache,
          floor_cache_key=self._floor_cache_key(real),
          metrics=tuple(m for m in self.metrics
                        if m in evaluation.IMAGE_METRIC_KEYS))
      self._extractor_accuracy = (extractor.test_accuracy if extractor
                                  else None)
    return self._image_evaluator

  def image_results(self, samples: np.ndarray) -> dict:
    """The built-in image metrics of `samples`, computed once per samples.

    Every image evaluator (`gan_jax.evaluation.evaluators`) reports its part.
    """
    if self._image_results[0] is not samples:
      evaluator = self.image_evaluator()
      results = (evaluator(self.to_unit_range(samples))
                 if evaluator is not None else {})
      if self._extractor_accuracy is not None:
        results["feature_extractor_test_accuracy"] = self._extractor_accuracy
      self._image_results = (samples, results)
    return self._image_results[1]

  def evaluate(self, samples: np.ndarray,
               labels: Optional[np.ndarray] = None) -> dict:
    """The chosen evaluators' results, merged (flat dict).

    Args:
      samples: generator output in the model's range (images in [-1, 1]).
      labels: the classes a conditional G drew them for (None:
        `class_labels(n)`, as `generate` draws by default); the conditional
        evaluators (registered with conditional=True) are called with them.
    """
    start = time.time()
    if labels is None:
      labels = self.class_labels(len(samples))
    results = {}
    for evaluator, conditional in zip(self.evaluators,
                                      self._conditional_evaluators):
      results.update(evaluator(samples, labels) if conditional else
                     evaluator(samples))
    self._image_results = (None, None)
    if not self.is_toy:
      results["eval_time_sec"] = time.time() - start
    return results

  def headline(self, results: dict) -> str:
    """The evaluation in a few words: the chosen evaluators' headlines."""
    return evaluators_lib.headline(self.evaluators, results)


def format_results(results: dict) -> str:
  return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in results.items())
