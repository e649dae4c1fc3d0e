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
(see gan_jax/sweep.py). --config.<field> overrides apply to every variant; a
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
"""

from __future__ import annotations

import difflib
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

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
    "parallel", 1, "With --sweep: how many variants run at once.",
    lower_bound=1)
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
# Readable errors for bad --config.<field> overrides.
# ----------------------------------------------------------------------------


def _config_arg(argv: list[str]):
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg[len("--config="):]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _load_config_file(spec: str):
  """get_config(arg) of `path[:arg]`, or the default schema if that fails."""
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  try:
    return config_lib.from_file(spec)
  except Exception:  # pylint: disable=broad-except
    return config_lib.default_config()


def _unknown_override(argv: list[str]):
  """Message for the first --config.a.b override naming no config field."""
  import ml_collections  # pylint: disable=g-import-not-at-top
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


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.stderr.write(f"FATAL Flags parsing error: {e}\n"
                     "Pass --helpshort or --helpfull to see help on flags.\n")
    sys.exit(1)
  except Exception as e:  # pylint: disable=broad-except
    # ml_collections raises AttributeError/KeyError with an unhelpful message
    # for an override of a field that does not exist.
    message = _unknown_override(argv) or f"{type(e).__name__}: {e}"
    sys.stderr.write(f"launch.py: invalid config override: {message}\n")
    sys.exit(2)


# ----------------------------------------------------------------------------


def _quiet_library_logs() -> None:
  """Keeps orbax's INFO chatter out of the console (warnings still show)."""
  import logging as std_logging  # pylint: disable=g-import-not-at-top

  def keep(record: std_logging.LogRecord) -> bool:
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.get_absl_handler().addFilter(keep)


def _run_sweep(config, sweep_dir: str) -> None:
  """--sweep: the logic is in gan_jax.sweep; here only the exits."""
  from gan_jax import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  spec = config_flags.get_config_filename(flags.FLAGS["config"])
  try:
    variants = sweep_lib.expand(
        config, sweep_lib.load_sweep(spec),
        num_devices=sweep_lib.probe_device_count())
  except sweep_lib.SweepError as e:
    sys.exit(f"launch.py: invalid sweep: {e}")
  outcome = sweep_lib.run_sweep(variants, sweep_dir, parallel=_PARALLEL.value)
  if outcome.failed or outcome.unfinished:
    sys.exit(f"launch.py: {len(outcome.failed)} of {outcome.total} variants "
             f"failed, {len(outcome.unfinished)} unfinished; errors in "
             f"{outcome.results_md}; re-run the same command to retry them")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _PARALLEL.value != 1 and not _SWEEP.value:
    sys.exit("launch.py: --parallel applies only with --sweep")

  config = _CONFIG.value
  workdir = _WORKDIR.value
  import ml_collections  # pylint: disable=g-import-not-at-top
  if not isinstance(config, ml_collections.ConfigDict):
    # config_flags defers a load error (missing file, exception in
    # get_config) until the config is used.
    try:
      config.keys()
      message = f"got {type(config).__name__}, not a ConfigDict"
    except Exception as e:  # pylint: disable=broad-except
      message = f"{type(e).__name__}: {e}"
    sys.exit(f"launch.py: cannot load --config: {message}")
  from gan_jax import distributed  # pylint: disable=g-import-not-at-top
  settings = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  try:
    multi = distributed.check_settings(*settings) or _DISTRIBUTED.value
  except distributed.DistributedError as e:
    sys.exit(f"launch.py: {e}")
  if _SWEEP.value:
    if multi:
      sys.exit("launch.py: --sweep runs its variants as separate one-process "
               "runs; launch multi-process runs one at a time, without "
               "--sweep")
    # Validated variant by variant; this process starts no JAX backend.
    _run_sweep(config, workdir)
    return

  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  try:
    # Before anything starts a JAX backend.
    distributed.initialize(*settings, auto=_DISTRIBUTED.value,
                           timeout_sec=_DISTRIBUTED_TIMEOUT.value)
  except distributed.DistributedError as e:
    sys.exit(f"launch.py: {e}")
  try:
    config_lib.validate(config, jax.device_count(),
                        num_processes=jax.process_count())
  except (config_lib.ConfigError, data_lib.DataError) as e:
    sys.exit(f"launch.py: invalid config: {e}")

  logging.set_verbosity(logging.INFO)
  _quiet_library_logs()
  if multi:
    logging.info("Multi-process run: %s", distributed.describe())
  print(f"Outputs will be in {os.path.abspath(workdir)}: {_OUTPUTS}",
        flush=True)
  try:
    summary = train.train_and_evaluate(config, workdir)
  except (config_lib.ConfigError, data_lib.DataError,
          train.WorkdirError, train.DivergenceError) as e:
    sys.exit(f"launch.py: {e}")
  except train.Preempted as e:
    # 128 + signal number, as a shell reports a process the signal killed.
    sys.stderr.write(f"launch.py: {e}\n")
    sys.exit(128 + e.signum)

  results = summary.get("evaluation") or {}
  shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in results.items())
  print(f"Done at step {summary['step']}" + (f": {shown}" if shown else ""))
  print(f"Outputs in {summary['workdir']}: {_OUTPUTS}")
  print(f"  summary: {os.path.join(summary['workdir'], train.SUMMARY_FILE)}")
  print(f"  samples: {os.path.join(summary['workdir'], train.SAMPLES_DIR)}")
  print(f"  tensorboard --logdir "
        f"{os.path.join(summary['workdir'], train.TENSORBOARD_DIR)}")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
