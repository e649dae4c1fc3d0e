"""launch.py's command line: one-line errors with a documented exit status.

absl reports a bad flag with a traceback or a terse message and exits 1 for
--help; ml_collections reports a config file that fails to load, or an
override of a field that does not exist, as an unrelated flag error. This
module turns each of them into one line on stderr, `launch.py: <kind>:
<message>`, with the exit status launch.py's docstring documents, and holds
the multi-process flags and the messages of a finished run.

Imports no jax: a config error stops before JAX starts (`gan_jax.distributed`
and `gan_jax.train` are imported only where a run starts).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import logging as std_logging
import os
import sys
from typing import Iterator, NoReturn, Optional

from absl import app
from absl import flags
from absl import logging
import ml_collections

from gan_jax import config as config_lib
from gan_jax import registry

EXIT_ERROR = 1  # data, workdir, divergence, another runtime error
EXIT_CONFIG = 2  # bad flags or config; nothing started
OUTPUTS = ("config.json, metrics.jsonl, tensorboard/, checkpoints/, "
           "samples/, summary.json")

FLAGS = flags.FLAGS

flags.DEFINE_list(
    "plugins", [], "Plug-ins to load before the config file: .py files or "
    "module names that register models, games, penalties, evaluators or data "
    "sets (kept in config.plugins). Comma-separated.")


def fail(kind: str, message: str, code: int) -> NoReturn:
  sys.stderr.write(f"launch.py: {kind}: {message}\n")
  sys.exit(code)


def config_error(message: str) -> NoReturn:
  fail("config error", message, EXIT_CONFIG)


def workdir_error(message: str) -> NoReturn:
  fail("workdir error", message, EXIT_ERROR)


# ----------------------------------------------------------------------------
# Parsing: --help exits 0; a config file that fails to load and a bad
# --config.<field> override are config errors naming the file or field.
# ----------------------------------------------------------------------------

# absl's help flags exit 1; here they print the help and exit 0.
_HELP_FLAGS = {"-h": True, "-?": True, "--help": True, "-help": True,
               "--helpshort": True, "-helpshort": True,
               "--helpfull": False, "-helpfull": False}


def _help_requested(argv: list[str]) -> Optional[bool]:
  """True/False (short/full help) for the first help flag, else None."""
  for arg in argv[1:]:
    if arg == "--":
      break
    if arg in _HELP_FLAGS:
      return _HELP_FLAGS[arg]
  return None


def _config_arg(argv: list[str]) -> Optional[str]:
  for i, arg in enumerate(argv):
    if arg == "--":
      break
    for prefix in ("--config=", "-config="):
      if arg.startswith(prefix):
        return arg[len(prefix):]
    if arg in ("--config", "-config") and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _config_load_error(spec: str) -> Optional[str]:
  """'cannot load config file X: Type: message' if `path[:arg]` fails; or None.

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


def _load_config_file(spec: str) -> ml_collections.ConfigDict:
  """get_config(arg) of `path[:arg]`, or the default schema if that fails."""
  try:
    return config_lib.from_file(spec)
  except Exception:  # pylint: disable=broad-except
    return config_lib.default_config()


def unknown_override(argv: list[str]) -> Optional[str]:
  """Message for the first --config.a.b override naming no config field.

  With a suggestion of the closest field; None if every override names one.
  """
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


def _plugins_arg(argv: list[str]) -> list[str]:
  """The --plugins list, read before the config file is loaded."""
  plugins = []
  for i, arg in enumerate(argv):
    if arg == "--":
      break
    if arg.startswith("--plugins="):
      plugins += [p for p in arg[len("--plugins="):].split(",") if p]
    elif arg == "--plugins" and i + 1 < len(argv):
      plugins += [p for p in argv[i + 1].split(",") if p]
  return plugins


def registered_components() -> str:
  """The registries' names, for --help (plug-ins loaded by then included)."""
  lines = ["", "Registered components (gan_jax.registry; add one: "
           "docs/howto):"]
  for reg in registry.ALL:
    lines.append(f"  {reg.kind:10} config.{reg.section}: "
                 f"{', '.join(reg.names())}")
  return "\n".join(lines)


