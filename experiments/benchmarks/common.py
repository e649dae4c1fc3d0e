"""Shared by the benchmark scripts: configs, the JAX runner, timing, output.

Benchmarked models (`MODELS`, built by `benchmark_config`):

  mlp64, mlp256  experiments/configs/fashion_mnist_mlp.py (the classic MLP,
                 `gan_jax.models.MLP_PRESETS['classic']`, Adam 2e-4, b1 0.5)
                 at batch 64 / 256, with the EMA of G and R1 off so that it is
                 the computation of the PyTorch reference; its
                 steps_per_call (200) is kept.
  dcgan          experiments/configs/fashion_mnist_dcgan.py at 32x32 without
                 the EMA of G (the DCGAN 4x4 -> 32x32 shape that
                 docs/benchmarks was measured on; the shipped config trains
                 at 28x28 with an EMA since), batch 64, steps_per_call 1.
  ring           experiments/configs/ring.py unchanged (MLP G 16-256x3-2,
                 D 2-128x2-1, ReLU, R1 gamma 0.1, EMA of G 0.9995, Adam 1e-3,
                 batch 256, steps_per_call 500).

Timing protocol (`measure`): every runner is warmed up first; then R repeats,
each timing every runner of every group once for a fixed number of units
(calibrated to `target_s`), the runners' order rotated from repeat to repeat,
so that drift of the machine's load hits all of them alike.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "experiments", "configs")
DEFAULT_OUTDIR = os.path.join(ROOT, "docs", "benchmarks")
MODELS = ("mlp64", "mlp256", "dcgan", "ring")
# Marks the line of a worker subprocess's stdout that carries its result.
RESULT_MARK = "BENCHMARK_RESULT "


def shipped_configs() -> list[str]:
  """Names of experiments/configs/*.py (without .py), sorted."""
  return sorted(os.path.splitext(os.path.basename(p))[0]
                for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))
                if not os.path.basename(p).startswith("_"))


def shipped_config(name: str):
  """get_config() of experiments/configs/<name>.py."""
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.from_file(os.path.join(CONFIG_DIR, name + ".py"))


def benchmark_config(model: str):
  """The gan_jax config of a benchmarked model (see the module docstring)."""
  if model in ("mlp64", "mlp256"):
    config = shipped_config("fashion_mnist_mlp")
    from gan_jax import models as model_lib  # pylint: disable=g-import-not-at-top
    config.model = model_lib.mlp_preset("classic")
    config.train.batch_size = 64 if model == "mlp64" else 256
    config.train.ema_decay = 0.0
    config.loss.r1_gamma = 0.0
    return config
  if model == "dcgan":
    config = shipped_config("fashion_mnist_dcgan")
    config.data.image_size = 32
    config.train.ema_decay = 0.0
    return config
  if model == "ring":
    return shipped_config("ring")
  raise ValueError(f"unknown model {model!r}; valid: {', '.join(MODELS)}")


def describe_config(config) -> dict[str, Any]:
  """The fields that decide a step's cost, for the JSON."""
  model = config.model
  return dict(
      data=config.data.name, model=model.name,
      batch_size=int(config.train.batch_size),
      steps_per_call=int(config.train.steps_per_call),
      discriminator_steps=int(config.train.discriminator_steps),
      loss=config.loss.name, r1_gamma=float(config.loss.r1_gamma),
      ema_decay=float(config.train.ema_decay),
      optimizer=config.optimizer.generator.to_dict(),
      latent_dim=int(model.latent_dim),
      batch_norm_epsilon=float(model.batch_norm_epsilon),
      parallelism=config.parallelism)


def torch_spec(config) -> dict[str, Any]:
  """The JSON-able spec of `torch_reference.TorchGAN` for a gan_jax config.

  Raises:
    ValueError: a setting the torch reference does not implement.
  """
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  problems = []
  if config.loss.name != "non_saturating":
    problems.append(f"loss.name={config.loss.name!r}")
  if config.loss.fake_fraction != 0.5 or config.loss.label_smoothing:
    problems.append("loss.fake_fraction / label_smoothing")
  for player in ("generator", "discriminator"):
    opt = config.optimizer[player]
    if opt.name != "adam" or opt.get("schedule", "constant") != "constant":
      problems.append(f"optimizer.{player}")
  if problems:
    raise ValueError("torch reference: unsupported " + ", ".join(problems))
  toy = data_lib.is_toy(config.data)
  means = stds = None
  if toy:
    dist = data_lib.make_toy_distribution(config.data)
    means = np.asarray(dist.means, np.float32).tolist()
    stds = np.asarray(dist.stds, np.float32).tolist()
  adam = lambda o: dict(learning_rate=float(o.learning_rate), b1=float(o.b1),
                        b2=float(o.b2))
  model = json.loads(config.model.to_json())
  return dict(model=model,
              data_shape=list(data_lib.data_shape(config.data)),
              batch_size=int(config.train.batch_size),
              discriminator_steps=int(config.train.discriminator_steps),
              r1_gamma=float(config.loss.r1_gamma),
              ema_decay=float(config.train.ema_decay),
              g_adam=adam(config.optimizer.generator),
              d_adam=adam(config.optimizer.discriminator),
              toy_means=means, toy_stds=stds)


def share_accelerator() -> None:
  """Lets worker processes allocate beside this one on a GPU.

  JAX preallocates 75% of a GPU's memory at start-up; with it, a fresh
  worker process (cold start, scaling) would find the device full. Must run
  before JAX's backend starts; a value set by the user is kept. Device
  memory is reported as peak bytes in use, which this does not change.
  """
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def disable_compilation_cache() -> None:
  """Turns JAX's persistent compilation cache off: compile times are cold."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_enable_compilation_cache", False)


# ----------------------------------------------------------------------------
# Runners: a `units`-long piece of work that returns when it is done.
# ----------------------------------------------------------------------------


class JaxRunner:
  """gan_jax's real update step (`gan_jax.train.setup_training`).

  One unit = one call of `parallel.run(state, dataset, steps_per_call)`,
  i.e. `steps_per_call` iterations in one dispatch (a lax.scan when > 1),
  exactly as `train_and_evaluate` runs them (which also fetches metrics at
  log steps; not done here).
  """

  def __init__(self, config, *, devices=None,
               compiler_options: Optional[dict] = None,
               steps_per_call: Optional[int] = None):
    from gan_jax import train as train_lib  # pylint: disable=g-import-not-at-top
    start = time.perf_counter()
    setup = train_lib.setup_training(config, devices=devices,
                                     compiler_options=compiler_options)
    self.setup_s = time.perf_counter() - start
    self.parallel = setup.parallel
    self.state = setup.state
    self.dataset = setup.dataset
    # The image data set on the host (uint8 [N, H, W, C]), None for toy data.
    self.images = setup.experiment.dataset
    self.steps_per_unit = int(steps_per_call or config.train.steps_per_call)
    self.compile_s = self.parallel.compile(self.state, self.dataset,
                                           self.steps_per_unit)

  def run(self, units: int) -> None:
    import jax  # pylint: disable=g-import-not-at-top
    for _ in range(int(units)):
      # The state is donated: always rebind it.
      self.state, _ = self.parallel.run(self.state, self.dataset,
                                        self.steps_per_unit)
    jax.block_until_ready(self.state)

  def flops(self) -> dict[str, Any]:
    """XLA's cost analysis: FLOPs per iteration, and of one whole call.

    The per-step figure is the analysis of the 1-iteration program (no
    loop). That of the steps_per_call program is reported as well:
    XLA's HLO cost analysis counts a while loop's body once, so it is
    about the 1-step figure, not steps_per_call times it.
    """
    one = self.parallel.cost_analysis(self.state, self.dataset, 1)
    result = dict(flops_per_step=one.get("flops", 0.0),
                  bytes_accessed_per_step=one.get("bytes accessed", 0.0),
                  source="cost_analysis of the 1-iteration program")
    if self.steps_per_unit > 1:
      call = self.parallel.cost_analysis(self.state, self.dataset,
                                         self.steps_per_unit)
      result["flops_reported_for_steps_per_call_program"] = call.get(
          "flops", 0.0)
    return result


class JaxGemm:
  """C = A @ B, float32 [n, n] (jitted jnp.dot, default precision)."""

  def __init__(self, n: int = 2048):
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    keys = jax.random.split(jax.random.PRNGKey(0))
    self.a = jax.random.normal(keys[0], (n, n), jnp.float32)
    self.b = jax.random.normal(keys[1], (n, n), jnp.float32)
    self.fn = jax.jit(jnp.dot)
    self.flops_per_unit = 2.0 * n**3
    self.steps_per_unit = 1
    self.run(1)

  def run(self, units: int) -> None:
    out = None
    for _ in range(int(units)):
      out = self.fn(self.a, self.b)
    out.block_until_ready()


class TorchGemm:
  """torch.mm of float32 [n, n] into a preallocated output."""

  def __init__(self, n: int = 2048, device: str = "cpu"):
    import torch  # pylint: disable=g-import-not-at-top
    self.torch = torch
    generator = torch.Generator().manual_seed(0)
    self.device = torch.device(device)
    self.a = torch.randn(n, n, generator=generator).to(self.device)
    self.b = torch.randn(n, n, generator=generator).to(self.device)
    self.c = torch.empty(n, n, device=self.device)
    self.flops_per_unit = 2.0 * n**3
    self.steps_per_unit = 1
    self.run(1)

  def run(self, units: int) -> None:
    for _ in range(int(units)):
      self.torch.mm(self.a, self.b, out=self.c)
    if self.device.type == "cuda":
      self.torch.cuda.synchronize(self.device)


class TorchRunner:
  """`torch_reference.TorchGAN`; one unit = one iteration."""

  def __init__(self, gan):
    self.gan = gan
    self.steps_per_unit = 1

  def run(self, units: int) -> None:
    self.gan.run(units)


# ----------------------------------------------------------------------------
# Timing.
# ----------------------------------------------------------------------------


def fill_defaults(args, **values: tuple[Any, Any]) -> None:
  """Sets each unset (None) `args.<name>` to (quick, full)[not args.quick]."""
  for name, (quick, full) in values.items():
    if getattr(args, name) is None:
      setattr(args, name, quick if args.quick else full)


def timed(fn: Callable[[], Any]) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def calibrate(runner, target_s: float, *, min_units: int = 1,
              max_units: int = 100_000) -> tuple[int, float]:
  """Units per timing so that one timing takes about `target_s`.

  Times one unit (the runner is warm), then doubles until a timing takes
  at least a tenth of the target. Returns (units, seconds per unit).
  """
  units = 1
  while True:
    seconds = timed(lambda: runner.run(units))
    if seconds >= 0.1 * target_s or units >= max_units:
      break
    units *= 2
  per_unit = seconds / units
  return (max(min_units, min(max_units, round(target_s / per_unit))),
          per_unit)


def summarise(values: Sequence[float]) -> dict[str, float]:
  """median, min, max, quartiles and the values themselves."""
  values = [float(v) for v in values]
  ordered = sorted(values)
  if len(values) >= 2:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
  else:
    q1 = q3 = values[0]
  return dict(median=statistics.median(values), min=ordered[0],
              max=ordered[-1], q1=q1, q3=q3, values=values)


def measure(groups: Mapping[str, Mapping[str, Any]], *, repeats: int,
            target_s: float, warmup_units: int = 1,
            log: Callable[[str], None] = print) -> dict[str, dict]:
  """Times every runner of every group, interleaved.

  Args:
    groups: {group: {runner name: runner}}; a runner has `run(units)` and
      `steps_per_unit`.
    repeats: R; each repeat times every runner once.
    target_s: seconds one timing should take (units are calibrated).
    warmup_units: units run before calibration.

  Returns:
    {group: {runner: {'units', 'steps_per_timing', 'seconds': [R],
    'steps_per_s': summarise(...)}}}.
  """
  plan = {}
  for group, runners in groups.items():
    for name, runner in runners.items():
      runner.run(warmup_units)
      units, per_unit = calibrate(runner, target_s)
      plan[(group, name)] = units
      log(f"  {group}/{name}: {units} unit(s) of {runner.steps_per_unit} "
          f"step(s) per timing ({per_unit * 1e3:.2f} ms per unit)")
  seconds = {key: [] for key in plan}
  keys = list(plan)
  for r in range(repeats):
    shift = r % len(keys)
    # Rotating the whole sequence puts each runner at a different place in
    # each repeat, and, within a group, alternates which runs first.
    order = keys[shift:] + keys[:shift]
    if r % 2:
      order = order[::-1]
    for group, name in order:
      runner = groups[group][name]
      seconds[(group, name)].append(
          timed(lambda: runner.run(plan[(group, name)])))  # pylint: disable=cell-var-from-loop
    log(f"  repeat {r + 1}/{repeats} done")
  results = {}
  for (group, name), secs in seconds.items():
    runner = groups[group][name]
    steps = plan[(group, name)] * runner.steps_per_unit
    results.setdefault(group, {})[name] = dict(
        units=plan[(group, name)], steps_per_timing=steps, seconds=secs,
        steps_per_s=summarise([steps / s for s in secs]))
  return results


# ----------------------------------------------------------------------------
# Processes, memory, the machine.
# ----------------------------------------------------------------------------


def rss_mb() -> float:
  """This process's resident set size now, MB (Linux /proc)."""
  try:
    with open("/proc/self/statm") as f:
      pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
  except (OSError, ValueError):
    return float("nan")


def peak_rss_mb() -> float:
  """This process's peak resident set size so far, MB.

  Linux: VmHWM of /proc/self/status, the high-water mark of this program's
  memory. Not ru_maxrss: Linux carries the parent's RSS at fork into a
  child's ru_maxrss across exec, so a worker started by a big parent would
  report at least the parent's size. Elsewhere: ru_maxrss.
  """
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 2**10  # kB
  except (OSError, ValueError, IndexError):
    pass
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def emit_result(result: dict) -> None:
  """A worker's last stdout line: the mark and its JSON result."""
  sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
  sys.stdout.flush()


def run_worker(argv: Sequence[str], *, env: Optional[dict] = None,
               timeout: float = 900) -> dict:
  """Runs `python argv...` from the repository root; returns its result.

  Raises:
    RuntimeError: the worker failed or printed no result (with its output).
  """
  full_env = dict(os.environ)
  full_env.update(env or {})
  full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
  proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=full_env,
                        capture_output=True, text=True, timeout=timeout,
                        check=False)
  for line in reversed(proc.stdout.splitlines()):
    if line.startswith(RESULT_MARK):
      return json.loads(line[len(RESULT_MARK):])
  raise RuntimeError(f"worker {' '.join(argv)} failed (exit "
                     f"{proc.returncode}):\n{proc.stdout[-3000:]}\n"
                     f"{proc.stderr[-3000:]}")


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


# CPU features that decide which kernels XLA and oneDNN can use.
_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
              "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
  """The `_CPU_FLAGS` that /proc/cpuinfo lists (empty where it has none)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          present = set(line.split(":", 1)[1].split())
          return [flag for flag in _CPU_FLAGS if flag in present]
  except OSError:
    pass
  return []


def cpu_label(machine: dict[str, Any]) -> str:
  """'AMD EPYC (avx512f, avx512_bf16), 2 cores': tells machines apart."""
  flags = [f for f in machine.get("cpu_flags", []) if f.startswith(
      ("avx512f", "avx512_bf16", "amx_bf16"))] or machine.get(
          "cpu_flags", [])[:1]
  return (f"{machine['cpu']} ({', '.join(flags) or 'no AVX-512'}), "
          f"{machine['cpu_count']} cores")


def machine_info() -> dict[str, Any]:
  """CPU, cores, load, versions, JAX backend and devices (and torch's)."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import kernels  # pylint: disable=g-import-not-at-top
  info = dict(
      cpu=cpu_model(), cpu_flags=cpu_flags(), cpu_count=os.cpu_count(),
      onednn=kernels.onednn_version(),
      sched_affinity=(len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity") else None),
      load_average_1_5_15=list(os.getloadavg()),
      platform=platform.platform(), python=platform.python_version(),
      jax=jax.__version__, jax_backend=jax.default_backend(),
      jax_devices=[str(d) for d in jax.devices()],
      jax_device_kind=jax.devices()[0].device_kind,
      xla_flags=os.environ.get("XLA_FLAGS", ""),
      jax_default_matmul_precision=str(
          jax.config.jax_default_matmul_precision))
  try:
    import flax  # pylint: disable=g-import-not-at-top
    import optax  # pylint: disable=g-import-not-at-top
    info.update(flax=flax.__version__, optax=optax.__version__)
  except ImportError:
    pass
  return info


def torch_info() -> Optional[dict[str, Any]]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return dict(torch=torch.__version__, num_threads=torch.get_num_threads(),
              interop_threads=torch.get_num_interop_threads(),
              cuda_available=torch.cuda.is_available(),
              mkldnn=torch.backends.mkldnn.is_available())


def write_outputs(path: str, data: dict, markdown: str) -> list[str]:
  """Writes the JSON at `path` and the Markdown beside it (.md)."""
  from experiments.figures import common as figures_common  # pylint: disable=g-import-not-at-top
  figures_common.write_json(path, data)
  md_path = os.path.splitext(path)[0] + ".md"
  with open(md_path, "w") as f:
    f.write(markdown)
  return [path, md_path]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]
                   ) -> str:
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def fmt_spread(summary: Optional[Mapping[str, float]], digits: int = 1
               ) -> str:
  """'median [min-max]' of a summarise() dict, '-' for None."""
  if not summary:
    return "-"
  f = lambda v: f"{v:,.{digits}f}"
  return f"{f(summary['median'])} [{f(summary['min'])}-{f(summary['max'])}]"


def publish(path: str, data: dict, markdown: str) -> list[str]:
  """`write_outputs`, then prints the tables and where they went."""
  files = write_outputs(path, data, markdown)
  print(markdown)
  for written in files:
    print(f"wrote {written}")
  return files
