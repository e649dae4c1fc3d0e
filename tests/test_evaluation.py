"""Evaluation: toy modes and JSD; image Parzen, FID, KID, precision/recall."""

import json
import math

import numpy as np
import pytest

from gan_jax import distributions
from gan_jax import evaluation

RING = distributions.ring()  # 8 modes, radius 2, std 0.02
MEANS = np.asarray(RING.means)
STD = 0.02


def test_samples_at_every_centre_capture_all_modes():
  samples = np.repeat(MEANS, 10, axis=0)
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  assert result == dict(modes=8, high_quality_pct=100.0, reverse_kl=0.0,
                        num_modes=8)


def test_all_in_one_mode_gives_log_k():
  samples = np.repeat(MEANS[3:4], 50, axis=0)
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  assert result["modes"] == 1
  assert result["high_quality_pct"] == 100.0
  np.testing.assert_allclose(result["reverse_kl"], math.log(8), rtol=1e-12)


def test_far_samples_are_not_high_quality():
  samples = np.full((100, 2), 50.0)
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  assert result["modes"] == 0
  assert result["high_quality_pct"] == 0.0
  # Documented convention: no high-quality sample -> the worst value, log K.
  assert result["reverse_kl"] == pytest.approx(math.log(8))


@pytest.mark.parametrize("radius_in_stds, high_quality",
                         [(0.0, True), (2.9, True), (2.99, True),
                          (3.1, False), (10.0, False)])
def test_three_std_threshold(radius_in_stds, high_quality):
  direction = np.array([0.6, 0.8])
  samples = MEANS[:1] + radius_in_stds * STD * direction
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  assert result["high_quality_pct"] == (100.0 if high_quality else 0.0)
  assert result["modes"] == int(high_quality)


def test_reverse_kl_of_uneven_histogram_and_low_quality_ignored():
  # 3 HQ samples in mode 0, 1 in mode 1, and 4 low-quality ones near mode 2
  # that must not enter the histogram.
  samples = np.concatenate([
      np.repeat(MEANS[0:1], 3, axis=0),
      MEANS[1:2],
      np.repeat(MEANS[2:3] + 0.5, 4, axis=0),
  ])
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  q = np.array([0.75, 0.25])
  assert result["modes"] == 2
  assert result["high_quality_pct"] == pytest.approx(50.0)
  assert result["reverse_kl"] == pytest.approx(np.sum(q * np.log(q * 8)))


def test_nearest_mode_assignment_and_per_mode_std():
  grid = distributions.grid()  # 25 modes, spacing 2, std 0.05
  means = np.asarray(grid.means)
  # 0.2 from a centre: HQ for std 0.1 (3 std = 0.3), not for std 0.05.
  samples = means + np.array([0.2, 0.0])
  assert evaluation.evaluate_modes(samples, means, 0.05)["modes"] == 0
  stds = np.full((25,), 0.05)
  stds[:5] = 0.1
  result = evaluation.evaluate_modes(samples, means, stds)
  assert result["modes"] == 5
  assert result["high_quality_pct"] == pytest.approx(20.0)
  # [K, d] stds (the distributions' `stds`) are accepted too.
  result = evaluation.evaluate_modes(samples, means, np.asarray(grid.stds))
  assert result["modes"] == 0


def test_protocol_on_true_samples():
  import jax  # pylint: disable=g-import-not-at-top
  samples = np.asarray(RING.sample(jax.random.PRNGKey(0), 2500))
  result = evaluation.evaluate_modes(samples, MEANS, STD)
  assert result["modes"] == 8
  # P(|N(0, I_2)| <= 3) = 1 - exp(-4.5) = 98.9%.
  assert 97.5 < result["high_quality_pct"] < 99.9
  assert result["reverse_kl"] < 0.01


def test_jsd_1d():
  rng = np.random.default_rng(0)
  gaussian = distributions.Gaussian(4.0, 0.5)
  log_prob = lambda x: np.asarray(gaussian.log_prob(x))
  good = evaluation.jsd_1d(rng.normal(4.0, 0.5, 5000), log_prob, low=0, high=8)
  bad = evaluation.jsd_1d(rng.normal(-4.0, 0.5, 5000), log_prob, low=-8,
                          high=8)
  assert good["jsd"] < 0.01
  assert bad["jsd"] == pytest.approx(math.log(2), abs=1e-3)
  assert good["sample_mean"] == pytest.approx(4.0, abs=0.05)


