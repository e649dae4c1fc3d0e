"""GAN losses on discriminator logits; imports jax only.

Every function takes the discriminator's *logits* (pre-sigmoid outputs) of any
shape and returns a scalar Monte Carlo estimate: a (weighted) mean over all
elements. D(x) = sigmoid(logit). Probabilities are never passed in, because
`log(sigmoid(x))` loses all precision once |x| is large; the binary
cross-entropy (BCE) losses use the identities

    log D(x)     = log_sigmoid(l)  = -softplus(-l)
    log(1 - D(x)) = log_sigmoid(-l) = -softplus(l)

and so give finite values and gradients for float32 logits of +-1e4.

Optional keyword-only `real_weights` / `fake_weights` broadcast against the
logits and turn each mean into the weighted mean sum(w * f) / sum(w).

Papers:
  Goodfellow et al. 2014, "Generative Adversarial Nets" (minimax value, L_D,
    saturating and non-saturating generator losses).
  Goodfellow 2016, "NIPS 2016 Tutorial: Generative Adversarial Networks"
    (maximum-likelihood generator cost, Figure 16).
  Huszar 2015, "How (not) to train your generative model" (fake fraction pi).
  Salimans et al. 2016, "Improved Techniques for Training GANs" (one-sided
    label smoothing).
  Mao et al. 2017, "Least Squares Generative Adversarial Networks".
  Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018 (hinge loss).
  Arjovsky et al. 2017, "Wasserstein GAN".
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _mean(values: Array, weights: Optional[ArrayLike]) -> Array:
  """Mean of `values`, or sum(w * v) / sum(w) with `weights` broadcast to it."""
  if weights is None:
    return jnp.mean(values)
  weights = jnp.broadcast_to(jnp.asarray(weights, values.dtype), values.shape)
  return jnp.sum(weights * values) / jnp.sum(weights)


def _as_float(logits: ArrayLike) -> Array:
  logits = jnp.asarray(logits)
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    logits = logits.astype(jnp.float32)
  return logits


def _check_fake_fraction(fake_fraction: float) -> None:
  # A Python float is checked eagerly; a traced value (e.g. swept under vmap)
  # cannot be, and is the caller's responsibility.
  if isinstance(fake_fraction, (int, float)) and not 0.0 < fake_fraction < 1.0:
    raise ValueError(
        f"fake_fraction must lie strictly between 0 and 1, got {fake_fraction}")


def _check_label_smoothing(label_smoothing: float) -> None:
  if isinstance(label_smoothing, (int, float)) and not (
      0.0 <= label_smoothing < 1.0):
    raise ValueError(
        f"label_smoothing must lie in [0, 1), got {label_smoothing}")


# ----------------------------------------------------------------------------
# The original GAN (binary cross-entropy).
# ----------------------------------------------------------------------------


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
  _check_fake_fraction(fake_fraction)
  _check_label_smoothing(label_smoothing)
  real_logits, fake_logits = _as_float(real_logits), _as_float(fake_logits)
  real_log_likelihood = ((1.0 - label_smoothing) *
                         jax.nn.log_sigmoid(real_logits) +
                         label_smoothing * jax.nn.log_sigmoid(-real_logits))
  real_term = _mean(real_log_likelihood, real_weights)
  fake_term = _mean(jax.nn.log_sigmoid(-fake_logits), fake_weights)
  return -2.0 * ((1.0 - fake_fraction) * real_term + fake_fraction * fake_term)


def saturating_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Minimax generator loss: G minimises E_z log(1 - D(G(z))).

  Goodfellow et al. 2014, Eq. 1. Its gradient with respect to the fake logit
  l is -sigmoid(l), which vanishes as D confidently rejects the samples
  (l -> -inf): the saturation that the log-D trick avoids (Arjovsky & Bottou
  2017).

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (<= 0).
  """
  return _mean(jax.nn.log_sigmoid(-_as_float(fake_logits)), fake_weights)


def non_saturating_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Non-saturating ("log D trick") generator loss: -E_z log D(G(z)).

  Goodfellow et al. 2014, Section 3. Same fixed point as the saturating loss,
  but the gradient with respect to the fake logit, sigmoid(l) - 1, tends to -1
  (not 0) when D rejects the samples.

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (>= 0).
  """
  return _mean(-jax.nn.log_sigmoid(_as_float(fake_logits)), fake_weights)


def maximum_likelihood_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Maximum-likelihood generator cost: -1/2 E_z exp(sigmoid^-1(D(G(z)))).

  Goodfellow 2016 tutorial, Section 3.2.3: with D optimal, its expected
  gradient equals that of KL(p_data || p_g). sigmoid^-1(D) is the logit, so
  this is -1/2 E exp(logit). Not a cross-entropy: exp overflows float32 for
  logits above ~88, so it is only usable while D's logits stay moderate.

  Args:
    fake_logits: D's logits on generator samples, any shape.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar loss (<= 0).
  """
  return _mean(-0.5 * jnp.exp(_as_float(fake_logits)), fake_weights)


