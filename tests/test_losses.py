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

# f-GAN (Nowozin et al. 2016, Table 2; jensen_shannon halved): the activation
# g_f and the conjugate f*, written naively in float64 from the table (not the
# closed forms of f*(g_f(v)) the implementation uses).
F_GAN_DIVERGENCES = ("kl", "reverse_kl", "pearson", "neyman",
                     "squared_hellinger", "jensen_shannon", "gan",
                     "total_variation")
NP_ACTIVATION = {
    "kl": lambda v: v,
    "reverse_kl": lambda v: -np.exp(-v),
    "pearson": lambda v: v,
    "neyman": lambda v: 1.0 - np.exp(-v),
    "squared_hellinger": lambda v: 1.0 - np.exp(-v),
    "jensen_shannon": lambda v: 0.5 * (np.log(2.0) - np.log(1.0 + np.exp(-v))),
    "gan": lambda v: -np.log(1.0 + np.exp(-v)),
    "total_variation": lambda v: 0.5 * np.tanh(v),
}
NP_CONJUGATE = {
    "kl": lambda t: np.exp(t - 1.0),
    "reverse_kl": lambda t: -1.0 - np.log(-t),
    "pearson": lambda t: 0.25 * t**2 + t,
    "neyman": lambda t: 2.0 - 2.0 * np.sqrt(1.0 - t),
    "squared_hellinger": lambda t: t / (1.0 - t),
    "jensen_shannon": lambda t: -0.5 * np.log(2.0 - np.exp(2.0 * t)),
    "gan": lambda t: -np.log(1.0 - np.exp(t)),
    "total_variation": lambda t: t,
}


def ref_f_gan_d(r, f, rw=None, fw=None, *, divergence):
  """-(E g_f(v_real) - E f*(g_f(v_fake)))."""
  g, conjugate = NP_ACTIVATION[divergence], NP_CONJUGATE[divergence]
  return -(np_wmean(g(r), rw) - np_wmean(conjugate(g(f)), fw))


def ref_f_gan_g(f, fw=None, *, divergence, kind):
  """-E f*(g_f(v_fake)) (kind 'conjugate') or -E g_f(v_fake) ('activation')."""
  t = NP_ACTIVATION[divergence](f)
  return -np_wmean(NP_CONJUGATE[divergence](t) if kind == "conjugate" else t,
                   fw)


for _d in F_GAN_DIVERGENCES:
  LOSSES[f"f_gan_discriminator_loss[{_d}]"] = (
      functools.partial(losses.f_gan_discriminator_loss, divergence=_d),
      functools.partial(ref_f_gan_d, divergence=_d), 2, False)
  for _kind in ("conjugate", "activation"):
    LOSSES[f"f_gan_generator_loss[{_d},{_kind}]"] = (
        functools.partial(losses.f_gan_generator_loss, divergence=_d,
                          kind=_kind),
        functools.partial(ref_f_gan_g, divergence=_d, kind=_kind), 1, False)

LOSS_NAMES = sorted(LOSSES)
F_GAN_D_NAMES = [n for n in LOSS_NAMES if n.startswith("f_gan_discriminator")]
F_GAN_G_NAMES = [n for n in LOSS_NAMES if n.startswith("f_gan_generator")]
# The f-GAN generator losses are the discriminator's two terms (tested in
# full there), so the slower generic tests run them only through the
# discriminator loss: gradients for every divergence (CORE_NAMES); jit,
# which does not depend on the divergence, for neyman (its own code path)
# only (BASIC_NAMES); vmap for the original losses only.
ORIGINAL_NAMES = [n for n in LOSS_NAMES if not n.startswith("f_gan")]
CORE_NAMES = ORIGINAL_NAMES + F_GAN_D_NAMES
BASIC_NAMES = ORIGINAL_NAMES + ["f_gan_discriminator_loss[neyman]"]
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


def _formula_cases():
  """(name, shape index, weight mode) for the formula test.

  Every pair for the original losses; a few for the f-GAN losses (the G
  losses are the D loss's two terms).
  """
  modes = ["none", "full", "broadcast", "real_only"]
  for name in LOSS_NAMES:
    for shape_index in range(len(SHAPES)):
      for mode_index, mode in enumerate(modes):
        # f-GAN: real [7] and fake [3, 5] (shape handling is shared with
        # the losses above); D with full and broadcast weights, G with one.
        if name.startswith("f_gan") and (shape_index != 1 or mode not in (
            "full", "broadcast")):
          continue
        if name in F_GAN_G_NAMES and (mode == "full") != name.endswith(
            "conjugate]"):
          continue
        yield name, shape_index, mode


@pytest.mark.parametrize("name,shape_index,weight_mode",
                         list(_formula_cases()))
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


@pytest.mark.parametrize("name", BASIC_NAMES)
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


@pytest.mark.parametrize("name,weighted",
                         [(n, w) for n in ORIGINAL_NAMES for w in (False, True)]
                         + [(n, True) for n in F_GAN_D_NAMES])
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
                         [(n, True) for n in ORIGINAL_NAMES] +
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

BCE_OPTIONS = ("fake_fraction", "label_smoothing")
# name -> (discriminator, generator, uses_cross_entropy, generator_needs_real,
#          discriminator_options, generator_options)
EXPECTED_PAIRS = {
    "saturating": (losses.discriminator_loss,
                   losses.saturating_generator_loss, True, False, BCE_OPTIONS,
                   ()),
    "non_saturating": (losses.discriminator_loss,
                       losses.non_saturating_generator_loss, True, False,
                       BCE_OPTIONS, ()),
    "maximum_likelihood": (losses.discriminator_loss,
                           losses.maximum_likelihood_generator_loss, True,
                           False, BCE_OPTIONS, ()),
    "least_squares": (losses.least_squares_discriminator_loss,
                      losses.least_squares_generator_loss, False, False,
                      ("fake_fraction",), ()),
    "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss,
              False, False, ("fake_fraction",), ()),
    "wasserstein": (losses.wasserstein_discriminator_loss,
                    losses.wasserstein_generator_loss, False, False,
                    ("fake_fraction",), ()),
    "f_gan": (losses.f_gan_discriminator_loss, losses.f_gan_generator_loss,
              False, False, ("divergence",), ("divergence",)),
    "relativistic": (losses.relativistic_discriminator_loss,
                     losses.relativistic_generator_loss, False, True, (), ()),
}
HYPERPARAMETERS = {"fake_fraction": 0.3, "label_smoothing": 0.1,
                   "divergence": "kl"}


