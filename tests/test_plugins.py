"""The plug-in examples: each one file outside gan_jax, registered and trained.

examples/plugins/ adds a model, a game, a D penalty, a metric and a data set
without touching gan_jax/; each is loaded through `config.plugins`, trained
for a few steps by the real engine, and checked for its effect. The registry's
errors (a name registered twice, a field declared two ways, an unknown name,
a field read but not declared) are one line naming the component.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import registry
from gan_jax import train

from helpers import ROOT

FAST_COMPILE = {"xla_backend_optimization_level": 0}
PLUGIN_DIR = os.path.join(ROOT, "examples", "plugins")


def _path(name):
  return os.path.join(PLUGIN_DIR, name + ".py")


def _metrics(workdir):
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    return [json.loads(line) for line in f]


def _check_residual_mlp(summary, workdir):
  with open(os.path.join(workdir, train.CONFIG_FILE)) as f:
    saved = json.load(f)
  assert saved["model"]["name"] == "residual_mlp"
  assert saved["model"]["residual_blocks"] == 3
  assert saved["plugins"] == [_path("residual_mlp")]


def _check_relativistic_average(summary, workdir):
  del summary
  first = _metrics(workdir)[0]
  # D's loss is measured before its first update, when its outputs are near
  # 0 for reals and fakes alike: two softplus(0) terms, 2 log 2.
  assert abs(first["d_loss"] - 2 * np.log(2)) < 0.1


def test_relativistic_average_losses_match_the_paper():
  """RaGAN's L_D and L_G (Eq. 6-7) against a direct NumPy computation."""
  registry.load_plugins([_path("relativistic_average")])
  game = registry.GAMES.get("relativistic_average").info
  rng = np.random.default_rng(0)
  real, fake = rng.normal(1.0, 2.0, 7), rng.normal(-1.0, 1.5, 7)
  sigmoid = lambda t: 1 / (1 + np.exp(-t))
  d_loss = (-np.mean(np.log(sigmoid(real - fake.mean())))
            - np.mean(np.log(1 - sigmoid(fake - real.mean()))))
  g_loss = (-np.mean(np.log(sigmoid(fake - real.mean())))
            - np.mean(np.log(1 - sigmoid(real - fake.mean()))))
  np.testing.assert_allclose(game["discriminator"](real, fake), d_loss,
                             rtol=1e-5)
  np.testing.assert_allclose(game["generator"](real, fake), g_loss,
                             rtol=1e-5)


def _check_zero_centered_gp(summary, workdir):
  del summary
  for record in _metrics(workdir):
    assert record["zero_centered_gp"] > 0


def _check_sliced_wasserstein(summary, workdir):
  del workdir
  results = summary["evaluation"]
  assert {"modes", "sliced_wasserstein", "real_sliced_wasserstein"} <= set(
      results)
  # A G of a few steps is far from the ring; two draws of it are close.
  assert results["real_sliced_wasserstein"] < 0.2
  assert results["sliced_wasserstein"] > results["real_sliced_wasserstein"]


def _check_spiral(summary, workdir):
  del workdir
  assert summary["evaluation"]["num_modes"] == 10


# plug-in -> (its config overrides, the check of its run)
PLUGINS = {
    "residual_mlp": ({"model.name": "residual_mlp",
                      "model.residual_width": 16,
                      "model.residual_blocks": 3}, _check_residual_mlp),
    "relativistic_average": ({"loss.name": "relativistic_average"},
                             _check_relativistic_average),
    "zero_centered_gp": ({"loss.gp0_weight": 10.0}, _check_zero_centered_gp),
    "sliced_wasserstein": ({"eval.metrics": ("modes", "sliced_wasserstein")},
                           _check_sliced_wasserstein),
    "spiral": ({"data.name": "spiral"}, _check_spiral),
}


def _tiny(config):
  config.model.generator_widths = (16,)
  config.model.discriminator_widths = (16,)
  config.model.latent_dim = 4
  config.train.batch_size = 16
  config.train.steps = 5
  config.train.log_every = 1
  config.train.checkpoint_every = 0
  config.train.sample_every = 0
  config.eval.num_samples = 200
  return config


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_registers_and_trains(name, tmp_path):
  overrides, check = PLUGINS[name]
  config = _tiny(config_lib.default_config(plugins=(_path(name),)))
  for field, value in overrides.items():
    section, key = field.split(".")
    config[section][key] = value
  workdir = str(tmp_path / name)
  summary = train.train_and_evaluate(config, workdir,
                                     compiler_options=FAST_COMPILE)
  assert summary["step"] == 5
  for record in _metrics(workdir):
    assert all(np.isfinite(v) for k, v in record.items() if k != "step")
  check(summary, workdir)
  # The saved config names the plug-in, so a resumed run loads it again.
  restored = config_lib.from_dict(json.load(open(
      os.path.join(workdir, train.CONFIG_FILE))))
  assert restored.plugins == (_path(name),)


