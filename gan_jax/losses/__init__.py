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

Modules: `cross_entropy` (discriminator_loss, the saturating, non-saturating
and maximum-likelihood generator losses, value_function), `alternatives`
(least squares, hinge, Wasserstein), `f_gan` (F_GAN_DIVERGENCES,
F_GAN_KINDS, f_gan_activation, f_gan_conjugate and the f-GAN losses),
`relativistic` (RpGAN), `penalties` (gradient_penalty,
gradient_norm_penalty), `registry` (LossPair, NAMES, get) and `_checks` (the
input checks and weighted mean they share; Array, ArrayLike). Every public
name is importable from `gan_jax.losses`.

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

from gan_jax.losses._checks import Array
from gan_jax.losses._checks import ArrayLike
from gan_jax.losses.alternatives import hinge_discriminator_loss
from gan_jax.losses.alternatives import hinge_generator_loss
from gan_jax.losses.alternatives import least_squares_discriminator_loss
from gan_jax.losses.alternatives import least_squares_generator_loss
from gan_jax.losses.alternatives import wasserstein_discriminator_loss
from gan_jax.losses.alternatives import wasserstein_generator_loss
from gan_jax.losses.cross_entropy import discriminator_loss
from gan_jax.losses.cross_entropy import maximum_likelihood_generator_loss
from gan_jax.losses.cross_entropy import non_saturating_generator_loss
from gan_jax.losses.cross_entropy import saturating_generator_loss
from gan_jax.losses.cross_entropy import value_function
from gan_jax.losses.f_gan import F_GAN_DIVERGENCES
from gan_jax.losses.f_gan import F_GAN_KINDS
from gan_jax.losses.f_gan import f_gan_activation
from gan_jax.losses.f_gan import f_gan_conjugate
from gan_jax.losses.f_gan import f_gan_discriminator_loss
from gan_jax.losses.f_gan import f_gan_generator_loss
from gan_jax.losses.penalties import gradient_norm_penalty
from gan_jax.losses.penalties import gradient_penalty
from gan_jax.losses.registry import get
from gan_jax.losses.registry import LossPair
from gan_jax.losses.registry import NAMES
from gan_jax.losses.relativistic import relativistic_discriminator_loss
from gan_jax.losses.relativistic import relativistic_generator_loss

__all__ = [
    "Array",
    "ArrayLike",
    "discriminator_loss",
    "f_gan_activation",
    "f_gan_conjugate",
    "f_gan_discriminator_loss",
    "F_GAN_DIVERGENCES",
    "f_gan_generator_loss",
    "F_GAN_KINDS",
    "get",
    "gradient_norm_penalty",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "LossPair",
    "maximum_likelihood_generator_loss",
    "NAMES",
    "non_saturating_generator_loss",
    "relativistic_discriminator_loss",
    "relativistic_generator_loss",
    "saturating_generator_loss",
    "value_function",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
]
