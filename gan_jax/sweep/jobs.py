"""The job side: what one submitit job runs (a sweep variant, or one run).

`TrainJob()(workdir)` trains the config saved in `workdir/variant.json` and
returns how it ended ({'status': 'finished' | 'failed' | 'busy', ...}); a
failed attempt also writes `workdir/failed.json`, so that the error is on
disk for the next launch and for results.md whoever launched it.

Preemption (submitit's `Checkpointable` protocol). On a signal the training
loop saves a checkpoint at the end of its current compiled call (which is
bounded by `train.max_call_seconds`) and raises `train.Preempted`; then
  * SIGUSR2, which submitit's SLURM jobs receive `signal_delay_s` before
    their time limit: the job hands over to submitit's own SIGUSR2 handler,
    which calls `checkpoint()` (this job, same workdir), requeues the job
    (`scontrol requeue`) and exits; the requeued job resumes from the
    checkpoint;
  * SIGTERM (SLURM's preemption, `scontrol requeue`, `scancel`) or SIGINT
    (a local job cancelled): the job exits 128 + signum without a result;
    SLURM requeues it or it stays cancelled, and the variant is resumable.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import traceback
from typing import Any, Optional

from submitit import helpers as submitit_helpers

from gan_jax.sweep import files

# Printed before the error as the job's last stdout line.
ERROR_PREFIX = "[sweep job] error: "


def _set_up_logging() -> None:
  """absl logs at INFO, less orbax's INFO records."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  import logging as std_logging  # pylint: disable=g-import-not-at-top

  def keep(record: std_logging.LogRecord) -> bool:
    # orbax's INFO chatter would drown the progress lines in the job's log.
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(keep)
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)


def _one_line(error: BaseException) -> str:
  return f"{type(error).__name__}: " + (" ".join(str(error).split())
                                         or repr(error))


def record_failure(workdir: str, error: str, **extra: Any) -> None:
  """Writes workdir/failed.json (the launch and results.md read it)."""
  record = dict(error=error, time=time.time(), host=socket.gethostname(),
                **extra)
  files.write_atomic(os.path.join(workdir, files.FAILED_FILE),
                     json.dumps(record, indent=2) + "\n")


def _job_details() -> dict[str, Optional[str]]:
  """This job's id and log, for failed.json ({} outside a submitit job)."""
  try:
    import submitit  # pylint: disable=g-import-not-at-top
    env = submitit.JobEnvironment()
    return dict(job_id=env.job_id, log=str(env.paths.stdout))
  except RuntimeError:  # not inside a submitit job (called directly)
    return {}


def _is_main_task() -> bool:
  try:
    import submitit  # pylint: disable=g-import-not-at-top
    return submitit.JobEnvironment().global_rank == 0
  except RuntimeError:
    return True


def _train(workdir: str, config_dict: Optional[dict[str, Any]],
           multi_process: bool) -> dict[str, Any]:
  """Trains `config_dict`, or the variant.json in `workdir`; returns summary."""
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import distributed  # pylint: disable=g-import-not-at-top
  record = dict(config=config_dict) if config_dict is not None else (
      files.read_json(os.path.join(workdir, files.VARIANT_FILE)))
  if not isinstance(record, dict) or "config" not in record:
    raise config_lib.ConfigError(
        f"{workdir}/{files.VARIANT_FILE} is missing or unreadable")
  config = config_lib.from_dict(record["config"])
  if multi_process:
    # SLURM's environment names the coordinator and this task's rank.
    distributed.initialize(auto=True)
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  print(f"[sweep job] {record.get('name', workdir)}: training in {workdir}"
        + (f" ({distributed.describe()})" if multi_process else ""),
        flush=True)
  return train.train_and_evaluate(config, workdir)


class TrainJob(submitit_helpers.Checkpointable):
  """A submitit job that trains (or resumes) the run in a workdir.

  Attributes:
    config_dict: the run's config (`config.to_dict()`); None: a sweep
      variant's, from the workdir's variant.json.
    multi_process: the job's tasks form one `jax.distributed` run (SLURM
      `--nodes` / `--tasks_per_node`); task 0 writes the files.
  """

  def __init__(self, config_dict: Optional[dict[str, Any]] = None,
               multi_process: bool = False):
    self.config_dict = config_dict
    self.multi_process = multi_process

  def __call__(self, workdir: str) -> dict[str, Any]:
    _set_up_logging()
    from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
    from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    from gan_jax import train  # pylint: disable=g-import-not-at-top
    # Errors a user fixes from the message alone: no traceback.
    expected = (config_lib.ConfigError, data_lib.DataError,
                train.WorkdirError, train.DivergenceError)
    try:
      summary = _train(workdir, self.config_dict, self.multi_process)
    except train.Preempted as e:
      self._preempted(e)
    except train.WorkdirBusy as e:
      # Another job trains this variant: not a failure of this one.
      print(f"[sweep job] not run: {_one_line(e)}", flush=True)
      return dict(status="busy", error=_one_line(e))
    except Exception as e:  # pylint: disable=broad-except
      if not isinstance(e, expected):
        traceback.print_exc()
      return self._failed(workdir, _one_line(e))
    print(f"[sweep job] finished at step {summary['step']}: "
          f"{json.dumps(summary.get('evaluation') or {})}", flush=True)
    return dict(status="finished", summary=summary)

  def _failed(self, workdir: str, error: str) -> dict[str, Any]:
    print(ERROR_PREFIX + error, flush=True)
    if _is_main_task():
      record_failure(workdir, error, **_job_details())
    return dict(status="failed", error=error)

  def _preempted(self, error) -> None:
    """Requeues through submitit after SIGUSR2; else exits 128 + signum."""
    print(f"[sweep job] {error}", flush=True)
    handler = signal.getsignal(signal.SIGUSR2)
    if error.signum == signal.SIGUSR2 and callable(handler):
      handler(signal.SIGUSR2, None)  # checkpoint(), scontrol requeue, exit
    # SystemExit: submitit writes no result, so the job is not "done"; SLURM
    # requeues a preempted job, and a rerun of the sweep resumes it.
    raise SystemExit(128 + error.signum)
