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
    (finished), failed.json (the job's own error), its log saying a signal
    stopped it after a checkpoint (unfinished, resumable), or none of these
    (killed: failed, with its log's last lines).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import fcntl
import os
import signal
import socket
import threading
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


@contextlib.contextmanager
def _sigint_ignored_by_local_jobs(launcher: launchers.Launcher
                                  ) -> Iterator[None]:
  """Local jobs start with SIGINT ignored (a disposition children inherit).

  A Ctrl-C in a terminal reaches the whole process group: submitit's local
  controller would answer it by killing its task a second later, before the
  task's checkpoint is written. Ignoring it there, the task's own training
  handler (`train.Preemption`) still answers it, and `_Sweep.stop` ends the
  jobs with SIGTERM.
  """
  if launcher.is_slurm or (threading.current_thread() is not
                           threading.main_thread()):
    yield
    return
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)


def _held_elsewhere(workdir: str, record: Any) -> bool:
  """Whether a run trains in `workdir` or another launch's claim is alive."""
  return _training(workdir) or (
      isinstance(record, dict) and record.get("launch_pid") != os.getpid()
      and _claim_alive(record))


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
    self.attempts: dict[str, int] = {}  # name -> this attempt's number
    self.failed_before = 0
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

  def plan(self, names: Sequence[str], *, claim: bool = True
           ) -> list[variants_lib.Variant]:
    """Sorts `names` into finished / elsewhere / to run; returns the latter.

    With `claim`, the returned variants are claimed (call under the submit
    lock); without, they are only queued, and claimed one by one when a
    local slot frees (so that two local launches share a sweep).
    """
    to_run = []
    for name in names:
      variant = self.variants[name]
      record = files.read_json(os.path.join(self.workdir(name), JOB_FILE))
      if files.is_finished(self.sweep_dir, variant):
        self.state[name] = "finished"
      elif _held_elsewhere(self.workdir(name), record):
        self.state[name] = "elsewhere"
      else:
        self.state[name] = "mine"
        self.failed_before += os.path.exists(
            os.path.join(self.workdir(name), files.FAILED_FILE))
        if claim:
          self._write_claim(variant, record)
        to_run.append(variant)
    return to_run

  def _write_claim(self, variant: variants_lib.Variant, previous: Any) -> None:
    workdir = self.workdir(variant.name)
    os.makedirs(workdir, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
      os.remove(os.path.join(workdir, files.FAILED_FILE))  # decided anew
    files.write_variant_file(workdir, variant)
    self.attempts[variant.name] = 1 + (
        previous.get("attempt", 0) if isinstance(previous, dict) else 0)
    self._write_job(variant.name, state="queued")

  def _write_job(self, name: str, **fields: Any) -> None:
    record = dict(launcher=self.launcher.name, host=socket.gethostname(),
                  launch_pid=os.getpid(), time=time.time(),
                  attempt=self.attempts[name], **fields)
    files.write_json(os.path.join(self.workdir(name), JOB_FILE), record)

  # ---- submitting -----------------------------------------------------------

  def submit(self, variants: Sequence[variants_lib.Variant]) -> None:
    """Submits the variants as one job array (SLURM) or one job each."""
    if not variants:
      return
    workdirs = [self.workdir(v.name) for v in variants]
    with _sigint_ignored_by_local_jobs(self.launcher):
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
    """Local: claims and submits queued variants while fewer than `parallel`
    run; skips those another launch finished or took meanwhile."""
    while self.queue and len(self.running) < self.launcher.parallel:
      name = self.queue.pop(0).name
      with _submit_lock(self.sweep_dir):
        self.failed_before = 0
        claimed = self.plan([name])
        self.submit(claimed)
      if not claimed:
        self.progress(f"{name} is {self.state[name]} in another launch")

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
    """How `job` ended ('finished', 'failed', 'unfinished': stopped by a
    signal after its checkpoint, or 'elsewhere': it was busy), and a line
    saying so."""
    result = _job_result(job)
    record = files.read_json(os.path.join(self.workdir(name), JOB_FILE))
    if not isinstance(record, dict) or record.get("job_id") != job.job_id:
      return "elsewhere", f"{name} was claimed again by another launch"
    if isinstance(result, dict) and result.get("status") == "busy":
      return "elsewhere", f"{name} is training in another job; waiting"
    seconds = time.time() - record.get("time", time.time())
    if result is None and _stopped_by_signal(job):
      return "unfinished", (f"{name} stopped by a signal after saving a "
                            f"checkpoint (job {job.job_id}); re-run to resume")
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
    path = os.path.join(self.workdir(name), files.FAILED_FILE)
    files.write_json(path, dict(files.read_json(path) or failed,
                                attempt=record.get("attempt")))
    return "failed", (f"{name} FAILED (job {job.job_id}): {failed['error']} "
                      f"(log: {job.paths.stdout})")

  def settle_elsewhere(self) -> bool:
    """Settles the variants other launches ran; takes over any they left.

    What is on disk decides first: two launches each waiting for the other
    to exit would wait forever.
    """
    changed = False
    for name in [n for n, s in self.state.items() if s == "elsewhere"]:
      workdir = self.workdir(name)
      status = files.variant_status(
          self.sweep_dir, name, int(self.variants[name].config.train.steps))
      if status == "unfinished":
        if _held_elsewhere(workdir, files.read_json(
            os.path.join(workdir, JOB_FILE))):
          continue
        self.progress(f"{name} was left unfinished by another launch")
        if self.launcher.is_slurm:
          with _submit_lock(self.sweep_dir):
            self.submit(self.plan([name]))
        else:
          self.state[name] = "mine"
          self.queue.append(self.variants[name])
      else:
        self.state[name] = status
        self.progress(f"{name} {status} in another launch")
      changed = True
    return changed

  def stop(self) -> None:
    """Interrupted: local jobs checkpoint and stop; SLURM's go on.

    A local job gets SIGTERM, which submitit's local controller forwards to
    the task, whose training saves a checkpoint and exits; repeated, because
    a job still starting ignores it (submitit's own handler) until training
    runs. (`job.cancel()` sends SIGINT, then SIGKILL a second later: too soon
    for a checkpoint.)
    """
    if self.launcher.is_slurm:
      if self.running:
        self.log(f"[sweep] {len(self.running)} SLURM jobs keep running "
                 f"({', '.join(j.job_id for j in self.running.values())}); "
                 f"re-run the same command to follow them")
      return
    deadline = time.time() + 300
    while time.time() < deadline:
      alive = [job for job in self.running.values() if not job.done()]
      if not alive:
        break
      for job in alive:
        with contextlib.suppress(OSError, ValueError):
          os.kill(int(job.job_id), signal.SIGTERM)  # a local job id: a pid
      time.sleep(5.0)
    self.log(f"[sweep] stopped {len(self.running)} local job(s), each after "
             f"saving a checkpoint; re-run the same command to resume")


def _log_plan(sweep: _Sweep, to_run: int, log: Callable[[str], None]) -> None:
  counts = collections.Counter(sweep.state.values())
  log(f"[sweep] {len(sweep.variants)} variants in {sweep.sweep_dir}: "
      f"{counts['finished']} finished (skipped), {to_run} to run"
      + (f" ({sweep.failed_before} failed before, retried)"
         if sweep.failed_before else "")
      + (f", {counts['elsewhere']} in other launches"
         if counts["elsewhere"] else "")
      + f"; {sweep.launcher.name} launcher"
      + (f", {sweep.launcher.parallel} at a time"
         if not sweep.launcher.is_slurm and sweep.launcher.parallel > 1
         else ""))


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


def _stopped_by_signal(job) -> bool:
  """Whether the job's training said it stopped on a signal (`TrainJob`)."""
  try:
    with open(job.paths.stdout, errors="replace") as f:
      return any(line.startswith("[sweep job] stopped by SIG") for line in f)
  except OSError:
    return False


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
    to_run = sweep.plan([v.name for v in variants], claim=launcher.is_slurm)
    _log_plan(sweep, len(to_run), log)
    if launcher.is_slurm:
      sweep.submit(to_run)  # under the lock: the job ids are the claims
    else:
      sweep.queue.extend(to_run)
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
