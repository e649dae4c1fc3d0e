"""gan_jax.checkpointing: atomic saves, verified restores, damaged steps."""

import glob
import logging
import os
import shutil

import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_jax import checkpointing

STATE = {"w": np.arange(2000, dtype=np.float32).reshape(40, 50),
         "b": np.linspace(-1, 1, 7).astype(np.float32),
         "count": np.array(3, np.int32)}


def target():
  return {k: np.zeros_like(v) for k, v in STATE.items()}


def state_at(step):
  return {k: v + step for k, v in STATE.items()}


def saved_workdir(tmp_path, steps=(1, 2)):
  workdir = str(tmp_path / "run")
  manager = checkpointing.manager(workdir, create=True)
  for step in steps:
    checkpointing.save(manager, step, state_at(step),
                       extra=dict(lr_scale=0.5, note=f"step {step}"))
  manager.wait_until_finished()
  manager.close()
  return workdir


def files_of(folder):
  return sorted(os.path.relpath(f, folder) for f in
                glob.glob(os.path.join(folder, "**"), recursive=True)
                if os.path.isfile(f))


def largest_data_file(step_folder):
  files = [f for f in glob.glob(os.path.join(step_folder, "**"),
                                recursive=True)
           if os.path.isfile(f) and "_METADATA" not in f and
           "commit_success" not in f]
  return max(files, key=os.path.getsize)


def truncate_data(folder):
  path = largest_data_file(folder)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def overwrite_data(folder):
  # Same size, 16 bytes changed mid-file: zstd may notice, or orbax restores
  # wrong numbers without an error and only the digest does.
  path = largest_data_file(folder)
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    f.write(b"\x00" * 16)


def other_step_data(folder):
  # Valid data of another step under this step's metadata: orbax restores
  # it without an error; only the digest notices.
  other = os.path.join(os.path.dirname(folder), "1", "default")
  shutil.rmtree(os.path.join(folder, "default"))
  shutil.copytree(other, os.path.join(folder, "default"))


def truncate_metadata(folder):
  path = os.path.join(folder, "_CHECKPOINT_METADATA")
  with open(path, "r+b") as f:
    f.truncate(10)


def remove_metadata(folder):
  os.remove(os.path.join(folder, "_CHECKPOINT_METADATA"))


def empty_folder(folder):
  shutil.rmtree(folder)
  os.makedirs(folder)


DAMAGES = [truncate_data, overwrite_data, other_step_data, truncate_metadata,
           remove_metadata, empty_folder]


def test_save_and_restore_round_trip(tmp_path):
  workdir = saved_workdir(tmp_path)
  manager = checkpointing.manager(workdir, create=False)
  step, state, extra = checkpointing.restore_latest(manager, target())
  manager.close()
  assert step == 2
  assert extra == dict(lr_scale=0.5, note="step 2")
  for name, value in state_at(2).items():
    np.testing.assert_array_equal(state[name], value)
    assert state[name].dtype == value.dtype
  # Written through a temporary folder renamed at the end: none is left.
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1",
                                                                      "2"]


def test_no_checkpoint_gives_none(tmp_path):
  manager = checkpointing.manager(str(tmp_path / "run"), create=True)
  assert checkpointing.restore_latest(manager, target()) is None
  manager.close()


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_damaged_latest_is_reported_set_aside_and_previous_used(
    tmp_path, damage, caplog):
  workdir = saved_workdir(tmp_path)
  folder = os.path.join(workdir, "checkpoints", "2")
  damage(folder)
  damaged_files = files_of(folder)
  manager = checkpointing.manager(workdir, create=False)
  with caplog.at_level(logging.WARNING):
    step, state, _ = checkpointing.restore_latest(manager, target(),
                                                  set_aside_damaged=True)
  assert step == 1
  np.testing.assert_array_equal(state["w"], state_at(1)["w"])
  assert manager.all_steps() == [1] and manager.latest_step() == 1
  manager.close()
  assert f"checkpoint {folder} is damaged" in caplog.text
  # Moved aside with every file, not deleted; never listed as a step again.
  moved = glob.glob(os.path.join(workdir, checkpointing.DAMAGED_DIR, "2-*"))
  assert len(moved) == 1 and files_of(moved[0]) == damaged_files
  assert not os.path.exists(folder)
  assert f"Moved damaged checkpoint {folder} to {moved[0]}" in caplog.text


