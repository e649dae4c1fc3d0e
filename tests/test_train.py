"""train_and_evaluate / sample: every shipped config, resume, workdir safety."""

import glob
import json
import os
import shutil
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import evaluation
from gan_jax import step as step_lib
from gan_jax import train

from helpers import CONFIG_FILES, ROOT, write_idx_dataset

# Compiling dominates; XLA's backend optimisations change no result checked.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def shrink(config, idx_dir=None):
  """The same experiment with tiny networks, batch and step counts."""
  if config.model.name == "mlp":
    config.model.generator_widths = (8,) * len(config.model.generator_widths)
    config.model.discriminator_widths = (8,) * len(
        config.model.discriminator_widths)
  else:
    config.model.generator_base_features = 4
    config.model.discriminator_base_features = 4
  config.model.latent_dim = min(config.model.latent_dim, 4)
  if not data.is_toy(config.data):
    config.data.data_dir = idx_dir
  config.train.batch_size = 8
  config.train.steps = 1
  config.train.steps_per_call = 1
  config.train.log_every = 1
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  config.eval.num_samples = 100
  config.eval.num_sample_images = 4
  # The image metrics need a test split and labels, which idx_dir lacks;
  # test_image_run_writes_the_image_metrics turns them on.
  config.eval.parzen = False
  config.eval.features = False
  config.eval.metrics = ()  # a config's own choice would need them
  config.eval.image_num_samples = 16
  return config


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_one_step_of_every_config(path, idx_dir, tmp_path):
  config = config_lib.from_file(path)
  if config.model.num_classes:
    # A class-conditional config needs labels (as many classes as its own).
    idx_dir = str(tmp_path / "labelled")
    write_idx_dataset(idx_dir, num_classes=config.model.num_classes)
  config = shrink(config, idx_dir)
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(config, workdir,
                                     compiler_options=FAST_COMPILE)
  assert summary["step"] == 1
  for name in (train.CONFIG_FILE, train.METRICS_FILE, train.SUMMARY_FILE):
    assert os.path.isfile(os.path.join(workdir, name)), name
  assert os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR))
  assert glob.glob(os.path.join(workdir, train.TENSORBOARD_DIR, "events.*"))
  assert glob.glob(os.path.join(workdir, train.SAMPLES_DIR, "step_*.png"))
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [1]
  for name in step_lib.METRIC_NAMES:
    assert np.isfinite(records[0][name]), name
  with open(os.path.join(workdir, train.SUMMARY_FILE)) as f:
    assert json.load(f)["step"] == 1

  samples = train.sample(workdir, 3, compiler_options=FAST_COMPILE)
  shape = data.data_shape(config.data)
  assert samples.shape == (3, *shape)
  if config.data.name in ("ring", "grid"):
    assert set(summary["evaluation"]) == {"modes", "high_quality_pct",
                                          "reverse_kl", "num_modes"}
  elif config.data.name == "gaussian_1d":
    assert 0.0 <= summary["evaluation"]["jsd"] <= np.log(2) + 1e-6
  else:
    assert samples.min() >= 0.0 and samples.max() <= 1.0


# Resumed runs carry every kind of state: BatchNorm statistics (G) or the
# power iteration of spectral normalisation (D), and each penalty.
RESUME_GAMES = {
    "ns_r1_batch_norm": {"model.generator_batch_norm": True},
    "rpgan_spectral_norm_gp": {"loss.name": "relativistic",
                               "loss.r2_gamma": 0.1, "loss.gp_weight": 1.0,
                               "model.discriminator_spectral_norm": True},
}


def resume_config(game="ns_r1_batch_norm"):
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "ring.py")))
  config.loss.r1_gamma = 0.1
  config.train.ema_decay = 0.9
  config.update_from_flattened_dict(RESUME_GAMES[game])
  config.train.steps_per_call = 2
  config.train.log_every = 2
  config.train.checkpoint_every = 2
  return config


def latest_state(workdir):
  return train.latest_state(workdir)[1]


