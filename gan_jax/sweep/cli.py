"""launch.py's sweep and SLURM flags: the launcher, a sweep, one SLURM run.

`define_flags()` defines --sweep, --parallel, --collect, --launcher, the
--slurm_* flags, --nodes and --tasks_per_node; `launcher()` checks them
before anything is submitted; `run` runs a sweep (or, with --collect, only
writes its table) and `submit` one run as a SLURM job. Their errors are
one-line exits with launch.py's statuses (`gan_jax.cli`).

A sweep stops on Ctrl-C (SIGINT) and on SIGTERM alike: its local jobs save a
checkpoint and stop, SLURM's keep running, and the launch exits 128 + N with
one line; the same command resumes the sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Iterator

from absl import flags
import ml_collections
from ml_collections import config_flags

from gan_jax import cli
from gan_jax.sweep import jobs
from gan_jax.sweep import launchers
from gan_jax.sweep import results
from gan_jax.sweep import runner
from gan_jax.sweep import variants

FLAGS = flags.FLAGS

# Flags that mean something only to --launcher=slurm.
SLURM_ONLY = ("slurm_partition", "slurm_time", "slurm_gpus_per_node",
              "slurm_cpus_per_task", "slurm_array_parallelism",
              "slurm_additional", "nodes", "tasks_per_node")


def define_flags() -> None:
  """Defines the sweep's and the launcher's flags (in absl's FLAGS)."""
  flags.DEFINE_bool(
      "sweep", False, "Run every variant of the config file's sweep(arg), "
      "each in a sub-workdir of --workdir, and write results.csv / "
      "results.md.")
  flags.DEFINE_integer(
      "parallel", 1, "With --sweep --launcher=local: how many variants run "
      "at once.", lower_bound=1)
  flags.DEFINE_bool(
      "collect", False, "With --sweep: submit nothing; write results.csv / "
      "results.md from the runs on disk now.")
  flags.DEFINE_string(
      "launcher", "local", "Where the run (or the sweep's variants) runs: "
      "'local' (this machine) or 'slurm' (sbatch; a job array for a sweep).")
  flags.DEFINE_string(
      "slurm_partition", "", "--launcher=slurm: the partition (default: "
      "SLURM's default partition).")
  flags.DEFINE_string(
      "slurm_time", "", "--launcher=slurm: the time limit per job, as sbatch "
      "--time takes it (minutes, HH:MM:SS, D-HH:MM:SS); jobs that reach it "
      "checkpoint and are requeued.")
  flags.DEFINE_integer(
      "slurm_gpus_per_node", 0, "--launcher=slurm: GPUs per node.",
      lower_bound=0)
  flags.DEFINE_integer(
      "slurm_cpus_per_task", 0, "--launcher=slurm: CPUs per task.",
      lower_bound=0)
  flags.DEFINE_integer(
      "slurm_array_parallelism", 0, "--launcher=slurm --sweep: at most this "
      "many of the array's jobs run at once (0: no limit).", lower_bound=0)
  flags.DEFINE_string(
      "slurm_additional", "", "--launcher=slurm: more sbatch options as "
      "key=value,key=value (without the '--'), e.g. qos=high,account=me.")
  flags.DEFINE_integer(
      "nodes", 1, "--launcher=slurm: nodes of one multi-process run "
      "(jax.distributed, set up from SLURM's environment).", lower_bound=1)
  flags.DEFINE_integer(
      "tasks_per_node", 1, "--launcher=slurm: processes per node of one "
      "multi-process run.", lower_bound=1)


def requested() -> bool:
  """Whether the command line asks for a sweep (--sweep)."""
  return FLAGS.sweep


def launcher() -> launchers.Launcher:
  """The --launcher / --slurm_* flags, checked before anything is submitted."""
  if FLAGS.parallel != 1 and not FLAGS.sweep:
    cli.config_error("--parallel applies only with --sweep")
  if FLAGS.collect and not FLAGS.sweep:
    cli.config_error("--collect applies only with --sweep")
  name = FLAGS.launcher
  if name not in launchers.LAUNCHERS:
    cli.config_error(f"--launcher={name!r} is not known; choose one of "
                     f"{', '.join(launchers.LAUNCHERS)}")
  given = [f"--{n}" for n in SLURM_ONLY if FLAGS[n].present]
  if name != "slurm" and given:
    cli.config_error(f"{', '.join(given)} apply only with --launcher=slurm "
                     f"(got --launcher={name})")
  if name == "slurm" and FLAGS["parallel"].present:
    cli.config_error("--parallel applies to --launcher=local; with "
                     "--launcher=slurm use --slurm_array_parallelism")
  chosen = launchers.Launcher(
      name=name, parallel=FLAGS.parallel, partition=FLAGS.slurm_partition,
      time=FLAGS.slurm_time, gpus_per_node=FLAGS.slurm_gpus_per_node,
      cpus_per_task=FLAGS.slurm_cpus_per_task,
      array_parallelism=FLAGS.slurm_array_parallelism,
      additional=FLAGS.slurm_additional, nodes=FLAGS.nodes,
      tasks_per_node=FLAGS.tasks_per_node)
  if FLAGS.sweep and chosen.multi_process:
    cli.config_error("--nodes / --tasks_per_node make one multi-process run; "
                     "a sweep's variants are one-process runs (drop --sweep)")
  try:
    chosen.check()
  except launchers.LaunchError as e:
    cli.config_error(str(e))
  return chosen


class Terminated(BaseException):
  """SIGTERM reached the launch while its sweep ran.

  A BaseException, as KeyboardInterrupt is, so that no `except Exception`
  on the way swallows it.
  """

  def __init__(self, signum: int):
    super().__init__(f"stopped by signal {signum}")
    self.signum = signum


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
  """SIGTERM raises Terminated here, so that the sweep stops as on Ctrl-C.

  By default SIGTERM ends the launch at once, silently, before it has
  stopped its local jobs. A second SIGTERM while they save their
  checkpoints is ignored (SIGKILL still ends the launch).
  """
  if threading.current_thread() is not threading.main_thread():
    yield  # signal handlers can only be set in the main thread
    return

  def handler(signum, frame):
    del frame
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)

  previous = signal.signal(signal.SIGTERM, handler)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def _variants(config: ml_collections.ConfigDict) -> list[variants.Variant]:
  """The config file's sweep, every variant validated (exits if invalid)."""
  spec = config_flags.get_config_filename(FLAGS["config"])
  try:
    overrides = variants.load_sweep(spec)
  except variants.SweepError as e:
    cli.config_error(f"invalid sweep: {e}")
  try:
    num_devices = variants.probe_device_count()
  except variants.SweepError as e:
    cli.fail("error", str(e), cli.EXIT_ERROR)
  try:
    # Validates every variant (the base config alone need not be valid).
    return variants.expand(config, overrides, num_devices=num_devices)
  except variants.SweepError as e:
    cli.config_error(f"invalid sweep: {e}")


