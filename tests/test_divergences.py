"""Numerical tests of gan_jax.divergences: KL, JSD, JSD_pi, D*, V(G, D*).

Exact versions are checked in float64 on probability vectors and on 1D grid
densities (renormalised on the grid, because the identities assume that both
densities integrate to 1); Monte Carlo versions against closed forms or grid
quadrature within 4 standard errors.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import distributions
from gan_jax import divergences
from gan_jax import losses

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)

# ----------------------------------------------------------------------------
# Densities on a uniform 1D grid, in float64 NumPy.
# ----------------------------------------------------------------------------


def normal_pdf(x, mean, std):
  return np.exp(-0.5 * ((x - mean) / std)**2) / (std * np.sqrt(2 * np.pi))


def mixture_pdf(x, weights, means, stds):
  return sum(w * normal_pdf(x, m, s) for w, m, s in zip(weights, means, stds))


def renormalise(p, dx):
  """p / (sum(p) dx): integrates to exactly 1 on the grid."""
  return p / (np.sum(p) * dx)


X_GRID = np.linspace(-12.0, 12.0, 2401)
DX = X_GRID[1] - X_GRID[0]

# (p_data, p_g) pairs on X_GRID, before renormalisation.
DENSITY_PAIRS = {
    "gauss_shifted_wider": (normal_pdf(X_GRID, 0.0, 1.0),
                            normal_pdf(X_GRID, 1.0, 2.0)),
    "gauss_narrow_vs_wide": (normal_pdf(X_GRID, -1.0, 0.5),
                             normal_pdf(X_GRID, 2.0, 1.5)),
    "gauss_vs_two_mode_mixture":
        (normal_pdf(X_GRID, 0.0, 1.0),
         mixture_pdf(X_GRID, [0.3, 0.7], [-2.0, 2.0], [0.5, 0.7])),
    "nearly_disjoint": (normal_pdf(X_GRID, -5.0, 0.5),
                        normal_pdf(X_GRID, 5.0, 0.5)),
}


def _pair(name):
  p, q = DENSITY_PAIRS[name]
  return renormalise(p, DX), renormalise(q, DX)


def np_kl(p, q):
  """sum p log(p / q) with 0 log 0 = 0, float64."""
  p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
  mask = p > 0
  return np.sum(p[mask] * np.log(p[mask] / q[mask]))


def gaussian_kl(m1, s1, m2, s2):
  """KL(N(m1, s1^2) || N(m2, s2^2)), summed over dimensions (diagonal)."""
  m1, s1, m2, s2 = map(np.asarray, (m1, s1, m2, s2))
  return float(np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2)**2) / (2 * s2**2)
                      - 0.5))


# Each function jitted once per input shape: compiling every eager primitive
# separately would dominate the run time. Python floats (pi, dx) are traced.
jit_kl = jax.jit(divergences.kl_divergence)
jit_jsd = jax.jit(divergences.jensen_shannon_divergence)
jit_gjsd = jax.jit(divergences.generalized_jsd)
jit_d_star = jax.jit(divergences.optimal_discriminator)
jit_v_star = jax.jit(divergences.value_at_optimum)


def random_simplex(rng, shape):
  return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


# ----------------------------------------------------------------------------
# 4. Import hygiene.
# ----------------------------------------------------------------------------

# The fresh-interpreter import check lives in tests/test_imports.py.


# ----------------------------------------------------------------------------
# 6. The optimal discriminator, found by optimisation.
# ----------------------------------------------------------------------------

OPT_X = np.linspace(-5.0, 5.0, 101)
OPT_DX = OPT_X[1] - OPT_X[0]
OPT_P = renormalise(normal_pdf(OPT_X, -1.0, 1.0), OPT_DX)
OPT_Q = renormalise(mixture_pdf(OPT_X, [0.4, 0.6], [1.5, -2.0], [0.6, 1.2]),
                    OPT_DX)


def _bce_loss_on_grid(logits, p, q, pi, a):
  """discriminator_loss with one free logit per grid point; weights p, q make it a quadrature."""
  return losses.discriminator_loss(logits, logits, real_weights=p,
                                   fake_weights=q, fake_fraction=pi,
                                   label_smoothing=a)


@jax.jit
def _fit_discriminator(p, q, pi, a):
  """Minimises the loss by Newton's method from logits 0 (100 steps).

  Each grid point's loss depends on its own logit only, so the Hessian is
  diagonal and equals the Hessian-vector product with a vector of ones. The
  pointwise loss is convex in the logit, and from 0 Newton converges
  monotonically to its root.
  """
  grad = jax.grad(_bce_loss_on_grid)

  def newton_step(logits, _):
    g, hess_diag = jax.jvp(lambda l: grad(l, p, q, pi, a), (logits,),
                           (jnp.ones_like(logits),))
    return logits - g / hess_diag, None

  logits, _ = jax.lax.scan(newton_step, jnp.zeros_like(p), None, length=100)
  return logits, grad(logits, p, q, pi, a)


@pytest.mark.parametrize("fake_fraction,label_smoothing",
                         [(0.5, 0.0), (0.2, 0.0), (0.8, 0.0), (0.5, 0.1)])
def test_optimised_discriminator_equals_d_star(fake_fraction, label_smoothing):
  """argmax_D of -L_D on a grid, found numerically, = (1-a)(1-pi)p/((1-pi)p + pi q)."""
  with jax.enable_x64(True):
    logits, grad = _fit_discriminator(OPT_P, OPT_Q, fake_fraction,
                                      label_smoothing)
    fitted = np.asarray(jax.nn.sigmoid(logits))
    d_star = np.asarray(jit_d_star(
        OPT_P, OPT_Q, fake_fraction=fake_fraction,
        label_smoothing=label_smoothing))
    min_loss = float(_bce_loss_on_grid(logits, OPT_P, OPT_Q, fake_fraction,
                                       label_smoothing))
    v_star = float(jit_v_star(
        OPT_P, OPT_Q, fake_fraction=fake_fraction, dx=OPT_DX))
  # Independent formula for D*.
  pi, a = fake_fraction, label_smoothing
  want = (1 - a) * (1 - pi) * OPT_P / ((1 - pi) * OPT_P + pi * OPT_Q)
  np.testing.assert_allclose(d_star, want, rtol=1e-12)
  assert np.max(np.abs(fitted - d_star)) < 1e-3
  assert np.max(np.abs(np.asarray(grad))) < 1e-10  # a stationary point
  # The optimum is not trivial: D* varies widely over the grid.
  assert np.ptp(d_star) > 0.4 * (1 - a)
  if label_smoothing == 0.0:  # min L_D = -V_pi(G, D*).
    np.testing.assert_allclose(min_loss, -v_star, rtol=1e-9)


@jax.jit
def _value_derivatives_at_d_star(pi, a):
  """D*, dV/dD and d^2V/dD^2 at D*, V(D) = -L_D(logit(D)) on the grid."""

  def value_of_probabilities(d):
    logits = jnp.log(d) - jnp.log1p(-d)
    return -_bce_loss_on_grid(logits, OPT_P, OPT_Q, pi, a)

  d_star = divergences.optimal_discriminator(OPT_P, OPT_Q, fake_fraction=pi,
                                             label_smoothing=a)
  return (d_star, jax.grad(value_of_probabilities)(d_star),
          jax.hessian(value_of_probabilities)(d_star))


@pytest.mark.parametrize("fake_fraction,label_smoothing",
                         [(0.5, 0.0), (0.2, 0.0), (0.8, 0.0), (0.5, 0.1)])
def test_value_is_concave_in_d_at_d_star(fake_fraction, label_smoothing):
  """At D*, dV/dD = 0 and d^2V/dD^2 < 0 pointwise: D* is a maximum of V."""
  pi, a = fake_fraction, label_smoothing
  with jax.enable_x64(True):
    d_star, grad, hessian = map(np.asarray,
                                _value_derivatives_at_d_star(pi, a))
  diag = np.diag(hessian)
  assert np.all(diag < 0)
  # Pointwise: each D(x) enters only its own term.
  np.testing.assert_array_equal(hessian - np.diag(diag), 0.0)
  # dV/dD at D* vanishes relative to the curvature scale.
  assert np.max(np.abs(grad) / np.abs(diag)) < 1e-12
  # d^2/dD^2 of 2[(1-pi)p((1-a)log D + a log(1-D)) + pi q log(1-D)] (p, q
  # weights normalised to sum 1, as the weighted means do).
  p_hat, q_hat = OPT_P / OPT_P.sum(), OPT_Q / OPT_Q.sum()
  d = d_star
  want = -2 * ((1 - pi) * p_hat * ((1 - a) / d**2 + a / (1 - d)**2) +
               pi * q_hat / (1 - d)**2)
  np.testing.assert_allclose(diag, want, rtol=1e-9)


def test_optimal_discriminator_special_values():
  """D* = 1/2 where p = q (pi=1/2), 1 - a where p_g = 0, 0 where p_data = 0, 1/2 where both vanish."""
  with jax.enable_x64(True):
    p = np.array([0.3, 0.0, 0.7, 0.0, 0.2])
    q = np.array([0.3, 0.5, 0.0, 0.0, 0.2])
    d = np.asarray(jit_d_star(p, q))
    np.testing.assert_allclose(d, [0.5, 0.0, 1.0, 0.5, 0.5], atol=1e-15)
    d = np.asarray(jit_d_star(p, q,
                                                     label_smoothing=0.1))
    np.testing.assert_allclose(d[[0, 1, 2]], [0.45, 0.0, 0.9], atol=1e-15)


@pytest.mark.parametrize("fake_fraction", [0.5, 0.3])
def test_optimal_discriminator_near_float32_underflow(fake_fraction):
  """float32, p_data at the smallest normals: D* is p_data's tiny share, not
  0 (half of 1.3e-38 is subnormal, which XLA flushes to 0), and V(G, D*)
  stays finite."""
  p = np.float32([1.28e-38, 2e-38, 0.3, 0.0])
  q = np.float32([3.4e-4, 1e-3, 0.3, 0.2])
  d = np.asarray(jit_d_star(p, q, fake_fraction=fake_fraction))
  pi = fake_fraction
  want = (1 - pi) * p.astype(np.float64) / (
      (1 - pi) * p.astype(np.float64) + pi * q.astype(np.float64))
  assert np.all(d[:3] > 0)
  np.testing.assert_allclose(d, want, rtol=1e-5)
  v = float(jit_v_star(np.float32([1.28e-38, 0.5]),
                       np.float32([3.4e-4, 0.5]), fake_fraction=pi))
  assert np.isfinite(v)


# ----------------------------------------------------------------------------
# 7. V(G, D*) = -log 4 + 2 JSD(p_data || p_g).
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("pair", sorted(DENSITY_PAIRS))
def test_value_at_optimum_is_minus_log4_plus_two_jsd(pair):
  """V(G, D*) from V's definition = -log 4 + 2 JSD(p_data || p_g), 1e-6, float64."""
  p, q = _pair(pair)
  with jax.enable_x64(True):
    v = float(jit_v_star(p, q, dx=DX))
    jsd = float(jit_jsd(p, q, dx=DX))
  np.testing.assert_allclose(v, -LOG4 + 2 * jsd, atol=1e-6)
  # V from its definition with an independent D*, in NumPy.
  # log D* = log(p / (p+q)), log(1 - D*) = log(q / (p+q)) (not 1 - D*, which
  # rounds to 0 where q << p).
  want = np.sum(p * np.log(p / (p + q)) + q * np.log(q / (p + q))) * DX
  np.testing.assert_allclose(v, want, atol=1e-9)
  assert -LOG4 - 1e-9 <= v <= 1e-9
  if pair == "nearly_disjoint":  # JSD -> log 2, so V -> 0.
    assert abs(jsd - LOG2) < 1e-6 and abs(v) < 1e-6
  else:  # Strictly above the minimum -log 4 since p_g != p_data.
    assert v > -LOG4 + 1e-2


