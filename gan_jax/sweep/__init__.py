r"""Sweeps: runs of one config file, each in its own sub-workdir; one table.

  python launch.py --config experiments/configs/gaussian_1d.py --sweep \
      --workdir runs/gaussian_1d_sweep [--parallel 2 | --launcher=slurm]

Writing a sweep. A config file may define, beside `get_config(arg=None)`, a
function `sweep(arg=None)` that returns (or yields) dicts of overrides: dotted
config fields (as after `--config.`) to values. Seeds are just another axis:

  def sweep(arg=None):
    del arg
    for loss in ("saturating", "non_saturating"):
      for seed in range(5):
        yield {"loss.name": loss, "seed": seed}

`--config path.py:arg` passes `arg` to both `get_config(arg)` and
`sweep(arg)`. Each variant's config is `get_config(arg)`, then the command
line's `--config.<field>=<value>` overrides (shared by every variant), then
the variant's own overrides, which win. Overrides name leaf fields only
(`data.name`, not `data`); values are str, int, float, bool, None, or tuples
of them.

Before anything runs, every variant is checked: each key must name a config
field, each config must pass `gan_jax.config.validate`, and no two variants
may be the same; a `SweepError` names the variant and the field.

On disk, `<sweep_dir>/` holds

  sweep.json            the variants (name, overrides, train.steps)
  <name>/               one run's workdir (see `gan_jax.train`), plus
    variant.json        the variant's overrides and full config
    job.json            who runs it: the launch, then the job's id and logs
    failed.json         after a failed attempt: the error, the job's log
  .submitit/<job id>/   submitit's pickles and each job's stdout / stderr
  results.csv           one row per group of variants differing only in seed
  results.md            the headline numbers: mean ± s.e. over seeds

A variant's name is its overrides, sorted by key, as `key=value` joined by
commas (`loss.name=saturating,seed=3`), `default` for no overrides; a name
that had to be cut short or have characters replaced ends in an 8-digit hash
of the overrides, so names stay distinct.

Each variant runs as a submitit job (`--launcher=local`: a process on this
machine, `--parallel` at a time; `--launcher=slurm`: one SLURM job array), so
a crash or out-of-memory kill ends that variant only. Rerunning a sweep skips
finished variants without touching their files, resumes unfinished ones from
their checkpoints, and retries failed ones. Two launches on one sweep
directory share the work: a launch claims a variant under a short lock, and
a claim counts while its launch or job lives (see `runner`).

Figure scripts read the table with `aggregate(sweep_dir)` (computed from the
runs) or `load_results(sweep_dir)` (parsed back from results.csv), and the
individual runs with `load_runs(sweep_dir)`.

The package's modules: `variants` (expanding, naming and checking a sweep),
`files` (the layout on disk), `launchers` (submitit executors: local or
SLURM), `jobs` (what a job runs), `runner` (claiming, submitting and
settling: `run_sweep`), `results` (results.csv and results.md) and `cli`
(launch.py's sweep and SLURM flags). The shipped configs' own sweeps are
experiments, in experiments/presets.py.
"""

from gan_jax.sweep import files
from gan_jax.sweep import jobs
from gan_jax.sweep import launchers
from gan_jax.sweep import results
from gan_jax.sweep import runner
from gan_jax.sweep import variants

# Expanding a sweep.
SEED_FIELD = variants.SEED_FIELD
DEFAULT_NAME = variants.DEFAULT_NAME
MAX_NAME_LENGTH = variants.MAX_NAME_LENGTH
SweepError = variants.SweepError
Variant = variants.Variant
load_sweep = variants.load_sweep
variant_name = variants.variant_name
expand = variants.expand
probe_device_count = variants.probe_device_count

# Files.
SWEEP_FILE = files.SWEEP_FILE
VARIANT_FILE = files.VARIANT_FILE
JOB_FILE = files.JOB_FILE
FAILED_FILE = files.FAILED_FILE
SUMMARY_FILE = files.SUMMARY_FILE
CONFIG_FILE = files.CONFIG_FILE
RESULTS_CSV = files.RESULTS_CSV
RESULTS_MD = files.RESULTS_MD
variant_status = files.variant_status

# Running.
LAUNCHERS = launchers.LAUNCHERS
Launcher = launchers.Launcher
LaunchError = launchers.LaunchError
TrainJob = jobs.TrainJob
Outcome = runner.Outcome
run_sweep = runner.run_sweep

# Results.
COUNT_COLUMNS = results.COUNT_COLUMNS
load_runs = results.load_runs
aggregate = results.aggregate
write_results = results.write_results
load_results = results.load_results
