"""Flax linen generators and discriminators (MLP, DCGAN), chosen by name.

Two families, one module each:

* ``mlp`` (`gan_jax.models.mlp`): fully connected G and D, as in Goodfellow
  et al. 2014 and the "classic" PyTorch-GAN MLP, for toy data and images.
* ``dcgan`` (`gan_jax.models.dcgan`): Radford et al. 2016, for 28x28 and
  32x32 images; its transposed convolutions are in
  `gan_jax.models.conv_transpose`.

Both may be class-conditional (`gan_jax.models.conditioning`).

Each family registers itself, with its config fields, in
`gan_jax.registry.MODELS` (adding one is one file: see docs/howto);
`gan_jax.models.defaults` builds a config section from the registry and
holds the MLP presets, `gan_jax.models.fields` reads config values for the
builders; this module builds a pair by name (`make_models`) and initialises
it.

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

Class-conditional models (``config.model.num_classes = C > 0``; common
fields of every model, read only when C > 0): both modules take labels,
int32 [n] in [0, C), as ``G(z, labels, train=)`` / ``D(x, labels, train=)``
(``init_variables(module, key, example, labels=jnp.zeros((1,), jnp.int32))``);
without labels they raise ValueError. Their ``num_classes`` and
``conditioning`` attributes say how they use them:

* ``config.model.generator_conditioning``: ``'concat'`` (default) feeds
  [z, onehot(y)] (Mirza & Osindero 2014, "Conditional Generative
  Adversarial Nets"); ``'cbn'``: conditional BatchNorm, every BatchNorm of
  G normalises without its own scale and bias and applies a per-class gain
  and bias, x̂ · γ[y] + β[y] (de Vries et al. 2017; as in SNGAN-projection
  and BigGAN; needs a G with BatchNorm).
* ``config.model.discriminator_conditioning``: ``'concat'``: onehot(y)
  joins D's input (MLP: the flattened input; DCGAN: C constant channels);
  ``'projection'`` (default; Miyato & Koyama 2018, "cGANs with Projection
  Discriminator"): logit = ψ(φ(x)) + ⟨E[y], φ(x)⟩, φ = D's last features,
  E an nn.Embed [C, dim φ], spectrally normalised when D is; ``'acgan'``
  (Odena et al. 2017): D ignores y (labels may be None) and returns
  ``(logits [n], class_logits [n, C])``, both float32, the second from a
  Dense(C) head on φ(x).

With C = 0 (the default) the models are the unconditional ones (the same
parameters, names and outputs) and ignore any labels passed.

Mixed precision: ``config.model.compute_dtype = 'bfloat16'`` runs every
Dense layer and (transposed) convolution in bfloat16 (flax ``dtype=``);
parameters, optimiser state and BatchNorm / spectral norm statistics stay
float32, and G's samples and D's logits are float32 whatever the dtype.

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

from typing import Any

import flax.linen as nn
import jax
import ml_collections

from gan_jax import registry
from gan_jax.fields import ConfigError
from gan_jax.models.conditioning import ConditionalBatchNorm
from gan_jax.models.conditioning import DISCRIMINATOR_CONDITIONINGS
from gan_jax.models.conditioning import GENERATOR_CONDITIONINGS
from gan_jax.models.conv_transpose import CONV_TRANSPOSE_IMPLS
from gan_jax.models.conv_transpose import StridedConvTranspose
from gan_jax.models.conv_transpose import subpixel_conv_transpose
from gan_jax.models.dcgan import build_dcgan
from gan_jax.models.dcgan import CONV_IMPLS
from gan_jax.models.dcgan import DCGAN_IMAGE_SIZES
from gan_jax.models.dcgan import DCGANDiscriminator
from gan_jax.models.dcgan import DCGANGenerator
from gan_jax.models.defaults import default_model_config
from gan_jax.models.defaults import MLP_PRESETS
from gan_jax.models.defaults import mlp_preset
from gan_jax.models.fields import Fields
from gan_jax.models.mlp import ACTIVATIONS
from gan_jax.models.mlp import build_mlp
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.models.mlp import MLPGenerator

Array = jax.Array

COMPUTE_DTYPES = registry.MODEL_COMMON_FIELDS["compute_dtype"].argument


def __getattr__(name: str):
  # The registered names, read when asked (plug-ins may add to them).
  if name == "MODEL_NAMES":
    return registry.MODELS.names()
  raise AttributeError(f"module 'gan_jax.models' has no attribute {name!r}")


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
  if name not in registry.MODELS.names():
    raise ValueError(f"config.model.name: unknown model {name!r}; valid: "
                     f"{', '.join(registry.MODELS.names())}")
  # Every model loaded in this process: validation has checked the config
  # against its own plug-ins already.
  fields = Fields(model_config, ml_collections.ConfigDict(
      dict(name=name, **registry.MODELS.defaults(name))))
  data_shape = tuple(int(d) for d in data_shape)
  fields.positive_int("latent_dim")
  common = dict(
      batch_norm_momentum=fields.fraction("batch_norm_momentum"),
      batch_norm_epsilon=fields.positive_float("batch_norm_epsilon"),
      axis_name=axis_name,
      dtype=fields.compute_dtype("compute_dtype"))
  slope = float(fields.get("leaky_relu_slope"))
  build = registry.MODELS.get(name).target
  generator, discriminator = build(fields, data_shape, slope=slope,
                                   common=common)
  num_classes = fields.non_negative_int("num_classes")
  if num_classes and any(getattr(m, "num_classes", 0) != num_classes
                         for m in (generator, discriminator)):
    # A model (a plug-in) that does not read the field would silently train
    # an unconditional pair.
    raise ConfigError(
        f"config.model.num_classes = {num_classes}: model {name!r} is not "
        f"class-conditional; set num_classes = 0 or use 'mlp' or 'dcgan'")
  activation = fields.choice("output_activation")
  if (activation != "tanh" and
      getattr(generator, "output_activation", "tanh") != activation):
    # A plug-in G that does not read the field would keep its tanh while
    # the data are in [0, 1].
    raise ConfigError(
        f"config.model.output_activation = {activation!r}: model {name!r}'s "
        f"generator does not read it; leave it at 'tanh' or use 'mlp' or "
        f"'dcgan'")
  return generator, discriminator


def init_variables(module: nn.Module, rng: Array, example_input: Array,
                   labels: Array | None = None) -> dict[str, Any]:
  """Initialises `module` on `example_input` with train=False.

  Args:
    module: a generator or discriminator.
    rng: the 'params' key.
    example_input: z [1, latent_dim] or x [1, *data_shape].
    labels: for a class-conditional module, int32 labels of the example's
      batch size (e.g. jnp.zeros((1,), jnp.int32)); None otherwise.

  Returns:
    {'params': ..., 'batch_stats': ...}; 'batch_stats' is {} for modules
    without BatchNorm, so every model's variables have the same structure.
  """
  kwargs = {} if labels is None else {"labels": labels}
  variables = dict(module.init({"params": rng}, example_input, train=False,
                               **kwargs))
  variables.setdefault("batch_stats", {})
  return variables
