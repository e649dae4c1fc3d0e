"""Shared test helpers: the shipped config files and tiny IDX image files."""

import glob
import gzip
import os
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILES = sorted(glob.glob(os.path.join(ROOT, "experiments", "configs",
                                             "*.py")))


def write_idx_images(folder, num=32, size=28, seed=0):
  """A tiny gzipped IDX image file in `folder` (no real data needed)."""
  images = np.random.default_rng(seed).integers(0, 256, (num, size, size),
                                                dtype=np.uint8)
  os.makedirs(folder, exist_ok=True)
  with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, num, size, size) + images.tobytes())
  return images
