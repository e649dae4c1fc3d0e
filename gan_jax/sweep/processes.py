"""The launch's side of a variant: its lock, its worker process, its outcome.

A variant runs only while its lock (an `fcntl.flock` on .locks/<name>.lock)
is held; `start` launches its worker with the lock's descriptor inherited, and
`finish` records how the attempt ended (failed.json) before releasing it.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Sequence

from gan_jax.sweep import files
from gan_jax.sweep import variants as variants_lib
from gan_jax.sweep import worker as worker_lib

ATTEMPT_PREFIX = "==== [sweep] attempt "
_LOG_TAIL_LINES = 20


class Lock:
  """An exclusive, non-blocking flock on .locks/<name>.lock.

  The worker inherits the descriptor, so the lock lasts while either the
  launch or its worker lives: a killed launch does not free a variant whose
  worker still trains.
  """

  def __init__(self, sweep_dir: str, name: str):
    folder = os.path.join(sweep_dir, files.LOCK_DIR)
    os.makedirs(folder, exist_ok=True)
    self.path = os.path.join(folder, name + ".lock")
    self.fd = None

  def acquire(self) -> bool:
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno in (errno.EAGAIN, errno.EACCES):
        return False
      raise
    # Who holds it, for a person looking at a busy sweep.
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    self.fd = fd
    return True

  def release(self) -> None:
    if self.fd is not None:
      os.close(self.fd)  # releases the flock once the worker is gone too
      self.fd = None


def default_worker() -> list[str]:
  return [sys.executable, "-m", "gan_jax.sweep"]


@dataclasses.dataclass
class Running:
  """A worker this launch started, and where its attempt's log begins."""
  variant: variants_lib.Variant
  process: subprocess.Popen
  lock: Lock
  log_path: str
  log_offset: int
  attempt: int
  start: float


def _count_attempts(log_path: str) -> int:
  try:
    with open(log_path, errors="replace") as f:
      return sum(line.startswith(ATTEMPT_PREFIX) for line in f)
  except OSError:
    return 0


def _write_variant_file(workdir: str, variant: variants_lib.Variant) -> None:
  record = dict(name=variant.name,
                overrides={k: files.jsonable(v) for k, v in
                           variant.overrides.items()},
                config=variant.config.to_dict())
  files.write_atomic(os.path.join(workdir, files.VARIANT_FILE),
                     json.dumps(record, indent=2, sort_keys=True) + "\n")


def start(sweep_dir: str, variant: variants_lib.Variant, lock: Lock,
          worker: Sequence[str], env: dict[str, str]) -> Running:
  """Starts the worker of `variant` (whose lock is held)."""
  workdir = os.path.join(sweep_dir, variant.name)
  os.makedirs(workdir, exist_ok=True)
  failed = os.path.join(workdir, files.FAILED_FILE)
  if os.path.exists(failed):
    os.remove(failed)  # this attempt decides anew
  _write_variant_file(workdir, variant)
  log_path = os.path.join(workdir, files.LOG_FILE)
  attempt = _count_attempts(log_path) + 1
  command = list(worker) + [workdir]
  log = open(log_path, "a")  # pylint: disable=consider-using-with
  log.write(f"{ATTEMPT_PREFIX}{attempt}: {time.strftime('%Y-%m-%d %H:%M:%S')}"
            f", launch pid {os.getpid()} on {socket.gethostname()}: "
            f"{' '.join(command)}\n")
  log.flush()
  offset = log.tell()
  try:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env,
                               pass_fds=(lock.fd,))
  finally:
    log.close()
  return Running(variant, process, lock, log_path, offset, attempt,
                 time.time())


def _exit_message(returncode: int) -> str:
  """How a worker that printed no error ended, from its exit status."""
  if returncode < 0:
    try:
      how = signal.Signals(-returncode).name
    except ValueError:
      how = f"signal {-returncode}"
    message = f"worker killed by {how}"
    if -returncode == signal.SIGKILL:
      message += " (out of memory?)"
    return message
  return f"worker exited with status {returncode}"


def _attempt_error(running: Running, returncode: int) -> tuple[str, list[str]]:
  """The error of a failed attempt and the last lines of its log."""
  try:
    with open(running.log_path, errors="replace") as f:
      f.seek(running.log_offset)
      lines = f.read().splitlines()
  except OSError:
    lines = []
  tail = lines[-_LOG_TAIL_LINES:]
  prefix = worker_lib.ERROR_PREFIX
  errors = [line[len(prefix):] for line in lines if line.startswith(prefix)]
  if errors:
    return errors[-1], tail
  message = _exit_message(returncode)
  last = next((line for line in reversed(lines) if line.strip()), "")
  return message + (f"; last log line: {last.strip()}" if last else ""), tail


def finish(sweep_dir: str, running: Running, returncode: int) -> str:
  """Records how an attempt ended (while still holding the lock)."""
  variant = running.variant
  status = ("finished" if returncode == 0 and
            files.is_finished(sweep_dir, variant) else "failed")
  if status == "failed":
    error, tail = _attempt_error(running, returncode)
    if returncode == 0:
      error = "worker exited without a complete summary.json; " + error
    record = dict(error=error, returncode=returncode, attempt=running.attempt,
                  time=time.time(), log=files.LOG_FILE, log_tail=tail)
    files.write_atomic(os.path.join(sweep_dir, variant.name, files.FAILED_FILE),
                       json.dumps(record, indent=2) + "\n")
  running.lock.release()
  return status


def failed_since(sweep_dir: str, name: str, since: float) -> bool:
  """Whether another launch saw this variant fail after `since`."""
  record = files.read_json(os.path.join(sweep_dir, name, files.FAILED_FILE))
  return isinstance(record, dict) and record.get("time", 0) >= since


def stop(running: Sequence[Running]) -> None:
  """Terminates the workers (killing any that linger) and frees their locks."""
  for run in running:
    run.process.terminate()
  for run in running:
    try:
      run.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      run.process.kill()
      run.process.wait()
    run.lock.release()
