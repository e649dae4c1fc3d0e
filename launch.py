r"""Trains a GAN from a config file: a thin absl app around gan_jax.train.

  python launch.py --config experiments/configs/ring.py --workdir runs/ring
  python launch.py --config experiments/configs/ring.py --workdir runs/ring2 \
      --config.train.steps=2000 --config.loss.name=saturating

Every config field can be overridden with --config.<field>=<value>. The config
is validated before anything is compiled or loaded: a wrong name or value
stops with a message naming the field and the valid choices. Re-running with
the same --workdir resumes from its latest checkpoint.

A config file that defines sweep(arg=None) can run as a sweep: every variant
in its own sub-workdir of --workdir, then results.csv and results.md there
(see gan_jax/sweep/). --config.<field> overrides apply to every variant; a
variant's own overrides win over them. Re-running resumes the sweep.

  python launch.py --config experiments/configs/gaussian_1d.py --sweep \
      --workdir runs/gaussian_1d_sweep --parallel 2

Multi-process (multi-host): run the same command once per process, with
--coordinator_address (host:port of process 0), --num_processes and this
--process_id; or with --distributed on a cluster JAX detects (SLURM, Open MPI,
Cloud TPU, GKE). Each process loads only its share of an image data set;
process 0 writes the workdir's files (on a file system all processes see).

  python launch.py --config experiments/configs/ring.py --workdir runs/ring \
      --coordinator_address=localhost:12355 --num_processes=2 --process_id=0

Exit status (an error is one line on stderr: launch.py: <kind>: <message>):

  0       done; --help; or the workdir's run had already finished (nothing
          changed: raise --config.train.steps to continue it)
  1       data error (missing or corrupt data files), workdir error (in use,
          not a folder, not writable, disk full, another run's), training
          diverged, a failed sweep variant, or another runtime error
  2       config error: a bad flag, field or value, a config file that cannot
          be loaded, an invalid sweep, launcher flags that cannot work (an
          unknown --launcher, --slurm_* without --launcher=slurm, a
          partition SLURM does not know, no sbatch): stops before any
          training or submission
  128+N   stopped by signal N after saving a checkpoint (143 = SIGTERM,
          130 = SIGINT, 140 = SIGUSR2); the same command resumes
"""

from __future__ import annotations

import difflib
import importlib.util
import logging as std_logging
import os
import signal
import sys
from typing import NoReturn

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

