"""Toy data distributions p_data with exact `sample` and `log_prob`; jax only.

The ring and grid mixtures are the mode-collapse benchmarks of Metz et al.
2017 (ring) and Srivastava et al. 2017 / Lin et al. 2018 (ring and grid).
Every distribution is a frozen dataclass of arrays with

  sample(key, n) -> [n, d]    (jit-compatible; n static)
  log_prob(x)    -> [n]       for x of shape [n, d]
  means          -> [K, d]    mode centres (K = 1 for a Gaussian)
  stds           -> [K, d]    per-mode, per-dimension standard deviations
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


def _diag_normal_log_prob(x: Array, mean: Array, std: Array) -> Array:
  """log N(x; mean, diag(std^2)) summed over the last axis."""
  z = (x - mean) / std
  return -0.5 * jnp.sum(z * z + _LOG_2PI + 2.0 * jnp.log(std), axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Gaussian:
  """Diagonal Gaussian N(mean, diag(std^2)) in d dimensions.

  Attributes:
    mean: [d] mean.
    std: [d] (or scalar, broadcast) standard deviation, > 0.
  """
  mean: Array
  std: Array

  def __post_init__(self):
    mean = jnp.atleast_1d(jnp.asarray(self.mean, jnp.float32))
    std = jnp.broadcast_to(jnp.asarray(self.std, jnp.float32), mean.shape)
    object.__setattr__(self, "mean", mean)
    object.__setattr__(self, "std", std)

  @property
  def dim(self) -> int:
    return self.mean.shape[-1]

  @property
  def means(self) -> Array:
    return self.mean[None]

  @property
  def stds(self) -> Array:
    return self.std[None]

  def sample(self, key: Array, n: int) -> Array:
    """Returns [n, d] samples."""
    noise = jax.random.normal(key, (n, self.dim), self.mean.dtype)
    return self.mean + self.std * noise

  def log_prob(self, x: Array) -> Array:
    """Returns [n] log densities of x: [n, d]."""
    return _diag_normal_log_prob(jnp.asarray(x), self.mean, self.std)


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianMixture:
  """Mixture of K diagonal Gaussians in d dimensions.

  Attributes:
    means: [K, d] component means.
    stds: [K, d] (or [K], or scalar, broadcast) component standard deviations.
    weights: [K] mixing weights (normalised here); uniform if None.
  """
  means: Array
  stds: Array
  weights: Array | None = None

  def __post_init__(self):
    means = jnp.asarray(self.means, jnp.float32)
    if means.ndim != 2:
      raise ValueError(f"means must have shape [K, d], got {means.shape}")
    stds = jnp.asarray(self.stds, jnp.float32)
    if stds.ndim == 1:
      stds = stds[:, None]
    stds = jnp.broadcast_to(stds, means.shape)
    num_modes = means.shape[0]
    if self.weights is None:
      weights = jnp.full((num_modes,), 1.0 / num_modes, jnp.float32)
    else:
      weights = jnp.asarray(self.weights, jnp.float32)
      if weights.shape != (num_modes,):
        raise ValueError(
            f"weights must have shape [{num_modes}], got {weights.shape}")
      weights = weights / jnp.sum(weights)
    object.__setattr__(self, "means", means)
    object.__setattr__(self, "stds", stds)
    object.__setattr__(self, "weights", weights)

  @property
  def dim(self) -> int:
    return self.means.shape[-1]

  @property
  def num_modes(self) -> int:
    return self.means.shape[0]

  def sample_with_modes(self, key: Array, n: int) -> tuple[Array, Array]:
    """Returns ([n, d] samples, [n] index of the component each came from)."""
    mode_key, noise_key = jax.random.split(key)
    modes = jax.random.categorical(mode_key, jnp.log(self.weights), shape=(n,))
    noise = jax.random.normal(noise_key, (n, self.dim), self.means.dtype)
    return self.means[modes] + self.stds[modes] * noise, modes

  def sample(self, key: Array, n: int) -> Array:
    """Returns [n, d] samples."""
    return self.sample_with_modes(key, n)[0]

  def log_prob(self, x: Array) -> Array:
    """Returns [n] log densities of x: [n, d]."""
    x = jnp.asarray(x)
    per_mode = _diag_normal_log_prob(x[:, None, :], self.means[None],
                                     self.stds[None])
    return logsumexp(per_mode + jnp.log(self.weights), axis=-1)


def ring(num_modes: int = 8, radius: float = 2.0,
         std: float = 0.02) -> GaussianMixture:
  """Equal mixture of `num_modes` isotropic 2D Gaussians on a circle.

  Mode k sits at radius * (cos 2 pi k / K, sin 2 pi k / K). Defaults follow
  Srivastava et al. 2017 (8 modes, radius 2, std 0.02).
  """
  angles = 2.0 * jnp.pi * jnp.arange(num_modes) / num_modes
  means = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
  return GaussianMixture(means, jnp.full((num_modes,), std))


def grid(size: int = 5, spacing: float = 2.0,
         std: float = 0.05) -> GaussianMixture:
  """Equal mixture of size x size isotropic 2D Gaussians on a square lattice.

  Coordinates are spacing * (i - (size - 1) / 2), i = 0..size-1; the defaults
  give modes at {-4, -2, 0, 2, 4}^2 with std 0.05 (Srivastava et al. 2017).
  """
  coords = spacing * (jnp.arange(size) - (size - 1) / 2.0)
  xs, ys = jnp.meshgrid(coords, coords, indexing="ij")
  means = jnp.stack([xs.ravel(), ys.ravel()], axis=-1)
  return GaussianMixture(means, jnp.full((size * size,), std))
