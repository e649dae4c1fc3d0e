"""Sweeps: names, expansion checks, the results table, and whole sweeps.

One real sweep runs through launch.py (4 tiny training runs and one that fails
on a corrupt data file, then a rerun); the scheduling cases (parallel
workers, two launches at once, a held or stale lock, a crashed worker) run
with a stub worker that writes a summary without training.
"""

import csv
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import cloudpickle

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import sweep

import sweep_stub
from helpers import CONFIG_FILES, ROOT, write_fake_sweep

if ROOT not in sys.path:
  sys.path.insert(0, ROOT)  # for the `experiments` package
from experiments import presets  # pylint: disable=g-import-not-at-top,wrong-import-position

GAUSSIAN_1D = os.path.join(ROOT, "experiments", "configs", "gaussian_1d.py")


def base_config():
  return config_lib.from_file(GAUSSIAN_1D)


# ----------------------------------------------------------------------------
# Names.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, name", [
    ({}, "default"),
    ({"seed": 3}, "seed=3"),
    ({"seed": 3, "loss.name": "saturating"}, "loss.name=saturating,seed=3"),
    ({"loss.name": "saturating", "seed": 3}, "loss.name=saturating,seed=3"),
    ({"model.generator_widths": (128, 128)}, "model.generator_widths=128x128"),
    ({"optimizer.generator.learning_rate": 1e-4},
     "optimizer.generator.learning_rate=0.0001"),
    ({"train.ema_decay": 0.9995, "loss.r1_gamma": 0.0},
     "loss.r1_gamma=0.0,train.ema_decay=0.9995"),
    ({"data.tfds_download": False}, "data.tfds_download=False"),
], ids=["empty", "seed", "two_keys", "key_order", "tuple", "float",
        "floats", "bool"])
def test_variant_name_is_readable(overrides, name):
  assert sweep.variant_name(overrides) == name


@pytest.mark.parametrize("overrides", [
    {"data.data_dir": "/tmp/some data/x"},
    {"data.tfds_name": "a*b"},
    {"loss.name": "x" * 300},
    {"model.generator_widths": ()},
    {"data.tfds_name": "a,b=c"},
], ids=["path", "star", "long", "empty_tuple", "separators"])
def test_unsafe_or_long_names_are_sanitised_and_hashed(overrides):
  name = sweep.variant_name(overrides)
  assert len(name) <= sweep.MAX_NAME_LENGTH
  assert all(c.isalnum() or c in "._=,+-" for c in name), name
  assert name.count("=") == len(overrides)
  assert len(name.rsplit("-", 1)[-1]) == 8  # the hash suffix
  assert name == sweep.variant_name(dict(overrides))  # deterministic


def test_names_differing_only_in_unsafe_characters_stay_distinct():
  names = {sweep.variant_name({"data.tfds_name": v})
           for v in ("a/b", "a*b", "a b", "a_b", "a,b", "a=b")}
  assert len(names) == 6


# ----------------------------------------------------------------------------
# Expansion.
# ----------------------------------------------------------------------------


def test_expand_applies_overrides_over_the_base_config():
  base = base_config()
  base.train.steps = 7  # as a --config.train.steps=7 on the command line
  base.seed = 9
  variants = sweep.expand(
      base, [{"seed": 0, "loss.name": "saturating"},
             {"config.seed": 1, "optimizer.generator.learning_rate": 1}],
      num_devices=1)
  assert [v.name for v in variants] == [
      "loss.name=saturating,seed=0",
      "optimizer.generator.learning_rate=1.0,seed=1"]
  first, second = (v.config for v in variants)
  assert (first.seed, second.seed) == (0, 1)  # the variant's own wins
  assert first.train.steps == second.train.steps == 7  # shared override kept
  assert first.loss.name == "saturating"
  assert second.loss.name == "non_saturating"
  assert second.optimizer.generator.learning_rate == 1.0
  assert isinstance(variants[1].overrides["optimizer.generator.learning_rate"],
                    float)
  assert base.seed == 9  # not modified


@pytest.mark.parametrize("overrides, words", [
    ([{"seed": 0}, {"train.stepz": 3}],
     ["variant 1", "config.train.stepz", "not a known field",
      "config.train.steps"]),
    ([{"loss.nam": "hinge"}], ["variant 0", "config.loss.nam",
                               "config.loss.name"]),
    ([{"seed.x": 1}], ["config.seed is a value"]),
    ([{"data": "ring"}], ["config.data is a group", "data.name"]),
    ([{"train.steps": "many"}], ["config.train.steps", "wrong type"]),
    ([{"seed": {"a": 1}}], ["config.seed", "must be str, int"]),
    ([{"seed": 0}, {"loss.name": "minimax", "seed": 1}],
     ["variant 1", "'minimax'", "config.loss.name", "non_saturating"]),
    ([{"train.batch_size": 6}], ["variant 0", "config.train.batch_size",
                                 "divisible", "(4)"]),
    ([{"data.name": "fashion_mnist", "data.data_dir": "/nonexistent/idx"}],
     ["variant 0", "/nonexistent/idx", "not found"]),
    ([{"seed": 1, "loss.name": "hinge"}, {"loss.name": "hinge", "seed": 1}],
     ["variant 1", "same run as variant 0"]),
    ([{"train.steps": 5}, {"train.steps": 5.0}], ["wrong type"]),
    ([{"optimizer.generator.learning_rate": 1},
      {"optimizer.generator.learning_rate": 1.0}],
     ["same run as variant 0"]),
    ([], ["no variants"]),
], ids=["unknown_field", "typo_hint", "under_a_value", "group",
        "wrong_type", "not_plain", "invalid_value", "batch_vs_devices",
        "missing_data", "duplicate", "int_field_float", "int_equals_float",
        "empty"])
