r"""Goodfellow 2016 tutorial, Figure 16: three generator costs against D(G(z)).

The cost G receives for one sample depends only on D's verdict D(G(z)):

  minimax (saturating)   J = 1/2 log(1 - D)        Goodfellow et al. 2014
  non-saturating         J = -1/2 log D            (the "log D trick")
  maximum likelihood     J = -1/2 exp(sigma^-1(D)) = -1/2 D / (1 - D)

plotted on the tutorial's scale, where each J(G) carries the 1/2 of
J(D) = -1/2 E log D(x) - 1/2 E log(1 - D(G(z))). `gan_jax.losses`'s
saturating and non-saturating losses drop that 1/2 (they are the expectations
themselves), so they are halved here; its maximum-likelihood loss already has
it. The values come from the `gan_jax.losses` functions applied to the logit
sigma^-1(D), not from the formulas above.

The right panel shows |dJ / d logit| on a log scale: where G's samples are
poor (D(G(z)) near 0, early in training) the minimax cost is flat (its slope
1/2 D vanishes) and the maximum-likelihood cost even flatter (1/2 D/(1-D)),
while the non-saturating cost keeps a slope of 1/2 (1 - D) near 1/2. The
maximum-likelihood cost's gradient is dominated by the few samples D already
believes are real (Goodfellow 2016, Section 3.2.3).

Writes tutorial2016_figure16.png and tutorial2016_figure16.json.

Run (from the repository root):
  python experiments/figures/tutorial2016_figure16.py [--outdir docs/figures]
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "tutorial2016_figure16"

# Cost name -> (gan_jax.losses function, factor to the tutorial's scale).
COSTS = {
    "minimax": (losses.saturating_generator_loss, 0.5),
    "non_saturating": (losses.non_saturating_generator_loss, 0.5),
    "maximum_likelihood": (losses.maximum_likelihood_generator_loss, 1.0),
}
_STYLE = {"minimax": ("tab:blue", "Minimax (saturating)"),
          "non_saturating": ("tab:green", "Non-saturating heuristic"),
          "maximum_likelihood": ("tab:red", "Maximum likelihood cost")}


@jax.jit
def costs_and_slopes(d_values: jax.Array) -> tuple[dict, dict]:
  """Per-sample cost J(D) and |dJ/dlogit| of each cost, tutorial scale."""
  logits = jnp.log(d_values) - jnp.log1p(-d_values)  # sigma^-1(D)
  costs, slopes = {}, {}
  for name, (loss_fn, factor) in COSTS.items():
    # One sample per evaluation: the loss is then the per-sample cost.
    one = lambda l, f=loss_fn, c=factor: c * f(l[None])
    costs[name] = jax.vmap(one)(logits)
    slopes[name] = jnp.abs(jax.vmap(jax.grad(one))(logits))
  return costs, slopes


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False) -> dict:
  """Writes the figure and its numbers; returns {'files', 'summary'}."""
  num = 101 if quick else 1001
  # Endpoints inside (0, 1) keep the logs and the logit finite.
  d_values = np.linspace(1e-3, 1 - 1e-3, num).astype(np.float32)
  costs, slopes = jax.tree.map(np.asarray,
                               costs_and_slopes(jnp.asarray(d_values)))

  fig = common.new_figure((10, 4))
  ax_cost, ax_slope = fig.subplots(1, 2)
  for name in COSTS:
    color, label = _STYLE[name]
    ax_cost.plot(d_values, costs[name], color=color, label=label)
    ax_slope.semilogy(d_values, slopes[name], color=color, label=label)
  ax_cost.set_ylim(-20, 5)
  ax_cost.set_xlim(0, 1)
  ax_cost.set_xlabel("D(G(z))")
  ax_cost.set_ylabel("J(G)")
  ax_cost.set_title("Generator cost per sample (tutorial Fig. 16)", fontsize=10)
  ax_cost.legend(fontsize=8, loc="lower left")
  ax_slope.set_xlim(0, 1)
  ax_slope.set_xlabel("D(G(z))")
  ax_slope.set_ylabel("|dJ / d logit|")
  ax_slope.set_title("Gradient with respect to D's logit", fontsize=10)

  png = common.save_figure(fig, os.path.join(outdir, NAME + ".png"), quick)
  # At the smallest D (samples D confidently rejects, as early in training).
  summary = dict(d_min=float(d_values[0]))
  summary.update({f"slope_at_d_min_{name}": float(slopes[name][0])
                  for name in COSTS})
  data = dict(
      description=("Per-sample generator costs on Goodfellow's 2016 tutorial "
                   "scale and |dJ/dlogit|, against D(G(z))."),
      tutorial_scale_factor={n: f for n, (_, f) in COSTS.items()},
      d=d_values, cost=costs, slope_wrt_logit=slopes, summary=summary)
  path = common.write_json(os.path.join(outdir, NAME + ".json"), data)
  return dict(files=[png, path], summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__)
