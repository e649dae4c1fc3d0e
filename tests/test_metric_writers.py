"""gan_jax.train.workdir's metric writers and error log, without training."""

import json
import logging
import os
import sys
import types

import numpy as np

from gan_jax.train import workdir as workdir_lib

from helpers import tensorboard_events


def tensorboard_values(folder):
  """(tag, step, kind) of every summary value in the event files."""
  return [(value.tag, event.step, value.WhichOneof("value"))
          for event in tensorboard_events(folder)
          for value in event.summary.value]


def test_multi_writer_keeps_the_files_formats(tmp_path):
  events = workdir_lib.TensorBoardEvents(str(tmp_path / "tb"))
  events.restart(0)
  path = str(tmp_path / "metrics.jsonl")
  writer = workdir_lib.MultiWriter([
      workdir_lib.JsonlWriter(path),
      workdir_lib.TensorBoardWriter(events, "train")])
  writer.write_scalars(2, {"d_loss": 0.5, "note": "text", "flag": True})
  writer.write_scalars(4, {"d_loss": 0.25})
  image = np.zeros((4, 6, 3), np.uint8)
  writer.write_images(4, {"samples": image})
  writer.write_hparams({"seed": 0, "widths": (8, 8)})
  writer.close()
  events.close()
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  # The row holds every value; the images and hparams have other homes.
  assert rows == [{"step": 2, "d_loss": 0.5, "note": "text", "flag": True},
                  {"step": 4, "d_loss": 0.25}]
  values = tensorboard_values(str(tmp_path / "tb"))
  # Only numbers become scalars; images keep their names.
  assert [(t, s) for t, s, kind in values if kind == "simple_value"] == [
      ("train/d_loss", 2), ("train/d_loss", 4)]
  assert ("samples", 4, "image") in values
  # hparams go in the same event file (no second run folder).
  assert any(t.startswith("_hparams_") for t, _, _ in values)
  assert all(name.startswith("events.")
             for name in os.listdir(str(tmp_path / "tb")))


def test_console_writer_prints_the_progress_line(caplog):
  writer = workdir_lib.ConsoleWriter(10, r1=False)
  scalars = dict(d_loss=1.0, g_loss=2.0, value=-1.2, d_real=0.5, d_fake=0.25,
                 r1_penalty=0.0, gradient_penalty=0.125, steps_per_sec=2.0)
  with caplog.at_level(logging.INFO):
    writer.write_scalars(4, scalars)
  assert caplog.records[-1].getMessage() == (
      "step 4/10 | d_loss 1 g_loss 2 V -1.2 D(x) 0.50 D(G(z)) 0.25 GP 0.125 "
      "| 2 steps/s | ETA 0:00:03")


def _record(pathname, level=logging.ERROR):
  try:
    raise ValueError("RESOURCE_EXHAUSTED: No space left on device")
  except ValueError:
    exc_info = sys.exc_info()
  return logging.LogRecord("absl", level, pathname, 1, "save failed", None,
                           exc_info)


def test_error_log_takes_the_libraries_tracebacks(tmp_path, capsys):
  log = workdir_lib.ErrorLog(str(tmp_path / "error.log"))
  previous_hook = sys.unraisablehook
  log.open()
  absl = logging.getLogger("absl")
  seen = []
  handler = logging.Handler()
  handler.emit = seen.append
  absl.addHandler(handler)
  try:
    absl.handle(_record(os.path.join("site-packages", "orbax", "x.py")))
    absl.handle(_record("/ours/loop.py"))  # not orbax's: shown
    absl.handle(_record(os.path.join("a", "orbax", "b.py"), logging.WARNING))
    closed = RuntimeError("Event loop is closed")
    sys.unraisablehook(types.SimpleNamespace(
        exc_type=RuntimeError, exc_value=closed, exc_traceback=None,
        err_msg=None, object=None))
  finally:
    absl.removeHandler(handler)
    log.close()
  assert sys.unraisablehook is previous_hook
  assert [r.pathname for r in seen] == [
      "/ours/loop.py", os.path.join("a", "orbax", "b.py")]
  with open(tmp_path / "error.log") as f:
    text = f.read()
  assert "Traceback" in text and "No space left on device" in text
  assert "Event loop is closed" in text
  assert "Event loop" not in capsys.readouterr().err
  # The reserve is given back: the file holds just what was written.
  assert os.path.getsize(tmp_path / "error.log") == len(text.encode())


def test_an_unused_error_log_leaves_no_file(tmp_path):
  log = workdir_lib.ErrorLog(str(tmp_path / "error.log"))
  log.open()
  log.close()
  assert not os.path.exists(tmp_path / "error.log")
