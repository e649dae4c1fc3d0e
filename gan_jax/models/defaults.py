"""The model names, their config fields with defaults, and MLP presets.

`default_model_config(name)` gives every field `make_models` reads, whatever
the name, so a config may switch `config.model.name` on the command line;
`MLP_PRESETS` holds the field values of well-known MLP sizes.
"""

from __future__ import annotations

from typing import Any

import ml_collections

MODEL_NAMES = ("mlp", "dcgan")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "maxout")
DCGAN_IMAGE_SIZES = ((28, 28), (32, 32))
# config.model.compute_dtype: the dtype of matrix products and convolutions.
COMPUTE_DTYPES = ("float32", "bfloat16")
# config.model.conv_impl: how DCGAN's convolutions are computed (the same
# function and parameters whichever; see gan_jax.kernels).
CONV_IMPLS = ("auto", "onednn", "xla")

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
      discriminator_spectral_norm: spectral normalisation of every weight
        of D (Miyato et al. 2018; flax `nn.SpectralNorm`, one power
        iteration per training call, its state in 'batch_stats'); the
        DCGAN D then has no BatchNorm (SN-DCGAN).
      leaky_relu_slope: negative slope of LeakyReLU (DCGAN D always uses it).
      batch_norm_momentum: running-average decay (0.9 = PyTorch's 0.1).
      batch_norm_epsilon: BatchNorm epsilon.
      compute_dtype: 'float32' | 'bfloat16' (one of COMPUTE_DTYPES), the
        dtype of matrix products and convolutions (mixed precision, for
        GPUs and TPUs). Parameters, optimiser state and BatchNorm / spectral
        norm statistics stay float32, and so do G's output and D's logits
        (the losses see float32); 'bfloat16' rounds the layers' inputs,
        weights and outputs to bfloat16. A config without the field is
        'float32'.
    DCGAN only:
      conv_impl: 'auto' | 'onednn' | 'xla' (one of CONV_IMPLS), how the
        (transposed) convolutions are computed; the function and parameters
        are the same. 'onednn': oneDNN on CPU (`gan_jax.kernels`; needs the
        extension `pip install` builds where libdnnl-dev is). 'xla': XLA's
        own (on CPU, G's transposed convolutions as 16 matrix products).
        'auto': oneDNN on CPU where built, for layers of >= 8 channels in
        and out (XLA is as fast on the 1-channel image layers); XLA's own
        on GPU/TPU.
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
  config.discriminator_spectral_norm = False
  config.discriminator_dropout = 0.0
  config.discriminator_input_dropout = 0.0
  config.batch_norm_momentum = 0.9
  config.batch_norm_epsilon = 1e-5
  config.compute_dtype = "float32"
  config.conv_impl = "auto"
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