@pytest.mark.parametrize("pair", sorted(DENSITY_PAIRS))
@pytest.mark.parametrize("fake_fraction", [0.2, 0.8])
def test_value_at_optimum_general_pi_is_generalized_jsd(pair, fake_fraction):
  """V_pi(G, D*) = 2[pi log pi + (1-pi) log(1-pi) + JSD_pi(p_g || p_data)], 1e-6."""
  p, q = _pair(pair)
  pi = fake_fraction
  with jax.enable_x64(True):
    v = float(jit_v_star(p, q, fake_fraction=pi, dx=DX))
    jsd_pi = float(jit_gjsd(q, p, pi, dx=DX))
  want = 2 * (pi * math.log(pi) + (1 - pi) * math.log(1 - pi) + jsd_pi)
  np.testing.assert_allclose(v, want, atol=1e-6)
  # And from V_pi's definition in NumPy.
  total = (1 - pi) * p + pi * q
  direct = 2 * ((1 - pi) * np.sum(p * np.log((1 - pi) * p / total)) +
                pi * np.sum(q * np.log(pi * q / total))) * DX
  np.testing.assert_allclose(v, direct, atol=1e-9)


@pytest.mark.parametrize("fake_fraction", [0.5, 0.2, 0.8])
@pytest.mark.parametrize("pair", sorted(DENSITY_PAIRS))
def test_value_at_optimum_is_minimal_at_p_g_equal_p_data(pair, fake_fraction):
  """p_g = p_data gives D* = 1-pi and V = 2[pi log pi + (1-pi) log(1-pi)] (-log 4 at pi=1/2)."""
  p, _ = _pair(pair)
  pi = fake_fraction
  with jax.enable_x64(True):
    v = float(jit_v_star(p, p, fake_fraction=pi, dx=DX))
    d = np.asarray(jit_d_star(p, p, fake_fraction=pi))
  np.testing.assert_allclose(d, 1 - pi, rtol=1e-12)
  want = 2 * (pi * math.log(pi) + (1 - pi) * math.log(1 - pi))
  np.testing.assert_allclose(v, want, atol=1e-9)
  if pi == 0.5:
    np.testing.assert_allclose(v, -LOG4, atol=1e-9)


def test_value_at_optimum_on_probability_vectors_with_batch_and_zeros():
  """On [batch, n] probability vectors (dx=1), incl. disjoint supports: V = -log 4 + 2 JSD row-wise."""
  rng = np.random.default_rng(0)
  p = random_simplex(rng, (4, 6))
  q = random_simplex(rng, (4, 6))
  p[3] = [0.5, 0.5, 0, 0, 0, 0]  # disjoint from q's row: V = 0
  q[3] = [0, 0, 0.2, 0.3, 0.4, 0.1]
  with jax.enable_x64(True):
    v = np.asarray(jit_v_star(p, q))
    jsd = np.asarray(jit_jsd(p, q))
  assert v.shape == (4,) and jsd.shape == (4,)
  np.testing.assert_allclose(v, -LOG4 + 2 * jsd, atol=1e-12)
  np.testing.assert_allclose(v[3], 0.0, atol=1e-12)


# ----------------------------------------------------------------------------
# 9. KL and JSD properties.
# ----------------------------------------------------------------------------


def test_kl_is_asymmetric_and_matches_gaussian_closed_form():
  """KL(N(0,1)||N(0,2^2)) = 0.318 != KL(N(0,2^2)||N(0,1)) = 0.807 (grid, 1e-6)."""
  p = renormalise(normal_pdf(X_GRID, 0.0, 1.0), DX)
  q = renormalise(normal_pdf(X_GRID, 0.0, 2.0), DX)
  with jax.enable_x64(True):
    forward = float(jit_kl(p, q, dx=DX))
    reverse = float(jit_kl(q, p, dx=DX))
  np.testing.assert_allclose(forward, gaussian_kl(0, 1, 0, 2), atol=1e-6)
  np.testing.assert_allclose(reverse, gaussian_kl(0, 2, 0, 1), atol=1e-6)
  assert reverse - forward > 0.4