# Imports no jax (the config file's default_config() does).
from gan_jax import config as config_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (experiments/configs/*.py), "
    "optionally followed by :arg for get_config(arg).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder of the run (created; resumed if it holds "
    "a run of the same config).")
_SWEEP = flags.DEFINE_bool(
    "sweep", False, "Run every variant of the config file's sweep(arg), each "
    "in a sub-workdir of --workdir, and write results.csv / results.md.")
_PARALLEL = flags.DEFINE_integer(
    "parallel", 1, "With --sweep --launcher=local: how many variants run at "
    "once.", lower_bound=1)
_COLLECT = flags.DEFINE_bool(
    "collect", False, "With --sweep: submit nothing; write results.csv / "
    "results.md from the runs on disk now.")
_LAUNCHER = flags.DEFINE_string(
    "launcher", "local", "Where the run (or the sweep's variants) runs: "
    "'local' (this machine) or 'slurm' (sbatch; a job array for a sweep).")
_SLURM_PARTITION = flags.DEFINE_string(
    "slurm_partition", "", "--launcher=slurm: the partition (default: "
    "SLURM's default partition).")
_SLURM_TIME = flags.DEFINE_string(
    "slurm_time", "", "--launcher=slurm: the time limit per job, as sbatch "
    "--time takes it (minutes, HH:MM:SS, D-HH:MM:SS); jobs that reach it "
    "checkpoint and are requeued.")
_SLURM_GPUS = flags.DEFINE_integer(
    "slurm_gpus_per_node", 0, "--launcher=slurm: GPUs per node.",
    lower_bound=0)
_SLURM_CPUS = flags.DEFINE_integer(
    "slurm_cpus_per_task", 0, "--launcher=slurm: CPUs per task.",
    lower_bound=0)
_SLURM_ARRAY_PARALLELISM = flags.DEFINE_integer(
    "slurm_array_parallelism", 0, "--launcher=slurm --sweep: at most this "
    "many of the array's jobs run at once (0: no limit).", lower_bound=0)
_SLURM_ADDITIONAL = flags.DEFINE_string(
    "slurm_additional", "", "--launcher=slurm: more sbatch options as "
    "key=value,key=value (without the '--'), e.g. qos=high,account=me.")
_NODES = flags.DEFINE_integer(
    "nodes", 1, "--launcher=slurm: nodes of one multi-process run "
    "(jax.distributed, set up from SLURM's environment).", lower_bound=1)
_TASKS_PER_NODE = flags.DEFINE_integer(
    "tasks_per_node", 1, "--launcher=slurm: processes per node of one "
    "multi-process run.", lower_bound=1)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", "", "Multi-process: host:port of process 0 "
    "(with --num_processes and --process_id).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", 0, "Multi-process: how many processes the run spans.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", -1, "Multi-process: this process, 0 .. num_processes - 1.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Multi-process on a cluster JAX detects (SLURM, "
    "Open MPI, Cloud TPU, GKE): jax.distributed.initialize() with no "
    "arguments.")
_DISTRIBUTED_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout", 300, "Multi-process: seconds to wait for every "
    "process to connect.", lower_bound=1)
flags.mark_flags_as_required(["config", "workdir"])

_OUTPUTS = ("config.json, metrics.jsonl, tensorboard/, checkpoints/, "
            "samples/, summary.json")


# ----------------------------------------------------------------------------
# Exits: one line on stderr, a documented status (see the module docstring).
# ----------------------------------------------------------------------------

EXIT_ERROR = 1  # data, workdir, divergence, another runtime error
EXIT_CONFIG = 2  # bad flags or config; nothing started


def _fail(kind: str, message: str, code: int) -> NoReturn:
  sys.stderr.write(f"launch.py: {kind}: {message}\n")
  sys.exit(code)


def _config_error(message: str) -> NoReturn:
  _fail("config error", message, EXIT_CONFIG)


def _workdir_error(message: str) -> NoReturn:
  _fail("workdir error", message, EXIT_ERROR)


# ----------------------------------------------------------------------------
# Readable errors for --help, a config file that fails to load, and bad
# --config.<field> overrides.
# ----------------------------------------------------------------------------

# absl's help flags exit 1; here they print the help and exit 0.
_HELP_FLAGS = {"-h": True, "-?": True, "--help": True, "-help": True,
               "--helpshort": True, "-helpshort": True,
               "--helpfull": False, "-helpfull": False}


def _help_requested(argv: list[str]):
  """True/False (short/full help) for the first help flag, else None."""
  for arg in argv[1:]:
    if arg == "--":
      break
    if arg in _HELP_FLAGS:
      return _HELP_FLAGS[arg]
  return None


def _config_arg(argv: list[str]):
  for i, arg in enumerate(argv):
    if arg == "--":
      break
    for prefix in ("--config=", "-config="):
      if arg.startswith(prefix):
        return arg[len(prefix):]
    if arg in ("--config", "-config") and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _config_load_error(spec: str):
  """'cannot load config file X: Type: message' if `path[:arg]` fails, else None.

  config_flags defers a load error (or reports it as a flag error); loading
  the file again here gives the real exception.
  """
  path = spec.split(":", 1)[0]
  if not os.path.isfile(path):
    return f"cannot load config file {path}: FileNotFoundError: no such file"
  try:
    config = config_lib.from_file(spec)
  except Exception as e:  # pylint: disable=broad-except
    # One line: a SyntaxError's text names the file and line.
    message = " ".join(str(e).split()) or "(no message)"
    return f"cannot load config file {path}: {type(e).__name__}: {message}"
  if not isinstance(config, ml_collections.ConfigDict):
    return (f"cannot load config file {path}: its get_config() returned "
            f"{type(config).__name__}, not a ConfigDict")
  return None


def _load_config_file(spec: str):
  """get_config(arg) of `path[:arg]`, or the default schema if that fails."""
  try:
    return config_lib.from_file(spec)
  except Exception:  # pylint: disable=broad-except
    return config_lib.default_config()


def _unknown_override(argv: list[str]):
  """Message for the first --config.a.b override naming no config field."""
  spec = _config_arg(argv)
  config = _load_config_file(spec) if spec else None
  if config is None:
    return None
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    field = arg[len("--"):].split("=", 1)[0]
    node, path = config, "config"
    for part in field.split(".")[1:]:
      if not isinstance(node, ml_collections.ConfigDict):
        return (f"{path} is a value, not a group of fields; there is no "
                f"{path}.{part} (from {arg})")
      if part not in node:
        keys = list(node.keys())
        close = difflib.get_close_matches(part, keys, n=1)
        hint = f" Did you mean {path}.{close[0]}?" if close else ""
        return (f"{path}.{part} is not a known field (from {arg}); valid "
                f"fields of {path}: {', '.join(keys)}.{hint}")
      node, path = node[part], f"{path}.{part}"
  return None


def _flag_error_message(e: flags.Error) -> str:
  # absl: "flag --config.train.steps=abc: invalid literal for int() ...".
  message = " ".join(str(e).split())
  if message.startswith("flag --"):
    message = message[len("flag "):]
  return message + " (see --helpshort)"


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with exit 0 for help and exit 2 for bad flags."""
  shorthelp = _help_requested(argv)
  if shorthelp is not None:
    app.usage(shorthelp=shorthelp, writeto_stdout=True, exitcode=0)
  spec = _config_arg(argv)
  try:
    remaining = flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    # A config file that raises: config_flags reports an OSError later, a
    # TypeError/ValueError as a flag error with a traceback in its text, and
    # anything else as itself. The file's own error comes first.
    load_error = spec and _config_load_error(spec)
    if load_error:
      _config_error(load_error)
    if isinstance(e, flags.Error):
      # Includes a value of the wrong type (--config.train.steps=abc).
      _config_error(_unknown_override(argv) or _flag_error_message(e))
    # ml_collections raises AttributeError/KeyError with an unhelpful message
    # for an override of a field that does not exist.
    _config_error(_unknown_override(argv) or
                  f"invalid config override: {type(e).__name__}: {e}")
  if not isinstance(flags.FLAGS["config"].value, ml_collections.ConfigDict):
    # config_flags defers an OSError while loading (e.g. a missing file)
    # until the config is used.
    _config_error(_config_load_error(spec or "") or
                  "cannot load the config file given by --config")
  return remaining


# ----------------------------------------------------------------------------


def _quiet_library_logs() -> None:
  """Keeps orbax's INFO chatter out of the console (warnings still show)."""

  def keep(record: std_logging.LogRecord) -> bool:
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.get_absl_handler().addFilter(keep)


def _quiet_backend_probe() -> None:
  """Hides JAX's INFO "Unable to initialize backend 'tpu'" (on every CPU run).

  Only INFO from that one logger: its warnings (e.g. a GPU without a
  CUDA-enabled jaxlib) still show.
  """
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)


def _check_workdir_path(workdir: str) -> None:
  """Cheap checks before any backend starts (the run checks again)."""
  if not workdir or not workdir.strip():
    _workdir_error("the workdir is empty (--workdir ''); give a folder path")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    _workdir_error(f"workdir {workdir} exists and is not a folder; give a "
                   "folder path")


_SLURM_ONLY = ("slurm_partition", "slurm_time", "slurm_gpus_per_node",
               "slurm_cpus_per_task", "slurm_array_parallelism",
               "slurm_additional", "nodes", "tasks_per_node")


def _launcher():
  """The --launcher / --slurm_* flags, checked before anything is submitted."""
  from gan_jax.sweep import launchers  # pylint: disable=g-import-not-at-top
  name = _LAUNCHER.value
  if name not in launchers.LAUNCHERS:
    _config_error(f"--launcher={name!r} is not known; choose one of "
                  f"{', '.join(launchers.LAUNCHERS)}")
  given = [f"--{n}" for n in _SLURM_ONLY if flags.FLAGS[n].present]
  if name != "slurm" and given:
    _config_error(f"{', '.join(given)} apply only with --launcher=slurm "
                  f"(got --launcher={name})")
  if name == "slurm" and flags.FLAGS["parallel"].present:
    _config_error("--parallel applies to --launcher=local; with "
                  "--launcher=slurm use --slurm_array_parallelism")
  launcher = launchers.Launcher(
      name=name, parallel=_PARALLEL.value, partition=_SLURM_PARTITION.value,
      time=_SLURM_TIME.value, gpus_per_node=_SLURM_GPUS.value,
      cpus_per_task=_SLURM_CPUS.value,
      array_parallelism=_SLURM_ARRAY_PARALLELISM.value,
      additional=_SLURM_ADDITIONAL.value, nodes=_NODES.value,
      tasks_per_node=_TASKS_PER_NODE.value)
  if _SWEEP.value and launcher.multi_process:
    _config_error("--nodes / --tasks_per_node make one multi-process run; a "
                  "sweep's variants are one-process runs (drop --sweep)")
  try:
    launcher.check()
  except launchers.LaunchError as e:
    _config_error(str(e))
  return launcher


def _run_sweep(config, sweep_dir: str, launcher) -> None:
  """--sweep: the logic is in gan_jax.sweep; here only the exits."""
  from gan_jax import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  if _COLLECT.value:
    try:
      paths = sweep_lib.write_results(sweep_dir)
    except sweep_lib.SweepError as e:
      _workdir_error(str(e))
    print(f"Results of {sweep_dir}: {paths[0]}, {paths[1]}")
    return
  spec = config_flags.get_config_filename(flags.FLAGS["config"])
  try:
    overrides = sweep_lib.load_sweep(spec)
  except sweep_lib.SweepError as e:
    _config_error(f"invalid sweep: {e}")
  try:
    num_devices = sweep_lib.probe_device_count()
  except sweep_lib.SweepError as e:
    _fail("error", str(e), EXIT_ERROR)
  try:
    # Validates every variant (the base config alone need not be valid).
    variants = sweep_lib.expand(config, overrides, num_devices=num_devices)
  except sweep_lib.SweepError as e:
    _config_error(f"invalid sweep: {e}")
  try:
    outcome = sweep_lib.run_sweep(variants, sweep_dir, launcher=launcher)
  except KeyboardInterrupt:
    _fail("interrupted", f"the sweep in {sweep_dir} stopped; re-run the same "
          f"command to resume it", 128 + signal.SIGINT)
  except OSError as e:
    _workdir_error(f"cannot write in sweep folder {sweep_dir}: "
                   f"{e.strerror or e}")
  if outcome.failed or outcome.unfinished:
    _fail("sweep failed",
          f"{len(outcome.failed)} of {outcome.total} variants failed, "
          f"{len(outcome.unfinished)} unfinished; errors in "
          f"{outcome.results_md}; re-run the same command to retry them",
          EXIT_ERROR)


def _submit_run(config, workdir: str, launcher) -> dict:
  """--launcher=slurm without --sweep: one job (multi-process with --nodes /
  --tasks_per_node); waits for it and returns its summary."""
  from gan_jax.sweep import jobs  # pylint: disable=g-import-not-at-top
  from gan_jax.sweep import runner  # pylint: disable=g-import-not-at-top
  try:
    os.makedirs(workdir, exist_ok=True)
    executor = launcher.executor(os.path.join(workdir, "submitit", "%j"))
  except OSError as e:
    _workdir_error(f"cannot write in workdir {workdir}: {e.strerror or e}")
  job = executor.submit(jobs.TrainJob(config.to_dict(),
                                      multi_process=launcher.multi_process),
                        workdir)
  print(f"Submitted SLURM job {job.job_id} ({launcher.nodes} node(s) x "
        f"{launcher.tasks_per_node} task(s)); log: {job.paths.stdout}",
        flush=True)
  result = runner.wait_for_job(job, launcher)
  if isinstance(result, dict) and result.get("status") == "finished":
    return result["summary"]
  if isinstance(result, dict):
    error = result.get("error") or result
  else:
    error = result or ("the job ended without a result (cancelled, killed "
                       "or out of memory?)")
  _fail("error", f"SLURM job {job.job_id}: {error}; log: {job.paths.stdout}",
        EXIT_ERROR)


def _validate(config, num_devices, num_processes: int) -> None:
  try:
    config_lib.validate(config, num_devices, num_processes=num_processes)
  except config_lib.ConfigError as e:
    _config_error(str(e))
  except ValueError as e:
    # Only a validation that read data files has imported gan_jax.data
    # (which imports jax); import it only then.
    from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    if isinstance(e, data_lib.DataError):
      _fail("data error", str(e), EXIT_ERROR)
    raise


def _tensorboard_line(logdir: str) -> str:
  if importlib.util.find_spec("tensorboard") is not None:
    return f"  tensorboard --logdir {logdir}"
  return (f"  TensorBoard: pip install tensorboard, then tensorboard --logdir "
          f"{logdir}")


def main(argv: list[str]) -> None:
  _quiet_backend_probe()
  if len(argv) > 1:
    _config_error(f"unexpected arguments: {' '.join(argv[1:])} (flags take "
                  "the form --name=value; see --helpshort)")
  if _PARALLEL.value != 1 and not _SWEEP.value:
    _config_error("--parallel applies only with --sweep")
  if _COLLECT.value and not _SWEEP.value:
    _config_error("--collect applies only with --sweep")
  launcher = _launcher()

  config = _CONFIG.value
  workdir = _WORKDIR.value
  settings = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if not _SWEEP.value:
    # Before anything starts a JAX backend (and before gan_jax.distributed,
    # which imports jax): all but the device-count rule. A sweep validates
    # each variant instead.
    _validate(config, None, num_processes=(
        launcher.nodes * launcher.tasks_per_node if launcher.is_slurm else
        max(1, _NUM_PROCESSES.value)))

  from gan_jax import distributed  # pylint: disable=g-import-not-at-top
  try:
    multi = distributed.check_settings(*settings)
  except distributed.DistributedError as e:
    _config_error(str(e))
  if multi and _DISTRIBUTED.value:
    _config_error("--distributed (auto-detect) and --coordinator_address/"
                  "--num_processes/--process_id exclude each other")
  multi = multi or _DISTRIBUTED.value
  if _SWEEP.value and multi:
    _config_error("--sweep runs its variants as separate one-process runs; "
                  "launch multi-process runs one at a time, without --sweep")
  if launcher.is_slurm and multi:
    _config_error("--launcher=slurm sets up the processes itself: use "
                  "--nodes / --tasks_per_node, not --distributed or "
                  "--coordinator_address")
  _check_workdir_path(workdir)
  if _SWEEP.value:
    # This process starts no JAX backend.
    _run_sweep(config, workdir, launcher)
    return
  if launcher.is_slurm:
    _print_done(_submit_run(config, workdir, launcher), workdir)
    return

  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  try:
    # Before anything starts a JAX backend.
    distributed.initialize(*settings, auto=_DISTRIBUTED.value,
                           timeout_sec=_DISTRIBUTED_TIMEOUT.value)
    num_devices, num_processes = jax.device_count(), jax.process_count()
  except distributed.DistributedError as e:
    _config_error(str(e))
  except RuntimeError as e:  # no such backend, coordinator unreachable, ...
    _fail("error", "cannot start JAX: " + " ".join(str(e).split()),
          EXIT_ERROR)
  _validate(config, num_devices, num_processes=num_processes)

  logging.set_verbosity(logging.INFO)
  _quiet_library_logs()
  if multi:
    logging.info("Multi-process run: %s", distributed.describe())
  print(f"Outputs will be in {os.path.abspath(workdir)}: {_OUTPUTS}",
        flush=True)
  try:
    summary = train.train_and_evaluate(config, workdir)
  except config_lib.ConfigError as e:  # e.g. a step too large for the device
    _config_error(str(e))
  except data_lib.DataError as e:
    _fail("data error", str(e), EXIT_ERROR)
  except train.WorkdirError as e:  # including WorkdirBusy
    _workdir_error(str(e))
  except train.DivergenceError as e:
    message = str(e)
    prefix = "training diverged:"
    if message.startswith(prefix):
      message = message[len(prefix):].lstrip()
    _fail("training diverged", message, EXIT_ERROR)
  except train.Preempted as e:
    # 128 + signal number, as a shell reports a process the signal killed.
    sys.stderr.write(f"launch.py: {e}\n")
    sys.exit(128 + e.signum)
  _print_done(summary, workdir)


def _print_done(summary: dict, workdir: str) -> None:
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  if summary.get("already_finished"):
    print(f"Done: {workdir} already finished at step "
          f"{summary['step']}; nothing changed (raise --config.train.steps to "
          "continue)")
    return
  results = summary.get("evaluation") or {}
  shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in results.items())
  print(f"Done at step {summary['step']}" + (f": {shown}" if shown else ""))
  print(f"Outputs in {summary['workdir']}: {_OUTPUTS}")
  print(f"  summary: {os.path.join(summary['workdir'], train.SUMMARY_FILE)}")
  print(f"  samples: {os.path.join(summary['workdir'], train.SAMPLES_DIR)}")
  print(_tensorboard_line(
      os.path.join(summary["workdir"], train.TENSORBOARD_DIR)))


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
