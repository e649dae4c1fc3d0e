"""The reusable math modules import jax and nothing heavy, in a fresh interpreter."""

import ast
import subprocess
import sys

import pytest

HEAVY_MODULES = ("flax", "optax", "tensorflow", "tensorflow_datasets", "chex",
                 "orbax", "ml_collections")


@pytest.mark.parametrize(
    "module", ["gan_jax.losses", "gan_jax.divergences", "gan_jax.distributions"])
def test_import_pulls_in_no_heavy_dependency(module):
  """A fresh `import <module>` loads no flax/optax/tensorflow/tfds nor other project modules.

  A package (`gan_jax.losses`) may load its own submodules, nothing else of
  gan_jax.
  """
  code = (f"import sys, {module}\n"
          f"heavy = {HEAVY_MODULES!r}\n"
          "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
          "print(sorted(m for m in sys.modules if m.startswith('gan_jax.')))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, timeout=120)
  heavy, project = out.stdout.strip().splitlines()[-2:]
  assert heavy == "[]"
  project = ast.literal_eval(project)
  assert module in project
  others = [m for m in project
            if m != module and not m.startswith(module + ".")]
  assert others == []
