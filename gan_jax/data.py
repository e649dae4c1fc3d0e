"""Data: toy distributions, local IDX files (MNIST format), TFDS.

Host-side loading plus small jit-friendly helpers. A data set that fits in
device memory is loaded once here as uint8 ``[N, H, W, C]``, put on the
devices by the training engine, and batches are gathered inside the jitted
step by index and mapped to the model range with `to_model_range`.

Sources (``config.data``):

* toy (``name`` in TOY_DATASETS): `make_toy_distribution` returns a
  `gan_jax.distributions` object sampled on device; no files.
* ``source='idx'``: MNIST-format IDX files (LeCun et al. 1998) in
  ``data_dir`` ('' = DEFAULT_IDX_DIR, where Debian's ``dataset-fashion-mnist``
  package installs Fashion-MNIST; works offline).
* ``source='tfds'``: ``tfds.data_source`` (needs the optional
  ``gan_jax[tfds]`` extra; tensorflow itself is not needed). MNIST, CIFAR-10
  and the rest on a machine that can download them, or from a prepared
  ``data_dir``.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import distributions

TOY_DATASETS = ("ring", "grid", "gaussian_1d")
IDX_DATASETS = ("fashion_mnist", "mnist")
# Names known without asking TFDS; any other TFDS image data set name also
# works with source='tfds'.
IMAGE_DATASETS = ("fashion_mnist", "mnist", "cifar10")
SOURCES = ("idx", "tfds")
IDX_SPLITS = ("train", "test")

# Debian's `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`;
# `dpkg -L dataset-fashion-mnist` lists the files).
DEFAULT_IDX_DIR = "/usr/share/datasets/fashion-mnist"

# Standard IDX file stems (as distributed by LeCun and Zalando); read
# gzipped (`<stem>.gz`) or raw.
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

IDX_MAGIC_LABELS = 0x00000801  # unsigned byte, 1 dimension
IDX_MAGIC_IMAGES = 0x00000803  # unsigned byte, 3 dimensions
_IDX_NDIM = {IDX_MAGIC_LABELS: 1, IDX_MAGIC_IMAGES: 3}

# Shapes of known image data sets, so `data_shape` needs no files.
_KNOWN_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}

_TOY_DEFAULTS = {
    "ring": dict(num_modes=8, radius=2.0, std=0.02),
    "grid": dict(size=5, spacing=2.0, std=0.05),
    "gaussian_1d": dict(mean=4.0, std=0.5),
}

_HOW_TO_GET = (
    "Get Fashion-MNIST offline with `apt-get install dataset-fashion-mnist` "
    f"(files in {DEFAULT_IDX_DIR}), point config.data.data_dir at a folder "
    "with the standard IDX files (train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-...), or use "
    "config.data.source='tfds' (pip install 'gan_jax[tfds]').")


class DataError(ValueError):
  """A data set is missing, corrupt, or configured wrongly."""


# ----------------------------------------------------------------------------
# Config.

def default_data_config(name: str = "ring") -> ml_collections.ConfigDict:
  """Returns a data ConfigDict with every field, defaults chosen for `name`.

  Fields:
    name: a toy name (TOY_DATASETS) or an image data set name.
    source: 'idx' | 'tfds' (images only).
    data_dir: IDX folder ('' = DEFAULT_IDX_DIR) or TFDS data_dir ('' = the
      TFDS default).
    tfds_name: TFDS builder name if different from `name` ('' = name).
    tfds_download: let TFDS download and prepare a missing data set (needs
      internet; set False on offline machines to fail at once instead of
      waiting for the download to time out).
    image_size: resize images to image_size x image_size (0 = keep).
    num_modes, radius, std: ring (Srivastava et al. 2017 defaults).
    size, spacing, std: grid.
    mean, std: gaussian_1d.
  The toy fields share `std`, so its default follows `name`.
  """
  if name not in TOY_DATASETS and name not in IMAGE_DATASETS:
    _unknown_name(name)
  config = ml_collections.ConfigDict()
  config.name = name
  # Toy data ignores `source`; image data sets without IDX files need TFDS.
  needs_tfds = name in IMAGE_DATASETS and name not in IDX_DATASETS
  config.source = "tfds" if needs_tfds else "idx"
  config.data_dir = ""
  config.tfds_name = ""
  config.tfds_download = True
  config.image_size = 0
  toy = {}
  for defaults in (_TOY_DEFAULTS["gaussian_1d"], _TOY_DEFAULTS["grid"],
                   _TOY_DEFAULTS["ring"], _TOY_DEFAULTS.get(name, {})):
    toy.update(defaults)
  for field, value in toy.items():
    config[field] = value
  return config


def _unknown_name(name) -> None:
  raise DataError(
      f"config.data.name: unknown data set {name!r}; valid: toy "
      f"{', '.join(TOY_DATASETS)}; images {', '.join(IDX_DATASETS)} "
      "(source='idx') or any TFDS image data set (source='tfds', e.g. "
      "cifar10)")


def _field(data_config, field: str, default: Any = None) -> Any:
  if hasattr(data_config, "get"):
    value = data_config.get(field, default)
  else:
    value = getattr(data_config, field, default)
  return default if value is None else value


def is_toy(data_config) -> bool:
  """Whether config.data names a toy distribution (sampled, no files)."""
  return _field(data_config, "name") in TOY_DATASETS


def _source(data_config) -> str:
  source = _field(data_config, "source", "idx")
  if source not in SOURCES:
    raise DataError(f"config.data.source: unknown source {source!r}; valid: "
                    f"{', '.join(SOURCES)}")
  return source


# ----------------------------------------------------------------------------
# Toy distributions.

def make_toy_distribution(
    data_config) -> distributions.Gaussian | distributions.GaussianMixture:
  """Returns the toy p_data named by config.data.name.

  'ring': `distributions.ring(num_modes, radius, std)`;
  'grid': `distributions.grid(size, spacing, std)`;
  'gaussian_1d': `distributions.Gaussian(mean, std)` in 1 dimension.
  Fields a config leaves out take the defaults of `default_data_config`.

  Raises:
    DataError: unknown name, or a value out of range (naming the field).
  """
  name = _field(data_config, "name")
  if name not in TOY_DATASETS:
    raise DataError(
        f"config.data.name: {name!r} is not a toy distribution; valid: "
        f"{', '.join(TOY_DATASETS)}")
  values = {}
  for field, default in _TOY_DEFAULTS[name].items():
    value = _field(data_config, field, default)
    if isinstance(default, int):
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise DataError(f"config.data.{field} must be a positive int for "
                        f"name={name!r}, got {value!r}")
    else:
      try:
        value = float(value)
      except (TypeError, ValueError):
        raise DataError(f"config.data.{field} must be a number, got "
                        f"{value!r}") from None
      if field in ("std", "radius", "spacing") and not value > 0:
        raise DataError(f"config.data.{field} must be > 0 for name={name!r}, "
                        f"got {value}")
    values[field] = value
  if name == "ring":
    return distributions.ring(**values)
  if name == "grid":
    return distributions.grid(**values)
  return distributions.Gaussian(jnp.array([values["mean"]], jnp.float32),
                                jnp.array([values["std"]], jnp.float32))


# ----------------------------------------------------------------------------
# IDX files.

def _open_idx(path: str):
  with open(path, "rb") as f:
    gzipped = f.read(2) == b"\x1f\x8b"
  return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_idx_header(f, path: str) -> tuple[int, tuple[int, ...]]:
  head = f.read(4)
  if len(head) < 4:
    raise DataError(f"{path}: truncated IDX file (no header). {_HOW_TO_GET}")
  (magic,) = struct.unpack(">I", head)
  if magic not in _IDX_NDIM:
    raise DataError(
        f"{path}: not an unsigned-byte IDX file of labels or images: magic "
        f"number 0x{magic:08x}, expected 0x{IDX_MAGIC_LABELS:08x} (labels) or "
        f"0x{IDX_MAGIC_IMAGES:08x} (images). {_HOW_TO_GET}")
  ndim = _IDX_NDIM[magic]
  raw_dims = f.read(4 * ndim)
  if len(raw_dims) < 4 * ndim:
    raise DataError(f"{path}: truncated IDX header. {_HOW_TO_GET}")
  dims = struct.unpack(f">{ndim}I", raw_dims)
  if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
    raise DataError(f"{path}: IDX header gives images of size "
                    f"{dims[1]}x{dims[2]}. {_HOW_TO_GET}")
  return magic, dims


def read_idx_shape(path: str | os.PathLike) -> tuple[int, ...]:
  """Returns the array shape in an IDX file's header, reading only that."""
  path = os.fspath(path)
  _check_exists(path)
  try:
    with _open_idx(path) as f:
      return _read_idx_header(f, path)[1]
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(f"{path}: cannot read IDX file ({e}). {_HOW_TO_GET}") from e


