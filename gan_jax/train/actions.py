"""The side jobs of a training run, each with its own schedule.

In the manner of CLU's `periodic_actions`: the loop asks each action whether
it is due after a compiled call (`due(step)`) and where its next step is
(`next_step(step)`, so that a compiled call ends there), then calls it with
the run. Logging is due every `train.log_every` steps and at the last step;
checkpoints, sample grids and evaluations every `train.checkpoint_every`,
`train.sample_every` and `eval.every` steps before the last (the end of
the run saves, evaluates and draws its final grid itself).
"""

from __future__ import annotations

import math
import time
from typing import Optional

from absl import logging
import jax
import numpy as np

from gan_jax import step as step_lib
from gan_jax.train import plots
from gan_jax.train.experiment import format_results
from gan_jax.train.run_state import Run
from gan_jax.train.workdir import EVAL_FILE, METRICS_FILE, Workdir


class Periodic:
  """Due every `every` steps (0: never) before the run's last step."""

  def __init__(self, every: int, total: int):
    self.every = int(every or 0)
    self.total = int(total)

  def due(self, step: int) -> bool:
    return bool(self.every) and step < self.total and step % self.every == 0

  def next_step(self, step: int) -> Optional[int]:
    return (step // self.every + 1) * self.every if self.every else None


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(step: int, total: int, metrics: dict, rate: float,
                  r1: bool) -> str:
  eta = (total - step) / rate if rate > 0 else float("inf")
  parts = (f"d_loss {metrics['d_loss']:.3g} g_loss {metrics['g_loss']:.3g} "
           f"V {metrics['value']:.3g} D(x) {metrics['d_real']:.2f} "
           f"D(G(z)) {metrics['d_fake']:.2f}")
  if r1:
    parts += f" R1 {metrics['r1_penalty']:.3g}"
  for name, label in (("r2_penalty", "R2"), ("gradient_penalty", "GP")):
    if name in metrics:
      parts += f" {label} {metrics[name]:.3g}"
  return (f"step {step}/{total} | {parts} | {rate:.4g} steps/s | "
          f"ETA {format_duration(eta)}")


class MetricsLogger(Periodic):
  """Means of the metrics since the last log: console, metrics.jsonl, TB.

  Steps/s counts training only: compiling and the side jobs between two log
  steps are left out (`exclude`).
  """

  def __init__(self, every: int, total: int, workdir: Workdir, *,
               r1: bool, session_start: float):
    super().__init__(every, total)
    self.workdir = workdir
    self.r1 = r1
    self.session_start = session_start
    self.restart(0)

  def due(self, step: int) -> bool:
    return step % self.every == 0 or step == self.total

  def restart(self, step: int) -> None:
    """A new timing interval from `step` (start, divergence restore)."""
    self.interval_start, self.interval_step = time.time(), step
    self.excluded = 0.0

  def exclude(self, seconds: float) -> None:
    self.excluded += seconds

  def __call__(self, run: Run) -> None:
    means = {name: float(np.mean(np.concatenate(
        [np.reshape(v[name], -1) for _, v in run.pending])))
             for name in step_lib.metric_names(run.pending[0][1])}
    run.pending = []
    now = time.time()
    elapsed = max(now - self.interval_start - self.excluded, 1e-9)
    run.timings["train_time_sec"] += elapsed
    run.timings["trained_steps"] += run.step - self.interval_step
    rate = (run.step - self.interval_step) / elapsed
    self.interval_start, self.interval_step, self.excluded = now, run.step, 0.0
    if not self.workdir.is_main:
      return
    logging.info("%s", progress_line(run.step, self.total, means, rate,
                                     self.r1))
    self.workdir.append(METRICS_FILE, dict(
        step=run.step, **means, steps_per_sec=rate,
        elapsed_sec=now - self.session_start))
    self.workdir.scalars("train", dict(**means, steps_per_sec=rate), run.step)


class Checkpointer(Periodic):
  """Saves the state and the run's bookkeeping (`Run.save`)."""

  def __init__(self, every: int, total: int, *, session_start: float):
    super().__init__(every, total)
    self.session_start = session_start

  def __call__(self, run: Run) -> None:
    run.save(self.session_start)


class SampleWriter(Periodic):
  """A figure of G(z) for a fixed z: samples/step_N.png and TensorBoard."""

  def __init__(self, every: int, total: int, workdir: Workdir):
    super().__init__(every, total)
    self.workdir = workdir
    self.noise = None

  def write(self, run: Run, samples: np.ndarray, note: str = "") -> None:
    if self.workdir.is_main:
      fig = plots.plot_samples(samples, run.experiment.distribution,
                               run.step, self.workdir.sample_path(run.step),
                               note)
      self.workdir.figure(fig, run.step)

  def __call__(self, run: Run) -> None:
    if self.noise is None:
      self.noise = run.experiment.grid_noise()
    self.write(run, run.experiment.generate(run.host_state(), self.noise))


class Evaluator(Periodic):
  """Toy or image metrics of G's samples: eval.jsonl and TensorBoard.

  Process 0 evaluates and writes; the others would only repeat it.
  """

  def __init__(self, every: int, total: int, workdir: Workdir):
    super().__init__(every, total)
    self.workdir = workdir
    self.noise = None

  def evaluate(self, run: Run) -> tuple[dict, np.ndarray]:
    """(results, the samples they score) at the run's step."""
    if self.noise is None:
      self.noise = run.experiment.eval_noise()
    samples = run.experiment.generate(run.host_state(), self.noise)
    if not self.workdir.is_main:
      return {}, samples
    results = run.experiment.evaluate(samples)
    if results:
      self.workdir.append(EVAL_FILE, dict(step=run.step, **results))
      self.workdir.scalars("eval", results, run.step)
      logging.info("Evaluation at step %d: %s", run.step,
                   format_results(results))
    return results, samples

  def __call__(self, run: Run) -> None:
    self.evaluate(run)


def run_side_jobs(run: Run, jobs: list, logger: MetricsLogger) -> None:
  """Runs the due jobs; their time is not training time."""
  if not jobs:
    return
  # Wait for the steps in flight first, so that they count as training.
  jax.block_until_ready(run.state)
  start = time.time()
  for job in jobs:
    job(run)
  logger.exclude(time.time() - start)
