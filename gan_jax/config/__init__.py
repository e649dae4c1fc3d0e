"""The experiment config schema: defaults, and validation before any compute.

Every experiment is an `ml_collections.ConfigDict` built from `default_config()`
and changed by a config file (`experiments/configs/*.py`) and command-line
overrides (`--config.train.steps=2000`). `validate(config, num_devices)` runs
before anything is compiled or loaded and raises `ConfigError` whose message
names the dotted field (`config.loss.name`) and the valid choices or range;
`validate(config)` (num_devices=None) checks all but the device count, before
JAX knows its devices. Importing this module does not import jax.

The sections of the registered components (data, model, loss, eval) come
from `gan_jax.registry`: each component declares its own fields, defaults
and checks in its own file. Modules: `schema` (default_config,
set_optimizers, from_file, from_dict, migrate), `checks` (the check-table
machinery), `rules` (the tables), `validation` (validate) and `resume`
(which fields may change when a run is resumed). Every public name is
importable from `gan_jax.config`.
"""

from gan_jax.config.resume import changed_fields
from gan_jax.config.resume import component_resumable_fields
from gan_jax.config.resume import is_resumable_change
from gan_jax.config.resume import RESUMABLE_FIELDS
from gan_jax.config.rules import ON_DIVERGENCE
from gan_jax.config.rules import OPTIMIZERS
from gan_jax.config.rules import PARALLELISM
from gan_jax.config.rules import SCHEDULES
from gan_jax.config.schema import default_config
from gan_jax.config.schema import from_dict
from gan_jax.config.schema import from_file
from gan_jax.config.schema import migrate
from gan_jax.config.schema import set_optimizers
from gan_jax.config.schema import switch_component_defaults
from gan_jax.config.validation import validate
from gan_jax.fields import ConfigError
from gan_jax.fields import INT_MAX

__all__ = [
    "ConfigError",
    "INT_MAX",
    "ON_DIVERGENCE",
    "OPTIMIZERS",
    "PARALLELISM",
    "RESUMABLE_FIELDS",
    "SCHEDULES",
    "changed_fields",
    "component_resumable_fields",
    "default_config",
    "from_dict",
    "from_file",
    "is_resumable_change",
    "migrate",
    "set_optimizers",
    "switch_component_defaults",
    "validate",
]
