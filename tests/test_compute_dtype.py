"""config.model.compute_dtype: bfloat16 products, float32 parameters and outputs.

Each model case is compiled once (`_forward`, cached): both dtypes' G and D
on the same float32 variables in one jitted function, with XLA's backend
optimisations off and variables filled by numpy (as in tests/test_models.py),
since compiling dominates on CPU.
"""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from gan_jax import config as config_lib
from gan_jax import models
from gan_jax import train

FAST_COMPILE = {"xla_backend_optimization_level": 0}
LATENT = 8
BATCH = 32
PRODUCTS = ("dot_general", "conv_general_dilated")

# name -> (model, data shape, config.model overrides). Between them: G
# BatchNorm, D BatchNorm, maxout, spectral norm, dropout, both transposed
# convolution paths (subpixel for >= 8 channels on CPU, lax for the output).
CASES = {
    "mlp_bn_maxout": ("mlp", (28, 28, 1), dict(
        generator_batch_norm=True, discriminator_batch_norm=True,
        discriminator_activation="maxout")),
    "mlp_sn_dropout": ("mlp", (2,), dict(
        discriminator_spectral_norm=True, discriminator_dropout=0.3,
        discriminator_input_dropout=0.1, generator_activation="gelu")),
    "dcgan28": ("dcgan", (28, 28, 1), {}),
    "dcgan32_sn": ("dcgan", (32, 32, 3), dict(
        discriminator_spectral_norm=True)),
}
DTYPES = ("float32", "bfloat16")

# bfloat16 keeps 8 significant bits (relative rounding up to 2**-8 = 0.4%):
# the relative L2 errors of G's samples and D's logits measured on these
# cases were 0.47%-0.81% (at most 2.1% of the largest value, elementwise); a
# wrong computation (a layer skipped or in the wrong order, weights mixed
# up) is off by tens of percent.
REL_TOLERANCE = 2e-2


def _model_config(name, dtype, **overrides):
  return helpers.small_model_config(name, latent_dim=LATENT,
                                    compute_dtype=dtype, **overrides)


def _build(case, dtype):
  name, shape, overrides = CASES[case]
  return models.make_models(_model_config(name, dtype, **overrides), shape)


def _variable_shapes(module, input_shape):
  return jax.eval_shape(
      functools.partial(models.init_variables, module), jax.random.key(0),
      jax.ShapeDtypeStruct(input_shape, jnp.float32))