@pytest.mark.slow
@pytest.mark.parametrize("game", sorted(RESUME_GAMES))
def test_resume_equals_straight_run(tmp_path, game):
  """N steps, a crash, then resume to N+M == N+M steps straight."""
  straight_dir = str(tmp_path / "straight")
  config = resume_config(game)
  config.train.steps = 6
  train.train_and_evaluate(config, straight_dir, compiler_options=FAST_COMPILE)

  resumed_dir = str(tmp_path / "resumed")
  config.train.steps = 4
  train.train_and_evaluate(config, resumed_dir, compiler_options=FAST_COMPILE)
  # Simulate a crash after step 4 was logged but before it was saved.
  shutil.rmtree(os.path.join(resumed_dir, train.CHECKPOINT_DIR, "4"))
  config.train.steps = 6  # train.steps may change on resume
  summary = train.train_and_evaluate(config, resumed_dir,
                                     compiler_options=FAST_COMPILE)
  assert summary["start_step"] == 2

  straight, resumed = latest_state(straight_dir), latest_state(resumed_dir)
  assert int(straight.step) == int(resumed.step) == 6
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
  np.testing.assert_allclose(
      train.sample(straight_dir, 8, compiler_options=FAST_COMPILE),
      train.sample(resumed_dir, 8, compiler_options=FAST_COMPILE), atol=1e-5)

  def records(workdir):
    with open(os.path.join(workdir, train.METRICS_FILE)) as f:
      return [json.loads(line) for line in f]

  # The metrics of the lost step 4 were replaced, not duplicated.
  assert [r["step"] for r in records(resumed_dir)] == [2, 4, 6]
  for a, b in zip(records(straight_dir), records(resumed_dir)):
    np.testing.assert_allclose(a["d_loss"], b["d_loss"], atol=1e-5)

  # A workdir holding a different experiment is never overwritten.
  config.loss.name = "hinge"
  with pytest.raises(train.WorkdirError,
                     match=r"(?s)resumed.*config\.loss\.name"):
    train.train_and_evaluate(config, resumed_dir)


def test_sample_without_run(tmp_path):
  with pytest.raises(train.WorkdirError, match="holds no run"):
    train.sample(str(tmp_path), 4)


@pytest.mark.parametrize("content, words", [
    (b"\x1f\x8bnot really gzip", ["train-images-idx3-ubyte.gz"]),
    (struct.pack(">IIII", 0x1234, 2, 28, 28), ["magic"]),
    (struct.pack(">II", 0x0801, 2) + bytes(2), ["IDX image"]),
    (struct.pack(">IIII", 0x0803, 10, 28, 28) + bytes(100), ["truncated"]),
])
def test_bad_data_files(tmp_path, content, words):
  folder = tmp_path / "idx"
  folder.mkdir()
  (folder / "train-images-idx3-ubyte").write_bytes(content)
  if content.startswith(b"\x1f\x8b"):
    os.rename(folder / "train-images-idx3-ubyte",
              folder / "train-images-idx3-ubyte.gz")
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")),
                  str(folder))
  with pytest.raises(data.DataError) as error:
    train.train_and_evaluate(config, str(tmp_path / "run"))
  for word in words:
    assert word in str(error.value)
  assert not os.path.exists(tmp_path / "run" / train.CHECKPOINT_DIR)


def test_invalid_config_stops_before_anything_is_written(tmp_path):
  config = config_lib.default_config()
  config.train.discriminator_steps = 0
  with pytest.raises(config_lib.ConfigError,
                     match="config.train.discriminator_steps"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


IMAGE_METRICS = ("parzen_ll", "parzen_ll_stderr", "parzen_sigma",
                 "parzen_validation_ll", "fid", "precision", "recall",
                 "real_parzen_ll", "real_parzen_ll_stderr", "real_parzen_sigma",
                 "real_fid", "real_precision", "real_recall",
                 "feature_extractor_test_accuracy")


@pytest.mark.slow
def test_image_run_writes_the_image_metrics(tmp_path):
  folder = str(tmp_path / "idx")
  write_idx_dataset(folder, num_train=64, num_test=32)
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")),
                  folder)
  config.train.steps = 2
  config.eval.every = 1
  config.eval.parzen = True
  config.eval.features = True
  config.eval.image_num_samples = 40
  config.eval.parzen_validation = 16
  config.eval.feature_extractor_dir = str(tmp_path / "cache")
  config.eval.feature_extractor_steps = 2
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(config, workdir,
                                     compiler_options=FAST_COMPILE)

  results = summary["evaluation"]
  for name in IMAGE_METRICS:
    assert np.isfinite(results[name]), name
  assert results["num_samples"] == 40
  # The first 40 of the 64 - 16 train images not held out for sigma.
  assert results["real_num_samples"] == 40
  assert results["parzen_sigma"] in evaluation.PARZEN_SIGMAS
  for name in ("precision", "recall", "real_precision", "real_recall"):
    assert 0.0 <= results[name] <= 1.0
  assert results["fid"] >= 0.0 and results["real_fid"] >= 0.0
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [1, 2]  # every 1 step, and the end
  assert rows[-1]["parzen_ll"] == results["parzen_ll"]
  # The training metrics stay in metrics.jsonl, one row per log step.
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    assert [json.loads(line)["step"] for line in f] == [1, 2]
  # The floors were cached beside the extractor.
  assert glob.glob(str(tmp_path / "cache" / "*" / "real_floors.json"))

  # A finished run scored again: same checkpoint, same noise, same numbers.
  again = train.evaluate_workdir(workdir, compiler_options=FAST_COMPILE)
  assert again.pop("step") == 2
  assert set(again) == set(results)
  for name in IMAGE_METRICS:
    assert again[name] == pytest.approx(results[name], rel=1e-5), name
  # A config.json written before the eval fields existed gets the defaults
  # (10,000 samples; validation: half of the 64 train images at most).
  path = os.path.join(workdir, train.CONFIG_FILE)
  with open(path) as f:
    saved = json.load(f)
  for field in ("every", "image_num_samples", "parzen", "parzen_validation"):
    del saved["eval"][field]
  with open(path, "w") as f:
    json.dump(saved, f)
  old = train.evaluate_workdir(workdir, write=True,
                               compiler_options=FAST_COMPILE)
  assert old["num_samples"] == evaluation.IMAGE_NUM_SAMPLES
  assert old["real_num_samples"] == 32
  assert np.isfinite(old["parzen_ll"]) and np.isfinite(old["fid"])
  # write=True: a new eval.jsonl row, and the summary's evaluation replaced.
  with open(os.path.join(workdir, train.EVAL_FILE)) as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows] == [1, 2, 2]
  assert rows[-1]["fid"] == old["fid"]
  with open(os.path.join(workdir, train.SUMMARY_FILE)) as f:
    assert json.load(f)["evaluation"]["fid"] == old["fid"]


