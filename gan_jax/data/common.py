"""Data set names, the data config and its fields, and `DataError`.

`default_data_config(name)` gives every field the loaders read; `field` and
`source` read one from a config (a ConfigDict, dict or any object with
attributes), an absent or None field taking its default.
"""

from __future__ import annotations

from typing import Any

import ml_collections

TOY_DATASETS = ("ring", "grid", "gaussian_1d")
IDX_DATASETS = ("fashion_mnist", "mnist")
# Stacked MNIST (Metz et al. 2017): "stacked_<base>" stacks three images of
# the base data set as colour channels (see `gan_jax.data.stacked`); read
# from the base data set's source ('idx' or 'tfds').
STACKED_PREFIX = "stacked_"
STACKED_DATASETS = ("stacked_fashion_mnist", "stacked_mnist")
# Names known without asking TFDS; any other TFDS image data set name also
# works with source='tfds'.
IMAGE_DATASETS = ("fashion_mnist", "mnist", "cifar10") + STACKED_DATASETS
SOURCES = ("idx", "tfds")

# Debian's `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`;
# `dpkg -L dataset-fashion-mnist` lists the files).
DEFAULT_IDX_DIR = "/usr/share/datasets/fashion-mnist"

TOY_DEFAULTS = {
    "ring": dict(num_modes=8, radius=2.0, std=0.02),
    "grid": dict(size=5, spacing=2.0, std=0.05),
    "gaussian_1d": dict(mean=4.0, std=0.5),
}

# Appended to the messages about missing or unreadable image files.
HOW_TO_GET = (
    "Get Fashion-MNIST offline with `apt-get install dataset-fashion-mnist` "
    f"(files in {DEFAULT_IDX_DIR}), point config.data.data_dir at a folder "
    "with the standard IDX files (train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-...), or use "
    "config.data.source='tfds' (pip install 'gan_jax[tfds]').")


class DataError(ValueError):
  """A data set is missing, corrupt, or configured wrongly."""


def default_data_config(name: str = "ring") -> ml_collections.ConfigDict:
  """Returns a data ConfigDict with every field, defaults chosen for `name`.

  Fields:
    name: a toy name (TOY_DATASETS) or an image data set name (one of
      STACKED_DATASETS: three base images stacked as channels).
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
  needs_tfds = (name in IMAGE_DATASETS and name not in IDX_DATASETS and
                name not in STACKED_DATASETS)
  config.source = "tfds" if needs_tfds else "idx"
  config.data_dir = ""
  config.tfds_name = ""
  config.tfds_download = True
  config.image_size = 0
  toy = {}
  for defaults in (TOY_DEFAULTS["gaussian_1d"], TOY_DEFAULTS["grid"],
                   TOY_DEFAULTS["ring"], TOY_DEFAULTS.get(name, {})):
    toy.update(defaults)
  for field_name, value in toy.items():
    config[field_name] = value
  return config


def _unknown_name(name) -> None:
  raise DataError(
      f"config.data.name: unknown data set {name!r}; valid: toy "
      f"{', '.join(TOY_DATASETS)}; images {', '.join(IDX_DATASETS)} "
      f"(source='idx'), stacked {', '.join(STACKED_DATASETS)}, or any TFDS "
      "image data set (source='tfds', e.g. cifar10)")


def field(data_config, name: str, default: Any = None) -> Any:
  """config.data's field `name`, or `default` when absent or None."""
  if hasattr(data_config, "get"):
    value = data_config.get(name, default)
  else:
    value = getattr(data_config, name, default)
  return default if value is None else value


def is_toy(data_config) -> bool:
  """Whether config.data names a toy distribution (sampled, no files)."""
  return field(data_config, "name") in TOY_DATASETS


def is_stacked(data_config) -> bool:
  """Whether config.data names a stacked data set (STACKED_DATASETS)."""
  return field(data_config, "name") in STACKED_DATASETS


def stacked_base(data_config) -> dict:
  """The base data set's config of a stacked one: its name without the prefix.

  A plain dict with the fields the loaders read (source, data_dir,
  tfds_name, tfds_download, image_size); e.g. stacked_fashion_mnist ->
  fashion_mnist, read and resized as the stacked set asks.
  """
  name = field(data_config, "name")
  if name not in STACKED_DATASETS:
    raise DataError(f"config.data.name = {name!r} is not a stacked data set; "
                    f"valid: {', '.join(STACKED_DATASETS)}")
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
