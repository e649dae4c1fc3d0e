r"""Sweeps: runs of one config file, each in its own sub-workdir; one table.

  python launch.py --config experiments/configs/gaussian_1d.py --sweep \
      --workdir runs/gaussian_1d_sweep [--parallel 2]

Writing a sweep. A config file may define, beside `get_config(arg=None)`, a
function `sweep(arg=None)` that returns (or yields) dicts of overrides: dotted
config fields (as after `--config.`) to values. Seeds are just another axis:

  def sweep(arg=None):
    del arg
    for loss in ("saturating", "non_saturating"):
      for seed in range(5):
        yield {"loss.name": loss, "seed": seed}

`--config path.py:arg` passes `arg` to both `get_config(arg)` and
`sweep(arg)`. Each variant's config is `get_config(arg)`, then the command
line's `--config.<field>=<value>` overrides (shared by every variant), then
the variant's own overrides, which win. Overrides name leaf fields only
(`data.name`, not `data`); values are str, int, float, bool, None, or tuples
of them.

Before anything runs, every variant is checked: each key must name a config
field, each config must pass `gan_jax.config.validate`, and no two variants
may be the same; a `SweepError` names the variant and the field.

On disk, `<sweep_dir>/` holds

  sweep.json            the variants (name, overrides, train.steps)
  <name>/               one run's workdir (see `gan_jax.train`), plus
    variant.json        the variant's overrides and full config
    sweep.log           the worker's stdout and stderr, every attempt
    failed.json         after a failed attempt: error, exit status, log tail
  .locks/<name>.lock    held while a launch runs the variant
  results.csv           one row per group of variants differing only in seed
  results.md            the same as a table: mean ± std over seeds

A variant's name is its overrides, sorted by key, as `key=value` joined by
commas (`loss.name=saturating,seed=3`), `default` for no overrides; a name
that had to be cut short or have characters replaced ends in an 8-digit hash
of the overrides, so names stay distinct.

Each variant runs in its own Python process (`python -m gan_jax.sweep
<sub-workdir>`), so a crash or out-of-memory kill ends that variant only.
Rerunning a sweep skips finished variants without touching their files,
resumes unfinished ones from their checkpoints, and retries failed ones. Two
launches on one sweep directory share the work: a variant runs only while
its lock is held (`fcntl.flock`, which the kernel releases when the holding
processes die, so a crashed launch leaves no stale lock), and results files
are replaced atomically.

Figure scripts read the table with `aggregate(sweep_dir)` (computed from the
runs) or `load_results(sweep_dir)` (parsed back from results.csv), and the
individual runs with `load_runs(sweep_dir)`.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import difflib
import errno
import fcntl
import hashlib
import io
import json
import math
import numbers
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Any, Callable, Iterable, Optional, Sequence

import ml_collections
import numpy as np

from gan_jax import config as config_lib
from gan_jax import data as data_lib

SWEEP_FILE = "sweep.json"
VARIANT_FILE = "variant.json"
LOG_FILE = "sweep.log"
FAILED_FILE = "failed.json"
SUMMARY_FILE = "summary.json"  # written by gan_jax.train
CONFIG_FILE = "config.json"  # written by gan_jax.train
LOCK_DIR = ".locks"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"

SEED_FIELD = "seed"
DEFAULT_NAME = "default"
MAX_NAME_LENGTH = 120
# Columns of results.csv besides the override fields and metric statistics.
COUNT_COLUMNS = ("runs", "finished", "failed", "unfinished")

# The worker prints this before its error message as its last line, so the
# launch can quote the error (and not a traceback) in failed.json.
_ERROR_PREFIX = "[sweep worker] error: "
_ATTEMPT_PREFIX = "==== [sweep] attempt "
_LOG_TAIL_LINES = 20
# In a name, '=' and ',' separate keys from values and pairs from pairs; in a
# value they would make two different variants' names read alike.
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._]")
_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9._+-]")


# The mode-collapse table on the ring and grid toys (experiments/figures/
# mode_collapse_table.py): generator loss x k D steps x pi = fake fraction.
# One definition, so that both data sets sweep the same rows.
# The generator losses every comparison sweep pits against each other.
GENERATOR_LOSSES = ("saturating", "non_saturating")
MODE_COLLAPSE_LOSSES = GENERATOR_LOSSES
MODE_COLLAPSE_DISCRIMINATOR_STEPS = (1, 2)
MODE_COLLAPSE_FAKE_FRACTIONS = (0.5, 0.25)
MODE_COLLAPSE_SEEDS = 10


def mode_collapse_sweep(arg: Optional[str] = None) -> list[dict[str, Any]]:
  """The toy configs' `sweep(arg)`: their seeds, or the mode-collapse table.

  Args:
    arg: None, "" or "seeds": the shipped config over MODE_COLLAPSE_SEEDS
      seeds (a table's headline row); "table": every loss x k x pi, each over
      those seeds (Srivastava et al. 2017 and Lin et al. 2018 report 10 seeds
      per row); "table<N>" (e.g. "table2"): the table over the first N
      seeds; "quick": both losses over 2 seeds, a stand-in for tests.

  Returns:
    The variants' overrides.

  Raises:
    ValueError: any other `arg`.
  """
  seeds = range(MODE_COLLAPSE_SEEDS)
  if arg in (None, "", "seeds"):
    return [{SEED_FIELD: seed} for seed in seeds]
  if arg and arg.startswith("table") and arg[5:].isdigit() and int(arg[5:]):
    # "table2": the table over the first 2 seeds only, where 10 are too many.
    seeds = range(int(arg[5:]))
    arg = "table"
  if arg == "table":
    return [{"loss.name": loss, "train.discriminator_steps": k,
             "loss.fake_fraction": pi, SEED_FIELD: seed}
            for loss in MODE_COLLAPSE_LOSSES
            for k in MODE_COLLAPSE_DISCRIMINATOR_STEPS
            for pi in MODE_COLLAPSE_FAKE_FRACTIONS for seed in seeds]
  if arg == "quick":
    return [{"loss.name": loss, SEED_FIELD: seed}
            for loss in MODE_COLLAPSE_LOSSES for seed in range(2)]
  raise ValueError(f"sweep arg must be 'seeds', 'table', 'table<N>' (N "
                   f"seeds, e.g. 'table2') or 'quick', got "
                   f"{arg!r}")


def loss_comparison_sweep(arg: Optional[str] = None
                          ) -> list[dict[str, Any]]:
  """The image configs' `sweep(arg)`: each generator loss, all else equal.

  Args:
    arg: None, "" or "losses": one variant per entry of GENERATOR_LOSSES
      (the minimax cost log(1 - D(G(z))) and the "log D trick" -log D(G(z))),
      which experiments/figures/fashion_mnist_curves.py plots over training.

  Returns:
    The variants' overrides.

  Raises:
    ValueError: any other `arg`.
  """
  if arg in (None, "", "losses"):
    return [{"loss.name": loss} for loss in GENERATOR_LOSSES]
  raise ValueError(f"sweep arg must be 'losses', got {arg!r}")


class SweepError(ValueError):
  """A sweep cannot be expanded: the message names the variant and field."""


@dataclasses.dataclass(frozen=True)
class Variant:
  """One run of a sweep.

  Attributes:
    name: its sub-workdir's name, from `variant_name(overrides)`.
    overrides: dotted field -> value, as the config holds it (e.g. int -> float
      for a float field).
    config: the full config of the run.
  """
  name: str
  overrides: dict[str, Any]
  config: ml_collections.ConfigDict


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


# ----------------------------------------------------------------------------
# Expanding a sweep.
# ----------------------------------------------------------------------------


def _split_spec(spec: str) -> tuple[str, Optional[str]]:
  """'path.py:arg' -> ('path.py', 'arg'), as `config.from_file` reads it."""
  if ":" in os.path.basename(spec):
    path, _, arg = spec.rpartition(":")
    return path, arg
  return spec, None


def load_sweep(spec: str) -> list[dict[str, Any]]:
  """The override dicts of `sweep(arg)` in the config file `path[:arg]`.

  Raises:
    SweepError: the file is missing, defines no `sweep`, `sweep(arg)`
      rejects `arg` (ValueError / TypeError), or it does not give dicts.
  """
  import importlib.util  # pylint: disable=g-import-not-at-top
  path, arg = _split_spec(spec)
  if not os.path.isfile(path):
    raise SweepError(f"config file {path} not found")
  module_spec = importlib.util.spec_from_file_location(
      "_gan_jax_sweep_" + os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not callable(getattr(module, "sweep", None)):
    raise SweepError(
        f"{path} defines no sweep(arg=None) function, so there is nothing to "
        f"sweep; add one that yields dicts of overrides such as "
        f"{{'loss.name': 'saturating', 'seed': 1}} (see gan_jax/sweep.py), "
        f"or run without --sweep")
  try:
    variants = list(module.sweep(arg) if arg else module.sweep())
  except (ValueError, TypeError) as e:
    # An argument the file's sweep() does not know, e.g. ':sedes'.
    raise SweepError(f"{path}: sweep({arg!r}) failed: {e}") from e
  for i, overrides in enumerate(variants):
    if not isinstance(overrides, dict):
      raise SweepError(f"{path}: sweep() gave {overrides!r} as variant {i}; "
                       f"each variant must be a dict of overrides")
  return variants


def _format_value(value: Any) -> str:
  """A value as it appears in a variant's name (before sanitising)."""
  if isinstance(value, (tuple, list)):
    if value and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                     for v in value):
      return "x".join(_format_value(v) for v in value)  # widths: 128x128
    return json.dumps(list(value))  # unsafe characters: hashed below
  if isinstance(value, float):
    return repr(value)
  return str(value)


