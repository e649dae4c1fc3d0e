"""Numerical tests of gan_jax.distributions: densities, modes and samples."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from gan_jax import distributions

# ----------------------------------------------------------------------------
# 4. Import hygiene.
# ----------------------------------------------------------------------------

# The fresh-interpreter import check lives in tests/test_imports.py.


# ----------------------------------------------------------------------------
# Distributions under test.
# ----------------------------------------------------------------------------

# A 2D mixture with unequal weights and per-dimension stds.
ANISOTROPIC = distributions.GaussianMixture(
    means=[[0.0, 0.0], [3.0, -1.0], [-2.0, 2.5]],
    stds=[[0.1, 0.3], [0.5, 0.2], [1.0, 0.7]],
    weights=[5.0, 3.0, 2.0])
MIXTURE_1D = distributions.GaussianMixture(
    means=[[-1.0], [2.0]], stds=[0.4, 0.9], weights=[0.25, 0.75])

DISTRIBUTIONS = {
    "gaussian_1d": distributions.Gaussian(0.3, 0.7),
    "gaussian_3d": distributions.Gaussian([0.0, -1.0, 2.0], [1.0, 0.5, 2.0]),
    "mixture_1d": MIXTURE_1D,
    "anisotropic_2d": ANISOTROPIC,
    "ring": distributions.ring(),
    "grid": distributions.grid(),
}
MIXTURES = ["mixture_1d", "anisotropic_2d", "ring", "grid"]


def _params(dist):
  """(weights [K], means [K, d], stds [K, d]) in float64, K = 1 for a Gaussian."""
  if isinstance(dist, distributions.Gaussian):
    weights = np.ones(1)
  else:
    weights = np.asarray(dist.weights, np.float64)
  return (weights, np.asarray(dist.means, np.float64),
          np.asarray(dist.stds, np.float64))


def scipy_log_prob(dist, x):
  """log sum_k w_k N(x; mu_k, diag(s_k^2)) with scipy.stats.multivariate_normal."""
  weights, means, stds = _params(dist)
  per_mode = np.stack([
      stats.multivariate_normal(mean=m, cov=np.diag(s**2)).logpdf(x)
      for m, s in zip(means, stds)], axis=-1)
  return special.logsumexp(per_mode + np.log(weights), axis=-1)


def _test_points(dist, rng, n=200):
  """Half near the modes (where log p ~ 0 matters), half uniform in a box."""
  _, means, stds = _params(dist)
  k = rng.integers(0, len(means), size=n // 2)
  near = means[k] + 2.0 * stds[k] * rng.normal(size=(n // 2, means.shape[1]))
  lo, hi = means.min(0) - 3 * stds.max(), means.max(0) + 3 * stds.max()
  box = rng.uniform(lo, hi, size=(n - n // 2, means.shape[1]))
  return np.concatenate([near, box])


# ----------------------------------------------------------------------------
# 12. log_prob: normalisation and agreement with scipy.
# ----------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=0)
def _density_on_rows(name, xs, ys):
  """exp(log_prob) on the grid xs x ys (rows of a 2D quadrature)."""
  points = jnp.stack(jnp.meshgrid(xs, ys, indexing="ij"), axis=-1)
  return jnp.exp(DISTRIBUTIONS[name].log_prob(points.reshape(-1, 2)))


@pytest.mark.parametrize("name,half_width,spacing",
                         [("ring", 2.2, 0.004), ("grid", 4.5, 0.01)])
def test_2d_mixture_density_integrates_to_one(name, half_width, spacing):
  """Riemann sum of exp(log_prob) over a 2D grid (spacing <= std/5) = 1 within 1e-3."""
  axis = np.arange(-half_width, half_width, spacing)
  assert len(axis) % 100 == 0
  total = 0.0
  for rows in np.split(axis, len(axis) // 100):  # bounded memory per chunk
    total += np.sum(np.asarray(_density_on_rows(name, rows, axis), np.float64))
  assert abs(total * spacing**2 - 1.0) < 1e-3, total * spacing**2


@pytest.mark.parametrize("name", ["gaussian_1d", "mixture_1d"])
def test_1d_density_integrates_to_one(name):
  """Riemann sum of exp(log_prob) on a fine 1D grid = 1 within 1e-5 (1D Gaussian, unequal 2-mode mixture)."""
  x = np.arange(-10.0, 10.0, 0.005)
  density = np.exp(np.asarray(
      jax.jit(DISTRIBUTIONS[name].log_prob)(x[:, None]), np.float64))
  np.testing.assert_allclose(np.sum(density) * 0.005, 1.0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_log_prob_matches_scipy(name):
  """log_prob = log sum_k w_k N(x; mu_k, diag s_k^2) (scipy), float32, rel 1e-5 (abs 1e-5 near log p = 0)."""
  dist = DISTRIBUTIONS[name]
  x = _test_points(dist, np.random.default_rng(1)).astype(np.float32)
  got = jax.jit(dist.log_prob)(x)
  assert got.dtype == jnp.float32 and got.shape == (len(x),)
  got = np.asarray(got)
  x = x.astype(np.float64)
  np.testing.assert_allclose(got, scipy_log_prob(dist, x), rtol=1e-5,
                             atol=1e-5)
  # In 1D, also against scipy.stats.norm written out by hand.
  if name == "gaussian_1d":
    want = stats.norm(0.3, 0.7).logpdf(x[:, 0])
  elif name == "mixture_1d":
    want = np.log(0.25 * stats.norm(-1.0, 0.4).pdf(x[:, 0]) +
                  0.75 * stats.norm(2.0, 0.9).pdf(x[:, 0]))
  else:
    return
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# 12. Mode placement.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("num_modes,radius,std", [(8, 2.0, 0.02),
                                                  (5, 1.5, 0.1)])
def test_ring_means_on_circle_at_equal_angles(num_modes, radius, std):
  """ring(): mode k at radius r, angle 2 pi k / K; stds = std; equal weights."""
  dist = (distributions.ring() if num_modes == 8 else
          distributions.ring(num_modes=num_modes, radius=radius, std=std))
  means = np.asarray(dist.means, np.float64)
  assert means.shape == (num_modes, 2) and dist.num_modes == num_modes
  np.testing.assert_allclose(np.linalg.norm(means, axis=1), radius, rtol=1e-6)
  angles = np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * np.pi)
  want = 2 * np.pi * np.arange(num_modes) / num_modes
  np.testing.assert_allclose(angles, want, atol=1e-6)
  np.testing.assert_allclose(np.asarray(dist.stds), np.full((num_modes, 2), std),
                             rtol=1e-6)
  np.testing.assert_allclose(np.asarray(dist.weights), 1.0 / num_modes,
                             rtol=1e-6)


def test_grid_means_are_exactly_the_lattice():
  """grid(): the 25 means are exactly {-4,-2,0,2,4}^2, std 0.05, weights 1/25."""
  dist = distributions.grid()
  means = np.asarray(dist.means)
  assert means.shape == (25, 2)
  lattice = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4)
             for b in (-4, -2, 0, 2, 4)}
  assert {(float(a), float(b)) for a, b in means} == lattice
  np.testing.assert_allclose(np.asarray(dist.stds), 0.05, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(dist.weights), 1 / 25, rtol=1e-6)


def test_grid_custom_size_and_spacing():
  """grid(size=3, spacing=1) has its 9 means exactly at {-1, 0, 1}^2."""
  means = np.asarray(distributions.grid(size=3, spacing=1.0, std=0.1).means)
  assert {(float(a), float(b)) for a, b in means} == {
      (a, b) for a in (-1.0, 0.0, 1.0) for b in (-1.0, 0.0, 1.0)}


# ----------------------------------------------------------------------------
# 12. Samples: per-mode means and stds, mode frequencies.
# ----------------------------------------------------------------------------

N_SAMPLES = 100_000


@functools.partial(jax.jit, static_argnums=(0, 2))
def _sample_with_modes(name, key, n):
  return DISTRIBUTIONS[name].sample_with_modes(key, n)


@pytest.mark.parametrize("name", ["anisotropic_2d", "ring", "grid"])
def test_mixture_samples_match_mode_parameters(name):
  """Per-mode sample mean/std = mu_k/s_k within 5 SE; mode frequencies = w_k within 4 SE."""
  dist = DISTRIBUTIONS[name]
  weights, means, stds = _params(dist)
  samples, modes = _sample_with_modes(name, jax.random.key(3), N_SAMPLES)
  samples = np.asarray(samples, np.float64)
  modes = np.asarray(modes)
  assert samples.shape == (N_SAMPLES, dist.dim) and modes.shape == (N_SAMPLES,)
  counts = np.bincount(modes, minlength=dist.num_modes)
  assert counts.size == dist.num_modes  # no index >= K
  freq_se = np.sqrt(weights * (1 - weights) / N_SAMPLES)
  assert np.all(np.abs(counts / N_SAMPLES - weights) < 4 * freq_se)
  for k in range(dist.num_modes):
    x = samples[modes == k]
    n_k = len(x)
    mean_se = stds[k] / np.sqrt(n_k)
    std_se = stds[k] / np.sqrt(2 * n_k)
    assert np.all(np.abs(x.mean(0) - means[k]) < 5 * mean_se), k
    assert np.all(np.abs(x.std(0, ddof=1) - stds[k]) < 5 * std_se), k


@pytest.mark.parametrize("name", ["gaussian_1d", "gaussian_3d"])
def test_gaussian_samples_match_mean_and_std(name):
  """Gaussian sample mean/std per dimension = mean/std within 5 SE."""
  dist = DISTRIBUTIONS[name]
  samples = np.asarray(_sample(name, jax.random.key(4), N_SAMPLES), np.float64)
  _, means, stds = _params(dist)
  assert samples.shape == (N_SAMPLES, dist.dim)
  assert np.all(np.abs(samples.mean(0) - means[0]) <
                5 * stds[0] / np.sqrt(N_SAMPLES))
  assert np.all(np.abs(samples.std(0, ddof=1) - stds[0]) <
                5 * stds[0] / np.sqrt(2 * N_SAMPLES))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _sample(name, key, n):
  return DISTRIBUTIONS[name].sample(key, n)


@pytest.mark.parametrize("name", ["gaussian_3d", "anisotropic_2d"])
def test_sample_under_jit_equals_eager(name):
  """sample(key, n) under jax.jit (n static) = eager sample (= sample_with_modes' samples)."""
  dist = DISTRIBUTIONS[name]
  key = jax.random.key(5)
  # n as in the other sampling tests, so the jitted samplers are reused.
  eager = np.asarray(dist.sample(key, N_SAMPLES))
  jitted = np.asarray(_sample(name, key, N_SAMPLES))
  assert eager.shape == (N_SAMPLES, dist.dim) and eager.dtype == np.float32
  # Same random numbers; fusion under jit may round the affine map differently.
  np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-6)
  if name != "gaussian_3d":
    with_modes = np.asarray(_sample_with_modes(name, key, N_SAMPLES)[0])
    np.testing.assert_allclose(with_modes, eager, rtol=1e-6, atol=1e-6)
  # A different key gives different samples.
  other = np.asarray(_sample(name, jax.random.key(6), N_SAMPLES))
  assert np.mean(other == jitted) < 1e-3


