"""Image data sets and their labels, loaded into host memory.

A data set that fits in device memory is loaded once here as uint8
``[N, H, W, C]`` (from IDX files or TFDS, see ``config.data.source``),
resized to ``config.data.image_size`` if set. A stacked data set
(`gan_jax.data.stacked`) is built here from its base data set's images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import common
from gan_jax.data import idx
from gan_jax.data import stacked
from gan_jax.data import tfds_reader


def image_size(data_config) -> int:
  """config.data.image_size, checked (0 = keep the size)."""
  size = common.field(data_config, "image_size", 0) or 0
  if not isinstance(size, int) or isinstance(size, bool) or size < 0:
    raise common.DataError(f"config.data.image_size must be a non-negative "
                           f"int (0 = keep the size), got {size!r}")
  return size


def _resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  # jax.image.resize is linear and separable; resizing the identity gives its
  # [out, in] weight matrix along one axis.
  eye = jnp.eye(in_size, dtype=jnp.float32)
  return np.asarray(jax.device_get(
      jax.image.resize(eye, (out_size, in_size), method="linear")))


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of uint8 [N, H, W, C] to [N, size, size, C], on the host.

  Matches `jax.image.resize(..., method='linear')` (half-pixel centres,
  antialiased when shrinking), rounded back to uint8.
  """
  n, height, width, channels = images.shape
  if (height, width) == (size, size):
    return images
  rows = _resize_matrix(height, size)
  cols = _resize_matrix(width, size)
  out = np.empty((n, size, size, channels), np.uint8)
  for start in range(0, n, 8192):  # bounded float32 temporaries
    x = images[start:start + 8192].astype(np.float32)
    y = np.einsum("oh,nhwc,pw->nopc", rows, x, cols, optimize=True)
    out[start:start + 8192] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
  return out


def num_examples(data_config, split: str = "train") -> int:
  """How many images a split holds (IDX: from the header alone).

  A stacked data set's split holds as many stacks as its base split images.
  """
  if common.is_stacked(data_config):
    return num_examples(common.stacked_base(data_config), split)
  if common.source(data_config) == "idx":
    return int(idx.read_idx_shape(idx.idx_path(data_config, split,
                                               "images"))[0])
  return len(tfds_reader.data_source(data_config, split))


def load_images(data_config, split: str = "train", *, start: int = 0,
                stop: int | None = None) -> np.ndarray:
  """Loads an image data set, or the slice [start, stop) of it, into memory.

  Args:
    data_config: config.data; fields name, source ('idx' | 'tfds'),
      data_dir, tfds_name, image_size (0 = keep).
    split: 'train' | 'test' for IDX; any TFDS split string for TFDS.
    start, stop: the examples to load (stop None = to the end); the rest of
      the split is not read (a multi-host run loads each process's share).

  Returns:
    uint8 [n, H, W, C] (H = W = image_size if set; C = 3 for a stacked
    data set, whose split holds `num_examples` stacks).

  Raises:
    DataError: unknown name/source, missing or corrupt files, TFDS absent,
      a split whose image size differs from the train split's.
  """
  name = common.field(data_config, "name")
  if name in common.TOY_DATASETS:
    raise common.DataError(f"config.data.name={name!r} is a toy "
                           "distribution; use make_toy_distribution")
  if common.is_stacked(data_config):
    indices = _stack_indices(data_config, split, None)[start:stop]
    return stacked.stack_channels(
        load_images(common.stacked_base(data_config), split), indices)
  size = image_size(data_config)
  if common.source(data_config) == "idx":
    images = _load_idx_images(data_config, split, start, stop)
  else:
    images = tfds_reader.read_feature(data_config, split, "image", start,
                                      stop)
    if images.ndim == 3:
      images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
      raise common.DataError(
          f"TFDS data set {tfds_reader.tfds_name(data_config)!r}: 'image' "
          f"feature has shape {images.shape[1:]} and dtype {images.dtype}; "
          "expected uint8 [H, W, C]")
  if size:
    images = resize_images(images, size)
  return images