def test_names_are_the_eight_losses():
  """losses.NAMES lists the six original losses first, then f_gan, relativistic."""
  assert losses.NAMES == ("saturating", "non_saturating", "maximum_likelihood",
                          "least_squares", "hinge", "wasserstein", "f_gan",
                          "relativistic")
  assert sorted(losses.NAMES) == sorted(EXPECTED_PAIRS)
  assert losses.F_GAN_DIVERGENCES == F_GAN_DIVERGENCES


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_get_returns_the_right_pair(name):
  """get(name) = its six LossPair fields, the original three first."""
  pair = losses.get(name)
  want = EXPECTED_PAIRS[name]
  assert pair.discriminator is want[0]
  assert pair.generator is want[1]
  assert pair.uses_cross_entropy is want[2]
  assert pair.generator_needs_real is want[3]
  assert tuple(pair) == want
  assert pair._fields[:3] == ("discriminator", "generator",
                              "uses_cross_entropy")


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_pair_is_callable_generically_with_its_options(name):
  """The step's generic call works: D(real, fake, **d_opts), G(fake | real, fake, **g_opts)."""
  pair = losses.get(name)
  real, fake = np.array([0.3, -1.2, 2.0]), np.array([-0.4, 0.8, 1.1])
  d_options = {k: HYPERPARAMETERS[k] for k in pair.discriminator_options}
  g_options = {k: HYPERPARAMETERS[k] for k in pair.generator_options}
  d_loss = pair.discriminator(real, fake, **d_options)
  if pair.generator_needs_real:
    g_loss = pair.generator(real, fake, **g_options)
  else:
    g_loss = pair.generator(fake, **g_options)
  assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
  assert set(pair.discriminator_options + pair.generator_options) <= set(
      HYPERPARAMETERS)


def test_loss_pair_positional_construction_keeps_defaults():
  """LossPair(d, g, bce) still works: the new fields default to False, (), ()."""
  pair = losses.LossPair(losses.hinge_discriminator_loss,
                         losses.hinge_generator_loss, False)
  assert pair.generator_needs_real is False
  assert pair.discriminator_options == () and pair.generator_options == ()


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


# ----------------------------------------------------------------------------
# 11. f-GAN: activations, conjugates, the closed forms, and float32 limits.
# ----------------------------------------------------------------------------

# In-domain points of each conjugate (Table 2's dom f*), and points outside.
CONJUGATE_DOMAIN = {
    "kl": (np.linspace(-5.0, 5.0, 11), np.array([])),
    "reverse_kl": (-np.geomspace(1e-3, 1e2, 11), np.array([0.0, 0.5, 3.0])),
    "pearson": (np.linspace(-9.0, 9.0, 11), np.array([])),
    "neyman": (np.linspace(-20.0, 1.0, 11), np.array([1.0 + 1e-9, 2.0])),
    "squared_hellinger": (np.linspace(-20.0, 0.99, 11), np.array([1.0, 4.0])),
    "jensen_shannon": (np.linspace(-10.0, 0.34, 11),
                       np.array([0.5 * np.log(2.0), 1.0])),
    "gan": (-np.geomspace(1e-3, 30.0, 11), np.array([0.0, 0.2])),
    "total_variation": (np.linspace(-0.5, 0.5, 11),
                        np.array([-0.5 - 1e-9, 0.7, -3.0])),
}


@pytest.mark.parametrize("divergence", F_GAN_DIVERGENCES)
def test_f_gan_conjugate_matches_table_and_is_inf_outside_domain(divergence):
  """f*(t) = Table 2's formula on dom f* (rel 1e-12); +inf with zero gradient outside."""
  inside, outside = CONJUGATE_DOMAIN[divergence]
  t = np.concatenate([inside, outside])
  conjugate = lambda t: losses.f_gan_conjugate(t, divergence)
  # Elementwise, so the gradient of the sum is the per-element one.
  both = jax.jit(lambda t: (conjugate(t),
                            jax.grad(lambda t: jnp.sum(conjugate(t)))(t)))
  with jax.enable_x64(True):
    value, grad = map(np.asarray, both(t))
  np.testing.assert_allclose(value[:inside.size], NP_CONJUGATE[divergence](
      inside), rtol=1e-12, atol=1e-15)
  assert np.all(np.isposinf(value[inside.size:]))
  np.testing.assert_array_equal(grad[inside.size:], 0.0)
  # Inside, the gradient is finite except neyman's +inf at the edge t = 1.
  assert not np.any(np.isnan(grad))


@pytest.mark.parametrize("divergence", F_GAN_DIVERGENCES)
def test_f_gan_activation_matches_table_and_lands_in_domain(divergence):
  """g_f(v) = Table 2's formula (rel 1e-12), increasing, and f*(g_f(v)) is finite."""
  v = np.linspace(-8.0, 8.0, 33)
  both = jax.jit(lambda v: (
      losses.f_gan_activation(v, divergence),
      losses.f_gan_conjugate(losses.f_gan_activation(v, divergence),
                             divergence)))
  with jax.enable_x64(True):
    t, conjugate = map(np.asarray, both(v))
  np.testing.assert_allclose(t, NP_ACTIVATION[divergence](v), rtol=1e-12,
                             atol=1e-15)
  assert np.all(np.diff(t) > 0)
  assert np.all(np.isfinite(conjugate))


def test_gan_closed_form_stays_exact_where_the_composition_overflows():
  """For v >~ 104 (float32), g_f(v) = log sigmoid(v) rounds to 0 = the edge of dom f*, so f*(g_f(v)) = +inf; softplus(v) = v."""
  # (The closed forms equal the composition at moderate v: the formula test
  # compares each G loss with the naive f*(g_f(v)) in float64.)
  v = np.array([200.0, 1e4], np.float32)
  closed = np.array([-float(losses.f_gan_generator_loss(x, divergence="gan"))
                     for x in v])
  composed = np.asarray(losses.f_gan_conjugate(
      losses.f_gan_activation(v, "gan"), "gan"))
  np.testing.assert_allclose(closed, v, rtol=1e-7)
  assert np.all(np.isposinf(composed))


