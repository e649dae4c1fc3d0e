r"""One Gaussian fitted to a two-mode P by every f-divergence (and W1).

In the manner of Nowozin, Cseke & Tomioka 2016 ("f-GAN", Section 4: a
Gaussian fitted to a mixture by several divergences, exactly and by f-GAN
training) and Huszar 2015 (Section 4, Figure 1): Q = N(mu, sigma^2) minimises

  D_f(P || Q) = sum_x q f(p / q) dx       (`gan_jax.divergences.f_divergence`)

over (mu, log sigma), for every f in `gan_jax.divergences.F_DIVERGENCES` (P =
p_data first), and W1(P, Q) = int |F_P - F_Q| dx (`wasserstein_1d`). KL(P||Q)
is maximum likelihood: moment matching, mode covering. Reverse KL(Q||P) and
Neyman chi^2 = int q^2/p - 1 punish Q's mass where P has little: mode
seeking. Pearson chi^2 = int p^2/q - 1 punishes the reverse even harder than
KL: the widest fit. The bounded divergences (Jensen-Shannon, 'gan' = 2 JSD -
log 4 with the same minimiser, squared Hellinger, total variation) lie in
between.

P has a light narrow mode and a heavy wide one, so that the fits spread out
(with two well separated modes of equal width, as in huszar2015.py, JSD
already sits on one mode, as reverse KL does).

(a) Exact fit: every objective is a Riemann sum on a uniform grid (float64),
minimised from several starting points (mode-seeking objectives have one
local minimum per mode) by a compass search (see `fit` for why not by
gradients); the best end point is the fit, the other distinct ones are
reported as local minima.
(b) f-GAN training: a Gaussian generator G(z) = mu + sigma z (reparameterised)
against a fresh critic per objective (f_gan_theory.py's), alternating one
critic step on `f_gan_discriminator_loss` (WGAN-GP: `wasserstein_...` + 10
`gradient_penalty`) and one generator step on `f_gan_generator_loss`
(Nowozin's saddle-point objective -E f*(g_f(v(G(z))))), Adam for both.
Saddle-point training follows a local minimum near where it starts, so (b)
is compared with the nearest exact local minimum as well as the global one.

Where f-GAN training can miss the exact fit: total variation's critic
1/2 tanh(v) is a saturated step whose input gradient vanishes almost
everywhere; Neyman chi^2 creeps; and WGAN-GP can run off once its critic's
slope is positive over all the data, the sign barrier of the two-sided
gradient penalty described in f_gan_theory.py. Measured fits:
docs/figures.md.

Writes nowozin2016_gaussian_fit.png and nowozin2016_gaussian_fit.json.

Run (from the repository root):
  python experiments/figures/nowozin2016_gaussian_fit.py \
      [--outdir docs/figures] [--quick]
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
from experiments.figures import f_gan_theory  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.figures import huszar2015  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import distributions  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import divergences  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "nowozin2016_gaussian_fit"
WASSERSTEIN = f_gan_theory.WASSERSTEIN
# P: a light narrow mode on the left, a heavy wide one on the right.
P_MEANS = (-2.0, 2.0)
P_STDS = (0.4, 1.0)
P_WEIGHTS = (0.3, 0.7)
X_RANGE = (-12.0, 12.0)


def objectives() -> tuple[str, ...]:
  return (*divergences.F_DIVERGENCES, WASSERSTEIN)


def _settings(quick: bool) -> dict:
  if quick:
    # The three the ordering check needs: each objective adds a branch to
    # the compiled programs, whose compilation is most of the quick run.
    return dict(names=("kl", "jensen_shannon", "reverse_kl"), num_x=1201,
                start_means=(-2.0, 0.0, 2.0), start_stds=(0.5, 2.0),
                iterations=60, gan_names=("kl",), gan_steps=200,
                gan_batch=128, gan_widths=(16, 16), gan_chunk=100,
                gan_critic_steps=1, gan_critic_lr=3e-3, gan_generator_lr=1e-2,
                gan_betas=(0.9, 0.999), seed=0)
  return dict(names=objectives(), num_x=4801,
              start_means=(-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0),
              start_stds=(0.4, 1.0, 2.5), iterations=100,
              gan_names=objectives(), gan_steps=2000,
              gan_batch=512, gan_widths=(64, 64), gan_chunk=250,
              gan_critic_steps=1, gan_critic_lr=3e-3, gan_generator_lr=1e-2,
              gan_betas=(0.9, 0.999), seed=0)


def target() -> distributions.GaussianMixture:
  return distributions.GaussianMixture(
      jnp.asarray(P_MEANS)[:, None], jnp.asarray(P_STDS),
      jnp.asarray(P_WEIGHTS))


def mixture_moments() -> tuple[float, float]:
  """P's mean and standard deviation (what the KL fit should match)."""
  w, m, s = (np.asarray(v) for v in (P_WEIGHTS, P_MEANS, P_STDS))
  mean = float(np.sum(w * m))
  return mean, float(np.sqrt(np.sum(w * (s**2 + m**2)) - mean**2))


