"""A run's checkpoints: atomic saves, verified restores, damaged ones set aside.

Checkpoints are orbax `CheckpointManager` steps in `<workdir>/checkpoints/<step>`.

Atomic writes: orbax writes a step into `<step>.orbax-checkpoint-tmp-<n>` and
renames it to `<step>` only once every file is written, so a save cut short
(crash, kill, full disk) leaves a tmp folder that is never listed as a step,
never chosen as latest, and never deleted by this module.

Verified restores: orbax does not notice every kind of damage (bytes
overwritten inside a data file restore silently as wrong numbers), so `save`
also records a SHA-256 digest of the state's bytes in the step's metadata
(`_CHECKPOINT_METADATA`, written inside the same atomic rename), and
`restore` recomputes it. A step is *damaged* when orbax cannot read it
(truncated or missing files), its metadata is missing or unreadable, its
digest does not match, its state's `step` is not the folder's step, or it
holds non-finite floats (never saved by `save`). Checkpoints written before
digests existed are restored unverified (with a log line saying so).

`restore_latest` tries the steps newest first. A damaged step is reported
(a warning naming its folder and the problem) and skipped; when an older step
restores, a writer (`set_aside=True`) moves the damaged folders to
`<workdir>/checkpoints_damaged/<step>-<time>` so that they are neither chosen
again nor overwritten by a new save of that step; nothing is ever deleted.
When no step restores, nothing is moved and `CheckpointError` lists them.

`save` also stores a small JSON dict of the caller's (`extra`) with the step,
e.g. the training loop's learning-rate scale and the metrics not yet logged.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import Any, Optional

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "checkpoints_damaged"
MAX_CHECKPOINTS = 3
# orbax's per-step metadata file; it holds `custom_metadata`.
_STEP_METADATA_FILE = "_CHECKPOINT_METADATA"
_KEY = "gan_jax"  # our entry in custom_metadata


class CheckpointError(RuntimeError):
  """No checkpoint in a folder could be restored (the message lists why)."""


class DamagedCheckpointError(CheckpointError):
  """One checkpoint step cannot be used; the message names its folder."""


def manager(workdir: str, *, create: bool,
            max_to_keep: int = MAX_CHECKPOINTS) -> ocp.CheckpointManager:
  """The orbax manager of `<workdir>/checkpoints` (keeps the latest few)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                         create=create)
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR)), options=options)


def step_dir(mngr: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(mngr.directory), str(int(step)))


