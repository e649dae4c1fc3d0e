"""The field-check machinery: ConfigError, per-field checks and tables.

A check names the dotted field (`config.loss.name`) and the valid choices or
range in its `ConfigError`. The tables that use them are in
`gan_jax.config.rules`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence

import ml_collections

from gan_jax.config.names import INT_MAX


class ConfigError(ValueError):
  """A config field has an invalid value; the message names the field."""

def _choices(values: Iterable[str]) -> str:
  return ", ".join(repr(v) for v in values)


def _check_known_fields(config: Any, schema: Any, path: str) -> None:
  """Rejects fields the schema does not define (e.g. a typo in a config file)."""
  if not isinstance(schema, ml_collections.ConfigDict):
    return
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{path} must be a group of fields "
                      f"({_choices(schema.keys())}), got {config!r}")
  for key in config.keys():
    if key not in schema:
      close = difflib.get_close_matches(str(key), list(schema.keys()), n=1)
      hint = f" Did you mean {path}.{close[0]}?" if close else ""
      raise ConfigError(f"{path}.{key} is not a known field; valid fields of "
                        f"{path}: {_choices(schema.keys())}.{hint}")
    _check_known_fields(config[key], schema[key], f"{path}.{key}")
  for key in schema.keys():
    if key not in config:
      raise ConfigError(f"{path}.{key} is missing (start configs from "
                        f"gan_jax.config.default_config())")


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  value = config
  for part in field.split("."):
    value = value[part]
  return value


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool) and
          math.isfinite(value))


# --- Per-field checks: check(config, field, argument) raises ConfigError.


def _check_choice(config, field: str, choices: Iterable[str]) -> None:
  value = _get(config, field)
  if value not in tuple(choices):
    raise ConfigError(f"config.{field} = {value!r} is not valid; choose one "
                      f"of {_choices(choices)}")


def _check_int(config, field: str, minimum: int) -> None:
  """Checks minimum <= value <= INT_MAX for an integer value."""
  value = _get(config, field)
  if not _is_int(value) or value < minimum:
    raise ConfigError(f"config.{field} = {value!r} must be an integer >= "
                      f"{minimum}")
  if value > INT_MAX:
    raise ConfigError(f"config.{field} = {value!r} must be at most {INT_MAX}")


def _check_bool(config, field: str, unused_argument: None = None) -> None:
  value = _get(config, field)
  if not isinstance(value, bool):
    raise ConfigError(f"config.{field} = {value!r} must be True or False")


def _check_str(config, field: str, what: str) -> None:
  value = _get(config, field)
  if not isinstance(value, str):
    raise ConfigError(f"config.{field} = {value!r} must be a string ({what})")


def _check_widths(config, field: str, unused_argument: None = None) -> None:
  value = _get(config, field)
  if (not isinstance(value, (tuple, list)) or not value or
      not all(_is_int(w) and w >= 1 for w in value)):
    raise ConfigError(f"config.{field} = {value!r} must be a non-empty tuple "
                      f"of integers >= 1, e.g. (128, 128)")
  if any(w > INT_MAX for w in value):
    raise ConfigError(f"config.{field} = {value!r}: every width must be at "
                      f"most {INT_MAX}")


@dataclasses.dataclass(frozen=True)
class _Interval:
  """low </<= value </<= high; str() writes it as '(low, high]' etc."""
  low: float
  high: float
  low_open: bool
  high_open: bool

  def __str__(self) -> str:
    return (("(" if self.low_open else "[") + f"{self.low}, {self.high}" +
            (")" if self.high_open else "]"))

  def __contains__(self, value) -> bool:
    above = value > self.low if self.low_open else value >= self.low
    below = value < self.high if self.high_open else value <= self.high
    return above and below


_FINITE = _Interval(-math.inf, math.inf, low_open=True, high_open=True)
_POSITIVE = _Interval(0.0, math.inf, low_open=True, high_open=True)
_NON_NEGATIVE = _Interval(0.0, math.inf, low_open=False, high_open=True)
_OPEN_UNIT = _Interval(0.0, 1.0, low_open=True, high_open=True)
_CLOSED_UNIT = _Interval(0.0, 1.0, low_open=False, high_open=False)
_UNIT = _Interval(0.0, 1.0, low_open=False, high_open=True)  # [0, 1)


def _check_range(config, field: str, interval: _Interval) -> None:
  """Checks that the value is a finite real in `interval`, naming it if not."""
  value = _get(config, field)
  if not _is_real(value) or value not in interval:
    raise ConfigError(f"config.{field} = {value!r} must lie in {interval}")


_CHECKERS = {
    "choice": _check_choice,
    "int": _check_int,
    "bool": _check_bool,
    "str": _check_str,
    "widths": _check_widths,
    "range": _check_range,
}


class _Field(NamedTuple):
  """One per-field check: `_CHECKERS[kind](config, field, argument)`."""
  field: str
  kind: str
  argument: Any = None


class _Context(NamedTuple):
  """What the cross-field rules know beyond the config."""
  num_devices: Optional[int]
  num_processes: int


# A table is a sequence of _Field checks and rules, run in order: the first
# failure is the one reported. A rule is rule(config, context) -> None.
_Rule = Callable[[ml_collections.ConfigDict, _Context], None]
_Table = Sequence[_Field | _Rule]


def _run(config: ml_collections.ConfigDict, table: _Table,
         context: _Context) -> None:
  for check in table:
    if isinstance(check, _Field):
      _CHECKERS[check.kind](config, check.field, check.argument)
    else:
      check(config, context)
