"""Kernel distance (KID, Bińkowski et al. 2018) between two feature sets.

`kernel_distance` is the unbiased estimate of the squared maximum mean
discrepancy (MMD², Gretton et al. 2012) under the cubic polynomial kernel of
"Demystifying MMD GANs" (Bińkowski, Sutherland, Arbel & Gretton, ICLR 2018),
averaged over random subsets; with Inception features it is the Kernel
Inception Distance, here with any feature extractor's. Unlike FID it has an
unbiased estimator, so its value does not depend on the sample size in
expectation, and it can be (slightly) negative when the sets match.
"""

from __future__ import annotations

import math

import numpy as np

KID_NUM_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def _kernel_sum(x: np.ndarray, y: np.ndarray, *,
                off_diagonal: bool = False) -> float:
  """sum_{i, j} (x_i.y_j + 1)^3 (x, y already scaled by 1/sqrt(d)).

  Without the i = j terms if `off_diagonal`. As sum s^3 + 3 sum s^2 +
  3 sum s + mn with s = x y^T, sum s = (sum_i x_i).(sum_j y_j): one
  elementwise pass (s*s) and two reductions over s, with einsum's loops
  rather than BLAS's threaded ddot (much faster on a few shared cores;
  measured: docs/performance.md).
  """
  s = x @ y.T
  total = (np.einsum("ij,ij->", s * s, s) + 3.0 * np.einsum("ij,ij->", s, s) +
           3.0 * float(x.sum(axis=0) @ y.sum(axis=0)) + s.size)
  if off_diagonal:
    total -= float(np.sum((np.diagonal(s) + 1.0) ** 3))
  return float(total)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD² of x [m, d'] and y [n, d'] with k(a, b) = (a.b + 1)^3.

    MMD²_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j)
           + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
           - 2/(mn)     sum_{i, j}   k(x_i, y_j)

  (Gretton et al. 2012, Lemma 6), float64; m, n >= 2; x and y are the
  features scaled by 1/sqrt(d), so that a.b is KID's x.y/d.
  """
  m, n = x.shape[0], y.shape[0]
  return (_kernel_sum(x, x, off_diagonal=True) / (m * (m - 1)) +
          _kernel_sum(y, y, off_diagonal=True) / (n * (n - 1)) -
          2.0 * _kernel_sum(x, y) / (m * n))


def _features(name: str, features) -> np.ndarray:
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or features.shape[0] < 2 or features.shape[1] < 1:
    raise ValueError(f"{name} must be [n, d] with n >= 2 and d >= 1, got "
                     f"shape {features.shape}")
  return features


def _count(name: str, value, minimum: int) -> int:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
  return int(value)


def kernel_distance(real_features, fake_features, *,
                    num_subsets: int = KID_NUM_SUBSETS,
                    subset_size: int = KID_SUBSET_SIZE,
                    seed: int = 0) -> tuple[float, float]:
  """KID: unbiased polynomial-kernel MMD², mean and standard error over subsets.

  Bińkowski et al. 2018 ("Demystifying MMD GANs"), Section 4 and their code:
  with k(x, y) = (x·y/d + 1)³ (d the feature dimension), each subset s gives

    MMD²_u(X_s, Y_s) = 1/(m(m-1)) sum_{i != j} k(x_i, x_j)
                     + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
                     - 2/(mn)     sum_{i, j}   k(x_i, y_j)

  (Gretton et al. 2012, Lemma 6), an unbiased estimate of MMD² between the
  two distributions: 0 in expectation when they are equal, so an estimate
  may be negative. X_s holds m = min(subset_size, |R|) real features drawn
  without replacement, Y_s n = min(subset_size, |F|) fake ones (Bińkowski et
  al. draw equal sizes; a set smaller than `subset_size` is used whole in
  every subset here). The draw, reproducible from `seed`:
  `rng = np.random.default_rng(seed)`, then for each subset in turn
  `rng.choice(|R|, m, replace=False)` (skipped when m = |R|: all rows) and
  likewise for the fake set.

  When `subset_size` >= both set sizes every feature is used once, in one
  estimate on the whole sets; its standard error is then nan (there is no
  spread of subset estimates to measure, and 0 would claim an exact value).
  Cost: 3 Gram matrices of [subset_size, subset_size] per subset, float64.

  Args:
    real_features: [|R|, d] (|R| >= 2), e.g. features of test images.
    fake_features: [|F|, d] (|F| >= 2), e.g. those of generator samples.
    num_subsets: number of subsets S (>= 1).
    subset_size: features per set and subset (>= 2).
    seed: seed of the subset draw.

  Returns:
    (mean, standard_error): the mean of the S subset estimates, and their
    standard deviation (ddof=1) / sqrt(S), which treats the subsets as
    independent (they overlap, so it is a guide, not an exact error); nan
    when S = 1 or the whole sets are used.

  Raises:
    ValueError: a feature set not [n, d] with n >= 2, feature dimensions
      that differ, or num_subsets / subset_size out of range.
  """
  real = _features("real_features", real_features)
  fake = _features("fake_features", fake_features)
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"real_features and fake_features must have the same "
                     f"feature dimension, got {real.shape[1]} and "
                     f"{fake.shape[1]}")
  num_subsets = _count("num_subsets", num_subsets, 1)
  subset_size = _count("subset_size", subset_size, 2)
  # Scaled once, so that every Gram matrix is x.y/d without a pass over it.
  scale = 1.0 / math.sqrt(real.shape[1])
  real, fake = real * scale, fake * scale
  if subset_size >= max(real.shape[0], fake.shape[0]):
    return _mmd2_unbiased(real, fake), math.nan
  rng = np.random.default_rng(seed)
  estimates = np.empty(num_subsets)
  for s in range(num_subsets):
    estimates[s] = _mmd2_unbiased(_draw(real, subset_size, rng),
                                  _draw(fake, subset_size, rng))
  if num_subsets == 1:
    return float(estimates[0]), math.nan
  return (float(estimates.mean()),
          float(estimates.std(ddof=1) / math.sqrt(num_subsets)))


def _draw(features: np.ndarray, size: int,
          rng: np.random.Generator) -> np.ndarray:
  """`size` rows without replacement; every row when there are no more."""
  if size >= features.shape[0]:
    return features
  return features[rng.choice(features.shape[0], size, replace=False)]
