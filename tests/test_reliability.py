"""A training run's lifecycle: determinism, preemption, divergence, damage.

Bitwise comparisons: the same config and seed must give the same bits on CPU
for the final state and for every metrics.jsonl field except the wall-clock
ones (`train.TIMING_FIELDS`), also across an interruption at any step.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax import train

from helpers import ROOT
from test_train import FAST_COMPILE, latest_state, resume_config, shrink

# End-to-end training runs: the second pytest pass (`pytest -m slow`).
pytestmark = pytest.mark.slow


def toy_config():
  """Ring, EMA, BatchNorm; 10 steps in chunks of 4 (log/ckpt every 5)."""
  config = resume_config()
  config.loss.r1_gamma = 0.0  # R1's double backward pass compiles slowly
  config.train.steps = 10
  config.train.steps_per_call = 4
  config.train.log_every = 5
  config.train.checkpoint_every = 5
  return config


def run(config, workdir):
  return train.train_and_evaluate(config, workdir,
                                  compiler_options=FAST_COMPILE)


def metric_lines(workdir):
  """metrics.jsonl rows without the wall-clock fields, as exact JSON text."""
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  return [json.dumps({k: v for k, v in row.items()
                      if k not in train.TIMING_FIELDS}, sort_keys=True)
          for row in rows]


def assert_same_state(workdir_a, workdir_b):
  a, b = latest_state(workdir_a), latest_state(workdir_b)
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)  # bitwise (NaN-free)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
  """toy_config() run without interruption (shared by the tests below)."""
  workdir = str(tmp_path_factory.mktemp("straight") / "run")
  run(toy_config(), workdir)
  return workdir


# ----------------------------------------------------------------------------
# Determinism.
# ----------------------------------------------------------------------------


def test_two_toy_runs_are_bitwise_identical(straight_run, tmp_path):
  again = str(tmp_path / "again")
  run(toy_config(), again)
  lines = metric_lines(straight_run)
  assert [json.loads(x)["step"] for x in lines] == [5, 10]
  assert lines == metric_lines(again)
  assert_same_state(straight_run, again)
  # The comparison can fail: another seed gives other bits.
  other = toy_config()
  other.seed = 1
  run(other, str(tmp_path / "seed1"))
  assert metric_lines(str(tmp_path / "seed1")) != lines


def test_two_image_runs_are_bitwise_identical(idx_dir, tmp_path):
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")),
                  idx_dir)
  config.train.steps = 3
  config.train.log_every = 1
  workdirs = [str(tmp_path / name) for name in ("a", "b")]
  for workdir in workdirs:
    run(config, workdir)
  assert len(metric_lines(workdirs[0])) == 3
  assert metric_lines(workdirs[0]) == metric_lines(workdirs[1])
  assert_same_state(*workdirs)
  np.testing.assert_array_equal(
      train.sample(workdirs[0], 4, compiler_options=FAST_COMPILE),
      train.sample(workdirs[1], 4, compiler_options=FAST_COMPILE))


# ----------------------------------------------------------------------------
# Preemption.
# ----------------------------------------------------------------------------


def signal_after_step(monkeypatch, at_step, signum):
  """Sends `signum` to this process once a compiled call reaches at_step."""
  original = step_lib.DataParallel.run
  sent = []

  def run_then_signal(self, state, dataset, num_steps):
    state, metrics = original(self, state, dataset, num_steps)
    if not sent and int(np.asarray(jax.device_get(state.step))) == at_step:
      sent.append(at_step)
      os.kill(os.getpid(), signum)
    return state, metrics

  monkeypatch.setattr(step_lib.DataParallel, "run", run_then_signal)
  return sent


def test_interrupted_run_resumes_bitwise(straight_run, tmp_path, monkeypatch):
  """SIGINT at step 9 (mid chunk, no log/ckpt step), resume in chunks of 3."""
  workdir = str(tmp_path / "run")
  handler = signal.getsignal(signal.SIGINT)
  sent = signal_after_step(monkeypatch, 9, signal.SIGINT)
  with pytest.raises(train.Preempted) as stop:
    run(toy_config(), workdir)
  assert sent == [9]
  assert signal.getsignal(signal.SIGINT) is handler  # put back
  assert stop.value.signum == signal.SIGINT and stop.value.step == 9
  assert stop.value.checkpoint == os.path.join(
      os.path.abspath(workdir), train.CHECKPOINT_DIR, "9")
  assert "SIGINT at step 9/10" in str(stop.value)
  assert sorted(os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR))) == [
      "5", "9"]
  assert not os.path.exists(os.path.join(workdir, train.SUMMARY_FILE))
  assert metric_lines(workdir) == metric_lines(straight_run)[:1]

  monkeypatch.undo()
  config = toy_config()
  config.train.steps_per_call = 3  # may change on resume; so may chunking
  summary = run(config, workdir)
  assert summary["start_step"] == 9 and summary["step"] == 10
  # Step 10's mean includes steps 6-9, run before the interruption.
  assert metric_lines(workdir) == metric_lines(straight_run)
  assert_same_state(straight_run, workdir)


# The seed WGAN notebook's options (experiments/configs/seed_notebook_wgan.py)
# on the ring: what the resumed state must carry is RMSProp's mean squares
# (from 1, as TF1's) and the clipped critic; uniform z, G on D's z.
SEED_WGAN_OPTIONS = {
    "loss.name": "wasserstein", "loss.r1_gamma": 0.0,
    "loss.weight_clip": 0.1, "train.discriminator_steps": 2,
    "train.generator_noise": "discriminator",
    "model.latent_distribution": "uniform",
    "optimizer.generator.name": "rmsprop",
    "optimizer.discriminator.name": "rmsprop",
    "optimizer.generator.initial_scale": 1.0,
    "optimizer.discriminator.initial_scale": 1.0,
    "optimizer.generator.eps": 1e-10, "optimizer.discriminator.eps": 1e-10,
}


def test_seed_notebook_options_resume_bitwise(tmp_path):
  """10 steps straight == 5 steps, stop, resume to 10: the same bits, with
  weight clipping, RMSProp, uniform z and G on D's z."""
  config = toy_config()
  config.update_from_flattened_dict(SEED_WGAN_OPTIONS)
  straight = str(tmp_path / "straight")
  run(config, straight)
  resumed = str(tmp_path / "resumed")
  config.train.steps = 5
  run(config, resumed)
  config.train.steps = 10
  config.train.steps_per_call = 3
  summary = run(config, resumed)
  assert summary["start_step"] == 5 and summary["step"] == 10
  assert metric_lines(resumed) == metric_lines(straight)
  assert_same_state(straight, resumed)
  # Every critic parameter stayed clipped.
  d_params = jax.tree.leaves(latest_state(resumed).d_params)
  assert max(float(np.max(np.abs(p))) for p in d_params) <= np.float32(0.1)


