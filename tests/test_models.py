"""Tests for gan_jax.models: shapes, ranges, BatchNorm, data parallel, errors.

Compilation dominates on CPU, and compiling random initialisers is the slowest
part; so most tests build variables with `_fast_init` (shapes from
`jax.eval_shape`, values from numpy), run G and D in one jitted function, and
compile with XLA's backend optimisations off (`_jit`), which is several times
faster to compile for these tiny networks. `test_init_variables` checks the
real initialiser.
"""

import functools

import chex
import flax.linen as nn

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

import helpers
from gan_jax import kernels
from gan_jax import models

LATENT = 8

_jit = functools.partial(
    jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def _config(name, **overrides):
  return helpers.small_model_config(name, **{"latent_dim": LATENT,
                                             **overrides})


def _fast_init(module, input_shape, seed=0):
  """Variables of `module` with init_variables' structure, filled by numpy."""
  shapes = jax.eval_shape(
      functools.partial(models.init_variables, module), jax.random.key(0),
      jax.ShapeDtypeStruct(input_shape, jnp.float32))
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if "kernel" in name:
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(fan_in),
                         jnp.float32)
    if "scale" in name or "var" in name:
      return jnp.ones(leaf.shape, jnp.float32)
    return jnp.zeros(leaf.shape, jnp.float32)  # bias, mean

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _build(config, data_shape, axis_name=None):
  g, d = models.make_models(config, data_shape, axis_name=axis_name)
  g_vars = _fast_init(g, (1, config.latent_dim), seed=0)
  d_vars = _fast_init(d, (1, *data_shape), seed=1)
  return g, d, g_vars, d_vars


def _forward_fn(g, d, train):
  """(g_vars, d_vars, z, x, rngs) -> (G(z), D(x), g_updates, d_updates)."""
  def fn(g_vars, d_vars, z, x, rngs):
    fake, g_upd = g.apply(g_vars, z, train=train, mutable=["batch_stats"])
    logits, d_upd = d.apply(d_vars, x, train=train, rngs=rngs,
                            mutable=["batch_stats"])
    return fake, logits, g_upd, d_upd
  return fn


def _forward(g, d, train):
  return _jit(_forward_fn(g, d, train))


def _flat(tree):
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return np.zeros((0,))
  return np.concatenate([np.ravel(np.asarray(a)) for a in leaves])


BN_MLP = dict(generator_batch_norm=True, discriminator_batch_norm=True)

CASES = [
    ("mlp", {}, (2,)),
    ("mlp", {}, (1,)),
    ("mlp", BN_MLP, (2,)),
    ("mlp", {}, (28, 28, 1)),
    ("mlp", {}, (32, 32, 1)),
    ("mlp", BN_MLP, (32, 32, 3)),
    ("dcgan", {}, (28, 28, 1)),
    ("dcgan", {}, (32, 32, 1)),
    ("dcgan", {}, (32, 32, 3)),
]


@pytest.mark.parametrize("name,overrides,data_shape", CASES)
def test_shapes_ranges_and_batch_stats(name, overrides, data_shape):
  g, d, g_vars, d_vars = _build(_config(name, **overrides), data_shape)
  has_bn = name == "dcgan" or bool(overrides)
  n = 6
  # Shifted inputs so that batch means differ from the initial running ones.
  z = 3.0 + jax.random.normal(jax.random.key(1), (n, LATENT))
  x = jax.random.uniform(jax.random.key(2), (n, *data_shape), minval=-1)
  # Without BatchNorm or dropout, train=False computes the same function.
  for train in ((True, False) if has_bn else (True,)):
    fake, logits, g_upd, d_upd = _forward(g, d, train)(g_vars, d_vars, z, x,
                                                       None)
    assert fake.shape == (n, *data_shape) and fake.dtype == jnp.float32
    assert logits.shape == (n,) and logits.dtype == jnp.float32
    assert np.all(np.isfinite(fake)) and np.all(np.isfinite(logits))
    if len(data_shape) == 3:
      assert float(jnp.min(fake)) >= -1.0 and float(jnp.max(fake)) <= 1.0
    for variables, updates in ((g_vars, g_upd), (d_vars, d_upd)):
      # One structure for every model: merging the updates keeps it.
      assert set(variables) == {"params", "batch_stats"}
      assert set(updates) <= {"batch_stats"}
      new = {**variables, **updates}
      assert jax.tree.structure(new) == jax.tree.structure(variables)
      old_stats = _flat(variables["batch_stats"])
      new_stats = _flat(new["batch_stats"])
      assert bool(old_stats.size) == has_bn
      if train:  # every running mean and variance moves
        assert np.all(new_stats != old_stats)
      else:
        np.testing.assert_array_equal(new_stats, old_stats)


