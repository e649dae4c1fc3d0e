"""Class conditioning shared by the model families (config.model.num_classes).

With ``num_classes = C > 0`` both players see a class label
``y: int32 [n]`` in ``[0, C)``; with ``C = 0`` (the default) none of this
code runs and the models are exactly the unconditional ones.

Generator (config.model.generator_conditioning):

* ``'concat'`` (Mirza & Osindero 2014, "Conditional Generative Adversarial
  Nets"): G's input is ``[z, onehot(y)]``, ``[n, latent_dim + C]``.
* ``'cbn'``: conditional BatchNorm (de Vries et al. 2017, "Modulating early
  visual processing by language"; Miyato & Koyama 2018; Brock et al. 2019):
  each BatchNorm of G normalises without its own scale and bias and then
  applies a per-class gain and bias, ``x̂ · γ[y] + β[y]`` (`ConditionalBatchNorm`).

Discriminator (config.model.discriminator_conditioning), with ``φ(x)`` D's
last features (the input of its final Dense ``ψ``):

* ``'concat'``: ``onehot(y)`` joins D's input (`concat_one_hot`,
  `concat_one_hot_channels`).
* ``'projection'`` (Miyato & Koyama 2018, "cGANs with Projection
  Discriminator"): ``logit = ψ(φ(x)) + ⟨E[y], φ(x)⟩`` with ``E`` an
  ``nn.Embed`` table ``[C, dim φ]`` (`projection`).
* ``'acgan'`` (Odena et al. 2017, "Conditional Image Synthesis with
  Auxiliary Classifier GANs"): D ignores y and has a second head, a
  Dense(C) on ``φ(x)`` giving class logits ``[n, C]`` (`class_head`).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import registry
from gan_jax.fields import ConfigError

Array = jax.Array

# The valid values, as config.model declares them.
GENERATOR_CONDITIONINGS = registry.MODEL_COMMON_FIELDS[
    "generator_conditioning"].argument
DISCRIMINATOR_CONDITIONINGS = registry.MODEL_COMMON_FIELDS[
    "discriminator_conditioning"].argument


def check_labels(labels: Array | None, num_classes: int, batch: int,
                 who: str, *, required: bool = True) -> Array | None:
  """`labels` as int32 [batch]; None for an unconditional module.

  Args:
    labels: the class labels passed to the module, or None.
    num_classes: the module's `num_classes` (0 = unconditional: labels are
      ignored).
    batch: n, the batch size of the module's other input.
    who: the module, for the message ('MLPGenerator', ...).
    required: whether a conditional module needs them (an AC-GAN D does not).

  Raises:
    ValueError: a conditional module got no labels, or labels of another
      shape or a non-integer dtype.
  """
  if num_classes == 0:
    return None
  if labels is None:
    if not required:
      return None
    raise ValueError(
        f"{who} is class-conditional (config.model.num_classes = "
        f"{num_classes}): pass labels=, int32 [n] in [0, {num_classes})")
  labels = jnp.asarray(labels)
  if labels.shape != (batch,) or not jnp.issubdtype(labels.dtype,
                                                     jnp.integer):
    raise ValueError(
        f"{who}: labels must be integers of shape ({batch},) in [0, "
        f"{num_classes}); got {labels.dtype} {labels.shape}")
  return labels.astype(jnp.int32)


def one_hot(labels: Array, num_classes: int) -> Array:
  """onehot(y): float32 [n, C]."""
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def concat_one_hot(x: Array, labels: Array, num_classes: int) -> Array:
  """[x, onehot(y)]: x [n, d] -> [n, d + C] (float32)."""
  return jnp.concatenate(
      [jnp.asarray(x, jnp.float32), one_hot(labels, num_classes)], axis=-1)


def concat_one_hot_channels(x: Array, labels: Array,
                            num_classes: int) -> Array:
  """onehot(y) as C constant channels: x [n, H, W, c] -> [n, H, W, c + C].

  The usual conditional DCGAN discriminator input (each class channel is 1
  everywhere for the example's class, 0 elsewhere).
  """
  n, height, width, _ = x.shape
  planes = jnp.broadcast_to(one_hot(labels, num_classes)[:, None, None, :],
                            (n, height, width, num_classes))
  return jnp.concatenate([jnp.asarray(x, jnp.float32), planes], axis=-1)


class ConditionalBatchNorm(nn.Module):
  """Conditional BatchNorm (de Vries et al. 2017): x̂ · γ[y] + β[y].

  ``x̂ = (x − μ_B) / sqrt(σ²_B + ε)`` is BatchNorm without scale and bias
  (batch statistics in training, running averages otherwise, kept in
  'batch_stats' as usual; averaged over `axis_name` when mapped); γ and β
  are ``nn.Embed`` tables ``[num_classes, features]`` (params 'gain' and
  'bias'), γ initialised by `gain_init` (ones by default), β to zeros, as in
  SNGAN-projection and BigGAN's generators. x: [n, ..., features] (features
  last), y: int32 [n]; the affine step is float32 (like flax's BatchNorm,
  whose scale and bias are float32) and the output is cast to `dtype`.
  """
  num_classes: int
  use_running_average: bool
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None
  dtype: jnp.dtype = jnp.float32
  gain_init: Callable[..., Array] = nn.initializers.ones

  @nn.compact
  def __call__(self, x: Array, labels: Array) -> Array:
    features = x.shape[-1]
    x = nn.BatchNorm(use_running_average=self.use_running_average,
                     momentum=self.momentum, epsilon=self.epsilon,
                     axis_name=self.axis_name, use_scale=False,
                     use_bias=False, dtype=jnp.float32, name="bn")(x)
    gain = nn.Embed(self.num_classes, features, embedding_init=self.gain_init,
                    name="gain")(labels)
    bias = nn.Embed(self.num_classes, features,
                    embedding_init=nn.initializers.zeros, name="bias")(labels)
    # [n, features] -> [n, 1, ..., 1, features], broadcast over positions.
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return (x * gain.reshape(shape) + bias.reshape(shape)).astype(self.dtype)


def projection(phi: Array, labels: Array, num_classes: int, *,
               apply_layer: Callable[..., Array], train: bool,
               spectral_norm: bool,
               embedding_init: Callable[..., Array] | None = None) -> Array:
  """⟨E[y], φ(x)⟩ (Miyato & Koyama 2018): float32 [n].

  Call inside D's `nn.compact` method; E is the param 'class_embed', an
  ``nn.Embed`` table ``[num_classes, dim φ]`` (float32), spectrally
  normalised with D's other layers when `spectral_norm` (as the paper's
  SNEmbedID: σ of the [C, dim φ] matrix). The product is float32 whatever
  the compute dtype (a reduction, like BatchNorm's statistics).

  Args:
    phi: φ(x), D's features [n, dim φ].
    labels: int32 [n].
    num_classes: C.
    apply_layer: `gan_jax.models.mlp.apply_layer` (the SN wrapper).
    train: whether SN's power iteration updates.
    spectral_norm: whether D is spectrally normalised.
    embedding_init: E's initialiser; None: flax's (N(0, 1/dim φ), the
      scale of a LeCun-initialised ψ).
  """
  kwargs: dict[str, Any] = {}
  if embedding_init is not None:
    kwargs["embedding_init"] = embedding_init
  embed = nn.Embed(num_classes, phi.shape[-1], name="class_embed", **kwargs)
  e = apply_layer(embed, labels, train=train, spectral_norm=spectral_norm)
  return jnp.sum(e.astype(jnp.float32) * phi.astype(jnp.float32), axis=-1)


def class_head(phi: Array, num_classes: int, *,
               apply_layer: Callable[..., Array], train: bool,
               spectral_norm: bool, kernel_init: Callable[..., Array],
               dtype: jnp.dtype) -> Array:
  """AC-GAN's auxiliary classifier (Odena et al. 2017): float32 [n, C].

  A Dense(num_classes) on φ(x) (param 'class_out'; spectrally normalised
  with D's other layers), giving class logits (the softmax lives in the
  loss).
  """
  dense = nn.Dense(num_classes, kernel_init=kernel_init, dtype=dtype,
                   name="class_out")
  return apply_layer(dense, phi, train=train,
                     spectral_norm=spectral_norm).astype(jnp.float32)


def discriminator_outputs(module: nn.Module, phi: Array, labels, *,
                          dense_name: str, apply_layer: Callable[..., Array],
                          train: bool, kernel_init: Callable[..., Array],
                          embedding_init: Callable[..., Array] | None = None,
                          bias_init: Callable[..., Array] =
                          nn.initializers.zeros):
  """D's outputs from its last features φ(x), inside its `nn.compact` call.

  ψ(φ(x)) = Dense(1) (param `dense_name`, spectrally normalised with D),
  float32 logits whatever the compute dtype; then by `module.conditioning`
  (read when `module.num_classes` > 0): 'acgan': (logits, `class_head`
  logits [n, C]); 'projection' (with labels): logits + `projection`;
  otherwise the logits. φ(x) is sown as 'intermediates'/'phi' for probes
  and tests (stored only when that collection is mutable). `kernel_init`
  and `bias_init` are the Dense layers', `embedding_init` the
  projection's (None: flax's).
  """
  num_classes, conditioning = module.num_classes, module.conditioning
  spectral_norm, dtype = module.spectral_norm, module.dtype
  x = apply_layer(nn.Dense(1, kernel_init=kernel_init, bias_init=bias_init,
                           dtype=dtype, name=dense_name),
                  phi, train=train, spectral_norm=spectral_norm)
  module.sow("intermediates", "phi", phi)
  logits = x[:, 0].astype(jnp.float32)
  if num_classes and conditioning == "acgan":
    return logits, class_head(
        phi, num_classes, apply_layer=apply_layer, train=train,
        spectral_norm=spectral_norm, kernel_init=kernel_init, dtype=dtype)
  if num_classes and labels is not None and conditioning == "projection":
    return logits + projection(
        phi, labels, num_classes, apply_layer=apply_layer, train=train,
        spectral_norm=spectral_norm, embedding_init=embedding_init)
  return logits


def check_conditioning(num_classes: int, generator: str,
                       discriminator: str) -> None:
  """Raises ConfigError for an unknown conditioning (when C > 0)."""
  if num_classes == 0:
    return
  if generator not in GENERATOR_CONDITIONINGS:
    raise ConfigError(
        f"config.model.generator_conditioning = {generator!r} is not valid; "
        f"choose one of {', '.join(map(repr, GENERATOR_CONDITIONINGS))}")
  if discriminator not in DISCRIMINATOR_CONDITIONINGS:
    raise ConfigError(
        f"config.model.discriminator_conditioning = {discriminator!r} is not "
        f"valid; choose one of "
        f"{', '.join(map(repr, DISCRIMINATOR_CONDITIONINGS))}")
