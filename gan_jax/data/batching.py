"""Small helpers for the training step: pixel ranges and batch shares.

Batches are gathered inside the jitted step by index and mapped to the model
range with `to_model_range` (jittable); `process_batch_slice` says which
examples of each global batch a process reads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import common


def to_model_range(images_uint8) -> jax.Array:
  """uint8 [...] in {0..255} -> float32 in [-1, 1]: x / 127.5 - 1. Jittable."""
  # (x - 127.5) / 127.5 maps 0 and 255 to exactly -1 and 1 in float32.
  return (jnp.asarray(images_uint8).astype(jnp.float32) - 127.5) / 127.5


def from_model_range(x) -> np.ndarray:
  """Model output in [-1, 1] -> numpy float32 in [0, 1], clipped."""
  x = np.asarray(jax.device_get(x), dtype=np.float32)
  return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


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