def test_toy_output_is_linear():
  g, d, g_vars, d_vars = _build(_config("mlp"), (2,))
  z = 100.0 * jax.random.normal(jax.random.key(3), (64, LATENT))
  fake, *_ = _forward(g, d, False)(g_vars, d_vars, z, jnp.zeros((1, 2)), None)
  assert float(jnp.max(jnp.abs(fake))) > 1.0  # not squashed by tanh


def test_init_variables():
  for name, data_shape in (("mlp", (2,)), ("dcgan", (28, 28, 1))):
    g, d = models.make_models(_config(name), data_shape)
    for module, shape in ((g, (1, LATENT)), (d, (1, *data_shape))):
      init = _jit(functools.partial(models.init_variables, module))
      variables = init(jax.random.key(0), jnp.zeros(shape))
      assert set(variables) == {"params", "batch_stats"}
      assert (jax.tree.structure(variables)
              == jax.tree.structure(_fast_init(module, shape)))
      if name == "mlp":
        assert variables["batch_stats"] == {}
  # DCGAN: weights ~ N(0, 0.02) (Radford et al. 2016).
  kernel = np.asarray(variables["params"]["Conv_1"]["kernel"])
  assert abs(kernel.std() - 0.02) < 0.003 and abs(kernel.mean()) < 0.003


def test_batch_norm_statistics_and_momentum():
  config = _config("mlp", generator_batch_norm=True, batch_norm_momentum=0.9)
  g, d, g_vars, d_vars = _build(config, (2,))
  z = 5.0 + jnp.zeros((4, LATENT)).at[:, 0].set(jnp.arange(4.0))
  _, _, g_upd, _ = _forward(g, d, True)(g_vars, d_vars, z, jnp.zeros((4, 2)),
                                        None)
  # The first BN sees the bias-free Dense output; new = 0.9 old + 0.1 batch.
  kernel = g_vars["params"]["hidden_0"]["dense"]["kernel"]
  h = z @ kernel
  stats = g_upd["batch_stats"]["hidden_0"]["bn"]
  np.testing.assert_allclose(stats["mean"], 0.1 * jnp.mean(h, axis=0),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * jnp.var(h, axis=0),
                             rtol=1e-5, atol=1e-6)


def test_dropout_is_random_in_training_and_off_in_eval():
  config = _config("mlp", discriminator_dropout=0.5,
                   discriminator_input_dropout=0.2)
  g, d, g_vars, d_vars = _build(config, (28, 28, 1))
  z = jnp.zeros((4, LATENT))
  x = jax.random.uniform(jax.random.key(5), (4, 28, 28, 1), minval=-1)
  evaluate, train = _forward(g, d, False), _forward(g, d, True)
  a = evaluate(g_vars, d_vars, z, x, None)[1]
  b = train(g_vars, d_vars, z, x, {"dropout": jax.random.key(0)})[1]
  c = train(g_vars, d_vars, z, x, {"dropout": jax.random.key(1)})[1]
  np.testing.assert_array_equal(a, evaluate(g_vars, d_vars, z, x, None)[1])
  assert not np.allclose(a, b) and not np.allclose(b, c)


def _kernel_shapes(params):
  return [leaf.shape for path, leaf in
          jax.tree_util.tree_leaves_with_path(params)
          if "kernel" in jax.tree_util.keystr(path)]


