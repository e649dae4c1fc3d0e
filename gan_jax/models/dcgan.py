"""DCGAN generator and discriminator (the ``dcgan`` family).

Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with
Deep Convolutional GANs", for 28x28 and 32x32 images: transposed
convolutions with BatchNorm + ReLU in G (tanh output), strided convolutions
with LeakyReLU 0.2 and BatchNorm on all but the first layer in D, weights
initialised from N(0, 0.02).

`dtype` (config.model.compute_dtype) is the dtype of the (transposed)
convolutions and Dense layers and of the activations between them;
parameters and BatchNorm statistics are float32, and G's images and D's
logits are cast back to float32.

Class conditioning (``num_classes > 0``; see `gan_jax.models.conditioning`):
G 'concat' feeds [z, onehot(y)] to the first Dense (Mirza & Osindero 2014);
G 'cbn' makes every BatchNorm of G conditional, its per-class gains drawn
from N(1, 0.02) as DCGAN's BatchNorm scales (de Vries et al. 2017). D
'concat' adds onehot(y) as num_classes constant image channels (the usual
cDCGAN); 'projection' adds ⟨E[y], φ(x)⟩, φ = the flattened last conv
features (Miyato & Koyama 2018); 'acgan' adds a Dense(num_classes) class
head on φ (Odena et al. 2017).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import data as data_lib
from gan_jax import fields
from gan_jax import registry
from gan_jax.fields import ConfigError
from gan_jax.models import conditioning as cond
from gan_jax.models import conv_transpose
from gan_jax.models import fields as fields_lib
from gan_jax.models.mlp import apply_layer
from gan_jax.models.mlp import batch_norm
from gan_jax.models.mlp import conditioning_fields
from gan_jax.models.mlp import output_activation
from gan_jax.models.mlp import output_nonlinearity
from gan_jax.models.mlp import SPECTRAL_NORM_FIELD

Array = jax.Array

DCGAN_IMAGE_SIZES = ((28, 28), (32, 32))
# config.model.conv_impl: how the (transposed) convolutions are computed (the
# same function and parameters whichever; see gan_jax.kernels).
CONV_IMPLS = ("auto", "onednn", "xla")


def _dcgan_bn_scale_init(key, shape, dtype=jnp.float32):
  # Radford et al.'s reference code: BatchNorm gamma ~ N(1, 0.02).
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class DCGANGenerator(nn.Module):
  """DCGAN generator (Radford et al. 2016): z [n, latent_dim] -> [n, H, W, C].

  32x32: Dense -> 4x4x4b -> ConvT 8x8x2b -> ConvT 16x16xb -> ConvT 32x32xC.
  28x28: Dense -> 7x7x2b -> ConvT 14x14xb -> ConvT 28x28xC.
  ConvT: 4x4 kernel, stride 2. BatchNorm + ReLU after every layer but the
  last, which is `output_activation`: tanh (images in [-1, 1]) or sigmoid
  ([0, 1]). b = `base_features`.
  `conv_transpose_impl`: see `StridedConvTranspose` (the same function).

  With `num_classes` = C > 0, `__call__(z, labels)` takes labels int32 [n]
  in [0, C): `conditioning` 'concat' feeds [z, onehot(y)] to the Dense;
  'cbn' replaces each BatchNorm by a conditional one (x̂ · γ[y] + β[y], γ
  from N(1, 0.02), β zeros; modules 'cbn_0', 'cbn_1', ...).
  """
  data_shape: tuple[int, int, int]
  base_features: int = 64
  conv_transpose_impl: str = "auto"
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None
  dtype: jnp.dtype = jnp.float32
  num_classes: int = 0
  conditioning: str = "concat"
  output_activation: str = "tanh"

  def _bn(self, x: Array, train: bool, labels: Array | None,
          index: int) -> Array:
    if labels is not None and self.conditioning == "cbn":
      return cond.ConditionalBatchNorm(
          self.num_classes, use_running_average=not train,
          momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon,
          axis_name=self.axis_name, dtype=self.dtype,
          gain_init=_dcgan_bn_scale_init, name=f"cbn_{index}")(x, labels)
    # Auto-named (BatchNorm_0, ...), as the unconditional checkpoints are.
    return batch_norm(train=train, momentum=self.batch_norm_momentum,
                      epsilon=self.batch_norm_epsilon,
                      axis_name=self.axis_name, dtype=self.dtype,
                      scale_init=_dcgan_bn_scale_init)(x)

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None,
               train: bool = True) -> Array:
    cond.check_conditioning(self.num_classes, self.conditioning, "concat")
    labels = cond.check_labels(labels, self.num_classes, z.shape[0],
                               "DCGANGenerator")
    height, width, channels = self.data_shape
    num_up = 3 if height == 32 else 2
    start = height // 2**num_up  # 4 for 32x32, 7 for 28x28
    features = self.base_features * 2**(num_up - 1)
    x = jnp.asarray(z, jnp.float32)
    if labels is not None and self.conditioning == "concat":
      x = cond.concat_one_hot(x, labels, self.num_classes)
    x = nn.Dense(start * start * features,
                 kernel_init=conv_transpose.DCGAN_INIT, use_bias=False,
                 dtype=self.dtype)(x)
    x = x.reshape(x.shape[0], start, start, features)
    x = nn.relu(self._bn(x, train, labels, 0))
    # Named as nn.ConvTranspose would be, so parameters (and checkpoints)
    # are the same whichever way the layers are computed.
    for i in range(num_up - 1):
      features //= 2
      x = conv_transpose.StridedConvTranspose(
          features, use_bias=False, impl=self.conv_transpose_impl,
          dtype=self.dtype, name=f"ConvTranspose_{i}")(x)
      x = nn.relu(self._bn(x, train, labels, i + 1))
    x = conv_transpose.StridedConvTranspose(
        channels, impl=self.conv_transpose_impl, dtype=self.dtype,
        name=f"ConvTranspose_{num_up - 1}")(x)
    # The images (and tanh) are float32: the losses and the data are.
    return output_nonlinearity(self.output_activation)(x.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
  """DCGAN discriminator (Radford et al. 2016): x [n, H, W, C] -> logits [n].

  32x32: Conv 16x16xb -> 8x8x2b -> 4x4x4b -> Dense(1).
  28x28: Conv 14x14xb -> 7x7x2b -> Dense(1).
  Conv: 4x4 kernel, stride 2, LeakyReLU(slope); BatchNorm on every conv
  layer but the first (unless `batch_norm` is False). b = `base_features`.
  With `spectral_norm`, every conv and the Dense layer are spectrally
  normalised (Miyato et al. 2018; see `gan_jax.models.mlp.apply_layer`).
  `conv_impl`: see `conv_transpose.conv_function` (the same function).

  With `num_classes` = C > 0, `__call__(x, labels)` takes labels int32 [n]
  in [0, C); φ(x) is the flattened last conv features. `conditioning`:
  'concat' adds onehot(y) as C constant input channels; 'projection'
  returns ψ(φ) + ⟨E[y], φ⟩, E an Embed [C, dim φ] from N(0, 0.02)
  (Miyato & Koyama 2018; spectrally normalised with the rest); 'acgan'
  ignores y and returns (logits [n], class logits [n, C]) from a second
  head Dense(C) on φ (Odena et al. 2017; labels may be None).
  """
  data_shape: tuple[int, int, int]
  base_features: int = 64
  leaky_relu_slope: float = 0.2
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None
  batch_norm: bool = True
  spectral_norm: bool = False
  dtype: jnp.dtype = jnp.float32
  conv_impl: str = "auto"
  num_classes: int = 0
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None,
               train: bool = True) -> Array | tuple[Array, Array]:
    cond.check_conditioning(self.num_classes, "concat", self.conditioning)
    acgan = self.num_classes > 0 and self.conditioning == "acgan"
    labels = cond.check_labels(labels, self.num_classes, x.shape[0],
                               "DCGANDiscriminator", required=not acgan)
    num_down = 3 if self.data_shape[0] == 32 else 2
    x = jnp.asarray(x, jnp.float32)
    if labels is not None and self.conditioning == "concat":
      x = cond.concat_one_hot_channels(x, labels, self.num_classes)
    for i in range(num_down):
      use_bn = self.batch_norm and i > 0
      features = self.base_features * 2**i
      conv = nn.Conv(features, (4, 4), strides=(2, 2),
                     padding="SAME", kernel_init=conv_transpose.DCGAN_INIT,
                     use_bias=not use_bn, dtype=self.dtype, name=f"Conv_{i}",
                     conv_general_dilated=conv_transpose.conv_function(
                         self.conv_impl, x.shape[-1], features))
      x = apply_layer(conv, x, train=train, spectral_norm=self.spectral_norm)
      if use_bn:
        x = batch_norm(train=train, momentum=self.batch_norm_momentum,
                       epsilon=self.batch_norm_epsilon,
                       axis_name=self.axis_name, dtype=self.dtype,
                       scale_init=_dcgan_bn_scale_init)(x)
      x = nn.leaky_relu(x, negative_slope=self.leaky_relu_slope)
    return cond.discriminator_outputs(
        self, x.reshape(x.shape[0], -1), labels, dense_name="Dense_0",
        apply_layer=apply_layer, train=train,
        kernel_init=conv_transpose.DCGAN_INIT,
        embedding_init=conv_transpose.DCGAN_INIT)


def build_dcgan(fields: fields_lib.Fields, data_shape: tuple[int, ...], *,
                slope: float, common: dict[str, Any]
                ) -> tuple[DCGANGenerator, DCGANDiscriminator]:
  """The DCGAN pair for `data_shape` from checked config.model fields.

  Args:
    fields: config.model's fields (absent ones at their defaults).
    data_shape: (28, 28, C) or (32, 32, C).
    slope: the discriminator's LeakyReLU slope.
    common: BatchNorm momentum, epsilon, axis_name and the compute dtype,
      for both modules.

  Raises:
    ValueError: a bad data shape or field value, naming the field.
  """
  sizes = DCGAN_IMAGE_SIZES
  if (len(data_shape) != 3 or tuple(data_shape[:2]) not in sizes
      or data_shape[2] <= 0):
    allowed = ", ".join(f"({h}, {w}, C)" for h, w in sizes)
    raise ValueError(
        f"config.model.name='dcgan' supports image data shapes {allowed}; "
        f"got data shape {data_shape} (set config.data.image_size to 28 or "
        f"32, or use config.model.name='mlp')")
  conv_impl = fields.conv_impl("conv_impl")
  num_classes, g_cond, d_cond = conditioning_fields(fields)
  generator = DCGANGenerator(
      data_shape=data_shape,
      base_features=fields.positive_int("generator_base_features"),
      conv_transpose_impl=conv_impl, num_classes=num_classes,
      conditioning=g_cond,
      output_activation=output_activation(fields, data_shape), **common)
  spectral_norm = bool(fields.get("discriminator_spectral_norm"))
  discriminator = DCGANDiscriminator(
      data_shape=data_shape,
      base_features=fields.positive_int("discriminator_base_features"),
      leaky_relu_slope=slope,
      # SN-DCGAN (Miyato et al. 2018) normalises D by SN alone.
      batch_norm=not spectral_norm,
      spectral_norm=spectral_norm,
      conv_impl=conv_impl, num_classes=num_classes, conditioning=d_cond,
      **common)
  return generator, discriminator


def _check_needs_images(config) -> None:
  if data_lib.is_toy(config.data):
    raise ConfigError(
        f"config.model.name = 'dcgan' needs image data, but config.data.name "
        f"= {config.data.name!r}; use 'mlp' for toy data, or image data such "
        f"as {fields.choices_text(data_lib.IDX_DATASETS)}")


registry.MODELS.add(
    "dcgan", build_dcgan,
    fields=dict(
        conv_impl=fields.choice(
            "auto", CONV_IMPLS, doc="'onednn': oneDNN on CPU (gan_jax.kernels"
            "; needs the extension pip install builds where libdnnl-dev is); "
            "'xla': XLA's own; 'auto': oneDNN on CPU where built, for layers "
            "of >= 8 channels in and out, XLA's own elsewhere",
            resumable=True),
        generator_base_features=fields.integer(
            64, 1, doc="channels of G's last hidden layer (doubled towards "
            "the input)"),
        discriminator_base_features=fields.integer(
            64, 1, doc="channels of D's first layer (doubled with depth)"),
        discriminator_spectral_norm=SPECTRAL_NORM_FIELD,
    ),
    defaults=dict(latent_dim=100),
    rules=(_check_needs_images,))
