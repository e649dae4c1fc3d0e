"""Stacked MNIST (Metz et al. 2017): three images of a data set as channels.

Each example stacks three images drawn independently and uniformly (with
replacement) from one split of a base data set of grey images as its colour
channels: x = [a, b, c] of shape [H, W, 3], with the class triple
(y_a, y_b, y_c): 10^3 = 1,000 modes for 10 classes. It is the mode-coverage
benchmark of Metz et al. 2017 (unrolled GANs), VEEGAN (Srivastava et al.
2017, Table 2), PacGAN (Lin et al. 2018, Table 2) and R3GAN (Huang et al.
2024, Tables 1 and 3); `gan_jax.evaluation.stacked` counts the modes.
``stacked_mnist`` is the published set (given MNIST's files),
``stacked_fashion_mnist`` the same protocol on Fashion-MNIST, which this
project has offline (Debian's dataset-fashion-mnist): a different data set,
whose numbers are not those of the papers.

The data set is one fixed draw, built on the fly from the base images:
split s holds as many stacks as the base split has images (train 60,000, the
base's epoch; test 10,000) unless a count is asked for, and the triples'
indices come from ``numpy.random.default_rng([STACK_SEED, crc32(s)])``, so
every run, seed and process sees the same examples (a run's seed varies G,
D and the training noise, not the data). The training step samples with
replacement from it, as from any image data set. Images are resized
(config.data.image_size) before they are stacked: a resize acts on each
channel alone, so this equals resizing the stacks.

Numpy only; `LOADER` (this registration's ``loader=``) loads the base
images through `gan_jax.data.images` and stacks them.
"""

from __future__ import annotations

import zlib

import numpy as np

from gan_jax import registry
from gan_jax.data import common

STACK_SEED = 0
CHANNELS = 3


def split_seed(split: str) -> list[int]:
  """The seed of a split's triples: [STACK_SEED, crc32(split)].

  crc32 rather than hash(): Python salts str hashes per process.
  """
  return [STACK_SEED, zlib.crc32(str(split).encode())]


def stack_indices(num_images: int, num_stacks: int, seed) -> np.ndarray:
  """Indices of the base images of each stack: int64 [num_stacks, 3].

  Entry (i, c) is uniform on {0, ..., num_images - 1}, independent over i
  and c (so channels may repeat an image), drawn from
  ``numpy.random.default_rng(seed)``: the same seed gives the same stacks.
  """
  if not isinstance(num_images, (int, np.integer)) or num_images < 1:
    raise common.DataError(f"stacked data: the base split has {num_images!r} "
                           "images; it needs at least 1")
  if not isinstance(num_stacks, (int, np.integer)) or num_stacks < 0:
    raise common.DataError(f"stacked data: num_stacks = {num_stacks!r} must "
                           "be an integer >= 0")
  rng = np.random.default_rng(seed)
  return rng.integers(0, int(num_images), (int(num_stacks), CHANNELS),
                      dtype=np.int64)


def stack_channels(images: np.ndarray, indices: np.ndarray) -> np.ndarray:
  """images [N, H, W, 1] and indices [n, 3] -> stacks [n, H, W, 3].

  Channel c of stack i is images[indices[i, c]] (same dtype).
  """
  images = np.asarray(images)
  indices = np.asarray(indices)
  if images.ndim != 4 or images.shape[-1] != 1:
    raise common.DataError(f"stacked data: the base images must be grey "
                           f"[N, H, W, 1], got shape {images.shape}")
  if indices.ndim != 2 or indices.shape[1] != CHANNELS:
    raise common.DataError(f"stacked data: indices must be [n, {CHANNELS}], "
                           f"got shape {indices.shape}")
  out = np.empty((indices.shape[0], *images.shape[1:3], CHANNELS),
                 images.dtype)
  for c in range(CHANNELS):  # one channel at a time: no [n, 3, H, W] copy
    out[..., c] = images[indices[:, c], ..., 0]
  return out


def stack_labels(labels: np.ndarray, indices: np.ndarray) -> np.ndarray:
  """Base labels [N] and indices [n, 3] -> class triples int32 [n, 3]."""
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise common.DataError(f"stacked data: base labels must be [N], got "
                           f"shape {labels.shape}")
  return labels[np.asarray(indices)].astype(np.int32)


# --- The loader: the base data set's images and labels, stacked.


def _images():
  # gan_jax.data.images imports this module for the functions above.
  from gan_jax.data import images  # pylint: disable=g-import-not-at-top
  return images


def _load_images(data_config, split: str, start: int,
                 stop: int | None) -> np.ndarray:
  images = _images()
  indices = images._stack_indices(data_config, split, None)[start:stop]  # pylint: disable=protected-access
  return stack_channels(
      images.load_images(common.stacked_base(data_config), split), indices)


def _load_labels(data_config, split: str) -> np.ndarray:
  images = _images()
  return stack_labels(
      images.load_labels(common.stacked_base(data_config), split),
      images._stack_indices(data_config, split, None))  # pylint: disable=protected-access


def _shape(data_config) -> tuple[int, int, int]:
  from gan_jax.data import shapes  # pylint: disable=g-import-not-at-top
  height, width, channels = shapes.data_shape(
      common.stacked_base(data_config))
  if channels != 1:
    raise common.DataError(
        f"config.data.name = {common.field(data_config, 'name')!r} stacks "
        f"grey images, but its base data set has {channels} channels")
  return (height, width, CHANNELS)


LOADER = common.Loader(
    images=_load_images,
    labels=_load_labels,
    num_examples=lambda c, split: _images().num_examples(
        common.stacked_base(c), split),
    shape=_shape,
    describe=lambda c: ("stacks of three images of " +
                        _images().describe_source(common.stacked_base(c))),
    num_classes=lambda c: _images().num_classes(common.stacked_base(c)),
    fingerprint=lambda c: _images().data_fingerprint(common.stacked_base(c)),
)

# Three images of the base data set as the colour channels (Metz et al. 2017).
registry.DATASETS.add("stacked_fashion_mnist", stack_channels, kind="images",
                      source="idx", stacked=True, loader=LOADER)
registry.DATASETS.add("stacked_mnist", stack_channels, kind="images",
                      source="idx", stacked=True, loader=LOADER)
