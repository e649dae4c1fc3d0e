"""Numerical tests of gan_jax.losses against independent float64 NumPy formulas.

Every reference below is written from the formulas in DESIGN.md and the
docstrings, with D(x) = 1 / (1 + exp(-logit)) evaluated naively in float64 on
moderate logits, so that it shares no code with the implementation (which uses
log_sigmoid / softplus).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

from gan_jax import losses

# ----------------------------------------------------------------------------
# Independent float64 references.
# ----------------------------------------------------------------------------


def np_sigmoid(l):
  return 1.0 / (1.0 + np.exp(-l))


def np_log_d(l):
  """log D = log(1 / (1 + exp(-l))), naive; fine for moderate float64 logits."""
  return np.log(1.0 / (1.0 + np.exp(-l)))


def np_log_one_minus_d(l):
  """log(1 - D), naive."""
  return np.log(1.0 - 1.0 / (1.0 + np.exp(-l)))


def np_wmean(f, w):
  """E f, or sum(w f) / sum(w) with w broadcast against f."""
  f = np.asarray(f, np.float64)
  if w is None:
    return np.mean(f)
  w = np.broadcast_to(np.asarray(w, np.float64), f.shape)
  return np.sum(w * f) / np.sum(w)


def ref_discriminator(r, f, rw=None, fw=None, pi=0.5, a=0.0):
  """L_D = -2[(1-pi) E((1-a) log D(x) + a log(1-D(x))) + pi E log(1-D(G(z)))]."""
  real = np_wmean((1 - a) * np_log_d(r) + a * np_log_one_minus_d(r), rw)
  fake = np_wmean(np_log_one_minus_d(f), fw)
  return -2.0 * ((1 - pi) * real + pi * fake)


def ref_value(r, f, rw=None, fw=None):
  """V = E log D(x) + E log(1 - D(G(z)))."""
  return np_wmean(np_log_d(r), rw) + np_wmean(np_log_one_minus_d(f), fw)


def ref_least_squares_d(r, f, rw=None, fw=None, pi=0.5):
  """2[(1-pi) E 1/2 (D(x)-1)^2 + pi E 1/2 D(G(z))^2] (raw outputs)."""
  return 2.0 * ((1 - pi) * np_wmean(0.5 * (r - 1.0)**2, rw) +
                pi * np_wmean(0.5 * f**2, fw))


def ref_hinge_d(r, f, rw=None, fw=None, pi=0.5):
  """2[(1-pi) E max(0, 1 - D(x)) + pi E max(0, 1 + D(G(z)))]."""
  return 2.0 * ((1 - pi) * np_wmean(np.maximum(0.0, 1.0 - r), rw) +
                pi * np_wmean(np.maximum(0.0, 1.0 + f), fw))


def ref_wasserstein_d(r, f, rw=None, fw=None, pi=0.5):
  """2[(1-pi) E(-f(x)) + pi E f(G(z))]."""
  return 2.0 * ((1 - pi) * np_wmean(-r, rw) + pi * np_wmean(f, fw))


def ref_saturating(f, fw=None):
  """E log(1 - D(G(z)))."""
  return np_wmean(np_log_one_minus_d(f), fw)


def ref_non_saturating(f, fw=None):
  """-E log D(G(z))."""
  return -np_wmean(np_log_d(f), fw)


def ref_maximum_likelihood(f, fw=None):
  """-1/2 E exp(sigma^-1(D(G(z)))), with sigma^-1(D) = log(D / (1 - D))."""
  d = np_sigmoid(f)
  return -0.5 * np_wmean(np.exp(np.log(d / (1.0 - d))), fw)


def ref_least_squares_g(f, fw=None):
  """1/2 E (D(G(z)) - 1)^2."""
  return np_wmean(0.5 * (f - 1.0)**2, fw)


def ref_minus_mean(f, fw=None):
  """-E D(G(z)) (hinge and Wasserstein generators)."""
  return -np_wmean(f, fw)


# name -> (function, reference, number of logit arguments, takes fake_fraction)
LOSSES = {
    "discriminator_loss": (losses.discriminator_loss, ref_discriminator, 2,
                           True),
    "value_function": (losses.value_function, ref_value, 2, False),
    "least_squares_discriminator_loss":
        (losses.least_squares_discriminator_loss, ref_least_squares_d, 2, True),
    "hinge_discriminator_loss": (losses.hinge_discriminator_loss, ref_hinge_d,
                                 2, True),
    "wasserstein_discriminator_loss":
        (losses.wasserstein_discriminator_loss, ref_wasserstein_d, 2, True),
    "saturating_generator_loss": (losses.saturating_generator_loss,
                                  ref_saturating, 1, False),
    "non_saturating_generator_loss": (losses.non_saturating_generator_loss,
                                      ref_non_saturating, 1, False),
    "maximum_likelihood_generator_loss":
        (losses.maximum_likelihood_generator_loss, ref_maximum_likelihood, 1,
         False),
    "least_squares_generator_loss": (losses.least_squares_generator_loss,
                                     ref_least_squares_g, 1, False),
    "hinge_generator_loss": (losses.hinge_generator_loss, ref_minus_mean, 1,
                             False),
    "wasserstein_generator_loss": (losses.wasserstein_generator_loss,
                                   ref_minus_mean, 1, False),
}
LOSS_NAMES = sorted(LOSSES)
DISCRIMINATOR_NAMES = [n for n in LOSS_NAMES if LOSSES[n][3]]
BCE_NAMES = ["discriminator_loss", "value_function",
             "saturating_generator_loss", "non_saturating_generator_loss"]

SHAPES = [(), (7,), (3, 5), (2, 3, 4)]


def _call(name, real, fake, rw=None, fw=None, impl=True, **hyper):
  """Calls the implementation (impl=True) or the reference of loss `name`."""
  fn, ref, nargs, _ = LOSSES[name]
  if impl:
    if nargs == 2:
      return fn(real, fake, real_weights=rw, fake_weights=fw, **hyper)
    return fn(fake, fake_weights=fw)
  if nargs == 2:
    return ref(real, fake, rw, fw, **hyper)
  return ref(fake, fw)


def _weights(rng, shape, mode):
  if mode == "none":
    return None
  if mode == "full":
    return rng.uniform(0.1, 2.0, size=shape)
  if mode == "broadcast":  # e.g. [5] against [3, 5]; scalar against [7].
    return rng.uniform(0.1, 2.0, size=shape[1:])
  raise ValueError(mode)


# ----------------------------------------------------------------------------
# 1. Every loss equals its formula.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("weight_mode",
                         ["none", "full", "broadcast", "real_only"])
@pytest.mark.parametrize("shape_index", range(len(SHAPES)))
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_matches_float64_numpy_formula(name, shape_index, weight_mode):
  """Each loss = its DESIGN.md formula (weighted mean sum(w f)/sum(w)), rel 1e-5."""
  rng = np.random.default_rng(1000 * shape_index + len(name))
  # Real and fake logits get different shapes so the two terms cannot be
  # swapped without the test noticing.
  real_shape = SHAPES[shape_index]
  fake_shape = SHAPES[(shape_index + 1) % len(SHAPES)]
  real = rng.normal(0.0, 2.0, size=real_shape)
  fake = rng.normal(0.0, 2.0, size=fake_shape)
  if weight_mode == "real_only":
    rw, fw = _weights(rng, real_shape, "full"), None
  else:
    rw = _weights(rng, real_shape, weight_mode)
    fw = _weights(rng, fake_shape, weight_mode)
  with jax.enable_x64(True):
    got = _call(name, real, fake, rw, fw)
    assert got.shape == () and got.dtype == jnp.float64
    want = _call(name, real, fake, rw, fw, impl=False)
    np.testing.assert_allclose(float(got), want, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("fake_fraction,label_smoothing",
                         [(0.5, 0.0), (0.2, 0.0), (0.8, 0.0), (0.5, 0.1),
                          (0.3, 0.25)])
def test_discriminator_loss_fake_fraction_and_smoothing_match_formula(
    fake_fraction, label_smoothing):
  """L_D = -2[(1-pi)E((1-a)log D + a log(1-D)) + pi E log(1-D(G(z)))], rel 1e-5."""
  rng = np.random.default_rng(7)
  real, fake = rng.normal(0, 2, (3, 5)), rng.normal(0, 2, (4, 5))
  rw, fw = rng.uniform(0.1, 2, (5,)), rng.uniform(0.1, 2, (4, 5))
  for weights in [(None, None), (rw, fw)]:
    with jax.enable_x64(True):
      got = losses.discriminator_loss(
          real, fake, fake_fraction=fake_fraction,
          label_smoothing=label_smoothing, real_weights=weights[0],
          fake_weights=weights[1])
    want = ref_discriminator(real, fake, *weights, pi=fake_fraction,
                             a=label_smoothing)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


@pytest.mark.parametrize("fake_fraction", [0.5, 0.2, 0.9])
@pytest.mark.parametrize("name", [n for n in DISCRIMINATOR_NAMES
                                  if n != "discriminator_loss"])
def test_other_discriminator_losses_mix_with_fake_fraction(name, fake_fraction):
  """LS/hinge/WGAN D losses = 2[(1-pi) real term + pi fake term], rel 1e-5."""
  rng = np.random.default_rng(11)
  real, fake = rng.normal(0, 2, (6,)), rng.normal(0, 2, (2, 6))
  rw, fw = rng.uniform(0.1, 2, (6,)), rng.uniform(0.1, 2, (6,))
  with jax.enable_x64(True):
    got = _call(name, real, fake, rw, fw, fake_fraction=fake_fraction)
  want = _call(name, real, fake, rw, fw, impl=False, pi=fake_fraction)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_discriminator_loss_at_half_is_minus_value_function(shape):
  """At pi=1/2, a=0: L_D = -(E log D(x) + E log(1 - D(G(z)))) = -V(G, D)."""
  rng = np.random.default_rng(3)
  real, fake = rng.normal(0, 2, shape), rng.normal(0, 2, shape)
  with jax.enable_x64(True):
    l_d = float(losses.discriminator_loss(real, fake))
    v = float(losses.value_function(real, fake))
  want = -(np.mean(np_log_d(real)) + np.mean(np_log_one_minus_d(fake)))
  np.testing.assert_allclose(l_d, want, rtol=1e-12)
  np.testing.assert_allclose(l_d, -v, rtol=1e-12)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_zero_weights_drop_elements(name):
  """sum(w f)/sum(w) with 0/1 weights = plain mean over the kept elements only."""
  rng = np.random.default_rng(5)
  real, fake = rng.normal(0, 2, (3, 5)), rng.normal(0, 2, (2, 3, 4))
  keep_real = np.array([1.0, 0.0, 1.0, 1.0, 0.0])  # broadcast over rows
  keep_fake = (rng.uniform(size=(3, 4)) < 0.5).astype(np.float64)
  keep_fake[0, 0] = 1.0
  with jax.enable_x64(True):
    masked = float(_call(name, real, fake, keep_real, keep_fake))
  # Unweighted formula on the kept elements alone.
  subset = _call(name, real[:, keep_real > 0], fake[:, keep_fake > 0],
                 impl=False)
  np.testing.assert_allclose(masked, subset, rtol=1e-12)


def test_weights_change_the_result():
  """Non-uniform weights give a different value than the plain mean (not ignored)."""
  rng = np.random.default_rng(9)
  fake = rng.normal(0, 2, (8,))
  w = rng.uniform(0.1, 2.0, (8,))
  with jax.enable_x64(True):
    plain = float(losses.non_saturating_generator_loss(fake))
    weighted = float(losses.non_saturating_generator_loss(fake, fake_weights=w))
  assert abs(plain - weighted) > 1e-3
  np.testing.assert_allclose(weighted, ref_non_saturating(fake, w), rtol=1e-12)


# ----------------------------------------------------------------------------
# 2. Numerical stability of the BCE losses.
# ----------------------------------------------------------------------------

EXTREMES = {
    "confident_right": (np.array([1e4, 1e4], np.float32),
                        np.array([-1e4, -1e4], np.float32)),
    "confident_wrong": (np.array([-1e4, -1e4], np.float32),
                        np.array([1e4, 1e4], np.float32)),
    "mixed": (np.array([1e4, -1e4, 0.0], np.float32),
              np.array([-1e4, 1e4, 0.0], np.float32)),
}


def _softplus64(l):
  """log(1 + exp(l)) in float64, stable: -log D = softplus(-l)."""
  return np.logaddexp(0.0, np.asarray(l, np.float64))


@pytest.mark.parametrize("case", sorted(EXTREMES))
@pytest.mark.parametrize("name,label_smoothing",
                         [(n, 0.0) for n in BCE_NAMES] +
                         [("discriminator_loss", 0.1)])
def test_bce_losses_finite_value_and_gradient_at_logits_1e4(
    name, label_smoothing, case):
  """BCE losses and their gradients are finite and exact for float32 logits +-1e4."""
  real, fake = EXTREMES[case]
  hyper = ({"label_smoothing": label_smoothing}
           if name == "discriminator_loss" else {})
  fn, _, nargs, _ = LOSSES[name]
  if nargs == 2:
    value, grads = jax.value_and_grad(
        lambda r, f: fn(r, f, **hyper), argnums=(0, 1))(real, fake)
  else:
    value, grads = jax.value_and_grad(fn, argnums=(0,))(fake)
  assert value.dtype == jnp.float32
  assert np.isfinite(float(value))
  for g in grads:
    assert g.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(g)))

  # Exact values from stable float64 softplus identities:
  # log D = -softplus(-l), log(1-D) = -softplus(l), d/dl log D = sigma(-l),
  # d/dl log(1-D) = -sigma(l).
  a = label_smoothing
  n_r, n_f = real.size, fake.size
  if name == "discriminator_loss":
    want = -((1 - a) * np.mean(-_softplus64(-real)) +
             a * np.mean(-_softplus64(real)) + np.mean(-_softplus64(fake)))
    want_grads = (-((1 - a) * expit(-real.astype(np.float64)) -
                    a * expit(real.astype(np.float64))) / n_r,
                  expit(fake.astype(np.float64)) / n_f)
  elif name == "value_function":
    want = np.mean(-_softplus64(-real)) + np.mean(-_softplus64(fake))
    want_grads = (expit(-real.astype(np.float64)) / n_r,
                  -expit(fake.astype(np.float64)) / n_f)
  elif name == "saturating_generator_loss":
    want = np.mean(-_softplus64(fake))
    want_grads = (-expit(fake.astype(np.float64)) / n_f,)
  else:
    want = np.mean(_softplus64(-fake))
    want_grads = (-expit(-fake.astype(np.float64)) / n_f,)
  np.testing.assert_allclose(float(value), want, rtol=1e-6, atol=1e-6)
  for g, w in zip(grads, want_grads):
    np.testing.assert_allclose(np.asarray(g), w, rtol=1e-6, atol=1e-7)


def test_maximum_likelihood_finite_for_logits_up_to_80():
  """-1/2 E exp(l) and its gradient -exp(l)/(2n) stay finite in float32 for l <= 80."""
  fake = np.array([-80.0, -10.0, 0.0, 40.0, 80.0], np.float32)
  value, grad = jax.value_and_grad(losses.maximum_likelihood_generator_loss)(
      fake)
  assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
  f64 = fake.astype(np.float64)
  np.testing.assert_allclose(float(value), -0.5 * np.mean(np.exp(f64)),
                             rtol=1e-5)
  np.testing.assert_allclose(np.asarray(grad), -0.5 * np.exp(f64) / fake.size,
                             rtol=1e-5)


def test_maximum_likelihood_overflows_above_88_documented():
  """Documents the limitation: exp(l) overflows float32 past ~88, so the ML cost is -inf."""
  # The maximum-likelihood cost is not a cross-entropy and has no stable
  # rewriting; callers must keep D's logits moderate (see its docstring).
  value = losses.maximum_likelihood_generator_loss(
      np.array([100.0], np.float32))
  assert np.isneginf(float(value))


# ----------------------------------------------------------------------------
# 3. jit, grad and vmap.
# ----------------------------------------------------------------------------


def _random_args(name, rng, real_shape, fake_shape, weighted):
  real = rng.normal(0, 2, real_shape)
  fake = rng.normal(0, 2, fake_shape)
  rw = rng.uniform(0.1, 2, real_shape[-1:]) if weighted else None
  fw = rng.uniform(0.1, 2, fake_shape) if weighted else None
  return real, fake, rw, fw


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_under_jit_equals_eager(name):
  """jax.jit(loss)(args) = loss(args), with weights and with fake_fraction traced."""
  rng = np.random.default_rng(21)
  real, fake, rw, fw = _random_args(name, rng, (3, 5), (4, 5), True)
  fn, _, nargs, takes_pi = LOSSES[name]
  hyper = {"fake_fraction": 0.3} if takes_pi else {}
  with jax.enable_x64(True):
    if nargs == 2:
      eager = fn(real, fake, real_weights=rw, fake_weights=fw, **hyper)
      # A Python float kwarg is traced under jit (not checked, not baked in).
      jitted = jax.jit(fn)(real, fake, real_weights=rw, fake_weights=fw,
                           **hyper)
    else:
      eager = fn(fake, fake_weights=fw)
      jitted = jax.jit(fn)(fake, fake_weights=fw)
  np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-12)
  want = _call(name, real, fake, rw, fw, impl=False,
               **({"pi": 0.3} if takes_pi else {}))
  np.testing.assert_allclose(float(jitted), want, rtol=1e-5)


def _central_difference(f, x, h=1e-6):
  x = np.array(x, np.float64)
  grad = np.zeros_like(x)
  for i in np.ndindex(x.shape):
    up, down = x.copy(), x.copy()
    up[i] += h
    down[i] -= h
    grad[i] = (f(up) - f(down)) / (2 * h)
  return grad


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_gradient_matches_finite_differences_of_formula(name, weighted):
  """jax.grad of each loss w.r.t. each logit argument = central differences of its formula."""
  rng = np.random.default_rng(31)
  real, fake, rw, fw = _random_args(name, rng, (2, 3), (3,), weighted)
  fn, ref, nargs, takes_pi = LOSSES[name]
  hyper = {"fake_fraction": 0.3} if takes_pi else {}
  ref_hyper = {"pi": 0.3} if takes_pi else {}
  if name == "discriminator_loss":
    hyper["label_smoothing"] = ref_hyper["a"] = 0.1
  with jax.enable_x64(True):
    if nargs == 2:
      g_real, g_fake = jax.grad(
          lambda r, f: fn(r, f, real_weights=rw, fake_weights=fw, **hyper),
          argnums=(0, 1))(real, fake)
      want_real = _central_difference(
          lambda r: ref(r, fake, rw, fw, **ref_hyper), real)
      np.testing.assert_allclose(np.asarray(g_real), want_real, rtol=1e-6,
                                 atol=1e-9)
    else:
      g_fake = jax.grad(lambda f: fn(f, fake_weights=fw))(fake)
  if nargs == 2:
    want_fake = _central_difference(
        lambda f: ref(real, f, rw, fw, **ref_hyper), fake)
  else:
    want_fake = _central_difference(lambda f: ref(f, fw), fake)
  np.testing.assert_allclose(np.asarray(g_fake), want_fake, rtol=1e-6,
                             atol=1e-9)


@pytest.mark.parametrize("name,weighted",
                         [(n, True) for n in LOSS_NAMES] +
                         [("discriminator_loss", False)])
def test_vmap_over_leading_axis_gives_per_row_losses(name, weighted):
  """vmap(loss) over a leading batch axis = [loss(row_i) for each row i]."""
  rng = np.random.default_rng(41)
  real, fake = rng.normal(0, 2, (4, 3, 5)), rng.normal(0, 2, (4, 2))
  rw = rng.uniform(0.1, 2, (4, 5)) if weighted else None
  fw = rng.uniform(0.1, 2, (4, 2)) if weighted else None
  fn, _, nargs, _ = LOSSES[name]

  def per_row(r, f, rw_row, fw_row):
    if nargs == 2:
      return fn(r, f, real_weights=rw_row, fake_weights=fw_row)
    return fn(f, fake_weights=fw_row)

  in_axes = (0, 0, 0 if weighted else None, 0 if weighted else None)
  with jax.enable_x64(True):
    batched = jax.vmap(per_row, in_axes=in_axes)(real, fake, rw, fw)
    rows = [per_row(real[i], fake[i], None if rw is None else rw[i],
                    None if fw is None else fw[i]) for i in range(4)]
  assert batched.shape == (4,)
  np.testing.assert_allclose(np.asarray(batched),
                             np.array([float(r) for r in rows]), rtol=1e-12)
  # And the rows really differ (vmap did not broadcast one row's answer).
  assert np.ptp(np.asarray(batched)) > 1e-6


# ----------------------------------------------------------------------------
# 4. Import hygiene.
# ----------------------------------------------------------------------------

# The fresh-interpreter import check lives in tests/test_imports.py.


# ----------------------------------------------------------------------------
# 5. Lookup by name and argument validation.
# ----------------------------------------------------------------------------

EXPECTED_PAIRS = {
    "saturating": (losses.discriminator_loss,
                   losses.saturating_generator_loss, True),
    "non_saturating": (losses.discriminator_loss,
                       losses.non_saturating_generator_loss, True),
    "maximum_likelihood": (losses.discriminator_loss,
                           losses.maximum_likelihood_generator_loss, True),
    "least_squares": (losses.least_squares_discriminator_loss,
                      losses.least_squares_generator_loss, False),
    "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss,
              False),
    "wasserstein": (losses.wasserstein_discriminator_loss,
                    losses.wasserstein_generator_loss, False),
}


def test_names_are_the_six_losses():
  """losses.NAMES lists exactly the six configurable losses."""
  assert sorted(losses.NAMES) == sorted(EXPECTED_PAIRS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_get_returns_the_right_pair(name):
  """get(name) = (discriminator loss, generator loss, uses_cross_entropy) for that name."""
  pair = losses.get(name)
  want_d, want_g, want_bce = EXPECTED_PAIRS[name]
  assert pair.discriminator is want_d
  assert pair.generator is want_g
  assert pair.uses_cross_entropy is want_bce
  assert tuple(pair) == (want_d, want_g, want_bce)


@pytest.mark.parametrize("bad_name", ["minimax", "Hinge", "", None, 3])
def test_get_unknown_name_raises_listing_valid_names(bad_name):
  """get(unknown) raises ValueError whose message names every valid loss."""
  with pytest.raises(ValueError) as info:
    losses.get(bad_name)
  for name in EXPECTED_PAIRS:
    assert name in str(info.value)


@pytest.mark.parametrize("fake_fraction", [0.0, 1.0, -0.1, 1.5])
@pytest.mark.parametrize("name", DISCRIMINATOR_NAMES)
def test_fake_fraction_outside_open_unit_interval_raises(name, fake_fraction):
  """fake_fraction must lie in (0, 1); 0, 1 and beyond raise ValueError."""
  with pytest.raises(ValueError, match="fake_fraction"):
    LOSSES[name][0](np.zeros(3), np.zeros(3), fake_fraction=fake_fraction)


@pytest.mark.parametrize("label_smoothing", [1.0, -0.1, 1.5])
def test_label_smoothing_outside_half_open_unit_interval_raises(
    label_smoothing):
  """label_smoothing must lie in [0, 1); 1, negatives and beyond raise ValueError."""
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.discriminator_loss(np.zeros(3), np.zeros(3),
                              label_smoothing=label_smoothing)


@pytest.mark.parametrize("fake_fraction,label_smoothing",
                         [(1e-6, 0.0), (1 - 1e-6, 0.0), (0.5, 0.0),
                          (0.5, 0.999)])
def test_boundary_hyperparameters_are_accepted(fake_fraction, label_smoothing):
  """Values just inside (0,1) for pi and [0,1) for a are accepted and finite."""
  value = losses.discriminator_loss(np.ones(3), -np.ones(3),
                                    fake_fraction=fake_fraction,
                                    label_smoothing=label_smoothing)
  assert np.isfinite(float(value))


# ----------------------------------------------------------------------------
# 8. Change of variables: E_z log(1 - D(G(z))) = E_{x~p_g} log(1 - D(x)).
# ----------------------------------------------------------------------------

# G(z, xp) with z ~ N(0, 1): invertible and increasing; xp is np or jnp.
GENERATORS = {
    "affine": lambda z, xp: 1.5 * z + 0.5,
    "z_plus_half_tanh": lambda z, xp: z + 0.5 * xp.tanh(z),
    "sinh": lambda z, xp: xp.sinh(z),
}
D_WEIGHT, D_BIAS = 1.3, -0.4  # D(x) = sigmoid(1.3 x - 0.4)
Z_MAX = 7.5  # P(|z| > 7.5) ~ 6e-14


@functools.lru_cache(maxsize=1)
def _standard_normal_samples(n=200_000):
  """z ~ N(0, 1), float64, drawn once for all generators."""
  with jax.enable_x64(True):
    return jax.random.normal(jax.random.key(0), (n,), jnp.float64)


def _pushforward_density(generator, x):
  """p_g(x) = p_z(G^-1(x)) |dG^-1/dx|, G^-1 by bisection, dG^-1/dx = 1/G'(G^-1(x)).

  G' by a float64 central difference (relative error ~1e-8), so that the
  density is built without the code under test.
  """
  lo = np.full_like(x, -Z_MAX - 1.0)
  hi = np.full_like(x, Z_MAX + 1.0)
  for _ in range(80):
    mid = 0.5 * (lo + hi)
    below = generator(mid, np) < x
    lo = np.where(below, mid, lo)
    hi = np.where(below, hi, mid)
  z = 0.5 * (lo + hi)
  h = 1e-5
  g_prime = (generator(z + h, np) - generator(z - h, np)) / (2 * h)
  p_z = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
  return p_z / np.abs(g_prime), z


@pytest.mark.parametrize("gen_name", sorted(GENERATORS))
def test_change_of_variables_monte_carlo_matches_quadrature(gen_name):
  """E_z log(1-D(G(z))) (MC) = int p_g(x) log(1-D(x)) dx (quadrature), within 4 SE."""
  generator = GENERATORS[gen_name]
  with jax.enable_x64(True):
    x_lo, x_hi = generator(-Z_MAX, np), generator(Z_MAX, np)
    dx = 0.01
    x = np.arange(x_lo, x_hi + dx, dx)
    p_g, z_of_x = _pushforward_density(generator, x)
    # The pushed-forward density is a density: it integrates to 1.
    np.testing.assert_allclose(np.sum(p_g) * dx, 1.0, atol=1e-6)
    if gen_name == "affine":  # G(z) = 1.5 z + 0.5 pushes N(0,1) to N(0.5, 1.5^2).
      want = np.exp(-0.5 * ((x - 0.5) / 1.5)**2) / (1.5 * np.sqrt(2 * np.pi))
      np.testing.assert_allclose(p_g, want, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(generator(z_of_x, np), x, atol=1e-9)

    grid_logits = D_WEIGHT * x + D_BIAS
    # Weighted mean sum(p_g f)/sum(p_g) is the quadrature of E_{p_g} f.
    quadrature = float(losses.saturating_generator_loss(grid_logits,
                                                        fake_weights=p_g))
    np.testing.assert_allclose(
        quadrature, np.sum(p_g * -_softplus64(grid_logits)) * dx, rtol=1e-6)

    # The same integral in z-space (deterministic check of the theorem).
    z = np.linspace(-Z_MAX, Z_MAX, 20001)
    phi = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    z_space = np.sum(phi * -_softplus64(
        D_WEIGHT * generator(z, np) + D_BIAS)) * (z[1] - z[0])
    np.testing.assert_allclose(quadrature, z_space, rtol=1e-6)

    noise = _standard_normal_samples()
    n = noise.size
    fake_logits = D_WEIGHT * generator(noise, jnp) + D_BIAS
    monte_carlo = float(losses.saturating_generator_loss(fake_logits))
  per_sample = -_softplus64(np.asarray(fake_logits))
  np.testing.assert_allclose(monte_carlo, per_sample.mean(), rtol=1e-9)
  stderr = per_sample.std(ddof=1) / np.sqrt(n)
  assert stderr < 1e-2, "test would have no power"
  assert abs(monte_carlo - quadrature) < 4 * stderr, (monte_carlo, quadrature,
                                                      stderr)


# ----------------------------------------------------------------------------
# 10. Vanishing gradient of the saturating loss; not of the log-D trick.
# ----------------------------------------------------------------------------

REJECTED_LOGITS = [-5.0, -10.0, -20.0, -50.0]


def test_saturating_gradient_vanishes_as_d_rejects():
  """d/dl E log(1-sigma(l)) = -sigma(l) -> 0 as l -> -inf; |grad| < 1e-8 at l=-20."""
  with jax.enable_x64(True):
    grad = jax.grad(losses.saturating_generator_loss)
    grads = np.array([float(grad(jnp.float64(l))) for l in REJECTED_LOGITS])
  np.testing.assert_allclose(grads, -expit(np.array(REJECTED_LOGITS)),
                             rtol=1e-10)
  assert np.all(np.diff(np.abs(grads)) < 0)
  assert abs(grads[REJECTED_LOGITS.index(-20.0)]) < 1e-8
  assert abs(grads[-1]) < 1e-20


def test_non_saturating_gradient_tends_to_minus_one():
  """d/dl -E log sigma(l) = sigma(l) - 1 -> -1 as l -> -inf; within 1e-6 at l=-20."""
  with jax.enable_x64(True):
    grad = jax.grad(losses.non_saturating_generator_loss)
    grads = np.array([float(grad(jnp.float64(l))) for l in REJECTED_LOGITS])
  np.testing.assert_allclose(grads, expit(np.array(REJECTED_LOGITS)) - 1.0,
                             rtol=1e-10)
  assert abs(grads[REJECTED_LOGITS.index(-20.0)] + 1.0) < 1e-6
  assert np.all(np.abs(grads + 1.0) < 1e-2)


def test_per_sample_gradients_in_a_batch():
  """In a batch of n, d/dl_i of the saturating loss is -sigma(l_i)/n, of the log-D loss (sigma(l_i)-1)/n."""
  logits = np.array(REJECTED_LOGITS + [0.0, 3.0])
  with jax.enable_x64(True):
    g_sat = np.asarray(jax.grad(losses.saturating_generator_loss)(logits))
    g_ns = np.asarray(jax.grad(losses.non_saturating_generator_loss)(logits))
  n = logits.size
  np.testing.assert_allclose(g_sat, -expit(logits) / n, rtol=1e-10)
  np.testing.assert_allclose(g_ns, (expit(logits) - 1.0) / n, rtol=1e-10)
  # The rejected samples (l <= -20) get no signal from the saturating loss.
  assert np.all(np.abs(g_sat[2:4]) * n < 1e-8)
  assert np.all(np.abs(g_ns[2:4] * n + 1.0) < 1e-6)
