r"""Fashion-MNIST with DCGAN (Radford et al. 2016) at 32x32.

Images resized to 32x32 (`config.data.image_size`) so that G and D have the
DCGAN 4x4 -> 8x8 -> 16x16 -> 32x32 shape; Adam 2e-4, b1 = 0.5, batch 64.

Sized for an accelerator. On 2 CPU cores one step takes ~0.2 s (4.9
steps/s on a 2-core AMD EPYC with a 169 GFLOP/s GEMM peak, so 20k steps
are ~70 minutes; the convolutions run in oneDNN, `gan_jax.kernels`, where
it is built, see config.model.conv_impl);
steps_per_call = 1 because XLA:CPU runs convolutions inside a while loop
(lax.scan) far slower than outside one (measured: 0.17 steps/s with 5 steps
per call). On a GPU/TPU raise steps_per_call.

Run:
  python launch.py --config experiments/configs/fashion_mnist_dcgan.py \
      --workdir runs/fashion_mnist_dcgan

Saturating vs non-saturating loss (`sweep("losses")`; plotted over training
by experiments/figures/fashion_mnist_curves.py):
  python launch.py --config experiments/configs/fashion_mnist_dcgan.py:losses \
      --sweep --workdir runs/fashion_mnist_dcgan_losses
"""

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax import models
from gan_jax import sweep as sweep_lib


def get_config(arg=None):
  del arg
  config = config_lib.default_config()
  config.data = data.default_data_config("fashion_mnist")
  config.data.source = "idx"
  config.data.image_size = 32
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
  # Image metrics (gan_jax.evaluation): Parzen LL on 10,000 samples by
  # Goodfellow et al. 2014's protocol, FID and precision/recall in the
  # bundled classifier's feature space, each beside its real-data value.
  config.eval.every = 5000
  config.eval.image_num_samples = 10_000
  config.eval.parzen = True
  config.eval.features = True
  return config


def sweep(arg=None):
  """Both generator losses, all else equal (sweep_lib.loss_comparison_sweep)."""
  return sweep_lib.loss_comparison_sweep(arg)
