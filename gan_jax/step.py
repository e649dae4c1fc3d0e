"""The pure training update: Goodfellow et al. 2014, Algorithm 1, data-parallel.

One iteration (one "step" everywhere in this codebase) is

  for j in 1..k:                                  k = train.discriminator_steps
    sample m real examples x and m noise vectors z (fresh for every j)
    update D by descending the discriminator loss (ascending V when the loss
      is the cross-entropy one), with fake fraction pi = loss.fake_fraction
      and, when loss.r1_gamma > 0, the R1 penalty gamma/2 E|grad_x D(x)|^2
  sample m fresh noise vectors z
  update G by descending the generator loss
  update the EMA of G's weights (when train.ema_decay > 0), with the decay
    warmed up from 0.1 (`ema_decay_at`)

`make_update` returns that iteration as a function of one device's share of
the batch, written pmap style: gradients are averaged with `lax.pmean` over
the axis named `data`. `DataParallel` maps it over devices with `jax.shard_map`
under `jax.jit` (default) or with `jax.pmap` (config.parallelism = 'pmap'),
runs `train.steps_per_call` iterations per dispatch with `lax.scan`, and
donates the state.

Determinism across device counts: every random draw is keyed by the step and
by the *global* example index i = device_index * per_device_batch + local
index, never by the device:

  key_s            = fold_in(state.rng, step)
  D sub-step j     : key_sj = fold_in(fold_in(key_s, 0), j)
                     x_i ~ p_data with key fold_in(fold_in(key_sj, 0), i)
                     z_i ~ N(0, I) with key fold_in(fold_in(key_sj, 1), i)
  G step           : z_i with key fold_in(fold_in(fold_in(key_s, 1), 0), i)
  D dropout        : per example, key fold_in(fold_in(key_sj, 2), i)

so the global batch is the same set of examples however it is split, and the
pmean of per-device mean gradients is the global mean gradient (BatchNorm
statistics are likewise pmean'd over `data`). 1, 2 or 4 devices therefore give
the same parameters up to float re-association, and so do different
`steps_per_call` chunkings and a resumed run.

One exception: an image data set is sharded over the devices
(`DataParallel.place_images`), device d holding examples [d*S, (d+1)*S) with
S = N // D, and draws its examples from its own shard; which images a step
sees therefore depends on the device count D (with one device it is the
whole data set, as before sharding). It does not depend on how the devices
are spread over processes: 2 processes of 2 devices compute what 1 process
of 4 devices computes.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

from absl import logging
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import optax

from gan_jax import data as data_lib
from gan_jax import losses
from gan_jax import models as model_lib

AXIS = "data"
PyTree = Any

# Metrics returned by every iteration, averaged over devices. D's metrics are
# those of the last of the k discriminator sub-steps, measured before its
# update; G's are those of the generator step.
METRIC_NAMES = ("d_loss", "g_loss", "value", "d_real", "d_fake", "g_grad_norm",
                "d_grad_norm", "r1_penalty")


@flax.struct.dataclass
class TrainState:
  """Everything one training run carries from step to step (a pytree).

  Attributes:
    step: int32 scalar, iterations done so far.
    g_params, d_params: generator / discriminator parameters.
    g_batch_stats, d_batch_stats: BatchNorm statistics ({} if none).
    g_opt_state, d_opt_state: optax states.
    ema_g_params: exponential moving average of g_params (decay
      `ema_decay_at(step, train.ema_decay)`), or None when train.ema_decay = 0.
    rng: base PRNG key (raw uint32[2]); every draw is folded from it.
  """
  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_batch_stats: PyTree
  d_batch_stats: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  ema_g_params: Optional[PyTree]
  rng: jax.Array


class Models(NamedTuple):
  generator: nn.Module
  discriminator: nn.Module


def learning_rate_schedule(optimizer_config: ml_collections.ConfigDict, *,
                           total_steps: int, updates_per_step: int = 1):
  """The learning rate: a float, or an optax schedule over updates.

  `decay_steps` counts training steps (0 = `total_steps`); D makes
  `updates_per_step` = k updates per step, so its schedule is stretched by k.
  """
  rate = optimizer_config.learning_rate
  schedule = optimizer_config.get("schedule", "constant")
  if schedule == "constant":
    return rate
  decay = (optimizer_config.decay_steps or total_steps) * updates_per_step
  end = rate * optimizer_config.end_factor
  if schedule == "linear":
    return optax.linear_schedule(rate, end, transition_steps=decay)
  if schedule == "cosine":
    return optax.cosine_decay_schedule(rate, decay_steps=decay,
                                       alpha=optimizer_config.end_factor)
  raise ValueError(f"unknown schedule {schedule!r}; valid: constant, linear, "
                   f"cosine")


def make_optimizer(optimizer_config: ml_collections.ConfigDict, *,
                   total_steps: int = 1,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """Adam (default) or SGD with momentum (Goodfellow et al. 2014)."""
  name = optimizer_config.name
  rate = learning_rate_schedule(optimizer_config, total_steps=total_steps,
                                updates_per_step=updates_per_step)
  if name == "adam":
    return optax.adam(rate, b1=optimizer_config.b1, b2=optimizer_config.b2)
  if name == "sgd":
    return optax.sgd(rate, momentum=optimizer_config.momentum or None)
  raise ValueError(f"unknown optimizer {name!r}; valid names: adam, sgd")


def make_optimizers(config: ml_collections.ConfigDict
                    ) -> tuple[optax.GradientTransformation,
                               optax.GradientTransformation]:
  """(G's, D's) optimisers; D's schedule counts its k updates per step."""
  steps = int(config.train.steps)
  return (make_optimizer(config.optimizer.generator, total_steps=steps),
          make_optimizer(config.optimizer.discriminator, total_steps=steps,
                         updates_per_step=int(
                             config.train.discriminator_steps)))


