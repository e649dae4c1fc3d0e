"""A run's workdir: one process at a time, and files that never lie.

  run.lock           held (`fcntl.flock`) by the process training here; it
                     names that process (PID, host, start time) for anyone
                     refused. The kernel drops the lock when the process dies,
                     so `kill -9` leaves no stale lock.
  config.json        the resolved config (a resumed run must match it)
  metrics.jsonl      one JSON object per log step
  eval.jsonl         one JSON object per evaluation
  tensorboard/       TensorBoard event files (tensorboardX)
  checkpoints/       orbax checkpoints (`gan_jax.checkpointing`)
  samples/           step_XXXXXXXX.png sample figures
  summary.json       final metrics, evaluation, timings (summed over resumes)

Nothing is written before the run is known to start: `Workdir.acquire`
checks the folder and takes the lock, the loop restores or initialises and
runs its first compiled call, and only then `start` writes config.json and
trims the logs to the restored step. A launch that fails before that leaves
the folder as it found it (a folder it created is removed again).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import re
import socket
from typing import Any, Optional

from absl import logging
import ml_collections

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax.train import errors

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = "run.lock"
CHECKPOINT_DIR = checkpointing.CHECKPOINT_DIR
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config that a run saved in `workdir`.

  Raises:
    WorkdirError: no config.json, or one that cannot be read (the message
      names the file).
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise errors.WorkdirError(f"{workdir} holds no run ({path} not found)")
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError) as e:
    raise errors.WorkdirError(
        f"{path} cannot be read ({type(e).__name__}: {e}); restore it, or "
        f"train in another --workdir") from None
  try:
    return config_lib.from_dict(values)
  except config_lib.ConfigError as e:
    raise errors.WorkdirError(f"{path} cannot be read: {e}; restore it, or "
                              f"train in another --workdir") from None


def _get_dotted(config, field: str):
  value = config
  for part in field.split("."):
    try:
      value = value[part]
    except (KeyError, AttributeError):
      return None
  return value


def check_same_run(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a workdir whose run was made with a different config."""
  if not os.path.isfile(os.path.join(workdir, CONFIG_FILE)):
    if os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
      raise errors.WorkdirError(
          f"workdir {workdir} has checkpoints but no {CONFIG_FILE}; "
          f"refusing to resume or overwrite it")
    return
  saved = load_config(workdir)
  changed = config_lib.changed_fields(saved, config)
  blocking = [f for f in changed
              if not (config_lib.is_resumable_change(f, saved) and
                      config_lib.is_resumable_change(f, config))]
  if blocking:
    details = ", ".join(f"config.{f}: {_get_dotted(saved, f)!r} -> "
                        f"{_get_dotted(config, f)!r}" for f in blocking)
    resumable = (config_lib.RESUMABLE_FIELDS +
                 config_lib.component_resumable_fields())
    raise errors.WorkdirError(
        f"workdir {workdir} holds a run made with a different config "
        f"({details}); resuming would mix two experiments. Use a new "
        f"--workdir, or change only fields that may differ on resume "
        f"({', '.join(resumable)}).")
  if changed:
    logging.info("Resuming %s with changed fields: %s", workdir,
                 ", ".join(changed))


_STEP_PATTERN = re.compile(r'"step":\s*(\d+)')


def read_jsonl(path: str, max_step: Optional[int] = None, *,
               warn: bool = False) -> list[dict]:
  """The rows of a .jsonl log up to `max_step`.

  A row cut short (a crash or full disk while it was written) cannot be
  read back; it is kept as {"step": N, "missing": "..."} (N from its text
  when it shows, else the row is left out) and, with `warn`, reported.
  """
  if not os.path.isfile(path):
    return []
  records = []
  with open(path) as f:
    for number, line in enumerate(f, start=1):
      line = line.strip()
      if not line:
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        found = _STEP_PATTERN.search(line)
        if warn:
          logging.warning(
              "%s line %d was cut short (a crash or a full disk while it was "
              "written)%s", path, number,
              f"; its step {found.group(1)} is marked as missing" if found
              else " and names no step; it is dropped")
        if not found:
          continue
        record = dict(step=int(found.group(1)),
                      missing=f"row cut short in {os.path.basename(path)}")
      if max_step is None or record.get("step", 0) <= max_step:
        records.append(record)
  return records


def _write_atomically(path: str, text: str) -> None:
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


