"""The README's code runs as written, and its CI markers point at real commands."""

import pathlib
import re

import jax.numpy as jnp
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
  return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_loss_example_trains_one_step():
  """The `gan_jax.losses` usage example executes and returns finite losses."""
  blocks = _python_blocks()
  assert blocks, "README.md has no python example"
  namespace = {}
  exec(compile(blocks[0], str(README), "exec"), namespace)  # pylint: disable=exec-used
  assert jnp.isfinite(namespace["d_loss"]) and jnp.isfinite(namespace["g_loss"])
  # One step of non-saturating training: D's loss starts near 2 log 2 = 1.386
  # for an untrained D; a wrong sign or formula lands far from it.
  assert 0.5 < float(namespace["d_loss"]) < 5.0


@pytest.mark.parametrize("marker", ["ci:run", "ci:test"])
def test_readme_has_marked_command(marker):
  """Each of the two set-up commands is a bash block after its CI marker."""
  text = README.read_text()
  match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```", text)
  assert match, f"README.md lacks the {marker} command block"
  assert "pip install" in match.group(1)
