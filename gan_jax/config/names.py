"""The valid names of the config's choice fields, and INT_MAX."""

# No module that imports jax is imported by gan_jax.config at import time:
# `import gan_jax.config` stays quick and jax-free (default_config and the
# model check import them when called). The names validation needs are
# therefore copied from those modules; tests/test_config.py asserts that each
# copy equals the module's value.
TOY_DATA = ("ring", "grid", "gaussian_1d")  # gan_jax.data.TOY_DATASETS
IDX_DATA = ("fashion_mnist", "mnist")  # gan_jax.data.IDX_DATASETS
# gan_jax.data.STACKED_DATASETS.
STACKED_DATA = ("stacked_fashion_mnist", "stacked_mnist")
DATA_SOURCES = ("idx", "tfds")  # gan_jax.data.SOURCES
MODEL_NAMES = ("mlp", "dcgan")  # gan_jax.models.MODEL_NAMES
# gan_jax.models.ACTIVATIONS.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "maxout")
COMPUTE_DTYPES = ("float32", "bfloat16")  # gan_jax.models.COMPUTE_DTYPES
CONV_IMPLS = ("auto", "onednn", "xla")  # gan_jax.models.CONV_IMPLS
# gan_jax.losses.NAMES, and those whose LossPair.uses_cross_entropy.
LOSS_NAMES = ("saturating", "non_saturating", "maximum_likelihood",
              "least_squares", "hinge", "wasserstein", "f_gan", "relativistic")
CROSS_ENTROPY_LOSSES = ("saturating", "non_saturating", "maximum_likelihood")
# Those whose discriminator takes fake_fraction (LossPair.discriminator_options).
FAKE_FRACTION_LOSSES = ("saturating", "non_saturating", "maximum_likelihood",
                        "least_squares", "hinge", "wasserstein")
# gan_jax.losses.F_GAN_DIVERGENCES (= gan_jax.divergences.F_DIVERGENCES).
F_DIVERGENCES = ("kl", "reverse_kl", "pearson", "neyman", "squared_hellinger",
                 "jensen_shannon", "gan", "total_variation")
PRECISION_RECALL_K = 3  # gan_jax.evaluation.PRECISION_RECALL_K

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "cosine")
PARALLELISM = ("shard_map", "pmap")
ON_DIVERGENCE = ("stop", "restore")
# The largest value of any integer field (int32: steps, sizes, seeds).
INT_MAX = 2**31 - 1
