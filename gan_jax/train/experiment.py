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
    self.dataset = None
    if load_data and not self.is_toy:
      self.dataset = data_lib.load_images(config.data, split="train")
    self._image_evaluator = None
    self._extractor_accuracy = None
    generator, discriminator = model_lib.make_models(
        config.model, self.data_shape, axis_name=step_lib.AXIS)
    self.models = step_lib.Models(generator, discriminator)
    self.real_sampler = step_lib.make_real_sampler(config.data)
    generate = lambda params, batch_stats, z: step_lib.generate(
        generator, params, batch_stats, z)
    self._generate = jax.jit(generate, compiler_options=compiler_options)
    # G without the mapped axis: its training-mode BatchNorm runs on the host.
    plain_generator = model_lib.make_models(config.model, self.data_shape)[0]
    statistics = lambda params, batch_stats, z: step_lib.batch_norm_statistics(
        plain_generator, params, batch_stats, z)
    self._batch_norm_statistics = jax.jit(statistics,
                                          compiler_options=compiler_options)
    self._standing_stats = (None, None)  # (step, batch_stats)
    self.metrics = evaluators_lib.chosen_metrics(config)
    self.evaluators = evaluators_lib.make_evaluators(config, self)
    self._image_results = (None, None)  # (samples, results)

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
        labels=self.config.model.get("num_classes", 0) > 0)
               if streamed else self.real_sampler)
    update = step_lib.make_update(
        scale_learning_rates(self.config, lr_scale), self.models,
        sampler, num_devices=len(devices))
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
    if getattr(self, "_pipeline", None) is not None:
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
    self._pipeline = mode  # pylint: disable=attribute-defined-outside-init
    return mode

  def place_dataset(self, parallel: step_lib.DataParallel, *,
                    position: int = 0):
    """Images sharded over the devices (None for toy data), see place_images;
    a `data.pipeline.Stream` at iteration `position` when streamed.

    One process: from the data set loaded here; several: each process reads
    only its devices' rows from disk (streamed: all of them, as needed).
    """
    if self.is_toy:
      return None
    if parallel.streamed:
      return self.stream(position)
    data_config = self.config.data
    source = data_lib.describe_source(data_config)
    if self.dataset is not None:
      images = self.dataset
      return parallel.place_images(images.shape[0], lambda a, b: images[a:b],
                                   source=source)
    return parallel.place_images(
        data_lib.num_examples(data_config, "train"),
        lambda a, b: data_lib.load_images(data_config, "train", start=a,
                                          stop=b),
        source=source)

  def stream(self, position: int = 0) -> pipeline_lib.Stream:
    """The train split streamed from the host from iteration `position`."""
    data_config = self.config.data
    images = (self.dataset if self.dataset is not None else
              data_lib.load_images(data_config, "train"))
    labels = (data_lib.load_labels(data_config, "train")
              if self.config.model.get("num_classes", 0) > 0 else None)
    return pipeline_lib.Stream(
        images, labels, batch_size=int(self.config.train.batch_size),
        draws=step_lib.real_draws(self.config), seed=int(self.config.seed),
        mirror=bool(data_lib.common.field(data_config, "mirror", False)),
        position=position)

  # --------------------------------------------------------------------------
  # Noise and samples.
  # --------------------------------------------------------------------------

  def noise(self, key: jax.Array, n: int) -> np.ndarray:
    return np.asarray(jax.random.normal(
        key, (n, self.config.model.latent_dim), jnp.float32))

  def grid_noise(self) -> np.ndarray:
    """The sample grids' z: the same at every grid of a run."""
    key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed),
                             _SAMPLE_GRID_STREAM)
    return self.noise(key, self.config.eval.num_sample_images)

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
      batches = [self._batch_norm_statistics(
          state.ema_g_params, state.g_batch_stats,
          self.noise(jax.random.fold_in(key, b),
                     int(self.config.train.batch_size)))
                 for b in range(STANDING_STATS_BATCHES)]
      mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *batches)
      self._standing_stats = (step, mean)
    return self._standing_stats[1]

  def generate(self, state: step_lib.TrainState, z: np.ndarray) -> np.ndarray:
    """G(z) on the host, in chunks of fixed size.

    With an EMA, G has the EMA weights and their own BatchNorm statistics
    (`sampling_batch_stats`).
    """
    params = (state.ema_g_params
              if state.ema_g_params is not None else state.g_params)
    batch_stats = self.sampling_batch_stats(state)
    n = z.shape[0]
    chunk = min(n, _GENERATE_CHUNK)
    outputs = []
    for start in range(0, n, chunk):
      part = z[start:start + chunk]
      pad = chunk - part.shape[0]
      if pad:  # keep one compiled shape
        part = np.concatenate([part, np.zeros((pad,) + part.shape[1:],
                                              part.dtype)])
      out = np.asarray(self._generate(params, batch_stats, part))
      outputs.append(out[:chunk - pad])
    return np.concatenate(outputs)

  def grid_samples(self, eval_samples: np.ndarray) -> np.ndarray:
    """The final grid: the evaluation's samples (images: the first few)."""
    if self.is_toy:
      return eval_samples
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
      results = (evaluator(data_lib.from_model_range(samples))
                 if evaluator is not None else {})
      if self._extractor_accuracy is not None:
        results["feature_extractor_test_accuracy"] = self._extractor_accuracy
      self._image_results = (samples, results)
    return self._image_results[1]

  def evaluate(self, samples: np.ndarray) -> dict:
    """The chosen evaluators' results, merged (flat dict).

    Args:
      samples: generator output in the model's range (images in [-1, 1]).
    """
    start = time.time()
    results = {}
    for evaluator in self.evaluators:
      results.update(evaluator(samples))
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
