"""Guards of a training run: divergence, preemption.

Divergence: a NaN or infinite metric, or a non-finite value anywhere in the
state (parameters, EMA, BatchNorm statistics, optimiser state), is looked for
whenever metrics are about to be logged or a checkpoint written, so nothing
non-finite is ever logged as a mean or checkpointed. train.on_divergence =
'stop' raises `DivergenceError` naming the first bad step and the last good
checkpoint (kept untouched); 'restore' goes back to that checkpoint (or the
initial state) with both learning rates times train.divergence_lr_factor, at
most train.max_divergence_restores times.

Preemption: SIGTERM or SIGINT sets a flag the loop polls after each
compiled call; the loop then saves a checkpoint and raises `Preempted`. A
second SIGINT interrupts at once (a user pressing Ctrl-C twice).
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import step as step_lib
from gan_jax.train import errors
from gan_jax.train.run_state import Run
from gan_jax.train.workdir import Workdir

STATE_PARTS = ("g_params", "d_params", "ema_g_params", "g_batch_stats",
               "d_batch_stats", "g_opt_state", "d_opt_state")


def finite_flags(state: step_lib.TrainState) -> dict[str, jax.Array]:
  """Per state part: whether all its floating-point values are finite."""
  flags = {}
  for part in STATE_PARTS:
    leaves = [jnp.all(jnp.isfinite(x)) for x in
              jax.tree.leaves(getattr(state, part))
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    flags[part] = jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
  return flags


def first_nonfinite(pending: list[tuple[int, dict]]
                    ) -> Optional[tuple[int, str, float]]:
  """(step, metric, value) of the earliest non-finite logged metric."""
  for first_step, values in pending:
    names = step_lib.metric_names(values)
    columns = [np.reshape(values[name], -1) for name in names]
    bad = ~np.isfinite(np.stack(columns))  # [metric, step]
    if bad.any():
      index = int(np.flatnonzero(bad.any(axis=0))[0])
      metric = int(np.flatnonzero(bad[:, index])[0])
      return (first_step + index + 1, names[metric],
              float(columns[metric][index]))
  return None


class DivergenceGuard:
  """Finds non-finite values; stops the run or restores the last good state."""

  def __init__(self, train_config, workdir: Workdir, *, compiler_options=None):
    self.config = train_config
    self.workdir = workdir
    self._flags = jax.jit(finite_flags, compiler_options=compiler_options)

  def find(self, run: Run) -> Optional[tuple[int, str, float]]:
    """Fetches the pending metrics; (step, what, value) of a problem."""
    run.pending = [(first, jax.device_get(values))
                   for first, values in run.pending]
    problem = first_nonfinite(run.pending)
    if problem is None:
      flags = run.parallel.host(self._flags(run.state))
      bad = [part for part in STATE_PARTS if not flags[part]]
      if bad:
        problem = (run.step, bad[0], float("nan"))
    return problem

  def check(self, run: Run) -> bool:
    """True when the run was restored to an earlier step (go on from there).

    Raises:
      DivergenceError: on_divergence = 'stop', or no restores left.
    """
    problem = self.find(run)
    if problem is None:
      return False
    message = self._describe(run, problem)
    restores = len(run.divergences)
    if (self.config.on_divergence != "restore" or
        restores >= self.config.max_divergence_restores):
      self._stop(run, problem, message)
    self._restore(run, problem, message)
    return True

  def _describe(self, run: Run, problem) -> str:
    bad_step, metric, value = problem
    is_metric = metric in (step_lib.METRIC_NAMES +
                           step_lib.optional_metric_names())
    where = (f"{metric} = {value}" if is_metric else
             f"non-finite values in {metric}")
    return (f"training diverged: {where} at step {bad_step} (checked at "
            f"step {run.step}); ")

  def _stop(self, run: Run, problem, message: str) -> None:
    bad_step, metric, value = problem
    good = run.checkpoint_path(run.last_saved)
    if self.config.on_divergence == "restore":
      message += (f"{len(run.divergences)} restore(s) with lowered learning "
                  f"rates (config.train.max_divergence_restores) did not "
                  f"help; ")
    message += (f"the last good checkpoint {good} (step {run.last_saved}) is "
                f"kept untouched" if good else
                "no checkpoint had been saved yet")
    if self.config.on_divergence != "restore":
      message += ("; relaunch with --config.train.on_divergence=restore "
                  "to restore it and lower the learning rates")
    raise errors.DivergenceError(message, step=bad_step, metric=metric,
                                 value=value, checkpoint=good)

  def _restore(self, run: Run, problem, message: str) -> None:
    bad_step, metric, value = problem
    detected_at = run.step
    lr_scale = run.lr_scale * float(self.config.divergence_lr_factor)
    back_to = run.restore_last_good(lr_scale, set_aside=self.workdir.is_main)
    run.divergences.append(dict(step=bad_step, detected_at=detected_at,
                                metric=metric, value=str(value),
                                restored_step=back_to, lr_scale=lr_scale))
    logging.warning(
        "%srestored %s (step %d) and set the learning rates to %g x the "
        "config's (restore %d of at most %d)", message,
        run.checkpoint_path(back_to) if run.last_saved is not None else
        "the initial state", back_to, lr_scale, len(run.divergences),
        self.config.max_divergence_restores)
    self.workdir.rewind(back_to)
    self.workdir.scalars("train", dict(lr_scale=lr_scale), back_to)


class Preemption:
  """Turns SIGTERM / SIGINT / SIGUSR2 into a flag the training loop polls.

  SIGUSR2 is what SLURM sends a submitit job before its time limit
  (`gan_jax.sweep.jobs` then requeues it). The loop polls the flag between
  compiled calls, which it keeps to about config.train.max_call_seconds each
  (`gan_jax.train.loop.call_length`), so that the checkpoint is written
  before a cluster's SIGKILL. A context manager: installs its handlers in the
  main thread (Python delivers signals there) and puts the previous ones
  back on exit.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

  def __init__(self):
    self.received: Optional[int] = None
    self._previous = {}

  @property
  def requested(self) -> bool:
    return self.received is not None

  def __enter__(self) -> "Preemption":
    if threading.current_thread() is threading.main_thread():
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
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

  def stop(self, run: Run) -> None:
    """Raises `Preempted` once the checkpoint of this step is on disk."""
    run.manager.wait_until_finished()
    name = signal.Signals(self.received).name
    path = run.checkpoint_path(run.step)
    raise errors.Preempted(
        f"stopped by {name} at step {run.step}/{run.total}; checkpoint "
        f"{path} written; run the same command to resume",
        signum=self.received, step=run.step, checkpoint=path)
