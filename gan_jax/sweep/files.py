"""A sweep's files on disk: names, atomic writes, and each variant's status.

The layout is described in the package docstring (`gan_jax.sweep`).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Optional, Sequence

import ml_collections

from gan_jax import config as config_lib
from gan_jax.sweep import variants as variants_lib

SWEEP_FILE = "sweep.json"
VARIANT_FILE = "variant.json"
JOB_FILE = "job.json"
FAILED_FILE = "failed.json"
SUMMARY_FILE = "summary.json"  # written by gan_jax.train
CONFIG_FILE = "config.json"  # written by gan_jax.train
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"


def write_atomic(path: str, text: str) -> None:
  """Readers (other launches) see the old file or the new one, never half."""
  tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
  with open(tmp, "w", newline="") as f:
    f.write(text)
  os.replace(tmp, path)


def read_json(path: str) -> Optional[Any]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def jsonable(value: Any) -> Any:
  return list(value) if isinstance(value, tuple) else value


def write_json(path: str, record: Any) -> None:
  write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def write_variant_file(workdir: str, variant: variants_lib.Variant) -> None:
  """variant.json: what the job trains (its full config) and why (overrides)."""
  write_json(os.path.join(workdir, VARIANT_FILE),
             dict(name=variant.name,
                  overrides={k: jsonable(v) for k, v in
                             variant.overrides.items()},
                  config=variant.config.to_dict()))


def write_sweep_file(sweep_dir: str,
                     variants: Sequence[variants_lib.Variant]) -> None:
  records = [dict(name=v.name,
                  overrides={k: jsonable(x) for k, x in v.overrides.items()},
                  steps=int(v.config.train.steps)) for v in variants]
  write_atomic(os.path.join(sweep_dir, SWEEP_FILE),
               json.dumps(dict(variants=records), indent=2) + "\n")


def read_sweep_file(sweep_dir: str) -> list[dict[str, Any]]:
  path = os.path.join(sweep_dir, SWEEP_FILE)
  record = read_json(path)
  if not isinstance(record, dict) or "variants" not in record:
    raise variants_lib.SweepError(f"{sweep_dir} holds no sweep ({path} "
                                  f"missing or unreadable)")
  return record["variants"]


def _is_complete(summary: Any, steps: int) -> bool:
  return (isinstance(summary, dict) and summary.get("step") == steps and
          summary.get("steps") == steps)


def variant_status(sweep_dir: str, name: str, steps: int) -> str:
  """'failed', 'finished' or 'unfinished' (which includes running).

  A failed.json wins over a summary: a finished run resumed for more steps
  keeps its old summary.json while it fails.
  """
  workdir = os.path.join(sweep_dir, name)
  if os.path.exists(os.path.join(workdir, FAILED_FILE)):
    return "failed"
  if _is_complete(read_json(os.path.join(workdir, SUMMARY_FILE)), steps):
    return "finished"
  return "unfinished"


def _config_matches(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Whether the run in `workdir` may be taken as a run of `config`.

  Mirrors the check `gan_jax.train` makes before resuming, so that a sweep
  rerun after a config file changed does not skip its variants as finished
  with the old config (they run, and fail with train's message instead).
  """
  saved = read_json(os.path.join(workdir, CONFIG_FILE))
  if not isinstance(saved, dict):
    return False
  return all(config_lib.is_resumable_change(f, config)
             for f in config_lib.changed_fields(saved, config.to_dict()))


def is_finished(sweep_dir: str, variant: variants_lib.Variant) -> bool:
  workdir = os.path.join(sweep_dir, variant.name)
  return (variant_status(sweep_dir, variant.name,
                         int(variant.config.train.steps)) == "finished" and
          _config_matches(workdir, variant.config))
