"""Test set-up: fake CPU devices for multi-device tests, set before JAX starts."""

import os

# Four host "devices" let the data-parallel tests run on any CPU machine. The
# flag must be in the environment before jax initialises its backend.
_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
