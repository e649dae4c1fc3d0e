"""Data set names, the data config and its fields, and `DataError`.

`default_data_config(name)` gives every field the loaders read; `field` and
`source` read one from a config (a ConfigDict, dict or any object with
attributes), an absent or None field taking its default.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import ml_collections

from gan_jax import fields
from gan_jax import registry

# Stacked MNIST (Metz et al. 2017): "stacked_<base>" stacks three images of
# the base data set as colour channels (see `gan_jax.data.stacked`); read
# from the base data set's source ('idx' or 'tfds').
STACKED_PREFIX = "stacked_"
SOURCES = registry.DATA_COMMON_FIELDS["source"].argument


def names_of(**info) -> tuple[str, ...]:
  """The registered data sets whose registration has these facts."""
  return registry.DATASETS.where(**info)


def __getattr__(name: str):
  # Name lists read from the registry when asked (plug-ins may add to them).
  lists = dict(
      TOY_DATASETS=lambda: names_of(kind="toy"),
      IDX_DATASETS=lambda: names_of(kind="images", source="idx",
                                    stacked=False),
      STACKED_DATASETS=lambda: names_of(stacked=True),
      IMAGE_DATASETS=lambda: names_of(kind="images"))
  if name in lists:
    return lists[name]()
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Debian's `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`;
# `dpkg -L dataset-fashion-mnist` lists the files).
DEFAULT_IDX_DIR = "/usr/share/datasets/fashion-mnist"

# Overrides the user's cache folder (`cache_home`).
CACHE_ENV = "GAN_JAX_CACHE_DIR"

# Appended to the messages about missing or unreadable image files.
HOW_TO_GET = (
    "Get Fashion-MNIST offline with `apt-get install dataset-fashion-mnist` "
    f"(files in {DEFAULT_IDX_DIR}), point config.data.data_dir at a folder "
    "with the standard IDX files (train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-...), or use "
    "config.data.source='tfds' (pip install 'gan_jax[tfds]').")


class DataError(ValueError):
  """A data set is missing, corrupt, or configured wrongly."""


@dataclasses.dataclass(frozen=True)
class Loader:
  """How an image data set loads: a registration's ``loader=`` info.

  Each function takes config.data first. A registration without one (the
  IDX / TFDS data sets, any TFDS name) loads by config.data.source
  (`gan_jax.data.images.SOURCE_LOADERS`).

  Attributes:
    images: (data_config, split, start, stop) -> uint8 [n, H, W, C], rows
      [start, stop) of the split, after image_size and the source's own
      preprocessing (the shape `shape` gives).
    labels: (data_config, split) -> int [N] (or [N, k] for stacked sets).
    num_examples: (data_config, split) -> int.
    shape: data_config -> (H, W, C) of one example.
    describe: data_config -> where the train split is read from (messages).
    num_classes: data_config -> the number of classes (0 = no labels).
    has_test_split: data_config -> whether a 'test' split exists; without
      one, the dispatch reads 'train' for 'test' and warns once.
    fingerprint: data_config -> '' or a short hash of the data's content,
      for caches keyed on the data (the feature extractor's); '' = the
      data_dir path identifies the data.
  """
  images: Callable[..., Any]
  labels: Callable[..., Any]
  num_examples: Callable[..., int]
  shape: Callable[..., tuple]
  describe: Callable[..., str]
  num_classes: Callable[..., int]
  has_test_split: Callable[..., bool] = lambda data_config: True
  fingerprint: Callable[..., str] = lambda data_config: ""


def cache_home() -> str:
  """The user's gan_jax cache folder (caches of decoded data, extractors).

  $GAN_JAX_CACHE_DIR when set, else $XDG_CACHE_HOME/gan_jax (~/.cache for
  XDG_CACHE_HOME when it is unset or relative, as the XDG base directory
  spec asks).
  """
  root = os.environ.get(CACHE_ENV, "")
  if root:
    return os.path.expanduser(root)
  xdg = os.environ.get("XDG_CACHE_HOME", "")
  if not os.path.isabs(xdg):
    xdg = os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(xdg, "gan_jax")


def default_data_config(name: str = "ring",
                        plugins=None) -> ml_collections.ConfigDict:
  """Returns a data ConfigDict: every registered data set's fields.

  Defaults are `name`'s (e.g. the toy fields' `std`). Fields:
    name: a registered data set (`gan_jax.registry.DATASETS`: toy ones,
      IDX, stacked, known TFDS ones) or, with source='tfds', any TFDS
      image data set.
    source: 'idx' | 'tfds' (images only).
    data_dir, tfds_name, tfds_download, image_size: see COMMON_FIELDS.
    the toy fields: their data set's registration (`gan_jax.data.toy`).

  `plugins` (config.plugins) limits the fields to the package's data sets
  and those plug-ins'; None: `registry.current_plugins()`.
  """
  if plugins is None:
    plugins = registry.current_plugins()
  if name not in registry.DATASETS.names(plugins):
    _unknown_name(name)
  config = ml_collections.ConfigDict()
  config.name = name
  values = registry.DATASETS.defaults(name, plugins)
  # Toy data ignores `source`; image data sets without IDX files need TFDS.
  values["source"] = registry.DATASETS.get(name).info.get("source", "idx")
  for field_name, value in values.items():
    config[field_name] = value
  return config


def _unknown_name(name) -> None:
  raise DataError(
      f"config.data.name: unknown data set {name!r}; valid: toy "
      f"{', '.join(names_of(kind='toy'))}; images "
      f"{', '.join(names_of(kind='images', source='idx', stacked=False))} "
      f"(source='idx'), stacked {', '.join(names_of(stacked=True))}, your "
      "own images (image_folder, arrays: config.data.data_dir), or any "
      "TFDS image data set (source='tfds', e.g. cifar10)")


def field(data_config, name: str, default: Any = None) -> Any:
  """config.data's field `name`, or `default` when absent or None."""
  if hasattr(data_config, "get"):
    value = data_config.get(name, default)
  else:
    value = getattr(data_config, name, default)
  return default if value is None else value


