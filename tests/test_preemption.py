"""A SIGTERM is answered within the bound of one compiled call.

The loop answers signals between compiled calls only, so
`gan_jax.step.call_length` caps a call's iterations from their measured
time (config.train.max_call_seconds) and a checkpoint is on disk well within
SLURM's KillWait (30 s) even when train.steps_per_call iterations would run
for minutes.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax import train

from helpers import ROOT
from test_reliability import assert_same_state, launch_env, metric_lines

FIRST = step_lib.FIRST_CALL_STEPS


@pytest.mark.parametrize(
    "seconds_per_iteration, bound, steps_per_call, to_event, expected", [
        # Not timed yet: a short first call (never past the event).
        (None, 10.0, 500, 1000, FIRST),
        (None, 10.0, 500, 1, 1),
        (None, 10.0, 1, 1000, 1),
        # Fast iterations: the bound does not bind.
        (0.001, 10.0, 500, 1000, 500),
        (0.001, 10.0, 500, 300, 300),
        (0.001, 10.0, 500, 7, 7),
        (0.0, 10.0, 500, 1000, 500),
        # Slow ones: the largest power of two within the bound.
        # 100 allowed: 64; 1000 to go in 16 calls (8 x 63, 8 x 62).
        (0.1, 10.0, 500, 1000, 63),
        (0.1, 10.0, 500, 512, 64),
        (0.1, 10.0, 500, 70, 70),  # within the bound: to the event
        (0.1, 10.0, 500, 40, 40),  # the event comes first
        (0.1, 10.0, 100, 1000, 100),  # exactly 10 s
        (0.1, 10.0, 128, 1000, 63),  # 12.8 s: too long
        (0.5, 2.0, 10**6, 10**6, 4),
        (0.9, 2.0, 10**6, 10**6, 2),
        # One iteration longer than the bound: one per call.
        (1.5, 2.0, 10**6, 10**6, 1),
        (30.0, 10.0, 100, 1000, 1),
    ])
def test_call_length(seconds_per_iteration, bound, steps_per_call, to_event,
                     expected):
  assert step_lib.call_length(steps_per_call, to_event, seconds_per_iteration,
                          bound) == expected


def test_call_lengths_are_few():
  """A wavering time visits few lengths (each compiles once)."""
  lengths = {step_lib.call_length(10**6, 10**6, 0.05 * (1 + 0.3 * (i % 7) / 7),
                              10.0) for i in range(100)}
  assert lengths == {128}


@pytest.mark.parametrize("segment, cap_time", [(1000, 0.1), (1000, 0.037),
                                               (100, 0.6), (997, 0.03)])
def test_a_segment_splits_into_equal_calls(segment, cap_time):
  """Up to an event: calls of q or q + 1 iterations, q + 1 first."""
  calls, left = [], segment
  while left:
    calls.append(step_lib.call_length(500, left, cap_time, 10.0))
    left -= calls[-1]
  assert sum(calls) == segment
  assert max(calls) * cap_time <= 10.0
  assert calls == sorted(calls, reverse=True)
  assert max(calls) - min(calls) <= 1


class _FakeRun:
  """Run.advance's contract (returns the compile seconds), on a simulated
  clock: a call of n iterations takes n * seconds_per_iteration, plus 0.02 s
  the first time a length runs (it compiles)."""

  def __init__(self, seconds_per_iteration, compile_lengths=()):
    self.seconds_per_iteration = seconds_per_iteration
    self.compiled = set(compile_lengths)
    self.now = 0.0

  def clock(self):
    return self.now

  def advance(self, num_steps, wait):
    assert wait  # at most one call in flight
    compile_seconds = 0.0 if num_steps in self.compiled else 0.02
    self.compiled.add(num_steps)
    self.now += compile_seconds + self.seconds_per_iteration * num_steps
    return compile_seconds


def test_timer_skips_compiling_and_one_iteration_calls():
  run = _FakeRun(0.001)
  timer = step_lib.CallTimer(max_call_seconds=0.0045, clock=run.clock)
  assert timer.next_length(100, 100) == FIRST
  timer.advance(run, FIRST)  # compiled: not timed
  assert timer.seconds_per_iteration is None
  timer.advance(run, 1)  # one iteration: another program
  assert timer.seconds_per_iteration is None
  timer.advance(run, FIRST)
  assert timer.seconds_per_iteration == pytest.approx(0.001)
  assert timer.next_length(100, 100) == 4  # 2 ** floor(log2(0.0045 / 0.001))
  assert timer.lengths == {1, FIRST}
  assert not timer.warned


@pytest.mark.parametrize("seconds_per_iteration, second", [(0.0005, FIRST),
                                                            (0.003, 1)])
def test_compiling_calls_may_only_shorten(seconds_per_iteration, second):
  """Before a call is timed, a slow compiling call shortens the next one."""
  run = _FakeRun(seconds_per_iteration)
  timer = step_lib.CallTimer(max_call_seconds=0.004, clock=run.clock)
  timer.advance(run, timer.next_length(100, 100))
  assert timer.seconds_per_iteration is None
  assert timer.next_length(100, 100) == second


def test_timer_warns_once_when_one_iteration_is_too_long(caplog):
  run = _FakeRun(0.003, compile_lengths=[1, 2])
  timer = step_lib.CallTimer(max_call_seconds=0.001, clock=run.clock)
  for _ in range(3):
    timer.advance(run, timer.next_length(10, 10))
  assert timer.next_length(10, 10) == 1
  warnings = [r for r in caplog.records if "SIGTERM may wait" in r.message]
  assert len(warnings) == 1


@pytest.mark.parametrize("value", [0, 0.0, -1.0, float("inf"), "10"])
def test_bad_max_call_seconds_is_named(value):
  config = config_lib.default_config()
  with config.train.ignore_type():
    config.train.max_call_seconds = value
  with pytest.raises(config_lib.ConfigError,
                     match=r"^config\.train\.max_call_seconds = .* must lie in "
                     r"\(0\.0, inf\)$"):
    config_lib.validate(config, num_devices=1)


def test_max_call_seconds_may_change_on_resume():
  assert config_lib.is_resumable_change("train.max_call_seconds")


# ----------------------------------------------------------------------------
# End to end: launch.py, SIGTERM, resume.
# ----------------------------------------------------------------------------

MAX_CALL_SECONDS = 2.0
# From SIGTERM to exit: the call in flight (<= ~MAX_CALL_SECONDS), the
# divergence check, the checkpoint and the exit; an uncapped call must last
# far longer (asserted below), or the test would prove nothing.
EXIT_BOUND = 15.0
STEPS_PER_CALL = 100_000
# Logged once a call that did not compile has been timed.
TIMED = re.compile(r"Timed ([0-9.e+-]+) s per iteration: compiled calls of at "
                   r"most (\d+) iteration")


def slow_launch(workdir, steps):
  """The ring with iterations of ~0.25 s (a big batch) and huge calls."""
  return [sys.executable, "launch.py", "--config",
          os.path.join("experiments", "configs", "ring.py"),
          "--workdir", workdir,
          "--config.model.generator_widths=(256,256)",
          "--config.model.discriminator_widths=(256,256)",
          "--config.loss.r1_gamma=0.0", "--config.train.batch_size=8192",
          f"--config.train.steps={steps}",
          f"--config.train.steps_per_call={STEPS_PER_CALL}",
          f"--config.train.max_call_seconds={MAX_CALL_SECONDS}",
          f"--config.train.log_every={10**6}",
          "--config.train.checkpoint_every=0",
          "--config.train.sample_every=0", "--config.eval.num_samples=100"]


def _wait_for(path, pattern, process, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    with open(path) as f:
      match = pattern.search(f.read())
    if match:
      return match
    time.sleep(0.1)
  return None


@pytest.mark.slow
def test_sigterm_during_long_calls_is_answered_within_the_bound(tmp_path):
  workdir = str(tmp_path / "run")
  log = str(tmp_path / "stderr.txt")
  with open(log, "w") as stderr:
    process = subprocess.Popen(slow_launch(workdir, 10**6), cwd=ROOT,
                               env=launch_env(), stdout=subprocess.DEVNULL,
                               stderr=stderr, text=True)
  try:
    timed = _wait_for(log, TIMED, process, timeout=120)
    assert timed, open(log).read()[-3000:]
    time.sleep(5.0)  # past the capped length's compile, into its calls
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    answered = time.time() - sent
  finally:
    if process.poll() is None:
      process.kill()
  with open(log) as f:
    stderr = f.read()
  assert process.returncode == 128 + signal.SIGTERM == 143, stderr[-3000:]
  seconds_per_iteration, cap = float(timed.group(1)), int(timed.group(2))
  assert cap * seconds_per_iteration <= MAX_CALL_SECONDS
  uncapped = seconds_per_iteration * STEPS_PER_CALL
  assert uncapped > 10 * EXIT_BOUND, (seconds_per_iteration, uncapped)
  assert answered < EXIT_BOUND, (answered, stderr[-3000:])
  lengths = re.search(r"Compiled calls of ([\d, ]+) iteration", stderr)
  assert lengths and len(lengths.group(1).split(",")) <= 3, stderr[-3000:]
  steps = [int(s) for s in
           os.listdir(os.path.join(workdir, train.CHECKPOINT_DIR))]
  assert len(steps) == 1 and steps[0] > FIRST, steps
  stopped = steps[0]
  print(f"SIGTERM answered in {answered:.1f} s at step {stopped}; "
        f"{seconds_per_iteration:.3g} s per iteration, calls of <= {cap} "
        f"(lengths {lengths.group(1)}); an uncapped call: {uncapped:.0f} s")

  # Resumed to the end, it equals a straight run bit for bit.
  total = stopped + 3
  straight = str(tmp_path / "straight")
  for folder in (workdir, straight):
    done = subprocess.run(slow_launch(folder, total), cwd=ROOT,
                          env=launch_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    if folder == workdir:
      assert f"Resumed from {workdir} at step {stopped}" in done.stderr
  assert metric_lines(workdir) == metric_lines(straight)
  assert_same_state(straight, workdir)