def objective_value(names, kind, p, q, dx: float):
  """names[kind](P || Q) on the grid; `kind` may be traced."""
  branches = [functools.partial(divergences.wasserstein_1d, dx=dx)
              if name == WASSERSTEIN else functools.partial(
                  divergences.f_divergence, divergence=name, dx=dx)
              for name in names]
  return jax.lax.switch(kind, branches, p, q)


def fit(names, kind, p, x, dx: float, starts, iterations: int):
  """Compass search from each start [n, 2] (mu, log sigma).

  Each iteration tries the 8 neighbours at distance `size` along the axes
  and diagonals, moves to the best if it is lower, else halves `size`: an
  end point with a small `size` is a local minimum to that precision.
  Derivative-free, because total variation and W1 on a grid are sums of
  |.|, whose gradient jumps by O(dx) whenever a crossing of p and q passes
  a grid point: Newton's method (as huszar2015.py) stalls there with
  gradients of ~1e-2 and no descent step. Values that are inf or nan (Q's
  tail underflows where sigma is tiny) count as +inf.

  Returns the end points [n, 2], the objective there [n] and the final
  step sizes [n].
  """
  def objective(theta):
    q = huszar2015.gaussian_density(x, theta)
    # Renormalised on the grid, as P is: both are distributions there.
    value = objective_value(names, kind, p, q / (jnp.sum(q) * dx), dx)
    return jnp.where(jnp.isfinite(value), value, jnp.inf)

  values_at = jax.vmap(objective)
  directions = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0],
                          [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])

  def step(carry, _):
    theta, value, size = carry
    candidates = theta + size * directions
    values = values_at(candidates)
    best = jnp.argmin(values)
    better = values[best] < value
    return (jnp.where(better, candidates[best], theta),
            jnp.where(better, values[best], value),
            jnp.where(better, size, 0.5 * size)), None

  def search(theta):
    carry = (theta, objective(theta), jnp.asarray(0.5, theta.dtype))
    return jax.lax.scan(step, carry, None, length=iterations)[0]

  return jax.vmap(search)(starts)


# An end point is a local minimum once the search's step is this small.
STEP_TOLERANCE = 1e-5


def local_minima(thetas: np.ndarray, values: np.ndarray,
                 sizes: np.ndarray) -> list[dict]:
  """The distinct converged end points of the starts, best first."""
  found = []
  for i in np.argsort(values):
    if not (np.isfinite(values[i]) and sizes[i] < STEP_TOLERANCE):
      continue
    mean, std = float(thetas[i, 0]), float(np.exp(thetas[i, 1]))
    # Starts that reach the same minimum agree to far below 0.02.
    if all(abs(mean - m["mean"]) > 0.02 or abs(np.log(std / m["std"])) > 0.02
           for m in found):
      found.append(dict(mean=mean, std=std, value=float(values[i])))
  return found


