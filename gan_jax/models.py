"""Flax linen generators and discriminators (MLP, DCGAN), chosen by name.

Two families:

* ``mlp``: fully connected G and D, as in Goodfellow et al. 2014, "Generative
  Adversarial Nets" (MNIST: G 1200-1200 ReLU, D 240-240 maxout with dropout)
  and the widely used "classic" PyTorch-GAN MLP (G 128-256-512-1024 with
  BatchNorm and LeakyReLU 0.2; D 512-256 LeakyReLU 0.2). Works for toy data
  (``data_shape`` of rank 1, linear G output) and images (rank 3 ``[H, W, C]``,
  tanh G output in [-1, 1]).
* ``dcgan``: Radford, Metz & Chintala 2016, "Unsupervised Representation
  Learning with Deep Convolutional GANs", for 28x28 and 32x32 images:
  transposed convolutions with BatchNorm + ReLU in G (tanh output), strided
  convolutions with LeakyReLU 0.2 and BatchNorm on all but the first layer in
  D, weights initialised from N(0, 0.02).

Interface used by the training engine::

  generator, discriminator = make_models(config.model, data_shape,
                                         axis_name='data')
  g_vars = init_variables(generator, key_g, jnp.zeros((1, latent_dim)))
  d_vars = init_variables(discriminator, key_d, jnp.zeros((1, *data_shape)))
  x, g_updates = generator.apply(g_vars, z, train=True,
                                 mutable=['batch_stats'])
  logits, d_updates = discriminator.apply(
      d_vars, x, train=True, mutable=['batch_stats'],
      rngs={'dropout': key})      # the rng is only needed when dropout > 0

Shapes: ``z: [n, latent_dim] -> x: [n, *data_shape]`` (float32) and
``x: [n, *data_shape] -> logits: [n]`` (float32, one logit per example,
*not* a probability).

Variables: ``init_variables`` always returns ``{'params': ...,
'batch_stats': ...}``; ``batch_stats`` is an empty dict for models without
BatchNorm. ``apply(variables, ..., mutable=['batch_stats'])`` returns
``(out, updates)`` with ``updates == {'batch_stats': ...}`` (the new running
averages, or ``{}`` for models without BatchNorm), so
``{**variables, **updates}`` is the new variables dict in every case, with the
same pytree structure (handy for a train state and for ``lax.scan``). With
``train=False`` BatchNorm uses its running averages and dropout is off;
``mutable`` may then be omitted.

Data parallelism: BatchNorm layers are built with ``axis_name``; when the
models are applied with ``train=True`` inside ``jax.pmap`` / ``jax.shard_map``
over that axis, batch statistics are averaged over all devices, i.e. equal to
the statistics of the global batch. Applying a model built with an
``axis_name`` under ``train=True`` outside such a mapped context fails
(unbound axis name); build it with ``axis_name=None`` for single-device use.
Initialise with ``train=False`` (``init_variables`` does), which needs no
bound axis. BatchNorm statistics are those of each ``apply`` call's batch: a
discriminator applied to real and fake halves separately normalises each
with its own statistics (as in Radford et al.'s code), one applied to their
concatenation with the mixture's.

Dropout (MLP discriminator only, off by default) draws its masks from the
``'dropout'`` rng of the call; for results independent of the device count,
derive that key from the step and the example indices a device holds, not
from the device index alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
import ml_collections

Array = jax.Array

MODEL_NAMES = ("mlp", "dcgan")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "maxout")
DCGAN_IMAGE_SIZES = ((28, 28), (32, 32))

# Field values for well-known MLP sizes; apply with
# `config.model.update(MLP_PRESETS['classic'])`.
MLP_PRESETS: dict[str, dict[str, Any]] = {
    # Goodfellow et al. 2014, MNIST (the paper's pylearn2 configuration):
    # G two ReLU layers of 1200; D two maxout layers of 240 units x 5
    # pieces, dropout 0.5 on hidden layers and 0.2 on the input. The paper's
    # sigmoid G output is replaced by tanh because images are in [-1, 1].
    "goodfellow2014": dict(
        name="mlp",
        latent_dim=100,
        generator_widths=(1200, 1200),
        generator_activation="relu",
        generator_batch_norm=False,
        discriminator_widths=(240, 240),
        discriminator_activation="maxout",
        maxout_pieces=5,
        discriminator_dropout=0.5,
        discriminator_input_dropout=0.2,
        discriminator_batch_norm=False,
    ),
    # eriklindernoren/PyTorch-GAN `implementations/gan/gan.py`: G
    # 100-128-256-512-1024-784, BatchNorm on all hidden layers but the first,
    # LeakyReLU 0.2, tanh; D 784-512-256-1 LeakyReLU 0.2. (That code passes
    # 0.8 as BatchNorm's eps by accident; we keep the standard eps.)
    "classic": dict(
        name="mlp",
        latent_dim=100,
        generator_widths=(128, 256, 512, 1024),
        generator_activation="leaky_relu",
        generator_batch_norm=True,
        generator_batch_norm_first_layer=False,
        discriminator_widths=(512, 256),
        discriminator_activation="leaky_relu",
        discriminator_dropout=0.0,
        discriminator_input_dropout=0.0,
        discriminator_batch_norm=False,
        leaky_relu_slope=0.2,
    ),
}


def default_model_config(name: str = "mlp") -> ml_collections.ConfigDict:
  """Returns a model ConfigDict with every field, defaults chosen for `name`.

  All fields exist whatever the name, so a config may switch
  `config.model.name` on the command line. Fields:

    name: 'mlp' | 'dcgan'.
    latent_dim: size of z.
    MLP only:
      generator_widths, discriminator_widths: hidden layer widths (tuples).
      generator_activation, discriminator_activation: one of ACTIVATIONS;
        'maxout' makes each hidden layer a maxout layer with `maxout_pieces`
        pieces (Goodfellow et al. 2013).
      maxout_pieces: pieces per maxout unit.
      generator_batch_norm: BatchNorm after each hidden Dense layer of G.
      generator_batch_norm_first_layer: whether that includes the first one.
      discriminator_batch_norm: BatchNorm after each hidden layer of D but
        the first.
      discriminator_dropout: dropout rate after each hidden layer of D.
      discriminator_input_dropout: dropout rate on D's (flattened) input.
    Both:
      leaky_relu_slope: negative slope of LeakyReLU (DCGAN D always uses it).
      batch_norm_momentum: running-average decay (0.9 = PyTorch's 0.1).
      batch_norm_epsilon: BatchNorm epsilon.
    DCGAN only:
      generator_base_features: channels of G's last hidden layer (doubled
        towards the input: 4b, 2b, b for 32x32; 2b, b for 28x28).
      discriminator_base_features: channels of D's first layer (doubled
        with depth).

  Args:
    name: 'mlp' (a small MLP for toy data) or 'dcgan'.
  """
  if name not in MODEL_NAMES:
    raise ValueError(f"config.model.name: unknown model {name!r}; valid: "
                     f"{', '.join(MODEL_NAMES)}")
  config = ml_collections.ConfigDict()
  config.name = name
  config.latent_dim = 100 if name == "dcgan" else 16
  config.generator_widths = (128, 128)
  config.discriminator_widths = (128, 128)
  config.generator_activation = "relu"
  config.discriminator_activation = "relu"
  config.maxout_pieces = 2
  config.leaky_relu_slope = 0.2
  config.generator_batch_norm = False
  config.generator_batch_norm_first_layer = True
  config.discriminator_batch_norm = False
  config.discriminator_dropout = 0.0
  config.discriminator_input_dropout = 0.0
  config.batch_norm_momentum = 0.9
  config.batch_norm_epsilon = 1e-5
  config.generator_base_features = 64
  config.discriminator_base_features = 64
  return config


def mlp_preset(preset: str) -> ml_collections.ConfigDict:
  """Returns `default_model_config('mlp')` updated by `MLP_PRESETS[preset]`."""
  if preset not in MLP_PRESETS:
    raise ValueError(f"unknown MLP preset {preset!r}; valid: "
                     f"{', '.join(MLP_PRESETS)}")
  config = default_model_config("mlp")
  config.update(MLP_PRESETS[preset])
  return config


# ----------------------------------------------------------------------------
# Building blocks.

def _activation_fn(name: str, slope: float) -> Callable[[Array], Array]:
  if name == "relu":
    return nn.relu
  if name == "leaky_relu":
    return lambda x: nn.leaky_relu(x, negative_slope=slope)
  if name == "tanh":
    return jnp.tanh
  if name == "elu":
    return nn.elu
  if name == "gelu":
    return nn.gelu
  raise ValueError(
      f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


def _dense_init(activation: str) -> Callable[..., Array]:
  # He initialisation for ReLU-like units, LeCun for the rest (saturating or
  # linear units, and maxout, whose pieces are linear).
  if activation in ("relu", "leaky_relu", "elu", "gelu"):
    return nn.initializers.he_normal()
  return nn.initializers.lecun_normal()


def _dcgan_bn_scale_init(key, shape, dtype=jnp.float32):
  # Radford et al.'s reference code: BatchNorm gamma ~ N(1, 0.02).
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


_DCGAN_INIT = nn.initializers.normal(0.02)


class _HiddenDense(nn.Module):
  """Dense -> [BatchNorm] -> activation (or a maxout layer of `features`)."""
  features: int
  activation: str
  leaky_relu_slope: float = 0.2
  maxout_pieces: int = 2
  batch_norm: bool = False
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    maxout = self.activation == "maxout"
    width = self.features * (self.maxout_pieces if maxout else 1)
    x = nn.Dense(width, kernel_init=_dense_init(self.activation),
                 use_bias=not self.batch_norm, name="dense")(x)
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train,
                       momentum=self.batch_norm_momentum,
                       epsilon=self.batch_norm_epsilon,
                       axis_name=self.axis_name, name="bn")(x)
    if maxout:
      x = x.reshape(*x.shape[:-1], self.features, self.maxout_pieces)
      return jnp.max(x, axis=-1)
    return _activation_fn(self.activation, self.leaky_relu_slope)(x)


# ----------------------------------------------------------------------------
# MLP.

class MLPGenerator(nn.Module):
  """Fully connected generator: z [n, latent_dim] -> x [n, *data_shape].

  Hidden layers: Dense(w) [-> BatchNorm] -> activation for w in `widths`.
  Output: Dense(prod(data_shape)), linear for rank-1 data (toy
  distributions), tanh then reshape to [H, W, C] for rank-3 data (images in
  [-1, 1]). Goodfellow et al. 2014 use this shape of network (with a
  sigmoid output for MNIST in [0, 1]).
  """
  data_shape: tuple[int, ...]
  widths: Sequence[int] = (128, 128)
  activation: str = "relu"
  leaky_relu_slope: float = 0.2
  maxout_pieces: int = 2
  batch_norm: bool = False
  batch_norm_first_layer: bool = True
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: Array, train: bool = True) -> Array:
    x = jnp.asarray(z, jnp.float32)
    for i, width in enumerate(self.widths):
      use_bn = self.batch_norm and (i > 0 or self.batch_norm_first_layer)
      x = _HiddenDense(width, self.activation, self.leaky_relu_slope,
                       self.maxout_pieces, use_bn, self.batch_norm_momentum,
                       self.batch_norm_epsilon, self.axis_name,
                       name=f"hidden_{i}")(x, train)
    x = nn.Dense(math.prod(self.data_shape),
                 kernel_init=nn.initializers.lecun_normal(), name="out")(x)
    if len(self.data_shape) == 3:
      x = jnp.tanh(x)
    return x.reshape(x.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
  """Fully connected discriminator: x [n, *data_shape] -> logits [n].

  Flattens x; optional input dropout; hidden layers Dense(w) [-> BatchNorm
  (not on the first layer)] -> activation [-> dropout]; Dense(1) gives one
  logit per example (the sigmoid lives in the loss).
  """
  widths: Sequence[int] = (128, 128)
  activation: str = "relu"
  leaky_relu_slope: float = 0.2
  maxout_pieces: int = 2
  dropout: float = 0.0
  input_dropout: float = 0.0
  batch_norm: bool = False
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    x = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
    if self.input_dropout > 0:
      x = nn.Dropout(self.input_dropout, deterministic=not train)(x)
    for i, width in enumerate(self.widths):
      x = _HiddenDense(width, self.activation, self.leaky_relu_slope,
                       self.maxout_pieces, self.batch_norm and i > 0,
                       self.batch_norm_momentum, self.batch_norm_epsilon,
                       self.axis_name, name=f"hidden_{i}")(x, train)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.Dense(1, kernel_init=nn.initializers.lecun_normal(), name="out")(x)
    return x[:, 0].astype(jnp.float32)


# ----------------------------------------------------------------------------
# DCGAN.

CONV_TRANSPOSE_IMPLS = ("auto", "subpixel", "lax")
# Below this many output channels the library convolution is faster on CPU
# too (the matrix products degenerate to matrix-vector ones).
_SUBPIXEL_MIN_FEATURES = 8


def _subpixel_taps(phase: int) -> list[tuple[int, int]]:
  """(kernel index k, offset into the 1-padded input) for output phase a.

  Output row 2i + a of the stride-2 transposed convolution reads input row
  i + (a + k) // 2 - 1 through kernel row k, for the k with k = a (mod 2).
  """
  return [(k, (phase + k) // 2) for k in range(4) if (phase + k) % 2 == 0]


def subpixel_conv_transpose(x: Array, kernel: Array) -> Array:
  """4x4, stride-2, 'SAME' transposed convolution as 16 matrix products.

  Computes lax.conv_transpose(x, kernel, (2, 2), 'SAME') (flax's
  nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME')):

    y[n, 2i+a, 2j+b, o] = sum_{ky = a, kx = b (mod 2)} sum_c
        xp[n, i + (a+ky)//2, j + (b+kx)//2, c] * kernel[ky, kx, c, o]

  with xp = x padded by one pixel on each side: each of the four output
  phases (a, b) is a 2x2 stride-1 correlation, written as four products of
  [n*h*w, c] by [c, o] matrices. The same multiply-adds as the dilated
  convolution, without the zeros it inserts; the reason is XLA:CPU, whose
  gradient of a dilated convolution runs 4-8x slower than these products
  and their transposes (per layer of the DCGAN G at batch 64; measured in
  the commit that added this). Exact up to float rounding.

  Args:
    x: [n, h, w, c].
    kernel: [4, 4, c, o] (flax ConvTranspose's HWIO layout).

  Returns:
    [n, 2h, 2w, o].
  """
  n, height, width, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = []
  for a in range(2):
    phases = []
    for b in range(2):
      y = None
      for ky, dy in _subpixel_taps(a):
        for kx, dx in _subpixel_taps(b):
          part = jnp.einsum("nhwc,co->nhwo",
                            xp[:, dy:dy + height, dx:dx + width, :],
                            kernel[ky, kx])
          y = part if y is None else y + part
      phases.append(y)
    rows.append(jnp.stack(phases, axis=3))  # [n, h, w, 2 (b), o]
  y = jnp.stack(rows, axis=2)  # [n, h, 2 (a), w, 2 (b), o]
  return y.reshape(n, 2 * height, 2 * width, kernel.shape[-1])


class StridedConvTranspose(nn.Module):
  """nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME').

  Same parameters ('kernel' [4, 4, c_in, features], 'bias' [features]), same
  initialisation and the same function; `impl` picks how it is computed:
  'subpixel' (`subpixel_conv_transpose`), 'lax' (lax.conv_transpose, what
  flax does) or 'auto' (subpixel on CPU for >= 8 output channels, where
  XLA's own is slow to differentiate; lax elsewhere).
  """
  features: int
  use_bias: bool = True
  impl: str = "auto"
  kernel_init: Callable[..., Array] = _DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if self.impl not in CONV_TRANSPOSE_IMPLS:
      raise ValueError(f"unknown conv_transpose impl {self.impl!r}; valid: "
                       f"{', '.join(CONV_TRANSPOSE_IMPLS)}")
    kernel = self.param("kernel", self.kernel_init,
                        (4, 4, x.shape[-1], self.features), jnp.float32)
    impl = self.impl
    if impl == "auto":
      impl = ("subpixel" if jax.default_backend() == "cpu" and
              self.features >= _SUBPIXEL_MIN_FEATURES else "lax")
    if impl == "subpixel":
      y = subpixel_conv_transpose(x, kernel)
    else:
      y = lax.conv_transpose(x, kernel, (2, 2), "SAME",
                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,),
                         jnp.float32)
    return y

class DCGANGenerator(nn.Module):
  """DCGAN generator (Radford et al. 2016): z [n, latent_dim] -> [n, H, W, C].

  32x32: Dense -> 4x4x4b -> ConvT 8x8x2b -> ConvT 16x16xb -> ConvT 32x32xC.
  28x28: Dense -> 7x7x2b -> ConvT 14x14xb -> ConvT 28x28xC.
  ConvT: 4x4 kernel, stride 2. BatchNorm + ReLU after every layer but the
  last, which is tanh (images in [-1, 1]). b = `base_features`.
  `conv_transpose_impl`: see `StridedConvTranspose` (the same function).
  """
  data_shape: tuple[int, int, int]
  base_features: int = 64
  conv_transpose_impl: str = "auto"
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None

  def _bn(self, train: bool) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train,
                        momentum=self.batch_norm_momentum,
                        epsilon=self.batch_norm_epsilon,
                        axis_name=self.axis_name,
                        scale_init=_dcgan_bn_scale_init)

  @nn.compact
  def __call__(self, z: Array, train: bool = True) -> Array:
    height, width, channels = self.data_shape
    num_up = 3 if height == 32 else 2
    start = height // 2**num_up  # 4 for 32x32, 7 for 28x28
    features = self.base_features * 2**(num_up - 1)
    x = jnp.asarray(z, jnp.float32)
    x = nn.Dense(start * start * features, kernel_init=_DCGAN_INIT,
                 use_bias=False)(x)
    x = x.reshape(x.shape[0], start, start, features)
    x = nn.relu(self._bn(train)(x))
    # Named as nn.ConvTranspose would be, so parameters (and checkpoints)
    # are the same whichever way the layers are computed.
    for i in range(num_up - 1):
      features //= 2
      x = StridedConvTranspose(features, use_bias=False,
                               impl=self.conv_transpose_impl,
                               name=f"ConvTranspose_{i}")(x)
      x = nn.relu(self._bn(train)(x))
    x = StridedConvTranspose(channels, impl=self.conv_transpose_impl,
                             name=f"ConvTranspose_{num_up - 1}")(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """DCGAN discriminator (Radford et al. 2016): x [n, H, W, C] -> logits [n].

  32x32: Conv 16x16xb -> 8x8x2b -> 4x4x4b -> Dense(1).
  28x28: Conv 14x14xb -> 7x7x2b -> Dense(1).
  Conv: 4x4 kernel, stride 2, LeakyReLU(slope); BatchNorm on every conv
  layer but the first. b = `base_features`.
  """
  data_shape: tuple[int, int, int]
  base_features: int = 64
  leaky_relu_slope: float = 0.2
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    num_down = 3 if self.data_shape[0] == 32 else 2
    x = jnp.asarray(x, jnp.float32)
    for i in range(num_down):
      x = nn.Conv(self.base_features * 2**i, (4, 4), strides=(2, 2),
                  padding="SAME", kernel_init=_DCGAN_INIT,
                  use_bias=i == 0)(x)
      if i > 0:
        x = nn.BatchNorm(use_running_average=not train,
                         momentum=self.batch_norm_momentum,
                         epsilon=self.batch_norm_epsilon,
                         axis_name=self.axis_name,
                         scale_init=_dcgan_bn_scale_init)(x)
      x = nn.leaky_relu(x, negative_slope=self.leaky_relu_slope)
    x = x.reshape(x.shape[0], -1)
    x = nn.Dense(1, kernel_init=_DCGAN_INIT)(x)
    return x[:, 0].astype(jnp.float32)


# ----------------------------------------------------------------------------
# Construction from a config.

class _Fields:
  """Reads and checks config.model fields; absent ones take the defaults."""

  def __init__(self, model_config, defaults: ml_collections.ConfigDict):
    self._config = model_config
    self._defaults = defaults

  def get(self, field: str) -> Any:
    if hasattr(self._config, "get"):
      value = self._config.get(field, None)
    else:
      value = getattr(self._config, field, None)
    return self._defaults[field] if value is None else value

  def activation(self, field: str) -> str:
    value = self.get(field)
    if value not in ACTIVATIONS:
      raise ValueError(f"config.model.{field}: unknown activation {value!r}; "
                       f"valid: {', '.join(ACTIVATIONS)}")
    return value

  def widths(self, field: str) -> tuple[int, ...]:
    value = self.get(field)
    try:
      widths = tuple(int(w) for w in value)
    except (TypeError, ValueError):
      widths = ()
    if not widths or any(w <= 0 for w in widths):
      raise ValueError(f"config.model.{field} must be a non-empty tuple of "
                       f"positive ints, got {value!r}")
    return widths

  def positive_int(self, field: str) -> int:
    value = self.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise ValueError(f"config.model.{field} must be a positive int, got "
                       f"{value!r}")
    return value

  def fraction(self, field: str) -> float:
    """A float in [0, 1) (dropout rates, BatchNorm momentum)."""
    value = float(self.get(field))
    if not 0.0 <= value < 1.0:
      raise ValueError(f"config.model.{field} must be in [0, 1), got {value}")
    return value

  def positive_float(self, field: str) -> float:
    value = float(self.get(field))
    if not value > 0.0:
      raise ValueError(f"config.model.{field} must be > 0, got {value}")
    return value


def validate_model_config(model_config, data_shape: tuple[int, ...]) -> None:
  """Raises ValueError naming the field if `model_config` cannot be built."""
  make_models(model_config, data_shape)


def make_models(model_config, data_shape: tuple[int, ...], *,
                axis_name: str | None = None
                ) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from `config.model`.

  Args:
    model_config: ConfigDict with the fields of `default_model_config()`.
      Absent (or None) fields take the defaults of `default_model_config`.
    data_shape: shape of one example: (d,) for toy data, (H, W, C) for
      images (the generator's output shape and the discriminator's input).
    axis_name: the mapped axis (e.g. 'data') over which BatchNorm averages
      batch statistics under pmap / shard_map; None on a single device.

  Returns:
    (generator, discriminator) linen modules; see the module docstring for
    their `apply` signatures and variables.

  Raises:
    ValueError: an unknown name or activation, a bad value, or a data shape
      the model does not support; the message names the field.
  """
  name = (model_config.get("name") if hasattr(model_config, "get")
          else getattr(model_config, "name", None))
  if name not in MODEL_NAMES:
    raise ValueError(f"config.model.name: unknown model {name!r}; valid: "
                     f"{', '.join(MODEL_NAMES)}")
  fields = _Fields(model_config, default_model_config(name))
  data_shape = tuple(int(d) for d in data_shape)
  fields.positive_int("latent_dim")
  common = dict(
      batch_norm_momentum=fields.fraction("batch_norm_momentum"),
      batch_norm_epsilon=fields.positive_float("batch_norm_epsilon"),
      axis_name=axis_name)
  slope = float(fields.get("leaky_relu_slope"))

  if name == "mlp":
    if len(data_shape) not in (1, 3) or any(d <= 0 for d in data_shape):
      raise ValueError(
          f"config.model.name='mlp' needs data of shape (d,) or (H, W, C); "
          f"got data shape {data_shape}")
    pieces = fields.positive_int("maxout_pieces")
    generator = MLPGenerator(
        data_shape=data_shape,
        widths=fields.widths("generator_widths"),
        activation=fields.activation("generator_activation"),
        leaky_relu_slope=slope,
        maxout_pieces=pieces,
        batch_norm=bool(fields.get("generator_batch_norm")),
        batch_norm_first_layer=bool(
            fields.get("generator_batch_norm_first_layer")),
        **common)
    discriminator = MLPDiscriminator(
        widths=fields.widths("discriminator_widths"),
        activation=fields.activation("discriminator_activation"),
        leaky_relu_slope=slope,
        maxout_pieces=pieces,
        dropout=fields.fraction("discriminator_dropout"),
        input_dropout=fields.fraction("discriminator_input_dropout"),
        batch_norm=bool(fields.get("discriminator_batch_norm")),
        **common)
    return generator, discriminator

  # dcgan
  if (len(data_shape) != 3 or tuple(data_shape[:2]) not in DCGAN_IMAGE_SIZES
      or data_shape[2] <= 0):
    allowed = ", ".join(f"({h}, {w}, C)" for h, w in DCGAN_IMAGE_SIZES)
    raise ValueError(
        f"config.model.name='dcgan' supports image data shapes {allowed}; "
        f"got data shape {data_shape} (set config.data.image_size to 28 or "
        f"32, or use config.model.name='mlp')")
  generator = DCGANGenerator(
      data_shape=data_shape,
      base_features=fields.positive_int("generator_base_features"),
      **common)
  discriminator = DCGANDiscriminator(
      data_shape=data_shape,
      base_features=fields.positive_int("discriminator_base_features"),
      leaky_relu_slope=slope,
      **common)
  return generator, discriminator


def init_variables(module: nn.Module, rng: Array, example_input: Array
                   ) -> dict[str, Any]:
  """Initialises `module` on `example_input` with train=False.

  Returns:
    {'params': ..., 'batch_stats': ...}; 'batch_stats' is {} for modules
    without BatchNorm, so every model's variables have the same structure.
  """
  variables = dict(module.init({"params": rng}, example_input, train=False))
  variables.setdefault("batch_stats", {})
  return variables
