"""A sweep's results: results.csv and results.md, one row per group of seeds.

Rows group the variants that differ only in `seed`; each holds the group's
overrides, run counts, and mean / std / stderr / n of every numeric field of
the finished runs' summary.json.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import math
import numbers
import os
from typing import Any, Iterable, Optional

import numpy as np

from gan_jax.sweep import files
from gan_jax.sweep import variants as variants_lib

# Columns of results.csv besides the override fields and metric statistics.
COUNT_COLUMNS = ("runs", "finished", "failed", "unfinished")


def _flatten(tree: dict[str, Any], prefix: str = "") -> Iterable[tuple]:
  """(dotted name, float) for every numeric leaf; bools and None skipped."""
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      yield from _flatten(value, name + ".")
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
      yield name, float(value)


def _metric_order(name: str) -> int:
  # The evaluation is what a sweep is for; then the last training metrics;
  # then timings and bookkeeping.
  if name.startswith("evaluation."):
    return 0
  if name.startswith("final_metrics."):
    return 1
  return 2


def load_runs(sweep_dir: str) -> list[dict[str, Any]]:
  """One record per variant of the sweep in `sweep_dir`, in sweep order.

  Returns:
    Dicts with name, overrides, status ('finished' | 'failed' |
    'unfinished'), metrics (dotted name -> float, from summary.json; {} unless
    finished), summary (the dict of summary.json or None) and error (the
    failed attempt's message or None).
  """
  runs = []
  for record in files.read_sweep_file(sweep_dir):
    name = record["name"]
    workdir = os.path.join(sweep_dir, name)
    status = files.variant_status(sweep_dir, name, record["steps"])
    summary = files.read_json(os.path.join(workdir, files.SUMMARY_FILE))
    failed = files.read_json(os.path.join(workdir, files.FAILED_FILE))
    runs.append(dict(
        name=name,
        overrides=record["overrides"],
        status=status,
        metrics=(dict(_flatten(summary)) if status == "finished" else {}),
        summary=summary if isinstance(summary, dict) else None,
        error=(failed.get("error") if status == "failed" and
               isinstance(failed, dict) else None)))
  return runs


def _statistics(values: list[float]) -> dict[str, Any]:
  n = len(values)
  array = np.asarray(values, np.float64)
  std = float(np.std(array, ddof=1)) if n > 1 else None
  return dict(mean=float(np.mean(array)) if n else None, std=std,
              stderr=std / math.sqrt(n) if std is not None else None, n=n)


def aggregate(sweep_dir: str) -> list[dict[str, Any]]:
  """The results table: one row per group of variants that differ in seed only.

  Each row holds the group's overrides (dotted field -> value; a field that
  some group does not override is None there), the counts `runs`,
  `finished`, `failed`, `unfinished`, and for every numeric field of the
  finished runs' summary.json (nested dicts flattened with dots, e.g.
  'evaluation.jsd'): '<field>:mean', '<field>:std' (sample std, ddof=1; None
  for fewer than 2 runs), '<field>:stderr' (std / sqrt(n)) and '<field>:n'
  (runs that report it).
  """
  return _aggregate(load_runs(sweep_dir))


def _aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
  groups = collections.OrderedDict()
  keys = []
  for run in runs:
    group_overrides = {k: v for k, v in run["overrides"].items()
                       if k != variants_lib.SEED_FIELD}
    for key in group_overrides:
      if key not in keys:
        keys.append(key)
    groups.setdefault(variants_lib.canonical(group_overrides),
                      (group_overrides, []))[1].append(run)

  metrics = []
  for run in runs:
    for name in run["metrics"]:
      if name not in metrics:
        metrics.append(name)
  metrics.sort(key=_metric_order)  # stable: first appearance within a kind

  rows = []
  for group_overrides, members in groups.values():
    row = {key: group_overrides.get(key) for key in keys}
    counts = collections.Counter(run["status"] for run in members)
    row.update(runs=len(members), finished=counts["finished"],
               failed=counts["failed"], unfinished=counts["unfinished"])
    for name in metrics:
      values = [run["metrics"][name] for run in members
                if name in run["metrics"]]
      for statistic, value in _statistics(values).items():
        row[f"{name}:{statistic}"] = value
    rows.append(row)
  return rows


def _csv_cell(value: Any) -> str:
  if value is None:
    return ""
  if isinstance(value, str):
    return value
  if isinstance(value, float):
    return repr(value)
  return json.dumps(files.jsonable(value))


def _md_number(value: Optional[float]) -> str:
  return "—" if value is None else f"{value:.4g}"


def _markdown_row(row: dict[str, Any], keys: list[str],
                  metrics: list[str]) -> str:
  """One line of results.md's table: overrides, counts, mean ± std."""
  cells = [_csv_cell(row[k]) if row[k] is not None else "(base)"
           for k in keys]
  cells += [f"{row['finished']}/{row['runs']}", str(row["failed"])]
  for name in metrics:
    mean, std, n = (row[f"{name}:mean"], row[f"{name}:std"],
                    row[f"{name}:n"])
    cell = _md_number(mean)
    if std is not None:
      cell += f" ± {_md_number(std)}"
    if 0 < n < row["finished"]:
      cell += f" (n={n})"
    cells.append(cell)
  return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n"


