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


@pytest.fixture(scope="session", autouse=True)
def feature_extractor_cache(tmp_path_factory):
  """The default feature-extractor cache of every test: a fresh folder.

  A run with eval.features and no eval.feature_extractor_dir caches the
  extractor (and the real-data floors) in the user's cache
  (`gan_jax.feature_extractor.cache_root`); GAN_JAX_CACHE_DIR sends it, for
  the tests and the processes they start, to a folder of this session.
  """
  folder = str(tmp_path_factory.mktemp("gan_jax_cache"))
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("GAN_JAX_CACHE_DIR", folder)
    yield folder


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
  """A folder holding a tiny random train-images IDX file."""
  folder = str(tmp_path_factory.mktemp("idx"))
  helpers.write_idx_images(folder)
  return folder


def _find_slurm():
  """(a partition with a live node, None) or (None, why there is none)."""
  import shutil  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  if shutil.which("sbatch") is None:
    return None, "SLURM is not installed (no sbatch on the PATH)"
  try:
    result = subprocess.run(["sinfo", "-h", "-o", "%P %t"],
                            capture_output=True, text=True, timeout=30,
                            check=False)
  except subprocess.TimeoutExpired:
    return None, "SLURM does not answer (sinfo timed out)"
  if result.returncode != 0:
    return None, ("SLURM does not answer (sinfo: "
                  + " ".join(result.stderr.split()) + ")")
  usable = [line.split()[0].rstrip("*") for line in result.stdout.splitlines()
            if line.split()[1].rstrip("*~#$@") in ("idle", "mix", "alloc")]
  if not usable:
    return None, (f"no SLURM node is up (sinfo: "
                  f"{result.stdout.strip() or 'none'})")
  return usable[0], None


@pytest.fixture(scope="session")
def slurm_cluster():
  """The partition of a SLURM that takes jobs; skips (fails with CI=true)."""
  partition, problem = _find_slurm()
  if partition is not None:
    return partition
  message = (f"{problem}; start a one-node SLURM on this machine with "
             f"`tools/local_slurm.sh` (as root)")
  if os.environ.get("CI", "").lower() == "true":
    pytest.fail("CI=true and " + message)
  pytest.skip(message)