@pytest.mark.parametrize("seed", range(3))
def test_kl_matches_numpy_and_is_asymmetric_on_probability_vectors(seed):
  """KL(p||q) = sum p log(p/q) row-wise on [3, 5] vectors; KL(p||q) != KL(q||p)."""
  rng = np.random.default_rng(seed)
  p, q = random_simplex(rng, (3, 5)), random_simplex(rng, (3, 5))
  with jax.enable_x64(True):
    forward = np.asarray(jit_kl(p, q))
    reverse = np.asarray(jit_kl(q, p))
  np.testing.assert_allclose(forward, [np_kl(a, b) for a, b in zip(p, q)],
                             rtol=1e-12)
  assert np.all(forward >= 0)
  assert np.all(np.abs(forward - reverse) > 1e-3)


def test_kl_asymmetry_clear_margin_on_skewed_pair():
  """KL([.9,.09,.01]||[1/3]*3) = 0.7 vs reverse 1.2: asymmetric by > 0.4."""
  p, q = np.array([0.9, 0.09, 0.01]), np.full(3, 1 / 3)
  with jax.enable_x64(True):
    forward = float(jit_kl(p, q))
    reverse = float(jit_kl(q, p))
  np.testing.assert_allclose(forward, np_kl(p, q), rtol=1e-12)
  np.testing.assert_allclose(reverse, np_kl(q, p), rtol=1e-12)
  assert reverse - forward > 0.4


def test_kl_is_infinite_where_q_vanishes_on_p_support():
  """KL(p||q) = +inf when q = 0 somewhere p > 0; the reverse stays finite."""
  p = np.array([0.5, 0.25, 0.25])
  q = np.array([0.5, 0.5, 0.0])
  with jax.enable_x64(True):
    assert float(jit_kl(p, q)) == np.inf
    reverse = float(jit_kl(q, p))
  np.testing.assert_allclose(reverse, 0.5 * math.log(2.0), rtol=1e-12)


def test_zero_log_zero_is_zero():
  """0 log 0 = 0: p with zeros gives the finite KL of its support."""
  p = np.array([0.5, 0.5, 0.0])
  q = np.array([0.25, 0.25, 0.5])
  with jax.enable_x64(True):
    kl = float(jit_kl(p, q))
    kl_zero_zero = float(jit_kl(np.array([1.0, 0.0]),
                                                   np.array([1.0, 0.0])))
  np.testing.assert_allclose(kl, math.log(2.0), rtol=1e-12)
  assert kl_zero_zero == 0.0


