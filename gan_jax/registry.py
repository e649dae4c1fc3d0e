"""The registries: every model, game, penalty, evaluator and data set by name.

A component is one file that registers itself under a name, with the config
fields it reads (`gan_jax.fields.Field`: default, check, doc line), the
defaults it wants for fields every component of its kind shares, and its
cross-field rules:

  from gan_jax import fields, registry

  @registry.MODELS.register(
      "residual_mlp",
      fields=dict(residual_width=fields.integer(256, 1, doc="block width")),
      defaults=dict(latent_dim=64))
  def build(model_fields, data_shape, *, slope, common):
    ...  # -> (generator, discriminator)

The registries are the only lists of names: config defaults, validation,
error messages ("choose one of ..."), `--help` and sweep tables read them.
This module imports no JAX; each registry imports the modules of its package
(`gan_jax.models`, ...) the first time its names are asked for, and plug-ins
from outside the package are loaded by path or module name with
`load_plugins` (a config's `plugins` field does this in every process that
builds the config, sweep jobs and resumed runs included). A config sees the
package's components and those of the plug-ins it lists, whatever else a
process has loaded (`Registry.components(plugins)`). What each kind's
registration holds: docs/howto.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from typing import Any, Callable, Iterable, Optional

import ml_collections

from gan_jax import fields as fields_lib
from gan_jax.fields import ConfigError
from gan_jax.fields import Field

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))

# A cross-field rule: rule(config) raises ConfigError naming the field.
Rule = Callable[[ml_collections.ConfigDict], None]


class RegistryError(ConfigError):
  """A component cannot be registered (a name or field declared twice)."""


@dataclasses.dataclass(frozen=True)
class Component:
  """One registered component.

  Attributes:
    name: its name in the config (e.g. config.model.name = 'dcgan').
    target: what was registered: a builder function or a class.
    fields: the config fields it reads, beyond its kind's common ones.
    defaults: defaults of common fields when it is chosen (e.g. DCGAN's
      latent_dim 100).
    rules: cross-field checks run when it is chosen (or, for penalties and
      evaluators, when it is on).
    info: kind-specific facts (a data set's kind, a penalty's inputs, ...).
    source: the file that registered it.
    plugin: the plug-in that registered it (`plugin_key`), None for a
      component of the package.
  """
  name: str
  target: Any
  fields: dict[str, Field]
  defaults: dict[str, Any]
  rules: tuple[Rule, ...]
  info: dict[str, Any]
  source: str
  plugin: Optional[str] = None


def _registering_file() -> str:
  """The file whose code called `register` / `add` (outside this module)."""
  frame = inspect.currentframe()
  while frame is not None and frame.f_code.co_filename == __file__:
    frame = frame.f_back
  return os.path.realpath(frame.f_code.co_filename) if frame else "?"


class Registry:
  """The components of one kind, by name, and the config fields they own."""

  def __init__(self, kind: str, section: str, package: str, *,
               common_fields: Optional[dict[str, Field]] = None,
               required: Optional[Callable[[Component], Optional[str]]] = None
               ):
    """A registry.

    Args:
      kind: what it holds, for messages ('model', 'game', ...).
      section: the config section its fields live in ('model', 'loss', ...).
      package: the package whose modules register the built-in components
        (imported on first use).
      common_fields: fields every component of this kind reads.
      required: what a registration of this kind must hold: returns what is
        wrong with a component (None if nothing), checked at registration.
    """
    self.kind = kind
    self.section = section
    self.package = package
    self.common_fields = dict(common_fields or {})
    self.required = required
    self._components: dict[str, Component] = {}
    self._loaded = False

  # --- Registration.

  def register(self, name: str, *, fields: Optional[dict[str, Field]] = None,
               defaults: Optional[dict[str, Any]] = None,
               rules: Iterable[Rule] = (), **info) -> Callable[[Any], Any]:
    """A decorator registering its target under `name`; returns the target.

    Raises:
      RegistryError: `name` is taken by another file, a field clashes with
        one declared differently by another component or common to the
        kind, or `defaults` names a field that is not common to the kind.
    """

    def decorate(target):
      self.add(name, target, fields=fields, defaults=defaults, rules=rules,
               **info)
      return target

    return decorate

  def add(self, name: str, target: Any, *,
          fields: Optional[dict[str, Field]] = None,
          defaults: Optional[dict[str, Any]] = None,
          rules: Iterable[Rule] = (), **info) -> Component:
    """Registers `target` under `name` (the non-decorator form)."""
    if not isinstance(name, str) or not name.isidentifier():
      raise RegistryError(f"{self.kind} name {name!r} must be an identifier")
    source = _registering_file()
    previous = self._components.get(name)
    if previous is not None and previous.source != source:
      raise RegistryError(
          f"{self.kind} {name!r} is registered twice: by {previous.source} "
          f"and by {source}; rename one")
    fields = dict(fields or {})
    for field_name, field in fields.items():
      self._check_field(name, field_name, field)
    defaults = dict(defaults or {})
    for field_name in defaults:
      if field_name not in self.common_fields:
        raise RegistryError(
            f"{self.kind} {name!r}: defaults names {field_name!r}, which is "
            f"not a field every {self.kind} has "
            f"({fields_lib.choices_text(self.common_fields)}); declare it in "
            f"fields instead")
    # The package's own components are everyone's, also when a plug-in's
    # import is what first imports them.
    plugin = (_loading[-1] if _loading and
              not source.startswith(_PACKAGE_DIR + os.sep) else None)
    component = Component(name, target, fields, defaults, tuple(rules), info,
                          source, plugin)
    problem = self.required(component) if self.required else None
    if problem:
      raise RegistryError(f"{self.kind} {name!r} (registered by {source}): "
                          f"{problem}")
    self._components[name] = component
    return component

  def _check_field(self, name: str, field_name: str, field: Field) -> None:
    if not isinstance(field, Field):
      raise RegistryError(f"{self.kind} {name!r}: field {field_name!r} must "
                          f"be a gan_jax.fields.Field, got {field!r}")
    if field_name in self.common_fields:
      raise RegistryError(
          f"{self.kind} {name!r} declares config.{self.section}.{field_name},"
          f" which every {self.kind} already has; set its default with "
          f"defaults=dict({field_name}=...)")
    for other in self._components.values():
      theirs = other.fields.get(field_name)
      if other.name != name and theirs is not None and not theirs.same_as(
          field):
        raise RegistryError(
            f"{self.kind} {name!r} declares config.{self.section}."
            f"{field_name} differently from {self.kind} {other.name!r} "
            f"(default {field.default!r} vs {theirs.default!r}); give it "
            f"another name")

  def unregister(self, name: str) -> None:
    """Removes `name` (tests use it to clean up what they registered)."""
    self._components.pop(name, None)

  # --- Lookup.

  def load(self) -> None:
    """Imports every module of the package, so that built-ins register."""
    if self._loaded:
      return
    self._loaded = True
    package = importlib.import_module(self.package)
    for module in pkgutil.iter_modules(package.__path__):
      if not module.name.startswith("_"):
        importlib.import_module(f"{self.package}.{module.name}")

  def components(self, plugins: Optional[Iterable[str]] = None
                 ) -> tuple[Component, ...]:
    """The components; with `plugins`, the package's and those plug-ins'.

    A config sees only the package's components and those of the plug-ins
    it lists (`config.plugins`), whatever else this process has loaded: so
    its schema is the same in every process that loads it.
    """
    self.load()
    components = tuple(self._components.values())
    if plugins is None:
      return components
    keys = {plugin_key(p) for p in plugins}
    return tuple(c for c in components if c.plugin is None or c.plugin in keys)

  def names(self, plugins: Optional[Iterable[str]] = None
            ) -> tuple[str, ...]:
    return tuple(c.name for c in self.components(plugins))

  def __contains__(self, name) -> bool:
    return name in self.names()

  def get(self, name: str,
          plugins: Optional[Iterable[str]] = None) -> Component:
    """The component `name`; a ConfigError listing the names if unknown."""
    names = self.names(plugins)
    if name not in names:
      hint = ""
      if name in self.names():
        hint = (f" ({name!r} is registered by the plug-in "
                f"{self._components[name].plugin}, which config.plugins does "
                "not list)")
      raise ConfigError(
          f"config.{self.section}.name = {name!r} is not valid; choose one "
          f"of {fields_lib.choices_text(names)}{hint}")
    return self._components[name]

  def where(self, **info) -> tuple[str, ...]:
    """Names of the components whose info has these values."""
    return tuple(c.name for c in self.components()
                 if all(c.info.get(k) == v for k, v in info.items()))

  # --- The config fields.

  def fields(self, plugins: Optional[Iterable[str]] = None
             ) -> dict[str, Field]:
    """Every field of the section: the common ones, then each component's."""
    every = dict(self.common_fields)
    for component in self.components(plugins):
      for field_name, field in component.fields.items():
        every.setdefault(field_name, field)
    return every

  def defaults(self, name: Optional[str] = None,
               plugins: Optional[Iterable[str]] = None) -> dict[str, Any]:
    """Every field's default, with `name`'s own defaults of common fields."""
    values = {k: f.default for k, f in self.fields(plugins).items()}
    if name is not None:
      values.update(self.get(name, plugins).defaults)
    return values

  def check_fields(self, section, prefix: str,
                   plugins: Optional[Iterable[str]] = None) -> None:
    """Checks every field of the section (those the choice ignores too).

    A bad value should not wait for the day a config switches the name.
    """
    for field_name, field in self.fields(plugins).items():
      if field_name in section:
        field.check(section[field_name], f"{prefix}.{field_name}")


