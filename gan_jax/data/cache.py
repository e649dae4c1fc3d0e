"""The cache of decoded images: one folder per split and content key.

A cache folder holds

  images.npy   uint8 [N, H, W, C]
  labels.npy   int32 [N] (only for labelled data)
  meta.json    what was read and how (written last)

under `root(data_config)`: config.data.cache_dir, else
``$GAN_JAX_CACHE_DIR/data`` or ``~/.cache/gan_jax/data``
(`gan_jax.data.common.cache_home`, which the feature extractor's cache
shares). A folder is built under a temporary name beside its final one and
renamed into place when complete, so a crashed build leaves no half cache
(only a hidden ``.<name>.tmp-*`` folder, never read) and of two concurrent
builders the first rename wins and the other uses its result. Old caches
are never deleted: a run reads the cache it resolved first, whatever
happens to the source afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Callable, Optional

from absl import logging
import numpy as np

from gan_jax.data import common

META_FILE = "meta.json"
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
# Bump when what a cache holds changes for the same key (the key holds it).
VERSION = 1


def root(data_config) -> str:
  """The folder holding the caches (see the module docstring)."""
  folder = common.field(data_config, "cache_dir", "") or ""
  if folder:
    return os.path.expanduser(folder)
  return os.path.join(common.cache_home(), "data")


def key(facts) -> str:
  """A hex sha256 of `facts` (JSON-serialisable), with VERSION."""
  text = json.dumps([VERSION, facts], sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode()).hexdigest()


def read_meta(folder: str) -> Optional[dict]:
  """The meta.json of a complete cache folder, else None."""
  try:
    with open(os.path.join(folder, META_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def siblings(parent: str, prefix: str) -> list[tuple[str, dict]]:
  """(folder, meta) of the complete caches in `parent` named prefix*."""
  try:
    names = sorted(os.listdir(parent))
  except OSError:
    return []
  found = []
  for name in names:
    if name.startswith(prefix):
      meta = read_meta(os.path.join(parent, name))
      if meta is not None:
        found.append((os.path.join(parent, name), meta))
  return found


def build(folder: str, fill: Callable[[str], dict]) -> dict:
  """Builds the cache `folder` atomically; returns its meta.

  `fill(tmp)` writes images.npy (and labels.npy) into the temporary folder
  `tmp` and returns the meta; meta.json is written after it, then `tmp` is
  renamed to `folder`. If `fill` raises, nothing is left. If another
  process finished `folder` first, its meta is returned and ours dropped.
  """
  parent = os.path.dirname(os.path.abspath(folder))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.tmp-",
                         dir=parent)
  try:
    meta = fill(tmp)
    with open(os.path.join(tmp, META_FILE), "w") as f:
      json.dump(meta, f, indent=1)
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide it from other users
    try:
      os.rename(tmp, folder)
    except OSError:
      theirs = read_meta(folder)
      if theirs is None:
        raise
      logging.info("data: %s was written by another process; using it",
                   folder)
      return theirs
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return meta


def images(folder: str) -> np.ndarray:
  """The cached images, a read-only memmap uint8 [N, H, W, C]."""
  return np.load(os.path.join(folder, IMAGES_FILE), mmap_mode="r")


def labels(folder: str) -> Optional[np.ndarray]:
  """The cached labels int32 [N], or None when the data has none."""
  path = os.path.join(folder, LABELS_FILE)
  if not os.path.isfile(path):
    return None
  return np.load(path)


class Writer:
  """Fills images.npy row by row in a cache under construction.

  Rows that are skipped (`skip`) are squeezed out at `close`.
  """

  def __init__(self, tmp: str, count: int, shape: tuple[int, int, int]):
    self.path = os.path.join(tmp, IMAGES_FILE)
    self.array = np.lib.format.open_memmap(self.path, mode="w+",
                                           dtype=np.uint8,
                                           shape=(count, *shape))
    self.kept = np.ones(count, bool)

  def skip(self, index: int) -> None:
    self.kept[index] = False

  def close(self) -> int:
    """Flushes the file; returns the number of rows kept."""
    kept = int(self.kept.sum())
    if kept < len(self.kept):
      # A second file of the kept rows (bad images are rare: no in-place
      # shuffling).
      squeezed_path = self.path + ".kept.npy"
      squeezed = np.lib.format.open_memmap(
          squeezed_path, mode="w+", dtype=np.uint8,
          shape=(kept, *self.array.shape[1:]))
      squeezed[:] = self.array[self.kept]
      squeezed.flush()
      del squeezed
      del self.array
      os.replace(squeezed_path, self.path)
    else:
      self.array.flush()
      del self.array
    return kept


def now() -> str:
  return time.strftime("%Y-%m-%dT%H:%M:%S")
