"""The training loop: `train_and_evaluate(config, workdir)` and `sample(workdir, n)`.

A run's workdir holds

  config.json        the resolved config (a resumed run must match it)
  metrics.jsonl      one JSON object per log step
  eval.jsonl         one JSON object per evaluation (every config.eval.every
                     steps and at the end): toy mode/JSD metrics, or the
                     image metrics of `gan_jax.evaluation.ImageEvaluator`
  tensorboard/       TensorBoard event files (tensorboardX)
  checkpoints/       orbax checkpoints (the latest few)
  samples/           step_XXXXXXXX.png: an image grid, a 2D scatter over the
                     mode centres, or a 1D histogram against p_data
  summary.json       final metrics, evaluation, timings

Image runs are scored (`evaluate_workdir` scores a finished run again) with
the Parzen-window log-likelihood of Goodfellow et al. 2014 and, in the
feature space of the bundled classifier (`gan_jax.feature_extractor`,
trained and cached on first use), FID and precision/recall; next to each
model value the summary holds the real-data value (`real_*`) as the floor.

Logged metrics are the means over the iterations since the previous log step
(each iteration's D metrics are those of its last discriminator sub-step; see
`gan_jax.step`).

Reliability:

  Determinism   every field of metrics.jsonl but the wall-clock ones
                (`TIMING_FIELDS`) and the final parameters are a function of
                the config and its seed: two runs give the same bits on CPU,
                and so does a run interrupted and resumed at any step, with
                any train.steps_per_call (random draws are keyed by the step;
                the metrics not yet logged at a checkpoint are saved with it).
  Divergence    a NaN or infinite metric, parameter, EMA, BatchNorm or
                optimiser value is found at the next log step or checkpoint
                at the latest. No non-finite state is ever checkpointed.
                train.on_divergence = 'stop' raises `DivergenceError` naming
                the first bad step, the metric and the last good checkpoint
                (kept untouched); 'restore' restores that checkpoint (or the
                initial state), multiplies both learning rates by
                train.divergence_lr_factor, logs it, records it in
                summary.json's "divergence" and in later checkpoints (a
                resumed run keeps the lowered rates), and stops after
                train.max_divergence_restores restores.
  Preemption    SIGTERM or SIGINT (a second SIGINT interrupts at once) ends
                the current compiled call, saves a checkpoint at that step,
                waits for it to be written and raises `Preempted`; running
                the same command again resumes (launch.py exits 128 + the
                signal number: 143 for SIGTERM, 130 for SIGINT).
  Checkpoints   atomic and verified (`gan_jax.checkpointing`): a damaged
                latest checkpoint is reported, moved to checkpoints_damaged/
                and the previous one used; if none restores, `WorkdirError`.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from typing import Any, NamedTuple, Optional, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import distributed
from gan_jax import evaluation
from gan_jax import feature_extractor
from gan_jax import models as model_lib
from gan_jax import step as step_lib

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = checkpointing.CHECKPOINT_DIR
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
MAX_CHECKPOINTS = checkpointing.MAX_CHECKPOINTS
# The metrics.jsonl fields that measure wall-clock time; every other field is
# reproducible bit for bit.
TIMING_FIELDS = ("steps_per_sec", "elapsed_sec")

# Streams folded into PRNGKey(seed) for noise that is not training noise
# (training keys come from jax.random.split(PRNGKey(seed), 3)[2]).
_SAMPLE_GRID_STREAM = 1_000_000_001
_EVAL_STREAM = 1_000_000_002
_GENERATE_CHUNK = 1024


class WorkdirError(ValueError):
  """The workdir holds a different run, or no checkpoint to sample from."""


class DivergenceError(RuntimeError):
  """A loss, metric or parameter became NaN or infinite.

  Attributes:
    step: the first step found with a non-finite value.
    metric: the metric's name (`gan_jax.step.METRIC_NAMES`), or the state
      part ('g_params', 'd_opt_state', ...) holding one.
    value: the value (NaN or +-inf; NaN for a state part).
    checkpoint: folder of the last good checkpoint (None: none was saved).
  """

  def __init__(self, message: str, *, step: int, metric: str, value: float,
               checkpoint: Optional[str]):
    super().__init__(message)
    self.step = step
    self.metric = metric
    self.value = value
    self.checkpoint = checkpoint


class Preempted(Exception):
  """SIGTERM / SIGINT stopped training after saving a checkpoint.

  Attributes:
    signum: the signal's number (launch.py exits with 128 + signum).
    step: the step the checkpoint holds; the same command resumes from it.
    checkpoint: its folder.
  """

  def __init__(self, message: str, *, signum: int, step: int,
               checkpoint: str):
    super().__init__(message)
    self.signum = signum
    self.step = step
    self.checkpoint = checkpoint


# ----------------------------------------------------------------------------
# Config files in the workdir.
# ----------------------------------------------------------------------------


def _merge(target: ml_collections.ConfigDict, values: dict, path: str) -> None:
  for key, value in values.items():
    if key not in target:
      raise WorkdirError(f"{path}: field {key!r} is not in this version's "
                         f"config schema")
    if isinstance(target[key], ml_collections.ConfigDict):
      _merge(target[key], value, path)
    else:
      target[key] = value  # type-checked; JSON lists become tuples again


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config that a run saved in `workdir`."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise WorkdirError(f"{workdir} holds no run ({path} not found)")
  with open(path) as f:
    values = json.load(f)
  config = config_lib.default_config()
  _merge(config, values, path)
  return config


def _save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  path = os.path.join(workdir, CONFIG_FILE)
  with open(path + ".tmp", "w") as f:
    f.write(config.to_json(indent=2, sort_keys=True))
  os.replace(path + ".tmp", path)


def _check_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses to touch a workdir whose run was made with a different config."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.isfile(path):
    saved = load_config(workdir)
    changed = config_lib.changed_fields(saved, config)
    blocking = [f for f in changed
                if not (config_lib.is_resumable_change(f, saved) and
                        config_lib.is_resumable_change(f, config))]
    if blocking:
      details = ", ".join(
          f"config.{f}: {_get_dotted(saved, f)!r} -> "
          f"{_get_dotted(config, f)!r}" for f in blocking)
      raise WorkdirError(
          f"workdir {workdir} holds a run made with a different config "
          f"({details}); resuming would mix two experiments. Use a new "
          f"--workdir, or change only fields that may differ on resume "
          f"({', '.join(config_lib.RESUMABLE_FIELDS)}).")
    if changed:
      logging.info("Resuming %s with changed fields: %s", workdir,
                   ", ".join(changed))
  elif os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
    raise WorkdirError(f"workdir {workdir} has checkpoints but no "
                       f"{CONFIG_FILE}; refusing to resume or overwrite it")


def _get_dotted(config, field: str):
  value = config
  for part in field.split("."):
    try:
      value = value[part]
    except (KeyError, AttributeError):
      return None
  return value


# ----------------------------------------------------------------------------
# Building a run.
# ----------------------------------------------------------------------------


class _Experiment:
  """Models, data and the toy p_data (if any) for one config."""

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
    generate = lambda params, batch_stats, z: step_lib.generate(
        generator, params, batch_stats, z)
    self._generate = jax.jit(generate, compiler_options=compiler_options)

  def abstract_state(self) -> step_lib.TrainState:
    """A host state of zeros with the right structure (restore target)."""
    shapes = jax.eval_shape(
        lambda: step_lib.init_state(self.config, self.models, self.data_shape))
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)

  def generate(self, state: step_lib.TrainState, z: np.ndarray) -> np.ndarray:
    """G(z) (EMA weights when on) on the host, in chunks of fixed size."""
    params = (state.ema_g_params
              if state.ema_g_params is not None else state.g_params)
    n = z.shape[0]
    chunk = min(n, _GENERATE_CHUNK)
    outputs = []
    for start in range(0, n, chunk):
      part = z[start:start + chunk]
      pad = chunk - part.shape[0]
      if pad:  # keep one compiled shape
        part = np.concatenate([part, np.zeros((pad,) + part.shape[1:],
                                              part.dtype)])
      out = np.asarray(self._generate(params, state.g_batch_stats, part))
      outputs.append(out[:chunk - pad])
    return np.concatenate(outputs)

  def noise(self, key: jax.Array, n: int) -> np.ndarray:
    return np.asarray(
        jax.random.normal(key, (n, self.config.model.latent_dim), jnp.float32))

  @property
  def num_eval_samples(self) -> int:
    """Samples the evaluation draws (config.eval.{image_,}num_samples)."""
    if self.is_toy:
      return int(self.config.eval.num_samples)
    return int(self.config.eval.image_num_samples)

  @property
  def evaluates_images(self) -> bool:
    return not self.is_toy and bool(self.config.eval.parzen or
                                    self.config.eval.features)

  def image_evaluator(self) -> Optional[evaluation.ImageEvaluator]:
    """The image metrics (built on first use: data, extractor, floors)."""
    if not self.evaluates_images:
      return None
    if self._image_evaluator is None:
      eval_config = self.config.eval
      real = evaluation.load_real_images(
          self.config.data, num_samples=eval_config.image_num_samples,
          num_validation=eval_config.parzen_validation,
          train_images=self.dataset)
      extractor = None
      floor_cache = None
      if eval_config.features:
        extractor = feature_extractor.load_or_train(
            self.config.data, cache_dir=eval_config.feature_extractor_dir,
            steps=eval_config.feature_extractor_steps)
        if extractor.path:
          floor_cache = os.path.join(extractor.path, "real_floors.json")
      # The floors depend on the data, the real splits and the metric
      # settings; this key tells cached values of other settings apart.
      data_config = self.config.data
      key = json.dumps(dict(
          data=[data_config.name, data_config.source, data_config.data_dir,
                data_config.tfds_name, data_config.image_size],
          train=int(real.train.shape[0]),
          validation=int(real.validation.shape[0]),
          test=int(real.test.shape[0]), parzen=bool(eval_config.parzen),
          sigmas=list(evaluation.PARZEN_SIGMAS),
          k=evaluation.PRECISION_RECALL_K), sort_keys=True)
      self._image_evaluator = evaluation.ImageEvaluator(
          real, feature_fn=extractor, parzen=bool(eval_config.parzen),
          floor_cache_path=floor_cache, floor_cache_key=key)
      self._extractor_accuracy = (extractor.test_accuracy if extractor
                                  else None)
    return self._image_evaluator

  def evaluate(self, samples: np.ndarray) -> dict:
    """Toy metrics, or image metrics with real-data floors (flat dict).

    Args:
      samples: generator output in the model's range (images in [-1, 1]).
    """
    if not self.is_toy:
      evaluator = self.image_evaluator()
      if evaluator is None:
        return {}
      start = time.time()
      results = evaluator(data_lib.from_model_range(samples))
      if self._extractor_accuracy is not None:
        results["feature_extractor_test_accuracy"] = self._extractor_accuracy
      results["eval_time_sec"] = time.time() - start
      return results
    dist = self.distribution
    if samples.shape[-1] == 2:
      return evaluation.evaluate_modes(samples, np.asarray(dist.means),
                                       np.asarray(dist.stds))
    mean = float(np.asarray(dist.means).reshape(-1)[0])
    std = float(np.asarray(dist.stds).reshape(-1)[0])
    finite = samples[np.isfinite(samples)]
    low = min(mean - 8 * std, float(finite.min()) if finite.size else mean)
    high = max(mean + 8 * std, float(finite.max()) if finite.size else mean)
    log_prob = lambda x: np.asarray(dist.log_prob(jnp.asarray(x, jnp.float32)))
    return evaluation.jsd_1d(samples, log_prob, low=low, high=high)


def _place_dataset(experiment: _Experiment, parallel: step_lib.DataParallel):
  """Images sharded over the devices (None for toy data), see place_images.

  One process: from the data set `experiment` loaded; several: each process
  reads only its devices' rows from disk.
  """
  if experiment.is_toy:
    return None
  data_config = experiment.config.data
  source = data_lib.describe_source(data_config)
  if experiment.dataset is not None:
    images = experiment.dataset
    return parallel.place_images(images.shape[0], lambda a, b: images[a:b],
                                 source=source)
  return parallel.place_images(
      data_lib.num_examples(data_config, "train"),
      lambda a, b: data_lib.load_images(data_config, "train", start=a, stop=b),
      source=source)


# ----------------------------------------------------------------------------
# Plots (matplotlib without pyplot: no global backend state).
# ----------------------------------------------------------------------------


def _new_figure(size=(5, 5)):
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=size)
  FigureCanvasAgg(fig)
  return fig


def image_grid(images: np.ndarray) -> np.ndarray:
  """[n, H, W, C] in [0, 1] -> one [rows*H, cols*W, C] image, 1-pixel gaps."""
  n, h, w, c = images.shape
  cols = int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), np.float32)
  for i, image in enumerate(images):
    r, q = divmod(i, cols)
    grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = image
  return grid


def _plot_samples(experiment: _Experiment, samples: np.ndarray, step: int,
                  path: str, note: str = ""):
  """Writes the sample figure to `path`; returns the matplotlib Figure."""
  title = f"step {step}" + (f" | {note}" if note else "")
  if not experiment.is_toy:
    images = data_lib.from_model_range(samples)
    grid = image_grid(images)
    fig = _new_figure((6, 6 * grid.shape[0] / grid.shape[1]))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray",
              vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
  elif samples.shape[-1] == 2:
    means = np.asarray(experiment.distribution.means)
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.4, label="G(z)")
    ax.scatter(means[:, 0], means[:, 1], marker="x", c="red", s=40,
               label="mode centres")
    span = np.abs(means).max() * 1.5 + 1e-3
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title, fontsize=9)
  else:
    dist = experiment.distribution
    mean = float(np.asarray(dist.means).reshape(-1)[0])
    std = float(np.asarray(dist.stds).reshape(-1)[0])
    xs = np.linspace(mean - 5 * std, mean + 5 * std, 400)
    density = np.exp(np.asarray(dist.log_prob(jnp.asarray(xs[:, None],
                                                          jnp.float32))))
    fig = _new_figure((6, 4))
    ax = fig.add_subplot()
    finite = samples[np.isfinite(samples)].reshape(-1)
    lo = min(xs[0], finite.min()) if finite.size else xs[0]
    hi = max(xs[-1], finite.max()) if finite.size else xs[-1]
    ax.hist(finite, bins=np.linspace(lo, hi, 80), density=True, alpha=0.5,
            label="p_g (samples)")
    ax.plot(xs, density, "k-", label="p_data")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
  fig.savefig(path, dpi=100)
  return fig


# ----------------------------------------------------------------------------
# Logging helpers.
# ----------------------------------------------------------------------------


def _format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _progress_line(step: int, total: int, metrics: dict, rate: float,
                   r1: bool) -> str:
  eta = (total - step) / rate if rate > 0 else float("inf")
  parts = (f"d_loss {metrics['d_loss']:.3g} g_loss {metrics['g_loss']:.3g} "
           f"V {metrics['value']:.3g} D(x) {metrics['d_real']:.2f} "
           f"D(G(z)) {metrics['d_fake']:.2f}")
  if r1:
    parts += f" R1 {metrics['r1_penalty']:.3g}"
  return (f"step {step}/{total} | {parts} | {rate:.4g} steps/s | "
          f"ETA {_format_duration(eta)}")


def _read_metrics(path: str, max_step: Optional[int] = None) -> list[dict]:
  if not os.path.isfile(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue  # a line cut short by a crash
      if max_step is None or record.get("step", 0) <= max_step:
        records.append(record)
  return records


def _rewrite_metrics(path: str, max_step: int) -> None:
  """Drops records logged after the checkpoint a run resumes from."""
  records = _read_metrics(path, max_step)
  with open(path + ".tmp", "w") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")
  os.replace(path + ".tmp", path)


def _format_results(results: dict) -> str:
  return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in results.items())


def _image_note(results: dict) -> str:
  """A short caption: Parzen LL +- se and FID, with the real values."""
  parts = []
  if "parzen_ll" in results:
    parts.append(f"Parzen {results['parzen_ll']:.0f} +- "
                 f"{results['parzen_ll_stderr']:.1f} "
                 f"(real {results['real_parzen_ll']:.0f})")
  if "fid" in results:
    parts.append(f"FID {results['fid']:.3g} (real {results['real_fid']:.2g})")
  return ", ".join(parts)


def _write_eval(workdir: str, writer, results: dict, step: int) -> None:
  """Appends an eval.jsonl row and the TensorBoard scalars eval/<name>."""
  with open(os.path.join(workdir, EVAL_FILE), "a") as f:
    f.write(json.dumps(dict(step=step, **results)) + "\n")
  if writer is not None:
    for name, value in results.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        writer.add_scalar(f"eval/{name}", value, step)
  logging.info("Evaluation at step %d: %s", step, _format_results(results))


def _eval_noise(experiment: _Experiment) -> np.ndarray:
  """The evaluation's z: the same at every evaluation of a run."""
  key = jax.random.fold_in(jax.random.PRNGKey(experiment.config.seed),
                           _EVAL_STREAM)
  return experiment.noise(key, experiment.num_eval_samples)