def test_expand_rejects_bad_sweeps_naming_variant_and_field(overrides, words):
  with pytest.raises(sweep.SweepError) as error:
    sweep.expand(base_config(), overrides, num_devices=4)
  for word in words:
    assert word in str(error.value), str(error.value)


def write_config(folder, body, name="cfg.py"):
  path = os.path.join(folder, name)
  with open(path, "w") as f:
    f.write(textwrap.dedent(body))
  return path


def test_load_sweep_passes_the_config_argument(tmp_path):
  path = write_config(tmp_path, """
      def get_config(arg=None):
        raise AssertionError("not called by load_sweep")

      def sweep(arg=None):
        for seed in range(int(arg or 2)):
          yield {"seed": seed}
      """)
  assert sweep.load_sweep(path) == [{"seed": 0}, {"seed": 1}]
  assert len(sweep.load_sweep(path + ":3")) == 3


@pytest.mark.parametrize("body, words", [
    ("def get_config(arg=None):\n  return None\n",
     ["defines no sweep(arg=None)", "cfg.py", "without --sweep"]),
    ("def sweep(arg=None):\n  return [{'seed': 0}, ('seed', 1)]\n",
     ["variant 1", "must be a dict"]),
], ids=["no_sweep", "not_a_dict"])
def test_load_sweep_errors(tmp_path, body, words):
  path = write_config(tmp_path, body)
  with pytest.raises(sweep.SweepError) as error:
    sweep.load_sweep(path)
  for word in words:
    assert word in str(error.value)


def configs_with_sweeps():
  paths = []
  for path in CONFIG_FILES:
    with open(path) as f:
      if "\ndef sweep(" in f.read():
        paths.append(path)
  return paths


@pytest.mark.parametrize("path", configs_with_sweeps(), ids=os.path.basename)
def test_shipped_sweeps_expand_and_validate(path):
  config = config_lib.from_file(path)
  try:
    variants = sweep.expand(config, sweep.load_sweep(path), num_devices=4)
  except sweep.SweepError as e:
    if isinstance(e.__cause__, data.DataError):
      pytest.skip(f"data not on this machine: {e}")
    raise
  assert len({v.name for v in variants}) == len(variants) > 1
  seeds = {v.config.seed for v in variants}
  if any(sweep.SEED_FIELD in v.overrides for v in variants):
    assert len(seeds) > 1  # seeds are an axis


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_toy_configs_sweep_seeds_and_the_mode_collapse_table(name):
  path = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
  assert sweep.load_sweep(path) == [{"seed": s} for s in range(10)]
  table = sweep.load_sweep(path + ":table")
  axes = ("loss.name", "train.discriminator_steps", "loss.fake_fraction")
  rows = {tuple(v[a] for a in axes) for v in table}
  assert rows == {(loss, k, pi) for loss in ("saturating", "non_saturating")
                  for k in (1, 2) for pi in (0.5, 0.25)}
  assert len(table) == 8 * 10
  # The games: each over the seeds; "objectives" all of them.
  for game in presets.TOY_OBJECTIVES:
    assert sweep.load_sweep(f"{path}:{game}") == [
        {"seed": s} for s in range(10)]
  objectives = sweep.load_sweep(path + ":objectives")
  assert len(objectives) == 10 * len(presets.TOY_OBJECTIVES) == 40
  assert {"loss.name": "saturating", "seed": 3} in objectives
  two_seeds = sweep.load_sweep(path + ":table2")
  assert two_seeds == [v for v in table if v["seed"] < 2]
  for bad in ("table0", "tablex", "sedes"):
    with pytest.raises(sweep.SweepError, match=bad):
      sweep.load_sweep(f"{path}:{bad}")


