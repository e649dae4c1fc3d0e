"""f-GAN losses (Nowozin, Cseke & Tomioka 2016) for the eight divergences.

`f_gan_activation` g_f and `f_gan_conjugate` f* of Table 2, and the critic and
generator losses, with f*(g_f(v)) in closed forms that are stable in float32
(the overflow limits are listed in `f_gan_discriminator_loss`).
"""

from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.losses._checks import as_float
from gan_jax.losses._checks import check_weights
from gan_jax.losses._checks import expectation
from gan_jax.losses._checks import term
from gan_jax.losses._checks import to_float
from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike

_LOG2 = math.log(2.0)

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
  return _ACTIVATIONS[_check_divergence(divergence)](to_float(v))


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
  return _conjugate(to_float(t), _check_divergence(divergence))


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
  """log E exp(x), weighted like `expectation` (zero weights dropped)."""
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
  real_term = expectation(lambda v: jnp.expm1(-v), real, real_weights)
  fake_term = expectation(_CONJUGATES_OF_ACTIVATIONS["neyman"], fake,
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
  real = as_float(real_outputs, "real_outputs")
  fake = as_float(fake_outputs, "fake_outputs")
  real_weights = check_weights(real_weights, real.shape, real.dtype,
                                "real_weights")
  fake_weights = check_weights(fake_weights, fake.shape, fake.dtype,
                                "fake_weights")
  if divergence == "neyman":
    return _neyman_loss(real, fake, real_weights, fake_weights)
  activation = _ACTIVATIONS[divergence]
  real_term = expectation(lambda v: -activation(v), real, real_weights)
  fake_term = expectation(_CONJUGATES_OF_ACTIVATIONS[divergence], fake,
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
  return term(lambda v: -fn(v), fake_outputs, fake_weights, "fake_outputs",
               "fake_weights")
