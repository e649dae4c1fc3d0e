"""The streamed input pipeline (config.data.pipeline = 'host').

The stream's order (seeded epochs, process shares, mirror, positions), the
'auto' choice, both pipelines training, a resumed streamed run equal bit for
bit to a straight one, and two processes each reading their share.
"""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import step as step_lib
from gan_jax import train
from gan_jax.data import pipeline

from helpers import ROOT, write_idx_dataset
import test_distributed

FAST_COMPILE = {"xla_backend_optimization_level": 0}
MLP = os.path.join(ROOT, "experiments", "configs", "fashion_mnist_mlp.py")


def _images(n=10, size=4):
  """uint8 [n, size, size, 1]: example i is filled with i (rows distinct)."""
  images = np.zeros((n, size, size, 1), np.uint8)
  images[:] = np.arange(n, dtype=np.uint8)[:, None, None, None]
  images[:, :, 0] += 100  # a left column, to see a flip
  return images


def _stream(images, **kwargs):
  kwargs = dict(dict(batch_size=4, draws=2, seed=3, read_threads=0,
                     process_index=0, process_count=1), **kwargs)
  return pipeline.Stream(images, np.arange(images.shape[0]), **kwargs)


def _ids(batch):
  """The example index of every image in a batch [..., H, W, C]."""
  return batch[..., 0, -1, 0].astype(int)


def test_every_epoch_is_a_new_permutation():
  stream = _stream(_images(10), batch_size=5, draws=1)
  first = stream.take(2)["images"].reshape(10, 4, 4, 1)
  second = stream.take(2)["images"].reshape(10, 4, 4, 1)
  assert sorted(_ids(first)) == sorted(_ids(second)) == list(range(10))
  assert list(_ids(first)) != list(_ids(second))
  again = _stream(_images(10), batch_size=5, draws=1).take(4)["images"]
  np.testing.assert_array_equal(again.reshape(20, 4, 4, 1),
                                np.concatenate([first, second]))
  other_seed = _stream(_images(10), batch_size=5, draws=1, seed=4).take(2)
  assert list(_ids(other_seed["images"].reshape(10, 4, 4, 1))) != list(
      _ids(first))


def test_labels_follow_their_images():
  batch = _stream(_images(10)).take(3)
  assert batch["images"].shape == (3, 2, 4, 4, 4, 1)
  assert batch["labels"].shape == (3, 2, 4)
  assert batch["labels"].dtype == np.int32
  np.testing.assert_array_equal(batch["labels"], _ids(batch["images"]))


def test_mirror_doubles_the_data_set_with_flipped_copies():
  images = _images(6)
  stream = _stream(images, batch_size=6, draws=1, mirror=True)
  batch = stream.take(2)["images"].reshape(12, 4, 4, 1)
  flipped = batch[:, 0, 0, 0] < 100  # the bright column moved right
  assert flipped.sum() == 6
  for x in batch:
    i = int(x[0, 1, 0])
    original = images[i]
    np.testing.assert_array_equal(
        x, original[:, ::-1] if x[0, 0, 0] < 100 else original)
  assert sorted(_ids(batch[~flipped])) == list(range(6))
  assert sorted(batch[flipped][:, 0, 0, 0].astype(int)) == list(range(6))


def test_process_shares_make_up_the_global_batch():
  whole = _stream(_images(10)).take(5)["images"]
  shares = [_stream(_images(10), process_index=p, process_count=2).take(5)
            for p in range(2)]
  assert shares[0]["images"].shape == (5, 2, 2, 4, 4, 1)
  np.testing.assert_array_equal(
      np.concatenate([s["images"] for s in shares], axis=2), whole)


@pytest.mark.parametrize("threads", [0, 2])
def test_a_stream_started_at_a_position_reads_what_follows(threads):
  straight = _stream(_images(10), read_threads=threads).take(7)["images"]
  stream = _stream(_images(10), read_threads=threads, position=3)
  np.testing.assert_array_equal(stream.take(4)["images"], straight[3:])
  # Read ahead, then moved back: what was read ahead is not counted.
  stream = _stream(_images(10), read_threads=threads)
  stream.take(2)
  stream.peek(5)
  assert stream.position == 2
  extra = pipeline.checkpoint_extra(stream)
  stream.seek(pipeline.position_from_extra(extra, step=99))
  np.testing.assert_array_equal(stream.take(5)["images"], straight[2:])
  assert pipeline.position_from_extra({}, step=4) == 4


