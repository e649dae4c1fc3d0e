"""The shape of one example of a data set, known without loading it."""

from __future__ import annotations

from gan_jax import registry
from gan_jax.data import common
from gan_jax.data import idx
from gan_jax.data import images
from gan_jax.data import stacked
from gan_jax.data import tfds_reader



def _known_shape(name: str):
  """A registered image data set's shape (None: read it from the files)."""
  if name not in registry.DATASETS.names():
    return None
  return registry.DATASETS.get(name).info.get("shape")


def data_shape(data_config) -> tuple[int, ...]:
  """Shape of one example, without loading the data set.

  (2,) for ring and grid, (1,) for gaussian_1d, (H, W, C) for images after
  `image_size` (read from the IDX header, a table of known data sets, or the
  TFDS builder's metadata); a stacked data set's is its base's with 3
  channels.
  """
  name = common.field(data_config, "name")
  if common.is_toy(data_config):
    return (registry.DATASETS.get(name).info["dims"],)
  if name is None:
    raise common.DataError("config.data.name is required")
  if common.is_stacked(data_config):
    height, width, channels = data_shape(common.stacked_base(data_config))
    if channels != 1:
      raise common.DataError(
          f"config.data.name = {name!r} stacks grey images, but its base "
          f"data set has {channels} channels")
    return (height, width, stacked.CHANNELS)
  size = images.image_size(data_config)
  source = common.source(data_config)
  if source == "idx":
    dims = idx.read_idx_shape(idx.idx_path(data_config, "train", "images"))
    if len(dims) != 3:
      raise common.DataError(
          f"{idx.idx_path(data_config, 'train', 'images')}: "
          f"expected an IDX image file, header dims {dims}")
    shape = (dims[1], dims[2], 1)
  elif _known_shape(tfds_reader.tfds_name(data_config)):
    shape = _known_shape(tfds_reader.tfds_name(data_config))
  else:
    shape = _tfds_shape(data_config)
  if size:
    shape = (size, size, shape[2])
  return tuple(int(d) for d in shape)


def _tfds_shape(data_config) -> tuple[int, int, int]:
  """(H, W, C) of a TFDS image data set, from its builder's metadata."""
  name = tfds_reader.tfds_name(data_config)
  tfds = tfds_reader.import_tfds()
  try:
    builder = tfds.builder(name,
                           data_dir=common.field(data_config,
                                                 "data_dir") or None)
    shape = tuple(builder.info.features["image"].shape)
  except Exception as e:  # pylint: disable=broad-except
    raise common.DataError(
        f"config.data.name / tfds_name {name!r}: cannot get the image shape "
        f"from TFDS ({type(e).__name__}: {e})") from e
  if len(shape) == 2:
    shape = (*shape, 1)
  if len(shape) != 3 or None in shape:
    raise common.DataError(f"TFDS data set {name!r} has image shape {shape}; "
                           "set config.data.image_size")
  return shape
