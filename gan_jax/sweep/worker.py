"""The worker: `python -m gan_jax.sweep <sub-workdir>` runs one variant.

It trains the config saved in the sub-workdir's variant.json; on an error it
exits 1 after printing the error as its last line.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, NoReturn

import ml_collections

from gan_jax import config as config_lib
from gan_jax import data as data_lib
from gan_jax.sweep import files
from gan_jax.sweep import variants as variants_lib

# The worker prints this before its error message as its last line, so the
# launch can quote the error (and not a traceback) in failed.json.
ERROR_PREFIX = "[sweep worker] error: "


def config_from_dict(values: dict[str, Any]) -> ml_collections.ConfigDict:
  """A config from `config.to_dict()` output (JSON lists become tuples)."""
  try:
    return config_lib.from_dict(values)
  except config_lib.ConfigError as e:
    raise variants_lib.SweepError(str(e)) from None


def _set_up_logging() -> None:
  """absl logs at INFO, less orbax's INFO records."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  import logging as std_logging  # pylint: disable=g-import-not-at-top

  def keep(record: std_logging.LogRecord) -> bool:
    # orbax's INFO chatter would drown the progress lines in sweep.log.
    noisy = os.sep + "orbax" + os.sep in record.pathname
    return record.levelno >= std_logging.WARNING or not noisy

  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(keep)


def _one_line(error: BaseException) -> str:
  return " ".join(str(error).split()) or repr(error)


def _fail(error: BaseException, show_traceback: bool) -> NoReturn:
  if show_traceback:
    traceback.print_exc()
  print(f"{ERROR_PREFIX}{type(error).__name__}: {_one_line(error)}",
        flush=True)
  sys.exit(1)


def main(argv: list[str]) -> None:
  """Trains the variant whose variant.json is in argv[1]; exits 1 on error."""
  if len(argv) != 2:
    sys.exit("usage: python -m gan_jax.sweep <variant workdir>")
  workdir = argv[1]
  _set_up_logging()
  try:
    from gan_jax import train  # pylint: disable=g-import-not-at-top
  except Exception as e:  # pylint: disable=broad-except
    _fail(e, show_traceback=True)
  # Failures a user can fix from the message alone (bad data, a workdir
  # holding another config's run) are reported without a traceback.
  expected = (config_lib.ConfigError, data_lib.DataError,
              variants_lib.SweepError, train.WorkdirError)
  try:
    record = files.read_json(os.path.join(workdir, files.VARIANT_FILE))
    if not isinstance(record, dict):
      raise variants_lib.SweepError(
          f"{workdir}/{files.VARIANT_FILE} is missing or unreadable")
    config = config_from_dict(record["config"])
    print(f"[sweep worker] {record['name']}: training in {workdir}",
          flush=True)
    summary = train.train_and_evaluate(config, workdir)
  except expected as e:
    _fail(e, show_traceback=False)
  except Exception as e:  # pylint: disable=broad-except
    _fail(e, show_traceback=True)
  print(f"[sweep worker] finished at step {summary['step']}: "
        f"{json.dumps(summary.get('evaluation') or {})}", flush=True)