def init_state(config: ml_collections.ConfigDict, models: Models,
               data_shape: Sequence[int], *,
               compiler_options: Optional[dict[str, Any]] = None
               ) -> TrainState:
  """Initialises parameters, optimiser states and the base key from config.seed.

  `compiler_options` go to XLA for the jitted initialisers (see
  `DataParallel`).
  """
  key = jax.random.PRNGKey(config.seed)
  g_key, d_key, train_key = jax.random.split(key, 3)
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  x = jnp.zeros((1, *data_shape), jnp.float32)
  # Initialised with train=False: BatchNorm then needs no bound `data` axis.
  init = jax.jit(model_lib.init_variables, static_argnums=0,
                 compiler_options=compiler_options)
  g_vars = init(models.generator, g_key, z)
  d_vars = init(models.discriminator, d_key, x)
  g_params, d_params = g_vars["params"], d_vars["params"]
  g_opt, d_opt = make_optimizers(config)
  # A copy: the state is donated, and one buffer cannot be donated twice.
  ema = (jax.tree.map(jnp.copy, g_params) if config.train.ema_decay > 0 else
         None)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_batch_stats=dict(g_vars.get("batch_stats", {})),
      d_batch_stats=dict(d_vars.get("batch_stats", {})),
      g_opt_state=g_opt.init(g_params),
      d_opt_state=d_opt.init(d_params),
      ema_g_params=ema,
      rng=train_key,
  )


# ----------------------------------------------------------------------------
# Data and noise, per global example index.
# ----------------------------------------------------------------------------

# sample_real(key, example_ids [n], dataset) -> x [n, *data_shape] float32.
RealSampler = Callable[[jax.Array, jax.Array, Any], jax.Array]


def make_real_sampler(data_config: ml_collections.ConfigDict) -> RealSampler:
  """Draws real examples inside the step, one key per global example index.

  Toy data: x_i ~ p_data, sampled on device (no host-to-device copy).
  Images: x_i = shard[u_i] with u_i uniform over the device's shard of the
  data set (sampling with replacement; `dataset` inside the mapped step is
  that shard, [S, H, W, C] uint8, see `DataParallel.place_images`), then
  mapped to [-1, 1]. With one device the shard is the whole data set.
  """
  if data_lib.is_toy(data_config):
    distribution = data_lib.make_toy_distribution(data_config)

    def sample_toy(key, example_ids, dataset):
      del dataset
      one = lambda i: distribution.sample(jax.random.fold_in(key, i), 1)[0]
      return jax.vmap(one)(example_ids)

    return sample_toy

  def sample_images(key, example_ids, dataset):
    size = dataset.shape[0]
    draw = lambda i: jax.random.randint(jax.random.fold_in(key, i), (), 0, size)
    return data_lib.to_model_range(dataset[jax.vmap(draw)(example_ids)])

  return sample_images


