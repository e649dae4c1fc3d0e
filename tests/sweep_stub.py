"""A stand-in for `gan_jax.sweep.TrainJob` that does not train.

The scheduling tests of tests/test_sweep.py submit it as the sweep's job (the
job processes receive it pickled by value): it notes when it starts and ends,
sleeps, and then, by the variant's loss, finishes (writes config.json and
summary.json as a run would), fails as TrainJob does on an error, stops as
TrainJob does after a preemption, or is killed as the kernel's out-of-memory
killer would kill it.
"""

import json
import os
import signal
import time


class StubJob:
  """Callable with a variant's workdir, like TrainJob."""

  def __init__(self, runs_path: str, sleep: float = 1.0):
    self.runs_path = runs_path
    self.sleep = sleep

  def _note(self, name: str, what: str) -> None:
    with open(self.runs_path, "a") as f:
      f.write(f"{name} {what} {time.time()!r} {os.getppid()}\n")

  def __call__(self, workdir: str) -> dict:
    with open(os.path.join(workdir, "variant.json")) as f:
      record = json.load(f)
    config, name = record["config"], record["name"]
    self._note(name, "start")
    time.sleep(self.sleep)
    self._note(name, "end")
    loss = config["loss"]["name"]
    if loss == "hinge":
      os.kill(os.getpid(), signal.SIGKILL)
    if loss == "wasserstein":  # as TrainJob ends after a preemption
      print("[sweep job] stopped by SIGTERM at step 2/4; checkpoint written",
            flush=True)
      raise SystemExit(143)
    if loss == "least_squares":
      print("about to fail", flush=True)
      # As jobs.record_failure writes it (not imported: that imports jax,
      # seconds per job).
      with open(os.path.join(workdir, "failed.json"), "w") as f:
        json.dump(dict(error="ValueError: stub failure", time=time.time()), f)
      return dict(status="failed", error="ValueError: stub failure")
    steps = config["train"]["steps"]
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(config, f)
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(dict(step=steps, steps=steps,
                     evaluation=dict(score=config["seed"] + 0.5)), f)
    return dict(status="finished")