def test_kl_grid_density_scales_with_dx():
  """KL of densities with spacing dx equals KL of the probabilities p dx."""
  p, q = _pair("gauss_vs_two_mode_mixture")
  with jax.enable_x64(True):
    dens = float(jit_kl(p, q, dx=DX))
    prob = float(jit_kl(p * DX, q * DX))
  np.testing.assert_allclose(dens, prob, rtol=1e-12)
  np.testing.assert_allclose(dens, np_kl(p, q) * DX, rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_jsd_symmetric_bounded_and_matches_definition(seed):
  """JSD(p||q) = JSD(q||p) (1e-7) = 1/2 KL(p||m) + 1/2 KL(q||m), in [0, log 2]."""
  rng = np.random.default_rng(100 + seed)
  p, q = random_simplex(rng, (5, 6)), random_simplex(rng, (5, 6))
  with jax.enable_x64(True):
    jsd = np.asarray(jit_jsd(p, q))
    swapped = np.asarray(jit_jsd(q, p))
  np.testing.assert_allclose(jsd, swapped, atol=1e-7)
  m = 0.5 * (p + q)
  want = [0.5 * np_kl(a, c) + 0.5 * np_kl(b, c) for a, b, c in zip(p, q, m)]
  np.testing.assert_allclose(jsd, want, rtol=1e-12)
  assert np.all(jsd > 0) and np.all(jsd <= LOG2)


@pytest.mark.parametrize("pair", sorted(DENSITY_PAIRS))
def test_jsd_zero_iff_equal_on_grid(pair):
  """JSD(p||p) = 0 and JSD(p||q) > 0 for p != q (grid densities), <= log 2."""
  p, q = _pair(pair)
  with jax.enable_x64(True):
    same = float(jit_jsd(p, p, dx=DX))
    diff = float(jit_jsd(p, q, dx=DX))
    swapped = float(jit_jsd(q, p, dx=DX))
  assert abs(same) < 1e-12
  assert 1e-2 < diff <= LOG2 + 1e-12
  assert abs(diff - swapped) < 1e-7


def test_jsd_is_log2_for_disjoint_supports():
  """Disjoint supports give JSD = log 2 exactly (and JSD_pi = H(pi))."""
  p = np.array([0.2, 0.8, 0.0, 0.0])
  q = np.array([0.0, 0.0, 0.6, 0.4])
  with jax.enable_x64(True):
    jsd = float(jit_jsd(p, q))
    jsd_pi = float(jit_gjsd(p, q, 0.3))
  np.testing.assert_allclose(jsd, LOG2, rtol=1e-12)
  np.testing.assert_allclose(jsd_pi, -0.3 * math.log(0.3) - 0.7 * math.log(0.7),
                             rtol=1e-12)


@pytest.mark.parametrize("pi", [0.05, 0.2, 0.5, 0.7, 0.99])
def test_generalized_jsd_swap_symmetry_and_definition(pi):
  """JSD_pi(P||Q) = JSD_{1-pi}(Q||P) = pi KL(P||M) + (1-pi) KL(Q||M), 0 <= . <= H(pi)."""
  rng = np.random.default_rng(7)
  p, q = random_simplex(rng, (3, 5)), random_simplex(rng, (3, 5))
  with jax.enable_x64(True):
    jsd_pi = np.asarray(jit_gjsd(p, q, pi))
    swapped = np.asarray(jit_gjsd(q, p, 1 - pi))
  np.testing.assert_allclose(jsd_pi, swapped, rtol=1e-10)
  m = pi * p + (1 - pi) * q
  want = [pi * np_kl(a, c) + (1 - pi) * np_kl(b, c) for a, b, c in zip(p, q, m)]
  np.testing.assert_allclose(jsd_pi, want, rtol=1e-12)
  entropy = -pi * math.log(pi) - (1 - pi) * math.log(1 - pi)
  assert np.all(jsd_pi > 0) and np.all(jsd_pi <= entropy)


def test_generalized_jsd_at_half_is_jsd():
  """JSD_{1/2}(P||Q) = JSD(P||Q) on grid densities and probability vectors."""
  p, q = _pair("gauss_vs_two_mode_mixture")
  rng = np.random.default_rng(3)
  a, b = random_simplex(rng, (4, 7)), random_simplex(rng, (4, 7))
  with jax.enable_x64(True):
    np.testing.assert_allclose(
        float(jit_gjsd(p, q, 0.5, dx=DX)),
        float(jit_jsd(p, q, dx=DX)), rtol=1e-14)
    np.testing.assert_allclose(
        np.asarray(jit_gjsd(a, b, 0.5)),
        np.asarray(jit_jsd(a, b)), rtol=1e-14)


PI_TO_ZERO = [1e-1, 1e-2, 1e-3, 1e-4]
# Full-support discrete distributions (every entry > 0).
P_FULL = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
Q_FULL = np.array([0.35, 0.3, 0.15, 0.1, 0.1])


def test_generalized_jsd_over_pi_converges_to_kl_as_pi_to_zero():
  """JSD_pi(P||Q)/pi -> KL(P||Q) as pi -> 0: error decreases monotonically, < 1e-3 rel at 1e-4."""
  with jax.enable_x64(True):
    kl = float(jit_kl(P_FULL, Q_FULL))
    ratios = np.array([float(jit_gjsd(P_FULL, Q_FULL, pi))
                       / pi for pi in PI_TO_ZERO])
  errors = np.abs(ratios - kl)
  assert np.all(np.diff(errors) < 0), errors
  assert errors[-1] < 1e-3 * kl, errors
  assert errors[0] > 1e-2 * kl  # the sequence really starts far off


def test_generalized_jsd_over_one_minus_pi_converges_to_reverse_kl_as_pi_to_one():
  """JSD_pi(P||Q)/(1-pi) -> KL(Q||P) as pi -> 1: error decreases monotonically, < 1e-3 rel."""
  with jax.enable_x64(True):
    kl = float(jit_kl(Q_FULL, P_FULL))
    ratios = np.array([
        float(jit_gjsd(P_FULL, Q_FULL, 1.0 - eps)) / eps
        for eps in PI_TO_ZERO])
  errors = np.abs(ratios - kl)
  assert np.all(np.diff(errors) < 0), errors
  assert errors[-1] < 1e-3 * kl, errors
  assert errors[0] > 1e-2 * kl


@pytest.mark.parametrize("pi", [0.0, 1.0])
def test_generalized_jsd_at_endpoints_is_zero_even_for_disjoint_supports(pi):
  """JSD_0 = JSD_1 = 0 = H(pi): finite, as documented, even where KL(P||Q) = inf."""
  p = np.array([0.5, 0.5, 0.0])
  q = np.array([0.0, 0.2, 0.8])
  with jax.enable_x64(True):
    eager = float(divergences.generalized_jsd(p, q, pi))
    traced = float(jit_gjsd(p, q, pi))
  assert eager == 0.0 and traced == 0.0


@pytest.mark.parametrize("pi", [0.1, 0.5, 0.9])
def test_generalized_jsd_float32_tails_near_the_smallest_normal(pi):
  """Densities just above 1.2e-38 (Gaussian tails on a grid) stay finite.

  pi p + (1-pi) q is subnormal there and XLA:CPU flushes it to 0; forming
  the mixture gave +inf (found fitting Huszar 2015's figure in float32).
  """
  x = np.linspace(-15.0, 15.0, 3001)
  dx = float(x[1] - x[0])
  p = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
  q = np.exp(-0.5 * ((x - 1.0) / 0.8)**2) / (0.8 * math.sqrt(2 * math.pi))
  # Points where both densities are tiny but normal in float32.
  tails = (p.astype(np.float32) > 1.2e-38) & (p < 5e-38)
  assert tails.any()
  with jax.enable_x64(True):
    want = float(divergences.generalized_jsd(p, q, pi, dx=dx))
  got = jit_gjsd(p.astype(np.float32), q.astype(np.float32), pi, dx=dx)
  assert float(got) == pytest.approx(want, rel=1e-5)
  tail_only = np.where(tails, p, 0.0).astype(np.float32)
  both_tiny = jit_gjsd(tail_only, tail_only, pi)
  assert np.isfinite(float(both_tiny)) and abs(float(both_tiny)) < 1e-36
  # And its gradient in the Gaussian's parameters, which Huszar's fits
  # follow, is finite and right.
  def objective(theta, x, p):
    mean, log_std = theta[0], theta[1]
    q = jnp.exp(-0.5 * ((x - mean) / jnp.exp(log_std))**2 - log_std
                - 0.5 * math.log(2 * math.pi))
    return divergences.generalized_jsd(p, q, pi, dx=dx)

  theta = np.array([1.0, math.log(0.8)])
  grad32 = jax.jit(jax.grad(objective))(theta.astype(np.float32),
                                        x.astype(np.float32),
                                        p.astype(np.float32))
  with jax.enable_x64(True):
    grad64 = jax.grad(objective)(theta, x, p)
  assert np.all(np.isfinite(grad32))
  np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("pi", [-0.1, 1.1])
def test_generalized_jsd_rejects_pi_outside_unit_interval(pi):
  """pi must lie in [0, 1]."""
  with pytest.raises(ValueError, match="pi"):
    divergences.generalized_jsd(P_FULL, Q_FULL, pi)


# ----------------------------------------------------------------------------
# 11. Monte Carlo estimators.
# ----------------------------------------------------------------------------

N_MC = 100_000

GAUSSIAN_PAIRS = {
    "1d": ((0.5, 1.2), (-0.3, 0.8)),
    "2d": (([0.0, 1.0], [1.0, 0.5]), ([0.5, -0.5], [1.5, 0.7])),
}


@functools.partial(jax.jit, static_argnums=0)
def _kl_mc(dims, key):
  """(KL estimate, per-sample log-ratios) for GAUSSIAN_PAIRS[dims]."""
  (m1, s1), (m2, s2) = GAUSSIAN_PAIRS[dims]
  p, q = distributions.Gaussian(m1, s1), distributions.Gaussian(m2, s2)
  samples = p.sample(key, N_MC)
  estimate = divergences.kl_divergence_mc(p.log_prob, q.log_prob, samples)
  return estimate, p.log_prob(samples) - q.log_prob(samples)


@pytest.mark.parametrize("dims", sorted(GAUSSIAN_PAIRS))
def test_kl_monte_carlo_matches_gaussian_closed_form(dims):
  """mean_i [log p(x_i) - log q(x_i)], x_i ~ P, = closed-form Gaussian KL within 4 SE."""
  (m1, s1), (m2, s2) = GAUSSIAN_PAIRS[dims]
  estimate, log_ratio = _kl_mc(dims, jax.random.key(1))
  want = gaussian_kl(m1, s1, m2, s2)
  # The returned stderr is std(log-ratio) / sqrt(n).
  log_ratio = np.asarray(log_ratio, np.float64)
  np.testing.assert_allclose(float(estimate.value), log_ratio.mean(),
                             rtol=1e-4)
  np.testing.assert_allclose(float(estimate.stderr),
                             log_ratio.std(ddof=1) / np.sqrt(N_MC), rtol=1e-3)
  assert 0 < float(estimate.stderr) < 1e-2
  assert abs(float(estimate.value) - want) < 4 * float(estimate.stderr)
  # The reverse direction differs: KL is asymmetric.
  assert abs(gaussian_kl(m2, s2, m1, s1) - want) > 0.05


MC_1D = {
    "gauss_vs_gauss": (distributions.Gaussian(0.0, 1.0),
                       distributions.Gaussian(1.0, 1.5)),
    "gauss_vs_mixture": (distributions.Gaussian(0.0, 1.0),
                         distributions.GaussianMixture(
                             [[-1.5], [2.0]], [0.5, 0.8], weights=[0.3, 0.7])),
}
MC_X = np.linspace(-12.0, 12.0, 4801)
MC_DX = MC_X[1] - MC_X[0]


MC_PIS = (0.2, 0.8)


@functools.lru_cache(maxsize=None)
def _grid_densities(pair):
  """p, q of MC_1D[pair] on MC_X in float64, renormalised on the grid."""
  p_dist, q_dist = MC_1D[pair]
  with jax.enable_x64(True):
    log_p, log_q = jax.jit(lambda x: (p_dist.log_prob(x), q_dist.log_prob(x)))(
        MC_X[:, None])
  return (renormalise(np.exp(np.asarray(log_p)), MC_DX),
          renormalise(np.exp(np.asarray(log_q)), MC_DX))


@functools.lru_cache(maxsize=None)
def _mc_estimates(pair):
  """All 1D Monte Carlo estimators on N_MC samples of each of MC_1D[pair].

  One jitted computation (and one compilation) per pair; the estimators share
  the samples, as independent tests would with the same key.
  """
  p_dist, q_dist = MC_1D[pair]

  @jax.jit
  def estimate(key):
    key_p, key_q = jax.random.split(key)
    samples_p = p_dist.sample(key_p, N_MC)
    samples_q = q_dist.sample(key_q, N_MC)
    args = (p_dist.log_prob, q_dist.log_prob, samples_p, samples_q)
    return ([divergences.jensen_shannon_divergence_mc(*args)] +
            [divergences.generalized_jsd_mc(*args, pi) for pi in MC_PIS] +
            [divergences.value_at_optimum_mc(*args)])

  jsd, *jsd_pis, value = [tuple(map(float, e))
                          for e in estimate(jax.random.key(2))]
  return {0.5: jsd, **dict(zip(MC_PIS, jsd_pis)), "value_at_optimum": value}


@pytest.mark.parametrize("pi", (0.5,) + MC_PIS)
@pytest.mark.parametrize("pair", sorted(MC_1D))
def test_generalized_jsd_monte_carlo_matches_quadrature(pair, pi):
  """JSD_pi (pi=1/2: JSD) by Monte Carlo, logaddexp mixture, = grid quadrature, within 4 SE."""
  p, q = _grid_densities(pair)
  with jax.enable_x64(True):
    exact = float(jit_gjsd(p, q, pi, dx=MC_DX))
  value, stderr = _mc_estimates(pair)[pi]
  assert 0 < stderr < 5e-3
  assert abs(value - exact) < 4 * stderr, (value, exact, stderr)


@pytest.mark.parametrize("pair", sorted(MC_1D))
def test_value_at_optimum_monte_carlo_matches_minus_log4_plus_two_jsd(pair):
  """V(G, D*) by Monte Carlo = -log 4 + 2 JSD by quadrature, within 4 SE."""
  p, q = _grid_densities(pair)
  with jax.enable_x64(True):
    jsd_exact = float(jit_jsd(p, q, dx=MC_DX))
    v_grid = float(jit_v_star(p, q, dx=MC_DX))
  want = -LOG4 + 2 * jsd_exact
  np.testing.assert_allclose(v_grid, want, atol=1e-6)
  value, stderr = _mc_estimates(pair)["value_at_optimum"]
  assert 0 < stderr < 5e-3
  assert abs(value - want) < 4 * stderr, (value, want, stderr)


# ----------------------------------------------------------------------------
# 12. f-divergences (Nowozin et al. 2016, Table 1; 'jensen_shannon' halved).
# ----------------------------------------------------------------------------

F_DIVS = divergences.F_DIVERGENCES

# Each f(u) as printed in the paper's table (naive float64 NumPy), P = p_data,
# Q = p_g, u = p / q.
NP_F = {
    "kl": lambda u: u * np.log(u),
    "reverse_kl": lambda u: -np.log(u),
    "pearson": lambda u: (u - 1)**2,
    "neyman": lambda u: (1 - u)**2 / u,
    "squared_hellinger": lambda u: (np.sqrt(u) - 1)**2,
    "jensen_shannon":
        lambda u: 0.5 * (u * np.log(u) - (u + 1) * np.log((u + 1) / 2)),
    "gan": lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
    "total_variation": lambda u: 0.5 * np.abs(u - 1),
}
# Nowozin's Table 1 Jensen-Shannon f, without the 1/2: its D_f is 2 JSD.
NOWOZIN_JS_F = lambda u: u * np.log(u) - (u + 1) * np.log((u + 1) / 2)

# Convex conjugates f*(t) = sup_u u t - f(u) (Nowozin et al. 2016, Table 2;
# the halved JS f has f*(t) = 1/2 g*(2t)), +inf outside their domains.
NP_F_CONJUGATE = {
    "kl": lambda t: np.exp(t - 1),
    "reverse_kl": lambda t: np.where(t < 0, -1 - np.log(np.abs(t)), np.inf),
    "pearson": lambda t: t**2 / 4 + t,
    "neyman": lambda t: np.where(t < 1, 2 - 2 * np.sqrt(np.abs(1 - t)),
                                 np.inf),
    "squared_hellinger": lambda t: np.where(t < 1, t / (1 - t), np.inf),
    "jensen_shannon": lambda t: np.where(
        t < LOG2 / 2, -0.5 * np.log(np.abs(2 - np.exp(2 * t))), np.inf),
    "gan": lambda t: np.where(t < 0, -np.log(np.abs(1 - np.exp(t))), np.inf),
    "total_variation": lambda t: np.where(np.abs(t) <= 0.5, t, np.inf),
}

# lim_{u->inf} f(u)/u = lim f'(u): a point with q = 0 < p adds p times this,
# and T* takes this value there.
SLOPE_AT_INF = {"kl": np.inf, "reverse_kl": 0.0, "pearson": np.inf,
                "neyman": 1.0, "squared_hellinger": 1.0,
                "jensen_shannon": LOG2 / 2, "gan": 0.0,
                "total_variation": 0.5}
# f(0+): a point with p = 0 < q adds q times this.
F_AT_ZERO = {"kl": 0.0, "reverse_kl": np.inf, "pearson": 1.0,
             "neyman": np.inf, "squared_hellinger": 1.0,
             "jensen_shannon": LOG2 / 2, "gan": 0.0, "total_variation": 0.5}
# f'(0+): T* where p = 0 < q.
F_PRIME_AT_ZERO = {"kl": -np.inf, "reverse_kl": -np.inf, "pearson": -2.0,
                   "neyman": -np.inf, "squared_hellinger": -np.inf,
                   "jensen_shannon": -np.inf, "gan": -np.inf,
                   "total_variation": -0.5}
# f'(1): T* where p = q (and where both vanish; gan: log D* = log 1/2).
F_PRIME_AT_ONE = {"kl": 1.0, "reverse_kl": -1.0, "pearson": 0.0,
                  "neyman": 0.0, "squared_hellinger": 0.0,
                  "jensen_shannon": 0.0, "gan": -LOG2,
                  "total_variation": 0.0}


# Every divergence in one jitted call, so that each input shape compiles once
# rather than once per divergence (compilation dominates these tests).
@jax.jit
def _f_divergences(p, q, dx=1.0):
  return {name: divergences.f_divergence(p, q, name, dx=dx) for name in F_DIVS}


@jax.jit
def _f_and_f_prime(u):
  return ({name: divergences.f_function(u, name) for name in F_DIVS},
          {name: divergences.f_derivative(u, name) for name in F_DIVS})


@jax.jit
def _critics(p, q):
  return {name: divergences.optimal_critic(p, q, name) for name in F_DIVS}


def _total_f_divergence(p, q, divergence):
  return jnp.sum(divergences.f_divergence(p, q, divergence))


@jax.jit
def _f_divergence_grads(p, q):
  """(d/dp, d/dq) of the row sum of f_divergence(p, q), every divergence."""
  return {name: jax.grad(functools.partial(_total_f_divergence,
                                           divergence=name),
                         argnums=(0, 1))(p, q)
          for name in F_DIVS}


def np_f_divergence(p, q, divergence, dx=1.0):
  """sum q f(p / q) dx over the last axis, straight from the definition."""
  return np.sum(q * NP_F[divergence](p / q), axis=-1) * dx


# Pairs for which every f-divergence is finite in the continuum (Pearson
# needs int p^2/q < inf, Neyman int q^2/p < inf) and X_GRID's tails are
# negligible for each; (p_data, p_g).
F_GRID_PAIRS = {
    "gauss_shifted": (normal_pdf(X_GRID, 0.0, 1.0),
                      normal_pdf(X_GRID, 1.0, 1.1)),
    "gauss_narrow_vs_wide": (normal_pdf(X_GRID, 0.5, 0.9),
                             normal_pdf(X_GRID, -0.5, 1.0)),
    "gauss_vs_mixture":
        (normal_pdf(X_GRID, 0.0, 1.0),
         mixture_pdf(X_GRID, [0.3, 0.7], [-1.5, 1.0], [0.9, 1.0])),
}
F_GRID_NAMES = sorted(F_GRID_PAIRS)
F_GAUSS_PARAMS = {"gauss_shifted": ((0.0, 1.0), (1.0, 1.1)),
                  "gauss_narrow_vs_wide": ((0.5, 0.9), (-0.5, 1.0))}


def _stack_pairs(pairs):
  """[num_pairs, n] arrays of p and q, each renormalised on X_GRID."""
  return tuple(np.stack([renormalise(pair[i], DX) for pair in pairs])
               for i in (0, 1))


F_GRID_P, F_GRID_Q = _stack_pairs([F_GRID_PAIRS[n] for n in F_GRID_NAMES])
# [3, 9] like the other vector cases, so that they share one compilation.
F_VEC_P, F_VEC_Q = (random_simplex(np.random.default_rng(seed), (3, 9))
                    for seed in (11, 12))


@functools.lru_cache(maxsize=None)
def _f_divergence_cases():
  """(vectors, grid) results of `_f_divergences`, in float64."""
  with jax.enable_x64(True):
    return tuple(jax.tree.map(np.asarray, _f_divergences(p, q, dx))
                 for p, q, dx in [(F_VEC_P, F_VEC_Q, 1.0),
                                  (F_GRID_P, F_GRID_Q, DX)])


@pytest.mark.parametrize("divergence", F_DIVS)
def test_f_divergence_matches_definition(divergence):
  """sum q f(p/q) (dx) with the table's f, on [3, 9] vectors and 3 grid pairs, 1e-10."""
  vectors, grid = (case[divergence] for case in _f_divergence_cases())
  assert vectors.shape == (3,) and grid.shape == (3,)
  np.testing.assert_allclose(
      vectors, np_f_divergence(F_VEC_P, F_VEC_Q, divergence), rtol=1e-10)
  np.testing.assert_allclose(
      grid, np_f_divergence(F_GRID_P, F_GRID_Q, divergence, DX), rtol=1e-10)
  if divergence == "jensen_shannon":
    # Would fail: Nowozin's un-halved f gives 2 JSD.
    nowozin = np.sum(F_VEC_Q * NOWOZIN_JS_F(F_VEC_P / F_VEC_Q), axis=-1)
    np.testing.assert_allclose(nowozin, 2 * vectors, rtol=1e-10)
    assert not np.allclose(nowozin, vectors, rtol=1e-10)


def _closed_forms(p, q, dx):
  """Each f-divergence from its named closed form (NumPy; the module's KL/JSD/V)."""
  kl = lambda a, b: np.asarray(jit_kl(a, b, dx=dx))
  return {
      "kl": kl(p, q),
      "reverse_kl": kl(q, p),
      "pearson": np.sum((p - q)**2 / q, axis=-1) * dx,
      "neyman": np.sum((p - q)**2 / p, axis=-1) * dx,
      "squared_hellinger": np.sum((np.sqrt(p) - np.sqrt(q))**2, axis=-1) * dx,
      "jensen_shannon": np.asarray(jit_jsd(p, q, dx=dx)),
      "gan": np.asarray(jit_v_star(p, q, dx=dx)),
      "total_variation": 0.5 * np.sum(np.abs(p - q), axis=-1) * dx,
  }


@pytest.mark.parametrize("inputs", ["vectors", "grid"])
def test_f_divergence_equals_named_closed_forms(inputs):
  """kl = KL(p||q), reverse_kl = KL(q||p), JS = JSD, gan = V(G, D*) = 2 JSD - log 4, ... (1e-12)."""
  vectors, grid = _f_divergence_cases()
  got, args = ((vectors, (F_VEC_P, F_VEC_Q, 1.0)) if inputs == "vectors" else
               (grid, (F_GRID_P, F_GRID_Q, DX)))
  with jax.enable_x64(True):
    want = _closed_forms(*args)
  for name in F_DIVS:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                               err_msg=name)
  np.testing.assert_allclose(got["gan"], 2 * got["jensen_shannon"] - LOG4,
                             rtol=1e-12)
  # Would fail: the GAN member is offset from 2 JSD by -log 4.
  assert not np.allclose(got["gan"], 2 * got["jensen_shannon"], rtol=1e-6)