def test_presets():
  g, d, g_vars, d_vars = _build(models.mlp_preset("classic"), (28, 28, 1))
  assert _kernel_shapes(g_vars["params"]) == [
      (100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
  assert _kernel_shapes(d_vars["params"]) == [(784, 512), (512, 256),
                                              (256, 1)]
  # PyTorch-GAN: BatchNorm on every hidden G layer except the first.
  assert sorted(g_vars["batch_stats"]) == ["hidden_1", "hidden_2", "hidden_3"]
  assert g.activation == d.activation == "leaky_relu"
  assert g.leaky_relu_slope == d.leaky_relu_slope == 0.2
  assert d_vars["batch_stats"] == {}

  g, d, g_vars, d_vars = _build(models.mlp_preset("goodfellow2014"),
                                (28, 28, 1))
  assert _kernel_shapes(g_vars["params"]) == [(100, 1200), (1200, 1200),
                                              (1200, 784)]
  # Maxout: 240 units x 5 pieces.
  assert _kernel_shapes(d_vars["params"]) == [(784, 1200), (240, 1200),
                                              (240, 1)]
  assert d.dropout == 0.5
  with pytest.raises(ValueError, match="unknown MLP preset"):
    models.mlp_preset("nope")


def test_missing_optional_fields_take_defaults():
  config = ml_collections.ConfigDict(dict(name="mlp", latent_dim=3))
  g, d = models.make_models(config, (2,))
  assert g.widths == models.default_model_config("mlp").generator_widths
  assert d.dropout == 0.0


# ----------------------------------------------------------------------------
# Data parallelism: batch statistics over the mapped axis equal those of the
# global batch on one device.

def _mapped_forward(mapper, g, d, num_devices):
  def per_device(g_vars, d_vars, z, x):
    return _forward_fn(g, d, True)(g_vars, d_vars, z, x, None)

  devices = jax.devices()[:num_devices]
  if mapper == "pmap":
    mapped = jax.pmap(per_device, axis_name="data", in_axes=(None, None, 0, 0),
                      devices=devices)

    def run(g_vars, d_vars, z, x):
      split = lambda a: a.reshape(num_devices, -1, *a.shape[1:])
      fake, logits, g_upd, d_upd = mapped(g_vars, d_vars, split(z), split(x))
      for leaf in jax.tree.leaves((g_upd, d_upd)):  # replicas agree
        np.testing.assert_allclose(leaf[0], leaf[-1], atol=1e-6)
      first = lambda t: jax.tree.map(lambda a: a[0], t)
      return (fake.reshape(-1, *fake.shape[2:]), logits.reshape(-1),
              first(g_upd), first(d_upd))
    return run
  mesh = Mesh(np.array(devices), ("data",))
  return _jit(jax.shard_map(
      per_device, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")),
      out_specs=(P("data"), P("data"), P(), P())))


@pytest.mark.parametrize("mapper", ["shard_map", "pmap"])
@pytest.mark.parametrize("name,overrides,data_shape,num_devices", [
    ("dcgan", {}, (32, 32, 3), 4),
    ("mlp", BN_MLP, (2,), 2),
])
def test_batch_stats_are_global_under_data_parallelism(
    mapper, name, overrides, data_shape, num_devices):
  if jax.device_count() < num_devices:
    pytest.skip(f"needs {num_devices} devices (tests/conftest.py sets 4)")
  config = _config(name, **overrides)
  g, d, g_vars, d_vars = _build(config, data_shape)
  g_dp, d_dp = models.make_models(config, data_shape, axis_name="data")
  n = 4 * num_devices
  # A trend along the batch gives each device different local statistics.
  trend = jnp.arange(n, dtype=jnp.float32) / n
  z = trend[:, None] + jax.random.normal(jax.random.key(6), (n, LATENT))
  x = jnp.tanh(trend.reshape((n,) + (1,) * len(data_shape))
               + jax.random.normal(jax.random.key(7), (n, *data_shape)))
  single = _forward(g, d, True)(g_vars, d_vars, z, x, None)
  parallel = _mapped_forward(mapper, g_dp, d_dp, num_devices)(g_vars, d_vars,
                                                              z, x)
  for a, b in zip(parallel, single):
    np.testing.assert_allclose(_flat(a), _flat(b), atol=1e-5)
  if mapper == "shard_map":
    # The test can fail: one device's share has other statistics.
    local = _forward(g, d, True)(g_vars, d_vars, z[:4], x[:4], None)
    for i in (2, 3):
      assert not np.allclose(_flat(local[i]), _flat(single[i]), atol=1e-5)


# ----------------------------------------------------------------------------
# Errors name the field.

def test_unknown_name():
  config = _config("mlp")
  config.name = "foo"
  with pytest.raises(ValueError, match=r"config\.model\.name: unknown model "
                     r"'foo'; valid: mlp, dcgan"):
    models.make_models(config, (2,))
  with pytest.raises(ValueError, match=r"config\.model\.name"):
    models.default_model_config("foo")


@pytest.mark.parametrize("field", ["generator_activation",
                                   "discriminator_activation"])
def test_unknown_activation(field):
  with pytest.raises(ValueError, match=rf"config\.model\.{field}: unknown "
                     r"activation 'swishy'; valid: relu, leaky_relu"):
    models.make_models(_config("mlp", **{field: "swishy"}), (2,))


@pytest.mark.parametrize("data_shape", [(64, 64, 3), (2,), (28, 32, 1)])
def test_dcgan_unsupported_size(data_shape):
  with pytest.raises(ValueError, match=r"config\.model\.name='dcgan'.*"
                     r"\(28, 28, C\), \(32, 32, C\)"):
    models.make_models(_config("dcgan"), data_shape)


def test_mlp_unsupported_rank():
  with pytest.raises(ValueError, match=r"config\.model\.name='mlp'"):
    models.make_models(_config("mlp"), (28, 28))


@pytest.mark.parametrize("field,value", [
    ("latent_dim", 0), ("generator_widths", ()),
    ("discriminator_widths", (8, -1)), ("discriminator_dropout", 1.0),
    ("batch_norm_momentum", 1.5), ("maxout_pieces", 0),
    ("generator_base_features", 0),
])
def test_bad_values_name_the_field(field, value):
  name = "dcgan" if "base_features" in field else "mlp"
  shape = (28, 28, 1) if name == "dcgan" else (2,)
  with pytest.raises(ValueError, match=rf"config\.model\.{field}"):
    models.make_models(_config(name, **{field: value}), shape)


def test_every_activation():
  z = jnp.linspace(-2, 2, 3 * LATENT).reshape(3, LATENT)
  outputs = []
  for activation in models.ACTIVATIONS:
    config = _config("mlp", generator_activation=activation,
                     discriminator_activation=activation)
    g, d, g_vars, d_vars = _build(config, (2,))
    fake, logits, *_ = _forward(g, d, False)(g_vars, d_vars, z,
                                             jnp.ones((3, 2)), None)
    assert fake.shape == (3, 2) and logits.shape == (3,)
    outputs.append(np.asarray(fake))
  # The activations really differ.
  assert len({o.tobytes() for o in outputs}) == len(models.ACTIVATIONS)


def test_grad_through_generator_and_discriminator():
  g, d, g_vars, d_vars = _build(_config("dcgan"), (28, 28, 1))

  def loss(g_params, z):
    fake, _ = g.apply({**g_vars, "params": g_params}, z, train=True,
                      mutable=["batch_stats"])
    logits, _ = d.apply(d_vars, fake, train=True, mutable=["batch_stats"])
    return jnp.mean(jax.nn.softplus(-logits))

  grads = _jit(jax.grad(loss))(g_vars["params"], jnp.ones((4, LATENT)))
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(a)) for a in leaves)
  assert any(np.any(a != 0) for a in leaves)