def sample_noise(key: jax.Array, example_ids: jax.Array,
                 latent_dim: int) -> jax.Array:
  """z_i ~ N(0, I_latent_dim) keyed by fold_in(key, i): [n, latent_dim]."""
  one = lambda i: jax.random.normal(jax.random.fold_in(key, i), (latent_dim,))
  return jax.vmap(one)(example_ids)


# ----------------------------------------------------------------------------
# The per-device update.
# ----------------------------------------------------------------------------


def _apply(module: nn.Module, params, batch_stats, inputs, *, train: bool,
           rngs=None):
  """module(inputs); returns (outputs, new batch_stats) ({} stays {})."""
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
  if train and batch_stats:
    outputs, updates = module.apply(variables, inputs, train=True,
                                    mutable=["batch_stats"], rngs=rngs)
    return outputs, dict(updates["batch_stats"])
  return module.apply(variables, inputs, train=train, rngs=rngs), batch_stats


def generate(generator: nn.Module, params, batch_stats, z) -> jax.Array:
  """G(z) in inference mode (BatchNorm running averages)."""
  return _apply(generator, params, batch_stats, z, train=False)[0]


@dataclasses.dataclass(frozen=True)
class _UpdateSetup:
  """What an iteration needs besides the state (fixed when it is traced).

  Attributes:
    generator, discriminator: the models.
    loss_pair: the losses (`config.loss.name`).
    d_loss_kwargs: D loss keyword arguments (fake_fraction, label_smoothing).
    r1_gamma: R1 penalty weight; 0 = off.
    discriminator_steps: k, D sub-steps per iteration.
    ema_decay: decay of the EMA of G's weights (used when the state has one).
    latent_dim: size of z.
    per_device: examples per device, batch_size / num_devices.
    dropout: whether D has dropout (then applied one example at a time).
    g_opt, d_opt: the optimisers.
    pmean: the mean over devices (the identity on one device).
    sample_real: draws real examples (see `make_real_sampler`).
    axis_name: the mapped axis.
  """
  generator: nn.Module
  discriminator: nn.Module
  loss_pair: losses.LossPair
  d_loss_kwargs: dict[str, float]
  r1_gamma: float
  discriminator_steps: int
  ema_decay: float
  latent_dim: int
  per_device: int
  dropout: bool
  g_opt: optax.GradientTransformation
  d_opt: optax.GradientTransformation
  pmean: Callable[[PyTree], PyTree]
  sample_real: RealSampler
  axis_name: str


def _update_setup(config: ml_collections.ConfigDict, models: Models,
                  sample_real: RealSampler, num_devices: int,
                  axis_name: str) -> _UpdateSetup:
  """Reads everything `_update` needs from the config."""
  loss_pair = losses.get(config.loss.name)
  d_loss_kwargs = dict(fake_fraction=config.loss.fake_fraction)
  if loss_pair.uses_cross_entropy:
    d_loss_kwargs["label_smoothing"] = config.loss.label_smoothing
  g_opt, d_opt = make_optimizers(config)
  if num_devices > 1:
    pmean = functools.partial(lax.pmean, axis_name=axis_name)
  else:
    # The mean over one device is the identity; XLA:CPU would still copy
    # every gradient through an all-reduce.
    pmean = lambda tree: tree
  return _UpdateSetup(
      generator=models.generator,
      discriminator=models.discriminator,
      loss_pair=loss_pair,
      d_loss_kwargs=d_loss_kwargs,
      r1_gamma=float(config.loss.r1_gamma),
      discriminator_steps=int(config.train.discriminator_steps),
      ema_decay=float(config.train.ema_decay),
      latent_dim=int(config.model.latent_dim),
      per_device=config.train.batch_size // num_devices,
      dropout=bool(config.model.get("discriminator_dropout", 0.0) or
                   config.model.get("discriminator_input_dropout", 0.0)),
      g_opt=g_opt,
      d_opt=d_opt,
      pmean=pmean,
      sample_real=sample_real,
      axis_name=axis_name,
  )


