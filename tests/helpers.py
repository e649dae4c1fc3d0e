"""Shared test helpers: the shipped config files and tiny IDX image files."""

import glob
import gzip
import json
import os
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILES = sorted(glob.glob(os.path.join(ROOT, "experiments", "configs",
                                             "*.py")))


def write_idx_images(folder, num=32, size=28, seed=0):
  """A tiny gzipped IDX image file in `folder` (no real data needed)."""
  images = np.random.default_rng(seed).integers(0, 256, (num, size, size),
                                                dtype=np.uint8)
  os.makedirs(folder, exist_ok=True)
  with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, num, size, size) + images.tobytes())
  return images


def _write_idx(path, array):
  magic = 0x801 if array.ndim == 1 else 0x803
  with gzip.open(path, "wb") as f:
    f.write(struct.pack(f">I{array.ndim}I", magic, *array.shape) +
            array.astype(np.uint8).tobytes())


def write_idx_dataset(folder, num_train=64, num_test=32, size=28,
                      num_classes=3, seed=0):
  """All four gzipped IDX files (images and labels of train and test).

  Class c's images are brighter in the c-th horizontal band, so a classifier
  can learn them. Returns (train_images, train_labels, test_images,
  test_labels).
  """
  rng = np.random.default_rng(seed)
  arrays = []
  for n in (num_train, num_test):
    labels = rng.integers(0, num_classes, n)
    images = rng.integers(0, 100, (n, size, size))
    band = size // num_classes
    for i, label in enumerate(labels):
      images[i, label * band:(label + 1) * band] += 150
    arrays += [images.astype(np.uint8), labels.astype(np.uint8)]
  os.makedirs(folder, exist_ok=True)
  names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
  for name, array in zip(names, arrays):
    _write_idx(os.path.join(folder, name + ".gz"), array)
  return tuple(arrays)


def write_fake_sweep(sweep_dir, runs, steps=10):
  """A sweep folder as `launch.py --sweep` leaves it, with made-up runs.

  runs: (overrides, status, summary) triples; status 'failed' writes a
  failed.json, a summary dict is written as the run's summary.json. Returns
  the runs' folders.
  """
  from gan_jax import sweep  # pylint: disable=g-import-not-at-top
  records, folders = [], []
  for overrides, status, summary in runs:
    name = sweep.variant_name(overrides)
    records.append(dict(name=name, overrides=overrides, steps=steps))
    folder = os.path.join(sweep_dir, name)
    folders.append(folder)
    os.makedirs(folder, exist_ok=True)
    if summary is not None:
      with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(summary, f)
    if status == "failed":
      with open(os.path.join(folder, "failed.json"), "w") as f:
        json.dump(dict(error="DataError: boom", time=0.0), f)
  with open(os.path.join(sweep_dir, "sweep.json"), "w") as f:
    json.dump(dict(variants=records), f)
  return folders


def config_leaves(config, prefix=""):
  """(dotted field name, value) of every leaf of a ConfigDict, in order."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from config_leaves(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", value


def small_model_config(name, **overrides):
  """config.model for `name` with tiny widths (latent 8 unless overridden):
  the structure is what is tested."""
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  config = models.default_model_config(name)
  config.latent_dim = 8
  config.generator_widths = (16, 16)
  config.discriminator_widths = (16, 16)
  config.generator_base_features = 8
  config.discriminator_base_features = 8
  config.update(overrides)
  return config


def tensorboard_events(folder):
  """Every Event in the TFRecord event files under `folder`."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  events = []
  for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as f:
      data = f.read()
    offset = 0
    while offset < len(data):  # u64 length, u32 crc, payload, u32 crc
      (length,) = struct.unpack("<Q", data[offset:offset + 8])
      payload = data[offset + 12:offset + 12 + length]
      offset += 12 + length + 4
      events.append(event_pb2.Event.FromString(payload))
  return events
