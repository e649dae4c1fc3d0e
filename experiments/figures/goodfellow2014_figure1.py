r"""Goodfellow et al. 2014, Figure 1: one 1D GAN run at the paper's four stages.

The paper's caption: (a) an adversarial pair near convergence, p_g similar to
p_data and D a partially accurate classifier; (b) in the inner loop of the
algorithm D is trained to discriminate samples from data, converging to

  D*(x) = p_data(x) / (p_data(x) + p_g(x))        (Proposition 1);

(c) after an update to G, the gradient of D has guided G(z) to flow to regions
more likely to be classified as data; (d) after several steps of training,
p_g = p_data and D = 1/2 everywhere.

Here the four panels are four moments of ONE training run on the data of
experiments/configs/gaussian_1d.py (p_data = N(1, 0.5^2), z ~ N(0, 1) in one
dimension, a 32-32 MLP G, non-saturating G loss, batch 128), with the changes
`main_config` lists and measures (a smooth tanh G, a 64-64 D, k = 5, Adam
with D's rate 5x G's, 10,000 steps), all trained by the project's engine
(`gan_jax.step.make_update` mapped by `gan_jax.step.DataParallel`, as
`gan_jax.train` runs it):

  (a) Algorithm 1 for `stage_a` = 400 iterations: p_g near p_data, D
      partially accurate;
  (b) the inner loop taken to convergence: the same engine with G's learning
      rate 0 (G frozen, bitwise) and D alone trained on for `inner_steps` =
      3,000 steps from (a)'s D, by Adam (3e-3) with a cosine decay to 1% on
      batches of `inner_batch` = 2,048 fresh samples (a bigger batch and a
      decaying rate, unlike the run's, so that D settles instead of
      wandering with the minibatch noise);
  (c) G's update: the engine with D's learning rate 0 (D frozen, bitwise),
      `g_steps` = 10 G steps of the run's optimiser (its state carried on)
      against (b)'s D. One step moves p_g too little to see; over these 10
      JSD falls. Against a frozen D, G eventually over-fits that D and JSD
      rises again, which is why Algorithm 1 goes back to training D;
  (d) the run resumed where (a) left it (its key, step and D's optimiser
      state), with (c)'s G and (b)'s D, to its end at `steps` = 10,000.

What is drawn, as in the paper: p_data (black dotted), p_g (green solid), D
(blue dashed), and D* (red, faint; `gan_jax.divergences.optimal_discriminator`
on the two densities). Below each panel, the lower line is z and the upper
line x, with arrows x = G(z) from evenly spaced quantiles of z; z is drawn
at u = Phi(z), uniform on [0, 1], so equal spacing on the z line is equal
probability, as the paper's uniformly sampled z (G o Phi^-1 maps uniform u to
x). Where the arrows bunch, p_g is high. Where G decreases the line holds
-z (also N(0, 1)), so that the arrows do not cross, as in the paper. The
grey bar on the x line is the support S below.

p_g is exact, not a kernel density estimate: on a fine grid z_j (|z| <= 6)
each interval carries mass Phi(z_j+1) - Phi(z_j) spread uniformly over
[G(z_j), G(z_j+1)], and p_g on each x bin is that mass per bin width. For
the monotone, smooth G here this is the change of variables
p_g(x) = p_z(G^-1(x)) / |G'(G^-1(x))| averaged over the bin (up to G's
curvature within one z interval of 1.2e-4); a non-monotone G would sum the
pieces, so the formula holds for it too.

Numbers, all by quadrature on the x grid with `gan_jax.divergences`
(densities renormalised on the grid): JSD(p_data || p_g), V(G, D) and
V(G, D*) = -log 4 + 2 JSD; max |D - D*| and max |D - 1/2| over the support

  S = {x : p_data(x) + p_g(x) >= 0.02 max_x (p_data + p_g)}

(about +-2.8 std of p_data, 99.5% of its mass, when p_g = p_data; the JSON
also gives both maxima for S cut at 1% and 5%). Beyond S the densities are
so small that few samples land there: D is barely constrained by the game,
and the tanh G's tails are lighter than the Gaussian's, so D* itself moves
off 1/2 there. Tolerances (`TOLERANCES`): panel (b)
max_S |D - D*| < 0.05; panel (d) JSD < 0.01 and max_S |D - 1/2| < 0.05. Each is printed as met or
MISSED; a full run that misses one writes its files and then raises
`ToleranceError` (so make_all reports it as failed). The --quick version (a
few hundred steps, for the tests) is not expected to meet them and only
prints.

Writes goodfellow2014_figure1.png and goodfellow2014_figure1.json.

Measured results, and the measurements behind `main_config`'s choices:
docs/figures.md.

Run (from the repository root):
  python experiments/figures/goodfellow2014_figure1.py [--outdir docs/figures] \
      [--quick]
"""

