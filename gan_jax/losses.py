"""GAN losses on discriminator (critic) outputs; imports jax only.

Every loss takes the discriminator's raw outputs -- *logits* (pre-sigmoid) for
the cross-entropy games, unsquashed critic values otherwise -- of any shape and
returns a scalar Monte Carlo estimate: a (weighted) mean over all elements.
D(x) = sigmoid(logit). Probabilities are never passed in, because
`log(sigmoid(x))` loses all precision once |x| is large; the binary
cross-entropy (BCE) losses use the identities

    log D(x)     = log_sigmoid(l)  = -softplus(-l)
    log(1 - D(x)) = log_sigmoid(-l) = -softplus(l)

and so give finite values and gradients for float32 logits of +-1e4.

Optional keyword-only `real_weights` / `fake_weights` (`weights` for the
relativistic pairs) broadcast against the outputs and turn each mean into the
weighted mean sum(w * f) / sum(w). An element of weight 0 is dropped exactly:
its output is replaced by 0 before the loss is evaluated, so it contributes
0 to the value and to the gradient even if it is +-inf or NaN.

Bad input, the same for every loss:
  * An empty argument (size 0) raises ValueError naming it (shapes are static,
    so this also holds under jit).
  * Concrete weights (not traced) that are negative, non-finite, or all zero
    raise ValueError naming the argument. Traced weights (under jit / vmap)
    cannot be checked: a term whose traced weights sum to 0 is defined to be
    0, with zero gradient, never 0/0 = NaN.
  * `fake_fraction` and `label_smoothing` are range-checked when concrete:
    Python numbers, NumPy scalars, 0-d NumPy arrays and 0-d jax arrays; bools
    raise TypeError; arrays with ndim > 0 raise ValueError; traced values are
    the caller's responsibility.
  * Infinite outputs give the mathematical limit of the loss, e.g.
    `discriminator_loss` with a real logit of +inf: that term is 0 without
    label smoothing and the loss is +inf with smoothing a > 0. The BCE,
    least-squares, hinge discriminator, maximum-likelihood and relativistic
    terms, and the f-GAN terms other than kl's and pearson's real term
    (-v) and reverse_kl's fake term (v - 1), are bounded on one side, so
    their sums are never NaN. Where the limit does not exist the result is
    NaN (+inf - inf): a batch holding both +inf and -inf in a term unbounded
    on both sides (the Wasserstein losses, the hinge generator loss, those
    f-GAN terms), or opposite infinite terms of the two sides -- Wasserstein
    with real = fake = +-inf; f-GAN kl with real = fake = +inf, reverse_kl
    and neyman with real = fake = -inf, pearson with real = +inf and fake =
    +-inf -- or a relativistic pair with r = f = +-inf. Finite float32
    overflows are listed in `f_gan_discriminator_loss`.

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
  Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (gradient
    penalty).
  Nowozin, Cseke & Tomioka 2016, "f-GAN: Training Generative Neural Samplers
    using Variational Divergence Minimization" (Table 2).
  Jolicoeur-Martineau 2019, "The relativistic discriminator: a key element
    missing from standard GAN"; Huang et al. 2024, "The GAN is dead; long live
    the GAN! A Modern GAN Baseline" (RpGAN, R3GAN).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

_LOG2 = math.log(2.0)

# ----------------------------------------------------------------------------
# Input checks and the (weighted) mean.
# ----------------------------------------------------------------------------


def _is_traced(value) -> bool:
  return isinstance(value, jax.core.Tracer)


def _to_float(values: ArrayLike) -> Array:
  """`values` as a floating array; integers and bools become float32."""
  values = jnp.asarray(values)
  if not jnp.issubdtype(values.dtype, jnp.floating):
    values = values.astype(jnp.float32)
  return values


def _as_float(values: ArrayLike, name: str) -> Array:
  """`_to_float(values)`; rejects size 0, naming the argument."""
  values = _to_float(values)
  if values.size == 0:
    raise ValueError(f"{name} is empty (shape {values.shape}); a mean over no "
                     "elements is undefined")
  return values


def _check_weights(weights: Optional[ArrayLike], shape: tuple[int, ...],
                   dtype, name: str) -> Optional[Array]:
  """`weights` broadcast to `shape`; concrete ones must be >= 0, not all 0."""
  if weights is None:
    return None
  weights = jnp.asarray(weights, dtype)
  try:
    weights = jnp.broadcast_to(weights, shape)
  except ValueError:
    raise ValueError(f"{name} of shape {weights.shape} do not broadcast to "
                     f"the outputs' shape {shape}") from None
  if not _is_traced(weights):
    host = jax.device_get(weights)
    if not (host >= 0).all():  # also rejects NaN
      raise ValueError(f"{name} must be non-negative (and not NaN)")
    if not (host < float("inf")).all():
      raise ValueError(f"{name} must be finite")
    if not (host > 0).any():
      raise ValueError(f"{name} are all zero: the weighted mean "
                       "sum(w f) / sum(w) is undefined")
  return weights


def _expectation(fn: Callable[[Array], Array], x: Array,
                 weights: Optional[Array]) -> Array:
  """E fn(x): the mean, or sum(w fn(x)) / sum(w).

  Elements of weight 0 are replaced by 0 before `fn`, so that an infinite or
  NaN output there cannot turn 0 * fn(x) (or its gradient) into NaN. If the
  weights sum to 0 (possible only when traced), the expectation is 0.
  """
  if weights is None:
    return jnp.mean(fn(x))
  keep = weights != 0
  values = fn(jnp.where(keep, x, jnp.zeros_like(x)))
  total = jnp.sum(weights)
  nonzero = total != 0
  mean = jnp.sum(weights * values) / jnp.where(nonzero, total, 1.0)
  return jnp.where(nonzero, mean, jnp.zeros_like(mean))


def _term(fn: Callable[[Array], Array], values: ArrayLike,
          weights: Optional[ArrayLike], name: str, weights_name: str) -> Array:
  """E fn(values) after checking `values` and `weights` (see the module doc)."""
  x = _as_float(values, name)
  return _expectation(fn, x, _check_weights(weights, x.shape, x.dtype,
                                            weights_name))


def _concrete_scalar(value, name: str) -> Optional[float]:
  """`value` as a Python float, or None if traced; rejects bools, arrays."""
  if _is_traced(value):
    return None
  if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind",
                                        None) == "b":
    raise TypeError(f"{name} must be a real number, not a bool ({value!r})")
  if isinstance(value, (int, float)):
    return float(value)
  kind = getattr(getattr(value, "dtype", None), "kind", None)
  if kind not in ("i", "u", "f"):
    raise TypeError(f"{name} must be a real number, got {value!r}")
  if getattr(value, "shape", ()) != ():
    raise ValueError(f"{name} must be a scalar, got shape {value.shape}")
  return float(value)


def _check_fake_fraction(fake_fraction):
  """Returns pi as a Python float if concrete (checked), else unchanged."""
  pi = _concrete_scalar(fake_fraction, "fake_fraction")
  if pi is None:
    return fake_fraction
  if not 0.0 < pi < 1.0:  # also rejects NaN
    raise ValueError(
        f"fake_fraction must lie strictly between 0 and 1, got {fake_fraction}")
  return pi


def _check_label_smoothing(label_smoothing):
  """Returns a as a Python float if concrete (checked), else unchanged."""
  a = _concrete_scalar(label_smoothing, "label_smoothing")
  if a is None:
    return label_smoothing
  if not 0.0 <= a < 1.0:
    raise ValueError(f"label_smoothing must lie in [0, 1), got "
                     f"{label_smoothing}")
  return a


# ----------------------------------------------------------------------------
# The original GAN (binary cross-entropy).
# ----------------------------------------------------------------------------


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
  pi = _check_fake_fraction(fake_fraction)
  a = _check_label_smoothing(label_smoothing)
  real_term = _term(lambda l: _smoothed_real_log_likelihood(l, a),
                    real_logits, real_weights, "real_logits", "real_weights")
  fake_term = _term(lambda l: jax.nn.log_sigmoid(-l), fake_logits,
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
  return _term(lambda l: jax.nn.log_sigmoid(-l), fake_logits, fake_weights,
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
  return _term(lambda l: -jax.nn.log_sigmoid(l), fake_logits, fake_weights,
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
  return _term(lambda l: -0.5 * jnp.exp(l), fake_logits, fake_weights,
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
  real_term = _term(jax.nn.log_sigmoid, real_logits, real_weights,
                    "real_logits", "real_weights")
  fake_term = _term(lambda l: jax.nn.log_sigmoid(-l), fake_logits,
                    fake_weights, "fake_logits", "fake_weights")
  return real_term + fake_term


# ----------------------------------------------------------------------------
# Beyond the notes. Each discriminator loss takes `fake_fraction` pi so that
# every loss can be trained on the same real/fake mixture: at pi = 1/2 it is
# the published loss; otherwise the real and fake terms are weighted
# 2(1 - pi) and 2 pi as in `discriminator_loss`.
# ----------------------------------------------------------------------------


def _mix(real_term: Array, fake_term: Array, fake_fraction) -> Array:
  pi = _check_fake_fraction(fake_fraction)
  return 2.0 * ((1.0 - pi) * real_term + pi * fake_term)


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
  "logits" here are D's raw, unsquashed outputs, any shape. Both terms are
  >= 0: infinite outputs give +inf, never NaN.
  """
  real_term = _term(lambda l: 0.5 * jnp.square(l - 1.0), real_logits,
                    real_weights, "real_logits", "real_weights")
  fake_term = _term(lambda l: 0.5 * jnp.square(l), fake_logits, fake_weights,
                    "fake_logits", "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def least_squares_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """LSGAN generator loss: 1/2 E (D(G(z)) - 1)^2 (Mao et al. 2017, Eq. 9)."""
  return _term(lambda l: 0.5 * jnp.square(l - 1.0), fake_logits, fake_weights,
               "fake_logits", "fake_weights")


def hinge_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    fake_fraction: float = 0.5,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge discriminator loss: E relu(1 - D(x)) + E relu(1 + D(G(z))).

  Lim & Ye 2017; Miyato et al. 2018, Eq. 16. D's outputs are raw scores, any
  shape. Both terms are >= 0: infinite outputs give +inf or add 0.
  """
  real_term = _term(lambda l: jax.nn.relu(1.0 - l), real_logits, real_weights,
                    "real_logits", "real_weights")
  fake_term = _term(lambda l: jax.nn.relu(1.0 + l), fake_logits, fake_weights,
                    "fake_logits", "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def hinge_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Hinge generator loss: -E D(G(z)) (Miyato et al. 2018, Eq. 17)."""
  return _term(jnp.negative, fake_logits, fake_weights, "fake_logits",
               "fake_weights")


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
  enforce that (use weight clipping or `gradient_penalty` in training).
  Linear in the outputs: infinite outputs of one sign give +-inf; opposite
  infinities (e.g. real = fake = +inf) have no limit and give NaN.
  """
  real_term = _term(jnp.negative, real_logits, real_weights, "real_logits",
                    "real_weights")
  fake_term = _term(lambda l: l, fake_logits, fake_weights, "fake_logits",
                    "fake_weights")
  return _mix(real_term, fake_term, fake_fraction)


def wasserstein_generator_loss(
    fake_logits: ArrayLike,
    *,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """Wasserstein generator loss: -E f(G(z)) (Arjovsky et al. 2017)."""
  return _term(jnp.negative, fake_logits, fake_weights, "fake_logits",
               "fake_weights")


# ----------------------------------------------------------------------------
# f-GAN (Nowozin, Cseke & Tomioka 2016).
# ----------------------------------------------------------------------------

F_GAN_DIVERGENCES = ("kl", "reverse_kl", "pearson", "neyman",
                     "squared_hellinger", "jensen_shannon", "gan",
                     "total_variation")

F_GAN_KINDS = ("conjugate", "activation")

# g_f: the raw output v in R -> T = g_f(v) in dom f*.
_ACTIVATIONS = {
    "kl": lambda v: v,
    "reverse_kl": lambda v: -jnp.exp(-v),
    "pearson": lambda v: v,
    "neyman": lambda v: -jnp.expm1(-v),
    "squared_hellinger": lambda v: -jnp.expm1(-v),
    "jensen_shannon": lambda v: 0.5 * (_LOG2 + jax.nn.log_sigmoid(v)),
    "gan": jax.nn.log_sigmoid,
    "total_variation": lambda v: 0.5 * jnp.tanh(v),
}

# f*(g_f(v)) in closed form, stable for every v (see f_gan_discriminator_loss).
_CONJUGATES_OF_ACTIVATIONS = {
    "kl": lambda v: jnp.exp(v - 1.0),
    "reverse_kl": lambda v: v - 1.0,
    "pearson": lambda v: v * (1.0 + 0.25 * v),
    "neyman": lambda v: -2.0 * jnp.expm1(-0.5 * v),
    "squared_hellinger": jnp.expm1,
    "jensen_shannon": lambda v: 0.5 * (jax.nn.softplus(v) - _LOG2),
    "gan": jax.nn.softplus,
    "total_variation": lambda v: 0.5 * jnp.tanh(v),
}


def _on_domain(t: Array, inside: Array, inner: Array, fn) -> Array:
  """fn(t) where `inside`, +inf elsewhere; `inner` is a point of the domain.

  The double `where` keeps fn's gradient finite outside the domain.
  """
  safe = jnp.where(inside, t, inner)
  return jnp.where(inside, fn(safe), jnp.inf)


def _conjugate(t: Array, divergence: str) -> Array:
  """f*(t) of Nowozin et al.'s Table 2 (jensen_shannon: of the halved f)."""
  half_log2 = 0.5 * _LOG2
  if divergence == "kl":
    return jnp.exp(t - 1.0)
  if divergence == "reverse_kl":
    return _on_domain(t, t < 0, -1.0, lambda s: -1.0 - jnp.log(-s))
  if divergence == "pearson":
    return t * (1.0 + 0.25 * t)
  if divergence == "neyman":
    return _on_domain(t, t <= 1, 0.0, lambda s: 2.0 - 2.0 * jnp.sqrt(1.0 - s))
  if divergence == "squared_hellinger":
    return _on_domain(t, t < 1, 0.0, lambda s: s / (1.0 - s))
  if divergence == "jensen_shannon":
    return _on_domain(t, t < half_log2, 0.0,
                      lambda s: -0.5 * jnp.log(2.0 - jnp.exp(2.0 * s)))
  if divergence == "gan":
    return _on_domain(t, t < 0, -1.0, lambda s: -jnp.log(-jnp.expm1(s)))
  return _on_domain(t, jnp.abs(t) <= 0.5, 0.0, lambda s: s)


def _check_divergence(divergence) -> str:
  if not isinstance(divergence, str) or divergence not in F_GAN_DIVERGENCES:
    raise ValueError(f"unknown f-divergence {divergence!r}; valid names: "
                     f"{', '.join(F_GAN_DIVERGENCES)}")
  return divergence


def f_gan_activation(v: ArrayLike, divergence: str) -> Array:
  """The output activation T = g_f(v), mapping raw outputs into dom f*.

  Nowozin et al. 2016, Table 2 (P = p_data, Q = p_g, u = p/q):

    divergence         f(u)                       g_f(v)
    kl                 u log u                    v
    reverse_kl         -log u                     -exp(-v)
    pearson            (u - 1)^2                  v
    neyman             (1 - u)^2 / u              1 - exp(-v)
    squared_hellinger  (sqrt(u) - 1)^2            1 - exp(-v)
    jensen_shannon     1/2 [u log u               1/2 (log 2 - softplus(-v))
                         - (u+1) log((u+1)/2)]
    gan                u log u - (u+1) log(u+1)   -softplus(-v) (log_sigmoid)
    total_variation    1/2 |u - 1|                1/2 tanh(v)

  jensen_shannon is half of Nowozin's f (so that D_f is JSD itself, as in
  `gan_jax.divergences`); its activation and conjugate are halved to match,
  (c f)*(t) = c f*(t / c) with c = 1/2. gan's D_f is 2 JSD - log 4,
  Goodfellow's V(G, D*). For neyman the increasing 1 - exp(-v) is used (any
  map onto dom f* = (-inf, 1) is valid). Every g_f is increasing.

  Args:
    v: raw critic outputs, any shape (not probabilities).
    divergence: one of `F_GAN_DIVERGENCES`.

  Returns:
    g_f(v), the shape of `v`.
  """
  return _ACTIVATIONS[_check_divergence(divergence)](_to_float(v))


def f_gan_conjugate(t: ArrayLike, divergence: str) -> Array:
  """The Fenchel conjugate f*(t) = sup_u (t u - f(u)) of Nowozin's Table 2.

    divergence         f*(t)                        dom f*
    kl                 exp(t - 1)                   R
    reverse_kl         -1 - log(-t)                 t < 0
    pearson            t^2 / 4 + t                  R
    neyman             2 - 2 sqrt(1 - t)            t <= 1
    squared_hellinger  t / (1 - t)                  t < 1
    jensen_shannon     -1/2 log(2 - exp(2 t))       t < log(2) / 2
    gan                -log(1 - exp(t))             t < 0
    total_variation    t                            |t| <= 1/2

  f is convex on its natural domain (u in R for pearson and total_variation,
  u > 0 for the others); f* is +inf outside dom f* (its value there as a
  convex conjugate), with zero gradient. Fenchel-Young:
  f*(f'(u)) = u f'(u) - f(u).

  Args:
    t: values of the variational function T, any shape.
    divergence: one of `F_GAN_DIVERGENCES`.

  Returns:
    f*(t), the shape of `t`.
  """
  return _conjugate(_to_float(t), _check_divergence(divergence))


@jax.custom_jvp
def _add_resolving_overflow(a: Array, b: Array, log_abs_a: Array,
                            log_abs_b: Array) -> Array:
  """a + b; if a and b are infinities of opposite sign, the larger log|.| wins.

  For terms that overflowed float32 but whose log-magnitudes are known; equal
  log-magnitudes leave inf - inf = NaN. The derivative is that of a + b, so
  in reverse mode each side keeps its own (possibly infinite) gradient,
  never 0 * inf; a forward-mode tangent through both sides at a clash adds
  +inf and -inf and is NaN.
  """
  clash = jnp.isinf(a) & jnp.isinf(b) & (jnp.sign(a) != jnp.sign(b))
  winner = jnp.where(log_abs_a > log_abs_b, a,
                     jnp.where(log_abs_a < log_abs_b, b, jnp.nan))
  return jnp.where(clash, winner, a + b)


@_add_resolving_overflow.defjvp
def _add_resolving_overflow_jvp(primals, tangents):
  a_dot, b_dot, _, _ = tangents
  return _add_resolving_overflow(*primals), a_dot + b_dot


def _log_mean_exp(x: Array, weights: Optional[Array]) -> Array:
  """log E exp(x), weighted like `_expectation` (zero weights dropped)."""
  if weights is None:
    return jax.nn.logsumexp(x) - math.log(x.size)
  keep = weights != 0
  x = jnp.where(keep, x, jnp.zeros_like(x))
  return jax.nn.logsumexp(x, b=weights) - jnp.log(jnp.sum(weights))


def _neyman_loss(real: Array, fake: Array, real_weights, fake_weights):
  """E_P (e^-v - 1) + E_Q (2 - 2 e^(-v/2)), the two overflows resolved.

  Below v ~ -88.7 (real) and ~ -176 (fake) the terms overflow float32 to +inf
  and -inf; their log-magnitudes log E e^-v and log 2 + log E e^(-v/2) decide
  the sign of the (beyond float32) sum.
  """
  real_term = _expectation(lambda v: jnp.expm1(-v), real, real_weights)
  fake_term = _expectation(_CONJUGATES_OF_ACTIVATIONS["neyman"], fake,
                           fake_weights)
  log_real = jax.lax.stop_gradient(_log_mean_exp(-real, real_weights))
  log_fake = jax.lax.stop_gradient(
      _LOG2 + _log_mean_exp(-0.5 * fake, fake_weights))
  return _add_resolving_overflow(real_term, fake_term, log_real, log_fake)


def f_gan_discriminator_loss(
    real_outputs: ArrayLike,
    fake_outputs: ArrayLike,
    *,
    divergence: str,
    real_weights: Optional[ArrayLike] = None,
    fake_weights: Optional[ArrayLike] = None,
) -> Array:
  """f-GAN critic loss: minus the variational lower bound on D_f(P || Q).

      L_T = -( E_x g_f(v(x)) - E_z f*(g_f(v(G(z)))) ),   P = p_data, Q = p_g

  Nowozin et al. 2016, Eq. 6 with T = g_f(v) (Table 2; see
  `f_gan_activation`, `f_gan_conjugate`). For every T, -L_T <= D_f(P || Q),
  with equality at T*(x) = f'(p(x) / q(x))
  (`gan_jax.divergences.optimal_critic`), so sup_T -L_T = D_f
  (`gan_jax.divergences.f_divergence`). The 'gan' member is exactly
  `discriminator_loss` at fake_fraction 1/2, i.e. -`value_function`.

  f*(g_f(v)) is computed in closed form, not by composing f* with g_f
  (which overflows or cancels in float32 for large |v|):

    kl exp(v - 1); reverse_kl v - 1; pearson v (1 + v / 4);
    neyman -2 expm1(-v / 2); squared_hellinger expm1(v);
    jensen_shannon (softplus(v) - log 2) / 2; gan softplus(v);
    total_variation tanh(v) / 2.

  float32 limits (|v| up to 1e4): pearson, jensen_shannon, gan and
  total_variation are finite in value and gradient. The others overflow only
  where the true value exceeds float32 (about 3.4e38 = e^88.72), and then
  give +-inf with +-inf gradients, never NaN:
    kl: a fake output v > 89.72 gives +inf (e^(v-1)).
    reverse_kl: a real output v < -88.72 gives +inf (-g_f = e^-v).
    squared_hellinger: a real v < -88.72 or a fake v > 88.72 gives +inf.
    neyman: a real v < -88.72 gives +inf, a fake v < -176.05 gives -inf
      (-2 e^(-v/2)); both at once give the sign of the larger of
      log E_P e^-v and log 2 + log E_Q e^(-v/2).
  Exactly infinite outputs give the limit where it exists; opposite infinite
  terms (kl: real = +inf with fake = +inf; reverse_kl and neyman: real =
  fake = -inf; pearson: real = +inf with fake = +-inf) give NaN.

  Args:
    real_outputs: the critic's raw outputs v on data samples, any shape (not
      probabilities; the activation is applied here).
    fake_outputs: raw outputs on generator samples, any shape.
    divergence: one of `F_GAN_DIVERGENCES`.
    real_weights: optional weights broadcastable to `real_outputs`.
    fake_weights: optional weights broadcastable to `fake_outputs`.

  Returns:
    Scalar loss, -(lower bound on D_f).
  """
  divergence = _check_divergence(divergence)
  real = _as_float(real_outputs, "real_outputs")
  fake = _as_float(fake_outputs, "fake_outputs")
  real_weights = _check_weights(real_weights, real.shape, real.dtype,
                                "real_weights")
  fake_weights = _check_weights(fake_weights, fake.shape, fake.dtype,
                                "fake_weights")
  if divergence == "neyman":
    return _neyman_loss(real, fake, real_weights, fake_weights)
  activation = _ACTIVATIONS[divergence]
  real_term = _expectation(lambda v: -activation(v), real, real_weights)
  fake_term = _expectation(_CONJUGATES_OF_ACTIVATIONS[divergence], fake,
                           fake_weights)
  return real_term + fake_term


def f_gan_generator_loss(
    fake_outputs: ArrayLike,
    *,
    divergence: str,
    fake_weights: Optional[ArrayLike] = None,
    kind: str = "conjugate",
) -> Array:
  """f-GAN generator loss.

      kind='conjugate':  L_G = -E_z f*(g_f(v(G(z))))
      kind='activation': L_G = -E_z g_f(v(G(z)))

  'conjugate' is Nowozin et al.'s (2016) saddle-point objective, Eq. 6: G
  minimises the same bound the critic maximises, whose real term does not
  depend on G. 'activation' is the alternative of their Section 3.2, which
  for 'gan' is the log-D trick: with divergence='gan', 'conjugate' equals
  `saturating_generator_loss` and 'activation' `non_saturating_generator_loss`.
  float32 limits as in `f_gan_discriminator_loss` (same closed forms): with
  'conjugate', kl fakes above 89.72 and squared_hellinger fakes above 88.72
  give -inf, neyman fakes below -176.05 give +inf; with 'activation',
  reverse_kl, neyman and squared_hellinger fakes below -88.72 give +inf.

  Args:
    fake_outputs: the critic's raw outputs on generator samples, any shape.
    divergence: one of `F_GAN_DIVERGENCES`.
    fake_weights: optional weights broadcastable to `fake_outputs`.
    kind: 'conjugate' or 'activation' (`F_GAN_KINDS`).

  Returns:
    Scalar loss.
  """
  divergence = _check_divergence(divergence)
  if kind == "conjugate":
    fn = _CONJUGATES_OF_ACTIVATIONS[divergence]
  elif kind == "activation":
    fn = _ACTIVATIONS[divergence]
  else:
    raise ValueError(f"unknown f-GAN generator loss kind {kind!r}; valid: "
                     f"{', '.join(F_GAN_KINDS)}")
  return _term(lambda v: -fn(v), fake_outputs, fake_weights, "fake_outputs",
               "fake_weights")


# ----------------------------------------------------------------------------
# Relativistic pairing (RpGAN).
# ----------------------------------------------------------------------------


def _paired(real_logits: ArrayLike, fake_logits: ArrayLike,
            weights: Optional[ArrayLike]):
  """Checked (real, fake, weights) of equal shapes."""
  real = _as_float(real_logits, "real_logits")
  fake = _as_float(fake_logits, "fake_logits")
  if real.shape != fake.shape:
    raise ValueError(
        "relativistic losses pair real_logits[i] with fake_logits[i]: their "
        f"shapes must be equal, got {real.shape} and {fake.shape}")
  dtype = jnp.result_type(real, fake)
  return real, fake, _check_weights(weights, real.shape, dtype, "weights")


def relativistic_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    weights: Optional[ArrayLike] = None,
) -> Array:
  """RpGAN discriminator loss: E_i softplus(-(r_i - f_i)).

  = -E_i log sigmoid(D(x_i) - D(G(z_i))): D is asked how much more real x_i
  looks than its paired fake (Jolicoeur-Martineau 2019, RpGAN; Huang et al.
  2024, Eq. 2, R3GAN). Its expected value over independent pairs is at most
  log 2 (at a constant D), with equality at the optimal D exactly when
  p_g = p_data.

  Args:
    real_logits: D's raw outputs r on data samples, any shape.
    fake_logits: D's raw outputs f on generator samples, the same shape; pair
      i is (r[i], f[i]).
    weights: optional per-pair weights broadcastable to that shape (one
      weight per pair, since each term involves both outputs).

  Returns:
    Scalar loss (>= 0). r - f = +inf adds 0, -inf gives +inf; r = f = +-inf
    has no limit and gives NaN.

  Raises:
    ValueError: if the shapes differ, an input is empty, or concrete weights
      are negative or all zero.
  """
  real, fake, weights = _paired(real_logits, fake_logits, weights)
  return _expectation(lambda d: jax.nn.softplus(-d), real - fake, weights)


def relativistic_generator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    weights: Optional[ArrayLike] = None,
) -> Array:
  """RpGAN generator loss: E_i softplus(-(f_i - r_i)).

  The discriminator loss with the roles swapped (Huang et al. 2024, Eq. 2):
  G makes its samples look more real than the paired data. Takes the real
  outputs first, like the discriminator loss (`LossPair.generator_needs_real`).

  Args:
    real_logits: D's raw outputs r on data samples, any shape.
    fake_logits: D's raw outputs f on generator samples, the same shape.
    weights: optional per-pair weights broadcastable to that shape.

  Returns:
    Scalar loss (>= 0); infinities as in `relativistic_discriminator_loss`.
  """
  real, fake, weights = _paired(real_logits, fake_logits, weights)
  return _expectation(lambda d: jax.nn.softplus(-d), fake - real, weights)