def _discriminate(setup: _UpdateSetup, d_params, d_batch_stats, x, key,
                  example_ids):
  """D's logits [n] in training mode; returns (logits, new batch_stats)."""
  if not setup.dropout:
    return _apply(setup.discriminator, d_params, d_batch_stats, x, train=True)
  # Dropout masks keyed per global example, as for the noise: one vmapped
  # call per example (the MLP/DCGAN discriminators have no cross-example
  # layers, so this computes the same function as one batched call).
  def one(x_i, i):
    rngs = {"dropout": jax.random.fold_in(key, i)}
    return _apply(setup.discriminator, d_params, d_batch_stats, x_i[None],
                  train=True, rngs=rngs)[0][0]
  return jax.vmap(one)(x, example_ids), d_batch_stats


def _r1_penalty(setup: _UpdateSetup, d_params, d_batch_stats, real,
                dropout_key, example_ids) -> jax.Array:
  """E_x |grad_x D(x)|^2 on real data, D(x) the logit (Mescheder et al. 2018).

  Examples are independent in D, so the gradient of the sum is the
  per-example gradient.
  """
  def summed_logits(x):
    return jnp.sum(_discriminate(setup, d_params, d_batch_stats, x,
                                 dropout_key, example_ids)[0])
  grad_x = jax.grad(summed_logits)(real)
  return jnp.mean(
      jnp.sum(jnp.square(grad_x).reshape(setup.per_device, -1), axis=-1))


def _discriminator_loss(d_params, setup: _UpdateSetup, d_batch_stats, real,
                        fake, dropout_key, example_ids):
  """D's loss (+ gamma/2 R1); returns (loss, (logits, batch_stats, R1))."""
  real_logits, bs = _discriminate(setup, d_params, d_batch_stats, real,
                                  dropout_key, example_ids)
  fake_logits, bs = _discriminate(setup, d_params, bs, fake, dropout_key,
                                  example_ids)
  loss = setup.loss_pair.discriminator(real_logits, fake_logits,
                                       **setup.d_loss_kwargs)
  penalty = jnp.zeros((), jnp.float32)
  if setup.r1_gamma > 0:
    penalty = _r1_penalty(setup, d_params, d_batch_stats, real, dropout_key,
                          example_ids)
    loss = loss + 0.5 * setup.r1_gamma * penalty
  return loss, (real_logits, fake_logits, bs, penalty)


def _discriminator_substep(setup: _UpdateSetup, g_params, carry, key,
                           example_ids, dataset) -> tuple[tuple, dict]:
  """One D update on fresh real and noise samples drawn with `key`.

  carry: (d_params, d_opt_state, d_batch_stats, g_batch_stats). Returns the
  new carry and D's metrics (measured before the update).
  """
  d_params, d_opt_state, d_batch_stats, g_batch_stats = carry
  real = setup.sample_real(jax.random.fold_in(key, 0), example_ids, dataset)
  z = sample_noise(jax.random.fold_in(key, 1), example_ids, setup.latent_dim)
  dropout_key = jax.random.fold_in(key, 2)
  fake, g_batch_stats = _apply(setup.generator, g_params, g_batch_stats, z,
                               train=True)
  fake = lax.stop_gradient(fake)
  loss_fn = functools.partial(
      _discriminator_loss, setup=setup, d_batch_stats=d_batch_stats,
      real=real, fake=fake, dropout_key=dropout_key, example_ids=example_ids)
  (loss, (real_logits, fake_logits, d_batch_stats, penalty)), grads = (
      jax.value_and_grad(loss_fn, has_aux=True)(d_params))
  grads = setup.pmean(grads)
  updates, d_opt_state = setup.d_opt.update(grads, d_opt_state, d_params)
  d_params = optax.apply_updates(d_params, updates)
  metrics = dict(
      d_loss=loss,
      value=losses.value_function(real_logits, fake_logits),
      d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
      d_fake=jnp.mean(jax.nn.sigmoid(fake_logits)),
      r1_penalty=penalty,
  )
  metrics = setup.pmean(metrics)
  metrics["d_grad_norm"] = optax.tree_utils.tree_norm(grads)
  return (d_params, d_opt_state, d_batch_stats, g_batch_stats), metrics


def _discriminator_steps(setup: _UpdateSetup, state: TrainState, d_key,
                         example_ids, dataset) -> tuple[tuple, dict]:
  """The k D sub-steps; returns (carry, the last sub-step's metrics)."""
  carry = (state.d_params, state.d_opt_state, state.d_batch_stats,
           state.g_batch_stats)
  # Unrolled (k is small): XLA:CPU runs convolutions inside a while loop
  # (lax.scan / fori_loop) several times slower than outside one.
  for j in range(setup.discriminator_steps):
    carry, d_metrics = _discriminator_substep(
        setup, state.g_params, carry, jax.random.fold_in(d_key, j),
        example_ids, dataset)
  return carry, d_metrics


