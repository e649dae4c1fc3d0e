"""Fully connected generator and discriminator (the ``mlp`` family).

As in Goodfellow et al. 2014, "Generative Adversarial Nets" (MNIST: G
1200-1200 ReLU, D 240-240 maxout with dropout) and the widely used "classic"
PyTorch-GAN MLP (G 128-256-512-1024 with BatchNorm and LeakyReLU 0.2; D
512-256 LeakyReLU 0.2). Works for toy data (``data_shape`` of rank 1, linear
G output) and images (rank 3 ``[H, W, C]``, tanh G output in [-1, 1]).

Dropout (discriminator only, off by default) draws its masks from the
``'dropout'`` rng of the call (see `gan_jax.models` on choosing that key).

`dtype` (config.model.compute_dtype) is the dtype of the Dense layers'
products and of the activations between them; parameters are float32, and
G's output and D's logits are cast back to float32.

Class conditioning (``num_classes > 0``; see `gan_jax.models.conditioning`):
G 'concat' joins onehot(y) to z (Mirza & Osindero 2014); G 'cbn' makes
every BatchNorm of G conditional (de Vries et al. 2017), so it needs
``generator_batch_norm``. D 'concat' joins onehot(y) to the flattened input;
D 'projection' adds ⟨E[y], φ(x)⟩ to the logit, φ = the last hidden layer
(Miyato & Koyama 2018); D 'acgan' adds a Dense(num_classes) class head on φ
(Odena et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax import registry
from gan_jax.fields import ConfigError
from gan_jax.models import conditioning as cond
from gan_jax.models import fields as fields_lib

Array = jax.Array

# config.model.{generator,discriminator}_activation.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "maxout")


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
      f"unknown activation {name!r}; valid: "
      f"{', '.join(ACTIVATIONS)}")


# config.model.parameter_init.
PARAMETER_INITS = ("default", "scaled_normal")


def _dense_init(activation: str, parameter_init: str = "default"
                ) -> Callable[..., Array]:
  if parameter_init == "scaled_normal":
    return scaled_normal
  # He initialisation for ReLU-like units, LeCun for the rest (saturating or
  # linear units, and maxout, whose pieces are linear).
  if activation in ("relu", "leaky_relu", "elu", "gelu"):
    return nn.initializers.he_normal()
  return nn.initializers.lecun_normal()


def scaled_normal(key: Array, shape: Sequence[int],
                  dtype: Any = jnp.float32) -> Array:
  """N(0, 2 / shape[0]) draws: the seed notebooks' "Xavier" initialiser.

  Their `Xavier(in_shape)` is `tf.random_normal(in_shape, stddev=1 /
  sqrt(in_shape[0] / 2))`, applied to every weight [n_in, n_out] (std
  sqrt(2 / n_in), He et al. 2015's, untruncated) and to every bias [n_out]
  (std sqrt(2 / n_out): the bias's own length; 1.41 for D's one output).
  """
  return (jax.random.normal(key, shape, dtype) *
          jnp.sqrt(2.0 / shape[0]).astype(dtype))


def _bias_init(parameter_init: str) -> Callable[..., Array]:
  return (scaled_normal if parameter_init == "scaled_normal"
          else nn.initializers.zeros)


def output_nonlinearity(output_activation: str) -> Callable[[Array], Array]:
  """G's image output: tanh ([-1, 1]) or sigmoid ([0, 1])."""
  if output_activation == "sigmoid":
    return jax.nn.sigmoid
  if output_activation == "tanh":
    return jnp.tanh
  raise ValueError(f"config.model.output_activation = {output_activation!r} "
                   f"is not valid; choose one of 'tanh', 'sigmoid'")


def batch_norm(*, train: bool, momentum: float, epsilon: float,
               axis_name: str | None, dtype: jnp.dtype, **kwargs
               ) -> nn.BatchNorm:
  """nn.BatchNorm, its statistics and normalisation float32 in any `dtype`.

  flax (checked in 0.12.8) computes the batch mean and variance in at least
  float32 (`force_float32_reductions`, on by default: a bfloat16 input is
  cast up before the reductions, where an 8-bit mantissa would lose the
  variance of a large batch), keeps the running averages, scale and bias
  float32, and normalises in float32 (the float32 statistics promote the
  subtraction); `dtype` only rounds the normalised output, which the next
  layer's product would round to bfloat16 anyway. It is passed so that
  activations between layers stay in the compute dtype (half the memory
  traffic). For float32 it is the same computation as no `dtype`.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=momentum,
                      epsilon=epsilon, axis_name=axis_name, dtype=dtype,
                      **kwargs)


def apply_layer(layer: nn.Module, x: Array, *, train: bool,
                spectral_norm: bool) -> Array:
  """layer(x), with the layer's weights spectrally normalised if asked.

  Spectral normalisation (Miyato et al. 2018) divides each weight matrix
  (a convolution kernel reshaped to one) by its largest singular value,
  estimated by one power iteration per training call (flax
  `nn.SpectralNorm`; its vector u and sigma live in 'batch_stats', carried
  and checkpointed like BatchNorm's, and are updated only when `train`).
  Call it inside an `nn.compact` method.
  """
  if not spectral_norm:
    return layer(x)
  return nn.SpectralNorm(layer, name=f"{layer.name}_sn")(
      x, update_stats=train)


class _HiddenDense(nn.Module):
  """Dense -> [BatchNorm] -> activation (or a maxout layer of `features`).

  With `num_classes` > 0 the BatchNorm is conditional on the labels
  (`conditioning.ConditionalBatchNorm`, named 'cbn').
  """
  features: int
  activation: str
  leaky_relu_slope: float = 0.2
  maxout_pieces: int = 2
  batch_norm: bool = False
  batch_norm_momentum: float = 0.9
  batch_norm_epsilon: float = 1e-5
  axis_name: str | None = None
  spectral_norm: bool = False
  dtype: jnp.dtype = jnp.float32
  num_classes: int = 0
  parameter_init: str = "default"

  @nn.compact
  def __call__(self, x: Array, train: bool,
               labels: Array | None = None) -> Array:
    maxout = self.activation == "maxout"
    width = self.features * (self.maxout_pieces if maxout else 1)
    x = apply_layer(
        nn.Dense(width,
                 kernel_init=_dense_init(self.activation,
                                         self.parameter_init),
                 bias_init=_bias_init(self.parameter_init),
                 use_bias=not self.batch_norm, dtype=self.dtype,
                 name="dense"),
        x, train=train, spectral_norm=self.spectral_norm)
    if self.batch_norm and self.num_classes > 0:
      x = cond.ConditionalBatchNorm(
          self.num_classes, use_running_average=not train,
          momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon,
          axis_name=self.axis_name, dtype=self.dtype, name="cbn")(x, labels)
    elif self.batch_norm:
      x = batch_norm(train=train, momentum=self.batch_norm_momentum,
                     epsilon=self.batch_norm_epsilon,
                     axis_name=self.axis_name, dtype=self.dtype,
                     name="bn")(x)
    if maxout:
      x = x.reshape(*x.shape[:-1], self.features, self.maxout_pieces)
      return jnp.max(x, axis=-1)
    return _activation_fn(self.activation, self.leaky_relu_slope)(x)


class MLPGenerator(nn.Module):
  """Fully connected generator: z [n, latent_dim] -> x [n, *data_shape].

  Hidden layers: Dense(w) [-> BatchNorm] -> activation for w in `widths`.
  Output: Dense(prod(data_shape)), linear for rank-1 data (toy
  distributions), `output_activation` then reshape to [H, W, C] for rank-3
  data: tanh (images in [-1, 1]) or sigmoid ([0, 1], as Goodfellow et al.
  2014 for MNIST and the seed notebooks). `parameter_init`: 'default'
  (He normal for ReLU-like hidden layers, LeCun normal otherwise, zero
  biases) or 'scaled_normal' (`scaled_normal`: every weight and bias, the
  seed notebooks').

  With `num_classes` = C > 0, `__call__(z, labels)` takes labels int32 [n]
  in [0, C): `conditioning` 'concat' feeds `[z, onehot(y)]` `[n, latent + C]`
  (Mirza & Osindero 2014); 'cbn' makes G's BatchNorms conditional,
  x̂ · γ[y] + β[y] (de Vries et al. 2017; needs `batch_norm`). C = 0: no
  labels, the unconditional network.
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
  dtype: jnp.dtype = jnp.float32
  num_classes: int = 0
  conditioning: str = "concat"
  output_activation: str = "tanh"
  parameter_init: str = "default"

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None,
               train: bool = True) -> Array:
    cond.check_conditioning(self.num_classes, self.conditioning, "concat")
    labels = cond.check_labels(labels, self.num_classes, z.shape[0],
                               "MLPGenerator")
    cbn = labels is not None and self.conditioning == "cbn"
    if cbn and not has_batch_norm(self.widths, self.batch_norm,
                                  self.batch_norm_first_layer):
      raise ConfigError(CBN_NEEDS_BATCH_NORM)
    x = jnp.asarray(z, jnp.float32)
    if labels is not None and self.conditioning == "concat":
      x = cond.concat_one_hot(x, labels, self.num_classes)
    for i, width in enumerate(self.widths):
      use_bn = self.batch_norm and (i > 0 or self.batch_norm_first_layer)
      x = _HiddenDense(width, self.activation, self.leaky_relu_slope,
                       self.maxout_pieces, use_bn, self.batch_norm_momentum,
                       self.batch_norm_epsilon, self.axis_name,
                       dtype=self.dtype,
                       num_classes=self.num_classes if cbn else 0,
                       parameter_init=self.parameter_init,
                       name=f"hidden_{i}")(x, train, labels)
    x = nn.Dense(math.prod(self.data_shape),
                 kernel_init=_dense_init("linear", self.parameter_init),
                 bias_init=_bias_init(self.parameter_init), dtype=self.dtype,
                 name="out")(x)
    # The samples (and tanh) are float32: the losses and the data are.
    x = x.astype(jnp.float32)
    if len(self.data_shape) == 3:
      x = output_nonlinearity(self.output_activation)(x)
    return x.reshape(x.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
  """Fully connected discriminator: x [n, *data_shape] -> logits [n].

  Flattens x; optional input dropout; hidden layers Dense(w) [-> BatchNorm
  (not on the first layer)] -> activation [-> dropout]; Dense(1) gives one
  logit per example (the sigmoid lives in the loss). With `spectral_norm`
  every Dense layer is spectrally normalised (see `apply_layer`).

  With `num_classes` = C > 0, `__call__(x, labels)` takes labels int32 [n]
  in [0, C); φ(x) is the last hidden layer's output. `conditioning`:
  'concat' joins onehot(y) to the flattened x (after input dropout);
  'projection' returns ψ(φ) + ⟨E[y], φ⟩, E an Embed [C, widths[-1]]
  (Miyato & Koyama 2018; spectrally normalised with the rest); 'acgan'
  ignores y and returns (logits [n], class logits [n, C]) from a second
  head Dense(C) on φ (Odena et al. 2017; labels may be None).
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
  spectral_norm: bool = False
  dtype: jnp.dtype = jnp.float32
  num_classes: int = 0
  conditioning: str = "projection"
  parameter_init: str = "default"

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None,
               train: bool = True) -> Array | tuple[Array, Array]:
    cond.check_conditioning(self.num_classes, "concat", self.conditioning)
    acgan = self.num_classes > 0 and self.conditioning == "acgan"
    labels = cond.check_labels(labels, self.num_classes, x.shape[0],
                               "MLPDiscriminator", required=not acgan)
    x = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
    if self.input_dropout > 0:
      x = nn.Dropout(self.input_dropout, deterministic=not train)(x)
    if labels is not None and self.conditioning == "concat":
      x = cond.concat_one_hot(x, labels, self.num_classes)
    for i, width in enumerate(self.widths):
      x = _HiddenDense(width, self.activation, self.leaky_relu_slope,
                       self.maxout_pieces, self.batch_norm and i > 0,
                       self.batch_norm_momentum, self.batch_norm_epsilon,
                       self.axis_name, self.spectral_norm,
                       dtype=self.dtype, parameter_init=self.parameter_init,
                       name=f"hidden_{i}")(x, train)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return cond.discriminator_outputs(
        self, x, labels, dense_name="out", apply_layer=apply_layer,
        train=train, kernel_init=_dense_init("linear", self.parameter_init),
        bias_init=_bias_init(self.parameter_init))


def build_mlp(fields: fields_lib.Fields, data_shape: tuple[int, ...], *,
              slope: float, common: dict[str, Any]
              ) -> tuple[MLPGenerator, MLPDiscriminator]:
  """The MLP pair for `data_shape` from checked config.model fields.

  Args:
    fields: config.model's fields (absent ones at their defaults).
    data_shape: (d,) or (H, W, C).
    slope: the LeakyReLU slope.
    common: BatchNorm momentum, epsilon, axis_name and the compute dtype,
      for both modules.

  Raises:
    ValueError: a bad data shape or field value, naming the field.
  """
  if len(data_shape) not in (1, 3) or any(d <= 0 for d in data_shape):
    raise ValueError(
        f"config.model.name='mlp' needs data of shape (d,) or (H, W, C); "
        f"got data shape {data_shape}")
  pieces = fields.positive_int("maxout_pieces")
  num_classes, g_cond, d_cond = conditioning_fields(fields)
  g_widths = fields.widths("generator_widths")
  g_batch_norm = bool(fields.get("generator_batch_norm"))
  g_first = bool(fields.get("generator_batch_norm_first_layer"))
  parameter_init = fields.choice("parameter_init")
  if (num_classes and g_cond == "cbn" and
      not has_batch_norm(g_widths, g_batch_norm, g_first)):
    raise ConfigError(CBN_NEEDS_BATCH_NORM)
  generator = MLPGenerator(
      data_shape=data_shape,
      widths=g_widths,
      activation=fields.activation("generator_activation"),
      leaky_relu_slope=slope,
      maxout_pieces=pieces,
      batch_norm=g_batch_norm,
      batch_norm_first_layer=g_first,
      num_classes=num_classes,
      conditioning=g_cond,
      output_activation=output_activation(fields, data_shape),
      parameter_init=parameter_init,
      **common)
  discriminator = MLPDiscriminator(
      widths=fields.widths("discriminator_widths"),
      activation=fields.activation("discriminator_activation"),
      leaky_relu_slope=slope,
      maxout_pieces=pieces,
      dropout=fields.fraction("discriminator_dropout"),
      input_dropout=fields.fraction("discriminator_input_dropout"),
      batch_norm=bool(fields.get("discriminator_batch_norm")),
      spectral_norm=bool(fields.get("discriminator_spectral_norm")),
      num_classes=num_classes,
      conditioning=d_cond,
      parameter_init=parameter_init,
      **common)
  return generator, discriminator


def output_activation(fields: fields_lib.Fields,
                      data_shape: tuple[int, ...]) -> str:
  """config.model.output_activation; toy data (rank 1) takes only 'tanh'
  (the default: a toy G's output is linear)."""
  value = fields.choice("output_activation")
  if len(data_shape) != 3 and value != "tanh":
    raise ConfigError(
        f"config.model.output_activation = {value!r} applies to images; a "
        f"toy generator's output is linear: leave it at 'tanh'")
  return value


def conditioning_fields(fields: fields_lib.Fields) -> tuple[int, str, str]:
  """(num_classes, generator_conditioning, discriminator_conditioning).

  The two choices are checked only when num_classes > 0 (else unread).
  """
  num_classes = fields.non_negative_int("num_classes")
  if num_classes == 0:
    return 0, "concat", "projection"
  return (num_classes, fields.choice("generator_conditioning"),
          fields.choice("discriminator_conditioning"))


CBN_NEEDS_BATCH_NORM = (
    "config.model.generator_conditioning = 'cbn' needs a generator with "
    "BatchNorm; set config.model.generator_batch_norm = True (with a "
    "BatchNorm layer: generator_batch_norm_first_layer = True or two or more "
    "generator_widths), or use generator_conditioning = 'concat'")


def has_batch_norm(widths: Sequence[int], batch_norm: bool,
                   first_layer: bool) -> bool:
  """Whether the MLP G has at least one BatchNorm (for 'cbn')."""
  return batch_norm and (first_layer or len(widths) > 1)


def _check_conditioning(config) -> None:
  model = config.model
  if (model.get("num_classes", 0) and
      model.get("generator_conditioning") == "cbn" and
      not has_batch_norm(tuple(model.generator_widths),
                         bool(model.generator_batch_norm),
                         bool(model.generator_batch_norm_first_layer))):
    raise ConfigError(CBN_NEEDS_BATCH_NORM)


def _check_dropout_without_batch_norm(config) -> None:
  """Dropout masks are drawn per example, one example at a time."""
  model = config.model
  dropout = model.discriminator_dropout or model.discriminator_input_dropout
  if dropout and model.discriminator_batch_norm:
    raise ConfigError(
        "config.model.discriminator_dropout / discriminator_input_dropout > 0 "
        "needs a discriminator without BatchNorm (dropout masks are drawn per "
        "example, one example at a time); set them to 0, or use "
        "config.model.name = 'mlp' with discriminator_batch_norm = False")
  if dropout and model.discriminator_spectral_norm:
    # One example at a time, the power iteration's state would never update.
    raise ConfigError(
        "config.model.discriminator_spectral_norm = True needs a "
        "discriminator without dropout (dropout masks are drawn per example, "
        "one example at a time); set discriminator_dropout and "
        "discriminator_input_dropout to 0")


# Spectral normalisation is a field of every D that can have it (DCGAN too).
SPECTRAL_NORM_FIELD = fields.boolean(
    False, doc="spectral normalisation of every weight of D (Miyato et al. "
    "2018; one power iteration per training call, its state in "
    "'batch_stats')")

registry.MODELS.add(
    "mlp", build_mlp,
    fields=dict(
        generator_widths=fields.widths(
            (128, 128), doc="G's hidden layer widths"),
        discriminator_widths=fields.widths(
            (128, 128), doc="D's hidden layer widths"),
        generator_activation=fields.choice(
            "relu", ACTIVATIONS, doc="G's hidden activation; 'maxout': "
            "maxout layers of maxout_pieces pieces (Goodfellow et al. 2013)"),
        discriminator_activation=fields.choice(
            "relu", ACTIVATIONS, doc="D's hidden activation"),
        maxout_pieces=fields.integer(2, 1, doc="pieces per maxout unit"),
        generator_batch_norm=fields.boolean(
            False, doc="BatchNorm after each hidden Dense layer of G"),
        generator_batch_norm_first_layer=fields.boolean(
            True, doc="whether that includes G's first hidden layer"),
        discriminator_batch_norm=fields.boolean(
            False, doc="BatchNorm after each hidden layer of D but the first"),
        discriminator_spectral_norm=SPECTRAL_NORM_FIELD,
        discriminator_dropout=fields.real(
            0.0, fields.UNIT, doc="dropout rate after each hidden layer of D"),
        discriminator_input_dropout=fields.real(
            0.0, fields.UNIT, doc="dropout rate on D's (flattened) input"),
        parameter_init=fields.choice(
            "default", PARAMETER_INITS,
            doc="'default': He normal (ReLU-like) / LeCun normal weights, "
            "zero biases; 'scaled_normal': every weight and bias "
            "~ N(0, 2 / shape[0]) (the seed notebooks' 'Xavier')"),
    ),
    rules=(_check_dropout_without_batch_norm, _check_conditioning))
