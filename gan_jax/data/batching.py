"""Small helpers for the training step: pixel ranges and batch shares.

Batches are gathered inside the jitted step by index and mapped to the model
range with `to_model_range` (jittable); `process_batch_slice` says which
examples of each global batch a process reads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import registry
from gan_jax.data import common


# config.data.pixel_range: the pixel range G and D work in (the choices its
# field declares).
PIXEL_RANGES = registry.DATA_COMMON_FIELDS["pixel_range"].argument


def _check_pixel_range(pixel_range: str) -> None:
  if pixel_range not in PIXEL_RANGES:
    raise ValueError(f"config.data.pixel_range = {pixel_range!r} is not "
                     f"valid; choose one of {', '.join(map(repr, PIXEL_RANGES))}")


def pixel_range(data_config) -> str:
  """config.data.pixel_range ('[-1,1]' when absent: runs saved before it)."""
  return common.field(data_config, "pixel_range", "[-1,1]")


def to_model_range(images_uint8, pixel_range: str = "[-1,1]") -> jax.Array:
  """uint8 [...] in {0..255} -> float32 in the model's range. Jittable.

  '[-1,1]' (for a tanh G): x / 127.5 - 1; '[0,1]' (for a sigmoid G, the
  seed notebooks' MNIST convention): x / 255.
  """
  _check_pixel_range(pixel_range)
  x = jnp.asarray(images_uint8).astype(jnp.float32)
  if pixel_range == "[0,1]":
    return x / 255.0
  # (x - 127.5) / 127.5 maps 0 and 255 to exactly -1 and 1 in float32.
  return (x - 127.5) / 127.5


def from_model_range(x, pixel_range: str = "[-1,1]") -> np.ndarray:
  """Model output in its range -> numpy float32 in [0, 1], clipped."""
  _check_pixel_range(pixel_range)
  x = np.asarray(jax.device_get(x), dtype=np.float32)
  if pixel_range == "[-1,1]":
    x = (x + 1.0) / 2.0
  return np.clip(x, 0.0, 1.0)


def to_unit_range(images) -> np.ndarray:
  """Images for the metrics: uint8 {0..255} -> float32 x / 255; float images
  are taken as already in [0, 1] (cast to float32)."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 255.0
  return images.astype(np.float32)


def process_batch_slice(global_batch_size: int,
                        process_index: int | None = None,
                        process_count: int | None = None) -> slice:
  """The contiguous share of a global batch's example indices for a process.

  Process p of P reads examples [p * B / P, (p + 1) * B / P) of each global
  batch of B, so that every example is read exactly once.

  Args:
    global_batch_size: B, examples per step over all processes.
    process_index: p; default `jax.process_index()`.
    process_count: P; default `jax.process_count()`.

  Raises:
    DataError: B not divisible by P, or p out of range.
  """
  if process_index is None:
    process_index = jax.process_index()
  if process_count is None:
    process_count = jax.process_count()
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise common.DataError(f"process_index {process_index} out of range "
                           f"for process_count {process_count}")
  if global_batch_size <= 0 or global_batch_size % process_count:
    raise common.DataError(
        f"the global batch size {global_batch_size} (config.train.batch_size)"
        f" must be a positive multiple of the process count {process_count}")
  per_process = global_batch_size // process_count
  return slice(process_index * per_process, (process_index + 1) * per_process)
