"""Tests for gan_jax.data: IDX files, Fashion-MNIST, TFDS, helpers, toy data."""

import gzip
import os
import struct
import sys
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import data
from gan_jax import distributions


def _idx_bytes(array, magic=None, dims=None):
  array = np.asarray(array, np.uint8)
  if magic is None:
    magic = {1: data.IDX_MAGIC_LABELS, 3: data.IDX_MAGIC_IMAGES}[array.ndim]
  dims = array.shape if dims is None else dims
  header = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)
  return header + array.tobytes()


def _write(path, payload, gz):
  path = str(path) + (".gz" if gz else "")
  with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
    f.write(payload)
  return path


def _images(n, h=28, w=28, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, h, w), np.uint8)


def _labels(n, seed=0):
  return np.random.default_rng(seed).integers(0, 10, (n,), np.uint8)


def _idx_dir(tmp_path, n_train=6, n_test=4, size=28):
  """A folder with the four standard files (train gzipped, test raw)."""
  arrays = {}
  for split, n, gz in (("train", n_train, True), ("test", n_test, False)):
    arrays[split] = (_images(n, size, size, seed=n), _labels(n, seed=n))
    _write(tmp_path / data.IDX_FILES[(split, "images")],
           _idx_bytes(arrays[split][0]), gz)
    _write(tmp_path / data.IDX_FILES[(split, "labels")],
           _idx_bytes(arrays[split][1]), gz)
  return arrays


def _image_config(tmp_path, **overrides):
  config = data.default_data_config("fashion_mnist")
  config.data_dir = str(tmp_path)
  config.update(overrides)
  return config


# ----------------------------------------------------------------------------
# read_idx

@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("kind", ["images", "labels"])
def test_read_idx_round_trip(tmp_path, gz, kind):
  array = _images(3, 5, 7) if kind == "images" else _labels(11)
  path = _write(tmp_path / "f", _idx_bytes(array), gz)
  out = data.read_idx(path)
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out, array)
  assert data.read_idx_shape(path) == array.shape


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("case,match", [
    ("magic", "magic number 0x00000802"),
    ("float_type", "magic number 0x00000d03"),
    ("truncated_body", "truncated"),
    ("trailing_bytes", "longer than its header says"),
    ("dims_mismatch", r"header dims \(2, 28, 28\) need 1568 bytes"),
    ("truncated_header", "truncated IDX header"),
    ("empty", "no header"),
])
def test_read_idx_rejects_bad_files(tmp_path, gz, case, match):
  images = _images(2)
  payload = {
      "magic": lambda: _idx_bytes(images, magic=0x00000802),
      "float_type": lambda: _idx_bytes(images, magic=0x00000D03),
      "truncated_body": lambda: _idx_bytes(images)[:-10],
      "trailing_bytes": lambda: _idx_bytes(images) + b"\0",
      "dims_mismatch": lambda: _idx_bytes(images[:, :, :27], dims=(2, 28, 28)),
      "truncated_header": lambda: _idx_bytes(images)[:9],
      "empty": lambda: b"",
  }[case]()
  path = _write(tmp_path / "bad", payload, gz)
  with pytest.raises(data.DataError, match=match) as info:
    data.read_idx(path)
  message = str(info.value)
  assert path in message
  assert "apt-get install dataset-fashion-mnist" in message
  assert "source='tfds'" in message


def test_read_idx_missing_file(tmp_path):
  path = str(tmp_path / "nope-idx3-ubyte.gz")
  with pytest.raises(data.DataError, match="file not found") as info:
    data.read_idx(path)
  assert path in str(info.value)
  assert "dataset-fashion-mnist" in str(info.value)


@pytest.mark.parametrize("corruption", ["cut", "garbage"])
def test_read_idx_corrupt_gzip(tmp_path, corruption):
  blob = gzip.compress(_idx_bytes(_images(2)))
  if corruption == "cut":
    blob = blob[:len(blob) // 2]
  else:
    blob = blob[:10] + bytes(255 - b for b in blob[10:])
  path = tmp_path / "corrupt.gz"
  path.write_bytes(blob)
  with pytest.raises(data.DataError) as info:
    data.read_idx(path)
  assert str(path) in str(info.value)


# ----------------------------------------------------------------------------
# load_images / load_labels from IDX folders

def test_load_idx_folder(tmp_path):
  arrays = _idx_dir(tmp_path)
  config = _image_config(tmp_path)
  for split in ("train", "test"):
    images = data.load_images(config, split)
    labels = data.load_labels(config, split)
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28, 1)
    np.testing.assert_array_equal(images[..., 0], arrays[split][0])
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, arrays[split][1])
  assert data.data_shape(config) == (28, 28, 1)
  config.name = "mnist"  # same file names
  assert data.load_images(config, "test").shape == (4, 28, 28, 1)


