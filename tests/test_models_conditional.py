"""Tests for class-conditional models (gan_jax.models.conditioning).

config.model.num_classes > 0 with generator_conditioning 'concat' / 'cbn' and
discriminator_conditioning 'concat' / 'projection' / 'acgan', for the MLP and
DCGAN families: shapes and dtypes, that num_classes = 0 is exactly the
unconditional model of before, that the labels condition the outputs (the
projection and conditional BatchNorm computed by hand), the AC-GAN head,
gradients to the embeddings, and the errors.

As in test_models, compiling dominates on CPU: variables come from
`_fast_init` (shapes from `jax.eval_shape`, values from numpy) unless the
initial values are tested, and forward / gradient passes are jitted with
XLA's backend optimisations off (`_jit`).
"""

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from gan_jax import config as config_lib
from gan_jax import models
from gan_jax.fields import ConfigError
from gan_jax.models import conditioning as cond

LATENT = 8
C = 3
SHAPES = {"mlp": (2,), "dcgan": (28, 28, 1)}
Y0 = jnp.zeros((1,), jnp.int32)

_jit = functools.partial(
    jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def _config(family, **overrides):
  return helpers.small_model_config(family, **{"latent_dim": LATENT,
                                               **overrides})


def _conditional(family, g_cond="concat", d_cond="projection", **overrides):
  # The MLP G has BatchNorm so that 'cbn' applies to both families.
  return _config(family, num_classes=C, generator_conditioning=g_cond,
                 discriminator_conditioning=d_cond, generator_batch_norm=True,
                 **overrides)


def _fast_init(module, input_shape, seed):
  """init_variables' structure, filled by numpy: kernels and embeddings
  N(0, 1/fan_in), scales, gains and variances 1 + N(0, 0.1²), the rest 0."""
  shapes = jax.eval_shape(
      functools.partial(models.init_variables, module), jax.random.key(0),
      jax.ShapeDtypeStruct(input_shape, jnp.float32),
      jax.ShapeDtypeStruct((1,), jnp.int32))
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path)
    if name.endswith("['kernel']") or name.endswith("['embedding']"):
      fan_in = int(np.prod(leaf.shape[:-1]))
      if "gain" in name:
        return jnp.asarray(1 + 0.1 * rng.normal(size=leaf.shape), jnp.float32)
      return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(fan_in),
                         jnp.float32)
    if "scale" in name or "var" in name:
      return jnp.asarray(1 + 0.1 * rng.normal(size=leaf.shape), jnp.float32)
    if name.endswith("['u']"):  # spectral norm's power-iteration vector
      return jnp.asarray(rng.normal(size=leaf.shape), jnp.float32)
    return jnp.zeros(leaf.shape, leaf.dtype)  # bias, mean, sigma
  return jax.tree_util.tree_map_with_path(fill, shapes)


def _init(g, d, shape, real=False):
  if not real:
    return (_fast_init(g, (1, LATENT), 0), _fast_init(d, (1, *shape), 1))
  g_vars = models.init_variables(g, jax.random.key(0),
                                 jnp.zeros((1, LATENT)), Y0)
  d_vars = models.init_variables(d, jax.random.key(1),
                                 jnp.zeros((1, *shape)), Y0)
  return g_vars, d_vars


def _inputs(shape, n=4):
  z = jax.random.normal(jax.random.key(2), (n, LATENT))
  x = jax.random.uniform(jax.random.key(3), (n, *shape), minval=-1, maxval=1)
  return z, x


FAMILIES = ("mlp", "dcgan")
G_CONDS = ("concat", "cbn")
D_CONDS = ("concat", "projection", "acgan")


# float32 shapes for every pair: test_labels_condition_the_outputs.
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("g_cond,d_cond", [
    ("concat", "concat"), ("cbn", "projection"), ("cbn", "acgan")])
