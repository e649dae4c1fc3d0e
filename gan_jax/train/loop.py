"""`train_and_evaluate(config, workdir)`: Goodfellow et al. 2014, Algorithm 1,
as a loop of compiled chunks between the side jobs' events.

The loop builds the experiment once, restores the latest checkpoint or
initialises, then repeats: run compiled iterations up to the next step at
which a side job is due (`gan_jax.train.actions`), check for divergence
before anything is logged or saved (`gan_jax.train.guards`), run the due
jobs. At the end it saves, evaluates, draws the final grid and writes
summary.json. Logged metrics are the means over the iterations since the
previous log step (each iteration's D metrics are those of its last
discriminator sub-step; see `gan_jax.step`).
"""

from __future__ import annotations

import collections
import os
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax import distributed
from gan_jax import step as step_lib
from gan_jax.train import actions as actions_lib
from gan_jax.train import errors
from gan_jax.train import guards
from gan_jax.train import workdir as workdir_lib
from gan_jax.train.experiment import Experiment, format_results
from gan_jax.train import run_state
from gan_jax.train.run_state import Run, restore_latest


class SideJobs(NamedTuple):
  logger: actions_lib.MetricsLogger
  checkpointer: actions_lib.Checkpointer
  samples: actions_lib.SampleWriter
  evaluator: actions_lib.Evaluator

  def next_event(self, step: int, total: int) -> int:
    steps = [job.next_step(step) for job in self]
    return min([total] + [s for s in steps if s is not None])


def _side_jobs(config, folder: workdir_lib.Workdir,
               session_start: float) -> SideJobs:
  train, total = config.train, int(config.train.steps)
  return SideJobs(
      actions_lib.MetricsLogger(train.log_every, total, folder,
                                r1=config.loss.r1_gamma > 0,
                                session_start=session_start),
      actions_lib.Checkpointer(train.checkpoint_every, total,
                               session_start=session_start),
      actions_lib.SampleWriter(train.sample_every, total, folder),
      actions_lib.Evaluator(config.eval.every, total, folder))


# Until a call has been timed, calls run at most this many iterations: the
# shortest lax.scan, so that its time predicts that of longer scans (a
# 1-iteration call compiles without the loop; on CPU convolutions run several
# times faster outside one, so its time would not).
FIRST_CALL_STEPS = 2