def launch_command(workdir, steps):
  return [sys.executable, "launch.py", "--config",
          os.path.join("experiments", "configs", "ring.py"),
          "--workdir", workdir,
          "--config.model.generator_widths=(8,8)",
          "--config.model.discriminator_widths=(8,8)",
          "--config.train.batch_size=8", f"--config.train.steps={steps}",
          "--config.train.steps_per_call=1", "--config.train.log_every=1",
          "--config.train.checkpoint_every=1000000",
          "--config.train.sample_every=0", "--config.eval.num_samples=100"]


def launch_env():
  env = dict(os.environ)
  env["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=4 "
                      "--xla_backend_optimization_level=0")
  env["JAX_PLATFORMS"] = "cpu"
  return env


def test_sigterm_to_launch_saves_exits_143_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  metrics = os.path.join(workdir, train.METRICS_FILE)
  process = subprocess.Popen(launch_command(workdir, 10**7), cwd=ROOT,
                             env=launch_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
      if os.path.isfile(metrics) and os.path.getsize(metrics) > 0:
        break
      time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1][-3000:]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == 128 + signal.SIGTERM == 143, stderr[-3000:]
  assert "Traceback" not in stderr
  lines = [line for line in stderr.splitlines()
           if line.startswith("launch.py: stopped by SIGTERM")]
  assert len(lines) == 1, stderr[-3000:]
  steps = sorted(int(s) for s in
                 os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR)))
  assert len(steps) == 1 and steps[0] >= 1
  stopped = steps[0]
  assert f"at step {stopped}/" in lines[0]
  with open(metrics) as f:
    assert [json.loads(line)["step"] for line in f] == list(
        range(1, stopped + 1))

  # The same command resumes (train.steps may change on resume: fewer to go).
  total = stopped + 3
  resumed = subprocess.run(launch_command(workdir, total), cwd=ROOT,
                           env=launch_env(), capture_output=True, text=True,
                           timeout=300, check=False)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"Resumed from {workdir} at step {stopped}" in resumed.stderr
  straight = str(tmp_path / "straight")
  done = subprocess.run(launch_command(straight, total), cwd=ROOT,
                        env=launch_env(), capture_output=True, text=True,
                        timeout=300, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert metric_lines(workdir) == metric_lines(straight)
  assert_same_state(straight, workdir)


# ----------------------------------------------------------------------------
# Divergence.
# ----------------------------------------------------------------------------


def poison(monkeypatch, at_step, *, only_learning_rate=None):
  """G's parameters become NaN after iteration `at_step` (deterministic).

  With only_learning_rate, only updates built with that G learning rate are
  poisoned (a restore with lowered rates then trains on). Returns the G
  learning rates of every update built.
  """
  original = step_lib.make_update
  rates = []

  def make_update(config, *args, **kwargs):
    update = original(config, *args, **kwargs)
    rate = config.optimizer.generator.learning_rate
    rates.append(rate)
    if only_learning_rate is not None and rate != only_learning_rate:
      return update

    def poisoned(state, dataset):
      state, metrics = update(state, dataset)
      bad = state.step == at_step
      g_params = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p),
                              state.g_params)
      return state.replace(g_params=g_params), metrics

    return poisoned

  monkeypatch.setattr(step_lib, "make_update", make_update)
  return rates