from __future__ import annotations

import dataclasses
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
import ml_collections  # pylint: disable=g-import-not-at-top,wrong-import-position
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
# S = {x : p_data + p_g >= SUPPORT_FRACTION * max(p_data + p_g)}.
SUPPORT_FRACTION = 0.02
# Also reported, to show how the maxima depend on the cut-off.
OTHER_SUPPORT_FRACTIONS = (0.01, 0.05)
# Each check passes when its value is below the tolerance.
TOLERANCES = {
    "b_max_abs_d_minus_d_star": 0.05,
    "d_jsd": 0.01,
    "d_max_abs_d_minus_half": 0.05,
}
PANELS = "abcd"


class ToleranceError(RuntimeError):
  """A full run missed one of `TOLERANCES` (its files are still written)."""


def _settings(quick: bool) -> dict:
  if quick:
    return dict(steps=200, stage_a=100, inner_steps=200, inner_batch=256,
                inner_learning_rate=3e-3, g_steps=5, chunk=50,
                inner_chunk=100, num_x=251, num_z=4001)
  return dict(steps=10_000, stage_a=400, inner_steps=3000, inner_batch=2048,
              inner_learning_rate=3e-3, g_steps=10, chunk=200,
              inner_chunk=500, num_x=501, num_z=100_001)


def main_config(settings: dict) -> ml_collections.ConfigDict:
  """The run's config: gaussian_1d.py with the changes this figure needs.

  On gaussian_1d.py as shipped (ReLU G and D, SGD, k = 1) G's ReLU units
  die on one side of z, so G is flat there and p_g has point masses, and at
  each of its kinks a jump; D* jumps with it, which no D can follow, and the
  game circles its equilibrium. What changes, and why (the measurements:
  docs/figures.md):

    model.generator_activation 'tanh': a smooth G, so p_g and D* are
      smooth; GELU and ELU G's are flat on one side and gave point masses
      as ReLU does;
    model.discriminator_widths (64, 64): panel (b)'s D* has a narrow dip
      where p_g peaks; the inner loop brought a 32-32 D to a plateau
      (capacity, not noise), a 64-64 D much nearer D*;
    train.discriminator_steps 5: Algorithm 1's k, keeping D near D*;
    Adam (b1 = 0.5), D's rate 1e-3 five times G's 2e-4, both decayed by a
      cosine to 5%: a slow G against a near-optimal D descends the JSD, as
      the theory assumes (Proposition 2); with equal rates some seeds
      stalled;
    train.steps 10,000: the second half flattens D.

  The data, z ~ N(0, 1) in one dimension, the 32-32 G, the non-saturating
  loss and the batch of 128 are the config's.
  """
  config = config_lib.from_file(CONFIG)
  config.train.steps = settings["steps"]
  config.train.discriminator_steps = 5
  config.model.generator_activation = "tanh"
  config.model.discriminator_widths = (64, 64)
  for player, rate in (("generator", 2e-4), ("discriminator", 1e-3)):
    config.optimizer[player].update(name="adam", learning_rate=rate, b1=0.5,
                                    b2=0.999, momentum=0.0,
                                    schedule="cosine", end_factor=0.05)
  config_lib.validate(config, 1)
  return config


