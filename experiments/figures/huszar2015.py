r"""Huszar 2015: one Gaussian fitted to a bimodal P by KL, reverse KL, JSD_pi.

Huszar, "How (not) to train your generative model: scheduled sampling,
likelihood, adversary?" (arXiv:1511.05101), Section 4 and Figure 1. A single
Gaussian Q = N(mu, sigma^2) is fitted to a two-component mixture P by
minimising, over (mu, log sigma),

  KL(P || Q)       maximum likelihood: mode covering (Q spreads over both)
  KL(Q || P)       reverse KL: mode seeking (Q sits on one mode)
  JSD_pi(P || Q) = pi KL(P || M) + (1 - pi) KL(Q || M),  M = pi P + (1-pi) Q

for pi from 0.1 to 0.9. Convention (Huszar's, and that of
`gan_jax.divergences.generalized_jsd`): pi is the weight of the *first*
argument P in the mixture, so JSD_pi / pi -> KL(P || Q) as pi -> 0 (mode
covering) and JSD_pi / (1 - pi) -> KL(Q || P) as pi -> 1 (mode seeking);
JSD_1/2 is the JSD.

In a GAN whose discriminator sees a share f of fakes (`loss.fake_fraction`),
V(G, D*) = 2[f log f + (1-f) log(1-f) + JSD_f(p_g || p_data)]
(`gan_jax.divergences.value_at_optimum`), and JSD_f(p_g || p_data) =
JSD_{1-f}(p_data || p_g): with P = p_data, the pi of this figure is the share
of *real* examples, 1 - f. (The source notes' gloss "pi is the fraction of
samples from Q" contradicts their own formula's mixture pi P + (1-pi) Q.)

Every objective is a Riemann sum on a uniform grid (`gan_jax.divergences`
with dx), so the fits are exact up to grid error. Each is found by a search
over a (mu, log sigma) grid (the mode-seeking objectives have one local
minimum per mode, so a local method alone could stop at the lighter mode),
then refined by Newton's method with the gradient from jax.grad through the
quadrature.
P's components have unequal weights so that the mode-seeking fits have a
unique answer (the heavier mode).

Writes huszar2015.png and huszar2015.json.

Run (from the repository root):
  python experiments/figures/huszar2015.py [--outdir docs/figures] [--quick]
"""

from __future__ import annotations

import functools
import os
import sys

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import matplotlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import distributions  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import divergences  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "huszar2015"

# P: two well separated modes, the left one heavier.
P_MEANS = (-2.0, 2.0)
P_STDS = (0.5, 0.5)
P_WEIGHTS = (0.6, 0.4)
X_RANGE = (-12.0, 12.0)


def target() -> distributions.GaussianMixture:
  return distributions.GaussianMixture(
      jnp.asarray(P_MEANS)[:, None], jnp.asarray(P_STDS),
      jnp.asarray(P_WEIGHTS))


def gaussian_density(x: jax.Array, theta: jax.Array) -> jax.Array:
  """N(x; mu, sigma^2) with theta = (mu, log sigma)."""
  mean, log_std = theta[0], theta[1]
  z = (x - mean) * jnp.exp(-log_std)
  return jnp.exp(-0.5 * z * z - log_std - 0.5 * jnp.log(2.0 * jnp.pi))


KINDS = ("kl_pq", "kl_qp", "jsd")


def divergence(kind: int, p: jax.Array, q: jax.Array, pi, dx: float):
  """KINDS[kind]: KL(P||Q), KL(Q||P) or JSD_pi(P||Q); kind may be traced."""
  return jax.lax.switch(kind, (
      lambda p, q: divergences.kl_divergence(p, q, dx=dx),
      lambda p, q: divergences.kl_divergence(q, p, dx=dx),
      lambda p, q: divergences.generalized_jsd(p, q, pi, dx=dx),
  ), p, q)


