"""launch.py end to end, in a subprocess, as a user runs it."""

import glob
import importlib.metadata
import importlib.util
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


CONFIG_ERROR = "launch.py: config error: "
DATA_ERROR = "launch.py: data error: "
WORKDIR_ERROR = "launch.py: workdir error: "


def launch(*args, timeout=240, env=None):
  environ = dict(os.environ)
  # 4 fake CPU devices as in conftest.py; faster compiles (same results).
  environ["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=4 "
                          "--xla_backend_optimization_level=0")
  environ["JAX_PLATFORMS"] = "cpu"
  environ.update(env or {})
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT,
                        env=environ, capture_output=True, text=True,
                        timeout=timeout, check=False)


def snapshot(folder):
  """{relative path: bytes} of every file under folder."""
  files = {}
  for parent, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(parent, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files


@pytest.mark.slow
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
  # JAX's INFO line from probing for a TPU is hidden on CPU.
  assert "Unable to initialize backend" not in result.stderr
  assert ("tensorboard --logdir " + os.path.join(workdir, "tensorboard")
          in result.stdout)

  # The same command again: the run is finished, nothing is written.
  before = snapshot(workdir)
  again = launch("--config", RING, "--workdir", workdir, *TINY)
  assert again.returncode == 0, again.stderr[-3000:]
  assert (f"Done: {workdir} already finished at step 4; nothing changed "
          f"(raise --config.train.steps to continue)") in again.stdout
  assert snapshot(workdir) == before


@pytest.mark.slow
@pytest.mark.parametrize("args, code, words", [
    (["--config", RING, "--config.train.stepz=3"], 2,
     ["config.train.stepz", "not a known field", "steps"]),
    (["--config", RING, "--config.loss.name=minimax"], 2,
     ["config.loss.name", "non_saturating", "wasserstein"]),
    (["--config", RING, "--config.train.batch_size=6"], 2,
     ["config.train.batch_size", "divisible", "(4)"]),
    (["--config", RING, "--config.train.steps=abc"], 2,
     ["--config.train.steps=abc", "'abc'"]),
    (["--config", FASHION, "--config.data.data_dir=/nonexistent/idx"], 1,
     ["/nonexistent/idx", "not found"]),
    (["--config", os.path.join("experiments", "configs", "nope.py")], 2,
     ["cannot load config file", "nope.py"]),
    (["--config", RING, "unexpected"], 2,
     ["unexpected arguments: unexpected"]),
    (["--config", RING, "--no_such_flag"], 2,
     ["Unknown command line flag 'no_such_flag'"]),
    (["--config", GAUSSIAN_1D, "--parallel=2"], 2,
     ["--parallel applies only with --sweep"]),
    (["--config", RING, "--num_processes=2"], 2,
     ["--coordinator_address, --num_processes and --process_id go together"]),
    (["--config", RING, "--distributed", "--num_processes=2",
      "--process_id=0", "--coordinator_address=localhost:1"], 2,
     ["--distributed (auto-detect)", "exclude each other"]),
    (["--config", GAUSSIAN_1D, "--sweep", "--distributed"], 2,
     ["--sweep runs its variants as separate one-process runs"]),
    (["--config", RING, "--launcher=pbs"], 2,
     ["--launcher='pbs' is not known", "local, slurm"]),
    (["--config", RING, "--slurm_time=5", "--nodes=2"], 2,
     ["--slurm_time, --nodes apply only with --launcher=slurm"]),
    (["--config", RING, "--launcher=slurm", "--slurm_time=soon"], 2,
     ["--slurm_time='soon' is not a SLURM time"]),
    (["--config", RING, "--launcher=slurm", "--slurm_additional=qos"], 2,
     ["--slurm_additional='qos'", "key=value"]),
    (["--config", GAUSSIAN_1D, "--sweep", "--launcher=slurm",
      "--parallel=2"], 2, ["--slurm_array_parallelism"]),
    (["--config", GAUSSIAN_1D, "--sweep", "--launcher=slurm",
      "--tasks_per_node=2"], 2, ["one multi-process run", "drop --sweep"]),
    (["--config", GAUSSIAN_1D, "--collect"], 2,
     ["--collect applies only with --sweep"]),
], ids=["unknown_field", "bad_loss", "batch_vs_devices", "wrong_type",
        "missing_data", "missing_config_file", "positional_argument",
        "unknown_flag", "parallel_without_sweep",
        "partial_multi_process_flags", "distributed_and_explicit",
        "sweep_multi_process", "unknown_launcher", "slurm_flags_locally",
        "bad_slurm_time", "bad_slurm_additional", "parallel_on_slurm",
        "multi_process_sweep_on_slurm", "collect_without_sweep"])
def test_bad_config_exits_with_message(tmp_path, args, code, words):
  result = launch(*args, "--workdir", str(tmp_path / "run"))
  assert result.returncode == code, result.stderr
  assert result.stderr.startswith(CONFIG_ERROR if code == 2 else DATA_ERROR
                                  ), result.stderr
  for word in words:
    assert word in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_slurm_launcher_without_sbatch_names_it(tmp_path):
  result = launch("--config", RING, "--workdir", str(tmp_path / "run"),
                  "--launcher=slurm", env={"PATH": str(tmp_path)})
  assert result.returncode == 2, result.stderr
  assert result.stderr == (
      CONFIG_ERROR + "--launcher=slurm needs SLURM's sbatch, which is not on "
      "the PATH (tools/local_slurm.sh starts a one-node SLURM on this "
      "machine)\n")
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_bad_config_exits_before_any_jax_backend(tmp_path):
  """No backend named 'no_such_backend' exists: starting one would fail."""
  result = launch("--config", RING, "--config.loss.name=minimax",
                  "--workdir", str(tmp_path / "run"),
                  env={"JAX_PLATFORMS": "no_such_backend"})
  assert result.returncode == 2, result.stderr
  assert result.stderr.startswith(CONFIG_ERROR + "config.loss.name")
  assert "no_such_backend" not in result.stderr


def _accelerator_plugin_installed():
  return bool(importlib.util.find_spec("jax_plugins") or
              list(importlib.metadata.entry_points(group="jax_plugins")))


@pytest.mark.slow
@pytest.mark.skipif(_accelerator_plugin_installed(),
                    reason="JAX would pick the accelerator, not 4 CPU devices")
def test_no_tpu_probe_line_when_jax_picks_the_platform(tmp_path):
  """JAX_PLATFORMS='' (as a user runs): JAX probes for a TPU and logs at INFO
  'Unable to initialize backend 'tpu'' on every CPU run; launch.py hides it.
  The device-count rule fails after the backend started."""
  result = launch("--config", RING, "--config.train.batch_size=6",
                  "--workdir", str(tmp_path / "run"),
                  env={"JAX_PLATFORMS": ""})
  assert result.returncode == 2, result.stderr
  assert result.stderr.startswith(CONFIG_ERROR + "config.train.batch_size")
  assert "Unable to initialize backend" not in result.stderr


@pytest.mark.parametrize("source, words", [
    ("def get_config(:\n  pass\n", ["SyntaxError", "line 1"]),
    ("def get_config():\n  raise RuntimeError('no GPU today')\n",
     ["RuntimeError: no GPU today"]),
    ("def get_config():\n  raise ValueError('bad widths')\n",
     ["ValueError: bad widths"]),
], ids=["syntax_error", "get_config_raises", "get_config_raises_value_error"])
def test_config_file_that_fails_to_load(tmp_path, source, words):
  config = tmp_path / "broken.py"
  config.write_text(source)
  result = launch("--config", str(config), "--workdir", str(tmp_path / "run"))
  assert result.returncode == 2, result.stderr
  assert result.stderr.startswith(
      f"{CONFIG_ERROR}cannot load config file {config}: "), result.stderr
  for word in words:
    assert word in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("flag", ["--help", "-h", "--helpshort",
                                  "--helpfull"])
def test_help_exits_0(flag):
  result = launch(flag)
  assert result.returncode == 0, result.stderr
  assert "Trains a GAN from a config file" in result.stdout
  assert "--workdir" in result.stdout and "Exit status" in result.stdout


def test_help_lists_the_registered_components_and_plugins():
  result = launch("--plugins=examples/plugins/spiral.py", "--helpshort")
  assert result.returncode == 0, result.stderr
  listing = result.stdout.split("Registered components")[1]
  for line in ("model      config.model: mlp, dcgan",
               "evaluator  config.eval: modes,"):
    assert line in listing
  assert "ring, grid, gaussian_1d, spiral" in listing


def test_a_missing_plugin_is_a_config_error(tmp_path):
  result = launch("--config", RING, "--workdir", str(tmp_path / "run"),
                  "--plugins=examples/plugins/no_such.py")
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip() == (
      f"{CONFIG_ERROR}config.plugins: examples/plugins/no_such.py: "
      "examples/plugins/no_such.py is not a file")
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_a_plugin_data_set_trains_from_the_command_line(tmp_path):
  """--plugins, then its fields are overridable and saved with the run."""
  workdir = str(tmp_path / "run")
  result = launch("--config", RING, "--workdir", workdir, *TINY,
                  "--plugins=examples/plugins/spiral.py",
                  "--config.data.name=spiral", "--config.data.spiral_modes=6")
  assert result.returncode == 0, result.stderr
  assert "num_modes 6" in result.stdout
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert saved["plugins"] == ["examples/plugins/spiral.py"]
  assert saved["data"]["spiral_modes"] == 6


def test_empty_workdir_is_a_workdir_error():
  result = launch("--config", RING, "--workdir", "")
  assert result.returncode == 1, result.stderr
  assert result.stderr.startswith(WORKDIR_ERROR), result.stderr
  assert "Traceback" not in result.stderr


def test_workdir_that_is_a_file_is_a_workdir_error(tmp_path):
  path = tmp_path / "notes.txt"
  path.write_text("my notes")
  result = launch("--config", RING, "--workdir", str(path))
  assert result.returncode == 1, result.stderr
  assert result.stderr.startswith(WORKDIR_ERROR), result.stderr
  assert str(path) in result.stderr and "not a folder" in result.stderr
  assert "Traceback" not in result.stderr
  assert path.read_text() == "my notes"


SWEEP_CONFIG = """
from gan_jax import config as config_lib

def get_config(arg):
  config = config_lib.from_file({gaussian!r})
  config.train.steps = int(arg)
  return config
"""


@pytest.mark.slow
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
  assert result.returncode == 2, result.stderr
  assert result.stderr.startswith(CONFIG_ERROR + "invalid sweep: ")
  for word in words:
    assert word in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "run")


def test_cli_module_imports_no_jax():
  """launch.py's error rewording (gan_jax.cli) loads no jax at import."""
  code = "import sys, gan_jax.cli; print('jax' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                       capture_output=True, text=True, check=True, timeout=120)
  assert out.stdout.strip() == "False"