# ----------------------------------------------------------------------------
# The DCGAN's transposed convolutions: the sub-pixel form computes what
# nn.ConvTranspose computes, with the same parameters.


@pytest.mark.slow  # 11-14 s a case: the fast pass stays under 5 minutes
@pytest.mark.parametrize("height,width,c_in,features,use_bias", [
    (4, 4, 16, 8, False),   # 32x32 G, first layer (smaller channels)
    (7, 7, 8, 4, True),     # 28x28 G: odd input size
    (8, 5, 3, 2, True),     # non-square, few channels
    (1, 1, 5, 3, False),
])
def test_strided_conv_transpose_equals_flax(height, width, c_in, features,
                                            use_bias):
  key_x, key_p = jax.random.split(jax.random.PRNGKey(height * 7 + c_in))
  x = jax.random.normal(key_x, (3, height, width, c_in))
  reference = nn.ConvTranspose(features, (4, 4), strides=(2, 2),
                               padding="SAME", use_bias=use_bias,
                               kernel_init=nn.initializers.normal(0.5))
  variables = reference.init(key_p, x)
  if use_bias:  # a non-zero bias, so that adding it is checked too
    variables = {"params": {**variables["params"],
                            "bias": jnp.arange(features, dtype=jnp.float32)}}
  impls = ["subpixel", "lax", "xla", "auto"]
  if kernels.onednn_available():
    impls.append("onednn")
  for impl in impls:
    ours = models.StridedConvTranspose(
        features, use_bias=use_bias, impl=impl,
        kernel_init=nn.initializers.normal(0.5))
    # Same parameter names, shapes and initial values.
    own = ours.init(key_p, x)
    chex.assert_trees_all_equal_shapes(own, variables)
    chex.assert_trees_all_close(own["params"]["kernel"],
                                variables["params"]["kernel"])
    expected = reference.apply(variables, x)
    got = ours.apply(variables, x)
    assert got.shape == (3, 2 * height, 2 * width, features)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)

    # Gradients with respect to the input and the parameters agree too.
    def loss(module, params, x):
      return jnp.sum(jnp.sin(module.apply({"params": params}, x)))
    want = jax.grad(lambda p, x: loss(reference, p, x), (0, 1))(
        variables["params"], x)
    have = jax.grad(lambda p, x: loss(ours, p, x), (0, 1))(
        variables["params"], x)
    chex.assert_trees_all_close(have, want, rtol=1e-4, atol=1e-5)