# ----------------------------------------------------------------------------
# 12. Shapes and validation.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("mean,std,dim", [(0.0, 1.0, 1), ([1.0, 2.0], 0.5, 2),
                                          ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0],
                                           3)])
def test_gaussian_dims_and_shapes(mean, std, dim):
  """Gaussian: dim = d; means/stds [1, d]; sample [n, d]; log_prob [n]."""
  dist = distributions.Gaussian(mean, std)
  assert dist.dim == dim
  assert dist.means.shape == (1, dim) and dist.stds.shape == (1, dim)
  np.testing.assert_allclose(np.asarray(dist.stds)[0],
                             np.broadcast_to(std, (dim,)))
  x = jax.eval_shape(lambda key: dist.sample(key, 10), jax.random.key(0))
  assert x.shape == (10, dim) and x.dtype == jnp.float32
  assert jax.eval_shape(dist.log_prob, x).shape == (10,)


@pytest.mark.parametrize("stds", [0.3, [0.1, 0.2, 0.3],
                                  [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]])
def test_mixture_shapes_and_std_broadcasting(stds):
  """GaussianMixture: stds scalar/[K]/[K, d] broadcast to [K, d]; weights normalised."""
  means = [[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]]
  dist = distributions.GaussianMixture(means, stds, weights=[1.0, 1.0, 2.0])
  assert dist.num_modes == 3 and dist.dim == 2
  assert dist.means.shape == (3, 2) and dist.stds.shape == (3, 2)
  want = np.broadcast_to(np.asarray(stds)[:, None] if np.ndim(stds) == 1
                         else stds, (3, 2))
  np.testing.assert_allclose(np.asarray(dist.stds), want, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(dist.weights), [0.25, 0.25, 0.5],
                             rtol=1e-6)
  x, modes = jax.eval_shape(lambda key: dist.sample_with_modes(key, 10),
                            jax.random.key(0))
  assert x.shape == (10, 2) and modes.shape == (10,)
  assert jnp.issubdtype(modes.dtype, jnp.integer)
  assert jax.eval_shape(dist.log_prob, x).shape == (10,)


@pytest.mark.parametrize("kwargs", [
    {"means": [0.0, 1.0], "stds": 1.0},  # means must be [K, d]
    {"means": np.zeros((2, 2, 2)), "stds": 1.0},
    {"means": np.zeros((3, 2)), "stds": 1.0, "weights": [1.0, 1.0]},
    {"means": np.zeros((3, 2)), "stds": 1.0, "weights": np.ones((3, 1))},
    {"means": np.zeros((3, 2)), "stds": np.ones(4)},
], ids=["means_1d", "means_3d", "weights_too_short", "weights_2d",
        "stds_wrong_k"])
def test_mixture_rejects_bad_shapes(kwargs):
  """GaussianMixture raises ValueError for means not [K, d] and weights/stds not matching K."""
  with pytest.raises(ValueError):
    distributions.GaussianMixture(**kwargs)
