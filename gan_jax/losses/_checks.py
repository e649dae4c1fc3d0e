"""Input checks and the (weighted) mean shared by the losses; imports jax only.

`term(fn, values, weights, ...)` is E fn(values) after the checks described
in the `gan_jax.losses` docstring (an empty argument, bad concrete weights;
zero-weight elements dropped exactly); `check_fake_fraction` and
`check_label_smoothing` range-check concrete hyperparameters.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _is_traced(value) -> bool:
  return isinstance(value, jax.core.Tracer)


def to_float(values: ArrayLike) -> Array:
  """`values` as a floating array; integers and bools become float32."""
  values = jnp.asarray(values)
  if not jnp.issubdtype(values.dtype, jnp.floating):
    values = values.astype(jnp.float32)
  return values


def as_float(values: ArrayLike, name: str) -> Array:
  """`to_float(values)`; rejects size 0, naming the argument."""
  values = to_float(values)
  if values.size == 0:
    raise ValueError(f"{name} is empty (shape {values.shape}); a mean over no "
                     "elements is undefined")
  return values


def check_weights(weights: Optional[ArrayLike], shape: tuple[int, ...],
                   dtype, name: str) -> Optional[Array]:
  """`weights` broadcast to `shape`; concrete ones must be >= 0, not all 0."""
  if weights is None:
    return None
  weights = jnp.asarray(weights, dtype)
  try:
    weights = jnp.broadcast_to(weights, shape)
  except ValueError:
    raise ValueError(f"{name} of shape {weights.shape} do not broadcast to "
                     f"the outputs' shape {shape}") from None
  if not _is_traced(weights):
    host = jax.device_get(weights)
    if not (host >= 0).all():  # also rejects NaN
      raise ValueError(f"{name} must be non-negative (and not NaN)")
    if not (host < float("inf")).all():
      raise ValueError(f"{name} must be finite")
    if not (host > 0).any():
      raise ValueError(f"{name} are all zero: the weighted mean "
                       "sum(w f) / sum(w) is undefined")
  return weights


def expectation(fn: Callable[[Array], Array], x: Array,
                 weights: Optional[Array]) -> Array:
  """E fn(x): the mean, or sum(w fn(x)) / sum(w).

  Elements of weight 0 are replaced by 0 before `fn`, so that an infinite or
  NaN output there cannot turn 0 * fn(x) (or its gradient) into NaN. If the
  weights sum to 0 (possible only when traced), the expectation is 0.
  """
  if weights is None:
    return jnp.mean(fn(x))
  keep = weights != 0
  values = fn(jnp.where(keep, x, jnp.zeros_like(x)))
  total = jnp.sum(weights)
  nonzero = total != 0
  mean = jnp.sum(weights * values) / jnp.where(nonzero, total, 1.0)
  return jnp.where(nonzero, mean, jnp.zeros_like(mean))


def term(fn: Callable[[Array], Array], values: ArrayLike,
          weights: Optional[ArrayLike], name: str, weights_name: str) -> Array:
  """E fn(values) after checking `values` and `weights` (see the module doc)."""
  x = as_float(values, name)
  return expectation(fn, x, check_weights(weights, x.shape, x.dtype,
                                            weights_name))


def _concrete_scalar(value, name: str) -> Optional[float]:
  """`value` as a Python float, or None if traced; rejects bools, arrays."""
  if _is_traced(value):
    return None
  if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind",
                                        None) == "b":
    raise TypeError(f"{name} must be a real number, not a bool ({value!r})")
  if isinstance(value, (int, float)):
    return float(value)
  kind = getattr(getattr(value, "dtype", None), "kind", None)
  if kind not in ("i", "u", "f"):
    raise TypeError(f"{name} must be a real number, got {value!r}")
  if getattr(value, "shape", ()) != ():
    raise ValueError(f"{name} must be a scalar, got shape {value.shape}")
  return float(value)


def check_fake_fraction(fake_fraction):
  """Returns pi as a Python float if concrete (checked), else unchanged."""
  pi = _concrete_scalar(fake_fraction, "fake_fraction")
  if pi is None:
    return fake_fraction
  if not 0.0 < pi < 1.0:  # also rejects NaN
    raise ValueError(
        f"fake_fraction must lie strictly between 0 and 1, got {fake_fraction}")
  return pi


def check_label_smoothing(label_smoothing):
  """Returns a as a Python float if concrete (checked), else unchanged."""
  a = _concrete_scalar(label_smoothing, "label_smoothing")
  if a is None:
    return label_smoothing
  if not 0.0 <= a < 1.0:
    raise ValueError(f"label_smoothing must lie in [0, 1), got "
                     f"{label_smoothing}")
  return a
