"""Expanding a sweep: a config file's `sweep(arg)` as named, checked variants.

`load_sweep` reads the override dicts, `expand` applies each to a copy of the
base config and validates it, and `variant_name` names its sub-workdir.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import numbers
import os
import re
import subprocess
import sys
from typing import Any, Iterable, Optional

import ml_collections

from gan_jax import config as config_lib
from gan_jax import data as data_lib

SEED_FIELD = "seed"
DEFAULT_NAME = "default"
MAX_NAME_LENGTH = 120

# In a name, '=' and ',' separate keys from values and pairs from pairs; in a
# value they would make two different variants' names read alike.
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._]")
_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9._+-]")


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
        f"{{'loss.name': 'saturating', 'seed': 1}} (see "
        f"gan_jax/sweep/__init__.py), or run without --sweep")
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


def canonical(overrides: dict[str, Any]) -> str:
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
    digest = hashlib.sha1(canonical(overrides).encode()).hexdigest()[:8]
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


def _resolve(base_config: ml_collections.ConfigDict, given: dict[str, Any],
             where: str, num_devices: int
             ) -> tuple[dict[str, Any], ml_collections.ConfigDict]:
  """(overrides as the config holds them, the validated config)."""
  config = base_config.copy_and_resolve_references()
  resolved = {}
  for key, value in given.items():
    if not isinstance(key, str) or not key:
      raise SweepError(f"{where}: keys must be dotted field names such as "
                       f"'loss.name', got {key!r}")
    field = key[len("config."):] if key.startswith("config.") else key
    resolved[field] = _apply_override(config, field, value, where)
  config_lib.switch_component_defaults(config, base_config, resolved)
  try:
    config_lib.validate(config, num_devices)
  except (config_lib.ConfigError, data_lib.DataError) as e:
    raise SweepError(f"{where}: {e}") from e
  return resolved, config


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
    resolved, config = _resolve(base_config, given, where, num_devices)
    key = canonical(resolved)
    if key in seen:
      raise SweepError(f"{where} is the same run as variant {seen[key]}"
                       f"; remove one of them")
    seen[key] = index
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