class Workdir:
  """The folder of one run, its lock and its files.

  Process 0 of a run (`is_main`) holds the lock and writes every file; the
  other processes of a multi-process run only read (orbax coordinates the
  checkpoint writes itself).
  """

  def __init__(self, path: str, *, is_main: bool = True):
    if not path or not path.strip():
      raise errors.WorkdirError("the workdir is empty ('--workdir ""'); "
                                "give a folder path")
    self.path = path
    self.is_main = is_main
    self.writer = None
    self._lock_fd: Optional[int] = None
    self._created = False
    self._started = False

  @property
  def started(self) -> bool:
    return self._started

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  # --------------------------------------------------------------------------
  # The lock.
  # --------------------------------------------------------------------------

  def acquire(self) -> None:
    """Creates the folder if needed and takes its lock (process 0 only).

    Raises:
      WorkdirBusy: another live process trains here.
      WorkdirError: the path is a file, or the folder is not writable.
    """
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise errors.WorkdirError(f"workdir {self.path} exists and is not a "
                                f"folder; give a folder path")
    if not self.is_main:
      return
    try:
      if not os.path.isdir(self.path):
        os.makedirs(self.path)
        self._created = True
      self._lock_fd = self._lock()
    except OSError as e:
      self._remove_if_created()
      raise errors.WorkdirError(
          f"cannot write in workdir {self.path} ({e.strerror or e}); give a "
          f"folder you can write to") from None

  def _lock(self) -> int:
    """An exclusive flock on run.lock, on the file the path names now."""
    path = self.file(LOCK_FILE)
    while True:
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = os.read(fd, 4096).decode(errors="replace").strip()
        os.close(fd)
        raise errors.WorkdirBusy(
            f"workdir {self.path} is in use by another run "
            f"({holder or 'holder unknown'}); wait for it to end or use "
            f"another --workdir", holder=holder) from None
      # A holder that was releasing may have removed the file we opened.
      if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
        break
      os.close(fd)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}, "
                 f"since {started}\n".encode())
    return fd

  def release(self) -> None:
    """Drops the lock; a folder this launch created and never used goes."""
    if self.writer is not None:
      self.writer.close()
      self.writer = None
    if self._lock_fd is None:
      return
    try:
      os.unlink(self.file(LOCK_FILE))  # while held: no one else has it yet
    except OSError:
      pass
    os.close(self._lock_fd)
    self._lock_fd = None
    if not self._started:
      self._remove_if_created()

  def _remove_if_created(self) -> None:
    if self._created:
      try:
        os.rmdir(self.path)  # only if empty: never remove what others wrote
      except OSError:
        pass

  # --------------------------------------------------------------------------
  # The run's files.
  # --------------------------------------------------------------------------

  def finished_summary(self, steps: int,
                       latest_checkpoint: Optional[int]) -> Optional[dict]:
    """summary.json of a run that already ended at `steps`, else None."""
    if latest_checkpoint != steps:
      return None
    try:
      with open(self.file(SUMMARY_FILE)) as f:
        summary = json.load(f)
    except (OSError, ValueError):
      return None  # no (readable) summary: finish again, writing it
    return summary if summary.get("step") == steps else None

  def start(self, config: ml_collections.ConfigDict, step: int) -> None:
    """The run starts at `step`: config.json, logs trimmed, TensorBoard."""
    self._started = True
    if not self.is_main:
      return
    _write_atomically(self.file(CONFIG_FILE),
                      config.to_json(indent=2, sort_keys=True))
    os.makedirs(self.file(SAMPLES_DIR), exist_ok=True)
    self.rewind(step)

  def rewind(self, step: int) -> None:
    """Logs back to `step` (resume, divergence restore); a new event file."""
    if not self.is_main:
      return
    for name in (METRICS_FILE, EVAL_FILE):
      path = self.file(name)
      if os.path.exists(path):
        rows = read_jsonl(path, step, warn=True)
        _write_atomically(path, "".join(json.dumps(r) + "\n" for r in rows))
    if self.writer is not None:
      self.writer.close()
    import tensorboardX  # pylint: disable=g-import-not-at-top
    self.writer = tensorboardX.SummaryWriter(
        self.file(TENSORBOARD_DIR), purge_step=step + 1 if step else None)

  def append(self, name: str, record: dict) -> None:
    if self.is_main:
      with open(self.file(name), "a") as f:
        f.write(json.dumps(record) + "\n")

  def scalars(self, prefix: str, values: dict, step: int) -> None:
    """TensorBoard scalars prefix/<name> of the numeric values."""
    if self.writer is None:
      return
    for name, value in values.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        self.writer.add_scalar(f"{prefix}/{name}", value, step)

  def figure(self, fig, step: int) -> None:
    if self.writer is not None:
      self.writer.add_figure("samples", fig, step, close=False)

  def sample_path(self, step: int) -> str:
    return os.path.join(self.path, SAMPLES_DIR, f"step_{step:08d}.png")

  def write_summary(self, summary: dict) -> None:
    if self.is_main:
      _write_atomically(self.file(SUMMARY_FILE), json.dumps(summary, indent=2))

  def last_metrics(self) -> dict:
    rows = [r for r in read_jsonl(self.file(METRICS_FILE))
            if "missing" not in r]
    return rows[-1] if rows else {}


_DISK_PROBLEMS = {errno.ENOSPC: "No space left on device",
                  errno.EDQUOT: "Disk quota exceeded",
                  errno.EROFS: "Read-only file system"}


def disk_problem(error: BaseException) -> Optional[str]:
  """'No space left on device' etc. when `error` is one (also from orbax)."""
  if isinstance(error, OSError) and error.errno in _DISK_PROBLEMS:
    return _DISK_PROBLEMS[error.errno]
  text = str(error)
  for problem in _DISK_PROBLEMS.values():
    if problem in text:
      return problem
  return None
