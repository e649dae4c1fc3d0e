"""A model added from outside gan_jax: an MLP G and D with residual blocks.

One file: the Flax modules, their builder and the registration with the
config fields they read. Use it with

  python launch.py --config experiments/configs/ring.py \
      --plugins examples/plugins/residual_mlp.py \
      --config.model.name=residual_mlp --workdir runs/ring_residual

or in a config file: `config = default_config(plugins=("examples/plugins/
residual_mlp.py",))` then `config.model.name = "residual_mlp"`.

x -> Dense(width) -> [x + Dense(width)(relu(x))] * blocks -> Dense(out)
(He et al. 2016's identity shortcut on fully connected layers).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax import fields
from gan_jax import registry


class ResidualStack(nn.Module):
  """Dense(width), `blocks` residual Dense blocks, Dense(out)."""
  width: int
  blocks: int
  out: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.width, dtype=self.dtype)(x)
    for _ in range(self.blocks):
      x = x + nn.Dense(self.width, dtype=self.dtype)(nn.relu(x))
    return nn.Dense(self.out, dtype=self.dtype)(nn.relu(x))


class Generator(nn.Module):
  """z [n, latent_dim] -> x [n, *data_shape] (tanh for images)."""
  data_shape: tuple[int, ...]
  width: int
  blocks: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = False):
    del train  # no BatchNorm or dropout
    size = math.prod(self.data_shape)
    x = ResidualStack(self.width, self.blocks, size, self.dtype)(z)
    x = x.astype(jnp.float32).reshape(z.shape[0], *self.data_shape)
    return jnp.tanh(x) if len(self.data_shape) == 3 else x


class Discriminator(nn.Module):
  """x [n, *data_shape] -> logits [n] (float32)."""
  width: int
  blocks: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = x.reshape(x.shape[0], -1)
    return ResidualStack(self.width, self.blocks, 1, self.dtype)(
        x)[:, 0].astype(jnp.float32)


def build(model_fields, data_shape, *, slope, common):
  """The (generator, discriminator) pair; `common` has the dtype etc."""
  del slope  # ReLU only
  width = model_fields.get("residual_width")
  blocks = model_fields.get("residual_blocks")
  return (Generator(data_shape, width, blocks, common["dtype"]),
          Discriminator(width, blocks, common["dtype"]))


registry.MODELS.add(
    "residual_mlp", build,
    fields=dict(
        residual_width=fields.integer(128, 1, doc="width of every block"),
        residual_blocks=fields.integer(2, 1, doc="residual blocks in G and D"),
    ))