def test_f_gan_gan_member_is_the_original_gan():
  """'gan': D loss = discriminator_loss = -value_function; G conjugate = saturating, activation = non-saturating (rel 1e-12)."""
  rng = np.random.default_rng(51)
  real, fake = rng.normal(0, 3, (4, 3)), rng.normal(0, 3, (5,))
  rw, fw = rng.uniform(0.1, 2, (3,)), rng.uniform(0.1, 2, (5,))
  @jax.jit
  def all_losses(real, fake, rw, fw):
    weights = dict(real_weights=rw, fake_weights=fw)
    g_gan = functools.partial(losses.f_gan_generator_loss, fake,
                              divergence="gan", fake_weights=fw)
    return (
        losses.f_gan_discriminator_loss(real, fake, divergence="gan",
                                        **weights),
        losses.discriminator_loss(real, fake, **weights),
        losses.value_function(real, fake, **weights),
        g_gan(), g_gan(kind="activation"),
        losses.saturating_generator_loss(fake, fake_weights=fw),
        losses.non_saturating_generator_loss(fake, fake_weights=fw),
        losses.f_gan_discriminator_loss(real, fake,
                                        divergence="jensen_shannon",
                                        **weights))
  with jax.enable_x64(True):
    (f_gan, bce, value, g_conjugate, g_activation, saturating,
     non_saturating, jensen_shannon) = map(float, all_losses(real, fake, rw,
                                                             fw))
  np.testing.assert_allclose(f_gan, bce, rtol=1e-12)
  np.testing.assert_allclose(f_gan, -value, rtol=1e-12)
  np.testing.assert_allclose(g_conjugate, saturating, rtol=1e-12)
  np.testing.assert_allclose(g_activation, non_saturating, rtol=1e-12)
  # The halved JS member's bound is (V + log 4) / 2: JSD's bound, not 2 JSD's.
  np.testing.assert_allclose(-jensen_shannon, 0.5 * (-f_gan + np.log(4.0)),
                             rtol=1e-12)


def _softplus(x):
  return np.logaddexp(0.0, x)


# Stable float64 per-side terms of the f-GAN D loss and their derivatives:
# R(v) = -g_f(v) (real side), F(v) = f*(g_f(v)) (fake side).
STABLE_TERMS = {
    "kl": (lambda v: -v, lambda v: -np.ones_like(v),
           lambda v: np.exp(v - 1.0), lambda v: np.exp(v - 1.0)),
    "reverse_kl": (lambda v: np.exp(-v), lambda v: -np.exp(-v),
                   lambda v: v - 1.0, np.ones_like),
    "pearson": (lambda v: -v, lambda v: -np.ones_like(v),
                lambda v: v + 0.25 * v**2, lambda v: 1.0 + 0.5 * v),
    "neyman": (lambda v: np.expm1(-v), lambda v: -np.exp(-v),
               lambda v: -2.0 * np.expm1(-0.5 * v),
               lambda v: np.exp(-0.5 * v)),
    "squared_hellinger": (lambda v: np.expm1(-v), lambda v: -np.exp(-v),
                          np.expm1, np.exp),
    "jensen_shannon": (lambda v: 0.5 * (_softplus(-v) - np.log(2.0)),
                       lambda v: -0.5 * expit(-v),
                       lambda v: 0.5 * (_softplus(v) - np.log(2.0)),
                       lambda v: 0.5 * expit(v)),
    "gan": (lambda v: _softplus(-v), lambda v: -expit(-v), _softplus, expit),
    "total_variation": (lambda v: -0.5 * np.tanh(v),
                        lambda v: -0.5 / np.cosh(v)**2,
                        lambda v: 0.5 * np.tanh(v),
                        lambda v: 0.5 / np.cosh(v)**2),
}

# The documented non-finite values at outputs of +-1e4 (float32), as
# {(divergence, case): value}; every other (divergence, case) is finite.
F_GAN_D_NONFINITE = {
    ("kl", "confident_wrong"): np.inf, ("kl", "mixed"): np.inf,
    ("reverse_kl", "confident_wrong"): np.inf,
    ("reverse_kl", "mixed"): np.inf,
    ("neyman", "confident_right"): -np.inf,
    ("neyman", "confident_wrong"): np.inf,
    ("neyman", "mixed"): np.inf,  # +inf - inf resolved by log-magnitudes
    ("squared_hellinger", "confident_wrong"): np.inf,
    ("squared_hellinger", "mixed"): np.inf,
}
# (divergence, kind, case) -> value for the G losses on the fake outputs.
F_GAN_G_NONFINITE = {
    ("kl", "conjugate", "confident_wrong"): -np.inf,
    ("kl", "conjugate", "mixed"): -np.inf,
    ("squared_hellinger", "conjugate", "confident_wrong"): -np.inf,
    ("squared_hellinger", "conjugate", "mixed"): -np.inf,
    ("neyman", "conjugate", "confident_right"): np.inf,
    ("neyman", "conjugate", "mixed"): np.inf,
    ("reverse_kl", "activation", "confident_right"): np.inf,
    ("reverse_kl", "activation", "mixed"): np.inf,
    ("neyman", "activation", "confident_right"): np.inf,
    ("neyman", "activation", "mixed"): np.inf,
    ("squared_hellinger", "activation", "confident_right"): np.inf,
    ("squared_hellinger", "activation", "mixed"): np.inf,
}


def _assert_float32_close(got, want, rtol=1e-6, atol=1e-6):
  """got (float32) = want (float64 cast to float32: overflow -> inf); no NaN."""
  got = np.asarray(got)
  assert got.dtype == np.float32 and not np.any(np.isnan(got))
  with np.errstate(over="ignore"):
    want = np.asarray(want, np.float64).astype(np.float32)
  np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
  np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
  finite = np.isfinite(want)
  np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=atol)


@pytest.mark.slow  # 64 cases, each compiling value and gradient.
@pytest.mark.parametrize("case", sorted(EXTREMES))
@pytest.mark.parametrize("divergence", F_GAN_DIVERGENCES)
def test_f_gan_discriminator_loss_at_outputs_1e4(divergence, case):
  """f-GAN D loss at float32 outputs +-1e4: exact where finite, documented +-inf elsewhere, never NaN."""
  real, fake = EXTREMES[case]
  value, grads = jax.value_and_grad(
      lambda r, f: losses.f_gan_discriminator_loss(r, f, divergence=divergence),
      argnums=(0, 1))(real, fake)
  r64, f64 = real.astype(np.float64), fake.astype(np.float64)
  real_term, real_grad, fake_term, fake_grad = STABLE_TERMS[divergence]
  with np.errstate(over="ignore", invalid="ignore"):
    want = np.mean(real_term(r64)) + np.mean(fake_term(f64))
    if np.isnan(want):  # neyman: +inf - inf; the larger log-magnitude wins.
      assert divergence == "neyman"
      log_real = np.logaddexp.reduce(-r64) - np.log(r64.size)
      log_fake = np.log(2.0) + np.logaddexp.reduce(-0.5 * f64) - np.log(
          f64.size)
      want = np.inf if log_real > log_fake else -np.inf
    want_grads = (real_grad(r64) / r64.size, fake_grad(f64) / f64.size)
  _assert_float32_close(value, want)
  for got, expected in zip(grads, want_grads):
    _assert_float32_close(got, expected)
  documented = F_GAN_D_NONFINITE.get((divergence, case))
  if documented is None:
    assert np.isfinite(float(value))
  else:
    assert float(value) == documented


