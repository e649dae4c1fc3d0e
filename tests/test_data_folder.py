"""data.name='image_folder': layouts, formats, preprocessing, cache, bad input."""

import logging
import os
import shutil
import time

import numpy as np
from PIL import Image
import pytest

from gan_jax import data
from gan_jax.data import cache
from gan_jax.data import folder as folder_lib
from gan_jax.data import preprocess


@pytest.fixture(autouse=True)
def _fresh_process():
  # Each test (and each "second run" inside one) resolves caches anew, as a
  # new process would.
  folder_lib.clear_memo()
  yield
  folder_lib.clear_memo()


def _pixels(shape, seed):
  return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def _save(path, array, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  mode = "L" if array.ndim == 2 else {3: "RGB", 4: "RGBA"}[array.shape[2]]
  Image.fromarray(array, mode).save(path, **kwargs)


def _config(path, tmp_path, **overrides):
  config = data.default_data_config("image_folder")
  config.data_dir = str(path)
  config.cache_dir = str(tmp_path / "cache")
  config.update(overrides)
  return config


def _caches(tmp_path):
  root = tmp_path / "cache"
  return sorted(os.listdir(root)) if root.exists() else []


def _labelled(root, classes=("cat", "dog", "emu"), per_class=2, size=(6, 5),
              channels=3, seed=0):
  """root/<class>/<i>.png; returns (images [N, H, W, C], labels) in order."""
  images, labels = [], []
  for label, name in enumerate(classes):
    for i in range(per_class):
      shape = (size[1], size[0]) + ((channels,) if channels == 3 else ())
      array = _pixels(shape, seed + 10 * label + i)
      _save(os.path.join(root, name, f"{i}.png"), array)
      images.append(array.reshape(size[1], size[0], -1))
      labels.append(label)
  return np.stack(images), np.array(labels)


# --- Layouts.


def test_labelled_folder(tmp_path):
  images, labels = _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path, center_crop=False)
  out = data.load_images(config)
  np.testing.assert_array_equal(out, images)
  assert out.dtype == np.uint8 and isinstance(out, np.memmap)
  assert not out.flags.writeable
  np.testing.assert_array_equal(data.load_labels(config), labels)
  assert data.load_labels(config).dtype == np.int32
  assert data.num_classes(config) == 3
  assert data.num_examples(config) == 6
  assert data.data_shape(config) == (5, 6, 3)
  assert not data.has_test_split(config)
  assert str(tmp_path / "d") in data.describe_source(config)
  np.testing.assert_array_equal(data.load_images(config, start=2, stop=4),
                                images[2:4])


def test_flat_folder_has_no_labels(tmp_path):
  for i in range(3):
    _save(str(tmp_path / "d" / f"{i}.png"), _pixels((4, 4), i))
  config = _config(tmp_path / "d", tmp_path)
  assert data.load_images(config).shape == (3, 4, 4, 1)
  assert data.num_classes(config) == 0
  with pytest.raises(data.DataError, match="flat folder .* no labels"):
    data.load_labels(config)


def test_nested_images_in_a_class(tmp_path):
  _save(str(tmp_path / "d" / "a" / "x" / "deep.png"), _pixels((4, 4), 0))
  _save(str(tmp_path / "d" / "b" / "top.png"), _pixels((4, 4), 1))
  config = _config(tmp_path / "d", tmp_path)
  np.testing.assert_array_equal(data.load_labels(config), [0, 1])


def test_train_and_test_splits(tmp_path, caplog):
  train_images, train_labels = _labelled(tmp_path / "d" / "train", seed=0)
  test_images, test_labels = _labelled(tmp_path / "d" / "test", per_class=1,
                                       seed=100)
  config = _config(tmp_path / "d", tmp_path, center_crop=False)
  assert data.has_test_split(config)
  np.testing.assert_array_equal(data.load_images(config, "train"),
                                train_images)
  with caplog.at_level(logging.WARNING):
    np.testing.assert_array_equal(data.load_images(config, "test"),
                                  test_images)
  np.testing.assert_array_equal(data.load_labels(config, "test"), test_labels)
  assert data.num_examples(config, "test") == 3
  assert data.num_classes(config) == 3
  assert "no test split" not in caplog.text


def test_no_test_split_reads_train_with_one_warning(tmp_path, caplog):
  images, labels = _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path, center_crop=False)
  with caplog.at_level(logging.WARNING):
    np.testing.assert_array_equal(data.load_images(config, "test"), images)
    np.testing.assert_array_equal(data.load_labels(config, "test"), labels)
  assert caplog.text.count("no test split") == 1
  assert "compare against training images" in caplog.text