def run(config: ml_collections.ConfigDict, sweep_dir: str,
        chosen: launchers.Launcher) -> None:
  """--sweep: runs the variants (the logic is in runner); here the exits."""
  if FLAGS.collect:
    try:
      paths = results.write_results(sweep_dir)
    except variants.SweepError as e:
      cli.workdir_error(str(e))
    print(f"Results of {sweep_dir}: {paths[0]}, {paths[1]}")
    return
  to_run = _variants(config)
  try:
    with _sigterm_raises():
      outcome = runner.run_sweep(to_run, sweep_dir, launcher=chosen)
  except (KeyboardInterrupt, Terminated) as e:
    signum = e.signum if isinstance(e, Terminated) else signal.SIGINT
    cli.fail("interrupted", f"the sweep in {sweep_dir} stopped; re-run the "
             f"same command to resume it", 128 + signum)
  except OSError as e:
    cli.workdir_error(f"cannot write in sweep folder {sweep_dir}: "
                      f"{e.strerror or e}")
  if outcome.failed or outcome.unfinished:
    cli.fail("sweep failed",
             f"{len(outcome.failed)} of {outcome.total} variants failed, "
             f"{len(outcome.unfinished)} unfinished; errors in "
             f"{outcome.results_md}; re-run the same command to retry them",
             cli.EXIT_ERROR)


def submit(config: ml_collections.ConfigDict, workdir: str,
           chosen: launchers.Launcher) -> dict[str, Any]:
  """--launcher=slurm without --sweep: one job (multi-process with --nodes /
  --tasks_per_node); waits for it and returns its summary."""
  try:
    os.makedirs(workdir, exist_ok=True)
    executor = chosen.executor(os.path.join(workdir, "submitit", "%j"))
  except OSError as e:
    cli.workdir_error(f"cannot write in workdir {workdir}: {e.strerror or e}")
  job = executor.submit(jobs.TrainJob(config.to_dict(),
                                      multi_process=chosen.multi_process),
                        workdir)
  print(f"Submitted SLURM job {job.job_id} ({chosen.nodes} node(s) x "
        f"{chosen.tasks_per_node} task(s)); log: {job.paths.stdout}",
        flush=True)
  result = runner.wait_for_job(job, chosen)
  if isinstance(result, dict) and result.get("status") == "finished":
    return result["summary"]
  if isinstance(result, dict):
    error = result.get("error") or result
  else:
    error = result or ("the job ended without a result (cancelled, killed "
                       "or out of memory?)")
  cli.fail("error", f"SLURM job {job.job_id}: {error}; log: "
           f"{job.paths.stdout}", cli.EXIT_ERROR)