# The common fields of every model: make_models reads them whatever the name.
MODEL_COMMON_FIELDS = dict(
    latent_dim=fields_lib.integer(16, 1, doc="size of z"),
    leaky_relu_slope=fields_lib.real(
        0.2, fields_lib.CLOSED_UNIT, doc="negative slope of LeakyReLU"),
    batch_norm_momentum=fields_lib.real(
        0.9, fields_lib.UNIT,
        doc="BatchNorm running-average decay (0.9 = PyTorch's 0.1)"),
    batch_norm_epsilon=fields_lib.real(1e-5, fields_lib.POSITIVE,
                                       doc="BatchNorm epsilon"),
    compute_dtype=fields_lib.choice(
        "float32", ("float32", "bfloat16"),
        doc="dtype of matrix products and convolutions (mixed precision: "
        "parameters, statistics and outputs stay float32)"),
    # Class conditioning (gan_jax.models.conditioning); the two choices are
    # read only when num_classes > 0.
    num_classes=fields_lib.integer(
        0, 0, doc="classes of a class-conditional G and D (labels int32 in "
        "[0, num_classes)); 0 = unconditional"),
    generator_conditioning=fields_lib.choice(
        "concat", ("concat", "cbn"),
        doc="how G sees the label: 'concat' = one-hot joined to z (Mirza & "
        "Osindero 2014); 'cbn' = conditional BatchNorm, per-class gain and "
        "bias (de Vries et al. 2017; needs a G with BatchNorm)"),
    discriminator_conditioning=fields_lib.choice(
        "projection", ("concat", "projection", "acgan"),
        doc="how D sees the label: 'concat' = one-hot joined to its input; "
        "'projection' = logit + <embed(y), phi(x)> (Miyato & Koyama 2018); "
        "'acgan' = unconditioned D with a class-logits head (Odena et al. "
        "2017)"),
    latent_distribution=fields_lib.choice(
        "normal", ("normal", "uniform"),
        doc="p_z: 'normal' = N(0, I); 'uniform' = U(-1, 1)^latent_dim (the "
        "seed notebooks, Goodfellow et al. 2014's code)"),
    output_activation=fields_lib.choice(
        "tanh", ("tanh", "sigmoid"),
        doc="images: G's last nonlinearity, tanh (pixels in [-1, 1]) or "
        "sigmoid ([0, 1]; Goodfellow et al. 2014, the seed notebooks); it "
        "must match config.data.pixel_range. Toy data: linear"),
)