@pytest.mark.parametrize("name", ["ring", "grid"])
@pytest.mark.parametrize("game", sorted(presets.TOY_OBJECTIVES))
def test_toy_games_change_only_their_own_fields(name, game):
  path = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
  shipped = config_lib.from_file(path)
  changed = config_lib.from_file(path, game)
  overrides = presets.TOY_OBJECTIVES[game]
  # Each override is set and changes its field; nothing else differs.
  expected = config_lib.from_file(path)
  expected.update_from_flattened_dict(overrides)
  assert config_lib.changed_fields(expected, changed) == []
  assert set(config_lib.changed_fields(shipped, changed)) == set(overrides)
  assert overrides or game == "ns_r1"  # the shipped game changes nothing


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_image_configs_sweep_the_two_losses_all_else_equal(model):
  path = os.path.join(ROOT, "experiments", "configs",
                      f"fashion_mnist_{model}.py:losses")
  variants = sweep.load_sweep(path)
  assert variants == [{"loss.name": "saturating"},
                      {"loss.name": "non_saturating"}]
  assert sweep.load_sweep(path.replace(":losses", "")) == variants
  with pytest.raises(sweep.SweepError, match="losses"):
    sweep.load_sweep(path.replace(":losses", ":seeds"))


def test_gaussian_1d_sweep_is_two_losses_times_five_seeds():
  variants = sweep.expand(base_config(), sweep.load_sweep(GAUSSIAN_1D),
                          num_devices=1)
  assert sorted((v.config.loss.name, v.config.seed) for v in variants) == [
      (loss, seed) for loss in ("non_saturating", "saturating")
      for seed in range(5)]


# ----------------------------------------------------------------------------
# The results table, from summaries written by hand.
# ----------------------------------------------------------------------------


def summary(step, jsd, loss, wall):
  return dict(step=step, steps=10, workdir="/x", samples_from="generator",
              evaluation=dict(jsd=jsd, converged=True),
              final_metrics=dict(g_loss=loss), steps_per_sec=None,
              wall_time_sec=wall)


def test_aggregate_groups_seeds_and_matches_numpy(tmp_path):
  sweep_dir = str(tmp_path)
  jsd = {("a", 0): 0.1, ("a", 1): 0.3, ("a", 2): 0.7, ("b", 0): 0.2}
  runs = [({"loss.name": loss, "seed": seed}, "finished",
           summary(10, value, -value, 5.0 + seed))
          for (loss, seed), value in jsd.items()]
  runs += [({"loss.name": "b", "seed": 1}, "failed", None),
           ({"loss.name": "b", "seed": 2}, "unfinished",
            summary(4, 9.0, 9.0, 9.0)),
           ({"loss.name": "c", "seed": 0}, "failed",
            summary(10, 9.0, 9.0, 9.0))]  # failed on resume: not counted
  write_fake_sweep(sweep_dir, runs)
  rows = sweep.aggregate(sweep_dir)
  assert [r["loss.name"] for r in rows] == ["a", "b", "c"]
  a, b, c = rows
  assert "seed" not in a
  assert (a["runs"], a["finished"], a["failed"], a["unfinished"]) == (3, 3,
                                                                      0, 0)
  assert (b["runs"], b["finished"], b["failed"], b["unfinished"]) == (3, 1,
                                                                      1, 1)
  assert (c["finished"], c["failed"], c["evaluation.jsd:n"]) == (0, 1, 0)
  values = np.array([0.1, 0.3, 0.7])
  assert a["evaluation.jsd:mean"] == pytest.approx(values.mean())
  assert a["evaluation.jsd:std"] == pytest.approx(values.std(ddof=1))
  assert a["evaluation.jsd:stderr"] == pytest.approx(values.std(ddof=1) /
                                                     np.sqrt(3))
  assert a["evaluation.jsd:n"] == 3
  assert a["final_metrics.g_loss:mean"] == pytest.approx(-values.mean())
  assert a["wall_time_sec:mean"] == pytest.approx(6.0)
  assert b["evaluation.jsd:mean"] == pytest.approx(0.2)
  assert b["evaluation.jsd:std"] is None and b["evaluation.jsd:n"] == 1
  # Only numeric leaves: no strings, bools or Nones.
  metrics = {k.split(":")[0] for k in a if ":" in k}
  assert metrics == {"evaluation.jsd", "final_metrics.g_loss", "step", "steps",
                     "wall_time_sec"}
  columns = list(a)
  assert columns.index("evaluation.jsd:mean") < columns.index("step:mean")

  csv_path, md_path = sweep.write_results(sweep_dir)
  loaded = sweep.load_results(sweep_dir)
  assert len(loaded) == 3
  for row, back in zip(rows, loaded):
    assert row.keys() == back.keys()
    for key, value in row.items():
      assert back[key] == (pytest.approx(value) if isinstance(value, float)
                           else value), key
  with open(md_path) as f:
    text = f.read()
  assert "7 runs: 4 finished, 2 failed, 1 unfinished" in text
  mean, std = values.mean(), values.std(ddof=1)
  assert f"| a | 3/3 | 0 | {mean:.4g} ± {std / np.sqrt(3):.4g} |" in text
  assert "- `loss.name=b,seed=1`: DataError: boom" in text
  with open(csv_path) as f:
    assert next(csv.reader(f))[:5] == ["loss.name", "runs", "finished",
                                       "failed", "unfinished"]


