"""Multi-process (multi-host) JAX: start it from flags, say who this process is.

One training run may span several processes, each driving its local devices
(one per host on a GPU or TPU cluster; or several on one machine, for tests).
Every process runs the same `launch.py` command and calls `initialize` before
JAX starts a backend; JAX then sees all processes' devices as one global
list (`jax.devices()`), the step is mapped over all of them, and collectives
(the gradient pmean) cross processes (over Gloo on CPU).

Two ways to start:

* explicit: `coordinator_address` (host:port of process 0, reachable from
  all), `num_processes` and this `process_id`;
* automatic (`auto=True`): `jax.distributed.initialize()` with no arguments,
  which reads the cluster's environment (SLURM, Open MPI, Cloud TPU, GKE,
  and JAX_COORDINATOR_ADDRESS) on the clusters JAX knows.
"""

from __future__ import annotations

from typing import Optional

import jax
import numpy as np


class DistributedError(ValueError):
  """Inconsistent multi-process settings; the message names the flag."""


def check_settings(coordinator_address: str = "", num_processes: int = 0,
                   process_id: int = -1) -> bool:
  """Checks the explicit settings; returns whether they ask for multi-process.

  All three unset ('', 0, -1) means one process (or `auto`).

  Raises:
    DistributedError: some but not all set, or out of range.
  """
  given = [bool(coordinator_address), num_processes != 0, process_id != -1]
  if not any(given):
    return False
  if not all(given):
    raise DistributedError(
        "--coordinator_address, --num_processes and --process_id go together "
        f"(got --coordinator_address={coordinator_address!r} "
        f"--num_processes={num_processes} --process_id={process_id}); set "
        "all three, or none for one process")
  if ":" not in coordinator_address:
    raise DistributedError(f"--coordinator_address={coordinator_address!r} "
                           "must be host:port (process 0's address)")
  if num_processes < 1:
    raise DistributedError(f"--num_processes={num_processes} must be >= 1")
  if not 0 <= process_id < num_processes:
    raise DistributedError(f"--process_id={process_id} must lie in [0, "
                           f"{num_processes}) for --num_processes="
                           f"{num_processes}")
  return True


def initialize(coordinator_address: str = "", num_processes: int = 0,
               process_id: int = -1, *, auto: bool = False,
               timeout_sec: Optional[int] = None) -> bool:
  """Starts multi-process JAX if asked to; returns whether it did.

  Must run before anything asks JAX for devices. With no settings and
  auto=False it does nothing (one process).

  Args:
    coordinator_address: 'host:port' of process 0.
    num_processes: how many processes the run spans.
    process_id: this process, in [0, num_processes).
    auto: let JAX read the cluster environment instead.
    timeout_sec: how long to wait for all processes to connect (JAX's
      default, 300 s, when None).

  Raises:
    DistributedError: inconsistent settings.
  """
  explicit = check_settings(coordinator_address, num_processes, process_id)
  if explicit and auto:
    raise DistributedError("--distributed (auto-detect) and "
                           "--coordinator_address/--num_processes/"
                           "--process_id exclude each other")
  if not explicit and not auto:
    return False
  kwargs = {}
  if timeout_sec is not None:
    kwargs["initialization_timeout"] = int(timeout_sec)
  if explicit:
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               **kwargs)
  else:
    jax.distributed.initialize(**kwargs)
  return True


def describe() -> str:
  """'process p of P, L of D devices' for logs (starts the backend)."""
  return (f"process {jax.process_index()} of {jax.process_count()}, "
          f"{jax.local_device_count()} of {jax.device_count()} "
          f"{jax.devices()[0].platform} devices")


def is_main_process() -> bool:
  """Whether this process writes the run's files (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process gets here (a no-op with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def agreed(value: int) -> int:
  """Process 0's `value` in every process (when all must run the same call)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return int(multihost_utils.broadcast_one_to_all(np.int32(value)))