def test_load_idx_resizes(tmp_path):
  arrays = _idx_dir(tmp_path)
  config = _image_config(tmp_path, image_size=32)
  images = data.load_images(config, "train")
  assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
  assert data.data_shape(config) == (32, 32, 1)
  expected = jax.image.resize(arrays["train"][0].astype(np.float32),
                              (6, 32, 32), method="linear")
  expected = np.clip(np.rint(np.asarray(expected)), 0, 255)
  np.testing.assert_array_equal(images[..., 0], expected)
  # Constant images stay constant.
  flat = np.full((2, 28, 28, 3), 77, np.uint8)
  np.testing.assert_array_equal(data.resize_images(flat, 32), 77)


def test_load_idx_missing_files_say_how_to_get_them(tmp_path):
  config = _image_config(tmp_path)
  with pytest.raises(data.DataError, match="file not found") as info:
    data.load_images(config, "train")
  message = str(info.value)
  assert str(tmp_path / "train-images-idx3-ubyte") in message
  assert "apt-get install dataset-fashion-mnist" in message
  with pytest.raises(data.DataError, match="file not found"):
    data.data_shape(config)


def test_load_idx_errors(tmp_path):
  _idx_dir(tmp_path)
  with pytest.raises(data.DataError, match="split 'validation'.*train, test"):
    data.load_images(_image_config(tmp_path), "validation")
  with pytest.raises(data.DataError, match=r"config\.data\.data_dir"):
    data.load_images(_image_config(tmp_path, name="mnist", data_dir=""))
  with pytest.raises(data.DataError, match=r"config\.data\.name.*cifar10"):
    data.load_images(_image_config(tmp_path, name="cifar10", source="idx"))
  with pytest.raises(data.DataError, match=r"config\.data\.source.*idx, tfds"):
    data.load_images(_image_config(tmp_path, source="web"))
  with pytest.raises(data.DataError, match="toy distribution"):
    data.load_images(_image_config(tmp_path, name="ring"))
  with pytest.raises(data.DataError, match=r"config\.data\.image_size"):
    data.load_images(_image_config(tmp_path, image_size=-1))
  # A label file where images are expected.
  os.replace(tmp_path / "train-labels-idx1-ubyte.gz",
             tmp_path / "train-images-idx3-ubyte.gz")
  with pytest.raises(data.DataError, match="expected an IDX image file"):
    data.load_images(_image_config(tmp_path), "train")


def _debian_files_present():
  return all(os.path.isfile(os.path.join(data.DEFAULT_IDX_DIR, stem + ".gz"))
             for stem in data.IDX_FILES.values())


def test_real_fashion_mnist_from_debian():
  if not _debian_files_present():
    pytest.skip(f"Fashion-MNIST IDX files not in {data.DEFAULT_IDX_DIR}; "
                "install them with `apt-get install dataset-fashion-mnist`")
  config = data.default_data_config("fashion_mnist")
  assert config.data_dir == ""  # the Debian default
  for split, n in (("train", 60000), ("test", 10000)):
    images = data.load_images(config, split)
    labels = data.load_labels(config, split)
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,)
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0
  assert data.data_shape(config) == (28, 28, 1)


# ----------------------------------------------------------------------------
# TFDS


@pytest.fixture
def tfds_tmp(tmp_path, monkeypatch):
  # TFDS leaves empty `tmp*tfds` folders in the temp dir; keep them in tmp_path.
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  return tmp_path

@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)),
                                        ("cifar10", (32, 32, 3))])