def _generator_loss(g_params, setup: _UpdateSetup, g_batch_stats, d_params,
                    d_batch_stats, z, dropout_key, example_ids):
  """G's loss against the updated D; returns (loss, G's new batch_stats)."""
  fake, bs = _apply(setup.generator, g_params, g_batch_stats, z, train=True)
  # D's running statistics are not updated by G's step.
  fake_logits, _ = _discriminate(setup, d_params, d_batch_stats, fake,
                                 dropout_key, example_ids)
  return setup.loss_pair.generator(fake_logits), bs


def _generator_step(setup: _UpdateSetup, state: TrainState, g_batch_stats,
                    d_params, d_batch_stats, g_key, example_ids) -> tuple:
  """One G update on fresh noise.

  Returns:
    (g_params, g_opt_state, g_batch_stats, g_loss, mean gradients).
  """
  z = sample_noise(jax.random.fold_in(g_key, 0), example_ids,
                   setup.latent_dim)
  dropout_key = jax.random.fold_in(g_key, 2)
  loss_fn = functools.partial(
      _generator_loss, setup=setup, g_batch_stats=g_batch_stats,
      d_params=d_params, d_batch_stats=d_batch_stats, z=z,
      dropout_key=dropout_key, example_ids=example_ids)
  (g_loss, g_batch_stats), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.g_params)
  grads = setup.pmean(grads)
  updates, g_opt_state = setup.g_opt.update(grads, state.g_opt_state,
                                            state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  return g_params, g_opt_state, g_batch_stats, g_loss, grads


def ema_decay_at(step: jax.Array, decay: float) -> jax.Array:
  """The EMA's decay at update `step` (0-based): min(decay, (1+t)/(10+t)).

  A warm-up (the `num_updates` rule of TensorFlow's ExponentialMovingAverage):
  a constant decay of 0.9995 would still hold e^-1.5 = 22% of G's random
  initial weights after 3,000 steps; with the warm-up the average spans
  about the last t/9 steps early on (the initial weights are below 1e-9 after
  100 steps) and reaches `decay` at t = (10·decay - 1)/(1 - decay). It
  depends on the step alone, so a resumed run is bitwise the same.
  """
  t = step.astype(jnp.float32)
  return jnp.minimum(jnp.float32(decay), (1.0 + t) / (10.0 + t))


def _update_ema(ema: Optional[PyTree], g_params: PyTree,
                decay: jax.Array) -> Optional[PyTree]:
  """ema <- decay·ema + (1 - decay)·g_params; None (no EMA) stays None."""
  if ema is None:
    return None
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema,
                      g_params)


def _update(setup: _UpdateSetup, state: TrainState, dataset
            ) -> tuple[TrainState, dict]:
  """One iteration: k D sub-steps, one G step, the EMA; see make_update."""
  device = lax.axis_index(setup.axis_name)
  example_ids = device * setup.per_device + jnp.arange(setup.per_device)
  step_key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.fold_in(step_key, 0)
  g_key = jax.random.fold_in(step_key, 1)

  (d_params, d_opt_state, d_batch_stats, g_batch_stats), d_metrics = (
      _discriminator_steps(setup, state, d_key, example_ids, dataset))
  g_params, g_opt_state, g_batch_stats, g_loss, g_grads = _generator_step(
      setup, state, g_batch_stats, d_params, d_batch_stats, g_key,
      example_ids)
  ema = _update_ema(state.ema_g_params, g_params,
                    ema_decay_at(state.step, setup.ema_decay))

  metrics = dict(d_metrics)
  metrics["g_loss"] = setup.pmean(g_loss)
  metrics["g_grad_norm"] = optax.tree_utils.tree_norm(g_grads)
  new_state = TrainState(
      step=state.step + 1,
      g_params=g_params,
      d_params=d_params,
      g_batch_stats=g_batch_stats,
      d_batch_stats=d_batch_stats,
      g_opt_state=g_opt_state,
      d_opt_state=d_opt_state,
      ema_g_params=ema,
      rng=state.rng,
  )
  return new_state, {name: metrics[name] for name in METRIC_NAMES}