def behaviour(mean: float, std: float) -> str:
  """'seeks mode k', 'covers' or 'in between', from where Q sits."""
  for k, (m, s) in enumerate(zip(P_MEANS, P_STDS)):
    if abs(mean - m) <= 0.5 * s and std <= 1.25 * s:
      return f"seeks mode {k} (mean {m:g})"
  return "covers" if std >= 0.8 * mixture_moments()[1] else "in between"


def exact_fits(p: np.ndarray, x: np.ndarray, dx: float, settings: dict,
               quick: bool) -> dict:
  """(a): for every objective, the best fit and the local minima found."""
  starts = np.array([(m, np.log(s)) for m in settings["start_means"]
                     for s in settings["start_stds"]])
  names = settings["names"]
  # p and x as arguments, not constants: XLA would fold them at compile
  # time. One compilation for every objective: the kind is traced.
  run = jax.jit(functools.partial(fit, names, dx=dx,
                                  iterations=settings["iterations"]),
                compiler_options=common.compiler_options(quick))
  moments = mixture_moments()
  fits = {}
  for kind, name in enumerate(names):
    thetas, values, sizes = (np.asarray(a)
                             for a in run(kind, p, x, starts=starts))
    minima = local_minima(thetas, values, sizes)
    converged = bool(minima)
    if not converged:
      # Reported, flagged: the lowest end point though none converged.
      minima = local_minima(thetas, values, np.zeros_like(sizes))[:1]
    best = minima[0]
    fits[name] = dict(mean=best["mean"], std=best["std"],
                      divergence=best["value"],
                      std_over_p_std=best["std"] / moments[1],
                      behaviour=behaviour(best["mean"], best["std"]),
                      converged=converged,
                      starts_converged=int(np.sum(
                          np.isfinite(values) & (sizes < STEP_TOLERANCE))),
                      local_minima=minima)
  return fits


def generator_losses(names, critic, params, theta, z):
  """Sum over objectives of each Gaussian generator's loss (f-GAN / WGAN)."""
  fake = theta[:, None, :1] + jnp.exp(theta[:, None, 1:]) * z  # [O, m, 1]
  first = jax.tree.map(lambda leaf: leaf[:, 0], params)
  v = jax.vmap(lambda prm, x: critic.apply({"params": prm}, x))(first, fake)
  total = 0.0
  for i, name in enumerate(names):
    if name == WASSERSTEIN:
      total += losses.wasserstein_generator_loss(v[i])
    else:
      total += losses.f_gan_generator_loss(v[i], divergence=name)
  return total


