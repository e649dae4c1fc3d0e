"""Metrics in a feature space: Fréchet distance (FID) and precision/recall.

* `frechet_distance`: the Fréchet distance between Gaussians fitted to two
  feature sets (FID, Heusel et al. 2017, with any feature extractor).
* `precision_recall`: improved precision and recall of Kynkäänniemi et al.
  2019 (k-NN balls, k = 3), exact on duplicates and ties.

The kernel distance (KID) is in `gan_jax.evaluation.kernel`.
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


# Pairs whose squared distance is recomputed exactly at a time (memory:
# float64 [_EXACT_CHUNK / f, f]).
_EXACT_CHUNK = 1 << 20


def _expansion_tolerance(dim: int) -> float:
  """t with |fast - exact| <= t (|a|^2 + |b|^2) for shifted a, b (below).

  The fast squared distance |a|^2 + |b|^2 - 2 a.b of f-dimensional float64
  vectors errs by at most ~(f + 2) eps (|a| + |b|)^2 <= 2 (f + 2) eps
  (|a|^2 + |b|^2) in any summation order (Higham 2002, Section 3.1); the
  exact form (below) and the mean shift add about as much again. 8 (f + 4)
  eps covers both with room to spare.
  """
  return 8.0 * (dim + 4) * np.finfo(np.float64).eps


class _Points:
  """A feature set in float64, as given and shifted by a common vector.

  Distances are screened with the fast expansion on the shifted rows (the
  shift shrinks the norms and hence the cancellation error) and decided
  with the exact form sum_l (a_l - b_l)^2 on the rows as given, so exact
  duplicates are at distance exactly 0 and ties are ties.
  """

  def __init__(self, rows: np.ndarray, shift: np.ndarray):
    self.rows = rows
    shifted = rows - shift
    self.shifted = shifted
    self.minus_twice_t = -2.0 * shifted.T  # -2 a.b by one matmul
    self.sq_norms = np.einsum("ij,ij->i", shifted, shifted)

  def __len__(self) -> int:
    return self.rows.shape[0]


def _exact_sq(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray,
              cols: np.ndarray) -> np.ndarray:
  """|queries[rows] - keys[cols]|^2 as sum((a - b)**2), chunk by chunk."""
  out = np.empty(rows.shape[0], np.float64)
  step = max(1, _EXACT_CHUNK // max(1, queries.shape[1]))
  for start in range(0, rows.shape[0], step):
    diff = queries[rows[start:start + step]] - keys[cols[start:start + step]]
    out[start:start + step] = (diff ** 2).sum(axis=1)
  return out


def _kth_smallest(values: np.ndarray, k: int) -> np.ndarray:
  """values[i] sorted, at index k, for each row i (`values` is left as is).

  For small k, k + 1 passes of argmin (each minimum set aside as inf, then
  put back): faster than np.partition there (measured: docs/performance.md).
  """
  if k >= 8:
    return np.partition(values, k, axis=1)[:, k]
  rows = np.arange(values.shape[0])
  taken = []
  for _ in range(k + 1):
    cols = values.argmin(axis=1)
    taken.append((cols, values[rows, cols]))
    values[rows, cols] = np.inf
  for cols, smallest in reversed(taken):
    values[rows, cols] = smallest
  return taken[-1][1]


def _knn_radii_sq(points: _Points, k: int, batch_size: int) -> np.ndarray:
  """Exact squared distance from each row to its k-th nearest other row.

  With d_ij the fast distance and delta_ij = t (|a_i|^2 + |a_j|^2) its error
  bound, the k-th smallest upper bound d + delta bounds the true k-th
  distance from above, so the k + 1 nearest rows (the row itself included)
  all have d - delta below it: the k-th smallest exact distance among those
  candidates is the k-th smallest of all.
  """
  tol = _expansion_tolerance(points.shifted.shape[1])
  norms = points.sq_norms
  max_norm = float(norms.max())
  radii = np.empty(len(points), np.float64)
  for start in range(0, len(points), batch_size):
    row_norms = norms[start:start + batch_size]
    # h_ij + (1 + t)|a_i|^2 = d_ij + delta_ij.
    h = points.shifted[start:start + batch_size] @ points.minus_twice_t
    h += (1.0 + tol) * norms
    # Each row's own distance (0) is its smallest, so index k is the k-th
    # nearest *other* row, as in Kynkäänniemi et al.'s code.
    upper = _kth_smallest(h, k)
    # d_ij - delta_ij <= (k-th upper bound)  <=>
    # h_ij - 2t|a_j|^2 <= upper_i + 2t|a_i|^2; screened with max |a_j|^2.
    rows, cols = np.nonzero(
        h <= (upper + 2.0 * tol * (row_norms + max_norm))[:, None])
    keep = (h[rows, cols] - 2.0 * tol * norms[cols] <=
            upper[rows] + 2.0 * tol * row_norms[rows])
    rows, cols = rows[keep], cols[keep]
    exact = _exact_sq(points.rows, points.rows, rows + start, cols)
    order = np.lexsort((exact, rows))  # by row, then by distance
    first = np.searchsorted(rows[order], np.arange(row_norms.shape[0]))
    radii[start:start + row_norms.shape[0]] = exact[order][first + k]
  return radii


def _inside_any_ball(queries: _Points, centres: _Points,
                     radii_sq: np.ndarray, batch_size: int) -> np.ndarray:
  """Whether each query lies in some ball |q - c_j|^2 <= radii_sq[j] (exact).

  A query is surely inside where some d_ij + delta_ij <= r_j, surely outside
  where every d_ij - delta_ij > r_j; only the pairs in between are decided
  with the exact distance (bounds as in `_knn_radii_sq`).
  """
  inside = np.zeros(len(queries), bool)
  if not len(queries) or not len(centres):
    return inside
  tol = _expansion_tolerance(queries.shifted.shape[1])
  norms = centres.sq_norms
  max_norm = float(norms.max())
  offset = (1.0 + tol) * norms - radii_sq
  for start in range(0, len(queries), batch_size):
    q_norms = queries.sq_norms[start:start + batch_size]
    # h_ij + (1 + t)|q_i|^2 = d_ij + delta_ij - r_j.
    h = queries.shifted[start:start + batch_size] @ centres.minus_twice_t
    h += offset
    lowest = h.min(axis=1)
    sure = lowest <= -(1.0 + tol) * q_norms
    # d_ij - delta_ij - r_j = h_ij - 2t|c_j|^2 + (1 - t)|q_i|^2.
    unsure = np.nonzero(~sure & (lowest - 2.0 * tol * max_norm <=
                                 -(1.0 - tol) * q_norms))[0]
    if unsure.size:
      rows, cols = np.nonzero(h[unsure] - 2.0 * tol * norms <=
                              -(1.0 - tol) * q_norms[unsure][:, None])
      rows = unsure[rows]
      exact = _exact_sq(queries.rows, centres.rows, rows + start, cols)
      sure[rows[exact <= radii_sq[cols]]] = True
    inside[start:start + sure.shape[0]] = sure
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

  Distances are Euclidean in feature space, float64, and exact in the sense
  of the definition: every comparison (the k-th neighbour, a point in a
  ball) is decided by |a - b|^2 = sum_l (a_l - b_l)^2, so an exact duplicate
  is at distance 0 (inside a ball of radius 0) and equal distances tie, as
  with a brute-force distance matrix. The fast expansion |a|^2 + |b|^2 -
  2 a.b (one matmul per `batch_size` rows; memory float64 [batch_size,
  max(|R|, |F|)]) only screens pairs, with a rounding-error bound; the few
  pairs it leaves undecided are recomputed exactly. Non-finite rows count
  as misses (see `RealManifold`).

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
  """The real set's k-NN balls, kept to score several fake sets against.

  Rows with a non-finite feature (e.g. from a diverged generator) are in no
  ball and have none: they count as misses in precision and recall.
  """

  def __init__(self, real, k: int, batch_size: int):
    real = np.asarray(real, np.float64)
    self.num_real = real.shape[0]
    finite = real[np.isfinite(real).all(axis=1)]
    # A common shift shrinks the norms and hence the screening error.
    self.shift = (finite.mean(axis=0) if len(finite) else
                  np.zeros(real.shape[1]))
    self.k = k
    self.batch = max(1, int(batch_size))
    self.real = _Points(finite, self.shift)
    self.radii_sq = self._radii(self.real)

  def _radii(self, points: _Points) -> np.ndarray:
    if len(points) <= self.k:
      # Too few rows to have k neighbours: no balls (radius^2 -inf holds
      # nothing, not even the centre).
      return np.full(len(points), -np.inf)
    return _knn_radii_sq(points, self.k, self.batch)

  def precision_recall(self, fake) -> dict:
    fake = np.asarray(fake, np.float64)
    points = _Points(fake[np.isfinite(fake).all(axis=1)], self.shift)
    radii = self._radii(points)
    precision = _inside_any_ball(points, self.real, self.radii_sq,
                                 self.batch).sum() / fake.shape[0]
    recall = _inside_any_ball(self.real, points, radii,
                              self.batch).sum() / self.num_real
    return dict(precision=float(precision), recall=float(recall))
