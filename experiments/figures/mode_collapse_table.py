r"""Mode-collapse table on the ring and grid toys, next to the published rows.

Runs (or resumes) the sweeps defined in experiments/configs/ring.py and
grid.py with `launch.py --sweep`, then tabulates, per variant, the modes
captured, % high-quality samples and reverse KL as mean ± standard error over
seeds, beside

  Srivastava et al. 2017 (VEEGAN), Table 1:  GAN    ring 1 / 99.3%,
                                             grid 3.3 / 0.5%;
                                             VEEGAN ring 8 / 52.9%,
                                             grid 24.6 / 40%;
  Lin et al. 2018 (PacGAN), Table 1:         GAN    ring 6.3 / 98.2%,
                                             grid 17.3 / 94.8%;
                                             PacGAN4 ring 7.8 / 95.9%,
                                             grid 24.8 / 93.6%.

Sweeps per data set (`sweep(arg)` in its config), each in its own folder
<data>_<arg> of the runs folder:
  seeds   the shipped config (non-saturating + R1) over 10 seeds (the
          headline row);
  saturating, rpgan, wgan_gp
          the other games of `experiments.presets.TOY_OBJECTIVES` over the
          same 10 seeds and the shipped length: the saturating loss, RpGAN +
          R1 + R2 and WGAN-GP (the table's main rows, with the headline);
  table   losses (saturating, non-saturating) x k D steps (1, 2) x
          pi = fake fraction (0.5, 0.25), 10 seeds each (80 runs, hours of
          CPU: run it where you have the cores; finished runs are skipped, so
          it can be stopped and resumed).
Rows whose sweep directory is missing are left out of the table, and `runs`
says how many seeds each row averages.

Where the protocols agree and differ. All use 2,500 samples, the nearest
mode, "high quality" within 3 standard deviations and a mode "captured" when
it has a high-quality sample. The published GAN rows are each paper's own
architecture and schedule (VEEGAN: 3-layer MLPs; PacGAN: G 4x400 with
BatchNorm, D 3x200 LinearMaxout, Adam 1e-4, batch 100) on each paper's own
ring and grid; ours are the ring of 8 (radius 2, std 0.02) and the grid of
25 (spacing 2, std 0.05) of gan_jax.distributions, learnt by MLPs with R1
(gamma 0.1) and an EMA of G's weights (see the configs) and the plain GAN
loss.
Reverse KL is not reported by VEEGAN; PacGAN reports it in a separate table.

Run (from the repository root; `--quick` runs a few hundred steps of 2
variants x 2 seeds of the ring):
  python experiments/figures/mode_collapse_table.py [--outdir docs/figures]
A smaller table where 2 x 80 full runs are too many: `--table table2` (the
first 2 seeds of each row) and `--table_steps 10000` (shorter runs; the rows
say so, and their folders are separate, e.g. runs/ring_table2_10000steps):
  python experiments/figures/mode_collapse_table.py --table table2 \
      --table_steps 10000 --parallel 2
"""

from __future__ import annotations

import os
import sys
import time

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import sweep as sweep_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "mode_collapse_table"
DATASETS = ("ring", "grid")

# (method, source, dataset) -> (modes, high-quality %); the papers' Table 1.
PUBLISHED = {
    ("GAN", "Srivastava et al. 2017", "ring"): (1.0, 99.3),
    ("GAN", "Srivastava et al. 2017", "grid"): (3.3, 0.5),
    ("VEEGAN", "Srivastava et al. 2017", "ring"): (8.0, 52.9),
    ("VEEGAN", "Srivastava et al. 2017", "grid"): (24.6, 40.0),
    ("GAN", "Lin et al. 2018", "ring"): (6.3, 98.2),
    ("GAN", "Lin et al. 2018", "grid"): (17.3, 94.8),
    ("PacGAN4", "Lin et al. 2018", "ring"): (7.8, 95.9),
    ("PacGAN4", "Lin et al. 2018", "grid"): (24.8, 93.6),
}
METRICS = (("modes", "evaluation.modes"),
           ("high_quality_pct", "evaluation.high_quality_pct"),
           ("reverse_kl", "evaluation.reverse_kl"))
# Shortened runs for --quick (what tests/test_figures.py runs).
QUICK_OVERRIDES = ("--config.train.steps=200", "--config.train.steps_per_call=100",
                   "--config.train.log_every=100",
                   "--config.train.checkpoint_every=200",
                   "--config.train.sample_every=0",
                   "--config.eval.num_samples=500")


def _row(group: dict, dataset: str, label: str, source: str) -> dict:
  """One table row from a `sweep_lib.aggregate` group."""
  row = dict(dataset=dataset, method=label, source=source,
             runs=group["finished"],
             num_modes=group.get("evaluation.num_modes:mean"))
  for name, field in METRICS:
    row[name] = group.get(f"{field}:mean")
    row[name + "_stderr"] = group.get(f"{field}:stderr")
  return row


