"""Streamed input: each iteration's real batches, read on the host.

config.data.pipeline chooses where the step's real examples come from:

* 'device': the whole uint8 train split sits on the devices (sharded, see
  `DataParallel.place_images`) and the step gathers its batches by index.
* 'host': a `Stream` reads, for every iteration, the D real batches the
  step draws (D = k D sub-steps, + 1 when the game's G loss reads reals),
  each of the global batch size B, as uint8 [D, B, H, W, C] (and int32
  labels [D, B] for a conditional model); the step scans over them. For
  data sets larger than the devices' memory: the split stays on the host
  (in RAM or memory-mapped).
* 'auto': 'device' when the split's share per device fits in a quarter of a
  device's memory (2 GiB when the device does not say, e.g. on CPU), else
  'host' (`resolve`).

The stream: the examples of a seeded global shuffle, reshuffled every epoch
(config.seed; with config.data.mirror the data set doubled by the x-flipped
copies: index i >= N is example i - N flipped), cut into consecutive global
batches; iteration t's D batches are batches tD .. tD + D - 1. Process p of
P reads only its share of each global batch (`process_batch_slice`). The
reading is a grain `MapDataset` over iterations (random access: a resumed
run starts at its checkpoint's position without reading what came before),
prefetched by grain's reader threads; `Stream.next_call` / `Stream.prepare`
put a call's iterations on the devices, the next call's while the devices
run the current one.

Position: `Stream.position` counts the iterations that compiled calls have
consumed (prefetched ones are not counted); checkpoints carry it
(`checkpoint_extra`, `position_from_extra`) so that a resumed run reads
exactly the batches a straight run would.
"""

from __future__ import annotations

import collections
import sys
import threading
from typing import Any, Optional

from absl import logging
import grain
import jax
import numpy as np

from gan_jax.data import batching
from gan_jax.data import common
from gan_jax.fields import ConfigError

PIPELINES = ("auto", "device", "host")
# 'auto' keeps a data set on the devices while its share per device is at
# most this fraction of a device's memory (the rest holds the models, their
# optimiser states and the step's activations) ...
DEVICE_MEMORY_FRACTION = 0.25
# ... or, where the device does not report its memory (CPU), this many bytes.
UNKNOWN_DEVICE_BYTES = 2 << 30
# grain's reader threads. One: reading a batch is a numpy gather, which
# holds the GIL, and on a small CPU more threads only take cores from XLA.
READ_THREADS = 1
# Iterations grain reads ahead: enough for a long call, at most about this
# many bytes (large images).
MAX_PREFETCH = 256
PREFETCH_BYTES = 256 << 20
# Epoch permutations kept (a batch may straddle two epochs; reader threads
# may be an epoch apart).
_CACHED_EPOCHS = 4
# Checkpoint `extra` keys.
POSITION_KEY = "data_position"
STREAM_KEY = "data_stream"


