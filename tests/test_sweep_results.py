"""results.md and results.csv of made-up sweeps (gan_jax.sweep.results)."""

import csv
import json
import os
import re

import numpy as np
import pytest

from gan_jax import sweep
from gan_jax.sweep import results
from helpers import write_fake_sweep

TOY_LABELS = ["modes (of 8)", "high quality %", "reverse KL"]


def toy_summary(modes, hq, kl, step=10):
  return dict(step=step, steps=10, workdir="/x", samples_from="ema",
              evaluation=dict(modes=modes, high_quality_pct=hq, reverse_kl=kl,
                              num_modes=8),
              final_metrics=dict(g_loss=0.5, d_loss=0.7),
              compile_time_sec=3.0, wall_time_sec=9.0, steps_per_sec=60.0)


def with_evaluation(evaluation):
  return dict(step=10, steps=10, evaluation=evaluation,
              final_metrics=dict(g_loss=0.5), wall_time_sec=9.0)


def render(sweep_dir):
  """(results.md's text, its tables as lists of rows of cells)."""
  _, md_path = sweep.write_results(sweep_dir)
  with open(md_path) as f:
    text = f.read()
  tables, table = [], None
  for line in text.splitlines():
    if not line.startswith("|"):
      table = None
      continue
    if table is None:
      table = []
      tables.append(table)
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    if not all(set(c) <= {"-"} for c in cells):  # the |---| line
      table.append(cells)
  return text, tables


def by_first_cell(table):
  return {row[0]: dict(zip(table[0], row)) for row in table[1:]}


def mean_stderr(values):
  values = np.asarray(values, np.float64)
  stderr = np.std(values, ddof=1) / np.sqrt(len(values))
  return f"{np.mean(values):.4g} ± {stderr:.4g}"


@pytest.fixture
def toy_sweep(tmp_path):
  """Ring sweep: 3 seeds of rpgan, wgan_gp with one failed and one unfinished.

  Returns (sweep_dir, hq values of rpgan's seeds, reverse KLs of theirs).
  """
  hq, kl = [97.36, 94.84, 96.4], [0.0039, 0.0046, 0.0007]
  runs = [({"data.name": "ring", "loss.name": "rpgan", "seed": s}, "finished",
           toy_summary(8 - s % 2, hq[s], kl[s])) for s in range(3)]
  runs += [({"data.name": "ring", "loss.name": "wgan_gp", "seed": 0},
            "finished", toy_summary(6, 90.0, 0.25)),
           ({"data.name": "ring", "loss.name": "wgan_gp", "seed": 1},
            "failed", None),
           ({"data.name": "ring", "loss.name": "wgan_gp", "seed": 2},
            "unfinished", toy_summary(1, 1.0, 1.0, step=4))]
  write_fake_sweep(str(tmp_path), runs)
  return str(tmp_path), hq, kl


def test_main_table_has_one_row_per_group_and_headline_numbers(toy_sweep):
  sweep_dir, hq, kl = toy_sweep
  text, tables = render(sweep_dir)
  main = tables[0]
  # data.name is the same everywhere: said once above, not a column.
  assert main[0] == ["`loss.name`", "n", "failed"] + TOY_LABELS
  assert "Every run overrides `data.name=ring`." in text
  rows = by_first_cell(main)
  assert list(rows) == ["rpgan", "wgan_gp"]
  rpgan, wgan = rows["rpgan"], rows["wgan_gp"]
  assert (rpgan["n"], rpgan["failed"]) == ("3/3", "0")
  assert rpgan["modes (of 8)"] == mean_stderr([8, 7, 8])
  assert rpgan["high quality %"] == mean_stderr(hq)
  assert rpgan["reverse KL"] == mean_stderr(kl)
  # One finished seed: the mean alone, no ± part.
  assert (wgan["n"], wgan["failed"]) == ("1/3", "1")
  assert [wgan[label] for label in TOY_LABELS] == ["6", "90", "0.25"]


def test_toy_tables_leave_out_timings_and_training_metrics(toy_sweep):
  text, tables = render(toy_sweep[0])
  for table in tables:
    header = " ".join(table[0])
    for hidden in ("wall_time", "compile", "steps_per_sec", "g_loss",
                   "num_modes", "step"):
      assert hidden not in header
  assert "mean ± standard error over the seeds of the row" in text
  assert "6 runs: 4 finished, 1 failed, 1 unfinished" in text


def test_per_run_table_has_every_run_and_its_status(toy_sweep):
  sweep_dir, hq, _ = toy_sweep
  _, tables = render(sweep_dir)
  per_run = tables[1]
  assert per_run[0] == ["run", "status"] + TOY_LABELS
  names = [f"`data.name=ring,loss.name={loss},seed={s}`"
           for loss in ("rpgan", "wgan_gp") for s in range(3)]
  rows = by_first_cell(per_run)
  assert list(rows) == names
  for seed in range(3):
    row = rows[names[seed]]
    assert row["status"] == "finished"
    assert row["high quality %"] == f"{hq[seed]:.4g}"
  assert rows[names[3]]["modes (of 8)"] == "6"
  assert rows[names[4]]["status"] == "failed: DataError: boom"
  # The unfinished run's partial summary.json is not a result.
  assert rows[names[5]]["status"] == "unfinished"
  for name in names[4:]:
    assert [rows[name][label] for label in TOY_LABELS] == ["—"] * 3