def test_results_without_any_finished_run(tmp_path):
  write_fake_sweep(str(tmp_path), [({"seed": 0}, "failed", None)])
  rows = sweep.aggregate(str(tmp_path))
  assert rows == [dict(runs=1, finished=0, failed=1, unfinished=0)]
  sweep.write_results(str(tmp_path))
  assert sweep.load_results(str(tmp_path)) == rows


# ----------------------------------------------------------------------------
# Scheduling, with a stub job that does not train (tests/sweep_stub.py).
# ----------------------------------------------------------------------------

cloudpickle.register_pickle_by_value(sweep_stub)  # the jobs need not import it


@pytest.fixture
def runs_path(tmp_path):
  path = tmp_path / "runs.txt"
  path.touch()
  return str(path)


def read_runs(path):
  """name -> [(start time, end time or None)], one per run."""
  runs = {}
  with open(path) as f:
    for line in f:
      name, what, when, _ = line.split()
      if what == "start":
        runs.setdefault(name, []).append([float(when), None])
      else:
        runs[name][-1][1] = float(when)
  return runs


def most_at_once(runs):
  events = sorted((t, delta) for spans in runs.values() for span in spans
                  for t, delta in ((span[0], 1), (span[1], -1)))
  count = peak = 0
  for _, delta in events:
    count += delta
    peak = max(peak, count)
  return peak


def stub_variants(losses=("saturating", "non_saturating"), seeds=(0, 1, 2)):
  return sweep.expand(base_config(), [{"loss.name": loss, "seed": seed}
                                      for loss in losses for seed in seeds],
                      num_devices=1)


def local(parallel=1):
  return sweep.Launcher(name="local", parallel=parallel)


def test_parallel_runs_that_many_at_once_and_survives_crashes(tmp_path,
                                                               runs_path):
  variants = stub_variants(("saturating", "hinge", "least_squares"), (0, 1))
  lines = []
  outcome = sweep.run_sweep(variants, str(tmp_path / "sweep"),
                            launcher=local(2),
                            job=sweep_stub.StubJob(runs_path),
                            poll_interval=0.05, log=lines.append)
  assert sorted(outcome.finished) == sorted(v.name for v in variants[:2])
  assert len(outcome.failed) == 4 and not outcome.unfinished
  runs = read_runs(runs_path)
  assert sorted(runs) == sorted(v.name for v in variants)
  assert all(len(r) == 1 for r in runs.values())  # each ran once
  assert most_at_once(runs) == 2
  assert any("2 running here" in line for line in lines)
  assert lines[-2].startswith("[sweep] 6/6 done (4 failed, 0 running here")

  killed = read_json(tmp_path / "sweep" / "loss.name=hinge,seed=0" /
                     "failed.json")
  assert "ended without a result" in killed["error"]
  assert "out of memory" in killed["error"]
  assert os.path.isfile(killed["log"])  # submitit's log of that job
  failed = read_json(tmp_path / "sweep" / "loss.name=least_squares,seed=0" /
                     "failed.json")
  assert failed["error"] == "ValueError: stub failure"
  job = read_json(tmp_path / "sweep" / "loss.name=least_squares,seed=0" /
                  "job.json")
  with open(job["stdout"]) as f:
    assert "about to fail" in f.read()
  rows = sweep.load_results(str(tmp_path / "sweep"))
  assert [(r["loss.name"], r["finished"], r["failed"]) for r in rows] == [
      ("saturating", 2, 0), ("hinge", 0, 2), ("least_squares", 0, 2)]
  assert rows[0]["evaluation.score:mean"] == pytest.approx(1.0)


def test_a_job_stopped_by_a_signal_is_unfinished_not_failed(tmp_path,
                                                             runs_path):
  variants = stub_variants(("wasserstein",), (0,))
  lines = []
  outcome = sweep.run_sweep(variants, str(tmp_path / "sweep"),
                            launcher=local(),
                            job=sweep_stub.StubJob(runs_path, sleep=0),
                            poll_interval=0.05, log=lines.append)
  assert outcome.unfinished == [variants[0].name] and not outcome.failed
  assert not os.path.exists(tmp_path / "sweep" / variants[0].name /
                            "failed.json")
  assert any("stopped by a signal after saving a checkpoint" in line
             for line in lines)


def test_rerun_skips_finished_and_retries_failed(tmp_path, runs_path):
  variants = stub_variants(("saturating", "least_squares"), (0,))
  sweep_dir = str(tmp_path / "sweep")
  job = sweep_stub.StubJob(runs_path, sleep=0)
  sweep.run_sweep(variants, sweep_dir, launcher=local(), job=job,
                  poll_interval=0.05, log=lambda _: None)
  finished = os.path.join(sweep_dir, variants[0].name, "summary.json")
  before = os.stat(finished).st_mtime_ns
  outcome = sweep.run_sweep(variants, sweep_dir, launcher=local(), job=job,
                            poll_interval=0.05, log=lambda _: None)
  assert os.stat(finished).st_mtime_ns == before
  runs = read_runs(runs_path)
  assert len(runs[variants[0].name]) == 1  # skipped
  assert len(runs[variants[1].name]) == 2  # retried
  assert outcome.failed == [variants[1].name]


