r"""The source notes' Fashion-MNIST notebooks (GAN, C-GAN, WGAN), reproduced.

experiments/configs/seed_notebook_{gan,cgan,wgan}.py are the three
TensorFlow notebooks of nishanthta/GenerativeModels that the last source
note links, at their length (100,000 iterations). This script runs (or
resumes) each config's `sweep("seeds")` with `launch.py --sweep`, then:

* draws each system's first seed as the notebooks draw it: a 6x6 canvas of
  samples with inverted grey levels (their `g = -1 * (g - 1)`); the C-GAN
  both as its notebook (all 36 of class 5, sandals) and one row per class;
* tabulates the final evaluation of every seed (FID, KID, precision and
  recall in the bundled classifier's feature space, Parzen log-likelihood;
  the C-GAN's sample accuracy beside the classifier's own test accuracy),
  mean and standard error over the seeds;
* sets each system's losses over training beside the values its notebook
  printed (docs/seed_notebooks/notebook_losses.json: one minibatch every
  2,000 iterations, read from the notebooks' stored outputs), and compares
  their medians over the second half of training;
* counts the classes the bundled classifier assigns to `CLASS_SAMPLES`
  samples of each run (an unconditional G that covers few classes shows
  it here first; FID and recall weigh it);
* for the WGAN, sets the critic's estimate of W1 against FID over training
  (Arjovsky et al. 2017 claim the estimate tracks sample quality): W1-hat
  at an evaluation step is the mean of -d_loss over the log windows of the
  `W1_WINDOW` iterations before it (metrics.jsonl: each row is the mean over
  its log_every iterations), and the Spearman rank correlation of W1-hat
  and FID over the evaluations is reported per seed and pooled.

Writes seed_notebooks.json (the table, every run's values, the loss
medians and the W1/FID pairs), seed_notebooks_samples.png,
seed_notebooks_losses.png, seed_notebooks_wgan_w1.png and each run's
eval.jsonl and summary.json under evaluations/.

Run (from the repository root; about 1.5 hours on 2 CPU cores for two
seeds of each; finished runs are reused):
  python experiments/figures/seed_notebooks.py --outdir docs/seed_notebooks \
      [--runs_dir runs] [--no_run]
"""

from __future__ import annotations

import json
import os
import shutil
import sys

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "seed_notebooks"
SYSTEMS = ("gan", "cgan", "wgan")
TITLES = {"gan": "GAN", "cgan": "C-GAN", "wgan": "WGAN"}
# (result key, real-data key or None) of the table.
METRICS = (("fid", "real_fid"), ("kid", "real_kid"),
           ("precision", "real_precision"), ("recall", "real_recall"),
           ("parzen_ll", "real_parzen_ll"),
           ("class_accuracy", "classifier_test_accuracy"),
           ("intra_fid", "real_intra_fid"))
NOTEBOOK_CLASS = 5  # FMNIST_C-GAN.ipynb's canvas: `tmp_labels = ... + 5`
CANVAS = 6  # the notebooks' n = 6
W1_WINDOW = 2500
NOTEBOOK_ITERATIONS = 100_000  # their `epochs`
CLASS_SAMPLES = 10_000
LOSS_PLOT_FROM = 1000  # the loss panels' y range ignores iterations before
# The losses each notebook printed (see the module docstring).
NOTEBOOK_LOSSES = os.path.join(common.ROOT, "docs", "seed_notebooks",
                               "notebook_losses.json")


def read_losses(workdir: str, *, critic: bool = False) -> dict:
  """A run's logged means of D's and G's losses over training, as its
  notebook prints them: for a WGAN (`critic`), D's is the W1 estimate
  E f(x) - E f(G(z)), minus gan_jax's d_loss."""
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  sign = -1.0 if critic else 1.0
  return dict(step=[r["step"] for r in rows],
              discriminator_loss=[sign * r["d_loss"] for r in rows],
              generator_loss=[r["g_loss"] for r in rows])


