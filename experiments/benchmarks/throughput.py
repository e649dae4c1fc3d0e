r"""Steps/s of gan_jax's update step against a PyTorch reference (issue 5).

In one process, for each benchmarked model (`common.MODELS`: the classic
Fashion-MNIST MLP GAN at batch 64 and 256, DCGAN 32x32 at batch 64, the 2D
ring toy as shipped), it times

  gan_jax        the step `train_and_evaluate` runs (`setup_training`: same
                 update, data path, placement and `train.steps_per_call`
                 iterations per dispatch), in Algorithm 1's order: D step on
                 fresh real x and fresh z (G forward), then G step on fresh z
                 (G forward again).
  torch alg1     `torch_reference.TorchGAN(order='algorithm1')`: the same
                 computation in PyTorch eager, the like-for-like comparison.
  torch pytorch_gan  PyTorch-GAN's order (G step first, D step reusing the
                 generated batch: one G forward fewer per iteration; BatchNorm
                 eps 0.8 as in that code), for reference.
  GEMM           jitted jnp.dot and torch.mm of float32 2048x2048; the peak
                 is the larger median.

and, in the same interleaved rounds, variants of gan_jax's step (`--variants`):

  bf16           config.model.compute_dtype = 'bfloat16' (matrix products and
                 convolutions in bfloat16; parameters and Adam float32).
  xla_conv       config.model.conv_impl = 'xla' (DCGAN only): XLA's own
                 convolutions instead of oneDNN's (`gan_jax.kernels`), so
                 the table shows what the oneDNN kernels bring.

Protocol (`common.measure`): everything is built and warmed up first (JAX:
compiled and run); then `--repeats` rounds, each timing every runner once
for a calibrated number of steps (about `--target_s` seconds), in an order
rotated and reversed from round to round so that machine drift hits all
alike. Reported: median steps/s with min-max and quartiles; ratio = median
gan_jax / median torch, and the median of the per-round ratios.

FLOPs per step: XLA's cost analysis of the compiled one-iteration program
plus the oneDNN convolutions' (from their shapes; XLA counts a custom call
as 0), of the float32 step (the steps_per_call program's figure is reported
too: XLA counts a while loop's body once). % of peak = FLOPs/step x steps/s / GEMM peak FLOP/s. The
torch fraction uses the same FLOP count (the Algorithm 1 order computes the
same function).

Cold start, in fresh subprocesses (JAX's persistent compilation cache off):
for every benchmarked model and every shipped config
(experiments/configs/*.py), `setup_training` then
`parallel.compile(..., train.steps_per_call)` seconds (the first step's
compilation; the target is < 20 s), the first call's time, and the process's
peak resident set size (VmHWM: the whole process, Python, libraries,
data set, compiler; includes XLA's compilation memory) after compiling and
running a few calls, beside its RSS after the imports and at the end. On an
accelerator the device's peak bytes in use are reported as well. The torch
reference's process does the same (imports, data, models, a few steps).

torch: CPU unless CUDA is available (the `bench` extra pins a CPU build);
`--torch_threads auto` times 1 and all cores and keeps the faster (on a
loaded machine OpenMP's spinning threads can be many times slower than one
thread); `--torch_adam fused` (the fastest torch Adam on CPU).

Run (from the repository root; torch comes with `pip install -e '.[bench]'`):

  python experiments/benchmarks/throughput.py
  python experiments/benchmarks/throughput.py --models=mlp64,ring --repeats=5
  python experiments/benchmarks/throughput.py --compile_only
  python experiments/benchmarks/throughput.py --quick --models=ring  # tests

Writes --out (default docs/benchmarks/throughput.json) and the Markdown
tables beside it (throughput.md), and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Optional

if __package__ in (None, ""):
  # Run as a file: make the repository root importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))

from experiments.benchmarks import common  # pylint: disable=g-import-not-at-top,wrong-import-position

DEFAULT_OUT = os.path.join(common.DEFAULT_OUTDIR, "throughput.json")
COMPILE_TARGET_S = 20.0
# The shipped config whose step a benchmarked model is, if unchanged.
SHIPPED_EQUIVALENT = {"ring": "ring"}
ORDERS = ("algorithm1", "pytorch_gan")
# gan_jax step variants timed beside the default one: config overrides, and
# the models they apply to (None: all).
VARIANTS = {
    "bf16": ({"compute_dtype": "bfloat16"}, None),
    "xla_conv": ({"conv_impl": "xla"}, ("dcgan",)),
}


def _variant_configs(model: str, names: list[str], steps_per_call: int):
  """{variant: config} of the `names` that apply to `model`."""
  configs = {}
  for name in names:
    overrides, models = VARIANTS[name]
    if models is not None and model not in models:
      continue
    config = common.benchmark_config(model)
    config.model.update(overrides)
    if steps_per_call:
      config.train.steps_per_call = steps_per_call
    configs[name] = config
  return configs


def _log(message: str) -> None:
  print(message, flush=True)


def _torch_available() -> bool:
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


# ----------------------------------------------------------------------------
# Workers (fresh processes): cold compile time and peak memory.
# ----------------------------------------------------------------------------


def _device_peak_mb() -> Optional[float]:
  import jax  # pylint: disable=g-import-not-at-top
  try:
    stats = jax.devices()[0].memory_stats()
  except Exception:  # pylint: disable=broad-except
    stats = None
  if not stats or "peak_bytes_in_use" not in stats:
    return None
  return stats["peak_bytes_in_use"] / 2**20


def cold_jax_worker(kind: str, name: str, steps_per_call: Optional[int],
                    calls: int) -> dict[str, Any]:
  """Setup, first-step compile, a few calls of one config, in this process."""
  start = time.perf_counter()
  common.disable_compilation_cache()
  from gan_jax import train as train_lib  # pylint: disable=g-import-not-at-top,unused-import
  import_s = time.perf_counter() - start
  rss_imports = common.rss_mb()
  config = (common.benchmark_config(name) if kind == "benchmark" else
            common.shipped_config(name))
  if steps_per_call:
    config.train.steps_per_call = steps_per_call
  runner = common.JaxRunner(config)
  first_call_s = common.timed(lambda: runner.run(1))
  runner.run(calls)
  return dict(
      kind=kind, name=name, steps_per_call=runner.steps_per_unit,
      import_s=import_s, setup_s=runner.setup_s, compile_s=runner.compile_s,
      first_call_s=first_call_s,
      seconds_to_first_step_done=time.perf_counter() - start,
      rss_after_imports_mb=rss_imports, rss_end_mb=common.rss_mb(),
      peak_rss_mb=common.peak_rss_mb(), device_peak_mb=_device_peak_mb(),
      compile_under_target=runner.compile_s < COMPILE_TARGET_S)


def cold_torch_worker(spec_path: str, images_path: str, order: str,
                      threads: int, adam: str, device: str,
                      steps: int) -> dict[str, Any]:
  """The torch reference from imports to a few steps, in this process."""
  start = time.perf_counter()
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  import_s = time.perf_counter() - start
  rss_imports = common.rss_mb()
  with open(spec_path) as f:
    spec = json.load(f)
  images = np.load(images_path) if images_path else None
  gan = torch_reference.TorchGAN(spec, images, order=order, device=device,
                                 adam=adam)
  del images
  first_step_s = common.timed(lambda: gan.run(1))
  gan.run(steps)
  device_peak = (torch.cuda.max_memory_allocated() / 2**20
                 if device.startswith("cuda") else None)
  return dict(order=order, threads=threads, import_s=import_s,
              first_step_s=first_step_s, rss_after_imports_mb=rss_imports,
              rss_end_mb=common.rss_mb(), peak_rss_mb=common.peak_rss_mb(),
              device_peak_mb=device_peak)


def _cold_jax(kind: str, name: str, steps_per_call: Optional[int],
              calls: int) -> dict[str, Any]:
  argv = [os.path.abspath(__file__), "--worker=cold_jax", f"--kind={kind}",
          f"--name={name}", f"--worker_calls={calls}"]
  if steps_per_call:
    argv.append(f"--steps_per_call={steps_per_call}")
  # A cold process: no persistent compilation cache from the environment.
  env = {"JAX_ENABLE_COMPILATION_CACHE": "false"}
  return common.run_worker(argv, env=env)


# ----------------------------------------------------------------------------
# The in-process measurement.
# ----------------------------------------------------------------------------


class _TorchThreads:
  """Runs a torch runner with its own torch.set_num_threads."""

  def __init__(self, runner, threads: int):
    import torch  # pylint: disable=g-import-not-at-top
    self._torch = torch
    self.runner = runner
    self.threads = threads
    self.steps_per_unit = runner.steps_per_unit

  def run(self, units: int) -> None:
    self._torch.set_num_threads(self.threads)
    self.runner.run(units)


def _pick_threads(runner, setting: str, target_s: float
                  ) -> tuple[int, dict[str, float]]:
  """(threads, {threads: ms per unit}) for 'auto' or a fixed number."""
  import torch  # pylint: disable=g-import-not-at-top
  cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
           else os.cpu_count() or 1)
  if setting != "auto":
    return int(setting), {}
  candidates = sorted({1, cores})
  timings = {}
  for threads in candidates:
    torch.set_num_threads(threads)
    runner.run(1)
    _, per_unit = common.calibrate(runner, target_s)
    timings[str(threads)] = per_unit * 1e3
  best = min(candidates, key=lambda t: timings[str(t)])
  return best, timings


def _ratio(a: dict, b: dict) -> dict[str, float]:
  """Median ratio and the median of the per-round ratios of steps/s."""
  import statistics  # pylint: disable=g-import-not-at-top
  per_round = [x / y for x, y in zip(a["values"], b["values"])]
  return dict(of_medians=a["median"] / b["median"],
              median_per_round=statistics.median(per_round),
              per_round=per_round)


def measure_throughput(models: list[str], args) -> dict[str, Any]:
  """Builds and times all runners; returns the 'models' and 'gemm' results."""
  with_torch = _torch_available() and not args.no_torch
  groups, info = {}, {}
  if with_torch:
    import torch  # pylint: disable=g-import-not-at-top
    from experiments.benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
    torch_device = args.torch_device
    if torch_device == "auto":
      torch_device = "cuda" if torch.cuda.is_available() else "cpu"
    info["torch_device"] = torch_device

  _log("GEMM")
  groups["gemm"] = {"gan_jax": common.JaxGemm(args.gemm_n)}
  if with_torch:
    gemm = common.TorchGemm(args.gemm_n, torch_device)
    threads, timings = _pick_threads(gemm, args.torch_threads, args.target_s)
    groups["gemm"]["torch"] = _TorchThreads(gemm, threads)
    info["gemm_torch_threads"] = dict(chosen=threads, ms_per_unit=timings)

  for model in models:
    config = common.benchmark_config(model)
    if args.steps_per_call:
      config.train.steps_per_call = args.steps_per_call
    _log(f"{model}: building gan_jax's step")
    runner = common.JaxRunner(config)
    entry = dict(config=common.describe_config(config),
                 in_process_setup_s=runner.setup_s,
                 in_process_compile_s=runner.compile_s)
    entry.update(runner.flops())
    groups[model] = {"gan_jax": runner}
    for name, variant in _variant_configs(model, args.variants,
                                          args.steps_per_call).items():
      _log(f"{model}: building gan_jax's step, variant {name}")
      groups[model][f"gan_jax_{name}"] = common.JaxRunner(variant)
    if with_torch:
      spec = common.torch_spec(config)
      images = runner.images
      first = None
      for order in ORDERS:
        if order == "pytorch_gan" and spec["discriminator_steps"] != 1:
          continue
        gan = torch_reference.TorchGAN(spec, images, order=order,
                                       device=torch_device,
                                       adam=args.torch_adam)
        torch_runner = common.TorchRunner(gan)
        if first is None:
          threads, timings = _pick_threads(torch_runner, args.torch_threads,
                                           args.target_s)
          entry["torch_threads"] = dict(chosen=threads, ms_per_step=timings)
          first = threads
        groups[model][f"torch_{order}"] = _TorchThreads(torch_runner, first)
      entry["torch_spec"] = spec
    info[model] = entry

  _log(f"timing: {args.repeats} rounds of about {args.target_s} s per runner")
  timings = common.measure(groups, repeats=args.repeats,
                           target_s=args.target_s, log=_log)

  gemm = timings.pop("gemm")
  gemm_flops = {name: {k: v * 2.0 * args.gemm_n**3 for k, v in
                       result["steps_per_s"].items() if k != "values"}
                for name, result in gemm.items()}
  peak = max(v["median"] for v in gemm_flops.values())
  gemm_result = dict(n=args.gemm_n, dtype="float32",
                     flop_per_s=gemm_flops, timings=gemm, peak_flop_per_s=peak,
                     peak_from=max(gemm_flops,
                                   key=lambda k: gemm_flops[k]["median"]),
                     torch_threads=info.pop("gemm_torch_threads", None))

  results = {}
  for model in models:
    entry = info[model]
    entry["timings"] = timings[model]
    jax_sps = timings[model]["gan_jax"]["steps_per_s"]
    flops = entry["flops_per_step"]
    entry["gan_jax_fraction_of_peak"] = flops * jax_sps["median"] / peak
    entry["variants"] = {
        key[len("gan_jax_"):]: _ratio(timings[model][key]["steps_per_s"],
                                      jax_sps)
        for key in timings[model] if key.startswith("gan_jax_")}
    for order in ORDERS:
      key = f"torch_{order}"
      if key in timings[model]:
        torch_sps = timings[model][key]["steps_per_s"]
        entry[f"ratio_vs_{key}"] = _ratio(jax_sps, torch_sps)
    if "torch_algorithm1" in timings[model]:
      torch_median = timings[model]["torch_algorithm1"]["steps_per_s"][
          "median"]
      entry["torch_algorithm1_fraction_of_peak"] = (
          flops * torch_median / peak)
      # What the ratio would be if gan_jax's step ran at the GEMM peak: an
      # upper bound for a compute-bound step on this machine.
      entry["ratio_vs_torch_algorithm1_at_gemm_peak"] = (
          peak / flops / torch_median)
    results[model] = entry
  return dict(models=results, gemm=gemm_result,
              torch_device=info.get("torch_device"))


def cold_runs(models: list[str], configs: list[str], args,
              with_torch: bool) -> dict[str, Any]:
  """Cold compile / memory of models and shipped configs (subprocesses)."""
  shipped = {}
  for name in configs:
    _log(f"cold start: shipped config {name}")
    shipped[name] = _cold_jax("shipped", name, None, args.worker_calls)
  per_model = {}
  with tempfile.TemporaryDirectory() as tmp:
    for model in models:
      entry = {}
      equivalent = SHIPPED_EQUIVALENT.get(model)
      if equivalent in shipped and not args.steps_per_call:
        entry["gan_jax"] = dict(shipped[equivalent],
                                note=f"the shipped {equivalent} config")
      else:
        _log(f"cold start: gan_jax {model}")
        entry["gan_jax"] = _cold_jax("benchmark", model, args.steps_per_call,
                                     args.worker_calls)
      if with_torch:
        _log(f"cold start: torch {model}")
        entry["torch_algorithm1"] = _cold_torch(model, args, tmp)
      per_model[model] = entry
  return dict(shipped_configs=shipped, models=per_model)


def _cold_torch(model: str, args, tmp: str) -> dict[str, Any]:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  config = common.benchmark_config(model)
  spec_path = os.path.join(tmp, f"{model}.json")
  with open(spec_path, "w") as f:
    json.dump(common.torch_spec(config), f)
  images_path = ""
  if not data_lib.is_toy(config.data):
    images_path = os.path.join(tmp, f"images_{config.data.image_size}.npy")
    if not os.path.exists(images_path):
      np.save(images_path, data_lib.load_images(config.data, "train"))
  threads = args.chosen_threads.get(model, 1)
  argv = [os.path.abspath(__file__), "--worker=cold_torch",
          f"--spec={spec_path}", f"--images={images_path}",
          "--order=algorithm1", f"--torch_threads={threads}",
          f"--torch_adam={args.torch_adam}",
          f"--torch_device={args.torch_device_resolved}",
          f"--worker_calls={args.worker_calls}"]
  return common.run_worker(argv)


# ----------------------------------------------------------------------------
# Tables.
# ----------------------------------------------------------------------------


def _mb(value) -> str:
  return "-" if value is None else f"{value:,.0f}"


def tables(result: dict[str, Any]) -> str:
  """The Markdown tables and notes of a result."""
  out = []
  models = result.get("throughput", {}).get("models", {})
  cold = result.get("cold", {})
  if models:
    peak = result["throughput"]["gemm"]["peak_flop_per_s"]
    out.append(f"{common.cpu_label(result['machine'])}; float32 GEMM peak "
               f"{peak / 1e9:.0f} GFLOP/s; oneDNN convolutions: "
               f"{result['machine'].get('onednn') or 'not built'}.\n")
    header = ["model", "batch", "steps/call", "gan_jax steps/s",
              "torch steps/s (Alg. 1 order)",
              "torch steps/s (PyTorch-GAN order)",
              "ratio vs Alg. 1 (per-round median)",
              "ratio vs PyTorch-GAN", "ratio bound (gan_jax at GEMM peak)",
              "GFLOP/step", "% of peak gan_jax",
              "% of peak torch", "compile s (cold)",
              "peak RSS MB gan_jax / torch", "CPU, GEMM peak GFLOP/s"]
    cpu = (f"{result['machine']['cpu']} "
           f"({'BF16' if 'avx512_bf16' in result['machine'].get('cpu_flags', []) else 'no BF16'}), "
           f"{peak / 1e9:.0f}")
    rows = []
    for model, entry in models.items():
      timings = entry["timings"]
      get = lambda key: timings.get(key, {}).get("steps_per_s")  # pylint: disable=cell-var-from-loop
      r1 = entry.get("ratio_vs_torch_algorithm1")
      r2 = entry.get("ratio_vs_torch_pytorch_gan")
      cold_model = cold.get("models", {}).get(model, {})
      cold_jax = cold_model.get("gan_jax", {})
      cold_torch = cold_model.get("torch_algorithm1", {})
      torch_frac = entry.get("torch_algorithm1_fraction_of_peak")
      bound = (peak / entry["flops_per_step"] /
               get("torch_algorithm1")["median"]
               if get("torch_algorithm1") else None)
      rows.append([
          model, entry["config"]["batch_size"],
          entry["config"]["steps_per_call"],
          common.fmt_spread(get("gan_jax")),
          common.fmt_spread(get("torch_algorithm1")),
          common.fmt_spread(get("torch_pytorch_gan")),
          (f"{r1['of_medians']:.2f}x ({r1['median_per_round']:.2f}x)"
           if r1 else "-"),
          f"{r2['of_medians']:.2f}x" if r2 else "-",
          (f"{bound:.2f}x" if bound else "-"),
          f"{entry['flops_per_step'] / 1e9:.3f}",
          f"{100 * entry['gan_jax_fraction_of_peak']:.1f}",
          "-" if torch_frac is None else f"{100 * torch_frac:.1f}",
          (f"{cold_jax['compile_s']:.1f}" if cold_jax else
           f"{entry['in_process_compile_s']:.1f} (warm process)"),
          f"{_mb(cold_jax.get('peak_rss_mb'))} / "
          f"{_mb(cold_torch.get('peak_rss_mb'))}", cpu])
    out.append(common.markdown_table(header, rows))
    out.append(_variant_table(models))
    gemm = result["throughput"]["gemm"]
    gemm_rows = [[name, common.fmt_spread(
        {k: v / 1e9 for k, v in flops.items()}, 1)]
                 for name, flops in gemm["flop_per_s"].items()]
    out.append(f"float32 GEMM {gemm['n']}x{gemm['n']}, GFLOP/s median "
               f"[min-max]; peak = {gemm['peak_flop_per_s'] / 1e9:.1f} "
               f"GFLOP/s ({gemm['peak_from']}):\n")
    out.append(common.markdown_table(["implementation", "GFLOP/s"],
                                     gemm_rows))
  shipped = cold.get("shipped_configs", {})
  if shipped:
    rows = [[name, r["steps_per_call"], f"{r['setup_s']:.1f}",
             f"{r['compile_s']:.1f}", f"{r['first_call_s']:.2f}",
             _mb(r["peak_rss_mb"]),
             "yes" if r["compile_s"] < COMPILE_TARGET_S else "NO"]
            for name, r in shipped.items()]
    out.append(f"First-step compile of every shipped config (fresh process, "
               f"no compilation cache; target < {COMPILE_TARGET_S:.0f} s):\n")
    out.append(common.markdown_table(
        ["config", "steps/call", "setup s", "compile s", "first call s",
         "peak RSS MB", "< 20 s"], rows))
  out.append(notes(result))
  return "\n".join(out)


def _variant_table(models: dict[str, Any]) -> str:
  """gan_jax's step variants (timed in the same rounds) against its default."""
  names = [n for n in VARIANTS
           if any(n in e.get("variants", {}) for e in models.values())]
  if not names:
    return ""
  header = ["model", "gan_jax steps/s (float32, default)"]
  for name in names:
    header += [f"{name} steps/s", f"default / {name}" if name == "xla_conv"
               else f"{name} speed-up"]
  rows = []
  for model, entry in models.items():
    timings = entry["timings"]
    row = [model, common.fmt_spread(timings["gan_jax"]["steps_per_s"])]
    for name in names:
      ratio = entry.get("variants", {}).get(name)
      if ratio is None:
        row += ["-", "-"]
        continue
      value = (1 / ratio["of_medians"] if name == "xla_conv"
               else ratio["of_medians"])
      row += [common.fmt_spread(timings[f"gan_jax_{name}"]["steps_per_s"]),
              f"{value:.2f}x"]
    rows.append(row)
  return ("\ngan_jax's step variants, timed in the same rounds (bf16: "
          "config.model.compute_dtype='bfloat16'; xla_conv: "
          "config.model.conv_impl='xla', XLA's own convolutions instead of "
          "oneDNN's):\n\n" + common.markdown_table(header, rows))