def test_reader_skips_damaged_but_leaves_it_in_place(tmp_path, caplog):
  workdir = saved_workdir(tmp_path)
  folder = os.path.join(workdir, "checkpoints", "2")
  other_step_data(folder)
  before = files_of(folder)
  manager = checkpointing.manager(workdir, create=False)
  with caplog.at_level(logging.WARNING):
    step, _, _ = checkpointing.restore_latest(manager, target())
  manager.close()
  assert step == 1
  assert "do not match the digest" in caplog.text
  assert files_of(folder) == before
  assert not os.path.exists(os.path.join(workdir, checkpointing.DAMAGED_DIR))


def test_every_checkpoint_damaged_raises_and_moves_nothing(tmp_path):
  workdir = saved_workdir(tmp_path)
  for step in ("1", "2"):
    truncate_data(os.path.join(workdir, "checkpoints", step))
  manager = checkpointing.manager(workdir, create=False)
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.restore_latest(manager, target(), set_aside_damaged=True)
  manager.close()
  for step in ("1", "2"):
    assert os.path.join(workdir, "checkpoints", step) in str(error.value)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1",
                                                                      "2"]
  assert not os.path.exists(os.path.join(workdir, checkpointing.DAMAGED_DIR))


def test_restore_of_one_damaged_step_names_it(tmp_path):
  workdir = saved_workdir(tmp_path)
  folder = os.path.join(workdir, "checkpoints", "2")
  truncate_data(folder)
  manager = checkpointing.manager(workdir, create=False)
  with pytest.raises(checkpointing.DamagedCheckpointError,
                     match=f"checkpoint {folder} is damaged: orbax cannot"):
    checkpointing.restore(manager, 2, target())
  manager.close()


def test_half_written_checkpoint_is_never_latest(tmp_path):
  """A save cut short leaves orbax's tmp folder, which is not a step."""
  workdir = saved_workdir(tmp_path)
  root = os.path.join(workdir, "checkpoints")
  # What a crash during the write of step 3 leaves: a complete-looking copy
  # under the temporary name orbax renames from once everything is written.
  shutil.copytree(os.path.join(root, "2"),
                  os.path.join(root, "3.orbax-checkpoint-tmp-1700000000"))
  manager = checkpointing.manager(workdir, create=False)
  assert manager.latest_step() == 2
  step, _, _ = checkpointing.restore_latest(manager, target(),
                                            set_aside_damaged=True)
  manager.close()
  assert step == 2
  assert os.path.isdir(os.path.join(root, "3.orbax-checkpoint-tmp-1700000000"))


def test_refuses_to_save_non_finite_state(tmp_path):
  manager = checkpointing.manager(str(tmp_path / "run"), create=True)
  bad = state_at(1)
  bad["b"][3] = np.nan
  with pytest.raises(ValueError, match=r"step 7.*non-finite.*\['b'\]"):
    checkpointing.save(manager, 7, bad)
  manager.wait_until_finished()
  assert manager.all_steps() == []
  manager.close()


def test_non_finite_checkpoint_is_not_restored(tmp_path):
  # Written by plain orbax (as an older version could have): no digest.
  workdir = str(tmp_path / "run")
  manager = checkpointing.manager(workdir, create=True)
  manager.save(1, args=ocp.args.StandardSave(state_at(1)))
  bad = state_at(2)
  bad["w"][0, 0] = np.inf
  manager.save(2, args=ocp.args.StandardSave(bad))
  manager.wait_until_finished()
  with pytest.raises(checkpointing.DamagedCheckpointError,
                     match=r"non-finite values \(in \['w'\]\)"):
    checkpointing.restore(manager, 2, target())
  # The older checkpoint, without a digest, still restores (unverified).
  step, state, extra = checkpointing.restore_latest(manager, target())
  manager.close()
  assert step == 1 and extra == {}
  np.testing.assert_array_equal(state["w"], state_at(1)["w"])


def test_digest_depends_on_every_byte_dtype_and_shape():
  digest = checkpointing.state_digest(STATE)
  assert digest == checkpointing.state_digest(
      {k: v.copy() for k, v in STATE.items()})
  changed = dict(STATE, b=STATE["b"].copy())
  changed["b"][-1] = np.nextafter(changed["b"][-1], np.float32(2))
  assert checkpointing.state_digest(changed) != digest
  assert checkpointing.state_digest(
      dict(STATE, w=STATE["w"].reshape(50, 40))) != digest
  assert checkpointing.state_digest(
      dict(STATE, count=STATE["count"].astype(np.int64))) != digest