# ----------------------------------------------------------------------------
# Image metrics: Parzen window, Fréchet distance, precision/recall.


def parzen_reference(centres, points, sigma):
  """Direct float64 evaluation, one point at a time (scipy's logsumexp)."""
  from scipy import special  # pylint: disable=g-import-not-at-top
  centres = np.asarray(centres, np.float64).reshape(len(centres), -1)
  points = np.asarray(points, np.float64).reshape(len(points), -1)
  d = centres.shape[1]
  out = []
  for x in points:
    sq = np.sum((x[None] - centres) ** 2, axis=1)
    out.append(special.logsumexp(-sq / (2 * sigma ** 2)) - np.log(len(centres))
               - 0.5 * d * np.log(2 * np.pi * sigma ** 2))
  return np.array(out)


@pytest.mark.parametrize("sigma", [0.1, 0.2154, 1.0])
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_parzen_matches_direct_float64(sigma, batch_size):
  rng = np.random.default_rng(0)
  centres = rng.random((50, 8, 8, 1))  # image-shaped, in [0, 1]
  # Points near some centres (dominant terms) and far from all.
  points = np.concatenate([centres[:10] + 0.05 * rng.normal(size=(10, 8, 8, 1)),
                           rng.random((13, 8, 8, 1))])
  got = evaluation.parzen_log_likelihood(centres, points, sigma,
                                         batch_size=batch_size)
  want = parzen_reference(centres, points, sigma)
  assert got.shape == (23,)
  # float32 distances: error ~ eps * |x|^2 / (2 sigma^2) nats.
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-3)


def test_parzen_several_sigmas_and_uint8():
  rng = np.random.default_rng(1)
  centres = rng.integers(0, 256, (40, 5, 5, 1), dtype=np.uint8)
  points = rng.integers(0, 256, (9, 5, 5, 1), dtype=np.uint8)
  sigmas = [0.3, 0.5, 1.0]
  got = evaluation.parzen_log_likelihood(centres, points, sigmas, batch_size=4)
  assert got.shape == (3, 9)
  for row, sigma in zip(got, sigmas):
    np.testing.assert_allclose(
        row, parzen_reference(centres / 255.0, points / 255.0, sigma),
        rtol=1e-5, atol=2e-3)


def test_parzen_single_centre_is_a_gaussian():
  # N = 1: log N(x; mu, sigma^2 I) exactly, no log-sum-exp underflow even far
  # away (-|x-mu|^2 / 2 sigma^2 = -5e5 here).
  from scipy import stats  # pylint: disable=g-import-not-at-top
  mu = np.full((1, 2), 0.5)
  x = np.array([[0.5, 0.5], [0.6, 0.4], [100.0, 100.0]])
  got = evaluation.parzen_log_likelihood(mu, x, 0.1)
  want = stats.multivariate_normal(mu[0], 0.01 * np.eye(2)).logpdf(x)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_parzen_evaluate_picks_the_best_validation_sigma():
  rng = np.random.default_rng(2)
  # Data spread ~0.3 around a point: the best window is mid-grid.
  make = lambda n: np.clip(0.5 + 0.3 * rng.normal(size=(n, 6)), 0, 1)
  samples, validation, test = make(400), make(200), make(150)
  result = evaluation.parzen_evaluate(samples, validation, test)
  sigmas = list(evaluation.PARZEN_SIGMAS)
  assert result["sigmas"] == pytest.approx(sigmas)
  by_sigma = [parzen_reference(samples, validation, s).mean() for s in sigmas]
  np.testing.assert_allclose(result["validation_by_sigma"], by_sigma,
                             rtol=1e-6, atol=1e-3)
  best = int(np.argmax(by_sigma))
  assert 0 < best < len(sigmas) - 1
  assert result["sigma"] == sigmas[best] and result["sigma_index"] == best
  test_ll = parzen_reference(samples, test, sigmas[best])
  assert result["mean"] == pytest.approx(test_ll.mean(), abs=1e-3)
  assert result["stderr"] == pytest.approx(
      test_ll.std(ddof=1) / np.sqrt(len(test_ll)), rel=1e-4)