def notes(result: dict[str, Any]) -> str:
  machine = result["machine"]
  torch_info = result.get("torch")
  lines = [
      f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, load "
      f"average {machine['load_average_1_5_15'][0]:.1f} at the start; "
      f"jax {machine['jax']} ({machine['jax_backend']}: "
      f"{machine['jax_device_kind']}, {len(machine['jax_devices'])} "
      f"device(s))" + (f", torch {torch_info['torch']} on "
                       f"{result['throughput'].get('torch_device')}"
                       if torch_info and result.get("throughput") else "") +
      ".",
      f"Command: `{result['command']}`" + (" (quick: a smoke test, not a "
                                           "measurement)"
                                           if result["quick"] else "") + ".",
  ]
  if result.get("throughput"):
    models = result["throughput"]["models"]
    threads = {m: e["torch_threads"]["chosen"] for m, e in models.items()
               if "torch_threads" in e}
    tried = "; ".join(
        f"{m}: " + ", ".join(f"{t} thread(s) {ms:.1f} ms"
                             for t, ms in e["torch_threads"][
                                 "ms_per_step"].items())
        for m, e in models.items() if e.get("torch_threads", {}).get(
            "ms_per_step"))
    lines += [
        f"steps/s: median [min-max] of {result['repeats']} rounds (runners "
        f"interleaved, order rotated per round), each about "
        f"{result['target_s']} s, after warm-up. Ratio = median gan_jax / "
        f"median torch (in brackets: median of per-round ratios).",
        "Orders: gan_jax and 'Alg. 1' torch run Algorithm 1 (D step on "
        "fresh real and fresh z, then G step on fresh z: two G forwards per "
        "iteration), the like-for-like comparison; 'PyTorch-GAN' torch runs "
        "G's step first and D's on the same generated batch (one G forward "
        "fewer; BatchNorm eps 0.8).",
        f"torch: eager, Adam '{result['torch_adam']}', threads per model "
        f"{threads} (auto: the faster of 1 and all cores; per step before "
        f"the rounds: {tried or 'not tried'}).",
        "GFLOP/step: XLA cost analysis of the one-iteration float32 "
        "program plus its oneDNN convolutions' FLOPs (XLA counts a custom "
        "call as 0); % of "
        "peak = GFLOP/step x steps/s / GEMM peak (all cores; a torch run on "
        "fewer threads is still divided by it). Ratio bound: GEMM peak / "
        "GFLOP/step / torch Alg. 1 steps/s, the ratio gan_jax would reach "
        "at 100% of peak.",
        "Peak RSS: VmHWM (peak resident set) of a fresh process that "
        "imports, loads the data, builds, compiles (JAX) and runs a few "
        "steps: the whole process, compiler included.",
    ]
  return "\n".join(f"- {line}" for line in lines) + "\n"


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.strip().split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--models", default=",".join(common.MODELS),
                      help=f"comma-separated, of {', '.join(common.MODELS)}")
  parser.add_argument("--configs", default="all",
                      help="shipped configs (experiments/configs/*.py names) "
                      "whose cold first-step compile is measured: 'all', "
                      "'none' or a comma-separated list")
  parser.add_argument("--compile_only", action="store_true",
                      help="only the cold compile of the shipped configs")
  parser.add_argument("--no_cold", action="store_true",
                      help="skip the fresh-process compile/memory runs")
  parser.add_argument("--no_torch", action="store_true",
                      help="gan_jax only, even if torch is installed")
  parser.add_argument("--repeats", type=int, default=None,
                      help="timing rounds (default 7; quick 2)")
  parser.add_argument("--target_s", type=float, default=None,
                      help="seconds per timing (default 1.5; quick 0.05)")
  parser.add_argument("--gemm_n", type=int, default=None,
                      help="GEMM size (default 2048; quick 256)")
  parser.add_argument("--steps_per_call", type=int, default=0,
                      help="override train.steps_per_call (0: the config's)")
  parser.add_argument("--variants", default=",".join(VARIANTS),
                      help="gan_jax step variants timed beside the default "
                      f"one, comma-separated, of {', '.join(VARIANTS)}; "
                      "'none' for none")
  parser.add_argument("--torch_threads", default="auto",
                      help="'auto' (faster of 1 and all cores) or a number")
  parser.add_argument("--torch_adam", default="fused",
                      choices=("default", "foreach", "fused"))
  parser.add_argument("--torch_device", default="auto",
                      help="'auto' (cuda if available, else cpu), cpu, cuda")
  parser.add_argument("--out", default=DEFAULT_OUT,
                      help="JSON path; the Markdown goes beside it (.md)")
  parser.add_argument("--quick", action="store_true",
                      help="tiny and fast: a smoke test (what tests run)")
  parser.add_argument("--from_json", default="",
                      help="only print the tables of this result JSON (and "
                      "rewrite the .md beside it)")
  # Internal: the fresh-process workers.
  parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
  parser.add_argument("--kind", default="", help=argparse.SUPPRESS)
  parser.add_argument("--name", default="", help=argparse.SUPPRESS)
  parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
  parser.add_argument("--images", default="", help=argparse.SUPPRESS)
  parser.add_argument("--order", default="algorithm1", help=argparse.SUPPRESS)
  parser.add_argument("--worker_calls", type=int, default=None,
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.variants = ([] if args.variants in ("", "none") else
                   args.variants.split(","))
  unknown = sorted(set(args.variants) - set(VARIANTS))
  if unknown:
    parser.error(f"--variants: unknown {', '.join(unknown)}; valid: "
                 f"{', '.join(VARIANTS)} or none")
  common.fill_defaults(args, repeats=(2, 7), target_s=(0.05, 1.5),
                       gemm_n=(256, 2048), worker_calls=(1, 3))
  return args


def main(argv=None) -> dict[str, Any]:
  args = parse_args(argv)
  if args.worker == "cold_jax":
    common.emit_result(cold_jax_worker(args.kind, args.name,
                                       args.steps_per_call or None,
                                       args.worker_calls))
    return {}
  if args.worker == "cold_torch":
    common.emit_result(cold_torch_worker(
        args.spec, args.images, args.order, int(args.torch_threads),
        args.torch_adam, args.torch_device, args.worker_calls))
    return {}

  if args.from_json:
    with open(args.from_json) as f:
      markdown = tables(json.load(f))
    with open(os.path.splitext(args.from_json)[0] + ".md", "w") as f:
      f.write(markdown)
    print(markdown)
    return {}
  common.share_accelerator()
  common.disable_compilation_cache()
  models = [m for m in args.models.split(",") if m]
  for model in models:
    if model not in common.MODELS:
      raise SystemExit(f"--models: unknown {model!r}; valid: "
                       f"{', '.join(common.MODELS)}")
  if args.configs == "all":
    configs = common.shipped_configs()
  elif args.configs == "none":
    configs = []
  else:
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(common.shipped_configs())
    if unknown:
      raise SystemExit(f"--configs: unknown {sorted(unknown)}; valid: "
                       f"{', '.join(common.shipped_configs())}")
  if args.compile_only:
    models = []
  with_torch = _torch_available() and not args.no_torch
  start = time.time()
  result = dict(
      command=" ".join(["python", "experiments/benchmarks/throughput.py",
                        *(argv if argv is not None else sys.argv[1:])]),
      quick=args.quick, repeats=args.repeats, target_s=args.target_s,
      torch_adam=args.torch_adam, machine=common.machine_info(),
      torch=common.torch_info() if with_torch else None)
  args.chosen_threads = {}
  args.torch_device_resolved = "cpu"
  if models:
    throughput = measure_throughput(models, args)
    result["throughput"] = throughput
    args.torch_device_resolved = throughput.get("torch_device") or "cpu"
    args.chosen_threads = {
        m: e["torch_threads"]["chosen"]
        for m, e in throughput["models"].items() if "torch_threads" in e}
  if not args.no_cold:
    result["cold"] = cold_runs(models, configs, args, with_torch)
  result["seconds"] = time.time() - start
  common.publish(args.out, result, tables(result))
  return result


if __name__ == "__main__":
  main()