@pytest.mark.parametrize("log, shown", [
    (None, ""),
    ("sweep.log", " (log: {name}/sweep.log)"),  # relative to the run's folder
    ("/logs/123_0_log.out", " (log: /logs/123_0_log.out)"),
])
def test_failed_runs_section_and_closing_line(toy_sweep, log, shown):
  sweep_dir = toy_sweep[0]
  name = "data.name=ring,loss.name=wgan_gp,seed=1"
  if log is not None:
    with open(os.path.join(sweep_dir, name, "failed.json"), "w") as f:
      json.dump(dict(error="DataError: boom", time=0.0, log=log), f)
  text, _ = render(sweep_dir)
  assert (f"## Failed runs\n\n- `{name}`: DataError: boom"
          f"{shown.format(name=name)}\n") in text
  assert text.rstrip().endswith(
      "results.csv has every metric of summary.json for each row: mean, "
      "std, stderr and n.")


IMAGE_EVALUATION = dict(parzen_ll=-250.0, parzen_ll_stderr=2.0,
                        parzen_sigma=0.2, fid=30.0, precision=0.6,
                        recall=0.4, num_samples=1000, real_fid=1.0,
                        real_parzen_ll=300.0)


@pytest.mark.parametrize("evaluation, labels", [
    (dict(modes=4, high_quality_pct=50.0, reverse_kl=0.1, num_modes=8),
     TOY_LABELS),
    (dict(jsd=0.01, bandwidth=0.1, sample_mean=4.0, sample_std=1.2),
     ["JSD"]),
    (IMAGE_EVALUATION, ["Parzen log-lik.", "FID", "precision", "recall"]),
    (dict(IMAGE_EVALUATION, kid=0.02),
     ["Parzen log-lik.", "FID", "KID", "precision", "recall"]),
    # None of the headline metrics: every evaluation number, in order.
    (dict(score=1.5, other=2.0), ["score", "other"]),
], ids=["toy", "1d", "images", "images_kid", "fallback"])
def test_columns_are_the_headline_metrics_the_runs_report(tmp_path,
                                                          evaluation, labels):
  runs = [({"loss.name": "a", "seed": s}, "finished",
           with_evaluation(dict(evaluation))) for s in range(2)]
  runs.append(({"loss.name": "b", "seed": 0}, "finished",
               with_evaluation(dict(evaluation))))
  write_fake_sweep(str(tmp_path), runs)
  _, (main, per_run) = render(str(tmp_path))
  assert main[0] == ["`loss.name`", "n"] + labels  # no failure: no column
  assert per_run[0] == ["run", "status"] + labels
  assert len(per_run) == 1 + 3


def test_headline_metric_reported_by_some_runs_only(tmp_path):
  runs = [({"seed": 0}, "finished", with_evaluation(dict(fid=10.0))),
          ({"seed": 1}, "finished", with_evaluation(dict(fid=20.0))),
          ({"seed": 2}, "finished",
           with_evaluation(dict(fid=30.0, precision=0.5)))]
  write_fake_sweep(str(tmp_path), runs)
  _, (main, per_run) = render(str(tmp_path))
  # No override varies: one column names the group's overrides.
  assert main == [["overrides", "n", "FID", "precision"],
                  ["(base)", "3/3", mean_stderr([10, 20, 30]), "0.5 (n=1)"]]
  assert [row[3] for row in per_run[1:]] == ["—", "—", "0.5"]


def test_pipes_in_cells_are_escaped(tmp_path):
  runs = [({"model.name": "a|b", "seed": 0}, "finished",
           with_evaluation(dict(jsd=0.1))),
          ({"model.name": "c", "seed": 0}, "failed", None)]
  folders = write_fake_sweep(str(tmp_path), runs)
  error = "ValueError: x | y\n" + "z" * 200
  with open(os.path.join(folders[1], "failed.json"), "w") as f:
    json.dump(dict(error=error, time=0.0), f)
  text, (main, per_run) = render(str(tmp_path))
  assert "| a\\|b | 1/1 | 0 | 0.1 |" in text
  assert [row[0] for row in main[1:]] == ["a\\|b", "c"]
  status = per_run[2][1]
  assert status.startswith("failed: ValueError: x \\| y zzz")
  assert status.endswith("…") and len(status) < 100
  assert all(len(row) == len(table[0]) for table in (main, per_run)
             for row in table)


def test_sweep_without_finished_runs(tmp_path):
  write_fake_sweep(str(tmp_path), [({"seed": 0}, "failed", None),
                                   ({"seed": 1}, "unfinished", None)])
  text, (main, per_run) = render(str(tmp_path))
  assert main == [["overrides", "n", "failed"], ["(base)", "0/2", "1"]]
  assert per_run[1:] == [["`seed=0`", "failed: DataError: boom"],
                         ["`seed=1`", "unfinished"]]
  assert "2 runs: 0 finished, 1 failed, 1 unfinished" in text


def test_results_csv_keeps_every_metric_and_statistic(toy_sweep):
  sweep_dir = toy_sweep[0]
  csv_path, _ = sweep.write_results(sweep_dir)
  with open(csv_path, newline="") as f:
    header = next(csv.reader(f))
  assert header[:6] == ["data.name", "loss.name"] + list(
      results.COUNT_COLUMNS)
  for metric in ("evaluation.high_quality_pct", "evaluation.num_modes",
                 "final_metrics.d_loss", "wall_time_sec", "steps_per_sec"):
    for statistic in ("mean", "std", "stderr", "n"):
      assert f"{metric}:{statistic}" in header
  assert header.index("evaluation.modes:mean") < header.index("step:mean")
  assert sweep.load_results(sweep_dir) == [
      {k: (pytest.approx(v) if isinstance(v, float) else v)
       for k, v in row.items()} for row in sweep.aggregate(sweep_dir)]