def test_tfds_mock_data(tfds_tmp, name, shape):
  tfds = pytest.importorskip(
      "tensorflow_datasets",
      reason="TFDS path needs the optional extra: pip install 'gan_jax[tfds]'")
  config = data.default_data_config(name)
  config.source = "tfds"
  with tfds.testing.mock_data(num_examples=5):
    images = data.load_images(config, "train")
    labels = data.load_labels(config, "test")
    config.image_size = 32
    resized = data.load_images(config, "test")
  assert images.shape == (5, *shape) and images.dtype == np.uint8
  assert labels.shape == (5,) and labels.dtype == np.int32
  assert resized.shape == (5, 32, 32, shape[2])
  assert data.data_shape(config) == (32, 32, shape[2])
  config.image_size = 0
  assert data.data_shape(config) == shape


def test_tfds_data_shape_from_builder(tfds_tmp):
  pytest.importorskip("tensorflow_datasets")
  config = data.default_data_config("mnist")
  config.source = "tfds"
  config.tfds_name = "svhn_cropped"  # not in the built-in table
  assert data.data_shape(config) == (32, 32, 3)


def test_tfds_unprepared_data_set_fails_fast_offline(tfds_tmp):
  pytest.importorskip("tensorflow_datasets")
  config = data.default_data_config("cifar10")
  config.data_dir = str(tfds_tmp / "empty")
  config.tfds_download = False
  with pytest.raises(data.DataError, match="tfds.data_source.*cifar10"):
    data.load_images(config)


def test_tfds_missing_gives_install_hint(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  config = data.default_data_config("cifar10")
  with pytest.raises(data.DataError, match=r"pip install 'gan_jax\[tfds\]'"):
    data.load_images(config)


# ----------------------------------------------------------------------------
# Helpers

def test_model_range():
  images = np.array([0, 1, 127, 128, 254, 255], np.uint8)
  x = jax.jit(data.to_model_range)(jnp.asarray(images))
  assert x.dtype == jnp.float32
  np.testing.assert_allclose(x, images / 127.5 - 1.0, atol=1e-6)
  assert float(x[0]) == -1.0 and float(x[-1]) == 1.0
  back = data.from_model_range(x)
  assert isinstance(back, np.ndarray) and back.dtype == np.float32
  np.testing.assert_allclose(back * 255.0, images, atol=1e-4)
  np.testing.assert_array_equal(
      data.from_model_range(jnp.array([-3.0, 0.0, 3.0])), [0.0, 0.5, 1.0])


def test_unit_pixel_range():
  """'[0,1]' (a sigmoid G, the seed notebooks): x / 255, and back."""
  images = np.array([0, 1, 127, 128, 254, 255], np.uint8)
  x = jax.jit(lambda a: data.to_model_range(a, "[0,1]"))(jnp.asarray(images))
  np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
  assert float(x[0]) == 0.0 and float(x[-1]) == 1.0
  np.testing.assert_allclose(data.from_model_range(x, "[0,1]") * 255.0,
                             images, atol=1e-4)
  np.testing.assert_array_equal(
      data.from_model_range(jnp.array([-0.5, 0.25, 3.0]), "[0,1]"),
      np.float32([0.0, 0.25, 1.0]))
  with pytest.raises(ValueError, match=r"config\.data\.pixel_range"):
    data.to_model_range(images, "[0,255]")


@pytest.mark.parametrize("name,shape", [("ring", (2,)), ("grid", (2,)),
                                        ("gaussian_1d", (1,))])
def test_toy(name, shape):
  config = data.default_data_config(name)
  assert data.data_shape(config) == shape
  dist = data.make_toy_distribution(config)

  def sample_and_score(key):
    samples = dist.sample(key, 16)
    return samples, dist.log_prob(samples)

  # Jitted with backend optimisations off: much faster to compile on CPU.
  samples, log_probs = jax.jit(
      sample_and_score,
      compiler_options={"xla_backend_optimization_level": 0})(
          jax.random.key(0))
  assert samples.shape == (16, *shape)
  assert log_probs.shape == (16,) and np.all(np.isfinite(log_probs))


def test_toy_fields():
  ring = data.make_toy_distribution(ml_collections.ConfigDict(
      dict(name="ring", num_modes=6, radius=3.0, std=0.1)))
  assert isinstance(ring, distributions.GaussianMixture)
  assert ring.num_modes == 6
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=-1), 3.0,
                             rtol=1e-6)
  np.testing.assert_allclose(ring.stds, 0.1)
  grid = data.make_toy_distribution(ml_collections.ConfigDict(
      dict(name="grid", size=3, spacing=1.0, std=0.2)))
  assert grid.num_modes == 9
  np.testing.assert_allclose(np.unique(grid.means), [-1.0, 0.0, 1.0])
  gauss = data.make_toy_distribution(ml_collections.ConfigDict(
      dict(name="gaussian_1d", mean=-1.5, std=0.3)))
  assert isinstance(gauss, distributions.Gaussian)
  np.testing.assert_allclose(gauss.mean, [-1.5])
  np.testing.assert_allclose(gauss.std, [0.3])
  # Fields a config leaves out take the paper defaults.
  default_ring = data.make_toy_distribution(
      ml_collections.ConfigDict(dict(name="ring")))
  assert default_ring.num_modes == 8
  np.testing.assert_allclose(default_ring.stds, 0.02)