# ----------------------------------------------------------------------------
# Gradient penalty (WGAN-GP).
# ----------------------------------------------------------------------------


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
  grads = _as_float(gradients, "gradients")
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
  real, fake = _as_float(real, "real"), _as_float(fake, "fake")
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


# ----------------------------------------------------------------------------
# Lookup by config name.
# ----------------------------------------------------------------------------


class LossPair(NamedTuple):
  """A discriminator loss and the generator loss it is trained against.

  Attributes:
    discriminator: `discriminator(real_outputs, fake_outputs, **options)`.
    generator: `generator(fake_outputs, **options)`, or
      `generator(real_outputs, fake_outputs, **options)` if
      `generator_needs_real`.
    uses_cross_entropy: whether the discriminator is a BCE classifier (so
      that D(x) = sigmoid(logit) is a probability and label smoothing
      applies).
    generator_needs_real: whether the generator loss compares fakes with
      reals (RpGAN) and so takes D's outputs on a real batch first.
    discriminator_options: the config hyperparameters (of 'fake_fraction',
      'label_smoothing', 'divergence') that `discriminator` takes by keyword.
    generator_options: those that `generator` takes by keyword.
  """
  discriminator: Callable[..., Array]
  generator: Callable[..., Array]
  uses_cross_entropy: bool
  generator_needs_real: bool = False
  discriminator_options: tuple[str, ...] = ()
  generator_options: tuple[str, ...] = ()