# The games of presets.TOY_OBJECTIVES tabulated beside the shipped one
# (whose row is the "seeds" sweep), with their labels.
GAMES = {
    "saturating": "saturating loss (Goodfellow et al. 2014) + R1",
    "rpgan": "RpGAN + R1 + R2 (Huang et al. 2024)",
    "wgan_gp": "WGAN-GP (Gulrajani et al. 2017)",
}


def _label(group: dict) -> str:
  loss = group.get("loss.name") or "non_saturating"
  k = group.get("train.discriminator_steps") or 1
  pi = group.get("loss.fake_fraction")
  pi = 0.5 if pi is None else pi
  return f"{loss}, k={k}, pi={pi:g}"


def collect_rows(runs_dir: str, sweeps, *,
                 table_steps: int | None = None) -> list[dict]:
  """Table rows: ours (from the sweep folders present), then the papers'.

  `sweeps`: (dataset, sweep arg, folder, overrides) as `main` runs them.
  """
  rows = []
  datasets = list(dict.fromkeys(s[0] for s in sweeps))
  for dataset in datasets:
    for data_name, arg, folder, _ in sweeps:
      sweep_dir = os.path.join(runs_dir, folder)
      if data_name != dataset or not os.path.isdir(sweep_dir):
        continue
      for group in sweep_lib.aggregate(sweep_dir):
        if not group["finished"]:
          continue
        if arg == "seeds":
          label = f"ours: {dataset}.py as shipped"
        elif arg in GAMES:
          label = f"ours: {GAMES[arg]}"
        else:
          label = "ours: " + _label(group)
          if table_steps:
            label += f", {table_steps} steps"
        rows.append(_row(group, dataset, label, "this codebase"))
    for (method, source, data_name), (modes, hq) in PUBLISHED.items():
      if data_name == dataset:
        rows.append(dict(dataset=dataset, method=method, source=source,
                         runs=None, num_modes=None, modes=modes,
                         modes_stderr=None,
                         high_quality_pct=hq, high_quality_pct_stderr=None,
                         reverse_kl=None, reverse_kl_stderr=None))
  return rows


def _cell(mean, stderr, digits: int) -> str:
  if mean is None:
    return "–"
  text = f"{mean:.{digits}f}"
  if stderr is not None and np.isfinite(stderr):
    text += f" ± {stderr:.{digits}f}"
  return text


def markdown(rows: list[dict]) -> str:
  lines = ["| data | method | source | seeds | modes | high quality % | "
           "reverse KL |", "|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['dataset']} | {r['method']} | {r['source']} | "
        f"{r['runs'] if r['runs'] is not None else '–'} | "
        f"{_cell(r['modes'], r['modes_stderr'], 1)} | "
        f"{_cell(r['high_quality_pct'], r['high_quality_pct_stderr'], 1)} | "
        f"{_cell(r['reverse_kl'], r['reverse_kl_stderr'], 4)} |")
  return "\n".join(lines) + "\n\n" + PROTOCOL_NOTE


PROTOCOL_NOTE = """\
Mean ± standard error over seeds. All rows: 2,500 samples, each assigned to
its nearest mode, high quality within 3 standard deviations of it, a mode
captured when it has a high-quality sample. Our data: ring of 8 (radius 2,
std 0.02), grid of 25 (spacing 2, std 0.05). Ours: MLPs with samples from
an EMA of G's weights; "as shipped" is the non-saturating loss with R1
(gamma 0.1), the named games change only the game (`TOY_OBJECTIVES` in
experiments/presets.py), all at the shipped 30k (ring) / 50k (grid)
steps; k = D steps per G step, pi = fraction of generated samples in D's
loss (`loss.fake_fraction`), rows marked with steps are shorter runs.
Published rows are each paper's own networks and schedule (VEEGAN: 3-layer MLPs; PacGAN: G
4x400 with BatchNorm, D 3x200 LinearMaxout, Adam 1e-4, batch 100).
"""


