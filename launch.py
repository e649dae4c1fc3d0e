r"""Trains a GAN from a config file: a thin absl app around gan_jax.train.

  python launch.py --config experiments/configs/ring.py --workdir runs/ring
  python launch.py --config experiments/configs/ring.py --workdir runs/ring2 \
      --config.train.steps=2000 --config.loss.name=saturating

Every config field can be overridden with --config.<field>=<value>. The config
is validated before anything is compiled or loaded: a wrong name or value
stops with a message naming the field and the valid choices. Re-running with
the same --workdir resumes from its latest checkpoint.

A config file that defines sweep(arg=None) can run as a sweep: every variant
in its own sub-workdir of --workdir, then results.csv and results.md there
(see gan_jax/sweep/). --config.<field> overrides apply to every variant; a
variant's own overrides win over them. Re-running resumes the sweep.

  python launch.py --config experiments/configs/gaussian_1d.py --sweep \
      --workdir runs/gaussian_1d_sweep --parallel 2

Multi-process (multi-host): run the same command once per process, with
--coordinator_address (host:port of process 0), --num_processes and this
--process_id; or with --distributed on a cluster JAX detects (SLURM, Open MPI,
Cloud TPU, GKE). Each process loads only its share of an image data set;
process 0 writes the workdir's files (on a file system all processes see).

  python launch.py --config experiments/configs/ring.py --workdir runs/ring \
      --coordinator_address=localhost:12355 --num_processes=2 --process_id=0

Exit status (an error is one line on stderr: launch.py: <kind>: <message>):

  0       done; --help; or the workdir's run had already finished (nothing
          changed: raise --config.train.steps to continue it)
  1       data error (missing or corrupt data files), workdir error (in use,
          not a folder, not writable, disk full, another run's), training
          diverged, a failed sweep variant, or another runtime error
  2       config error: a bad flag, field or value, a config file that cannot
          be loaded, an invalid sweep, launcher flags that cannot work (an
          unknown --launcher, --slurm_* without --launcher=slurm, a
          partition SLURM does not know, no sbatch): stops before any
          training or submission
  128+N   stopped by signal N after saving a checkpoint (143 = SIGTERM,
          130 = SIGINT, 140 = SIGUSR2); the same command resumes
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ml_collections import config_flags

# Imports jax (gan_jax.sweep does) but starts no JAX backend: a config error
# stops before one starts.
from gan_jax import cli
from gan_jax.sweep import cli as sweep_cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (experiments/configs/*.py), "
    "optionally followed by :arg for get_config(arg).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder of the run (created; resumed if it holds "
    "a run of the same config).")
sweep_cli.define_flags()
cli.define_multi_process_flags()
flags.mark_flags_as_required(["config", "workdir"])
# --help lists the flags defined there beside this file's own.
flags.adopt_module_key_flags(sweep_cli)
flags.adopt_module_key_flags(cli)


def main(argv: list[str]) -> None:
  del argv  # cli.parse_flags has rejected positional arguments
  cli.quiet_backend_probe()
  launcher = sweep_cli.launcher()
  config, workdir = _CONFIG.value, _WORKDIR.value
  sweep = sweep_cli.requested()
  if not sweep:
    # Before anything starts a JAX backend: all but the device-count rule.
    # A sweep validates each variant instead.
    cli.validate(config, None, num_processes=(
        launcher.nodes * launcher.tasks_per_node if launcher.is_slurm else
        max(1, flags.FLAGS.num_processes)))
  multi = cli.check_multi_process(sweep=sweep, slurm=launcher.is_slurm)
  cli.check_workdir_path(workdir)
  if sweep:
    sweep_cli.run(config, workdir, launcher)  # starts no JAX backend here
  elif launcher.is_slurm:
    cli.print_done(sweep_cli.submit(config, workdir, launcher), workdir)
  else:
    _train(config, workdir, multi)


def _train(config, workdir: str, multi: bool) -> None:
  """One run in this process (one of several with the multi-process flags)."""
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  num_devices, num_processes = cli.start_jax()
  cli.validate(config, num_devices, num_processes=num_processes)
  cli.log_progress(multi)
  print(f"Outputs will be in {os.path.abspath(workdir)}: {cli.OUTPUTS}",
        flush=True)
  with cli.training_errors():
    summary = train.train_and_evaluate(config, workdir)
  cli.print_done(summary, workdir)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
