"""The shipped configs' `sweep(arg)` functions, shared between config files.

The mode-collapse table on the ring and grid toys (experiments/figures/
mode_collapse_table.py): generator loss x k D steps x pi = fake fraction.
One definition, so that both data sets sweep the same rows.
"""

from __future__ import annotations

from typing import Any, Optional

from gan_jax.sweep import variants as variants_lib

SEED_FIELD = variants_lib.SEED_FIELD

# The generator losses every comparison sweep pits against each other.
GENERATOR_LOSSES = ("saturating", "non_saturating")
MODE_COLLAPSE_LOSSES = GENERATOR_LOSSES
MODE_COLLAPSE_DISCRIMINATOR_STEPS = (1, 2)
MODE_COLLAPSE_FAKE_FRACTIONS = (0.5, 0.25)
MODE_COLLAPSE_SEEDS = 10


def mode_collapse_sweep(arg: Optional[str] = None) -> list[dict[str, Any]]:
  """The toy configs' `sweep(arg)`: their seeds, or the mode-collapse table.

  Args:
    arg: None, "" or "seeds": the shipped config over MODE_COLLAPSE_SEEDS
      seeds (a table's headline row); "table": every loss x k x pi, each over
      those seeds (Srivastava et al. 2017 and Lin et al. 2018 report 10 seeds
      per row); "table<N>" (e.g. "table2"): the table over the first N
      seeds; "quick": both losses over 2 seeds, a stand-in for tests.

  Returns:
    The variants' overrides.

  Raises:
    ValueError: any other `arg`.
  """
  seeds = range(MODE_COLLAPSE_SEEDS)
  if arg in (None, "", "seeds"):
    return [{SEED_FIELD: seed} for seed in seeds]
  if arg and arg.startswith("table") and arg[5:].isdigit() and int(arg[5:]):
    # "table2": the table over the first 2 seeds only, where 10 are too many.
    seeds = range(int(arg[5:]))
    arg = "table"
  if arg == "table":
    return [{"loss.name": loss, "train.discriminator_steps": k,
             "loss.fake_fraction": pi, SEED_FIELD: seed}
            for loss in MODE_COLLAPSE_LOSSES
            for k in MODE_COLLAPSE_DISCRIMINATOR_STEPS
            for pi in MODE_COLLAPSE_FAKE_FRACTIONS for seed in seeds]
  if arg == "quick":
    return [{"loss.name": loss, SEED_FIELD: seed}
            for loss in MODE_COLLAPSE_LOSSES for seed in range(2)]
  raise ValueError(f"sweep arg must be 'seeds', 'table', 'table<N>' (N "
                   f"seeds, e.g. 'table2') or 'quick', got "
                   f"{arg!r}")


def loss_comparison_sweep(arg: Optional[str] = None
                          ) -> list[dict[str, Any]]:
  """The image configs' `sweep(arg)`: each generator loss, all else equal.

  Args:
    arg: None, "" or "losses": one variant per entry of GENERATOR_LOSSES
      (the minimax cost log(1 - D(G(z))) and the "log D trick" -log D(G(z))),
      which experiments/figures/fashion_mnist_curves.py plots over training.

  Returns:
    The variants' overrides.

  Raises:
    ValueError: any other `arg`.
  """
  if arg in (None, "", "losses"):
    return [{"loss.name": loss} for loss in GENERATOR_LOSSES]
  raise ValueError(f"sweep arg must be 'losses', got {arg!r}")
