"""Test set-up: fake CPU devices for multi-device tests, set before JAX starts."""

import os

# Four host "devices" let the data-parallel tests run on any CPU machine. The
# flag must be in the environment before jax initialises its backend.
_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

import helpers  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
  """A folder holding a tiny random train-images IDX file."""
  folder = str(tmp_path_factory.mktemp("idx"))
  helpers.write_idx_images(folder)
  return folder
