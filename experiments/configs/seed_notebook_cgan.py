r"""The source notes' conditional GAN on Fashion-MNIST (Mirza & Osindero 2014).

`FMNIST_C-GAN.ipynb` of nishanthta/GenerativeModels, the series' C-GAN: the
seed GAN (experiments/configs/seed_notebook_gan.py, whose docstring lists
the shared settings and where gan_jax departs) with the one-hot label

* concatenated to z for G: [z, onehot(y)], 110 inputs
  (config.model.generator_conditioning = 'concat');
* concatenated to the flattened image for D: [x, onehot(y)], 794 inputs
  (config.model.discriminator_conditioning = 'concat');
* the fakes drawn with the real batch's labels (`y_mb` fed to both
  players: config.train.fake_labels = 'real'), and G's step on the same z
  and labels (config.train.generator_noise = 'discriminator').

The evaluation adds the fraction of samples the project classifier assigns
to their requested class (beside its own test accuracy) and intra-class
FID to the seed GAN's metrics. Results: docs/seed_notebooks.md.

Run (one seed, about 10 minutes on 2 CPU cores):
  python launch.py --config experiments/configs/seed_notebook_cgan.py \
      --workdir runs/seed_notebook_cgan

Two seeds:
  python launch.py --config experiments/configs/seed_notebook_cgan.py:seeds \
      --sweep --workdir runs/seed_notebook_cgan_seeds
"""

import os
import sys

# Loaded by path (launch.py): the repository root, for `experiments`.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from experiments.configs import seed_notebook_gan  # pylint: disable=g-import-not-at-top,wrong-import-position

NUM_CLASSES = 10
CONDITIONAL_METRICS = ("class_accuracy", "intra_fid")


def get_config(arg=None):
  del arg
  config = seed_notebook_gan.get_config()
  config.model.num_classes = NUM_CLASSES
  config.model.generator_conditioning = "concat"
  config.model.discriminator_conditioning = "concat"
  config.train.fake_labels = "real"
  config.eval.metrics = (seed_notebook_gan.IMAGE_METRICS +
                         CONDITIONAL_METRICS)
  return config


def sweep(arg=None):
  return seed_notebook_gan.seed_sweep(arg)