def gaussian_chi2(m1, s1, m2, s2):
  """int N(m1, s1^2)^2 / N(m2, s2^2) dx - 1 (Pearson chi^2), 1/s1^2 > 1/(2 s2^2)."""
  a, b = 1 / s1**2, 1 / (2 * s2**2)
  log_integral = (0.5 * math.log(math.pi / (a - b)) +
                  (a * m1 - b * m2)**2 / (a - b) - (a * m1**2 - b * m2**2))
  return math.exp(log_integral) * s2 / (math.sqrt(2 * math.pi) * s1**2) - 1


def gaussian_squared_hellinger(m1, s1, m2, s2):
  """int (sqrt p - sqrt q)^2 = 2 - 2 BC (Bhattacharyya coefficient)."""
  var = s1**2 + s2**2
  bc = math.sqrt(2 * s1 * s2 / var) * math.exp(-(m1 - m2)**2 / (4 * var))
  return 2 - 2 * bc


@pytest.mark.parametrize("pair", sorted(F_GAUSS_PARAMS))
def test_f_divergence_of_gaussians_on_grid_matches_closed_forms(pair):
  """KL both ways, Pearson and Neyman chi^2, squared Hellinger of two Gaussians (grid, 1e-12)."""
  (m1, s1), (m2, s2) = F_GAUSS_PARAMS[pair]
  row = F_GRID_NAMES.index(pair)
  got = {name: value[row] for name, value in _f_divergence_cases()[1].items()}
  want = {"kl": gaussian_kl(m1, s1, m2, s2),
          "reverse_kl": gaussian_kl(m2, s2, m1, s1),
          "pearson": gaussian_chi2(m1, s1, m2, s2),
          "neyman": gaussian_chi2(m2, s2, m1, s1),
          "squared_hellinger": gaussian_squared_hellinger(m1, s1, m2, s2)}
  for name, value in want.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-12, err_msg=name)
  # Pearson and Neyman differ: P and Q enter asymmetrically.
  assert abs(want["pearson"] - want["neyman"]) > 0.05


