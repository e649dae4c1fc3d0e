"""experiments/configs/seed_notebook_{gan,cgan,wgan}.py: the source notes'
Fashion-MNIST notebooks (nishanthta/GenerativeModels) as gan_jax runs them.

Their settings are checked against the notebooks' code cells as read (the
table below), the networks by their parameter counts, and the one place
gan_jax departs on purpose, losses on logits rather than on eps-clipped
probabilities, by showing where the two agree and where they do not.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import losses
from gan_jax import models

from helpers import ROOT

EPS = 1e-5  # the notebooks' eps inside the logs


def load(name):
  return config_lib.from_file(os.path.join(
      ROOT, "experiments", "configs", f"seed_notebook_{name}.py"))


# What each notebook's code cells set (FMNIST_GAN/C-GAN/WGAN.ipynb).
SHARED = {
    "data.name": "fashion_mnist", "data.pixel_range": "[0,1]",
    "model.name": "mlp", "model.latent_dim": 100,
    "model.generator_widths": (256,), "model.discriminator_widths": (256,),
    "model.generator_activation": "relu",
    "model.discriminator_activation": "relu",
    "model.generator_batch_norm": False,
    "model.discriminator_batch_norm": False,
    "model.output_activation": "sigmoid",
    "model.parameter_init": "scaled_normal",
    "model.latent_distribution": "uniform",
    "train.batch_size": 128, "train.steps": 100_000,
    "train.generator_noise": "discriminator", "train.ema_decay": 0.0,
}
NOTEBOOKS = {
    "gan": {"loss.name": "non_saturating", "train.discriminator_steps": 1,
            "optimizer.generator.name": "adam",
            "optimizer.discriminator.name": "adam",
            "optimizer.discriminator.learning_rate": 2e-4,
            "optimizer.generator.learning_rate": 2e-4,
            "optimizer.discriminator.b1": 0.9,
            "optimizer.discriminator.b2": 0.999,
            "loss.weight_clip": 0.0, "model.num_classes": 0},
    "cgan": {"loss.name": "non_saturating", "train.discriminator_steps": 1,
             "optimizer.discriminator.name": "adam",
             "model.num_classes": 10,
             "model.generator_conditioning": "concat",
             "model.discriminator_conditioning": "concat",
             "train.fake_labels": "real"},
    "wgan": {"loss.name": "wasserstein", "train.discriminator_steps": 5,
             "loss.weight_clip": 0.1,
             "optimizer.generator.name": "rmsprop",
             "optimizer.discriminator.name": "rmsprop",
             "optimizer.discriminator.learning_rate": 2e-4,
             "optimizer.discriminator.decay": 0.9,
             "optimizer.discriminator.eps": 1e-10,
             "optimizer.discriminator.initial_scale": 1.0,
             "optimizer.discriminator.momentum": 0.0,
             "model.num_classes": 0},
}
# Parameters: D (784 [+10])-256-1, G (100 [+10])-256-784, with biases.
PARAMETERS = {
    "gan": (227_344, 201_217),
    "cgan": (229_904, 203_777),
    "wgan": (227_344, 201_217),
}


def _get(config, dotted):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_config_is_the_notebook(name):
  config = load(name)
  config_lib.validate(config)
  for field, value in {**SHARED, **NOTEBOOKS[name]}.items():
    assert _get(config, field) == value, field
  g, d = models.make_models(config.model, (28, 28, 1))
  labels = {"labels": jnp.zeros((1,), jnp.int32)} if name == "cgan" else {}
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  g_params = jax.eval_shape(lambda: g.init(
      jax.random.key(0), jnp.zeros((1, 100)), train=False, **labels))
  d_params = jax.eval_shape(lambda: d.init(
      jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False, **labels))
  assert (count(g_params), count(d_params)) == PARAMETERS[name]


def notebook_discriminator_loss(real_logits, fake_logits):
  """-mean(log(D(x) + eps) + log(1 - D(G(z)) + eps)), their Dis_loss."""
  real, fake = jax.nn.sigmoid(real_logits), jax.nn.sigmoid(fake_logits)
  return -jnp.mean(jnp.log(real + EPS) + jnp.log(1.0 - fake + EPS))


def notebook_generator_loss(fake_logits):
  """-mean(log(D(G(z)) + eps)), their Gen_loss."""
  return -jnp.mean(jnp.log(jax.nn.sigmoid(fake_logits) + EPS))


@pytest.mark.parametrize("low", [0.05, 0.01])
def test_logit_losses_equal_the_notebooks_where_eps_does_not_bite(low):
  """Probabilities in [low, 1 - low]: |log(p + eps) - log p| <= eps / low
  per term, and the losses (and their gradients) agree to that."""
  jax.config.update("jax_enable_x64", True)
  try:
    rng = np.random.default_rng(0)
    bound = np.log(low / (1 - low))
    real = jnp.asarray(rng.uniform(bound, -bound, 512))
    fake = jnp.asarray(rng.uniform(bound, -bound, 512))
    tolerance = 2 * EPS / low
    np.testing.assert_allclose(
        losses.discriminator_loss(real, fake),
        notebook_discriminator_loss(real, fake), rtol=0, atol=tolerance)
    np.testing.assert_allclose(
        losses.non_saturating_generator_loss(fake),
        notebook_generator_loss(fake), rtol=0, atol=tolerance)
    np.testing.assert_allclose(
        jax.grad(losses.non_saturating_generator_loss)(fake),
        jax.grad(notebook_generator_loss)(fake), rtol=0,
        atol=tolerance / fake.size)
  finally:
    jax.config.update("jax_enable_x64", False)


def test_eps_caps_the_notebooks_loss_and_its_gradient():
  """Where D is sure a fake is fake (D(G(z)) = 2e-9), the notebook's G loss
  is capped at -log(eps) = 11.5 and its gradient almost zero; the logit
  loss keeps both (the reason gan_jax uses logits)."""
  fake = jnp.array([-20.0])
  assert float(notebook_generator_loss(fake)) == pytest.approx(
      -np.log(EPS), rel=1e-3)
  assert float(losses.non_saturating_generator_loss(fake)) == pytest.approx(
      20.0, rel=1e-6)
  notebook_grad = float(jax.grad(notebook_generator_loss)(fake)[0])
  logit_grad = float(jax.grad(losses.non_saturating_generator_loss)(fake)[0])
  assert abs(notebook_grad) < 1e-3 and logit_grad == pytest.approx(
      -1.0, rel=1e-6)