def resolve(data_config, *, train_bytes: int, devices) -> tuple[str, str]:
  """('device' | 'host', why) for config.data.pipeline.

  Args:
    data_config: config.data.
    train_bytes: the train split's uint8 bytes (None for toy data).
    devices: the devices of the run.

  Raises:
    ConfigError: 'host' for a toy data set (sampled on the device).
  """
  choice = common.field(data_config, "pipeline", "auto")
  if common.is_toy(data_config):
    if choice == "host":
      raise ConfigError(
          f"config.data.pipeline = 'host': toy data set "
          f"{common.field(data_config, 'name')!r} is sampled on the device; "
          "use 'auto' or 'device'")
    return "device", "toy data is sampled on the device"
  if choice in ("device", "host"):
    return choice, f"config.data.pipeline = {choice!r}"
  limit = device_memory(devices[0])
  num = max(1, len(devices))
  if limit is None:
    bound, share, where = UNKNOWN_DEVICE_BYTES, train_bytes, (
        f"{devices[0].platform} devices report no memory size: the bound is "
        f"{_gib(UNKNOWN_DEVICE_BYTES)}")
  else:
    bound, share, where = int(limit * DEVICE_MEMORY_FRACTION), (
        -(-train_bytes // num)), (
            f"a quarter of a device's {_gib(limit)} is {_gib(limit // 4)}")
  mode = "device" if share <= bound else "host"
  return mode, (f"config.data.pipeline = 'auto': the train split is "
                f"{_gib(train_bytes)} ({_gib(share)} per device) and {where}")


def _gib(num_bytes: int) -> str:
  return f"{num_bytes / 2**30:.3g} GiB"


def device_memory(device) -> Optional[int]:
  """A device's memory in bytes (`memory_stats()['bytes_limit']`), or None."""
  try:
    stats = device.memory_stats()
  except Exception:  # pylint: disable=broad-except
    return None
  limit = (stats or {}).get("bytes_limit")
  return int(limit) if limit else None


class Stream:
  """Each iteration's real batches, this process's share, from the host.

  Attributes:
    position: iterations consumed by `take` / `next_call` (checkpoints
      carry it); iterations read ahead are not counted.
    draws: D, real batches per iteration.
    batch_size: B, the global batch size.
    share: this process's examples of each global batch (a slice of B).
  """

  def __init__(self, images, labels=None, *, batch_size: int, draws: int,
               seed: int, mirror: bool = False, position: int = 0,
               process_index: Optional[int] = None,
               process_count: Optional[int] = None,
               read_threads: int = READ_THREADS):
    """
    Args:
      images: uint8 [N, H, W, C] (a read-only np.memmap is fine: only the
        rows of each batch are read).
      labels: int [N] (or None: no labels).
      batch_size: B.
      draws: D.
      seed: the shuffle's seed (config.seed).
      mirror: draw from the data set doubled by its x-flipped copies.
      position: the first iteration to read.
      process_index, process_count: this process's share (default: jax's).
      read_threads: grain's reader threads (0: read when asked).
    """
    self.images, self.labels = images, labels
    self.num_examples = int(images.shape[0])
    if self.num_examples < 1:
      raise common.DataError("the train split is empty")
    if labels is not None and int(labels.shape[0]) != self.num_examples:
      raise common.DataError(f"{labels.shape[0]} labels for "
                             f"{self.num_examples} training images")
    self.batch_size, self.draws = int(batch_size), int(draws)
    self.share = batching.process_batch_slice(self.batch_size, process_index,
                                              process_count)
    self.seed, self.mirror = int(seed), bool(mirror)
    self.span = self.num_examples * (2 if self.mirror else 1)
    self.read_threads = int(read_threads)
    self._epochs: collections.OrderedDict = collections.OrderedDict()
    self._lock = threading.Lock()
    self._iterator = None
    self.seek(position)
    logging.info("Process %d streams examples [%d, %d) of every global batch "
                 "of %d, %d batch(es) per iteration, from iteration %d",
                 jax.process_index() if process_index is None else
                 process_index, self.share.start, self.share.stop,
                 self.batch_size, self.draws, self.position)

  # -- What is read.

  @property
  def fingerprint(self) -> dict:
    """What fixes the stream (a checkpoint's position means nothing else)."""
    return dict(seed=self.seed, batch_size=self.batch_size,
                draws=self.draws, span=self.span)

  def element_shapes(self) -> dict:
    """One iteration's arrays (this process's share): name -> (shape, dtype)."""
    share = self.share.stop - self.share.start
    shapes = dict(images=((self.draws, share) + tuple(self.images.shape[1:]),
                          np.dtype(np.uint8)))
    if self.labels is not None:
      shapes["labels"] = ((self.draws, share), np.dtype(np.int32))
    return shapes

  def _permutation(self, epoch: int) -> np.ndarray:
    """The shuffled order of epoch `epoch`: a permutation of [0, span)."""
    with self._lock:
      order = self._epochs.get(epoch)
      if order is None:
        # Vectorised: grain's per-index shuffle (index_shuffle) costs about
        # 15 us per example in Python (1 ms per batch of 64, measured), as
        # much as a small model's step on a CPU core.
        rng = np.random.default_rng([self.seed, epoch])
        dtype = np.int32 if self.span < 2**31 else np.int64
        order = rng.permutation(self.span).astype(dtype)
        self._epochs[epoch] = order
        while len(self._epochs) > _CACHED_EPOCHS:
          self._epochs.popitem(last=False)
      return order

  def indices(self, iteration: int) -> np.ndarray:
    """Example indices [D, B/P] in [0, span) that this process reads at
    `iteration` (index >= N: example index - N, x-flipped)."""
    first = int(iteration) * self.draws * self.batch_size
    positions = (first + np.arange(self.draws)[:, None] * self.batch_size +
                 np.arange(self.share.start, self.share.stop)[None, :])
    epochs, offsets = np.divmod(positions, self.span)
    out = np.empty(positions.shape, np.int64)
    for epoch in np.unique(epochs):
      where = epochs == epoch
      out[where] = self._permutation(int(epoch))[offsets[where]]
    return out

  def read(self, iteration: int) -> dict:
    """This process's share of iteration `iteration`'s batches: images
    uint8 [D, B/P, H, W, C] (and labels int32 [D, B/P])."""
    index = self.indices(iteration).reshape(-1)
    rows = index % self.num_examples
    images = np.asarray(self.images[rows])  # a memmap reads these rows only
    if self.mirror:
      flip = index >= self.num_examples
      if flip.any():
        images[flip] = images[flip][:, :, ::-1]
    shape = (self.draws, -1)
    out = dict(images=images.reshape(shape + images.shape[1:]))
    if self.labels is not None:
      out["labels"] = np.asarray(self.labels[rows], np.int32).reshape(shape)
    return out

  # -- Reading ahead and consuming.

  def seek(self, position: int) -> None:
    """Reads from iteration `position` on (what was read ahead is dropped)."""
    self.position = int(position)
    self._ahead = collections.deque()  # read, not consumed
    self._prepared = None  # (n, device arrays of the first n of _ahead)
    if getattr(self._iterator, "close", None) is not None:
      self._iterator.close()  # its reader threads
    self._iterator = None  # started when first read

  def _start(self) -> None:
    element = sum(int(np.prod(s)) * d.itemsize
                  for s, d in self.element_shapes().values())
    prefetch = max(2, min(MAX_PREFETCH, PREFETCH_BYTES // max(element, 1)))
    dataset = grain.MapDataset.range(self.position, sys.maxsize).map(
        self.read)
    options = grain.ReadOptions(
        num_threads=self.read_threads,
        prefetch_buffer_size=prefetch if self.read_threads else 0)
    self._iterator = iter(dataset.to_iter_dataset(options))
    # Read from here: iteration position + len(_ahead) is the next one.
    self._ahead.clear()

  def _fill(self, n: int) -> None:
    if self._iterator is None:
      self._start()
    while len(self._ahead) < n:
      self._ahead.append(next(self._iterator))

  def peek(self, n: int) -> dict:
    """The next n iterations stacked, [n, D, B/P, ...], not consumed."""
    self._fill(n)
    items = [self._ahead[i] for i in range(n)]
    return {name: np.stack([item[name] for item in items])
            for name in items[0]}

  def _consume(self, n: int) -> None:
    self._fill(n)
    for _ in range(n):
      self._ahead.popleft()
    self.position += n
    self._prepared = None

  def take(self, n: int) -> dict:
    """The next n iterations stacked (host arrays), consumed."""
    out = self.peek(n)
    self._consume(n)
    return out

  # -- On the devices.

  def abstract(self, n: int, sharding) -> dict:
    """The global arrays of a call of n iterations, as shapes (to compile)."""
    shapes = {}
    for name, (shape, dtype) in self.element_shapes().items():
      global_shape = (n, shape[0], self.batch_size) + shape[2:]
      shapes[name] = jax.ShapeDtypeStruct(global_shape, dtype,
                                          sharding=sharding)
    return shapes

  def _place(self, n: int, sharding) -> dict:
    host = self.peek(n)
    return {name: jax.make_array_from_process_local_data(
        sharding, value,
        (n, self.draws, self.batch_size) + value.shape[3:])
            for name, value in host.items()}

  def next_call(self, n: int, sharding) -> dict:
    """The next n iterations as global arrays [n, D, B, ...] on `sharding`
    (this process's devices get their part), consumed; from `prepare` when
    it prepared n."""
    if self._prepared is not None and self._prepared[0] == n:
      arrays = self._prepared[1]
    else:
      arrays = self._place(n, sharding)
    self._consume(n)
    return arrays

  def prepare(self, n: int, sharding) -> None:
    """Puts the next n iterations on the devices now (a guess at the next
    call's length: another length reads them again from the host)."""
    self._prepared = (n, self._place(n, sharding))

  def close(self) -> None:
    """Stops reading ahead (a later read starts again at `position`)."""
    self.seek(self.position)


def checkpoint_extra(dataset: Any) -> dict:
  """What a checkpoint records of a streamed data set ({} for others)."""
  if not isinstance(dataset, Stream):
    return {}
  return {POSITION_KEY: dataset.position, STREAM_KEY: dataset.fingerprint}


def position_from_extra(extra: dict, step: int) -> int:
  """The stream position a checkpoint records; else its step (a run that
  started at 0 consumed one iteration per step, e.g. one saved by the
  device pipeline)."""
  if POSITION_KEY in (extra or {}):
    return int(extra[POSITION_KEY])
  if step:
    logging.info("The checkpoint at step %d records no data stream position "
                 "(saved with config.data.pipeline = 'device'?): streaming "
                 "from iteration %d", step, step)
  return int(step)


def seek(dataset: Any, extra: dict, step: int) -> None:
  """Moves a streamed data set to a checkpoint's position (others: no-op)."""
  if isinstance(dataset, Stream):
    dataset.seek(position_from_extra(extra, step))
