"""2-D convolutions through oneDNN on CPU, differentiable to any order.

XLA:CPU computes a strided convolution's gradients (Eigen) slower than
oneDNN, the library PyTorch calls on CPU, which left gan_jax's DCGAN step
behind PyTorch's (measured: docs/performance.md). Here a convolution in
JAX's layouts (activations NHWC, kernel HWIO, no dilation, no groups) is
three XLA FFI custom calls into
oneDNN (`gan_jax/kernels/onednn_conv.cc`, built by `pip install` where
oneDNN's headers are, e.g. Debian's `libdnnl-dev`):

  forward          y  = conv(x, k)                        [n, oh, ow, o]
  backward data    dx = conv_backward_data(dy, k)          (adjoint in x)
  backward weights dk = conv_backward_weights(x, dy)       (adjoint in k)

Each is linear in each argument, and each one's derivative is made of the
other two (<conv(x, k), dy> = <x, dx> = <k, dk>), so the three `custom_vjp`
functions below are closed under differentiation: gradients of gradients
(R1, gradient penalties) also run in oneDNN.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` (flax's
`nn.Conv(conv_general_dilated=...)`) and `conv_transpose` for
`lax.conv_transpose` in what the models use; both fall back to XLA's own
convolution where oneDNN is not built or not applicable (GPU/TPU, other
dtypes, dilations, groups), so the function is the same everywhere.
"""

from __future__ import annotations

import functools
import math
import re
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array

_NHWC = ("NHWC", "HWIO", "NHWC")
_TARGET = "gan_jax_onednn_{}_{}"
_DTYPES = {jnp.dtype(jnp.float32): "f32", jnp.dtype(jnp.bfloat16): "bf16"}
_OPS = ("conv_forward", "conv_backward_data", "conv_backward_weights")


@functools.lru_cache(maxsize=None)
def onednn_available() -> bool:
  """Whether the oneDNN extension is built and its targets registered."""
  try:
    from gan_jax.kernels import _onednn  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  for name, capsule in _onednn.handlers().items():
    jax.ffi.register_ffi_target(_TARGET.format(*name.rsplit("_", 1)), capsule,
                                platform="cpu")
  return True


@functools.lru_cache(maxsize=None)
def onednn_supports(dtype) -> bool:
  """Whether oneDNN computes convolutions of `dtype` on this CPU.

  float32 runs on every x86-64 oneDNN supports; bfloat16 needs AVX-512 (or
  AVX2-VNNI-2/AMX): on an AVX2-only CPU oneDNN finds no bf16 primitive
  ("could not create a primitive descriptor iterator", measured on a 2-core
  AMD EPYC with AVX2 alone), so such convolutions go to XLA instead. Probed
  once per dtype with the three kernels on a tiny convolution.
  """
  dtype = jnp.dtype(dtype)
  if dtype not in _DTYPES or not onednn_available():
    return False
  geometry = Geometry((2, 2), (0, 0))
  try:
    # Eagerly even when first asked while a jitted function is traced.
    with jax.ensure_compile_time_eval():
      x = jnp.ones((1, 4, 4, 2), dtype)
      k = jnp.ones((2, 2, 2, 2), dtype)
      y = _call("conv_forward", geometry, x, k, (1, 2, 2, 2))
      _call("conv_backward_data", geometry, y, k, x.shape).block_until_ready()
      _call("conv_backward_weights", geometry, x, y,
            k.shape).block_until_ready()
  except jax.errors.JaxRuntimeError:
    return False
  return True


def onednn_version() -> str | None:
  """The linked oneDNN's version ('2.6.3'), or None where it is not built."""
  if not onednn_available():
    return None
  from gan_jax.kernels import _onednn  # pylint: disable=g-import-not-at-top
  return _onednn.onednn_version()


_CUSTOM_CALL = re.compile(
    r'custom_call_target="gan_jax_onednn_(conv_[a-z_]+)_(?:f32|bf16)"')
_SHAPE = re.compile(r"(?:f32|bf16)\[([\d,]*)\]")


