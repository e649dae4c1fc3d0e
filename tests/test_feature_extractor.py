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
  assert os.path.basename(path) == f"fashion_mnist-28x28x1-{fe.ARCHITECTURE}-steps{STEPS}"
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


def test_cache_location(data_config, tmp_path, monkeypatch):
  name = fe.cache_name(data_config, steps=STEPS)
  # Beside the data when that folder is writable.
  assert fe.cache_path(data_config, steps=STEPS) == os.path.join(
      data_config.data_dir, fe.CACHE_SUBDIR, name)
  # An explicit folder wins.
  assert fe.cache_path(data_config, cache_dir=str(tmp_path),
                       steps=STEPS) == os.path.join(str(tmp_path), name)
  # Else the user cache.
  monkeypatch.setattr(fe, "_writable", lambda folder: False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert fe.cache_path(data_config, steps=STEPS) == os.path.join(
      str(tmp_path / "xdg"), "gan_jax", "feature_extractor", name)
  # Different budgets and image sizes never share a folder.
  assert fe.cache_name(data_config, steps=3) != name
  resized = data_config.copy_and_resolve_references()
  resized.image_size = 32
  assert "32x32x1" in fe.cache_name(resized, steps=STEPS)
