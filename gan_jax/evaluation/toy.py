"""Toy-distribution metrics: mode coverage (ring, grid) and the 1D JSD.

Mode coverage on the ring and grid follows the protocol of Srivastava et al.
2017 (VEEGAN) and Lin et al. 2018 (PacGAN): draw 2,500 samples, assign each
to its nearest mode centre; a sample is *high quality* if it lies within 3
standard deviations of that centre; a mode is *captured* if at least one
high-quality sample is assigned to it; the *reverse KL* is KL(q || u) between
the histogram q of the high-quality samples over the modes and the uniform
distribution u of the true mixture.

For the 1D Gaussian of Goodfellow et al. 2014 (Figure 1), `jsd_1d` estimates
JSD(p_data || p_g) on a grid, with p_g a Gaussian kernel density estimate of
the samples.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from gan_jax import divergences

HIGH_QUALITY_STDS = 3.0


def evaluate_modes(samples, means, std, *,
                   threshold: float = HIGH_QUALITY_STDS) -> dict:
  """Modes captured, % high-quality samples and reverse KL.

  Args:
    samples: [n, d] generator samples.
    means: [K, d] mode centres.
    std: the modes' standard deviation: a scalar, or [K] per mode (isotropic
      modes; for a [K, d] array the mean over d is used).
    threshold: a sample is high quality if its Euclidean distance to its
      nearest centre is at most `threshold` * std of that mode.

  Returns:
    dict with
      modes: int, number of modes with at least one high-quality sample;
      high_quality_pct: float, 100 * fraction of high-quality samples;
      reverse_kl: float, KL(q || uniform) = sum_k q_k log(K q_k) with
        0 log 0 = 0, q the high-quality samples' mode histogram. In [0, log K]:
        0 when every mode holds the same number, log K when all lie in one
        mode. With no high-quality sample q is undefined; we then report the
        worst value, log K (`modes` = 0 tells the two cases apart).
      num_modes: int, K.
  """
  samples = np.asarray(samples, np.float64)
  means = np.asarray(means, np.float64)
  if samples.ndim != 2 or means.ndim != 2 or samples.shape[1] != means.shape[1]:
    raise ValueError(f"samples [n, d] and means [K, d] must agree in d; got "
                     f"{samples.shape} and {means.shape}")
  num_modes = means.shape[0]
  std = np.asarray(std, np.float64)
  if std.ndim == 2:
    std = std.mean(axis=-1)
  std = np.broadcast_to(std, (num_modes,))

  squared = np.sum((samples[:, None, :] - means[None]) ** 2, axis=-1)
  nearest = np.argmin(squared, axis=1)
  distance = np.sqrt(squared[np.arange(len(samples)), nearest])
  high_quality = distance <= threshold * std[nearest]
  counts = np.bincount(nearest[high_quality], minlength=num_modes)
  total = counts.sum()
  if total == 0:
    reverse_kl = math.log(num_modes)
  else:
    q = counts / total
    nonzero = q > 0
    reverse_kl = float(np.sum(q[nonzero] * np.log(q[nonzero] * num_modes)))
  return dict(
      modes=int(np.sum(counts > 0)),
      high_quality_pct=float(100.0 * high_quality.mean()) if len(samples) else
      0.0,
      reverse_kl=max(reverse_kl, 0.0),
      num_modes=int(num_modes),
  )


def jsd_1d(samples, log_prob: Callable[[np.ndarray], np.ndarray], *,
           low: float, high: float, num_points: int = 2001) -> dict:
  """JSD(p_data || p_g) on [low, high] with p_g a Gaussian KDE of `samples`.

  Args:
    samples: [n] or [n, 1] generator samples.
    log_prob: maps [m, 1] points to [m] log p_data.
    low, high: the grid's range; should hold (almost) all of both densities.
    num_points: grid size.

  Returns:
    dict(jsd=float, in [0, log 2]; bandwidth=float, Scott's rule;
         sample_mean=float, sample_std=float).
  """
  samples = np.asarray(samples, np.float64).reshape(-1)
  n = samples.size
  sample_std = float(samples.std()) if n > 1 else 0.0
  # Scott's rule, floored so that a collapsed generator still has a density.
  bandwidth = max(1.06 * sample_std * n ** (-1 / 5), 1e-3 * (high - low))
  grid = np.linspace(low, high, num_points)
  dx = grid[1] - grid[0]
  p_data = np.exp(np.asarray(log_prob(grid[:, None]), np.float64))
  p_g = np.zeros_like(grid)
  for chunk in np.array_split(samples, max(1, n // 1000)):
    z = (grid[None, :] - chunk[:, None]) / bandwidth
    p_g += np.exp(-0.5 * z * z).sum(axis=0)
  p_g /= n * bandwidth * math.sqrt(2.0 * math.pi)
  # Renormalise on the grid so both are densities there.
  p_data /= p_data.sum() * dx
  p_g_mass = p_g.sum() * dx
  p_g = p_g / p_g_mass if p_g_mass > 0 else np.full_like(grid, 1 / (high - low))
  jsd = float(divergences.jensen_shannon_divergence(p_data, p_g, dx=dx))
  return dict(jsd=jsd, bandwidth=float(bandwidth),
              sample_mean=float(samples.mean()) if n else 0.0,
              sample_std=sample_std)
