"""Running the step: mapped over the devices, many iterations per call.

`DataParallel` maps the per-device update of `gan_jax.step.update` over the
devices with `jax.shard_map` under `jax.jit` and runs many iterations per
compiled call with `lax.scan`; `call_length` and `CallTimer` set how many,
so that the training loop, which answers a signal between calls only,
answers within train.max_call_seconds.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Optional, Sequence

from absl import logging

import jax
from jax import lax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from gan_jax import data as data_lib
from gan_jax import kernels
from gan_jax.step.state import AXIS
from gan_jax.step.state import PyTree
from gan_jax.step.state import TrainState


class DataParallel:
  """Maps a per-device update over devices; many iterations per dispatch.

  `run(state, dataset, num_steps)` runs `num_steps` iterations with one
  `lax.scan` inside one compiled, device-mapped call (compiled once per
  distinct num_steps) and returns (state, metrics) where each metric has
  shape [num_steps] (one value per iteration, identical on all devices).
  The input state is donated: do not use it after the call.

  The state is a replicated jax.Array (P()) on a 1-D mesh named `data`, and
  an image data set is sharded over it (P('data'), see `place_images`);
  `place` / `fetch` convert the state from / to one host copy. The devices
  may span several processes (multi-host): every process runs the same calls
  on its share of the devices. (`jax.pmap`, in maintenance since JAX 0.8, is
  not used.)

  Streamed (`streamed=True`, config.data.pipeline 'host'): the data set is
  a `gan_jax.data.pipeline.Stream`; each call takes its iterations' real
  batches from it as [n, D, B, ...] sharded P(None, None, 'data') and scans
  over them (the update's sampler is `make_streamed_sampler`).

  `compiler_options` go to XLA (e.g. {'xla_backend_optimization_level': 0},
  which the tests use: it compiles faster on CPU and computes the same
  function).
  """

  def __init__(self, update: Callable, devices: Sequence[jax.Device], *,
               compiler_options: Optional[dict[str, Any]] = None,
               streamed: bool = False):
    self._update = update
    self._compiler_options = dict(compiler_options or {}) or None
    self.devices = list(devices)
    self.mesh = Mesh(np.asarray(self.devices), (AXIS,))
    self._compiled = {}
    self._executables = {}
    # Streamed (config.data.pipeline 'host'): a call's data is its
    # iterations' batches [n, D, B, ...], each device holding its part of B.
    self.streamed = bool(streamed)
    self.stream_sharding = NamedSharding(self.mesh, P(None, None, AXIS))

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  def _scan(self, state, dataset, *, num_steps):
    if self.streamed:  # scan over the iterations' batches
      if num_steps == 1:
        state, metrics = self._update(state, jax.tree.map(lambda x: x[0],
                                                          dataset))
        return state, jax.tree.map(lambda m: m[None], metrics)
      return lax.scan(self._update, state, dataset)
    if num_steps == 1:
      # No while loop: on CPU, convolutions run several times faster outside
      # one (so conv nets on CPU want steps_per_call = 1).
      state, metrics = self._update(state, dataset)
      return state, jax.tree.map(lambda m: m[None], metrics)
    return lax.scan(lambda s, _: self._update(s, dataset), state, None,
                    length=num_steps)

  def call_fn(self, num_steps: int):
    if num_steps not in self._compiled:
      fn = functools.partial(self._scan, num_steps=num_steps)
      # check_vma=False: with it, JAX's autodiff would already psum the
      # gradients of replicated parameters, and the update's explicit pmean
      # would then multiply them by the device count.
      data_spec = P(None, None, AXIS) if self.streamed else P(AXIS)
      mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=(P(), data_spec),
                             out_specs=(P(), P()), check_vma=False)
      self._compiled[num_steps] = jax.jit(mapped, donate_argnums=0)
    return self._compiled[num_steps]

  def place(self, tree: PyTree) -> PyTree:
    """Copies a pytree to every device (replicated).

    Goes through host memory so that no two leaves share a buffer (the state
    is donated, and a buffer cannot be donated twice).
    """
    return jax.device_put(jax.device_get(tree), NamedSharding(self.mesh, P()))

  def place_images(self, num_examples: int,
                   load: Callable[[int, int], np.ndarray], *,
                   source: str = "the data set") -> jax.Array:
    """Shards an image data set over the devices; loads only local shards.

    Device d of the mesh holds examples [d*S, (d+1)*S), S = N // D (the last
    N mod D examples are not used); this process calls `load(start, stop)`
    once, for the rows of its own devices only.

    Args:
      num_examples: N, examples in the data set.
      load: returns uint8 examples [start, stop) as [stop - start, ...].
      source: where the data comes from, for messages.

    Returns:
      uint8 [D*S, ...] sharded over `data`.

    Raises:
      data.DataError: fewer examples than devices, or `load` returned the
        wrong number of rows.
    """
    num = self.num_devices
    per_device = int(num_examples) // num
    if per_device < 1:
      raise data_lib.DataError(
          f"{source}: {num_examples} training examples for {num} devices; "
          f"every device needs at least one (use fewer devices or more data)")
    process = jax.process_index()
    mine = [i for i, d in enumerate(self.devices)
            if d.process_index == process]
    # jax.devices() lists each process's devices together, so `mine` is one
    # contiguous run of mesh positions (else more rows are read than used).
    low, high = min(mine), max(mine) + 1
    logging.info("Process %d of %d loads examples [%d, %d) of %s for its %d "
                 "device(s) (%d per device)", process, jax.process_count(),
                 low * per_device, high * per_device, source, len(mine),
                 per_device)
    block = np.asarray(load(low * per_device, high * per_device))
    if block.shape[0] != (high - low) * per_device:
      raise data_lib.DataError(
          f"{source}: expected {(high - low) * per_device} examples "
          f"[{low * per_device}, {high * per_device}), read "
          f"{block.shape[0]}")
    shards = [
        jax.device_put(
            block[(i - low) * per_device:(i - low + 1) * per_device],
            self.devices[i]) for i in mine
    ]
    return jax.make_array_from_single_device_arrays(
        (num * per_device,) + block.shape[1:],
        NamedSharding(self.mesh, P(AXIS)), shards)

  def host(self, tree: PyTree) -> PyTree:
    """numpy copies of device values that are equal on every device.

    Works when the devices span several processes (the arrays are then not
    fully addressable; each process reads its first local copy).
    """
    def one(x):
      if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(x.addressable_data(0))
      return jax.device_get(x)
    return jax.tree.map(one, tree)

  def fetch(self, tree: PyTree) -> PyTree:
    """One host (numpy) copy of a replicated device pytree."""
    return self.host(tree)

  def compile(self, state: TrainState, dataset, num_steps: int) -> float:
    """Compiles ahead of time for these arguments; returns the seconds taken.

    Optional (`run` compiles on first use); lets a caller time compilation
    apart from training. 0 when already compiled for this num_steps.
    """
    num_steps = int(num_steps)
    if num_steps in self._executables:
      return 0.0
    start = time.perf_counter()
    if self.streamed:
      dataset = dataset.abstract(num_steps, self.stream_sharding)
    self._executables[num_steps] = self.call_fn(num_steps).lower(
        state, dataset).compile(compiler_options=self._compiler_options)
    return time.perf_counter() - start

  def cost_analysis(self, state: TrainState, dataset, num_steps: int
                    ) -> dict[str, float]:
    """XLA's cost analysis of the compiled call for `num_steps` iterations.

    Compiles it if needed. Keys as XLA reports them ('flops',
    'bytes accessed', ...), for the whole call on one device; divide by
    `num_steps` for one iteration. 'flops' includes the oneDNN
    convolutions' (`gan_jax.kernels`), which XLA counts as 0.
    """
    num_steps = int(num_steps)
    self.compile(state, dataset, num_steps)
    executable = self._executables[num_steps]
    analysis = executable.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one per computation
      analysis = analysis[0] if analysis else {}
    analysis = {k: float(v) for k, v in dict(analysis or {}).items()}
    analysis["flops"] = (analysis.get("flops", 0.0) +
                         kernels.custom_call_flops(executable.as_text()))
    return analysis

  def run(self, state: TrainState, dataset, num_steps: int):
    """Runs `num_steps` iterations; returns (state, metrics [num_steps])."""
    num_steps = int(num_steps)
    self.compile(state, dataset, num_steps)
    if not self.streamed:
      state, metrics = self._executables[num_steps](state, dataset)
    else:
      stream = dataset
      state, metrics = self._executables[num_steps](
          state, stream.next_call(num_steps, self.stream_sharding))
      # While the devices run this call, the next one's batches (guessing
      # the same length) go to them: the loop does not wait for the host.
      stream.prepare(num_steps, self.stream_sharding)
    # Replicated over all devices; one local copy (with several processes
    # the global array cannot be fetched, its local copies can).
    return state, jax.tree.map(lambda m: m.addressable_data(0), metrics)


# ----------------------------------------------------------------------------
# How many iterations a compiled call runs (the training loop's calls).
# ----------------------------------------------------------------------------

# Until a call has been timed, calls run at most this many iterations: the
# shortest lax.scan, so that its time predicts that of longer scans (a
# 1-iteration call compiles without the loop; on CPU convolutions run several
# times faster outside one, so its time would not).
FIRST_CALL_STEPS = 2


def call_length(steps_per_call: int, to_event: int,
                seconds_per_iteration: Optional[float],
                max_call_seconds: float) -> int:
  """Iterations in the next compiled call: a signal waits for at most one.

  A cluster sends SIGKILL soon after SIGTERM (SLURM's KillWait: 30 s), so a
  call runs at most the largest power of two n with n * seconds_per_iteration
  <= max_call_seconds (at least 1), besides train.steps_per_call and the
  next event (`to_event` iterations away). Each distinct length compiles its
  own scan, so: a power of two, which a wavering time moves by factors of
  two only; and the iterations up to the event split into equal calls (1000
  in 4 x 250, not 3 x 256 + 232). Untimed (None): FIRST_CALL_STEPS, so
  that a first call cannot run for minutes. Results do not depend on the
  lengths: random draws are keyed by the step.
  """
  longest = max(1, min(int(steps_per_call), int(to_event)))
  if seconds_per_iteration is None:
    return min(longest, FIRST_CALL_STEPS)
  if seconds_per_iteration <= 0:
    return longest
  allowed = max_call_seconds / seconds_per_iteration
  if allowed >= longest:
    return longest
  cap = 1 if allowed < 2 else 1 << (int(allowed).bit_length() - 1)
  calls = -(-int(to_event) // cap)
  return -(-int(to_event) // calls)


class CallTimer:
  """Times the compiled calls; a pessimistic time per iteration.

  Each call is waited for, so that at most one is in flight when a signal
  comes. The estimate is the slowest time per iteration of any call of
  FIRST_CALL_STEPS or more iterations (1-iteration calls are another
  program): calls only get shorter, so a noisy time costs few compiles. A
  call that compiled is not timed (a new executable's first run also
  allocates and transfers), except that until a call is timed its time may
  shorten the next call.
  """

  def __init__(self, max_call_seconds: float,
               clock: Callable[[], float] = time.perf_counter):
    self.max_call_seconds = float(max_call_seconds)
    self.clock = clock  # tests pass a simulated one
    self.seconds_per_iteration: Optional[float] = None  # of timed calls
    self.untimed: Optional[float] = None  # of calls that compiled
    self.lengths: set[int] = set()  # distinct call lengths (one compile each)
    self.cap: Optional[tuple[int, bool]] = None  # the last one logged
    self.warned = False

  def length(self, steps_per_call: int, to_event: int) -> int:
    bound = self.max_call_seconds
    n = call_length(steps_per_call, to_event, self.seconds_per_iteration,
                    bound)
    if self.seconds_per_iteration is None and self.untimed is not None:
      n = min(n, call_length(steps_per_call, to_event, self.untimed, bound))
    return n

  def next_length(self, steps_per_call: int, to_event: int) -> int:
    """The next call's iterations; logs the longest allowed when it changes."""
    cap = self.length(steps_per_call, steps_per_call)
    timed = self.seconds_per_iteration is not None
    estimate = self.seconds_per_iteration if timed else self.untimed
    if estimate is not None and (cap, timed) != self.cap:
      self.cap = (cap, timed)
      logging.info("Timed %.3g s per iteration%s: compiled calls of at most %d "
                   "iteration(s) (config.train.max_call_seconds = %g, "
                   "steps_per_call = %d)", estimate,
                   "" if timed else " (in a call that compiled)", cap,
                   self.max_call_seconds, steps_per_call)
    return self.length(steps_per_call, to_event)

  def advance(self, run, num_steps: int) -> float:
    """`run.advance(num_steps, wait=True)` (the training loop's `Run`: it
    returns the seconds it spent compiling), timed; the compile seconds."""
    start = self.clock()
    compiled = run.advance(num_steps, wait=True)
    per_iteration = (self.clock() - start - compiled) / num_steps
    self.lengths.add(num_steps)
    if num_steps >= FIRST_CALL_STEPS:
      if compiled:
        self.untimed = max(self.untimed or 0.0, per_iteration)
      else:
        self.seconds_per_iteration = max(self.seconds_per_iteration or 0.0,
                                         per_iteration)
    elif (not compiled and per_iteration > self.max_call_seconds and
          not self.warned):
      self.warned = True  # the shortest call: nothing answers a signal sooner
      logging.warning(
          "One training iteration takes %.1f s, more than "
          "config.train.max_call_seconds = %g: a SIGTERM may wait up to "
          "~%.0f s (plus saving the checkpoint) for the call in flight",
          per_iteration, self.max_call_seconds, per_iteration)
    return compiled
