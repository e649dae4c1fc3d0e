"""Toy evaluation: modes captured, % high quality, reverse KL (VEEGAN/PacGAN)."""

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
  evaluator = evaluation.ImageEvaluator(real, feature_fn=feature_fn,
                                        floor_cache_path=cache,
                                        floor_cache_key="key")
  samples = rng.random((40, 6, 6, 1)).astype(np.float32)
  results = evaluator(samples)
  features = lambda x: _unit(x).reshape(len(x), -1)[:, :5] * 2.0
  parzen = evaluation.parzen_evaluate(samples, real.validation, real.test)
  assert results["parzen_ll"] == pytest.approx(parzen["mean"])
  assert results["parzen_ll_stderr"] == pytest.approx(parzen["stderr"])
  assert results["parzen_sigma"] == parzen["sigma"]
  assert results["fid"] == pytest.approx(evaluation.frechet_distance(
      features(samples), features(real.test)))
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
  # Parzen only: no feature keys.
  parzen_only = evaluation.ImageEvaluator(real)(samples)
  assert "fid" not in parzen_only and "real_fid" not in parzen_only
  assert parzen_only["parzen_ll"] == pytest.approx(results["parzen_ll"])


def _unit(x):
  x = np.asarray(x)
  return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x
