"""The run loop: `run_sweep` runs a sweep's unfinished variants in workers.

Each pass of the loop starts queued variants whose locks are free (up to
`parallel` at once), then records the workers that have exited; results are
rewritten after every variant that ends.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import time
from typing import Callable, Optional, Sequence

from gan_jax.sweep import files
from gan_jax.sweep import processes
from gan_jax.sweep import results
from gan_jax.sweep import variants as variants_lib


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


class _Launch:
  """This launch's view of a sweep while `run_sweep` runs it.

  Attributes:
    state: variant name -> 'finished' | 'failed' | 'here' (its worker runs in
      this launch) | 'elsewhere' (another launch holds its lock) | 'pending'.
    queue: the variants still to start or settle, in sweep order.
    running: variant name -> the worker this launch runs it in.
  """

  def __init__(self, sweep_dir: str, *, total: int, parallel: int,
               worker: list[str], env: dict[str, str],
               log: Callable[[str], None]):
    self.sweep_dir = sweep_dir
    self.total = total
    self.parallel = parallel
    self.worker = worker
    self.env = env
    self.log = log
    self.start_time = time.time()
    self.state: dict[str, str] = {}
    self.queue: list[variants_lib.Variant] = []
    self.running: dict[str, processes.Running] = {}

  def plan(self, variants: Sequence[variants_lib.Variant]) -> None:
    """Queues the variants not finished yet and logs how many there are."""
    previously_failed = 0
    for variant in variants:
      if files.is_finished(self.sweep_dir, variant):
        self.state[variant.name] = "finished"
      else:
        self.state[variant.name] = "pending"
        self.queue.append(variant)
        previously_failed += os.path.exists(
            os.path.join(self.sweep_dir, variant.name, files.FAILED_FILE))
    skipped = self.total - len(self.queue)
    self.log(f"[sweep] {self.total} variants in {self.sweep_dir}: {skipped} "
             f"finished (skipped), {len(self.queue)} to run"
             + (f" ({previously_failed} failed before, retried)"
                if previously_failed else "")
             + (f", {self.parallel} at a time" if self.parallel > 1 else ""))

  def progress(self, message: str) -> None:
    counts = collections.Counter(self.state.values())
    done = counts["finished"] + counts["failed"]
    running = counts["here"] + counts["elsewhere"]
    self.log(f"[sweep] {done}/{self.total} done ({counts['failed']} failed, "
             f"{running} running): {message}")

  def start_ready(self) -> bool:
    """Takes the queued variants whose locks are free, up to `parallel`.

    Returns:
      Whether any variant left the queue.
    """
    changed = False
    i = 0
    while i < len(self.queue) and len(self.running) < self.parallel:
      variant = self.queue[i]
      lock = processes.Lock(self.sweep_dir, variant.name)
      if not lock.acquire():
        if self.state[variant.name] != "elsewhere":
          self.state[variant.name] = "elsewhere"
          self.progress(f"{variant.name} is running in another launch")
        i += 1
        continue
      self.queue.pop(i)
      changed = True
      self._claim(variant, lock)
    return changed

  def _claim(self, variant: variants_lib.Variant,
             lock: processes.Lock) -> None:
    """Runs `variant`, whose lock is held, unless another launch settled it."""
    name = variant.name
    # Another launch may have finished it since we looked.
    if files.is_finished(self.sweep_dir, variant):
      lock.release()
      self.state[name] = "finished"
      self.progress(f"{name} finished in another launch")
    elif processes.failed_since(self.sweep_dir, name, self.start_time):
      lock.release()
      self.state[name] = "failed"
      self.progress(f"{name} failed in another launch")
    else:
      self.running[name] = processes.start(self.sweep_dir, variant, lock,
                                           self.worker, self.env)
      self.state[name] = "here"
      self.progress(f"started {name}")

  def reap(self) -> bool:
    """Records the workers that have exited; returns whether any had."""
    changed = False
    for name, run in list(self.running.items()):
      returncode = run.process.poll()
      if returncode is None:
        continue
      del self.running[name]
      changed = True
      self.state[name] = processes.finish(self.sweep_dir, run, returncode)
      self._report(name, run)
      results.write_results(self.sweep_dir)
    return changed

  def _report(self, name: str, run: processes.Running) -> None:
    seconds = time.time() - run.start
    log_path = os.path.join(self.sweep_dir, name, files.LOG_FILE)
    if self.state[name] == "finished":
      self.progress(f"{name} finished in {seconds:.1f} s")
    else:
      error = files.read_json(
          os.path.join(self.sweep_dir, name, files.FAILED_FILE))
      self.progress(f"{name} FAILED after {seconds:.1f} s: "
                    f"{error['error']} (log: {log_path})")

  def stop(self) -> None:
    """Stops this launch's workers (when interrupted: the loop did not end).

    Their variants stay unfinished (and resumable), not failed.
    """
    processes.stop(list(self.running.values()))


def _worker_env(env: Optional[dict[str, str]],
                parallel: int) -> dict[str, str]:
  env = dict(os.environ if env is None else env)
  env.setdefault("PYTHONUNBUFFERED", "1")  # the log keeps up with the run
  if parallel > 1:
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  return env


def _outcome(variants: Sequence[variants_lib.Variant], sweep_dir: str,
             log: Callable[[str], None]) -> Outcome:
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
              parallel: int = 1,
              worker: Optional[Sequence[str]] = None,
              env: Optional[dict[str, str]] = None,
              poll_interval: float = 0.5,
              log: Callable[[str], None] = lambda s: print(s, flush=True)
              ) -> Outcome:
  """Runs every unfinished variant; writes results.csv and results.md.

  Finished variants are skipped without touching their files; failed and
  unfinished ones are (re)run, resuming from their checkpoints. A variant that
  another launch is running is waited for, not run twice; one that another
  launch saw fail during this launch is not retried. Results are rewritten
  after every variant that ends, so they can be read while a sweep runs.

  Args:
    variants: from `expand`.
    sweep_dir: the sweep's folder; variant `v` runs in `sweep_dir/v.name`.
    parallel: how many variants run at once.
    worker: the command that runs one variant, given its sub-workdir as the
      last argument; default `python -m gan_jax.sweep`. Exit status 0 and a
      complete summary.json mean finished.
    env: the workers' environment (default: this process's). With
      parallel > 1 it gets XLA_PYTHON_CLIENT_PREALLOCATE=false unless set, so
      that workers sharing a GPU do not each claim most of its memory.
    poll_interval: seconds between checks on workers and locks.
    log: receives the progress lines.

  Returns:
    The variants by status after the sweep.
  """
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, got {parallel}")
  worker = list(worker or processes.default_worker())
  env = _worker_env(env, parallel)
  os.makedirs(sweep_dir, exist_ok=True)
  files.write_sweep_file(sweep_dir, variants)
  launch = _Launch(sweep_dir, total=len(variants), parallel=parallel,
                   worker=worker, env=env, log=log)
  launch.plan(variants)
  try:
    while launch.queue or launch.running:
      started = launch.start_ready()
      ended = launch.reap()
      if not (started or ended):
        time.sleep(poll_interval)
  finally:
    launch.stop()
  return _outcome(variants, sweep_dir, log)
