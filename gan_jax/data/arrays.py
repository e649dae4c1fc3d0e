"""``arrays``: your own images as numpy ``.npz`` / ``.npy`` files.

``config.data.name = 'arrays'``, ``config.data.data_dir`` one of

  images.npz / images.npy          the train split; no test split (the
                                   metrics then compare with training
                                   images, and say so)
  folder/train.npz, folder/test.npz (or .npy; test optional)   the splits

A ``.npz`` holds ``images`` and optionally ``labels``; a ``.npy`` holds the
images only. Images: uint8 in {0..255}, [N, H, W] (grey) or [N, H, W, C]
with C in {1, 3}; only uint8 is accepted (float images are ambiguous
between [0, 1] and [-1, 1]: convert them yourself, e.g.
``np.round(x * 255).astype(np.uint8)`` for [0, 1]). Labels: integers >= 0,
[N]; the number of classes is labels.max() + 1.

The preprocessing fields of `gan_jax.data.preprocess` apply (channels,
centre crop, image_size with resize_filter, allow_upscale); without any to
apply, an uncompressed ``.npy`` is read as a read-only memmap (data larger
than memory is fine) and a ``.npz`` is read into memory at each load.
Otherwise the preprocessed images are cached once as for image_folder
(`gan_jax.data.cache`), keyed by the file's path, size and mtime and the
preprocessing fields.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import zipfile
from typing import Optional

from absl import logging
import numpy as np
from PIL import Image

from gan_jax import registry
from gan_jax.data import cache
from gan_jax.data import common
from gan_jax.data import preprocess

NAME = "arrays"
SPLITS = ("train", "test")
EXTENSIONS = (".npz", ".npy")
_LAYOUT = ("a .npz (images, optional labels) or .npy (images) file, or a "
           "folder holding train.npz / test.npz (or .npy)")


@dataclasses.dataclass(frozen=True)
class Split:
  """A split's file, checked from its headers.

  Attributes:
    path: the .npz or .npy file.
    shape: the images' stored shape [N, H, W, C] (C = 1 for [N, H, W]).
    has_labels: whether the file holds labels.
    stat: (size, mtime_ns) of the file.
  """
  path: str
  shape: tuple[int, int, int, int]
  has_labels: bool
  stat: tuple[int, int]


def files(data_config) -> dict[str, str]:
  """{'train': file} or {'train': file, 'test': file}, checked to exist."""
  path = common.field(data_config, "data_dir", "") or ""
  if not path:
    raise common.DataError(f"config.data.data_dir must name {_LAYOUT} for "
                           f"config.data.name={NAME!r}")
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise common.DataError(f"config.data.data_dir={path!r}: no such file or "
                           f"folder ({NAME} reads {_LAYOUT})")
  if os.path.isfile(path):
    if os.path.splitext(path)[1].lower() not in EXTENSIONS:
      raise common.DataError(f"config.data.data_dir={path!r} is neither .npz "
                             f"nor .npy ({NAME} reads {_LAYOUT})")
    return {"train": path}
  found = {}
  for split in SPLITS:
    candidates = [os.path.join(path, split + e) for e in EXTENSIONS
                  if os.path.isfile(os.path.join(path, split + e))]
    if len(candidates) > 1:
      raise common.DataError(f"{path} holds both {split}.npz and {split}.npy;"
                             " keep one")
    if candidates:
      found[split] = candidates[0]
  if "train" not in found:
    raise common.DataError(f"{path}: no train.npz or train.npy ({NAME} reads "
                           f"{_LAYOUT})")
  return found


def _invalid(path: str, e: Exception) -> common.DataError:
  reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
  return common.DataError(f"{path}: not a valid numpy array file ({reason})")


def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
  version = np.lib.format.read_magic(f)
  if version == (1, 0):
    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
  else:
    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
  return tuple(shape), dtype


def _headers(path: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  """{array name: (shape, dtype)} of a .npy ('images') or .npz, unread."""
  try:
    if path.lower().endswith(".npy"):
      with open(path, "rb") as f:
        return {"images": _npy_header(f)}
    found = {}
    with zipfile.ZipFile(path) as archive:
      for member in archive.namelist():
        if member.endswith(".npy"):
          with archive.open(member) as f:
            found[member[:-len(".npy")]] = _npy_header(f)
    return found
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise _invalid(path, e) from None


def _load(path: str, name: str, mmap: bool = False) -> np.ndarray:
  try:
    if path.lower().endswith(".npy"):
      return np.load(path, mmap_mode="r" if mmap else None,
                     allow_pickle=False)
    with np.load(path, allow_pickle=False) as archive:
      return archive[name]
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    raise _invalid(path, e) from None


_checked: dict[tuple, Split] = {}
_lock = threading.Lock()


def split_file(data_config, split: str) -> Split:
  """The split's file, its images and labels checked (DataError if bad)."""
  if split not in SPLITS:
    raise common.DataError(f"split {split!r} is not available from {NAME}; "
                           f"valid: {', '.join(SPLITS)}")
  paths = files(data_config)
  if split not in paths:
    raise common.DataError(
        f"config.data.data_dir={common.field(data_config, 'data_dir')!r} has "
        f"no {split} split (only a folder with {split}.npz or {split}.npy)")
  path = paths[split]
  stat = os.stat(path)
  memo = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
  with _lock:
    if memo in _checked:
      return _checked[memo]
  found = _check(path, (int(stat.st_size), int(stat.st_mtime_ns)))
  with _lock:
    _checked[memo] = found
  return found


