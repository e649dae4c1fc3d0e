"""Config fields declared by components: a default, a check and a doc line.

A component (model, game, penalty, evaluator, data set) declares the config
fields it reads as `Field`s beside its code; `gan_jax.registry` collects them
into the config schema, and `Field.check` validates a value before any
compute, raising `ConfigError` whose message names the dotted field and what
is allowed. Imports nothing of the project and no JAX.

  fields.integer(100, minimum=1, doc="size of z")
  fields.real(0.2, fields.CLOSED_UNIT, doc="LeakyReLU slope")
  fields.choice("relu", ("relu", "tanh"), doc="hidden activation")
  fields.boolean(False, doc="BatchNorm after each hidden layer")
  fields.string("", "a folder; '' = the default", doc="data folder")
  fields.widths((128, 128), doc="hidden layer widths")
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, Iterable

# The largest value of any integer field (int32: steps, sizes, seeds).
INT_MAX = 2**31 - 1


class ConfigError(ValueError):
  """A config field has an invalid value; the message names the field."""


def choices_text(values: Iterable[Any]) -> str:
  """'a', 'b', 'c': the valid values as a message lists them."""
  return ", ".join(repr(v) for v in values)


def is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
  return (isinstance(value, numbers.Real) and not isinstance(value, bool) and
          math.isfinite(value))


@dataclasses.dataclass(frozen=True)
class Interval:
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


FINITE = Interval(-math.inf, math.inf, low_open=True, high_open=True)
POSITIVE = Interval(0.0, math.inf, low_open=True, high_open=True)
NON_NEGATIVE = Interval(0.0, math.inf, low_open=False, high_open=True)
OPEN_UNIT = Interval(0.0, 1.0, low_open=True, high_open=True)
CLOSED_UNIT = Interval(0.0, 1.0, low_open=False, high_open=False)
UNIT = Interval(0.0, 1.0, low_open=False, high_open=True)  # [0, 1)


def _check_choice(value, dotted: str, choices) -> None:
  if value not in tuple(choices):
    raise ConfigError(f"{dotted} = {value!r} is not valid; choose one "
                      f"of {choices_text(choices)}")


def _check_int(value, dotted: str, minimum: int) -> None:
  if not is_int(value) or value < minimum:
    raise ConfigError(f"{dotted} = {value!r} must be an integer >= "
                      f"{minimum}")
  if value > INT_MAX:
    raise ConfigError(f"{dotted} = {value!r} must be at most {INT_MAX}")


def _check_bool(value, dotted: str, unused_argument=None) -> None:
  if not isinstance(value, bool):
    raise ConfigError(f"{dotted} = {value!r} must be True or False")


def _check_str(value, dotted: str, what: str) -> None:
  if not isinstance(value, str):
    raise ConfigError(f"{dotted} = {value!r} must be a string ({what})")


def _check_widths(value, dotted: str, unused_argument=None) -> None:
  if (not isinstance(value, (tuple, list)) or not value or
      not all(is_int(w) and w >= 1 for w in value)):
    raise ConfigError(f"{dotted} = {value!r} must be a non-empty tuple "
                      f"of integers >= 1, e.g. (128, 128)")
  if any(w > INT_MAX for w in value):
    raise ConfigError(f"{dotted} = {value!r}: every width must be at "
                      f"most {INT_MAX}")


def _check_range(value, dotted: str, interval: Interval) -> None:
  if not is_real(value) or value not in interval:
    raise ConfigError(f"{dotted} = {value!r} must lie in {interval}")


_CHECKERS: dict[str, Callable[[Any, str, Any], None]] = {
    "choice": _check_choice,
    "int": _check_int,
    "bool": _check_bool,
    "str": _check_str,
    "widths": _check_widths,
    "range": _check_range,
}


@dataclasses.dataclass(frozen=True)
class Field:
  """One config field: its default, how it is checked, and what it means.

  Attributes:
    default: the value a config starts with.
    kind: 'int' | 'range' | 'choice' | 'bool' | 'str' | 'widths'.
    argument: the kind's bound: the minimum ('int'), an `Interval`
      ('range'), the valid values ('choice'), a description ('str').
    doc: one line for the docs and `--help`.
    resumable: whether a resumed run may change it (it changes how a run is
      driven, not what a step computes: e.g. how convolutions are computed).
  """
  default: Any
  kind: str
  argument: Any = None
  doc: str = ""
  resumable: bool = False

  def __post_init__(self):
    if self.kind not in _CHECKERS:
      raise ValueError(f"Field kind {self.kind!r} is not one of "
                       f"{choices_text(_CHECKERS)}")

  def check(self, value: Any, dotted: str) -> None:
    """Raises ConfigError naming `dotted` (e.g. 'config.model.latent_dim')."""
    _CHECKERS[self.kind](value, dotted, self.argument)

  def same_as(self, other: "Field") -> bool:
    """Whether two declarations of one field agree (default and check)."""
    return (self.kind, self.argument, self.default) == (
        other.kind, other.argument, other.default)


def integer(default: int, minimum: int = 0, *, doc: str = "") -> Field:
  return Field(default, "int", minimum, doc)


def real(default: float, interval: Interval = FINITE, *,
         doc: str = "") -> Field:
  return Field(default, "range", interval, doc)


def choice(default: str, choices: Iterable[str], *, doc: str = "",
           resumable: bool = False) -> Field:
  return Field(default, "choice", tuple(choices), doc, resumable)


def boolean(default: bool, *, doc: str = "") -> Field:
  return Field(default, "bool", None, doc)


def string(default: str, what: str, *, doc: str = "") -> Field:
  return Field(default, "str", what, doc)


def widths(default: tuple[int, ...], *, doc: str = "") -> Field:
  return Field(tuple(default), "widths", None, doc)
