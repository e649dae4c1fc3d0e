"""The check-table machinery: per-field checks, rules and their context.

A table is a sequence of `FieldCheck`s and rules run in order; the first
failure is the one reported, as a `ConfigError` naming the dotted field and
the valid choices or range. The field kinds and bounds are
`gan_jax.fields`'; the tables are in `gan_jax.config.rules`.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, NamedTuple, Optional, Sequence

import ml_collections

from gan_jax.fields import choices_text
from gan_jax.fields import ConfigError
from gan_jax.fields import Field


def check_known_fields(config: Any, schema: Any, path: str) -> None:
  """Rejects fields the schema does not define (e.g. a typo in a config file)."""
  if not isinstance(schema, ml_collections.ConfigDict):
    return
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{path} must be a group of fields "
                      f"({choices_text(schema.keys())}), got {config!r}")
  for key in config.keys():
    if key not in schema:
      close = difflib.get_close_matches(str(key), list(schema.keys()), n=1)
      hint = f" Did you mean {path}.{close[0]}?" if close else ""
      raise ConfigError(f"{path}.{key} is not a known field; valid fields of "
                        f"{path}: {choices_text(schema.keys())}.{hint}")
    check_known_fields(config[key], schema[key], f"{path}.{key}")
  for key in schema.keys():
    if key not in config:
      raise ConfigError(f"{path}.{key} is missing (start configs from "
                        f"gan_jax.config.default_config())")


def get_dotted(config: ml_collections.ConfigDict, field: str) -> Any:
  value = config
  for part in field.split("."):
    value = value[part]
  return value


class FieldCheck(NamedTuple):
  """One per-field check of a dotted field: `Field(kind, argument).check`."""
  field: str
  kind: str
  argument: Any = None

  def __call__(self, config, unused_context=None) -> None:
    Field(None, self.kind, self.argument).check(
        get_dotted(config, self.field), f"config.{self.field}")


class Context(NamedTuple):
  """What the cross-field rules know beyond the config."""
  num_devices: Optional[int]
  num_processes: int


# A rule is rule(config, context) -> None, raising ConfigError.
Rule = Callable[[ml_collections.ConfigDict, Context], None]
Table = Sequence[Rule]


def run_checks(config: ml_collections.ConfigDict, table: Table,
               context: Context) -> None:
  for check in table:
    check(config, context)
