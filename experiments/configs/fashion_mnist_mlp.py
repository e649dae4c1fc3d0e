r"""Fashion-MNIST with the classic fully connected GAN (28x28 grey images).

G 100-128-256-512-1024-784 with BatchNorm and LeakyReLU, D 784-512-256-1
(`gan_jax.models.MLP_PRESETS['classic']`), Adam 2e-4, b1 = 0.5, batch 64.
Reads the IDX files of Debian's `dataset-fashion-mnist` package (offline).

Sized for a small CPU budget: 12,000 steps (~13 epochs), minutes of
wall-clock on 2 CPU cores (measured times and metrics: docs/results.md).
Samples come from an EMA of G's weights (decay 0.999): at equal steps the
training is identical, but the EMA grids are much less speckled than the
raw G's.

Run:
  python launch.py --config experiments/configs/fashion_mnist_mlp.py \
      --workdir runs/fashion_mnist_mlp

Saturating vs non-saturating loss (`sweep("losses")`; plotted over training
by experiments/figures/fashion_mnist_curves.py):
  python launch.py --config experiments/configs/fashion_mnist_mlp.py:losses \
      --sweep --workdir runs/fashion_mnist_mlp_losses
"""

import os
import sys

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import models

# Loaded by path (launch.py, config.from_file), from any working directory:
# the repository's root, which holds the `experiments` package, goes on
# sys.path for the shared presets.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from experiments import presets  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg=None):
  del arg
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.source = "idx"
  config.model = models.mlp_preset("classic")
  config.loss.name = "non_saturating"
  config_lib.set_optimizers(config, name="adam",
                            learning_rate=2e-4, b1=0.5, b2=0.999)
  config.train.steps = 12_000
  config.train.batch_size = 64
  config.train.discriminator_steps = 1
  config.train.steps_per_call = 200
  config.train.log_every = 1000
  config.train.checkpoint_every = 4000
  config.train.sample_every = 2000
  config.train.ema_decay = 0.999
  config.eval.num_sample_images = 64
  # Image metrics (gan_jax.evaluation): Parzen LL on 10,000 samples by
  # Goodfellow et al. 2014's protocol, FID and precision/recall in the
  # bundled classifier's feature space, each beside its real-data value.
  config.eval.every = 4000
  config.eval.image_num_samples = 10_000
  config.eval.parzen = True
  config.eval.features = True
  return config


def sweep(arg=None):
  """Both generator losses, all else equal (presets.loss_comparison_sweep)."""
  return presets.loss_comparison_sweep(arg)