@pytest.mark.parametrize("dtype", ("bfloat16",))
def test_shapes_and_dtypes(family, g_cond, d_cond, dtype):
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family, g_cond, d_cond,
                                         compute_dtype=dtype), shape)
  assert (g.num_classes, g.conditioning) == (C, g_cond)
  assert (d.num_classes, d.conditioning) == (C, d_cond)
  g_vars, d_vars = _init(g, d, shape)
  # Parameters (embedding tables included) stay float32 in any dtype.
  assert {a.dtype for a in jax.tree.leaves((g_vars, d_vars))} == {
      jnp.dtype(jnp.float32)}
  z, _ = _inputs(shape)
  labels = jnp.array([0, 1, 2, 1], jnp.int32)

  @_jit
  def forward(g_vars, d_vars, z, labels):
    x, _ = g.apply(g_vars, z, labels, train=True, mutable=["batch_stats"])
    out, _ = d.apply(d_vars, x, labels, train=True, mutable=["batch_stats"])
    return x, out
  x, out = forward(g_vars, d_vars, z, labels)
  assert x.shape == (4, *shape) and x.dtype == jnp.float32
  if d_cond == "acgan":
    logits, class_logits = out
    assert class_logits.shape == (4, C) and class_logits.dtype == jnp.float32
  else:
    logits = out
  assert logits.shape == (4,) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(logits)))


# The unconditional models as built before class conditioning existed (the
# main branch at 53b4442): an md5 of the sorted parameter / statistic paths
# and shapes, and G's and D's outputs from init_variables(key 0 / key 1) on
# z ~ N(0, 1) (key 2), train=True.
UNCONDITIONAL_GOLDEN = [
    ("mlp", (2,), {"generator_batch_norm": True},
     "a18a880a7390871e2273acb29af45c84", 0.44404953718185425,
     4.244849681854248,
     [-0.002104001585394144, 0.007359728217124939, 2.3936965465545654]),
    ("mlp", (28, 28, 1), {"discriminator_spectral_norm": True},
     "77c60f9d6a4f4ec89291b5c964540831", -36.48429870605469,
     691.7094116210938,
     [0.2089456170797348, 0.3120259642601013, 0.0891646146774292]),
    ("dcgan", (28, 28, 1), {}, "220c1bdc9561a5c1d717fc4ffb1bef0f",
     -16.85596466064453, 9.573552131652832,
     [0.06153162568807602, -0.05963955447077751, 0.004309955984354019]),
    ("dcgan", (32, 32, 3), {"discriminator_spectral_norm": True},
     "c7a72c18de014e59de89cc835355de43", 62.637596130371094,
     75.14585876464844,
     [0.006283649709075689, 0.01368548721075058, 0.011898046359419823]),
]


def _paths_md5(tree):
  paths = ";".join(sorted(
      f"{jax.tree_util.keystr(p)}{tuple(a.shape)}"
      for p, a in jax.tree_util.tree_leaves_with_path(tree)))
  return hashlib.md5(paths.encode()).hexdigest()


@pytest.mark.parametrize("family,shape,extra,md5,x_sum,x_sq,logits",
                         UNCONDITIONAL_GOLDEN)
# num_classes = 0: the conditioning fields are unread, whatever they say
# (not their defaults, which the other model tests build).
@pytest.mark.parametrize("g_cond,d_cond", [("cbn", "acgan")])
def test_num_classes_0_is_the_model_of_before(family, shape, extra, md5,
                                              x_sum, x_sq, logits, g_cond,
                                              d_cond):
  g, d = models.make_models(
      helpers.small_model_config(family, num_classes=0,
                                 generator_conditioning=g_cond,
                                 discriminator_conditioning=d_cond, **extra),
      shape)
  assert g.num_classes == 0 and d.num_classes == 0

  @_jit
  def run():
    g_vars = models.init_variables(g, jax.random.key(0), jnp.zeros((1, 8)))
    d_vars = models.init_variables(d, jax.random.key(1),
                                   jnp.zeros((1, *shape)))
    z = jax.random.normal(jax.random.key(2), (3, 8))
    x, _ = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
    out, _ = d.apply(d_vars, x, train=True, mutable=["batch_stats"])
    # Labels passed to an unconditional model are ignored.
    labels = jnp.array([2, 0, 1], jnp.int32)
    x_l, _ = g.apply(g_vars, z, labels, train=True, mutable=["batch_stats"])
    out_l, _ = d.apply(d_vars, x, labels, train=True,
                       mutable=["batch_stats"])
    return g_vars, d_vars, x, out, x_l, out_l
  g_vars, d_vars, x, out, x_l, out_l = run()
  assert _paths_md5({"g": g_vars, "d": d_vars}) == md5
  np.testing.assert_allclose(float(jnp.sum(x)), x_sum, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(float(jnp.sum(x**2)), x_sq, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(out), logits, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(x_l), np.asarray(x))
  np.testing.assert_array_equal(np.asarray(out_l), np.asarray(out))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("g_cond", G_CONDS)
@pytest.mark.parametrize("d_cond", D_CONDS)
def test_labels_condition_the_outputs(family, g_cond, d_cond):
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family, g_cond, d_cond), shape)
  # Distinct cBN gains per class (at init they are alike: γ = 1, β = 0).
  g_vars, d_vars = _init(g, d, shape)
  z, x = _inputs(shape)
  y1 = jnp.array([0, 1, 2, 0], jnp.int32)
  y2 = jnp.array([1, 2, 0, 2], jnp.int32)

  def g_out(y):
    return np.asarray(g.apply(g_vars, z, y, train=False))

  def d_out(y):
    return jax.tree.map(np.asarray, d.apply(d_vars, x, y, train=False))

  assert g_out(y1).shape == (4, *shape) and g_out(y1).dtype == np.float32
  out_shapes = [(4,), (4, C)] if d_cond == "acgan" else [(4,)]
  assert [(a.shape, a.dtype) for a in jax.tree.leaves(d_out(y1))] == [
      (s, np.float32) for s in out_shapes]

  # Each example's output changes with its own label.
  assert np.all(np.abs(g_out(y1) - g_out(y2)).reshape(4, -1).max(1) > 1e-6)
  if d_cond == "acgan":
    # D ignores y: the same outputs for any labels, or none.
    for a, b in zip(d_out(y1), d_out(y2)):
      np.testing.assert_array_equal(a, b)
    for a, b in zip(d_out(y1), d_out(None)):
      np.testing.assert_array_equal(a, b)
  else:
    assert np.all(np.abs(d_out(y1) - d_out(y2)) > 1e-7)


