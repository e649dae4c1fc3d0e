"""A sweep's results: results.csv and results.md, one row per group of seeds.

Rows group the variants that differ only in `seed`; each holds the group's
overrides, run counts, and mean / std / stderr / n of every numeric field of
the finished runs' summary.json. results.csv has all of them, for figure
scripts; results.md, for people, shows only the headline metrics
(`headline_metrics()`: the evaluators' columns) as mean ± standard error, then each run's values.
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
    finished), summary (the dict of summary.json or None), error (the
    failed attempt's message or None) and log (the failed attempt's log as
    failed.json names it, relative to the run's folder or absolute; None if
    it names none).
  """
  runs = []
  for record in files.read_sweep_file(sweep_dir):
    name = record["name"]
    workdir = os.path.join(sweep_dir, name)
    status = files.variant_status(sweep_dir, name, record["steps"])
    summary = files.read_json(os.path.join(workdir, files.SUMMARY_FILE))
    failed = files.read_json(os.path.join(workdir, files.FAILED_FILE))
    if status != "failed" or not isinstance(failed, dict):
      failed = {}
    runs.append(dict(
        name=name,
        overrides=record["overrides"],
        status=status,
        metrics=(dict(_flatten(summary)) if status == "finished" else {}),
        summary=summary if isinstance(summary, dict) else None,
        error=failed.get("error"), log=failed.get("log")))
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


def headline_metrics() -> tuple[tuple[str, str], ...]:
  """(summary field, label) of results.md's columns: the evaluators' own.

  Each registered evaluator lists its `columns`; a sweep shows those its
  runs report (a toy sweep no FID column; results.csv has everything).
  """
  # Imported here: the evaluators import jax; the tables need it only here.
  from gan_jax import registry  # pylint: disable=g-import-not-at-top
  columns = {}
  for evaluator in registry.EVALUATORS.components():
    for key, label in getattr(evaluator.target, "columns", ()):
      columns.setdefault(f"evaluation.{key}", label)
  return tuple(columns.items())


_EVALUATION = "evaluation."
_ERROR_LENGTH = 80  # characters of a failed run's error in the per-run table


def _md_number(value: Optional[float]) -> str:
  return "—" if value is None else f"{value:.4g}"


def _md_cell(text: str) -> str:
  """A table cell: one line, and `|` escaped so it does not end the cell."""
  return " ".join(str(text).split()).replace("|", "\\|")


def _md_line(cells: list[str]) -> str:
  return "| " + " | ".join(_md_cell(c) for c in cells) + " |\n"


def _md_header(labels: list[str]) -> str:
  return _md_line(labels) + "|" + "---|" * len(labels) + "\n"


