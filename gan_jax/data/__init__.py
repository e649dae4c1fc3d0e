"""Data: toy distributions, IDX files (MNIST format), TFDS, your own images.

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
* stacked (``name`` in STACKED_DATASETS, e.g. ``stacked_fashion_mnist``):
  Stacked MNIST (Metz et al. 2017), three images of the base data set as
  the colour channels, built on the fly from the base's files
  (`gan_jax.data.stacked`); `load_labels` gives the class triples.
* ``source='tfds'``: ``tfds.data_source`` (needs the optional
  ``gan_jax[tfds]`` extra; tensorflow itself is not needed). MNIST, CIFAR-10
  and the rest on a machine that can download them, or from a prepared
  ``data_dir``.
* ``image_folder``: a folder of image files, one sub-folder per class
  (`gan_jax.data.folder`), decoded once into a cache of ``.npy`` files.
* ``arrays``: ``.npz`` / ``.npy`` files of uint8 images and optional labels
  (`gan_jax.data.arrays`).

How each image data set loads is its registration's ``loader=``
(`common.Loader`), else config.data.source's (`images.SOURCE_LOADERS`).

Modules: `common` (names, config, `DataError`, `Loader`), `toy`, `idx`
(IDX files), `tfds_reader`, `folder` and `arrays` (your own images),
`preprocess` (their Pillow preprocessing), `cache` (their decoded cache),
`images` (loading images and labels: the dispatch), `stacked` (stacks
of three images), `shapes` (an example's shape without loading),
`batching` (pixel range, per-process batch shares). Every public name is
re-exported here, e.g. `data.load_images`, `data.read_idx`,
`data.DataError`.
"""

from gan_jax.data import common
from gan_jax.data.batching import from_model_range
from gan_jax.data.batching import PIXEL_RANGES
from gan_jax.data.batching import pixel_range
from gan_jax.data.batching import process_batch_slice
from gan_jax.data.batching import to_model_range
from gan_jax.data.batching import to_unit_range
from gan_jax.data.common import cache_home
from gan_jax.data.common import DataError
from gan_jax.data.common import default_data_config
from gan_jax.data.common import DEFAULT_IDX_DIR
from gan_jax.data.common import is_stacked
from gan_jax.data.common import is_toy
from gan_jax.data.common import Loader
from gan_jax.data.common import mirrored
from gan_jax.data.common import SOURCES
from gan_jax.data.common import stacked_base
from gan_jax.data.idx import IDX_FILES
from gan_jax.data.idx import IDX_MAGIC_IMAGES
from gan_jax.data.idx import IDX_MAGIC_LABELS
from gan_jax.data.idx import IDX_SPLITS
from gan_jax.data.idx import read_idx
from gan_jax.data.idx import read_idx_shape
from gan_jax.data.images import data_fingerprint
from gan_jax.data.images import describe_source
from gan_jax.data.images import has_test_split
from gan_jax.data.images import load_images
from gan_jax.data.images import load_labels
from gan_jax.data.images import load_stacked
from gan_jax.data.images import loader_of
from gan_jax.data.images import num_classes
from gan_jax.data.images import num_examples
from gan_jax.data.images import resize_images
from gan_jax.data.shapes import data_shape
from gan_jax.data.stacked import stack_channels
from gan_jax.data.stacked import stack_indices
from gan_jax.data.stacked import stack_labels
from gan_jax.data.toy import make_toy_distribution


def __getattr__(name: str):
  # TOY_DATASETS, IDX_DATASETS, STACKED_DATASETS, IMAGE_DATASETS: read from
  # the registry when asked (plug-ins may add to them).
  return common.__getattr__(name)
