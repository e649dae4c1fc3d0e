"""launch.py end to end, in a subprocess, as a user runs it."""

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RING = os.path.join("experiments", "configs", "ring.py")
FASHION = os.path.join("experiments", "configs", "fashion_mnist_mlp.py")
GAUSSIAN_1D = os.path.join("experiments", "configs", "gaussian_1d.py")
TINY = [
    "--config.model.generator_widths=(8,8)",
    "--config.model.discriminator_widths=(8,8)",
    "--config.train.batch_size=8",
    "--config.train.steps=4",
    "--config.train.steps_per_call=2",
    "--config.train.log_every=2",
    "--config.train.checkpoint_every=2",
    "--config.train.sample_every=2",
    "--config.eval.num_samples=200",
]


def launch(*args, timeout=240):
  env = dict(os.environ)
  # 4 fake CPU devices as in conftest.py; faster compiles (same results).
  env["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=4 "
                      "--xla_backend_optimization_level=0")
  env["JAX_PLATFORMS"] = "cpu"
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT,
                        env=env, capture_output=True, text=True,
                        timeout=timeout, check=False)


def test_tiny_ring_run_writes_everything(tmp_path):
  workdir = str(tmp_path / "ring")
  result = launch("--config", RING, "--workdir", workdir, *TINY)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Outputs in {workdir}" in result.stdout
  assert "step 4/4 |" in result.stderr  # the progress line
  assert "steps/s" in result.stderr and "ETA" in result.stderr
  for name in ("config.json", "metrics.jsonl", "summary.json"):
    assert os.path.isfile(os.path.join(workdir, name)), name
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2",
                                                                       "4"]
  assert len(glob.glob(os.path.join(workdir, "samples", "step_*.png"))) == 2
  assert glob.glob(os.path.join(workdir, "tensorboard", "events.*"))
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["train"]["steps"] == 4
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  assert summary["step"] == 4 and summary["num_devices"] == 4
  assert 0 <= summary["evaluation"]["modes"] <= 8


@pytest.mark.parametrize("args, words", [
    (["--config", RING, "--config.train.stepz=3"],
     ["config.train.stepz", "not a known field", "steps"]),
    (["--config", RING, "--config.loss.name=minimax"],
     ["config.loss.name", "non_saturating", "wasserstein"]),
    (["--config", RING, "--config.train.batch_size=6"],
     ["config.train.batch_size", "divisible", "(4)"]),
    (["--config", FASHION, "--config.data.data_dir=/nonexistent/idx"],
     ["/nonexistent/idx", "not found"]),
    (["--config", os.path.join("experiments", "configs", "nope.py")],
     ["cannot load --config", "nope.py"]),
    (["--config", GAUSSIAN_1D, "--parallel=2"],
     ["--parallel applies only with --sweep"]),
    (["--config", RING, "--num_processes=2"],
     ["--coordinator_address, --num_processes and --process_id go together"]),
    (["--config", GAUSSIAN_1D, "--sweep", "--distributed"],
     ["--sweep runs its variants as separate one-process runs"]),
], ids=["unknown_field", "bad_loss", "batch_vs_devices", "missing_data",
        "missing_config_file", "parallel_without_sweep",
        "partial_multi_process_flags", "sweep_multi_process"])
def test_bad_config_exits_with_message(tmp_path, args, words):
  result = launch(*args, "--workdir", str(tmp_path / "run"))
  assert result.returncode != 0
  for word in words:
    assert word in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "run")


SWEEP_CONFIG = """
from gan_jax import config as config_lib

def get_config(arg):
  config = config_lib.from_file({gaussian!r})
  config.train.steps = int(arg)
  return config
"""


@pytest.mark.parametrize("sweep, words", [
    ("", ["cfg.py defines no sweep(arg=None)", "without --sweep"]),
    ("""
def sweep(arg):
  yield {"seed": 0}
  yield {"loss.name": "minimax", "train.steps": int(arg) + 1}
""", ["invalid sweep", "variant 1", "'train.steps': 8",
      "config.loss.name = 'minimax'", "non_saturating"]),
], ids=["no_sweep_function", "bad_variant"])
def test_bad_sweep_exits_before_running_anything(tmp_path, sweep, words):
  config = tmp_path / "cfg.py"
  config.write_text(SWEEP_CONFIG.format(
      gaussian=os.path.join(ROOT, GAUSSIAN_1D)) + sweep)
  # ':7' reaches both get_config and sweep (int(None) would fail).
  result = launch("--config", f"{config}:7", "--sweep", "--workdir",
                  str(tmp_path / "run"))
  assert result.returncode != 0
  for word in words:
    assert word in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "run")
