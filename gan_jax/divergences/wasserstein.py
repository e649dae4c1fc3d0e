"""The Wasserstein-1 distance in one dimension (Arjovsky et al. 2017).

  W1(P, Q) = int |F_P - F_Q| dx, on a grid or between 1D samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.divergences._common import Array
from gan_jax.divergences._common import ArrayLike



def wasserstein_1d(p: ArrayLike, q: ArrayLike, *, dx: float = 1.0) -> Array:
  """W1(P, Q) = int |F_P(x) - F_Q(x)| dx on a uniform 1D grid (last axis).

  The 1D closed form of the Wasserstein-1 distance of Arjovsky et al. 2017.

  The discretisation: F_P[i] = sum_{j <= i} p[j] dx (the cumulative sum
  times dx), and W1 = sum_i |F_P[i] - F_Q[i]| dx. This is the exact W1
  between the discrete distributions with masses p[i] dx and q[i] dx at the
  grid points x_i (cells of width dx), equal to
  `scipy.stats.wasserstein_distance(x, x, u_weights=p, v_weights=q)` when
  p and q have the same total mass; scipy normalises the weights, this does
  not, so pass densities renormalised on the grid (or probability vectors,
  dx = 1 meaning unit spacing). With unequal masses F_P - F_Q does not
  return to 0 at the right end and the result is not a distance.

  Args:
    p, q: grid densities (or probabilities), shape [..., n] (broadcastable).
    dx: grid spacing.

  Returns:
    [...] distances >= 0.
  """
  dtype = jnp.result_type(p, q, float)
  p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
  # One cumulative sum of p - q, not two that cancel in the tails.
  cdf_difference = jnp.cumsum(p - q, axis=-1) * dx
  return jnp.sum(jnp.abs(cdf_difference), axis=-1) * dx


def _as_1d_samples(x: ArrayLike, name: str) -> Array:
  x = jnp.asarray(x)
  if x.ndim == 2 and x.shape[1] == 1:
    x = x[:, 0]
  if x.ndim != 1:
    raise ValueError(
        f"{name} must have shape [n] or [n, 1] (1D samples), got {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"{name} must hold at least one sample, got {x.shape}")
  return x


def wasserstein_1d_samples(x: ArrayLike, y: ArrayLike) -> Array:
  """Exact W1 between the empirical distributions of 1D samples x and y.

      W1 = int |F_x(t) - F_y(t)| dt

  over the merged sorted support, F_x(t) = #{x_i <= t} / n, as
  `scipy.stats.wasserstein_distance(x, y)`. The sizes may differ; for equal
  sizes it reduces to mean_i |sort(x)_i - sort(y)_i|.

  Args:
    x: [n] or [n, 1] samples of P.
    y: [m] or [m, 1] samples of Q.

  Returns:
    A scalar >= 0.

  Raises:
    ValueError: if a sample array is empty or not one-dimensional.
  """
  x, y = _as_1d_samples(x, "x"), _as_1d_samples(y, "y")
  n, m = x.shape[0], y.shape[0]
  dtype = jnp.result_type(x, y, float)
  values = jnp.concatenate([x.astype(dtype), y.astype(dtype)])
  from_x = jnp.concatenate([jnp.ones(n, jnp.int32), jnp.zeros(m, jnp.int32)])
  values, from_x = jax.lax.sort((values, from_x), num_keys=1)
  # Exact integer counts of x and y at or below each sorted value; within a
  # run of ties they are partial, but there the gap to the next value is 0.
  count_x = jnp.cumsum(from_x)[:-1]
  count_y = jnp.arange(1, n + m, dtype=jnp.int32) - count_x
  cdf_difference = count_x.astype(dtype) / n - count_y.astype(dtype) / m
  return jnp.sum(jnp.abs(cdf_difference) * jnp.diff(values))
