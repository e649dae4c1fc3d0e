r"""Goodfellow et al. 2014, Figure 1: a 1D GAN at four stages of training.

The GAN of experiments/configs/gaussian_1d.py (p_data = N(1, 0.5^2), 32-32
ReLU MLPs, z ~ N(0, 1) in one dimension, k = 1, SGD with momentum) is trained
by the project's engine (`gan_jax.step.make_update` mapped by
`gan_jax.step.DataParallel`, as `gan_jax.train` runs it), and G and D are
captured at four steps. Each panel shows, as in the paper,

  p_data     black dots
  p_g        green: the exact density of G's pushforward of N(0, 1)
  D          blue dashed: the discriminator being trained, sigma(logit)
  D*         red: p_data / (p_data + p_g), from the two densities
             (`gan_jax.divergences.optimal_discriminator`)

and below them lines from z to x = G(z) for evenly spaced quantiles of z
(drawn on a uniform "latent" axis u = Phi(z), as the paper draws a uniform
z): where the lines bunch, p_g is high.

p_g is exact up to binning, not a histogram of samples: G is piecewise
linear in its scalar input (ReLU), so on a fine grid of z each interval
[z_j, z_j+1] carries mass Phi(z_j+1) - Phi(z_j) uniformly onto
[G(z_j), G(z_j+1)]; the density is that mass per x bin. Each panel's title
gives JSD(p_data || p_g) and V(G, D) next to V(G, D*) = -log 4 + 2 JSD, both
by quadrature on the grid.

Unlike the paper's cartoon, the stages are snapshots of one real run, and
GAN training is not monotone: p_g can move away from p_data before it
settles (see the JSON for the JSD at every stage).

Writes goodfellow2014_figure1.png and goodfellow2014_figure1.json.

Run (from the repository root):
  python experiments/figures/goodfellow2014_figure1.py [--outdir docs/figures]
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import divergences  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import models as model_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import step as step_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "goodfellow2014_figure1"
CONFIG = os.path.join(common.CONFIG_DIR, "gaussian_1d.py")
X_RANGE = (-1.5, 3.5)


def _settings(quick: bool) -> dict:
  if quick:
    return dict(stages=(0, 10, 20, 40), chunk=10, num_x=251, num_z=4001)
  return dict(stages=(0, 300, 1500, 5000), chunk=50, num_x=501,
              num_z=200_001)


_normal_cdf = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0)))


def pushforward_density(z: np.ndarray, x: np.ndarray,
                        edges: np.ndarray) -> np.ndarray:
  """Density of G(z), z ~ N(0, 1), averaged over each bin [edges_i, edges_i+1).

  Args:
    z: an increasing grid of z, e.g. even on [-6, 6] (the mass beyond
      |z| = 6, 2e-9, is then dropped).
    x: G(z) on that grid.
    edges: the bin edges.

  Exact for G linear on each interval [z_j, z_j+1] (a ReLU G on a fine
  grid): the interval carries mass Phi(z_j+1) - Phi(z_j) spread uniformly
  over [G(z_j), G(z_j+1)].
  """
  x = np.asarray(x, np.float64)
  mass = np.diff(_normal_cdf(z))
  low, high = np.minimum(x[:-1], x[1:]), np.maximum(x[:-1], x[1:])
  width = high - low
  # CDF of p_g at each bin edge: the share of every interval lying below.
  cdf = np.zeros(len(edges))
  for start in range(0, len(mass), 20_000):  # bounded memory
    part = slice(start, start + 20_000)
    below = (edges[:, None] - low[None, part]) / np.where(
        width[part] > 0, width[part], 1.0)[None]
    # A flat interval (G constant) puts all its mass at one point.
    below = np.where(width[part][None] > 0, np.clip(below, 0.0, 1.0),
                     (edges[:, None] >= low[None, part]).astype(float))
    cdf += below @ mass[part]
  return np.diff(cdf) / np.diff(edges)


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  start = time.time()
  settings = _settings(quick)
  config = config_lib.from_file(CONFIG)
  config.train.steps = settings["stages"][-1]
  config_lib.validate(config, 1)
  # The engine's pieces, as gan_jax.train.train_and_evaluate uses them, on
  # one device; the state stays in memory so that G and D can be captured.
  generator, discriminator = model_lib.make_models(
      config.model, (1,), axis_name=step_lib.AXIS)
  models = step_lib.Models(generator, discriminator)
  update = step_lib.make_update(config, models,
                                step_lib.make_real_sampler(config.data),
                                num_devices=1)
  options = common.compiler_options(quick)
  parallel = step_lib.DataParallel(update, jax.devices()[:1],
                                   compiler_options=options)
  state = parallel.place(step_lib.init_state(config, models, (1,),
                                             compiler_options=options))
  p_data = data_lib.make_toy_distribution(config.data)

  edges = np.linspace(*X_RANGE, settings["num_x"] + 1)
  x = 0.5 * (edges[:-1] + edges[1:])
  dx = float(edges[1] - edges[0])
  with jax.enable_x64(True):
    p = np.exp(np.asarray(jax.jit(p_data.log_prob)(x[:, None])))
  p /= p.sum() * dx  # the grid's mass outside X_RANGE is < 1e-6

  @jax.jit
  def evaluate(p, p_g, logits):
    """D*, JSD, V(G, D*) and V(G, D) on the grid (one compilation)."""
    return dict(
        d_star=divergences.optimal_discriminator(p, p_g),
        jsd=divergences.jensen_shannon_divergence(p, p_g, dx=dx),
        value_d_star=divergences.value_at_optimum(p, p_g, dx=dx),
        value_d=losses.value_function(logits, logits, real_weights=p,
                                      fake_weights=p_g))

  generate = jax.jit(lambda params, z: step_lib.generate(
      generator, params, {}, z.reshape(-1, 1))[:, 0],
                     compiler_options=options)
  discriminate = jax.jit(lambda params, x: discriminator.apply(
      {"params": params}, x.reshape(-1, 1), train=False),
                         compiler_options=options)
  quantiles = np.linspace(0.02, 0.98, 25)
  z_lines = np.array([statistics.NormalDist().inv_cdf(u) for u in quantiles])
  z_grid = np.linspace(-6.0, 6.0, settings["num_z"])

  stages = []
  step = 0
  for target in settings["stages"]:
    while step < target:
      state, _ = parallel.run(state, None, settings["chunk"])
      step += settings["chunk"]
    host = parallel.fetch(state)
    # One call of G for the grid and the lines (one compiled shape).
    g_values = np.asarray(generate(host.g_params, np.concatenate(
        [z_grid, z_lines]).astype(np.float32)))
    p_g = pushforward_density(z_grid, g_values[:len(z_grid)], edges)
    mass_in_range = float(p_g.sum() * dx)
    p_g_grid = p_g / mass_in_range
    logits = np.asarray(discriminate(host.d_params, x.astype(np.float32)),
                        np.float64)
    with jax.enable_x64(True):
      numbers = {k: np.asarray(v)
                 for k, v in evaluate(p, p_g_grid, logits).items()}
    jsd = float(numbers["jsd"])
    stages.append(dict(
        step=step, jsd=jsd, value_d=float(numbers["value_d"]),
        value_d_star=float(numbers["value_d_star"]),
        minus_log4_plus_2jsd=-math.log(4.0) + 2.0 * jsd,
        p_g_mass_in_range=mass_in_range, p_g=p_g_grid,
        d=1.0 / (1.0 + np.exp(-logits)), d_star=numbers["d_star"],
        z_lines=z_lines, g_of_z_lines=g_values[len(z_grid):]))
    print(f"  {NAME}: step {step}, JSD {jsd:.4f} "
          f"({time.time() - start:.0f} s)", flush=True)

  fig = common.new_figure((14, 3.6))
  axes = fig.subplots(1, len(stages), sharey=True)
  dots = slice(None, None, max(1, len(x) // 60))
  for ax, stage, letter in zip(axes, stages, "abcd"):
    ax.plot(x[dots], p[dots], "k.", ms=3, label="p_data")
    ax.plot(x, stage["p_g"], "g-", label="p_g")
    ax.plot(x, stage["d"], "b--", label="D")
    ax.plot(x, stage["d_star"], "r-", lw=2, alpha=0.35, label="D*")
    # Latent-to-data mapping: u = Phi(z) on a uniform axis below.
    u_line, x_line = -0.45, -0.1
    u_pos = X_RANGE[0] + quantiles * (X_RANGE[1] - X_RANGE[0])
    for u, g in zip(u_pos, stage["g_of_z_lines"]):
      ax.plot([u, g], [u_line, x_line], color="0.5", lw=0.6)
    ax.axhline(u_line, color="k", lw=0.8)
    ax.axhline(x_line, color="k", lw=0.8)
    ax.set_xlim(*X_RANGE)
    ax.set_ylim(-0.5, 1.3)
    ax.set_title(f"({letter}) step {stage['step']}: JSD {stage['jsd']:.3f}\n"
                 f"V(G,D) {stage['value_d']:.3f}, V(G,D*) "
                 f"{stage['value_d_star']:.3f}", fontsize=9)
    ax.text(X_RANGE[1], u_line + 0.02, "u = Phi(z)", fontsize=7, ha="right")
    ax.text(X_RANGE[1], x_line + 0.02, "x = G(z)", fontsize=7, ha="right")
  axes[0].legend(fontsize=7, loc="upper left")
  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)

  summary = dict(steps=[s["step"] for s in stages],
                 jsd=[s["jsd"] for s in stages],
                 value_d=[s["value_d"] for s in stages],
                 value_d_star=[s["value_d_star"] for s in stages],
                 seconds=time.time() - start)
  data = dict(
      description=("GAN on p_data = N(1, 0.5^2) (experiments/configs/"
                   "gaussian_1d.py) at four steps: p_data, exact p_g, D and "
                   "D* = p_data / (p_data + p_g) on the grid x (bin centres)."),
      config=config.to_dict(), x=x, dx=dx, p_data=p, stages=stages,
      summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
