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
