"""The step's objective interface, D's penalties and spectral normalisation.

The penalties are checked on a linear critic D(x) = w.x + b, whose input
gradient is w everywhere: R1 = R2 = |w|^2 and GP = (|w| - 1)^2 exactly.
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax import models as model_lib
from gan_jax import step as step_lib
from gan_jax.step import objective as objective_lib
from gan_jax.step import update as update_lib

from test_step import assert_trees_close
from test_step import build
from test_step import run
from test_step import tiny_config


class LinearCritic(nn.Module):
  """D(x) = w.x + b: its input gradient is w for every x."""

  @nn.compact
  def __call__(self, x, train=True):
    del train
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def linear_setup(config, per_device):
  setup = update_lib.update_setup(
      config, step_lib.Models(None, LinearCritic()),
      sample_real=None, num_devices=1, axis_name=step_lib.AXIS)
  return dataclasses.replace(setup, per_device=per_device)


PENALTY_CASES = {
    # config overrides -> expected {metric: value(w)}
    "r1": ({"loss.r1_gamma": 0.4}, {"r1_penalty": lambda n: n**2}),
    "r2": ({"loss.r2_gamma": 0.6}, {"r2_penalty": lambda n: n**2}),
    "gp": ({"loss.gp_weight": 10.0, "loss.name": "wasserstein"},
           {"gradient_penalty": lambda n: (n - 1.0)**2}),
    "all": ({"loss.r1_gamma": 0.4, "loss.r2_gamma": 0.6,
             "loss.gp_weight": 3.0, "loss.name": "relativistic"},
            {"r1_penalty": lambda n: n**2, "r2_penalty": lambda n: n**2,
             "gradient_penalty": lambda n: (n - 1.0)**2}),
}
WEIGHTS = {"r1_penalty": lambda c: c.loss.r1_gamma / 2,
           "r2_penalty": lambda c: c.loss.r2_gamma / 2,
           "gradient_penalty": lambda c: c.loss.gp_weight}


# Compiling the penalised D loss dominates: the slow pass (.ci/run) runs it.
@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PENALTY_CASES))
def test_penalties_of_a_linear_critic(case):
  overrides, expected = PENALTY_CASES[case]
  config = tiny_config(**overrides)
  n = 6
  setup = linear_setup(config, n)
  key = jax.random.PRNGKey(1)
  real = jax.random.normal(jax.random.fold_in(key, 0), (n, 2))
  fake = jax.random.normal(jax.random.fold_in(key, 1), (n, 2)) + 3.0
  params = LinearCritic().init(key, real)["params"]
  w = np.asarray(params["Dense_0"]["kernel"])[:, 0]
  loss, (real_out, fake_out, _, values) = jax.jit(functools.partial(
      update_lib.penalised_discriminator_loss, setup=setup, d_batch_stats={},
      real=real, fake=fake, key=key, example_ids=jnp.arange(n)))(params)
  assert set(values) == set(expected)
  norm = float(np.linalg.norm(w))
  for name, formula in expected.items():
    np.testing.assert_allclose(values[name], formula(norm), rtol=1e-5)
  game = setup.objective.discriminator(real_out, fake_out)
  weighted = sum(WEIGHTS[name](config) * formula(norm)
                 for name, formula in expected.items())
  np.testing.assert_allclose(loss, game + weighted, rtol=1e-5)


def test_gradient_penalty_interpolates_per_example_between_real_and_fake():
  key = jax.random.PRNGKey(0)
  real = jnp.zeros((5, 3))
  fake = jnp.ones((5, 3))
  ids = jnp.arange(5)
  mixed = update_lib.interpolate(real, fake, key, ids)
  # Each example is real + a (fake - real) with its own a in (0, 1), the
  # same on every coordinate, keyed by the example's id (not its position).
  a = np.asarray(mixed[:, 0])
  np.testing.assert_array_equal(np.asarray(mixed), np.repeat(a[:, None], 3, 1))
  assert np.all((a > 0) & (a < 1)) and len(set(a.tolist())) == 5
  shifted = update_lib.interpolate(real[:2], fake[:2], key, ids[3:])
  np.testing.assert_array_equal(shifted[:, 0], a[3:])


@pytest.mark.parametrize("name", losses.NAMES)
def test_objective_calls_the_named_losses(name):
  config = tiny_config(**{"loss.name": name})
  objective = objective_lib.make_objective(config.loss)
  pair = losses.get(name)
  real = jnp.linspace(-2.0, 3.0, 8)
  fake = jnp.linspace(1.0, -4.0, 8)
  d_kwargs = {k: config.loss[k] for k in pair.discriminator_options}
  np.testing.assert_array_equal(objective.discriminator(real, fake),
                                pair.discriminator(real, fake, **d_kwargs))
  g_kwargs = {k: config.loss[k] for k in pair.generator_options}
  if pair.generator_needs_real:
    expected = pair.generator(real, fake, **g_kwargs)
  else:
    expected = pair.generator(fake, **g_kwargs)
  np.testing.assert_array_equal(objective.generator(fake, real), expected)
  assert objective.generator_needs_real == (name == "relativistic")


@pytest.mark.parametrize("divergence", losses.F_GAN_DIVERGENCES)
def test_f_gan_objective_takes_the_configured_divergence(divergence):
  config = tiny_config(**{"loss.name": "f_gan", "loss.divergence": divergence})
  objective = objective_lib.make_objective(config.loss)
  real, fake = jnp.linspace(-2.0, 1.0, 8), jnp.linspace(0.5, -1.0, 8)
  np.testing.assert_array_equal(
      objective.discriminator(real, fake),
      losses.f_gan_discriminator_loss(real, fake, divergence=divergence))
  np.testing.assert_array_equal(
      objective.generator(fake, None),
      losses.f_gan_generator_loss(fake, divergence=divergence))


def counting_sampler(config):
  """The real sampler, counting how often the traced update calls it."""
  sampler = step_lib.make_real_sampler(config.data)
  calls = []

  def sample(key, example_ids, dataset, draw):
    calls.append(1)
    return sampler(key, example_ids, dataset, draw)
  return sample, calls


# Each case compiles a step: they run with the end-to-end tests.
@pytest.mark.slow
@pytest.mark.parametrize("name,k,expected_calls", [
    ("non_saturating", 1, 1), ("relativistic", 1, 2),
    ("non_saturating", 2, 2), ("relativistic", 2, 3)])
def test_generator_step_draws_reals_only_when_its_loss_needs_them(
    name, k, expected_calls):
  config = tiny_config(**{"loss.name": name,
                          "train.discriminator_steps": k})
  sampler, calls = counting_sampler(config)
  run(config, 1, calls=(1,), sampler=sampler)
  assert len(calls) == expected_calls


MODERN = {"loss.name": "relativistic", "loss.r1_gamma": 0.2,
          "loss.r2_gamma": 0.2, "loss.gp_weight": 1.0,
          "model.discriminator_spectral_norm": True,
          "train.discriminator_steps": 2}


@functools.lru_cache(maxsize=None)
def modern_run(num_devices, calls=(6,)):
  return run(tiny_config(**MODERN), num_devices, calls=calls)


# The next three compile the full modern step (k = 2, three penalties,
# spectral norm) or a DCGAN: they run in the slow pass (.ci/run).
@pytest.mark.slow
def test_modern_objective_does_not_depend_on_the_device_count():
  reference, ref_metrics = modern_run(1)
  state, metrics = modern_run(4)
  assert_trees_close(reference, state)
  assert set(metrics) == set(step_lib.METRIC_NAMES) | {"r2_penalty",
                                                       "gradient_penalty"}
  for name, values in metrics.items():
    assert np.all(np.isfinite(values)), name
    np.testing.assert_allclose(values, ref_metrics[name], atol=1e-4,
                               rtol=1e-4)
  assert np.all(metrics["r2_penalty"] > 0)


@pytest.mark.slow
def test_spectral_norm_state_is_carried_between_calls():
  config = tiny_config(**MODERN)
  straight, _ = modern_run(1)
  chunked, _ = run(config, 1, calls=(3, 3))
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(chunked)):
    np.testing.assert_array_equal(a, b)
  # The power iteration's vectors and sigma live in D's batch_stats and move.
  initial = build(config, 1)[1]
  sigmas = [path for path, _ in
            jax.tree_util.tree_leaves_with_path(straight.d_batch_stats)
            if "sigma" in jax.tree_util.keystr(path)]
  assert len(sigmas) == len(config.model.discriminator_widths) + 1
  for a, b in zip(jax.tree.leaves(initial.d_batch_stats),
                  jax.tree.leaves(straight.d_batch_stats)):
    assert not np.allclose(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("model,shape", [("mlp", (2,)), ("dcgan", (28, 28, 1))])
def test_spectral_norm_divides_by_the_largest_singular_value(model, shape):
  """After enough power iterations sigma is the kernel's top singular value."""
  model_config = model_lib.default_model_config(model)
  model_config.discriminator_spectral_norm = True
  model_config.discriminator_base_features = 4
  _, discriminator = model_lib.make_models(model_config, shape)
  variables = model_lib.init_variables(discriminator, jax.random.PRNGKey(0),
                                       jnp.zeros((1, *shape)))
  assert not any("BatchNorm" in k for k in variables["params"])
  x = jnp.ones((1, *shape))

  def iterate(unused_i, variables):
    _, updates = discriminator.apply(variables, x, train=True,
                                     mutable=["batch_stats"])
    return {**variables, "batch_stats": updates["batch_stats"]}
  # Power iteration converges like (s2/s1)^2t: slowly for random matrices.
  variables = jax.jit(lambda v: jax.lax.fori_loop(0, 200, iterate, v))(
      variables)
  stats = jax.tree_util.tree_leaves_with_path(variables["batch_stats"])
  kernels = jax.tree_util.tree_leaves_with_path(variables["params"])
  kernels = {jax.tree_util.keystr(p): v for p, v in kernels
             if "kernel" in jax.tree_util.keystr(p)}
  checked = 0
  for path, sigma in stats:
    path = jax.tree_util.keystr(path)
    if "sigma" not in path:
      continue
    layer = path.split("'")[1].removesuffix("_sn")
    kernel = next(v for p, v in kernels.items() if layer in p)
    matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    # Loose enough for 200 iterations; a sigma never updated (it starts at
    # 1) is 3-33% off for these kernels, a wrongly reshaped conv kernel more.
    np.testing.assert_allclose(float(sigma), top, rtol=5e-3)
    checked += 1
  assert checked >= 2
  # Inference (train=False) leaves the state alone.
  _, updates = discriminator.apply(variables, x, train=False,
                                   mutable=["batch_stats"])
  assert_trees_close(updates["batch_stats"], variables["batch_stats"], 0)