def call_length(steps_per_call: int, to_event: int,
                seconds_per_iteration: Optional[float],
                max_call_seconds: float) -> int:
  """Iterations in the next compiled call: a signal waits for at most one.

  A signal is answered between compiled calls only (`guards.Preemption`), and
  a cluster sends SIGKILL soon after SIGTERM (SLURM's KillWait: 30 s), so a
  call runs at most about max_call_seconds: at most the largest power of two
  n with n * seconds_per_iteration <= max_call_seconds (at least 1), besides
  train.steps_per_call and the next event. Each distinct length compiles its
  own scan, so: a power of two, which a wavering time moves by factors of two
  only; and the iterations up to the event split into equal calls (1000 in
  4 x 250, not 3 x 256 + 232: one length, not two). Before any call is timed
  (seconds_per_iteration None) the call runs FIRST_CALL_STEPS iterations: one
  more compile in a run whose calls are longer, the price of a first call
  that cannot run for minutes. Results do not depend on the lengths: random
  draws are keyed by the step.

  Args:
    steps_per_call: config.train.steps_per_call, the most per call.
    to_event: iterations up to the next step a side job is due at.
    seconds_per_iteration: the measured time of one iteration in a call of
      FIRST_CALL_STEPS or more (`CallTimer`), or None.
    max_call_seconds: config.train.max_call_seconds.
  """
  longest = max(1, min(int(steps_per_call), int(to_event)))
  if seconds_per_iteration is None:
    return min(longest, FIRST_CALL_STEPS)
  if seconds_per_iteration <= 0:
    return longest
  allowed = max_call_seconds / seconds_per_iteration
  if allowed >= longest:
    return longest
  cap = 1 if allowed < 2 else 1 << (int(allowed).bit_length() - 1)
  calls = -(-int(to_event) // cap)
  return -(-int(to_event) // calls)


class CallTimer:
  """Times the compiled calls; a pessimistic time per iteration.

  Each call is waited for, so that at most one is in flight when a signal
  comes (without waiting, the loop would queue calls up to the next step that
  reads a result). The estimate is the slowest time per iteration of any
  timed call of FIRST_CALL_STEPS or more iterations (1-iteration calls are
  another program): calls only get shorter, each time by half or more, so a
  noisy time costs few compiles, and the time of a short call (its fixed cost
  per call spread over few iterations) errs on the safe side. A call that
  compiled is not timed: a new executable's first run also allocates and
  transfers (a first call of 2 ring iterations on CPU took 4x their later
  time), except that until a call is timed its time may shorten the next
  call (2 DCGAN iterations on CPU took 28 s: the next runs 1, not 2 more).
  """

  def __init__(self, max_call_seconds: float,
               clock: Callable[[], float] = time.perf_counter):
    self.max_call_seconds = float(max_call_seconds)
    self.clock = clock  # tests pass a simulated one
    self.seconds_per_iteration: Optional[float] = None  # of timed calls
    self.untimed: Optional[float] = None  # of calls that compiled
    self.lengths: set[int] = set()  # distinct call lengths (one compile each)
    self.cap: Optional[tuple[int, bool]] = None  # the last one logged
    self.warned = False

  def next_length(self, steps_per_call: int, to_event: int) -> int:
    """The next call's iterations; logs the longest allowed when it changes."""
    cap = self._length(steps_per_call, steps_per_call)
    timed = self.seconds_per_iteration is not None
    estimate = self.seconds_per_iteration if timed else self.untimed
    if estimate is not None and (cap, timed) != self.cap:
      self.cap = (cap, timed)
      logging.info("Timed %.3g s per iteration%s: compiled calls of at most %d "
                   "iteration(s) (config.train.max_call_seconds = %g, "
                   "steps_per_call = %d)", estimate,
                   "" if timed else " (in a call that compiled)", cap,
                   self.max_call_seconds, steps_per_call)
    return self._length(steps_per_call, to_event)

  def _length(self, steps_per_call: int, to_event: int) -> int:
    timed, bound = self.seconds_per_iteration, self.max_call_seconds
    length = call_length(steps_per_call, to_event, timed, bound)
    if timed is None and self.untimed is not None:
      length = min(length, call_length(steps_per_call, to_event,
                                       self.untimed, bound))
    return length

  def advance(self, run: Run, num_steps: int) -> float:
    """`run.advance(num_steps)`, waited for and timed; the compile seconds."""
    start = self.clock()
    compiled = run.advance(num_steps, wait=True)
    per_iteration = (self.clock() - start - compiled) / num_steps
    self.lengths.add(num_steps)
    if num_steps >= FIRST_CALL_STEPS:
      if compiled:
        self.untimed = max(self.untimed or 0.0, per_iteration)
      else:
        self.seconds_per_iteration = max(self.seconds_per_iteration or 0.0,
                                         per_iteration)
    elif (not compiled and per_iteration > self.max_call_seconds and
          not self.warned):
      # The shortest call there is: nothing answers a signal sooner.
      self.warned = True
      logging.warning(
          "One training iteration takes %.1f s, more than "
          "config.train.max_call_seconds = %g: a SIGTERM may wait up to "
          "~%.0f s (plus saving the checkpoint) for the call in flight",
          per_iteration, self.max_call_seconds, per_iteration)
    return compiled


def _agreed(num_steps: int) -> int:
  """Process 0's call length: every process must run the same call."""
  if jax.process_count() == 1:
    return num_steps
  # pylint: disable-next=g-import-not-at-top
  from jax.experimental import multihost_utils
  return int(multihost_utils.broadcast_one_to_all(np.int32(num_steps)))


def _train(run: Run, jobs: SideJobs, guard: guards.DivergenceGuard,
           folder: workdir_lib.Workdir, preemption: guards.Preemption,
           timer: CallTimer) -> None:
  """Algorithm 1 in compiled chunks until the last step or a signal."""
  steps_per_call = int(run.experiment.config.train.steps_per_call)
  jobs.logger.restart(run.step)
  while run.step < run.total:
    chunk = _agreed(timer.next_length(
        steps_per_call, jobs.next_event(run.step, run.total) - run.step))
    jobs.logger.exclude(timer.advance(run, chunk))
    if not folder.started:  # the step compiled, fits and ran: write files
      folder.start(run.experiment.config, run.start_step)
    stop = preemption.requested
    if jobs.logger.due(run.step) or jobs.checkpointer.due(run.step) or stop:
      # Nothing non-finite is logged as a mean or checkpointed.
      if guard.check(run):
        jobs.logger.restart(run.step)
        if stop:
          break
        continue
    if jobs.logger.due(run.step):
      jobs.logger(run)
    due = [job for job in jobs[1:] if job.due(run.step)]
    if stop and jobs.checkpointer not in due:
      due.insert(0, jobs.checkpointer)
    actions_lib.run_side_jobs(run, due, jobs.logger)
    if stop:
      break


def _summary(run: Run, results: dict, folder: workdir_lib.Workdir,
             session_start: float) -> dict:
  timings = {k: run.timings[k] for k in run_state.TIMINGS}
  timings["wall_time_sec"] += time.time() - session_start
  trained = run.step - run.start_step
  summary = dict(
      workdir=os.path.abspath(folder.path), step=run.step, steps=run.total,
      start_step=run.start_step, final_metrics=folder.last_metrics(),
      evaluation=results,
      samples_from="ema" if run.experiment.config.train.ema_decay > 0 else
      "generator",
      num_devices=len(run.devices),
      parallelism=run.experiment.config.parallelism, **timings,
      steps_per_sec=(run.timings["trained_steps"] /
                     run.timings["train_time_sec"]
                     if run.timings["train_time_sec"] > 0 and trained else
                     None))
  if run.divergences:
    summary["divergence"] = dict(restores=len(run.divergences),
                                 lr_scale=run.lr_scale,
                                 events=run.divergences)
  return summary


def _finish(run: Run, jobs: SideJobs, folder: workdir_lib.Workdir,
            session_start: float) -> dict:
  """Final checkpoint, evaluation, grid and summary.json."""
  run.save(session_start)
  results, samples = jobs.evaluator.evaluate(run)
  note = run.experiment.headline(results)
  jobs.samples.write(run, run.experiment.grid_samples(samples), note)
  run.manager.wait_until_finished()
  summary = _summary(run, results, folder, session_start)
  folder.write_summary(summary)
  if folder.is_main:
    logging.info("Done: %s%s", folder.path, f" ({note})" if note else "")
  return summary


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
    WorkdirError: workdir is in use (`WorkdirBusy`), holds a run with a
      different config, cannot be written, or fills up; or checkpoints of
      which none can be restored.
    DivergenceError: a non-finite metric or state value (see
      `gan_jax.train.guards`; config.train.on_divergence).
    Preempted: SIGTERM / SIGINT; a checkpoint of the current step was saved.
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
      restored = restore_latest(manager, experiment, set_aside=folder.is_main)
      finished = folder.finished_summary(config.train.steps,
                                         restored and restored[0])
      if finished is not None:
        logging.info("%s already finished at step %d; raise "
                     "--config.train.steps to continue it", workdir,
                     finished["step"])
        return dict(finished, already_finished=True)
      if restored is not None:
        logging.info("Resumed from %s at step %d", workdir, restored[0])
      return _train_and_finish(
          Run.from_restored(experiment, devices, manager, restored),
          folder, session_start, compiler_options)
    finally:
      manager.wait_until_finished()
      manager.close()
  except Exception as e:  # pylint: disable=broad-except
    problem = workdir_lib.disk_problem(e)
    if problem is None:
      raise
    raise errors.WorkdirError(
        f"cannot write in workdir {workdir}: {problem}; the checkpoints "
        f"written before are kept: free space and run the same command to "
        f"resume") from None
  finally:
    folder.release()


def _train_and_finish(run: Run, folder: workdir_lib.Workdir,
                      session_start: float, compiler_options) -> dict:
  config = run.experiment.config
  if run.experiment.evaluates_images and folder.is_main:
    # Before training: a missing test split or label file stops the run now,
    # not after hours; the extractor is trained (once) and the floors known.
    floors = run.experiment.image_evaluator().floors()
    logging.info("Real-data values (floors): %s", format_results(floors))
  jobs = _side_jobs(config, folder, session_start)
  guard = guards.DivergenceGuard(config.train, folder,
                                 compiler_options=compiler_options)
  if run.step < run.total:
    logging.info("Training %s for %d steps on %d %s device(s) (%s): batch %d, "
                 "k=%d", folder.path, run.total - run.step, len(run.devices),
                 run.devices[0].platform, config.parallelism,
                 config.train.batch_size, config.train.discriminator_steps)
  timer = CallTimer(config.train.max_call_seconds)
  with guards.Preemption() as preemption:
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


class TrainingSetup(NamedTuple):
  """What `setup_training` returns: a step ready to run, with its inputs.

  `parallel.run(state, dataset, n)` runs n iterations and returns the new
  state (the old one is donated) and the per-iteration metrics.
  """
  experiment: Experiment
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
  experiment = Experiment(config, compiler_options=compiler_options)
  parallel = experiment.parallel_step(devices)
  return TrainingSetup(experiment, parallel,
                       parallel.place(experiment.initial_state()),
                       experiment.place_dataset(parallel))