def _check_exists(path: str) -> None:
  if not os.path.isfile(path):
    raise DataError(f"{path}: file not found. {_HOW_TO_GET}")


def read_idx(path: str | os.PathLike, start: int | None = None,
             stop: int | None = None) -> np.ndarray:
  """Reads an unsigned-byte IDX file (gzipped or raw) into a uint8 array.

  Format (big-endian): magic 0x00000801 (labels, 1D) or 0x00000803 (images,
  3D), one uint32 per dimension, then prod(dims) bytes.

  Args:
    path: the file.
    start, stop: read only rows [start, stop) of the first axis (Python
      slice semantics, no negative values; None = from the first / to the
      last). A raw file is read from `start` on with a seek; a gzipped one is
      decompressed up to `stop` (the rest is not read).

  Returns:
    uint8 [n] (labels) or [n, H, W] (images).

  Raises:
    DataError: missing file, wrong magic number, truncated header or body,
      trailing bytes (whole-file reads, and raw files always), or corrupt
      gzip; the message names the path and how to get the data.
  """
  path = os.fspath(path)
  _check_exists(path)
  whole = start is None and stop is None
  try:
    with _open_idx(path) as f:
      _, dims = _read_idx_header(f, path)
      row = math.prod(dims[1:])
      first = 0 if start is None else int(start)
      last = dims[0] if stop is None else min(int(stop), dims[0])
      if first < 0 or last < first:
        raise DataError(f"{path}: cannot read rows [{start}, {stop}) of an "
                        f"IDX file with {dims[0]} rows")
      header = 4 * (1 + len(dims))
      if isinstance(f, gzip.GzipFile):
        size = None
      else:
        size = os.fstat(f.fileno()).st_size - header
      if whole:
        body = f.read()
      else:
        f.seek(header + first * row)
        body = f.read((last - first) * row)
  except (OSError, EOFError, zlib.error) as e:
    # gzip.BadGzipFile is an OSError; a cut gzip stream raises EOFError.
    raise DataError(f"{path}: cannot read IDX file ({e}). {_HOW_TO_GET}") from e
  expected = math.prod(dims)
  found = len(body) if whole else (size if size is not None else
                                   first * row + len(body))
  checked_all = whole or size is not None
  if ((checked_all and found != expected) or
      (not whole and len(body) < (last - first) * row)):
    what = ("truncated" if found < expected
            else "longer than its header says")
    raise DataError(
        f"{path}: IDX body is {what}: header dims {dims} need {expected} "
        f"bytes, found {found}. {_HOW_TO_GET}")
  return np.frombuffer(body, dtype=np.uint8).reshape(
      (len(body) // row if row else 0, *dims[1:]))


def _idx_path(data_config, split: str, kind: str) -> str:
  name = _field(data_config, "name")
  if name not in IDX_DATASETS:
    raise DataError(
        f"config.data.name: {name!r} is not available from source='idx'; "
        f"valid: {', '.join(IDX_DATASETS)} (or use config.data.source='tfds')")
  if split not in IDX_SPLITS:
    raise DataError(f"split {split!r} is not available from source='idx'; "
                    f"valid: {', '.join(IDX_SPLITS)}")
  data_dir = _field(data_config, "data_dir", "") or ""
  if not data_dir:
    if name != "fashion_mnist":
      raise DataError(
          f"config.data.data_dir must name a folder with the {name} IDX files "
          f"(the default {DEFAULT_IDX_DIR} holds Fashion-MNIST only), or use "
          "config.data.source='tfds'")
    data_dir = DEFAULT_IDX_DIR
  stem = os.path.join(os.path.expanduser(data_dir), IDX_FILES[(split, kind)])
  for candidate in (stem + ".gz", stem):
    if os.path.isfile(candidate):
      return candidate
  raise DataError(f"{stem}[.gz]: file not found (config.data.name={name!r}, "
                  f"config.data.data_dir={data_dir!r}). {_HOW_TO_GET}")


# ----------------------------------------------------------------------------
# TFDS.

def _import_tfds():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(
        "config.data.source='tfds' needs tensorflow_datasets: "
        "pip install 'gan_jax[tfds]' (tensorflow itself is not needed); or "
        "use config.data.source='idx' with local IDX files") from e
  return tfds


def _tfds_name(data_config) -> str:
  return (_field(data_config, "tfds_name", "") or
          _field(data_config, "name"))


def _tfds_source(data_config, split: str):
  tfds = _import_tfds()
  name = _tfds_name(data_config)
  data_dir = _field(data_config, "data_dir", "") or None
  download = bool(_field(data_config, "tfds_download", True))
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=download)
  except Exception as e:  # TFDS raises many types; all mean "no data".
    raise DataError(
        f"tfds.data_source({name!r}, split={split!r}, data_dir={data_dir!r}) "
        f"failed (config.data.name / tfds_name / data_dir): "
        f"{type(e).__name__}: {e}. Prepare the data set on a machine with "
        "internet (tfds.data_source downloads it on first use with "
        "config.data.tfds_download=True; preparing needs the package "
        "importlib_resources) and point config.data.data_dir at it, or use "
        "config.data.source='idx'.") from e


def _read_tfds_feature(data_config, split: str, feature: str,
                       first: int = 0, last: int | None = None) -> np.ndarray:
  source = _tfds_source(data_config, split)
  n = len(source) if last is None else min(last, len(source))
  chunks = []
  chunk = 1024
  for start in range(first, n, chunk):
    indices = list(range(start, min(start + chunk, n)))
    try:
      records = source.__getitems__(indices)  # batched reads when available
    except (AttributeError, TypeError):
      # tfds.testing.mock_data's __getitems__ is broken (TFDS 4.9.x: it is set
      # as a plain instance attribute and misses `self`); read one by one.
      records = [source[i] for i in indices]
    try:
      chunks.append(np.stack([np.asarray(r[feature]) for r in records]))
    except KeyError:
      raise DataError(
          f"TFDS data set {_tfds_name(data_config)!r} has no {feature!r} "
          f"feature (features: {sorted(records[0])})") from None
  if not chunks:
    raise DataError(f"TFDS data set {_tfds_name(data_config)!r} split "
                    f"{split!r} is empty")
  return np.concatenate(chunks)


# ----------------------------------------------------------------------------
# Images and labels.

def _image_size(data_config) -> int:
  size = _field(data_config, "image_size", 0) or 0
  if not isinstance(size, int) or isinstance(size, bool) or size < 0:
    raise DataError(f"config.data.image_size must be a non-negative int "
                    f"(0 = keep the size), got {size!r}")
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
  """How many images a split holds (IDX: from the header alone)."""
  if _source(data_config) == "idx":
    return int(read_idx_shape(_idx_path(data_config, split, "images"))[0])
  return len(_tfds_source(data_config, split))


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
    uint8 [n, H, W, C] (H = W = image_size if set).

  Raises:
    DataError: unknown name/source, missing or corrupt files, TFDS absent,
      a split whose image size differs from the train split's.
  """
  name = _field(data_config, "name")
  if name in TOY_DATASETS:
    raise DataError(f"config.data.name={name!r} is a toy distribution; use "
                    "make_toy_distribution")
  size = _image_size(data_config)
  if _source(data_config) == "idx":
    path = _idx_path(data_config, split, "images")
    images = read_idx(path, start, stop)
    if images.ndim != 3:
      raise DataError(f"{path}: expected an IDX image file (3 dims), got "
                      f"shape {images.shape}")
    if split != "train":
      # The model's shape comes from the train split's header.
      train = _idx_path(data_config, "train", "images")
      train_dims = read_idx_shape(train)
      if tuple(train_dims[1:]) != images.shape[1:]:
        raise DataError(
            f"{path}: images of size {images.shape[1]}x{images.shape[2]}, "
            f"but the train split {train} (which sets the model's shape) has "
            f"{train_dims[1]}x{train_dims[2]}")
    images = images[..., None]
  else:
    images = _read_tfds_feature(data_config, split, "image", start, stop)
    if images.ndim == 3:
      images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
      raise DataError(
          f"TFDS data set {_tfds_name(data_config)!r}: 'image' feature has "
          f"shape {images.shape[1:]} and dtype {images.dtype}; expected uint8 "
          "[H, W, C]")
  if size:
    images = resize_images(images, size)
  return images


def load_labels(data_config, split: str = "train") -> np.ndarray:
  """Loads the class labels of an image data set: int32 [N]."""
  name = _field(data_config, "name")
  if name in TOY_DATASETS:
    raise DataError(f"config.data.name={name!r} is a toy distribution and "
                    "has no labels")
  if _source(data_config) == "idx":
    path = _idx_path(data_config, split, "labels")
    labels = read_idx(path)
    if labels.ndim != 1:
      raise DataError(f"{path}: expected an IDX label file (1 dim), got "
                      f"shape {labels.shape}")
    images = _idx_path(data_config, split, "images")
    count = read_idx_shape(images)[0]
    if labels.shape[0] != count:
      raise DataError(f"{path}: {labels.shape[0]} labels, but {images} holds "
                      f"{count} images")
  else:
    labels = _read_tfds_feature(data_config, split, "label").reshape(-1)
  return labels.astype(np.int32)


def describe_source(data_config) -> str:
  """Where an image data set's train split is read from, for messages."""
  if _source(data_config) == "idx":
    try:
      return _idx_path(data_config, "train", "images")
    except DataError:
      data_dir = _field(data_config, "data_dir", "")
      return f"the IDX files in config.data.data_dir={data_dir!r}"
  return f"TFDS data set {_tfds_name(data_config)!r}"


def data_shape(data_config) -> tuple[int, ...]:
  """Shape of one example, without loading the data set.

  (2,) for ring and grid, (1,) for gaussian_1d, (H, W, C) for images after
  `image_size` (read from the IDX header, a table of known data sets, or the
  TFDS builder's metadata).
  """
  name = _field(data_config, "name")
  if name in ("ring", "grid"):
    return (2,)
  if name == "gaussian_1d":
    return (1,)
  if name is None:
    raise DataError("config.data.name is required")
  size = _image_size(data_config)
  source = _source(data_config)
  if source == "idx":
    dims = read_idx_shape(_idx_path(data_config, "train", "images"))
    if len(dims) != 3:
      raise DataError(f"{_idx_path(data_config, 'train', 'images')}: "
                      f"expected an IDX image file, header dims {dims}")
    shape = (dims[1], dims[2], 1)
  elif _tfds_name(data_config) in _KNOWN_SHAPES:
    shape = _KNOWN_SHAPES[_tfds_name(data_config)]
  else:
    tfds = _import_tfds()
    try:
      builder = tfds.builder(_tfds_name(data_config),
                             data_dir=_field(data_config, "data_dir") or None)
      shape = tuple(builder.info.features["image"].shape)
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(
          f"config.data.name / tfds_name {_tfds_name(data_config)!r}: cannot "
          f"get the image shape from TFDS ({type(e).__name__}: {e})") from e
    if len(shape) == 2:
      shape = (*shape, 1)
    if len(shape) != 3 or None in shape:
      raise DataError(f"TFDS data set {_tfds_name(data_config)!r} has image "
                      f"shape {shape}; set config.data.image_size")
  if size:
    shape = (size, size, shape[2])
  return tuple(int(d) for d in shape)


# ----------------------------------------------------------------------------
# Jit-friendly helpers.

def to_model_range(images_uint8) -> jax.Array:
  """uint8 [...] in {0..255} -> float32 in [-1, 1]: x / 127.5 - 1. Jittable."""
  # (x - 127.5) / 127.5 maps 0 and 255 to exactly -1 and 1 in float32.
  return (jnp.asarray(images_uint8).astype(jnp.float32) - 127.5) / 127.5


def from_model_range(x) -> np.ndarray:
  """Model output in [-1, 1] -> numpy float32 in [0, 1], clipped."""
  x = np.asarray(jax.device_get(x), dtype=np.float32)
  return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def process_batch_slice(global_batch_size: int,
                        process_index: int | None = None,
                        process_count: int | None = None) -> slice:
  """The contiguous share of a global batch's example indices for a process.

  Process p of P reads examples [p * B / P, (p + 1) * B / P) of each global
  batch of B, so that every example is read exactly once.

  Args:
    global_batch_size: B, examples per step over all processes.
    process_index: p; default `jax.process_index()`.
    process_count: P; default `jax.process_count()`.

  Raises:
    DataError: B not divisible by P, or p out of range.
  """
  if process_index is None:
    process_index = jax.process_index()
  if process_count is None:
    process_count = jax.process_count()
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise DataError(f"process_index {process_index} out of range for "
                    f"process_count {process_count}")
  if global_batch_size <= 0 or global_batch_size % process_count:
    raise DataError(
        f"the global batch size {global_batch_size} (config.train.batch_size)"
        f" must be a positive multiple of the process count {process_count}")
  per_process = global_batch_size // process_count
  return slice(process_index * per_process, (process_index + 1) * per_process)