def second_half_medians(losses: dict, total: int) -> dict:
  """Medians of D's and G's losses over iterations (total/2, total]."""
  late = [i for i, s in enumerate(losses["step"]) if s > total // 2]
  return {k: float(np.median([losses[k][i] for i in late]))
          for k in ("discriminator_loss", "generator_loss")}


def sweep_dir_of(runs_dir: str, system: str) -> str:
  return os.path.join(runs_dir, f"seed_notebook_{system}_seeds")


def _mean_stderr(values) -> dict:
  values = np.asarray(values, np.float64)
  stderr = (values.std(ddof=1) / np.sqrt(values.size) if values.size > 1
            else 0.0)
  return dict(mean=float(values.mean()), stderr=float(stderr),
              n=int(values.size), values=[float(v) for v in values])


def summarise(runs: list[dict]) -> dict:
  """Per metric (and its real-data value): mean, stderr and the seeds'."""
  table = {}
  for key, real_key in METRICS:
    for k in (key, real_key):
      values = [r["evaluation"][k] for r in runs if k in r["evaluation"]]
      if values:
        table[k] = _mean_stderr(values)
  return table


def rankdata(values) -> np.ndarray:
  """Ranks 1..n, ties given their mean rank (as scipy.stats.rankdata)."""
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="mergesort")
  ranks = np.empty(values.size, np.float64)
  ranks[order] = np.arange(1, values.size + 1)
  for value in np.unique(values):
    tied = values == value
    ranks[tied] = ranks[tied].mean()
  return ranks


def spearman(x, y) -> float:
  """Spearman's rank correlation: Pearson's of the ranks."""
  return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def w1_against_fid(workdir: str, losses: dict) -> dict:
  """(step, W1-hat, FID) at each evaluation of a WGAN run (see docstring);
  `losses` is the run's `read_losses(critic=True)`."""
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    evals = [json.loads(line) for line in f]
  logged = list(zip(losses["step"], losses["discriminator_loss"]))
  steps, w1, fid = [], [], []
  for record in evals:
    step = record["step"]
    window = [w1_hat for s, w1_hat in logged
              if step - W1_WINDOW < s <= step]
    if window and "fid" in record:
      steps.append(step)
      w1.append(float(np.mean(window)))
      fid.append(float(record["fid"]))
  return dict(steps=steps, w1=w1, fid=fid,
              spearman=spearman(w1, fid) if len(steps) > 2 else float("nan"))


def canvas(images: np.ndarray) -> np.ndarray:
  """The notebooks' canvas: a 6x6 grid, grey levels inverted (1 - g)."""
  return 1.0 - np.squeeze(train.image_grid(images[:CANVAS * CANVAS], CANVAS))


def plot_samples(first: dict[str, dict], path: str, quick: bool) -> str:
  panels = []
  for system in SYSTEMS:
    if system not in first:
      continue
    run = first[system]
    title = f"{TITLES[system]}, seed {run['seed']}, step {run['step']}"
    if system == "cgan":
      images = train.sample(run["workdir"], CANVAS * CANVAS, seed=0,
                            labels=NOTEBOOK_CLASS)
      panels.append((canvas(images), title + f"\nclass {NOTEBOOK_CLASS} "
                     "(as its notebook)"))
      rows = np.repeat(np.arange(10), CANVAS)
      images = train.sample(run["workdir"], rows.size, seed=0, labels=rows)
      panels.append((1.0 - np.squeeze(train.image_grid(images, CANVAS)),
                     title + "\nrows: classes 0-9"))
    else:
      images = train.sample(run["workdir"], CANVAS * CANVAS, seed=0)
      panels.append((canvas(images), title))
  fig = common.new_figure((3.2 * len(panels), 4.4))
  for i, (grid, title) in enumerate(panels):
    ax = fig.add_subplot(1, len(panels), i + 1)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
  return common.save_figure(fig, path, quick)


