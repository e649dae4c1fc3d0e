"""Data and noise, drawn inside the step per global example index.

See `gan_jax.step` for how the keys are derived.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import ml_collections

from gan_jax import data as data_lib

# sample_real(key, example_ids [n], dataset) -> x [n, *data_shape] float32.
RealSampler = Callable[[jax.Array, jax.Array, Any], jax.Array]


def make_real_sampler(data_config: ml_collections.ConfigDict) -> RealSampler:
  """Draws real examples inside the step, one key per global example index.

  Toy data: x_i ~ p_data, sampled on device (no host-to-device copy).
  Images: x_i = shard[u_i] with u_i uniform over the device's shard of the
  data set (sampling with replacement; `dataset` inside the mapped step is
  that shard, [S, H, W, C] uint8, see `DataParallel.place_images`), then
  mapped to [-1, 1]. With one device the shard is the whole data set.
  """
  if data_lib.is_toy(data_config):
    distribution = data_lib.make_toy_distribution(data_config)

    def sample_toy(key, example_ids, dataset):
      del dataset
      one = lambda i: distribution.sample(jax.random.fold_in(key, i), 1)[0]
      return jax.vmap(one)(example_ids)

    return sample_toy

  def sample_images(key, example_ids, dataset):
    size = dataset.shape[0]
    draw = lambda i: jax.random.randint(jax.random.fold_in(key, i), (), 0, size)
    return data_lib.to_model_range(dataset[jax.vmap(draw)(example_ids)])

  return sample_images


def sample_noise(key: jax.Array, example_ids: jax.Array,
                 latent_dim: int) -> jax.Array:
  """z_i ~ N(0, I_latent_dim) keyed by fold_in(key, i): [n, latent_dim]."""
  one = lambda i: jax.random.normal(jax.random.fold_in(key, i), (latent_dim,))
  return jax.vmap(one)(example_ids)
