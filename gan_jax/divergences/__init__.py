"""Divergences behind the GAN game, exact and by Monte Carlo; jax only.

Natural logarithms throughout. Exact versions take either probability vectors
along the last axis (`dx=1`) or densities sampled on a uniform grid with
spacing `dx`, in which case sums become Riemann sums of the integrals. The
convention 0 log 0 = 0 holds, and KL(p || q) is +inf where p > 0 = q.

  KL(P || Q)       = E_P log(p / q)
  JSD(P || Q)      = 1/2 KL(P || M) + 1/2 KL(Q || M),  M = (P + Q) / 2
  JSD_pi(P || Q)   = pi KL(P || M_pi) + (1 - pi) KL(Q || M_pi),
                     M_pi = pi P + (1 - pi) Q                 (Huszar 2015)
  D*(x)            = (1 - a)(1 - pi) p_data / ((1 - pi) p_data + pi p_g)
  V(G, D*)         = -log 4 + 2 JSD(p_data || p_g)    (Goodfellow et al. 2014)
  D_f(P || Q)      = sum_x q f(p / q) dx = sup_T E_P T - E_Q f*(T),
  T*(x)            = f'(p(x) / q(x))              (Nowozin et al. 2016, f-GAN)
  W1(P, Q)         = int |F_P - F_Q| dx   in 1D   (Arjovsky et al. 2017)

The f-divergences (`F_DIVERGENCES`; P = p_data, Q = p_g, u = p / q):

  kl                 f(u) = u log u                        KL(P || Q)
  reverse_kl         f(u) = -log u                         KL(Q || P)
  pearson            f(u) = (u - 1)^2                      sum (p - q)^2 / q
  neyman             f(u) = (1 - u)^2 / u                  sum (p - q)^2 / p
  squared_hellinger  f(u) = (sqrt(u) - 1)^2            sum (sqrt p - sqrt q)^2
  jensen_shannon     f(u) = 1/2 [u log u - (u + 1) log((u + 1) / 2)]   JSD
  gan                f(u) = u log u - (u + 1) log(u + 1)   2 JSD - log 4
  total_variation    f(u) = 1/2 |u - 1|                    1/2 sum |p - q|

Nowozin's Table 1 lists the Jensen-Shannon f without the 1/2 (its D_f is
2 JSD); here 'jensen_shannon' is the JSD itself, equal to
`jensen_shannon_divergence`, and 'gan' equals `value_at_optimum`.

Monte Carlo versions take log-density functions and samples, and return the
estimate with its standard error.

Modules, one family each: `jensen_shannon` (kl_divergence, generalized_jsd,
jensen_shannon_divergence, optimal_discriminator, value_at_optimum),
`f_divergences` (F_DIVERGENCES, f_function, f_derivative, f_divergence,
optimal_critic), `monte_carlo` (MonteCarloEstimate and the *_mc estimators),
`wasserstein` (wasserstein_1d, wasserstein_1d_samples) and `_common` (the
types and the density-ratio term they share). Every public name is
importable from `gan_jax.divergences`; jax is the only import.
"""

from gan_jax.divergences.f_divergences import F_DIVERGENCES
from gan_jax.divergences.f_divergences import f_derivative
from gan_jax.divergences.f_divergences import f_divergence
from gan_jax.divergences.f_divergences import f_function
from gan_jax.divergences.f_divergences import optimal_critic
from gan_jax.divergences.jensen_shannon import generalized_jsd
from gan_jax.divergences.jensen_shannon import jensen_shannon_divergence
from gan_jax.divergences.jensen_shannon import kl_divergence
from gan_jax.divergences.jensen_shannon import optimal_discriminator
from gan_jax.divergences.jensen_shannon import value_at_optimum
from gan_jax.divergences.monte_carlo import MonteCarloEstimate
from gan_jax.divergences.monte_carlo import f_divergence_mc
from gan_jax.divergences.monte_carlo import generalized_jsd_mc
from gan_jax.divergences.monte_carlo import jensen_shannon_divergence_mc
from gan_jax.divergences.monte_carlo import kl_divergence_mc
from gan_jax.divergences.monte_carlo import value_at_optimum_mc
from gan_jax.divergences.wasserstein import wasserstein_1d
from gan_jax.divergences.wasserstein import wasserstein_1d_samples

__all__ = [
    "F_DIVERGENCES", "MonteCarloEstimate", "f_derivative", "f_divergence",
    "f_divergence_mc", "f_function", "generalized_jsd", "generalized_jsd_mc",
    "jensen_shannon_divergence", "jensen_shannon_divergence_mc",
    "kl_divergence", "kl_divergence_mc", "optimal_critic",
    "optimal_discriminator", "value_at_optimum", "value_at_optimum_mc",
    "wasserstein_1d", "wasserstein_1d_samples",
]