def _canonical(overrides: dict[str, Any]) -> str:
  """One string per distinct set of overrides (key order does not matter)."""
  items = sorted((k, list(v) if isinstance(v, tuple) else v)
                 for k, v in overrides.items())
  return json.dumps(items)


def variant_name(overrides: dict[str, Any]) -> str:
  """The sub-workdir name of a variant, e.g. 'loss.name=saturating,seed=3'.

  Keys are sorted, so the name does not depend on the order `sweep()` gives
  them in, and rerunning a reordered sweep finds the same folders. Characters
  of values other than letters, digits and `._+-` become '_', and names
  longer than MAX_NAME_LENGTH are cut; either way an 8-digit hash of the
  overrides is appended so that two variants never share a folder.
  """
  if not overrides:
    return DEFAULT_NAME
  pairs = [(k, _format_value(v)) for k, v in sorted(overrides.items())]
  readable = ",".join(f"{k}={v}" for k, v in pairs)
  name = ",".join(f"{_UNSAFE_KEY.sub('_', k)}={_UNSAFE_VALUE.sub('_', v)}"
                  for k, v in pairs)
  if name != readable or len(name) > MAX_NAME_LENGTH:
    digest = hashlib.sha1(_canonical(overrides).encode()).hexdigest()[:8]
    name = name[:MAX_NAME_LENGTH - len(digest) - 1] + "-" + digest
  return name


