"""A data set added from outside gan_jax: Gaussian modes along a spiral.

`spiral_modes` equal isotropic 2D Gaussians (std config.data.std) at angles
t_i = 2 pi spiral_turns i / spiral_modes on the Archimedean spiral
r(t) = 0.5 + t / (2 pi) * 1.5, a harder mode-collapse test than the ring:
the modes lie at different radii and distances. A toy data set is a
`gan_jax.distributions` object (sample, log_prob, means, stds), so the
mode metrics of the ring and grid apply to it as they are. Use it with
`--plugins examples/plugins/spiral.py --config.data.name=spiral`.
"""

from __future__ import annotations

import numpy as np

from gan_jax import distributions
from gan_jax import fields
from gan_jax import registry


def spiral(std: float, spiral_modes: int, spiral_turns: float
           ) -> distributions.GaussianMixture:
  angles = 2 * np.pi * spiral_turns * np.arange(spiral_modes) / spiral_modes
  radii = 0.5 + angles / (2 * np.pi) * 1.5
  means = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
  return distributions.GaussianMixture(means, np.full(spiral_modes, std))


registry.DATASETS.add(
    "spiral", spiral,
    fields=dict(
        spiral_modes=fields.integer(10, 1, doc="spiral: its modes"),
        spiral_turns=fields.real(1.5, fields.POSITIVE,
                                 doc="spiral: turns the modes span")),
    kind="toy", dims=2)
