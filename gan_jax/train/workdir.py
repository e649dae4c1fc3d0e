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
  error.log          the libraries' own reports of a failed write (orbax's
                     threads' tracebacks): the user sees one line, the
                     detail is kept here

The metrics reach their files through one interface in the manner of
`clu.metric_writers`: a `MetricWriter` (write_scalars, write_images,
write_hparams, flush, close), here a `JsonlWriter` and a
`TensorBoardWriter` (and for the training metrics a `ConsoleWriter`) behind a
`MultiWriter` per stream (`Workdir.metrics`: the progress line,
metrics.jsonl and TensorBoard's train/ scalars; `Workdir.evaluations`:
eval.jsonl and eval/).

Nothing is written before the run is known to start: `Workdir.acquire`
checks the folder and takes the lock, the loop restores or initialises and
runs its first compiled call, and only then `start` writes config.json and
trims the logs to the restored step. A launch that fails before that leaves
the folder as it found it (a folder it created is removed again).
"""

from __future__ import annotations

import abc
import datetime
import errno
import fcntl
import json
import logging as py_logging
import math
import os
import re
import socket
import sys
import threading
import traceback
from typing import Any, Mapping, Optional, Sequence

from absl import logging
import ml_collections
import numpy as np

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
ERROR_LOG = "error.log"


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


# ----------------------------------------------------------------------------
# Metric writers (the interface of `clu.metric_writers`).
# ----------------------------------------------------------------------------


class MetricWriter(abc.ABC):
  """Where a run's scalars, images and hyperparameters go."""

  @abc.abstractmethod
  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """One value per name at `step`."""

  @abc.abstractmethod
  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """One [H, W, C] uint8 or [0, 1] float image per name at `step`."""

  @abc.abstractmethod
  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    """The run's hyperparameters (flat: name -> number or string)."""

  def flush(self) -> None:
    pass

  def close(self) -> None:
    self.flush()


class JsonlWriter(MetricWriter):
  """Scalars as one JSON row {"step": N, name: value, ...} per write.

  Images and hyperparameters have other homes (samples/, config.json). Each
  row is appended and closed at once, so a crash loses at most that row
  (`read_jsonl` reads around one cut short).
  """

  def __init__(self, path: str):
    self.path = path

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(dict(step=step, **scalars)) + "\n")

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    del step, images

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    del hparams


class ConsoleWriter(MetricWriter):
  """The training metrics as one progress line (absl logging, INFO).

  Reads the scalars `MetricsLogger` writes: the step's means and
  steps_per_sec (the ETA's rate). R1 is shown when the run uses it.
  """

  def __init__(self, total: int, *, r1: bool):
    self.total, self.r1 = int(total), r1

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    rate = scalars["steps_per_sec"]
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    parts = (f"d_loss {scalars['d_loss']:.3g} g_loss {scalars['g_loss']:.3g} "
             f"V {scalars['value']:.3g} D(x) {scalars['d_real']:.2f} "
             f"D(G(z)) {scalars['d_fake']:.2f}")
    if self.r1:
      parts += f" R1 {scalars['r1_penalty']:.3g}"
    for name, label in (("r2_penalty", "R2"), ("gradient_penalty", "GP")):
      if name in scalars:
        parts += f" {label} {scalars[name]:.3g}"
    logging.info("step %d/%d | %s | %.4g steps/s | ETA %s", step, self.total,
                 parts, rate, format_duration(eta))

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    del step, images

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    del hparams


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class TensorBoardWriter(MetricWriter):
  """TensorBoard events (tensorboardX); scalars named `<prefix>/<name>`.

  Only numbers become scalars (strings and flags have no curve). Images keep
  their names. Several writers may share one event file (`events`), which
  `Workdir` replaces when the run goes back to an earlier step.
  """

  def __init__(self, events: "TensorBoardEvents", prefix: str = ""):
    self.events = events
    self.prefix = prefix

  def _name(self, name: str) -> str:
    return f"{self.prefix}/{name}" if self.prefix else name

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    for name, value in scalars.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        self.events.writer.add_scalar(self._name(name), value, step)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    for name, image in images.items():
      self.events.writer.add_image(name, image, step, dataformats="HWC")

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    # In this event file (tensorboardX's add_hparams would start another).
    from tensorboardX import summary  # pylint: disable=g-import-not-at-top
    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
              for k, v in hparams.items()}
    for proto in summary.hparams(values, {}):
      self.events.writer.file_writer.add_summary(proto)

  def flush(self) -> None:
    self.events.writer.flush()


class TensorBoardEvents:
  """The event file that a run's TensorBoard writers share."""

  def __init__(self, logdir: str):
    self.logdir = logdir
    self.writer = None

  def restart(self, step: int) -> None:
    """A new event file; TensorBoard drops the old events after `step`."""
    self.close()
    import tensorboardX  # pylint: disable=g-import-not-at-top
    self.writer = tensorboardX.SummaryWriter(
        self.logdir, purge_step=step + 1 if step else None)

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
      self.writer = None


class MultiWriter(MetricWriter):
  """Writes to every one of `writers` (none: writes nothing)."""

  def __init__(self, writers: Sequence[MetricWriter] = ()):
    self.writers = list(writers)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    for writer in self.writers:
      writer.write_scalars(step, scalars)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    for writer in self.writers:
      writer.write_images(step, images)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    for writer in self.writers:
      writer.write_hparams(hparams)

  def flush(self) -> None:
    for writer in self.writers:
      writer.flush()

  def close(self) -> None:
    for writer in self.writers:
      writer.close()