def _limit_term(p, q, divergence):
  """q f(p/q) at one point, with the limits where p or q is 0."""
  if p == 0 and q == 0:
    return 0.0
  if q == 0:
    slope = SLOPE_AT_INF[divergence]
    return np.inf if np.isinf(slope) else p * slope
  if p == 0:
    f0 = F_AT_ZERO[divergence]
    return np.inf if np.isinf(f0) else q * f0
  return q * NP_F[divergence](p / q)


# Row 0, index 1: q = 0 < p; index 3: p = 0 < q; index 4: both 0. Row 1 is
# row 0 swapped. Row 2 has a common zero and densities whose squares
# underflow (1e-200; the gradient of (p - q)^2 / q was 0 / 0 there, as it is
# in float32 Gaussian tails below 1e-19). [3, 9] like F_VEC_P.
_POSITIVE_TAIL = [0.1, 0.05, 0.2, 0.15]
ZEROS_P = np.array([[0.2, 0.1, 0.2, 0.0, 0.0] + _POSITIVE_TAIL,
                    [0.1, 0.0, 0.3, 0.1, 0.0] + _POSITIVE_TAIL[::-1],
                    [0.3, 0.1, 0.1, 2e-200, 0.0, 0.1, 0.05, 1e-200, 0.35]])
ZEROS_Q = np.array([[0.1, 0.0, 0.3, 0.1, 0.0] + _POSITIVE_TAIL[::-1],
                    [0.2, 0.1, 0.2, 0.0, 0.0] + _POSITIVE_TAIL,
                    [0.1, 0.3, 0.1, 1e-200, 0.0, 0.15, 0.2, 1e-200, 0.15]])


@functools.lru_cache(maxsize=None)
def _zero_cases():
  """f_divergence, its gradients and T* on ZEROS_P, ZEROS_Q, float64."""
  with jax.enable_x64(True):
    return jax.tree.map(np.asarray, (_f_divergences(ZEROS_P, ZEROS_Q),
                                     _f_divergence_grads(ZEROS_P, ZEROS_Q),
                                     _critics(ZEROS_P, ZEROS_Q)))