def plot(rows: list[dict], path: str, datasets=DATASETS) -> str:
  """% high quality per row as bars (ours blue, published grey), modes beside.

  One panel per data set, a bar per row in the table's order, with the
  standard error over seeds as an error bar and "modes / of" at its end:
  the rows differ on two numbers, and a scatter of one against the other
  piles every row that captures all modes onto one column.
  """
  panels = [[r for r in rows if r["dataset"] == d and r["modes"] is not None]
            for d in datasets]
  height = 1.2 + 0.28 * max((len(p) for p in panels), default=1)
  fig = common.new_figure((6.5 * len(datasets), height))
  for i, (dataset, panel) in enumerate(zip(datasets, panels)):
    ax = fig.add_subplot(1, len(datasets), i + 1)
    ours = [r["source"] == "this codebase" for r in panel]
    y = np.arange(len(panel))[::-1]
    hq = [r["high_quality_pct"] for r in panel]
    ax.barh(y, hq, color=["tab:blue" if o else "tab:gray" for o in ours])
    # Error bars only where there is a spread (ours over seeds).
    spread = [i for i, r in enumerate(panel) if r["high_quality_pct_stderr"]]
    ax.errorbar([hq[i] for i in spread], y[spread], fmt="none", ecolor="k",
                xerr=[panel[i]["high_quality_pct_stderr"] for i in spread],
                capsize=2)
    # The data set's mode count, as our runs' evaluations report it.
    of = next((f"{r['num_modes']:.0f}" for r in panel if r.get("num_modes")),
              None)
    for yi, r in zip(y, panel):
      ax.text(101, yi, f"{r['modes']:.1f}" + (f" / {of}" if of else ""),
              va="center", fontsize=7)
    ax.set_yticks(y, [r["method"].replace("ours: ", "") +
                      ("" if o else f" ({r['source']})")
                      for r, o in zip(panel, ours)], fontsize=7)
    ax.set_xlim(0, 112)
    ax.set_xlabel("% high-quality samples (modes captured at the right)")
    ax.set_title(f"{dataset}: blue ours, grey published")
  return common.save_figure(fig, path)


def table_dir_name(dataset: str, table: str = "table",
                   table_steps: int | None = None) -> str:
  """The table sweep's folder under the runs folder, e.g. ring_table2_10000steps."""
  return f"{dataset}_{table}" + (f"_{table_steps}steps" if table_steps else "")


def main(outdir: str = common.DEFAULT_OUTDIR, quick: bool = False, *,
         runs_dir: str = common.DEFAULT_RUNS_DIR, no_run: bool = False,
         parallel: int = 1, datasets=DATASETS, table: str = "table",
         table_steps: int | None = None) -> dict:
  """Runs the sweeps (unless `no_run`), writes the table and a plot.

  `table` is the configs' sweep argument for the loss x k x pi rows ('table'
  for 10 seeds, 'table2' for 2) and `table_steps` optionally shortens their
  runs (a different protocol from the headline row: the table says so).
  """
  if quick:
    runs_dir = os.path.join(outdir, "runs")
    datasets = ("ring",)
  statuses = {}
  table_overrides = ((f"--config.train.steps={table_steps}",)
                     if table_steps else ())
  sweeps = []  # (dataset, sweep arg, folder, overrides)
  for dataset in datasets:
    if quick:
      sweeps.append((dataset, "quick", f"{dataset}_table_quick",
                     QUICK_OVERRIDES))
    else:
      sweeps.append((dataset, "seeds", f"{dataset}_seeds", ()))
      sweeps += [(dataset, game, f"{dataset}_{game}", ()) for game in GAMES]
      sweeps.append((dataset, table, table_dir_name(dataset, table,
                                                    table_steps),
                     table_overrides))
  if not no_run:
    for dataset, arg, folder, overrides in sweeps:
      start = time.time()
      statuses[f"{dataset}:{arg}"] = common.run_sweep(
          dataset, arg, os.path.join(runs_dir, folder), overrides, parallel)
      print(f"[{NAME}] {dataset}:{arg} sweep took "
            f"{time.time() - start:.0f} s")
  rows = collect_rows(runs_dir, sweeps, table_steps=table_steps)
  os.makedirs(outdir, exist_ok=True)
  md_path = os.path.join(outdir, NAME + ".md")
  with open(md_path, "w") as f:
    f.write(markdown(rows))
  json_path = common.write_json(os.path.join(outdir, NAME + ".json"),
                                dict(rows=rows, sweep_status=statuses))
  png_path = plot(rows, os.path.join(outdir, NAME + ".png"), datasets)
  ours = [r for r in rows if r["source"] == "this codebase"]
  return dict(files=[png_path, md_path, json_path],
              summary=dict(rows=len(ours), sweep_status=statuses))


def add_arguments(parser) -> None:
  parser.add_argument("--runs_dir", default=common.DEFAULT_RUNS_DIR,
                      help="where the sweeps' run folders live")
  parser.add_argument("--no_run", action="store_true",
                      help="only tabulate the sweeps already in --runs_dir")
  parser.add_argument("--parallel", type=int, default=1,
                      help="runs at once in each sweep")
  parser.add_argument("--table", default="table",
                      help="the configs' sweep argument for the loss x k x "
                      "pi rows: 'table' (10 seeds) or 'table<N>' (N seeds)")
  parser.add_argument("--table_steps", type=int, default=None,
                      help="train.steps for the table's runs (default: the "
                      "config's); shorter runs are a different protocol")


if __name__ == "__main__":
  common.cli(main, __doc__, add_arguments)
