"""Image data sets and their labels, loaded into host memory.

A data set that fits in device memory is loaded once here as uint8
``[N, H, W, C]``, resized to ``config.data.image_size`` if set. How a data
set loads is its registration's ``loader=`` (a `common.Loader`: the
stacked sets, ``image_folder``, ``arrays``); one without (fashion_mnist,
mnist, cifar10, any TFDS name) loads by ``config.data.source`` from
`SOURCE_LOADERS` (IDX files or TFDS). The public functions here dispatch
to it; a split 'test' of a data set without one reads 'train' (one warning).
"""

from __future__ import annotations

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import registry
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


def loader_of(data_config) -> common.Loader:
  """The `common.Loader` of an image data set (see the module docstring)."""
  name = common.field(data_config, "name")
  if name in common.TOY_DATASETS:
    raise common.DataError(f"config.data.name={name!r} is a toy "
                           "distribution; use make_toy_distribution")
  if name is None:
    raise common.DataError("config.data.name is required")
  if name in registry.DATASETS.names():
    loader = registry.DATASETS.get(name).info.get("loader")
    if loader is not None:
      return loader
  return SOURCE_LOADERS[common.source(data_config)]


_warned_no_test: set[str] = set()


def _split(loader: common.Loader, data_config, split: str) -> str:
  """`split`, or 'train' for 'test' when there is no test split (warned)."""
  if split != "test" or loader.has_test_split(data_config):
    return split
  where = loader.describe(data_config)
  if where not in _warned_no_test:
    _warned_no_test.add(where)
    logging.warning("data: %s has no test split; its train split stands in "
                    "for it, so the metrics compare against training images",
                    where)
  return "train"


def num_examples(data_config, split: str = "train") -> int:
  """How many images a split holds (IDX: from the header alone).

  A stacked data set's split holds as many stacks as its base split images.
  """
  loader = loader_of(data_config)
  return int(loader.num_examples(data_config,
                                 _split(loader, data_config, split)))


def load_images(data_config, split: str = "train", *, start: int = 0,
                stop: int | None = None) -> np.ndarray:
  """Loads an image data set, or the slice [start, stop) of it, into memory.

  Args:
    data_config: config.data; fields name, source ('idx' | 'tfds'),
      data_dir, tfds_name, image_size (0 = keep), and the data set's own.
    split: 'train' | 'test' for IDX, image_folder and arrays ('test' of a
      data set without one: the train split, with a warning); any TFDS
      split string for TFDS.
    start, stop: the examples to load (stop None = to the end); the rest of
      the split is not read (a multi-host run loads each process's share).

  Returns:
    uint8 [n, H, W, C] (H = W = image_size if set; C = 3 for a stacked
    data set, whose split holds `num_examples` stacks). image_folder and
    arrays may return a read-only memmap of their cache.

  Raises:
    DataError: unknown name/source, missing or corrupt files, TFDS absent,
      a split whose image size differs from the train split's.
  """
  loader = loader_of(data_config)
  return loader.images(data_config, _split(loader, data_config, split),
                       start, stop)


def load_labels(data_config, split: str = "train") -> np.ndarray:
  """Loads the class labels of an image data set: int32 [N].

  A stacked data set's are the class triples of its stacks: int32 [N, 3]
  (row i: the labels of the channels of `load_images(...)[i]`).
  """
  name = common.field(data_config, "name")
  if name in common.TOY_DATASETS:
    raise common.DataError(f"config.data.name={name!r} is a toy distribution "
                           "and has no labels")
  loader = loader_of(data_config)
  labels = loader.labels(data_config, _split(loader, data_config, split))
  return np.asarray(labels).astype(np.int32)


def num_classes(data_config) -> int:
  """The number of classes of an image data set's labels (0 = no labels).

  IDX: max label + 1 of the train labels; TFDS: the label feature's
  num_classes; image_folder: the class sub-folders (0 for a flat folder);
  arrays: labels.max() + 1 (0 without labels); stacked: its base's (each
  channel's label; the triples have num_classes ** 3 values).
  """
  return int(loader_of(data_config).num_classes(data_config))


def has_test_split(data_config) -> bool:
  """Whether the data set has a 'test' split (else 'test' reads 'train')."""
  return bool(loader_of(data_config).has_test_split(data_config))


def data_fingerprint(data_config) -> str:
  """'' or a short hash of the data's content (see `common.Loader`)."""
  return loader_of(data_config).fingerprint(data_config)


def describe_source(data_config) -> str:
  """Where an image data set's train split is read from, for messages."""
  return loader_of(data_config).describe(data_config)


def _resized(data_config, images: np.ndarray) -> np.ndarray:
  size = image_size(data_config)
  return resize_images(images, size) if size else images


def _idx_images(data_config, split: str, start: int,
                stop: int | None) -> np.ndarray:
  return _resized(data_config, _load_idx_images(data_config, split, start,
                                                stop))


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


def _idx_labels(data_config, split: str) -> np.ndarray:
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
  return labels


def _idx_shape(data_config) -> tuple[int, int, int]:
  path = idx.idx_path(data_config, "train", "images")
  dims = idx.read_idx_shape(path)
  if len(dims) != 3:
    raise common.DataError(f"{path}: expected an IDX image file, header "
                           f"dims {dims}")
  return _sized(data_config, (dims[1], dims[2], 1))


def _sized(data_config, shape) -> tuple[int, int, int]:
  size = image_size(data_config)
  if size:
    shape = (size, size, shape[2])
  return tuple(int(d) for d in shape)


def _describe_idx(data_config) -> str:
  try:
    return idx.idx_path(data_config, "train", "images")
  except common.DataError:
    data_dir = common.field(data_config, "data_dir", "")
    return f"the IDX files in config.data.data_dir={data_dir!r}"


def _idx_num_classes(data_config) -> int:
  labels = _idx_labels(data_config, "train")
  return int(labels.max()) + 1 if labels.size else 0


def _tfds_images(data_config, split: str, start: int,
                 stop: int | None) -> np.ndarray:
  images = tfds_reader.read_feature(data_config, split, "image", start, stop)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.dtype != np.uint8:
    raise common.DataError(
        f"TFDS data set {tfds_reader.tfds_name(data_config)!r}: 'image' "
        f"feature has shape {images.shape[1:]} and dtype {images.dtype}; "
        "expected uint8 [H, W, C]")
  return _resized(data_config, images)


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


# The data sets registered without loader= load by config.data.source.
SOURCE_LOADERS = {
    "idx": common.Loader(
        images=_idx_images, labels=_idx_labels,
        num_examples=lambda c, split: int(idx.read_idx_shape(
            idx.idx_path(c, split, "images"))[0]),
        shape=_idx_shape, describe=_describe_idx,
        num_classes=_idx_num_classes),
    "tfds": common.Loader(
        images=_tfds_images,
        labels=lambda c, split: tfds_reader.read_feature(
            c, split, "label").reshape(-1),
        num_examples=lambda c, split: len(tfds_reader.data_source(c, split)),
        shape=lambda c: _sized(c, tfds_reader.image_shape(c)),
        describe=lambda c: f"TFDS data set {tfds_reader.tfds_name(c)!r}",
        num_classes=tfds_reader.num_classes),
}