@pytest.mark.parametrize("divergence", F_DIVS)
def test_f_divergence_limits_at_zeros(divergence):
  """q = 0 < p adds p lim f(u)/u; p = 0 < q adds q f(0); p = q = 0 adds 0; no NaN."""
  # The limit tables agree with the table's f.
  f = NP_F[divergence]
  slope, f0 = SLOPE_AT_INF[divergence], F_AT_ZERO[divergence]
  if np.isinf(slope):
    assert f(1e12) / 1e12 > 20
  else:
    np.testing.assert_allclose(f(1e12) / 1e12, slope, atol=1e-5)
  if np.isinf(f0):
    assert f(1e-12) > 20
  else:
    np.testing.assert_allclose(f(1e-12), f0, atol=1e-5)
  values, grads, _ = _zero_cases()
  got = values[divergence]
  want = [sum(_limit_term(x, y, divergence) for x, y in zip(a, b))
          for a, b in zip(ZEROS_P, ZEROS_Q)]
  assert not np.any(np.isnan(got))
  np.testing.assert_allclose(got, want, rtol=1e-12)
  # Nor do a common zero and tiny densities give a NaN (or inf) gradient.
  assert all(np.all(np.isfinite(g[2])) for g in grads[divergence])


U_POINTS = np.array([1e-3, 0.05, 0.3, 0.8, 1.25, 1.7, 4.0, 25.0, 1e3])
H_STEPS = 1e-5 * U_POINTS


@functools.lru_cache(maxsize=None)
def _f_cases():
  """f and f' at [U_POINTS, U_POINTS + h, U_POINTS - h] and at [0, 1, inf]."""
  u = np.stack([U_POINTS, U_POINTS + H_STEPS, U_POINTS - H_STEPS])
  special = np.ones_like(u)
  special[0, :3] = [0.0, 1.0, np.inf]
  with jax.enable_x64(True):
    return jax.tree.map(np.asarray, (_f_and_f_prime(u),
                                     _f_and_f_prime(special)))


@pytest.mark.parametrize("divergence", F_DIVS)
def test_f_function_and_derivative(divergence):
  """f(1) = 0 (gan: -log 4); f = the table's; f' = central differences of f (1e-8); limits."""
  (f, f_prime), (f_special, f_prime_special) = (
      tuple(d[divergence] for d in case) for case in _f_cases())
  diff = (f[1] - f[2]) / (2 * H_STEPS)
  np.testing.assert_allclose(f_special[0, 1],
                             -LOG4 if divergence == "gan" else 0.0,
                             atol=1e-15)
  np.testing.assert_allclose(f[0], NP_F[divergence](U_POINTS), rtol=1e-9)
  np.testing.assert_allclose(f_prime[0], diff, rtol=1e-8, atol=1e-12)
  assert np.all(np.diff(f_prime[0]) >= 0)  # f convex: f' nondecreasing
  # The documented limits: f(0), and f' at 0, 1 and inf (= lim f(u)/u).
  np.testing.assert_allclose(f_special[0, 0], F_AT_ZERO[divergence])
  np.testing.assert_allclose(
      f_prime_special[0, :3],
      [F_PRIME_AT_ZERO[divergence], F_PRIME_AT_ONE[divergence],
       SLOPE_AT_INF[divergence]], atol=1e-15)
  if divergence == "jensen_shannon":
    # Would fail: Nowozin's un-halved f' = log(2u / (u + 1)).
    assert not np.allclose(np.log(2 * U_POINTS / (U_POINTS + 1)), diff,
                           rtol=1e-8)


# Ratios p/q in about [0.2, 5], so that T* +- 1e-3 stays in dom f*; [3, 9]
# like U_POINTS' stack, so that f' compiles once.
BOUND_P, BOUND_Q = (np.random.default_rng(seed).dirichlet(np.full(9, 8.0),
                                                          size=3)
                    for seed in (13, 14))


@functools.lru_cache(maxsize=None)
def _bound_cases():
  with jax.enable_x64(True):
    p, q = BOUND_P, BOUND_Q
    return jax.tree.map(np.asarray, (_critics(p, q), _f_and_f_prime(p / q)[1],
                                     _f_divergences(p, q), jit_d_star(p, q)))


@pytest.mark.parametrize("divergence", F_DIVS)
def test_optimal_critic_is_f_prime_of_ratio_and_attains_the_bound(divergence):
  """T* = f'(p/q); E_P T* - E_Q f*(T*) = D_f, and moving T* lowers the bound."""
  critics, f_primes, d_fs, d_star = _bound_cases()
  critic, d_f = critics[divergence], d_fs[divergence]
  p, q = BOUND_P, BOUND_Q
  np.testing.assert_allclose(critic, f_primes[divergence], rtol=1e-14)
  if divergence == "gan":  # T* = log D*.
    np.testing.assert_allclose(critic, np.log(d_star), rtol=1e-12)
  if divergence == "kl":
    np.testing.assert_allclose(critic, 1 + np.log(p / q), rtol=1e-12)
  conjugate = NP_F_CONJUGATE[divergence]
  bound = lambda t: np.sum(p * t - q * conjugate(t), axis=-1)
  np.testing.assert_allclose(bound(critic), d_f, rtol=1e-10, atol=1e-14)
  step = 1e-3 * np.random.default_rng(15).uniform(0.5, 1.0, size=p.shape)
  if divergence == "total_variation":  # T* is on the boundary: move inward.
    perturbed = [critic - np.sign(critic) * step]
  else:
    perturbed = [critic + step, critic - step]
  for t in perturbed:
    assert np.all(np.isfinite(bound(t))) and np.all(bound(t) < bound(critic))


def test_optimal_critic_at_zeros():
  """q = 0 < p: T* = f'(inf); p = 0 < q: f'(0); both 0: f'(1) (gan: log D* = log 1/2)."""
  critics = _zero_cases()[2]
  for name in F_DIVS:
    np.testing.assert_allclose(
        critics[name][0, [1, 3, 4]],
        [SLOPE_AT_INF[name], F_PRIME_AT_ZERO[name], F_PRIME_AT_ONE[name]],
        atol=1e-15, err_msg=name)
  np.testing.assert_allclose(critics["gan"][0, 4], math.log(0.5), rtol=1e-15)


# Monte Carlo: E_Q f(p/q)^2 is finite for these pairs for every f (s2/s1 in
# (0.94, 1.11) keeps even the fourth moments of the Pearson and Neyman terms
# finite, so the standard errors are themselves reliable).
N_F_MC = 200_000
F_MC_PAIRS = {
    "equal_variance": ((0.0, 1.0), (0.7, 1.0)),
    "q_wider": ((0.0, 1.0), (0.4, 1.05)),
    "q_narrower": ((0.5, 1.0), (0.0, 0.97)),
}
F_MC_NAMES = sorted(F_MC_PAIRS)


def _normal_log_pdf(mean, std):
  return lambda x: (-0.5 * ((x[:, 0] - mean) / std)**2 - jnp.log(std)
                    - 0.5 * math.log(2 * math.pi))


@jax.jit
def _f_mc(key, m1, s1, m2, s2):
  """Every f_divergence_mc on N_F_MC samples of Q = N(m2, s2^2), and KL's on P's."""
  log_p, log_q = _normal_log_pdf(m1, s1), _normal_log_pdf(m2, s2)
  noise = jax.random.normal(key, (N_F_MC, 1), jnp.float64)
  samples_q = m2 + s2 * noise
  out = {name: divergences.f_divergence_mc(log_p, log_q, samples_q, name)
         for name in F_DIVS}
  out["kl_from_p_samples"] = divergences.f_divergence_mc(
      log_p, log_q, m1 + s1 * noise, "kl")
  return out


@functools.lru_cache(maxsize=None)
def _f_mc_cases():
  """({pair: {name: (value, stderr)}}, {name: [3] grid values}), float64."""
  estimates = {}
  with jax.enable_x64(True):
    for i, pair in enumerate(F_MC_NAMES):
      (m1, s1), (m2, s2) = F_MC_PAIRS[pair]
      out = _f_mc(jax.random.key(3 + i), m1, s1, m2, s2)
      estimates[pair] = {k: tuple(map(float, v)) for k, v in out.items()}
    grid = _stack_pairs([
        (normal_pdf(X_GRID, m1, s1), normal_pdf(X_GRID, m2, s2))
        for (m1, s1), (m2, s2) in map(F_MC_PAIRS.get, F_MC_NAMES)])
    exact = jax.tree.map(np.asarray, _f_divergences(*grid, DX))
  return estimates, exact


