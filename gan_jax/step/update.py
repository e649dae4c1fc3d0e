"""The compiled step: k D sub-steps, one G step and the EMA of G.

`make_update` returns one iteration of Algorithm 1 (see `gan_jax.step`) as a
function of one device's share of the batch; `finite_flags` and
`first_nonfinite` check its outputs. `gan_jax.step.parallel` maps it over
the devices and runs many iterations per compiled call.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
import ml_collections
import numpy as np
import optax

from gan_jax import losses
from gan_jax.step import objective as objective_lib
from gan_jax.step.optimizers import make_optimizers
from gan_jax.step.sampling import RealSampler
from gan_jax.step.sampling import sample_labels
from gan_jax.step.sampling import sample_noise
from gan_jax.step.state import AXIS
from gan_jax.step.state import metric_names
from gan_jax.step.state import Models
from gan_jax.step.state import PyTree
from gan_jax.step.state import TrainState


def is_conditional(module: nn.Module) -> bool:
  """Whether a model takes class labels (config.model.num_classes > 0)."""
  return int(getattr(module, "num_classes", 0) or 0) > 0


def _apply(module: nn.Module, params, batch_stats, inputs, *, train: bool,
           rngs=None, labels=None):
  """module(inputs[, labels]); returns (outputs, new batch_stats).

  ({} stays {}.) `labels` go to conditional models only, so that models
  without a `labels` argument (plug-ins) are called as before.
  """
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
  args = (inputs, labels) if is_conditional(module) else (inputs,)
  if train and batch_stats:
    outputs, updates = module.apply(variables, *args, train=True,
                                    mutable=["batch_stats"], rngs=rngs)
    return outputs, dict(updates["batch_stats"])
  return module.apply(variables, *args, train=train, rngs=rngs), batch_stats


def split_discriminator_outputs(outputs) -> tuple[jax.Array, Any]:
  """(logits [n], class logits [n, C] or None) of D's output.

  An auxiliary-classifier D (ACGAN, Odena et al. 2017) returns both; every
  other D its logits alone.
  """
  if isinstance(outputs, (tuple, list)):
    return outputs[0], outputs[1]
  return outputs, None


def generate(generator: nn.Module, params, batch_stats, z,
             labels=None) -> jax.Array:
  """G(z[, labels]) in inference mode (BatchNorm running averages)."""
  return _apply(generator, params, batch_stats, z, train=False,
                labels=labels)[0]


def batch_norm_statistics(generator: nn.Module, params, batch_stats,
                          z: jax.Array, labels=None) -> PyTree:
  """The training-mode batch statistics of every BatchNorm of G on G(z).

  For recomputing G's BatchNorm statistics for weights other than those
  that trained, e.g. the EMA of G's weights (Yazıcı et al. 2019), whose
  activations the trained G's running averages do not describe. Averaging
  this over B batches of the training batch size,

    mean = (1/B) sum_b mean_b,   var = (1/B) sum_b var_b,

  gives the "standing statistics" of BigGAN (Brock et al. 2019), as
  torch.optim.swa_utils.update_bn does. On the shipped Fashion-MNIST MLP's
  EMA generator these lower the FID (measured: docs/results.md).

  From zero, one training-mode pass of flax's BatchNorm leaves
  (1 - momentum) x the batch statistic, with momentum =
  `generator.batch_norm_momentum`; that is divided out here.

  Args:
    generator: G, built without a mapped axis (axis_name=None).
    params: G's weights.
    batch_stats: G's batch_stats collection ({} when G has no BatchNorm).
    z: [n, latent_dim] noise.
    labels: int32 [n] classes of a conditional G (else None).

  Returns:
    batch_stats with every BatchNorm mean and var replaced by the batch's.
    Other leaves are unchanged.
  """
  if not batch_stats:
    return batch_stats
  is_statistic = lambda path: getattr(path[-1], "key", None) in ("mean", "var")
  zeros = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if is_statistic(path) else x,
      batch_stats)
  updated = _apply(generator, params, zeros, z, train=True, labels=labels)[1]
  scale = 1.0 / (1.0 - float(generator.batch_norm_momentum))
  return jax.tree_util.tree_map_with_path(
      lambda path, new, old: new * scale if is_statistic(path) else old,
      updated, batch_stats)


@dataclasses.dataclass(frozen=True)
class UpdateSetup:
  """What an iteration needs besides the state (fixed when it is traced).

  Attributes:
    generator, discriminator: the models.
    objective: the game's D and G losses (`config.loss`).
    penalties: D's penalties (R1, R2, gradient penalty) that are on.
    discriminator_steps: k, D sub-steps per iteration.
    ema_decay: decay of the EMA of G's weights (used when the state has one).
    latent_dim: size of z.
    per_device: examples per device, batch_size / num_devices.
    dropout: whether D has dropout (then applied one example at a time).
    g_opt, d_opt: the optimisers.
    pmean: the mean over devices (the identity on one device).
    sample_real: draws real examples (see `make_real_sampler`).
    axis_name: the mapped axis.
    label_log_probs: log of the training labels' class frequencies
      [num_classes], from which the fakes' labels are drawn; None for an
      unconditional model.
    class_weights: (D's, G's) weight of the auxiliary classifier's
      cross-entropy (ACGAN, Odena et al. 2017: config.loss.
      acgan_discriminator_weight / acgan_generator_weight); used when D
      returns class logits.
    fake_class_weight: the weight of the fakes' term in D's class loss
      (config.loss.acgan_fake_weight; Odena et al.'s 1, 0 = D's classifier
      learns from real images only).
    latent_distribution: p_z (config.model.latent_distribution).
    weight_clip: c > 0 clips every D parameter to [-c, c] after each D
      update (config.loss.weight_clip; WGAN, Arjovsky et al. 2017); 0 = off.
    reuse_discriminator_noise: G's step takes the last D sub-step's z and
      fake labels (config.train.generator_noise = 'discriminator').
    real_fake_labels: the fakes of D's steps take the real batch's labels
      (config.train.fake_labels = 'real').
  """
  generator: nn.Module
  discriminator: nn.Module
  objective: objective_lib.Objective
  penalties: tuple[objective_lib.Penalty, ...]
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
  label_log_probs: Optional[Any] = None
  class_weights: tuple[float, float] = (1.0, 1.0)
  fake_class_weight: float = 1.0
  latent_distribution: str = "normal"
  weight_clip: float = 0.0
  reuse_discriminator_noise: bool = False
  real_fake_labels: bool = False

  @property
  def conditional(self) -> bool:
    return self.label_log_probs is not None


def update_setup(config: ml_collections.ConfigDict, models: Models,
                  sample_real: RealSampler, num_devices: int,
                  axis_name: str, label_probs=None) -> UpdateSetup:
  """Reads everything `_update` needs from the config."""
  g_opt, d_opt = make_optimizers(config)
  if num_devices > 1:
    pmean = functools.partial(lax.pmean, axis_name=axis_name)
  else:
    # The mean over one device is the identity; XLA:CPU would still copy
    # every gradient through an all-reduce.
    pmean = lambda tree: tree
  return UpdateSetup(
      generator=models.generator,
      discriminator=models.discriminator,
      objective=objective_lib.make_objective(config.loss),
      penalties=objective_lib.penalties(config.loss),
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
      label_log_probs=(None if label_probs is None else
                       jnp.log(jnp.asarray(label_probs, jnp.float32))),
      class_weights=(float(config.loss.get("acgan_discriminator_weight", 1.0)),
                     float(config.loss.get("acgan_generator_weight", 1.0))),
      fake_class_weight=float(config.loss.get("acgan_fake_weight", 1.0)),
      latent_distribution=config.model.get("latent_distribution", "normal"),
      weight_clip=float(config.loss.get("weight_clip", 0.0)),
      reuse_discriminator_noise=(
          config.train.get("generator_noise", "fresh") == "discriminator"),
      real_fake_labels=config.train.get("fake_labels", "sampled") == "real",
  )


def _discriminate(setup: UpdateSetup, d_params, d_batch_stats, x, labels,
                  key, example_ids):
  """D's outputs in training mode; returns (outputs, new batch_stats).

  outputs: logits [n], or (logits, class logits [n, C]) for an ACGAN D
  (`split_discriminator_outputs`). `labels` (int32 [n]) go to a conditional
  D only.
  """
  if not setup.dropout:
    return _apply(setup.discriminator, d_params, d_batch_stats, x,
                  train=True, labels=labels)
  # Dropout masks keyed per global example, as for the noise: one vmapped
  # call per example (the MLP/DCGAN discriminators have no cross-example
  # layers, so this computes the same function as one batched call).
  def one(x_i, y_i, i):
    rngs = {"dropout": jax.random.fold_in(key, i)}
    out = _apply(setup.discriminator, d_params, d_batch_stats, x_i[None],
                 train=True, rngs=rngs,
                 labels=None if y_i is None else y_i[None])[0]
    return jax.tree.map(lambda o: o[0], out)
  if labels is None:
    return jax.vmap(lambda x_i, i: one(x_i, None, i))(x, example_ids), (
        d_batch_stats)
  return jax.vmap(one)(x, labels, example_ids), d_batch_stats


def _logits(setup: UpdateSetup, d_params, d_batch_stats, x, labels, key,
            example_ids) -> tuple[jax.Array, Any, PyTree]:
  """(logits [n], class logits or None, new batch_stats) of D on x."""
  outputs, bs = _discriminate(setup, d_params, d_batch_stats, x, labels, key,
                              example_ids)
  logits, class_logits = split_discriminator_outputs(outputs)
  return logits, class_logits, bs


def _input_gradients(setup: UpdateSetup, d_params, d_batch_stats, x, labels,
                     dropout_key, example_ids) -> jax.Array:
  """grad_x D(x) per example, flattened: [n, prod(data_shape)].

  Examples are independent in D, so the gradient of the summed outputs is
  the per-example gradient. For a conditional D, the gradient at fixed
  labels; for an ACGAN D, of the adversarial logits.
  """
  def summed_outputs(x):
    return jnp.sum(_logits(setup, d_params, d_batch_stats, x, labels,
                           dropout_key, example_ids)[0])
  return jax.grad(summed_outputs)(x).reshape(setup.per_device, -1)


def interpolate(real, fake, key, example_ids) -> jax.Array:
  """x^ = x + a (G(z) - x), one a ~ U(0, 1) per example, keyed by its id."""
  alpha = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i))
                   )(example_ids)
  alpha = alpha.reshape(-1, *([1] * (real.ndim - 1)))
  return real + alpha * (fake - real)


def _penalty(setup: UpdateSetup, penalty: objective_lib.Penalty, d_params,
             d_batch_stats, real, fake, real_labels, fake_labels, key,
             dropout_key, example_ids) -> jax.Array:
  """The unweighted penalty: its term of D's input gradients at its inputs.

  A conditional D's gradients are taken at the inputs' labels; interpolates
  between a real and a fake take the real one's (as StudioGAN does).
  """
  if penalty.inputs == "interpolated":
    x = interpolate(real, fake, jax.random.fold_in(key, 3), example_ids)
    labels = real_labels
  elif penalty.inputs == "real":
    x, labels = real, real_labels
  else:
    x, labels = fake, fake_labels
  grads = _input_gradients(setup, d_params, d_batch_stats, x, labels,
                           dropout_key, example_ids)
  return penalty.term(grads)


def class_cross_entropy(class_logits: jax.Array,
                        labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy -log q(y | x) of an auxiliary classifier."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      class_logits, labels))


def penalised_discriminator_loss(d_params, setup: UpdateSetup, d_batch_stats,
                                 real, fake, key, example_ids,
                                 real_labels=None, fake_labels=None):
  """D's loss + its weighted penalties (+ ACGAN's class loss).

  An ACGAN D (Odena et al. 2017) also minimises the cross-entropy of its
  class logits on the real examples' labels and the fakes' requested
  labels, weighted by config.loss.acgan_discriminator_weight:
  L_D + w_D (CE(q(x), y) + w_f CE(q(G(z, y')), y')), w_f =
  config.loss.acgan_fake_weight (Odena et al.: 1). With w_f > 0 D's
  classifier also learns the fakes' requested classes, and G can then
  satisfy it with features that are not the class's appearance (Shu et al.
  2017; Gong et al. 2019, TAC-GAN); w_f = 0 trains it on real images only.

  Returns:
    (loss, (real outputs, fake outputs, new batch_stats, {penalty: value})).
  """
  dropout_key = jax.random.fold_in(key, 2)
  real_logits, real_classes, bs = _logits(
      setup, d_params, d_batch_stats, real, real_labels, dropout_key,
      example_ids)
  fake_logits, fake_classes, bs = _logits(
      setup, d_params, bs, fake, fake_labels, dropout_key, example_ids)
  loss = setup.objective.discriminator(real_logits, fake_logits)
  values = {}
  if real_classes is not None:
    values["class_loss"] = (
        class_cross_entropy(real_classes, real_labels) +
        setup.fake_class_weight * class_cross_entropy(fake_classes,
                                                      fake_labels))
    loss = loss + setup.class_weights[0] * values["class_loss"]
  for penalty in setup.penalties:
    values[penalty.name] = _penalty(setup, penalty, d_params, d_batch_stats,
                                    real, fake, real_labels, fake_labels, key,
                                    dropout_key, example_ids)
    loss = loss + penalty.weight * values[penalty.name]
  return loss, (real_logits, fake_logits, bs, values)


def _fake_labels(setup: UpdateSetup, key, example_ids):
  """The fakes' requested classes (drawn as the data's), None if unconditional."""
  if not setup.conditional:
    return None
  return sample_labels(key, example_ids, setup.label_log_probs)


def clip_weights(params: PyTree, clip: float) -> PyTree:
  """Every parameter clipped to [-clip, clip] (WGAN; Arjovsky et al. 2017).

  All of D's parameters, weights and biases (and BatchNorm scales), as
  their Algorithm 1 and the seed WGAN notebook clip; 'batch_stats' (running
  averages) are not parameters. clip = 0: unchanged.
  """
  if not clip:
    return params
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def _discriminator_substep(setup: UpdateSetup, g_params, carry, key,
                           example_ids, data, draw: int
                           ) -> tuple[tuple, dict, tuple]:
  """One D update on fresh real and noise samples drawn with `key`.

  carry: (d_params, d_opt_state, d_batch_stats, g_batch_stats). Returns the
  new carry, D's metrics (measured before the update) and the (z, fake
  labels) it drew, which G's step reuses with
  config.train.generator_noise = 'discriminator'.
  """
  d_params, d_opt_state, d_batch_stats, g_batch_stats = carry
  real, real_labels = setup.sample_real(jax.random.fold_in(key, 0),
                                        example_ids, data, draw)
  z = sample_noise(jax.random.fold_in(key, 1), example_ids, setup.latent_dim,
                   setup.latent_distribution)
  if setup.real_fake_labels and real_labels is not None:
    fake_labels = real_labels
  else:
    fake_labels = _fake_labels(setup, jax.random.fold_in(key, 4),
                               example_ids)
  fake, g_batch_stats = _apply(setup.generator, g_params, g_batch_stats, z,
                               train=True, labels=fake_labels)
  fake = lax.stop_gradient(fake)
  loss_fn = functools.partial(
      penalised_discriminator_loss, setup=setup, d_batch_stats=d_batch_stats,
      real=real, fake=fake, key=key, example_ids=example_ids,
      real_labels=real_labels, fake_labels=fake_labels)
  (loss, (real_logits, fake_logits, d_batch_stats, penalties)), grads = (
      jax.value_and_grad(loss_fn, has_aux=True)(d_params))
  grads = setup.pmean(grads)
  updates, d_opt_state = setup.d_opt.update(grads, d_opt_state, d_params)
  d_params = clip_weights(optax.apply_updates(d_params, updates),
                          setup.weight_clip)
  metrics = dict(
      d_loss=loss,
      value=losses.value_function(real_logits, fake_logits),
      d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
      d_fake=jnp.mean(jax.nn.sigmoid(fake_logits)),
      # Logged whether on or not (0 when off); the other penalties only
      # when on.
      r1_penalty=jnp.zeros((), jnp.float32),
  )
  metrics.update(penalties)
  metrics = setup.pmean(metrics)
  metrics["d_grad_norm"] = optax.tree_utils.tree_norm(grads)
  return ((d_params, d_opt_state, d_batch_stats, g_batch_stats), metrics,
          (z, fake_labels))


def _discriminator_steps(setup: UpdateSetup, state: TrainState, d_key,
                         example_ids, data) -> tuple[tuple, dict, tuple]:
  """The k D sub-steps; returns (carry, the last sub-step's metrics, the
  last sub-step's (z, fake labels))."""
  carry = (state.d_params, state.d_opt_state, state.d_batch_stats,
           state.g_batch_stats)
  # Unrolled (k is small): XLA:CPU runs convolutions inside a while loop
  # (lax.scan / fori_loop) several times slower than outside one.
  for j in range(setup.discriminator_steps):
    carry, d_metrics, noise = _discriminator_substep(
        setup, state.g_params, carry, jax.random.fold_in(d_key, j),
        example_ids, data, j)
  return carry, d_metrics, noise


def _generator_loss(g_params, setup: UpdateSetup, g_batch_stats, d_params,
                    d_batch_stats, z, real_logits, dropout_key, example_ids,
                    fake_labels=None):
  """G's loss against the updated D; returns (loss, G's new batch_stats).

  With an ACGAN D, plus acgan_generator_weight x the class cross-entropy of
  the fakes at their requested labels (Odena et al. 2017).
  """
  fake, bs = _apply(setup.generator, g_params, g_batch_stats, z, train=True,
                    labels=fake_labels)
  # D's running statistics are not updated by G's step.
  fake_logits, fake_classes, _ = _logits(setup, d_params, d_batch_stats, fake,
                                         fake_labels, dropout_key,
                                         example_ids)
  loss = setup.objective.generator(fake_logits, real_logits)
  if fake_classes is not None:
    loss = loss + setup.class_weights[1] * class_cross_entropy(fake_classes,
                                                               fake_labels)
  return loss, bs


def _real_logits_for_generator(setup: UpdateSetup, d_params, d_batch_stats,
                               g_key, dropout_key, example_ids, data):
  """D(x) on a fresh real batch if G's loss compares fakes with reals."""
  if not setup.objective.generator_needs_real:
    return None
  real, real_labels = setup.sample_real(jax.random.fold_in(g_key, 1),
                                        example_ids, data,
                                        setup.discriminator_steps)
  return _logits(setup, d_params, d_batch_stats, real, real_labels,
                 dropout_key, example_ids)[0]


def _generator_step(setup: UpdateSetup, state: TrainState, g_batch_stats,
                    d_params, d_batch_stats, g_key, example_ids,
                    data, discriminator_noise) -> tuple:
  """One G update on fresh noise (and fresh reals if its loss needs them).

  With `setup.reuse_discriminator_noise`, on `discriminator_noise` instead:
  the (z, fake labels) of the last D sub-step.

  Returns:
    (g_params, g_opt_state, g_batch_stats, g_loss, mean gradients).
  """
  if setup.reuse_discriminator_noise:
    z, fake_labels = discriminator_noise
  else:
    z = sample_noise(jax.random.fold_in(g_key, 0), example_ids,
                     setup.latent_dim, setup.latent_distribution)
    fake_labels = _fake_labels(setup, jax.random.fold_in(g_key, 4),
                               example_ids)
  dropout_key = jax.random.fold_in(g_key, 2)
  real_logits = _real_logits_for_generator(
      setup, d_params, d_batch_stats, g_key, dropout_key, example_ids, data)
  loss_fn = functools.partial(
      _generator_loss, setup=setup, g_batch_stats=g_batch_stats,
      d_params=d_params, d_batch_stats=d_batch_stats, z=z,
      real_logits=real_logits, dropout_key=dropout_key,
      example_ids=example_ids, fake_labels=fake_labels)
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


def _update(setup: UpdateSetup, state: TrainState, data
            ) -> tuple[TrainState, dict]:
  """One iteration: k D sub-steps, one G step, the EMA; see make_update."""
  device = lax.axis_index(setup.axis_name)
  example_ids = device * setup.per_device + jnp.arange(setup.per_device)
  step_key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.fold_in(step_key, 0)
  g_key = jax.random.fold_in(step_key, 1)

  (d_params, d_opt_state, d_batch_stats, g_batch_stats), d_metrics, noise = (
      _discriminator_steps(setup, state, d_key, example_ids, data))
  g_params, g_opt_state, g_batch_stats, g_loss, g_grads = _generator_step(
      setup, state, g_batch_stats, d_params, d_batch_stats, g_key,
      example_ids, data, noise)
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
  names = metric_names(list(d_metrics))
  return new_state, {name: metrics[name] for name in names}


def make_update(config: ml_collections.ConfigDict, models: Models,
                sample_real: RealSampler, *, num_devices: int,
                axis_name: str = AXIS, label_probs=None
                ) -> Callable[[TrainState, Any], tuple]:
  """Returns the per-device iteration update(state, data) -> (state, metrics).

  It must run inside a mapping over `axis_name` with `num_devices` members
  (`DataParallel`); each member computes batch_size / num_devices of the
  global batch. metrics: dict of float32 scalars (`metric_names`), identical
  on every device. `label_probs` ([num_classes], summing to 1): the class
  frequencies the fakes' labels are drawn from, for a conditional model
  (config.model.num_classes > 0); None otherwise.
  """
  setup = update_setup(config, models, sample_real, num_devices, axis_name,
                       label_probs=label_probs)
  return functools.partial(_update, setup)


# ----------------------------------------------------------------------------
# Checks of the step's outputs (the training loop's divergence guard).
# ----------------------------------------------------------------------------

STATE_PARTS = ("g_params", "d_params", "ema_g_params", "g_batch_stats",
               "d_batch_stats", "g_opt_state", "d_opt_state")


def finite_flags(state: TrainState) -> dict[str, jax.Array]:
  """Per state part: whether all its floating-point values are finite."""
  flags = {}
  for part in STATE_PARTS:
    leaves = [jnp.all(jnp.isfinite(x)) for x in
              jax.tree.leaves(getattr(state, part))
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    flags[part] = jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
  return flags


def first_nonfinite(pending: list[tuple[int, dict]]
                    ) -> Optional[tuple[int, str, float]]:
  """(step, metric, value) of the earliest non-finite logged metric."""
  for first_step, values in pending:
    names = metric_names(values)
    columns = [np.reshape(values[name], -1) for name in names]
    bad = ~np.isfinite(np.stack(columns))  # [metric, step]
    if bad.any():
      index = int(np.flatnonzero(bad.any(axis=0))[0])
      metric = int(np.flatnonzero(bad[:, index])[0])
      return (first_step + index + 1, names[metric],
              float(columns[metric][index]))
  return None
