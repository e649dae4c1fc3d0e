"""``image_folder``: your own images, one sub-folder per class.

``config.data.name = 'image_folder'``, ``config.data.data_dir = <folder>``.

Layout (torchvision's ImageFolder):

  folder/cat/0001.png, folder/dog/xyz.jpg, ...   labelled: classes = the
      sorted sub-folder names, label = the index (images may be nested
      deeper inside a class folder)
  folder/0001.png, folder/0002.png, ...          a flat folder: no labels
  folder/train/..., folder/test/...              both present: the two
      splits, each in one of the layouts above, with the same class names;
      otherwise the whole folder is the train split and there is no test
      split (the metrics then compare with training images, and say so).

Images: any file Pillow reads with extension .png, .jpg, .jpeg, .bmp, .gif
(first frame), .webp, .tif or .tiff, case-insensitive; hidden files and
folders (a leading '.') are ignored; EXIF orientation is not applied (as
in torchvision and StyleGAN's dataset_tool). Preprocessing (channels, alpha on black,
centre crop, resize filter, upscaling): `gan_jax.data.preprocess`. A corrupt
or truncated image stops with its path, unless config.data.skip_bad_images
(then skipped, logging the count).

Decoded once: each split is cached as uint8 ``.npy`` (`gan_jax.data.cache`),
keyed by the sorted relative paths of the split's files with each one's size
and mtime, and the preprocessing fields; a run after the first finds the
cache and starts at once, and a changed folder (a file added, removed or
modified) gets a new cache (logged). `load_images` returns a read-only
memmap of the cache. A process resolves each split's cache once (the first
call): a folder changed mid-run does not change the run's data.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
import threading
from typing import Optional

from absl import logging
import numpy as np
from PIL import Image

from gan_jax import registry
from gan_jax.data import cache
from gan_jax.data import common
from gan_jax.data import preprocess

NAME = "image_folder"
EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff",
              ".webp")
SPLITS = ("train", "test")
_DECODE_THREADS = 8
_DECODE_CHUNK = 512


@dataclasses.dataclass(frozen=True)
class Listing:
  """A split's image files, found without opening any.

  Attributes:
    folder: the split's folder.
    classes: the class names (sorted sub-folders); () for a flat folder.
    files: (path relative to folder, label or -1, size, mtime_ns), sorted.
  """
  folder: str
  classes: tuple[str, ...]
  files: tuple[tuple[str, int, int, int], ...]


def _accepted() -> str:
  return ", ".join(EXTENSIONS)


def _is_image(name: str) -> bool:
  return (not name.startswith(".") and
          os.path.splitext(name)[1].lower() in EXTENSIONS)


def data_dir(data_config) -> str:
  """config.data.data_dir, checked to be a folder."""
  path = common.field(data_config, "data_dir", "") or ""
  if not path:
    raise common.DataError(
        f"config.data.data_dir must name a folder of images for "
        f"config.data.name={NAME!r} (one sub-folder per class, or a flat "
        f"folder; optional train/ and test/)")
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise common.DataError(f"config.data.data_dir={path!r}: no such folder "
                           f"({NAME} reads a folder of images)")
  if not os.path.isdir(path):
    raise common.DataError(
        f"config.data.data_dir={path!r} is a file; {NAME} reads a folder "
        "of images (for .npz / .npy files use config.data.name='arrays')")
  return path


def _subfolders(folder: str) -> list[str]:
  try:
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
  except OSError as e:
    raise common.DataError(f"{folder}: cannot list the folder ({e})") from e
  return [e.name for e in entries
          if not e.name.startswith(".") and e.is_dir()]


def split_folders(data_config) -> dict[str, str]:
  """{'train': folder, 'test': folder} or {'train': data_dir}."""
  root = data_dir(data_config)
  subfolders = _subfolders(root)
  if "train" in subfolders and "test" in subfolders:
    return {s: os.path.join(root, s) for s in SPLITS}
  return {"train": root}


def _files_under(folder: str) -> list[str]:
  """The image files under `folder`, relative, sorted (hidden ones left)."""
  found = []
  for top, dirs, names in os.walk(folder, followlinks=True):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    found.extend(os.path.relpath(os.path.join(top, n), folder)
                 for n in names if _is_image(n))
  return sorted(found)


def scan(folder: str) -> Listing:
  """Lists a split's folder (see the module docstring), opening no image.

  Raises:
    DataError: no images (listing the extensions accepted), images beside
      class sub-folders, or an empty class sub-folder.
  """
  classes = _subfolders(folder)
  top_images = sorted(n for n in os.listdir(folder) if _is_image(n)
                      and os.path.isfile(os.path.join(folder, n)))
  if classes and top_images:
    raise common.DataError(
        f"{folder} holds both images ({top_images[0]}, ...) and sub-folders "
        f"({', '.join(classes[:5])}); {NAME} reads either one sub-folder per "
        "class or a flat folder of images")
  entries = []
  if classes:
    for label, name in enumerate(classes):
      relative = _files_under(os.path.join(folder, name))
      if not relative:
        raise common.DataError(
            f"{os.path.join(folder, name)}: the class sub-folder holds no "
            f"images (accepted: {_accepted()}); remove it or add images")
      entries.extend((os.path.join(name, r), label) for r in relative)
  else:
    if not top_images:
      raise common.DataError(
          f"{folder}: no images (accepted extensions, any case: "
          f"{_accepted()}; hidden files are ignored)")
    entries = [(n, -1) for n in top_images]
  files = []
  for relative, label in entries:
    stat = os.stat(os.path.join(folder, relative))
    files.append((relative, label, int(stat.st_size), int(stat.st_mtime_ns)))
  return Listing(folder, tuple(classes), tuple(files))


def _check_class_names(folders: dict[str, str]) -> None:
  if "test" not in folders:
    return
  train, test = (_subfolders(folders[s]) for s in SPLITS)
  if train != test:
    raise common.DataError(
        f"{folders['train']} and {folders['test']} hold different class "
        f"sub-folders: train {train[:10]}, test {test[:10]}; both splits "
        "need the same class names")


# ----------------------------------------------------------------------------
# The cache of a split: resolved once per process.
# ----------------------------------------------------------------------------


_resolved: dict[tuple, tuple[str, dict]] = {}
_lock = threading.Lock()


def clear_memo() -> None:
  """Forgets the caches this process resolved (the next load re-lists)."""
  with _lock:
    _resolved.clear()


def _memo_key(data_config, split: str) -> tuple:
  return (os.path.realpath(data_dir(data_config)), split,
          preprocess.settings(data_config),
          bool(common.field(data_config, "skip_bad_images", False)),
          os.path.realpath(cache.root(data_config)))


def split_cache(data_config, split: str) -> tuple[str, dict]:
  """(cache folder, meta) of a split, built if missing (see module doc)."""
  if split not in SPLITS:
    raise common.DataError(f"split {split!r} is not available from {NAME}; "
                           f"valid: {', '.join(SPLITS)}")
  memo = _memo_key(data_config, split)
  with _lock:
    if memo in _resolved:
      return _resolved[memo]
  folders = split_folders(data_config)
  if split not in folders:
    raise common.DataError(
        f"config.data.data_dir={data_dir(data_config)!r} has no {split} "
        "split (only a folder holding train/ and test/ has one)")
  _check_class_names(folders)
  # The test split takes the train split's channels and size.
  train_meta = (split_cache(data_config, "train")[1] if split == "test"
                else None)
  found = _resolve(data_config, split, scan(folders[split]), train_meta)
  with _lock:
    _resolved[memo] = found
  return found


def _slug(folder: str) -> str:
  name = os.path.basename(os.path.normpath(folder)) or "root"
  return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]


def _resolve(data_config, split: str, listing: Listing,
             train_meta: Optional[dict]) -> tuple[str, dict]:
  """Finds or builds the cache of `listing`."""
  settings = preprocess.settings(data_config)
  skip_bad = bool(common.field(data_config, "skip_bad_images", False))
  source = os.path.realpath(data_dir(data_config))
  facts = dict(source=NAME, split=split, classes=listing.classes,
               files=[(r, s, m) for r, _, s, m in listing.files],
               settings=settings.as_dict(), skip_bad_images=skip_bad,
               train=train_meta and train_meta["key"])
  digest = cache.key(facts)
  prefix = f"{NAME}-{_slug(source)}-{split}-"
  folder = os.path.join(cache.root(data_config), prefix + digest[:16])
  meta = cache.read_meta(folder)
  if meta is not None:
    return folder, meta
  older = [m for _, m in cache.siblings(os.path.dirname(folder), prefix)
           if m.get("folder") == source and m.get("split") == split]
  if older:
    latest = max(older, key=lambda m: m.get("created", ""))
    logging.warning(
        "data: %s changed since its cache of %s (%d files then, %d now); "
        "decoding it again into %s", listing.folder, latest.get("created"),
        latest.get("num_files", -1), len(listing.files), folder)
  else:
    logging.info("data: decoding the %d images of %s into %s (once)",
                 len(listing.files), listing.folder, folder)
  meta = cache.build(folder, lambda tmp: _decode(
      tmp, listing, settings, skip_bad, train_meta,
      dict(source=NAME, folder=source, split=split, key=digest,
           classes=list(listing.classes), num_files=len(listing.files),
           settings=settings.as_dict(), created=cache.now())))
  return folder, meta


def _bad(path: str, e: Exception) -> common.DataError:
  reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
  return common.DataError(
      f"{path}: cannot read the image ({reason}); replace or remove it, or "
      "set config.data.skip_bad_images=True to skip unreadable images")


def _header(path: str):
  """(mode, (width, height)), or the exception reading the header raised."""
  try:
    with Image.open(path) as image:
      return preprocess.found_mode(image), image.size
  except Exception as e:  # pylint: disable=broad-except
    # Pillow raises many types (UnidentifiedImageError, SyntaxError, ...).
    return e


def _headers(listing: Listing, skip_bad: bool):
  """[(mode, (width, height)) or None for a bad file], reading headers."""
  paths = [os.path.join(listing.folder, f[0]) for f in listing.files]
  with concurrent.futures.ThreadPoolExecutor(_DECODE_THREADS) as pool:
    headers = list(pool.map(_header, paths))
  for i, header in enumerate(headers):
    if isinstance(header, Exception):
      if not skip_bad:
        raise _bad(paths[i], header)
      headers[i] = None
  return headers


def _plan(listing: Listing, headers, settings, train_meta):
  """(channels, (H, W)) of the split, checking sizes; logs upscaling."""
  good = [(f, h) for f, h in zip(listing.files, headers) if h is not None]
  if not good:
    raise common.DataError(f"{listing.folder}: none of its "
                           f"{len(listing.files)} images can be read")
  if train_meta is not None:
    channels = train_meta["shape"][2]
  else:
    channels = preprocess.target_channels(settings.channels,
                                          (h[0] for _, h in good))
  size = settings.image_size
  small = [(f[0], h[1]) for f, h in good
           if preprocess.is_upscaled(*h[1], size)]
  if small and not settings.allow_upscale:
    name, (w, h) = small[0]
    raise common.DataError(
        f"{os.path.join(listing.folder, name)}: {w}x{h} is smaller than "
        f"config.data.image_size={size} ({len(small)} of {len(good)} images "
        "are); set config.data.allow_upscale=True to upscale them, or a "
        "smaller image_size")
  if small:
    logging.info("data: upscaling %d of %d images of %s to %dx%d",
                 len(small), len(good), listing.folder, size, size)
  sizes = {}
  for f, h in good:
    sizes.setdefault(preprocess.output_size(*h[1], settings), f[0])
  if train_meta is not None:
    sizes.setdefault(tuple(train_meta["shape"][:2]), "the train split")
  if len(sizes) > 1:
    (a, first), (b, second) = list(sizes.items())[:2]
    raise common.DataError(
        f"{listing.folder}: images of different sizes ({a[1]}x{a[0]} for "
        f"{first}, {b[1]}x{b[0]} for {second}); set config.data.image_size "
        "to resize them all to one size")
  return channels, next(iter(sizes)), len(small)


def _decode(tmp: str, listing: Listing, settings, skip_bad: bool,
            train_meta: Optional[dict], meta: dict) -> dict:
  """Writes the split's images (and labels) into `tmp`; returns the meta."""
  headers = _headers(listing, skip_bad)
  channels, (height, width), upscaled = _plan(listing, headers, settings,
                                              train_meta)
  writer = cache.Writer(tmp, len(listing.files), (height, width, channels))
  bad = [i for i, h in enumerate(headers) if h is None]
  for i in bad:
    writer.skip(i)

  def decode(index: int):
    path = os.path.join(listing.folder, listing.files[index][0])
    try:
      with Image.open(path) as image:
        image.load()
        array = preprocess.to_array(image, settings, channels)
    except Exception as e:  # pylint: disable=broad-except
      return index, e
    if array.shape != (height, width, channels):
      return index, ValueError(f"decoded to shape {array.shape}, expected "
                               f"{(height, width, channels)}")
    writer.array[index] = array
    return index, None

  todo = [i for i, h in enumerate(headers) if h is not None]
  with concurrent.futures.ThreadPoolExecutor(_DECODE_THREADS) as pool:
    for start in range(0, len(todo), _DECODE_CHUNK):
      for index, error in pool.map(decode, todo[start:start + _DECODE_CHUNK]):
        if error is None:
          continue
        if not skip_bad:
          raise _bad(os.path.join(listing.folder, listing.files[index][0]),
                     error)
        bad.append(index)
        writer.skip(index)
  count = writer.close()
  if not count:
    raise common.DataError(f"{listing.folder}: none of its "
                           f"{len(listing.files)} images can be read")
  if bad:
    logging.warning("data: skipped %d unreadable images of %s "
                    "(config.data.skip_bad_images), e.g. %s", len(bad),
                    listing.folder, listing.files[min(bad)][0])
  if listing.classes:
    dropped = set(bad)
    labels = np.array([f[1] for i, f in enumerate(listing.files)
                       if i not in dropped], np.int32)
    np.save(os.path.join(tmp, cache.LABELS_FILE), labels)
  meta.update(num_examples=count, shape=[height, width, channels],
              num_skipped=len(bad), num_upscaled=upscaled,
              skipped=[listing.files[i][0] for i in sorted(bad)[:10]])
  return meta


