"""Bad input, fuzzed: random overrides and random corrupt IDX files.

Every case must end in one of the documented errors (config.ConfigError or
data.DataError, both ValueErrors) with a message naming the field or the
file, or pass validation when the random value happens to be valid; never
another exception type from deep inside JAX or numpy. Validation and loading
compile nothing (checked with JAX's compile events), so a bad config stops in
milliseconds, not after a compile.
"""

import contextlib
import gzip
import math
import os
import random
import struct

import jax
import pytest

from gan_jax import cli
from gan_jax import config as config_lib
from gan_jax import data

from helpers import ROOT, config_leaves, write_idx_dataset

RING = os.path.join(ROOT, "experiments", "configs", "ring.py")
FASHION = os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")

NUM_OVERRIDES = 50
NUM_CORRUPTIONS = 20


FIELDS = dict(config_leaves(config_lib.default_config()))


@contextlib.contextmanager
def no_compilation():
  """Fails if JAX compiles anything inside the block."""
  events = []

  def listener(name, *args, **kwargs):
    del args, kwargs
    if "compile" in name:
      events.append(name)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert not events, f"compiled during validation/loading: {events}"


def _random_value(rng: random.Random, default):
  """A value that is usually wrong for a field with this default."""
  pool = [
      None, "", "abc", "relu ", -1, 0, -10**9, 10**12, 1.5, -0.5, 1.0,
      float("nan"), float("inf"), -float("inf"), True, False, (), (0,),
      (8, -1), [1.5], {"a": 1}, b"\x00", object(),
  ]
  if isinstance(default, str):
    pool += [default.upper(), default + "x", default[:-1]]
  elif isinstance(default, (int, float)) and not isinstance(default, bool):
    pool += [-default - 1, default * 1e6 + 1]
  return rng.choice(pool)


def _set(config, field, value):
  *parents, last = field.split(".")
  node = config
  for part in parents:
    node = node[part]
  with node.ignore_type():
    node[last] = value


def _cases(seed, n):
  rng = random.Random(seed)
  names = sorted(FIELDS)
  cases = []
  for _ in range(n):
    field = rng.choice(names)
    cases.append((field, _random_value(rng, FIELDS[field])))
  return cases


OVERRIDES = _cases(0, NUM_OVERRIDES)


@pytest.mark.parametrize("field, value", OVERRIDES,
                         ids=[f"{i}-{f}" for i, (f, _) in enumerate(OVERRIDES)])
def test_random_override_is_rejected_with_its_name(field, value):
  config = config_lib.default_config()
  _set(config, field, value)
  with no_compilation():
    try:
      config_lib.validate(config, num_devices=4)
    except config_lib.ConfigError as e:
      # The offending field; for a cross-field rule, the other field may be
      # named first (e.g. data.name for a toy-only field).
      assert "config." in str(e)
      if field not in str(e):
        pytest.fail(f"config.{field} = {value!r}: message does not name it: "
                    f"{e}")
      return
    except data.DataError as e:
      assert "config.data" in str(e), e
      return
  # No error: the value (as ml_collections stored it: a bool given to a float
  # field is stored as 0.0 / 1.0) must then really be of the field's kind.
  default = FIELDS[field]
  stored = config
  for part in field.split("."):
    stored = stored[part]
  if isinstance(default, tuple):
    assert isinstance(stored, (tuple, list)), (field, value, stored)
  elif isinstance(default, bool):
    assert isinstance(stored, bool), (field, value, stored)
  elif isinstance(default, (int, float)):
    assert isinstance(stored, (int, float)) and not isinstance(
        stored, bool) and math.isfinite(stored), (field, value, stored)
  else:
    assert isinstance(stored, type(default)), (field, value, stored)


def test_most_random_overrides_are_invalid():
  """The fuzz above must exercise errors, not mostly valid values."""
  failures = 0
  for field, value in OVERRIDES:
    config = config_lib.default_config()
    _set(config, field, value)
    try:
      config_lib.validate(config, num_devices=4)
    except (config_lib.ConfigError, data.DataError):
      failures += 1
  assert failures >= 0.8 * len(OVERRIDES)


def _typo(rng: random.Random, word: str) -> str:
  i = rng.randrange(len(word))
  kind = rng.choice(["swap", "drop", "double"])
  if kind == "swap" and i + 1 < len(word):
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]
  if kind == "drop" and len(word) > 3:
    return word[:i] + word[i + 1:]
  return word[:i] + word[i] + word[i:]


TYPOS = [(field, _typo(random.Random(i), field.rsplit(".", 1)[-1]))
         for i, field in enumerate(sorted(FIELDS)[::5])]


@pytest.mark.parametrize("field, typo", TYPOS)
def test_unknown_override_key_suggests_the_field(field, typo):
  """--config.<typo>=1 on the command line: a suggestion, not a KeyError."""
  parent = field.rsplit(".", 1)[0] + "." if "." in field else ""
  flag = f"--config.{parent}{typo}=1"
  if typo == field.rsplit(".", 1)[-1]:
    pytest.skip("the typo happened to give the field back")
  message = cli.unknown_override(["launch.py", "--config", RING, flag])
  assert message is not None
  assert f"config.{parent}{typo} is not a known field" in message
  assert f"Did you mean config.{field}?" in message, message
  # The same typo inside a config file (config_lib.validate).
  config = config_lib.default_config()
  node = config
  for part in parent.strip(".").split(".") if parent else []:
    node = node[part]
  node.unlock()
  node[typo] = 1
  with pytest.raises(config_lib.ConfigError,
                     match=rf"Did you mean config\.{field}\?"):
    config_lib.validate(config, 1)


