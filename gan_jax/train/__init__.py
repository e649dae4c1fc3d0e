"""The training run: `train_and_evaluate(config, workdir)` and `sample(workdir, n)`.

One job per module:

  loop.py        train_and_evaluate, read top to bottom: the run between
                 compiled calls and what checkpoints carry; the side jobs
                 (metrics, checkpoints, sample grids, evaluation); the
                 guards (divergence: stop or restore; preemption:
                 SIGTERM/INT/USR2); call lengths; the loop
  experiment.py  the experiment built once from the validated config
  workdir.py     the workdir's lock and files; the metric writers
                 (MetricWriter: console, jsonl, TensorBoard; MultiWriter)
  inference.py   latest_state, sample, evaluate_workdir; setup_training
  plots.py       sample figures
  stacked_modes.py  the Stacked MNIST mode count, the image evaluation of
                 stacked data sets
  errors.py      WorkdirError, WorkdirBusy, DivergenceError, Preempted

A run's workdir holds config.json, metrics.jsonl, eval.jsonl,
tensorboard/, checkpoints/, samples/ and summary.json (see
`gan_jax.train.workdir`). Image runs are scored with the Parzen-window
log-likelihood of Goodfellow et al. 2014 and, in the feature space of the
bundled classifier (`gan_jax.feature_extractor`), FID, KID and
precision/recall (stacked data: the modes that classifier finds); next to
each model value the summary holds the real-data value (`real_*`).

Reliability (README, "Reliability"):

  Determinism   every field of metrics.jsonl but the wall-clock ones
                (`TIMING_FIELDS`) and the final parameters are a function of
                the config and its seed: two runs give the same bits on CPU,
                and so does a run interrupted and resumed at any step, with
                any train.steps_per_call (random draws are keyed by the step;
                the metrics not yet logged at a checkpoint are saved with it).
  Divergence    see `gan_jax.train.loop`.
  Preemption    SIGTERM, SIGINT or SIGUSR2 ends the current compiled call
                (at most about train.max_call_seconds long), saves a
                checkpoint, waits for it and raises `Preempted` (launch.py
                exits 128 + the signal number).
  Checkpoints   atomic and verified (`gan_jax.checkpointing`).
  One run       a workdir is held by one process (`WorkdirBusy` otherwise);
                a finished run stays finished; nothing is written before a
                launch is known to start.
"""

from gan_jax.checkpointing import MAX_CHECKPOINTS
from gan_jax.train.errors import DivergenceError
from gan_jax.train.errors import Preempted
from gan_jax.train.errors import WorkdirBusy
from gan_jax.train.errors import WorkdirError
from gan_jax.train.experiment import Experiment
from gan_jax.train.inference import evaluate_workdir
from gan_jax.train.inference import latest_state
from gan_jax.train.inference import sample
from gan_jax.train.inference import setup_training
from gan_jax.train.inference import TrainingSetup
from gan_jax.train.loop import train_and_evaluate
from gan_jax.train.plots import image_grid
from gan_jax.train.workdir import CHECKPOINT_DIR
from gan_jax.train.workdir import CONFIG_FILE
from gan_jax.train.workdir import ERROR_LOG
from gan_jax.train.workdir import EVAL_FILE
from gan_jax.train.workdir import load_config
from gan_jax.train.workdir import LOCK_FILE
from gan_jax.train.workdir import METRICS_FILE
from gan_jax.train.workdir import SAMPLES_DIR
from gan_jax.train.workdir import SUMMARY_FILE
from gan_jax.train.workdir import TENSORBOARD_DIR

# The metrics.jsonl fields that measure wall-clock time; every other field is
# reproducible bit for bit.
TIMING_FIELDS = ("steps_per_sec", "elapsed_sec")
