"""The DCGAN generator's 4x4, stride-2 transposed convolution, two ways.

`StridedConvTranspose` is ``nn.ConvTranspose(features, (4, 4), strides=(2,
2), padding='SAME')`` with the same parameters, computed by oneDNN on CPU
(`gan_jax.kernels.conv_transpose`), by ``lax.conv_transpose`` (what flax
does) or by `subpixel_conv_transpose`, 16 matrix products without the zeros
a dilated convolution inserts, which XLA:CPU differentiates several times
faster than its own.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import kernels

Array = jax.Array

# Radford et al. 2016: weights initialised from N(0, 0.02) (DCGAN's layers
# and this one's default).
DCGAN_INIT = nn.initializers.normal(0.02)

CONV_TRANSPOSE_IMPLS = ("auto", "onednn", "xla", "subpixel", "lax")
# Below this many channels XLA's own convolution is as fast on CPU as
# oneDNN and faster than the sub-pixel form (whose matrix products
# degenerate to matrix-vector ones): the 1-channel image layers.
MIN_CHANNELS = 8


def _auto_impl(c_in: int, c_out: int) -> str:
  """'auto': oneDNN on CPU where built, for >= MIN_CHANNELS in and out."""
  wide = min(c_in, c_out) >= MIN_CHANNELS
  return ("onednn" if jax.default_backend() == "cpu" and wide
          and kernels.onednn_available() else "xla")


def resolve_impl(impl: str, c_in: int, c_out: int) -> str:
  """'onednn', 'subpixel' or 'lax' for a layer of c_in -> c_out channels.

  'auto': oneDNN on CPU where built, for >= MIN_CHANNELS in and out;
  otherwise 'xla'. 'xla': on CPU the sub-pixel form for >= MIN_CHANNELS out,
  lax.conv_transpose otherwise. 'onednn' falls back to lax off CPU.
  """
  if impl not in CONV_TRANSPOSE_IMPLS:
    raise ValueError(f"unknown conv_transpose impl {impl!r}; valid: "
                     f"{', '.join(CONV_TRANSPOSE_IMPLS)}")
  if impl == "auto":
    impl = _auto_impl(c_in, c_out)
  if impl == "xla":
    impl = ("subpixel" if jax.default_backend() == "cpu" and
            c_out >= MIN_CHANNELS else "lax")
  return impl


def conv_function(impl: str, c_in: int, c_out: int
                  ) -> Callable[..., Array] | None:
  """nn.Conv's `conv_general_dilated` for `impl` ('auto', 'onednn', 'xla').

  oneDNN (`gan_jax.kernels.conv_general_dilated`, lax's function) for
  'onednn', and for 'auto' on CPU where built with >= MIN_CHANNELS in and
  out; None (flax's default, lax.conv_general_dilated) otherwise.
  """
  if impl not in ("auto", "onednn", "xla"):
    raise ValueError(f"unknown conv impl {impl!r}; valid: auto, onednn, xla")
  if impl == "auto":
    impl = _auto_impl(c_in, c_out)
  return kernels.conv_general_dilated if impl == "onednn" else None


def _subpixel_taps(phase: int) -> list[tuple[int, int]]:
  """(kernel index k, offset into the 1-padded input) for output phase a.

  Output row 2i + a of the stride-2 transposed convolution reads input row
  i + (a + k) // 2 - 1 through kernel row k, for the k with k = a (mod 2).
  """
  return [(k, (phase + k) // 2) for k in range(4) if (phase + k) % 2 == 0]


def subpixel_conv_transpose(x: Array, kernel: Array) -> Array:
  """4x4, stride-2, 'SAME' transposed convolution as 16 matrix products.

  Computes lax.conv_transpose(x, kernel, (2, 2), 'SAME') (flax's
  nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME')):

    y[n, 2i+a, 2j+b, o] = sum_{ky = a, kx = b (mod 2)} sum_c
        xp[n, i + (a+ky)//2, j + (b+kx)//2, c] * kernel[ky, kx, c, o]

  with xp = x padded by one pixel on each side: each of the four output
  phases (a, b) is a 2x2 stride-1 correlation, written as four products of
  [n*h*w, c] by [c, o] matrices. The same multiply-adds as the dilated
  convolution, without the zeros it inserts; the reason is XLA:CPU, whose
  gradient of a dilated convolution runs several times slower than these
  products and their transposes (measured: docs/performance.md). Exact up
  to float rounding.

  Args:
    x: [n, h, w, c].
    kernel: [4, 4, c, o] (flax ConvTranspose's HWIO layout).

  Returns:
    [n, 2h, 2w, o].
  """
  n, height, width, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = []
  for a in range(2):
    phases = []
    for b in range(2):
      y = None
      for ky, dy in _subpixel_taps(a):
        for kx, dx in _subpixel_taps(b):
          part = jnp.einsum("nhwc,co->nhwo",
                            xp[:, dy:dy + height, dx:dx + width, :],
                            kernel[ky, kx])
          y = part if y is None else y + part
      phases.append(y)
    rows.append(jnp.stack(phases, axis=3))  # [n, h, w, 2 (b), o]
  y = jnp.stack(rows, axis=2)  # [n, h, 2 (a), w, 2 (b), o]
  return y.reshape(n, 2 * height, 2 * width, kernel.shape[-1])


class StridedConvTranspose(nn.Module):
  """nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME').

  Same parameters ('kernel' [4, 4, c_in, features], 'bias' [features]), same
  initialisation and the same function; `impl` picks how it is computed
  (see `resolve_impl`): 'onednn' (`gan_jax.kernels.conv_transpose`),
  'subpixel' (`subpixel_conv_transpose`), 'lax' (lax.conv_transpose, what
  flax does), 'xla' (subpixel on CPU, where XLA's own is slow to
  differentiate; lax elsewhere) or 'auto' (oneDNN on CPU where built, else
  'xla').
  """
  features: int
  use_bias: bool = True
  impl: str = "auto"
  kernel_init: Callable[..., Array] = DCGAN_INIT
  # Compute dtype (as flax's `dtype`): input, kernel and bias are cast to it;
  # the parameters stay float32.
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    impl = resolve_impl(self.impl, x.shape[-1], self.features)
    kernel = self.param("kernel", self.kernel_init,
                        (4, 4, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if impl == "subpixel":
      y = subpixel_conv_transpose(x, kernel)
    elif impl == "onednn":
      y = kernels.conv_transpose(x, kernel, (2, 2), "SAME")
    else:
      y = lax.conv_transpose(x, kernel, (2, 2), "SAME",
                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,),
                         jnp.float32).astype(self.dtype)
    return y