def train_gans(names, settings: dict, options=None) -> tuple:
  """(b): f-GAN training of a Gaussian generator per objective.

  Returns the final (mu, log sigma) per objective [O, 2] and their
  trajectory [chunks + 1, O, 2].
  """
  critic = f_gan_theory.make_critic(settings["gan_widths"],
                                    *mixture_moments())
  num, batch, steps = len(names), settings["gan_batch"], settings["gan_steps"]
  k = settings["gan_critic_steps"]
  p_data = target()
  b1, b2 = settings["gan_betas"]
  critic_opt = optax.adam(optax.cosine_decay_schedule(
      settings["gan_critic_lr"], steps * k, 0.01), b1, b2)
  generator_opt = optax.adam(optax.cosine_decay_schedule(
      settings["gan_generator_lr"], steps, 0.01), b1, b2)
  critic_loss = functools.partial(f_gan_theory.critic_losses, names, critic)
  generator_loss = functools.partial(generator_losses, names, critic)

  def critic_step(carry, key):
    params, critic_state, theta = carry
    real_key, z_key, penalty_key = jax.random.split(key, 3)
    real = jnp.broadcast_to(p_data.sample(real_key, batch), (num, 1, batch, 1))
    z = jax.random.normal(z_key, (batch, 1))
    fake = theta[:, None, None, :1] + jnp.exp(theta[:, None, None, 1:]) * z
    grads = jax.grad(critic_loss)(params, real, fake, penalty_key)
    updates, critic_state = critic_opt.update(grads, critic_state, params)
    return (optax.apply_updates(params, updates), critic_state, theta), None

  def step(carry, key):
    # Goodfellow et al.'s Algorithm 1: k critic steps, then one generator
    # step on fresh noise against the updated critic.
    params, theta, critic_state, generator_state = carry
    critic_key, generator_key = jax.random.split(key)
    (params, critic_state, _), _ = jax.lax.scan(
        critic_step, (params, critic_state, theta),
        jax.random.split(critic_key, k))
    grads = jax.grad(generator_loss, argnums=1)(
        params, theta, jax.random.normal(generator_key, (batch, 1)))
    updates, generator_state = generator_opt.update(grads, generator_state,
                                                    theta)
    return (params, optax.apply_updates(theta, updates), critic_state,
            generator_state), None

  @functools.partial(jax.jit, compiler_options=options)
  def init(key):
    params = f_gan_theory.init_critics(critic, key, (num, 1))
    # Every generator starts as N(0, 1): between the modes, narrower than P.
    theta = jnp.zeros((num, 2))
    return params, theta, critic_opt.init(params), generator_opt.init(theta)

  chunk = settings["gan_chunk"]

  @functools.partial(jax.jit, compiler_options=options)
  def run_chunk(carry, key):
    return jax.lax.scan(step, carry, jax.random.split(key, chunk))[0]

  init_key, train_key = jax.random.split(jax.random.PRNGKey(settings["seed"]))
  carry = init(init_key)
  trajectory = [np.asarray(carry[1])]
  for i in range(steps // chunk):
    carry = run_chunk(carry, jax.random.fold_in(train_key, i))
    trajectory.append(np.asarray(carry[1]))
  return trajectory[-1], np.stack(trajectory)


def _gaussian(x, mean, std):
  return np.exp(-0.5 * ((x - mean) / std)**2) / (std * np.sqrt(2 * np.pi))


def _plot(fig, x, p, fits, names):
  """Small multiples: P and each objective's fits; then sigma / std(P)."""
  axes = fig.subplots(2, (len(names) + 2) // 2).ravel()
  view = (x > -5) & (x < 6)
  for ax, name in zip(axes, names):
    r = fits[name]
    ax.fill_between(x[view], p[view], color="0.82", label="P")
    for other in r["local_minima"][1:]:
      ax.plot(x[view], _gaussian(x[view], other["mean"], other["std"]),
              ":", color="0.35", lw=1, label="other local min.")
    ax.plot(x[view], _gaussian(x[view], r["mean"], r["std"]), "C3-", lw=2,
            label="exact fit")
    title = (f"{f_gan_theory.LABELS[name]}\nμ {r['mean']:.2f}, σ "
             f"{r['std']:.2f}")
    if "gan" in r:
      ax.plot(x[view], _gaussian(x[view], r["gan"]["mean"], r["gan"]["std"]),
              "k--", lw=1, label="by f-GAN training")
      title += (f" | trained: {r['gan']['mean']:.2f}, {r['gan']['std']:.2f}"
                + ("" if r["gan"]["landed_near_exact_fit"] else " (missed)"))
    ax.set_title(title, fontsize=7)
    ax.text(0.02, 0.95, r["behaviour"].split(" (")[0], fontsize=6,
            transform=ax.transAxes, va="top")
    # Headroom for the legend; the narrow local minima may run off the top.
    ax.set_ylim(0, 1.35 * max(p.max(), _gaussian(0, 0, r["std"])))
    ax.tick_params(labelsize=6)
  handles = {}
  for ax in axes[:len(names)]:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  axes[0].legend(handles.values(), handles.keys(), fontsize=6,
                 loc="upper right")
  ax = axes[len(names)]
  order = sorted(names, key=lambda n: -fits[n]["std"])
  positions = np.arange(len(order))
  ax.barh(positions, [fits[n]["std_over_p_std"] for n in order], 0.4,
          color="C3", label="exact")
  if all("gan" in fits[n] for n in order):
    ax.barh(positions + 0.4, [fits[n]["gan"]["std"] / mixture_moments()[1]
                              for n in order], 0.4, color="0.3",
            label="f-GAN trained")
  ax.axvline(1, color="k", lw=0.5)
  ax.set_yticks(positions + 0.2, [f_gan_theory.LABELS[n] for n in order],
                fontsize=6)
  ax.invert_yaxis()
  ax.set_xlabel("fitted σ / std(P)", fontsize=7)
  ax.set_title("covering (top) → seeking (bottom)", fontsize=8)
  ax.legend(fontsize=6, loc="lower right")
  ax.tick_params(labelsize=6)
  for extra in axes[len(names) + 1:]:
    extra.set_visible(False)


def _add_gan_results(fits, names, final, trajectory, settings):
  """Puts each trained generator beside its exact fit and nearest minimum."""
  for i, name in enumerate(names):
    mean, std = float(final[i, 0]), float(np.exp(final[i, 1]))
    minima = fits[name]["local_minima"]
    nearest = min(minima, key=lambda m: np.hypot(
        m["mean"] - mean, np.log(m["std"] / std)))
    error = dict(mean=mean - fits[name]["mean"],
                 log_std=float(np.log(std / fits[name]["std"])))
    fits[name]["gan"] = dict(
        mean=mean, std=std, steps=settings["gan_steps"],
        seed=settings["seed"], error_to_best=error,
        # Near: within a tenth of P's std in mean and 10% in sigma.
        landed_near_exact_fit=bool(
            abs(error["mean"]) <= 0.1 * mixture_moments()[1]
            and abs(error["log_std"]) <= 0.1),
        nearest_local_minimum=nearest,
        trajectory=dict(mean=trajectory[:, i, 0],
                        std=np.exp(trajectory[:, i, 1])))


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  start = time.time()
  settings = _settings(quick)
  names = settings["names"]
  x = np.linspace(*X_RANGE, settings["num_x"])
  dx = float(x[1] - x[0])
  p = np.sum(np.asarray(P_WEIGHTS) * _gaussian(
      x[:, None], np.asarray(P_MEANS), np.asarray(P_STDS)), axis=-1)
  p /= p.sum() * dx
  # float64: in float32 the fitted Gaussian's tail and the mixture's
  # underflow at different grid points, and the ratio-type divergences
  # (reverse KL, Neyman chi^2) become inf there.
  with jax.enable_x64(True):
    fits = exact_fits(p, x, dx, settings, quick)
  exact_seconds = time.time() - start
  gan_names = settings["gan_names"]
  final, trajectory = train_gans(gan_names, settings,
                                 common.compiler_options(quick))
  _add_gan_results(fits, gan_names, final, trajectory, settings)

  fig = common.new_figure((15, 6.2))
  _plot(fig, x, p, fits, names)
  fig.suptitle("One Gaussian fitted to a two-mode P by each divergence: "
               "exact minimiser (grid quadrature) and f-GAN training",
               fontsize=10)
  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)
  mean, std = mixture_moments()
  summary = dict(
      p_mean=mean, p_std=std,
      std={n: fits[n]["std"] for n in names},
      mean={n: fits[n]["mean"] for n in names},
      behaviour={n: fits[n]["behaviour"] for n in names},
      gan_std={n: fits[n]["gan"]["std"] for n in gan_names},
      gan_mean={n: fits[n]["gan"]["mean"] for n in gan_names},
      gan_missed=[n for n in gan_names
                  if not fits[n]["gan"]["landed_near_exact_fit"]],
      ordering_kl_jsd_reverse_kl=(fits["kl"]["std"]
                                  > fits["jensen_shannon"]["std"]
                                  > fits["reverse_kl"]["std"]),
      exact_seconds=exact_seconds, seconds=time.time() - start)
  data = dict(
      description=(
          "Gaussian Q = N(mean, std^2) minimising each divergence D(P||Q) "
          "to the mixture P on a grid (best of several starts; "
          "local_minima lists every distinct end point), and the Gaussian "
          "generator reached by f-GAN / WGAN-GP training ('gan')."),
      p=dict(means=P_MEANS, stds=P_STDS, weights=P_WEIGHTS, mean=mean,
             std=std),
      grid=dict(low=X_RANGE[0], high=X_RANGE[1], num=len(x), dx=dx),
      settings=settings, fits=fits, summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