def _headline(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
  """(metric, label) of the columns: the headline metrics the runs report.

  A summary with none of them (another kind of evaluation) falls back to
  every `evaluation.*` number, so that the table still shows results.
  """
  reported = []
  for run in runs:
    reported += [name for name in run["metrics"] if name not in reported]
  columns = [(name, label) for name, label in headline_metrics()
             if name in reported]
  if not columns:
    columns = [(name, name[len(_EVALUATION):]) for name in reported
               if name.startswith(_EVALUATION)]
  num_modes = {run["metrics"].get("evaluation.num_modes") for run in runs
               if run["status"] == "finished"}
  if len(num_modes) == 1 and None not in num_modes:
    # "modes (of 8)": a count means little without the total.
    columns = [(name, f"{label} (of {num_modes.pop():.0f})")
               if name == "evaluation.modes" else (name, label)
               for name, label in columns]
  return columns


def _varying_keys(rows: list[dict[str, Any]],
                  keys: list[str]) -> list[str]:
  """The override fields whose value (or absence) differs between rows."""
  return [k for k in keys
          if len({_csv_cell(row[k]) if row[k] is not None else None
                  for row in rows}) > 1]


def _overrides_text(overrides: dict[str, Any]) -> str:
  return ", ".join(f"{k}={_csv_cell(v)}" for k, v in overrides.items()
                   if v is not None) or "(base)"


def _mean_stderr(row: dict[str, Any], name: str) -> str:
  """'mean ± s.e.' over the row's seeds; the mean alone below two seeds."""
  mean, stderr, n = (row[f"{name}:mean"], row[f"{name}:stderr"],
                     row[f"{name}:n"])
  cell = _md_number(mean)
  if stderr is not None:
    cell += f" ± {_md_number(stderr)}"
  if 0 < n < row["finished"]:
    cell += f" (n={n})"
  return cell


def _main_table(rows: list[dict[str, Any]], keys: list[str],
                headline: list[tuple[str, str]]) -> str:
  """One line per group of seeds: its overrides, counts, headline numbers."""
  varying = _varying_keys(rows, keys)
  show_failed = any(row["failed"] for row in rows)
  labels = ([f"`{k}`" for k in varying] or ["overrides"]) + ["n"]
  labels += ["failed"] * show_failed + [label for _, label in headline]
  text = _md_header(labels)
  for row in rows:
    if varying:
      cells = [_csv_cell(row[k]) if row[k] is not None else "(base)"
               for k in varying]
    else:
      cells = [_overrides_text({k: row[k] for k in keys})]
    cells.append(f"{row['finished']}/{row['runs']}")
    cells += [str(row["failed"])] * show_failed
    cells += [_mean_stderr(row, name) for name, _ in headline]
    text += _md_line(cells)
  return text


def _run_status(run: dict[str, Any]) -> str:
  if run["status"] != "failed" or not run["error"]:
    return run["status"]
  error = " ".join(str(run["error"]).split())
  if len(error) > _ERROR_LENGTH:
    error = error[:_ERROR_LENGTH - 1] + "…"
  return f"failed: {error}"


def _per_run_table(runs: list[dict[str, Any]],
                   headline: list[tuple[str, str]]) -> str:
  """One line per run (seed included), so outliers among seeds show."""
  text = _md_header(["run", "status"] + [label for _, label in headline])
  for run in runs:
    cells = [f"`{run['name']}`", _run_status(run)]
    cells += [_md_number(run["metrics"].get(name)) for name, _ in headline]
    text += _md_line(cells)
  return text


def _common_overrides(rows: list[dict[str, Any]], keys: list[str]) -> str:
  """The overrides every row shares, which the table does not repeat."""
  if len(rows) < 2:
    return ""
  common = [k for k in keys if k not in _varying_keys(rows, keys)
            and rows[0][k] is not None]
  if not common:
    return ""
  shared = ", ".join(f"`{k}={_csv_cell(rows[0][k])}`" for k in common)
  return f"Every run overrides {shared}.\n\n"


def _log_note(run: dict[str, Any]) -> str:
  """' (log: path)' from failed.json, which says where the launch kept it."""
  if not run["log"]:
    return ""
  path = str(run["log"])
  if not os.path.isabs(path):
    path = f"{run['name']}/{path}"
  return f" (log: {path})"


def _markdown(sweep_dir: str, rows: list[dict[str, Any]],
              runs: list[dict[str, Any]]) -> str:
  """results.md: the headline numbers of each group of seeds, then each run.

  Only the metrics a person compares variants by (`headline_metrics()`: the evaluators' columns), as
  mean ± standard error, because a table of every number in summary.json is
  too wide to read; results.csv keeps them all.
  """
  columns = list(rows[0]) if rows else []
  keys = [c for c in columns if c not in COUNT_COLUMNS and ":" not in c]
  headline = _headline(runs)
  counts = collections.Counter(run["status"] for run in runs)
  out = io.StringIO()
  out.write(f"# Sweep results: {os.path.basename(os.path.abspath(sweep_dir))}"
            f"\n\n")
  out.write(f"{len(runs)} runs: {counts['finished']} finished, "
            f"{counts['failed']} failed, {counts['unfinished']} unfinished. "
            f"Each cell: mean ± standard error over the seeds of the row "
            f"(the finished runs that differ only in "
            f"`{variants_lib.SEED_FIELD}`; standard error = sample std / √n, "
            f"the mean alone for one seed); n = finished / all runs of the "
            f"row.\n\n")
  out.write(_common_overrides(rows, keys))
  out.write(_main_table(rows, keys, headline))
  out.write("\n## Runs\n\n")
  out.write(_per_run_table(runs, headline))
  failed = [run for run in runs if run["status"] == "failed"]
  if failed:
    out.write("\n## Failed runs\n\n")
    for run in failed:
      out.write(f"- `{run['name']}`: {run['error']}{_log_note(run)}\n")
  out.write(f"\n{files.RESULTS_CSV} has every metric of summary.json for "
            f"each row: mean, std, stderr and n.\n")
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