def plot_w1(pairs: list[dict], path: str, quick: bool) -> str:
  fig = common.new_figure((10, 3.6))
  ax_curve = fig.add_subplot(1, 2, 1)
  ax_fid = ax_curve.twinx()
  ax_scatter = fig.add_subplot(1, 2, 2)
  for i, pair in enumerate(pairs):
    color = f"C{i}"
    ax_curve.plot(pair["steps"], pair["w1"], "-", color=color,
                  label=f"W1-hat, seed {pair['seed']}")
    ax_fid.plot(pair["steps"], pair["fid"], ":", color=color)
    ax_scatter.plot(pair["w1"], pair["fid"], "o", color=color,
                    label=f"seed {pair['seed']}: Spearman "
                    f"{pair['spearman']:.2f}")
  ax_curve.set_xlabel("iteration")
  ax_curve.set_ylabel("critic's W1 estimate (solid)")
  ax_fid.set_ylabel("FID (dotted)")
  ax_curve.legend(fontsize=7)
  ax_scatter.set_xlabel("critic's W1 estimate")
  ax_scatter.set_ylabel("FID")
  ax_scatter.legend(fontsize=7)
  ax_scatter.set_title("WGAN: W1 estimate against FID at each evaluation",
                       fontsize=9)
  return common.save_figure(fig, path, quick)


def class_histogram(workdir: str) -> list[float]:
  """The fraction of CLASS_SAMPLES samples (seed 0; a conditional G's drawn
  i mod C) that the run's bundled classifier assigns to each class."""
  # pylint: disable=g-import-not-at-top
  from gan_jax import feature_extractor
  # pylint: enable=g-import-not-at-top
  config = train.load_config(workdir)
  extractor = feature_extractor.load_or_train(
      config.data, cache_dir=config.eval.feature_extractor_dir,
      steps=config.eval.feature_extractor_steps)
  samples = train.sample(workdir, CLASS_SAMPLES, seed=0)
  predicted = np.argmax(extractor.logits(samples), axis=-1)
  counts = np.bincount(predicted, minlength=extractor.num_classes)
  return [float(c) / CLASS_SAMPLES for c in counts]


def plot_losses(systems: dict[str, list[dict]], notebook: dict, path: str,
                quick: bool) -> str:
  names = [s for s in SYSTEMS if s in systems]
  fig = common.new_figure((4.2 * len(names), 3.4))
  for i, system in enumerate(names):
    ax = fig.add_subplot(1, len(names), i + 1)
    shown = []  # the values after the first LOSS_PLOT_FROM iterations
    for j, run in enumerate(systems[system]):
      losses = run["losses"]
      ax.plot(losses["step"], losses["discriminator_loss"],
              color="tab:blue", alpha=0.8 - 0.3 * j, linewidth=1,
              label=f"D, gan_jax seed {run['seed']}")
      ax.plot(losses["step"], losses["generator_loss"], color="tab:orange",
              alpha=0.8 - 0.3 * j, linewidth=1,
              label=f"G, gan_jax seed {run['seed']}")
      late = np.asarray(losses["step"]) > LOSS_PLOT_FROM
      shown += list(np.asarray(losses["discriminator_loss"])[late])
      shown += list(np.asarray(losses["generator_loss"])[late])
    if system in notebook:
      printed = notebook[system]
      ax.plot(printed["step"], printed["discriminator_loss"], "o",
              color="tab:blue", markersize=3, label="D, notebook's print")
      ax.plot(printed["step"], printed["generator_loss"], "s",
              color="tab:orange", markersize=3, label="G, notebook's print")
      shown += printed["discriminator_loss"] + printed["generator_loss"]
    if shown:  # the first few hundred iterations' transient off the scale
      low, high = float(np.min(shown)), float(np.max(shown))
      ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_xlabel("iteration")
    ax.set_title(f"{TITLES[system]}: losses" + (
        " (D: the W1 estimate E f(x) - E f(G(z)))" if system == "wgan"
        else ""), fontsize=8)
    ax.legend(fontsize=6)
  return common.save_figure(fig, path, quick)