@pytest.mark.parametrize("kind", ["conjugate", "activation"])
@pytest.mark.parametrize("divergence", F_GAN_DIVERGENCES)
def test_f_gan_generator_loss_at_outputs_1e4(divergence, kind):
  """f-GAN G losses at float32 outputs +-1e4: exact where finite, documented +-inf elsewhere, never NaN."""
  real_term, real_grad, fake_term, fake_grad = STABLE_TERMS[divergence]
  # -E f*(g(v)) = -E F(v); -E g(v) = E R(v).
  term, grad = ((lambda v: -fake_term(v), lambda v: -fake_grad(v))
                if kind == "conjugate" else (real_term, real_grad))
  loss = jax.value_and_grad(lambda f: losses.f_gan_generator_loss(
      f, divergence=divergence, kind=kind))
  for case in sorted(EXTREMES):
    fake = EXTREMES[case][1]
    value, g = loss(fake)
    f64 = fake.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
      _assert_float32_close(value, np.mean(term(f64)))
      _assert_float32_close(g, grad(f64) / f64.size)
    documented = F_GAN_G_NONFINITE.get((divergence, kind, case))
    if documented is None:
      assert np.isfinite(float(value)), case
    else:
      assert float(value) == documented, case


@pytest.mark.parametrize("divergence,threshold,side,sign",
                         [("kl", 89.72, "fake", 1),
                          ("reverse_kl", -88.72, "real", -1),
                          ("squared_hellinger", -88.72, "real", -1),
                          ("squared_hellinger", 88.72, "fake", 1),
                          ("neyman", -88.72, "real", -1),
                          ("neyman", -176.05, "fake", -1)])
def test_f_gan_overflow_thresholds_are_as_documented(divergence, threshold,
                                                     side, sign):
  """The D loss is finite just inside each documented float32 threshold and +-inf just past it."""
  def loss(v):
    real, fake = (np.float32(v), np.float32(0.0)) if side == "real" else (
        np.float32(0.0), np.float32(v))
    return float(losses.f_gan_discriminator_loss(real, fake,
                                                 divergence=divergence))
  inside, outside = threshold - sign * 0.02, threshold + sign * 0.02
  assert np.isfinite(loss(inside))
  want = np.inf if (side == "real" or divergence != "neyman") else -np.inf
  assert loss(outside) == want


# ----------------------------------------------------------------------------
# 12. Relativistic pairing (RpGAN).
# ----------------------------------------------------------------------------


def ref_relativistic(first, second, w=None):
  """E_i log(1 + exp(-(first_i - second_i))) = -E log sigma(first - second)."""
  return np_wmean(np.log(1.0 + np.exp(-(first - second))), w)


@pytest.mark.parametrize("shape,weight_mode",
                         [((), "none"), ((7,), "full"), ((3, 5), "broadcast"),
                          ((2, 3, 4), "full")])
def test_relativistic_losses_match_formula(shape, weight_mode):
  """D = E softplus(-(r_i - f_i)), G = E softplus(-(f_i - r_i)) over pairs, rel 1e-10, eager and jitted."""
  rng = np.random.default_rng(61 + len(shape))
  real, fake = rng.normal(0, 2, shape), rng.normal(0, 2, shape)
  w = _weights(rng, shape, weight_mode)
  with jax.enable_x64(True):
    d = float(losses.relativistic_discriminator_loss(real, fake, weights=w))
    g = float(losses.relativistic_generator_loss(real, fake, weights=w))
    d_jit = float(jax.jit(losses.relativistic_discriminator_loss)(
        real, fake, weights=w))
  np.testing.assert_allclose(d, ref_relativistic(real, fake, w), rtol=1e-10)
  np.testing.assert_allclose(g, ref_relativistic(fake, real, w), rtol=1e-10)
  np.testing.assert_allclose(d_jit, d, rtol=1e-12)


def test_relativistic_losses_pair_elementwise():
  """Permuting both arrays together leaves the losses unchanged; permuting only the fakes does not."""
  rng = np.random.default_rng(62)
  real, fake = rng.normal(0, 2, (9,)), rng.normal(0, 2, (9,))
  perm = rng.permutation(9)
  with jax.enable_x64(True):
    for fn in (losses.relativistic_discriminator_loss,
               losses.relativistic_generator_loss):
      base = float(fn(real, fake))
      np.testing.assert_allclose(float(fn(real[perm], fake[perm])), base,
                                 rtol=1e-12)
      assert abs(float(fn(real, fake[perm])) - base) > 1e-3
    # And the generator's loss is the discriminator's with the roles swapped.
    np.testing.assert_allclose(
        float(losses.relativistic_generator_loss(real, fake)),
        float(losses.relativistic_discriminator_loss(fake, real)), rtol=1e-12)


def test_relativistic_gradients_match_finite_differences():
  """jax.grad of both relativistic losses (weighted) = central differences of the formula."""
  rng = np.random.default_rng(63)
  real, fake = rng.normal(0, 2, (2, 3)), rng.normal(0, 2, (2, 3))
  w = rng.uniform(0.1, 2, (3,))
  with jax.enable_x64(True):
    for fn, first_is_real in ((losses.relativistic_discriminator_loss, True),
                              (losses.relativistic_generator_loss, False)):
      g_real, g_fake = jax.grad(lambda r, f: fn(r, f, weights=w),
                                argnums=(0, 1))(real, fake)

      def ref(r, f):
        return ref_relativistic(r, f, w) if first_is_real else (
            ref_relativistic(f, r, w))
      np.testing.assert_allclose(
          np.asarray(g_real), _central_difference(lambda r: ref(r, fake), real),
          rtol=1e-6, atol=1e-9)
      np.testing.assert_allclose(
          np.asarray(g_fake), _central_difference(lambda f: ref(real, f), fake),
          rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(EXTREMES))
