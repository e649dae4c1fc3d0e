"""data.name='arrays' (.npz / .npy), num_classes of every source, the
export tool."""

import importlib.util
import logging
import os

import numpy as np
from PIL import Image
import pytest

from gan_jax import data
from gan_jax.data import arrays as arrays_lib
from gan_jax.data import folder as folder_lib
from gan_jax.data import preprocess

import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _fresh_process():
  folder_lib.clear_memo()
  yield
  folder_lib.clear_memo()


def _images(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def _config(path, tmp_path, **overrides):
  config = data.default_data_config("arrays")
  config.data_dir = str(path)
  config.cache_dir = str(tmp_path / "cache")
  config.update(overrides)
  return config


def _folder_config(path, tmp_path):
  config = data.default_data_config("image_folder")
  config.update(data_dir=str(path), cache_dir=str(tmp_path / "cache"),
                center_crop=False)
  return config


def _caches(tmp_path):
  root = tmp_path / "cache"
  return sorted(os.listdir(root)) if root.exists() else []


# --- Layouts.


@pytest.mark.parametrize("shape", [(5, 6, 6), (5, 6, 6, 1), (5, 6, 6, 3)])
@pytest.mark.parametrize("compressed", [False, True])
def test_npz_with_labels(tmp_path, shape, compressed):
  images = _images(shape)
  labels = np.array([0, 3, 1, 3, 2], np.int64)
  save = np.savez_compressed if compressed else np.savez
  save(tmp_path / "a.npz", images=images, labels=labels)
  config = _config(tmp_path / "a.npz", tmp_path)
  out = data.load_images(config)
  np.testing.assert_array_equal(out, images.reshape(5, 6, 6, -1))
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(data.load_labels(config), labels)
  assert data.load_labels(config).dtype == np.int32
  assert data.num_classes(config) == 4
  assert data.num_examples(config) == 5
  assert data.data_shape(config) == (6, 6, shape[3] if len(shape) == 4 else 1)
  assert not data.has_test_split(config)
  np.testing.assert_array_equal(data.load_images(config, start=1, stop=3),
                                out[1:3])
  assert _caches(tmp_path) == []  # nothing to preprocess: nothing cached


def test_npy_is_a_memmap_without_labels(tmp_path):
  images = _images((4, 5, 5, 3))
  np.save(tmp_path / "a.npy", images)
  config = _config(tmp_path / "a.npy", tmp_path)
  out = data.load_images(config)
  assert isinstance(out, np.memmap) and not out.flags.writeable
  np.testing.assert_array_equal(out, images)
  assert data.num_classes(config) == 0
  with pytest.raises(data.DataError, match="no 'labels' array"):
    data.load_labels(config)


@pytest.mark.parametrize("ext", [".npz", ".npy"])
def test_folder_of_splits(tmp_path, ext, caplog):
  train, test = _images((6, 4, 4)), _images((3, 4, 4), seed=1)
  for name, images in (("train", train), ("test", test)):
    if ext == ".npz":
      np.savez(tmp_path / f"{name}.npz", images=images,
               labels=np.arange(len(images)) % 2)
    else:
      np.save(tmp_path / f"{name}.npy", images)
  config = _config(tmp_path, tmp_path)
  assert data.has_test_split(config)
  with caplog.at_level(logging.WARNING):
    np.testing.assert_array_equal(data.load_images(config, "test")[..., 0],
                                  test)
  assert "no test split" not in caplog.text
  np.testing.assert_array_equal(data.load_images(config, "train")[..., 0],
                                train)
  assert data.num_examples(config, "test") == 3


def test_no_test_split_reads_train_with_a_warning(tmp_path, caplog):
  images = _images((3, 4, 4))
  np.save(tmp_path / "train.npy", images)
  config = _config(tmp_path, tmp_path)
  assert not data.has_test_split(config)
  with caplog.at_level(logging.WARNING):
    np.testing.assert_array_equal(data.load_images(config, "test")[..., 0],
                                  images)
  assert "no test split" in caplog.text


# --- Preprocessing (as image_folder's, cached).


@pytest.mark.parametrize("resize_filter", ["lanczos", "box"])
def test_resize_and_channels_are_pillows_and_cached(tmp_path, resize_filter,
                                                    monkeypatch):
  images = _images((3, 8, 10, 3))
  np.savez(tmp_path / "a.npz", images=images)
  config = _config(tmp_path / "a.npz", tmp_path, image_size=4, channels=1,
                   resize_filter=resize_filter)
  out = data.load_images(config)
  assert out.shape == (3, 4, 4, 1) and data.data_shape(config) == (4, 4, 1)
  expected = Image.fromarray(images[1]).convert("L").resize(
      (4, 4), preprocess.FILTERS[resize_filter], box=(1, 0, 9, 8))
  np.testing.assert_array_equal(out[1, ..., 0], np.asarray(expected))
  assert len(_caches(tmp_path)) == 1
  # A second load reads the cache.
  monkeypatch.setattr(preprocess, "to_array", None)
  np.testing.assert_array_equal(data.load_images(config), out)


def test_small_arrays_refused_unless_upscaling(tmp_path, caplog):
  np.save(tmp_path / "a.npy", _images((2, 4, 6)))
  with pytest.raises(data.DataError) as e:
    data.load_images(_config(tmp_path / "a.npy", tmp_path, image_size=8))
  assert str(tmp_path / "a.npy") in str(e.value)
  assert "6x4" in str(e.value) and "allow_upscale" in str(e.value)
  with caplog.at_level(logging.INFO):
    out = data.load_images(_config(tmp_path / "a.npy", tmp_path,
                                   image_size=8, allow_upscale=True))
  assert out.shape == (2, 8, 8, 1)
  assert "upscaling the 2 images" in caplog.text


def test_test_split_must_match_train(tmp_path):
  np.save(tmp_path / "train.npy", _images((2, 4, 4)))
  np.save(tmp_path / "test.npy", _images((2, 5, 5)))
  config = _config(tmp_path, tmp_path)
  with pytest.raises(data.DataError, match="train split.*image_size"):
    data.load_images(config, "test")
  assert data.load_images(_config(tmp_path, tmp_path, image_size=4),
                          "test").shape == (2, 4, 4, 1)


# --- Bad input: one line naming the path and what is allowed.


def _write_bad(tmp_path, case):
  path = tmp_path / "a.npz"
  n = 3
  if case == "no_images":
    np.savez(path, pictures=_images((n, 4, 4)), labels=np.zeros(n, int))
  elif case == "label_count":
    np.savez(path, images=_images((n, 4, 4)), labels=np.zeros(n + 1, int))
  elif case == "float_labels":
    np.savez(path, images=_images((n, 4, 4)), labels=np.zeros(n))
  elif case == "negative_labels":
    np.savez(path, images=_images((n, 4, 4)), labels=np.array([0, -1, 2]))
  elif case == "float_images":
    np.savez(path, images=np.zeros((n, 4, 4), np.float32))
  elif case == "four_channels":
    np.savez(path, images=_images((n, 4, 4, 4)))
  elif case == "not_an_array_file":
    path.write_bytes(b"PK\x03\x04 this is not a zip")
  elif case == "bad_npy":
    path = tmp_path / "a.npy"
    path.write_bytes(b"\x93NUMPY garbage")
  elif case == "missing":
    path = tmp_path / "nothing.npz"
  elif case == "wrong_extension":
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
  elif case == "folder_without_train":
    path = tmp_path / "f"
    os.makedirs(path)
    np.save(path / "test.npy", _images((n, 4, 4)))
  return str(path)


@pytest.mark.parametrize("case,expected", [
    ("no_images", "no 'images' array; it holds ['labels', 'pictures']"),
    ("label_count", "labels have shape (4,), but there are 3 images"),
    ("float_labels", "labels have dtype float64; arrays reads integer"),
    ("negative_labels", "labels hold -1 < 0"),
    ("float_images", "dtype float32; arrays reads uint8"),
    ("four_channels", "C in {1, 3}"),
    ("not_an_array_file", "not a valid numpy array file"),
    ("bad_npy", "not a valid numpy array file"),
    ("missing", "no such file or folder"),
    ("wrong_extension", "neither .npz nor .npy"),
    ("folder_without_train", "no train.npz or train.npy")])
def test_bad_input(tmp_path, case, expected):
  path = _write_bad(tmp_path, case)
  with pytest.raises(data.DataError) as e:
    data.load_images(_config(path, tmp_path))
  assert expected in str(e.value)
  assert path in str(e.value) and "\n" not in str(e.value)
  assert _caches(tmp_path) == []


# --- num_classes of every source.


def test_num_classes_of_every_source(tmp_path):
  helpers.write_idx_dataset(str(tmp_path / "idx"), num_classes=3)
  idx_config = data.default_data_config("fashion_mnist")
  idx_config.data_dir = str(tmp_path / "idx")
  assert data.num_classes(idx_config) == 3
  stacked = data.default_data_config("stacked_fashion_mnist")
  stacked.data_dir = str(tmp_path / "idx")
  assert data.num_classes(stacked) == 3
  # TFDS: registered, so known without TFDS.
  assert data.num_classes(data.default_data_config("cifar10")) == 10
  with pytest.raises(data.DataError, match="toy distribution"):
    data.num_classes(data.default_data_config("ring"))


# --- tools/export_image_folder.py.


def _export_tool():
  spec = importlib.util.spec_from_file_location(
      "export_image_folder",
      os.path.join(ROOT, "tools", "export_image_folder.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("with_test", [True, False])
def test_export_tool_round_trip(tmp_path, with_test):
  train, test = _images((7, 5, 5, 3)), _images((4, 5, 5, 3), seed=1)
  labels = {"train": np.array([2, 0, 1, 0, 1, 2, 1]),
            "test": np.array([0, 1, 2, 1])}
  os.makedirs(tmp_path / "src")
  np.savez(tmp_path / "src" / "train.npz", images=train,
           labels=labels["train"])
  if with_test:
    np.savez(tmp_path / "src" / "test.npz", images=test,
             labels=labels["test"])
  source = _config(tmp_path / "src", tmp_path)
  out = tmp_path / "out"
  counts = _export_tool().export(source, str(out))
  assert counts == ({"train": 7, "test": 4} if with_test else {"train": 7})
  folder = _folder_config(out, tmp_path)
  assert data.has_test_split(folder) == with_test
  assert data.num_classes(folder) == 3
  for split, images in (("train", train), ("test", test))[:1 + with_test]:
    order = np.argsort(labels[split], kind="stable")
    np.testing.assert_array_equal(data.load_images(folder, split),
                                  images[order])
    np.testing.assert_array_equal(data.load_labels(folder, split),
                                  labels[split][order])
  assert sorted(os.listdir(out / "train" if with_test else out)) == [
      "0", "1", "2"]
  with pytest.raises(data.DataError, match="not empty"):
    _export_tool().export(source, str(out))


def test_class_folders_sort_as_labels():
  tool = _export_tool()
  assert tool.class_folders("x", 12)[:3] == ["00", "01", "02"]
  assert sorted(tool.class_folders("x", 12)) == tool.class_folders("x", 12)
  assert tool.class_folders("mnist", 10)[3] == "3"
  names = tool.class_folders("fashion_mnist", 10)
  assert names[0] == "0_T-shirt_top" and sorted(names) == names


def test_export_tool_refuses_a_split_missing_a_class(tmp_path):
  np.savez(tmp_path / "a.npz", images=_images((4, 3, 3)),
           labels=np.array([0, 0, 1, 2]))
  with pytest.raises(data.DataError, match="no image of class 1"):
    _export_tool().export(_config(tmp_path / "a.npz", tmp_path),
                          str(tmp_path / "out"), limit=2)


def test_export_tool_names_fashion_mnist_classes(tmp_path):
  helpers.write_idx_dataset(str(tmp_path / "idx"), num_train=12,
                            num_test=6, num_classes=3, seed=0)
  source = data.default_data_config("fashion_mnist")
  source.data_dir = str(tmp_path / "idx")
  assert _export_tool().main([
      "--name=fashion_mnist", f"--data_dir={tmp_path}/idx",
      f"--out={tmp_path}/out", "--limit=10"]) == 0
  assert sorted(os.listdir(tmp_path / "out" / "train")) == [
      "0_T-shirt_top", "1_Trouser", "2_Pullover"]
  folder = _folder_config(tmp_path / "out", tmp_path)
  np.testing.assert_array_equal(
      np.sort(data.load_labels(folder, "train")),
      np.sort(data.load_labels(source, "train")[:10]))
  assert data.num_examples(folder, "test") == 6


def test_real_images_without_a_test_split_are_disjoint(tmp_path, caplog):
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  images = np.arange(30, dtype=np.uint8).reshape(30, 1, 1)
  np.save(tmp_path / "a.npy", images)
  with caplog.at_level(logging.WARNING):
    real = evaluation.load_real_images(_config(tmp_path / "a.npy", tmp_path),
                                       num_samples=20, num_validation=4)
  parts = [real.train.ravel(), real.test.ravel(), real.validation.ravel()]
  np.testing.assert_array_equal(np.concatenate(parts), np.arange(30))
  assert [len(p) for p in parts] == [10, 16, 4]
  assert "no test split" in caplog.text
  # With a test split: as before.
  np.save(tmp_path / "train.npy", images)
  np.save(tmp_path / "test.npy", images[:5])
  os.remove(tmp_path / "a.npy")
  real = evaluation.load_real_images(_config(tmp_path, tmp_path),
                                     num_samples=20, num_validation=4)
  assert [len(real.train), len(real.test), len(real.validation)] == [20, 5, 4]
