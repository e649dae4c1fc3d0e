r"""The source notes' own Fashion-MNIST GAN (nishanthta/GenerativeModels).

`FMNIST_GAN.ipynb`, the TensorFlow notebook that the last source note ("The
Math behind Adversarial Learning") links, as gan_jax runs it:

* D 784-256-1, G 100-256-784, ReLU hidden layers, a sigmoid image output
  with pixels in [0, 1] (config.model.output_activation = 'sigmoid',
  config.data.pixel_range = '[0,1]');
* every weight and bias ~ N(0, 2 / shape[0]) (their "Xavier":
  `tf.random_normal(stddev=1 / sqrt(in_shape[0] / 2))`; for a bias that is
  its own length, so D's output bias has std 1.41;
  config.model.parameter_init = 'scaled_normal');
* z ~ U(-1, 1)^100 (config.model.latent_distribution = 'uniform');
* batch 128, Adam 2e-4 with TensorFlow's default betas (0.9, 0.999) and
  eps 1e-8 for both players;
* 100,000 iterations of one D step and one G step, the G step on the same
  z as the D step (config.train.generator_noise = 'discriminator');
* D minimises -[log D(x) + log(1 - D(G(z)))], G minimises -log D(G(z))
  (the non-saturating loss).

Where gan_jax departs from the notebook, and why:

* Losses on logits (`gan_jax.losses`, log-sigmoid) rather than on
  probabilities with eps = 1e-5 inside the logs. The two agree to 1e-5
  relative wherever D's probabilities are well above 1e-5
  (tests/test_seed_notebooks.py); where D saturates, the eps caps the
  notebook's loss at -log(1e-5) = 11.5 and zeroes its gradient, the logit
  form does not.
* Batches are drawn with replacement from all 60,000 training images (the
  notebook's `mnist.train.next_batch` goes through the 55,000 that
  `read_data_sets` keeps after its 5,000-image validation split, without
  replacement within an epoch).
* The notebook has no evaluation; this config scores the run with the
  project's metrics every 10,000 iterations (Parzen log-likelihood, FID,
  KID, precision and recall in the bundled classifier's feature space).

Results beside the project's own Fashion-MNIST MLP and DCGAN:
docs/seed_notebooks.md.

Run (one seed, about 10 minutes on 2 CPU cores):
  python launch.py --config experiments/configs/seed_notebook_gan.py \
      --workdir runs/seed_notebook_gan

Two seeds (`sweep("seeds")`), as experiments/figures/seed_notebooks.py
runs them:
  python launch.py --config experiments/configs/seed_notebook_gan.py:seeds \
      --sweep --workdir runs/seed_notebook_gan_seeds
"""

from gan_jax import config as config_lib
from gan_jax import data

# The notebooks' sizes.
ITERATIONS = 100_000
BATCH_SIZE = 128
LATENT_DIM = 100
HIDDEN = 256
LEARNING_RATE = 2e-4
SEEDS = 2
IMAGE_METRICS = ("parzen", "fid", "kid", "precision", "recall")


def notebook_config():
  """What the three notebooks share: data, networks, noise, batch, length."""
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.source = "idx"
  config.data.pixel_range = "[0,1]"
  config.model.name = "mlp"
  config.model.latent_dim = LATENT_DIM
  config.model.generator_widths = (HIDDEN,)
  config.model.discriminator_widths = (HIDDEN,)
  config.model.generator_activation = "relu"
  config.model.discriminator_activation = "relu"
  config.model.generator_batch_norm = False
  config.model.discriminator_batch_norm = False
  config.model.output_activation = "sigmoid"
  config.model.parameter_init = "scaled_normal"
  config.model.latent_distribution = "uniform"
  config.train.steps = ITERATIONS
  config.train.batch_size = BATCH_SIZE
  config.train.discriminator_steps = 1
  config.train.generator_noise = "discriminator"
  config.train.steps_per_call = 500
  config.train.log_every = 500
  config.train.checkpoint_every = 10_000
  config.train.sample_every = 10_000
  config.eval.num_sample_images = 36  # the notebooks' 6x6 canvas
  config.eval.every = 10_000
  config.eval.image_num_samples = 10_000
  config.eval.metrics = IMAGE_METRICS
  return config


def get_config(arg=None):
  del arg
  config = notebook_config()
  config.loss.name = "non_saturating"
  config_lib.set_optimizers(config, name="adam", learning_rate=LEARNING_RATE,
                            b1=0.9, b2=0.999, eps=1e-8)
  return config


def seed_sweep(arg=None):
  """'seeds': seeds 0 .. SEEDS - 1 of the config as it is."""
  if arg not in (None, "", "seeds"):
    raise ValueError(f"unknown sweep {arg!r}; valid: 'seeds'")
  return [{"seed": seed} for seed in range(SEEDS)]


def sweep(arg=None):
  return seed_sweep(arg)
