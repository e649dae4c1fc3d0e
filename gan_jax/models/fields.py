"""Reading and checking `config.model` fields for the model builders."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import ml_collections

from gan_jax import kernels
from gan_jax import registry
from gan_jax.fields import ConfigError


def _choices(field: str) -> tuple[str, ...]:
  """The valid values of a choice field, as its component declared them."""
  return registry.MODELS.fields()[field].argument


class Fields:
  """Reads and checks config.model fields; absent ones take the defaults."""

  def __init__(self, model_config, defaults: ml_collections.ConfigDict):
    self._config = model_config
    self._defaults = defaults

  def get(self, field: str) -> Any:
    if hasattr(self._config, "get"):
      value = self._config.get(field, None)
    else:
      value = getattr(self._config, field, None)
    if field not in self._defaults:
      raise ConfigError(
          f"config.model.{field} is read by model "
          f"{self._defaults.get('name')!r} but no model declares it; add it "
          f"to the fields its registration declares")
    return self._defaults[field] if value is None else value

  def activation(self, field: str) -> str:
    value = self.get(field)
    if value not in _choices(field):
      raise ValueError(f"config.model.{field}: unknown activation {value!r}; "
                       f"valid: {', '.join(_choices(field))}")
    return value

  def widths(self, field: str) -> tuple[int, ...]:
    value = self.get(field)
    try:
      widths = tuple(int(w) for w in value)
    except (TypeError, ValueError):
      widths = ()
    if not widths or any(w <= 0 for w in widths):
      raise ValueError(f"config.model.{field} must be a non-empty tuple of "
                       f"positive ints, got {value!r}")
    return widths

  def positive_int(self, field: str) -> int:
    value = self.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise ValueError(f"config.model.{field} must be a positive int, got "
                       f"{value!r}")
    return value

  def non_negative_int(self, field: str) -> int:
    value = self.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      raise ValueError(f"config.model.{field} must be an int >= 0, got "
                       f"{value!r}")
    return value

  def choice(self, field: str) -> str:
    """One of the values the field declares."""
    value = self.get(field)
    if value not in _choices(field):
      raise ConfigError(f"config.model.{field} = {value!r} is not valid; "
                        f"choose one of "
                        f"{', '.join(map(repr, _choices(field)))}")
    return value

  def fraction(self, field: str) -> float:
    """A float in [0, 1) (dropout rates, BatchNorm momentum)."""
    value = float(self.get(field))
    if not 0.0 <= value < 1.0:
      raise ValueError(f"config.model.{field} must be in [0, 1), got {value}")
    return value

  def positive_float(self, field: str) -> float:
    value = float(self.get(field))
    if not value > 0.0:
      raise ValueError(f"config.model.{field} must be > 0, got {value}")
    return value

  def conv_impl(self, field: str) -> str:
    """One of the field's choices; 'onednn' only where its extension is."""
    value = self.get(field)
    if value not in _choices(field):
      raise ValueError(f"config.model.{field}: unknown {value!r}; valid: "
                       f"{', '.join(_choices(field))}")
    if value == "onednn" and not kernels.onednn_available():
      raise ValueError(
          f"config.model.{field}='onednn' needs gan_jax's oneDNN extension, "
          f"which is not built here (apt-get install libdnnl-dev, then pip "
          f"install -e . again); use 'auto' or 'xla'")
    return value

  def compute_dtype(self, field: str) -> jnp.dtype:
    """One of the field's choices, as a jnp dtype."""
    value = self.get(field)
    if value not in _choices(field):
      raise ValueError(f"config.model.{field}: unknown dtype {value!r}; "
                       f"valid: {', '.join(_choices(field))}")
    return jnp.dtype(value)