LAUNCH_SCRIPT = """
import os, sys, time
import cloudpickle
sys.path.insert(0, {tests!r})
import sweep_stub
cloudpickle.register_pickle_by_value(sweep_stub)
from gan_jax import config as config_lib
from gan_jax import sweep
variants = sweep.expand(
    config_lib.from_file({gaussian!r}),
    [{{"loss.name": loss, "seed": seed}}
     for loss in ("saturating", "non_saturating") for seed in range(4)],
    num_devices=1)
# Start together, so that the two launches overlap.
open(sys.argv[1] + ".ready", "w").close()
while not (os.path.exists({root!r} + "/a.ready") and
           os.path.exists({root!r} + "/b.ready")):
  time.sleep(0.01)
outcome = sweep.run_sweep(variants, {sweep_dir!r},
                          launcher=sweep.Launcher(parallel=2),
                          job=sweep_stub.StubJob({runs!r}, sleep=0.5),
                          poll_interval=0.05)
sys.exit(len(outcome.finished) != 8)
"""


@pytest.mark.slow
def test_two_launches_share_a_sweep_and_run_each_variant_once(tmp_path,
                                                               runs_path):
  sweep_dir = str(tmp_path / "sweep")
  script = LAUNCH_SCRIPT.format(tests=os.path.join(ROOT, "tests"),
                                gaussian=GAUSSIAN_1D, root=str(tmp_path),
                                sweep_dir=sweep_dir, runs=runs_path)
  launches = [subprocess.Popen([sys.executable, "-c", script,
                                str(tmp_path / who)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
              for who in ("a", "b")]
  outputs = [p.communicate(timeout=180) for p in launches]
  for process, (out, err) in zip(launches, outputs):
    assert process.returncode == 0, out + err
  runs = read_runs(runs_path)
  assert len(runs) == 8
  assert all(len(r) == 1 and r[0][1] is not None for r in runs.values())
  # Both launches ran some of the variants, and waited for the other's.
  launch_pids = {read_json(os.path.join(sweep_dir, name, "job.json"))[
      "launch_pid"] for name in runs}
  assert launch_pids == {p.pid for p in launches}
  assert any("in another launch" in out for out, _ in outputs)
  for out, _ in outputs:
    assert "[sweep] 8/8 finished, 0 failed, 0 unfinished" in out
  rows = sweep.load_results(sweep_dir)
  assert [(r["loss.name"], r["finished"]) for r in rows] == [
      ("saturating", 4), ("non_saturating", 4)]
  assert rows[0]["evaluation.score:mean"] == pytest.approx(2.0)
  leftovers = [f for f in os.listdir(sweep_dir) if f.endswith(".tmp")]
  assert not leftovers


@pytest.mark.parametrize("holder", ["run_lock", "live_claim"])
def test_waits_for_a_variant_held_elsewhere_then_takes_it_over(
    tmp_path, runs_path, holder):
  """A held run.lock (a run trains) or a live launch's claim is waited for;
  once its holder dies without finishing, this launch runs the variant."""
  sweep_dir = tmp_path / "sweep"
  variants = stub_variants(("saturating",), (0,))
  workdir = sweep_dir / variants[0].name
  workdir.mkdir(parents=True)
  if holder == "run_lock":
    code = ("import fcntl, os, time\n"
            f"fd = os.open({str(workdir / 'run.lock')!r}, os.O_RDWR | "
            "os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n")
  else:
    code = ("import json, os, socket\n"
            f"json.dump(dict(launcher='local', host=socket.gethostname(), "
            f"launch_pid=os.getpid(), state='queued'), "
            f"open({str(workdir / 'job.json')!r}, 'w'))\n")
  holder_process = subprocess.Popen(
      [sys.executable, "-c", code + "print('held', flush=True)\n"
       "import time; time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
  try:
    assert holder_process.stdout.readline().strip() == "held"
    lines, outcomes = [], []
    thread = threading.Thread(target=lambda: outcomes.append(sweep.run_sweep(
        variants, str(sweep_dir), launcher=local(),
        job=sweep_stub.StubJob(runs_path, sleep=0), poll_interval=0.05,
        log=lines.append)))
    thread.start()
    time.sleep(1.5)
    assert not read_runs(runs_path)  # waited instead of running it twice
    assert any("1 in other launches" in line for line in lines), lines
  finally:
    holder_process.send_signal(signal.SIGKILL)  # a crashed launch
    holder_process.wait()
  thread.join(timeout=60)
  assert not thread.is_alive()
  assert outcomes[0].finished == [variants[0].name]
  assert len(read_runs(runs_path)) == 1


# ----------------------------------------------------------------------------
# A real sweep through launch.py: 2 losses x 2 seeds, plus a corrupt data file.
# ----------------------------------------------------------------------------

TINY_SWEEP_CONFIG = """
from gan_jax import config as config_lib


def get_config(arg=None):
  config = config_lib.from_file({gaussian!r})
  config.model.generator_widths = (8, 8)
  config.model.discriminator_widths = (8, 8)
  config.train.batch_size = 8
  config.train.steps = 4
  config.train.steps_per_call = 2
  config.train.log_every = 2
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  config.eval.num_samples = 200
  config.eval.num_sample_images = 4
  return config


def sweep(arg=None):
  for loss in ("saturating", "non_saturating"):
    for seed in (0, 1):
      yield {{"loss.name": loss, "seed": seed}}
  # The header is fine, so the config validates; the body is cut short, which
  # only reading the data, at run time, finds.
  yield {{"data.name": "fashion_mnist", "data.data_dir": {bad!r}}}
"""



def is_failing(name):
  # data.data_dir=<the bad folder, sanitised>,data.name=fashion_mnist-<hash>
  return (name.startswith("data.data_dir=") and
          ",data.name=fashion_mnist-" in name)


def launch_sweep(config, sweep_dir, cache, *args):
  env = dict(os.environ)
  # One CPU device, fast compiles, and a compilation cache shared by the
  # runs (seeds compile the same functions); results are unchanged.
  env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
  env["JAX_PLATFORMS"] = "cpu"
  env["JAX_COMPILATION_CACHE_DIR"] = cache
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  return subprocess.run(
      [sys.executable, "launch.py", "--config", config, "--sweep",
       "--workdir", sweep_dir, *args], cwd=ROOT, env=env, capture_output=True,
      text=True, timeout=600, check=False)


def snapshot(folder):
  """path -> (mtime_ns, size) of every file under folder."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      stat = os.stat(path)
      files[os.path.relpath(path, folder)] = (stat.st_mtime_ns, stat.st_size)
  return files


def read_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory):
  """The first launch of the tiny sweep, and what it left (copied)."""
  root = str(tmp_path_factory.mktemp("real_sweep"))
  bad = os.path.join(root, "bad_idx")
  os.makedirs(bad)
  with open(os.path.join(bad, "train-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 32, 28, 28) + bytes(100))
  config = write_config(root, TINY_SWEEP_CONFIG.format(gaussian=GAUSSIAN_1D,
                                                       bad=bad), "tiny.py")
  sweep_dir = os.path.join(root, "sweep")
  cache = os.path.join(root, "jax_cache")
  # One at a time, so that later runs reuse the first one's compilations;
  # the rerun below runs two at a time.
  result = launch_sweep(config, sweep_dir, cache)
  names = sorted(os.listdir(sweep_dir))
  summaries = {}
  for name in names:
    path = os.path.join(sweep_dir, name, "summary.json")
    if os.path.isfile(path):
      summaries[name] = read_json(path)
  with open(os.path.join(sweep_dir, "results.md")) as f:
    markdown = f.read()
  return dict(root=root, config=config, sweep_dir=sweep_dir, cache=cache,
              result=result, names=names, summaries=summaries,
              rows=sweep.load_results(sweep_dir), markdown=markdown,
              failed=[read_json(os.path.join(sweep_dir, n, "failed.json"))
                      for n in names if is_failing(n)])


@pytest.mark.slow
def test_real_sweep_runs_every_variant_and_keeps_going(real_sweep):
  result = real_sweep["result"]
  assert result.returncode == 1, result.stdout + result.stderr
  assert "1 of 5 variants failed" in result.stderr
  assert "Traceback" not in result.stdout + result.stderr
  out = result.stdout
  assert "[sweep] 5 variants in" in out
  assert "2 running here" not in out
  assert "[sweep] 5/5 done (1 failed, 0 running here" in out
  expected = [f"loss.name={loss},seed={seed}"
              for loss in ("non_saturating", "saturating") for seed in (0, 1)]
  assert sorted(real_sweep["summaries"]) == expected
  others = [n for n in real_sweep["names"] if n not in expected]
  assert len(others) == 6 and is_failing(others[2])
  assert others[:2] + others[3:] == [".submit.lock", ".submitit",
                                     "results.csv", "results.md",
                                     "sweep.json"]
  for name, summary in real_sweep["summaries"].items():
    assert summary["step"] == summary["steps"] == 4, name
    config = read_json(os.path.join(real_sweep["sweep_dir"], name,
                                    "config.json"))
    assert f"loss.name={config['loss']['name']}" in name
    assert name.endswith(f"seed={config['seed']}")
    job = read_json(os.path.join(real_sweep["sweep_dir"], name, "job.json"))
    assert job["attempt"] == 1 and job["launcher"] == "local"
    with open(job["stderr"]) as f:  # submitit's log of the job
      assert "step 4/4 |" in f.read()


@pytest.mark.slow
def test_real_sweep_marks_the_failed_variant_with_its_error(real_sweep):
  (failed,) = real_sweep["failed"]
  assert failed["error"].startswith("DataError: ")
  assert "IDX body is truncated" in failed["error"]
  assert failed["attempt"] == 1 and failed["job_id"]
  assert os.path.isfile(failed["log"])
  assert "FAILED" in real_sweep["result"].stdout
  assert "IDX body is truncated" in real_sweep["markdown"]


@pytest.mark.slow
def test_real_sweep_table_is_mean_and_std_over_seeds(real_sweep):
  rows = real_sweep["rows"]
  assert [(r["loss.name"], r["data.name"]) for r in rows] == [
      ("saturating", None), ("non_saturating", None),
      (None, "fashion_mnist")]
  assert [(r["runs"], r["finished"], r["failed"]) for r in rows] == [
      (2, 2, 0), (2, 2, 0), (1, 0, 1)]
  metrics = [c[:-len(":mean")] for c in rows[0] if c.endswith(":mean")]
  assert metrics[0] == "evaluation.jsd"
  assert {"final_metrics.d_loss", "wall_time_sec", "evaluation.sample_std"
          } <= set(metrics)
  for row in rows[:2]:
    summaries = [real_sweep["summaries"][f"loss.name={row['loss.name']},"
                                         f"seed={seed}"] for seed in (0, 1)]
    for metric in metrics:
      values = []
      for summary in summaries:
        node = summary
        for part in metric.split("."):
          node = node[part]
        values.append(node)
      values = np.array(values, np.float64)
      assert row[f"{metric}:n"] == 2
      assert row[f"{metric}:mean"] == pytest.approx(values.mean()), metric
      assert row[f"{metric}:std"] == pytest.approx(values.std(ddof=1)), metric
      assert row[f"{metric}:stderr"] == pytest.approx(
          values.std(ddof=1) / np.sqrt(2)), metric
    jsd = row["evaluation.jsd:mean"], row["evaluation.jsd:stderr"]
    assert (f"| {row['loss.name']} | (base) | (base) | 2/2 | 0 | "
            f"{jsd[0]:.4g} ± {jsd[1]:.4g} |") in real_sweep["markdown"]
  assert "5 runs: 4 finished, 1 failed, 0 unfinished" in real_sweep["markdown"]


@pytest.mark.slow
def test_real_sweep_rerun_skips_finished_resumes_and_retries(real_sweep):
  sweep_dir = real_sweep["sweep_dir"]
  finished = ["loss.name=saturating,seed=0", "loss.name=saturating,seed=1",
              "loss.name=non_saturating,seed=0"]
  before = {name: snapshot(os.path.join(sweep_dir, name)) for name in finished}
  # An interrupted run: its final checkpoint is there, its summary is not.
  unfinished = "loss.name=non_saturating,seed=1"
  os.remove(os.path.join(sweep_dir, unfinished, "summary.json"))
  (failing,) = [n for n in real_sweep["names"] if is_failing(n)]
  first_failure = read_json(os.path.join(sweep_dir, failing, "failed.json"))

  result = launch_sweep(real_sweep["config"], sweep_dir, real_sweep["cache"],
                        "--parallel", "2")
  assert result.returncode == 1, result.stdout + result.stderr
  assert ("3 finished (skipped), 2 to run (1 failed before, retried); local "
          "launcher, 2 at a time" in result.stdout)
  assert "2 running here" in result.stdout
  for name in finished:  # not a file touched
    assert snapshot(os.path.join(sweep_dir, name)) == before[name], name
  resumed = read_json(os.path.join(sweep_dir, unfinished, "summary.json"))
  assert resumed["start_step"] == resumed["step"] == 4  # from its checkpoint
  assert read_json(os.path.join(sweep_dir, unfinished, "job.json"))[
      "attempt"] == 2
  failure = read_json(os.path.join(sweep_dir, failing, "failed.json"))
  assert failure["attempt"] == 2 and failure["time"] > first_failure["time"]
  assert "IDX body is truncated" in failure["error"]
  rows = sweep.load_results(sweep_dir)
  assert [(r["runs"], r["finished"], r["failed"]) for r in rows] == [
      (2, 2, 0), (2, 2, 0), (1, 0, 1)]


def start_long_sweep(tmp_path, **popen_args):
  """launch.py on a one-variant sweep of 20,000 ring steps, once it trains.

  Returns the launch (a Popen), the sweep folder and the job's job.json.
  """
  config = write_config(str(tmp_path), LONG_RING.format(ring=os.path.join(
      ROOT, "experiments", "configs", "ring.py")), "long_ring.py")
  sweep_dir = str(tmp_path / "sweep")
  launch = subprocess.Popen(
      [sys.executable, "launch.py", "--config", config, "--sweep",
       "--workdir", sweep_dir], cwd=ROOT, start_new_session=True,
      env=dict(os.environ, JAX_PLATFORMS="cpu"), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True, **popen_args)
  job_file = os.path.join(sweep_dir, "seed=0", "job.json")
  deadline = time.time() + 240
  while time.time() < deadline:
    job = read_json(job_file) if os.path.exists(job_file) else {}
    if "stderr" in job and os.path.exists(job["stderr"]):
      with open(job["stderr"]) as f:
        if "Timed " in f.read():  # training runs
          return launch, sweep_dir, job
    assert launch.poll() is None, launch.communicate()
    time.sleep(0.5)
  launch.kill()
  pytest.fail("the job did not start training")


def assert_stopped_after_checkpoint(sweep_dir, job, signals="INT|TERM"):
  """The job saved a checkpoint and said which signal stopped it; nothing
  of the sweep is left running."""
  with open(job["stdout"]) as f:
    assert re.search(rf"stopped by SIG({signals}) at step \d+/20000",
                     f.read())
  steps = [int(n) for n in os.listdir(
      os.path.join(sweep_dir, "seed=0", "checkpoints")) if n.isdigit()]
  assert steps and 0 < max(steps) < 20000
  time.sleep(1)
  leftover = subprocess.run(["pgrep", "-f", sweep_dir], capture_output=True,
                            text=True, check=False).stdout.split()
  assert not leftover


@pytest.mark.slow
def test_ctrl_c_stops_local_jobs_after_their_checkpoint(tmp_path):
  """A terminal's Ctrl-C (SIGINT to the whole process group) reaches the
  launch, submitit's local controllers and the jobs: the launch exits 130
  with one line, each running job saves a checkpoint first, nothing is left
  running."""
  # As in a terminal: SIGINT not ignored (a background CI shell ignores it,
  # and its children inherit that).
  launch, sweep_dir, job = start_long_sweep(
      tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  os.killpg(launch.pid, signal.SIGINT)
  out, err = launch.communicate(timeout=300)
  assert launch.returncode == 130, out + err
  assert err.splitlines()[-1] == (
      f"launch.py: interrupted: the sweep in {sweep_dir} stopped; re-run the "
      f"same command to resume it")
  # Its own SIGINT, or the launch's SIGTERM.
  assert_stopped_after_checkpoint(sweep_dir, job)


@pytest.mark.slow
def test_sigterm_stops_local_jobs_after_their_checkpoint(tmp_path):
  """SIGTERM to the launch alone (`kill`, a scheduler, a service manager):
  as on Ctrl-C, the launch stops its jobs after their checkpoint and exits
  143 with one line (by default it would die at once, silently)."""
  launch, sweep_dir, job = start_long_sweep(tmp_path)
  launch.send_signal(signal.SIGTERM)
  out, err = launch.communicate(timeout=300)
  assert launch.returncode == 143, out + err
  line = (f"launch.py: interrupted: the sweep in {sweep_dir} stopped; re-run "
          f"the same command to resume it")
  assert [l for l in err.splitlines() if l.startswith("launch.py:")] == [line]
  assert err.splitlines()[-1] == line
  assert "Traceback" not in err
  assert "[sweep] stopped 1 local job(s)" in out
  assert_stopped_after_checkpoint(sweep_dir, job, signals="TERM")


LONG_RING = """
from gan_jax import config as config_lib


def get_config(arg=None):
  config = config_lib.from_file({ring!r})
  config.model.generator_widths = (64, 64)
  config.model.discriminator_widths = (64, 64)
  config.train.steps = 20000
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  return config


def sweep(arg=None):
  return [{{"seed": 0}}]
"""


OLD_MAIN_SWEEP = os.path.join(ROOT, "tests", "data", "old_main_sweep")


@pytest.mark.slow
def test_a_sweep_made_by_the_pre_registry_main_is_finished_and_extends(
    tmp_path):
  """Its variants count as finished; with more steps they resume and go on."""
  sweep_dir = str(tmp_path / "sweep")
  shutil.copytree(OLD_MAIN_SWEEP, sweep_dir)
  config = os.path.join("tests", "data", "old_main_sweep.py")
  cache = str(tmp_path / "cache")
  runs = {name: snapshot(os.path.join(sweep_dir, name))
          for name in ("seed=0", "seed=1")}
  result = launch_sweep(config, sweep_dir, cache)
  assert result.returncode == 0, result.stderr
  assert "2 finished (skipped), 0 to run" in result.stdout + result.stderr
  for name, files in runs.items():
    assert snapshot(os.path.join(sweep_dir, name)) == files, name
  result = launch_sweep(config, sweep_dir, cache, "--config.train.steps=5")
  assert result.returncode == 0, result.stderr
  for name in runs:
    with open(os.path.join(sweep_dir, name, "metrics.jsonl")) as f:
      steps = [json.loads(line)["step"] for line in f]
    assert steps == [1, 2, 3, 4, 5], name
    with open(os.path.join(sweep_dir, name, "summary.json")) as f:
      summary = json.load(f)
    assert summary["step"] == 5 and summary["start_step"] == 3, name