# ----------------------------------------------------------------------------
# error.log: the libraries' reports of a failed write, off the console.
# ----------------------------------------------------------------------------


def _reserve(fd: int, size: int) -> None:
  """Allocates `size` bytes past the end of `fd` without growing the file.

  So that a disk that fills up still takes the report of what filled it
  (fallocate with FALLOC_FL_KEEP_SIZE; where that is not supported the log
  simply has no reserve).
  """
  import ctypes  # pylint: disable=g-import-not-at-top
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                               ctypes.c_int64)
    libc.fallocate(fd, 1, os.fstat(fd).st_size, size)  # 1: KEEP_SIZE
  except (OSError, AttributeError):
    pass


class ErrorLog:
  """error.log, where the storage libraries' own error reports go.

  A checkpoint write that fails (a full disk) is reported by orbax from each
  of its threads with a traceback (absl logging, ERROR), and tensorstore's
  callbacks then find orbax's event loop closed (`sys.unraisablehook`); the
  run itself ends with one `WorkdirError` naming the problem. While the log
  is open those reports are written here, not to the console.
  """

  RESERVE_BYTES = 256 * 1024

  def __init__(self, path: str):
    self.path = path
    self.file = None
    self.written = False
    self.lock = threading.Lock()  # orbax's threads report at once
    self._previous_hook = None

  def open(self) -> None:
    self.file = open(self.path, "a")
    _reserve(self.file.fileno(), self.RESERVE_BYTES)
    py_logging.getLogger("absl").addFilter(self._divert_record)
    self._previous_hook = sys.unraisablehook
    sys.unraisablehook = self._divert_unraisable

  def close(self) -> None:
    if self.file is None:
      return
    py_logging.getLogger("absl").removeFilter(self._divert_record)
    sys.unraisablehook = self._previous_hook
    with self.lock:
      try:
        self.file.truncate(self.file.tell())  # gives the reserve back
        self.file.close()
        if not self.written and os.path.getsize(self.path) == 0:
          os.unlink(self.path)
      except OSError:
        pass
      self.file = None

  def write(self, text: str) -> None:
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    with self.lock:
      if self.file is None:  # a thread's report after the run ended
        return
      try:
        self.file.write(f"{stamp} {text.rstrip()}\n")
        self.file.flush()
        self.written = True
      except OSError:
        pass  # the reserve is used up: the one-line error still shows

  def _divert_record(self, record: py_logging.LogRecord) -> bool:
    from_orbax = os.sep + "orbax" + os.sep in record.pathname
    if not from_orbax or record.levelno < py_logging.ERROR:
      return True
    text = record.getMessage()
    if record.exc_info:
      text += "\n" + "".join(traceback.format_exception(*record.exc_info))
    self.write(f"{record.pathname}:{record.lineno}: {text}")
    return False

  def _divert_unraisable(self, unraisable) -> None:
    if (unraisable.object is None and
        "Event loop is closed" in str(unraisable.exc_value)):
      self.write("".join(traceback.format_exception(
          unraisable.exc_type, unraisable.exc_value,
          unraisable.exc_traceback)))
    else:
      self._previous_hook(unraisable)


def restore_latest(manager, target: Any, *, set_aside: bool
                   ) -> Optional[tuple[int, Any, dict]]:
  """The newest usable checkpoint (damaged ones reported and skipped).

  Raises:
    WorkdirError: there are checkpoints and none of them restores.
  """
  try:
    return checkpointing.restore_latest(manager, target,
                                        set_aside_damaged=set_aside)
  except checkpointing.CheckpointError as e:
    raise errors.WorkdirError(
        f"{e}. Nothing was moved or deleted; train in a new --workdir, or "
        f"repair or remove the damaged checkpoints") from e


class Workdir:
  """The folder of one run, its lock and its files.

  Process 0 of a run (`is_main`) holds the lock and writes every file; the
  other processes of a multi-process run only read (orbax coordinates the
  checkpoint writes itself), and their writers write nothing.

  Attributes:
    metrics: the progress line, metrics.jsonl and TensorBoard's
      train/<name> scalars.
    evaluations: eval.jsonl and TensorBoard's eval/<name> scalars.
    tensorboard: TensorBoard alone (full names: sample grids, and the
      learning-rate scale after a divergence restore).
  """

  def __init__(self, path: str, *, is_main: bool = True):
    if not path or not path.strip():
      raise errors.WorkdirError("the workdir is empty ('--workdir ""'); "
                                "give a folder path")
    self.path = path
    self.is_main = is_main
    self.events = TensorBoardEvents(self.file(TENSORBOARD_DIR))
    self.error_log = ErrorLog(self.file(ERROR_LOG))
    self.metrics = self.evaluations = self.tensorboard = MultiWriter()
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
    self.events.close()
    self.error_log.close()
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
    self.error_log.open()
    self.tensorboard = TensorBoardWriter(self.events)
    self.metrics = MultiWriter([
        ConsoleWriter(config.train.steps, r1=config.loss.r1_gamma > 0),
        JsonlWriter(self.file(METRICS_FILE)),
        TensorBoardWriter(self.events, "train")])
    self.evaluations = MultiWriter([JsonlWriter(self.file(EVAL_FILE)),
                                    TensorBoardWriter(self.events, "eval")])
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
    self.events.restart(step)

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