def _fast_init(module, input_shape, seed):
  """Variables with init_variables' structure, filled by numpy (no compile)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if "scale" in name or "var" in name or "sigma" in name:
      return jnp.ones(leaf.shape, jnp.float32)
    if "kernel" in name:  # also spectral norm's vector '<layer>/kernel/u'
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(fan_in),
                         jnp.float32)
    return jnp.zeros(leaf.shape, jnp.float32)  # bias, mean

  return jax.tree_util.tree_map_with_path(
      fill, _variable_shapes(module, input_shape))


def _apply_fn(generator, discriminator):
  """(g_vars, d_vars, z, x) -> (G(z), D(x), (G's, D's batch_stats updates)).

  In training mode (batch statistics, dropout, power iteration).
  """
  def fn(g_vars, d_vars, z, x):
    fake, g_updates = generator.apply(g_vars, z, train=True,
                                      mutable=["batch_stats"])
    logits, d_updates = discriminator.apply(
        d_vars, x, train=True, mutable=["batch_stats"],
        rngs={"dropout": jax.random.key(3)})
    return fake, logits, (g_updates, d_updates)
  return fn


def _inputs(case):
  shape = CASES[case][1]
  g, d = _build(case, "float32")
  g_vars = _fast_init(g, (1, LATENT), seed=0)
  d_vars = _fast_init(d, (1, *shape), seed=1)
  rng = np.random.default_rng(2)
  z = jnp.asarray(rng.normal(size=(BATCH, LATENT)), jnp.float32)
  x = jnp.asarray(rng.uniform(-1, 1, (BATCH, *shape)), jnp.float32)
  return g_vars, d_vars, z, x


@functools.lru_cache(maxsize=None)
def _forward(case):
  """{dtype: _apply_fn's outputs} of both dtypes on the same variables."""
  fns = {dtype: _apply_fn(*_build(case, dtype)) for dtype in DTYPES}
  both = jax.jit(lambda *args: {k: f(*args) for k, f in fns.items()},
                 compiler_options=FAST_COMPILE)
  return jax.device_get(both(*_inputs(case)))


def _sub_jaxprs(value):
  if hasattr(value, "eqns"):
    yield value
  elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
    yield value.jaxpr
  elif isinstance(value, (tuple, list)):
    for item in value:
      yield from _sub_jaxprs(item)


def _equations(jaxpr):
  for eqn in jaxpr.eqns:
    yield eqn
    for value in eqn.params.values():
      for sub in _sub_jaxprs(value):
        yield from _equations(sub)


def _product_operand_dtypes(case, dtype):
  """[(primitive, {operand dtypes})] of every product in G's and D's apply."""
  closed = jax.make_jaxpr(_apply_fn(*_build(case, dtype)))(*_inputs(case))
  return [(eqn.primitive.name, {v.aval.dtype.name for v in eqn.invars})
          for eqn in _equations(closed.jaxpr)
          if eqn.primitive.name in PRODUCTS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_variables_and_outputs(case, dtype):
  shape = CASES[case][1]
  g, d = _build(case, dtype)
  for module, input_shape in ((g, (1, LATENT)), (d, (1, *shape))):
    for leaf in jax.tree.leaves(_variable_shapes(module, input_shape)):
      assert leaf.dtype == jnp.float32  # params, BatchNorm and SN state
  samples, logits, updates = _forward(case)[dtype]
  assert samples.dtype == np.float32 and samples.shape == (BATCH, *shape)
  assert logits.dtype == np.float32 and logits.shape == (BATCH,)
  # BatchNorm's running averages and spectral norm's u and sigma, updated
  # (every case has one or the other).
  assert jax.tree.leaves(updates)
  for leaf in jax.tree.leaves(updates):
    assert leaf.dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_products_run_in_the_compute_dtype(case, dtype):
  products = _product_operand_dtypes(case, dtype)
  kinds = {name for name, _ in products}
  expected_kinds = (set(PRODUCTS) if CASES[case][0] == "dcgan" else
                    {"dot_general"})
  assert kinds == expected_kinds
  in_dtype = [p for p in products if p[1] == {dtype}]
  if dtype == "float32":
    assert in_dtype == products
    return
  # Spectral norm's power iteration runs on the float32 weights; every
  # other product (each Dense, conv, and the 16 of a subpixel transposed
  # conv) multiplies bfloat16 inputs by bfloat16 weights.
  assert {name for name, _ in in_dtype} == expected_kinds
  others = [p for p in products if p[1] != {"bfloat16"}]
  if "discriminator_spectral_norm" in CASES[case][2]:
    assert all(p == ("dot_general", {"float32"}) for p in others), others
  else:
    assert not others


@pytest.mark.parametrize("case", sorted(CASES))
def test_bfloat16_outputs_are_close_to_float32(case):
  outputs = _forward(case)
  for reference, result in zip(outputs["float32"][:2],
                               outputs["bfloat16"][:2]):
    error = np.linalg.norm(result - reference) / np.linalg.norm(reference)
    # Rounded, hence not equal; not more than bfloat16 rounding accounts for.
    assert 1e-4 < error < REL_TOLERANCE, error


def _train_config(name, idx_dir):
  config = config_lib.default_config()
  if name == "dcgan":
    config.data.name = "fashion_mnist"
    config.data.data_dir = idx_dir
    config.model = models.default_model_config("dcgan")
    config.model.generator_base_features = 4
    config.model.discriminator_base_features = 4
    config.eval.parzen = False
    config.eval.features = False
    config.eval.image_num_samples = 16
  else:
    config.model.generator_widths = (8,)
    config.model.discriminator_widths = (8,)
    config.model.generator_batch_norm = True
    config.eval.num_samples = 100
  config.model.latent_dim = 4
  config.model.compute_dtype = "bfloat16"
  config.train.batch_size = 8
  config.train.steps = 2
  config.train.steps_per_call = 1
  config.train.log_every = 1
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  config.eval.num_sample_images = 4
  return config


@pytest.mark.slow  # 8-10 s a case: whole training runs
@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_bfloat16_training_steps(name, idx_dir, tmp_path):
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(_train_config(name, idx_dir), workdir,
                                     compiler_options=FAST_COMPILE)
  assert summary["step"] == 2
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  assert [row["step"] for row in rows] == [1, 2]
  for row in rows:
    for metric in ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm"):
      assert np.isfinite(row[metric]), (metric, row)
  # Parameters and optimiser state were kept (and checkpointed) in float32.
  _, state = train.latest_state(workdir, compiler_options=FAST_COMPILE)
  for part in ("g_params", "d_params", "g_opt_state", "d_opt_state",
               "g_batch_stats"):
    for leaf in jax.tree.leaves(getattr(state, part)):
      if np.issubdtype(np.asarray(leaf).dtype, np.floating):
        assert np.asarray(leaf).dtype == np.float32, part


@pytest.mark.parametrize("value", ["float16", "bf16", "int8", ""])
def test_bad_compute_dtype_is_named(value):
  message = (f"config.model.compute_dtype: unknown dtype {value!r}; valid: "
             f"float32, bfloat16")
  with pytest.raises(ValueError) as error:
    models.make_models(_model_config("mlp", value), (2,))
  assert str(error.value) == message
  config = config_lib.default_config()
  config.model.compute_dtype = value
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.validate(config)
  assert str(error.value) == (
      f"config.model.compute_dtype = {value!r} is not valid; choose one of "
      f"'float32', 'bfloat16'")
  assert "\n" not in str(error.value)


def test_names_agree():
  assert models.COMPUTE_DTYPES == ("float32", "bfloat16")
  assert models.default_model_config().compute_dtype == "float32"


def test_configs_without_the_field_are_float32():
  """Runs saved before the field existed read back, and resume, as float32."""
  saved = config_lib.default_config().to_dict()
  del saved["model"]["compute_dtype"]
  assert config_lib.from_dict(saved).model.compute_dtype == "float32"
  # The raw saved JSON (a sweep compares it) equals a float32 config ...
  current = config_lib.default_config()
  assert config_lib.changed_fields(saved, current) == []
  assert config_lib.changed_fields(current, saved) == []
  # ... but not a bfloat16 one, and that change does not resume.
  current.model.compute_dtype = "bfloat16"
  assert config_lib.changed_fields(saved, current) == ["model.compute_dtype"]
  assert not config_lib.is_resumable_change("model.compute_dtype")
  # A model config lacking the field builds float32 models.
  model_config = _model_config("mlp", "float32")
  del model_config["compute_dtype"]
  generator, discriminator = models.make_models(model_config, (2,))
  assert generator.dtype == discriminator.dtype == jnp.float32
