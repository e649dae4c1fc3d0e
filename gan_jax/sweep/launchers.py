"""Where jobs run: submitit executors for this machine or a SLURM cluster.

`Launcher` holds the command line's choices (`--launcher=local|slurm` and
the `--slurm_*` flags), checks them before anything is submitted
(`check`: sbatch on the PATH, the partition known to SLURM) and makes the
submitit executor (`executor`). submitit does the process spawning, the
sbatch scripts, job arrays, per-job logs and the requeue on preemption.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from typing import Any, Optional

LAUNCHERS = ("local", "slurm")
# submitit's LocalExecutor kills a job at its timeout (default 5 min); a
# local sweep has no time limit: about ten years.
_NO_LIMIT_MIN = 10 * 365 * 24 * 60
# SLURM sends SIGUSR2 this long before the time limit: the loop's compiled
# calls last at most train.max_call_seconds, then the checkpoint is written.
SIGNAL_DELAY_S = 60


class LaunchError(ValueError):
  """A launcher setting that cannot work: names the flag or program."""


def slurm_minutes(text: str) -> int:
  """A SLURM --time ('90', 'MM:SS', 'HH:MM:SS', 'D-HH[:MM[:SS]]') in minutes.

  Seconds round up, so a job never gets less time than asked for.
  """
  match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
  if not match:
    raise LaunchError(f"--slurm_time={text!r} is not a SLURM time; use "
                      f"minutes, MM:SS, HH:MM:SS or D-HH:MM:SS")
  days, a, b, c = match.groups()
  if days is not None:  # D-HH[:MM[:SS]]
    hours, minutes, seconds = int(a), int(b or 0), int(c or 0)
  elif c is not None:  # HH:MM:SS
    hours, minutes, seconds = int(a), int(b), int(c)
  elif b is not None:  # MM:SS
    hours, minutes, seconds = 0, int(a), int(b)
  else:
    hours, minutes, seconds = 0, int(a), 0
  total = (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)
  if total < 1:
    raise LaunchError(f"--slurm_time={text!r} is shorter than a minute")
  return total


def parse_additional(text: str) -> dict[str, str]:
  """'--slurm_additional=qos=high,account=me' -> {'qos': 'high', ...}."""
  options = {}
  for item in filter(None, (part.strip() for part in text.split(","))):
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
      raise LaunchError(f"--slurm_additional={text!r}: {item!r} is not "
                        f"key=value (sbatch options without the '--', "
                        f"comma-separated, e.g. qos=high,account=me)")
    options[key.strip().replace("-", "_")] = value.strip()
  return options


@dataclasses.dataclass(frozen=True)
class Launcher:
  """How jobs are submitted.

  Attributes:
    name: 'local' (processes on this machine) or 'slurm' (sbatch).
    parallel: local: how many jobs run at once.
    partition, time, gpus_per_node, cpus_per_task, array_parallelism: sbatch's
      options ('' / 0: SLURM's defaults); `time` as sbatch takes it.
    additional: other sbatch options, as 'key=value,...' ('': none).
    nodes, tasks_per_node: one multi-process run (`jax.distributed`).
  """
  name: str = "local"
  parallel: int = 1
  partition: str = ""
  time: str = ""
  gpus_per_node: int = 0
  cpus_per_task: int = 0
  array_parallelism: int = 0
  additional: str = ""
  nodes: int = 1
  tasks_per_node: int = 1

  @property
  def is_slurm(self) -> bool:
    return self.name == "slurm"

  @property
  def multi_process(self) -> bool:
    return self.nodes * self.tasks_per_node > 1

  def check(self) -> None:
    """Raises LaunchError for a setting that cannot work, before submitting."""
    if self.name not in LAUNCHERS:
      raise LaunchError(f"--launcher={self.name!r} is not known; choose one "
                        f"of {', '.join(LAUNCHERS)}")
    if not self.is_slurm:
      return
    if self.time:
      slurm_minutes(self.time)
    parse_additional(self.additional)
    for program in ("sbatch", "squeue", "sinfo"):
      if shutil.which(program) is None:
        raise LaunchError(f"--launcher=slurm needs SLURM's {program}, which "
                          f"is not on the PATH (tools/local_slurm.sh starts "
                          f"a one-node SLURM on this machine)")
    if self.partition:
      known = partitions()
      if self.partition not in known:
        raise LaunchError(f"--slurm_partition={self.partition!r} is not a "
                          f"partition SLURM knows; it has: "
                          f"{', '.join(known) or '(none)'}")

  def executor(self, folder: str):
    """A submitit executor writing its logs and pickles under `folder`."""
    import submitit  # pylint: disable=g-import-not-at-top
    if not self.is_slurm:
      executor = submitit.LocalExecutor(folder=folder)
      executor.update_parameters(timeout_min=_NO_LIMIT_MIN,
                                 signal_delay_s=SIGNAL_DELAY_S)
      return executor
    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(**self._sbatch_parameters())
    return executor

  def _sbatch_parameters(self) -> dict[str, Any]:
    parameters: dict[str, Any] = dict(
        nodes=self.nodes, ntasks_per_node=self.tasks_per_node,
        signal_delay_s=SIGNAL_DELAY_S, job_name="gan_jax")
    if self.time:
      parameters["time"] = slurm_minutes(self.time)
    if self.partition:
      parameters["partition"] = self.partition
    if self.gpus_per_node:
      parameters["gpus_per_node"] = self.gpus_per_node
    if self.cpus_per_task:
      parameters["cpus_per_task"] = self.cpus_per_task
    if self.array_parallelism:
      parameters["array_parallelism"] = self.array_parallelism
    additional = parse_additional(self.additional)
    if additional:
      parameters["additional_parameters"] = additional
    return parameters


def partitions() -> list[str]:
  """The partitions `sinfo` lists (the default one without its '*')."""
  result = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True,
                          text=True, check=False, timeout=60)
  if result.returncode != 0:
    raise LaunchError("SLURM does not answer (sinfo: "
                      + (" ".join(result.stderr.split())[:300] or "no output")
                      + "); is slurmctld running? (tools/local_slurm.sh)")
  return [p.rstrip("*") for p in result.stdout.split()]


def queued_jobs(job_ids: list[str]) -> Optional[set[str]]:
  """Of `job_ids` ('123' or array tasks '123_4'), those SLURM still holds.

  Pending, running, requeued or completing: anything `squeue` lists. submitit
  asks `sacct` for job states, which needs SLURM's accounting database;
  squeue works on every cluster. None if squeue fails (state unknown).
  """
  if not job_ids:
    return set()
  arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
  result = subprocess.run(
      ["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)],
      capture_output=True, text=True, check=False, timeout=60)
  if result.returncode != 0:
    if "Invalid job id" in result.stderr:  # all have left the queue
      return set()
    return None
  listed = set(result.stdout.split())
  return {job_id for job_id in job_ids if job_id in listed}
