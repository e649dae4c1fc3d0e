"""Parzen-window log-likelihood of images (Goodfellow et al. 2014, Table 1).

`parzen_evaluate` follows the protocol of Goodfellow et al. 2014, after
Breuleux et al. 2011: a Gaussian kernel on each of 10,000 samples, its width
chosen from logspace(-1, 0, 10) on held-out validation images, the test
set's mean log-likelihood +- standard error reported.
`parzen_log_likelihood` is the batched estimator. Pixels in [0, 1].
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# Goodfellow et al. 2014's grid of Parzen window widths for pixels in [0, 1]
# (their parzen_ll.py: numpy.logspace(-1, 0, 10)).
PARZEN_SIGMAS = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))
# Rows of points per batch: the [batch, N] distance matrix (float32 in the
# Parzen estimate, float64 in precision/recall) bounds the memory used.
DEFAULT_BATCH_SIZE = 1000


def _as_rows(x, name: str) -> np.ndarray:
  """[n, ...] images or features -> float32 [n, d]; uint8 is scaled by 1/255."""
  x = np.asarray(x)
  if x.ndim < 2:
    raise ValueError(f"{name} must be [n, ...] with n examples, got shape "
                     f"{x.shape}")
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / 255.0
  return np.asarray(x, np.float32).reshape(x.shape[0], -1)


@jax.jit
def _parzen_batch(points, centres, centre_sq, inv_two_var):
  """log sum_i exp(-|x - mu_i|^2 / (2 sigma^2)) for a batch and every sigma.

  points [B, d] and centres [N, d] are centred on the same vector;
  centre_sq [N] = |mu_i|^2; inv_two_var [S] = 1 / (2 sigma^2). Returns [S, B].
  """
  cross = jnp.dot(points, centres.T, precision=jax.lax.Precision.HIGHEST)
  squared = jnp.sum(points * points, axis=1)
  d2 = jnp.maximum(squared[:, None] + centre_sq[None, :] - 2.0 * cross, 0.0)
  # Every sigma's largest term is the nearest centre's, so one row minimum is
  # the log-sum-exp shift for all of them and each sigma costs one pass (exp
  # and sum) over the [B, N] distances, which are computed once.
  nearest = jnp.min(d2, axis=1)
  excess = d2 - nearest[:, None]
  return jnp.stack([-nearest * inv_two_var[s] + jnp.log(
      jnp.sum(jnp.exp(-excess * inv_two_var[s]), axis=1))
                    for s in range(inv_two_var.shape[0])])


def parzen_log_likelihood(centres, points, sigma, *,
                          batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
  """Log density of `points` under a Gaussian Parzen window on `centres`.

  The estimate of Breuleux et al. 2011 used by Goodfellow et al. 2014
  (Table 1): an isotropic Gaussian kernel of width sigma on each of the N
  centres mu_i (generator samples), in d = prod(shape) dimensions,

    log p(x) = logsumexp_i(-|x - mu_i|^2 / (2 sigma^2)) - log N
               - (d / 2) log(2 pi sigma^2).

  Numerics: |x - mu|^2 = |x|^2 + |mu|^2 - 2 x.mu with x.mu a float32 GEMM,
  after subtracting the centres' mean from both sets (which shrinks |x|^2
  and |mu|^2, hence the cancellation error, several-fold). Against float64
  the error is far below the protocol's standard error (measured:
  docs/guide/evaluation.md). The log-sum-exp is shifted by
  each point's nearest centre, so it neither overflows nor underflows.

  Memory: points are taken `batch_size` at a time; the largest temporary is
  a float32 [batch_size, N] distance matrix, which all sigmas share.

  Args:
    centres: [N, ...] kernel centres (float in [0, 1], or uint8 scaled by
      1/255).
    points: [n, ...] points to score, same trailing shape.
    sigma: a positive scalar, or a 1-D sequence of S widths.
    batch_size: points per batch.

  Returns:
    float64 [n] for a scalar sigma, [S, n] for a sequence: log p(x) in nats.
  """
  centres = _as_rows(centres, "centres")
  points = _as_rows(points, "points")
  if centres.shape[1] != points.shape[1]:
    raise ValueError(f"centres {centres.shape} and points {points.shape} "
                     "differ in dimension")
  if centres.shape[0] == 0:
    raise ValueError("parzen_log_likelihood needs at least one centre")
  sigmas = np.asarray(sigma, np.float64)
  scalar = sigmas.ndim == 0
  sigmas = sigmas.reshape(-1)
  if not np.all(sigmas > 0):
    raise ValueError(f"sigma must be > 0, got {sigma}")
  num_centres, dim = centres.shape
  shift = centres.mean(axis=0, dtype=np.float64).astype(np.float32)
  centres_dev = jnp.asarray(centres - shift)
  centre_sq = jnp.sum(centres_dev * centres_dev, axis=1)
  inv_two_var = jnp.asarray(1.0 / (2.0 * sigmas ** 2), jnp.float32)
  n = points.shape[0]
  batch = max(1, min(int(batch_size), n))
  sums = np.empty((len(sigmas), n), np.float64)
  for start in range(0, n, batch):
    part = points[start:start + batch] - shift
    real = part.shape[0]
    if real < batch:  # one compiled shape
      part = np.concatenate([part, np.zeros((batch - real, dim), np.float32)])
    out = _parzen_batch(jnp.asarray(part), centres_dev, centre_sq, inv_two_var)
    sums[:, start:start + real] = np.asarray(out, np.float64)[:, :real]
  log_norm = (math.log(num_centres) +
              0.5 * dim * np.log(2.0 * math.pi * sigmas ** 2))
  log_p = sums - log_norm[:, None]
  return log_p[0] if scalar else log_p


def parzen_evaluate(samples, validation, test, *,
                    sigmas=PARZEN_SIGMAS,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
  """Parzen-window log-likelihood by the protocol of Goodfellow et al. 2014.

  Table 1 of "Generative Adversarial Nets": fit a Gaussian Parzen window to
  the generator's samples (10,000 of them), choose its width sigma from
  `sigmas` (logspace(-1, 0, 10)) by the mean log-likelihood of held-out
  validation images, then report the mean log-likelihood of the test set and
  its standard error std / sqrt(n) (ddof=1). Pixels in [0, 1].

  Args:
    samples: [N, ...] kernel centres, e.g. generator samples in [0, 1].
    validation: [n_v, ...] images that choose sigma.
    test: [n_t, ...] images that are scored.
    sigmas: candidate widths.
    batch_size: see `parzen_log_likelihood`.

  Returns:
    dict(mean=float, stderr=float: test log-likelihood in nats and its
         standard error; sigma=float: the chosen width; sigma_index=int, its
         index in `sigmas` (0 or len-1 means the grid may be too narrow);
         validation_mean=float at that sigma; sigmas, validation_by_sigma:
         lists of the grid and each width's validation mean).
  """
  sigmas = [float(s) for s in np.asarray(sigmas, np.float64).reshape(-1)]
  by_sigma = parzen_log_likelihood(samples, validation, sigmas,
                                   batch_size=batch_size).mean(axis=1)
  best = int(np.argmax(by_sigma))
  test_ll = parzen_log_likelihood(samples, test, sigmas[best],
                                  batch_size=batch_size)
  stderr = (float(test_ll.std(ddof=1) / math.sqrt(len(test_ll)))
            if len(test_ll) > 1 else float("nan"))
  return dict(mean=float(test_ll.mean()), stderr=stderr, sigma=sigmas[best],
              sigma_index=best, validation_mean=float(by_sigma[best]),
              sigmas=sigmas, validation_by_sigma=[float(v) for v in by_sigma])