def _check(path: str, stat: tuple[int, int]) -> Split:
  headers = _headers(path)
  if "images" not in headers:
    raise common.DataError(f"{path} has no 'images' array; it holds "
                           f"{sorted(headers) or 'nothing'} ({NAME} reads "
                           "'images' and optional 'labels')")
  shape, dtype = headers["images"]
  if dtype != np.uint8:
    raise common.DataError(
        f"{path}: images have dtype {dtype}; {NAME} reads uint8 images in "
        "{0..255} (convert floats in [0, 1] with "
        "np.round(x * 255).astype(np.uint8))")
  if len(shape) == 3:
    shape = (*shape, 1)
  if len(shape) != 4 or shape[3] not in (1, 3) or 0 in shape:
    raise common.DataError(
        f"{path}: images have shape {headers['images'][0]}; {NAME} reads "
        "[N, H, W] or [N, H, W, C] with C in {1, 3} and N, H, W > 0")
  has_labels = "labels" in headers
  if has_labels:
    label_shape, label_dtype = headers["labels"]
    if not np.issubdtype(label_dtype, np.integer):
      raise common.DataError(f"{path}: labels have dtype {label_dtype}; "
                             f"{NAME} reads integer labels >= 0")
    if label_shape != (shape[0],):
      raise common.DataError(f"{path}: labels have shape {label_shape}, but "
                             f"there are {shape[0]} images; labels must be "
                             f"[{shape[0]}]")
    labels = _load(path, "labels")
    if labels.size and labels.min() < 0:
      raise common.DataError(f"{path}: labels hold {labels.min()} < 0; "
                             f"{NAME} reads integer labels >= 0")
  return Split(path, tuple(int(d) for d in shape), has_labels, stat)


# ----------------------------------------------------------------------------
# Preprocessing: none, or once into the cache.
# ----------------------------------------------------------------------------


def _plan(data_config, split: Split):
  """(settings, output shape (H, W, C), whether anything changes)."""
  settings = preprocess.settings(data_config)
  _, height, width, channels = split.shape
  size = settings.image_size
  if preprocess.is_upscaled(width, height, size) and not (
      settings.allow_upscale):
    raise common.DataError(
        f"{split.path}: images are {width}x{height}, smaller than "
        f"config.data.image_size={size}; set config.data.allow_upscale=True "
        "to upscale them, or a smaller image_size")
  out_channels = settings.channels or channels
  out_height, out_width = preprocess.output_size(width, height, settings)
  changes = ((out_height, out_width, out_channels) !=
             (height, width, channels))
  return settings, (out_height, out_width, out_channels), changes


def _slug(path: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(path))[:40]


