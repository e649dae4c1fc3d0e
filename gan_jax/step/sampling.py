"""Data, labels and noise, drawn inside the step per global example index.

See `gan_jax.step` for how the keys are derived.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import data as data_lib
from gan_jax import registry

# sample_real(key, example_ids [n], data, draw) -> (x [n, *data_shape]
# float32 in the model's range, labels int32 [n] or None). `data` is what
# the step is given: the on-device data set (a dict of `images` and, for a
# conditional model, `labels`), or None for toy data; `draw` numbers the real
# batches of one iteration (D sub-step j draws batch j, G's step batch k), so
# that a sampler reading prepared batches knows which one to take.
RealSampler = Callable[[jax.Array, jax.Array, Any, int],
                       tuple[jax.Array, Optional[jax.Array]]]


def make_real_sampler(data_config: ml_collections.ConfigDict, *,
                      labels: bool = False) -> RealSampler:
  """Draws real examples inside the step, one key per global example index.

  Toy data: x_i ~ p_data, sampled on device (no host-to-device copy); with
  `labels`, the label of x_i is the index of the mixture component it came
  from (the ring's mode index).
  Images: x_i = shard[u_i] with u_i uniform over the device's shard of the
  data set (sampling with replacement; `data['images']` inside the mapped
  step is that shard, [S, H, W, C] uint8, see `DataParallel.place_images`),
  then mapped to config.data.pixel_range ([-1, 1] or [0, 1]); with
  `labels`, y_i = `data['labels'][u_i]`. With
  config.data.mirror (StyleGAN's --mirror), u_i is uniform over [0, 2S) and
  u_i >= S draws the x-flipped copy of example u_i - S: the data set doubled
  by its mirror images, without storing them. With one device the shard is
  the whole data set.
  """
  if data_lib.is_toy(data_config):
    distribution = data_lib.make_toy_distribution(data_config)

    def sample_toy(key, example_ids, data=None, draw=0):
      del data, draw
      if not labels:
        one = lambda i: distribution.sample(jax.random.fold_in(key, i), 1)[0]
        return jax.vmap(one)(example_ids), None
      def one_labelled(i):
        x, mode = distribution.sample_with_modes(jax.random.fold_in(key, i), 1)
        return x[0], mode[0].astype(jnp.int32)
      return jax.vmap(one_labelled)(example_ids)

    return sample_toy

  mirror = bool(data_lib.common.field(data_config, "mirror", False))
  pixel_range = data_lib.pixel_range(data_config)

  def sample_images(key, example_ids, data, draw=0):
    del draw
    # The data set's images alone, or a dict of images and labels.
    images = data["images"] if isinstance(data, dict) else data
    size = images.shape[0]
    span = 2 * size if mirror else size
    draw_one = lambda i: jax.random.randint(jax.random.fold_in(key, i), (),
                                            0, span)
    index = jax.vmap(draw_one)(example_ids)
    row = index % size
    x = images[row]
    if mirror:
      flip = (index >= size).reshape(-1, *([1] * (x.ndim - 1)))
      x = jnp.where(flip, x[:, :, ::-1], x)
    y = data["labels"][row].astype(jnp.int32) if labels else None
    return data_lib.to_model_range(x, pixel_range), y

  return sample_images


# config.model.latent_distribution: p_z (the choices its field declares).
LATENT_DISTRIBUTIONS = registry.MODEL_COMMON_FIELDS[
    "latent_distribution"].argument


def draw_latent(key: jax.Array, shape, distribution: str = "normal"
                ) -> jax.Array:
  """z ~ p_z of `shape`, float32: 'normal' N(0, I) or 'uniform' U(-1, 1)."""
  if distribution == "normal":
    return jax.random.normal(key, shape, jnp.float32)
  if distribution == "uniform":
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
  raise ValueError(f"config.model.latent_distribution = {distribution!r} is "
                   f"not valid; choose one of "
                   f"{', '.join(map(repr, LATENT_DISTRIBUTIONS))}")


def sample_noise(key: jax.Array, example_ids: jax.Array, latent_dim: int,
                 distribution: str = "normal") -> jax.Array:
  """z_i ~ p_z keyed by fold_in(key, i): [n, latent_dim] (`draw_latent`)."""
  one = lambda i: draw_latent(jax.random.fold_in(key, i), (latent_dim,),
                              distribution)
  return jax.vmap(one)(example_ids)


def sample_labels(key: jax.Array, example_ids: jax.Array,
                  label_log_probs: jax.Array) -> jax.Array:
  """y_i ~ Categorical(p) keyed by fold_in(key, i): int32 [n].

  p: the training labels' class frequencies (`label_log_probs` = log p,
  [num_classes]), so that the fakes' classes are distributed as the data's.
  """
  one = lambda i: jax.random.categorical(jax.random.fold_in(key, i),
                                         label_log_probs)
  return jax.vmap(one)(example_ids).astype(jnp.int32)


def real_draws(config: ml_collections.ConfigDict) -> int:
  """Real batches one iteration draws: k for D's sub-steps, + 1 for G's step
  when the game's generator loss reads reals (`Objective.generator_needs_real`)."""
  from gan_jax.step import objective  # pylint: disable=g-import-not-at-top
  needs_real = objective.make_objective(config.loss).generator_needs_real
  return int(config.train.discriminator_steps) + (1 if needs_real else 0)


def make_streamed_sampler(*, labels: bool = False,
                          pixel_range: str = "[-1,1]") -> RealSampler:
  """The real sampler of a streamed data set (config.data.pipeline 'host').

  `data` is one iteration's prepared batches (`gan_jax.data.pipeline`):
  {'images': uint8 [D, n, H, W, C], 'labels': int32 [D, n]} with n this
  device's share; draw j returns batch j mapped to `pixel_range`
  (config.data.pixel_range; and its labels
  with `labels`). The key is not used: the host shuffled and mirrored.
  """
  def sample_streamed(key, example_ids, data, draw=0):
    del key, example_ids
    x = data_lib.to_model_range(data["images"][draw], pixel_range)
    y = data["labels"][draw].astype(jnp.int32) if labels else None
    return x, y

  return sample_streamed
