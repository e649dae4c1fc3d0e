"""gan_jax.train.workdir: one run per workdir, finished runs stay finished,
faults end in one clear error and lose nothing (issue 12 items 5, 6, 10)."""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax import train

from helpers import ROOT, tensorboard_events
from test_train import FAST_COMPILE, latest_state, shrink

# End-to-end training runs: the second pytest pass (`pytest -m slow`).
pytestmark = pytest.mark.slow


def tiny_config(steps=4):
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "ring.py")))
  config.loss.r1_gamma = 0.0
  config.train.ema_decay = 0.9
  config.train.steps = steps
  config.train.steps_per_call = 2
  config.train.log_every = 2
  config.train.checkpoint_every = 2
  return config


def run(config, workdir):
  return train.train_and_evaluate(config, workdir,
                                  compiler_options=FAST_COMPILE)


def snapshot(folder):
  """Every file's and folder's relative path -> content digest (or 'dir')."""
  if not os.path.exists(folder):
    return None
  if os.path.isfile(folder):
    with open(folder, "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()
  found = {}
  for root, dirs, files in os.walk(folder):
    for name in dirs:
      found[os.path.relpath(os.path.join(root, name), folder)] = "dir"
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        found[os.path.relpath(path, folder)] = hashlib.sha256(
            f.read()).hexdigest()
  return found


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("finished") / "run")
  run(tiny_config(), workdir)
  return workdir


# ----------------------------------------------------------------------------
# A finished run stays finished (item 5).
# ----------------------------------------------------------------------------


def test_relaunching_a_finished_run_changes_no_file(finished_run):
  before = snapshot(finished_run)
  assert train.LOCK_FILE not in before  # released when the run ended
  summary = run(tiny_config(), finished_run)
  assert summary["already_finished"] is True and summary["step"] == 4
  assert snapshot(finished_run) == before


def test_raising_steps_continues_and_timings_add_up(finished_run, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished_run, workdir)
  with open(os.path.join(workdir, train.SUMMARY_FILE)) as f:
    first = json.load(f)
  summary = run(tiny_config(steps=6), workdir)
  assert "already_finished" not in summary
  assert summary["start_step"] == 4 and summary["step"] == 6
  for field in ("compile_time_sec", "train_time_sec", "wall_time_sec"):
    assert summary[field] > first[field] > 0, field
  # Steps/s: the 4 + 2 steps trained over the summed training time.
  assert summary["steps_per_sec"] == pytest.approx(
      6 / summary["train_time_sec"], rel=1e-9)
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    assert [json.loads(line)["step"] for line in f] == [4, 6]
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    assert [json.loads(line)["step"] for line in f] == [2, 4, 6]


# ----------------------------------------------------------------------------
# One run per workdir (item 6).
# ----------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from gan_jax.train import workdir
    folder = workdir.Workdir(sys.argv[1])
    folder.acquire()
    print("held", flush=True)
    time.sleep(600)
