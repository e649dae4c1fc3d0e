"""The cluster path against a live SLURM: sweeps, requeue, a 2-task run.

Every test here submits real jobs (`sbatch` through submitit) and is marked
`slurm` and `slow`. Without a SLURM that answers, they skip with a message
saying how to start one (`tools/local_slurm.sh`, as root); with CI=true a
SLURM that did not come up fails them instead (see conftest.py).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax import train

import test_distributed
from helpers import ROOT, write_idx_dataset

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

RING = os.path.join(ROOT, "experiments", "configs", "ring.py")

TINY_RING = """
from gan_jax import config as config_lib


def get_config(arg=None):
  config = config_lib.from_file({ring!r})
  config.train.steps = {steps}
  config.train.steps_per_call = 100
  config.train.log_every = 100
  config.train.checkpoint_every = {checkpoint_every}
  config.train.sample_every = 0
  config.model.generator_widths = {widths}
  config.model.discriminator_widths = {widths}
  return config


def sweep(arg=None):
  return [{{"seed": seed}} for seed in range(3)]
"""


def write_ring_config(folder, steps=300, checkpoint_every=0,
                      widths=(256, 256, 256)):
  path = os.path.join(folder, "tiny_ring.py")
  with open(path, "w") as f:
    f.write(TINY_RING.format(ring=RING, steps=steps, widths=widths,
                             checkpoint_every=checkpoint_every))
  return path


def env(num_devices=1):
  environment = dict(os.environ, JAX_PLATFORMS="cpu")
  environment["XLA_FLAGS"] = (
      f"--xla_force_host_platform_device_count={num_devices}")
  return environment


def launch(*args, num_devices=1, timeout=600):
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT,
                        env=env(num_devices), capture_output=True, text=True,
                        timeout=timeout, check=False)


def test_three_variant_ring_sweep_on_slurm(tmp_path, slurm_cluster):
  config = write_ring_config(str(tmp_path))
  sweep_dir = str(tmp_path / "sweep")
  start = time.time()
  result = launch("--config", config, "--sweep", "--workdir", sweep_dir,
                  "--launcher=slurm", "--slurm_time=10",
                  f"--slurm_partition={slurm_cluster}")
  seconds = time.time() - start
  assert result.returncode == 0, result.stdout + result.stderr
  assert "3/3 finished, 0 failed, 0 unfinished" in result.stdout
  # One job array: the three jobs are <array>_0, _1, _2.
  ids = sorted(json.load(open(os.path.join(sweep_dir, f"seed={s}",
                                           "job.json")))["job_id"]
               for s in range(3))
  assert len({i.split("_")[0] for i in ids}) == 1, ids
  assert sorted(i.split("_")[1] for i in ids) == ["0", "1", "2"]
  with open(os.path.join(sweep_dir, "results.md")) as f:
    table = f.read()
  assert "| 3/3 |" in table and "high quality %" in table
  print(f"3-variant ring sweep on SLURM: {seconds:.0f} s")
  assert seconds < 300

  # A rerun finds every variant finished and submits nothing.
  again = launch("--config", config, "--sweep", "--workdir", sweep_dir,
                 "--launcher=slurm")
  assert again.returncode == 0, again.stdout + again.stderr
  assert "0 to run" in again.stdout


def _job_id(workdir, timeout=120):
  """The id of the one job `launch.py --launcher=slurm` submitted."""
  deadline = time.time() + timeout
  folder = os.path.join(workdir, "submitit")
  while time.time() < deadline:
    names = os.listdir(folder) if os.path.isdir(folder) else []
    ids = [name for name in names if name.isdigit()]
    if ids:
      return ids[0]
    time.sleep(0.5)
  pytest.fail(f"no job folder appeared in {folder}")


def _wait_for_checkpoint(workdir, process, timeout=300):
  folder = os.path.join(workdir, train.CHECKPOINT_DIR)
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.isdir(folder) and any(n.isdigit() for n in os.listdir(folder)):
      return
    assert process.poll() is None, process.communicate()
    time.sleep(0.5)
  pytest.fail(f"no checkpoint in {folder} after {timeout} s")


REQUEUE_STEPS = 4000


@pytest.fixture(scope="module")
def requeue_run(tmp_path_factory):
  """(config path, workdir of a straight local run of it), shared."""
  folder = str(tmp_path_factory.mktemp("requeue"))
  config = write_ring_config(folder, steps=REQUEUE_STEPS,
                             checkpoint_every=500, widths=(64, 64))
  straight = os.path.join(folder, "straight")
  result = launch("--config", config, "--workdir", straight)
  assert result.returncode == 0, result.stderr
  return config, straight


@pytest.mark.parametrize("how", ["scontrol_requeue", "timeout_signal"])
def test_preempted_job_is_requeued_and_resumes_bitwise(tmp_path, how,
                                                       slurm_cluster,
                                                       requeue_run):
  """`scontrol requeue` (SIGTERM; SLURM requeues) or the time limit's SIGUSR2
  (`scancel --signal=USR2`, as SLURM sends it signal_delay_s before the
  limit: submitit's handler requeues): the job checkpoints, runs again and
  resumes; its final state equals a straight run's, bit for bit."""
  steps = REQUEUE_STEPS
  config, straight = requeue_run
  workdir = str(tmp_path / "requeued")
  process = subprocess.Popen(
      [sys.executable, "launch.py", "--config", config, "--workdir", workdir,
       "--launcher=slurm", "--slurm_time=20",
       f"--slurm_partition={slurm_cluster}"], cwd=ROOT, env=env(),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  job_id = _job_id(workdir)
  _wait_for_checkpoint(workdir, process)
  if how == "scontrol_requeue":
    subprocess.run(["scontrol", "requeue", job_id], check=True)
  else:
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, out + err
  assert f"Done at step {steps}" in out

  log = "".join(open(os.path.join(workdir, "submitit", job_id,
                                  f"{job_id}_0_log.{kind}")).read()
                for kind in ("out", "err"))
  resumed = [int(s) for s in re.findall(r"Resumed from \S+ at step (\d+)",
                                        log)]
  assert len(resumed) == 1 and 0 < resumed[0] < steps, log[-3000:]
  # The preempted attempt checkpointed and said so.
  assert re.search(rf"stopped by SIG(TERM|USR2) at step \d+/{steps}", log), log

  (step_a, state_a), (step_b, state_b) = (train.latest_state(workdir),
                                          train.latest_state(straight))
  assert step_a == step_b == steps
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_two_tasks_on_slurm_equal_one_process(tmp_path, slurm_cluster):
  """`--nodes=1 --tasks_per_node=2`: one job, two jax.distributed processes
  of 2 CPU devices each, set up from SLURM's environment; the result equals
  one process with 4 devices (to float32 rounding, as in test_distributed)."""
  data_dir = str(tmp_path / "idx")
  write_idx_dataset(data_dir, num_train=test_distributed.NUM_TRAIN,
                    num_test=8)
  multi_dir, single_dir = str(tmp_path / "multi"), str(tmp_path / "single")
  multi = launch(*test_distributed._args(data_dir, multi_dir)[1:],
                 "--launcher=slurm", "--nodes=1", "--tasks_per_node=2",
                 f"--slurm_partition={slurm_cluster}", "--slurm_time=10",
                 num_devices=2)
  assert multi.returncode == 0, multi.stdout + multi.stderr
  single = launch(*test_distributed._args(data_dir, single_dir)[1:],
                  num_devices=4)
  assert single.returncode == 0, single.stderr
  job_id = _job_id(multi_dir)
  logs = "".join(open(os.path.join(multi_dir, "submitit", job_id,
                                   f"{job_id}_{task}_log.err")).read()
                 for task in range(2))
  for task in range(2):
    assert f"Process {task} of 2 loads examples" in logs
  (step_m, state_m), (step_s, state_s) = (train.latest_state(multi_dir),
                                          train.latest_state(single_dir))
  assert step_m == step_s == 4
  for a, b in zip(jax.tree.leaves(state_m), jax.tree.leaves(state_s)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4,
                               atol=1e-7)
  with open(os.path.join(multi_dir, train.SUMMARY_FILE)) as f:
    assert json.load(f)["num_devices"] == 4


def test_unknown_partition_exits_2_and_submits_nothing(tmp_path,
                                                       slurm_cluster):
  workdir = str(tmp_path / "w")
  result = launch("--config", RING, "--workdir", workdir, "--launcher=slurm",
                  "--slurm_partition=nosuch", timeout=120)
  assert result.returncode == 2, result.stdout + result.stderr
  assert result.stderr == (
      f"launch.py: config error: --slurm_partition='nosuch' is not a "
      f"partition SLURM knows; it has: {slurm_cluster}\n")
  assert not os.path.exists(workdir)
