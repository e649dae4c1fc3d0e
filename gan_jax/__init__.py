"""gan_jax: the original GAN (Goodfellow et al. 2014) as executable, tested JAX.

Submodules are imported explicitly so that `gan_jax.losses`, `gan_jax.divergences`
and `gan_jax.distributions` stay importable with jax alone.
"""

__version__ = "0.1.0"
