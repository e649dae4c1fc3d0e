"""Which config fields may change when a run is resumed."""

from __future__ import annotations

from typing import Any, Optional

import ml_collections

# Fields that may change when a run is resumed: they change how the run is
# driven or reported, not what any one step computes. A component's fields
# say so themselves (`Field.resumable`, e.g. DCGAN's model.conv_impl).
RESUMABLE_FIELDS = (
    "train.steps",
    "train.steps_per_call",
    "train.max_call_seconds",
    "train.log_every",
    "train.checkpoint_every",
    "train.sample_every",
    "train.on_divergence",
    "train.divergence_lr_factor",
    "train.max_divergence_restores",
    "parallelism",
    "plugins",
    "eval",
)

# Fields added to the schema after runs were saved, with the value that a run
# saved without them had: such a run's config compares equal to one holding
# that value (from_dict fills the default in; this covers the raw saved JSON,
# which a sweep compares).
ADDED_FIELDS = {
    "model.compute_dtype": "float32",
    "model.conv_impl": "auto",
    "plugins": (),
    "eval.metrics": (),
    # The images data sets' fields (image_folder, arrays; mirror for all).
    "data.mirror": False,
    "data.center_crop": True,
    "data.resize_filter": "lanczos",
    "data.channels": 0,
    "data.allow_upscale": False,
    "data.skip_bad_images": False,
    "data.cache_dir": "",
    "data.pipeline": "auto",
}
_ABSENT = object()


def _added_default(name: str) -> Any:
  """The value a config saved before field `name` existed behaved as.

  ADDED_FIELDS' entry, else the field's default in today's schema (fields
  added since, such as the conditional models' and the data sources', are
  off at their defaults); _ABSENT for a name the schema does not have.
  """
  if name in ADDED_FIELDS:
    return ADDED_FIELDS[name]
  from gan_jax.config.schema import default_config  # pylint: disable=g-import-not-at-top
  value = default_config(()).to_dict()
  for part in name.split("."):
    if not isinstance(value, dict) or part not in value:
      return _ABSENT
    value = value[part]
  return value


def changed_fields(old: Any, new: Any, path: str = "") -> list[str]:
  """Dotted names of the leaves whose values differ between two configs.

  Both may be ConfigDicts or plain dicts (e.g. one read back from JSON);
  tuples and lists compare equal element-wise. A field of `ADDED_FIELDS`
  absent from one side and at its old value on the other is no change.
  """
  if isinstance(old, ml_collections.ConfigDict):
    old = old.to_dict()
  if isinstance(new, ml_collections.ConfigDict):
    new = new.to_dict()
  if isinstance(old, dict) and isinstance(new, dict):
    changed = []
    for key in sorted(set(old) | set(new)):
      name = f"{path}.{key}" if path else key
      if key not in old or key not in new:
        present = old.get(key, new.get(key, _ABSENT))
        if changed_fields(_added_default(name), present, name):
          changed.append(name)
      else:
        changed.extend(changed_fields(old[key], new[key], name))
    return changed
  if isinstance(old, (tuple, list)) and isinstance(new, (tuple, list)):
    return [] if list(old) == list(new) else [path]
  return [] if old == new else [path]


def is_resumable_change(field: str,
                        config: Optional[ml_collections.ConfigDict] = None
                        ) -> bool:
  """Whether `field` may differ between a saved run and its resumption.

  train.steps may not when `config` decays a learning rate over train.steps
  (a schedule with decay_steps = 0).
  """
  if field == "train.steps" and config is not None:
    for player in ("generator", "discriminator"):
      optimizer = config.optimizer[player]
      if optimizer.schedule != "constant" and not optimizer.decay_steps:
        return False
  if any(field == f or field.startswith(f + ".") for f in RESUMABLE_FIELDS):
    return True
  return field in component_resumable_fields()


def component_resumable_fields() -> tuple[str, ...]:
  """The dotted fields the registered components declare resumable."""
  # Imported here: reading the registries imports their packages (JAX).
  from gan_jax import registry  # pylint: disable=g-import-not-at-top
  return tuple(f"{reg.section}.{name}" for reg in registry.ALL
               for name, field in reg.fields().items() if field.resumable)
