"""Re-executes docs/tutorial.ipynb in place, so the docs site shows its outputs.

  python tools/execute_tutorial.py

The documentation site renders the notebook with the outputs stored in it
(mkdocs.yml: mkdocs-jupyter with execute: false), so after editing a cell,
run this and commit the executed notebook. It runs every cell top to bottom
in a fresh kernel (the `python3` of this interpreter, which needs ipykernel:
the `test` extra has it) with the repository root as the working directory,
stops at the first cell that raises, and writes the notebook back only when
all of them ran. tests/test_tutorial.py executes it the same way
(`execute`), and checks that the stored copy is an executed one.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Optional, Sequence

import nbclient
import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def execute(notebook: nbformat.NotebookNode, *, cwd: pathlib.Path = ROOT,
            timeout: int = 600) -> float:
  """Executes `notebook` in place, top to bottom; returns the seconds taken.

  Raises nbclient.exceptions.CellExecutionError on the first cell that
  raises, and CellTimeoutError on one that runs longer than `timeout`.
  """
  client = nbclient.NotebookClient(
      notebook, timeout=timeout, kernel_name="python3",
      resources={"metadata": {"path": str(cwd)}},
      # No per-cell timestamps, and a cell's consecutive prints as one
      # output: re-running changes only what the cells print.
      record_timing=False, coalesce_streams=True)
  start = time.perf_counter()
  client.execute()
  return time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--notebook", default=str(NOTEBOOK),
                      help="the notebook to execute and overwrite")
  parser.add_argument("--timeout", type=int, default=600,
                      help="seconds a cell may run")
  args = parser.parse_args(argv)
  path = pathlib.Path(args.notebook)
  notebook = nbformat.read(path, as_version=4)
  # The kernel imports the gan_jax of this checkout (the notebook also puts
  # the repository root first on its sys.path).
  os.environ["PYTHONPATH"] = os.pathsep.join(
      [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
  seconds = execute(notebook, timeout=args.timeout)
  nbformat.validate(notebook)
  nbformat.write(notebook, path)
  print(f"executed {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
        f" in {seconds:.0f} s", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
