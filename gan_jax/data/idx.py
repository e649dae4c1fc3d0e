"""MNIST-format IDX files (LeCun et al. 1998), gzipped or raw.

`read_idx` reads an unsigned-byte IDX file of labels or images (or rows of
it), `read_idx_shape` only its header; `idx_path` finds a split's file in
``config.data.data_dir`` ('' = DEFAULT_IDX_DIR, where Debian's
``dataset-fashion-mnist`` package installs Fashion-MNIST; works offline).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from gan_jax import registry
from gan_jax.data import common

IDX_SPLITS = ("train", "test")

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


def _open_idx(path: str):
  with open(path, "rb") as f:
    gzipped = f.read(2) == b"\x1f\x8b"
  return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_idx_header(f, path: str) -> tuple[int, tuple[int, ...]]:
  head = f.read(4)
  if len(head) < 4:
    raise common.DataError(
        f"{path}: truncated IDX file (no header). {common.HOW_TO_GET}")
  (magic,) = struct.unpack(">I", head)
  if magic not in _IDX_NDIM:
    raise common.DataError(
        f"{path}: not an unsigned-byte IDX file of labels or images: magic "
        f"number 0x{magic:08x}, expected 0x{IDX_MAGIC_LABELS:08x} (labels) or "
        f"0x{IDX_MAGIC_IMAGES:08x} (images). {common.HOW_TO_GET}")
  ndim = _IDX_NDIM[magic]
  raw_dims = f.read(4 * ndim)
  if len(raw_dims) < 4 * ndim:
    raise common.DataError(f"{path}: truncated IDX header. {common.HOW_TO_GET}")
  dims = struct.unpack(f">{ndim}I", raw_dims)
  if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
    raise common.DataError(f"{path}: IDX header gives images of size "
                           f"{dims[1]}x{dims[2]}. {common.HOW_TO_GET}")
  return magic, dims


def read_idx_shape(path: str | os.PathLike) -> tuple[int, ...]:
  """Returns the array shape in an IDX file's header, reading only that."""
  path = os.fspath(path)
  _check_exists(path)
  try:
    with _open_idx(path) as f:
      return _read_idx_header(f, path)[1]
  except (OSError, EOFError, zlib.error) as e:
    raise common.DataError(
        f"{path}: cannot read IDX file ({e}). {common.HOW_TO_GET}") from e


def _check_exists(path: str) -> None:
  if not os.path.isfile(path):
    raise common.DataError(f"{path}: file not found. {common.HOW_TO_GET}")


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
        raise common.DataError(f"{path}: cannot read rows [{start}, {stop}) "
                               f"of an IDX file with {dims[0]} rows")
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
    raise common.DataError(
        f"{path}: cannot read IDX file ({e}). {common.HOW_TO_GET}") from e
  expected = math.prod(dims)
  found = len(body) if whole else (size if size is not None else
                                   first * row + len(body))
  checked_all = whole or size is not None
  if ((checked_all and found != expected) or
      (not whole and len(body) < (last - first) * row)):
    what = ("truncated" if found < expected
            else "longer than its header says")
    raise common.DataError(
        f"{path}: IDX body is {what}: header dims {dims} need {expected} "
        f"bytes, found {found}. {common.HOW_TO_GET}")
  return np.frombuffer(body, dtype=np.uint8).reshape(
      (len(body) // row if row else 0, *dims[1:]))


def idx_path(data_config, split: str, kind: str) -> str:
  """The IDX file of `kind` ('images' | 'labels') for a split, checked."""
  name = common.field(data_config, "name")
  if name not in common.IDX_DATASETS:
    raise common.DataError(
        f"config.data.name: {name!r} is not available from source='idx'; "
        f"valid: {', '.join(common.IDX_DATASETS)} (or use "
        "config.data.source='tfds')")
  if split not in IDX_SPLITS:
    raise common.DataError(f"split {split!r} is not available from "
                           f"source='idx'; valid: {', '.join(IDX_SPLITS)}")
  data_dir = common.field(data_config, "data_dir", "") or ""
  if not data_dir:
    if name != "fashion_mnist":
      raise common.DataError(
          f"config.data.data_dir must name a folder with the {name} IDX files "
          f"(the default {common.DEFAULT_IDX_DIR} holds Fashion-MNIST only), "
          "or use config.data.source='tfds'")
    data_dir = common.DEFAULT_IDX_DIR
  stem = os.path.join(os.path.expanduser(data_dir), IDX_FILES[(split, kind)])
  for candidate in (stem + ".gz", stem):
    if os.path.isfile(candidate):
      return candidate
  raise common.DataError(
      f"{stem}[.gz]: file not found (config.data.name={name!r}, "
      f"config.data.data_dir={data_dir!r}). {common.HOW_TO_GET}")


# Images in MNIST's IDX files (LeCun et al. 1998); Fashion-MNIST (Xiao et al.
# 2017) offline from Debian's dataset-fashion-mnist.
registry.DATASETS.add("fashion_mnist", read_idx, kind="images", source="idx",
                      stacked=False, shape=(28, 28, 1))
registry.DATASETS.add("mnist", read_idx, kind="images", source="idx",
                      stacked=False, shape=(28, 28, 1))