# The common fields of every data set (the toy ones declare theirs).
DATA_COMMON_FIELDS = dict(
    source=fields_lib.choice(
        "idx", ("idx", "tfds"),
        doc="images: 'idx' (MNIST-format files) or 'tfds'"),
    data_dir=fields_lib.string(
        "", "a folder or file; '' = the default",
        doc="IDX folder ('' = Debian's Fashion-MNIST), TFDS data_dir, "
        "image_folder's folder or arrays' .npz/.npy file or folder"),
    tfds_name=fields_lib.string(
        "", "a TFDS name; '' = config.data.name",
        doc="TFDS builder name if different from the name"),
    tfds_download=fields_lib.boolean(
        True, doc="let TFDS download a missing data set (needs internet)"),
    image_size=fields_lib.integer(
        0, 0, doc="resize images to image_size x image_size (0 = keep)"),
    mirror=fields_lib.boolean(
        False, doc="images: x-flipped copies double the data set (as "
        "StyleGAN's --mirror)"),
    std=fields_lib.real(0.02, fields_lib.POSITIVE,
                        doc="toy data: the standard deviation of each mode"),
    pipeline=fields_lib.choice(
        "auto", ("auto", "device", "host"),
        doc="images: 'device' (the train split on the devices), 'host' "
            "(batches streamed from the host), 'auto' (device if it fits)"),
    pixel_range=fields_lib.choice(
        "[-1,1]", ("[-1,1]", "[0,1]"),
        doc="images: the range pixels are mapped to for G and D, "
        "'[-1,1]' (x/127.5 - 1, for a tanh G) or '[0,1]' (x/255, for a "
        "sigmoid G: config.model.output_activation)"),
)