def custom_call_flops(hlo_text: str) -> float:
  """FLOPs of the oneDNN convolutions in a compiled program's HLO text.

  XLA's cost analysis counts custom calls as 0 FLOPs; each of the three
  calls does 2·N·OH·OW·O·KH·KW·C multiply-adds' worth, read off the shapes
  on its line (`result = f32[...] custom-call(f32[a] .., f32[b] ..)`).
  """
  total = 0.0
  for line in hlo_text.splitlines():
    call = _CUSTOM_CALL.search(line)
    if call is None:
      continue
    out, a, b = [[int(d) for d in dims.split(",") if d]
                 for dims in _SHAPE.findall(line)[:3]]
    dy, kernel = {"conv_forward": (out, b), "conv_backward_data": (a, b),
                  "conv_backward_weights": (b, out)}[call.group(1)]
    total += 2.0 * math.prod(dy) * math.prod(kernel[:3])
  return total


class Geometry(NamedTuple):
  """Strides and the low padding of each spatial dim (high ones follow)."""
  strides: tuple[int, int]
  pad_low: tuple[int, int]


def _call(op: str, geometry: Geometry, a: Array, b: Array,
          out_shape: Sequence[int]) -> Array:
  target = _TARGET.format(op, _DTYPES[jnp.dtype(a.dtype)])
  out = jax.ShapeDtypeStruct(tuple(out_shape), a.dtype)
  return jax.ffi.ffi_call(target, out, vmap_method="sequential")(
      a, b, stride_h=np.int64(geometry.strides[0]),
      stride_w=np.int64(geometry.strides[1]),
      pad_top=np.int64(geometry.pad_low[0]),
      pad_left=np.int64(geometry.pad_low[1]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _forward(x: Array, kernel: Array, geometry: Geometry,
             out_hw: tuple[int, int]) -> Array:
  n, o = x.shape[0], kernel.shape[3]
  return _call("conv_forward", geometry, x, kernel, (n, *out_hw, o))


def _forward_fwd(x, kernel, geometry, out_hw):
  return _forward(x, kernel, geometry, out_hw), (x, kernel)


def _forward_bwd(geometry, out_hw, residuals, dy):
  x, kernel = residuals
  return (_backward_data(dy, kernel, geometry, x.shape[1:3]),
          _backward_weights(x, dy, geometry, kernel.shape[:2]))


_forward.defvjp(_forward_fwd, _forward_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _backward_data(dy: Array, kernel: Array, geometry: Geometry,
                   in_hw: tuple[int, int]) -> Array:
  n, c = dy.shape[0], kernel.shape[2]
  return _call("conv_backward_data", geometry, dy, kernel, (n, *in_hw, c))


def _backward_data_fwd(dy, kernel, geometry, in_hw):
  return _backward_data(dy, kernel, geometry, in_hw), (dy, kernel)


def _backward_data_bwd(geometry, in_hw, residuals, g):
  dy, kernel = residuals
  return (_forward(g, kernel, geometry, dy.shape[1:3]),
          _backward_weights(g, dy, geometry, kernel.shape[:2]))


_backward_data.defvjp(_backward_data_fwd, _backward_data_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _backward_weights(x: Array, dy: Array, geometry: Geometry,
                      kernel_hw: tuple[int, int]) -> Array:
  shape = (*kernel_hw, x.shape[3], dy.shape[3])
  return _call("conv_backward_weights", geometry, x, dy, shape)


def _backward_weights_fwd(x, dy, geometry, kernel_hw):
  return _backward_weights(x, dy, geometry, kernel_hw), (x, dy)


def _backward_weights_bwd(geometry, kernel_hw, residuals, g):
  x, dy = residuals
  return (_backward_data(dy, g, geometry, x.shape[1:3]),
          _forward(x, g, geometry, dy.shape[1:3]))


_backward_weights.defvjp(_backward_weights_fwd, _backward_weights_bwd)


def _pads(in_hw, kernel_hw, strides, padding) -> list[tuple[int, int]]:
  if isinstance(padding, str):
    return lax.padtype_to_pads(in_hw, kernel_hw, strides, padding)
  return [tuple(p) for p in padding]


def _onednn_applies(lhs: Array, rhs: Array, dimension_numbers,
                    lhs_dilation=None, rhs_dilation=None,
                    feature_group_count=1) -> bool:
  """Whether this convolution is one the oneDNN kernels compute."""
  # onednn_supports is False for a dtype outside _DTYPES or an unbuilt
  # extension, as well as for one this CPU's oneDNN lacks.
  if (jax.default_backend() != "cpu" or lhs.ndim != 4
      or lhs.dtype != rhs.dtype or not onednn_supports(lhs.dtype)):
    return False
  numbers = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  wanted = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  undilated = all(d is None or tuple(d) == (1, 1)
                  for d in (lhs_dilation, rhs_dilation))
  return numbers == wanted and undilated and feature_group_count == 1


def conv_general_dilated(lhs: Array, rhs: Array, window_strides,
                         padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None,
                         preferred_element_type=None) -> Array:
  """`lax.conv_general_dilated`, through oneDNN where it applies.

  oneDNN computes 2-D NHWC x HWIO convolutions of float32 or bfloat16
  operands on CPU without dilation or groups; anything else (and every
  GPU/TPU call) is lax.conv_general_dilated itself.
  """
  if (batch_group_count != 1 or preferred_element_type is not None
      or not _onednn_applies(lhs, rhs, dimension_numbers, lhs_dilation,
                             rhs_dilation, feature_group_count)):
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  strides = tuple(int(s) for s in window_strides)
  kernel_hw = rhs.shape[:2]
  pads = _pads(lhs.shape[1:3], kernel_hw, strides, padding)
  out_hw = tuple((size + lo + hi - k) // s + 1 for size, (lo, hi), k, s
                 in zip(lhs.shape[1:3], pads, kernel_hw, strides))
  geometry = Geometry(strides, (int(pads[0][0]), int(pads[1][0])))
  return _forward(lhs, rhs, geometry, out_hw)


def _transpose_padding(kernel: int, stride: int, padding: str
                       ) -> tuple[int, int]:
  # lax.conv_transpose's padding of the dilated input for 'SAME'/'VALID'.
  if padding == "SAME":
    pad_len = kernel + stride - 2
    pad_a = kernel - 1 if stride > kernel - 1 else int(np.ceil(pad_len / 2))
  else:
    pad_len = kernel + stride - 2 + max(kernel - stride, 0)
    pad_a = kernel - 1
  return pad_a, pad_len - pad_a


def conv_transpose(x: Array, kernel: Array, strides: tuple[int, int],
                   padding: str) -> Array:
  """`lax.conv_transpose(x, kernel, strides, padding, ('NHWC', 'HWIO',
  'NHWC'))` (flax nn.ConvTranspose's function) through oneDNN where it applies.

  A transposed convolution is the backward-data pass of the convolution
  whose kernel is `kernel` flipped in space with its channel axes swapped:
  W[kh, kw, o, c] = kernel[KH-1-kh, KW-1-kw, c, o], padded by k-1-p where the
  dilated form pads by p.
  """
  if (padding not in ("SAME", "VALID")
      or not _onednn_applies(x, kernel, _NHWC)):
    return lax.conv_transpose(x, kernel, strides, padding,
                              dimension_numbers=_NHWC)
  kernel_hw = kernel.shape[:2]
  dilated = [_transpose_padding(k, s, padding)
             for k, s in zip(kernel_hw, strides)]
  pads = [(k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(kernel_hw, dilated)]
  out_hw = tuple((size - 1) * s + 1 + lo + hi - (k - 1) for size, s, (lo, hi), k
                 in zip(x.shape[1:3], strides, dilated, kernel_hw))
  # oneDNN needs the forward convolution of out_hw to land exactly on x's size.
  exact = all((size + lo + hi - k) % s == 0 and
              (size + lo + hi - k) // s + 1 == n and lo >= 0 and hi >= 0
              for size, (lo, hi), k, s, n
              in zip(out_hw, pads, kernel_hw, strides, x.shape[1:3]))
  if not exact:
    return lax.conv_transpose(x, kernel, strides, padding,
                              dimension_numbers=_NHWC)
  flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
  geometry = Geometry(tuple(int(s) for s in strides),
                      (int(pads[0][0]), int(pads[1][0])))
  return _backward_data(x, flipped, geometry, out_hw)
