"""Builds gan_jax's optional native extension, `gan_jax.kernels._onednn`.

The package metadata is in pyproject.toml; this file only adds the oneDNN
convolutions for XLA:CPU (gan_jax/kernels/onednn_conv.cc, XLA FFI handlers).
They are built where a C++17 compiler, oneDNN's headers and library (Debian:
`apt-get install libdnnl-dev`; elsewhere set DNNL_ROOT) and jaxlib's FFI
headers are found; otherwise the package installs without them and the
models use XLA's own convolutions (the same functions, slower on CPU).
GAN_JAX_NO_ONEDNN=1 skips the extension.
"""

import importlib.util
import os
import sys

from setuptools import Extension
from setuptools import setup

_SOURCE = "gan_jax/kernels/onednn_conv.cc"
_HEADER = os.path.join("oneapi", "dnnl", "dnnl.hpp")


def _say(message):
  print(f"gan_jax setup: {message}", file=sys.stderr)


def _jaxlib_include():
  spec = importlib.util.find_spec("jaxlib")
  if spec is None or not spec.origin:
    return None
  include = os.path.join(os.path.dirname(spec.origin), "include")
  header = os.path.join(include, "xla", "ffi", "api", "ffi.h")
  return include if os.path.exists(header) else None


def _onednn_root():
  roots = [os.environ.get("DNNL_ROOT"), os.environ.get("CONDA_PREFIX"),
           "/usr", "/usr/local"]
  for root in filter(None, roots):
    if os.path.exists(os.path.join(root, "include", _HEADER)):
      return root
  return None


def _extensions():
  if os.environ.get("GAN_JAX_NO_ONEDNN"):
    _say("GAN_JAX_NO_ONEDNN is set: building without the oneDNN kernels")
    return []
  jaxlib_include, root = _jaxlib_include(), _onednn_root()
  if jaxlib_include is None or root is None:
    missing = ("jaxlib's XLA FFI headers" if jaxlib_include is None else
               f"oneDNN's {_HEADER} (apt-get install libdnnl-dev, or set "
               "DNNL_ROOT)")
    _say(f"{missing} not found: building without the oneDNN kernels "
         "(XLA's own convolutions are used)")
    return []
  library_dirs = [os.path.join(root, d) for d in ("lib", "lib64")
                  if os.path.isdir(os.path.join(root, d))]
  return [Extension(
      "gan_jax.kernels._onednn", sources=[_SOURCE],
      include_dirs=[jaxlib_include, os.path.join(root, "include")],
      library_dirs=library_dirs, runtime_library_dirs=library_dirs,
      libraries=["dnnl"], language="c++",
      extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden", "-w"],
      # A failed compile (no compiler, an incompatible oneDNN) leaves the
      # package without the kernels rather than failing the install.
      optional=True)]


setup(ext_modules=_extensions())