def _model_needs(model: Component) -> Optional[str]:
  if not callable(model.target):
    return ("register build(model_fields, data_shape, *, slope, common) -> "
            "(generator, discriminator)")
  return None


def _game_needs(game: Component) -> Optional[str]:
  for loss in ("discriminator", "generator"):
    if not callable(game.info.get(loss)):
      return f"{loss}= must be its loss function"
  options = (tuple(game.info.get("discriminator_options", ())) +
             tuple(game.info.get("generator_options", ())))
  undeclared = [o for o in options if o not in game.fields]
  if undeclared:
    return (f"its losses take {', '.join(undeclared)} from config.loss, "
            "which its fields= do not declare")
  return None


# Where a penalty takes D's input gradient: on the real batch, on the fake
# batch, or between the two (one uniform a per example).
PENALTY_INPUTS = ("real", "fake", "interpolated")
# The data an evaluator may apply to (`evaluators.data_kind`).
EVALUATOR_KINDS = ("toy2d", "toy1d", "images", "stacked")


def _penalty_needs(penalty: Component) -> Optional[str]:
  if penalty.info.get("inputs") not in PENALTY_INPUTS:
    return f"inputs= must be one of {fields_lib.choices_text(PENALTY_INPUTS)}"
  if penalty.info.get("weight_field") not in penalty.fields:
    return "weight_field= must name one of its fields= (its weight)"
  if not callable(penalty.info.get("weight")) or not callable(penalty.target):
    return "its term and weight= must be functions"
  return None


def _evaluator_needs(evaluator: Component) -> Optional[str]:
  if not isinstance(evaluator.target, type):
    return "register a class (gan_jax.evaluation.evaluators.Evaluator)"
  if not set(evaluator.info.get("kinds", ())) <= set(EVALUATOR_KINDS):
    return f"kinds= must be among {fields_lib.choices_text(EVALUATOR_KINDS)}"
  return None