# --- Formats.


@pytest.mark.parametrize("name,kwargs,lossless,channels", [
    ("a.png", {}, True, 1), ("a.PNG", {}, True, 1), ("a.bmp", {}, True, 1),
    ("a.tif", {}, True, 1), ("a.TIFF", {}, True, 1),
    ("a.gif", {}, True, 1),  # a palette of greys counts as grey
    ("a.webp", {"lossless": True}, True, 3),  # WebP stores RGB only
    ("a.jpg", {"quality": 95}, False, 1),
    ("a.JPEG", {"quality": 95}, False, 1)])
def test_formats(tmp_path, name, kwargs, lossless, channels):
  array = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
  _save(str(tmp_path / "d" / name), array, **kwargs)
  # Ignored: hidden files, other extensions, hidden folders.
  _save(str(tmp_path / "d" / ".hidden.png"), _pixels((3, 3), 0))
  _save(str(tmp_path / "d" / ".git" / "x.png"), _pixels((3, 3), 0))
  (tmp_path / "d" / "notes.txt").write_text("not an image")
  out = data.load_images(_config(tmp_path / "d", tmp_path))
  assert out.shape == (1, 16, 16, channels)
  error = np.abs(out[0].astype(int) - array[..., None]).max()
  assert error == 0 if lossless else error <= 8


# --- Preprocessing.


@pytest.mark.parametrize("modes,channels,expected", [
    (("L", "L"), 0, 1), (("L", "RGB"), 0, 3), (("RGB", "RGB"), 0, 3),
    (("L", "RGB"), 1, 1), (("L", "L"), 3, 3)])
def test_channels(tmp_path, modes, channels, expected):
  for i, mode in enumerate(modes):
    shape = (4, 4) if mode == "L" else (4, 4, 3)
    _save(str(tmp_path / "d" / f"{i}.png"), _pixels(shape, i))
  out = data.load_images(_config(tmp_path / "d", tmp_path, channels=channels))
  assert out.shape == (2, 4, 4, expected)


def test_grey_is_itu_601_luma_and_rgb_repeats_grey(tmp_path):
  rgb = _pixels((4, 4, 3), 0)
  grey = _pixels((4, 4), 1)
  _save(str(tmp_path / "d" / "0.png"), rgb)
  _save(str(tmp_path / "d" / "1.png"), grey)
  out = data.load_images(_config(tmp_path / "d", tmp_path, channels=1))
  luma = rgb.astype(float) @ [0.299, 0.587, 0.114]
  assert np.abs(out[0, ..., 0] - luma).max() <= 1
  np.testing.assert_array_equal(out[1, ..., 0], grey)
  folder_lib.clear_memo()
  out = data.load_images(_config(tmp_path / "d", tmp_path, channels=3))
  np.testing.assert_array_equal(out[1], np.repeat(grey[..., None], 3, -1))


def test_alpha_is_composited_on_black(tmp_path):
  rgba = np.zeros((1, 3, 4), np.uint8)
  rgba[0, :, :3] = [200, 100, 50]
  rgba[0, :, 3] = [0, 255, 128]
  _save(str(tmp_path / "d" / "a.png"), rgba)
  out = data.load_images(_config(tmp_path / "d", tmp_path, center_crop=False))
  expected = np.rint(np.outer([0, 255, 128], [200, 100, 50]) / 255)
  np.testing.assert_array_equal(out[0, 0], expected)


def test_16_bit_grey_is_scaled(tmp_path):
  array = np.array([[0, 257, 65535, 32896]], np.uint16)
  os.makedirs(tmp_path / "d")
  image = Image.fromarray(array)
  assert image.mode == "I;16"
  image.save(tmp_path / "d" / "a.png")
  out = data.load_images(_config(tmp_path / "d", tmp_path, center_crop=False))
  np.testing.assert_array_equal(out[0, 0, :, 0], [0, 1, 255, 128])


def test_center_crop_keeps_the_middle_square(tmp_path):
  array = _pixels((6, 10, 3), 0)
  _save(str(tmp_path / "d" / "a.png"), array)
  out = data.load_images(_config(tmp_path / "d", tmp_path))
  np.testing.assert_array_equal(out[0], array[:, 2:8])