def _cached(data_config, split_name: str, split: Split, settings,
            shape) -> str:
  """The cache folder of a preprocessed split, built if missing."""
  source = os.path.realpath(split.path)
  digest = cache.key(dict(source=NAME, path=source, stat=split.stat,
                          settings=settings.as_dict(), split=split_name))
  folder = os.path.join(
      cache.root(data_config),
      f"{NAME}-{_slug(source)}-{split_name}-{digest[:16]}")
  if cache.read_meta(folder) is not None:
    return folder
  if preprocess.is_upscaled(split.shape[2], split.shape[1],
                            settings.image_size):
    logging.info("data: upscaling the %d images of %s to %dx%d",
                 split.shape[0], split.path, *shape[:2])
  logging.info("data: preprocessing the %d images of %s into %s (once)",
               split.shape[0], split.path, folder)

  def fill(tmp: str) -> dict:
    images = _load(split.path, "images", mmap=True)
    writer = cache.Writer(tmp, split.shape[0], shape)
    mode = "L" if split.shape[3] == 1 else "RGB"
    for i in range(split.shape[0]):
      pixels = np.asarray(images[i]).reshape(split.shape[1:])
      image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
      writer.array[i] = preprocess.to_array(image, settings, shape[2])
    writer.close()
    return dict(source=NAME, file=source, split=split_name, key=digest,
                num_examples=split.shape[0], shape=list(shape),
                settings=settings.as_dict(), created=cache.now())

  cache.build(folder, fill)
  return folder


def load_images(data_config, split_name: str, start: int = 0,
                stop: Optional[int] = None) -> np.ndarray:
  """Rows [start, stop) of a split: uint8 [n, H, W, C] (maybe a memmap)."""
  split = split_file(data_config, split_name)
  settings, shape, changes = _plan(data_config, split)
  if split_name == "test":
    _check_like_train(data_config, split, shape)
  if changes:
    return cache.images(_cached(data_config, split_name, split, settings,
                                shape))[start:stop]
  images = _load(split.path, "images", mmap=True)
  return images.reshape((-1, *split.shape[1:]))[start:stop]


def _check_like_train(data_config, split: Split, shape) -> None:
  train_shape = _plan(data_config, split_file(data_config, "train"))[1]
  if tuple(shape) != tuple(train_shape):
    raise common.DataError(
        f"{split.path}: images become {shape}, but the train split's "
        f"become {train_shape}; set config.data.image_size and "
        "config.data.channels to make them agree")


def load_labels(data_config, split_name: str) -> np.ndarray:
  """A split's labels, int32 [N] (a DataError when it has none)."""
  split = split_file(data_config, split_name)
  if not split.has_labels:
    raise common.DataError(
        f"{split.path} holds no 'labels' array (a .npy holds images only; "
        "save a .npz with images= and labels=)")
  return _load(split.path, "labels").astype(np.int32)


def num_classes(data_config) -> int:
  """labels.max() + 1 of the train split; 0 without labels."""
  split = split_file(data_config, "train")
  if not split.has_labels:
    return 0
  labels = _load(split.path, "labels")
  return int(labels.max()) + 1 if labels.size else 0


def _fingerprint(data_config) -> str:
  split = split_file(data_config, "train")
  return cache.key([os.path.realpath(split.path), split.stat,
                    preprocess.settings(data_config).as_dict()])[:8]


def _describe(data_config) -> str:
  try:
    return f"the array file {os.path.abspath(files(data_config)['train'])}"
  except common.DataError:
    return (f"the array files config.data.data_dir="
            f"{common.field(data_config, 'data_dir', '')!r}")


LOADER = common.Loader(
    images=load_images,
    labels=load_labels,
    num_examples=lambda c, s: split_file(c, s).shape[0],
    shape=lambda c: _plan(c, split_file(c, "train"))[1],
    describe=_describe,
    num_classes=num_classes,
    has_test_split=lambda c: "test" in files(c),
    fingerprint=_fingerprint,
)

# Your own images as numpy arrays.
registry.DATASETS.add(
    NAME, load_images,
    fields={k: preprocess.FIELDS[k] for k in (
        "center_crop", "resize_filter", "channels", "allow_upscale",
        "cache_dir")},
    kind="images", stacked=False, loader=LOADER)