def _describe(index: int, overrides: dict[str, Any]) -> str:
  return f"variant {index} {overrides!r}"


def _is_plain_value(value: Any) -> bool:
  if isinstance(value, (tuple, list)):
    return all(_is_plain_value(v) for v in value)
  return value is None or isinstance(value, (str, bool, numbers.Real))


def _apply_override(config: ml_collections.ConfigDict, key: str, value: Any,
                    where: str) -> Any:
  """Sets config.<key> = value; returns the value as the config holds it."""
  node, path = config, "config"
  parts = key.split(".")
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict):
      raise SweepError(f"{where}: {path} is a value, not a group of fields; "
                       f"there is no {path}.{'.'.join(parts[i:])}")
    if part not in node:
      keys = list(node.keys())
      close = difflib.get_close_matches(part, keys, n=1)
      hint = f" Did you mean {path}.{close[0]}?" if close else ""
      raise SweepError(f"{where}: {path}.{part} is not a known field; valid "
                       f"fields of {path}: {', '.join(keys)}.{hint}")
    if i < len(parts) - 1:
      node, path = node[part], f"{path}.{part}"
  leaf = parts[-1]
  if isinstance(node[leaf], ml_collections.ConfigDict):
    fields = ", ".join(f"{key}.{k}" for k in node[leaf].keys())
    raise SweepError(f"{where}: config.{key} is a group of fields; override "
                     f"its fields one by one ({fields})")
  if not _is_plain_value(value):
    raise SweepError(f"{where}: config.{key} = {value!r}: sweep values must "
                     f"be str, int, float, bool, None or tuples of them")
  try:
    node[leaf] = tuple(value) if isinstance(value, list) else value
  except TypeError as e:
    raise SweepError(f"{where}: config.{key} = {value!r} has the wrong type "
                     f"({e})") from None
  return node[leaf]


