r"""Theory meets practice: a trained D reaches V(G, D*) = -log 4 + 2 JSD.

For a fixed generator, Goodfellow et al. 2014 (Proposition 1, Theorem 1) show
that the discriminator maximising V is D*(x) = p_data / (p_data + p_g), and
that V(G, D*) = -log 4 + 2 JSD(p_data || p_g). With a share pi of fakes in
D's loss (`gan_jax.losses.discriminator_loss(fake_fraction=pi)`), D*_pi =
(1-pi) p_data / ((1-pi) p_data + pi p_g) and

  V_pi(G, D*_pi) = 2 [pi log pi + (1-pi) log(1-pi) + JSD_pi(p_g || p_data)]

(Huszar 2015; JSD_pi(P || Q) with pi the weight of its first argument, as in
`gan_jax.divergences.generalized_jsd`; at pi = 1/2 the same identity).

Here "practice" is: for each fixed generator and pi, a fresh discriminator
(`gan_jax.models` MLP, 64-64 ReLU) is trained alone by Adam with cosine
learning-rate decay on minibatches of fresh samples (m real from p_data, m
fake from p_g each step), descending `gan_jax.losses.discriminator_loss`; all
the (generator, pi) cases are trained at once under jax.vmap. The value it
reaches, V_pi(G, D) = -L_D, is then evaluated exactly (no sampling noise) by
quadrature on a fine grid with the densities as weights, and compared with
the right-hand side above computed by `gan_jax.divergences` on the same
grid (densities renormalised on it, so the identity holds there exactly;
`value_at_optimum`, V at D* from V's definition, is reported as a check).
Since D* maximises V pointwise, gap = theory - trained >= 0.

p_data = N(1, 0.5^2), the data of experiments/configs/gaussian_1d.py. The
fixed generators are pushforwards with known densities: G(z) = mu + sigma z,
z ~ N(0, 1), and a two-mode G (a discrete latent picks the mode).

Writes theory_vs_practice.png and theory_vs_practice.json.

Run (from the repository root):
  python experiments/figures/theory_vs_practice.py [--outdir docs/figures] \
      [--quick]
"""

from __future__ import annotations

import functools
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
from gan_jax import distributions  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import divergences  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import models  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "theory_vs_practice"
DATA_CONFIG = os.path.join(common.CONFIG_DIR, "gaussian_1d.py")

# Fixed generators as two-component mixtures (means, stds, weights), so that
# every case has the same shapes and all train together under vmap.
GENERATORS = {
    "p_g = p_data": ((1.0, 1.0), (0.5, 0.5), (1.0, 0.0)),
    "shifted N(1.5, 0.5^2)": ((1.5, 1.5), (0.5, 0.5), (1.0, 0.0)),
    "wide N(0.5, 1)": ((0.5, 0.5), (1.0, 1.0), (1.0, 0.0)),
    "far N(2.5, 0.25^2)": ((2.5, 2.5), (0.25, 0.25), (1.0, 0.0)),
    "two modes at 0 and 2": ((0.0, 2.0), (0.3, 0.3), (0.5, 0.5)),
}
FAKE_FRACTIONS = (0.5, 0.2, 0.8)
X_RANGE = (-5.0, 7.0)


def _settings(quick: bool) -> dict:
  if quick:
    return dict(generators=("shifted N(1.5, 0.5^2)", "two modes at 0 and 2"),
                fake_fractions=(0.5, 0.2), widths=(32, 32), steps=400,
                batch_size=128, learning_rate=1e-2, chunk=200, num_x=801)
  return dict(generators=tuple(GENERATORS), fake_fractions=FAKE_FRACTIONS,
              widths=(64, 64), steps=3000, batch_size=512,
              learning_rate=3e-3, chunk=250, num_x=2401)


def generator_distribution(means, stds,
                           weights) -> distributions.GaussianMixture:
  return distributions.GaussianMixture(jnp.asarray(means)[:, None],
                                       jnp.asarray(stds), jnp.asarray(weights))