def _phi(d, d_vars, x, labels):
  out, state = d.apply(d_vars, x, labels, train=False,
                       mutable=["intermediates"])
  return out, state["intermediates"]["phi"][0]


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_by_hand(family):
  """logit = ψ(φ) + ⟨E[y], φ⟩ (Miyato & Koyama 2018), from the params."""
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family), shape)
  _, d_vars = _init(g, d, shape)
  _, x = _inputs(shape)
  y1 = jnp.array([0, 1, 2, 0], jnp.int32)
  y2 = jnp.array([2, 0, 1, 1], jnp.int32)
  logits1, phi = _phi(d, d_vars, x, y1)
  logits2, phi2 = _phi(d, d_vars, x, y2)
  np.testing.assert_array_equal(np.asarray(phi), np.asarray(phi2))
  params = d_vars["params"]
  embed = np.asarray(params["class_embed"]["embedding"], np.float64)
  assert embed.shape == (C, phi.shape[-1])
  phi = np.asarray(phi, np.float64)
  by_hand = np.sum((embed[np.asarray(y1)] - embed[np.asarray(y2)]) * phi, -1)
  np.testing.assert_allclose(np.asarray(logits1 - logits2), by_hand,
                             atol=1e-5)
  out = params["out" if family == "mlp" else "Dense_0"]
  psi = phi @ np.asarray(out["kernel"], np.float64)[:, 0] + float(
      out["bias"][0])
  np.testing.assert_allclose(
      np.asarray(logits1), psi + np.sum(embed[np.asarray(y1)] * phi, -1),
      atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_acgan_head_by_hand(family):
  """class_logits = φ W + b (Odena et al. 2017), [n, C]."""
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family, d_cond="acgan"), shape)
  _, d_vars = _init(g, d, shape)
  _, x = _inputs(shape)
  (logits, class_logits), phi = _phi(d, d_vars, x, None)
  head = d_vars["params"]["class_out"]
  assert class_logits.shape == (4, C) and logits.shape == (4,)
  np.testing.assert_allclose(
      np.asarray(class_logits),
      np.asarray(phi, np.float64) @ np.asarray(head["kernel"], np.float64) +
      np.asarray(head["bias"]), atol=1e-5)
  assert "class_embed" not in d_vars["params"]


