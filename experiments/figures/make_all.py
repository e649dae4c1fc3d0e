r"""Regenerates every figure in docs/figures (PNGs and the numbers behind them).

  python experiments/figures/make_all.py                 # all, full size
  python experiments/figures/make_all.py --quick         # small and fast
  python experiments/figures/make_all.py --only huszar2015,theory_vs_practice
  python experiments/figures/make_all.py --outdir /tmp/figures

(run from the repository root; `python -m experiments.figures.make_all` works
too). Each figure script in `FIGURES` has `main(outdir, quick)` and also runs
alone (`python experiments/figures/<name>.py`). A figure that fails is
reported with its traceback and the others still run; the exit status is
then 1 and the failures are listed at the end.

To add a figure: write experiments/figures/<name>.py with
`main(outdir=common.DEFAULT_OUTDIR, quick=False) -> {'files': [...],
'summary': {...}}` and append its name to `FIGURES`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from typing import Callable, Mapping, Sequence, Union

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

from experiments.figures import common  # pylint: disable=g-import-not-at-top,wrong-import-position

# --8<-- [start:registry]
# Module names under experiments/figures, in the order they run (cheap first).
FIGURES = [
    "tutorial2016_figure16",
    "huszar2015",
    "goodfellow2014_figure1",
    "theory_vs_practice",
    "arjovsky_bottou2017",
    "nowozin2016_gaussian_fit",
    "f_gan_theory",
    # These train through `launch.py --sweep` into runs/ (hours of CPU
    # at full size; finished runs are reused, see their docstrings).
    "fashion_mnist_curves",
    "mode_collapse_table",
    "conditional_fashion_mnist",
    "seed_notebooks",
]
# --8<-- [end:registry]
# The figures that train through sweeps: even their --quick versions launch
# several training processes (minutes), so the tests check them on prepared
# sweep folders instead (tests/test_figures.py).
SWEEP_FIGURES = ("fashion_mnist_curves", "mode_collapse_table",
                 "conditional_fashion_mnist", "seed_notebooks")

# A registry entry: a module name under experiments.figures, or a callable
# main(outdir, quick) (tests pass callables).
Entry = Union[str, Callable[..., dict]]


def main_of(entry: Entry) -> Callable[..., dict]:
  if callable(entry):
    return entry
  return importlib.import_module(f"experiments.figures.{entry}").main


def select(names: Sequence[str], only: str | None) -> list[str]:
  """The registered names listed in `only` (comma-separated), in run order."""
  if not only:
    return list(names)
  wanted = [n.strip() for n in only.split(",") if n.strip()]
  unknown = [n for n in wanted if n not in names]
  if unknown:
    raise ValueError(f"unknown figure(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(names)}")
  return [n for n in names if n in wanted]


def run(names: Sequence[str], outdir: str, quick: bool,
        registry: Mapping[str, Entry] | None = None) -> dict[str, dict]:
  """Runs each figure; returns name -> {ok, seconds, files | error}."""
  registry = registry or {n: n for n in FIGURES}
  results = {}
  for name in names:
    print(f"== {name}", flush=True)
    start = time.time()
    try:
      output = main_of(registry[name])(outdir=outdir, quick=quick)
      results[name] = dict(ok=True, seconds=time.time() - start,
                           files=list(output.get("files", [])))
      for path in results[name]["files"]:
        print(f"   wrote {path}")
    except Exception:  # pylint: disable=broad-except
      # Keep going: one broken figure should not cost the others' time.
      results[name] = dict(ok=False, seconds=time.time() - start,
                           error=traceback.format_exc())
      print(results[name]["error"], file=sys.stderr)
    status = "ok" if results[name]["ok"] else "FAILED"
    print(f"   {status} in {results[name]['seconds']:.1f} s", flush=True)
  return results


def main(argv: Sequence[str] | None = None,
         registry: Mapping[str, Entry] | None = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = argparse.ArgumentParser(
      description=__doc__.strip().split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--outdir", default=common.DEFAULT_OUTDIR,
                      help="output folder (default: docs/figures)")
  parser.add_argument("--quick", action="store_true",
                      help="small, fast versions (what the tests run)")
  parser.add_argument("--only", default=None,
                      help="comma-separated figure names to run")
  args = parser.parse_args(argv)
  names = list(registry) if registry is not None else FIGURES
  try:
    selected = select(names, args.only)
  except ValueError as e:
    parser.error(str(e))
  results = run(selected, args.outdir, args.quick, registry)
  print("\nfigure                     seconds  status")
  for name, result in results.items():
    print(f"{name:<26} {result['seconds']:7.1f}  "
          f"{'ok' if result['ok'] else 'FAILED'}")
  failed = [n for n, r in results.items() if not r["ok"]]
  if failed:
    print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