def test_relativistic_losses_finite_at_logits_1e4(case):
  """float32 pairs with |r - f| up to 2e4: exact, finite values and gradients."""
  real, fake = EXTREMES[case]
  for fn, sign in ((losses.relativistic_discriminator_loss, 1.0),
                   (losses.relativistic_generator_loss, -1.0)):
    value, (g_real, g_fake) = jax.value_and_grad(fn, argnums=(0, 1))(real,
                                                                     fake)
    d = sign * (real.astype(np.float64) - fake.astype(np.float64))
    _assert_float32_close(value, np.mean(_softplus(-d)))
    _assert_float32_close(g_real, -sign * expit(-d) / d.size, atol=1e-7)
    _assert_float32_close(g_fake, sign * expit(-d) / d.size, atol=1e-7)


# ----------------------------------------------------------------------------
# 13. Gradient penalty (WGAN-GP).
# ----------------------------------------------------------------------------


def test_gradient_penalty_of_a_linear_critic():
  """critic(x) = w . x: grad = w everywhere, so the penalty is (||w|| - target)^2 (rel 1e-12), eager and jitted, outputs [n] or [n, 1]."""
  rng = np.random.default_rng(71)
  real, fake = rng.normal(size=(6, 2, 3)), rng.normal(size=(6, 2, 3))
  w = rng.normal(size=(2, 3))
  flat = lambda x: jnp.sum(x * w, axis=(1, 2))
  column = lambda x: flat(x)[:, None]
  with jax.enable_x64(True):
    eager = float(losses.gradient_penalty(flat, real, fake, jax.random.key(0)))
    jitted = float(jax.jit(lambda r, f, k: losses.gradient_penalty(
        column, r, f, k, target=7.0))(real, fake, jax.random.key(0)))
  np.testing.assert_allclose(eager, (np.linalg.norm(w) - 1.0)**2, rtol=1e-12)
  np.testing.assert_allclose(jitted, (np.linalg.norm(w) - 7.0)**2, rtol=1e-12)


def _np_critic(x, params):
  """A small nonlinear critic in float64 NumPy: sum_k a_k tanh(x W_k + b_k)."""
  w, b, a = params
  return np.tanh(x.reshape(x.shape[0], -1) @ w + b) @ a


def _jnp_critic(params):
  w, b, a = params
  return lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w + b) @ a


def test_gradient_penalty_of_a_nonlinear_critic_matches_finite_differences():
  """real = fake (so x^ = real for every a): penalty = E(||FD grad critic(x_i)|| - 1)^2, rel 1e-8."""
  rng = np.random.default_rng(72)
  x = rng.normal(size=(5, 2, 2))
  params = (rng.normal(size=(4, 3)), rng.normal(size=(3,)),
            rng.normal(size=(3,)))
  fd = np.stack([_central_difference(
      lambda xi: float(_np_critic(xi[None], params)[0]), x[i], h=1e-5)
                 for i in range(5)])
  want = np.mean((np.linalg.norm(fd.reshape(5, -1), axis=1) - 1.0)**2)
  with jax.enable_x64(True):
    got = float(jax.jit(lambda x: losses.gradient_penalty(
        _jnp_critic(params), x, x, jax.random.key(1)))(x))
  np.testing.assert_allclose(got, want, rtol=1e-8)


def test_gradient_penalty_parameter_gradient_matches_finite_differences():
  """d penalty / d critic params (double backprop, real != fake, fixed key) = central differences."""
  rng = np.random.default_rng(73)
  real, fake = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
  w, b, a = rng.normal(size=(3, 2)), rng.normal(size=(2,)), rng.normal(size=2)
  key = jax.random.key(2)
  with jax.enable_x64(True):
    penalty = jax.jit(lambda w_: losses.gradient_penalty(
        _jnp_critic((w_, b, a)), real, fake, key))
    grad = np.asarray(jax.jit(jax.grad(penalty))(w))
    fd = _central_difference(lambda w_: float(penalty(w_)), w)
  np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_gradient_penalty_draws_one_uniform_per_example():
  """With real = 0, fake = 1 and critic(x) = sum of halved squares, grad = a_i per coordinate.

  c1 = x_00^2 / 2 gives E(a - t)^2 for the (0,0) coordinate's a; c2 = (x_00^2
  + x_12^2) / 2 gives E(||(a_00, a_12)|| - 1)^2, which equals
  2 E a^2 - 2 sqrt(2) E a + 1 only if both coordinates share one a per
  example. The a lie in (0, 1) and look uniform (mean 1/2, E a^2 = 1/3)
  and change with the key.
  """
  n = 2000
  real, fake = np.zeros((n, 2, 3)), np.ones((n, 2, 3))
  c1 = lambda x: 0.5 * x[:, 0, 0]**2
  c2 = lambda x: 0.5 * (x[:, 0, 0]**2 + x[:, 1, 2]**2)

  @jax.jit
  def penalties(key):
    def gp(critic, target):
      return losses.gradient_penalty(critic, real, fake, key, target=target)
    return gp(c1, 0.0), gp(c1, 1.0), gp(c2, 1.0)

  with jax.enable_x64(True):
    m2, at_one, both = map(float, penalties(jax.random.key(3)))
    other_key = float(penalties(jax.random.key(4))[0])
  m1 = 0.5 * (m2 + 1.0 - at_one)
  np.testing.assert_allclose(both, 2 * m2 - 2 * np.sqrt(2) * m1 + 1.0,
                             rtol=1e-10)
  assert 0.0 < m1 < m2**0.5 < 1.0
  assert abs(m1 - 0.5) < 4 * np.sqrt(1 / 12 / n)
  assert abs(m2 - 1 / 3) < 4 * np.sqrt(4 / 45 / n)
  assert other_key != m2


def test_gradient_penalty_gradient_is_finite_where_the_input_gradient_is_zero():
  """A critic with w = 0 has grad_x = 0: penalty = target^2 and d/dw is 0, not NaN (safe norm)."""
  real, fake = np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)

  def penalty(w):
    return losses.gradient_penalty(lambda x: x @ w, real, fake,
                                   jax.random.key(0))
  value, grad = jax.jit(jax.value_and_grad(penalty))(jnp.zeros(2))
  assert float(value) == 1.0
  np.testing.assert_array_equal(np.asarray(grad), 0.0)
  value, grad = jax.value_and_grad(losses.gradient_norm_penalty)(
      jnp.zeros((3, 4)))
  assert float(value) == 1.0
  np.testing.assert_array_equal(np.asarray(grad), 0.0)


