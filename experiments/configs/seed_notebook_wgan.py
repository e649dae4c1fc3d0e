r"""The source notes' Wasserstein GAN on Fashion-MNIST (Arjovsky et al. 2017).

`FMNIST_WGAN.ipynb` of nishanthta/GenerativeModels: the seed GAN's networks,
noise, data and length (experiments/configs/seed_notebook_gan.py, whose
docstring lists them and where gan_jax departs), with

* the critic's linear output: D minimises E f(G(z)) - E f(x), G minimises
  -E f(G(z)) (config.loss.name = 'wasserstein');
* RMSProp 2e-4 for both players, as TF1's tf.train.RMSPropOptimizer:
  decay 0.9, eps 1e-10, mean squares starting at 1 (initial_scale = 1);
* 5 critic steps per G step (config.train.discriminator_steps = 5), G's
  step on the last critic step's z;
* every critic parameter (weights and biases) clipped to [-0.1, 0.1] after
  each critic step (config.loss.weight_clip = 0.1). (The notebook runs the
  clip ops in the same `sess.run` as the update, without a control
  dependency, so TF may clip before or after it; gan_jax clips after, as
  Arjovsky et al.'s Algorithm 1.)

The critic's estimate of W1 over training, -d_loss (metrics.jsonl), is set
against FID (Arjovsky et al. 2017 claim it tracks sample quality); the rank
correlation is measured by experiments/figures/seed_notebooks.py. Results:
docs/seed_notebooks.md.

Run (one seed, about 25 minutes on 2 CPU cores):
  python launch.py --config experiments/configs/seed_notebook_wgan.py \
      --workdir runs/seed_notebook_wgan

Two seeds:
  python launch.py --config experiments/configs/seed_notebook_wgan.py:seeds \
      --sweep --workdir runs/seed_notebook_wgan_seeds
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.configs import seed_notebook_gan  # pylint: disable=g-import-not-at-top,wrong-import-position

CRITIC_STEPS = 5
CLIP = 0.1


def get_config(arg=None):
  del arg
  config = seed_notebook_gan.notebook_config()
  config.loss.name = "wasserstein"
  config.loss.weight_clip = CLIP
  config_lib.set_optimizers(
      config, name="rmsprop", learning_rate=seed_notebook_gan.LEARNING_RATE,
      decay=0.9, eps=1e-10, initial_scale=1.0, momentum=0.0, centered=False)
  config.train.discriminator_steps = CRITIC_STEPS
  # More evaluations: the critic's W1 estimate against FID over training.
  config.eval.every = 5000
  return config


def sweep(arg=None):
  return seed_notebook_gan.seed_sweep(arg)