def test_image_metrics_need_the_test_split(idx_dir, tmp_path):
  # idx_dir holds train images only: the run stops before training.
  config = shrink(config_lib.from_file(
      os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")),
                  idx_dir)
  config.eval.parzen = True
  with pytest.raises(data.DataError, match="t10k-images"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not glob.glob(str(tmp_path / "run" / train.CHECKPOINT_DIR / "*"))


OLD_MAIN_RUN = os.path.join(ROOT, "tests", "data", "old_main_ring")


_RESUME_OLD_RUN = """
import json, os, sys
from gan_jax import config as config_lib, train
resumed_dir, straight_dir = sys.argv[1:]
with open(os.path.join(resumed_dir, train.CONFIG_FILE)) as f:
  config = config_lib.from_dict(json.load(f))
config.train.steps = 6
assert train.train_and_evaluate(config, resumed_dir)["start_step"] == 3
train.train_and_evaluate(config, straight_dir)
"""


def test_a_saved_config_of_the_pre_registry_main_reads_unchanged():
  """Its config.json lacks plugins and eval.metrics: no field changes."""
  with open(os.path.join(OLD_MAIN_RUN, train.CONFIG_FILE)) as f:
    saved = json.load(f)
  assert "plugins" not in saved and "metrics" not in saved["eval"]
  config = config_lib.from_dict(saved)
  assert config_lib.changed_fields(saved, config) == []
  config_lib.validate(config, 1)


@pytest.mark.slow
def test_a_run_saved_by_the_pre_registry_main_resumes_and_matches(tmp_path):
  """tests/data/old_main_ring: 3 steps of the ring by main before the registries.

  Made with 94965dd on one CPU device (`launch.py --config
  experiments/configs/ring.py --config.train.steps=3
  --config.train.checkpoint_every=3 --config.model.generator_widths='(8,8)'
  --config.model.discriminator_widths='(8,8)' --config.train.batch_size=16
  --config.eval.num_samples=200 --config.train.log_every=1
  --config.train.steps_per_call=1`; tensorboard/ and samples/ left out).
  This code resumes it to 6 steps on one device (as it was made: the device
  count changes the order of the batch means), and steps 4-6 equal a
  straight 6-step run of this code bit for bit.
  """
  resumed_dir = str(tmp_path / "resumed")
  straight_dir = str(tmp_path / "straight")
  shutil.copytree(OLD_MAIN_RUN, resumed_dir)
  env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
  subprocess.run([sys.executable, "-c", _RESUME_OLD_RUN, resumed_dir,
                  straight_dir], check=True, cwd=ROOT, env=env, timeout=600,
                 capture_output=True)
  with open(os.path.join(resumed_dir, train.METRICS_FILE)) as f:
    resumed = [json.loads(line) for line in f]
  with open(os.path.join(straight_dir, train.METRICS_FILE)) as f:
    straight = [json.loads(line) for line in f]
  assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
  clock = ("steps_per_sec", "elapsed_sec")
  for mine, theirs in zip(resumed, straight):
    assert ({k: v for k, v in mine.items() if k not in clock} ==
            {k: v for k, v in theirs.items() if k not in clock})
