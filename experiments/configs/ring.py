r"""Mixture of 8 Gaussians on a ring (Srivastava et al. 2017; Metz et al. 2017).

Modes at radius 2, std 0.02. Evaluated by the VEEGAN / PacGAN protocol
(`gan_jax.evaluation.evaluate_modes`: 2,500 samples, modes captured, % high
quality within 3 std, reverse KL) in summary.json.

Run:
  python launch.py --config experiments/configs/ring.py --workdir runs/ring

Sweeps (`sweep(arg)` below):
  # The shipped config over 10 seeds (the README's headline numbers):
  python launch.py --config experiments/configs/ring.py --sweep \
      --workdir runs/ring_seeds
  # Other games (saturating loss, RpGAN + R1 + R2, WGAN-GP; TOY_OBJECTIVES),
  # one run or all over 10 seeds:
  python launch.py --config experiments/configs/ring.py:rpgan \
      --workdir runs/ring_rpgan
  python launch.py --config experiments/configs/ring.py:objectives --sweep \
      --workdir runs/ring_objectives
  # The mode-collapse table: losses x k x pi (see experiments/figures/):
  python launch.py --config experiments/configs/ring.py:table --sweep \
      --workdir runs/ring_table
"""

import os
import sys

from gan_jax import config as config_lib
from gan_jax import data

# Loaded by path (launch.py, config.from_file), from any working directory:
# the repository's root, which holds the `experiments` package, goes on
# sys.path for the shared presets.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from experiments import presets  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg=None):
  """The shipped config; arg = a name of `presets.TOY_OBJECTIVES` changes its game."""
  config = config_lib.default_config()
  config.data = data.default_data_config("ring")
  config.model.name = "mlp"
  config.model.latent_dim = 16
  # A deeper, wider G leaves fewer samples in the gaps between modes, where
  # a continuous map of a connected latent space must pass (3x256 beat
  # 2x128 and 4x256; measured: docs/results.md).
  config.model.generator_widths = (256, 256, 256)
  config.model.discriminator_widths = (128, 128)
  config.loss.name = "non_saturating"
  # R1 keeps D smooth around the data; without it a plain non-saturating GAN
  # lost modes in our trial (docs/results.md).
  config.loss.r1_gamma = 0.1
  config_lib.set_optimizers(config, name="adam",
                            learning_rate=1e-3, b1=0.5, b2=0.999)
  config.train.steps = 30_000
  config.train.batch_size = 256
  config.train.discriminator_steps = 1
  config.train.steps_per_call = 500
  config.train.log_every = 1000
  config.train.checkpoint_every = 10_000
  config.train.sample_every = 5000
  # Samples and evaluation use an EMA of G's weights: the raw G keeps
  # oscillating around the modes, its average does not (docs/results.md).
  config.train.ema_decay = 0.9995
  return presets.toy_objective(config, arg)


def sweep(arg=None):
  """Seeds (None/"seeds", or of a game), "objectives", "table" or "quick".

  See `experiments.presets.mode_collapse_sweep`; ring.py and grid.py share it.
  """
  return presets.mode_collapse_sweep(arg)