""")


@contextlib.contextmanager
def lock_holder(workdir):
  process = subprocess.Popen([sys.executable, "-c", HOLDER, workdir],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    assert process.stdout.readline().strip() == "held"
    yield process
  finally:
    if process.poll() is None:
      process.kill()
    process.wait()


def test_a_held_workdir_is_refused_and_the_lock_dies_with_its_holder(
    tmp_path):
  workdir = str(tmp_path / "run")
  with lock_holder(workdir) as holder:
    before = snapshot(workdir)
    with pytest.raises(train.WorkdirBusy) as error:
      run(tiny_config(), workdir)
    message = str(error.value)
    assert f"pid {holder.pid} on host" in message and workdir in message
    assert snapshot(workdir) == before  # nothing written by the refused run
    holder.send_signal(signal.SIGKILL)  # kill -9: no chance to clean up
    holder.wait()
  # The kernel dropped the lock with the process: no stale lock.
  assert run(tiny_config(), workdir)["step"] == 4


def launch_command(workdir, seed):
  return [sys.executable, "launch.py", "--config",
          os.path.join("experiments", "configs", "ring.py"),
          "--workdir", workdir, f"--config.seed={seed}",
          "--config.model.generator_widths=(8,8)",
          "--config.model.discriminator_widths=(8,8)",
          "--config.train.batch_size=8", "--config.train.steps=40",
          "--config.train.steps_per_call=2", "--config.train.log_every=2",
          "--config.train.checkpoint_every=10",
          "--config.eval.num_samples=200"]


def test_two_launches_on_one_workdir_never_mix(tmp_path):
  """Seeds 0 and 1 together: one trains, the other is refused cleanly."""
  workdir = str(tmp_path / "run")
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_backend_optimization_level=0")
  processes = [subprocess.Popen(launch_command(workdir, seed), cwd=ROOT,
                                env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for seed in (0, 1)]
  outputs = [p.communicate(timeout=300) for p in processes]
  codes = [p.returncode for p in processes]
  assert sorted(codes) == [0, 1], [err[-2000:] for _, err in outputs]
  winner = codes.index(0)
  refused = outputs[1 - winner][1]
  assert "workdir error:" in refused and "Traceback" not in refused
  assert ("in use by another run" in refused or
          "different config" in refused), refused[-2000:]
  with open(os.path.join(workdir, train.CONFIG_FILE)) as f:
    assert json.load(f)["seed"] == winner
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    assert [json.loads(line)["step"] for line in f] == list(range(2, 41, 2))
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    assert [json.loads(line)["step"] for line in f] == [40]
  assert sorted(os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR))) == [
      "20", "30", "40"]


# ----------------------------------------------------------------------------
# Faults end in one error naming the culprit, and nothing is written
# (item 10).
# ----------------------------------------------------------------------------


def _damage_config(workdir, content):
  with open(os.path.join(workdir, train.CONFIG_FILE), "w") as f:
    f.write(content)


@pytest.mark.parametrize("content, words", [
    ('{"seed": 0, "train": {"steps": ', ["config.json", "JSONDecodeError"]),
    ("[1, 2, 3]", ["config.json", "expected a JSON object", "list"]),
    ('{"train": {"steps": "many"}}', ["config.json", "config.train.steps", "'many'"]),
], ids=["cut_short", "not_an_object", "wrong_type"])
def test_damaged_config_json_is_named(finished_run, tmp_path, content, words):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished_run, workdir)
  _damage_config(workdir, content)
  before = snapshot(workdir)
  for call in (lambda: run(tiny_config(), workdir),
               lambda: train.sample(workdir, 2),
               lambda: train.evaluate_workdir(workdir)):
    with pytest.raises(train.WorkdirError) as error:
      call()
    for word in words:
      assert word in str(error.value), str(error.value)
  assert snapshot(workdir) == before


def test_bad_workdir_paths_are_refused(tmp_path):
  path = tmp_path / "a_file"
  path.write_text("a user's file\n")
  with pytest.raises(train.WorkdirError, match="exists and is not a folder"):
    run(tiny_config(), str(path))
  assert path.read_text() == "a user's file\n"
  with pytest.raises(train.WorkdirError, match="workdir is empty"):
    run(tiny_config(), "")


@contextlib.contextmanager
def mounted(kind, folder, options):
  """A tmpfs or read-only bind mount (root only; skips elsewhere)."""
  os.makedirs(folder, exist_ok=True)
  if kind == "bind":
    commands = [["mount", "--bind", folder, folder],
                ["mount", "-o", f"remount,{options},bind", folder]]
  else:
    commands = [["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder]]
  for command in commands:
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
      subprocess.run(["umount", folder], capture_output=True, check=False)
      if os.environ.get("CI") == "true":
        pytest.fail(f"{' '.join(command)}: {result.stderr}")
      pytest.skip(f"cannot mount here ({result.stderr.strip()}); CI runs "
                  f"this as root")
  try:
    yield folder
  finally:
    subprocess.run(["umount", folder], capture_output=True, check=False)


def test_read_only_workdir_is_refused_before_anything(finished_run, tmp_path):
  workdir = str(tmp_path / "ro")
  shutil.copytree(finished_run, workdir)
  before = snapshot(workdir)
  with mounted("bind", workdir, "ro"):
    with pytest.raises(train.WorkdirError,
                       match=r"cannot write in workdir .*ro.*Read-only"):
      run(tiny_config(steps=6), workdir)
  assert snapshot(workdir) == before


def test_disk_full_during_a_checkpoint_keeps_the_earlier_ones(tmp_path):
  """A 3 MB file system: the first checkpoints fit, a later one does not.

  Through launch.py, as a user sees it: one line on stderr and no
  traceback (orbax's threads report the failed write with several); the
  libraries' detail is in the workdir's error.log.
  """
  config = tiny_config(steps=40)
  config.model.generator_widths = (256, 256)  # ~1.1 MB a checkpoint
  config.train.checkpoint_every = 4
  config.train.log_every = 4
  straight = str(tmp_path / "straight")
  run(config, straight)
  config_file = tmp_path / "disk_full_config.py"
  config_file.write_text(textwrap.dedent(f"""\
      import json
      from gan_jax import config as config_lib

      def get_config():
        return config_lib.from_dict(json.loads({config.to_json()!r}))
      """))
  disk = str(tmp_path / "disk")
  workdir = os.path.join(disk, "run")
  # As in this process (tests/conftest.py): the resumed run continues it.
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4 "
             "--xla_backend_optimization_level=0")
  with mounted("tmpfs", disk, "size=3m"):
    failed = subprocess.run(
        [sys.executable, "launch.py", "--config", str(config_file),
         "--workdir", workdir], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600, check=False)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert "Event loop is closed" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines()
              if line.startswith("launch.py:")]
    assert len(errors) == 1, failed.stderr[-3000:]
    message = errors[0]
    assert message.startswith("launch.py: workdir error: ")
    assert workdir in message and "No space left on device" in message
    assert "the checkpoints written before are kept" in message
    log = os.path.join(workdir, train.ERROR_LOG)
    assert f"details in {log}" in message
    with open(log) as f:
      detail = f.read()
    assert "Traceback" in detail and "No space left on device" in detail
    kept = sorted(int(s) for s in os.listdir(
        os.path.join(workdir, train.CHECKPOINT_DIR)) if s.isdigit())
    assert kept and kept[-1] < 40
    subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
    summary = run(config, workdir)  # resumes from the last kept checkpoint
    assert summary["start_step"] == kept[-1] and summary["step"] == 40
    a, b = latest_state(straight), latest_state(workdir)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_out_of_memory_is_a_config_error_and_writes_nothing(tmp_path):
  """A real one: the shipped ring at batch 10^8 asks XLA for ~1.2 TB, which
  the kernel refuses at once (unless it overcommits without limit); then the
  corrected relaunch works in the same workdir."""
  with open("/proc/sys/vm/overcommit_memory") as f:
    if f.read().strip() == "1":
      pytest.skip("vm.overcommit_memory = 1: a 1.2 TB allocation would "
                  "succeed and the kernel's OOM killer end the test run")
  config = config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "ring.py"))
  config.train.batch_size = 100_000_000
  config.train.steps = 1
  workdir = str(tmp_path / "run")
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.train\.batch_size = 100000000 .*more "
                     r"memory.*RESOURCE_EXHAUSTED"):
    run(config, workdir)
  assert not os.path.exists(workdir)
  assert run(tiny_config(), workdir)["step"] == 4


def test_a_cut_metrics_row_is_reported_and_marked(finished_run, tmp_path,
                                                  caplog):
  workdir = str(tmp_path / "run")
  shutil.copytree(finished_run, workdir)
  path = os.path.join(workdir, train.METRICS_FILE)
  with open(path) as f:
    lines = f.readlines()
  lines[0] = lines[0][:len(lines[0]) // 2] + "\n"  # step 2, cut in half
  with open(path, "w") as f:
    f.writelines(lines)
  run(tiny_config(steps=6), workdir)
  assert any("metrics.jsonl line 1 was cut short" in r.getMessage() and
             "step 2 is marked as missing" in r.getMessage()
             for r in caplog.records)
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [2, 4, 6]
  assert "missing" in rows[0] and "d_loss" not in rows[0]
  assert "missing" not in rows[1] and np.isfinite(rows[1]["d_loss"])


# ----------------------------------------------------------------------------
# TensorBoard gets every sample grid, the final one too (item 8).
# ----------------------------------------------------------------------------


def test_every_sample_grid_reaches_tensorboard(tmp_path):
  config = tiny_config(steps=6)
  config.train.sample_every = 2
  workdir = str(tmp_path / "run")
  run(config, workdir)
  events = tensorboard_events(
      os.path.join(workdir, train.TENSORBOARD_DIR))
  images = sorted(e.step for e in events for v in e.summary.value
                  if v.tag == "samples" and v.HasField("image"))
  assert images == [2, 4, 6]  # 6: the final grid, with the evaluation
  scalars = {e.step for e in events for v in e.summary.value
             if v.tag == "train/d_loss"}
  assert scalars == {2, 4, 6}
  pngs = sorted(os.listdir(os.path.join(workdir, train.SAMPLES_DIR)))
  assert pngs == [f"step_{s:08d}.png" for s in (2, 4, 6)]
