"""A two-variant ring sweep of 3 steps: tests/data/old_main_sweep/ was made
from it by main before the registries (94965dd), one CPU device, with

  python launch.py --config tests/data/old_main_sweep.py --sweep \
      --workdir tests/data/old_main_sweep

(.submitit/, tensorboard/ and samples/ left out).
"""

import os

from gan_jax import config as config_lib

RING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "experiments", "configs", "ring.py")


def get_config():
  config = config_lib.from_file(RING)
  config.model.generator_widths = (8, 8)
  config.model.discriminator_widths = (8, 8)
  config.train.batch_size = 16
  config.train.steps = 3
  config.train.steps_per_call = 1
  config.train.log_every = 1
  config.train.checkpoint_every = 3
  config.train.sample_every = 0
  config.eval.num_samples = 200
  return config


def sweep(arg=None):
  del arg
  for seed in (0, 1):
    yield {"seed": seed}