def fit(kind: int, pi, p: jax.Array, x: jax.Array, dx: float,
        starts: jax.Array, newton_steps: int) -> tuple:
  """argmin over theta = (mu, log sigma) of `divergence`; (theta, value).

  The best of the candidate points `starts` [n, 2] (a grid: the
  mode-seeking objectives have one local minimum per mode), then Newton's
  method on the two parameters with the gradient by autodiff through the
  quadrature and the Hessian by differences of gradients; a step is capped
  at length 0.2, a gradient step is taken where the Hessian is not positive
  definite, and a step that would increase the objective is not taken.
  """
  def objective(theta):
    return divergence(kind, p, gaussian_density(x, theta), pi, dx)

  values = jax.lax.map(objective, starts, batch_size=256)
  values = jnp.where(jnp.isfinite(values), values, jnp.inf)
  theta = starts[jnp.argmin(values)]

  gradient = jax.grad(objective)

  def newton_step(theta, _):
    grad = gradient(theta)
    # The Hessian by central differences of the gradient: autodiff's second
    # derivative is nan here (through rel_entr's and the flush's branches).
    eye = 1e-3 * jnp.eye(2)
    hessian = jnp.stack([(gradient(theta + e) - gradient(theta - e)) / 2e-3
                         for e in eye], axis=1)
    hessian = 0.5 * (hessian + hessian.T)
    convex = (hessian[0, 0] > 0) & (jnp.linalg.det(hessian) > 0)
    step = jnp.where(convex, jnp.linalg.solve(hessian, grad), 0.1 * grad)
    step = step * jnp.minimum(1.0, 0.2 / (jnp.linalg.norm(step) + 1e-30))
    candidate = theta - step
    # Keep a step only if it does not increase the objective.
    better = objective(candidate) <= objective(theta)
    return jnp.where(better, candidate, theta), None

  theta, _ = jax.lax.scan(newton_step, theta, None, length=newton_steps)
  return theta, objective(theta)


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  # float64: in float32 the fitted Gaussian's tail and the mixture's
  # underflow at different points of the grid, and KL(Q || P) becomes +inf
  # where P's tail is cut before Q's. (JSD_pi itself stays finite in float32:
  # `divergences.generalized_jsd` never forms the mixture density.)
  with jax.enable_x64(True):
    return _main(outdir, quick)