@pytest.mark.parametrize("resize_filter", list(preprocess.FILTERS))
@pytest.mark.parametrize("center_crop", [True, False])
def test_resize_uses_pillows_filter(tmp_path, resize_filter, center_crop):
  array = _pixels((12, 16, 3), 0)
  _save(str(tmp_path / "d" / "a.png"), array)
  out = data.load_images(_config(tmp_path / "d", tmp_path, image_size=5,
                                 resize_filter=resize_filter,
                                 center_crop=center_crop))
  image = Image.fromarray(array)
  box = (2, 0, 14, 12) if center_crop else None
  expected = np.asarray(image.resize((5, 5), preprocess.FILTERS[resize_filter],
                                     box=box))
  np.testing.assert_array_equal(out[0], expected)


def test_sizes_must_agree_without_image_size(tmp_path):
  _save(str(tmp_path / "d" / "a.png"), _pixels((4, 4), 0))
  _save(str(tmp_path / "d" / "b.png"), _pixels((6, 6), 0))
  config = _config(tmp_path / "d", tmp_path)
  with pytest.raises(data.DataError, match="different sizes.*image_size"):
    data.load_images(config)
  assert _caches(tmp_path) == []
  folder_lib.clear_memo()
  assert data.load_images(_config(tmp_path / "d", tmp_path,
                                  image_size=4)).shape == (2, 4, 4, 1)


def test_small_images_refused_unless_upscaling(tmp_path, caplog):
  _save(str(tmp_path / "d" / "a.png"), _pixels((8, 8), 0))
  _save(str(tmp_path / "d" / "b.png"), _pixels((3, 5), 0))
  _save(str(tmp_path / "d" / "c.png"), _pixels((4, 4), 0))
  with pytest.raises(data.DataError) as e:
    data.load_images(_config(tmp_path / "d", tmp_path, image_size=6))
  assert str(tmp_path / "d" / "b.png") in str(e.value)
  assert "5x3" in str(e.value) and "allow_upscale" in str(e.value)
  assert "\n" not in str(e.value)
  assert _caches(tmp_path) == []
  with caplog.at_level(logging.INFO):
    out = data.load_images(_config(tmp_path / "d", tmp_path, image_size=6,
                                   allow_upscale=True))
  assert out.shape == (3, 6, 6, 1)
  assert "upscaling 2 of 3 images" in caplog.text


def test_bad_preprocessing_values(tmp_path):
  _save(str(tmp_path / "d" / "a.png"), _pixels((4, 4), 0))
  for field, value in (("channels", 2), ("channels", True),
                       ("resize_filter", "cubic"), ("image_size", -1),
                       ("center_crop", "yes")):
    folder_lib.clear_memo()
    config = dict(_config(tmp_path / "d", tmp_path), **{field: value})
    with pytest.raises(data.DataError, match=f"config.data.{field}"):
      data.load_images(config)


# --- Corrupt images.


def _corrupt(tmp_path, how):
  for i in range(3):
    _save(str(tmp_path / "d" / f"{i}.png"), _pixels((8, 8), i))
  bad = tmp_path / "d" / "1.png"
  if how == "truncated":
    bad.write_bytes(bad.read_bytes()[:60])
  else:
    bad.write_bytes(b"this is not a png")
  return str(bad)


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_corrupt_image_is_named(tmp_path, how):
  bad = _corrupt(tmp_path, how)
  with pytest.raises(data.DataError) as e:
    data.load_images(_config(tmp_path / "d", tmp_path))
  assert str(e.value).startswith(bad + ": cannot read the image")
  assert "config.data.skip_bad_images" in str(e.value)
  assert "\n" not in str(e.value)
  assert _caches(tmp_path) == []  # nothing left, not even a temporary


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_skip_bad_images(tmp_path, how, caplog):
  _corrupt(tmp_path, how)
  with caplog.at_level(logging.WARNING):
    out = data.load_images(_config(tmp_path / "d", tmp_path,
                                   skip_bad_images=True))
  np.testing.assert_array_equal(out[:, ..., 0],
                                [_pixels((8, 8), 0), _pixels((8, 8), 2)])
  assert "skipped 1 unreadable images" in caplog.text


# --- The cache.


