"""`run_sweep`: a sweep's unfinished variants as submitit jobs, then the table.

submitit runs the jobs (local processes or a SLURM job array) and keeps their
logs; what is ours is deciding which variants to submit and recording it:

  * a variant is submitted only by the launch that *claims* it, under a short
    lock on the sweep folder (`.submit.lock`), by writing its `job.json`
    (the launch's pid and host, then the job's id and logs);
  * a claim counts while its holder lives: the launch's pid (a variant queued
    for a local slot), the local job's pid, or a SLURM job `squeue` still
    lists; and a run that trains holds its workdir's `run.lock`. So two
    launches on one sweep never run a variant twice, and a crashed launch
    leaves nothing stale;
  * a job that ends is settled from the files it left: complete summary.json
    (finished), failed.json (the job's own error), or neither (killed,
    cancelled: failed, with its log's last lines).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import fcntl
import os
import socket
import time
from typing import Any, Callable, Iterator, Optional, Sequence

from gan_jax.sweep import files
from gan_jax.sweep import jobs as jobs_lib
from gan_jax.sweep import launchers
from gan_jax.sweep import results
from gan_jax.sweep import variants as variants_lib

JOB_FILE = files.JOB_FILE
SUBMIT_LOCK = ".submit.lock"
JOBS_DIR = ".submitit"  # submitit's pickles and the jobs' logs
_RUN_LOCK = "run.lock"  # gan_jax.train's workdir lock
_LOG_TAIL_LINES = 20


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What `run_sweep` left on disk, by variant name."""
  finished: list[str]
  failed: list[str]
  unfinished: list[str]
  results_csv: str
  results_md: str

  @property
  def total(self) -> int:
    return len(self.finished) + len(self.failed) + len(self.unfinished)


@contextlib.contextmanager
def _submit_lock(sweep_dir: str) -> Iterator[None]:
  """Serialises the claiming of variants between launches (held briefly)."""
  fd = os.open(os.path.join(sweep_dir, SUBMIT_LOCK), os.O_RDWR | os.O_CREAT,
               0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)


def _pid_alive(pid: Any) -> bool:
  try:
    os.kill(int(pid), 0)
  except (OSError, ValueError, TypeError) as e:
    return getattr(e, "errno", None) == errno.EPERM
  return True