def _checkpoint_manager(workdir: str, *, create: bool) -> ocp.CheckpointManager:
  return checkpointing.manager(workdir, create=create)


def _restore(manager: ocp.CheckpointManager, experiment: _Experiment,
             step: int) -> step_lib.TrainState:
  """One verified checkpoint step (DamagedCheckpointError if unusable)."""
  return checkpointing.restore(manager, step, experiment.abstract_state())[0]


def _restore_latest(manager: ocp.CheckpointManager, experiment: _Experiment,
                    *, set_aside: bool
                    ) -> Optional[tuple[int, step_lib.TrainState, dict]]:
  """The newest usable checkpoint (damaged ones reported and skipped)."""
  try:
    return checkpointing.restore_latest(
        manager, experiment.abstract_state(), set_aside_damaged=set_aside)
  except checkpointing.CheckpointError as e:
    raise WorkdirError(
        f"{e}. Nothing was moved or deleted; train in a new --workdir, or "
        f"repair or remove the damaged checkpoints") from e


# ----------------------------------------------------------------------------
# Divergence and preemption.
# ----------------------------------------------------------------------------

_STATE_PARTS = ("g_params", "d_params", "ema_g_params", "g_batch_stats",
                "d_batch_stats", "g_opt_state", "d_opt_state")