def test_gradient_norm_penalty_matches_formula():
  """gradient_norm_penalty(g) = E_i (||g_i|| - target)^2, norm over all non-batch axes."""
  rng = np.random.default_rng(74)
  g = rng.normal(size=(5, 2, 3))
  with jax.enable_x64(True):
    got = float(losses.gradient_norm_penalty(g, target=0.7))
  want = np.mean((np.sqrt(np.sum(g**2, axis=(1, 2))) - 0.7)**2)
  np.testing.assert_allclose(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------
# 14. Bad input: a defined value or a clear error, never a silent NaN.
# ----------------------------------------------------------------------------

RELATIVISTIC = {
    "relativistic_discriminator_loss": losses.relativistic_discriminator_loss,
    "relativistic_generator_loss": losses.relativistic_generator_loss,
}


def _argument_names(name):
  """(real argument, fake argument) names of loss `name` (f-GAN: outputs)."""
  noun = "outputs" if name.startswith("f_gan") else "logits"
  return f"real_{noun}", f"fake_{noun}"


@pytest.mark.parametrize("name", LOSS_NAMES + sorted(RELATIVISTIC))
def test_empty_inputs_raise_naming_the_argument(name):
  """A size-0 argument raises ValueError naming it, eagerly and under jit."""
  real_name, fake_name = _argument_names(name)
  empty, full = np.zeros((0, 3)), np.ones((2, 3))
  if name in RELATIVISTIC:
    fn = RELATIVISTIC[name]
    cases = [((empty, empty), real_name)]
  elif LOSSES[name][2] == 2:
    fn = LOSSES[name][0]
    cases = [((empty, full), real_name), ((full, empty), fake_name)]
  else:
    fn = LOSSES[name][0]
    cases = [((empty,), fake_name)]
  for args, arg_name in cases:
    with pytest.raises(ValueError, match=arg_name):
      fn(*args)
    with pytest.raises(ValueError, match=arg_name):
      jax.jit(fn)(*args)


@pytest.mark.parametrize("bad", ["negative", "all_zero", "nan", "inf"])
@pytest.mark.parametrize("name", LOSS_NAMES + sorted(RELATIVISTIC))
def test_concrete_bad_weights_raise_naming_the_argument(name, bad):
  """Concrete weights that are negative, all zero, NaN or inf raise ValueError naming them."""
  weights = {"negative": np.array([1.0, -0.5, 2.0]),
             "all_zero": np.zeros(3), "nan": np.array([1.0, np.nan, 1.0]),
             "inf": np.array([1.0, np.inf, 1.0])}[bad]
  x = np.array([0.3, -0.2, 0.5])
  if name in RELATIVISTIC:
    with pytest.raises(ValueError, match="weights"):
      RELATIVISTIC[name](x, x, weights=weights)
    return
  fn, _, nargs, _ = LOSSES[name]
  if nargs == 2:
    with pytest.raises(ValueError, match="real_weights"):
      fn(x, x, real_weights=weights)
    with pytest.raises(ValueError, match="fake_weights"):
      fn(x, x, fake_weights=weights)
  with pytest.raises(ValueError, match="fake_weights"):
    if nargs == 2:
      fn(x, x, fake_weights=weights)
    else:
      fn(x, fake_weights=weights)


def test_weights_that_do_not_broadcast_raise():
  """Weights of a shape that does not broadcast to the outputs raise ValueError naming them."""
  with pytest.raises(ValueError, match="fake_weights"):
    losses.discriminator_loss(np.ones(3), np.ones((2, 3)),
                              fake_weights=np.ones(2))
  with pytest.raises(ValueError, match="weights"):
    losses.relativistic_discriminator_loss(np.ones(3), np.ones(3),
                                           weights=np.ones(4))


# One loss per way of combining the weighted means (they share `expectation`).
ZERO_WEIGHT_NAMES = ["discriminator_loss", "non_saturating_generator_loss",
                     "f_gan_discriminator_loss[neyman]",
                     "relativistic_discriminator_loss"]


@pytest.mark.parametrize("name", ZERO_WEIGHT_NAMES)
def test_traced_all_zero_weights_give_zero_with_zero_gradient(name):
  """Under jit, weights summing to 0 make the loss 0 with zero gradients, even for inf/NaN outputs."""
  real = np.array([0.3, np.inf, np.nan], np.float32)
  fake = np.array([-np.inf, 0.4, np.nan], np.float32)
  zeros = np.zeros(3, np.float32)
  if name in RELATIVISTIC:
    fn = lambda r, f, rw, fw: RELATIVISTIC[name](r, f, weights=rw + fw)
  else:
    base, _, nargs, _ = LOSSES[name]
    fn = ((lambda r, f, rw, fw: base(r, f, real_weights=rw, fake_weights=fw))
          if nargs == 2 else
          (lambda r, f, rw, fw: base(f, fake_weights=fw + rw)))
  value, grads = jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2, 3)))(
      real, fake, zeros, zeros)
  assert float(value) == 0.0
  for g in grads:
    np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_traced_zero_weights_on_one_side_drop_that_term():
  """Under jit, all-zero real weights leave L_D = -2 pi E log(1 - D(G(z))), independent of the real logits."""
  fake = np.array([0.3, -1.0, 2.0])
  fn = jax.jit(lambda r, rw: losses.discriminator_loss(
      r, fake, fake_fraction=0.25, real_weights=rw))
  with jax.enable_x64(True):
    a = float(fn(np.array([0.5, -0.5]), np.zeros(2)))
    b = float(fn(np.array([np.inf, np.nan]), np.zeros(2)))
  want = -2 * 0.25 * np.mean(np_log_one_minus_d(fake))
  np.testing.assert_allclose(a, want, rtol=1e-12)
  assert a == b


# Per-side infinite outputs: the limit is read off the float64 formula at
# v = 25 and 35, where the naive references are still accurate: every finite
# limit here is approached like e^(-v/2) or faster (closer than 1e-7 at 35),
# every infinite one at least like v/2 (a change of >= 5 from 25 to 35).
def _limit_of_formula(ref_at):
  """(finite limit, or +-inf) of ref_at(v) as v -> inf."""
  with np.errstate(all="ignore"):
    near, far = ref_at(25.0), ref_at(35.0)
  assert np.isfinite(near) and np.isfinite(far)
  if abs(far - near) <= 1e-3 * (1.0 + abs(far)):
    return far
  return np.sign(far - near) * np.inf


