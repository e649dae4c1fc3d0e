"""Metrics in a feature space: Fréchet distance (FID) and precision/recall.

* `frechet_distance`: the Fréchet distance between Gaussians fitted to two
  feature sets (FID, Heusel et al. 2017, with any feature extractor).
* `precision_recall`: improved precision and recall of Kynkäänniemi et al.
  2019 (k-NN balls, k = 3).
"""

from __future__ import annotations

import numpy as np

from gan_jax.evaluation import parzen

PRECISION_RECALL_K = 3


def feature_moments(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean [f] and covariance [f, f] (ddof=1) of features [n, f], in float64."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f"features must be [n, f] with n >= 2, got "
                     f"{features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False).reshape(
      features.shape[1], features.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix via eigh."""
  matrix = 0.5 * (matrix + matrix.T)
  values, vectors = np.linalg.eigh(matrix)
  # Round-off can make zero eigenvalues slightly negative.
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b) -> float:
  """Fréchet distance between N(mean_a, cov_a) and N(mean_b, cov_b).

  Dowson & Landau 1982; as FID (Heusel et al. 2017):

    d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)).

  S_a S_b is similar to the symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2),
  whose square root's trace is the sum of the square roots of its
  eigenvalues: two `eigh` calls, no complex `sqrtm` and no singular-matrix
  failure when a covariance is rank deficient (fewer samples than features).
  """
  mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b,
                                                              np.float64)
  cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  root_a = _psd_sqrt(cov_a)
  middle = root_a @ (0.5 * (cov_b + cov_b.T)) @ root_a
  eigenvalues = np.linalg.eigvalsh(0.5 * (middle + middle.T))
  trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
  diff = mean_a - mean_b
  distance = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) -
                   2.0 * trace_sqrt)
  return max(distance, 0.0)


def frechet_distance(features_a, features_b) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets.

  Args:
    features_a: [n_a, f] (n_a >= 2), e.g. the features of generator samples.
    features_b: [n_b, f] (n_b >= 2), e.g. those of the test images.

  Returns:
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) >= 0, with the
    sample means and covariances (ddof=1); see
    `frechet_distance_from_moments`. With Inception features this is FID
    (Heusel et al. 2017); here any extractor's.
  """
  return frechet_distance_from_moments(*feature_moments(features_a),
                                       *feature_moments(features_b))


def _pairwise_sq_batches(queries: np.ndarray, keys: np.ndarray,
                         batch_size: int):
  """Yields (start, [B, N] squared distances) in float64, batch by batch."""
  key_sq = np.einsum("ij,ij->i", keys, keys)
  for start in range(0, queries.shape[0], batch_size):
    part = queries[start:start + batch_size]
    d2 = (np.einsum("ij,ij->i", part, part)[:, None] + key_sq[None, :] -
          2.0 * (part @ keys.T))
    yield start, np.maximum(d2, 0.0)


def _knn_radii_sq(features: np.ndarray, k: int, batch_size: int) -> np.ndarray:
  """Squared distance from each row to its k-th nearest other row."""
  radii = np.empty(features.shape[0], np.float64)
  for start, d2 in _pairwise_sq_batches(features, features, batch_size):
    # Each row's own distance (0) is its smallest, so index k of the
    # partition is the k-th nearest *other* row, as in Kynkäänniemi et al.'s
    # code.
    radii[start:start + d2.shape[0]] = np.partition(d2, k, axis=1)[:, k]
  return radii


def _inside_any_ball(queries: np.ndarray, centres: np.ndarray,
                     radii_sq: np.ndarray, batch_size: int) -> np.ndarray:
  inside = np.empty(queries.shape[0], bool)
  for start, d2 in _pairwise_sq_batches(queries, centres, batch_size):
    inside[start:start + d2.shape[0]] = np.any(d2 <= radii_sq[None, :], axis=1)
  return inside


def precision_recall(real_features, fake_features, *,
                     k: int = PRECISION_RECALL_K,
                     batch_size: int = parzen.DEFAULT_BATCH_SIZE) -> dict:
  """Improved precision and recall (Kynkäänniemi et al. 2019).

  Each set's manifold is approximated by the union of balls around its
  points, each ball's radius the distance to that point's k-th nearest
  neighbour in the same set (k = 3 in the paper):

    precision = (1/|F|) sum_{f in F} 1[exists r in R: |f - r| <= NN_k(r, R)]
    recall    = (1/|R|) sum_{r in R} 1[exists f in F: |r - f| <= NN_k(f, F)]

  Distances are Euclidean in feature space, float64, computed `batch_size`
  rows at a time (memory: float64 [batch_size, max(|R|, |F|)]).

  Args:
    real_features: [|R|, f] features of real images (|R| > k).
    fake_features: [|F|, f] features of generated images (|F| > k).
    k: neighbourhood size.
    batch_size: rows per batch.

  Returns:
    dict(precision=float, recall=float), each in [0, 1].
  """
  real = np.asarray(real_features, np.float64)
  fake = np.asarray(fake_features, np.float64)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"features must be [n, f] with equal f; got "
                     f"{real.shape} and {fake.shape}")
  if min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(f"precision_recall with k={k} needs more than {k} real "
                     f"and fake features, got {real.shape[0]} and "
                     f"{fake.shape[0]}")
  return RealManifold(real, k, batch_size).precision_recall(fake)


class RealManifold:
  """The real set's k-NN balls, kept to score several fake sets against."""

  def __init__(self, real: np.ndarray, k: int, batch_size: int):
    # A common shift shrinks the norms and hence the cancellation error.
    self.shift = real.mean(axis=0)
    self.real = real - self.shift
    self.k = k
    self.batch = max(1, int(batch_size))
    self.radii_sq = _knn_radii_sq(self.real, k, self.batch)

  def precision_recall(self, fake: np.ndarray) -> dict:
    fake = np.asarray(fake, np.float64) - self.shift
    fake_radii = _knn_radii_sq(fake, self.k, self.batch)
    precision = _inside_any_ball(fake, self.real, self.radii_sq,
                                 self.batch).mean()
    recall = _inside_any_ball(self.real, fake, fake_radii, self.batch).mean()
    return dict(precision=float(precision), recall=float(recall))