def frechet_reference(a, b):
  """The usual FID formula with scipy.linalg.sqrtm (Heusel et al.'s code)."""
  from scipy import linalg  # pylint: disable=g-import-not-at-top
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = linalg.sqrtm(cov_a @ cov_b).real
  return (np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) -
          2 * np.trace(covmean))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_matches_sqrtm_formula(seed):
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
  b = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.5
  np.testing.assert_allclose(evaluation.frechet_distance(a, b),
                             frechet_reference(a, b), rtol=1e-7)
  assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_closed_form_gaussians():
  # Commuting (diagonal) covariances: d^2 = |dmu|^2 + sum (s_a - s_b)^2.
  mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  std_a, std_b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 0.1])
  got = evaluation.frechet_distance_from_moments(
      mean_a, np.diag(std_a ** 2), mean_b, np.diag(std_b ** 2))
  assert got == pytest.approx(5.0 + 4.0 + 0.0 + 0.16)
  # Rotated covariances: d^2 is rotation invariant.
  q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
  got = evaluation.frechet_distance_from_moments(
      q @ mean_a, q @ np.diag(std_a ** 2) @ q.T, q @ mean_b,
      q @ np.diag(std_b ** 2) @ q.T)
  assert got == pytest.approx(9.16)


def test_frechet_rank_deficient_covariances():
  # Fewer samples than features: singular covariances, still finite and >= 0
  # and equal to the sqrtm formula where that one is accurate.
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(5, 20)), rng.normal(size=(6, 20)) + 1
  got = evaluation.frechet_distance(a, b)
  assert np.isfinite(got) and got >= 0
  np.testing.assert_allclose(got, frechet_reference(a, b), rtol=1e-5)


def test_precision_recall_identical_sets():
  x = np.random.default_rng(0).normal(size=(100, 5))
  assert evaluation.precision_recall(x, x, batch_size=7) == dict(
      precision=1.0, recall=1.0)


def test_precision_recall_disjoint_sets():
  rng = np.random.default_rng(0)
  real = rng.normal(size=(50, 4))
  fake = rng.normal(size=(60, 4)) + 100.0
  assert evaluation.precision_recall(real, fake) == dict(precision=0.0,
                                                         recall=0.0)


def test_precision_recall_by_hand():
  # Real: 0, 1, 2, 3 and 10 on a line. With k = 1 each real ball's radius is
  # the distance to the nearest other real: 1, 1, 1, 1, 7.
  real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
  # Fake: 2.5 (in the balls of 2 and 3), 5.5 (only in 10's), 20 and 20.5
  # (in none). Fake radii (k = 1): 3, 3, 0.5, 0.5.
  fake = np.array([[2.5], [5.5], [20.0], [20.5]])
  result = evaluation.precision_recall(real, fake, k=1, batch_size=2)
  assert result["precision"] == pytest.approx(2 / 4)
  # Reals inside a fake ball: 0, 1, 2, 3 (within 3 of 2.5); 10 is 4.5 from
  # 5.5 and 10 from 20: 4 of 5.
  assert result["recall"] == pytest.approx(4 / 5)
  # k = 3: real radii 3, 2, 2, 3, 9 (20 is 10 from 10: still out); fake radii
  # 18, 15, 17.5, 18 cover every real.
  result = evaluation.precision_recall(real, fake, k=3)
  assert result["precision"] == pytest.approx(2 / 4)
  assert result["recall"] == pytest.approx(1.0)


def test_precision_recall_needs_more_than_k_points():
  with pytest.raises(ValueError, match="more than 3"):
    evaluation.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))


