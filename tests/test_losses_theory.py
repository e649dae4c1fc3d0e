"""The theory behind the f-GAN and RpGAN losses, checked numerically in float64.

  a. Fenchel-Young: f*(f'(u)) = u f'(u) - f(u), for every f-GAN divergence.
  b. The variational bound E_P g_f(v) - E_Q f*(g_f(v)) -- minus
     `f_gan_discriminator_loss` with the weights p, q as the expectations --
     is maximised pointwise at g_f(v) = T* = f'(p/q), where it equals D_f(P||Q)
     (`gan_jax.divergences`). total_variation's optimum lies on the boundary
     of g_f's range (v -> +-inf) and is approached, not attained.
  c. The 'gan' member is the original GAN: its loss is -V, and its bound at T*
     is V(G, D*) = `value_at_optimum`.
  d. RpGAN: the minimal expected relativistic D loss over a free critic is
     log 2 exactly when p_g = p_data, and strictly less otherwise, so the
     game's optimum is p_g = p_data (Sun et al. 2020; Huang et al. 2024).

Each part also runs a wrong variant (Nowozin's un-halved JS, a conjugate off
by a constant, a pairing that ignores p_g, ...) through the same check and
shows it misses the same tolerance.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import divergences
from gan_jax import losses

F_GAN_DIVERGENCES = losses.F_GAN_DIVERGENCES
INTERIOR = [d for d in F_GAN_DIVERGENCES if d != "total_variation"]
LOG2 = np.log(2.0)


def _grid_distributions():
  """Two fixed, strictly positive distributions p (data) and q (model) on 20 points."""
  x = np.linspace(-3.0, 3.0, 20)
  p = np.exp(-(x - 0.4)**2 / 2) + 0.3 * np.exp(-(x + 1.5)**2 / 0.5)
  q = np.exp(-(x + 0.3)**2 / (2 * 1.3**2))
  return p / p.sum(), q / q.sum()


P, Q = _grid_distributions()


# ----------------------------------------------------------------------------
# a. Fenchel-Young.
# ----------------------------------------------------------------------------

U = np.concatenate([np.geomspace(1e-3, 1e3, 61), [1.0]])


@functools.lru_cache(maxsize=None)
def _fenchel_young_sides(divergence):
  """(f'(u), u f'(u) - f(u), losses.f_gan_conjugate(f'(u))) on the u grid."""
  @jax.jit
  def sides(u):
    slope = divergences.f_derivative(u, divergence)
    return (slope, u * slope - divergences.f_function(u, divergence),
            losses.f_gan_conjugate(slope, divergence))
  with jax.enable_x64(True):
    return tuple(map(np.asarray, sides(U)))


def _fenchel_young_gap(divergence, conjugate=None):
  """max |f*(f'(u)) - (u f'(u) - f(u))| / (1 + |rhs|) over the u grid.

  f* is the library's, or `conjugate` (a wrong variant) if given.
  """
  slope, rhs, lhs = _fenchel_young_sides(divergence)
  if conjugate is not None:
    with jax.enable_x64(True):
      lhs = np.asarray(conjugate(slope))
  return np.max(np.abs(lhs - rhs) / (1.0 + np.abs(rhs)))


@pytest.mark.parametrize("divergence", F_GAN_DIVERGENCES)
def test_fenchel_young_equality(divergence):
  """f*(f'(u)) = u f'(u) - f(u) on u in [1e-3, 1e3] (rel 1e-12), f* = losses.f_gan_conjugate."""
  assert _fenchel_young_gap(divergence) < 1e-12


@pytest.mark.parametrize("divergence,wrong_conjugate", [
    # Nowozin's Table 2 conjugate of the un-halved JS f: not ours.
    ("jensen_shannon", lambda t: -jnp.log(2.0 - jnp.exp(t))),
    # exp(t) is the conjugate of u log u - u, not of u log u.
    ("kl", jnp.exp),
    # GAN's f* with 1 + e^t where it has 1 - e^t.
    ("gan", lambda t: -jnp.log1p(jnp.exp(t))),
    # squared Hellinger's t / (1 - t) without the division.
    ("squared_hellinger", lambda t: t),
])
def test_fenchel_young_rejects_a_wrong_conjugate(divergence, wrong_conjugate):
  """The same check misses by > 1e-3 with a plausible wrong f*."""
  assert _fenchel_young_gap(divergence, wrong_conjugate) > 1e-3


# ----------------------------------------------------------------------------
# b. T* maximises the variational bound pointwise; the bound there is D_f.
# ----------------------------------------------------------------------------


def _library_term(divergence):
  """phi(v, p_i, q_i) = -(p_i g_f(v) - q_i f*(g_f(v))), one point's share of the loss.

  Built from the library's G losses on one element: kind='activation' is
  -g_f(v) and kind='conjugate' is -f*(g_f(v)).
  """
  def phi(v, p_i, q_i):
    minus_g = losses.f_gan_generator_loss(v, divergence=divergence,
                                          kind="activation")
    minus_conjugate = losses.f_gan_generator_loss(v, divergence=divergence)
    return p_i * minus_g - q_i * minus_conjugate
  return phi


def _minimise_separable(phi, p, q, iterations=40):
  """(argmin_v sum_i phi(v_i, p_i, q_i), phi''(v*)) by Newton's method per point.

  Traceable: call it inside jax.jit (it is compiled as one loop). The
  per-point second derivative comes from jax.grad of jax.grad of phi. Each
  step is clipped to length 1 (an exp-shaped phi would otherwise overshoot
  far from the optimum); where the second derivative is not positive
  (neyman's bound is not concave in v far from the optimum) the step is a
  unit step downhill. Every phi here is unimodal, and near the optimum the
  steps are pure Newton steps, converging quadratically.
  """
  slope = jax.vmap(jax.grad(phi))
  curvature = jax.vmap(jax.grad(jax.grad(phi)))

  def step(_, v):
    g, h = slope(v, p, q), curvature(v, p, q)
    convex = h > 0
    newton = -g / jnp.where(convex, h, 1.0)
    return v + jnp.where(convex, jnp.clip(newton, -1.0, 1.0), -jnp.sign(g))

  v = jax.lax.fori_loop(0, iterations, step, jnp.zeros_like(p))
  return v, curvature(v, p, q)


RANDOM_V = np.random.default_rng(0).normal(0, 1.5, P.shape)


@functools.lru_cache(maxsize=None)
def _library_optimum(divergence):
  """Newton's optimum of the library's f-GAN loss on (P, Q), and checks of it.

  One compiled call returns a dict of NumPy arrays: v*, the per-point slope
  and curvature there, the loss and g_f at v*, T* and D_f from
  `gan_jax.divergences`, and at a random v the loss and the sum of the
  per-point terms.
  """
  phi = _library_term(divergence)
  with jax.enable_x64(True):
    p, q = jnp.asarray(P), jnp.asarray(Q)
    loss = lambda v: losses.f_gan_discriminator_loss(
        v, v, divergence=divergence, real_weights=p, fake_weights=q)

    @jax.jit
    def analyse(v0):
      v, curvature = _minimise_separable(phi, p, q)
      return dict(v=v, slope=jax.vmap(jax.grad(phi))(v, p, q),
                  curvature=curvature, loss_at_optimum=loss(v),
                  critic=losses.f_gan_activation(v, divergence),
                  optimal_critic=divergences.optimal_critic(p, q, divergence),
                  f_divergence=divergences.f_divergence(p, q, divergence),
                  loss=loss(v0), total=jnp.sum(jax.vmap(phi)(v0, p, q)))
    return {k: np.asarray(x) for k, x in analyse(RANDOM_V).items()}


@pytest.mark.parametrize("divergence", INTERIOR)
def test_the_loss_is_the_sum_of_the_per_point_terms(divergence):
  """f_gan_discriminator_loss(v, v, real_weights=p, fake_weights=q) = sum_i phi(v_i) at a random v (rel 1e-13)."""
  out = _library_optimum(divergence)
  np.testing.assert_allclose(out["loss"], out["total"], rtol=1e-13)


@pytest.mark.parametrize("divergence", INTERIOR)
def test_optimal_critic_maximises_the_bound_and_reaches_the_divergence(
    divergence):
  """Newton lands on g_f(v) = optimal_critic(p, q) (1e-8); the bound there = f_divergence (1e-6)."""
  out = _library_optimum(divergence)
  np.testing.assert_allclose(out["critic"], out["optimal_critic"], rtol=0,
                             atol=1e-8)
  assert abs(-out["loss_at_optimum"] - out["f_divergence"]) < 1e-6
  # A stationary point (slope 0) with positive curvature: a strict maximum
  # of the bound, i.e. a minimum of the loss.
  assert np.max(np.abs(out["slope"])) < 1e-15
  assert np.all(out["curvature"] > 0)


def _nowozin_js_term(v, p_i, q_i):
  """Nowozin's un-halved JS: g(v) = log 2 - softplus(-v), f*(t) = -log(2 - e^t)."""
  t = LOG2 - jax.nn.softplus(-v)
  return -(p_i * t - q_i * -jnp.log(2.0 - jnp.exp(t)))


def _kl_wrong_conjugate_term(v, p_i, q_i):
  """kl with f*(t) = exp(t), missing the -1."""
  return -(p_i * v - q_i * jnp.exp(v))


@pytest.mark.parametrize("divergence,wrong_term,wrong_activation", [
    # Lands on the same v as the halved game, but T = g(v) and the bound
    # are doubled: 2 T*, 2 JSD.
    ("jensen_shannon", _nowozin_js_term,
     lambda v: LOG2 - jax.nn.softplus(-v)),
    ("kl", _kl_wrong_conjugate_term, lambda v: v),  # lands on T* - 1
    ("kl", lambda v, p_i, q_i: _library_term("kl")(v, q_i, p_i),  # P <-> Q
     lambda v: v),
])
def test_a_wrong_bound_misses_the_critic_and_the_divergence(
    divergence, wrong_term, wrong_activation):
  """The same Newton run on a wrong variant misses T* and D_f by far more than the tolerances."""
  @jax.jit
  def run(p, q):
    v, _ = _minimise_separable(wrong_term, p, q)
    return (wrong_activation(v), -jnp.sum(jax.vmap(wrong_term)(v, p, q)))
  with jax.enable_x64(True):
    critic, bound = map(np.asarray, run(P, Q))
  want_critic = _library_optimum(divergence)["optimal_critic"]
  d_f = _library_optimum(divergence)["f_divergence"]
  assert np.max(np.abs(critic - want_critic)) > 1e-3
  assert abs(bound - d_f) > 1e-3


@jax.jit
def _total_variation_loss(v):
  return losses.f_gan_discriminator_loss(
      v, v, divergence="total_variation", real_weights=P, fake_weights=Q)


def _total_variation_bound(v):
  with jax.enable_x64(True):
    return -float(_total_variation_loss(v))


def test_total_variation_has_no_interior_stationary_point():
  """d loss / d v_i = (q_i - p_i)(1 - tanh^2 v_i) / 2: never 0 for p_i != q_i and finite v."""
  assert np.min(np.abs(P - Q)) > 1e-4
  with jax.enable_x64(True):
    grad_fn = jax.jit(jax.grad(_total_variation_loss))
    for level in np.linspace(-12.0, 12.0, 25):
      grad = np.asarray(grad_fn(jnp.full(P.shape, level)))
      np.testing.assert_array_equal(np.sign(grad), np.sign(Q - P))
      # jax's tanh' = 1 - tanh^2 cancels at large |v|; compare where exact.
      if abs(level) <= 8:
        np.testing.assert_allclose(
            grad, 0.5 * (Q - P) / np.cosh(level)**2, rtol=1e-8)


def test_total_variation_bound_approaches_the_divergence_at_the_boundary():
  """At v = L sign(p - q) the bound is D_TV tanh(L): strictly below D_TV, increasing, equal within 1e-12 at L = 20."""
  with jax.enable_x64(True):
    d_tv = float(divergences.f_divergence(P, Q, "total_variation"))
    t_star = np.asarray(divergences.optimal_critic(P, Q, "total_variation"))
  direction = np.sign(P - Q)
  levels = [0.5, 1.0, 2.0, 4.0, 8.0]
  bounds = [_total_variation_bound(L * direction) for L in levels]
  np.testing.assert_allclose(bounds, d_tv * np.tanh(levels), rtol=1e-12)
  assert np.all(np.diff(bounds) > 0) and bounds[-1] < d_tv
  assert abs(_total_variation_bound(20.0 * direction) - d_tv) < 1e-12
  # The critic tends to T* = sign(p - q) / 2 on the boundary of (-1/2, 1/2).
  with jax.enable_x64(True):
    critic = np.asarray(losses.f_gan_activation(10.0 * direction,
                                                "total_variation"))
  np.testing.assert_allclose(critic, t_star, atol=1e-8)
  np.testing.assert_array_equal(np.abs(t_star), 0.5)
  # Wrong variant: the unscaled tanh (range (-1, 1)) with f*(t) = t would
  # "reach" 2 D_TV, missing the same 1e-12.
  wrong = np.sum(P * np.tanh(20.0 * direction) - Q * np.tanh(
      20.0 * direction))
  assert abs(wrong - d_tv) > 1e-3


# ----------------------------------------------------------------------------
# c. The 'gan' member is the original GAN.
# ----------------------------------------------------------------------------


def test_gan_member_loss_is_minus_the_value_function():
  """f_gan_discriminator_loss('gan') = discriminator_loss(pi=1/2) = -value_function, weighted, rel 1e-13."""
  rng = np.random.default_rng(1)
  real, fake = rng.normal(0, 3, (7,)), rng.normal(0, 3, (5,))
  rw, fw = rng.uniform(0.1, 1, (7,)), rng.uniform(0.1, 1, (5,))
  @jax.jit
  def all_four(real, fake, rw, fw):
    weights = dict(real_weights=rw, fake_weights=fw)
    return (losses.f_gan_discriminator_loss(real, fake, divergence="gan",
                                            **weights),
            losses.discriminator_loss(real, fake, fake_fraction=0.5,
                                      **weights),
            losses.value_function(real, fake, **weights),
            losses.discriminator_loss(real, fake, fake_fraction=0.3,
                                      **weights))
  with jax.enable_x64(True):
    f_gan, bce, value, off_half = map(float, all_four(real, fake, rw, fw))
  np.testing.assert_allclose(f_gan, bce, rtol=1e-13)
  np.testing.assert_allclose(f_gan, -value, rtol=1e-13)
  assert abs(off_half - f_gan) > 1e-3  # only pi = 1/2 is the f-GAN member


def test_gan_member_bound_at_optimum_is_the_value_at_optimal_d():
  """Bound at T* = value_at_optimum(p, q) = 2 JSD - log 4 (1e-12); D* = sigmoid(v*) = optimal_discriminator."""
  out = _library_optimum("gan")
  v, loss = out["v"], float(out["loss_at_optimum"])
  with jax.enable_x64(True):
    v_star = float(divergences.value_at_optimum(P, Q))
    jsd = float(divergences.jensen_shannon_divergence(P, Q))
    d_star = np.asarray(divergences.optimal_discriminator(P, Q))
    js_loss = float(_library_optimum("jensen_shannon")["loss_at_optimum"])
  np.testing.assert_allclose(-loss, v_star, rtol=0, atol=1e-12)
  np.testing.assert_allclose(-loss, 2 * jsd - np.log(4.0), rtol=0, atol=1e-12)
  np.testing.assert_allclose(1 / (1 + np.exp(-v)), d_star, rtol=0, atol=1e-10)
  # Wrong member: the halved JS game's optimum is JSD itself, not V(G, D*).
  np.testing.assert_allclose(-js_loss, jsd, atol=1e-12)
  assert abs(-js_loss - v_star) > 1e-3


# ----------------------------------------------------------------------------
# d. RpGAN: the critic's best expected loss is log 2 only at p_g = p_data.
# ----------------------------------------------------------------------------

N_RP = 10


def _rp_distributions():
  """p_data and a second distribution r on N_RP points; p_g = (1-theta) p + theta r."""
  x = np.linspace(-2.0, 2.0, N_RP)
  p = np.exp(-(x - 0.5)**2) + 0.2
  r = np.exp(-(x + 0.8)**2 / 0.6) + 0.05
  return p / p.sum(), r / r.sum()


def _pair_loss(v, weights):
  """E_{x~p, y~q} softplus(-(v(x) - v(y))) with per-pair weights p_i q_j."""
  real = jnp.broadcast_to(v[:, None], weights.shape)
  fake = jnp.broadcast_to(v[None, :], weights.shape)
  return losses.relativistic_discriminator_loss(real, fake, weights=weights)


def _pair_newton_step(_, v, weights):
  """One Newton step on `_pair_loss`, at most 1 long in each coordinate.

  The loss depends only on differences v_i - v_j, so its Hessian is
  singular along the constant vector 1; adding 1 1^T / n leaves the step's
  component orthogonal to 1 unchanged (the gradient is orthogonal to 1).
  The loss is convex, so the shortened Newton step is a descent direction,
  and near the optimum the step is the full one.
  """
  n = v.shape[0]
  grad = jax.grad(_pair_loss)(v, weights)
  hessian = jax.hessian(_pair_loss)(v, weights)
  direction = -jnp.linalg.solve(hessian + jnp.ones((n, n)) / n, grad)
  return v + direction / jnp.maximum(1.0, jnp.max(jnp.abs(direction)))


_pair_loss_jit = jax.jit(_pair_loss)


@jax.jit
def _minimise_pair_loss_jit(v, weights):
  v = jax.lax.fori_loop(
      0, 30, lambda i, v: _pair_newton_step(i, v, weights), v)
  return v, _pair_loss(v, weights), jax.grad(_pair_loss)(v, weights)


def _minimise_pair_loss(p, q, seed=0):
  """(v*, min_v, gradient at v*) of the expected relativistic D loss."""
  v = np.random.default_rng(seed).normal(0, 1, p.shape)
  v, value, grad = _minimise_pair_loss_jit(v, np.outer(p, q))
  return np.asarray(v), float(value), np.asarray(grad)


THETAS = (0.0, 0.05, 0.2, 0.5, 1.0)


@functools.lru_cache(maxsize=None)
def _rp_minima(which):
  """{theta: (v*, min_v D loss, gradient)} for the relativistic D loss or a wrong one."""
  p, r = _rp_distributions()
  out = {}
  with jax.enable_x64(True):
    for theta in THETAS:
      q = (1 - theta) * p + theta * r
      if which == "ignores_p_g":  # pairs two data samples: no p_g at all
        q = p
      out[theta] = _minimise_pair_loss(p, q)
  return out


def test_relativistic_pair_loss_is_the_double_sum():
  """relativistic_discriminator_loss with weights p_i q_j = sum_ij p_i q_j softplus(-(v_i - v_j)), rel 1e-13."""
  p, r = _rp_distributions()
  v = np.random.default_rng(2).normal(0, 1, N_RP)
  want = sum(p[i] * r[j] * np.logaddexp(0.0, -(v[i] - v[j]))
             for i in range(N_RP) for j in range(N_RP))
  with jax.enable_x64(True):
    got = float(_pair_loss_jit(v, np.outer(p, r)))
  np.testing.assert_allclose(got, want, rtol=1e-13)


def test_relativistic_optimum_is_log2_exactly_at_p_g_equal_p_data():
  """min_v E softplus(-(v(x) - v(y))) = log 2 (1e-12, at a constant v) iff theta = 0; otherwise strictly less, decreasing in theta."""
  minima = _rp_minima("relativistic")
  v0, at_data, _ = minima[0.0]
  assert abs(at_data - LOG2) < 1e-12
  assert np.ptp(np.asarray(v0)) < 1e-6  # the optimal critic is constant
  others = [minima[theta][1] for theta in THETAS[1:]]
  assert all(value < LOG2 - 1e-5 for value in others)
  assert np.all(np.diff([at_data] + others) < 0)
  # At the optimum the gradient vanishes (a true minimum, not a stall).
  for _, _, grad in minima.values():
    assert np.max(np.abs(grad)) < 1e-12


def test_relativistic_first_order_gain_away_from_p_data():
  """For p_g != p_data the critic v = eps (p - q) already beats log 2 (d/deps = -||p - q||^2 / 2)."""
  p, r = _rp_distributions()
  q = 0.5 * (p + r)
  eps = 1e-4
  with jax.enable_x64(True):
    value = float(_pair_loss_jit(eps * (p - q), np.outer(p, q)))
  np.testing.assert_allclose((value - LOG2) / eps,
                             -0.5 * np.sum((p - q)**2), rtol=1e-3)
  assert value < LOG2


def test_wrong_relativistic_games_fail_the_same_checks():
  """A pairing that ignores p_g stays at log 2 for every theta; the non-relativistic L_D's optimum at p_g = p_data is log 4."""
  ignoring = _rp_minima("ignores_p_g")
  assert all(abs(value - LOG2) < 1e-12 for _, value, _ in ignoring.values())
  # So "strictly less than log 2 for theta > 0" fails for it.
  assert not any(value < LOG2 - 1e-5 for theta, (_, value, _) in
                 ignoring.items() if theta > 0)
  # The standard (unpaired) L_D = -[E_p log D + E_q log(1 - D)] at q = p:
  # separable, per point -p_i log sigmoid(v) - p_i log(1 - sigmoid(v)).
  p, _ = _rp_distributions()

  def standard_term(v, p_i, q_i):
    return (p_i * losses.non_saturating_generator_loss(v) -
            q_i * losses.saturating_generator_loss(v))
  with jax.enable_x64(True):
    v, _ = jax.jit(lambda p: _minimise_separable(standard_term, p, p))(p)
    value = float(losses.discriminator_loss(v, v, real_weights=p,
                                            fake_weights=p))
  assert abs(value - np.log(4.0)) < 1e-12 and abs(value - LOG2) > 0.5
