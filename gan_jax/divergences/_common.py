"""What the divergence modules share: array types, pi's check, p log(p / m)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
LogDensity = Callable[[Array], Array]


def check_pi(pi, name: str) -> None:
  if isinstance(pi, (int, float)) and not 0.0 <= pi <= 1.0:
    raise ValueError(f"{name} must lie in [0, 1], got {pi}")


def xlog_x_over_mixture(p: Array, q: Array, log_a, log_b) -> Array:
  """p log(p / (a p + b q)) elementwise, from log a and log b; 0 where p = 0.

      log(p / (a p + b q)) = -log(a + b q / p)
                           = -logaddexp(log a, log b + log q - log p)

  The direct form becomes +inf in float32 where p and q lie just above the
  smallest normal number (1.2e-38): a p + b q is then subnormal and XLA:CPU
  flushes it to 0. The ratio form never forms the mixture; it is bounded by
  -log a and finite for a > 0. Densities below the smallest normal count as 0
  (their terms are < 1e-36).
  """
  tiny = jnp.finfo(jnp.result_type(p, q, float)).tiny
  p_positive, q_positive = p > tiny, q > tiny
  log_p = jnp.log(jnp.where(p_positive, p, 1.0))
  log_q = jnp.log(jnp.where(q_positive, q, 1.0))
  # The double `where` keeps gradients finite where a density is 0.
  log_q_over_p = jnp.where(q_positive, log_q - log_p, -jnp.inf)
  log_p_over_m = -jnp.logaddexp(log_a, log_b + log_q_over_p)
  return jnp.where(p_positive, p * log_p_over_m, 0.0)