@pytest.mark.parametrize("name", CORE_NAMES + sorted(RELATIVISTIC))
def test_one_infinite_output_gives_the_limit(name):
  """One output of +-inf (the rest finite): the value is the formula's limit, the gradient has no NaN."""
  base_real = np.array([0.3, -0.7, 1.1])
  base_fake = np.array([-0.2, 0.9, -1.3])
  if name in RELATIVISTIC:
    fn = RELATIVISTIC[name]
    swapped = name == "relativistic_generator_loss"
    ref = lambda r, f: ref_relativistic(f, r) if swapped else (
        ref_relativistic(r, f))
    nargs = 2
  else:
    fn, ref_fn, nargs, _ = LOSSES[name]
    ref = (lambda r, f: ref_fn(r, f)) if nargs == 2 else (
        lambda r, f: ref_fn(f))
  sides = ("real", "fake") if nargs == 2 else ("fake",)
  for side in sides:
    for sign in (1.0, -1.0):
      def at(v, side=side, sign=sign):
        r, f = base_real.copy(), base_fake.copy()
        (r if side == "real" else f)[0] = sign * v
        return r, f
      want = _limit_of_formula(lambda v: ref(*at(v)))
      r, f = at(np.inf)
      with jax.enable_x64(True):
        if nargs == 2:
          value, grads = jax.value_and_grad(fn, argnums=(0, 1))(r, f)
        else:
          value, grads = jax.value_and_grad(fn, argnums=(0,))(f)
      if np.isfinite(want):
        np.testing.assert_allclose(float(value), want, rtol=1e-6, atol=1e-9,
                                   err_msg=f"{side} {sign}")
      else:
        assert float(value) == want, (side, sign)
      for g in grads:
        assert not np.any(np.isnan(np.asarray(g))), (side, sign)


def test_discriminator_loss_infinite_real_logit_limits():
  """Real logit +inf: term 0 without smoothing (was NaN: 0 * -inf), +inf with a > 0; gradients finite."""
  real, fake = np.array([np.inf, 0.5], np.float32), np.array([0.2], np.float32)
  plain, grads = jax.value_and_grad(losses.discriminator_loss,
                                    argnums=(0, 1))(real, fake)
  want = -(0.5 * np.log(expit(0.5)) + np.log(1 - expit(0.2)))
  np.testing.assert_allclose(float(plain), want, rtol=1e-6)
  assert np.all(np.isfinite(np.asarray(grads[0])))
  np.testing.assert_allclose(np.asarray(grads[0]),
                             [0.0, -expit(-0.5) / 2], rtol=1e-6)
  for a in (0.1, np.float32(0.1)):
    smoothed, grads = jax.value_and_grad(
        lambda r: losses.discriminator_loss(r, fake, label_smoothing=a))(real)
    assert np.isposinf(float(smoothed))
    # d/dr -[(1-a) log s(r) + a log s(-r)] / 2 = -[(1-a) s(-r) - a s(r)] / 2.
    np.testing.assert_allclose(np.asarray(grads)[0], a / 2, rtol=1e-6)
  # A traced smoothing of 0 gives the same limit as the Python 0.0.
  traced = jax.jit(lambda r, a: losses.discriminator_loss(
      r, fake, label_smoothing=a))(real, np.float32(0.0))
  np.testing.assert_allclose(float(traced), float(plain), rtol=1e-6)
  value = losses.value_function(real, fake)
  assert np.isfinite(float(value))


# {loss: the (sign of real, sign of fake) infinities whose terms are
# +inf - inf: no limit exists and the value is NaN}; every other pair of
# infinite outputs gives +-inf or a finite limit.
NO_LIMIT = {
    "wasserstein_discriminator_loss": {(1, 1), (-1, -1)},
    "f_gan_discriminator_loss[kl]": {(1, 1)},
    "f_gan_discriminator_loss[reverse_kl]": {(-1, -1)},
    "f_gan_discriminator_loss[pearson]": {(1, 1), (1, -1)},
    "f_gan_discriminator_loss[neyman]": {(-1, -1)},
    "relativistic_discriminator_loss": {(1, 1), (-1, -1)},
    "relativistic_generator_loss": {(1, 1), (-1, -1)},
}


@pytest.mark.parametrize(
    "name", [n for n in CORE_NAMES if LOSSES[n][2] == 2] + sorted(RELATIVISTIC))
def test_opposite_infinities_are_nan_exactly_where_documented(name):
  """Both outputs infinite: NaN exactly for the documented +inf - inf pairs, never elsewhere."""
  fn = RELATIVISTIC.get(name) or LOSSES[name][0]
  for real_sign in (1, -1):
    for fake_sign in (1, -1):
      value = float(fn(np.array([real_sign * np.inf]),
                       np.array([fake_sign * np.inf])))
      documented = (real_sign, fake_sign) in NO_LIMIT.get(name, set())
      assert np.isnan(value) == documented, (real_sign, fake_sign, value)


ACCEPTED_FORMS = [lambda x: x, np.float32, np.float64, np.array, jnp.asarray,
                  jnp.float32]


@pytest.mark.parametrize("form", range(len(ACCEPTED_FORMS)))
@pytest.mark.parametrize("name", DISCRIMINATOR_NAMES)
def test_fake_fraction_range_check_accepts_numpy_and_jax_scalars(name, form):
  """fake_fraction as float / np.float32 / np.float64 / 0-d np / 0-d jax: same value; 1 and 0 rejected in each form."""
  to = ACCEPTED_FORMS[form]
  fn = LOSSES[name][0]
  real, fake = np.array([0.3, -1.0]), np.array([0.5, 2.0])
  want = float(fn(real, fake, fake_fraction=0.25))
  np.testing.assert_allclose(float(fn(real, fake, fake_fraction=to(0.25))),
                             want, rtol=1e-6)
  for bad in (1.0, 0.0, -0.1, 1.5, np.nan):
    with pytest.raises(ValueError, match="fake_fraction"):
      fn(real, fake, fake_fraction=to(bad))