# ----------------------------------------------------------------------------
# Corrupt IDX files.


def _header(magic, dims):
  return struct.pack(f">I{len(dims)}I", magic, *dims)


def _corrupt(rng: random.Random, good: bytes, num: int, size: int):
  """(name, bytes) of one random corruption of a valid IDX image file."""
  kind = rng.choice(["magic", "truncated_header", "truncated_body",
                     "random_bytes", "wrong_dims", "trailing", "label_file",
                     "zero_size"])
  if kind == "magic":
    magic = rng.choice([0, 0x802, 0x0D03, 0x0803 << 8, rng.getrandbits(32)])
    return kind, struct.pack(">I", magic) + good[4:]
  if kind == "truncated_header":
    return kind, good[:rng.randrange(0, 16)]
  if kind == "truncated_body":
    return kind, good[:rng.randrange(16, len(good) - 1)]
  if kind == "random_bytes":
    return kind, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
  if kind == "wrong_dims":
    dims = (num + rng.randrange(1, 5), size, size + rng.randrange(1, 3))
    return kind, _header(0x803, dims) + good[16:]
  if kind == "trailing":
    return kind, good + bytes(rng.randrange(1, 9))
  if kind == "label_file":
    return kind, _header(0x801, (num,)) + bytes(num)
  return kind, _header(0x803, (num, 0, size))


CORRUPTIONS = list(range(NUM_CORRUPTIONS))


@pytest.fixture(scope="module")
def good_idx(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("good"))
  write_idx_dataset(folder, num_train=8, num_test=4, size=28)
  with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as f:
    return f.read()


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_idx_file_is_named(case, good_idx, tmp_path):
  rng = random.Random(1000 + case)
  kind, payload = _corrupt(rng, good_idx, 8, 28)
  write_idx_dataset(str(tmp_path), num_train=8, num_test=4, size=28)
  gz = rng.random() < 0.5
  stem = tmp_path / "train-images-idx3-ubyte"
  os.remove(str(stem) + ".gz")
  path = str(stem) + ".gz" if gz else str(stem)
  if gz:
    with gzip.open(path, "wb") as f:
      f.write(payload)
    if rng.random() < 0.3:  # also a cut gzip stream
      blob = open(path, "rb").read()
      open(path, "wb").write(blob[:max(2, len(blob) // 2)])
  else:
    with open(path, "wb") as f:
      f.write(payload)

  config = config_lib.from_file(FASHION)
  config.data.data_dir = str(tmp_path)
  config.model.generator_widths = (8,)
  config.model.discriminator_widths = (8,)
  config.train.batch_size = 8
  with no_compilation():
    with pytest.raises(data.DataError) as error:
      # Validation reads the header; loading (whole or a slice) the body.
      config_lib.validate(config, num_devices=4)
      start = rng.randrange(0, 8)
      data.load_images(config.data, "train", start=start,
                       stop=rng.choice([None, start + 1, 8]))
      data.load_images(config.data, "train")
  assert path in str(error.value), (kind, str(error.value))


def test_test_split_of_another_size_is_named(tmp_path):
  write_idx_dataset(str(tmp_path), num_train=8, num_test=4, size=28)
  wrong = tmp_path / "other"
  write_idx_dataset(str(wrong), num_train=8, num_test=4, size=20)
  os.replace(wrong / "t10k-images-idx3-ubyte.gz",
             tmp_path / "t10k-images-idx3-ubyte.gz")
  config = config_lib.from_file(FASHION)
  config.data.data_dir = str(tmp_path)
  with pytest.raises(data.DataError,
                     match=r"t10k-images-idx3-ubyte\.gz: images of size "
                     r"20x20.*train-images-idx3-ubyte\.gz.*28x28"):
    data.load_images(config.data, "test")


def test_label_count_that_disagrees_with_the_images_is_named(tmp_path):
  write_idx_dataset(str(tmp_path), num_train=8, num_test=4, size=28)
  with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
    f.write(_header(0x801, (7,)) + bytes(7))
  config = config_lib.from_file(FASHION)
  config.data.data_dir = str(tmp_path)
  with pytest.raises(data.DataError,
                     match=r"train-labels-idx1-ubyte\.gz: 7 labels, but .*"
                     r"train-images-idx3-ubyte\.gz holds 8 images"):
    data.load_labels(config.data, "train")


def test_sanity_of_the_fuzz_inputs():
  assert len(OVERRIDES) == NUM_OVERRIDES
  assert len({f for f, _ in OVERRIDES}) > 20  # many fields, not a few
  kinds = {_corrupt(random.Random(1000 + case), bytes(8000), 8, 28)[0]
           for case in CORRUPTIONS}
  assert len(kinds) >= 6, kinds
