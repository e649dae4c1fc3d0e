"""The shipped configs' games and `sweep(arg)` functions, shared between them.

The mode-collapse table on the ring and grid toys (experiments/figures/
mode_collapse_table.py): generator loss x k D steps x pi = fake fraction.
One definition, so that both data sets sweep the same rows.

Experiment choices, not library code: the config files in experiments/configs/
import this module (`from experiments import presets`), after putting the
repository's root on sys.path, since they are loaded by path.
"""

from __future__ import annotations

from typing import Any, Optional

from gan_jax import sweep as sweep_lib

SEED_FIELD = sweep_lib.SEED_FIELD

# The generator losses every comparison sweep pits against each other.
GENERATOR_LOSSES = ("saturating", "non_saturating")
MODE_COLLAPSE_LOSSES = GENERATOR_LOSSES
MODE_COLLAPSE_DISCRIMINATOR_STEPS = (1, 2)
MODE_COLLAPSE_FAKE_FRACTIONS = (0.5, 0.25)
MODE_COLLAPSE_SEEDS = 10


# The games compared on the toys, as overrides of the shipped
# non-saturating + R1 config (`ring.py:<name>` / `grid.py:<name>` runs one;
# the "objectives" sweep runs each over MODE_COLLAPSE_SEEDS seeds).
TOY_OBJECTIVES = {
    # Goodfellow et al. 2014's log-D trick with R1 (Mescheder et al. 2018).
    "ns_r1": {},
    # Goodfellow et al. 2014's minimax G loss, log(1 - D(G(z))), all else
    # equal: the "saturating" loss whose gradient vanishes where D wins.
    "saturating": {"loss.name": "saturating"},
    # R3GAN's recipe (Huang et al. 2024): RpGAN + R1 + R2 with one gamma,
    # small, so that D stays sharp around the toys' narrow modes.
    "rpgan": {"loss.name": "relativistic", "loss.r1_gamma": 0.01,
              "loss.r2_gamma": 0.01},
    # WGAN-GP (Gulrajani et al. 2017) as in their toy code (gan_toy.py):
    # lambda = 0.1 ("smaller lambda seems to help for toy tasks"), 5 critic
    # steps per G step, Adam b2 = 0.9 (not their image setting, lambda = 10,
    # lr 1e-4).
    "wgan_gp": {"loss.name": "wasserstein", "loss.r1_gamma": 0.0,
                "loss.gp_weight": 0.1, "train.discriminator_steps": 5,
                "optimizer.generator.b2": 0.9,
                "optimizer.discriminator.b2": 0.9},
}


def toy_objective(config, arg: Optional[str]):
  """`config` with the overrides of TOY_OBJECTIVES[arg] (others: unchanged)."""
  if arg in TOY_OBJECTIVES:
    config.update_from_flattened_dict(TOY_OBJECTIVES[arg])
  return config


def mode_collapse_sweep(arg: Optional[str] = None) -> list[dict[str, Any]]:
  """The toy configs' `sweep(arg)`: their seeds, or the mode-collapse table.

  Args:
    arg: None, "" or "seeds": the shipped config over MODE_COLLAPSE_SEEDS
      seeds (a table's headline row); a name of TOY_OBJECTIVES: that game's
      config (see `toy_objective`) over those seeds; "objectives": every
      game of TOY_OBJECTIVES over them; "table": every loss x k x pi, each over
      those seeds (Srivastava et al. 2017 and Lin et al. 2018 report 10 seeds
      per row); "table<N>" (e.g. "table2"): the table over the first N
      seeds; "quick": both losses over 2 seeds, a stand-in for tests.

  Returns:
    The variants' overrides.

  Raises:
    ValueError: any other `arg`.
  """
  seeds = range(MODE_COLLAPSE_SEEDS)
  if arg in (None, "", "seeds") or arg in TOY_OBJECTIVES:
    return [{SEED_FIELD: seed} for seed in seeds]
  if arg == "objectives":
    return [{**TOY_OBJECTIVES[name], SEED_FIELD: seed}
            for name in TOY_OBJECTIVES for seed in seeds]
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
  raise ValueError(f"sweep arg must be 'seeds', 'objectives', one of "
                   f"{', '.join(TOY_OBJECTIVES)}, 'table', 'table<N>' (N "
                   f"seeds, e.g. 'table2') or 'quick', got {arg!r}")


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