def frozen(config: ml_collections.ConfigDict, player: str,
           **train_fields) -> ml_collections.ConfigDict:
  """A copy of `config` whose `player` ('generator' / 'discriminator') is frozen.

  Its learning rate is 0: the engine still computes that player's gradient,
  but the update is the optimiser's step (Adam's, here) times 0, so its
  parameters stay bitwise the same (the tests check it). A rate of 0 is outside the validated range
  (a training run with it would be pointless), so this config is not
  validated; `make_update` takes it as is.
  """
  copy = ml_collections.ConfigDict(config.to_dict())
  copy.optimizer[player].learning_rate = 0.0
  copy.train.update(train_fields)
  return copy


def inner_loop_config(config: ml_collections.ConfigDict,
                      settings: dict) -> ml_collections.ConfigDict:
  """Algorithm 1's inner loop run to convergence: G frozen, D by Adam."""
  inner = frozen(config, "generator", steps=settings["inner_steps"],
                 batch_size=settings["inner_batch"])
  # Cosine decay to 1% over the inner loop: the late small steps average
  # out the minibatch noise that would keep D away from D*.
  inner.optimizer.discriminator.update(
      name="adam", learning_rate=settings["inner_learning_rate"], b1=0.9,
      b2=0.999, momentum=0.0, schedule="cosine", decay_steps=0,
      end_factor=0.01)
  return inner


class Engine:
  """The project's update for one config on one device; host states in/out."""

  def __init__(self, config, models: step_lib.Models, options):
    update = step_lib.make_update(config, models,
                                  step_lib.make_real_sampler(config.data),
                                  num_devices=1)
    self._parallel = step_lib.DataParallel(update, jax.devices()[:1],
                                           compiler_options=options)

  def run(self, state: step_lib.TrainState, num_steps: int, chunk: int,
          on_chunk=None) -> step_lib.TrainState:
    """`num_steps` iterations from a host state; `on_chunk(done, state)`."""
    if num_steps % chunk:
      raise ValueError(f"{num_steps} steps is not a multiple of the chunk "
                       f"{chunk} (each chunk length compiles once)")
    device_state = self._parallel.place(state)
    for done in range(chunk, num_steps + 1, chunk):
      device_state, _ = self._parallel.run(device_state, None, chunk)
      if on_chunk is not None:
        on_chunk(done, self._parallel.fetch(device_state))
    return self._parallel.fetch(device_state)


@dataclasses.dataclass(frozen=True)
class Grid:
  """Where everything is evaluated.

  Attributes:
    x: bin centres [n] on X_RANGE; edges: bin edges [n + 1]; dx: bin width.
    p_data: p_data on x, renormalised on the grid (sum * dx = 1).
    z: the fine z grid of the exact pushforward (see `pushforward_density`).
    quantiles: u of the mapping arrows; z_lines = Phi^-1(u).
  """
  x: np.ndarray
  edges: np.ndarray
  dx: float
  p_data: np.ndarray
  z: np.ndarray
  quantiles: np.ndarray
  z_lines: np.ndarray


def make_grid(config: ml_collections.ConfigDict, settings: dict) -> Grid:
  edges = np.linspace(*X_RANGE, settings["num_x"] + 1)
  x = 0.5 * (edges[:-1] + edges[1:])
  dx = float(edges[1] - edges[0])
  distribution = data_lib.make_toy_distribution(config.data)
  with jax.enable_x64(True):
    p = np.exp(np.asarray(jax.jit(distribution.log_prob)(x[:, None])))
  p /= p.sum() * dx  # the mass of p_data outside X_RANGE is < 1e-6
  quantiles = np.linspace(0.02, 0.98, 25)
  z_lines = np.array([statistics.NormalDist().inv_cdf(u) for u in quantiles])
  return Grid(x=x, edges=edges, dx=dx, p_data=p,
              z=np.linspace(-6.0, 6.0, settings["num_z"]),
              quantiles=quantiles, z_lines=z_lines)


