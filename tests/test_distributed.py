"""Multi-process training: 2 local processes x 2 CPU devices == 1 x 4.

Two `launch.py` processes joined by `jax.distributed` (a coordinator on a
free localhost port; collectives over Gloo) train a tiny image GAN into one
shared workdir; one process with 4 devices trains the same config into
another. Checked: the same final parameters and metrics, each process loaded
only its half of the data, and the run's files were written once (one set of
checkpoints, one metrics.jsonl row per log step).

"The same" is to float32 rounding, not bit for bit: every device computes the
same per-device function on the same examples, but the gradient all-reduce
(lax.pmean) adds the 4 devices' gradients in a different order across two
processes (Gloo: within each process, then between them) than XLA's
in-process CPU all-reduce does, and float addition is not associative. The
last bits of the mean gradient differ (observed: relative 6e-7 after 4
steps); a wrong data shard or a missing all-reduce changes parameters by
about the learning rate per step (1e-4 here), far above the tolerance.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import distributed
from gan_jax import train

from helpers import ROOT, write_idx_dataset

FASHION = os.path.join("experiments", "configs", "fashion_mnist_mlp.py")
TIMEOUT_SEC = 150  # a hang (e.g. a process waiting for its peer) fails
NUM_TRAIN = 64  # 16 images per device


def _args(data_dir, workdir):
  return [
      "launch.py", "--config", FASHION, "--workdir", workdir,
      f"--config.data.data_dir={data_dir}",
      "--config.model.generator_widths=(8,)",
      "--config.model.discriminator_widths=(8,)",
      "--config.model.latent_dim=4",
      "--config.train.batch_size=8",
      "--config.train.steps=4",
      "--config.train.steps_per_call=2",
      "--config.train.log_every=2",
      "--config.train.checkpoint_every=2",
      "--config.train.sample_every=0",
      "--config.eval.parzen=False",
      "--config.eval.features=False",
      "--config.eval.num_sample_images=4",
      "--config.eval.image_num_samples=16",
  ]


def _env(num_devices):
  env = dict(os.environ)
  env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={num_devices} "
                      "--xla_backend_optimization_level=0")
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(args, num_devices):
  return subprocess.Popen([sys.executable, *args], cwd=ROOT,
                          env=_env(num_devices), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(processes):
  """Waits for all; kills all on a timeout. Returns [(rc, stdout, stderr)]."""
  results = []
  try:
    for process in processes:
      out, err = process.communicate(timeout=TIMEOUT_SEC)
      results.append((process.returncode, out, err))
  except subprocess.TimeoutExpired:
    for process in processes:
      process.kill()
    outputs = [p.communicate() for p in processes]
    pytest.fail(f"multi-process run hung for {TIMEOUT_SEC} s; stderr tails: "
                + " ||| ".join(err[-2000:] for _, err in outputs))
  return results


def _final_state(workdir):
  return train.latest_state(workdir)


@pytest.mark.slow
def test_two_processes_equal_one_process_with_as_many_devices(tmp_path):
  data_dir = str(tmp_path / "idx")
  write_idx_dataset(data_dir, num_train=NUM_TRAIN, num_test=8)
  multi_dir = str(tmp_path / "multi")
  single_dir = str(tmp_path / "single")
  port = _free_port()
  # All three at once: the two halves must run together anyway, and the
  # reference needs no coordinator.
  processes = [
      _start(_args(data_dir, multi_dir) + [
          f"--coordinator_address=localhost:{port}", "--num_processes=2",
          f"--process_id={i}", "--distributed_timeout=60"], 2)
      for i in range(2)
  ] + [_start(_args(data_dir, single_dir), 4)]
  results = _finish(processes)
  for rc, _, err in results:
    assert rc == 0, err[-3000:]

  # Each process loaded its own half of the 64 images.
  for i, (_, _, err) in enumerate(results[:2]):
    assert (f"Process {i} of 2 loads examples [{32 * i}, {32 * (i + 1)}) "
            in err), err[-3000:]
  assert "Process 0 of 1 loads examples [0, 64)" in results[2][2]

  multi_step, multi = _final_state(multi_dir)
  single_step, single = _final_state(single_dir)
  assert multi_step == single_step == 4
  leaves_multi, tree_multi = jax.tree.flatten(multi)
  leaves_single, tree_single = jax.tree.flatten(single)
  assert tree_multi == tree_single
  for a, b in zip(leaves_multi, leaves_single):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4,
                               atol=1e-7)
  assert int(multi.step) == 4

  # Written once: the checkpoints, and one metrics row per log step.
  assert sorted(os.listdir(os.path.join(multi_dir, train.CHECKPOINT_DIR))) == (
      sorted(os.listdir(os.path.join(single_dir, train.CHECKPOINT_DIR))))
  with open(os.path.join(multi_dir, train.METRICS_FILE)) as f:
    multi_rows = [json.loads(line) for line in f]
  with open(os.path.join(single_dir, train.METRICS_FILE)) as f:
    single_rows = [json.loads(line) for line in f]
  assert [r["step"] for r in multi_rows] == [2, 4]
  assert len(single_rows) == 2
  for a, b in zip(multi_rows, single_rows):
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
      assert a[name] == pytest.approx(b[name], rel=1e-5), name
  assert sorted(os.listdir(multi_dir)) == sorted(os.listdir(single_dir))
  with open(os.path.join(multi_dir, train.SUMMARY_FILE)) as f:
    assert json.load(f)["num_devices"] == 4


@pytest.mark.parametrize("settings, words", [
    (("localhost:1234", 0, -1), ["go together"]),
    (("localhost", 2, 0), ["host:port"]),
    (("localhost:1234", 2, 2), ["--process_id=2", "[0, 2)"]),
    (("", 2, 0), ["go together"]),
])
def test_bad_settings_are_named(settings, words):
  with pytest.raises(distributed.DistributedError) as error:
    distributed.check_settings(*settings)
  for word in words:
    assert word in str(error.value)


def test_one_process_needs_no_settings():
  assert not distributed.check_settings()
  assert not distributed.initialize()  # nothing to start
  assert distributed.is_main_process()
  distributed.barrier("no-op with one process")
  assert "process 0 of 1" in distributed.describe()