def _training(workdir: str) -> bool:
  """Whether some process holds the run's workdir lock (it trains there)."""
  try:
    fd = os.open(os.path.join(workdir, _RUN_LOCK), os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return False
  except OSError:
    return True
  finally:
    os.close(fd)


def _claim_alive(record: Any) -> bool:
  """Whether the launch or job a job.json names may still run the variant."""
  if not isinstance(record, dict):
    return False
  if record.get("launcher") == "slurm" and record.get("job_id"):
    queued = launchers.queued_jobs([record["job_id"]])
    return queued is None or bool(queued)  # unknown: assume it runs
  if record.get("host") != socket.gethostname():
    return True  # a local claim on another machine: cannot tell; keep it
  # The launch settles its job when it ends: alive while either lives.
  return _pid_alive(record.get("job_pid")) or _pid_alive(
      record.get("launch_pid"))


class _Sweep:
  """One launch's view of a sweep while `run_sweep` runs it.

  Attributes:
    state: name -> 'finished' | 'failed' | 'mine' (this launch's job, or
      queued for a local slot) | 'elsewhere' (another launch's).
    queue: this launch's variants waiting for a local slot.
    running: name -> this launch's submitit job.
  """

  def __init__(self, sweep_dir: str, variants, launcher: launchers.Launcher,
               job: Callable, log: Callable[[str], None]):
    self.sweep_dir = sweep_dir
    self.variants = {v.name: v for v in variants}
    self.launcher = launcher
    self.job = job
    self.log = log
    self.start_time = time.time()
    self.state: dict[str, str] = {}
    self.queue: list[variants_lib.Variant] = []
    self.running: dict[str, Any] = {}
    self._executor = None

  def workdir(self, name: str) -> str:
    return os.path.join(self.sweep_dir, name)

  @property
  def executor(self):
    if self._executor is None:
      self._executor = self.launcher.executor(
          os.path.join(self.sweep_dir, JOBS_DIR, "%j"))
    return self._executor

  def progress(self, message: str) -> None:
    counts = collections.Counter(self.state.values())
    done = counts["finished"] + counts["failed"]
    self.log(f"[sweep] {done}/{len(self.variants)} done ({counts['failed']} "
             f"failed, {len(self.running)} running here, "
             f"{counts['elsewhere']} in other launches): {message}")

  # ---- claiming (under the submit lock) -----------------------------------

  def plan(self, names: Sequence[str]) -> list[variants_lib.Variant]:
    """Sorts `names` into finished / elsewhere / claimed; returns the claimed."""
    claimed = []
    for name in names:
      variant = self.variants[name]
      record = files.read_json(os.path.join(self.workdir(name), JOB_FILE))
      if files.is_finished(self.sweep_dir, variant):
        self.state[name] = "finished"
      elif _training(self.workdir(name)) or (
          isinstance(record, dict) and record.get("launch_pid") != os.getpid()
          and _claim_alive(record)):
        self.state[name] = "elsewhere"
      else:
        self.state[name] = "mine"
        self._write_claim(variant)
        claimed.append(variant)
    return claimed

  def _write_claim(self, variant: variants_lib.Variant) -> None:
    workdir = self.workdir(variant.name)
    os.makedirs(workdir, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
      os.remove(os.path.join(workdir, files.FAILED_FILE))  # decided anew
    files.write_variant_file(workdir, variant)
    self._write_job(variant.name, state="queued")

  def _write_job(self, name: str, **fields: Any) -> None:
    record = dict(launcher=self.launcher.name, host=socket.gethostname(),
                  launch_pid=os.getpid(), time=time.time(), **fields)
    files.write_json(os.path.join(self.workdir(name), JOB_FILE), record)

  # ---- submitting -----------------------------------------------------------

  def submit(self, variants: Sequence[variants_lib.Variant]) -> None:
    """Submits the variants as one job array (SLURM) or one job each."""
    if not variants:
      return
    workdirs = [self.workdir(v.name) for v in variants]
    if len(variants) > 1:
      submitted = self.executor.map_array(self.job, workdirs)
    else:
      submitted = [self.executor.submit(self.job, workdirs[0])]
    for variant, job in zip(variants, submitted):
      self.running[variant.name] = job
      local_pid = None if self.launcher.is_slurm else job.job_id
      self._write_job(variant.name, state="submitted", job_id=job.job_id,
                      job_pid=local_pid, stdout=str(job.paths.stdout),
                      stderr=str(job.paths.stderr))
      self.progress(f"submitted {variant.name} as job {job.job_id} "
                    f"(log: {job.paths.stdout})")

  def start_local(self) -> None:
    """Local: submits queued variants while fewer than `parallel` run."""
    while self.queue and len(self.running) < self.launcher.parallel:
      self.submit([self.queue.pop(0)])

  # ---- settling -------------------------------------------------------------

  def _ended(self, jobs: dict[str, Any]) -> list[str]:
    """Of this launch's jobs, those that have ended."""
    if not self.launcher.is_slurm:
      return [name for name, job in jobs.items() if job.done()]
    ids = [job.job_id for job in jobs.values()]
    queued = launchers.queued_jobs(ids) if ids else set()
    return [name for name, job in jobs.items()
            if job.paths.result_pickle.exists() or
            (queued is not None and job.job_id not in queued)]

  def settle_mine(self) -> bool:
    ended = self._ended(self.running)
    for name in ended:
      job = self.running.pop(name)
      self.state[name], message = self._settle(name, job)
      self.progress(message)
      if self.state[name] != "elsewhere":
        results.write_results(self.sweep_dir)
    return bool(ended)

  def _settle(self, name: str, job) -> tuple[str, str]:
    """How `job` ended ('finished', 'failed' or 'elsewhere': it was busy),
    and a line saying so."""
    result = _job_result(job)
    record = files.read_json(os.path.join(self.workdir(name), JOB_FILE))
    if not isinstance(record, dict) or record.get("job_id") != job.job_id:
      return "elsewhere", f"{name} was claimed again by another launch"
    if isinstance(result, dict) and result.get("status") == "busy":
      return "elsewhere", f"{name} is training in another job; waiting"
    seconds = time.time() - record.get("time", time.time())
    if files.is_finished(self.sweep_dir, self.variants[name]):
      return "finished", f"{name} finished (job {job.job_id}, {seconds:.0f} s)"
    failed = files.read_json(os.path.join(self.workdir(name),
                                          files.FAILED_FILE))
    if not isinstance(failed, dict):
      if isinstance(result, str):
        error = result
      elif isinstance(result, dict):  # it trained, but not this variant
        error = (f"job {job.job_id} ended ({result.get('status')}) but the "
                 f"workdir's summary.json / config.json do not match the "
                 f"variant (did the config file change meanwhile?)")
      else:
        error = (f"job {job.job_id} ended without a result (killed, "
                 f"cancelled or out of memory?)")
      jobs_lib.record_failure(self.workdir(name), error, job_id=job.job_id,
                              log=str(job.paths.stdout),
                              log_tail=_log_tail(job))
      failed = dict(error=error)
    return "failed", (f"{name} FAILED (job {job.job_id}): {failed['error']} "
                      f"(log: {job.paths.stdout})")

  def settle_elsewhere(self) -> bool:
    """Settles the variants other launches ran; claims any they abandoned."""
    changed = False
    for name in [n for n, s in self.state.items() if s == "elsewhere"]:
      record = files.read_json(os.path.join(self.workdir(name), JOB_FILE))
      if _training(self.workdir(name)) or (
          isinstance(record, dict) and record.get("launch_pid") != os.getpid()
          and _claim_alive(record)):
        continue
      changed = True
      status = files.variant_status(
          self.sweep_dir, name, int(self.variants[name].config.train.steps))
      if status == "unfinished":
        with _submit_lock(self.sweep_dir):
          claimed = self.plan([name])
        self._take(claimed)
        continue
      self.state[name] = status
      self.progress(f"{name} {status} in another launch")
    return changed

  def _take(self, claimed: Sequence[variants_lib.Variant]) -> None:
    if self.launcher.is_slurm:
      self.submit(claimed)
    else:
      self.queue.extend(claimed)

  def stop(self) -> None:
    """Interrupted: local jobs checkpoint (SIGINT) and stop; SLURM's go on."""
    if self.launcher.is_slurm:
      if self.running:
        self.log(f"[sweep] {len(self.running)} SLURM jobs keep running "
                 f"({', '.join(j.job_id for j in self.running.values())}); "
                 f"re-run the same command to follow them")
      return
    for job in self.running.values():
      job.cancel(check=False)
    deadline = time.time() + 60
    while time.time() < deadline and not all(
        job.done() for job in self.running.values()):
      time.sleep(0.2)


def _job_result(job) -> Any:
  """The job's return value, its error text, or None (no result written)."""
  if not job.paths.result_pickle.exists():
    return None
  try:
    outcome = job.results()
    return outcome[0] if outcome else None
  except Exception as e:  # pylint: disable=broad-except
    # submitit's FailedJobError holds the job's traceback: its last line.
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[-1].strip() if lines else repr(e)


def _log_tail(job) -> list[str]:
  lines = []
  for path in (job.paths.stdout, job.paths.stderr):
    try:
      with open(path, errors="replace") as f:
        lines += f.read().splitlines()[-_LOG_TAIL_LINES:]
    except OSError:
      pass
  return lines


def wait_for_job(job, launcher: launchers.Launcher,
                 poll_interval: float = 2.0) -> Any:
  """Waits until `job` ends; returns its first task's result (see _job_result).

  SLURM: ended once it has a result or `squeue` no longer lists it (a
  requeued job is listed while it waits to run again).
  """
  while True:
    if job.paths.result_pickle.exists() and job.done():
      return _job_result(job)
    if launcher.is_slurm:
      queued = launchers.queued_jobs([job.job_id])
      if queued is not None and not queued:
        time.sleep(poll_interval)  # a result written as the job left
        return _job_result(job)
    elif job.done():
      return _job_result(job)
    time.sleep(poll_interval)


def _outcome(variants, sweep_dir: str, log: Callable[[str], None]) -> Outcome:
  """Writes the results files; logs and returns the variants by status."""
  csv_path, md_path = results.write_results(sweep_dir)
  by_status = collections.defaultdict(list)
  for variant in variants:
    by_status[files.variant_status(sweep_dir, variant.name,
                                   int(variant.config.train.steps))].append(
                                       variant.name)
  outcome = Outcome(by_status["finished"], by_status["failed"],
                    by_status["unfinished"], csv_path, md_path)
  log(f"[sweep] {len(outcome.finished)}/{len(variants)} finished, "
      f"{len(outcome.failed)} failed, {len(outcome.unfinished)} unfinished; "
      f"results: {csv_path}, {md_path}")
  return outcome


def run_sweep(variants: Sequence[variants_lib.Variant], sweep_dir: str, *,
              launcher: Optional[launchers.Launcher] = None,
              job: Optional[Callable] = None,
              poll_interval: float = 1.0,
              log: Callable[[str], None] = lambda s: print(s, flush=True)
              ) -> Outcome:
  """Runs every unfinished variant as a submitit job; writes the results.

  Finished variants are skipped without touching their files; failed and
  unfinished ones are (re)submitted and resume from their checkpoints. A
  variant another launch runs is waited for, not run twice. Results are
  rewritten after every variant that ends.

  Args:
    variants: from `expand`.
    sweep_dir: the sweep's folder; variant `v` runs in `sweep_dir/v.name`.
    launcher: where the jobs run (default: local, one at a time).
    job: the callable each job runs with its workdir (default
      `jobs.TrainJob()`); tests pass a stub.
    poll_interval: seconds between looks at the jobs.
    log: receives the progress lines.
  """
  launcher = launcher or launchers.Launcher()
  sweep = _Sweep(sweep_dir, variants, launcher, job or jobs_lib.TrainJob(),
                 log)
  os.makedirs(sweep_dir, exist_ok=True)
  with _submit_lock(sweep_dir):
    files.write_sweep_file(sweep_dir, variants)
    claimed = sweep.plan([v.name for v in variants])
    sweep.progress(f"{len(claimed)} to run with the {launcher.name} launcher"
                   + (f", {launcher.parallel} at a time"
                      if not launcher.is_slurm and launcher.parallel > 1
                      else ""))
    if launcher.is_slurm:
      sweep.submit(claimed)  # under the lock: the job ids are the claims
  if not launcher.is_slurm:
    sweep.queue.extend(claimed)
  try:
    while sweep.queue or sweep.running or "elsewhere" in sweep.state.values():
      if not launcher.is_slurm:
        sweep.start_local()
      if not (sweep.settle_mine() | sweep.settle_elsewhere()):
        time.sleep(poll_interval)
  except BaseException:
    sweep.stop()
    raise
  return _outcome(variants, sweep_dir, log)