_normal_cdf = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0)))


def pushforward_density(z: np.ndarray, x: np.ndarray,
                        edges: np.ndarray) -> np.ndarray:
  """Density of G(z), z ~ N(0, 1), averaged over each bin [edges_i, edges_i+1).

  Args:
    z: an increasing grid of z, e.g. even on [-6, 6] (the mass beyond
      |z| = 6, 2e-9, is then dropped).
    x: G(z) on that grid.
    edges: the bin edges.

  Exact for G linear on each interval [z_j, z_j+1] (a ReLU G), and for a
  smooth G up to its curvature within one interval: the interval carries
  mass Phi(z_j+1) - Phi(z_j) spread uniformly over [G(z_j), G(z_j+1)].
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


def support_mask(p_data: np.ndarray, p_g: np.ndarray,
                 fraction: float = SUPPORT_FRACTION) -> np.ndarray:
  """S: where p_data + p_g >= `fraction` of its maximum on the grid."""
  total = p_data + p_g
  return total >= fraction * total.max()


def max_deviations(p_data, p_g, d, d_star,
                   fraction: float = SUPPORT_FRACTION) -> dict:
  """max_S |D - D*|, max_S |D - 1/2| and S's ends, for S at `fraction`."""
  support = support_mask(p_data, p_g, fraction)
  return dict(max_abs_d_minus_d_star=float(np.max(np.abs(d - d_star)[support])),
              max_abs_d_minus_half=float(np.max(np.abs(d - 0.5)[support])),
              support_points=int(support.sum()))


class Probe:
  """Measures a (G, D) pair on the grid: p_g, D, D* and the numbers."""

  def __init__(self, models: step_lib.Models, grid: Grid, options):
    self.grid = grid
    self._generate = jax.jit(lambda params, z: step_lib.generate(
        models.generator, params, {}, z.reshape(-1, 1))[:, 0],
                             compiler_options=options)
    self._discriminate = jax.jit(lambda params, x: models.discriminator.apply(
        {"params": params}, x.reshape(-1, 1), train=False),
                                 compiler_options=options)
    dx = grid.dx

    @jax.jit
    def evaluate(p, p_g, logits):
      """D*, JSD, V(G, D*) and V(G, D) by quadrature (one compilation)."""
      return dict(
          d_star=divergences.optimal_discriminator(p, p_g),
          jsd=divergences.jensen_shannon_divergence(p, p_g, dx=dx),
          value_d_star=divergences.value_at_optimum(p, p_g, dx=dx),
          value_d=losses.value_function(logits, logits, real_weights=p,
                                        fake_weights=p_g))

    self._evaluate = evaluate

  def generator(self, g_params) -> dict:
    """p_g on the grid (exact pushforward) and G at the arrows' z."""
    grid = self.grid
    # One call of G for the grid and the arrows (one compiled shape).
    values = np.asarray(self._generate(g_params, np.concatenate(
        [grid.z, grid.z_lines]).astype(np.float32)), np.float64)
    p_g = pushforward_density(grid.z, values[:len(grid.z)], grid.edges)
    mass = float(p_g.sum() * grid.dx)
    return dict(p_g=p_g / mass, p_g_mass_in_range=mass,
                g_of_z_lines=values[len(grid.z):])

  def measure(self, g: dict, d_params) -> dict:
    """D, D* and the panel's numbers for G's `generator()` output and D."""
    grid = self.grid
    logits = np.asarray(self._discriminate(d_params,
                                           grid.x.astype(np.float32)),
                        np.float64)
    with jax.enable_x64(True):
      numbers = {k: np.asarray(v) for k, v in
                 self._evaluate(grid.p_data, g["p_g"], logits).items()}
    d = 1.0 / (1.0 + np.exp(-logits))
    support = support_mask(grid.p_data, g["p_g"])
    jsd = float(numbers["jsd"])
    return dict(
        **g, d=d, d_star=numbers["d_star"], jsd=jsd,
        value_d=float(numbers["value_d"]),
        value_d_star=float(numbers["value_d_star"]),
        minus_log4_plus_2jsd=-math.log(4.0) + 2.0 * jsd,
        **max_deviations(grid.p_data, g["p_g"], d, numbers["d_star"]),
        support=[float(grid.x[support].min()), float(grid.x[support].max())],
        # How much the maxima depend on where S is cut off.
        other_supports={
            str(f): max_deviations(grid.p_data, g["p_g"], d,
                                   numbers["d_star"], f)
            for f in OTHER_SUPPORT_FRACTIONS})