def state_digest(tree: Any) -> str:
  """SHA-256 over every leaf's dtype, shape and bytes, in pytree order."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def nonfinite_leaves(tree: Any) -> list[str]:
  """Paths of the floating-point leaves holding a NaN or an infinity."""
  bad = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    array = np.asarray(leaf)
    if (np.issubdtype(array.dtype, np.inexact) and
        not np.all(np.isfinite(array))):
      bad.append(jax.tree_util.keystr(path))
  return bad


def save(mngr: ocp.CheckpointManager, step: int, host_state: Any, *,
         extra: Optional[dict] = None) -> None:
  """Saves `host_state` (numpy leaves) as `step`, with its digest and `extra`.

  Asynchronous (orbax): call `mngr.wait_until_finished()` before the process
  exits. `extra` must be JSON-serialisable.

  Raises:
    ValueError: the state holds non-finite values (it is not saved).
  """
  bad = nonfinite_leaves(host_state)
  if bad:
    raise ValueError(f"refusing to save a checkpoint at step {step}: "
                     f"non-finite values in {', '.join(bad[:5])}")
  info = dict(extra or {})
  info["digest"] = state_digest(host_state)
  mngr.save(int(step), args=ocp.args.StandardSave(host_state),
            custom_metadata={_KEY: info})


def _read_info(mngr: ocp.CheckpointManager, step: int) -> Optional[dict]:
  """Our metadata of `step`; None for a checkpoint written without it."""
  path = os.path.join(step_dir(mngr, step), _STEP_METADATA_FILE)
  try:
    with open(path) as f:
      metadata = json.load(f)
  except FileNotFoundError:
    raise DamagedCheckpointError(
        f"checkpoint {step_dir(mngr, step)} is damaged: its metadata file "
        f"{_STEP_METADATA_FILE} is missing") from None
  except (OSError, ValueError) as e:
    raise DamagedCheckpointError(
        f"checkpoint {step_dir(mngr, step)} is damaged: its metadata file "
        f"{_STEP_METADATA_FILE} cannot be read ({type(e).__name__}: "
        f"{e})") from None
  custom = metadata.get("custom_metadata") if isinstance(metadata, dict) else None
  info = custom.get(_KEY) if isinstance(custom, dict) else None
  return info if isinstance(info, dict) else None


def restore(mngr: ocp.CheckpointManager, step: int, target: Any
            ) -> tuple[Any, dict]:
  """Restores and verifies one step; returns (state, extra).

  Args:
    mngr: the manager.
    step: a step in `mngr.all_steps()`.
    target: a pytree of numpy arrays with the state's structure.

  Raises:
    DamagedCheckpointError: the step cannot be used (message: folder, why).
  """
  folder = step_dir(mngr, step)
  info = _read_info(mngr, step)
  try:
    state = mngr.restore(int(step), args=ocp.args.StandardRestore(target))
  except Exception as e:  # pylint: disable=broad-except
    # orbax / tensorstore raise many types (ValueError, OSError, KeyError...)
    # for truncated or missing files.
    raise DamagedCheckpointError(
        f"checkpoint {folder} is damaged: orbax cannot restore it "
        f"({type(e).__name__}: {str(e)[:300]})") from e
  if info is None:
    logging.info("Checkpoint %s has no digest (written by an older version); "
                 "restored without verification", folder)
    info = {}
  elif info.get("digest") != state_digest(state):
    raise DamagedCheckpointError(
        f"checkpoint {folder} is damaged: its contents do not match the "
        f"digest recorded when it was saved")
  saved_step = getattr(state, "step", None)
  if saved_step is not None and int(np.asarray(saved_step)) != int(step):
    raise DamagedCheckpointError(
        f"checkpoint {folder} is damaged: it holds the state of step "
        f"{int(np.asarray(saved_step))}")
  bad = nonfinite_leaves(state)
  if bad:
    raise DamagedCheckpointError(
        f"checkpoint {folder} holds non-finite values (in "
        f"{', '.join(bad[:5])}); it is not a usable training state")
  extra = {k: v for k, v in info.items() if k != "digest"}
  return state, extra


def set_aside(mngr: ocp.CheckpointManager, step: int) -> str:
  """Moves a damaged step out of the manager's view; returns where to."""
  root = os.path.dirname(str(mngr.directory).rstrip(os.sep))
  damaged = os.path.join(root, DAMAGED_DIR)
  os.makedirs(damaged, exist_ok=True)
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
  destination = os.path.join(damaged, f"{int(step)}-{stamp}")
  os.rename(step_dir(mngr, step), destination)
  mngr.reload()
  return destination


def restore_latest(mngr: ocp.CheckpointManager, target: Any, *,
                   set_aside_damaged: bool = False
                   ) -> Optional[tuple[int, Any, dict]]:
  """The newest step that restores and verifies: (step, state, extra).

  Damaged steps are logged (warning) and skipped; with `set_aside_damaged`,
  once a good step is found they are moved to `checkpoints_damaged/`.

  Returns:
    None when there is no checkpoint at all.

  Raises:
    CheckpointError: there are checkpoints, but none can be restored (all
      are left where they are).
  """
  mngr.reload()
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    return None
  damaged = []
  for step in steps:
    try:
      state, extra = restore(mngr, step, target)
    except DamagedCheckpointError as e:
      logging.warning("%s; falling back to an older checkpoint", e)
      damaged.append((step, str(e)))
      continue
    if set_aside_damaged:
      for bad_step, _ in damaged:
        where = set_aside(mngr, bad_step)
        logging.warning("Moved damaged checkpoint %s to %s (not deleted)",
                        step_dir(mngr, bad_step), where)
    if damaged:
      logging.warning("Restored checkpoint %s (step %d) instead of the "
                      "damaged newer one(s): %s", step_dir(mngr, step), step,
                      ", ".join(str(s) for s, _ in damaged))
    return step, state, extra
  raise CheckpointError(
      f"no checkpoint in {mngr.directory} can be restored; every one is "
      f"damaged (left in place): " + "; ".join(m for _, m in damaged))