def test_second_load_opens_no_image(tmp_path, monkeypatch):
  images, labels = _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path)
  first = np.array(data.load_images(config))
  folder_lib.clear_memo()

  def no_open(*args, **kwargs):
    raise AssertionError("an image was opened")

  monkeypatch.setattr(Image, "open", no_open)
  np.testing.assert_array_equal(data.load_images(config), first)
  np.testing.assert_array_equal(data.load_labels(config), labels)
  assert data.data_shape(config) == (5, 5, 3)
  assert len(_caches(tmp_path)) == 1
  meta = cache.read_meta(os.path.join(tmp_path / "cache", _caches(tmp_path)[0]))
  assert meta["classes"] == ["cat", "dog", "emu"]
  assert meta["num_examples"] == 6 and meta["shape"] == [5, 5, 3]
  assert meta["folder"] == os.path.realpath(tmp_path / "d")
  assert meta["settings"]["resize_filter"] == "lanczos"


def _add(root):
  _save(str(root / "cat" / "new.png"), _pixels((5, 6, 3), 99))


def _remove(root):
  os.remove(root / "dog" / "0.png")


def _modify(root):
  path = root / "emu" / "1.png"
  _save(str(path), _pixels((5, 6, 3), 98))
  os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))


@pytest.mark.parametrize("change,count", [(_add, 7), (_remove, 5),
                                          (_modify, 6)])
def test_changed_folder_gets_a_new_cache(tmp_path, change, count, caplog):
  _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path)
  before = np.array(data.load_images(config))
  old = _caches(tmp_path)
  held = data.load_images(config)  # a run's memmap of its own cache
  change(tmp_path / "d")
  # The same process keeps its data.
  np.testing.assert_array_equal(data.load_images(config), before)
  folder_lib.clear_memo()
  with caplog.at_level(logging.WARNING):
    after = data.load_images(config)
  assert len(after) == count
  assert not np.array_equal(after, before) or change is not _modify
  assert "changed since its cache" in caplog.text
  assert f"(6 files then, {count} now)" in caplog.text
  assert set(old) < set(_caches(tmp_path)) and len(_caches(tmp_path)) == 2
  np.testing.assert_array_equal(held, before)  # old cache left in place


def test_preprocessing_fields_key_the_cache(tmp_path):
  _labelled(tmp_path / "d")
  for size in (4, 3, 4):
    folder_lib.clear_memo()
    assert data.load_images(_config(tmp_path / "d", tmp_path,
                                    image_size=size)).shape[1] == size
  assert len(_caches(tmp_path)) == 2


def test_crashed_build_leaves_nothing(tmp_path, monkeypatch):
  _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path)
  calls = []
  original = preprocess.to_array

  def crash(*args):
    calls.append(1)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return original(*args)

  monkeypatch.setattr(preprocess, "to_array", crash)
  with pytest.raises(KeyboardInterrupt):
    data.load_images(config)
  assert _caches(tmp_path) == []
  monkeypatch.setattr(preprocess, "to_array", original)
  assert len(data.load_images(config)) == 6


def test_concurrent_builder_uses_the_first_cache(tmp_path):
  target = str(tmp_path / "cache" / "x")

  def fill(value):
    def write(tmp):
      np.save(os.path.join(tmp, cache.IMAGES_FILE),
              np.full((1, 2, 2, 1), value, np.uint8))
      return dict(value=value)
    return write

  assert cache.build(target, fill(1)) == dict(value=1)
  assert cache.build(target, fill(2)) == dict(value=1)  # lost the rename
  assert cache.images(target)[0, 0, 0, 0] == 1
  assert os.listdir(tmp_path / "cache") == ["x"]