def test_subpixel_matches_a_hand_computed_transposed_convolution():
  # lax.conv_transpose (transpose_kernel=False) correlates the kernel with
  # the input dilated by 2; so input pixel (i, j) adds x[i, j] @ kernel[ky,
  # kx] to output (2i + 2 - ky, 2j + 2 - kx), the outputs outside
  # [0, 2h) x [0, 2w) being cropped ('SAME'). Written as loops, with the
  # full output shifted by one.
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 3, 2, 2)).astype(np.float32)
  kernel = rng.normal(size=(4, 4, 2, 3)).astype(np.float32)
  full = np.zeros((1, 2 * 3 + 2, 2 * 2 + 2, 3), np.float32)
  for i in range(3):
    for j in range(2):
      for ky in range(4):
        for kx in range(4):
          full[0, 2 * i + 3 - ky, 2 * j + 3 - kx] += (
              x[0, i, j] @ kernel[ky, kx])
  expected = full[:, 1:-1, 1:-1]
  got = np.asarray(models.subpixel_conv_transpose(jnp.asarray(x),
                                                  jnp.asarray(kernel)))
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # 19 s
def test_dcgan_generator_is_the_same_function_with_either_impl():
  z = jax.random.normal(jax.random.PRNGKey(1), (4, 100))
  outputs = {}
  for impl in ("subpixel", "lax"):
    generator = models.DCGANGenerator((32, 32, 1), base_features=8,
                                      conv_transpose_impl=impl)
    variables = models.init_variables(generator, jax.random.PRNGKey(0), z)
    outputs[impl] = (variables, generator.apply(variables, z, train=False))
  chex.assert_trees_all_equal(outputs["subpixel"][0], outputs["lax"][0])
  np.testing.assert_allclose(outputs["subpixel"][1], outputs["lax"][1],
                             rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="conv_transpose impl"):
    models.DCGANGenerator((32, 32, 1), conv_transpose_impl="fft").init(
        jax.random.PRNGKey(0), z, train=False)


# ----------------------------------------------------------------------------
# config.model.conv_impl: oneDNN's convolutions and XLA's compute the same
# DCGAN, with the same parameters.


def _dcgan(conv_impl, image_size):
  config = helpers.small_model_config("dcgan", latent_dim=100,
                                      conv_impl=conv_impl)
  return models.make_models(config, (image_size, image_size, 1))


@pytest.mark.slow  # 10 s a case
@pytest.mark.parametrize("image_size", [28, 32])
def test_dcgan_is_the_same_with_onednn_or_xla_convolutions(image_size):
  if not kernels.onednn_available():
    pytest.skip("the oneDNN extension is not built")
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 100))
  x = jax.random.uniform(jax.random.PRNGKey(1), (4, image_size, image_size,
                                                 1), minval=-1, maxval=1)
  results = {}
  for impl in ("onednn", "xla", "auto"):
    generator, discriminator = _dcgan(impl, image_size)
    g_vars = models.init_variables(generator, jax.random.PRNGKey(2), z)
    d_vars = models.init_variables(discriminator, jax.random.PRNGKey(3), x)

    def loss(g_params, d_params):
      fake, _ = generator.apply({**g_vars, "params": g_params}, z,
                                mutable=["batch_stats"])
      logits, _ = discriminator.apply(
          {**d_vars, "params": d_params}, jnp.concatenate([x, fake]),
          mutable=["batch_stats"])
      return jnp.sum(jnp.tanh(logits)), fake

    (value, fake), grads = jax.jit(jax.value_and_grad(
        loss, (0, 1), has_aux=True))(g_vars["params"], d_vars["params"])
    results[impl] = (g_vars, d_vars, value, fake, grads)
  for impl in ("onednn", "auto"):
    # Initialisation does not depend on how the layers are computed.
    chex.assert_trees_all_equal(results[impl][:2], results["xla"][:2])
    # float32 rounding of different summation orders, over 3-4 layers.
    chex.assert_trees_all_close(results[impl][2:], results["xla"][2:],
                                rtol=2e-4, atol=2e-5)