def copy_evaluations(system: str, runs: list[dict], outdir: str) -> list[str]:
  """Each run's eval.jsonl and summary.json beside the figures."""
  folder = os.path.join(outdir, "evaluations")
  os.makedirs(folder, exist_ok=True)
  files = []
  for run in runs:
    for name, suffix in ((train.EVAL_FILE, "eval.jsonl"),
                         (train.SUMMARY_FILE, "summary.json")):
      target = os.path.join(folder, f"{system}_seed{run['seed']}.{suffix}")
      shutil.copyfile(os.path.join(run["workdir"], name), target)
      files.append(target)
  return files


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False, *,
         runs_dir: str = common.DEFAULT_RUNS_DIR, no_run: bool = False
         ) -> dict:
  systems = {}
  for system in SYSTEMS:
    sweep_dir = sweep_dir_of(runs_dir, system)
    if not no_run:
      common.run_sweep(f"seed_notebook_{system}", "seeds", sweep_dir)
    runs = common.finished_runs(sweep_dir)
    for run in runs:  # metrics.jsonl, read once for every use below
      run["losses"] = read_losses(run["workdir"], critic=system == "wgan")
    if runs:
      systems[system] = runs
  if not systems:
    raise RuntimeError(f"{runs_dir} holds no finished seed notebook run")
  os.makedirs(outdir, exist_ok=True)
  tables = {system: summarise(runs) for system, runs in systems.items()}
  files = [plot_samples({s: runs[0] for s, runs in systems.items()},
                        os.path.join(outdir, NAME + "_samples.png"), quick)]
  notebook = {}
  if os.path.exists(NOTEBOOK_LOSSES):
    with open(NOTEBOOK_LOSSES) as f:
      notebook = json.load(f)["systems"]
  files.append(plot_losses(systems, notebook,
                           os.path.join(outdir, NAME + "_losses.png"), quick))
  class_histograms = {
      system: [dict(seed=r["seed"], fractions=class_histogram(r["workdir"]))
               for r in runs] for system, runs in systems.items()}
  loss_medians = {}
  for system, runs in systems.items():
    total = max(r["step"] for r in runs)
    loss_medians[system] = dict(
        gan_jax=[second_half_medians(r["losses"], total) for r in runs])
    if system in notebook:
      loss_medians[system]["notebook"] = second_half_medians(
          notebook[system], NOTEBOOK_ITERATIONS)
  pairs = []
  if "wgan" in systems:
    for run in systems["wgan"]:
      pairs.append(dict(seed=run["seed"],
                        **w1_against_fid(run["workdir"], run["losses"])))
    files.append(plot_w1(pairs, os.path.join(outdir, NAME + "_wgan_w1.png"),
                         quick))
  pooled = (spearman(sum((p["w1"] for p in pairs), []),
                     sum((p["fid"] for p in pairs), []))
            if sum(len(p["steps"]) for p in pairs) > 2 else None)
  for system, runs in systems.items():
    files += copy_evaluations(system, runs, outdir)
  files.append(common.write_json(os.path.join(outdir, NAME + ".json"), dict(
      tables=tables, class_histograms=class_histograms,
      loss_medians=loss_medians, wgan_w1_fid=pairs,
      wgan_w1_fid_spearman_pooled=pooled,
      runs={s: [dict(seed=r["seed"], step=r["step"],
                     evaluation=r["evaluation"]) for r in runs]
            for s, runs in systems.items()})))
  summary = {f"{system}/{key}": round(value["mean"], 4)
             for system, table in tables.items()
             for key, value in table.items()}
  for pair in pairs:
    summary[f"wgan/spearman_w1_fid_seed{pair['seed']}"] = round(
        pair["spearman"], 3)
  if pooled is not None:
    summary["wgan/spearman_w1_fid_pooled"] = round(pooled, 3)
  return dict(files=files, summary=summary)


if __name__ == "__main__":
  common.cli(main, __doc__, common.add_sweep_arguments)
