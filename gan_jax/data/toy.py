"""The toy distributions p_data: ring, grid and the 1D Gaussian.

`make_toy_distribution` returns a `gan_jax.distributions` object, sampled on
device; no files.
"""

from __future__ import annotations

import jax.numpy as jnp

from gan_jax import distributions
from gan_jax.data import common


def make_toy_distribution(
    data_config) -> distributions.Gaussian | distributions.GaussianMixture:
  """Returns the toy p_data named by config.data.name.

  'ring': `distributions.ring(num_modes, radius, std)`;
  'grid': `distributions.grid(size, spacing, std)`;
  'gaussian_1d': `distributions.Gaussian(mean, std)` in 1 dimension.
  Fields a config leaves out take the defaults of `default_data_config`.

  Raises:
    DataError: unknown name, or a value out of range (naming the field).
  """
  name = common.field(data_config, "name")
  if name not in common.TOY_DATASETS:
    raise common.DataError(
        f"config.data.name: {name!r} is not a toy distribution; valid: "
        f"{', '.join(common.TOY_DATASETS)}")
  values = {}
  for field, default in common.TOY_DEFAULTS[name].items():
    values[field] = _checked(name, field, common.field(data_config, field,
                                                       default), default)
  if name == "ring":
    return distributions.ring(**values)
  if name == "grid":
    return distributions.grid(**values)
  return distributions.Gaussian(jnp.array([values["mean"]], jnp.float32),
                                jnp.array([values["std"]], jnp.float32))


def _checked(name: str, field: str, value, default):
  """`value` of config.data.`field`, checked against its default's type."""
  if isinstance(default, int):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise common.DataError(f"config.data.{field} must be a positive int "
                             f"for name={name!r}, got {value!r}")
  else:
    try:
      value = float(value)
    except (TypeError, ValueError):
      raise common.DataError(f"config.data.{field} must be a number, got "
                             f"{value!r}") from None
    if field in ("std", "radius", "spacing") and not value > 0:
      raise common.DataError(f"config.data.{field} must be > 0 for "
                             f"name={name!r}, got {value}")
  return value