def test_toy_errors():
  with pytest.raises(data.DataError, match=r"config\.data\.name.*ring, grid, "
                     r"gaussian_1d"):
    data.make_toy_distribution(ml_collections.ConfigDict(dict(name="moons")))
  with pytest.raises(data.DataError, match=r"config\.data\.std"):
    data.make_toy_distribution(
        ml_collections.ConfigDict(dict(name="grid", std=0.0)))
  with pytest.raises(data.DataError, match=r"config\.data\.num_modes"):
    data.make_toy_distribution(
        ml_collections.ConfigDict(dict(name="ring", num_modes=2.5)))
  with pytest.raises(data.DataError, match=r"config\.data\.name: unknown"):
    data.default_data_config("moons")
  assert issubclass(data.DataError, ValueError)


@pytest.mark.parametrize("process_count", [1, 2, 4])
def test_process_batch_slice(process_count):
  batch = 8
  slices = [data.process_batch_slice(batch, p, process_count)
            for p in range(process_count)]
  covered = np.concatenate([np.arange(batch)[s] for s in slices])
  np.testing.assert_array_equal(covered, np.arange(batch))
  assert all(s.stop - s.start == batch // process_count for s in slices)


def test_process_batch_slice_errors_and_defaults():
  with pytest.raises(data.DataError, match="multiple of the process count 4"):
    data.process_batch_slice(6, 0, 4)
  with pytest.raises(data.DataError, match="out of range"):
    data.process_batch_slice(8, 4, 4)
  assert data.process_batch_slice(8) == slice(0, 8)  # one process here


# ----------------------------------------------------------------------------
# Slices (each process of a multi-host run reads only its share)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("start, stop", [(0, 3), (2, 5), (4, None), (None, 2),
                                         (5, 5), (3, 99)])
def test_read_idx_slice(tmp_path, gz, start, stop):
  array = _images(5, 4, 3)
  path = _write(tmp_path / "f", _idx_bytes(array), gz)
  np.testing.assert_array_equal(data.read_idx(path, start, stop),
                                array[start:stop])


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_slice_of_a_truncated_file(tmp_path, gz):
  array = _images(5, 4, 3)
  path = _write(tmp_path / "f", _idx_bytes(array)[:-13], gz)
  # The rows that are there can be read from a gzipped file; a raw file's
  # size gives the truncation away whatever slice is read.
  if gz:
    np.testing.assert_array_equal(data.read_idx(path, 0, 2), array[:2])
  else:
    with pytest.raises(data.DataError, match="truncated"):
      data.read_idx(path, 0, 2)
  with pytest.raises(data.DataError, match="truncated") as info:
    data.read_idx(path, 3, 5)
  assert path in str(info.value)
  with pytest.raises(data.DataError, match=r"rows \[4, 2\)"):
    data.read_idx(path, 4, 2)


def test_load_images_slice_and_count(tmp_path):
  arrays = _idx_dir(tmp_path, n_train=10, n_test=4, size=8)
  images = arrays["train"][0]
  config = _image_config(tmp_path)
  assert data.num_examples(config, "train") == 10
  assert data.num_examples(config, "test") == 4
  part = data.load_images(config, "train", start=3, stop=7)
  np.testing.assert_array_equal(part, images[3:7, :, :, None])
  config.image_size = 4
  np.testing.assert_array_equal(
      data.load_images(config, "train", start=3, stop=7),
      data.load_images(config, "train")[3:7])
