"""experiments/benchmarks: the torch reference is gan_jax's model; the scripts run.

The torch parts are skipped where torch is not installed (it comes with the
`bench` extra, which CI does not install).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)  # for the `experiments` package

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.benchmarks import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import models as model_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _has_torch():
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def _run_script(script, args, tmp_path):
  """Runs a benchmark script in a fresh process on one CPU device."""
  env = dict(os.environ)
  # conftest.py asks for 4 fake devices; the benchmark measures one.
  env["XLA_FLAGS"] = " ".join(
      f for f in env.get("XLA_FLAGS", "").split()
      if not f.startswith("--xla_force_host_platform_device_count"))
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = str(tmp_path / "result.json")
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "benchmarks",
                                    script), *args, f"--out={out}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
      check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(out) as f:
    result = json.load(f)
  with open(out[:-len(".json")] + ".md") as f:
    markdown = f.read()
  return result, markdown


@pytest.mark.parametrize("model,data_shape", [
    ("mlp64", (28, 28, 1)),   # the classic MLP: BatchNorm, LeakyReLU, tanh
    ("dcgan", (32, 32, 1)),   # transposed convolutions, NHWC vs NCHW
    ("ring", (2,)),           # toy MLP, linear output
])
def test_torch_reference_computes_gan_jax_model(model, data_shape):
  """Same parameters in, same G(z) and D logits out (training-mode BN)."""
  torch = pytest.importorskip("torch")
  from experiments.benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  config = common.benchmark_config(model)
  model_config = config.model
  if model == "dcgan":
    # Smaller channels, same layer structure: keeps the test fast.
    model_config.generator_base_features = 8
    model_config.discriminator_base_features = 8
  generator, discriminator = model_lib.make_models(model_config, data_shape)
  latent = model_config.latent_dim
  g_vars = model_lib.init_variables(generator, jax.random.PRNGKey(0),
                                    jnp.zeros((1, latent)))
  d_vars = model_lib.init_variables(discriminator, jax.random.PRNGKey(1),
                                    jnp.zeros((1, *data_shape)))
  g_torch, d_torch = torch_reference.build_models(model_config.to_dict(),
                                                  data_shape)
  torch_reference.load_flax_params(g_torch, d_torch, g_vars["params"],
                                   d_vars["params"])
  z = np.random.default_rng(0).standard_normal((16, latent), np.float32)
  x, _ = generator.apply(g_vars, z, train=True, mutable=["batch_stats"])
  x = np.asarray(x)
  logits, _ = discriminator.apply(d_vars, x, train=True,
                                  mutable=["batch_stats"])
  with torch.no_grad():
    x_torch = g_torch.train()(torch.from_numpy(z)).numpy()
    to_torch_layout = ((0, 3, 1, 2) if len(data_shape) == 3 else (0, 1))
    logits_torch = d_torch.train()(torch.from_numpy(
        np.array(x.transpose(to_torch_layout), order="C"))).numpy()
  if len(data_shape) == 3:
    x_torch = x_torch.transpose(0, 2, 3, 1)
  assert x_torch.shape == x.shape
  np.testing.assert_allclose(x_torch, x, atol=2e-5, rtol=1e-4)
  assert logits_torch.shape == (16,)
  np.testing.assert_allclose(logits_torch, np.asarray(logits), atol=2e-5,
                             rtol=1e-4)
  # Not vacuous: the outputs vary over the batch.
  assert np.std(np.asarray(logits)) > 1e-4


@pytest.mark.parametrize("order", ["algorithm1", "pytorch_gan"])
def test_torch_reference_step_updates_both_players(order):
  torch = pytest.importorskip("torch")
  from experiments.benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  config = common.benchmark_config("ring")
  config.train.batch_size = 32
  spec = common.torch_spec(config)
  gan = torch_reference.TorchGAN(spec, None, order=order)
  before = [p.detach().clone() for p in gan.g_params + gan.d_params]
  ema_before = [e.clone() for e in gan.ema]
  gan.run(2)
  after = gan.g_params + gan.d_params
  assert all(not torch.equal(a, b) for a, b in zip(before, after))
  assert all(not torch.equal(a, b) for a, b in zip(ema_before, gan.ema))
  assert gan.sample_real().shape == (32, 2)


def test_benchmark_configs_are_what_the_docstring_says():
  mlp = common.benchmark_config("mlp256")
  assert mlp.train.batch_size == 256 and mlp.train.ema_decay == 0
  assert mlp.model.generator_widths == (128, 256, 512, 1024)
  assert mlp.optimizer.generator.learning_rate == 2e-4
  assert common.benchmark_config("mlp64").train.batch_size == 64
  ring = common.benchmark_config("ring")
  assert ring.loss.r1_gamma > 0 and ring.train.ema_decay > 0
  dcgan = common.benchmark_config("dcgan")
  assert dcgan.train.steps_per_call == 1 and dcgan.train.ema_decay == 0
  assert dcgan.data.image_size == 32
  assert "ring" in common.shipped_configs()


@pytest.mark.slow
def test_throughput_quick_writes_sane_json(tmp_path):
  result, markdown = _run_script(
      "throughput.py", ["--quick", "--models=ring", "--configs=gaussian_1d",
                        "--steps_per_call=20"], tmp_path)
  ring = result["throughput"]["models"]["ring"]
  assert ring["config"]["steps_per_call"] == 20
  jax_sps = ring["timings"]["gan_jax"]["steps_per_s"]
  assert jax_sps["median"] > 0 and len(jax_sps["values"]) == 2
  assert jax_sps["min"] <= jax_sps["median"] <= jax_sps["max"]
  assert ring["flops_per_step"] > 0
  assert 0 < ring["gan_jax_fraction_of_peak"] < 1.5
  assert result["throughput"]["gemm"]["peak_flop_per_s"] > 0
  cold = result["cold"]
  shipped = cold["shipped_configs"]["gaussian_1d"]
  assert 0 < shipped["compile_s"] < shipped["seconds_to_first_step_done"]
  assert shipped["peak_rss_mb"] >= shipped["rss_after_imports_mb"] > 0
  assert cold["models"]["ring"]["gan_jax"]["peak_rss_mb"] > 0
  assert result["machine"]["cpu_count"] >= 1
  assert "| ring |" in markdown and "| gaussian_1d |" in markdown
  if _has_torch():
    for order in ("algorithm1", "pytorch_gan"):
      assert ring["timings"][f"torch_{order}"]["steps_per_s"]["median"] > 0
      assert ring[f"ratio_vs_torch_{order}"]["of_medians"] > 0
    assert 0 < ring["torch_algorithm1_fraction_of_peak"] < 1.5
    torch_cold = cold["models"]["ring"]["torch_algorithm1"]
    assert torch_cold["peak_rss_mb"] >= torch_cold["rss_after_imports_mb"] > 0
  else:
    assert "torch_algorithm1" not in ring["timings"]


@pytest.mark.slow
def test_scaling_quick_one_and_two_devices(tmp_path):
  result, markdown = _run_script(
      "scaling.py", ["--quick", "--devices=1,2", "--models=ring"], tmp_path)
  ring = result["models"]["ring"]
  assert set(ring) == {"1", "2"}
  assert ring["1"]["overhead_ms_per_step"] == 0
  for n, entry in ring.items():
    assert entry["per_device_batch"] == 256 // int(n)
    assert entry["steps_per_s"]["median"] > 0
    assert entry["pmean_ms_per_step"] > 0
    assert entry["mean_bytes_per_step"] > 0
  assert len(result["workers"]["2"]["devices"]) == 2
  assert "| ring | 2 |" in markdown
