"""A metric added from outside gan_jax: the sliced Wasserstein distance.

SW_1(P, Q) = E_{u ~ U(S^{d-1})} W_1(u.P, u.Q) (Rabin et al. 2011; Deshpande
et al. 2018), estimated with `eval.sliced_wasserstein_projections` random
directions u and, per direction, the 1D W_1 of two equal-size samples: the
mean absolute difference of their sorted projections. Between the
generator's samples and as many draws of p_data, beside the floor between
two independent draws of p_data. Toy 2D data; use it with
`--plugins examples/plugins/sliced_wasserstein.py
--config.eval.metrics='("modes","sliced_wasserstein")'`.
"""

from __future__ import annotations

import jax
import numpy as np

from gan_jax import fields
from gan_jax import registry
from gan_jax.evaluation import evaluators


def sliced_wasserstein(x: np.ndarray, y: np.ndarray, directions: np.ndarray
                       ) -> float:
  """SW_1 of samples x, y [n, d] over unit directions [k, d]."""
  projected_x = np.sort(x @ directions.T, axis=0)
  projected_y = np.sort(y @ directions.T, axis=0)
  return float(np.mean(np.abs(projected_x - projected_y)))


@registry.EVALUATORS.register(
    "sliced_wasserstein", kinds=("toy2d",),
    fields=dict(sliced_wasserstein_projections=fields.integer(
        64, 1, doc="random directions of the sliced Wasserstein distance")))
class SlicedWasserstein(evaluators.Evaluator):
  """sliced_wasserstein and real_sliced_wasserstein (the floor)."""

  def __call__(self, samples):
    config = self.context.config
    n = samples.shape[0]
    key = jax.random.PRNGKey(config.seed)
    real = np.asarray(self.context.distribution.sample(
        jax.random.fold_in(key, 1), n))
    other = np.asarray(self.context.distribution.sample(
        jax.random.fold_in(key, 2), n))
    rng = np.random.default_rng(config.seed)
    directions = rng.normal(size=(
        config.eval.sliced_wasserstein_projections, samples.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return dict(
        sliced_wasserstein=sliced_wasserstein(samples, real, directions),
        real_sliced_wasserstein=sliced_wasserstein(other, real, directions))

  def headline(self, results):
    return (f"SW {results['sliced_wasserstein']:.4f} "
            f"(real {results['real_sliced_wasserstein']:.4f})")
