"""The original GAN (binary cross-entropy): L_D, the generator losses, V(G, D).

Goodfellow et al. 2014 (minimax value, L_D, saturating and non-saturating
generator losses), Goodfellow 2016 (maximum-likelihood generator cost),
Huszar 2015 (fake fraction pi), Salimans et al. 2016 (one-sided label
smoothing). The losses take logits; see the `gan_jax.losses` docstring.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.losses._checks import check_fake_fraction
from gan_jax.losses._checks import check_label_smoothing
from gan_jax.losses._checks import term
from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike


def _smoothed_real_log_likelihood(logits: Array, label_smoothing) -> Array:
  """(1 - a) log D + a log(1 - D); the a-term is exactly 0 when a = 0.

  Without the `where`, a real logit of +inf would give 0 * log(1 - D) =
  0 * -inf = NaN at a = 0 (the limit is 0).
  """
  if isinstance(label_smoothing, float) and label_smoothing == 0.0:
    return jax.nn.log_sigmoid(logits)
  smoothing_term = jnp.where(label_smoothing == 0, 0.0,
                             label_smoothing * jax.nn.log_sigmoid(-logits))
  return (1.0 - label_smoothing) * jax.nn.log_sigmoid(logits) + smoothing_term


def discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    label_smoothing: float = 0.0,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Binary cross-entropy loss of the discriminator.

      L_D = -2 [ (1 - pi) E_x[(1 - a) log D(x) + a log(1 - D(x))]
                 + pi E_z log(1 - D(G(z))) ]

  with pi = `fake_fraction`, the share of fake examples in the mixture D is
  trained to classify (Huszar 2015), and a = `label_smoothing`, one-sided label
  smoothing that replaces the real target 1 by 1 - a (Salimans et al. 2016;
  fake targets stay 0). At pi = 1/2 and a = 0 this is exactly
  L_D = -[E log D(x) + E log(1 - D(G(z)))] = -V(G, D) of Goodfellow et al.
  2014. Its pointwise minimiser is D*(x) = (1-a)(1-pi) p_data / ((1-pi) p_data
  + pi p_g), see `gan_jax.divergences.optimal_discriminator`.

  Every term is >= 0, so infinite logits give the limit, never NaN: a real
  logit of +inf adds 0 (a = 0) or +inf (a > 0); a real logit of -inf or a
  fake logit of +inf gives +inf; a fake logit of -inf adds 0.

  Args:
    real_logits: D's logits on data samples, any shape.
    fake_logits: D's logits on generator samples, any shape.
    fake_fraction: pi in (0, 1).
    label_smoothing: a in [0, 1).
    real_weights: optional weights broadcastable to `real_logits`.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss.
  """
  pi = check_fake_fraction(fake_fraction)
  a = check_label_smoothing(label_smoothing)
  real_term = term(lambda l: _smoothed_real_log_likelihood(l, a),
                    real_logits, real_weights, "real_logits", "real_weights")
  fake_term = term(lambda l: jax.nn.log_sigmoid(-l), fake_logits,
                    fake_weights, "fake_logits", "fake_weights")
  return -2.0 * ((1.0 - pi) * real_term + pi * fake_term)


def saturating_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Minimax generator loss: G minimises E_z log(1 - D(G(z))).

  Goodfellow et al. 2014, Eq. 1. Its gradient with respect to the fake logit
  l is -sigmoid(l), which vanishes as D confidently rejects the samples
  (l -> -inf): the saturation that the log-D trick avoids (Arjovsky & Bottou
  2017). A logit of +inf gives -inf, of -inf adds 0.

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (<= 0).
  """
  return term(lambda l: jax.nn.log_sigmoid(-l), fake_logits, fake_weights,
               "fake_logits", "fake_weights")


def non_saturating_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Non-saturating ("log D trick") generator loss: -E_z log D(G(z)).

  Goodfellow et al. 2014, Section 3. Same fixed point as the saturating loss,
  but the gradient with respect to the fake logit, sigmoid(l) - 1, tends to -1
  (not 0) when D rejects the samples. A logit of -inf gives +inf, of +inf
  adds 0.

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (>= 0).
  """
  return term(lambda l: -jax.nn.log_sigmoid(l), fake_logits, fake_weights,
               "fake_logits", "fake_weights")


def maximum_likelihood_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Maximum-likelihood generator cost: -1/2 E_z exp(sigmoid^-1(D(G(z)))).

  Goodfellow 2016 tutorial, Section 3.2.3: with D optimal, its expected
  gradient equals that of KL(p_data || p_g). sigmoid^-1(D) is the logit, so
  this is -1/2 E exp(logit). Not a cross-entropy: exp overflows float32 for
  logits above ~88 (the cost is then -inf, its gradient -inf), so it is only
  usable while D's logits stay moderate. A logit of -inf adds 0.

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (<= 0).
  """
  return term(lambda l: -0.5 * jnp.exp(l), fake_logits, fake_weights,
               "fake_logits", "fake_weights")


def value_function(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Monte Carlo estimate of V(G, D) = E_x log D(x) + E_z log(1 - D(G(z))).

  Goodfellow et al. 2014, Eq. 1. D maximises V, G minimises it; V <= 0, and
  V(G, D*) = -log 4 + 2 JSD(p_data || p_g). Every term is <= 0: a real logit
  of -inf or a fake logit of +inf gives -inf, the others' infinities add 0.

  Args:
    real_logits: D's logits on data samples, any shape.
    fake_logits: D's logits on generator samples, any shape.
    real_weights: optional weights broadcastable to `real_logits`.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar estimate of V.
  """
  real_term = term(jax.nn.log_sigmoid, real_logits, real_weights,
                    "real_logits", "real_weights")
  fake_term = term(lambda l: jax.nn.log_sigmoid(-l), fake_logits,
                    fake_weights, "fake_logits", "fake_weights")
  return real_term + fake_term
