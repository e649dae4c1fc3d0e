r"""Fashion-MNIST with DCGAN (Radford et al. 2016) at 28x28.

The images' own 28x28 (no resize), so G is 7x7 -> 14x14 -> 28x28 and the
samples are scored in the same feature space as fashion_mnist_mlp.py's
(a 32x32 DCGAN's samples must be resized to 28x28 for that, and the resize
alone costs real images FID there); Adam 2e-4, b1 = 0.5, batch 64.
Samples and evaluation use an EMA of G's weights (decay 0.999, as the MLP):
DCGAN's raw G swings with D (late in a 20k-step run without EMA D won for
long stretches and FID rose).

Sized for a few CPU cores (the convolutions run in oneDNN,
`gan_jax.kernels`, where it is built, see config.model.conv_impl);
steps_per_call = 1 because XLA:CPU runs convolutions inside a while loop
(lax.scan) far slower than outside one. On a GPU/TPU raise steps_per_call.
Measured speeds, FIDs and the no-EMA run: docs/results.md and
docs/performance.md.

Run:
  python launch.py --config experiments/configs/fashion_mnist_dcgan.py \
      --workdir runs/fashion_mnist_dcgan

Saturating vs non-saturating loss (`sweep("losses")`; plotted over training
by experiments/figures/fashion_mnist_curves.py):
  python launch.py --config experiments/configs/fashion_mnist_dcgan.py:losses \
      --sweep --workdir runs/fashion_mnist_dcgan_losses
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
  config.data.image_size = 0  # 28x28: the MLP's feature space
  config.model = models.default_model_config("dcgan")
  config.model.latent_dim = 100
  config.model.generator_base_features = 64
  config.model.discriminator_base_features = 64
  config.loss.name = "non_saturating"
  config_lib.set_optimizers(config, name="adam",
                            learning_rate=2e-4, b1=0.5, b2=0.999)
  config.train.steps = 20_000
  config.train.batch_size = 64
  config.train.discriminator_steps = 1
  config.train.steps_per_call = 1
  config.train.log_every = 200
  config.train.checkpoint_every = 2000
  config.train.sample_every = 1000
  config.train.ema_decay = 0.999
  # Image metrics (gan_jax.evaluation): Parzen LL on 10,000 samples by
  # Goodfellow et al. 2014's protocol, FID and precision/recall in the
  # bundled classifier's feature space, each beside its real-data value.
  config.eval.every = 2500
  config.eval.image_num_samples = 10_000
  config.eval.parzen = True
  config.eval.features = True
  return config


def sweep(arg=None):
  """Both generator losses, all else equal (presets.loss_comparison_sweep)."""
  return presets.loss_comparison_sweep(arg)