def test_device_calls_take_prepared_batches_in_order():
  parallel = step_lib.DataParallel(lambda s, d: (s, {}), jax.devices(),
                                   streamed=True)
  sharding = parallel.stream_sharding
  straight = _stream(_images(10)).take(6)["images"]
  stream = _stream(_images(10))
  first = stream.next_call(2, sharding)
  stream.prepare(2, sharding)
  second = stream.next_call(2, sharding)  # the prepared one
  stream.prepare(2, sharding)
  third = stream.next_call(1, sharding)  # another length: read again
  assert stream.position == 5
  np.testing.assert_array_equal(
      np.concatenate([np.asarray(a["images"])
                      for a in (first, second, third)]), straight[:5])
  assert first["images"].sharding == sharding


def _data_config(**fields):
  config = config_lib.from_file(MLP).data
  config.update(fields)
  return config


def test_auto_keeps_a_small_data_set_on_the_devices(monkeypatch):
  devices = jax.devices()
  config = _data_config()
  assert pipeline.resolve(config, train_bytes=10 << 20,
                          devices=devices)[0] == "device"
  assert pipeline.resolve(config, train_bytes=3 << 30,
                          devices=devices)[0] == "host"
  monkeypatch.setattr(pipeline, "device_memory", lambda d: 16 << 30)
  mode, why = pipeline.resolve(config, train_bytes=2 << 30, devices=devices)
  assert mode == "device" and "quarter" in why
  assert pipeline.resolve(config, train_bytes=(5 << 30) * len(devices),
                          devices=devices)[0] == "host"
  for choice in ("device", "host"):
    assert pipeline.resolve(_data_config(pipeline=choice),
                            train_bytes=1 << 40, devices=devices)[0] == choice


def test_host_pipeline_of_toy_data_is_a_config_error():
  config = config_lib.from_file(os.path.join(ROOT, "experiments", "configs",
                                             "ring.py"))
  config.data.pipeline = "host"
  with pytest.raises(config_lib.ConfigError,
                     match=r"config\.data\.pipeline.*sampled on the device"):
    pipeline.resolve(config.data, train_bytes=None, devices=jax.devices())


def test_an_unknown_pipeline_is_a_config_error():
  config = config_lib.from_file(MLP)
  config.data.pipeline = "disk"
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.pipeline"):
    config_lib.validate(config, 1)


def tiny_config(data_dir, pipeline_name, **overrides):
  config = config_lib.from_file(MLP)
  config.update_from_flattened_dict({
      "data.data_dir": data_dir, "data.pipeline": pipeline_name,
      "model.generator_widths": (8,), "model.discriminator_widths": (8,),
      "model.latent_dim": 4, "train.batch_size": 8, "train.steps": 4,
      "train.steps_per_call": 2, "train.log_every": 2,
      "train.checkpoint_every": 2, "train.sample_every": 0,
      "eval.parzen": False, "eval.features": False,
      "eval.num_sample_images": 4, "eval.image_num_samples": 16,
      **overrides})
  return config


@pytest.fixture(scope="module")
def labelled_dir(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("labelled"))
  write_idx_dataset(folder, num_train=40, num_test=8)
  return folder


def _records(workdir):
  with open(os.path.join(workdir, train.METRICS_FILE)) as f:
    return [json.loads(line) for line in f]


def test_both_pipelines_train_on_the_same_data(labelled_dir, tmp_path):
  for name in ("device", "host"):
    summary = train.train_and_evaluate(
        tiny_config(labelled_dir, name), str(tmp_path / name),
        compiler_options=FAST_COMPILE)
    assert summary["step"] == 4
    for record in _records(str(tmp_path / name)):
      for metric in step_lib.METRIC_NAMES:
        assert np.isfinite(record[metric]), (name, metric)


# k = 1; k = 2 with a game whose G reads reals (3 real batches an iteration).
STREAMED_GAMES = {
    "k1": {},
    "k2_relativistic": {"train.discriminator_steps": 2,
                        "loss.name": "relativistic"},
    # A class-conditional MLP (3 classes in labelled_dir): the stream
    # carries the labels with the images.
    "conditional_acgan": {"model.num_classes": 3,
                          "model.discriminator_conditioning": "acgan"},
}


@pytest.mark.parametrize("game", [
    "k1", "conditional_acgan",
    pytest.param("k2_relativistic", marks=pytest.mark.slow)])