@pytest.mark.parametrize("pair", F_MC_NAMES)
def test_f_divergence_monte_carlo_matches_grid(pair):
  """mean_{x~Q} f(e^{log p - log q}) = grid f_divergence within 4 SE, every f (200k samples)."""
  estimates, exact = _f_mc_cases()
  estimates, row = estimates[pair], F_MC_NAMES.index(pair)
  for name in F_DIVS:
    value, stderr = estimates[name]
    assert 0 < stderr < 0.01, (name, stderr)
    assert abs(value - exact[name][row]) < 4 * stderr, (
        name, value, exact[name][row], stderr)
  # Would fail: averaging over P's samples estimates E_P (p/q) log(p/q).
  value, stderr = estimates["kl_from_p_samples"]
  assert abs(value - exact["kl"][row]) > 4 * stderr


# ----------------------------------------------------------------------------
# 13. Wasserstein-1 in one dimension.
# ----------------------------------------------------------------------------

scipy_stats = pytest.importorskip("scipy.stats")

jit_w1 = jax.jit(divergences.wasserstein_1d)
jit_w1_samples = jax.jit(divergences.wasserstein_1d_samples)


def _gaussian_on(x, mean, std):
  return renormalise(normal_pdf(x, mean, std), x[1] - x[0])


@pytest.mark.parametrize("means", [(-0.5, 1.2345), (0.3, 0.0)])
def test_wasserstein_1d_of_shifted_gaussians_is_mean_difference(means):
  """W1(N(m1, 1), N(m2, 1)) = |m1 - m2| on the grid, 1e-12; one cell off fails.

  For stochastically ordered P, Q, sum |F_P - F_Q| dx^2 is the difference of
  the grid means, which the grid gets to rounding error.
  """
  p, q = (_gaussian_on(X_GRID, m, 1.0) for m in means)
  with jax.enable_x64(True):
    w1 = float(jit_w1(p, q, dx=DX))
    swapped = float(jit_w1(q, p, dx=DX))
    off_by_one_cell = float(jit_w1(p, np.roll(q, 1), dx=DX))
  want = abs(means[0] - means[1])
  np.testing.assert_allclose([w1, swapped], want, rtol=1e-12)
  # Would fail: q moved by one grid cell (dx = 0.01).
  assert abs(off_by_one_cell - want) > 1e6 * 1e-12 * want
  np.testing.assert_allclose(abs(off_by_one_cell - w1), DX, rtol=1e-9)


@pytest.mark.parametrize("std", [0.5, 2.0])
def test_wasserstein_1d_of_scaled_gaussians_converges_as_dx_squared(std):
  """W1(N(0,1), N(0,s^2)) = |1 - s| sqrt(2/pi): 1e-4 rel at dx = 0.01; error ~ dx^2.

  The CDFs cross here, so the grid is not exact; the first-order error of
  the step CDFs cancels (its integral is that of d|F_P - F_Q|), leaving
  O(dx^2).
  """
  want = abs(1.0 - std) * math.sqrt(2 / math.pi)
  coarse = np.linspace(-12.0, 12.0, 241)  # dx = 0.1
  errors = []
  with jax.enable_x64(True):
    for x in (coarse, X_GRID):
      p, q = _gaussian_on(x, 0.3, 1.0), _gaussian_on(x, 0.3, std)
      errors.append(abs(float(jit_w1(p, q, dx=x[1] - x[0])) / want - 1))
  assert errors[1] < 1e-4
  assert 50 < errors[0] / errors[1] < 200  # ~ (0.1 / 0.01)^2


def test_wasserstein_1d_matches_scipy_on_grid_and_vectors():
  """= scipy.stats.wasserstein_distance(x, x, p, q) on grid densities and [3, 9] vectors, 1e-10."""
  p, q = _pair("gauss_vs_two_mode_mixture")
  with jax.enable_x64(True):
    grid = float(jit_w1(p, q, dx=DX))
    unit_spacing = float(jit_w1(p, q))
    vectors = np.asarray(jit_w1(F_VEC_P, F_VEC_Q))
  np.testing.assert_allclose(
      grid, scipy_stats.wasserstein_distance(X_GRID, X_GRID, p, q),
      rtol=1e-10)
  support = np.arange(9)
  np.testing.assert_allclose(
      vectors, [scipy_stats.wasserstein_distance(support, support, u, v)
                for u, v in zip(F_VEC_P, F_VEC_Q)], rtol=1e-10)
  assert vectors.shape == (3,) and np.all(vectors > 0)
  # Would fail: grid densities taken as probability vectors (dx = 1).
  np.testing.assert_allclose(unit_spacing * DX**2, grid, rtol=1e-12)
  assert abs(unit_spacing - grid) > 1.0


@pytest.mark.parametrize("sizes", [(400, 400), (400, 257), (1, 5)])
def test_wasserstein_1d_samples_matches_scipy(sizes):
  """Exact empirical W1 = scipy's for equal and unequal sizes, with ties, [n] or [n, 1], 1e-10."""
  n, m = sizes
  rng = np.random.default_rng(16)
  x = rng.normal(0.0, 1.0, size=n)
  y = rng.gamma(2.0, 1.0, size=m)
  x[: n // 4] = np.round(x[: n // 4])  # ties within x, within y and across
  y[: m // 3] = np.round(y[: m // 3])
  with jax.enable_x64(True):
    w1 = float(jit_w1_samples(x, y))
    same = float(jit_w1_samples(x, rng.permutation(x)))
    # The [n, 1] form for equal sizes only, the swap for unequal: each new
    # pair of shapes costs a compilation.
    other = float(jit_w1_samples(x[:, None], y[:, None]) if n == m else
                  jit_w1_samples(y, x))
  want = scipy_stats.wasserstein_distance(x, y)
  np.testing.assert_allclose([w1, other], want, rtol=1e-10)
  # Not exactly 0 under jit: XLA:CPU may contract a/n - b/n into an FMA.
  assert abs(same) < 1e-15 and want > 0.1
  if n == m:
    np.testing.assert_allclose(w1, np.mean(np.abs(np.sort(x) - np.sort(y))),
                               rtol=1e-10)


# ----------------------------------------------------------------------------
# 14. Bad input.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda name: divergences.f_divergence(P_FULL, Q_FULL, name),
    lambda name: divergences.f_function(2.0, name),
    lambda name: divergences.f_derivative(2.0, name),
    lambda name: divergences.optimal_critic(P_FULL, Q_FULL, name),
    lambda name: divergences.f_divergence_mc(lambda x: x[:, 0],
                                             lambda x: x[:, 0],
                                             np.zeros((3, 1)), name),
], ids=["f_divergence", "f_function", "f_derivative", "optimal_critic",
        "f_divergence_mc"])
def test_unknown_f_divergence_is_rejected_with_the_valid_names(call):
  """Unknown names (incl. Nowozin's 'jensen-shannon'): ValueError naming the argument, listing F_DIVERGENCES."""
  for name in ("hellinger", "jensen-shannon", "KL"):
    with pytest.raises(ValueError, match="divergence must be one of") as error:
      call(name)
    assert all(repr(valid) in str(error.value) for valid in F_DIVS)
    assert repr(name) in str(error.value)


@pytest.mark.parametrize("x,y,match", [
    (np.zeros(0), np.ones(3), "x must hold at least one sample"),
    (np.ones(3), np.zeros((0, 1)), "y must hold at least one sample"),
    (np.ones((4, 2)), np.ones(3), r"x must have shape \[n\] or \[n, 1\]"),
    (np.ones(4), np.ones((3, 1, 1)), r"y must have shape .*\(3, 1, 1\)"),
    (np.float64(1.0), np.ones(3), r"x must have shape"),
])
def test_wasserstein_1d_samples_rejects_bad_shapes(x, y, match):
  """Empty or not one-dimensional sample arrays: ValueError naming the argument and its shape."""
  with pytest.raises(ValueError, match=match):
    divergences.wasserstein_1d_samples(x, y)
