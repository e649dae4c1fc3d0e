r"""Class-conditional DCGAN on Fashion-MNIST: samples by class, and the metrics.

experiments/configs/fashion_mnist_conditional.py's `sweep("compare")`
trains the same DCGAN unconditionally and with conditional BatchNorm in G
and three discriminators: the projection discriminator (Miyato & Koyama
2018), the one-hot label as input channels (concat), and an auxiliary
classifier D (ACGAN, Odena et al. 2017; and with its classifier trained on
real images only, `acgan_real`), 3 seeds each, the same number of steps. This script runs (or resumes) that sweep with `launch.py --sweep`,
then draws, for the first seed of each variant, a grid with one row per
class (the same z in every row for the conditional ones; the unconditional
G's samples in rows as they come), and bar charts of the metrics (mean and
standard error over the seeds), each beside its real-data value:

  FID, recall (the project classifier's feature space);
  sample accuracy: the fraction of samples the classifier assigns to their
    class, beside the classifier's own test accuracy;
  CAS (Ravuri & Vinyals 2019), beside the same classifier trained on real
    images; intra-class FID (Miyato & Koyama 2018).

Writes conditional_fashion_mnist.png, conditional_fashion_mnist_samples.png
and conditional_fashion_mnist.json (per-variant means, standard errors and
the runs' values).

Run (from the repository root; about 1.5 hours on 2 CPU cores; finished
runs are reused):
  python experiments/figures/conditional_fashion_mnist.py \
      --outdir docs/conditional [--runs_dir runs] [--no_run]
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "conditional_fashion_mnist"
CONFIG = "fashion_mnist_conditional"
SWEEP_DIR = "fashion_mnist_conditional_compare"
# (result key, real-data key or None, title); lower is better for FIDs.
BARS = (("fid", "real_fid", "FID (classifier features)"),
        ("recall", "real_recall", "recall"),
        ("class_accuracy", "classifier_test_accuracy",
         "sample accuracy (real: classifier's test acc.)"),
        ("cas", "real_cas", "CAS (real: trained on real images)"),
        ("intra_fid", "real_intra_fid", "intra-class FID"))
COLUMNS_PER_CLASS = 8


VARIANTS = ("unconditional", "projection", "concat", "acgan", "acgan_real")
COLORS = ("tab:gray", "tab:blue", "tab:green", "tab:orange", "tab:red")


def variant_of(overrides: dict) -> str:
  """The VARIANTS entry of a run's overrides."""
  if overrides.get("model.num_classes", None) == 0:
    return "unconditional"
  if overrides.get("loss.acgan_fake_weight", 1.0) == 0.0:
    return "acgan_real"
  return overrides.get("model.discriminator_conditioning", "projection")


def collect(sweep_dir: str) -> dict[str, list[dict]]:
  """The finished runs of each variant: their evaluation and workdir."""
  variants: dict[str, list[dict]] = {}
  for run in common.finished_runs(sweep_dir):
    variants.setdefault(variant_of(run["overrides"]), []).append(run)
  return variants


def _mean_stderr(values) -> tuple[float, float]:
  values = np.asarray([v for v in values if v is not None], np.float64)
  if not values.size:
    return float("nan"), float("nan")
  stderr = (values.std(ddof=1) / np.sqrt(values.size) if values.size > 1
            else 0.0)
  return float(values.mean()), float(stderr)


def summarise(variants: dict[str, list[dict]]) -> dict:
  """Per variant and metric: mean, stderr, n and the seeds' values."""
  table = {}
  for name, runs in variants.items():
    table[name] = {}
    for key, real_key, _ in BARS:
      for k in (key, real_key):
        values = [r["evaluation"].get(k) for r in runs]
        if all(v is None for v in values):
          continue
        mean, stderr = _mean_stderr(values)
        table[name][k] = dict(mean=mean, stderr=stderr,
                              n=sum(v is not None for v in values),
                              values=values)
  return table


def plot_metrics(table: dict, path: str, quick: bool = False) -> str:
  names = [n for n in VARIANTS if n in table]
  fig = common.new_figure((3.2 * len(BARS), 3.4))
  for i, (key, real_key, title) in enumerate(BARS):
    ax = fig.add_subplot(1, len(BARS), i + 1)
    shown = [n for n in names if key in table[n]]
    ax.bar(range(len(shown)), [table[n][key]["mean"] for n in shown],
           yerr=[table[n][key]["stderr"] for n in shown], capsize=4,
           color=[COLORS[VARIANTS.index(n)] for n in shown])
    reals = [table[n][real_key]["mean"] for n in shown
             if real_key in table[n]]
    if reals:
      ax.axhline(float(np.mean(reals)), color="k", linestyle=":",
                 linewidth=1, label="real data")
      ax.legend(fontsize=7)
    ax.set_xticks(range(len(shown)), shown, fontsize=8, rotation=30)
    ax.set_title(title, fontsize=9)
  return common.save_figure(fig, path, quick)


def plot_samples(variants: dict[str, list[dict]], path: str,
                 quick: bool = False) -> str:
  """The first seed of each variant: one row per class."""
  names = [n for n in VARIANTS if n in variants]
  fig = common.new_figure((3.4 * max(len(names), 1), 4.2))
  for i, name in enumerate(names):
    run = variants[name][0]
    ax = fig.add_subplot(1, max(len(names), 1), i + 1)
    config = train.load_config(run["workdir"])
    num_classes = int(config.model.num_classes) or 10
    rows = np.repeat(np.arange(num_classes), COLUMNS_PER_CLASS)
    if config.model.num_classes:
      images = train.sample(run["workdir"], rows.size, seed=0, labels=rows)
    else:
      images = train.sample(run["workdir"], rows.size, seed=0)
    grid = train.image_grid(images, COLUMNS_PER_CLASS)
    ax.imshow(np.squeeze(grid), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}, seed {run['seed']}, step {run['step']}"
                 + ("\n(rows: classes 0-9)" if config.model.num_classes
                    else "\n(no classes)"), fontsize=8)
    ax.axis("off")
  return common.save_figure(fig, path, quick)


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False, *,
         runs_dir: str = common.DEFAULT_RUNS_DIR, no_run: bool = False
         ) -> dict:
  sweep_dir = os.path.join(runs_dir, SWEEP_DIR)
  if not no_run:
    common.run_sweep(CONFIG, "compare", sweep_dir)
  variants = collect(sweep_dir)
  if not variants:
    raise RuntimeError(f"{sweep_dir} holds no finished run")
  table = summarise(variants)
  files = [plot_metrics(table, os.path.join(outdir, NAME + ".png"), quick),
           plot_samples(variants, os.path.join(outdir, NAME + "_samples.png"),
                        quick)]
  files.append(common.write_json(os.path.join(outdir, NAME + ".json"), dict(
      sweep_dir=sweep_dir, table=table,
      runs={n: [dict(seed=r["seed"], step=r["step"],
                     evaluation=r["evaluation"]) for r in runs]
            for n, runs in variants.items()})))
  summary = {f"{name}/{key}": round(value["mean"], 4)
             for name, metrics in table.items()
             for key, value in metrics.items()}
  return dict(files=files, summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__, common.add_sweep_arguments)