def expand(base_config: ml_collections.ConfigDict,
           overrides: Iterable[dict[str, Any]], *,
           num_devices: int) -> list[Variant]:
  """Applies each dict of overrides to a copy of `base_config` and checks it.

  Args:
    base_config: the config every variant starts from (get_config(arg) with
      the command line's overrides).
    overrides: dicts of dotted field -> value, e.g. from `load_sweep`. A
      leading 'config.' is allowed ('config.seed' = 'seed').
    num_devices: devices each run will use, for `config.validate`.

  Returns:
    The variants, in the order given.

  Raises:
    SweepError: naming the variant (index and overrides) and the field: an
      unknown field, a value of the wrong type, a config that fails
      validation (including missing data files), two equal variants, or an
      empty sweep.
  """
  variants = []
  seen = {}
  folders = {}
  for index, given in enumerate(overrides):
    where = _describe(index, given)
    config = base_config.copy_and_resolve_references()
    resolved = {}
    for key, value in given.items():
      if not isinstance(key, str) or not key:
        raise SweepError(f"{where}: keys must be dotted field names such as "
                         f"'loss.name', got {key!r}")
      field = key[len("config."):] if key.startswith("config.") else key
      resolved[field] = _apply_override(config, field, value, where)
    try:
      config_lib.validate(config, num_devices)
    except (config_lib.ConfigError, data_lib.DataError) as e:
      raise SweepError(f"{where}: {e}") from e
    canonical = _canonical(resolved)
    if canonical in seen:
      raise SweepError(f"{where} is the same run as variant {seen[canonical]}"
                       f"; remove one of them")
    seen[canonical] = index
    name = variant_name(resolved)
    # Case-insensitive file systems would merge folders differing in case.
    if name.lower() in folders:
      raise SweepError(f"{where} and variant {folders[name.lower()]} would "
                       f"share the folder {name!r}")
    folders[name.lower()] = index
    variants.append(Variant(name, resolved, config))
  if not variants:
    raise SweepError("the sweep has no variants")
  return variants


def probe_device_count() -> int:
  """jax.device_count() as a worker, started with this environment, sees it.

  Asked in a child process unless JAX_PLATFORMS=cpu: a launch that started a
  GPU backend would hold GPU memory that its workers need.
  """
  if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
    import jax  # pylint: disable=g-import-not-at-top
    return jax.device_count()
  result = subprocess.run(
      [sys.executable, "-c", "import jax; print(jax.device_count())"],
      capture_output=True, text=True, check=False)
  try:
    return int(result.stdout.strip().splitlines()[-1])
  except (ValueError, IndexError):
    raise SweepError("cannot count JAX devices: "
                     + (result.stderr.strip()[-2000:] or "no output")) from None


# ----------------------------------------------------------------------------
# Files.
# ----------------------------------------------------------------------------


def _write_atomic(path: str, text: str) -> None:
  """Readers (other launches) see the old file or the new one, never half."""
  tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
  with open(tmp, "w", newline="") as f:
    f.write(text)
  os.replace(tmp, path)


def _read_json(path: str) -> Optional[Any]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _jsonable(value: Any) -> Any:
  return list(value) if isinstance(value, tuple) else value


def _write_sweep_file(sweep_dir: str, variants: Sequence[Variant]) -> None:
  records = [dict(name=v.name,
                  overrides={k: _jsonable(x) for k, x in v.overrides.items()},
                  steps=int(v.config.train.steps)) for v in variants]
  _write_atomic(os.path.join(sweep_dir, SWEEP_FILE),
                json.dumps(dict(variants=records), indent=2) + "\n")


def _read_sweep_file(sweep_dir: str) -> list[dict[str, Any]]:
  path = os.path.join(sweep_dir, SWEEP_FILE)
  record = _read_json(path)
  if not isinstance(record, dict) or "variants" not in record:
    raise SweepError(f"{sweep_dir} holds no sweep ({path} missing or "
                     f"unreadable)")
  return record["variants"]


def _is_complete(summary: Any, steps: int) -> bool:
  return (isinstance(summary, dict) and summary.get("step") == steps and
          summary.get("steps") == steps)


def variant_status(sweep_dir: str, name: str, steps: int) -> str:
  """'failed', 'finished' or 'unfinished' (which includes running).

  A failed.json wins over a summary: a finished run resumed for more steps
  keeps its old summary.json while it fails.
  """
  workdir = os.path.join(sweep_dir, name)
  if os.path.exists(os.path.join(workdir, FAILED_FILE)):
    return "failed"
  if _is_complete(_read_json(os.path.join(workdir, SUMMARY_FILE)), steps):
    return "finished"
  return "unfinished"