def _fold(state: step_lib.TrainState, phase: int) -> step_lib.TrainState:
  """The state with its base key folded: a phase's own random draws."""
  return state.replace(rng=np.asarray(jax.random.fold_in(state.rng, phase)))


def _inner_loop(config, models, probe: Probe, g: dict, state_a, settings,
                options, log) -> tuple[step_lib.TrainState, list]:
  """(b): D trained alone from (a)'s D, G frozen; returns (state, history)."""
  inner = inner_loop_config(config, settings)
  fresh = step_lib.init_state(inner, models, (1,), compiler_options=options)
  # (a)'s G and D, fresh optimiser states for this loop (Adam for D).
  start = _fold(fresh.replace(g_params=state_a.g_params,
                              d_params=state_a.d_params, step=state_a.step,
                              rng=state_a.rng), 1)
  history = []

  def record(done, state):
    error = probe.measure(g, state.d_params)["max_abs_d_minus_d_star"]
    history.append(dict(d_steps=done, max_abs_d_minus_d_star=error))

  record(0, start)
  state_b = Engine(inner, models, options).run(
      start, settings["inner_steps"], settings["inner_chunk"], record)
  log(f"(b) {settings['inner_steps']} D steps, G frozen: max|D - D*| "
      f"{history[-1]['max_abs_d_minus_d_star']:.4f}")
  return state_b, history


def train_stages(settings: dict, options=None, log=print) -> dict:
  """Runs the one training run; returns its config, grid and four stages."""
  config = main_config(settings)
  generator, discriminator = model_lib.make_models(
      config.model, (1,), axis_name=step_lib.AXIS)
  models = step_lib.Models(generator, discriminator)
  grid = make_grid(config, settings)
  probe = Probe(models, grid, options)
  run = Engine(config, models, options)
  chunk = settings["chunk"]

  state_a = run.run(step_lib.init_state(config, models, (1,),
                                        compiler_options=options),
                    settings["stage_a"], chunk)
  g_a = probe.generator(state_a.g_params)
  stage_a = probe.measure(g_a, state_a.d_params)
  log(f"(a) step {settings['stage_a']}: JSD {stage_a['jsd']:.4f}, "
      f"max|D - D*| {stage_a['max_abs_d_minus_d_star']:.4f}")

  state_b, history = _inner_loop(config, models, probe, g_a, state_a,
                                 settings, options, log)
  stage_b = probe.measure(g_a, state_b.d_params)

  # (c): G's steps against the converged D, with the run's optimiser state.
  start_c = _fold(state_a.replace(d_params=state_b.d_params), 2)
  state_c = Engine(frozen(config, "discriminator"), models, options).run(
      start_c, settings["g_steps"], settings["g_steps"])
  stage_c = probe.measure(probe.generator(state_c.g_params), state_c.d_params)
  log(f"(c) {settings['g_steps']} G steps, D frozen: JSD "
      f"{stage_c['jsd']:.4f}")

  # (d): the run resumed where it was interrupted (its key, step and D
  # optimiser state), with (c)'s G and the converged D.
  resumed = state_a.replace(g_params=state_c.g_params,
                            g_opt_state=state_c.g_opt_state,
                            d_params=state_c.d_params)
  state_d = run.run(resumed, settings["steps"] - settings["stage_a"], chunk)
  stage_d = probe.measure(probe.generator(state_d.g_params), state_d.d_params)
  log(f"(d) step {settings['steps']}: JSD {stage_d['jsd']:.4f}, "
      f"max|D - 1/2| {stage_d['max_abs_d_minus_half']:.4f}")

  labels = [
      dict(step=settings["stage_a"], d_steps=0, g_steps=0,
           title=f"step {settings['stage_a']}"),
      dict(step=settings["stage_a"], d_steps=settings["inner_steps"],
           g_steps=0, title=f"+ {settings['inner_steps']} D steps, G frozen"),
      dict(step=settings["stage_a"], d_steps=settings["inner_steps"],
           g_steps=settings["g_steps"],
           title=f"+ {settings['g_steps']} G steps, D frozen"),
      dict(step=settings["steps"], d_steps=settings["inner_steps"],
           g_steps=settings["g_steps"], title=f"step {settings['steps']}"),
  ]
  stages = [dict(panel=letter, **label, **stage) for letter, label, stage in
            zip(PANELS, labels, (stage_a, stage_b, stage_c, stage_d))]
  return dict(config=config, grid=grid, stages=stages,
              inner_loop_history=history,
              params_equal=dict(
                  g_b_is_g_a=_tree_equal(state_b.g_params, state_a.g_params),
                  d_c_is_d_b=_tree_equal(state_c.d_params, state_b.d_params)))