# ----------------------------------------------------------------------------
# The loader.
# ----------------------------------------------------------------------------


def load_images(data_config, split: str, start: int = 0,
                stop: Optional[int] = None) -> np.ndarray:
  """Rows [start, stop) of a split: read-only memmap uint8 [n, H, W, C]."""
  return cache.images(split_cache(data_config, split)[0])[start:stop]


def load_labels(data_config, split: str) -> np.ndarray:
  """A labelled split's labels, int32 [N] (a DataError for a flat folder)."""
  folder, _ = split_cache(data_config, split)
  labels = cache.labels(folder)
  if labels is None:
    raise common.DataError(
        f"config.data.data_dir={data_dir(data_config)!r} is a flat folder of "
        "images, which has no labels; put the images in one sub-folder per "
        "class to label them")
  return labels


def num_classes(data_config) -> int:
  """The number of class sub-folders of the train split (0: flat).

  Lists the folders (checking the layout), opening no image.
  """
  folders = split_folders(data_config)
  _check_class_names(folders)
  return len(scan(folders["train"]).classes)


def _shape(data_config) -> tuple[int, int, int]:
  return tuple(split_cache(data_config, "train")[1]["shape"])


def _describe(data_config) -> str:
  try:
    return ("the image folder "
            f"{os.path.abspath(split_folders(data_config)['train'])}")
  except common.DataError:
    return (f"the image folder config.data.data_dir="
            f"{common.field(data_config, 'data_dir', '')!r}")


LOADER = common.Loader(
    images=load_images,
    labels=load_labels,
    num_examples=lambda c, split: split_cache(c, split)[1]["num_examples"],
    shape=_shape,
    describe=_describe,
    num_classes=num_classes,
    has_test_split=lambda c: "test" in split_folders(c),
    fingerprint=lambda c: split_cache(c, "train")[1]["key"][:8],
)

# Your own images in torchvision's ImageFolder layout.
registry.DATASETS.add(
    NAME, load_images,
    fields={k: preprocess.FIELDS[k] for k in (
        "center_crop", "resize_filter", "channels", "allow_upscale",
        "skip_bad_images", "cache_dir")},
    kind="images", stacked=False, loader=LOADER)