def make_update(config: ml_collections.ConfigDict, models: Models,
                sample_real: RealSampler, *, num_devices: int,
                axis_name: str = AXIS) -> Callable[[TrainState, Any], tuple]:
  """Returns the per-device iteration update(state, dataset) -> (state, metrics).

  It must run inside a mapping over `axis_name` with `num_devices` members
  (shard_map or pmap); each member computes batch_size / num_devices of the
  global batch. metrics: dict of float32 scalars (`METRIC_NAMES`), identical
  on every device.
  """
  setup = _update_setup(config, models, sample_real, num_devices, axis_name)
  return functools.partial(_update, setup)


# ----------------------------------------------------------------------------
# Mapping over devices.
# ----------------------------------------------------------------------------


class DataParallel:
  """Maps a per-device update over devices; many iterations per dispatch.

  `run(state, dataset, num_steps)` runs `num_steps` iterations with one
  `lax.scan` inside one compiled, device-mapped call (compiled once per
  distinct num_steps) and returns (state, metrics) where each metric has
  shape [num_steps] (one value per iteration, identical on all devices).
  The input state is donated: do not use it after the call.

  shard_map: the state is a replicated jax.Array (P()) on a 1-D mesh named
  `data`, and an image data set is sharded over it (P('data'), see
  `place_images`). pmap: both carry a leading device axis. `place` / `fetch`
  convert the state from / to one host copy, so callers never see the
  difference. The devices may span several processes (multi-host, shard_map
  only): every process runs the same calls on its share of the devices.

  `compiler_options` go to XLA (e.g. {'xla_backend_optimization_level': 0},
  which the tests use: it compiles about 3x faster on CPU and computes the
  same function).
  """

  def __init__(self, update: Callable, devices: Sequence[jax.Device],
               parallelism: str = "shard_map", *,
               compiler_options: Optional[dict[str, Any]] = None):
    if parallelism not in ("shard_map", "pmap"):
      raise ValueError(f"unknown parallelism {parallelism!r}; valid: "
                       f"'shard_map', 'pmap'")
    self._update = update
    self._compiler_options = dict(compiler_options or {}) or None
    self.devices = list(devices)
    self.parallelism = parallelism
    self.mesh = Mesh(np.asarray(self.devices), (AXIS,))
    self._compiled = {}
    self._executables = {}

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  def _scan(self, state, dataset, *, num_steps):
    if num_steps == 1:
      # No while loop: on CPU, convolutions run several times faster outside
      # one (so conv nets on CPU want steps_per_call = 1).
      state, metrics = self._update(state, dataset)
      return state, jax.tree.map(lambda m: m[None], metrics)
    return lax.scan(lambda s, _: self._update(s, dataset), state, None,
                    length=num_steps)

  def _get_fn(self, num_steps: int):
    if num_steps not in self._compiled:
      fn = functools.partial(self._scan, num_steps=num_steps)
      if self.parallelism == "shard_map":
        # check_vma=False: with it, JAX's autodiff would already psum the
        # gradients of replicated parameters, and the explicit pmean (which
        # the pmap path needs) would then multiply them by the device count.
        mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                               out_specs=(P(), P()), check_vma=False)
        self._compiled[num_steps] = jax.jit(mapped, donate_argnums=0)
      else:
        self._compiled[num_steps] = jax.pmap(fn, axis_name=AXIS,
                                             devices=self.devices,
                                             donate_argnums=0)
    return self._compiled[num_steps]

  def place(self, tree: PyTree) -> PyTree:
    """Copies a pytree to every device (replicated).

    Goes through host memory so that no two leaves share a buffer (the state
    is donated, and a buffer cannot be donated twice).
    """
    tree = jax.device_get(tree)
    if self.parallelism == "shard_map":
      return jax.device_put(tree, NamedSharding(self.mesh, P()))
    n = self.num_devices
    stacked = jax.tree.map(
        lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)), tree)
    return jax.device_put(stacked, NamedSharding(self.mesh, P(AXIS)))

  def place_images(self, num_examples: int,
                   load: Callable[[int, int], np.ndarray], *,
                   source: str = "the data set") -> jax.Array:
    """Shards an image data set over the devices; loads only local shards.

    Device d of the mesh holds examples [d*S, (d+1)*S), S = N // D (the last
    N mod D examples are not used); this process calls `load(start, stop)`
    once, for the rows of its own devices only.

    Args:
      num_examples: N, examples in the data set.
      load: returns uint8 examples [start, stop) as [stop - start, ...].
      source: where the data comes from, for messages.

    Returns:
      shard_map: uint8 [D*S, ...] sharded over `data`; pmap: [D, S, ...].

    Raises:
      data.DataError: fewer examples than devices, or `load` returned the
        wrong number of rows.
    """
    num = self.num_devices
    per_device = int(num_examples) // num
    if per_device < 1:
      raise data_lib.DataError(
          f"{source}: {num_examples} training examples for {num} devices; "
          f"every device needs at least one (use fewer devices or more data)")
    process = jax.process_index()
    mine = [i for i, d in enumerate(self.devices)
            if d.process_index == process]
    # jax.devices() lists each process's devices together, so `mine` is one
    # contiguous run of mesh positions (else more rows are read than used).
    low, high = min(mine), max(mine) + 1
    logging.info("Process %d of %d loads examples [%d, %d) of %s for its %d "
                 "device(s) (%d per device)", process, jax.process_count(),
                 low * per_device, high * per_device, source, len(mine),
                 per_device)
    block = np.asarray(load(low * per_device, high * per_device))
    if block.shape[0] != (high - low) * per_device:
      raise data_lib.DataError(
          f"{source}: expected {(high - low) * per_device} examples "
          f"[{low * per_device}, {high * per_device}), read "
          f"{block.shape[0]}")
    if self.parallelism == "pmap":
      stacked = block.reshape((num, per_device) + block.shape[1:])
      return jax.device_put(stacked, NamedSharding(self.mesh, P(AXIS)))
    shards = [
        jax.device_put(
            block[(i - low) * per_device:(i - low + 1) * per_device],
            self.devices[i]) for i in mine
    ]
    return jax.make_array_from_single_device_arrays(
        (num * per_device,) + block.shape[1:],
        NamedSharding(self.mesh, P(AXIS)), shards)

  def host(self, tree: PyTree) -> PyTree:
    """numpy copies of device values that are equal on every device.

    Works when the devices span several processes (the arrays are then not
    fully addressable; each process reads its first local copy).
    """
    def one(x):
      if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(x.addressable_data(0))
      return jax.device_get(x)
    return jax.tree.map(one, tree)

  def fetch(self, tree: PyTree) -> PyTree:
    """One host (numpy) copy of a replicated device pytree."""
    if self.parallelism == "pmap":
      tree = jax.tree.map(lambda x: x[0], tree)
    return self.host(tree)

  def compile(self, state: TrainState, dataset, num_steps: int) -> float:
    """Compiles ahead of time for these arguments; returns the seconds taken.

    Optional (`run` compiles on first use); lets a caller time compilation
    apart from training. 0 when already compiled for this num_steps.
    """
    num_steps = int(num_steps)
    if num_steps in self._executables:
      return 0.0
    start = time.perf_counter()
    self._executables[num_steps] = self._get_fn(num_steps).lower(
        state, dataset).compile(compiler_options=self._compiler_options)
    return time.perf_counter() - start

  def cost_analysis(self, state: TrainState, dataset, num_steps: int
                    ) -> dict[str, float]:
    """XLA's cost analysis of the compiled call for `num_steps` iterations.

    Compiles it if needed. Keys as XLA reports them ('flops',
    'bytes accessed', ...), for the whole call on one device; divide by
    `num_steps` for one iteration.
    """
    num_steps = int(num_steps)
    self.compile(state, dataset, num_steps)
    analysis = self._executables[num_steps].cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one per computation
      analysis = analysis[0] if analysis else {}
    return {k: float(v) for k, v in dict(analysis or {}).items()}

  def run(self, state: TrainState, dataset, num_steps: int):
    """Runs `num_steps` iterations; returns (state, metrics [num_steps])."""
    num_steps = int(num_steps)
    self.compile(state, dataset, num_steps)
    state, metrics = self._executables[num_steps](state, dataset)
    if self.parallelism == "pmap":
      metrics = jax.tree.map(lambda m: m[0], metrics)
    else:
      # Replicated over all devices; one local copy (with several processes
      # the global array cannot be fetched, its local copies can).
      metrics = jax.tree.map(lambda m: m.addressable_data(0), metrics)
    return state, metrics