def value_function(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Monte Carlo estimate of V(G, D) = E_x log D(x) + E_z log(1 - D(G(z))).

  Goodfellow et al. 2014, Eq. 1. D maximises V, G minimises it; V <= 0, and
  V(G, D*) = -log 4 + 2 JSD(p_data || p_g).

  Args:
    real_logits: D's logits on data samples, any shape.
    fake_logits: D's logits on generator samples, any shape.
    real_weights: optional weights broadcastable to `real_logits`.
    fake_weights: optional weights broadcastable to `fake_logits`.

  Returns:
    Scalar estimate of V.
  """
  real_term = _mean(jax.nn.log_sigmoid(_as_float(real_logits)), real_weights)
  fake_term = _mean(jax.nn.log_sigmoid(-_as_float(fake_logits)), fake_weights)
  return real_term + fake_term


# ----------------------------------------------------------------------------
# Beyond the notes. Each discriminator loss takes `fake_fraction` pi so that
# every loss can be trained on the same real/fake mixture: at pi = 1/2 it is
# the published loss; otherwise the real and fake terms are weighted
# 2(1 - pi) and 2 pi as in `discriminator_loss`.
# ----------------------------------------------------------------------------


def _mix(real_term: Array, fake_term: Array, fake_fraction: float) -> Array:
  _check_fake_fraction(fake_fraction)
  return 2.0 * ((1.0 - fake_fraction) * real_term + fake_fraction * fake_term)


def least_squares_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """LSGAN discriminator loss: 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2.

  Mao et al. 2017, Eq. 9 with a = 0, b = 1 (c = 1 in the generator loss);
  "logits" here are D's raw, unsquashed outputs.
  """
  real_term = _mean(0.5 * jnp.square(_as_float(real_logits) - 1.0),
                    real_weights)
  fake_term = _mean(0.5 * jnp.square(_as_float(fake_logits)), fake_weights)
  return _mix(real_term, fake_term, fake_fraction)


def least_squares_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """LSGAN generator loss: 1/2 E (D(G(z)) - 1)^2 (Mao et al. 2017, Eq. 9)."""
  return _mean(0.5 * jnp.square(_as_float(fake_logits) - 1.0), fake_weights)


def hinge_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge discriminator loss: E relu(1 - D(x)) + E relu(1 + D(G(z))).

  Lim & Ye 2017; Miyato et al. 2018, Eq. 16. D's outputs are raw scores.
  """
  real_term = _mean(jax.nn.relu(1.0 - _as_float(real_logits)), real_weights)
  fake_term = _mean(jax.nn.relu(1.0 + _as_float(fake_logits)), fake_weights)
  return _mix(real_term, fake_term, fake_fraction)


def hinge_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge generator loss: -E D(G(z)) (Miyato et al. 2018, Eq. 17)."""
  return _mean(-_as_float(fake_logits), fake_weights)


def wasserstein_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Wasserstein critic loss: E f(G(z)) - E f(x) (Arjovsky et al. 2017).

  Estimates -W_1 only if the critic f is 1-Lipschitz; the loss itself does not
  enforce that (use weight clipping or a gradient penalty in training).
  """
  real_term = _mean(-_as_float(real_logits), real_weights)
  fake_term = _mean(_as_float(fake_logits), fake_weights)
  return _mix(real_term, fake_term, fake_fraction)


def wasserstein_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Wasserstein generator loss: -E f(G(z)) (Arjovsky et al. 2017)."""
  return _mean(-_as_float(fake_logits), fake_weights)


# ----------------------------------------------------------------------------
# Lookup by config name.
# ----------------------------------------------------------------------------


class LossPair(NamedTuple):
  """A discriminator loss and the generator loss it is trained against.

  `discriminator(real_logits, fake_logits, *, fake_fraction, ...)` and
  `generator(fake_logits, *, fake_weights=None)`. `uses_cross_entropy` says
  whether the discriminator is a BCE classifier (so that D(x) = sigmoid(logit)
  is a probability and label smoothing applies).
  """
  discriminator: Callable[..., Array]
  generator: Callable[..., Array]
  uses_cross_entropy: bool


_LOSSES = {
    "saturating": LossPair(discriminator_loss, saturating_generator_loss, True),
    "non_saturating": LossPair(discriminator_loss,
                               non_saturating_generator_loss, True),
    "maximum_likelihood": LossPair(discriminator_loss,
                                   maximum_likelihood_generator_loss, True),
    "least_squares": LossPair(least_squares_discriminator_loss,
                              least_squares_generator_loss, False),
    "hinge": LossPair(hinge_discriminator_loss, hinge_generator_loss, False),
    "wasserstein": LossPair(wasserstein_discriminator_loss,
                            wasserstein_generator_loss, False),
}

NAMES = tuple(_LOSSES)


def get(name: str) -> LossPair:
  """Returns the (discriminator, generator) loss pair called `name`.

  Args:
    name: one of `NAMES`: saturating, non_saturating, maximum_likelihood,
      least_squares, hinge, wasserstein.

  Raises:
    ValueError: naming the valid choices if `name` is not one of them.
  """
  try:
    return _LOSSES[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown GAN loss {name!r}; valid names: "
                     f"{', '.join(NAMES)}") from None