def precision_recall_reference(real, fake, k):
  """Brute force: full distance matrices by broadcasting, as in the paper."""
  def sq(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
  real_radii = np.partition(sq(real, real), k, axis=1)[:, k]
  fake_radii = np.partition(sq(fake, fake), k, axis=1)[:, k]
  precision = np.any(sq(fake, real) <= real_radii[None, :], axis=1).mean()
  recall = np.any(sq(real, fake) <= fake_radii[None, :], axis=1).mean()
  return dict(precision=float(precision), recall=float(recall)), real_radii


def _grid_points(rng, n, d, levels):
  return rng.integers(0, levels, (n, d)).astype(np.float64)


# (real, fake) makers: continuous sets, far apart sets, and points of small
# integer grids (many exact duplicates and tied distances).
PR_CASES = {
    "normal": lambda rng: (rng.normal(size=(60, 7)),
                           rng.normal(size=(50, 7)) * 1.2 + 0.3),
    "far": lambda rng: (rng.normal(size=(40, 5)),
                        rng.normal(size=(45, 5)) + 3.0),
    "offset": lambda rng: (rng.normal(size=(40, 5)) + 1e4,
                           rng.normal(size=(35, 5)) + 1e4 + 0.5),
    "grid": lambda rng: (_grid_points(rng, 80, 3, 3),
                         _grid_points(rng, 70, 3, 4)),
    "grid_1d": lambda rng: (_grid_points(rng, 30, 1, 5),
                            _grid_points(rng, 25, 1, 7) - 1.0),
}


@pytest.mark.parametrize("case", sorted(PR_CASES))
@pytest.mark.parametrize("k", [1, 3, 5, 8])  # 8: the np.partition path
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_precision_recall_equals_brute_force_exactly(case, k, batch_size):
  rng = np.random.default_rng(sorted(PR_CASES).index(case))
  real, fake = PR_CASES[case](rng)
  want, real_radii = precision_recall_reference(real, fake, k)
  assert evaluation.precision_recall(real, fake, k=k,
                                     batch_size=batch_size) == want
  # The radii themselves are the brute-force ones, bit for bit.
  manifold = evaluation.RealManifold(real, k, batch_size)
  np.testing.assert_array_equal(manifold.radii_sq, real_radii)


@pytest.mark.parametrize("offset", [0.0, 0.1, 1e3])
@pytest.mark.parametrize("order", ["same", "reversed", "shuffled"])
@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_of_exact_duplicates_is_one(offset, order, k):
  # 400 points on the 3^4 = 81 points of a grid: most k-th neighbour
  # distances are 0, so a point is inside only its duplicates' balls of
  # radius 0 (the expanded |a|^2 + |b|^2 - 2a.b leaves ~1e-16 there).
  rng = np.random.default_rng(5)
  real = _grid_points(rng, 400, 4, 3) + offset
  fake = dict(same=real, reversed=real[::-1],
              shuffled=real[rng.permutation(len(real))])[order]
  radii = evaluation.RealManifold(real, k, 64).radii_sq
  assert np.mean(radii == 0.0) > 0.5  # the case this is about
  assert evaluation.precision_recall(real, fake, k=k, batch_size=64) == dict(
      precision=1.0, recall=1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_of_two_draws_from_a_small_grid_is_one(seed):
  # 1000 points each from {0, 1, 2}^6 (729 points): every point has a
  # duplicate or ties with a k-th neighbour in the other set, so the exact
  # answer is 1 (brute force); distances by expansion gave 0.97-0.99.
  rng = np.random.default_rng(seed)
  real, fake = _grid_points(rng, 1000, 6, 3), _grid_points(rng, 1000, 6, 3)
  want, _ = precision_recall_reference(real, fake, 3)
  assert want == dict(precision=1.0, recall=1.0)
  assert evaluation.precision_recall(real, fake) == want


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_precision_recall_counts_non_finite_rows_as_misses(bad):
  rng = np.random.default_rng(6)
  real = rng.normal(size=(50, 4))
  fake = rng.normal(size=(40, 4))
  broken = fake.copy()
  broken[[3, 17, 39], 1] = bad
  finite = np.delete(fake, [3, 17, 39], axis=0)
  want, _ = precision_recall_reference(real, finite, 3)
  got = evaluation.precision_recall(real, broken)
  assert got["precision"] == pytest.approx(want["precision"] * 37 / 40,
                                           rel=1e-15)
  assert got["recall"] == want["recall"]
  # Fewer finite rows than k + 1: no balls, nothing is inside them.
  broken[3:, 0] = bad
  assert evaluation.precision_recall(real, broken)["recall"] == 0.0


# ----------------------------------------------------------------------------
# Kernel distance (KID).


def kid_naive(x, y):
  """MMD²_u with k(a, b) = (a.b/d + 1)^3, term by term in double loops."""
  d = x.shape[1]
  k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


def kid_subsets_naive(x, y, num_subsets, subset_size, seed):
  """kid_naive on the subsets kernel_distance's docstring says it draws."""
  rng = np.random.default_rng(seed)
  draw = lambda a: (a if subset_size >= len(a) else
                    a[rng.choice(len(a), subset_size, replace=False)])
  values = []
  for _ in range(num_subsets):
    real = draw(x)
    values.append(kid_naive(real, draw(y)))
  return np.array(values)


@pytest.mark.parametrize("sizes, d, shift", [
    ((12, 15), 3, 0.0), ((20, 9), 6, 0.7), ((2, 2), 1, 1.0), ((30, 30), 4, 0.2),
])
def test_kernel_distance_of_whole_sets_is_the_naive_mmd(sizes, d, shift):
  # subset_size >= both sizes: every feature once, one estimate, s.e. nan.
  rng = np.random.default_rng(sum(sizes))
  x = rng.normal(size=(sizes[0], d))
  y = rng.normal(size=(sizes[1], d)) + shift
  want = kid_naive(x, y)
  for subset_size in (max(sizes), 1000):
    mean, stderr = evaluation.kernel_distance(x, y, subset_size=subset_size)
    np.testing.assert_allclose(mean, want, rtol=1e-10, atol=1e-13)
    assert math.isnan(stderr)
  # MMD² is symmetric; float32 input is computed in float64.
  np.testing.assert_allclose(evaluation.kernel_distance(y, x)[0], want,
                             rtol=1e-10, atol=1e-13)
  x32, y32 = x.astype(np.float32), y.astype(np.float32)
  np.testing.assert_allclose(
      evaluation.kernel_distance(x32, y32)[0],
      kid_naive(x32.astype(np.float64), y32.astype(np.float64)), rtol=1e-10,
      atol=1e-13)


@pytest.mark.parametrize("sizes, num_subsets, subset_size, seed", [
    ((40, 35), 6, 10, 0),
    ((40, 35), 6, 10, 1),
    ((25, 8), 4, 10, 2),   # the fake set is smaller: used whole each time
    ((9, 30), 3, 12, 3),   # the real set is smaller
    ((30, 30), 1, 5, 4),   # one subset: s.e. nan
])
def test_kernel_distance_subsets_mean_and_stderr(sizes, num_subsets,
                                                 subset_size, seed):
  rng = np.random.default_rng(100 + seed)
  x = rng.normal(size=(sizes[0], 4))
  y = rng.normal(size=(sizes[1], 4)) * 1.3
  values = kid_subsets_naive(x, y, num_subsets, subset_size, seed)
  mean, stderr = evaluation.kernel_distance(
      x, y, num_subsets=num_subsets, subset_size=subset_size, seed=seed)
  np.testing.assert_allclose(mean, values.mean(), rtol=1e-10)
  if num_subsets == 1:
    assert math.isnan(stderr)
  else:
    assert len(set(values.round(12))) == num_subsets  # the subsets differ
    np.testing.assert_allclose(
        stderr, values.std(ddof=1) / math.sqrt(num_subsets), rtol=1e-8)
  # Another seed draws other subsets.
  assert evaluation.kernel_distance(x, y, num_subsets=num_subsets,
                                    subset_size=subset_size,
                                    seed=seed + 1)[0] != mean


def test_kernel_distance_near_zero_for_one_distribution_positive_for_two():
  rng = np.random.default_rng(7)
  x = rng.normal(size=(3000, 16))
  same = rng.normal(size=(3000, 16))
  mean, stderr = evaluation.kernel_distance(x, same, num_subsets=40,
                                            subset_size=300)
  # Unbiased: no 1/m offset (the V-statistic, diagonals kept, adds
  # ~2 (E k(x,x) - E k(x,y)) / m ~ 0.04 here: 30 standard errors).
  assert 0 < stderr < 3e-3 and abs(mean) < 3 * stderr
  shifted = rng.normal(size=(3000, 16)) + 0.25
  mean, stderr = evaluation.kernel_distance(x, shifted, num_subsets=40,
                                            subset_size=300)
  assert mean > 20 * stderr


@pytest.mark.parametrize("real, fake, kwargs, message", [
    (np.zeros(5), np.zeros((5, 2)), {}, "real_features must be"),
    (np.zeros((1, 2)), np.zeros((5, 2)), {}, "real_features must be"),
    (np.zeros((5, 2)), np.zeros((5, 2, 1)), {}, "fake_features must be"),
    (np.zeros((5, 2)), np.zeros((1, 2)), {}, "fake_features must be"),
    (np.zeros((5, 2)), np.zeros((5, 3)), {}, "same feature dimension"),
    (np.zeros((5, 2)), np.zeros((5, 2)), dict(subset_size=1), "subset_size"),
    (np.zeros((5, 2)), np.zeros((5, 2)), dict(subset_size=2.5),
     "subset_size"),
    (np.zeros((5, 2)), np.zeros((5, 2)), dict(num_subsets=0), "num_subsets"),
    (np.zeros((5, 2)), np.zeros((5, 2)), dict(num_subsets=True),
     "num_subsets"),
])
def test_kernel_distance_bad_inputs(real, fake, kwargs, message):
  with pytest.raises(ValueError, match=message) as error:
    evaluation.kernel_distance(real, fake, **kwargs)
  assert "\n" not in str(error.value)


def test_image_evaluator_values_floors_and_cache(tmp_path):
  rng = np.random.default_rng(4)
  images = lambda n: rng.integers(0, 256, (n, 6, 6, 1), dtype=np.uint8)
  real = evaluation.RealImages(train=images(30), validation=images(20),
                               test=images(25))
  calls = []

  def feature_fn(x):  # any images -> features callable plugs in
    calls.append(len(x))
    assert x.dtype == np.float32 and x.max() <= 1.0
    return x.reshape(len(x), -1)[:, :5] * 2.0

  cache = str(tmp_path / "floors.json")
  kid_settings = dict(num_subsets=4, subset_size=10)
  evaluator = evaluation.ImageEvaluator(
      real, feature_fn=feature_fn, floor_cache_path=cache,
      floor_cache_key="key", kid_num_subsets=4, kid_subset_size=10)
  samples = rng.random((40, 6, 6, 1)).astype(np.float32)
  results = evaluator(samples)
  features = lambda x: _unit(x).reshape(len(x), -1)[:, :5] * 2.0
  parzen = evaluation.parzen_evaluate(samples, real.validation, real.test)
  assert results["parzen_ll"] == pytest.approx(parzen["mean"])
  assert results["parzen_ll_stderr"] == pytest.approx(parzen["stderr"])
  assert results["parzen_sigma"] == parzen["sigma"]
  assert results["fid"] == pytest.approx(evaluation.frechet_distance(
      features(samples), features(real.test)))
  # KID against the test features, on the subsets kernel_distance draws.
  assert (results["kid"], results["kid_stderr"]) == evaluation.kernel_distance(
      features(real.test), features(samples), **kid_settings)
  assert (results["real_kid"],
          results["real_kid_stderr"]) == evaluation.kernel_distance(
              features(real.test), features(real.train), **kid_settings)
  assert results["kid_stderr"] > 0
  pr = evaluation.precision_recall(features(real.test), features(samples))
  assert (results["precision"], results["recall"]) == (pr["precision"],
                                                       pr["recall"])
  real_pr = evaluation.precision_recall(features(real.test),
                                        features(real.train))
  assert results["real_precision"] == real_pr["precision"]
  assert results["real_fid"] == pytest.approx(evaluation.frechet_distance(
      features(real.train), features(real.test)))
  assert results["real_parzen_ll"] == pytest.approx(evaluation.parzen_evaluate(
      real.train, real.validation, real.test)["mean"])
  assert results["num_samples"] == 40 and results["real_num_samples"] == 30
  # Test and train features once, then only the samples' features.
  assert calls == [25, 40, 30]
  evaluator(samples)
  assert calls == [25, 40, 30, 40]
  # A new evaluator reads the floors from the cache file.
  again = evaluation.ImageEvaluator(real, feature_fn=feature_fn,
                                    floor_cache_path=cache,
                                    floor_cache_key="key")
  assert again.floors() == evaluator.floors()
  assert calls == [25, 40, 30, 40]
  # Floors cached before KID existed are recomputed, and rewritten whole.
  with open(cache) as f:
    table = json.load(f)
  for name in ("real_kid", "real_kid_stderr"):
    del table["key"][name]
  with open(cache, "w") as f:
    json.dump(table, f)
  stale = evaluation.ImageEvaluator(
      real, feature_fn=feature_fn, floor_cache_path=cache,
      floor_cache_key="key", kid_num_subsets=4, kid_subset_size=10)
  assert stale.floors() == evaluator.floors()
  assert calls == [25, 40, 30, 40, 25, 30]
  with open(cache) as f:
    assert json.load(f)["key"] == evaluator.floors()
  # Parzen only: no feature keys.
  parzen_only = evaluation.ImageEvaluator(real)(samples)
  for name in ("fid", "kid", "kid_stderr", "precision"):
    assert name not in parzen_only and "real_" + name not in parzen_only
  assert parzen_only["parzen_ll"] == pytest.approx(results["parzen_ll"])


def _unit(x):
  x = np.asarray(x)
  return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x
