"""A run's model outside the training loop.

`latest_state`, `sample` and `evaluate_workdir` read a workdir's checkpoints
and never take its lock, so they work on a run that is still training; a
damaged checkpoint is reported and skipped, left in place. `setup_training`
gives the training step of a config without a workdir.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple, Optional, Sequence

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing
from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax import step as step_lib
from gan_jax.train import errors
from gan_jax.train import workdir as workdir_lib
from gan_jax.train.experiment import Experiment, format_results


def _restore(workdir: str, experiment: Experiment, step: Optional[int]
             ) -> tuple[int, step_lib.TrainState]:
  """(step, host state) of checkpoint `step` (None: the latest usable)."""
  manager = checkpointing.manager(workdir, create=False)
  try:
    if step is None:
      restored = workdir_lib.restore_latest(
          manager, experiment.abstract_state(), set_aside=False)
      if restored is None:
        raise errors.WorkdirError(f"workdir {workdir} holds no checkpoint")
      return restored[0], restored[1]
    if step not in manager.all_steps():
      raise errors.WorkdirError(
          f"workdir {workdir} has no checkpoint at step {step}; it has "
          f"{sorted(manager.all_steps())}")
    try:
      return step, checkpointing.restore(manager, step,
                                         experiment.abstract_state())[0]
    except checkpointing.DamagedCheckpointError as e:
      raise errors.WorkdirError(str(e)) from e
  finally:
    manager.close()


def latest_state(workdir: str, *, step: Optional[int] = None,
                 compiler_options: Optional[dict[str, Any]] = None
                 ) -> tuple[int, step_lib.TrainState]:
  """(step, host TrainState) of a run's latest (or given) checkpoint.

  Raises:
    WorkdirError: no run, no such checkpoint, or it is damaged.
  """
  experiment = Experiment(workdir_lib.load_config(workdir), load_data=False,
                          compiler_options=compiler_options)
  return _restore(workdir, experiment, step)


def sample(workdir: str, num_samples: int, *, seed: int = 0,
           labels=None,
           compiler_options: Optional[dict[str, Any]] = None) -> np.ndarray:
  """Samples from the latest usable checkpoint in `workdir`.

  Uses the EMA generator weights when the run kept them, and BatchNorm's
  running averages. z ~ N(0, I) from PRNGKey(seed).

  Args:
    workdir: a run's folder.
    num_samples: n.
    seed: the noise's seed.
    labels: a class-conditional run's classes: one int for all samples, or
      n ints in [0, config.model.num_classes); None: i mod num_classes
      (every class equally often). Unconditional runs take none.
    compiler_options: as for `train_and_evaluate`.

  Returns:
    toy data: float32 [num_samples, d]; images: float32 [num_samples, H, W, C]
    in [0, 1].

  Raises:
    WorkdirError: no run or no checkpoint in workdir.
    ValueError: labels out of range, of another length, or given to an
      unconditional run.
  """
  experiment = Experiment(workdir_lib.load_config(workdir), load_data=False,
                          compiler_options=compiler_options)
  if labels is not None and experiment.num_classes:
    labels = experiment.check_labels(labels, num_samples)
  _, state = _restore(workdir, experiment, None)
  z = experiment.noise(jax.random.PRNGKey(seed), num_samples)
  samples = experiment.generate(state, z, labels)
  if not experiment.is_toy:
    return experiment.to_unit_range(samples)
  return np.asarray(samples, np.float32)


def evaluate_workdir(workdir: str, *, step: Optional[int] = None,
                     write: bool = False,
                     compiler_options: Optional[dict[str, Any]] = None
                     ) -> dict[str, Any]:
  """Evaluates a checkpoint of an existing run, as its final evaluation does.

  The same noise as `train_and_evaluate`'s evaluation and the config's
  config.eval settings; a config.json written before a field existed gets
  that field's default (so older runs are scored with today's protocol).

  Args:
    workdir: a run's folder.
    step: the checkpoint to score (None = the latest).
    write: also append the result to workdir/eval.jsonl and put it in
      summary.json's "evaluation" (if there is a summary.json).
    compiler_options: as for `train_and_evaluate`.

  Returns:
    The evaluation dict (toy metrics, or the image metrics with the real-data
    floors), plus 'step'.

  Raises:
    WorkdirError: no run, or no such checkpoint, or it is damaged.
    data.DataError: the data the metrics need is missing.
  """
  experiment = Experiment(workdir_lib.load_config(workdir), load_data=False,
                          compiler_options=compiler_options)
  step, state = _restore(workdir, experiment, step)
  results = experiment.evaluate(
      experiment.generate(state, experiment.eval_noise()))
  logging.info("Evaluation of %s at step %d: %s", workdir, step,
               format_results(results))
  if write:
    _write_evaluation(workdir, step, results)
  return dict(step=int(step), **results)


def _write_evaluation(workdir: str, step: int, results: dict) -> None:
  folder = workdir_lib.Workdir(workdir)
  workdir_lib.JsonlWriter(folder.file(workdir_lib.EVAL_FILE)).write_scalars(
      step, results)
  path = folder.file(workdir_lib.SUMMARY_FILE)
  if os.path.isfile(path):
    with open(path) as f:
      summary = json.load(f)
    if summary.get("step") == step:
      summary["evaluation"] = results
      folder.write_summary(summary)


class TrainingSetup(NamedTuple):
  """What `setup_training` returns: a step ready to run, with its inputs.

  `parallel.run(state, dataset, n)` runs n iterations and returns the new
  state (the old one is donated) and the per-iteration metrics.
  """
  experiment: Experiment
  parallel: step_lib.DataParallel
  state: step_lib.TrainState  # initial state, placed on the devices
  dataset: Any  # the images on the devices, a data.pipeline.Stream (host), or None (toy)


def setup_training(config: ml_collections.ConfigDict, *,
                   devices: Optional[Sequence[jax.Device]] = None,
                   compiler_options: Optional[dict[str, Any]] = None
                   ) -> TrainingSetup:
  """The update step, initial state and on-device data of a config's run.

  Exactly what `train_and_evaluate` trains with (same step function, data
  path and placement), without a workdir, checkpoints or evaluation; for
  benchmarks and experiments that drive the step themselves. One process.

  Raises:
    ConfigError: an invalid config field.
    data.DataError: missing or corrupt data files.
  """
  config = config.copy_and_resolve_references()
  devices = list(devices) if devices is not None else jax.devices()
  config_lib.validate(config, len(devices), num_processes=1)
  experiment = Experiment(config, compiler_options=compiler_options)
  parallel = experiment.parallel_step(devices)
  return TrainingSetup(experiment, parallel,
                       parallel.place(experiment.initial_state()),
                       experiment.place_dataset(parallel))