def divergence_config():
  """Plain tiny ring (cheaper to compile than toy_config())."""
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "ring.py")))
  config.train.steps = 10
  config.train.steps_per_call = 2
  config.train.log_every = 4
  config.train.checkpoint_every = 2
  return config


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path,
                                                             monkeypatch):
  workdir = str(tmp_path / "run")
  poison(monkeypatch, 5)
  with pytest.raises(train.DivergenceError) as error:
    run(divergence_config(), workdir)
  # G is NaN after step 5: step 6's D loss is the first non-finite metric,
  # found at the checkpoint of step 6, which is therefore not written.
  good = os.path.join(os.path.abspath(workdir), train.CHECKPOINT_DIR, "4")
  assert error.value.step == 6 and error.value.metric == "d_loss"
  assert np.isnan(error.value.value)
  assert error.value.checkpoint == good
  message = str(error.value)
  for words in ("d_loss = nan at step 6", f"last good checkpoint {good} "
                "(step 4) is kept untouched", "on_divergence=restore"):
    assert words in message, message
  assert sorted(os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR))) == [
      "2", "4"]
  state = latest_state(workdir)  # verified against its digest
  assert int(state.step) == 4
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state))
  assert [json.loads(x)["step"] for x in metric_lines(workdir)] == [4]
  assert not os.path.exists(os.path.join(workdir, train.SUMMARY_FILE))


def test_non_finite_parameters_are_found_without_a_bad_metric(tmp_path,
                                                              monkeypatch):
  # NaN after step 8, the log step: its metrics are finite, G is not.
  poison(monkeypatch, 8)
  with pytest.raises(train.DivergenceError,
                     match=r"non-finite values in g_params at step 8") as e:
    run(divergence_config(), str(tmp_path / "run"))
  assert e.value.metric == "g_params" and e.value.step == 8


