r"""Class-conditional DCGAN on Fashion-MNIST (28x28), beside the unconditional.

fashion_mnist_dcgan.py's network, optimiser and EMA, with the label of the
ten classes given to both players:

* G: conditional BatchNorm (de Vries et al. 2017; as in SNGAN-projection and
  BigGAN: every BatchNorm of G takes a class-dependent gain and bias);
* D: the projection discriminator (Miyato & Koyama 2018: logit =
  psi(phi(x)) + <embed(y), phi(x)>).

The fakes' classes are drawn as the training labels' (uniform here). The
evaluation adds the conditional metrics to FID, KID and precision/recall
(all in the project classifier's feature space): the fraction of samples
the classifier assigns to their requested class (beside its own test
accuracy), intra-class FID (Miyato & Koyama 2018) and the Classification
Accuracy Score (Ravuri & Vinyals 2019). Results: docs/conditional.md.

Run (one conditional run):
  python launch.py --config experiments/configs/fashion_mnist_conditional.py \
      --workdir runs/fashion_mnist_conditional

The comparison of docs/conditional.md (`sweep("compare")`: unconditional,
and cBN G with a projection, concat or ACGAN D (Odena et al.'s, and with
its classifier trained on real images only), 3 seeds each, the same
length):
  python launch.py \
      --config experiments/configs/fashion_mnist_conditional.py:compare \
      --sweep --workdir runs/fashion_mnist_conditional_compare

The same from a folder of PNGs (one sub-folder per class; written by
`python tools/export_image_folder.py --name fashion_mnist --out DIR`):
  python launch.py --config experiments/configs/fashion_mnist_conditional.py \
      --workdir runs/fashion_mnist_conditional_folder \
      --config.data.name=image_folder --config.data.data_dir=DIR
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from experiments import presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.configs import fashion_mnist_dcgan  # pylint: disable=g-import-not-at-top,wrong-import-position

# The conditionings compared, as overrides of get_config()'s.
CONDITIONAL_METRICS = ("class_accuracy", "intra_fid", "cas")
FEATURE_METRICS = ("fid", "kid", "precision", "recall")
VARIANTS = {
    "unconditional": {"model.num_classes": 0,
                      "eval.metrics": FEATURE_METRICS},
    "projection": {},
    # D concatenating the one-hot label as C constant image channels (the
    # cDCGAN of Mirza & Osindero 2014's conditioning); G as above (cBN).
    "concat": {"model.discriminator_conditioning": "concat"},
    # Odena et al. 2017: D unconditioned, with an auxiliary classifier head
    # whose cross-entropy (weight 1 for D and G) joins both losses.
    "acgan": {"model.discriminator_conditioning": "acgan"},
    # ACGAN with D's classifier trained on real images only: with Odena et
    # al.'s fake term it learns the fakes' requested classes, and G can
    # satisfy it without drawing the class (measured: docs/conditional.md).
    "acgan_real": {"model.discriminator_conditioning": "acgan",
                   "loss.acgan_fake_weight": 0.0},
}
COMPARISON_SEEDS = 3
COMPARISON_STEPS = 3000


def get_config(arg=None):
  config = fashion_mnist_dcgan.get_config()
  config.model.num_classes = 10
  config.model.generator_conditioning = "cbn"
  config.model.discriminator_conditioning = "projection"
  config.train.steps = COMPARISON_STEPS
  config.train.checkpoint_every = 1000
  config.train.sample_every = 1000
  config.eval.every = 0  # the final evaluation only
  config.eval.parzen = False
  # The Classification Accuracy Score trains a classifier on 10,000 samples
  # (about 30 s here): asked for by name, as it is not a default metric.
  config.eval.metrics = FEATURE_METRICS + CONDITIONAL_METRICS
  if arg in VARIANTS:
    config.update_from_flattened_dict(VARIANTS[arg])
  return config


def sweep(arg=None):
  """'compare': every VARIANTS entry over COMPARISON_SEEDS seeds."""
  if arg not in (None, "", "compare"):
    raise ValueError(f"unknown sweep {arg!r}; valid: 'compare'")
  return [dict(overrides, **{presets.SEED_FIELD: seed})
          for overrides in VARIANTS.values()
          for seed in range(COMPARISON_SEEDS)]
