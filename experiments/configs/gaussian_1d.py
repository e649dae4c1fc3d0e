r"""Goodfellow et al. 2014, Figure 1: a GAN learning a 1D Gaussian.

p_data = N(1, 0.5^2); 32-32 ReLU MLPs for G and D, z ~ N(0, 1); k = 1
discriminator step per generator step and SGD with momentum as in the
paper's Algorithm 1. summary.json reports JSD(p_data || p_g) with p_g a
kernel density estimate of 2,500 samples; the sample plots are histograms of
G(z) against p_data.

Why the data's mean is 1: with data far from 0 (p_data = N(4, 0.5^2)) G
often matched the mean but spread out, because at initialisation every ReLU
kink of D sits at x = 0, so over data far from 0 D is almost linear and can
only tell means apart. Adam, k = 5, tanh units, or R1 did not fix that;
centring the data near 0 did (but at mean 0 exactly, G collapsed to a
point). Training longer oscillates, the classic non-convergence of GAN
dynamics. Measured JSDs, seeds and times: docs/results.md.

Run:
  python launch.py --config experiments/configs/gaussian_1d.py \
      --workdir runs/gaussian_1d

Sweep (`sweep()` below: 2 generator losses x 5 seeds, 10 runs; table of
JSD, mean +- standard error over seeds, in runs/gaussian_1d_sweep/results.md):
  python launch.py --config experiments/configs/gaussian_1d.py --sweep \
      --workdir runs/gaussian_1d_sweep --parallel 2
"""

from gan_jax import config as config_lib
from gan_jax import data


def get_config(arg=None):
  del arg
  config = config_lib.default_config()
  config.data = data.default_data_config("gaussian_1d")
  config.data.mean = 1.0
  config.data.std = 0.5
  config.model.name = "mlp"
  config.model.latent_dim = 1
  config.model.generator_widths = (32, 32)
  config.model.discriminator_widths = (32, 32)
  config.model.generator_activation = "relu"
  config.model.discriminator_activation = "relu"
  config.loss.name = "non_saturating"
  config_lib.set_optimizers(config, name="sgd",
                            learning_rate=0.03, momentum=0.7)
  config.train.steps = 5_000
  config.train.batch_size = 128
  config.train.discriminator_steps = 1
  config.train.steps_per_call = 500
  config.train.log_every = 500
  config.train.checkpoint_every = 5000
  config.train.sample_every = 1000
  return config


def sweep(arg=None):
  """The paper's minimax (saturating) generator loss against the log-D trick."""
  del arg
  for loss in ("saturating", "non_saturating"):
    for seed in range(5):
      yield {"loss.name": loss, "seed": seed}