def _load_idx_images(data_config, split: str, start: int,
                     stop: int | None) -> np.ndarray:
  """Rows [start, stop) of a split's IDX images as uint8 [n, H, W, 1]."""
  path = idx.idx_path(data_config, split, "images")
  images = idx.read_idx(path, start, stop)
  if images.ndim != 3:
    raise common.DataError(f"{path}: expected an IDX image file (3 dims), "
                           f"got shape {images.shape}")
  if split != "train":
    # The model's shape comes from the train split's header.
    train = idx.idx_path(data_config, "train", "images")
    train_dims = idx.read_idx_shape(train)
    if tuple(train_dims[1:]) != images.shape[1:]:
      raise common.DataError(
          f"{path}: images of size {images.shape[1]}x{images.shape[2]}, "
          f"but the train split {train} (which sets the model's shape) has "
          f"{train_dims[1]}x{train_dims[2]}")
  return images[..., None]


def load_labels(data_config, split: str = "train") -> np.ndarray:
  """Loads the class labels of an image data set: int32 [N].

  A stacked data set's are the class triples of its stacks: int32 [N, 3]
  (row i: the labels of the channels of `load_images(...)[i]`).
  """
  name = common.field(data_config, "name")
  if name in common.TOY_DATASETS:
    raise common.DataError(f"config.data.name={name!r} is a toy distribution "
                           "and has no labels")
  if common.is_stacked(data_config):
    return stacked.stack_labels(
        load_labels(common.stacked_base(data_config), split),
        _stack_indices(data_config, split, None))
  if common.source(data_config) == "idx":
    path = idx.idx_path(data_config, split, "labels")
    labels = idx.read_idx(path)
    if labels.ndim != 1:
      raise common.DataError(f"{path}: expected an IDX label file (1 dim), "
                             f"got shape {labels.shape}")
    images = idx.idx_path(data_config, split, "images")
    count = idx.read_idx_shape(images)[0]
    if labels.shape[0] != count:
      raise common.DataError(f"{path}: {labels.shape[0]} labels, but "
                             f"{images} holds {count} images")
  else:
    labels = tfds_reader.read_feature(data_config, split, "label").reshape(-1)
  return labels.astype(np.int32)


def _stack_indices(data_config, split: str,
                   num_stacks: int | None) -> np.ndarray:
  """The base-image indices [n, 3] of a stacked split's stacks."""
  num_images = num_examples(common.stacked_base(data_config), split)
  return stacked.stack_indices(
      num_images, num_images if num_stacks is None else num_stacks,
      stacked.split_seed(split))


def load_stacked(data_config, split: str = "train", *,
                 num_stacks: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
  """A stacked data set's stacks and class triples, of any number.

  Args:
    data_config: config.data of a stacked data set (common.STACKED_DATASETS).
    split: the base split the channels are drawn from.
    num_stacks: how many (None = as many as the base split has images, as
      `load_images` / `load_labels`); the split's seed either way.

  Returns:
    (uint8 [n, H, W, 3], int32 [n, 3]).
  """
  base = common.stacked_base(data_config)
  indices = _stack_indices(data_config, split, num_stacks)
  return (stacked.stack_channels(load_images(base, split), indices),
          stacked.stack_labels(load_labels(base, split), indices))


def describe_source(data_config) -> str:
  """Where an image data set's train split is read from, for messages."""
  if common.is_stacked(data_config):
    return ("stacks of three images of "
            + describe_source(common.stacked_base(data_config)))
  if common.source(data_config) == "idx":
    try:
      return idx.idx_path(data_config, "train", "images")
    except common.DataError:
      data_dir = common.field(data_config, "data_dir", "")
      return f"the IDX files in config.data.data_dir={data_dir!r}"
  return f"TFDS data set {tfds_reader.tfds_name(data_config)!r}"