def _config_matches(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Whether the run in `workdir` may be taken as a run of `config`.

  Mirrors the check `gan_jax.train` makes before resuming, so that a sweep
  rerun after a config file changed does not skip its variants as finished
  with the old config (they run, and fail with train's message instead).
  """
  saved = _read_json(os.path.join(workdir, CONFIG_FILE))
  if not isinstance(saved, dict):
    return False
  return all(config_lib.is_resumable_change(f, config)
             for f in config_lib.changed_fields(saved, config.to_dict()))


def _is_finished(sweep_dir: str, variant: Variant) -> bool:
  workdir = os.path.join(sweep_dir, variant.name)
  return (variant_status(sweep_dir, variant.name,
                         int(variant.config.train.steps)) == "finished" and
          _config_matches(workdir, variant.config))


class _Lock:
  """An exclusive, non-blocking flock on .locks/<name>.lock.

  The worker inherits the descriptor, so the lock lasts while either the
  launch or its worker lives: a killed launch does not free a variant whose
  worker still trains.
  """

  def __init__(self, sweep_dir: str, name: str):
    folder = os.path.join(sweep_dir, LOCK_DIR)
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


# ----------------------------------------------------------------------------
# Running.
# ----------------------------------------------------------------------------


def _default_worker() -> list[str]:
  return [sys.executable, "-m", "gan_jax.sweep"]


@dataclasses.dataclass
class _Running:
  variant: Variant
  process: subprocess.Popen
  lock: _Lock
  log_path: str
  log_offset: int
  attempt: int
  start: float


def _count_attempts(log_path: str) -> int:
  try:
    with open(log_path, errors="replace") as f:
      return sum(line.startswith(_ATTEMPT_PREFIX) for line in f)
  except OSError:
    return 0


def _start(sweep_dir: str, variant: Variant, lock: _Lock,
           worker: Sequence[str], env: dict[str, str]) -> _Running:
  """Starts the worker of `variant` (whose lock is held)."""
  workdir = os.path.join(sweep_dir, variant.name)
  os.makedirs(workdir, exist_ok=True)
  failed = os.path.join(workdir, FAILED_FILE)
  if os.path.exists(failed):
    os.remove(failed)  # this attempt decides anew
  record = dict(name=variant.name,
                overrides={k: _jsonable(v) for k, v in
                           variant.overrides.items()},
                config=variant.config.to_dict())
  _write_atomic(os.path.join(workdir, VARIANT_FILE),
                json.dumps(record, indent=2, sort_keys=True) + "\n")
  log_path = os.path.join(workdir, LOG_FILE)
  attempt = _count_attempts(log_path) + 1
  command = list(worker) + [workdir]
  log = open(log_path, "a")  # pylint: disable=consider-using-with
  log.write(f"{_ATTEMPT_PREFIX}{attempt}: {time.strftime('%Y-%m-%d %H:%M:%S')}"
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
  return _Running(variant, process, lock, log_path, offset, attempt,
                  time.time())


def _attempt_error(running: _Running, returncode: int) -> tuple[str, list[str]]:
  """The error of a failed attempt and the last lines of its log."""
  try:
    with open(running.log_path, errors="replace") as f:
      f.seek(running.log_offset)
      lines = f.read().splitlines()
  except OSError:
    lines = []
  tail = lines[-_LOG_TAIL_LINES:]
  errors = [line[len(_ERROR_PREFIX):] for line in lines
            if line.startswith(_ERROR_PREFIX)]
  if errors:
    return errors[-1], tail
  if returncode < 0:
    try:
      how = signal.Signals(-returncode).name
    except ValueError:
      how = f"signal {-returncode}"
    message = f"worker killed by {how}"
    if -returncode == signal.SIGKILL:
      message += " (out of memory?)"
  else:
    message = f"worker exited with status {returncode}"
  last = next((line for line in reversed(lines) if line.strip()), "")
  return message + (f"; last log line: {last.strip()}" if last else ""), tail


def _finish(sweep_dir: str, running: _Running, returncode: int) -> str:
  """Records how an attempt ended (while still holding the lock)."""
  variant = running.variant
  status = ("finished" if returncode == 0 and
            _is_finished(sweep_dir, variant) else "failed")
  if status == "failed":
    error, tail = _attempt_error(running, returncode)
    if returncode == 0:
      error = "worker exited without a complete summary.json; " + error
    record = dict(error=error, returncode=returncode, attempt=running.attempt,
                  time=time.time(), log=LOG_FILE, log_tail=tail)
    _write_atomic(os.path.join(sweep_dir, variant.name, FAILED_FILE),
                  json.dumps(record, indent=2) + "\n")
  running.lock.release()
  return status


def _failed_since(sweep_dir: str, name: str, since: float) -> bool:
  """Whether another launch saw this variant fail after `since`."""
  record = _read_json(os.path.join(sweep_dir, name, FAILED_FILE))
  return isinstance(record, dict) and record.get("time", 0) >= since


def run_sweep(variants: Sequence[Variant], sweep_dir: str, *,
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
  worker = list(worker or _default_worker())
  env = dict(os.environ if env is None else env)
  env.setdefault("PYTHONUNBUFFERED", "1")  # the log keeps up with the run
  if parallel > 1:
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  os.makedirs(sweep_dir, exist_ok=True)
  _write_sweep_file(sweep_dir, variants)
  launch_start = time.time()
  total = len(variants)

  state = {}  # name -> finished | failed | here | elsewhere | pending
  queue = []
  previously_failed = 0
  for variant in variants:
    if _is_finished(sweep_dir, variant):
      state[variant.name] = "finished"
    else:
      state[variant.name] = "pending"
      queue.append(variant)
      previously_failed += os.path.exists(
          os.path.join(sweep_dir, variant.name, FAILED_FILE))
  skipped = total - len(queue)
  log(f"[sweep] {total} variants in {sweep_dir}: {skipped} finished "
      f"(skipped), {len(queue)} to run"
      + (f" ({previously_failed} failed before, retried)"
         if previously_failed else "")
      + (f", {parallel} at a time" if parallel > 1 else ""))

  def progress(message: str) -> None:
    counts = collections.Counter(state.values())
    done = counts["finished"] + counts["failed"]
    running = counts["here"] + counts["elsewhere"]
    log(f"[sweep] {done}/{total} done ({counts['failed']} failed, {running} "
        f"running): {message}")

  running: dict[str, _Running] = {}
  try:
    while queue or running:
      changed = False
      i = 0
      while i < len(queue) and len(running) < parallel:
        variant = queue[i]
        lock = _Lock(sweep_dir, variant.name)
        if not lock.acquire():
          if state[variant.name] != "elsewhere":
            state[variant.name] = "elsewhere"
            progress(f"{variant.name} is running in another launch")
          i += 1
          continue
        queue.pop(i)
        changed = True
        # Another launch may have finished it since we looked.
        if _is_finished(sweep_dir, variant):
          lock.release()
          state[variant.name] = "finished"
          progress(f"{variant.name} finished in another launch")
        elif _failed_since(sweep_dir, variant.name, launch_start):
          lock.release()
          state[variant.name] = "failed"
          progress(f"{variant.name} failed in another launch")
        else:
          running[variant.name] = _start(sweep_dir, variant, lock, worker,
                                         env)
          state[variant.name] = "here"
          progress(f"started {variant.name}")

      for name, run in list(running.items()):
        returncode = run.process.poll()
        if returncode is None:
          continue
        del running[name]
        changed = True
        status = _finish(sweep_dir, run, returncode)
        state[name] = status
        seconds = time.time() - run.start
        log_path = os.path.join(sweep_dir, name, LOG_FILE)
        if status == "finished":
          progress(f"{name} finished in {seconds:.1f} s")
        else:
          error = _read_json(os.path.join(sweep_dir, name, FAILED_FILE))
          progress(f"{name} FAILED after {seconds:.1f} s: "
                   f"{error['error']} (log: {log_path})")
        write_results(sweep_dir)

      if not changed:
        time.sleep(poll_interval)
  finally:
    # Interrupted: stop our workers; their variants stay unfinished (and
    # resumable), not failed.
    for run in running.values():
      run.process.terminate()
    for run in running.values():
      try:
        run.process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait()
      run.lock.release()

  csv_path, md_path = write_results(sweep_dir)
  by_status = collections.defaultdict(list)
  for variant in variants:
    by_status[variant_status(sweep_dir, variant.name,
                             int(variant.config.train.steps))].append(
                                 variant.name)
  outcome = Outcome(by_status["finished"], by_status["failed"],
                    by_status["unfinished"], csv_path, md_path)
  log(f"[sweep] {len(outcome.finished)}/{total} finished, "
      f"{len(outcome.failed)} failed, {len(outcome.unfinished)} unfinished; "
      f"results: {csv_path}, {md_path}")
  return outcome


# ----------------------------------------------------------------------------
# Results.
# ----------------------------------------------------------------------------


def _flatten(tree: dict[str, Any], prefix: str = "") -> Iterable[tuple]:
  """(dotted name, float) for every numeric leaf; bools and None skipped."""
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      yield from _flatten(value, name + ".")
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
      yield name, float(value)


def _metric_order(name: str) -> int:
  # The evaluation is what a sweep is for; then the last training metrics;
  # then timings and bookkeeping.
  if name.startswith("evaluation."):
    return 0
  if name.startswith("final_metrics."):
    return 1
  return 2


def load_runs(sweep_dir: str) -> list[dict[str, Any]]:
  """One record per variant of the sweep in `sweep_dir`, in sweep order.

  Returns:
    Dicts with name, overrides, status ('finished' | 'failed' |
    'unfinished'), metrics (dotted name -> float, from summary.json; {} unless
    finished), summary (the dict of summary.json or None) and error (the
    failed attempt's message or None).
  """
  runs = []
  for record in _read_sweep_file(sweep_dir):
    name = record["name"]
    workdir = os.path.join(sweep_dir, name)
    status = variant_status(sweep_dir, name, record["steps"])
    summary = _read_json(os.path.join(workdir, SUMMARY_FILE))
    failed = _read_json(os.path.join(workdir, FAILED_FILE))
    runs.append(dict(
        name=name,
        overrides=record["overrides"],
        status=status,
        metrics=(dict(_flatten(summary)) if status == "finished" else {}),
        summary=summary if isinstance(summary, dict) else None,
        error=(failed.get("error") if status == "failed" and
               isinstance(failed, dict) else None)))
  return runs


def _statistics(values: list[float]) -> dict[str, Any]:
  n = len(values)
  array = np.asarray(values, np.float64)
  std = float(np.std(array, ddof=1)) if n > 1 else None
  return dict(mean=float(np.mean(array)) if n else None, std=std,
              stderr=std / math.sqrt(n) if std is not None else None, n=n)


def aggregate(sweep_dir: str) -> list[dict[str, Any]]:
  """The results table: one row per group of variants that differ in seed only.

  Each row holds the group's overrides (dotted field -> value; a field that
  some group does not override is None there), the counts `runs`,
  `finished`, `failed`, `unfinished`, and for every numeric field of the
  finished runs' summary.json (nested dicts flattened with dots, e.g.
  'evaluation.jsd'): '<field>:mean', '<field>:std' (sample std, ddof=1; None
  for fewer than 2 runs), '<field>:stderr' (std / sqrt(n)) and '<field>:n'
  (runs that report it).
  """
  return _aggregate(load_runs(sweep_dir))


def _aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
  groups = collections.OrderedDict()
  keys = []
  for run in runs:
    group_overrides = {k: v for k, v in run["overrides"].items()
                       if k != SEED_FIELD}
    for key in group_overrides:
      if key not in keys:
        keys.append(key)
    groups.setdefault(_canonical(group_overrides),
                      (group_overrides, []))[1].append(run)

  metrics = []
  for run in runs:
    for name in run["metrics"]:
      if name not in metrics:
        metrics.append(name)
  metrics.sort(key=_metric_order)  # stable: first appearance within a kind

  rows = []
  for group_overrides, members in groups.values():
    row = {key: group_overrides.get(key) for key in keys}
    counts = collections.Counter(run["status"] for run in members)
    row.update(runs=len(members), finished=counts["finished"],
               failed=counts["failed"], unfinished=counts["unfinished"])
    for name in metrics:
      values = [run["metrics"][name] for run in members
                if name in run["metrics"]]
      for statistic, value in _statistics(values).items():
        row[f"{name}:{statistic}"] = value
    rows.append(row)
  return rows


def _csv_cell(value: Any) -> str:
  if value is None:
    return ""
  if isinstance(value, str):
    return value
  if isinstance(value, float):
    return repr(value)
  return json.dumps(_jsonable(value))


def _md_number(value: Optional[float]) -> str:
  return "—" if value is None else f"{value:.4g}"


def _markdown(sweep_dir: str, rows: list[dict[str, Any]],
              runs: list[dict[str, Any]]) -> str:
  """results.md: mean ± std of every metric, one row per group."""
  columns = list(rows[0]) if rows else []
  metrics = [c[:-len(":mean")] for c in columns if c.endswith(":mean")]
  keys = [c for c in columns
          if c not in COUNT_COLUMNS and ":" not in c]
  counts = collections.Counter(run["status"] for run in runs)
  out = io.StringIO()
  out.write(f"# Sweep results: {os.path.basename(os.path.abspath(sweep_dir))}"
            f"\n\n")
  out.write(f"{len(runs)} runs: {counts['finished']} finished, "
            f"{counts['failed']} failed, {counts['unfinished']} unfinished. "
            f"Each cell: mean ± std (sample std) over the finished runs of "
            f"the row, which differ only in `{SEED_FIELD}`; n = finished / "
            f"all runs of the row. results.csv also has the standard error "
            f"(std / √n).\n\n")
  header = keys + ["n", "failed"] + metrics
  out.write("| " + " | ".join(f"`{h}`" if h in keys or h in metrics else h
                               for h in header) + " |\n")
  out.write("|" + "---|" * len(header) + "\n")
  for row in rows:
    cells = [_csv_cell(row[k]) if row[k] is not None else "(base)"
             for k in keys]
    cells += [f"{row['finished']}/{row['runs']}", str(row["failed"])]
    for name in metrics:
      mean, std, n = (row[f"{name}:mean"], row[f"{name}:std"],
                      row[f"{name}:n"])
      cell = _md_number(mean)
      if std is not None:
        cell += f" ± {_md_number(std)}"
      if 0 < n < row["finished"]:
        cell += f" (n={n})"
      cells.append(cell)
    out.write("| " + " | ".join(c.replace("|", "\\|") for c in cells)
              + " |\n")
  failed = [run for run in runs if run["status"] == "failed"]
  if failed:
    out.write("\n## Failed runs\n\n")
    for run in failed:
      out.write(f"- `{run['name']}`: {run['error']} "
                f"(log: {run['name']}/{LOG_FILE})\n")
  return out.getvalue()


def write_results(sweep_dir: str) -> tuple[str, str]:
  """Writes results.csv and results.md from the runs on disk; returns paths.

  Each file is replaced atomically, so two launches writing at once leave
  one complete version.
  """
  runs = load_runs(sweep_dir)
  rows = _aggregate(runs)
  columns = list(rows[0]) if rows else []
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(columns)
  for row in rows:
    writer.writerow([_csv_cell(row[c]) for c in columns])
  csv_path = os.path.join(sweep_dir, RESULTS_CSV)
  md_path = os.path.join(sweep_dir, RESULTS_MD)
  _write_atomic(csv_path, out.getvalue())
  _write_atomic(md_path, _markdown(sweep_dir, rows, runs))
  return csv_path, md_path


def _parse_cell(column: str, text: str) -> Any:
  if text == "":
    return None
  if column in COUNT_COLUMNS or column.endswith(":n"):
    return int(text)
  if ":" in column:
    return float(text)
  try:  # numbers, bools, lists as written by _csv_cell; else a string
    return json.loads(text)
  except ValueError:
    return text


def load_results(sweep_dir: str) -> list[dict[str, Any]]:
  """The rows of `sweep_dir`/results.csv, typed as `aggregate` returns them.

  Override values that are strings but read as JSON (e.g. '1') come back
  parsed; use `aggregate` for exact values.
  """
  with open(os.path.join(sweep_dir, RESULTS_CSV), newline="") as f:
    reader = csv.DictReader(f)
    return [{column: _parse_cell(column, text) for column, text in row.items()}
            for row in reader]


# ----------------------------------------------------------------------------
# The worker: `python -m gan_jax.sweep <sub-workdir>` runs one variant.
# ----------------------------------------------------------------------------


def config_from_dict(values: dict[str, Any]) -> ml_collections.ConfigDict:
  """A config from `config.to_dict()` output (JSON lists become tuples)."""
  config = config_lib.default_config()

  def merge(target, source, path):
    for key, value in source.items():
      if key not in target:
        raise SweepError(f"{path}.{key} is not in this version's config "
                         f"schema")
      if isinstance(target[key], ml_collections.ConfigDict):
        merge(target[key], value, f"{path}.{key}")
      else:
        target[key] = tuple(value) if isinstance(value, list) else value

  merge(config, values, "config")
  return config


def _worker_main(argv: list[str]) -> None:
  """Trains the variant whose variant.json is in argv[1]; exits 1 on error."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  import logging as std_logging  # pylint: disable=g-import-not-at-top

  if len(argv) != 2:
    sys.exit("usage: python -m gan_jax.sweep <variant workdir>")
  workdir = argv[1]
  logging.set_verbosity(logging.INFO)

  def keep(record: std_logging.LogRecord) -> bool:
    # orbax's INFO chatter would drown the progress lines in sweep.log.
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.get_absl_handler().addFilter(keep)

  def fail(error: BaseException, show_traceback: bool) -> None:
    if show_traceback:
      traceback.print_exc()
    print(f"{_ERROR_PREFIX}{type(error).__name__}: {_one_line(error)}",
          flush=True)
    sys.exit(1)

  try:
    from gan_jax import train  # pylint: disable=g-import-not-at-top
  except Exception as e:  # pylint: disable=broad-except
    fail(e, show_traceback=True)
  # Failures a user can fix from the message alone (bad data, a workdir
  # holding another config's run) are reported without a traceback.
  expected = (config_lib.ConfigError, data_lib.DataError, SweepError,
              train.WorkdirError)
  try:
    record = _read_json(os.path.join(workdir, VARIANT_FILE))
    if not isinstance(record, dict):
      raise SweepError(f"{workdir}/{VARIANT_FILE} is missing or unreadable")
    config = config_from_dict(record["config"])
    print(f"[sweep worker] {record['name']}: training in {workdir}",
          flush=True)
    summary = train.train_and_evaluate(config, workdir)
  except expected as e:
    fail(e, show_traceback=False)
  except Exception as e:  # pylint: disable=broad-except
    fail(e, show_traceback=True)
  print(f"[sweep worker] finished at step {summary['step']}: "
        f"{json.dumps(summary.get('evaluation') or {})}", flush=True)


def _one_line(error: BaseException) -> str:
  return " ".join(str(error).split()) or repr(error)


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  app.run(_worker_main)
