"""The shape of one example of a data set, known without loading it."""

from __future__ import annotations

from gan_jax import registry
from gan_jax.data import common
from gan_jax.data import images


def data_shape(data_config) -> tuple[int, ...]:
  """Shape of one example, without loading the data set.

  (2,) for ring and grid, (1,) for gaussian_1d, (H, W, C) for images after
  `image_size`, from the data set's loader (`images.loader_of`): read from
  the IDX header, a table of known data sets, or the TFDS builder's
  metadata; a stacked data set's is its base's with 3 channels;
  image_folder's and arrays' come from their cache or header (the folder's
  first call decodes it into the cache).
  """
  name = common.field(data_config, "name")
  if common.is_toy(data_config):
    return (registry.DATASETS.get(name).info["dims"],)
  return tuple(int(d) for d in
               images.loader_of(data_config).shape(data_config))
