"""`Run`: the training state between compiled calls, and what checkpoints carry.

Between two compiled calls a run is: the device state and the step, the
update step (rebuilt when a divergence restore lowers the learning rates),
the metrics of the steps not yet logged, and the bookkeeping every
checkpoint stores beside the state so that a resumed run goes on exactly
(learning-rate scale, divergence record, unlogged metrics, time spent).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional, Sequence

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax.train import errors
from gan_jax.train.experiment import Experiment

# summary.json's timings, summed over every launch of a run (checkpoints
# carry them, with the number of steps the training time covers).
TIMINGS = ("compile_time_sec", "train_time_sec", "wall_time_sec")
_COUNTERS = TIMINGS + ("trained_steps",)


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


def restore_latest(manager: ocp.CheckpointManager, experiment: Experiment,
                   *, set_aside: bool
                   ) -> Optional[tuple[int, step_lib.TrainState, dict]]:
  """The newest usable checkpoint (damaged ones reported and skipped)."""
  try:
    return checkpointing.restore_latest(
        manager, experiment.abstract_state(), set_aside_damaged=set_aside)
  except checkpointing.CheckpointError as e:
    raise errors.WorkdirError(
        f"{e}. Nothing was moved or deleted; train in a new --workdir, or "
        f"repair or remove the damaged checkpoints") from e


def _is_out_of_memory(error: Exception) -> bool:
  return ("RESOURCE_EXHAUSTED" in str(error) and
          "No space left" not in str(error))


@dataclasses.dataclass
class Run:
  """One run between compiled calls (see the module docstring)."""

  experiment: Experiment
  devices: Sequence[jax.Device]
  manager: ocp.CheckpointManager
  parallel: step_lib.DataParallel
  state: Any  # step_lib.TrainState on the devices (donated at every call)
  dataset: Any  # images on the devices, or None
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
    if restored is None:
      last_saved, host_state, extra = None, experiment.initial_state(), {}
    else:
      last_saved, host_state, extra = restored
    lr_scale = float(extra.get("lr_scale", 1.0))
    if lr_scale != 1.0:
      logging.warning("Learning rates are %g x the config's (lowered after "
                      "divergence)", lr_scale)
    parallel = experiment.parallel_step(devices, lr_scale=lr_scale)
    step = int(host_state.step)
    return cls(
        experiment=experiment, devices=devices, manager=manager,
        parallel=parallel, state=parallel.place(host_state),
        dataset=experiment.place_dataset(parallel), step=step,
        start_step=step, last_saved=last_saved, lr_scale=lr_scale,
        divergences=list(extra.get("divergences", [])),
        pending=pending_from_extra(extra, step),
        timings={k: float(extra.get("timings", {}).get(k, 0.0))
                 for k in _COUNTERS})

  @property
  def total(self) -> int:
    return int(self.experiment.config.train.steps)

  def advance(self, num_steps: int, *, wait: bool = False) -> float:
    """Runs `num_steps` iterations; returns the seconds spent compiling.

    Args:
      num_steps: iterations in this compiled call.
      wait: block until they are done (the first call: the device may only
        report running out of memory when the results are read).

    Raises:
      ConfigError: the step does not fit in the device's memory.
    """
    try:
      seconds = self.parallel.compile(self.state, self.dataset, num_steps)
      self.state, metrics = self.parallel.run(self.state, self.dataset,
                                              num_steps)
      if wait:
        jax.block_until_ready((self.state, metrics))
    except Exception as e:  # pylint: disable=broad-except
      if not _is_out_of_memory(e):
        raise
      train_config = self.experiment.config.train
      raise config_lib.ConfigError(
          f"config.train.batch_size = {train_config.batch_size} (with "
          f"config.train.discriminator_steps = "
          f"{train_config.discriminator_steps} on {len(self.devices)} "
          f"device(s)) needs more memory than the device has: lower the "
          f"batch size or the model's widths ({str(e).splitlines()[0][:200]})"
      ) from None
    self.timings["compile_time_sec"] += seconds
    self.pending.append((self.step, metrics))
    self.step += num_steps
    return seconds

  def host_state(self) -> step_lib.TrainState:
    return self.parallel.fetch(self.state)

  def checkpoint_path(self, step: Optional[int]) -> Optional[str]:
    return (None if step is None else
            checkpointing.step_dir(self.manager, step))

  def save(self, session_start: float) -> None:
    """A checkpoint of this step, with the bookkeeping (once per step)."""
    if self.last_saved == self.step:
      return
    timings = dict(self.timings)
    timings["wall_time_sec"] += time.time() - session_start
    extra = dict(lr_scale=self.lr_scale, divergences=self.divergences,
                 timings=timings, **pending_to_extra(self.pending))
    checkpointing.save(self.manager, self.step, self.host_state(),
                       extra=extra)
    self.last_saved = self.step

  def restore_last_good(self, lr_scale: float, *, set_aside: bool) -> int:
    """Back to the newest checkpoint (or the start) at a new rate scale."""
    self.manager.wait_until_finished()
    restored = restore_latest(self.manager, self.experiment,
                              set_aside=set_aside)
    if restored is None:
      back_to, host, extra = 0, self.experiment.initial_state(), {}
    else:
      back_to, host, extra = restored
    self.lr_scale = lr_scale
    self.parallel = self.experiment.parallel_step(self.devices,
                                                  lr_scale=lr_scale)
    self.state = self.parallel.place(host)
    self.step = back_to
    self.last_saved = back_to if restored is not None else None
    self.pending = pending_from_extra(extra, back_to)
    return back_to
