"""The bundled feature extractor: training, its cache (reuse, rebuild, atomic)."""

import json
import os

import numpy as np
import pytest

from gan_jax import data
from gan_jax import feature_extractor as fe

from helpers import write_idx_dataset

STEPS = 2  # a tiny budget: these tests check plumbing, not accuracy


@pytest.fixture(scope="module")
def data_config(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("idx_labelled"))
  write_idx_dataset(folder, num_train=48, num_test=16)
  config = data.default_data_config("fashion_mnist")
  config.data_dir = folder
  return config


@pytest.fixture(scope="module")
def trained(data_config, tmp_path_factory):
  """One extractor trained into a cache folder, shared by the read-only tests."""
  cache = str(tmp_path_factory.mktemp("cache"))
  return fe.load_or_train(data_config, cache_dir=cache, steps=STEPS), cache


class TrainCounter:
  """Wraps fe.train to count the trainings that load_or_train starts."""

  def __init__(self, monkeypatch):
    self.calls = 0
    real_train = fe.train

    def counting_train(*args, **kwargs):
      self.calls += 1
      return real_train(*args, **kwargs)

    monkeypatch.setattr(fe, "train", counting_train)


def test_trained_extractor_and_its_cache(trained, data_config):
  extractor, cache = trained
  path = fe.cache_path(data_config, cache_dir=cache, steps=STEPS)
  assert extractor.path == path
  # Named after the data set, shape, architecture, steps and (not the
  # default data folder) the folder.
  assert os.path.basename(path).startswith(
      f"fashion_mnist-28x28x1-{fe.ARCHITECTURE}-steps{STEPS}-data")
  with open(os.path.join(path, fe.METADATA_FILE)) as f:
    metadata = json.load(f)
  assert metadata["test_accuracy"] == extractor.test_accuracy
  assert 0.0 <= extractor.test_accuracy <= 1.0
  assert metadata["num_classes"] == 3 and metadata["steps"] == STEPS
  # Nothing but the finished folder is left in the cache.
  assert os.listdir(cache) == [os.path.basename(path)]

  images = data.load_images(data_config, "test")
  features = extractor(images)
  assert features.shape == (16, fe.FEATURE_DIM) and features.dtype == np.float32
  assert np.all(features >= 0)  # ReLU features
  # uint8 in {0..255} and float in [0, 1] are the same images.
  np.testing.assert_allclose(extractor(images.astype(np.float32) / 255),
                             features, rtol=1e-5, atol=1e-5)
  assert extractor.logits(images[:3]).shape == (3, 3)
  with pytest.raises(ValueError, match="28, 28, 1"):
    extractor(np.zeros((2, 32, 32, 1), np.float32))


def test_second_call_reuses_the_cache(trained, data_config, monkeypatch):
  extractor, cache = trained
  counter = TrainCounter(monkeypatch)
  again = fe.load_or_train(data_config, cache_dir=cache, steps=STEPS)
  assert counter.calls == 0
  assert again.metadata == extractor.metadata
  images = data.load_images(data_config, "test")
  np.testing.assert_allclose(again(images), extractor(images), rtol=1e-6)


@pytest.mark.parametrize("damage", ["delete", "metadata", "params", "empty"])
def test_missing_or_corrupt_cache_is_rebuilt(data_config, tmp_path,
                                             monkeypatch, damage):
  cache = str(tmp_path)
  path = fe.load_or_train(data_config, cache_dir=cache, steps=STEPS).path
  if damage == "delete":
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(path)
  elif damage == "metadata":
    with open(os.path.join(path, fe.METADATA_FILE), "w") as f:
      f.write("{not json")
  elif damage == "params":
    for root, _, files in os.walk(os.path.join(path, fe.PARAMS_DIR)):
      for name in files:
        with open(os.path.join(root, name), "wb") as f:
          f.write(b"garbage")
  else:
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(path)
    os.makedirs(path)
  counter = TrainCounter(monkeypatch)
  rebuilt = fe.load_or_train(data_config, cache_dir=cache, steps=STEPS)
  assert counter.calls == 1
  assert rebuilt.path == path
  # The new cache is whole: a third call reads it without training.
  fe.load_or_train(data_config, cache_dir=cache, steps=STEPS)
  assert counter.calls == 1
  assert sorted(os.listdir(cache)) == [os.path.basename(path)]


def test_interrupted_build_leaves_no_checkpoint(data_config, tmp_path,
                                                monkeypatch):
  def crash(*args, **kwargs):
    raise KeyboardInterrupt("killed while writing")

  monkeypatch.setattr(fe, "_write_metadata", crash)  # written last
  with pytest.raises(KeyboardInterrupt):
    fe.load_or_train(data_config, cache_dir=str(tmp_path), steps=STEPS)
  assert os.listdir(tmp_path) == []


