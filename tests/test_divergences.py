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
