"""Image data sets read through ``tfds.data_source`` (``source='tfds'``).

Needs the optional ``gan_jax[tfds]`` extra (tensorflow itself is not
needed): MNIST, CIFAR-10 and the rest on a machine that can download them,
or from a prepared ``data_dir``.
"""

from __future__ import annotations

import numpy as np

from gan_jax import registry
from gan_jax.data import common


def import_tfds():
  """The tensorflow_datasets module, or a DataError saying how to get it."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise common.DataError(
        "config.data.source='tfds' needs tensorflow_datasets: "
        "pip install 'gan_jax[tfds]' (tensorflow itself is not needed); or "
        "use config.data.source='idx' with local IDX files") from e
  return tfds


def tfds_name(data_config) -> str:
  """The TFDS builder name: config.data.tfds_name, else config.data.name."""
  return (common.field(data_config, "tfds_name", "") or
          common.field(data_config, "name"))


def data_source(data_config, split: str):
  """`tfds.data_source` of a split; a DataError if TFDS cannot give it."""
  tfds = import_tfds()
  name = tfds_name(data_config)
  data_dir = common.field(data_config, "data_dir", "") or None
  download = bool(common.field(data_config, "tfds_download", True))
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=download)
  except Exception as e:  # TFDS raises many types; all mean "no data".
    raise common.DataError(
        f"tfds.data_source({name!r}, split={split!r}, data_dir={data_dir!r}) "
        f"failed (config.data.name / tfds_name / data_dir): "
        f"{type(e).__name__}: {e}. Prepare the data set on a machine with "
        "internet (tfds.data_source downloads it on first use with "
        "config.data.tfds_download=True; preparing needs the package "
        "importlib_resources) and point config.data.data_dir at it, or use "
        "config.data.source='idx'.") from e


def read_feature(data_config, split: str, feature: str,
                 first: int = 0, last: int | None = None) -> np.ndarray:
  """Feature `feature` of records [first, last) of a split, stacked."""
  source = data_source(data_config, split)
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
      raise common.DataError(
          f"TFDS data set {tfds_name(data_config)!r} has no {feature!r} "
          f"feature (features: {sorted(records[0])})") from None
  if not chunks:
    raise common.DataError(f"TFDS data set {tfds_name(data_config)!r} split "
                           f"{split!r} is empty")
  return np.concatenate(chunks)


def known_shape(name: str):
  """A registered TFDS data set's (H, W, C) (None: ask TFDS)."""
  if name not in registry.DATASETS.names():
    return None
  return registry.DATASETS.get(name).info.get("shape")


def image_shape(data_config) -> tuple[int, int, int]:
  """(H, W, C) of a TFDS image data set: registered, or its builder's."""
  name = tfds_name(data_config)
  if known_shape(name):
    return tuple(known_shape(name))
  shape = tuple(_feature_info(
      data_config, "image", "shape",
      f"config.data.name / tfds_name {name!r}: cannot get the image shape "
      "from TFDS"))
  if len(shape) == 2:
    shape = (*shape, 1)
  if len(shape) != 3 or None in shape:
    raise common.DataError(f"TFDS data set {name!r} has image shape {shape}; "
                           "set config.data.image_size")
  return shape


def _feature_info(data_config, feature: str, attribute: str, failure: str):
  """`attribute` of the builder's info of `feature` (e.g. the image's shape);
  a DataError starting with `failure` if TFDS cannot give it."""
  tfds = import_tfds()
  try:
    builder = tfds.builder(tfds_name(data_config),
                           data_dir=common.field(data_config, "data_dir") or
                           None)
    return getattr(builder.info.features[feature], attribute)
  except Exception as e:  # pylint: disable=broad-except
    raise common.DataError(f"{failure} ({type(e).__name__}: {e})") from e


def num_classes(data_config) -> int:
  """The label feature's num_classes (registered, else the builder's)."""
  name = tfds_name(data_config)
  if name in registry.DATASETS.names():
    known = registry.DATASETS.get(name).info.get("num_classes")
    if known:
      return int(known)
  return int(_feature_info(
      data_config, "label", "num_classes",
      f"TFDS data set {name!r}: cannot get the number of classes of its "
      "'label' feature"))


# A TFDS image data set whose shape is known without asking TFDS; any other
# TFDS image name works too with config.data.source = 'tfds'.
registry.DATASETS.add("cifar10", read_feature, kind="images", source="tfds",
                      stacked=False, shape=(32, 32, 3),
                      num_classes=10)
