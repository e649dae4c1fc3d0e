"""The README runs as written, its commands and numbers hold, its links resolve.

The README is the landing page (at most 300 lines); the documentation is the
MkDocs site under docs/, whose strict build (.ci/run) checks the site's own
links. These tests check what the build does not see: the README itself.
"""

import pathlib
import re
import unicodedata

import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 300


def _python_blocks():
  return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _marked_command(marker):
  match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```",
                    README.read_text())
  return match.group(1) if match else None


def _links():
  """Relative link targets of the README, outside code blocks: (path, anchor)."""
  text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
  links = []
  for target in re.findall(r"\]\(([^)\s]+)\)", text):
    if re.match(r"[a-z]+://", target):
      continue
    path, _, anchor = target.partition("#")
    links.append((path, anchor))
  return links


def _slug(heading):
  """Python-Markdown's `toc` slug of a heading (what mkdocs links to)."""
  text = re.sub(r"[`*]", "", heading)
  text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
  text = re.sub(r"[^\w\s-]", "", text).strip().lower()
  return re.sub(r"[-\s]+", "-", text)


def _anchors(path):
  text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
  return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_readme_is_a_landing_page():
  """At most 300 lines: the rest of the lab notebook lives in docs/."""
  num_lines = len(README.read_text().splitlines())
  assert num_lines <= MAX_README_LINES, (
      f"README.md has {num_lines} lines; move details to a page under docs/")


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
  command = _marked_command(marker)
  assert command, f"README.md lacks the {marker} command block"
  assert "pip install" in command


def test_readme_result_line_is_the_main_commands():
  """The quoted final line of the main command is for the steps it runs."""
  steps = re.search(r"--config\.train\.steps=(\d+)",
                    _marked_command("ci:run")).group(1)
  text = " ".join(README.read_text().split())
  assert re.search(rf"`Done at step {steps}: modes \d+, high_quality_pct [\d.]+, "
                   rf"reverse_kl [\d.]+, num_modes \d+`", text), (
                       "README.md does not quote the main command's result line")
  assert f"already finished at step {steps}" in text


def test_readme_links_resolve():
  """Every relative link points at a file, and every #anchor at a heading."""
  links = _links()
  assert any(path.startswith("docs/") for path, _ in links)
  for path, anchor in links:
    target = ROOT / path if path else README
    assert target.exists(), f"README.md links to missing {path}"
    if anchor and target.suffix == ".md":
      assert anchor in _anchors(target), (
          f"README.md links to {path}#{anchor}, which has no such heading")


def _summary_rows():
  """The results summary table: (measured, comparison, linked page) per row."""
  section = README.read_text().split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
  rows = []
  for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 4 or cells[0] in ("experiment", "---"):
      continue
    page = re.search(r"\]\(([^)#]+)", cells[3]).group(1)
    rows.append((cells[1], cells[2], ROOT / page))
  return rows


def test_readme_summary_numbers_are_the_measured_ones():
  """Each number in the results summary appears on the page it links to.

  The pages under docs/ hold the measurements with their commands; the
  README's summary must not drift from them.
  """
  rows = _summary_rows()
  assert len(rows) >= 5
  for measured, comparison, page in rows:
    page_text = page.read_text()
    # A mean with its standard error is one token, so both must match.
    for number in re.findall(r"\d+\.\d+ ± \d+\.\d+|\d+\.\d+x?",
                             measured + " " + comparison):
      assert re.search(rf"(?<![\d.]){re.escape(number)}(?!\d)", page_text), (
          f"README.md's summary quotes {number}, which {page.name} lacks")
