"""The Algorithm 1 update: k D steps + 1 G step, data-parallel, deterministic.

Runs on the 4 fake CPU devices of conftest.py; every case uses tiny MLPs so
that compiling (the cost here) stays small.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import helpers

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import losses
from gan_jax import models as model_lib
from gan_jax import step as step_lib

# Compiling dominates these tests; XLA's backend optimisations change nothing
# they check (same function, same results to float rounding) and cost ~3x.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def tiny_config(**overrides):
  config = config_lib.default_config()
  config.data = data.default_data_config("ring")
  config.model.latent_dim = 4
  config.model.generator_widths = (8, 8)
  config.model.discriminator_widths = (8, 8)
  config.train.batch_size = 16
  for field, value in overrides.items():
    node = config
    *parents, last = field.split(".")
    for part in parents:
      node = node[part]
    node[last] = value
  config_lib.validate(config, 4)
  return config


# Exercises every code path that could depend on the device count: k > 1,
# R1, EMA, BatchNorm in G (cross-device statistics), dropout in D.
FULL = dict(**{
    "train.discriminator_steps": 2,
    "loss.r1_gamma": 0.1,
    "train.ema_decay": 0.9,
    "model.generator_batch_norm": True,
    "model.discriminator_dropout": 0.2,
})


def build(config, num_devices, sampler=None, label_probs=None):
  shape = data.data_shape(config.data)
  generator, discriminator = model_lib.make_models(
      config.model, shape, axis_name=step_lib.AXIS)
  models = step_lib.Models(generator, discriminator)
  sampler = sampler or step_lib.make_real_sampler(config.data)
  update = step_lib.make_update(config, models, sampler,
                                num_devices=num_devices,
                                label_probs=label_probs)
  parallel = step_lib.DataParallel(update, jax.devices()[:num_devices],
                                   compiler_options=FAST_COMPILE)
  state = step_lib.init_state(config, models, shape,
                              compiler_options=FAST_COMPILE)
  return parallel, state, models


def run(config, num_devices=1, calls=(1,), dataset=None, sampler=None):
  """Runs len(calls) dispatches of calls[i] steps; returns (state, metrics)."""
  parallel, state, _ = build(config, num_devices, sampler)
  state = parallel.place(state)
  if dataset is not None:
    dataset = parallel.place(dataset)
  all_metrics = []
  for num_steps in calls:
    state, metrics = parallel.run(state, dataset, num_steps)
    all_metrics.append(jax.device_get(metrics))
  metrics = {k: np.concatenate([m[k] for m in all_metrics])
             for k in all_metrics[0]}
  return parallel.fetch(state), metrics


def assert_trees_close(a, b, atol=1e-5):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0,
                               atol=atol)


@functools.lru_cache(maxsize=None)
def full_run(num_devices, calls=(20,)):
  return run(tiny_config(**FULL), num_devices, calls)


@pytest.mark.parametrize("num_devices", [2, 4])
def test_device_count_does_not_change_parameters(num_devices):
  reference, ref_metrics = full_run(1)
  state, metrics = full_run(num_devices)
  assert int(state.step) == 20
  assert_trees_close(reference, state)
  for name in step_lib.METRIC_NAMES:
    np.testing.assert_allclose(metrics[name], ref_metrics[name], atol=1e-4,
                               rtol=1e-4)


def test_training_changes_everything_it_should():
  initial = build(tiny_config(**FULL), 1)[1]
  state, metrics = full_run(1)
  for name in ("g_params", "d_params", "g_opt_state", "d_opt_state",
               "ema_g_params", "g_batch_stats"):
    before = jax.tree.leaves(getattr(initial, name))
    after = jax.tree.leaves(getattr(state, name))
    assert any(not np.allclose(x, y) for x, y in zip(before, after)), name
  np.testing.assert_array_equal(state.rng, initial.rng)
  for name in step_lib.METRIC_NAMES:
    assert np.all(np.isfinite(metrics[name])), name
  assert np.all(metrics["r1_penalty"] > 0)
  assert np.all((metrics["d_real"] > 0) & (metrics["d_real"] < 1))
  # EMA: 20 updates at decay 0.9 from the initial weights lie between them.
  ema = jax.tree.leaves(state.ema_g_params)
  assert any(not np.allclose(e, p) for e, p in
             zip(ema, jax.tree.leaves(state.g_params)))


@functools.partial(jax.jit, static_argnums=(0, 1, 3, 5),
                   compiler_options=FAST_COMPILE)
def manual_iterations(config, models, state, sampler, fake_fraction,
                      num_iterations):
  """Algorithm 1 written out in plain JAX on one global batch, no mapping.

  Uses the key derivation documented in gan_jax.step: per step s,
  key_s = fold_in(rng, s); D sub-step j draws x with fold_in(fold_in(
  fold_in(key_s, 0), j), 0) and z with ...(j), 1); G's z uses
  fold_in(fold_in(key_s, 1), 0); each folded again with the example index.
  Returns (g_params, d_params, real batches [num_iterations * k, m, d]).
  """
  generator, discriminator = models
  k = config.train.discriminator_steps
  batch = config.train.batch_size
  latent = config.model.latent_dim
  ids = jnp.arange(batch)
  g_opt = step_lib.make_optimizer(config.optimizer.generator)
  d_opt = step_lib.make_optimizer(config.optimizer.discriminator)
  g_params, d_params = state.g_params, state.d_params
  g_opt_state, d_opt_state = state.g_opt_state, state.d_opt_state
  G = lambda p, z: generator.apply({"params": p}, z, train=True)
  D = lambda p, x: discriminator.apply({"params": p}, x, train=True)
  real_batches = []
  for s in range(num_iterations):
    key_s = jax.random.fold_in(state.rng, s)
    for j in range(k):
      key = jax.random.fold_in(jax.random.fold_in(key_s, 0), j)
      x = sampler(jax.random.fold_in(key, 0), ids, None)[0]
      real_batches.append(x)
      z = step_lib.sample_noise(jax.random.fold_in(key, 1), ids, latent)
      fake = G(g_params, z)
      d_loss = lambda p: losses.discriminator_loss(
          D(p, x), D(p, fake), fake_fraction=fake_fraction)
      grads = jax.grad(d_loss)(d_params)
      updates, d_opt_state = d_opt.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
    z = step_lib.sample_noise(
        jax.random.fold_in(jax.random.fold_in(key_s, 1), 0), ids, latent)
    g_loss = lambda p: losses.non_saturating_generator_loss(D(d_params,
                                                              G(p, z)))
    grads = jax.grad(g_loss)(g_params)
    updates, g_opt_state = g_opt.update(grads, g_opt_state, g_params)
    g_params = optax.apply_updates(g_params, updates)
  return g_params, d_params, jnp.stack(real_batches)


class _Hashable:
  """Wraps a config so that jax.jit can take it as a static argument."""

  def __init__(self, value):
    self.value = value

  def __getattr__(self, name):
    return getattr(self.value, name)


def test_matches_algorithm_1_written_out():
  """k=3, pi=0.3, SGD with momentum on 2 devices == the plain-JAX loop.

  Also counts, while the compiled step runs, the real batches it draws:
  3 per generator step.
  """
  config = tiny_config(**{"train.discriminator_steps": 3,
                          "loss.fake_fraction": 0.3,
                          "optimizer.generator.name": "sgd",
                          "optimizer.generator.learning_rate": 0.05,
                          "optimizer.generator.momentum": 0.5,
                          "optimizer.discriminator.name": "sgd",
                          "optimizer.discriminator.learning_rate": 0.05,
                          "optimizer.discriminator.momentum": 0.5})
  sampler = step_lib.make_real_sampler(config.data)
  draws = []

  def counting_sampler(key, ids, dataset, draw):
    jax.debug.callback(lambda: draws.append(1))
    return sampler(key, ids, dataset, draw)

  parallel, initial, models = build(config, 2, sampler=counting_sampler)
  state, metrics = parallel.run(parallel.place(initial), None, 2)
  state = parallel.fetch(state)
  jax.effects_barrier()
  # 2 iterations x k=3 D steps, on each of the 2 devices.
  assert len(draws) == 2 * 3 * 2

  static = _Hashable(config)
  g_params, d_params, real = manual_iterations(static, models, initial,
                                               sampler, 0.3, 2)
  assert_trees_close(state.g_params, g_params)
  assert_trees_close(state.d_params, d_params)
  # Each D step had a fresh real batch.
  real = np.asarray(real)
  assert real.shape == (6, 16, 2)
  assert len({batch.tobytes() for batch in real}) == 6

  # pi = 1/2 would have computed a different D update from the same samples.
  _, d_half, _ = manual_iterations(static, models, initial, sampler, 0.5, 2)
  assert any(not np.allclose(a, b, atol=1e-4) for a, b in
             zip(jax.tree.leaves(d_half), jax.tree.leaves(state.d_params)))


@pytest.mark.parametrize("name", losses.NAMES)
def test_every_loss_builds(name):
  """Traces (without compiling) one step for every loss name."""
  config = tiny_config(**{"loss.name": name})
  parallel, state, _ = build(config, 2)
  shapes = jax.eval_shape(parallel.call_fn(1), parallel.place(state), None)
  _, metrics = shapes
  assert set(metrics) == set(step_lib.METRIC_NAMES)
  assert metrics["d_loss"].shape == (1,)


def test_image_data_is_sharded_and_sampled_per_device():
  """Images: device d holds rows [d*S, (d+1)*S) and draws from them only.

  Hinge loss; the state is donated.
  """
  images = np.random.default_rng(0).integers(0, 256, (41, 8, 8, 1),
                                             dtype=np.uint8)
  config = tiny_config(**{"loss.name": "hinge"})
  config.data = data.default_data_config("fashion_mnist")
  sampler = step_lib.make_real_sampler(config.data)
  # Every drawn example is one of the shard's images, in [-1, 1].
  shard = images[10:20]
  x = np.asarray(sampler(jax.random.PRNGKey(0), jnp.arange(16),
                         jnp.asarray(shard))[0])
  expected = shard.astype(np.float32) / 127.5 - 1.0
  for example in x:
    assert np.any(np.all(np.isclose(expected, example, atol=1e-6),
                         axis=(1, 2, 3)))
  # data_shape would read IDX files; give the step the shape directly.
  shape = images.shape[1:]
  generator, discriminator = model_lib.make_models(config.model, shape,
                                                   axis_name=step_lib.AXIS)
  models = step_lib.Models(generator, discriminator)
  loads = []

  def load(start, stop):
    loads.append((start, stop))
    return images[start:stop]

  update = step_lib.make_update(config, models, sampler, num_devices=2)
  parallel = step_lib.DataParallel(update, jax.devices()[:2],
                                   compiler_options=FAST_COMPILE)
  dataset = parallel.place_images(images.shape[0], load)
  # 41 images on 2 devices: 20 each, the last one unused.
  assert loads[-1] == (0, 40)
  assert dataset.shape == (40, 8, 8, 1)
  for piece in dataset.addressable_shards:
    d = parallel.devices.index(piece.device)
    np.testing.assert_array_equal(np.asarray(piece.data),
                                  images[d * 20:(d + 1) * 20])
  state = parallel.place(step_lib.init_state(
      config, models, shape, compiler_options=FAST_COMPILE))
  leaf = jax.tree.leaves(state.d_params)[0]
  _, metrics = parallel.run(state, dataset, 3)
  assert leaf.is_deleted()  # the state was donated
  assert np.all(np.isfinite(np.asarray(metrics["d_loss"])))

  # Fewer images than devices: a DataError naming the source.
  with pytest.raises(data.DataError, match="my.idx: 1 training examples for "
                     "2 devices"):
    parallel.place_images(1, load, source="my.idx")


def test_one_device_samples_from_the_whole_data_set():
  """With one device the shard is the data set: u_i uniform over all N."""
  images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
  config = tiny_config()
  config.data = data.default_data_config("fashion_mnist")
  parallel = step_lib.DataParallel(lambda s, d: (s, {}), jax.devices()[:1])
  dataset = parallel.place_images(50, lambda a, b: images[a:b])
  assert dataset.shape == (50, 1, 1, 1)
  sampler = step_lib.make_real_sampler(config.data)
  x = np.asarray(sampler(jax.random.PRNGKey(0), jnp.arange(200),
                         jnp.asarray(images))[0])
  drawn = np.rint((x.reshape(-1) + 1.0) * 127.5).astype(int)
  assert drawn.min() >= 0 and drawn.max() <= 49
  assert len(set(drawn.tolist())) > 40  # over the whole range, not a slice


@pytest.mark.parametrize("step, decay, expected", [
    (0, 0.9995, 0.1),             # the first update keeps 10% of the init
    (1, 0.9995, 2 / 11),
    (3000, 0.9995, 3001 / 3010),  # still warming up
    (17990, 0.9995, 0.9995),      # (10 * 0.9995 - 1) / 0.0005 = 17990
    (10**6, 0.9995, 0.9995),
    (20, 0.5, 0.5),
])
def test_ema_decay_warms_up(step, decay, expected):
  value = step_lib.ema_decay_at(jnp.int32(step), decay)
  assert value.dtype == jnp.float32
  np.testing.assert_allclose(float(value), expected, rtol=1e-6)


def test_ema_follows_its_formula_from_the_first_step():
  """ema_t = b_t ema_{t-1} + (1 - b_t) g_t, b_t = min(d, (1+t)/(10+t)).

  Checked against the G weights after each of 12 one-step calls, in float64
  on the host; and the initial (random) weights' share of the EMA is the
  product of the decays, 0.1 * 2/11 * ... = 9! 12! / 21! = 3.4e-6 after 12
  steps.
  """
  decay = 0.99
  config = tiny_config(**{**FULL, "train.ema_decay": decay})
  parallel, state, _ = build(config, 1)
  expected = jax.tree.map(lambda x: np.asarray(x, np.float64),
                          state.g_params)
  constant = expected  # the old EMA, decay 0.99 from the first step
  state = parallel.place(state)
  share = 1.0
  for t in range(12):
    state, _ = parallel.run(state, None, 1)
    host = parallel.fetch(state)
    b = min(decay, (1 + t) / (10 + t))
    share *= b
    expected = jax.tree.map(lambda e, g, b=b: b * e + (1 - b) * np.asarray(
        g, np.float64), expected, host.g_params)
    constant = jax.tree.map(lambda e, g: decay * e + (1 - decay) * np.asarray(
        g, np.float64), constant, host.g_params)
  np.testing.assert_allclose(share, 362880 * 479001600 / 51090942171709440000,
                             rtol=1e-9)
  for got, want in zip(jax.tree.leaves(host.ema_g_params),
                       jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
  # The check can fail: the old constant-decay EMA (89% initial weights
  # after 12 steps at 0.99) is far from it.
  far = max(float(np.max(np.abs(e - c))) for e, c in zip(
      jax.tree.leaves(host.ema_g_params), jax.tree.leaves(constant)))
  assert far > 1e-3


# --- The EMA generator's own BatchNorm statistics (standing statistics).


def _batch_norm_generator(momentum):
  model_config = helpers.small_model_config(
      "mlp", batch_norm_momentum=momentum, generator_batch_norm=True)
  generator, _ = model_lib.make_models(model_config, (2,))
  z = jnp.zeros((4, model_config.latent_dim))
  variables = generator.init(jax.random.PRNGKey(0), z, train=False)
  return generator, variables["params"], variables["batch_stats"]


@pytest.mark.parametrize("momentum", [0.9, 0.99])
def test_batch_norm_statistics_are_the_first_layers_batch_moments(momentum):
  generator, params, batch_stats = _batch_norm_generator(momentum)
  # Running averages far from the batch's: none of them may leak through.
  batch_stats = jax.tree.map(lambda x: x + 5.0, batch_stats)
  z = jax.random.normal(jax.random.PRNGKey(1), (64, 8))
  stats = step_lib.batch_norm_statistics(generator, params, batch_stats, z)
  # The first hidden block: Dense (no bias) -> BatchNorm.
  dense = params["hidden_0"]["dense"]
  h = np.asarray(z @ dense["kernel"], np.float64)  # no bias before BN
  bn = stats["hidden_0"]["bn"]
  np.testing.assert_allclose(bn["mean"], h.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(bn["var"], h.var(0), rtol=1e-5, atol=1e-6)
  assert jax.tree.structure(stats) == jax.tree.structure(batch_stats)


def test_batch_norm_statistics_of_a_generator_without_batch_norm():
  config = tiny_config()
  generator, _ = model_lib.make_models(config.model, (2,))
  assert step_lib.batch_norm_statistics(generator, {}, {}, jnp.zeros(
      (4, 4))) == {}


@pytest.mark.parametrize("ema_decay", [0.0, 0.5])
def test_sampling_uses_the_ema_generators_own_statistics(ema_decay):
  from gan_jax.train import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  config = tiny_config(**{"model.generator_batch_norm": True,
                          "train.ema_decay": ema_decay})
  exp = experiment_lib.Experiment(config, load_data=False)
  state = exp.initial_state()
  if ema_decay:
    state = state.replace(ema_g_params=jax.tree.map(
        lambda p: p * 1.5 + 0.1, state.g_params))
  stats = exp.sampling_batch_stats(state)
  if not ema_decay:
    assert stats is state.g_batch_stats
    return
  generator, _ = model_lib.make_models(config.model, (2,))
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed),
                           experiment_lib.STANDING_STATS_STREAM)
  expected = [step_lib.batch_norm_statistics(
      generator, state.ema_g_params, state.g_batch_stats,
      exp.noise(jax.random.fold_in(key, b), config.train.batch_size))
              for b in range(experiment_lib.STANDING_STATS_BATCHES)]
  expected = jax.tree.map(lambda *xs: np.mean(xs, axis=0), *expected)
  assert jax.tree.structure(stats) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(stats), jax.tree.leaves(expected)):
    # jit vs eager float32 rounding only.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # Not the running averages, and computed once per step.
  assert not np.allclose(jax.tree.leaves(stats)[0],
                         jax.tree.leaves(state.g_batch_stats)[0])
  assert exp.sampling_batch_stats(state) is stats


# ----------------------------------------------------------------------------
# The seed notebooks' options (experiments/configs/seed_notebook_*.py):
# weight clipping, RMSProp, uniform noise, G's step on D's noise, a C-GAN's
# fakes on the real labels.
# ----------------------------------------------------------------------------

NUM_MODES = 8  # the ring's modes: its labels for a conditional toy run

# The notebook WGAN's options on the ring (k = 3, clipping that bites).
WGAN_NOTEBOOK = {
    "loss.name": "wasserstein",
    "loss.weight_clip": 0.5,
    "train.discriminator_steps": 3,
    "train.generator_noise": "discriminator",
    "model.latent_distribution": "uniform",
    "optimizer.generator.name": "rmsprop",
    "optimizer.discriminator.name": "rmsprop",
    "optimizer.generator.learning_rate": 0.01,
    "optimizer.discriminator.learning_rate": 0.01,
    "optimizer.generator.eps": 1e-10,
    "optimizer.discriminator.eps": 1e-10,
    "optimizer.generator.initial_scale": 1.0,
    "optimizer.discriminator.initial_scale": 1.0,
}
# The notebook C-GAN's options on the ring (k = 2: G reuses the last z).
CGAN_NOTEBOOK = {
    "model.num_classes": NUM_MODES,
    "model.generator_conditioning": "concat",
    "model.discriminator_conditioning": "concat",
    "train.fake_labels": "real",
    "train.discriminator_steps": 2,
    "train.generator_noise": "discriminator",
    "model.latent_distribution": "uniform",
    "optimizer.generator.learning_rate": 0.01,
    "optimizer.discriminator.learning_rate": 0.01,
}


def tf1_rmsprop(learning_rate, decay=0.9, eps=1e-10):
  """TF1's tf.train.RMSPropOptimizer (momentum 0), written out.

  ms starts at 1; ms <- decay ms + (1 - decay) g^2; p <- p - lr g /
  sqrt(ms + eps). (An optax-independent reference for the 'rmsprop'
  optimiser with initial_scale = 1.)
  """
  def init(params):
    return jax.tree.map(jnp.ones_like, params)

  def update(grads, ms, params):
    ms = jax.tree.map(lambda m, g: decay * m + (1 - decay) * g * g, ms, grads)
    params = jax.tree.map(lambda p, g, m: p - learning_rate * g /
                          jnp.sqrt(m + eps), params, grads, ms)
    return params, ms

  return init, update


def adam_written_out(learning_rate):
  opt = optax.adam(learning_rate)

  def update(grads, state, params):
    updates, state = opt.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return opt.init, update


def build_options(config, num_devices, sampler):
  """`build` with uniform class frequencies for a conditional model."""
  label_probs = (np.full(config.model.num_classes, 1 / NUM_MODES)
                 if config.model.num_classes else None)
  return build(config, num_devices, sampler, label_probs)


def notebook_iterations(config, models, state, sampler, optimizer,
                        num_iterations, *, clip, reuse, real_labels):
  """The seed notebooks' training loop in plain JAX, one global batch.

  Per iteration: k critic steps, each on a fresh real batch and fresh
  uniform z, then (clip > 0) every D parameter clipped to [-clip, clip];
  G's step on the last critic step's z (and labels) when `reuse`, else on
  fresh ones; a conditional pair's fakes take the real batch's labels when
  `real_labels`. Keys as documented in gan_jax.step.
  """
  generator, discriminator = models
  k = config.train.discriminator_steps
  ids = jnp.arange(config.train.batch_size)
  latent = config.model.latent_dim
  conditional = config.model.num_classes > 0
  wasserstein = config.loss.name == "wasserstein"
  opt_init, opt_update = optimizer
  g_params, d_params = state.g_params, state.d_params
  g_state, d_state = opt_init(g_params), opt_init(d_params)

  def G(p, z, y):
    args = (z, y) if conditional else (z,)
    return generator.apply({"params": p}, *args, train=True)

  def D(p, x, y):
    args = (x, y) if conditional else (x,)
    return discriminator.apply({"params": p}, *args, train=True)

  def uniform(key):
    return jax.vmap(lambda i: jax.random.uniform(
        jax.random.fold_in(key, i), (latent,), jnp.float32, -1.0, 1.0))(ids)

  def draw_labels(key):
    return step_lib.sample_labels(key, ids, jnp.log(jnp.full(
        NUM_MODES, 1 / NUM_MODES)))

  for s in range(num_iterations):
    key_s = jax.random.fold_in(state.rng, s)
    for j in range(k):
      key = jax.random.fold_in(jax.random.fold_in(key_s, 0), j)
      x, y = sampler(jax.random.fold_in(key, 0), ids, None, j)
      z = uniform(jax.random.fold_in(key, 1))
      y_fake = (y if real_labels else draw_labels(jax.random.fold_in(key, 4))
                ) if conditional else None
      fake = G(g_params, z, y_fake)
      if wasserstein:
        d_loss = lambda p: jnp.mean(D(p, fake, y_fake)) - jnp.mean(D(p, x, y))
      else:
        d_loss = lambda p: losses.discriminator_loss(D(p, x, y),
                                                     D(p, fake, y_fake))
      d_params, d_state = opt_update(jax.grad(d_loss)(d_params), d_state,
                                     d_params)
      if clip:
        d_params = jax.tree.map(lambda p: jnp.clip(p, -clip, clip), d_params)
    if not reuse:
      g_key = jax.random.fold_in(key_s, 1)
      z = uniform(jax.random.fold_in(g_key, 0))
      y_fake = (draw_labels(jax.random.fold_in(g_key, 4)) if conditional
                else None)
    if wasserstein:
      g_loss = lambda p: -jnp.mean(D(d_params, G(p, z, y_fake), y_fake))
    else:
      g_loss = lambda p: losses.non_saturating_generator_loss(
          D(d_params, G(p, z, y_fake), y_fake))
    g_params, g_state = opt_update(jax.grad(g_loss)(g_params), g_state,
                                   g_params)
  return g_params, d_params


@pytest.mark.parametrize("options", ["wgan", "cgan"])
def test_seed_notebook_loop_written_out(options):
  """The compiled step with the notebooks' options == their loop by hand.

  WGAN: RMSProp as TF1 (ms from 1, eps 1e-10), 3 critic steps each
  followed by clipping, G on the last critic step's z, uniform z. C-GAN:
  fakes on the real batch's labels (the ring's mode indices), G on the
  last D sub-step's z and labels. Each also shown to differ from the loop
  without the option, so that the comparison can fail.
  """
  overrides = WGAN_NOTEBOOK if options == "wgan" else CGAN_NOTEBOOK
  config = tiny_config(**overrides)
  conditional = options == "cgan"
  sampler = step_lib.make_real_sampler(config.data, labels=conditional)
  parallel, initial, models = build_options(config, 2, sampler)
  state = parallel.fetch(parallel.run(parallel.place(initial), None, 3)[0])
  optimizer = (tf1_rmsprop(0.01) if options == "wgan" else
               adam_written_out(0.01))
  static = dict(config=config, models=models, state=initial, sampler=sampler,
                optimizer=optimizer, num_iterations=3)
  clip = config.loss.weight_clip
  g_params, d_params = notebook_iterations(
      **static, clip=clip, reuse=True, real_labels=conditional)
  assert_trees_close(state.g_params, g_params, atol=2e-5)
  assert_trees_close(state.d_params, d_params, atol=2e-5)

  # Without the option the same loop ends elsewhere.
  changed = [dict(reuse=False, clip=clip, real_labels=conditional)]
  if options == "wgan":
    changed.append(dict(reuse=True, clip=0.0, real_labels=False))
  else:
    changed.append(dict(reuse=True, clip=0.0, real_labels=False))
  for variant in changed:
    other_g, other_d = notebook_iterations(**static, **variant)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(
        jax.tree.leaves((other_g, other_d)),
        jax.tree.leaves((state.g_params, state.d_params)))), variant


def test_weight_clip_bounds_every_critic_step():
  """|p| <= c for every D parameter after every critic step; without the
  clip the same run leaves [-c, c] (so the check can fail)."""
  clip = 0.01
  config = tiny_config(**{"loss.name": "wasserstein",
                          "loss.weight_clip": clip,
                          "optimizer.discriminator.learning_rate": 0.05})
  sampler = step_lib.make_real_sampler(config.data)
  parallel, state, _ = build_options(config, 1, sampler)
  state = parallel.place(state)
  for _ in range(5):  # k = 1: one critic step per call
    state, _ = parallel.run(state, None, 1)
    leaves = jax.tree.leaves(parallel.fetch(state).d_params)
    assert max(float(np.max(np.abs(p))) for p in leaves) <= np.float32(clip)
  config.loss.weight_clip = 0.0
  parallel, state, _ = build_options(config, 1, sampler)
  state = parallel.fetch(parallel.run(parallel.place(state), None, 5)[0])
  assert max(float(np.max(np.abs(p)))
             for p in jax.tree.leaves(state.d_params)) > clip


def test_clip_weights():
  params = {"a": jnp.array([-0.5, -0.05, 0.0, 0.05, 0.5]),
            "b": {"c": jnp.array([[2.0]])}}
  clipped = step_lib.clip_weights(params, 0.1)
  np.testing.assert_array_equal(
      clipped["a"], np.float32([-0.1, -0.05, 0.0, 0.05, 0.1]))
  np.testing.assert_array_equal(clipped["b"]["c"], np.float32([[0.1]]))
  assert step_lib.clip_weights(params, 0.0) is params


@pytest.mark.parametrize("distribution, mean, variance, low, high", [
    ("normal", 0.0, 1.0, -np.inf, np.inf),
    ("uniform", 0.0, 1.0 / 3.0, -1.0, 1.0),
])
def test_latent_distribution(distribution, mean, variance, low, high):
  z = np.asarray(step_lib.sample_noise(jax.random.PRNGKey(0),
                                       jnp.arange(20_000), 10, distribution))
  assert z.shape == (20_000, 10)
  assert low <= z.min() and z.max() <= high
  # 200,000 draws: standard errors 0.0022 (mean), 0.003 (variance).
  assert abs(z.mean() - mean) < 0.01
  assert abs(z.var() - variance) < 0.015
  if distribution == "uniform":
    assert z.min() < -0.999 and z.max() > 0.999


def test_latent_distribution_unknown():
  with pytest.raises(ValueError, match="config.model.latent_distribution"):
    step_lib.draw_latent(jax.random.PRNGKey(0), (2, 3), "laplace")


@pytest.mark.parametrize("name, decay, eps, initial_scale", [
    ("rmsprop", 0.9, 1e-10, 1.0), ("rmsprop", 0.99, 1e-8, 0.0)])
def test_rmsprop_matches_its_formula(name, decay, eps, initial_scale):
  """ν ← ρν + (1-ρ)g², θ ← θ - lr g / sqrt(ν + ε), ν₀ = initial_scale."""
  config = config_lib.default_config().optimizer.generator
  config.update(dict(name=name, learning_rate=0.1, decay=decay, eps=eps,
                     initial_scale=initial_scale))
  opt = step_lib.make_optimizer(config)
  params = jnp.array([1.0, -2.0, 0.5])
  state = opt.init(params)
  nu = np.full(3, initial_scale)
  expected = np.asarray(params, np.float64)
  for t in range(4):
    grads = jnp.array([0.3, -1.0, 2.0]) * (t + 1)
    updates, state = opt.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    g = np.asarray(grads, np.float64)
    nu = decay * nu + (1 - decay) * g * g
    expected = expected - 0.1 * g / np.sqrt(nu + eps)
    np.testing.assert_allclose(params, expected, rtol=1e-5, atol=1e-6)
