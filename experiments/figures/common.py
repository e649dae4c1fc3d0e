"""Helpers shared by the figure scripts: paths, figures, JSON, the CLI.

Every figure script exposes `main(outdir, quick) -> dict` returning
{'files': [paths written], 'summary': {key numbers}}, and runs as

  python experiments/figures/<name>.py [--outdir DIR] [--quick]

from the repository root (or as `python -m experiments.figures.<name>`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_OUTDIR = os.path.join(ROOT, "docs", "figures")
CONFIG_DIR = os.path.join(ROOT, "experiments", "configs")
# Where the figures that train through `launch.py --sweep` keep their runs.
DEFAULT_RUNS_DIR = os.path.join(ROOT, "runs")


def new_figure(size=(6, 4)):
  """A matplotlib Figure with an Agg canvas; no pyplot global state."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=size, layout="constrained")
  FigureCanvasAgg(fig)
  return fig


def _plain(value: Any) -> Any:
  """Converts numpy / jax values to JSON types; non-finite floats to None."""
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
    return _plain(np.asarray(value).tolist())
  if isinstance(value, float) and not math.isfinite(value):
    return None  # JSON has no inf / nan
  return value


def write_json(path: str, data: dict) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(_plain(data), f, indent=1)
    f.write("\n")
  return path


def save_figure(fig, path: str, quick: bool = False) -> str:
  """Saves `fig` as a PNG; a small one for the quick versions (faster)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=40 if quick else 110)
  return path


def cli(main: Callable[..., dict], description: str | None,
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
        ) -> None:
  """Parses --outdir / --quick, runs `main`, prints the files and the time.

  `add_arguments(parser)` may add a script's own options; each is passed to
  `main` as the keyword argument of the same name.
  """
  parser = argparse.ArgumentParser(
      description=(description or "").strip().split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--outdir", default=DEFAULT_OUTDIR,
                      help="output folder (default: docs/figures)")
  parser.add_argument("--quick", action="store_true",
                      help="a small, fast version (what the tests run)")
  if add_arguments is not None:
    add_arguments(parser)
  args = vars(parser.parse_args())
  start = time.time()
  result = main(outdir=args.pop("outdir"), quick=args.pop("quick"), **args)
  for path in result["files"]:
    print(f"wrote {path}")
  print(json.dumps(_plain(result.get("summary", {})), indent=1))
  print(f"{time.time() - start:.1f} s")


def run_sweep(config_name: str, arg: str, sweep_dir: str,
              overrides: Sequence[str] = (), parallel: int = 1) -> int:
  """Runs (or resumes) `launch.py --sweep` for a shipped config; its status.

  `config_name` is a file in experiments/configs without `.py`, `arg` the
  argument of its `sweep(arg)`, `overrides` extra `--config.<field>=<value>`
  flags for every variant. Finished variants are skipped, so an interrupted
  figure picks up where it stopped. A nonzero status means some variants
  failed (listed in the sweep's results.md); figures use those that finished.
  """
  command = [sys.executable, os.path.join(ROOT, "launch.py"),
             f"--config={os.path.join(CONFIG_DIR, config_name)}.py:{arg}",
             "--sweep", f"--workdir={sweep_dir}", f"--parallel={parallel}",
             *overrides]
  return subprocess.run(command, cwd=ROOT, check=False).returncode


def compiler_options(quick: bool) -> dict | None:
  """XLA options for the figure scripts' compiled functions.

  The quick versions are smoke tests whose run time is mostly compilation:
  at backend optimisation level 0 XLA:CPU compiles several times faster and
  computes the same functions (as the engine's own tests use it).
  """
  return {"xla_backend_optimization_level": 0} if quick else None


def finished_runs(sweep_dir: str) -> list[dict]:
  """A sweep's finished runs, by seed: overrides, seed, workdir, final step
  and evaluation (their summary.json)."""
  # pylint: disable=g-import-not-at-top
  from gan_jax import sweep as sweep_lib
  from gan_jax import train
  # pylint: enable=g-import-not-at-top
  runs = []
  for run in sweep_lib.load_runs(sweep_dir):
    if run["status"] != "finished":
      continue
    workdir = os.path.join(sweep_dir, run["name"])
    with open(os.path.join(workdir, train.SUMMARY_FILE)) as f:
      summary = json.load(f)
    runs.append(dict(overrides=run["overrides"],
                     seed=run["overrides"].get(sweep_lib.SEED_FIELD, 0),
                     workdir=workdir, step=summary["step"],
                     evaluation=summary["evaluation"]))
  return sorted(runs, key=lambda r: r["seed"])


def add_sweep_arguments(parser) -> None:
  """--runs_dir and --no_run of the figures that train through sweeps."""
  parser.add_argument("--runs_dir", default=DEFAULT_RUNS_DIR,
                      help="where the sweeps' runs are (default: runs/)")
  parser.add_argument("--no_run", action="store_true",
                      help="plot the finished runs only; train nothing")