def test_examples_are_outside_the_package_and_unknown_until_loaded():
  """No file under gan_jax/ names an example; a fresh process lacks them."""
  code = ("from gan_jax import registry\n"
          "print(sorted(set(registry.MODELS.names()) | "
          "set(registry.GAMES.names()) | set(registry.PENALTIES.names()) | "
          "set(registry.EVALUATORS.names()) | set(registry.DATASETS.names())))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, cwd=ROOT, timeout=120)
  for name in PLUGINS:
    assert f"'{name}'" not in out.stdout
  for folder, _, files in os.walk(os.path.join(ROOT, "gan_jax")):
    for file in files:
      if file.endswith(".py"):
        with open(os.path.join(folder, file)) as f:
          assert "examples/plugins" not in f.read(), file


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_examples_import_no_private_name(name):
  with open(_path(name)) as f:
    for line in f:
      if line.startswith(("import ", "from ")) and "__future__" not in line:
        assert " _" not in line and "._" not in line, line


def test_a_name_registered_twice_from_another_file_fails(tmp_path):
  plugin = tmp_path / "clash.py"
  plugin.write_text("from gan_jax import registry\n"
                    "registry.MODELS.add('mlp', print)\n")
  registry.MODELS.load()
  with pytest.raises(config_lib.ConfigError,
                     match=r"clash\.py.*model 'mlp' is registered twice"):
    registry.load_plugins([str(plugin)])


def test_a_field_declared_two_ways_fails(tmp_path):
  plugin = tmp_path / "widths.py"
  plugin.write_text(
      "from gan_jax import fields, registry\n"
      "registry.MODELS.add('wide_mlp', print, fields=dict(\n"
      "    generator_widths=fields.widths((512,))))\n")
  with pytest.raises(config_lib.ConfigError,
                     match=r"model 'wide_mlp' declares config\.model\."
                     r"generator_widths differently from model 'mlp'"):
    registry.load_plugins([str(plugin)])
  assert "wide_mlp" not in registry.MODELS.names()


def test_a_plugin_file_that_is_missing_is_named():
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.plugins: .*no_such\.py is not a file"):
    config_lib.default_config(plugins=("no_such.py",))


@pytest.mark.parametrize("section,kind", [("model", "mlp"),
                                          ("loss", "non_saturating")])
def test_an_unknown_name_lists_the_registered_ones(section, kind):
  config = config_lib.default_config()
  config[section].name = "no_such_thing"
  with pytest.raises(config_lib.ConfigError,
                     match=rf"config\.{section}\.name = 'no_such_thing' is "
                     rf"not valid; choose one of .*'{kind}'"):
    config_lib.validate(config)


def test_a_field_read_but_not_declared_fails_at_validation(tmp_path):
  plugin = tmp_path / "sloppy.py"
  plugin.write_text(
      "from gan_jax import registry\n"
      "def build(model_fields, data_shape, *, slope, common):\n"
      "  model_fields.get('sloppy_width')\n"
      "registry.MODELS.add('sloppy', build)\n")
  config = config_lib.default_config(plugins=(str(plugin),))
  config.model.name = "sloppy"
  try:
    with pytest.raises(config_lib.ConfigError,
                       match=r"config\.model\.sloppy_width is read by model "
                       r"'sloppy' but no model declares it"):
      config_lib.validate(config)
  finally:
    registry.MODELS.unregister("sloppy")


def test_a_config_sees_only_the_plugins_it_lists():
  """What else this process loaded stays out of a config's schema."""
  registry.load_plugins([_path("spiral")])
  assert "spiral" in registry.DATASETS.names()
  plain = config_lib.default_config()
  assert "spiral_modes" not in plain.data
  plain.data.name = "spiral"
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.data\.name = 'spiral' is not valid; "
                     r"choose one of .*registered by the plug-in .*spiral\.py"
                     r", which config\.plugins does not list"):
    config_lib.validate(plain)
  with_plugin = config_lib.default_config(plugins=(_path("spiral"),))
  assert with_plugin.data.spiral_modes == 10


@pytest.mark.parametrize("registration,problem", [
    ("registry.GAMES.add('half_game', print, discriminator=print, "
     "generator=print, discriminator_options=('temperature',))",
     r"game 'half_game' .*: its losses take temperature from config\.loss, "
     r"which its fields= do not declare"),
    ("registry.PENALTIES.add('no_weight', print, inputs='real', weight=float,"
     " weight_field='gamma_x')",
     r"penalty 'no_weight' .*: weight_field= must name one of its fields="),
    ("registry.EVALUATORS.add('fn_metric', print, kinds=('toy2d',))",
     r"evaluator 'fn_metric' .*: register a class"),
    ("registry.DATASETS.add('cube', print, kind='toy', dims=3)",
     r"data set 'cube' .*: a toy data set needs dims= 1 or 2"),
])
def test_an_incomplete_registration_fails_at_once(tmp_path, registration,
                                                  problem):
  plugin = tmp_path / "incomplete.py"
  plugin.write_text(f"from gan_jax import registry\n{registration}\n")
  with pytest.raises(config_lib.ConfigError, match=problem):
    registry.load_plugins([str(plugin)])