def _finite_flags(state: step_lib.TrainState) -> dict[str, jax.Array]:
  """Per state part: whether all its floating-point values are finite."""
  flags = {}
  for part in _STATE_PARTS:
    leaves = [jnp.all(jnp.isfinite(x)) for x in
              jax.tree.leaves(getattr(state, part))
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    flags[part] = jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
  return flags


def _first_nonfinite(pending: list[tuple[int, dict]]
                     ) -> Optional[tuple[int, str, float]]:
  """(step, metric, value) of the earliest non-finite logged metric."""
  for first_step, values in pending:
    columns = [np.reshape(values[name], -1) for name in step_lib.METRIC_NAMES]
    bad = ~np.isfinite(np.stack(columns))  # [metric, step]
    if bad.any():
      index = int(np.flatnonzero(bad.any(axis=0))[0])
      metric = int(np.flatnonzero(bad[:, index])[0])
      return (first_step + index + 1, step_lib.METRIC_NAMES[metric],
              float(columns[metric][index]))
  return None


def _scale_learning_rates(config: ml_collections.ConfigDict,
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


def _pending_to_extra(pending: list[tuple[int, dict]]) -> dict:
  """Host metrics not yet logged, as JSON (float32 values round-trip)."""
  if not pending:
    return {}
  values = {name: [float(v) for v in np.concatenate(
      [np.reshape(p[1][name], -1) for p in pending])]
            for name in step_lib.METRIC_NAMES}
  return dict(pending_first_step=int(pending[0][0]), pending_metrics=values)


def _pending_from_extra(extra: dict, step: int) -> list[tuple[int, dict]]:
  values = extra.get("pending_metrics")
  if not values:
    return []
  arrays = {name: np.asarray(values[name], np.float32)
            for name in step_lib.METRIC_NAMES}
  first = int(extra["pending_first_step"])
  if first + arrays[step_lib.METRIC_NAMES[0]].shape[0] != step:
    logging.warning("Checkpoint at step %d holds unlogged metrics that do not "
                    "end at its step; dropping them", step)
    return []
  return [(first, arrays)]


class _SignalCatcher:
  """Turns SIGTERM / SIGINT into a flag the training loop polls.

  Installed only in the main thread (Python delivers signals there); the
  previous handlers come back on `restore`. A second SIGINT raises
  KeyboardInterrupt at once (a user pressing Ctrl-C twice).
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received: Optional[int] = None
    self._previous = {}

  def install(self) -> None:
    if threading.current_thread() is not threading.main_thread():
      return
    for signum in self.SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)

  def restore(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if self.received is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signum
    logging.warning("Received %s: saving a checkpoint after the current call, "
                    "then exiting (run the same command to resume)",
                    signal.Signals(signum).name)


# ----------------------------------------------------------------------------
# Training.
# ----------------------------------------------------------------------------


def make_parallel_step(config: ml_collections.ConfigDict,
                       experiment: _Experiment, devices: Sequence[jax.Device],
                       *, lr_scale: float = 1.0,
                       compiler_options: Optional[dict[str, Any]] = None
                       ) -> step_lib.DataParallel:
  """The device-mapped update `train_and_evaluate` runs (Algorithm 1)."""
  update = step_lib.make_update(_scale_learning_rates(config, lr_scale),
                                experiment.models,
                                step_lib.make_real_sampler(config.data),
                                num_devices=len(devices))
  return step_lib.DataParallel(update, devices, config.parallelism,
                               compiler_options=compiler_options)


def initial_host_state(config: ml_collections.ConfigDict,
                       experiment: _Experiment, *,
                       compiler_options: Optional[dict[str, Any]] = None
                       ) -> step_lib.TrainState:
  """The state a run starts from (seed `config.seed`), on the host."""
  return jax.device_get(
      step_lib.init_state(config, experiment.models, experiment.data_shape,
                          compiler_options=compiler_options))


class TrainingSetup(NamedTuple):
  """What `setup_training` returns: a step ready to run, with its inputs.

  `parallel.run(state, dataset, n)` runs n iterations and returns the new
  state (the old one is donated) and the per-iteration metrics.
  """
  experiment: _Experiment
  parallel: step_lib.DataParallel
  state: step_lib.TrainState  # initial state, placed on the devices
  dataset: Any  # the image data set on the devices, or None for toy data


def setup_training(config: ml_collections.ConfigDict, *,
                   devices: Optional[Sequence[jax.Device]] = None,
                   compiler_options: Optional[dict[str, Any]] = None
                   ) -> TrainingSetup:
  """The update step, initial state and on-device data of a config's run.

  Exactly what `train_and_evaluate` trains with (same step function, data
  path and placement), without a workdir, checkpoints or evaluation; for
  benchmarks and experiments that drive the step themselves. One process.

  Raises:
    ConfigError: an invalid config field.
    data.DataError: missing or corrupt data files.
  """
  config = config.copy_and_resolve_references()
  devices = list(devices) if devices is not None else jax.devices()
  config_lib.validate(config, len(devices), num_processes=1)
  experiment = _Experiment(config, compiler_options=compiler_options)
  parallel = make_parallel_step(config, experiment, devices,
                                compiler_options=compiler_options)
  host_state = initial_host_state(config, experiment,
                                  compiler_options=compiler_options)
  return TrainingSetup(experiment, parallel, parallel.place(host_state),
                       _place_dataset(experiment, parallel))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       compiler_options: Optional[dict[str, Any]] = None
                       ) -> dict[str, Any]:
  """Trains (or resumes) the GAN of `config` in `workdir`; returns the summary.

  Args:
    config: a config built from `gan_jax.config.default_config()`; validated
      here (raising `ConfigError`) before anything is compiled.
    workdir: output folder; created if needed. If it holds a run with the same
      config, training resumes from its latest checkpoint.
    compiler_options: optional XLA options for every compiled function (tests
      use {'xla_backend_optimization_level': 0} to compile faster).

  Returns:
    The dict written to workdir/summary.json.

  Raises:
    ConfigError: an invalid config field.
    data.DataError: missing or corrupt data files.
    WorkdirError: workdir holds a run with a different config, or
      checkpoints of which none can be restored.
    DivergenceError: a non-finite metric or state value (see the module
      docstring; config.train.on_divergence).
    Preempted: SIGTERM / SIGINT; a checkpoint of the current step was saved.
  """
  start_time = time.time()
  config = config.copy_and_resolve_references()
  devices = jax.devices()
  config_lib.validate(config, len(devices),
                      num_processes=jax.process_count())
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  _check_workdir(config, workdir)
  # Every process has read the workdir before process 0 writes to it.
  distributed.barrier("gan_jax_workdir_checked")

  # Several processes: each loads only its devices' share of the data below.
  experiment = _Experiment(config, load_data=jax.process_count() == 1,
                           compiler_options=compiler_options)
  train_cfg = config.train

  def make_parallel(lr_scale: float) -> step_lib.DataParallel:
    return make_parallel_step(config, experiment, devices, lr_scale=lr_scale,
                              compiler_options=compiler_options)

  def initial_state() -> step_lib.TrainState:
    return initial_host_state(config, experiment,
                              compiler_options=compiler_options)

  manager = _checkpoint_manager(workdir, create=True)
  restored = _restore_latest(manager, experiment, set_aside=is_main)
  if restored is not None:
    latest, host_state, extra = restored
    logging.info("Resumed from %s at step %d", workdir, latest)
  else:
    latest, host_state, extra = None, initial_state(), {}
  start_step = int(host_state.step)
  # Carried in every checkpoint: the learning-rate scale after divergence
  # restores, their record, and the metrics not yet logged.
  lr_scale = float(extra.get("lr_scale", 1.0))
  divergences = list(extra.get("divergences", []))
  pending = _pending_from_extra(extra, start_step)
  if lr_scale != 1.0:
    logging.warning("Learning rates are %g x the config's (lowered after "
                    "divergence)", lr_scale)
  parallel = make_parallel(lr_scale)
  if is_main:
    _save_config(config, workdir)
    _rewrite_metrics(os.path.join(workdir, METRICS_FILE), start_step)
    _rewrite_metrics(os.path.join(workdir, EVAL_FILE), start_step)
    os.makedirs(os.path.join(workdir, SAMPLES_DIR), exist_ok=True)

  writer = None

  def open_writer(at_step: int):
    if not is_main:
      return None
    import tensorboardX  # pylint: disable=g-import-not-at-top
    return tensorboardX.SummaryWriter(
        os.path.join(workdir, TENSORBOARD_DIR),
        purge_step=at_step + 1 if at_step else None)

  writer = open_writer(start_step)

  state = parallel.place(host_state)
  dataset = _place_dataset(experiment, parallel)
  del host_state
  grid_noise = experiment.noise(
      jax.random.fold_in(jax.random.PRNGKey(config.seed), _SAMPLE_GRID_STREAM),
      config.eval.num_sample_images)
  eval_noise = _eval_noise(experiment)
  signals = _SignalCatcher()
  signals.install()
  try:
    if experiment.evaluates_images and is_main:
      # Before training: a missing test split or label file stops the run
      # now, not after hours; the extractor is trained (once) and the floors
      # known.
      floors = experiment.image_evaluator().floors()
      logging.info("Real-data values (floors): %s", _format_results(floors))

    total = int(config.train.steps)
    log_every = int(train_cfg.log_every)
    eval_every = int(config.eval.every)
    events = [e for e in (log_every, train_cfg.checkpoint_every,
                          train_cfg.sample_every, eval_every) if e]
    step = start_step
    last_saved = latest
    compile_time = 0.0
    train_time = 0.0
    interval_start = time.time()
    interval_step = step
    interval_excluded = 0.0
    metrics_path = os.path.join(workdir, METRICS_FILE)
    r1_on = config.loss.r1_gamma > 0
    finite_flags = jax.jit(_finite_flags, compiler_options=compiler_options)

    def write_samples(state_on_device, at_step: int) -> None:
      host = parallel.fetch(state_on_device)
      samples = experiment.generate(host, grid_noise)
      if is_main:
        path = os.path.join(workdir, SAMPLES_DIR, f"step_{at_step:08d}.png")
        fig = _plot_samples(experiment, samples, at_step, path)
        writer.add_figure("samples", fig, at_step, close=False)

    def evaluate(host, at_step: int) -> tuple[dict, np.ndarray]:
      samples = experiment.generate(host, eval_noise)
      # Process 0 evaluates (and writes); the others would only repeat it.
      results = experiment.evaluate(samples) if is_main else {}
      if is_main and results:
        _write_eval(workdir, writer, results, at_step)
      return results, samples

    def save_checkpoint(state_on_device, at_step: int) -> None:
      extra = dict(lr_scale=lr_scale, divergences=divergences,
                   **_pending_to_extra(pending))
      checkpointing.save(manager, at_step, parallel.fetch(state_on_device),
                         extra=extra)

    def checkpoint_path(at_step: Optional[int]) -> Optional[str]:
      return (None if at_step is None else
              checkpointing.step_dir(manager, at_step))

    def find_divergence() -> Optional[tuple[int, str, float]]:
      """Fetches the pending metrics; the first non-finite value, if any."""
      nonlocal pending
      pending = [(first, jax.device_get(values)) for first, values in pending]
      problem = _first_nonfinite(pending)
      if problem is None:
        flags = parallel.host(finite_flags(state))
        bad = [part for part in _STATE_PARTS if not flags[part]]
        if bad:
          problem = (step, bad[0], float("nan"))
      return problem

    def handle_divergence(problem: tuple[int, str, float]) -> None:
      """Raises DivergenceError, or restores the last good checkpoint."""
      nonlocal state, step, pending, parallel, lr_scale, last_saved, writer
      nonlocal interval_start, interval_step, interval_excluded
      bad_step, metric, value = problem
      good = checkpoint_path(last_saved)
      where = (f"{metric} = {value}" if metric in step_lib.METRIC_NAMES else
               f"non-finite values in {metric}")
      message = (f"training diverged: {where} at step {bad_step} (checked at "
                 f"step {step}); ")
      restores = len(divergences)
      if (train_cfg.on_divergence != "restore" or
          restores >= train_cfg.max_divergence_restores):
        if train_cfg.on_divergence == "restore":
          message += (f"{restores} restore(s) with lowered learning rates "
                      f"(config.train.max_divergence_restores) did not "
                      f"help; ")
        message += (f"the last good checkpoint {good} (step {last_saved}) is "
                     f"kept untouched" if good else
                     "no checkpoint had been saved yet")
        if train_cfg.on_divergence != "restore":
          message += ("; relaunch with --config.train.on_divergence=restore "
                      "to restore it and lower the learning rates")
        raise DivergenceError(message, step=bad_step, metric=metric,
                              value=value, checkpoint=good)
      manager.wait_until_finished()
      restored = _restore_latest(manager, experiment, set_aside=is_main)
      if restored is None:
        back_to, host, extra = 0, initial_state(), {}
      else:
        back_to, host, extra = restored
      lr_scale *= float(train_cfg.divergence_lr_factor)
      divergences.append(dict(step=bad_step, detected_at=step, metric=metric,
                              value=str(value), restored_step=back_to,
                              lr_scale=lr_scale))
      logging.warning(
          "%srestored %s (step %d) and set the learning rates to %g x the "
          "config's (restore %d of at most %d)", message,
          checkpoint_path(back_to) if restored else "the initial state",
          back_to, lr_scale, len(divergences),
          train_cfg.max_divergence_restores)
      parallel = make_parallel(lr_scale)
      state = parallel.place(host)
      step = back_to
      last_saved = back_to if restored is not None else None
      pending = _pending_from_extra(extra, back_to)
      if is_main:
        _rewrite_metrics(metrics_path, back_to)
        _rewrite_metrics(os.path.join(workdir, EVAL_FILE), back_to)
        writer.close()
        writer = open_writer(back_to)
        writer.add_scalar("train/lr_scale", lr_scale, back_to)
      interval_start, interval_step, interval_excluded = time.time(), step, 0.0

    if step < total:
      logging.info("Training %s for %d steps on %d %s device(s) (%s): "
                   "batch %d, k=%d", workdir, total - step, len(devices),
                   devices[0].platform, config.parallelism,
                   train_cfg.batch_size, train_cfg.discriminator_steps)
    while step < total:
      next_event = min([total] + [(step // e + 1) * e for e in events])
      num_steps = min(int(train_cfg.steps_per_call), next_event - step)
      seconds = parallel.compile(state, dataset, num_steps)
      compile_time += seconds
      interval_excluded += seconds
      state, metrics = parallel.run(state, dataset, num_steps)
      pending.append((step, metrics))
      step += num_steps

      log_now = step % log_every == 0 or step == total
      checkpoint_now = (train_cfg.checkpoint_every and step < total and
                        step % train_cfg.checkpoint_every == 0)
      stop_now = signals.received is not None
      if log_now or checkpoint_now or stop_now:
        # Nothing non-finite is logged as a mean or checkpointed.
        problem = find_divergence()
        if problem is not None:
          handle_divergence(problem)
          if stop_now:
            break
          continue
      if log_now:
        means = {name: float(np.mean(np.concatenate(
            [np.reshape(v[name], -1) for _, v in pending])))
                 for name in step_lib.METRIC_NAMES}
        pending = []
        now = time.time()
        elapsed = max(now - interval_start - interval_excluded, 1e-9)
        train_time += elapsed
        rate = (step - interval_step) / elapsed
        interval_start, interval_step, interval_excluded = now, step, 0.0
        if is_main:
          logging.info("%s", _progress_line(step, total, means, rate, r1_on))
          record = dict(step=step, **means, steps_per_sec=rate,
                        elapsed_sec=now - start_time)
          with open(metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
          for name, value in means.items():
            writer.add_scalar(f"train/{name}", value, step)
          writer.add_scalar("train/steps_per_sec", rate, step)
      sample_now = (train_cfg.sample_every and step < total and
                    step % train_cfg.sample_every == 0)
      eval_now = eval_every and step < total and step % eval_every == 0
      if checkpoint_now or sample_now or eval_now or stop_now:
        # Time spent here is not training time: wait for the steps in flight
        # first, then leave the rest out of steps/s.
        jax.block_until_ready(state)
        side_start = time.time()
        if (checkpoint_now or stop_now) and last_saved != step:
          save_checkpoint(state, step)
          last_saved = step
        if sample_now:
          write_samples(state, step)
        if eval_now:
          evaluate(parallel.fetch(state), step)
        interval_excluded += time.time() - side_start
      if stop_now:
        break

    # Final checkpoint (the state at `step` is known to be finite here).
    if last_saved != step:
      save_checkpoint(state, step)
      last_saved = step
    if signals.received is not None:
      manager.wait_until_finished()
      name = signal.Signals(signals.received).name
      path = checkpoint_path(step)
      raise Preempted(f"stopped by {name} at step {step}/{total}; checkpoint "
                      f"{path} written; run the same command to resume",
                      signum=signals.received, step=step, checkpoint=path)
    host_state = parallel.fetch(state)
    results, eval_samples = evaluate(host_state, step)
    manager.wait_until_finished()
  finally:
    signals.restore()
    try:
      manager.wait_until_finished()
    finally:
      manager.close()
      if writer is not None:
        writer.close()

  summary = dict(
      workdir=os.path.abspath(workdir),
      step=step,
      steps=total,
      start_step=start_step,
      final_metrics={k: v for k, v in
                     (_read_metrics(metrics_path) or [{}])[-1].items()},
      evaluation=results,
      samples_from="ema" if host_state.ema_g_params is not None else
      "generator",
      num_devices=len(devices),
      parallelism=config.parallelism,
      compile_time_sec=compile_time,
      train_time_sec=train_time,
      steps_per_sec=((step - start_step) / train_time if train_time > 0 else
                     None),
      wall_time_sec=time.time() - start_time,
  )
  if divergences:
    summary["divergence"] = dict(restores=len(divergences), lr_scale=lr_scale,
                                 events=divergences)
  if is_main:
    note = ""
    if "modes" in results:
      note = (f"{results['modes']}/{results['num_modes']} modes, "
              f"{results['high_quality_pct']:.1f}% HQ")
    elif "jsd" in results:
      note = f"JSD {results['jsd']:.4f}"
    else:
      note = _image_note(results)
    path = os.path.join(workdir, SAMPLES_DIR, f"step_{step:08d}.png")
    grid_samples = (eval_samples[:config.eval.num_sample_images]
                    if not experiment.is_toy else eval_samples)
    _plot_samples(experiment, grid_samples, step, path, note)
    path = os.path.join(workdir, SUMMARY_FILE)
    with open(path + ".tmp", "w") as f:
      json.dump(summary, f, indent=2)
    os.replace(path + ".tmp", path)
    logging.info("Done: %s%s", workdir, f" ({note})" if note else "")
  return summary


# ----------------------------------------------------------------------------
# Sampling from a finished (or running) run.
# ----------------------------------------------------------------------------


def sample(workdir: str, num_samples: int, *, seed: int = 0,
           compiler_options: Optional[dict[str, Any]] = None) -> np.ndarray:
  """Samples from the latest usable checkpoint in `workdir`.

  A damaged checkpoint is reported and skipped (left in place). Uses the EMA generator weights when the run kept them, and BatchNorm's
  running averages. z ~ N(0, I) from PRNGKey(seed).

  Returns:
    toy data: float32 [num_samples, d]; images: float32 [num_samples, H, W, C]
    in [0, 1].

  Raises:
    WorkdirError: no run or no checkpoint in workdir.
  """
  config = load_config(workdir)
  experiment = _Experiment(config, load_data=False,
                           compiler_options=compiler_options)
  manager = _checkpoint_manager(workdir, create=False)
  try:
    restored = _restore_latest(manager, experiment, set_aside=False)
    if restored is None:
      raise WorkdirError(f"workdir {workdir} holds no checkpoint")
    state = restored[1]
  finally:
    manager.close()
  z = experiment.noise(jax.random.PRNGKey(seed), num_samples)
  samples = experiment.generate(state, z)
  if not experiment.is_toy:
    return data_lib.from_model_range(samples)
  return np.asarray(samples, np.float32)


def evaluate_workdir(workdir: str, *, step: Optional[int] = None,
                     write: bool = False,
                     compiler_options: Optional[dict[str, Any]] = None
                     ) -> dict[str, Any]:
  """Evaluates a checkpoint of an existing run, as its final evaluation does.

  The same noise as `train_and_evaluate`'s evaluation and the config's
  config.eval settings; a config.json written before a field existed gets
  that field's default (so older runs are scored with today's protocol).

  Args:
    workdir: a run's folder.
    step: the checkpoint to score (None = the latest).
    write: also append the result to workdir/eval.jsonl and put it in
      summary.json's "evaluation" (if there is a summary.json).
    compiler_options: as for `train_and_evaluate`.

  Returns:
    The evaluation dict (toy metrics, or the image metrics with the real-data
    floors), plus 'step'.

  Raises:
    WorkdirError: no run, or no such checkpoint, or it is damaged.
    data.DataError: the data the metrics need is missing.
  """
  config = load_config(workdir)
  experiment = _Experiment(config, load_data=False,
                           compiler_options=compiler_options)
  manager = _checkpoint_manager(workdir, create=False)
  try:
    if step is None:
      restored = _restore_latest(manager, experiment, set_aside=False)
      if restored is None:
        raise WorkdirError(f"workdir {workdir} holds no checkpoint")
      step, state = restored[:2]
    elif step not in manager.all_steps():
      raise WorkdirError(f"workdir {workdir} has no checkpoint at step "
                         f"{step}; it has {sorted(manager.all_steps())}")
    else:
      try:
        state = _restore(manager, experiment, step)
      except checkpointing.DamagedCheckpointError as e:
        raise WorkdirError(str(e)) from e
  finally:
    manager.close()
  samples = experiment.generate(state, _eval_noise(experiment))
  results = experiment.evaluate(samples)
  logging.info("Evaluation of %s at step %d: %s", workdir, step,
               _format_results(results))
  if write:
    _write_eval(workdir, None, results, step)
    path = os.path.join(workdir, SUMMARY_FILE)
    if os.path.isfile(path):
      with open(path) as f:
        summary = json.load(f)
      if summary.get("step") == step:
        summary["evaluation"] = results
        with open(path + ".tmp", "w") as f:
          json.dump(summary, f, indent=2)
        os.replace(path + ".tmp", path)
  return dict(step=int(step), **results)
