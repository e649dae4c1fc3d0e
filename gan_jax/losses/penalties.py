"""Gradient penalties (WGAN-GP, Gulrajani et al. 2017).

`gradient_penalty` interpolates real and fake samples and penalises the
critic's per-example gradient norm there; `gradient_norm_penalty` is its
penalty term for gradients computed by the caller.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax.losses._checks import as_float
from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike


def _safe_norm(squared: Array) -> Array:
  """sqrt, with value and gradient 0 (not NaN) where `squared` is 0."""
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def gradient_norm_penalty(gradients: ArrayLike, *,
                          target: float = 1.0) -> Array:
  """E_i (||g_i||_2 - target)^2 over per-example gradients g_i.

  The penalty term of `gradient_penalty`, for callers that compute the
  gradients themselves. The norm is taken over all non-batch axes; where
  g_i = 0 it is 0 with zero gradient (not sqrt's infinite slope times 0).

  Args:
    gradients: [n, ...] gradients, one row per example.
    target: the norm the penalty pulls towards (1 for a 1-Lipschitz critic).

  Returns:
    Scalar penalty (>= 0).
  """
  grads = as_float(gradients, "gradients")
  if grads.ndim == 0:
    raise ValueError("gradients must have a leading batch axis, got a scalar")
  squared = jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)
  return jnp.mean(jnp.square(_safe_norm(squared) - target))


def gradient_penalty(
    critic_fn: Callable[[Array], Array],
    real: ArrayLike,
    fake: ArrayLike,
    key: Array,
    *,
    target: float = 1.0,
) -> Array:
  """WGAN-GP penalty E_x^ (||grad_x critic(x^)||_2 - target)^2.

  Gulrajani et al. 2017, Eq. 3 (without the weight lambda):
  x^ = x + a (x~ - x) with x real, x~ fake and one a ~ U(0, 1) per example
  (shape [n, 1, ..., 1], broadcast). The per-example gradient is the
  gradient of the *sum* of the critic's outputs, which is only right if
  `critic_fn` treats examples independently (no BatchNorm in training mode,
  no cross-example attention or minibatch statistics). The norm is over all
  non-batch axes, safe at 0 (`gradient_norm_penalty`). Differentiable with
  respect to the critic's parameters closed over by `critic_fn`.

  Args:
    critic_fn: maps [n, ...] inputs to raw outputs [n] or [n, 1].
    real: [n, ...] data samples.
    fake: [n, ...] generator samples, the shape of `real`.
    key: PRNG key for the interpolation weights a.
    target: the gradient norm pulled towards.

  Returns:
    Scalar penalty (>= 0).

  Raises:
    ValueError: if an input is empty or a scalar, the shapes differ, or
      critic_fn's output is not [n] or [n, 1].
  """
  real, fake = as_float(real, "real"), as_float(fake, "fake")
  if real.shape != fake.shape or real.ndim == 0:
    raise ValueError("real and fake must have the same shape [n, ...], got "
                     f"{real.shape} and {fake.shape}")
  n = real.shape[0]
  dtype = jnp.result_type(real, fake)
  alpha = jax.random.uniform(key, (n,) + (1,) * (real.ndim - 1), dtype)
  interpolated = real + alpha * (fake - real)

  def summed_outputs(x):
    outputs = critic_fn(x)
    if outputs.shape not in ((n,), (n, 1)):
      raise ValueError(f"critic_fn must map [n, ...] to [n] or [n, 1], got "
                       f"output shape {outputs.shape} for n = {n}")
    return jnp.sum(outputs)

  return gradient_norm_penalty(jax.grad(summed_outputs)(interpolated),
                               target=target)