def test_a_resumed_streamed_run_equals_a_straight_one(labelled_dir, tmp_path,
                                                      game):
  """6 steps straight == 4 steps, lose the last checkpoint, resume to 6.

  The run that stops at 4 has read batches ahead; the checkpoint it resumes
  from (step 2) must put the stream at iteration 2, not where reading
  stopped. 40 examples, batch 8: the 6 steps cross epochs.
  """
  overrides = dict(STREAMED_GAMES[game], **{"train.ema_decay": 0.9})
  straight_dir, resumed_dir = str(tmp_path / "straight"), str(
      tmp_path / "resumed")
  config = tiny_config(labelled_dir, "host", **overrides)
  config.train.steps = 6
  train.train_and_evaluate(config, straight_dir,
                           compiler_options=FAST_COMPILE)
  config.train.steps = 4
  train.train_and_evaluate(config, resumed_dir, compiler_options=FAST_COMPILE)
  shutil.rmtree(os.path.join(resumed_dir, train.CHECKPOINT_DIR, "4"))
  config.train.steps = 6
  summary = train.train_and_evaluate(config, resumed_dir,
                                     compiler_options=FAST_COMPILE)
  assert summary["start_step"] == 2
  (step_a, straight), (step_b, resumed) = (train.latest_state(straight_dir),
                                           train.latest_state(resumed_dir))
  assert step_a == step_b == 6
  leaves_a, tree_a = jax.tree.flatten(straight)
  leaves_b, tree_b = jax.tree.flatten(resumed)
  assert tree_a == tree_b
  for a, b in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  rows_a, rows_b = _records(straight_dir), _records(resumed_dir)
  assert [r["step"] for r in rows_b] == [2, 4, 6]
  for a, b in zip(rows_a, rows_b):
    for name in step_lib.METRIC_NAMES:
      assert a[name] == b[name], (a["step"], name)


@pytest.mark.slow
def test_two_processes_stream_their_shares(tmp_path):
  """2 processes x 2 devices == 1 x 4, each process reading half a batch."""
  data_dir = str(tmp_path / "idx")
  write_idx_dataset(data_dir, num_train=test_distributed.NUM_TRAIN,
                    num_test=8)
  multi_dir, single_dir = str(tmp_path / "multi"), str(tmp_path / "single")
  args = lambda workdir: test_distributed._args(data_dir, workdir) + [  # pylint: disable=protected-access
      "--config.data.pipeline=host"]
  port = test_distributed._free_port()  # pylint: disable=protected-access
  processes = [
      test_distributed._start(args(multi_dir) + [  # pylint: disable=protected-access
          f"--coordinator_address=localhost:{port}", "--num_processes=2",
          f"--process_id={i}", "--distributed_timeout=60"], 2)
      for i in range(2)
  ] + [test_distributed._start(args(single_dir), 4)]  # pylint: disable=protected-access
  results = test_distributed._finish(processes)  # pylint: disable=protected-access
  for rc, _, err in results:
    assert rc == 0, err[-3000:]
  for i, (_, _, err) in enumerate(results[:2]):
    assert (f"Process {i} streams examples [{4 * i}, {4 * (i + 1)}) of every "
            "global batch of 8" in err), err[-3000:]
  assert "Process 0 streams examples [0, 8)" in results[2][2]
  (step_a, multi), (step_b, single) = (train.latest_state(multi_dir),
                                       train.latest_state(single_dir))
  assert step_a == step_b == 4
  # To float32 rounding (the all-reduce's order, see test_distributed).
  for a, b in zip(jax.tree.leaves(multi), jax.tree.leaves(single)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4,
                               atol=1e-7)


def test_a_divergence_restore_streams_from_the_checkpoints_position(
    labelled_dir, tmp_path, monkeypatch):
  """G is NaN after step 5: back to step 4's checkpoint, and to its batches."""
  import test_reliability  # pylint: disable=g-import-not-at-top
  test_reliability.poison(monkeypatch, 5, only_learning_rate=2e-4)
  starts = []
  next_call = pipeline.Stream.next_call

  def recording(stream, n, sharding):
    starts.append(stream.position)
    return next_call(stream, n, sharding)

  monkeypatch.setattr(pipeline.Stream, "next_call", recording)
  config = tiny_config(labelled_dir, "host", **{
      "train.steps": 8, "train.log_every": 4,
      "train.on_divergence": "restore"})
  config_lib.set_optimizers(config, name="adam", learning_rate=2e-4)
  summary = train.train_and_evaluate(config, str(tmp_path / "run"),
                                     compiler_options=FAST_COMPILE)
  assert summary["divergence"]["events"][0]["restored_step"] == 4
  # Calls of 2 iterations: 0, 2, 4 (diverges), then again from 4.
  assert starts == [0, 2, 4, 4, 6]