def _main(outdir: str, quick: bool) -> dict:
  num_x = 1201 if quick else 4801
  pis = np.array([0.1, 0.5, 0.9]) if quick else np.round(
      np.arange(0.1, 0.9001, 0.05), 2)
  num_mu, num_sigma = (41, 25) if quick else (161, 100)
  newton_steps = 10 if quick else 25

  # Set-up in NumPy: every eager jax op would compile a kernel of its own.
  options = common.compiler_options(quick)
  x = np.linspace(*X_RANGE, num_x)
  dx = float(x[1] - x[0])
  p = np.asarray(jax.jit(lambda x: jnp.exp(target().log_prob(x[:, None])),
                         compiler_options=options)(x))
  mus = np.linspace(-4.0, 4.0, num_mu)
  log_sigmas = np.linspace(np.log(0.1), np.log(5.0), num_sigma)
  search = np.stack([a.ravel() for a in np.meshgrid(mus, log_sigmas,
                                                    indexing="ij")], -1)
  # One compilation for every fit: the kind, pi and start points are traced.
  fit_jit = jax.jit(functools.partial(fit, p=p, x=x, dx=dx,
                                      newton_steps=newton_steps),
                    compiler_options=options)

  def run(kind, pi, starts):
    theta, value = fit_jit(KINDS.index(kind), np.float64(pi), starts=starts)
    return dict(mean=float(theta[0]), std=float(np.exp(theta[1])),
                divergence=float(value))

  fits = {"kl_pq": run("kl_pq", 0.5, search),
          "kl_qp": run("kl_qp", 0.5, search)}
  for pi in pis:
    fits[f"jsd_{pi:.2f}"] = run("jsd", pi, search)
  # Why the fit jumps: JSD_pi has a local minimum near each of the two KL
  # fits, and which one is lower changes with pi. Newton from each KL fit
  # (a second compilation, for one start point).
  local = {}
  for name in ("kl_pq", "kl_qp"):
    start = np.asarray([[fits[name]["mean"], np.log(fits[name]["std"])]])
    runs = [run("jsd", pi, start) for pi in pis]
    local[name] = {key: [r[key] for r in runs]
                   for key in ("mean", "std", "divergence")}

  fig = common.new_figure((12, 3.8))
  ax_q, ax_std, ax_local = fig.subplots(1, 3, width_ratios=(1.6, 1, 1))
  xs = x
  view = (xs > -6) & (xs < 6)
  ax_q.fill_between(xs[view], p[view], color="0.8", label="P")
  colors = {}
  viridis = matplotlib.colormaps["viridis"]
  for pi in pis:
    colors[f"jsd_{pi:.2f}"] = viridis((pi - pis[0]) / max(pis[-1] - pis[0],
                                                          1e-9))
  for name, fitted in fits.items():
    q = (np.exp(-0.5 * ((x - fitted["mean"]) / fitted["std"])**2) /
         (fitted["std"] * np.sqrt(2 * np.pi)))
    # The JSD_pi fits lie on one of the two KL fits: drawn wide underneath.
    if name == "kl_pq":
      ax_q.plot(xs[view], q[view], "b:", lw=1.5, label="KL(P||Q)", zorder=3)
    elif name == "kl_qp":
      ax_q.plot(xs[view], q[view], "r:", lw=1.5, label="KL(Q||P)", zorder=3)
    else:
      ax_q.plot(xs[view], q[view], color=colors[name], lw=5, alpha=0.6)
  sm = matplotlib.cm.ScalarMappable(
      norm=matplotlib.colors.Normalize(pis[0], pis[-1]), cmap=viridis)
  fig.colorbar(sm, ax=ax_q, label="pi in JSD_pi(P||Q)")
  ax_q.set_xlabel("x")
  ax_q.set_title("Q = argmin over Gaussians", fontsize=10)
  ax_q.legend(fontsize=8, loc="upper right")

  jsd_names = [f"jsd_{pi:.2f}" for pi in pis]
  ax_std.plot(pis, [fits[n]["std"] for n in jsd_names], "ko", ms=4,
              label="JSD_pi(P||Q)")
  ax_std.axhline(fits["kl_pq"]["std"], color="b", ls=":", label="KL(P||Q)")
  ax_std.axhline(fits["kl_qp"]["std"], color="r", ls=":", label="KL(Q||P)")
  ax_std.set_xlabel("pi")
  ax_std.set_ylabel("fitted sigma")
  ax_std.set_title("mode covering -> mode seeking", fontsize=10)
  ax_std.legend(fontsize=7)
  ax_local.plot(pis, local["kl_pq"]["divergence"], "b-",
                label="local min. near the KL(P||Q) fit")
  ax_local.plot(pis, local["kl_qp"]["divergence"], "r-",
                label="local min. near the KL(Q||P) fit")
  ax_local.set_xlabel("pi")
  ax_local.set_ylabel("JSD_pi(P||Q)")
  ax_local.set_title("the two local minima of JSD_pi", fontsize=10)
  ax_local.legend(fontsize=7)

  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)
  summary = dict(
      kl_pq_std=fits["kl_pq"]["std"], kl_qp_std=fits["kl_qp"]["std"],
      kl_pq_mean=fits["kl_pq"]["mean"], kl_qp_mean=fits["kl_qp"]["mean"],
      jsd_std={f"{pi:.2f}": fits[f"jsd_{pi:.2f}"]["std"] for pi in pis},
      jsd_mean={f"{pi:.2f}": fits[f"jsd_{pi:.2f}"]["mean"] for pi in pis})
  data = dict(
      description=("Gaussian Q = N(mean, std^2) minimising each divergence "
                   "to the mixture P; JSD_pi(P||Q) with pi the weight of P "
                   "in the mixture pi P + (1-pi) Q."),
      p=dict(means=P_MEANS, stds=P_STDS, weights=P_WEIGHTS),
      grid=dict(low=X_RANGE[0], high=X_RANGE[1], num=num_x, dx=dx),
      pis=pis, fits=fits,
      local_minima={f"near_{k}": v for k, v in local.items()},
      summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