def train_discriminators(discriminator, p_data, cases, settings, seed=0,
                         on_chunk=None, options=None):
  """Trains one D per case [(means, stds, weights, pi)] under vmap.

  Returns the stacked D parameters. `on_chunk(step, params)` is called
  after every `settings['chunk']` steps.
  """
  means, stds, weights, pis = (jnp.asarray(np.array(v, np.float32))
                               for v in zip(*cases))
  num = len(cases)
  batch = settings["batch_size"]
  keys = jax.random.split(jax.random.PRNGKey(seed), num + 1)
  # Cosine decay to 1% of the rate: the late small steps average out the
  # minibatch noise, which would otherwise keep D away from D*.
  optimizer = optax.adam(optax.cosine_decay_schedule(
      settings["learning_rate"], settings["steps"], alpha=0.01))

  @functools.partial(jax.jit, compiler_options=options)
  def init(keys):
    params = jax.vmap(lambda k: models.init_variables(
        discriminator, k, jnp.zeros((1, 1)))["params"])(keys)
    return params, jax.vmap(optimizer.init)(params)

  params, opt_state = init(keys[1:])

  def loss_fn(params, key, means, stds, weights, pi):
    real_key, fake_key = jax.random.split(key)
    real = p_data.sample(real_key, batch)
    fake = generator_distribution(means, stds, weights).sample(fake_key,
                                                                batch)
    apply = lambda x: discriminator.apply({"params": params}, x)
    return losses.discriminator_loss(apply(real), apply(fake),
                                     fake_fraction=pi)

  def step(carry, key):
    params, opt_state = carry
    grads = jax.vmap(jax.grad(loss_fn))(params, jax.random.split(key, num),
                                        means, stds, weights, pis)
    updates, opt_state = jax.vmap(optimizer.update)(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  chunk = settings["chunk"]

  @functools.partial(jax.jit, compiler_options=options)
  def run_chunk(carry, key):
    return jax.lax.scan(step, carry, jax.random.split(key, chunk))[0]

  carry = (params, opt_state)
  for i in range(settings["steps"] // chunk):
    carry = run_chunk(carry, jax.random.fold_in(keys[0], i))
    if on_chunk is not None:
      on_chunk((i + 1) * chunk, carry[0])
  return carry[0]


@functools.partial(jax.jit, static_argnames="dx")
def _evaluate(logits, p, q, pi, *, dx):
  # Weighted means with the densities as weights = quadrature of -L_D.
  trained = -losses.discriminator_loss(logits, logits, real_weights=p,
                                       fake_weights=q, fake_fraction=pi)
  jsd_pi = divergences.generalized_jsd(q, p, pi, dx=dx)
  theory = 2.0 * (pi * jnp.log(pi) + (1 - pi) * jnp.log1p(-pi) + jsd_pi)
  return dict(trained_value=trained, theory_value=theory,
              d_star=divergences.optimal_discriminator(p, q,
                                                       fake_fraction=pi),
              value_at_d_star=divergences.value_at_optimum(
                  p, q, fake_fraction=pi, dx=dx),
              jsd_pi_pg_pdata=jsd_pi,
              jsd=divergences.jensen_shannon_divergence(p, q, dx=dx),
              gap=theory - trained)


def evaluate(logits: np.ndarray, p: np.ndarray, q: np.ndarray, pi: float,
             dx: float) -> dict:
  """Trained V_pi, the JSD_pi identity and V at D*, all on the grid, float64.

  Args:
    logits: D's logits on the grid [n]; p, q: p_data and p_g on the grid,
      normalised there (sum * dx = 1).
    pi: the fake fraction.
    dx: the grid spacing.
  """
  with jax.enable_x64(True):
    # pi traced, so that one compilation serves every case.
    numbers = _evaluate(np.asarray(logits, np.float64), p, q,
                        np.float64(pi), dx=dx)
    return {k: float(v) if k != "d_star" else np.asarray(v)
            for k, v in numbers.items()}


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  start = time.time()
  settings = _settings(quick)
  config = config_lib.from_file(DATA_CONFIG)
  p_data = data_lib.make_toy_distribution(config.data)
  model_config = models.default_model_config("mlp")
  model_config.discriminator_widths = settings["widths"]
  _, discriminator = models.make_models(model_config, (1,))
  cases = [(g, pi) for g in settings["generators"]
           for pi in settings["fake_fractions"]]

  x = np.linspace(*X_RANGE, settings["num_x"])
  dx = float(x[1] - x[0])
  x_device = jnp.asarray(x[:, None], jnp.float32)
  with jax.enable_x64(True):
    log_prob = jax.jit(lambda grid, *g: generator_distribution(*g).log_prob(
        grid))
    p = np.exp(np.asarray(jax.jit(p_data.log_prob)(x[:, None])))
    # Every generator as a two-mode mixture: one compilation.
    densities = {g: np.exp(np.asarray(log_prob(
        x[:, None], *(np.asarray(v, np.float64) for v in GENERATORS[g]))))
                 for g in settings["generators"]}
  p /= p.sum() * dx
  for g in densities:
    densities[g] /= densities[g].sum() * dx

  options = common.compiler_options(quick)
  logits_fn = jax.jit(jax.vmap(
      lambda params: discriminator.apply({"params": params}, x_device)),
                      compiler_options=options)
  history = []

  def record(step, params):
    logits = np.asarray(logits_fn(params), np.float64)
    gaps = [evaluate(logits[i], p, densities[g], pi, dx)["gap"]
            for i, (g, pi) in enumerate(cases)]
    history.append(dict(step=step, gaps=gaps))
    print(f"  {NAME}: step {step}, max gap {max(gaps):.4f} nats "
          f"({time.time() - start:.0f} s)", flush=True)

  params = train_discriminators(
      discriminator, p_data,
      [(*GENERATORS[g], pi) for g, pi in cases], settings, on_chunk=record,
      options=options)
  logits = np.asarray(logits_fn(params), np.float64)
  results, d_stars = [], []
  for i, (g, pi) in enumerate(cases):
    result = dict(generator=g, fake_fraction=pi,
                  **evaluate(logits[i], p, densities[g], pi, dx))
    d_stars.append(result.pop("d_star"))
    results.append(result)

  # --- Figure: densities, D and D* per generator; values; gaps over steps.
  gens = settings["generators"]
  fig = common.new_figure((3.0 * len(gens), 6.6))
  top = fig.subfigures(2, 1, height_ratios=(1, 1.1))
  axes = np.atleast_1d(top[0].subplots(1, len(gens), sharey=True))
  view = (x > -2.5) & (x < 4.5)
  for ax, g in zip(axes, gens):
    i = cases.index((g, 0.5))
    d_star = d_stars[i]
    ax.plot(x[view], p[view], "k:", lw=1.5, label="p_data")
    ax.plot(x[view], densities[g][view], "g-", label="p_g")
    ax.plot(x[view], d_star[view], "r-", lw=3, alpha=0.4, label="D*")
    ax.plot(x[view], 1 / (1 + np.exp(-logits[i][view])), "b--",
            label="trained D")
    ax.set_title(f"{g}\ngap {results[i]['gap']:.4f} nats (pi=1/2)",
                 fontsize=8)
    ax.set_ylim(-0.02, 1.6)
  axes[0].legend(fontsize=7, loc="upper left")
  ax_value, ax_gap = top[1].subplots(1, 2)
  markers = {0.5: "o", 0.2: "v", 0.8: "^"}
  for r in results:
    ax_value.plot(r["theory_value"], r["trained_value"],
                  markers.get(r["fake_fraction"], "s"), color="C0"
                  if r["fake_fraction"] == 0.5 else "C1", ms=6)
  lims = [min(r["theory_value"] for r in results) - 0.05, 0.02]
  ax_value.plot(lims, lims, "k-", lw=0.7)
  for pi, marker in markers.items():
    if pi in settings["fake_fractions"]:
      ax_value.plot([], [], marker, color="C0" if pi == 0.5 else "C1",
                    label=f"pi = {pi}")
  ax_value.legend(fontsize=7)
  ax_value.set_xlabel("2[pi log pi + (1-pi) log(1-pi) + JSD_pi(p_g||p_data)]"
                      "\n(= -log 4 + 2 JSD at pi = 1/2)", fontsize=8)
  ax_value.set_ylabel("V_pi(G, D) of the trained D", fontsize=8)
  ax_value.set_title("value reached by training D vs theory", fontsize=9)
  steps = [h["step"] for h in history]
  for i, (g, pi) in enumerate(cases):
    ax_gap.semilogy(steps, [max(h["gaps"][i], 1e-7) for h in history],
                    color=f"C{gens.index(g)}",
                    ls="-" if pi == 0.5 else ":",
                    label=g if pi == 0.5 else None)
  ax_gap.axhline(0.02, color="k", lw=0.7, ls="--")
  ax_gap.set_xlabel("D steps")
  ax_gap.set_ylabel("theory - trained (nats)")
  ax_gap.set_title("gap while training D (dotted: pi != 1/2)", fontsize=9)
  ax_gap.legend(fontsize=6)
  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)

  half = [r["gap"] for r in results if r["fake_fraction"] == 0.5]
  other = [r["gap"] for r in results if r["fake_fraction"] != 0.5]
  summary = dict(max_gap_pi_half=max(half),
                 max_gap_pi_other=max(other) if other else None,
                 min_gap=min(r["gap"] for r in results),
                 gaps={f"{r['generator']} | pi={r['fake_fraction']}": r["gap"]
                       for r in results},
                 seconds=time.time() - start)
  stride = max(1, len(x) // 300)
  data = dict(
      description=("For each fixed generator and fake fraction pi, V_pi of a "
                   "trained D (by quadrature) next to 2[pi log pi + (1-pi) "
                   "log(1-pi) + JSD_pi(p_g||p_data)]; gap = theory - "
                   "trained, in nats."),
      p_data=dict(mean=float(config.data.mean), std=float(config.data.std)),
      generators={g: dict(zip(("means", "stds", "weights"), GENERATORS[g]))
                  for g in gens},
      settings=settings, grid=dict(low=X_RANGE[0], high=X_RANGE[1],
                                   num=len(x), dx=dx),
      results=results,
      history=dict(steps=steps, cases=[f"{g} | pi={pi}" for g, pi in cases],
                   gaps=[h["gaps"] for h in history]),
      curves=dict(x=x[::stride], p_data=p[::stride],
                  p_g={g: densities[g][::stride] for g in gens},
                  trained_d={f"{g} | pi={pi}": (
                      1 / (1 + np.exp(-logits[i])))[::stride]
                             for i, (g, pi) in enumerate(cases)},
                  d_star={f"{g} | pi={pi}": d_stars[i][::stride]
                          for i, (g, pi) in enumerate(cases)}),
      summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
