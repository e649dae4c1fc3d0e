r"""Stacked Fashion-MNIST: the 1,000-mode coverage benchmark.

The StackedMNIST protocol of Metz et al. 2017 (unrolled GANs), as VEEGAN
(Table 2), PacGAN (Table 2) and R3GAN (Tables 1 and 3) run it, on
Fashion-MNIST, the one image data set this project has offline: every
training example stacks three Fashion-MNIST train images, drawn
independently and uniformly, as its colour channels (`gan_jax.data.stacked`:
a fixed draw of 60,000 stacks, the base's epoch, built on the fly from
Debian's IDX files). 10 classes per channel give 1,000 class triples. Each
evaluation labels the three channels of 26,000 samples with the project's
own Fashion-MNIST classifier (`gan_jax.feature_extractor`) and reports
`modes` (of 1,000 with at least one sample) and `mode_kl` = KL(mode
histogram || uniform), beside `real_modes` and `real_mode_kl` of 26,000
real stacks of the test split (the floor: the classifier's errors and the
finite sample keep the real KL above 0). A
different data set from the published MNIST rows (DCGAN 99 / 3.4, PacDCGAN2
1000 / 0.06, R3GAN 1000 / 0.029), so the numbers compare with each other and
with the floor, not with those. FID and precision/recall are not computed
(the classifier sees one grey channel); see `gan_jax.train.stacked_modes`.

A small DCGAN (Radford et al. 2016) at 28x28x3, the stacks' own size (no
resize), sized for 2 CPU cores: base features 32 (G 7x7x64 -> 14x14x32 ->
28x28x3, D the mirror), latent 100, Adam 2e-4, b1 = 0.5, batch 64, STEPS =
5,000 steps, evaluated every 1,000. Each penalty (R1, R2) is a second
backward pass, so NS + R1 and RpGAN + R1 + R2 run slower than NS; at 32x32
(image_size = 32) NS runs slower still. Measured speeds, mode counts and
KLs: docs/results.md (Stacked Fashion-MNIST).

Objectives (`OBJECTIVES`; get_config(arg) = one of them, default 'ns'):
  ns      the non-saturating ("log D trick") loss of Goodfellow et al. 2014
  ns_r1   the same with R1 (Mescheder et al. 2018), gamma = R1_GAMMA
  rpgan   RpGAN + R1 + R2 (R3GAN, Huang et al. 2024), gamma = R1_GAMMA each

Run (one objective, seed 0; `:ns_r1` / `:rpgan` for the others):
  python launch.py --config experiments/configs/stacked_fashion_mnist.py \
      --workdir runs/stacked_ns
  python launch.py --config experiments/configs/stacked_fashion_mnist.py:rpgan \
      --workdir runs/stacked_rpgan

The benchmark: every objective x 3 seeds (9 runs; one table with modes,
mode KL and the real mode KL per objective, results.md; `:quick` runs each
objective once, `:rpgan` one objective's seeds):
  python launch.py --config experiments/configs/stacked_fashion_mnist.py \
      --sweep --workdir runs/stacked
"""

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import models
from gan_jax.evaluation import stacked as stacked_eval

SEEDS = 3
# gamma/2 E|grad D|^2 (R1; R2 on fakes). Not tuned: at 1,000 steps (seed 0)
# NS + R1 gave 938 modes / KL 0.81, RpGAN 948 / 0.76, plain NS 957 / 0.80.
R1_GAMMA = 0.1
STEPS = 5000

OBJECTIVES = {
    "ns": {"loss.name": "non_saturating", "loss.r1_gamma": 0.0,
           "loss.r2_gamma": 0.0},
    "ns_r1": {"loss.name": "non_saturating", "loss.r1_gamma": R1_GAMMA,
              "loss.r2_gamma": 0.0},
    "rpgan": {"loss.name": "relativistic", "loss.r1_gamma": R1_GAMMA,
              "loss.r2_gamma": R1_GAMMA},
}


def get_config(arg=None):
  """The benchmark's DCGAN; arg = a name of OBJECTIVES (default 'ns')."""
  objective = "ns" if arg in (None, "", "quick") else arg
  if objective not in OBJECTIVES:
    raise ValueError(f"config argument {arg!r}: choose one of "
                     f"{', '.join(OBJECTIVES)} (or 'quick', a sweep)")
  config = config_lib.default_config()
  config.data = data.default_data_config("stacked_fashion_mnist")
  config.data.source = "idx"
  config.data.image_size = 0  # 28x28: no resize
  config.model = models.default_model_config("dcgan")
  config.model.latent_dim = 100
  config.model.generator_base_features = 32
  config.model.discriminator_base_features = 32
  config_lib.set_optimizers(config, name="adam",
                            learning_rate=2e-4, b1=0.5, b2=0.999)
  config.train.steps = STEPS
  config.train.batch_size = 64
  config.train.discriminator_steps = 1
  # XLA:CPU runs convolutions inside lax.scan far slower than outside one
  # (see fashion_mnist_dcgan.py); raise it on a GPU/TPU.
  config.train.steps_per_call = 1
  config.train.log_every = 200
  config.train.checkpoint_every = 1000
  config.train.sample_every = 1000
  # The mode count of 26,000 samples and of 26,000 real test stacks;
  # Parzen in pixel space says nothing about modes and is slow at 2,352
  # dimensions.
  config.eval.every = 1000
  config.eval.image_num_samples = stacked_eval.STACKED_NUM_SAMPLES
  config.eval.parzen = False
  config.eval.features = True
  config.update_from_flattened_dict(OBJECTIVES[objective])
  return config


def sweep(arg=None):
  """Objectives x seeds: the table's runs.

  Args:
    arg: None or "": every objective of OBJECTIVES x SEEDS seeds; a name of
      OBJECTIVES: that one x SEEDS seeds; "quick": every objective, seed 0.

  Returns:
    The variants' overrides (each names its objective's fields in full, so
    the table's rows say which loss and penalties they ran).
  """
  names, seeds = list(OBJECTIVES), range(SEEDS)
  if arg in OBJECTIVES:
    names = [arg]
  elif arg == "quick":
    seeds = range(1)
  elif arg not in (None, ""):
    raise ValueError(f"sweep arg must be '', 'quick' or one of "
                     f"{', '.join(OBJECTIVES)}, got {arg!r}")
  return [{**OBJECTIVES[name], "seed": seed} for name in names
          for seed in seeds]