def _tree_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def check_tolerances(stages: list) -> dict:
  """{name: {value, tolerance, met}} for each of `TOLERANCES`."""
  by_panel = {s["panel"]: s for s in stages}
  values = {
      "b_max_abs_d_minus_d_star": by_panel["b"]["max_abs_d_minus_d_star"],
      "d_jsd": by_panel["d"]["jsd"],
      "d_max_abs_d_minus_half": by_panel["d"]["max_abs_d_minus_half"],
  }
  return {name: dict(value=value, tolerance=TOLERANCES[name],
                     met=bool(value < TOLERANCES[name]))
          for name, value in values.items()}


def _draw_panel(ax, grid: Grid, stage: dict, before: dict | None,
                top: float) -> None:
  """One panel in the paper's style: curves above, z -> x arrows below.

  `before`: the stage whose p_g is drawn faintly behind this one's (for (c),
  to show how far G's update moved it); `top`: the upper y limit.
  """
  x = grid.x
  if before is not None:
    ax.plot(x, before["p_g"], "g-", lw=1.0, alpha=0.35,
            label=f"p_g before G's update (panel {before['panel']})")
  z_line, x_line = -0.62, -0.12  # the paper's two lines: z below, x above
  ax.plot(stage["support"], [x_line, x_line], color="0.75", lw=5,
          solid_capstyle="butt", label="support S (on the x line)")
  ax.plot(x, grid.p_data, "k:", lw=2.0, label="p_data (data)")
  ax.plot(x, stage["p_g"], "g-", lw=1.5, label="p_g (generative)")
  ax.plot(x, stage["d_star"], "r-", lw=3, alpha=0.25,
          label="D* = p_data / (p_data + p_g)")
  ax.plot(x, stage["d"], "b--", lw=1.5, label="D (discriminator)")
  # The z line holds u = Phi(s z) on [low, high], s = +-1 chosen so that G
  # increases along it (s z ~ N(0, 1) as z is), so the arrows do not cross,
  # as in the paper.
  g_of_z = np.asarray(stage["g_of_z_lines"])
  sign = 1.0 if g_of_z[-1] >= g_of_z[0] else -1.0
  u = grid.quantiles if sign > 0 else 1.0 - grid.quantiles
  low, high = -0.5, 2.5
  for u_i, g_i in zip(u, g_of_z):
    ax.annotate("", xy=(g_i, x_line), xytext=(low + u_i * (high - low),
                                               z_line),
                arrowprops=dict(arrowstyle="->", lw=0.7, color="0.25",
                                shrinkA=0, shrinkB=0))
  ax.plot([low, high], [z_line, z_line], "k-", lw=1.0)
  ax.axhline(x_line, color="k", lw=1.0)
  ax.text(X_RANGE[0] + 0.08, z_line + 0.04, "z" if sign > 0 else "-z",
          fontsize=10)
  ax.text(X_RANGE[0] + 0.08, x_line + 0.04, "x", fontsize=10)
  ax.set_xlim(*X_RANGE)
  ax.set_ylim(-0.7, top)
  ax.set_yticks([0, 0.5, 1.0])
  ax.set_title(
      f"({stage['panel']}) {stage['title']}\nJSD {stage['jsd']:.4f}, "
      f"max$_S$|D-D*| {stage['max_abs_d_minus_d_star']:.3f}, "
      f"max$_S$|D-1/2| {stage['max_abs_d_minus_half']:.3f}", fontsize=8.5)