def test_default_cache_root_is_the_user_cache(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE_DIR", str(tmp_path / "env"))
  config = _config(tmp_path / "d", tmp_path, cache_dir="")
  assert cache.root(config) == str(tmp_path / "env" / "data")
  monkeypatch.delenv("GAN_JAX_CACHE_DIR")
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert cache.root(config) == str(tmp_path / "xdg" / "gan_jax" / "data")


# --- Bad input: one line naming the path and what is allowed.


def _layout_empty_class(root):
  _labelled(root)
  os.makedirs(root / "fox")
  return str(root / "fox")


def _layout_mixed(root):
  _labelled(root)
  _save(str(root / "stray.png"), _pixels((5, 6, 3), 0))
  return str(root)


def _layout_classes_differ(root):
  _labelled(root / "train")
  _labelled(root / "test", classes=("cat", "dog", "elk"))
  return "different class sub-folders"


def _layout_no_images(root):
  os.makedirs(root)
  (root / "readme.txt").write_text("x")
  return ".png"


def _layout_empty(root):
  os.makedirs(root)
  return ".jpeg"


def _layout_missing(root):
  return "no such folder"


def _layout_file(root):
  root.write_bytes(b"x")
  return "arrays"


@pytest.mark.parametrize("layout", [
    _layout_empty_class, _layout_mixed, _layout_classes_differ,
    _layout_no_images, _layout_empty, _layout_missing, _layout_file],
                         ids=lambda f: f.__name__[len("_layout_"):])
def test_bad_layouts(tmp_path, layout):
  root = tmp_path / "d"
  expected = layout(root)
  with pytest.raises(data.DataError) as e:
    data.load_images(_config(root, tmp_path))
  message = str(e.value)
  assert expected in message and "\n" not in message
  assert str(root) in message
  assert _caches(tmp_path) == []


def test_no_data_dir_and_unknown_split(tmp_path):
  with pytest.raises(data.DataError, match="data_dir must name a folder"):
    data.load_images(_config("", tmp_path))
  _labelled(tmp_path / "d")
  with pytest.raises(data.DataError, match="split 'validation'.*train, test"):
    data.load_images(_config(tmp_path / "d", tmp_path), "validation")


# --- The same config from an image folder.


FASHION_MNIST = data.DEFAULT_IDX_DIR


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_pngs_give_the_same_pixels_and_labels(tmp_path):
  expected = {}
  for split in ("train", "test"):
    images = data.read_idx(os.path.join(
        FASHION_MNIST, data.IDX_FILES[(split, "images")] + ".gz"), 0, 200)
    labels = data.read_idx(os.path.join(
        FASHION_MNIST, data.IDX_FILES[(split, "labels")] + ".gz"), 0, 200)
    # Two images of each class, written as root/split/<label>/<index>.png.
    chosen = sorted(i for c in range(10)
                    for i in np.flatnonzero(labels == c)[:2])
    for i in chosen:
      _save(str(tmp_path / "d" / split / str(labels[i]) / f"{i:03d}.png"),
            images[i])
    order = sorted(chosen, key=lambda i: (labels[i], i))
    expected[split] = (images[order][..., None], labels[order])
  config = _config(tmp_path / "d", tmp_path)
  assert data.data_shape(config) == (28, 28, 1)
  assert data.num_classes(config) == 10
  for split, (images, labels) in expected.items():
    np.testing.assert_array_equal(data.load_images(config, split), images)
    np.testing.assert_array_equal(data.load_labels(config, split), labels)


def test_a_config_validates_with_an_image_folder(tmp_path):
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  _labelled(tmp_path / "d", size=(28, 28), channels=1, per_class=1)
  config = config_lib.default_config()
  config.data = _config(tmp_path / "d", tmp_path)
  config.model.name = "mlp"
  config_lib.validate(config, num_devices=1)
  assert data.data_shape(config.data) == (28, 28, 1)


def test_mirrored():
  config = data.default_data_config("image_folder")
  assert data.mirrored(config) is False
  config.mirror = True
  assert data.mirrored(config) is True
  assert data.mirrored(dict(name="fashion_mnist")) is False


def test_feature_extractor_cache_follows_the_folders_content(tmp_path):
  from gan_jax import feature_extractor  # pylint: disable=g-import-not-at-top
  _labelled(tmp_path / "d")
  config = _config(tmp_path / "d", tmp_path)
  name = feature_extractor.cache_name(config)
  assert name.startswith("image_folder-5x5x3-")
  assert name == feature_extractor.cache_name(config)
  _add(tmp_path / "d")
  folder_lib.clear_memo()
  assert feature_extractor.cache_name(config) != name


def test_num_classes_checks_the_layout_without_decoding(tmp_path,
                                                        monkeypatch):
  _labelled(tmp_path / "d", classes=("a", "b", "c", "d"), per_class=1)
  monkeypatch.setattr(Image, "open", None)
  assert data.num_classes(_config(tmp_path / "d", tmp_path)) == 4
  os.makedirs(tmp_path / "d" / "e")
  with pytest.raises(data.DataError, match="class sub-folder holds no"):
    data.num_classes(_config(tmp_path / "d", tmp_path))


def test_skipping_every_image_is_an_error(tmp_path):
  _save(str(tmp_path / "d" / "a.png"), _pixels((8, 8), 0))
  path = tmp_path / "d" / "a.png"
  path.write_bytes(path.read_bytes()[:60])
  with pytest.raises(data.DataError, match="none of its 1 images"):
    data.load_images(_config(tmp_path / "d", tmp_path, skip_bad_images=True))
  assert _caches(tmp_path) == []