_BCE_OPTIONS = ("fake_fraction", "label_smoothing")
_LOSSES = {
    "saturating": LossPair(discriminator_loss, saturating_generator_loss, True,
                           False, _BCE_OPTIONS),
    "non_saturating": LossPair(discriminator_loss,
                               non_saturating_generator_loss, True, False,
                               _BCE_OPTIONS),
    "maximum_likelihood": LossPair(discriminator_loss,
                                   maximum_likelihood_generator_loss, True,
                                   False, _BCE_OPTIONS),
    "least_squares": LossPair(least_squares_discriminator_loss,
                              least_squares_generator_loss, False, False,
                              ("fake_fraction",)),
    "hinge": LossPair(hinge_discriminator_loss, hinge_generator_loss, False,
                      False, ("fake_fraction",)),
    "wasserstein": LossPair(wasserstein_discriminator_loss,
                            wasserstein_generator_loss, False, False,
                            ("fake_fraction",)),
    "f_gan": LossPair(f_gan_discriminator_loss, f_gan_generator_loss, False,
                      False, ("divergence",), ("divergence",)),
    "relativistic": LossPair(relativistic_discriminator_loss,
                             relativistic_generator_loss, False, True),
}

NAMES = tuple(_LOSSES)


def get(name: str) -> LossPair:
  """Returns the (discriminator, generator) loss pair called `name`.

  Args:
    name: one of `NAMES`: saturating, non_saturating, maximum_likelihood
      (BCE discriminator), least_squares, hinge, wasserstein, f_gan (needs
      the `divergence` option), relativistic (RpGAN; its generator takes the
      real outputs too).

  Raises:
    ValueError: naming the valid choices if `name` is not one of them.
  """
  try:
    return _LOSSES[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown GAN loss {name!r}; valid names: "
                     f"{', '.join(NAMES)}") from None
