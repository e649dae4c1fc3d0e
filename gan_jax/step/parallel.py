"""Mapping the per-device update over devices: DataParallel."""

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

  shard_map: the state is a replicated jax.Array (P()) on a 1-D mesh named
  `data`, and an image data set is sharded over it (P('data'), see
  `place_images`). pmap: both carry a leading device axis. `place` / `fetch`
  convert the state from / to one host copy, so callers never see the
  difference. The devices may span several processes (multi-host, shard_map
  only): every process runs the same calls on its share of the devices.

  `compiler_options` go to XLA (e.g. {'xla_backend_optimization_level': 0},
  which the tests use: it compiles about 3x faster on CPU and computes the
  same function).
  """

  def __init__(self, update: Callable, devices: Sequence[jax.Device],
               parallelism: str = "shard_map", *,
               compiler_options: Optional[dict[str, Any]] = None):
    if parallelism not in ("shard_map", "pmap"):
      raise ValueError(f"unknown parallelism {parallelism!r}; valid: "
                       f"'shard_map', 'pmap'")
    self._update = update
    self._compiler_options = dict(compiler_options or {}) or None
    self.devices = list(devices)
    self.parallelism = parallelism
    self.mesh = Mesh(np.asarray(self.devices), (AXIS,))
    self._compiled = {}
    self._executables = {}

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  def _scan(self, state, dataset, *, num_steps):
    if num_steps == 1:
      # No while loop: on CPU, convolutions run several times faster outside
      # one (so conv nets on CPU want steps_per_call = 1).
      state, metrics = self._update(state, dataset)
      return state, jax.tree.map(lambda m: m[None], metrics)
    return lax.scan(lambda s, _: self._update(s, dataset), state, None,
                    length=num_steps)

  def _get_fn(self, num_steps: int):
    if num_steps not in self._compiled:
      fn = functools.partial(self._scan, num_steps=num_steps)
      if self.parallelism == "shard_map":
        # check_vma=False: with it, JAX's autodiff would already psum the
        # gradients of replicated parameters, and the explicit pmean (which
        # the pmap path needs) would then multiply them by the device count.
        mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                               out_specs=(P(), P()), check_vma=False)
        self._compiled[num_steps] = jax.jit(mapped, donate_argnums=0)
      else:
        self._compiled[num_steps] = jax.pmap(fn, axis_name=AXIS,
                                             devices=self.devices,
                                             donate_argnums=0)
    return self._compiled[num_steps]

  def place(self, tree: PyTree) -> PyTree:
    """Copies a pytree to every device (replicated).

    Goes through host memory so that no two leaves share a buffer (the state
    is donated, and a buffer cannot be donated twice).
    """
    tree = jax.device_get(tree)
    if self.parallelism == "shard_map":
      return jax.device_put(tree, NamedSharding(self.mesh, P()))
    n = self.num_devices
    stacked = jax.tree.map(
        lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)), tree)
    return jax.device_put(stacked, NamedSharding(self.mesh, P(AXIS)))

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
      shard_map: uint8 [D*S, ...] sharded over `data`; pmap: [D, S, ...].

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
    if self.parallelism == "pmap":
      stacked = block.reshape((num, per_device) + block.shape[1:])
      return jax.device_put(stacked, NamedSharding(self.mesh, P(AXIS)))
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
    if self.parallelism == "pmap":
      tree = jax.tree.map(lambda x: x[0], tree)
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
    self._executables[num_steps] = self._get_fn(num_steps).lower(
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
    state, metrics = self._executables[num_steps](state, dataset)
    if self.parallelism == "pmap":
      metrics = jax.tree.map(lambda m: m[0], metrics)
    else:
      # Replicated over all devices; one local copy (with several processes
      # the global array cannot be fetched, its local copies can).
      metrics = jax.tree.map(lambda m: m.addressable_data(0), metrics)
    return state, metrics
