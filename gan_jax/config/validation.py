"""validate: every check of a config, before any compute."""

from __future__ import annotations

from typing import Optional

import ml_collections

from gan_jax import registry
from gan_jax.config.checks import check_known_fields
from gan_jax.config.checks import Context
from gan_jax.config.checks import run_checks
from gan_jax.config.rules import CHECKS
from gan_jax.config.schema import default_config
from gan_jax.fields import ConfigError


def validate(config: ml_collections.ConfigDict,
             num_devices: Optional[int] = None, *,
             num_processes: int = 1) -> None:
  """Checks every field of `config`; raises `ConfigError` on the first bad one.

  Needs no JAX backend and compiles nothing (image data sets: reads the IDX
  header, or asks TFDS for the shape). Every integer field must also be at
  most `INT_MAX` (2**31 - 1).

  Args:
    config: a config built from `default_config()`.
    num_devices: devices the step is mapped over (the global batch is split
      evenly among them), over all processes. None skips the checks that need
      the device count (only: train.batch_size divisible by it), so that a
      config can be checked before JAX knows its devices; validate again with
      the count before running.
    num_processes: JAX processes the run spans (`jax.process_count()`).

  Raises:
    ConfigError: naming the dotted field and the valid choices or range.
  """
  plugins = config.get("plugins", ())
  if not isinstance(plugins, (tuple, list)) or not all(
      isinstance(p, str) and p for p in plugins):
    raise ConfigError(f"config.plugins = {plugins!r} must be a tuple of .py "
                      "file paths or module names")
  registry.load_plugins(plugins)
  check_known_fields(config, default_config(plugins), "config")
  run_checks(config, CHECKS, Context(num_devices, num_processes))
