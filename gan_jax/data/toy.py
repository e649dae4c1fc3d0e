"""The toy distributions p_data: ring, grid and the 1D Gaussian.

`make_toy_distribution` returns a `gan_jax.distributions` object, sampled on
device; no files.
"""

from __future__ import annotations

import jax.numpy as jnp

from gan_jax import distributions
from gan_jax import fields
from gan_jax import registry
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
  if name not in common.names_of(kind="toy"):
    raise common.DataError(
        f"config.data.name: {name!r} is not a toy distribution; valid: "
        f"{', '.join(common.names_of(kind='toy'))}")
  component = registry.DATASETS.get(name)
  defaults = registry.DATASETS.defaults(name)
  values = {}
  for field in ("std", *component.fields):
    values[field] = _checked(name, field, common.field(
        data_config, field, defaults[field]), defaults[field])
  return component.target(**values)


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


def _gaussian_1d(mean: float, std: float) -> distributions.Gaussian:
  return distributions.Gaussian(jnp.array([mean], jnp.float32),
                                jnp.array([std], jnp.float32))


# Srivastava et al. 2017 (VEEGAN): 8 modes on a circle of radius 2.
registry.DATASETS.add(
    "ring", distributions.ring,
    fields=dict(
        num_modes=fields.integer(8, 1, doc="ring: modes on the circle"),
        radius=fields.real(2.0, fields.POSITIVE, doc="ring: its radius")),
    kind="toy", dims=2)
# Lin et al. 2018 (PacGAN): a 5 x 5 grid of modes 2 apart.
registry.DATASETS.add(
    "grid", distributions.grid,
    fields=dict(
        size=fields.integer(5, 1, doc="grid: modes per side"),
        spacing=fields.real(2.0, fields.POSITIVE,
                            doc="grid: distance between modes")),
    defaults=dict(std=0.05), kind="toy", dims=2)
# Goodfellow et al. 2014, Figure 1.
registry.DATASETS.add(
    "gaussian_1d", _gaussian_1d,
    fields=dict(mean=fields.real(4.0, doc="gaussian_1d: its mean")),
    defaults=dict(std=0.5), kind="toy", dims=1)
