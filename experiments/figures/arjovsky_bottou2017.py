r"""Arjovsky & Bottou 2017, Figures 2 and 3: G's gradient as D gets better.

"Towards Principled Methods for Training Generative Adversarial Networks"
(ICLR 2017), Section 2.2. Fix the generator at several stages of training,
train a discriminator from scratch against it, and after every few D
iterations measure the norm of the gradient, with respect to G's parameters,
of

  the saturating (minimax) cost       E_z log(1 - D(G(z)))     (Figure 2)
  the non-saturating (-log D) cost    -E_z log D(G(z))          (Figure 3)

(`gan_jax.losses.saturating_generator_loss` / `non_saturating_generator_
loss`). As D approaches a perfect discriminator, D(G(z)) -> 0 and the
saturating gradient, proportional to D(G(z)), vanishes; the -log D gradient,
proportional to 1 - D(G(z)), does not: it grows as D sharpens.

Setting, and how it differs from the paper: the paper used a DCGAN on LSUN
bedrooms, trained for 1, 10 and 25 epochs, and 4,000 D iterations. Here, to
run in a few CPU minutes, a small fully connected GAN on Fashion-MNIST
downsampled to 14x14 (Debian's `dataset-fashion-mnist` IDX files; `make_
config`: G 32-256-256-196 ReLU with tanh output, D 196-256-256-1 LeakyReLU,
non-saturating loss, Adam 2e-4, b1 = 0.5, batch 64) is trained by the
project's engine (`gan_jax.step.make_update` / `DataParallel`) for 300,
1,000 and 3,000 steps, and each fixed G faces 2,000 iterations of a fresh D
of the same architecture and optimiser descending the plain cross-entropy
`gan_jax.losses.discriminator_loss` on fresh minibatches (64 real, 64 fake).
The gradient norms are measured every 25 D iterations on 512 fresh z; the
curves are the mean and standard deviation (of log10 of the norm) over 3
D initialisations and data streams, all trained at once under jax.vmap. G's
parameters are the raw ones being trained.

A toy version does not show the effect: on the 8-Gaussian ring (std 0.02,
latent 16) the same experiment left the saturating gradient flat or growing,
because a 2D G puts part of its mass on the modes, where no D can be
confident, and those samples dominate E_z D(G(z)) d logit / d theta. The
vanishing needs (nearly) disjoint supports, as the paper's theory assumes and
as 196-dimensional images provide.

Writes arjovsky_bottou2017.png and arjovsky_bottou2017.json.

Run (from the repository root):
  python experiments/figures/arjovsky_bottou2017.py [--outdir docs/figures]
"""

from __future__ import annotations

import os
import sys
import time

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import models as model_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import step as step_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "arjovsky_bottou2017"
COSTS = ("saturating", "non_saturating")


def make_config(quick: bool):
  """The GAN whose generator is frozen: Fashion-MNIST 14x14, small MLPs.

  The quick version (a smoke test) uses 7x7 images and one hidden layer of
  64 units.
  """
  config = config_lib.default_config()
  config.data = data_lib.default_data_config("fashion_mnist")
  config.data.source = "idx"
  config.data.image_size = 14 if not quick else 7
  config.model = model_lib.default_model_config("mlp")
  config.model.latent_dim = 32
  widths = (64,) if quick else (256, 256)
  config.model.generator_widths = widths
  config.model.discriminator_widths = widths
  config.model.generator_activation = "relu"
  config.model.discriminator_activation = "leaky_relu"
  config.loss.name = "non_saturating"
  config_lib.set_optimizers(config, name="adam", learning_rate=2e-4, b1=0.5,
                            b2=0.999)
  config.train.batch_size = 64
  return config


def _settings(quick: bool) -> dict:
  if quick:
    return dict(stages=(10, 30), chunk=10, repeats=2, d_iterations=40,
                measure_every=10, batch_size=32, measure_batch=64)
  return dict(stages=(300, 1000, 3000), chunk=100, repeats=3,
              d_iterations=2000, measure_every=25, batch_size=64,
              measure_batch=512)