def draw(grid: Grid, stages: list, path: str, quick: bool) -> str:
  fig = common.new_figure((14, 4.3))
  axes = fig.subplots(1, len(stages), sharey=True)
  top = max(1.1, 1.05 * max(float(np.max(s["p_g"])) for s in stages))
  by_panel = {s["panel"]: s for s in stages}
  for ax, stage in zip(axes, stages):
    _draw_panel(ax, grid, stage, by_panel["b"] if stage["panel"] == "c"
                else None, top)
  handles, labels = axes[0].get_legend_handles_labels()
  extra = axes[PANELS.index("c")].get_legend_handles_labels()
  fig.legend(handles + extra[0][:1], labels + extra[1][:1],
             loc="outside lower center", ncol=6, fontsize=8, frameon=False)
  return common.save_figure(fig, path, quick)


def _report(checks: dict, quick: bool) -> list:
  """Prints every check; returns the messages of the missed ones."""
  missed = []
  for name, check in checks.items():
    verdict = "met" if check["met"] else "MISSED"
    message = (f"{name} = {check['value']:.4f} (tolerance < "
               f"{check['tolerance']}): {verdict}")
    print(f"  {NAME}: {message}", flush=True)
    if not check["met"]:
      missed.append(message)
  if missed and quick:
    print(f"  {NAME}: --quick is a smoke test; its tolerances are not "
          f"enforced (the full run raises if one is missed)", flush=True)
  return missed


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  start = time.time()
  settings = _settings(quick)
  log = lambda text: print(f"  {NAME}: {text} ({time.time() - start:.0f} s)",
                           flush=True)
  run = train_stages(settings, common.compiler_options(quick), log)
  grid, stages = run["grid"], run["stages"]
  checks = check_tolerances(stages)
  png = draw(grid, stages, os.path.join(outdir, NAME + ".png"), quick)

  numbers = ("step", "d_steps", "g_steps", "jsd", "max_abs_d_minus_d_star",
             "max_abs_d_minus_half", "value_d", "value_d_star")
  summary = dict(
      panels={s["panel"]: {k: s[k] for k in numbers} for s in stages},
      checks=checks, all_met=all(c["met"] for c in checks.values()),
      params_equal=run["params_equal"], quick=quick,
      seconds=time.time() - start)
  data = dict(
      description=(
          "One GAN run on p_data = N(1, 0.5^2) (experiments/configs/"
          "gaussian_1d.py, see main_config) at the four stages of Goodfellow "
          "et al. 2014 Figure 1: p_data, exact p_g, D and D* = p_data / "
          "(p_data + p_g) on the grid x (bin centres); max |D - D*| and "
          "max |D - 1/2| over the support S = {p_data + p_g >= "
          f"{SUPPORT_FRACTION} max(p_data + p_g)}}; arrows at z_lines."),
      settings=settings, support_fraction=SUPPORT_FRACTION,
      tolerances=TOLERANCES, config=run["config"].to_dict(), x=grid.x,
      dx=grid.dx, p_data=grid.p_data, quantiles=grid.quantiles,
      z_lines=grid.z_lines, stages=stages,
      inner_loop_history=run["inner_loop_history"], summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  missed = _report(checks, quick)
  if missed and not quick:
    raise ToleranceError(f"{NAME}: tolerance(s) missed (files written to "
                         f"{outdir}): " + "; ".join(missed))
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
