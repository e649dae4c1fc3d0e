"""The errors a training run raises; each message names what to do next."""

from __future__ import annotations

from typing import Optional


class WorkdirError(ValueError):
  """The workdir cannot be used: another run's, in use, unreadable, full.

  Raised before anything is written when the run cannot start (a different
  config, a lock held by another process, a file where the folder should be,
  a damaged config.json, no write permission), and during training when the
  disk fills up (the checkpoints written before are kept).
  """


class WorkdirBusy(WorkdirError):
  """Another live process holds the workdir's lock.

  Attributes:
    holder: what the holder wrote into the lock file (PID, host, start).
  """

  def __init__(self, message: str, *, holder: str):
    super().__init__(message)
    self.holder = holder


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