def train_generators(config, dataset, stages, chunk, options=None):
  """Runs the engine on `config`; returns (models, [G params at each stage])."""
  generator, discriminator = model_lib.make_models(
      config.model, data_lib.data_shape(config.data), axis_name=step_lib.AXIS)
  models = step_lib.Models(generator, discriminator)
  update = step_lib.make_update(config, models,
                                step_lib.make_real_sampler(config.data),
                                num_devices=1)
  parallel = step_lib.DataParallel(update, jax.devices()[:1],
                                   compiler_options=options)
  state = parallel.place(step_lib.init_state(
      config, models, data_lib.data_shape(config.data),
      compiler_options=options))
  dataset = parallel.place(dataset)
  snapshots, step = [], 0
  for target in stages:
    while step < target:
      state, _ = parallel.run(state, dataset, chunk)
      step += chunk
    snapshots.append(parallel.fetch(state).g_params)
  return models, snapshots


def gradient_norms_while_training_d(config, dataset, models, g_params_list,
                                    settings, seed=0, options=None):
  """Trains fresh Ds against each fixed G; returns norms [G, repeat, t]."""
  generator, discriminator = models
  data_shape = data_lib.data_shape(config.data)
  sample_real = step_lib.make_real_sampler(config.data)
  dataset = jnp.asarray(dataset)
  latent = int(config.model.latent_dim)
  batch, measure_batch = settings["batch_size"], settings["measure_batch"]
  repeats = settings["repeats"]
  num_g = len(g_params_list)
  # Case (i, r): G i, repeat r; flattened for vmap. On the host: eager jax
  # ops would each compile.
  g_params = jax.tree.map(
      lambda *p: np.repeat(np.stack([np.asarray(a) for a in p]), repeats,
                           axis=0), *g_params_list)
  num = num_g * repeats
  optimizer = step_lib.make_optimizer(config.optimizer.discriminator)

  def init(key):
    d = model_lib.init_variables(discriminator, key,
                                 jnp.zeros((1, *data_shape)))["params"]
    return d, optimizer.init(d)

  def fake(g, z):
    return step_lib.generate(generator, g, {}, z)

  def d_logits(d, x):
    return discriminator.apply({"params": d}, x, train=False)

  def d_step(carry, key, g):
    d, opt_state = carry
    real_key, z_key = jax.random.split(key)
    real = sample_real(real_key, jnp.arange(batch), dataset)[0]
    fakes = fake(g, jax.random.normal(z_key, (batch, latent)))
    loss = lambda d: losses.discriminator_loss(d_logits(d, real),
                                               d_logits(d, fakes))
    updates, opt_state = optimizer.update(jax.grad(loss)(d), opt_state, d)
    return optax.apply_updates(d, updates), opt_state

  def measure(d, g, key):
    """Both costs' gradient norms w.r.t. G, and D's accuracy, on fresh z."""
    real_key, z_key = jax.random.split(key)
    z = jax.random.normal(z_key, (measure_batch, latent))
    logits_of_g = lambda g: d_logits(d, fake(g, z))
    fake_logits, pullback = jax.vjp(logits_of_g, g)
    out = {}
    for name in COSTS:
      cost = losses.get(name).generator
      # One forward pass of G and D serves both costs: pull back each
      # cost's gradient with respect to the logits.
      cotangent = jax.grad(cost)(fake_logits)
      out[name] = optax.tree_utils.tree_norm(pullback(cotangent)[0])
    real_logits = d_logits(d, sample_real(real_key, jnp.arange(measure_batch),
                                          dataset)[0])
    out["d_accuracy"] = 0.5 * (jnp.mean(real_logits > 0) +
                               jnp.mean(fake_logits < 0))
    out["mean_d_fake"] = jnp.mean(jax.nn.sigmoid(fake_logits))
    out["value"] = losses.value_function(real_logits, fake_logits)
    return out

  every = settings["measure_every"]
  num_measures = settings["d_iterations"] // every

  def one_case(g, key):
    init_key, key = jax.random.split(key)
    d, opt_state = init(init_key)

    def outer(carry, key):
      step_key, measure_key = jax.random.split(key)
      metrics = measure(carry[0], g, measure_key)
      carry, _ = jax.lax.scan(lambda c, k: (d_step(c, k, g), None), carry,
                              jax.random.split(step_key, every))
      return carry, metrics
    (d, _), metrics = jax.lax.scan(outer, (d, opt_state),
                                   jax.random.split(key, num_measures + 1))
    return metrics

  run = jax.jit(lambda g, key: jax.vmap(one_case)(
      g, jax.random.split(key, num)), compiler_options=options)
  metrics = run(g_params, jax.random.PRNGKey(seed))
  # [num, T] -> [G, repeat, T]; iteration t * every for t = 0..num_measures.
  return {k: np.asarray(v).reshape(num_g, repeats, -1)
          for k, v in metrics.items()}


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  start = time.time()
  settings = _settings(quick)
  config = make_config(quick)
  config.train.steps = settings["stages"][-1]
  config_lib.validate(config, 1)
  dataset = data_lib.load_images(config.data, split="train")
  options = common.compiler_options(quick)
  models, snapshots = train_generators(config, dataset, settings["stages"],
                                       settings["chunk"], options)
  print(f"  {NAME}: G trained to {settings['stages']} steps "
        f"({time.time() - start:.0f} s)", flush=True)
  metrics = gradient_norms_while_training_d(config, dataset, models,
                                            snapshots, settings,
                                            options=options)
  iterations = np.arange(metrics["saturating"].shape[-1]) * settings[
      "measure_every"]

  fig = common.new_figure((13, 3.8))
  axes = fig.subplots(1, 3)
  titles = {"saturating": "saturating cost E log(1 - D(G(z)))  (Fig. 2)",
            "non_saturating": "-log D cost -E log D(G(z))  (Fig. 3)"}
  for ax, name in zip(axes, COSTS):
    for i, stage in enumerate(settings["stages"]):
      norms = metrics[name][i]
      # Mean and std of log10: the spread spans orders of magnitude.
      logs = np.log10(np.maximum(norms, 1e-30))
      mean, std = logs.mean(0), logs.std(0)
      ax.plot(iterations, 10**mean, color=f"C{i}",
              label=f"G after {stage} steps")
      ax.fill_between(iterations, 10**(mean - std), 10**(mean + std),
                      color=f"C{i}", alpha=0.25)
    ax.set_yscale("log")
    ax.set_xlabel("discriminator iterations")
    ax.set_ylabel("||grad_theta_G cost||")
    ax.set_title(titles[name], fontsize=9)
    ax.legend(fontsize=7)
  for i, stage in enumerate(settings["stages"]):
    accuracy = metrics["d_accuracy"][i]
    axes[2].plot(iterations, accuracy.mean(0), color=f"C{i}",
                 label=f"G after {stage} steps")
  axes[2].set_xlabel("discriminator iterations")
  axes[2].set_ylabel("D's accuracy (fresh samples)")
  axes[2].set_title("the fresh D becomes (nearly) perfect", fontsize=9)
  axes[2].legend(fontsize=7)
  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)

  def per_stage(key, window):
    """Geometric mean over repeats and the measurements in `window`."""
    return {str(s): float(np.exp(np.mean(np.log(np.maximum(
        metrics[key][i][:, window], 1e-30)))))
            for i, s in enumerate(settings["stages"])}

  # The last tenth of the measurements: single ones are noisy.
  last = slice(-max(1, len(iterations) // 10), None)
  summary = dict(
      geometric_mean_norm_first={c: per_stage(c, slice(0, 1))
                                 for c in COSTS},
      geometric_mean_norm_last_tenth={c: per_stage(c, last) for c in COSTS},
      d_accuracy_last={str(s): float(metrics["d_accuracy"][i][:, -1].mean())
                       for i, s in enumerate(settings["stages"])},
      seconds=time.time() - start)
  data = dict(
      description=("Norm of the gradient w.r.t. G's parameters of the "
                   "saturating and non-saturating generator costs while a "
                   "fresh D trains against a fixed G; arrays are "
                   "[stage, repeat, measurement]."),
      config=config.to_dict(), settings=settings, iterations=iterations,
      stages=settings["stages"], metrics=metrics, summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
