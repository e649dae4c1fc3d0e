"""The experiment config schema: defaults, and validation before any compute.

Every experiment is an `ml_collections.ConfigDict` built from `default_config()`
and changed by a config file (`experiments/configs/*.py`) and command-line
overrides (`--config.train.steps=2000`). `validate(config, num_devices)` runs
before anything is compiled or loaded and raises `ConfigError` whose message
names the dotted field (`config.loss.name`) and the valid choices or range;
`validate(config)` (num_devices=None) checks all but the device count, before
JAX knows its devices. Importing this module does not import jax.

The schema and its defaults are documented in `gan_jax.config.schema`.
Modules: `schema` (default_config, set_optimizers, from_file), `names` (the
valid names and INT_MAX), `checks` (ConfigError and the per-field checks),
`rules` (the per-section tables and cross-field rules), `validation`
(validate) and `resume` (which fields may change when a run is resumed).
Every public name is importable from `gan_jax.config`.
"""

from gan_jax.config.checks import ConfigError
from gan_jax.config.names import ACTIVATIONS
from gan_jax.config.names import COMPUTE_DTYPES
from gan_jax.config.names import CONV_IMPLS
from gan_jax.config.names import CROSS_ENTROPY_LOSSES
from gan_jax.config.names import DATA_SOURCES
from gan_jax.config.names import F_DIVERGENCES
from gan_jax.config.names import FAKE_FRACTION_LOSSES
from gan_jax.config.names import IDX_DATA
from gan_jax.config.names import INT_MAX
from gan_jax.config.names import LOSS_NAMES
from gan_jax.config.names import MODEL_NAMES
from gan_jax.config.names import ON_DIVERGENCE
from gan_jax.config.names import OPTIMIZERS
from gan_jax.config.names import PARALLELISM
from gan_jax.config.names import PRECISION_RECALL_K
from gan_jax.config.names import SCHEDULES
from gan_jax.config.names import STACKED_DATA
from gan_jax.config.names import TOY_DATA
from gan_jax.config.resume import changed_fields
from gan_jax.config.resume import is_resumable_change
from gan_jax.config.resume import RESUMABLE_FIELDS
from gan_jax.config.schema import default_config
from gan_jax.config.schema import from_dict
from gan_jax.config.schema import from_file
from gan_jax.config.schema import set_optimizers
from gan_jax.config.validation import validate

__all__ = [
    "ACTIVATIONS",
    "COMPUTE_DTYPES",
    "CONV_IMPLS",
    "CROSS_ENTROPY_LOSSES",
    "F_DIVERGENCES",
    "FAKE_FRACTION_LOSSES",
    "ConfigError",
    "DATA_SOURCES",
    "IDX_DATA",
    "INT_MAX",
    "LOSS_NAMES",
    "MODEL_NAMES",
    "ON_DIVERGENCE",
    "OPTIMIZERS",
    "PARALLELISM",
    "PRECISION_RECALL_K",
    "RESUMABLE_FIELDS",
    "SCHEDULES",
    "STACKED_DATA",
    "TOY_DATA",
    "changed_fields",
    "default_config",
    "from_dict",
    "from_file",
    "is_resumable_change",
    "set_optimizers",
    "validate",
]
