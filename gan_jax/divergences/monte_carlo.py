"""Monte Carlo estimates of the divergences, with standard errors.

Each takes log-density functions and samples, and returns a
`MonteCarloEstimate` (value, stderr = std / sqrt(n)).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.divergences._common import Array
from gan_jax.divergences._common import ArrayLike
from gan_jax.divergences._common import LogDensity
from gan_jax.divergences._common import check_pi
from gan_jax.divergences.f_divergences import LOG2
from gan_jax.divergences.f_divergences import check_divergence



class MonteCarloEstimate(NamedTuple):
  """A Monte Carlo estimate and its standard error (std / sqrt(n))."""
  value: Array
  stderr: Array


def _mean_and_stderr(values: Array) -> tuple[Array, Array]:
  n = values.shape[0]
  return jnp.mean(values), jnp.std(values, ddof=1) / jnp.sqrt(n)


def kl_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                     samples_p: ArrayLike) -> MonteCarloEstimate:
  """KL(P || Q) ~ mean_i [log p(x_i) - log q(x_i)], x_i ~ P.

  Args:
    log_p, log_q: functions mapping [n, d] points to [n] log densities.
    samples_p: [n, d] samples from P.
  """
  samples_p = jnp.asarray(samples_p)
  return MonteCarloEstimate(*_mean_and_stderr(log_p(samples_p) -
                                              log_q(samples_p)))


def generalized_jsd_mc(log_p: LogDensity, log_q: LogDensity,
                       samples_p: ArrayLike, samples_q: ArrayLike,
                       pi: float) -> MonteCarloEstimate:
  """JSD_pi(P || Q) from samples of both, with log m by logaddexp.

      pi E_P[log p - log m] + (1-pi) E_Q[log q - log m],  m = pi p + (1-pi) q

  The two sample sets are independent, so their variances add.
  """
  check_pi(pi, "pi")

  def log_mixture(x):
    return jnp.logaddexp(jnp.log(pi) + log_p(x), jnp.log1p(-pi) + log_q(x))

  samples_p, samples_q = jnp.asarray(samples_p), jnp.asarray(samples_q)
  mean_p, se_p = _mean_and_stderr(log_p(samples_p) - log_mixture(samples_p))
  mean_q, se_q = _mean_and_stderr(log_q(samples_q) - log_mixture(samples_q))
  value = pi * mean_p + (1.0 - pi) * mean_q
  stderr = jnp.sqrt((pi * se_p)**2 + ((1.0 - pi) * se_q)**2)
  return MonteCarloEstimate(value, stderr)


def jensen_shannon_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                                 samples_p: ArrayLike,
                                 samples_q: ArrayLike) -> MonteCarloEstimate:
  """JSD(P || Q) from samples of both (see `generalized_jsd_mc`)."""
  return generalized_jsd_mc(log_p, log_q, samples_p, samples_q, 0.5)


def value_at_optimum_mc(log_p_data: LogDensity, log_p_g: LogDensity,
                        samples_data: ArrayLike,
                        samples_g: ArrayLike) -> MonteCarloEstimate:
  """V(G, D*) = E_data log D*(x) + E_g log(1 - D*(x)) from samples.

  log D* = log p_data - log(p_data + p_g), computed in log space.
  """
  samples_data, samples_g = jnp.asarray(samples_data), jnp.asarray(samples_g)

  def log_total(x):
    return jnp.logaddexp(log_p_data(x), log_p_g(x))

  mean_d, se_d = _mean_and_stderr(log_p_data(samples_data) -
                                  log_total(samples_data))
  mean_g, se_g = _mean_and_stderr(log_p_g(samples_g) - log_total(samples_g))
  return MonteCarloEstimate(mean_d + mean_g, jnp.sqrt(se_d**2 + se_g**2))


def _u_times(log_u: Array, fn) -> Array:
  """exp(log_u) fn(log_u); 0 where log_u = -inf (u = 0), even if fn = inf."""
  finite = log_u > -jnp.inf
  safe = jnp.where(finite, log_u, 0.0)
  return jnp.where(finite, jnp.exp(safe) * fn(safe), 0.0)


def _gan_f_of_log(log_u: Array) -> Array:
  # -u softplus(-l) - softplus(l) = u log(u / (u+1)) - log(u+1).
  return (-_u_times(log_u, lambda l: jax.nn.softplus(-l)) -
          jax.nn.softplus(log_u))


# f(exp(l)) from l = log u, without forming u where that loses accuracy.
_F_OF_LOG = {
    "kl": lambda l: _u_times(l, lambda l: l),
    "reverse_kl": lambda l: -l,
    "pearson": lambda l: jnp.expm1(l)**2,
    # (1-u)^2 / u = u - 2 + 1/u = 4 sinh(l/2)^2, finite wherever u^2 is not.
    "neyman": lambda l: 4.0 * jnp.sinh(0.5 * l)**2,
    "squared_hellinger": lambda l: jnp.expm1(0.5 * l)**2,
    "jensen_shannon":
        lambda l: 0.5 * (_gan_f_of_log(l) + (jnp.exp(l) + 1.0) * LOG2),
    "gan": _gan_f_of_log,
    "total_variation": lambda l: 0.5 * jnp.abs(jnp.expm1(l)),
}


def f_divergence_mc(log_p: LogDensity, log_q: LogDensity,
                    samples_q: ArrayLike,
                    divergence: str) -> MonteCarloEstimate:
  """D_f(P || Q) ~ mean_i f(p(x_i) / q(x_i)), x_i ~ Q (see `f_divergence`).

  f is evaluated from l = log p - log q in a form stable in l (e.g. u log u
  = e^l l, (u - 1)^2 = expm1(l)^2, (1 - u)^2 / u = 4 sinh(l / 2)^2), so no
  density is exponentiated on its own. The estimator's variance is finite
  only when E_Q f(p/q)^2 is: e.g. for Gaussians P = N(m1, s1^2) and
  Q = N(m2, s2^2) (any means), 'reverse_kl' always; 'kl',
  'squared_hellinger', 'jensen_shannon', 'gan' and 'total_variation' need
  s2 > s1 / sqrt(2); 'pearson' s2 > s1 sqrt(3) / 2; 'neyman' both
  s2 > s1 / sqrt(2) and s2 < s1 sqrt(3/2). Outside these ranges the standard
  error is meaningless.

  Args:
    log_p, log_q: functions mapping [n, d] points to [n] log densities
      (log p may be -inf; log q must be finite on Q's samples).
    samples_q: [n, d] samples from Q = p_g.
    divergence: one of `F_DIVERGENCES`.
  """
  check_divergence(divergence)
  samples_q = jnp.asarray(samples_q)
  log_ratio = log_p(samples_q) - log_q(samples_q)
  return MonteCarloEstimate(*_mean_and_stderr(_F_OF_LOG[divergence](log_ratio)))