def test_divergence_restore_lowers_the_learning_rates(tmp_path, monkeypatch):
  workdir = str(tmp_path / "run")
  config = divergence_config()
  config.train.on_divergence = "restore"
  config.train.steps = 8
  rate = config.optimizer.generator.learning_rate
  rates = poison(monkeypatch, 5, only_learning_rate=rate)
  summary = run(config, workdir)
  assert rates == [rate, rate * 0.5]
  assert summary["step"] == 8
  assert summary["divergence"]["restores"] == 1
  assert summary["divergence"]["lr_scale"] == 0.5
  event = summary["divergence"]["events"][0]
  assert (event["step"], event["metric"], event["restored_step"]) == (
      6, "d_loss", 4)
  with open(os.path.join(workdir, train.SUMMARY_FILE)) as f:
    assert json.load(f)["divergence"]["restores"] == 1
  lines = [json.loads(x) for x in metric_lines(workdir)]
  assert [r["step"] for r in lines] == [4, 8]
  assert all(np.isfinite(r[n]) for r in lines for n in step_lib.METRIC_NAMES)

  # The lowered rates are kept on resume (stored with the checkpoints).
  monkeypatch.undo()
  rates = poison(monkeypatch, -1)  # records the rates, poisons nothing
  config.train.steps = 10
  summary = run(config, workdir)
  assert rates == [rate * 0.5]
  assert summary["start_step"] == 8
  assert summary["divergence"]["lr_scale"] == 0.5


def test_divergence_restores_are_limited(tmp_path, monkeypatch):
  config = divergence_config()
  config.train.on_divergence = "restore"
  config.train.max_divergence_restores = 1
  rate = config.optimizer.generator.learning_rate
  rates = poison(monkeypatch, 5)  # at every learning rate
  with pytest.raises(train.DivergenceError,
                     match=r"1 restore\(s\) with lowered learning rates"):
    run(config, str(tmp_path / "run"))
  assert rates == [rate, rate * 0.5]


# ----------------------------------------------------------------------------
# Damaged checkpoints in a run.
# ----------------------------------------------------------------------------


def test_damaged_latest_checkpoint_falls_back_and_resumes(straight_run,
                                                          tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(straight_run, workdir)
  latest = os.path.join(workdir, train.CHECKPOINT_DIR, "10")
  # Every array data file cut in half (as a full disk or a crash of the
  # file system could leave them).
  data_files = glob.glob(os.path.join(latest, "default", "**", "d", "*"),
                         recursive=True)
  assert data_files
  for path in data_files:
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  data = data_files[0]

  # A reader falls back and leaves the damaged checkpoint where it is.
  train.sample(workdir, 2, compiler_options=FAST_COMPILE)
  assert os.path.isdir(latest)

  # Training moves it aside (not deleted), resumes from 5, redoes 6-10.
  summary = run(toy_config(), workdir)
  assert summary["start_step"] == 5
  moved = glob.glob(os.path.join(workdir, "checkpoints_damaged", "10-*"))
  assert len(moved) == 1 and os.path.getsize(
      os.path.join(moved[0], os.path.relpath(data, latest))) > 0
  assert metric_lines(workdir) == metric_lines(straight_run)
  assert_same_state(straight_run, workdir)


def test_no_usable_checkpoint_stops_with_an_error(straight_run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(straight_run, workdir)
  root = os.path.join(workdir, train.CHECKPOINT_DIR)
  for step in ("5", "10"):
    os.remove(os.path.join(root, step, "_CHECKPOINT_METADATA"))
  with pytest.raises(train.WorkdirError, match=r"(?s)no checkpoint in .*"
                     r"can be restored.*_CHECKPOINT_METADATA is missing.*"
                     r"Nothing was moved or deleted"):
    run(toy_config(), workdir)
  assert sorted(os.listdir(root)) == ["10", "5"]
  with open(os.path.join(straight_run, train.METRICS_FILE)) as f:
    expected = f.read()
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    assert f.read() == expected  # not trimmed