@pytest.mark.parametrize("features_shape", [(6, 5), (6, 3, 3, 5)])
@pytest.mark.parametrize("train", [True, False])
def test_conditional_batch_norm_by_hand(features_shape, train):
  """ConditionalBatchNorm = (x − μ) / sqrt(σ² + ε) · γ[y] + β[y]."""
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, size=features_shape).astype(np.float32)
  labels = np.array([0, 2, 1, 2, 0, 1], np.int32)
  features = features_shape[-1]
  gain = rng.normal(size=(C, features)).astype(np.float32)
  bias = rng.normal(size=(C, features)).astype(np.float32)
  mean = rng.normal(size=features).astype(np.float32)
  var = rng.uniform(0.5, 2.0, size=features).astype(np.float32)
  eps = 1e-3
  module = cond.ConditionalBatchNorm(C, use_running_average=not train,
                                     epsilon=eps)
  variables = {"params": {"gain": {"embedding": gain},
                          "bias": {"embedding": bias}},
               "batch_stats": {"bn": {"mean": mean, "var": var}}}
  out, _ = module.apply(variables, x, labels, mutable=["batch_stats"])
  axes = tuple(range(x.ndim - 1))
  if train:
    mean, var = x.mean(axes), x.var(axes)
  shape = (6,) + (1,) * (x.ndim - 2) + (features,)
  expected = ((x - mean) / np.sqrt(var + eps) * gain[labels].reshape(shape)
              + bias[labels].reshape(shape))
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_cbn_replaces_every_generator_batch_norm(family):
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family, "cbn"), shape)
  g_vars = _jit(functools.partial(models.init_variables, g))(
      jax.random.key(0), jnp.zeros((1, LATENT)), Y0)
  # The BatchNorms' own scale and bias are gone (only cBN's statistics).
  assert "BatchNorm" not in str(jax.tree.map(jnp.shape, g_vars))
  assert "scale" not in str(jax.tree.map(jnp.shape, g_vars["params"]))
  gains = [np.asarray(a) for p, a in
           jax.tree_util.tree_leaves_with_path(g_vars["params"])
           if "gain" in jax.tree_util.keystr(p)]
  biases = [np.asarray(a) for p, a in
            jax.tree_util.tree_leaves_with_path(g_vars["params"])
            if "'bias']['embedding" in jax.tree_util.keystr(p)]
  assert len(gains) == len(biases) == 2  # one per BatchNorm of G
  for gain, bias in zip(gains, biases):
    assert gain.shape[0] == C and bias.shape == gain.shape
    np.testing.assert_array_equal(bias, 0.0)
    if family == "mlp":
      np.testing.assert_array_equal(gain, 1.0)
    else:  # DCGAN's BatchNorm scale init, N(1, 0.02)
      assert abs(gain.mean() - 1.0) < 0.01 and 0.01 < gain.std() < 0.03


def _grads(module, variables, inp, labels, out_fn):
  def loss(params):
    out, _ = module.apply({**variables, "params": params}, inp, labels,
                          train=True, mutable=["batch_stats"])
    return out_fn(out)
  return _jit(jax.grad(loss))(variables["params"])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("d_cond,spectral_norm", [
    ("concat", False), ("projection", False), ("projection", True),
    ("acgan", True)])
def test_gradients_reach_the_class_parameters(family, d_cond, spectral_norm):
  shape = SHAPES[family]
  g, d = models.make_models(
      _conditional(family, "cbn", d_cond,
                   discriminator_spectral_norm=spectral_norm), shape)
  g_vars, d_vars = _init(g, d, shape)
  z, x = _inputs(shape)
  labels = jnp.array([0, 1, 2, 0], jnp.int32)
  # A loss that depends on each example differently (a plain sum of
  # BatchNorm outputs has zero gradient for β).
  weights = jnp.arange(1.0, 1.0 + np.prod(x.shape)).reshape(x.shape)
  g_grads = _grads(g, g_vars, z, labels, lambda o: jnp.sum(o * weights))
  for path, grad in jax.tree_util.tree_leaves_with_path(g_grads):
    if "embedding" in jax.tree_util.keystr(path):
      # Classes 0, 1 and 2 are all in the batch: every row gets a gradient.
      assert np.all(np.abs(np.asarray(grad)).sum(-1) > 0), path

  def d_loss(out):
    if d_cond == "acgan":
      return jnp.sum(out[0]) + jnp.sum(out[1] * jnp.arange(1.0, 1.0 + C))
    return jnp.sum(out)
  d_grads = _grads(d, d_vars, x, labels, d_loss)
  name = {"projection": "class_embed", "acgan": "class_out"}.get(d_cond)
  if name:
    leaves = jax.tree.leaves(d_grads[name])
    assert leaves and all(np.abs(np.asarray(a)).max() > 0 for a in leaves)
  else:  # concat: the one-hot input's weights
    first = d_grads["hidden_0"]["dense"] if family == "mlp" else (
        d_grads["Conv_0"])
    kernel = np.asarray(first["kernel"])
    assert kernel.shape[-2] == (
        np.prod(shape) + C if family == "mlp" else shape[-1] + C)
    assert np.abs(kernel[..., -C:, :]).max() > 0


