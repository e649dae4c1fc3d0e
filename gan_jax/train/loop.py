"""`train_and_evaluate(config, workdir)`: Goodfellow et al. 2014, Algorithm 1,
as compiled chunks of iterations between the events of its side jobs.

Read top to bottom: 1. `Run`, the state between compiled calls and what a
checkpoint carries besides the device state so that a resumed run goes on
bit for bit; 2. the side jobs on their schedules (CLU's `periodic_actions`);
3. the guards: divergence (a non-finite metric or state value, looked for
before anything is logged or saved: stop, or restore the last good
checkpoint with lower learning rates, config.train.on_divergence) and
preemption (SIGTERM, SIGINT, SIGUSR2: save, raise `Preempted`); 4. the loop
(calls as long as `step_lib.CallTimer` allows) and the end of the run.
Besides this file only the workdir (`workdir.py`: files, metric writers),
the checkpoints (`gan_jax.checkpointing`) and the compiled step
(`gan_jax.step.update`) are on the path of one step.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from typing import Any, NamedTuple, Optional, Sequence

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax import distributed
from gan_jax import step as step_lib
from gan_jax.data import pipeline
from gan_jax.train import errors
from gan_jax.train import plots
from gan_jax.train import workdir as workdir_lib
from gan_jax.train.experiment import Experiment, format_results

# ----------------------------------------------------------------------------
# 1. The run between compiled calls, and what its checkpoints carry.
# ----------------------------------------------------------------------------

# summary.json's timings, summed over every launch of a run (checkpoints
# carry them, with the number of steps the training time covers).
TIMINGS = ("compile_time_sec", "train_time_sec", "wall_time_sec")
COUNTERS = TIMINGS + ("trained_steps",)


def pending_to_extra(pending: list[tuple[int, dict]]) -> dict:
  """Host metrics not yet logged, as JSON (float32 values round-trip)."""
  if not pending:
    return {}
  values = {name: [float(v) for v in np.concatenate(
      [np.reshape(p[1][name], -1) for p in pending])]
            for name in step_lib.metric_names(pending[0][1])}
  return dict(pending_first_step=int(pending[0][0]), pending_metrics=values)


def pending_from_extra(extra: dict, step: int) -> list[tuple[int, dict]]:
  values = extra.get("pending_metrics")
  if not values:
    return []
  arrays = {name: np.asarray(values[name], np.float32)
            for name in step_lib.metric_names(values)}
  first = int(extra["pending_first_step"])
  if first + arrays[step_lib.METRIC_NAMES[0]].shape[0] != step:
    logging.warning("Checkpoint at step %d holds unlogged metrics that do not "
                    "end at its step; dropping them", step)
    return []
  return [(first, arrays)]


@dataclasses.dataclass
class Run:
  """One run between compiled calls (see the module docstring)."""

  experiment: Experiment
  devices: Sequence[jax.Device]
  manager: Any  # orbax CheckpointManager
  parallel: step_lib.DataParallel
  state: Any  # step_lib.TrainState on the devices (donated at every call)
  dataset: Any  # images on the devices, a data.pipeline.Stream, or None
  step: int
  start_step: int
  last_saved: Optional[int]  # the step of the newest checkpoint
  lr_scale: float = 1.0
  divergences: list = dataclasses.field(default_factory=list)
  pending: list = dataclasses.field(default_factory=list)
  timings: dict = dataclasses.field(default_factory=dict)

  @classmethod
  def from_restored(cls, experiment: Experiment, devices, manager,
                    restored: Optional[tuple[int, Any, dict]]) -> "Run":
    """A run at the restored checkpoint, or at the initial state."""
    last_saved, host_state, extra = restored or (
        None, experiment.initial_state(), {})
    lr_scale = float(extra.get("lr_scale", 1.0))
    if lr_scale != 1.0:
      logging.warning("Learning rates are %g x the config's (lowered after "
                      "divergence)", lr_scale)
    parallel = experiment.parallel_step(devices, lr_scale=lr_scale)
    step = int(host_state.step)
    return cls(
        experiment=experiment, devices=devices, manager=manager,
        parallel=parallel, state=parallel.place(host_state),
        dataset=experiment.place_dataset(
            parallel, position=pipeline.position_from_extra(extra, step)),
        step=step,
        start_step=step, last_saved=last_saved, lr_scale=lr_scale,
        divergences=list(extra.get("divergences", [])),
        pending=pending_from_extra(extra, step),
        timings={k: float(extra.get("timings", {}).get(k, 0.0))
                 for k in COUNTERS})

  @property
  def total(self) -> int:
    return int(self.experiment.config.train.steps)

  def advance(self, num_steps: int, *, wait: bool = False) -> float:
    """Runs `num_steps` iterations; the seconds spent compiling.

    `wait`: until done (a device may report running out of memory, raised
    as a `ConfigError`, only when the results are read).
    """
    try:
      seconds = self.parallel.compile(self.state, self.dataset, num_steps)
      self.state, metrics = self.parallel.run(self.state, self.dataset,
                                              num_steps)
      if wait:
        jax.block_until_ready((self.state, metrics))
    except Exception as e:  # pylint: disable=broad-except
      if "RESOURCE_EXHAUSTED" not in str(e) or "No space left" in str(e):
        raise
      train = self.experiment.config.train
      raise config_lib.ConfigError(
          f"config.train.batch_size = {train.batch_size} (with "
          f"config.train.discriminator_steps = {train.discriminator_steps} "
          f"on {len(self.devices)} device(s)) needs more memory than the "
          f"device has: lower the batch size or the model's widths "
          f"({str(e).splitlines()[0][:200]})") from None
    self.timings["compile_time_sec"] += seconds
    self.pending.append((self.step, metrics))
    self.step += num_steps
    return seconds

  def host_state(self) -> step_lib.TrainState:
    return self.parallel.fetch(self.state)

  def checkpoint_path(self, step: Optional[int]) -> Optional[str]:
    return None if step is None else checkpointing.step_dir(self.manager, step)

  def save(self, session_start: float) -> None:
    """A checkpoint of this step, with the bookkeeping (once per step)."""
    if self.last_saved == self.step:
      return
    timings = dict(self.timings)
    timings["wall_time_sec"] += time.time() - session_start
    extra = dict(lr_scale=self.lr_scale, divergences=self.divergences,
                 timings=timings, **pending_to_extra(self.pending),
                 **pipeline.checkpoint_extra(self.dataset))
    checkpointing.save(self.manager, self.step, self.host_state(),
                       extra=extra)
    self.last_saved = self.step

  def restore_last_good(self, lr_scale: float, *, set_aside: bool) -> int:
    """Back to the newest checkpoint (or the start) at a new rate scale."""
    self.manager.wait_until_finished()
    restored = workdir_lib.restore_latest(
        self.manager, self.experiment.abstract_state(), set_aside=set_aside)
    back_to, host, extra = restored or (0, self.experiment.initial_state(), {})
    self.lr_scale = lr_scale
    self.parallel = self.experiment.parallel_step(self.devices,
                                                  lr_scale=lr_scale)
    self.state = self.parallel.place(host)
    self.step = back_to
    self.last_saved = back_to if restored is not None else None
    self.pending = pending_from_extra(extra, back_to)
    pipeline.seek(self.dataset, extra, back_to)  # its batches again
    return back_to


# ----------------------------------------------------------------------------
# 2. Side jobs, each with its own schedule.
# ----------------------------------------------------------------------------


class Periodic(NamedTuple):
  """Due every `every` steps (0: never) before the run's last step."""
  every: int
  total: int

  def due(self, step: int) -> bool:
    return bool(self.every) and step < self.total and step % self.every == 0

  def next_step(self, step: int) -> Optional[int]:
    return (step // self.every + 1) * self.every if self.every else None


class SideJobs:
  """The side jobs of a run on their schedules (CLU's periodic actions).

  The metrics log is due every train.log_every steps and at the last step;
  its steps/s counts training only: compiling and the other jobs between two
  log steps are left out (`exclude`). Checkpoints, sample grids (G(z) for a
  fixed z) and evaluations (by process 0: the others would repeat it) are
  due on their `Periodic` schedules.
  """

  def __init__(self, config, folder: workdir_lib.Workdir,
               session_start: float):
    self.total = int(config.train.steps)
    self.log_every = int(config.train.log_every)
    self.checkpoints = Periodic(int(config.train.checkpoint_every or 0),
                                self.total)
    self.samples = Periodic(int(config.train.sample_every or 0), self.total)
    self.evaluations = Periodic(int(config.eval.every or 0), self.total)
    self.folder, self.session_start = folder, session_start
    self.grid_noise = self.eval_noise = None
    self.restart(0)

  def log_due(self, step: int) -> bool:
    return step % self.log_every == 0 or step == self.total

  def next_event(self, step: int) -> int:
    steps = [(step // self.log_every + 1) * self.log_every] + [
        p.next_step(step) for p in (self.checkpoints, self.samples,
                                    self.evaluations)]
    return min([self.total] + [s for s in steps if s is not None])

  def restart(self, step: int) -> None:
    """A new timing interval from `step` (start, divergence restore)."""
    self.interval_start, self.interval_step = time.time(), step
    self.excluded = 0.0

  def exclude(self, seconds: float) -> None:
    self.excluded += seconds

  def log(self, run: Run) -> None:
    """Means of the metrics since the last log, to `Workdir.metrics`."""
    means = {name: float(np.mean(np.concatenate(
        [np.reshape(v[name], -1) for _, v in run.pending])))
             for name in step_lib.metric_names(run.pending[0][1])}
    run.pending = []
    now = time.time()
    elapsed = max(now - self.interval_start - self.excluded, 1e-9)
    run.timings["train_time_sec"] += elapsed
    run.timings["trained_steps"] += run.step - self.interval_step
    rate = (run.step - self.interval_step) / elapsed
    self.interval_start, self.interval_step, self.excluded = now, run.step, 0.0
    self.folder.metrics.write_scalars(run.step, dict(
        **means, steps_per_sec=rate, elapsed_sec=now - self.session_start))

  def run_due(self, run: Run, *, stop: bool) -> None:
    """The jobs due after the log (a stop saves); not counted as training."""
    save = stop or self.checkpoints.due(run.step)
    grid, evaluate = (self.samples.due(run.step),
                      self.evaluations.due(run.step))
    if not (save or grid or evaluate):
      return
    jax.block_until_ready(run.state)  # the steps in flight count as training
    start = time.time()
    if save:
      run.save(self.session_start)
    if grid:
      self.write_samples(run)
    if evaluate:
      self.evaluate(run)
    self.exclude(time.time() - start)

  def write_samples(self, run: Run, samples: Optional[np.ndarray] = None,
                    note: str = "") -> None:
    """samples/step_N.png and TensorBoard's "samples" (default: the grid).

    A conditional model's grid has one row per class (`grid_labels`);
    `samples` given are laid out as `grid_samples` orders them.
    """
    experiment = run.experiment
    labels = experiment.grid_labels()
    if samples is None:
      if self.grid_noise is None:
        self.grid_noise = experiment.grid_noise()
      samples = experiment.generate(run.host_state(), self.grid_noise, labels)
    elif labels is not None:
      labels = experiment.grid_sample_labels(len(samples))
    if self.folder.is_main:
      fig = plots.plot_samples(samples, experiment.distribution, run.step,
                               self.folder.sample_path(run.step), note,
                               labels=labels,
                               columns=experiment.grid_columns,
                               pixel_range=experiment.pixel_range)
      self.folder.tensorboard.write_images(
          run.step, {"samples": plots.figure_image(fig)})

  def evaluate(self, run: Run) -> tuple[dict, np.ndarray]:
    """(results, the samples they score); to `Workdir.evaluations`."""
    if self.eval_noise is None:
      self.eval_noise = run.experiment.eval_noise()
    samples = run.experiment.generate(run.host_state(), self.eval_noise)
    if not self.folder.is_main:
      return {}, samples
    results = run.experiment.evaluate(samples)
    if results:
      self.folder.evaluations.write_scalars(run.step, results)
      logging.info("Evaluation at step %d: %s", run.step,
                   format_results(results))
    return results, samples


# ----------------------------------------------------------------------------
# 3. Guards: divergence and preemption.
# ----------------------------------------------------------------------------


class DivergenceGuard:
  """Finds non-finite values; stops the run or restores the last good state."""

  def __init__(self, train_config, folder: workdir_lib.Workdir, *,
               compiler_options=None):
    self.config, self.folder = train_config, folder
    self.flags = jax.jit(step_lib.finite_flags,
                         compiler_options=compiler_options)

  def find(self, run: Run) -> Optional[tuple[int, str, float]]:
    """Fetches the pending metrics; (step, what, value) of a problem."""
    run.pending = [(first, jax.device_get(values))
                   for first, values in run.pending]
    problem = step_lib.first_nonfinite(run.pending)
    if problem is None:
      flags = run.parallel.host(self.flags(run.state))
      bad = [part for part in step_lib.STATE_PARTS if not flags[part]]
      if bad:
        problem = (run.step, bad[0], float("nan"))
    return problem

  def check(self, run: Run) -> bool:
    """True when restored to an earlier step; `DivergenceError` to stop."""
    problem = self.find(run)
    if problem is None:
      return False
    bad_step, metric, value = problem
    where = (f"{metric} = {value}" if metric in step_lib.METRIC_NAMES +
             step_lib.optional_metric_names() else
             f"non-finite values in {metric}")
    message = (f"training diverged: {where} at step {bad_step} (checked at "
               f"step {run.step}); ")
    if (self.config.on_divergence != "restore" or
        len(run.divergences) >= self.config.max_divergence_restores):
      self.stop(run, problem, message)
    self.restore(run, problem, message)
    return True

  def stop(self, run: Run, problem, message: str) -> None:
    good = run.checkpoint_path(run.last_saved)
    restoring = self.config.on_divergence == "restore"
    if restoring:
      message += (f"{len(run.divergences)} restore(s) with lowered learning "
                  f"rates (config.train.max_divergence_restores) did not "
                  f"help; ")
    message += (f"the last good checkpoint {good} (step {run.last_saved}) is "
                f"kept untouched" if good else
                "no checkpoint had been saved yet")
    if not restoring:
      message += ("; relaunch with --config.train.on_divergence=restore "
                  "to restore it and lower the learning rates")
    bad_step, metric, value = problem
    raise errors.DivergenceError(message, step=bad_step, metric=metric,
                                 value=value, checkpoint=good)

  def restore(self, run: Run, problem, message: str) -> None:
    bad_step, metric, value = problem
    detected_at = run.step
    lr_scale = run.lr_scale * float(self.config.divergence_lr_factor)
    back_to = run.restore_last_good(lr_scale, set_aside=self.folder.is_main)
    run.divergences.append(dict(step=bad_step, detected_at=detected_at,
                                metric=metric, value=str(value),
                                restored_step=back_to, lr_scale=lr_scale))
    logging.warning(
        "%srestored %s (step %d) and set the learning rates to %g x the "
        "config's (restore %d of at most %d)", message,
        run.checkpoint_path(back_to) if run.last_saved is not None else
        "the initial state", back_to, lr_scale, len(run.divergences),
        self.config.max_divergence_restores)
    self.folder.rewind(back_to)
    self.folder.tensorboard.write_scalars(back_to,
                                          {"train/lr_scale": lr_scale})


class Preemption:
  """Turns SIGTERM / SIGINT / SIGUSR2 into a flag the loop polls.

  SIGUSR2: SLURM's warning to a submitit job before its time limit. The flag
  is read between compiled calls, which `step_lib.CallTimer` keeps to about
  train.max_call_seconds: the checkpoint is on disk before a cluster's
  SIGKILL. A second SIGINT interrupts at once (Ctrl-C twice). Handlers are
  installed in the main thread only (Python delivers signals there).
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

  def __init__(self):
    self.received: Optional[int] = None
    self.previous = {}

  @property
  def requested(self) -> bool:
    return self.received is not None

  def __enter__(self) -> "Preemption":
    if threading.current_thread() is threading.main_thread():
      for signum in self.SIGNALS:
        self.previous[signum] = signal.signal(signum, self.handle)
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, handler in self.previous.items():
      signal.signal(signum, handler)
    self.previous = {}

  def handle(self, signum, frame) -> None:
    del frame
    if self.received is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signum
    logging.warning("Received %s: saving a checkpoint after the current call, "
                    "then exiting (run the same command to resume)",
                    signal.Signals(signum).name)

  def stop(self, run: Run) -> None:
    """Raises `Preempted` once the checkpoint of this step is on disk."""
    run.manager.wait_until_finished()
    name, path = signal.Signals(self.received).name, run.checkpoint_path(
        run.step)
    raise errors.Preempted(
        f"stopped by {name} at step {run.step}/{run.total}; checkpoint "
        f"{path} written; run the same command to resume",
        signum=self.received, step=run.step, checkpoint=path)


# ----------------------------------------------------------------------------
# 4. The loop.
# ----------------------------------------------------------------------------


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       compiler_options: Optional[dict[str, Any]] = None
                       ) -> dict[str, Any]:
  """Trains (or resumes) the GAN of `config` in `workdir`; returns the summary.

  Args:
    config: a config built from `gan_jax.config.default_config()`; validated
      here (raising `ConfigError`) before anything is compiled.
    workdir: output folder; created if needed. If it holds a run with the same
      config, training resumes from its latest checkpoint; if that run has
      already reached config.train.steps, nothing is done or written and its
      summary is returned (with "already_finished": True).
    compiler_options: optional XLA options for every compiled function (tests
      use {'xla_backend_optimization_level': 0} to compile faster).

  Returns:
    The dict written to workdir/summary.json.

  Raises:
    ConfigError: an invalid config field, or a step too large for the device.
    data.DataError: missing or corrupt data files.
    WorkdirError: workdir in use (`WorkdirBusy`), holding another config's
      run or only damaged checkpoints, not writable, or full (the details:
      workdir/error.log).
    DivergenceError: a non-finite value (config.train.on_divergence).
    Preempted: SIGTERM / SIGINT / SIGUSR2; this step's checkpoint is saved.
  """
  session_start = time.time()
  config = config.copy_and_resolve_references()
  devices = jax.devices()
  config_lib.validate(config, len(devices), num_processes=jax.process_count())
  folder = workdir_lib.Workdir(workdir, is_main=jax.process_index() == 0)
  folder.acquire()
  try:
    workdir_lib.check_same_run(config, workdir)
    distributed.barrier("gan_jax_workdir_checked")  # all read before writes
    # Several processes: each loads only its devices' share of the data.
    experiment = Experiment(config, load_data=jax.process_count() == 1,
                            compiler_options=compiler_options)
    # No folder is made before the first save: a launch that cannot start
    # leaves nothing behind.
    manager = checkpointing.manager(workdir, create=False)
    try:
      restored = workdir_lib.restore_latest(
          manager, experiment.abstract_state(), set_aside=folder.is_main)
      finished = folder.finished_summary(config.train.steps,
                                         restored and restored[0])
      if finished is not None:
        logging.info("%s already finished at step %d; raise "
                     "--config.train.steps to continue it", workdir,
                     finished["step"])
        return dict(finished, already_finished=True)
      if restored is not None:
        logging.info("Resumed from %s at step %d", workdir, restored[0])
      run = Run.from_restored(experiment, devices, manager, restored)
      return _train_and_finish(run, folder, session_start, compiler_options)
    finally:
      manager.wait_until_finished()
      manager.close()
  except Exception as e:  # pylint: disable=broad-except
    problem = workdir_lib.disk_problem(e)
    if problem is None:
      raise
    detail = (f" (details in {folder.error_log.path})"
              if folder.error_log.written else "")
    raise errors.WorkdirError(
        f"cannot write in workdir {workdir}: {problem}; the checkpoints "
        f"written before are kept: free space and run the same command to "
        f"resume{detail}") from None
  finally:
    folder.release()


def _train_and_finish(run: Run, folder: workdir_lib.Workdir,
                      session_start: float, compiler_options) -> dict:
  """Trains to the last step or a signal, then ends the run."""
  config = run.experiment.config
  if run.experiment.evaluates_images and folder.is_main:
    # Before training: a missing test split or label file stops the run now,
    # not after hours; the extractor is trained (once) and the floors known.
    floors = run.experiment.image_evaluator().floors()
    logging.info("Real-data values (floors): %s", format_results(floors))
  jobs = SideJobs(config, folder, session_start)
  guard = DivergenceGuard(config.train, folder,
                          compiler_options=compiler_options)
  if run.step < run.total:
    logging.info("Training %s for %d steps on %d %s device(s): batch %d, k=%d",
                 folder.path, run.total - run.step, len(run.devices),
                 run.devices[0].platform, config.train.batch_size,
                 config.train.discriminator_steps)
  timer = step_lib.CallTimer(config.train.max_call_seconds)
  with Preemption() as preemption:
    _train(run, jobs, guard, folder, preemption, timer)
    if timer.lengths:
      logging.info("Compiled calls of %s iteration(s) (each length compiles "
                   "once)", ", ".join(str(n) for n in sorted(timer.lengths)))
    if not folder.started:  # resumed at the last step: nothing to run
      folder.start(config, run.start_step)
    if preemption.requested:
      run.save(session_start)
      preemption.stop(run)
  return _finish(run, jobs, folder, session_start)


def _train(run: Run, jobs: SideJobs, guard: DivergenceGuard,
           folder: workdir_lib.Workdir, preemption: Preemption,
           timer: step_lib.CallTimer) -> None:
  """Algorithm 1 in compiled chunks until the last step or a signal."""
  steps_per_call = int(run.experiment.config.train.steps_per_call)
  jobs.restart(run.step)
  while run.step < run.total:
    chunk = distributed.agreed(timer.next_length(
        steps_per_call, jobs.next_event(run.step) - run.step))
    jobs.exclude(timer.advance(run, chunk))
    if not folder.started:  # the step compiled, fits and ran: write files
      folder.start(run.experiment.config, run.start_step)
    stop = preemption.requested
    if jobs.log_due(run.step) or jobs.checkpoints.due(run.step) or stop:
      # Nothing non-finite is logged as a mean or checkpointed.
      if guard.check(run):
        jobs.restart(run.step)
        if stop:
          break
        continue
    if jobs.log_due(run.step):
      jobs.log(run)
    jobs.run_due(run, stop=stop)
    if stop:
      break


def _finish(run: Run, jobs: SideJobs, folder: workdir_lib.Workdir,
            session_start: float) -> dict:
  """Final checkpoint, evaluation, grid and summary.json."""
  run.save(session_start)
  results, samples = jobs.evaluate(run)
  note = run.experiment.headline(results)
  jobs.write_samples(run, run.experiment.grid_samples(samples), note)
  run.manager.wait_until_finished()
  timings = {k: run.timings[k] for k in TIMINGS}
  timings["wall_time_sec"] += time.time() - session_start
  trained = run.step - run.start_step
  train_time = run.timings["train_time_sec"]
  summary = dict(
      workdir=os.path.abspath(folder.path), step=run.step, steps=run.total,
      start_step=run.start_step, final_metrics=folder.last_metrics(),
      evaluation=results,
      samples_from=("ema" if run.experiment.config.train.ema_decay > 0 else
                    "generator"),
      num_devices=len(run.devices), parallelism="shard_map", **timings,
      steps_per_sec=(run.timings["trained_steps"] / train_time
                     if train_time > 0 and trained else None))
  if run.divergences:
    summary["divergence"] = dict(restores=len(run.divergences),
                                 lr_scale=run.lr_scale,
                                 events=run.divergences)
  folder.write_summary(summary)
  if folder.is_main:
    logging.info("Done: %s%s", folder.path, f" ({note})" if note else "")
  return summary