def _data_set_needs(data_set: Component) -> Optional[str]:
  if data_set.info.get("kind") not in ("toy", "images"):
    return "kind= must be 'toy' or 'images'"
  if data_set.info["kind"] == "toy" and data_set.info.get("dims") not in (1,
                                                                         2):
    return "a toy data set needs dims= 1 or 2"
  return None


MODELS = Registry("model", "model", "gan_jax.models",
                  common_fields=MODEL_COMMON_FIELDS, required=_model_needs)
GAMES = Registry("game", "loss", "gan_jax.games", required=_game_needs)
PENALTIES = Registry("penalty", "loss", "gan_jax.games",
                     required=_penalty_needs)
EVALUATORS = Registry("evaluator", "eval", "gan_jax.evaluation",
                      required=_evaluator_needs)
DATASETS = Registry("data set", "data", "gan_jax.data",
                    common_fields=DATA_COMMON_FIELDS, required=_data_set_needs)

ALL = (MODELS, GAMES, PENALTIES, EVALUATORS, DATASETS)

_loaded_plugins: dict[str, str] = {}
# The plug-in being imported (a stack: a plug-in may load another).
_loading: list[str] = []


# The plug-ins of the config being built (`building_with`): the default of
# default_config() and the sections' defaults while a config file runs.
_building: tuple[str, ...] = ()


def current_plugins() -> tuple[str, ...]:
  """The plug-ins a config built now gets when none are given: those of
  `building_with` while inside it, else none (the package's components)."""
  return _building


@contextlib.contextmanager
def building_with(plugins: Iterable[str]):
  """Loads `plugins`; configs built inside (a config file run by launch.py
  with --plugins) get their fields and list them in config.plugins."""
  global _building
  plugins = tuple(plugins)
  load_plugins(plugins)
  previous, _building = _building, tuple(dict.fromkeys(_building + plugins))
  try:
    yield
  finally:
    _building = previous


def plugin_key(plugin: str) -> str:
  """How a plug-in is known: a file by its real path, a module by its name."""
  return os.path.realpath(plugin) if plugin.endswith(".py") else plugin


def load_plugins(plugins: Iterable[str]) -> None:
  """Imports plug-in files (`path/to/file.py`) or modules (`pkg.module`).

  Each registers its components as it is imported. A plug-in already loaded
  (the same real path or module name) is not imported again.

  Raises:
    ConfigError: a file or module that cannot be found or imported, naming
      it and `config.plugins`.
  """
  for plugin in plugins:
    if not isinstance(plugin, str) or not plugin:
      raise ConfigError(f"config.plugins holds {plugin!r}; each entry must be "
                        "a .py file path or a module name")
    is_file = plugin.endswith(".py")
    key = plugin_key(plugin)
    if key in _loaded_plugins:
      continue
    _loading.append(key)
    try:
      if is_file:
        _load_file(plugin, key)
      else:
        importlib.import_module(plugin)
    except ConfigError as e:
      raise ConfigError(f"config.plugins: {plugin}: {e}") from None
    except ModuleNotFoundError as e:
      raise ConfigError(f"config.plugins: cannot import {plugin!r} ({e}); "
                        "give a .py file path or an importable module "
                        "name") from None
    except Exception as e:  # pylint: disable=broad-except
      raise ConfigError(f"config.plugins: {plugin} failed to load: "
                        f"{type(e).__name__}: {e}") from None
    finally:
      _loading.pop()
    _loaded_plugins[key] = plugin


def _load_file(path: str, real_path: str) -> None:
  if not os.path.isfile(path):
    raise ConfigError(f"{path} is not a file")
  stem = os.path.splitext(os.path.basename(real_path))[0]
  name = "gan_jax_plugin_" + "".join(
      c if c.isalnum() else "_" for c in real_path.replace(os.sep, "_"))
  spec = importlib.util.spec_from_file_location(name, real_path)
  module = importlib.util.module_from_spec(spec)
  module.__plugin_name__ = stem
  sys.modules[name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[name]
    raise