def test_a_finished_concurrent_build_wins(trained, data_config, tmp_path):
  extractor, _ = trained
  target = str(tmp_path / "extractor")
  fe.save(extractor, target)
  first = os.path.getmtime(os.path.join(target, fe.METADATA_FILE))
  other = fe.FeatureExtractor(extractor.params, extractor.image_shape,
                              extractor.num_classes,
                              dict(extractor.metadata, test_accuracy=0.5))
  fe.save(other, target)  # finds the folder taken: keeps the first one
  with open(os.path.join(target, fe.METADATA_FILE)) as f:
    assert json.load(f)["test_accuracy"] == extractor.test_accuracy
  assert os.path.getmtime(os.path.join(target, fe.METADATA_FILE)) == first
  assert os.listdir(tmp_path) == ["extractor"]


@pytest.mark.parametrize("env, root", [
    # GAN_JAX_CACHE_DIR replaces $XDG_CACHE_HOME/gan_jax.
    (dict(GAN_JAX_CACHE_DIR="{tmp}/mine", XDG_CACHE_HOME="{tmp}/xdg"),
     "{tmp}/mine"),
    (dict(GAN_JAX_CACHE_DIR="~/mine"), "{tmp}/home/mine"),
    (dict(XDG_CACHE_HOME="{tmp}/xdg"), "{tmp}/xdg/gan_jax"),
    (dict(), "{tmp}/home/.cache/gan_jax"),
    # The XDG spec: a relative XDG_CACHE_HOME is ignored.
    (dict(XDG_CACHE_HOME="relative/xdg"), "{tmp}/home/.cache/gan_jax"),
], ids=["env_wins", "env_home", "xdg", "home", "relative_xdg"])
def test_default_cache_is_the_users(data_config, tmp_path, monkeypatch, env,
                                    root):
  for name in ("GAN_JAX_CACHE_DIR", "XDG_CACHE_HOME"):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  for name, value in env.items():
    monkeypatch.setenv(name, value.format(tmp=tmp_path))
  folder = os.path.join(root.format(tmp=tmp_path), "feature_extractor")
  name = fe.cache_name(data_config, steps=STEPS)
  assert fe.cache_root() == folder
  assert fe.cache_path(data_config, steps=STEPS) == os.path.join(folder, name)
  assert fe.cache_path(data_config, cache_dir="",
                       steps=STEPS) == os.path.join(folder, name)
  # An explicit folder (config.eval.feature_extractor_dir) wins.
  assert fe.cache_path(data_config, cache_dir=str(tmp_path / "explicit"),
                       steps=STEPS) == os.path.join(str(tmp_path / "explicit"),
                                                    name)


def test_nothing_is_written_beside_the_data(data_config, tmp_path,
                                            monkeypatch):
  before = sorted(os.listdir(data_config.data_dir))
  monkeypatch.setenv("GAN_JAX_CACHE_DIR", str(tmp_path))
  extractor = fe.load_or_train(data_config, steps=STEPS)
  assert extractor.path == os.path.join(
      str(tmp_path), "feature_extractor",
      fe.cache_name(data_config, steps=STEPS))
  assert os.listdir(tmp_path / "feature_extractor") == [
      os.path.basename(extractor.path)]
  assert sorted(os.listdir(data_config.data_dir)) == before


def test_cache_name(data_config, tmp_path, monkeypatch):
  name = fe.cache_name(data_config, steps=STEPS)
  # Different budgets and image sizes never share a folder.
  assert fe.cache_name(data_config, steps=3) != name
  resized = data_config.copy_and_resolve_references()
  resized.image_size = 32
  assert "32x32x1" in fe.cache_name(resized, steps=STEPS)

  # Nor do data sets of one name in different folders; one folder however
  # it is spelt is one data set; the default location has no tag.
  def moved(folder):
    config = data_config.copy_and_resolve_references()
    config.data_dir = str(folder)
    return config

  write_idx_dataset(str(tmp_path / "other"), num_train=8, num_test=4)
  other = fe.cache_name(moved(tmp_path / "other"), steps=STEPS)
  plain = f"fashion_mnist-28x28x1-{fe.ARCHITECTURE}-steps{STEPS}"
  assert name.startswith(plain + "-data") and other.startswith(plain + "-data")
  assert other != name
  assert fe.cache_name(moved(f"{tmp_path}/other/"), steps=STEPS) == other
  os.symlink(tmp_path / "other", tmp_path / "link")
  assert fe.cache_name(moved(tmp_path / "link"), steps=STEPS) == other
  monkeypatch.setattr(data.common, "DEFAULT_IDX_DIR", str(tmp_path / "link"))
  monkeypatch.setattr(data, "DEFAULT_IDX_DIR", str(tmp_path / "link"))
  assert fe.cache_name(moved(""), steps=STEPS) == plain
  assert fe.cache_name(moved(tmp_path / "other"), steps=STEPS) == plain