def test_mlp_discriminator_one_example_at_a_time():
  """The dropout path: D applied under vmap to x [1, d], labels [1]."""
  shape = SHAPES["mlp"]
  g, d = models.make_models(
      _conditional("mlp", d_cond="projection", discriminator_dropout=0.5),
      shape)
  _, d_vars = _init(g, d, shape)
  _, x = _inputs(shape)
  labels = jnp.array([0, 1, 2, 0], jnp.int32)

  def one(x_i, y_i, i):
    return d.apply(d_vars, x_i[None], y_i[None], train=True,
                   rngs={"dropout": jax.random.key(i)})[0]
  logits = jax.vmap(one)(x, labels, jnp.arange(4))
  assert logits.shape == (4,) and logits.dtype == jnp.float32
  no_dropout = d.apply(d_vars, x, labels, train=False)
  assert np.all(np.isfinite(np.asarray(logits)))
  assert not np.allclose(np.asarray(logits), np.asarray(no_dropout))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("player", ["generator", "discriminator"])
@pytest.mark.parametrize("labels", [None, jnp.zeros((2,), jnp.int32),
                                    jnp.zeros((4,), jnp.float32)])
def test_missing_or_bad_labels_are_named(family, player, labels):
  shape = SHAPES[family]
  g, d = models.make_models(_conditional(family), shape)
  g_vars, d_vars = _init(g, d, shape)
  z, x = _inputs(shape)
  module, variables, inp = ((g, g_vars, z) if player == "generator"
                            else (d, d_vars, x))
  with pytest.raises(ValueError, match="labels") as info:
    module.apply(variables, inp, labels, train=False)
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides,match", [
    (dict(num_classes=3, generator_conditioning="film"),
     "config.model.generator_conditioning = 'film' is not valid"),
    (dict(num_classes=3, discriminator_conditioning="cat"),
     "config.model.discriminator_conditioning = 'cat' is not valid"),
    (dict(num_classes=-1), "config.model.num_classes must be an int >= 0"),
    (dict(num_classes=3, generator_conditioning="cbn",
          generator_batch_norm=False),
     "config.model.generator_conditioning = 'cbn' needs a generator with "
     "BatchNorm"),
    (dict(num_classes=3, generator_conditioning="cbn",
          generator_batch_norm=True, generator_batch_norm_first_layer=False,
          generator_widths=(16,)),
     "config.model.generator_conditioning = 'cbn' needs a generator with "
     "BatchNorm"),
])
def test_bad_fields_are_named_by_make_models(overrides, match):
  with pytest.raises(ValueError, match=match) as info:
    models.make_models(_config("mlp", **overrides), SHAPES["mlp"])
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("field,value,match", [
    ("num_classes", -1, "config.model.num_classes = -1 must be an integer"),
    ("generator_conditioning", "film",
     "config.model.generator_conditioning = 'film' is not valid"),
    ("discriminator_conditioning", "cat",
     "config.model.discriminator_conditioning = 'cat' is not valid"),
])
def test_bad_fields_are_named_by_validation(field, value, match):
  config = config_lib.default_config()
  config.model.num_classes = 3
  config.model[field] = value
  with pytest.raises(ConfigError, match=match) as info:
    config_lib.validate(config, num_devices=1)
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("batch_norm,valid", [(False, False), (True, True)])
def test_cbn_rule_on_the_mlp(batch_norm, valid):
  """A toy data set with labels is fine; 'cbn' needs G's BatchNorm."""
  config = config_lib.default_config()
  assert config.model.name == "mlp"
  config.model.update(num_classes=8, generator_conditioning="cbn",
                      generator_batch_norm=batch_norm)
  if valid:
    config_lib.validate(config, num_devices=1)
  else:
    with pytest.raises(ConfigError, match="generator_conditioning = 'cbn'"):
      config_lib.validate(config, num_devices=1)


def test_unknown_conditioning_on_a_module_is_named():
  module = models.MLPGenerator(data_shape=(2,), num_classes=2,
                               conditioning="film")
  with pytest.raises(ConfigError, match="generator_conditioning = 'film'"):
    module.init(jax.random.key(0), jnp.zeros((1, 4)), Y0, train=False)