@pytest.mark.parametrize("form", range(len(ACCEPTED_FORMS)))
def test_label_smoothing_range_check_accepts_numpy_and_jax_scalars(form):
  """label_smoothing in every scalar form: same value for 0.1; 1.0 and -0.1 rejected."""
  to = ACCEPTED_FORMS[form]
  real, fake = np.array([0.3, -1.0]), np.array([0.5, 2.0])
  want = float(losses.discriminator_loss(real, fake, label_smoothing=0.1))
  np.testing.assert_allclose(
      float(losses.discriminator_loss(real, fake, label_smoothing=to(0.1))),
      want, rtol=1e-6)
  for bad in (1.0, -0.1, 1.5, np.nan):
    with pytest.raises(ValueError, match="label_smoothing"):
      losses.discriminator_loss(real, fake, label_smoothing=to(bad))


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), np.array(True),
                                 jnp.asarray(False)])
def test_bool_hyperparameters_are_rejected(bad):
  """A bool is not a fraction: fake_fraction / label_smoothing = True or False raise TypeError."""
  with pytest.raises(TypeError, match="fake_fraction"):
    losses.discriminator_loss(np.ones(2), np.ones(2), fake_fraction=bad)
  with pytest.raises(TypeError, match="fake_fraction"):
    losses.hinge_discriminator_loss(np.ones(2), np.ones(2), fake_fraction=bad)
  with pytest.raises(TypeError, match="label_smoothing"):
    losses.discriminator_loss(np.ones(2), np.ones(2), label_smoothing=bad)


def test_non_scalar_or_non_numeric_hyperparameters_are_rejected():
  """fake_fraction of shape (1,) raises ValueError; a string raises TypeError."""
  with pytest.raises(ValueError, match="fake_fraction must be a scalar"):
    losses.discriminator_loss(np.ones(2), np.ones(2),
                              fake_fraction=np.array([0.5]))
  with pytest.raises(TypeError, match="fake_fraction"):
    losses.least_squares_discriminator_loss(np.ones(2), np.ones(2),
                                            fake_fraction="0.5")


def test_traced_hyperparameters_are_not_checked():
  """Under jit a traced fake_fraction cannot be checked: out-of-range values compute (caller's responsibility)."""
  value = jax.jit(lambda pi: losses.discriminator_loss(
      np.ones(2), np.ones(2), fake_fraction=pi))(1.5)
  assert np.isfinite(float(value))


@pytest.mark.parametrize("bad", ["KL", "js", "", None, 3, "chi2"])
def test_unknown_divergence_raises_listing_the_valid_ones(bad):
  """Every f-GAN function rejects an unknown divergence, naming all of F_GAN_DIVERGENCES."""
  calls = [
      lambda: losses.f_gan_discriminator_loss(np.ones(2), np.ones(2),
                                              divergence=bad),
      lambda: losses.f_gan_generator_loss(np.ones(2), divergence=bad),
      lambda: losses.f_gan_activation(np.ones(2), bad),
      lambda: losses.f_gan_conjugate(np.ones(2), bad),
  ]
  for call in calls:
    with pytest.raises(ValueError) as info:
      call()
    for divergence in F_GAN_DIVERGENCES:
      assert divergence in str(info.value)


@pytest.mark.parametrize("bad", ["Conjugate", "", None, "log_d"])
def test_unknown_generator_kind_raises(bad):
  """f_gan_generator_loss(kind=unknown) raises ValueError naming 'conjugate' and 'activation'."""
  with pytest.raises(ValueError, match="conjugate.*activation"):
    losses.f_gan_generator_loss(np.ones(2), divergence="kl", kind=bad)


def test_relativistic_shape_mismatch_raises():
  """Pairs need equal shapes: [3] vs [4] and [3] vs [1, 3] raise ValueError (no silent broadcast)."""
  for fn in RELATIVISTIC.values():
    for fake in (np.ones(4), np.ones((1, 3))):
      with pytest.raises(ValueError, match="shapes must be equal"):
        fn(np.ones(3), fake)


def test_gradient_penalty_bad_inputs_raise():
  """gradient_penalty: empty, scalar or mismatched inputs and a critic output not [n] / [n, 1] raise ValueError."""
  critic = lambda x: jnp.sum(x, axis=1)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="real"):
    losses.gradient_penalty(critic, np.ones((0, 2)), np.ones((0, 2)), key)
  with pytest.raises(ValueError, match="same shape"):
    losses.gradient_penalty(critic, np.ones((3, 2)), np.ones((4, 2)), key)
  with pytest.raises(ValueError, match="same shape"):
    losses.gradient_penalty(critic, np.float32(1.0), np.float32(1.0), key)
  with pytest.raises(ValueError, match="critic_fn"):
    losses.gradient_penalty(jnp.sum, np.ones((3, 2)), np.ones((3, 2)), key)
  with pytest.raises(ValueError, match="gradients"):
    losses.gradient_norm_penalty(np.ones((0, 2)))
  with pytest.raises(ValueError, match="batch axis"):
    losses.gradient_norm_penalty(np.float32(1.0))


# {loss: the sides on which a batch holding both +inf and -inf meets
# +inf - inf in a term unbounded on both sides (NaN, no limit)}.
MIXED_BATCH_NAN = {
    "wasserstein_discriminator_loss": {"real", "fake"},
    "wasserstein_generator_loss": {"fake"},
    "hinge_generator_loss": {"fake"},
    "f_gan_discriminator_loss[kl]": {"real"},
    "f_gan_discriminator_loss[pearson]": {"real"},
    "f_gan_discriminator_loss[reverse_kl]": {"fake"},
    "f_gan_generator_loss[kl,activation]": {"fake"},
    "f_gan_generator_loss[pearson,activation]": {"fake"},
    "f_gan_generator_loss[reverse_kl,conjugate]": {"fake"},
}


def test_a_batch_with_both_infinities_is_nan_exactly_where_documented():
  """Outputs [+inf, -inf] on one side (the other finite): NaN exactly for the documented two-sided terms."""
  both, finite = np.array([np.inf, -np.inf]), np.array([0.3, -0.4])
  for name in LOSS_NAMES:
    fn, _, nargs, _ = LOSSES[name]
    sides = {"real": (both, finite), "fake": (finite, both)}
    if nargs == 1:
      sides = {"fake": (None, both)}
    for side, (real, fake) in sides.items():
      value = float(fn(real, fake) if nargs == 2 else fn(fake))
      documented = side in MIXED_BATCH_NAN.get(name, set())
      assert np.isnan(value) == documented, (name, side, value)