def test_conv_impl_errors_name_the_field(monkeypatch):
  with pytest.raises(ValueError, match=r"^config.model.conv_impl: unknown "
                     r"'mkl'; valid: auto, onednn, xla$"):
    _dcgan("mkl", 32)
  monkeypatch.setattr(kernels.conv, "onednn_available", lambda: False)
  monkeypatch.setattr(models.fields.kernels, "onednn_available",
                      lambda: False)
  with pytest.raises(ValueError, match=r"conv_impl='onednn' needs gan_jax's "
                     r"oneDNN extension.*libdnnl-dev.*use 'auto' or 'xla'"):
    _dcgan("onednn", 32)
  _dcgan("auto", 32)  # falls back to XLA's own without complaint


# The seed notebooks' generator output and initialisation.


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
@pytest.mark.parametrize("activation, low, high", [("sigmoid", 0.0, 1.0),
                                                   ("tanh", -1.0, 1.0)])
def test_output_activation(name, activation, low, high):
  """sigmoid: images in [0, 1] reaching both ends; tanh: [-1, 1]."""
  g, d, g_vars, d_vars = _build(
      _config(name, output_activation=activation), (28, 28, 1))
  assert g.output_activation == activation
  z = 30.0 * jax.random.normal(jax.random.key(4), (8, LATENT))
  fake, *_ = _forward(g, d, False)(g_vars, d_vars, z,
                                   jnp.zeros((1, 28, 28, 1)), None)
  assert float(jnp.min(fake)) >= low and float(jnp.max(fake)) <= high
  # Saturated both ways: the range is the activation's, not the other's.
  assert float(jnp.min(fake)) < low + 0.01 and float(jnp.max(fake)) > 0.99


def test_sigmoid_output_on_toy_data_is_an_error():
  with pytest.raises(ValueError, match=r"config\.model\.output_activation.*"
                     r"applies to images"):
    models.make_models(_config("mlp", output_activation="sigmoid"), (2,))


def test_scaled_normal_init():
  """Every weight and bias ~ N(0, 2 / shape[0]) (the notebooks' "Xavier"):
  D 784-256-1 and G 100-256-784 as theirs."""
  config = _config("mlp", latent_dim=100, generator_widths=(256,),
                   discriminator_widths=(256,), parameter_init="scaled_normal",
                   output_activation="sigmoid")
  g, d = models.make_models(config, (28, 28, 1))
  g_params = models.init_variables(g, jax.random.key(0),
                                   jnp.zeros((1, 100)))["params"]
  d_params = models.init_variables(d, jax.random.key(1),
                                   jnp.zeros((1, 28, 28, 1)))["params"]
  leaves = {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in
            jax.tree_util.tree_leaves_with_path((g_params, d_params))}
  assert len(leaves) == 8  # 4 weights, 4 biases
  for name, leaf in leaves.items():
    expected = np.sqrt(2.0 / leaf.shape[0])
    if leaf.size >= 256:
      # Standard error of a standard deviation from n draws: std/sqrt(2n).
      tolerance = 4 * expected / np.sqrt(2 * leaf.size)
      assert abs(leaf.std() - expected) < tolerance, name
      assert abs(leaf.mean()) < 4 * expected / np.sqrt(leaf.size), name
  # D's one output bias: std sqrt(2 / 1); nonzero, unlike the default's.
  out_bias = [v for k, v in leaves.items() if "out" in k and "bias" in k]
  assert all(np.all(b != 0) for b in out_bias)
  # The default initialiser is another one (zero biases).
  default = models.init_variables(
      models.make_models(_config("mlp", latent_dim=100,
                                 generator_widths=(256,)), (28, 28, 1))[0],
      jax.random.key(0), jnp.zeros((1, 100)))["params"]
  assert np.all(np.asarray(default["out"]["bias"]) == 0)