def _markdown(sweep_dir: str, rows: list[dict[str, Any]],
              runs: list[dict[str, Any]]) -> str:
  """results.md: mean ± std of every metric, one row per group."""
  columns = list(rows[0]) if rows else []
  metrics = [c[:-len(":mean")] for c in columns if c.endswith(":mean")]
  keys = [c for c in columns
          if c not in COUNT_COLUMNS and ":" not in c]
  counts = collections.Counter(run["status"] for run in runs)
  out = io.StringIO()
  out.write(f"# Sweep results: {os.path.basename(os.path.abspath(sweep_dir))}"
            f"\n\n")
  out.write(f"{len(runs)} runs: {counts['finished']} finished, "
            f"{counts['failed']} failed, {counts['unfinished']} unfinished. "
            f"Each cell: mean ± std (sample std) over the finished runs of "
            f"the row, which differ only in `{variants_lib.SEED_FIELD}`; "
            f"n = finished / all runs of the row. results.csv also has the "
            f"standard error (std / √n).\n\n")
  header = keys + ["n", "failed"] + metrics
  out.write("| " + " | ".join(f"`{h}`" if h in keys or h in metrics else h
                               for h in header) + " |\n")
  out.write("|" + "---|" * len(header) + "\n")
  for row in rows:
    out.write(_markdown_row(row, keys, metrics))
  failed = [run for run in runs if run["status"] == "failed"]
  if failed:
    out.write("\n## Failed runs\n\n")
    for run in failed:
      out.write(f"- `{run['name']}`: {run['error']} "
                f"(log: {run['name']}/{files.LOG_FILE})\n")
  return out.getvalue()


def write_results(sweep_dir: str) -> tuple[str, str]:
  """Writes results.csv and results.md from the runs on disk; returns paths.

  Each file is replaced atomically, so two launches writing at once leave
  one complete version.
  """
  runs = load_runs(sweep_dir)
  rows = _aggregate(runs)
  columns = list(rows[0]) if rows else []
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(columns)
  for row in rows:
    writer.writerow([_csv_cell(row[c]) for c in columns])
  csv_path = os.path.join(sweep_dir, files.RESULTS_CSV)
  md_path = os.path.join(sweep_dir, files.RESULTS_MD)
  files.write_atomic(csv_path, out.getvalue())
  files.write_atomic(md_path, _markdown(sweep_dir, rows, runs))
  return csv_path, md_path


def _parse_cell(column: str, text: str) -> Any:
  if text == "":
    return None
  if column in COUNT_COLUMNS or column.endswith(":n"):
    return int(text)
  if ":" in column:
    return float(text)
  try:  # numbers, bools, lists as written by _csv_cell; else a string
    return json.loads(text)
  except ValueError:
    return text


def load_results(sweep_dir: str) -> list[dict[str, Any]]:
  """The rows of `sweep_dir`/results.csv, typed as `aggregate` returns them.

  Override values that are strings but read as JSON (e.g. '1') come back
  parsed; use `aggregate` for exact values.
  """
  with open(os.path.join(sweep_dir, files.RESULTS_CSV), newline="") as f:
    reader = csv.DictReader(f)
    return [{column: _parse_cell(column, text) for column, text in row.items()}
            for row in reader]
