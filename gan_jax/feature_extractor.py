"""A small image classifier trained here, whose features feed FID and P/R.

Fréchet distances and precision/recall (`gan_jax.evaluation`) compare images
in the feature space of a classifier. The usual Inception network is neither
available offline nor a good fit for 28x28 grey images, so the project trains
its own: a small CNN on the data set's train split (labels from
`gan_jax.data.load_labels`), features = its penultimate layer (ReLU, 128
units). No weights are downloaded.

  conv 5x5 stride 2, 32 -> ReLU -> conv 3x3 stride 2, 64 -> ReLU
  -> dense 128 -> ReLU [features] -> dense num_classes [logits]

Strided convolutions rather than pooling keep it cheap on XLA:CPU. Trained
with Adam (1e-3, cosine decay to 0) for DEFAULT_STEPS = 3000 steps of batch
128 (6.4 epochs of Fashion-MNIST); narrower strided convolutions lost
accuracy, max-pooling doubled the compute (measured accuracy and time:
docs/guide/evaluation.md).

Cache. The trained weights are an orbax checkpoint plus ``metadata.json``
(test accuracy, shapes, training settings) in a folder named after the data
set, image shape, ARCHITECTURE and training steps, e.g.
``fashion_mnist-28x28x1-cnn_v1-steps3000`` (plus ``-data<hash>`` of the data
folder when config.data.data_dir is not the default; see `cache_name`),
under

  1. ``cache_dir`` when given (config.eval.feature_extractor_dir);
  2. else ``$GAN_JAX_CACHE_DIR/feature_extractor/`` when that variable is
     set;
  3. else the user's cache, ``$XDG_CACHE_HOME/gan_jax/feature_extractor/``
     (``~/.cache/gan_jax/feature_extractor/`` when XDG_CACHE_HOME is unset
     or not absolute, as the XDG base directory spec asks).

Per user, never beside the data: a data folder is often shared and
read-only (e.g. /usr/share/datasets), and the real-data floors of
`gan_jax.train` (``real_floors.json``) live beside the extractor, so a cache
someone else owns would make every run recompute them.

`load_or_train` reads it, or trains and writes it when it is missing or
unreadable (logged as a warning). A build trains into a temporary folder
beside the final one and renames it into place at the end, so an interrupted
build never leaves a half checkpoint, and of two concurrent builds the first
to finish wins and the other uses its result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any, Optional

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from gan_jax import data as data_lib

# Bump when Classifier or the training recipe changes: the cache folder's name
# holds it, so old checkpoints are never read with a new architecture.
ARCHITECTURE = "cnn_v1"
FEATURE_DIM = 128
DEFAULT_STEPS = 3000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
CACHE_ENV = data_lib.common.CACHE_ENV
METADATA_FILE = "metadata.json"
PARAMS_DIR = "params"
_INFERENCE_BATCH = 500


class Classifier(nn.Module):
  """The CNN above: [n, H, W, C] in [0, 1] -> (features [n, 128], logits)."""
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Centre the inputs so the first layer sees zero-mean pixels.
    x = x * 2.0 - 1.0
    x = nn.relu(nn.Conv(32, (5, 5), strides=(2, 2))(x))
    x = nn.relu(nn.Conv(64, (3, 3), strides=(2, 2))(x))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(FEATURE_DIM)(x))
    return features, nn.Dense(self.num_classes)(features)


@dataclasses.dataclass
class FeatureExtractor:
  """A trained Classifier; call it on images to get their features.

  Attributes:
    params: the Classifier's parameters.
    image_shape: (H, W, C) it was trained on.
    num_classes: number of labels.
    metadata: what `metadata.json` holds (data set, steps, test_accuracy,
      train_time_sec, ...).
    path: the cache folder it was read from or written to ('' if none).
  """
  params: Any
  image_shape: tuple[int, int, int]
  num_classes: int
  metadata: dict
  path: str = ""

  def __post_init__(self):
    module = Classifier(self.num_classes)
    self._apply = jax.jit(lambda p, x: module.apply({"params": p}, x))

  @property
  def test_accuracy(self) -> float:
    return float(self.metadata["test_accuracy"])

  @property
  def feature_dim(self) -> int:
    return FEATURE_DIM

  def _run(self, images, index: int) -> np.ndarray:
    images = data_lib.to_unit_range(images)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(self.image_shape):
      raise ValueError(f"images must be [n, {', '.join(map(str, self.image_shape))}]"
                       f" (the shape the extractor was trained on), got "
                       f"{images.shape}")
    n = images.shape[0]
    outputs = []
    for start in range(0, n, _INFERENCE_BATCH):
      part = images[start:start + _INFERENCE_BATCH]
      pad = _INFERENCE_BATCH - part.shape[0]
      if pad:  # one compiled shape
        part = np.concatenate([part, np.zeros((pad,) + part.shape[1:],
                                              part.dtype)])
      out = np.asarray(self._apply(self.params, part)[index])
      outputs.append(out[:_INFERENCE_BATCH - pad])
    if not outputs:
      width = FEATURE_DIM if index == 0 else self.num_classes
      return np.zeros((0, width), np.float32)
    return np.concatenate(outputs)

  def __call__(self, images) -> np.ndarray:
    """Penultimate-layer features.

    Args:
      images: uint8 [n, H, W, C] in {0..255}, or float [n, H, W, C] in [0, 1].

    Returns:
      float32 [n, FEATURE_DIM].
    """
    return self._run(images, 0)

  def logits(self, images) -> np.ndarray:
    """Class logits [n, num_classes] (same input convention as __call__)."""
    return self._run(images, 1)

  def accuracy(self, images, labels) -> float:
    """The fraction of images whose argmax logit is their label ([n])."""
    labels = np.asarray(labels)
    if labels.shape != np.shape(images)[:1]:
      raise ValueError(f"labels must be [{np.shape(images)[0]}] (one per "
                       f"image), got {labels.shape}")
    predictions = np.argmax(self.logits(images), axis=-1)
    return float(np.mean(predictions == labels))


# ----------------------------------------------------------------------------
# Where the cache lives.
# ----------------------------------------------------------------------------


def _field(data_config, name: str, default=None):
  value = (data_config.get(name, default) if hasattr(data_config, "get") else
           getattr(data_config, name, default))
  return default if value is None else value


def _data_tag(data_config) -> str:
  """'' for the data's default location, else '-data<hash of its folder>'
  (or '-data<hash of its content>' for image_folder and arrays).

  The cache is per user, not per data folder, so two folders holding data
  under one name (a copy, a subset, a test's tiny set) must not share an
  extractor.
  """
  # A source that hashes its content (image_folder, arrays) is keyed by it:
  # a changed folder gets another extractor.
  fingerprint = data_lib.data_fingerprint(data_config)
  if fingerprint:
    return "-data" + fingerprint
  data_dir = _field(data_config, "data_dir", "") or ""
  if not data_dir:
    return ""
  folder = os.path.realpath(os.path.expanduser(data_dir))
  if (_field(data_config, "source", "idx") == "idx" and
      folder == os.path.realpath(data_lib.DEFAULT_IDX_DIR)):
    return ""
  return "-data" + hashlib.sha256(folder.encode()).hexdigest()[:8]


def cache_name(data_config, *, steps: int = DEFAULT_STEPS) -> str:
  """The cache folder's name: data set, image shape, architecture, steps.

  E.g. fashion_mnist-28x28x1-cnn_v1-steps3000, with -data<hash> after it
  when config.data.data_dir names another folder than the default.
  """
  name = (_field(data_config, "tfds_name", "") or
          _field(data_config, "name"))
  h, w, c = data_lib.data_shape(data_config)
  return (f"{name}-{h}x{w}x{c}-{ARCHITECTURE}-steps{steps}"
          f"{_data_tag(data_config)}")


def cache_root() -> str:
  """The folder that holds the cached extractors when no cache_dir is given.

  $GAN_JAX_CACHE_DIR/feature_extractor, else
  $XDG_CACHE_HOME/gan_jax/feature_extractor (~/.cache for XDG_CACHE_HOME
  when it is unset or relative).
  """
  return os.path.join(data_lib.cache_home(), "feature_extractor")


def cache_path(data_config, *, cache_dir: Optional[str] = None,
               steps: int = DEFAULT_STEPS) -> str:
  """Where `load_or_train` reads or writes the extractor (see module doc)."""
  name = cache_name(data_config, steps=steps)
  if cache_dir:
    return os.path.join(os.path.expanduser(cache_dir), name)
  return os.path.join(cache_root(), name)


# ----------------------------------------------------------------------------
# Training.
# ----------------------------------------------------------------------------


def _load_labelled(data_config):
  """(images, labels, test_images, test_labels) of the train and test splits."""
  images = data_lib.load_images(data_config, "train")
  labels = data_lib.load_labels(data_config, "train")
  test_images = data_lib.load_images(data_config, "test")
  test_labels = data_lib.load_labels(data_config, "test")
  if len(images) != len(labels) or len(test_images) != len(test_labels):
    raise data_lib.DataError(
        f"images and labels differ in number: train {len(images)} vs "
        f"{len(labels)}, test {len(test_images)} vs {len(test_labels)}")
  return images, labels, test_images, test_labels


def _make_step(module: Classifier, optimizer: optax.GradientTransformation):
  """The jitted step (params, opt_state, x, y) -> (..., loss).

  x: uint8 in {0..255} or float in [0, 1] (as `data.to_unit_range`; the
  dtype is static, so each compiles its own step).
  """

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(params, opt_state, x, y):
    x = (x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else
         x.astype(jnp.float32))

    def loss_fn(p):
      logits = module.apply({"params": p}, x)[1]
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return step


def _fit(step, params, opt_state, images, labels, *, steps: int,
         batch_size: int, seed: int):
  """Runs `steps` steps on shuffled minibatches; returns (params, loss)."""
  rng = np.random.default_rng(seed)
  order = np.zeros((0,), np.int64)
  loss = float("nan")
  # A Python loop of jitted steps: XLA:CPU runs convolutions several times
  # slower inside lax.scan (see gan_jax.step).
  for i in range(steps):
    if len(order) < batch_size:
      order = np.concatenate([order, rng.permutation(len(images))])
    batch, order = order[:batch_size], order[batch_size:]
    params, opt_state, loss = step(params, opt_state, images[batch],
                                   labels[batch])
    if (i + 1) % 500 == 0:
      logging.info("feature extractor: step %d/%d, loss %.3f", i + 1, steps,
                   float(loss))
  return params, loss


@functools.lru_cache(maxsize=8)
def _training(num_classes: int, steps: int, learning_rate: float):
  """(module, optimiser, jitted step), kept: a classifier trained again with
  the same settings (CAS at every evaluation) reuses the compiled step."""
  module = Classifier(num_classes)
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  return module, optimizer, _make_step(module, optimizer)


def fit_classifier(images, labels, *, num_classes: int,
                   steps: int = DEFAULT_STEPS, batch_size: int = BATCH_SIZE,
                   learning_rate: float = LEARNING_RATE,
                   seed: int = 0) -> FeatureExtractor:
  """Trains a fresh Classifier (the architecture above) on (images, labels).

  The recipe of `train`: Adam with a cosine decay of the step size to 0,
  softmax cross-entropy, minibatches of min(batch_size, n) drawn without
  replacement (reshuffled each epoch), parameters initialised from
  PRNGKey(seed). Used for the feature extractor itself and for the
  Classification Accuracy Score (`gan_jax.evaluation.conditional`: trained
  on generator samples, tested on real images).

  Args:
    images: [n, H, W, C], uint8 in {0..255} or float in [0, 1].
    labels: int [n] in [0, num_classes).
    num_classes: the logits' width.
    steps: optimiser steps.
    batch_size: examples per step.
    learning_rate: Adam's initial step size.
    seed: parameter init and shuffling.

  Returns:
    The FeatureExtractor (path ''), metadata with the training settings,
    final_loss and train_time_sec (no test accuracy: see `accuracy`).
  """
  start = time.time()
  images = np.asarray(images)
  labels = np.asarray(labels)
  if images.ndim != 4 or images.shape[0] == 0:
    raise ValueError(f"images must be [n, H, W, C] with n >= 1, got "
                     f"{images.shape}")
  if labels.shape != images.shape[:1]:
    raise ValueError(f"labels must be [{images.shape[0]}] (one per image), "
                     f"got {labels.shape}")
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"labels must be in [0, {num_classes}), got "
                     f"[{labels.min()}, {labels.max()}]")
  if images.dtype != np.uint8:
    images = images.astype(np.float32)
  labels = labels.astype(np.int32)
  image_shape = tuple(int(d) for d in images.shape[1:])
  module, optimizer, step = _training(num_classes, steps, learning_rate)
  params = module.init(jax.random.PRNGKey(seed),
                       jnp.zeros((1, *image_shape)))["params"]
  opt_state = optimizer.init(params)
  batch_size = min(batch_size, len(images))
  params, loss = _fit(step, params, opt_state, images, labels, steps=steps,
                      batch_size=batch_size, seed=seed)
  metadata = dict(
      architecture=ARCHITECTURE,
      image_shape=list(image_shape),
      num_classes=num_classes,
      feature_dim=FEATURE_DIM,
      steps=steps,
      batch_size=batch_size,
      learning_rate=learning_rate,
      seed=seed,
      num_train=int(len(images)),
      final_loss=float(loss),
      train_time_sec=time.time() - start,
  )
  return FeatureExtractor(jax.device_get(params), image_shape, num_classes,
                          metadata)


def train(data_config, *, steps: int = DEFAULT_STEPS,
          batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE,
          seed: int = 0) -> FeatureExtractor:
  """Trains the Classifier on the train split; measures it on the test split.

  `fit_classifier` on the train split's images and labels (uint8 images
  scaled to [0, 1]), then its accuracy on the test split.

  Args:
    data_config: config.data of an image data set (IDX or TFDS).
    steps: optimiser steps.
    batch_size: examples per step.
    learning_rate: Adam's initial step size.
    seed: parameter init and shuffling.

  Returns:
    The FeatureExtractor, with metadata['test_accuracy'] (path '').

  Raises:
    data.DataError: missing images or labels.
  """
  start = time.time()
  images, labels, test_images, test_labels = _load_labelled(data_config)
  num_classes = int(max(labels.max(), test_labels.max())) + 1
  extractor = fit_classifier(images, labels, num_classes=num_classes,
                             steps=steps, batch_size=batch_size,
                             learning_rate=learning_rate, seed=seed)
  train_time = time.time() - start
  metadata = extractor.metadata
  final_loss = metadata.pop("final_loss")
  metadata.pop("train_time_sec")
  metadata.update(
      data_set=_field(data_config, "tfds_name", "") or
      _field(data_config, "name"),
      num_test=int(len(test_images)),
      final_loss=final_loss,
      train_time_sec=train_time,
  )
  metadata["test_accuracy"] = extractor.accuracy(test_images, test_labels)
  metadata["train_accuracy"] = extractor.accuracy(images[:10000],
                                                  labels[:10000])
  logging.info("feature extractor: %d steps in %.0f s, test accuracy %.4f",
               steps, train_time, metadata["test_accuracy"])
  return extractor


# ----------------------------------------------------------------------------
# Cache.
# ----------------------------------------------------------------------------


def _write_metadata(folder: str, metadata: dict) -> None:
  # Written last: a folder that has it holds a complete checkpoint.
  with open(os.path.join(folder, METADATA_FILE), "w") as f:
    json.dump(metadata, f, indent=2)


def save(extractor: FeatureExtractor, path: str) -> str:
  """Writes `extractor` to folder `path` atomically; returns the folder used.

  Trains nothing. If `path` already exists (another process finished first),
  keeps that one and discards ours.
  """
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  try:
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(os.path.join(tmp, PARAMS_DIR), extractor.params)
    checkpointer.wait_until_finished()
    checkpointer.close()
    _write_metadata(tmp, extractor.metadata)
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide it from other users
    try:
      os.rename(tmp, path)
    except OSError:
      if not os.path.isfile(os.path.join(path, METADATA_FILE)):
        raise
      logging.info("feature extractor: %s was written by another process; "
                   "using it", path)
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  extractor.path = path
  return path


def load(path: str) -> FeatureExtractor:
  """Reads a cached extractor; raises (OSError, ValueError, ...) if unreadable."""
  with open(os.path.join(path, METADATA_FILE)) as f:
    metadata = json.load(f)
  if metadata.get("architecture") != ARCHITECTURE:
    raise ValueError(f"architecture {metadata.get('architecture')!r}, "
                     f"expected {ARCHITECTURE!r}")
  image_shape = tuple(int(d) for d in metadata["image_shape"])
  num_classes = int(metadata["num_classes"])
  float(metadata["test_accuracy"])
  target = jax.eval_shape(
      lambda: Classifier(num_classes).init(
          jax.random.PRNGKey(0), jnp.zeros((1, *image_shape)))["params"])
  with ocp.StandardCheckpointer() as checkpointer:
    params = checkpointer.restore(os.path.abspath(os.path.join(path,
                                                               PARAMS_DIR)),
                                  target)
  return FeatureExtractor(jax.device_get(params), image_shape, num_classes,
                          metadata, path)


def load_or_train(data_config, *, cache_dir: Optional[str] = None,
                  steps: int = DEFAULT_STEPS) -> FeatureExtractor:
  """The bundled extractor for `data_config`: cached, else trained and cached.

  Args:
    data_config: config.data of an image data set.
    cache_dir: folder for the cache (None or '': `cache_root()`, the user
      cache; see the module docstring).
    steps: training steps (part of the cache key).

  Returns:
    A FeatureExtractor; `.path` is its cache folder, `.test_accuracy` its
    accuracy on the test split.
  """
  path = cache_path(data_config, cache_dir=cache_dir, steps=steps)
  if os.path.exists(path):
    try:
      extractor = load(path)
      logging.info("feature extractor: loaded %s (test accuracy %.4f)", path,
                   extractor.test_accuracy)
      return extractor
    except Exception as e:  # pylint: disable=broad-except
      # Any failure to read means the cache is useless: rebuild it.
      logging.warning("feature extractor: cache %s is unreadable (%s: %s); "
                      "retraining it", path, type(e).__name__, e)
      trash = f"{path}.unreadable-{os.getpid()}-{time.time_ns()}"
      try:
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
      except OSError:
        pass
  else:
    logging.warning("feature extractor: no cache at %s; training one (%d "
                    "steps)", path, steps)
  extractor = train(data_config, steps=steps)
  save(extractor, path)
  if extractor.path != path or not os.path.isfile(
      os.path.join(path, METADATA_FILE)):
    return extractor
  # Another process may have won the rename: use what is on disk.
  with open(os.path.join(path, METADATA_FILE)) as f:
    if json.load(f) != extractor.metadata:
      return load(path)
  return extractor