def _overridden_fields(argv: list[str]) -> set[str]:
  return {arg[len("--config."):].split("=", 1)[0] for arg in argv
          if arg.startswith("--config.")}


def _switch_defaults(argv: list[str], spec: Optional[str]) -> None:
  """A name changed by --config.<section>.name gets its defaults."""
  overridden = _overridden_fields(argv)
  if not spec or not any(f.endswith(".name") for f in overridden):
    return
  config = FLAGS["config"].value
  with config.unlocked():
    config_lib.switch_component_defaults(config, _load_config_file(spec),
                                         overridden)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing (app.run's flags_parser), with launch.py's exits."""
  plugins = _plugins_arg(argv)
  try:
    registry.load_plugins(plugins)
  except config_lib.ConfigError as e:
    config_error(str(e))
  shorthelp = _help_requested(argv)
  if shorthelp is not None:
    app.usage(shorthelp=shorthelp, writeto_stdout=True)
    print(registered_components())
    sys.exit(0)
  # Every config built here (the file's default_config() among them) has
  # the plug-ins' fields and lists them in config.plugins.
  with registry.building_with(plugins):
    return _parse_config_flags(argv)


def _parse_config_flags(argv: list[str]) -> list[str]:
  spec = _config_arg(argv)
  try:
    remaining = FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    # A config file that raises: config_flags reports an OSError later, a
    # TypeError/ValueError as a flag error with a traceback in its text, and
    # anything else as itself. The file's own error comes first.
    load_error = spec and _config_load_error(spec)
    if load_error:
      config_error(load_error)
    if isinstance(e, flags.Error):
      # Includes a value of the wrong type (--config.train.steps=abc).
      config_error(unknown_override(argv) or _flag_error_message(e))
    # ml_collections raises AttributeError/KeyError with an unhelpful message
    # for an override of a field that does not exist.
    config_error(unknown_override(argv) or
                 f"invalid config override: {type(e).__name__}: {e}")
  if not isinstance(FLAGS["config"].value, ml_collections.ConfigDict):
    # config_flags defers an OSError while loading (e.g. a missing file)
    # until the config is used.
    config_error(_config_load_error(spec or "") or
                 "cannot load the config file given by --config")
  if len(remaining) > 1:
    config_error(f"unexpected arguments: {' '.join(remaining[1:])} (flags "
                 "take the form --name=value; see --helpshort)")
  _switch_defaults(argv, spec)
  config = FLAGS["config"].value
  plugins = tuple(dict.fromkeys(tuple(config.plugins) +
                                registry.current_plugins()))
  with config.unlocked():
    config.plugins = plugins
  return remaining


# ----------------------------------------------------------------------------
# Checks before anything starts, and the console while a run trains.
# ----------------------------------------------------------------------------


def check_workdir_path(workdir: str) -> None:
  """Cheap checks before any backend starts (the run checks again)."""
  if not workdir or not workdir.strip():
    workdir_error("the workdir is empty (--workdir ''); give a folder path")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    workdir_error(f"workdir {workdir} exists and is not a folder; give a "
                  "folder path")


def validate(config: ml_collections.ConfigDict, num_devices: Optional[int],
             num_processes: int) -> None:
  """`config_lib.validate`, its errors as exits (None: no device-count rule)."""
  try:
    config_lib.validate(config, num_devices, num_processes=num_processes)
  except config_lib.ConfigError as e:
    config_error(str(e))
  except ValueError as e:
    # Only a validation that read data files has imported gan_jax.data
    # (which imports jax); import it only then.
    from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    if isinstance(e, data_lib.DataError):
      fail("data error", str(e), EXIT_ERROR)
    raise


def quiet_backend_probe() -> None:
  """Hides JAX's INFO "Unable to initialize backend 'tpu'" (on every CPU run).

  Only INFO from that one logger: its warnings (e.g. a GPU without a
  CUDA-enabled jaxlib) still show.
  """
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)


def log_progress(multi: bool) -> None:
  """absl logs at INFO (the progress lines), less orbax's INFO chatter."""

  def keep(record: std_logging.LogRecord) -> bool:
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(keep)
  if multi:
    from gan_jax import distributed  # pylint: disable=g-import-not-at-top
    logging.info("Multi-process run: %s", distributed.describe())


def _tensorboard_line(logdir: str) -> str:
  if importlib.util.find_spec("tensorboard") is not None:
    return f"  tensorboard --logdir {logdir}"
  return (f"  TensorBoard: pip install tensorboard, then tensorboard --logdir "
          f"{logdir}")


def print_done(summary: dict, workdir: str) -> None:
  """What a finished run (or an already finished one) says, and where."""
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
  print(f"Outputs in {summary['workdir']}: {OUTPUTS}")
  print(f"  summary: {os.path.join(summary['workdir'], train.SUMMARY_FILE)}")
  print(f"  samples: {os.path.join(summary['workdir'], train.SAMPLES_DIR)}")
  print(_tensorboard_line(
      os.path.join(summary["workdir"], train.TENSORBOARD_DIR)))


@contextlib.contextmanager
def training_errors() -> Iterator[None]:
  """A training run's errors as exits; a signal's stop as 128 + N."""
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  try:
    yield
  except config_lib.ConfigError as e:  # e.g. a step too large for the device
    config_error(str(e))
  except data_lib.DataError as e:
    fail("data error", str(e), EXIT_ERROR)
  except train.WorkdirError as e:  # including WorkdirBusy
    workdir_error(str(e))
  except train.DivergenceError as e:
    message = str(e)
    prefix = "training diverged:"
    if message.startswith(prefix):
      message = message[len(prefix):].lstrip()
    fail("training diverged", message, EXIT_ERROR)
  except train.Preempted as e:
    # 128 + signal number, as a shell reports a process the signal killed.
    sys.stderr.write(f"launch.py: {e}\n")
    sys.exit(128 + e.signum)


# ----------------------------------------------------------------------------
# Multi-process: one run over several processes (gan_jax.distributed).
# ----------------------------------------------------------------------------


def define_multi_process_flags() -> None:
  """--coordinator_address, --num_processes, --process_id, --distributed."""
  flags.DEFINE_string(
      "coordinator_address", "", "Multi-process: host:port of process 0 "
      "(with --num_processes and --process_id).")
  flags.DEFINE_integer(
      "num_processes", 0, "Multi-process: how many processes the run spans.")
  flags.DEFINE_integer(
      "process_id", -1, "Multi-process: this process, 0 .. num_processes - 1.")
  flags.DEFINE_bool(
      "distributed", False, "Multi-process on a cluster JAX detects (SLURM, "
      "Open MPI, Cloud TPU, GKE): jax.distributed.initialize() with no "
      "arguments.")
  flags.DEFINE_integer(
      "distributed_timeout", 300, "Multi-process: seconds to wait for every "
      "process to connect.", lower_bound=1)


def _settings() -> tuple[str, int, int]:
  return FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id


def check_multi_process(*, sweep: bool, slurm: bool) -> bool:
  """Checks the multi-process flags; returns whether the run is one."""
  from gan_jax import distributed  # pylint: disable=g-import-not-at-top
  try:
    multi = distributed.check_settings(*_settings())
  except distributed.DistributedError as e:
    config_error(str(e))
  if multi and FLAGS.distributed:
    config_error("--distributed (auto-detect) and --coordinator_address/"
                 "--num_processes/--process_id exclude each other")
  multi = multi or FLAGS.distributed
  if sweep and multi:
    config_error("--sweep runs its variants as separate one-process runs; "
                 "launch multi-process runs one at a time, without --sweep")
  if slurm and multi:
    config_error("--launcher=slurm sets up the processes itself: use "
                 "--nodes / --tasks_per_node, not --distributed or "
                 "--coordinator_address")
  return multi


def start_jax() -> tuple[int, int]:
  """Joins the other processes, starts JAX: (devices, processes) in all."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import distributed  # pylint: disable=g-import-not-at-top
  try:
    # Before anything starts a JAX backend.
    distributed.initialize(*_settings(), auto=FLAGS.distributed,
                           timeout_sec=FLAGS.distributed_timeout)
    counts = jax.device_count(), jax.process_count()
  except distributed.DistributedError as e:
    config_error(str(e))
  except RuntimeError as e:  # no such backend, coordinator unreachable, ...
    fail("error", "cannot start JAX: " + " ".join(str(e).split()), EXIT_ERROR)
  return counts
