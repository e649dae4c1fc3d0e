r"""Mixture of 25 Gaussians on a 5x5 grid (Srivastava et al. 2017; Lin et al. 2018).

Modes at {-4, -2, 0, 2, 4}^2, std 0.05. Evaluated like ring.py (modes
captured out of 25, % high quality, reverse KL) in summary.json.

Run:
  python launch.py --config experiments/configs/grid.py --workdir runs/grid
"""

from gan_jax import config as config_lib
from gan_jax import data


def get_config(arg=None):
  del arg
  config = config_lib.default_config()
  config.data = data.default_data_config("grid")
  config.model.name = "mlp"
  config.model.latent_dim = 16
  config.model.generator_widths = (256, 256, 256)
  config.model.discriminator_widths = (256, 256, 256)
  config.loss.name = "non_saturating"
  config.loss.r1_gamma = 0.1
  for player in ("generator", "discriminator"):
    config.optimizer[player].name = "adam"
    config.optimizer[player].learning_rate = 1e-3
    config.optimizer[player].b1 = 0.5
    config.optimizer[player].b2 = 0.999
  config.train.steps = 20_000
  config.train.batch_size = 256
  config.train.discriminator_steps = 1
  config.train.steps_per_call = 500
  config.train.log_every = 1000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 5000
  config.train.ema_decay = 0.0
  return config
