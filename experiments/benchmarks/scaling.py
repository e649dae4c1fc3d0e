r"""Data-parallel overhead: one global batch on 1, 2 and 4 devices (issue 5).

For the ring toy (experiments/configs/ring.py) and the classic MLP at batch
256 (`common.benchmark_config('mlp256')`), gan_jax's real step
(`setup_training`, shard_map over a `data` mesh, gradients and BatchNorm
statistics averaged with lax.pmean) runs with the same global batch on N
devices, each computing batch / N examples. Reported per N: steps/s
(median [min-max] over rounds), the time per step and its overhead against
1 device, and the cost of the cross-device mean alone: a jitted, shard_map'd
lax.scan of `steps_per_call` iterations, each a lax.pmean of a pytree shaped
like D's gradients then one shaped like G's (the step's two gradient means;
its metric means are scalars and left out), timed the same way.

Each N runs in its own worker process (the device count is fixed when JAX
starts); the workers stay up for the whole run and the parent times them in
turn, in an order rotated from round to round (`common.measure`), so that
drift of the machine's load hits every N alike.

Fake CPU devices (default): a worker for N devices runs with
XLA_FLAGS=--xla_force_host_platform_device_count=N and JAX_PLATFORMS=cpu.
The N fake devices share the same CPU cores, so the total compute is the
same for every N: what changes is the overhead of splitting the batch, of
running N device programs and of the all-reduce. It is not a measurement of
speed-up.

Real devices (GPU/TPU): no XLA_FLAGS; the worker for N uses the first N of
jax.devices() (the machine needs at least max N devices). Speed-up then is
the point (weak scaling would instead keep the per-device batch; here the
global batch is fixed):

  python experiments/benchmarks/scaling.py                 # fake CPU devices
  python experiments/benchmarks/scaling.py --real_devices --devices=1,2,4,8
  python experiments/benchmarks/scaling.py --quick --devices=1,2   # tests

Writes --out (default docs/benchmarks/scaling.json) and scaling.md beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

from experiments.benchmarks import common  # pylint: disable=g-import-not-at-top,wrong-import-position

DEFAULT_OUT = os.path.join(common.DEFAULT_OUTDIR, "scaling.json")
MODELS = ("ring", "mlp256")


def _log(message: str) -> None:
  print(message, flush=True)


# ----------------------------------------------------------------------------
# The worker: one process, N devices, commands on stdin.
# ----------------------------------------------------------------------------


class _PmeanRunner:
  """steps_per_call iterations of pmean(D-shaped tree), pmean(G-shaped tree)."""

  def __init__(self, runner):
    import jax  # pylint: disable=g-import-not-at-top
    from jax import lax  # pylint: disable=g-import-not-at-top
    from jax.sharding import NamedSharding  # pylint: disable=g-import-not-at-top
    from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    from gan_jax import step as step_lib  # pylint: disable=g-import-not-at-top
    parallel = runner.parallel
    self.steps_per_unit = runner.steps_per_unit
    host = parallel.fetch(runner.state)
    trees = (host.d_params, host.g_params)
    self.num_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(trees))
    self.trees = jax.device_put(
        jax.tree.map(lambda x: np.ones_like(np.asarray(x)), trees),
        NamedSharding(parallel.mesh, P()))

    def body(carry, _):
      d_tree, g_tree = carry
      # Scaled so that every iteration depends on the previous one.
      d_tree = jax.tree.map(lambda x: 0.5 * x,
                            lax.pmean(d_tree, step_lib.AXIS))
      g_tree = jax.tree.map(lambda x: 0.5 * x,
                            lax.pmean(g_tree, step_lib.AXIS))
      return (d_tree, g_tree), None

    def many(trees):
      return lax.scan(body, trees, None, length=self.steps_per_unit)[0]

    self.fn = jax.jit(jax.shard_map(many, mesh=parallel.mesh, in_specs=P(),
                                    out_specs=P(), check_vma=False),
                      donate_argnums=0)
    self.run(1)

  def run(self, units: int) -> None:
    import jax  # pylint: disable=g-import-not-at-top
    for _ in range(int(units)):
      self.trees = self.fn(self.trees)
    jax.block_until_ready(self.trees)


def worker(num_devices: int, steps_per_call: int) -> None:
  """Serves JSON commands from stdin; answers with common.emit_result."""
  common.disable_compilation_cache()
  import jax  # pylint: disable=g-import-not-at-top
  devices = jax.devices()
  if len(devices) < num_devices:
    common.emit_result(dict(error=f"{len(devices)} devices, {num_devices} "
                            f"wanted"))
    return
  devices = devices[:num_devices]
  runners = {}
  common.emit_result(dict(ready=True, devices=[str(d) for d in devices]))
  for line in iter(sys.stdin.readline, ""):
    command = json.loads(line)
    op = command["op"]
    if op == "quit":
      return
    if op == "setup":
      model = command["model"]
      config = common.benchmark_config(model)
      runner = common.JaxRunner(config, devices=devices,
                                steps_per_call=steps_per_call or None)
      runner.run(1)
      pmean = _PmeanRunner(runner)
      runners[f"{model}/step"] = runner
      runners[f"{model}/pmean"] = pmean
      common.emit_result(dict(
          compile_s=runner.compile_s, steps_per_call=runner.steps_per_unit,
          batch_size=int(config.train.batch_size),
          per_device_batch=int(config.train.batch_size) // num_devices,
          mean_bytes_per_step=pmean.num_bytes))
    elif op == "run":
      runner = runners[command["key"]]
      seconds = common.timed(lambda: runner.run(command["units"]))  # pylint: disable=cell-var-from-loop
      common.emit_result(dict(seconds=seconds))
    else:
      common.emit_result(dict(error=f"unknown op {op!r}"))


class _Worker:
  """A worker process for N devices, and proxies for its runners."""

  def __init__(self, num_devices: int, real_devices: bool,
               steps_per_call: int, stderr):
    env = dict(os.environ)
    env["PYTHONPATH"] = common.ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    if not real_devices:
      env["XLA_FLAGS"] = (
          f"--xla_force_host_platform_device_count={num_devices}")
      env["JAX_PLATFORMS"] = "cpu"
    self.num_devices = num_devices
    self.proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker",
         f"--num_devices={num_devices}",
         f"--steps_per_call={steps_per_call}"],
        cwd=common.ROOT, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
    self.info = self._answer()

  def _answer(self) -> dict:
    for line in self.proc.stdout:
      if line.startswith(common.RESULT_MARK):
        answer = json.loads(line[len(common.RESULT_MARK):])
        if "error" in answer:
          raise RuntimeError(f"worker ({self.num_devices} devices): "
                             f"{answer['error']}")
        return answer
    raise RuntimeError(f"worker ({self.num_devices} devices) exited with "
                       f"{self.proc.wait()}; see its stderr")

  def call(self, **command) -> dict:
    self.proc.stdin.write(json.dumps(command) + "\n")
    self.proc.stdin.flush()
    return self._answer()

  def close(self) -> None:
    if self.proc.poll() is None:
      try:
        self.proc.stdin.write(json.dumps(dict(op="quit")) + "\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
      except (OSError, subprocess.TimeoutExpired):
        self.proc.kill()
        self.proc.wait()


class _Remote:
  """A runner in a worker (what common.measure times from here)."""

  def __init__(self, worker: _Worker, key: str, steps_per_unit: int):
    self.worker = worker
    self.key = key
    self.steps_per_unit = steps_per_unit

  def run(self, units: int) -> None:
    self.worker.call(op="run", key=self.key, units=int(units))


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------


def tables(result: dict[str, Any]) -> str:
  rows = []
  for model, per_n in result["models"].items():
    base = per_n[str(result["devices"][0])]
    base_pmean = 1e3 / base["pmean_steps_per_s"]["median"]
    for n, entry in per_n.items():
      step_ms = 1e3 / entry["steps_per_s"]["median"]
      base_ms = 1e3 / base["steps_per_s"]["median"]
      rows.append([
          model, n, entry["batch_size"], entry["per_device_batch"],
          entry["steps_per_call"], common.fmt_spread(entry["steps_per_s"]),
          f"{step_ms:.3f}", f"{step_ms - base_ms:+.3f}",
          f"{100 * (step_ms / base_ms - 1):+.1f}%",
          f"{1e3 / entry['pmean_steps_per_s']['median']:.4f}",
          f"{1e3 / entry['pmean_steps_per_s']['median'] - base_pmean:+.4f}",
          f"{entry['mean_bytes_per_step'] / 2**20:.2f}"])
  header = ["model", "devices", "global batch", "per-device batch",
            "steps/call", "steps/s", "ms/step", "overhead ms/step",
            "overhead %", "pmean ms/step (alone)",
            "pmean ms/step minus first row", "MB averaged/step"]
  machine = result["machine"]
  kind = ("real devices" if result["real_devices"] else
          "fake CPU devices (XLA_FLAGS=--xla_force_host_platform_device_"
          "count=N) sharing the same cores: same total compute, the "
          "difference is overhead")
  notes = [
      f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, load "
      f"average {machine['load_average_1_5_15'][0]:.1f} at the start; jax "
      f"{machine['jax']}; {kind}.",
      f"Command: `{result['command']}`" + (
          " (quick: a smoke test, not a measurement)" if result["quick"]
          else "") + ".",
      f"steps/s: median [min-max] of {result['repeats']} rounds of about "
      f"{result['target_s']} s per timing, workers timed in turn (order "
      f"rotated per round). Overhead: ms/step against {result['devices'][0]}"
      f" device(s). pmean alone: a scan of steps_per_call iterations of "
      f"lax.pmean over trees shaped like D's and G's parameters, each "
      f"result scaled by 0.5 so that the iterations are chained; on one "
      f"device the all-reduce is a no-op and the time is that of the "
      f"scaling, hence the column minus the first row.",
  ]
  return (common.markdown_table(header, rows) + "\n" +
          "\n".join(f"- {n}" for n in notes) + "\n")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.strip().split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--devices", default="1,2,4",
                      help="comma-separated device counts (first = baseline)")
  parser.add_argument("--models", default=",".join(MODELS),
                      help=f"comma-separated, of {', '.join(MODELS)}")
  parser.add_argument("--real_devices", action="store_true",
                      help="use the machine's devices (GPU/TPU), no fake CPU "
                      "devices")
  parser.add_argument("--repeats", type=int, default=None,
                      help="timing rounds (default 5; quick 2)")
  parser.add_argument("--target_s", type=float, default=None,
                      help="seconds per timing (default 1.5; quick 0.05)")
  parser.add_argument("--steps_per_call", type=int, default=None,
                      help="override train.steps_per_call (0: the config's; "
                      "quick: 10)")
  parser.add_argument("--out", default=DEFAULT_OUT,
                      help="JSON path; the Markdown goes beside it (.md)")
  parser.add_argument("--quick", action="store_true",
                      help="tiny and fast: a smoke test (what tests run)")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--num_devices", type=int, default=1,
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  common.fill_defaults(args, repeats=(2, 5), target_s=(0.05, 1.5),
                       steps_per_call=(10, 0))
  return args


def main(argv=None) -> dict[str, Any]:
  args = parse_args(argv)
  if args.worker:
    worker(args.num_devices, args.steps_per_call)
    return {}
  common.share_accelerator()
  common.disable_compilation_cache()
  devices = [int(n) for n in args.devices.split(",") if n]
  models = [m for m in args.models.split(",") if m]
  for model in models:
    if model not in MODELS:
      raise SystemExit(f"--models: unknown {model!r}; valid: "
                       f"{', '.join(MODELS)}")
  start = time.time()
  result = dict(
      command=" ".join(["python", "experiments/benchmarks/scaling.py",
                        *(argv if argv is not None else sys.argv[1:])]),
      quick=args.quick, repeats=args.repeats, target_s=args.target_s,
      real_devices=args.real_devices, devices=devices,
      machine=common.machine_info())
  workers = {}
  with tempfile.TemporaryFile("w+") as stderr:
    try:
      for n in devices:
        _log(f"starting the worker for {n} device(s)")
        workers[n] = _Worker(n, args.real_devices, args.steps_per_call,
                             stderr)
      setups = {}
      groups = {}
      for model in models:
        for n, w in workers.items():
          _log(f"{model} on {n} device(s): compiling")
          setup = w.call(op="setup", model=model)
          setups[(model, n)] = setup
          spc = setup["steps_per_call"]
          groups[f"{model}/{n}/step"] = {"run": _Remote(w, f"{model}/step",
                                                        spc)}
          groups[f"{model}/{n}/pmean"] = {"run": _Remote(w, f"{model}/pmean",
                                                         spc)}
      timings = common.measure(groups, repeats=args.repeats,
                               target_s=args.target_s, log=_log)
    except Exception:
      stderr.seek(0)
      sys.stderr.write(stderr.read()[-5000:])
      raise
    finally:
      for w in workers.values():
        w.close()
  result["workers"] = {str(n): w.info for n, w in workers.items()}
  result["models"] = {}
  for model in models:
    per_n = {}
    for n in devices:
      step = timings[f"{model}/{n}/step"]["run"]
      pmean = timings[f"{model}/{n}/pmean"]["run"]
      per_n[str(n)] = dict(setups[(model, n)], timing=step,
                           steps_per_s=step["steps_per_s"],
                           pmean_timing=pmean,
                           pmean_steps_per_s=pmean["steps_per_s"])
    base = per_n[str(devices[0])]["steps_per_s"]["median"]
    base_pmean = 1e3 / per_n[str(devices[0])]["pmean_steps_per_s"]["median"]
    for entry in per_n.values():
      entry["overhead_ms_per_step"] = 1e3 * (
          1 / entry["steps_per_s"]["median"] - 1 / base)
      entry["pmean_ms_per_step"] = 1e3 / entry["pmean_steps_per_s"]["median"]
      # On one device the all-reduce is a no-op; what remains is the
      # elementwise scaling that chains the iterations.
      entry["pmean_ms_per_step_minus_first"] = (
          entry["pmean_ms_per_step"] - base_pmean)
    result["models"][model] = per_n
  result["seconds"] = time.time() - start
  common.publish(args.out, result, tables(result))
  return result


if __name__ == "__main__":
  main()
