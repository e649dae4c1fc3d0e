r"""Fashion-MNIST: saturating vs non-saturating loss, MLP and DCGAN, over training.

For each model (experiments/configs/fashion_mnist_mlp.py and
fashion_mnist_dcgan.py) the config's `sweep("losses")` trains the minimax
(saturating) and the non-saturating generator loss with everything else
equal. Each run evaluates every `eval.every` steps (gan_jax.evaluation):

  Parzen-window log-likelihood of the test set (Goodfellow et al. 2014,
    Table 1: 10,000 samples, sigma chosen on held-out train images), in nats;
  Fréchet distance in the feature space of the bundled Fashion-MNIST
    classifier (gan_jax.feature_extractor; trained here, no downloads);
  kernel distance (KID, Bińkowski et al. 2018) in the same feature space.

This script runs (or resumes) the sweeps with `launch.py --sweep`, then plots
the metrics against the step, each with its real-data value (real train
images in place of samples) as a dashed line, and writes one sample grid per
run from its EMA generator.

Writes fashion_mnist_curves.png, fashion_mnist_samples.png and
fashion_mnist_curves.json.

Run (from the repository root; the DCGAN is slow on CPU, so `--models mlp`
keeps to the MLP; `--quick` trains a few dozen steps of the MLP on small
settings, for the tests):
  python experiments/figures/fashion_mnist_curves.py [--models mlp,dcgan] \
      [--parallel 2]
"""

from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import sweep as sweep_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "fashion_mnist_curves"
MODELS = ("mlp", "dcgan")
CURVES = (("parzen_ll", "real_parzen_ll", "Parzen log-likelihood (nats)"),
          ("fid", "real_fid", "feature FID"),
          ("kid", "real_kid", "feature KID"))
_COLORS = {"saturating": "tab:red", "non_saturating": "tab:green"}
_LINESTYLE = {"mlp": "-", "dcgan": "--"}
QUICK_OVERRIDES = ("--config.train.steps=40", "--config.train.steps_per_call=20",
                   "--config.train.log_every=20",
                   "--config.train.checkpoint_every=40",
                   "--config.train.sample_every=0",
                   "--config.eval.every=20",
                   "--config.eval.image_num_samples=200",
                   "--config.eval.parzen_validation=200",
                   "--config.eval.feature_extractor_steps=20")


def _read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def collect(runs_dir: str, models=MODELS, *, suffix: str = "") -> list[dict]:
  """One record per finished or partial run: its curves and its workdir."""
  records = []
  for model in models:
    sweep_dir = os.path.join(runs_dir, f"fashion_mnist_{model}_losses{suffix}")
    if not os.path.isdir(sweep_dir):
      continue
    for run in sweep_lib.load_runs(sweep_dir):
      workdir = os.path.join(sweep_dir, run["name"])
      rows = _read_jsonl(os.path.join(workdir, train.EVAL_FILE))
      records.append(dict(
          model=model, loss=run["overrides"].get("loss.name", "?"),
          status=run["status"], workdir=workdir,
          steps=[r["step"] for r in rows],
          **{key: [r.get(key) for r in rows] for pair in CURVES
             for key in pair[:2]}))
  return records


def plot_curves(records: list[dict], path: str) -> str:
  fig = common.new_figure((5 * len(CURVES), 4))
  for i, (key, real_key, title) in enumerate(CURVES):
    ax = fig.add_subplot(1, len(CURVES), i + 1)
    for r in records:
      if not r["steps"] or r[key][-1] is None:
        continue
      ax.plot(r["steps"], r[key], _LINESTYLE.get(r["model"], "-"),
              marker="o", color=_COLORS.get(r["loss"], "k"),
              label=f"{r['model']}, {r['loss']}")
      real = [v for v in r[real_key] if v is not None]
      if real:
        ax.axhline(real[-1], color="gray", linestyle=":", linewidth=1)
    ax.set_title(title + " (dotted: real data)")
    ax.set_xlabel("step")
    if key == "fid":
      ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:  # runs from before KID have none
      ax.legend(fontsize=7)
  return common.save_figure(fig, path)


def plot_samples(records: list[dict], path: str, num: int = 64) -> str:
  """One grid of EMA-generator samples per run, side by side."""
  finished = [r for r in records if r["steps"]]
  fig = common.new_figure((3 * max(len(finished), 1), 3.3))
  for i, r in enumerate(finished):
    ax = fig.add_subplot(1, max(len(finished), 1), i + 1)
    images = train.sample(r["workdir"], num, seed=0)
    grid = train.image_grid(images)
    ax.imshow(np.squeeze(grid), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{r['model']}, {r['loss']}\nstep {r['steps'][-1]}",
                 fontsize=8)
    ax.axis("off")
  return common.save_figure(fig, path)


def _models(models) -> tuple[str, ...]:
  """`models` as a tuple; a comma-separated string is split."""
  if isinstance(models, str):
    models = tuple(m.strip() for m in models.split(",") if m.strip())
  unknown = sorted(set(models) - set(MODELS))
  if unknown or not models:
    raise ValueError(f"models: unknown {unknown or models!r}; choose from "
                     f"{', '.join(MODELS)}")
  return tuple(models)


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False, *,
         runs_dir: str = common.DEFAULT_RUNS_DIR, models=MODELS,
         no_run: bool = False, parallel: int = 1) -> dict:
  """Runs the loss sweeps (unless `no_run`) and plots what they hold.

  `parallel` runs that many variants of a sweep at once (both losses with
  2; the throughput gain on 2 CPU cores: docs/performance.md).
  """
  models = _models(models)
  if quick:
    runs_dir = os.path.join(outdir, "runs")
    models = ("mlp",)
  suffix = "_quick" if quick else ""
  statuses = {}
  if not no_run:
    for model in models:
      sweep_dir = os.path.join(runs_dir,
                               f"fashion_mnist_{model}_losses{suffix}")
      overrides = QUICK_OVERRIDES if quick else ()
      if quick:
        overrides += (f"--config.eval.feature_extractor_dir="
                      f"{os.path.join(runs_dir, 'feature_extractor')}",)
      statuses[model] = common.run_sweep(
          f"fashion_mnist_{model}", "losses", sweep_dir, overrides, parallel)
  records = collect(runs_dir, models, suffix=suffix)
  os.makedirs(outdir, exist_ok=True)
  files = [plot_curves(records, os.path.join(outdir, NAME + ".png")),
           plot_samples(records, os.path.join(outdir,
                                              "fashion_mnist_samples.png"))]
  files.append(common.write_json(
      os.path.join(outdir, NAME + ".json"),
      dict(runs=[{k: v for k, v in r.items() if k != "workdir"}
                 for r in records], sweep_status=statuses)))
  # The last value of each metric a run reports (runs from before KID have
  # none of it).
  final = {f"{r['model']}/{r['loss']}": {k: r[k][-1] for pair in CURVES
                                         for k in pair[:2]
                                         if r[k][-1] is not None}
           for r in records if r["steps"]}
  return dict(files=files, summary=dict(final=final, sweep_status=statuses))


def add_arguments(parser) -> None:
  parser.add_argument("--runs_dir", default=common.DEFAULT_RUNS_DIR,
                      help="where the sweeps' run folders live")
  parser.add_argument("--models", default=",".join(MODELS),
                      help="comma-separated subset of: " + ", ".join(MODELS))
  parser.add_argument("--no_run", action="store_true",
                      help="only plot the runs already in --runs_dir")
  parser.add_argument("--parallel", type=int, default=1,
                      help="variants of each sweep run at once")


if __name__ == "__main__":
  common.cli(main, __doc__, add_arguments)