def is_toy(data_config) -> bool:
  """Whether config.data names a toy distribution (sampled, no files)."""
  return field(data_config, "name") in names_of(kind="toy")


def mirrored(data_config) -> bool:
  """config.data.mirror: whether x-flipped copies double the data set.

  As StyleGAN's ``--mirror``: example i + N is example i flipped left to
  right (the samplers apply it; the loaders return the N unflipped images).
  """
  return bool(field(data_config, "mirror", False))


def is_stacked(data_config) -> bool:
  """Whether config.data names a stacked data set (STACKED_DATASETS)."""
  return field(data_config, "name") in names_of(stacked=True)


def stacked_base(data_config) -> dict:
  """The base data set's config of a stacked one: its name without the prefix.

  A plain dict with the fields the loaders read (source, data_dir,
  tfds_name, tfds_download, image_size); e.g. stacked_fashion_mnist ->
  fashion_mnist, read and resized as the stacked set asks.
  """
  name = field(data_config, "name")
  if name not in names_of(stacked=True):
    raise DataError(f"config.data.name = {name!r} is not a stacked data set; "
                    f"valid: {', '.join(names_of(stacked=True))}")
  base = dict(name=name[len(STACKED_PREFIX):])
  for key, default in (("source", "idx"), ("data_dir", ""),
                       ("tfds_name", ""), ("tfds_download", True),
                       ("image_size", 0)):
    base[key] = field(data_config, key, default)
  return base


def source(data_config) -> str:
  """config.data.source, checked: 'idx' (the default) or 'tfds'."""
  value = field(data_config, "source", "idx")
  if value not in SOURCES:
    raise DataError(f"config.data.source: unknown source {value!r}; valid: "
                    f"{', '.join(SOURCES)}")
  return value
