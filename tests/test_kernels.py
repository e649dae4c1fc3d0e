"""gan_jax.kernels: the oneDNN convolutions compute lax's functions.

Each case compares the oneDNN path with XLA's own convolution on the same
inputs: the value, the gradients in both arguments, and a gradient of a
gradient (R1's shape: the parameter gradient of |dD/dx|²), so all three FFI
calls and their custom VJPs are exercised. float32 tolerances are rounding
(sums of at most a few hundred products); a wrong tap, flip or padding gives
errors of order one.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax import kernels
from gan_jax.kernels import conv as conv_lib

_NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.fixture(scope="module", autouse=True)
def onednn():
  """Skips without the extension (fails with CI=true, which installs it)."""
  if kernels.onednn_available():
    return
  message = ("the oneDNN extension is not built (apt-get install libdnnl-dev, "
             "then pip install -e . again)")
  if os.environ.get("CI", "").lower() == "true":
    pytest.fail("CI=true and " + message)
  pytest.skip(message)


# float32 rounding: oneDNN sums in another order than XLA. Its AVX2 kernels
# differed by up to 3.1e-6 of the largest entry (AVX-512: under 2e-6); a
# wrong index or padding is off by O(1).
_F32_RTOL = 1e-5


def _arrays(seed, *shapes, dtype=jnp.float32):
  rng = np.random.default_rng(seed)
  return [jnp.asarray(rng.normal(size=s), dtype) for s in shapes]


def _value_and_derivatives(conv):
  """conv(x, k), the gradients of sum(sin(conv)) and of an R1-like term."""
  def loss(x, k):
    return jnp.sum(jnp.sin(conv(x, k)))

  def r1(x, k):
    return jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x) ** 2)

  return jax.jit(lambda x, k: (conv(x, k), jax.grad(loss, (0, 1))(x, k),
                               jax.grad(r1, (0, 1))(x, k)))


def _assert_close(ours, reference, rtol):
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.max(np.abs(b)) + 1e-30
    assert np.max(np.abs(a - b)) / scale < rtol, (np.max(np.abs(a - b)),
                                                  scale)


CONV_CASES = [
    # n, size, c_in, c_out, kernel, stride, padding
    (4, 16, 3, 5, 4, 2, "SAME"),     # the DCGAN discriminator's layer
    (2, 7, 2, 3, 3, 1, "SAME"),
    (2, 9, 4, 6, 3, 2, "VALID"),
    (3, 8, 5, 4, 4, 2, ((1, 2), (0, 1))),  # asymmetric explicit padding
    (2, 6, 16, 8, 1, 1, "VALID"),    # 1x1
]


@pytest.mark.parametrize("n,size,c_in,c_out,kernel,stride,padding",
                         CONV_CASES)
def test_conv_matches_lax(n, size, c_in, c_out, kernel, stride, padding):
  x, k = _arrays(0, (n, size, size, c_in), (kernel, kernel, c_in, c_out))
  def ours(x, k):
    return kernels.conv_general_dilated(x, k, (stride, stride), padding,
                                        dimension_numbers=_NHWC)

  def reference(x, k):
    return lax.conv_general_dilated(x, k, (stride, stride), padding,
                                    dimension_numbers=_NHWC)
  _assert_close(_value_and_derivatives(ours)(x, k),
                _value_and_derivatives(reference)(x, k), rtol=_F32_RTOL)


TRANSPOSE_CASES = [
    # n, size, c_in, c_out, kernel, stride, padding
    (4, 4, 6, 5, 4, 2, "SAME"),      # the DCGAN generator's layer
    (2, 8, 3, 8, 4, 2, "SAME"),
    (2, 5, 4, 3, 3, 1, "SAME"),
    (2, 5, 4, 3, 3, 2, "VALID"),
]


@pytest.mark.parametrize("n,size,c_in,c_out,kernel,stride,padding",
                         TRANSPOSE_CASES)
def test_conv_transpose_matches_lax(n, size, c_in, c_out, kernel, stride,
                                    padding):
  x, k = _arrays(1, (n, size, size, c_in), (kernel, kernel, c_in, c_out))
  def ours(x, k):
    return kernels.conv_transpose(x, k, (stride, stride), padding)

  def reference(x, k):
    return lax.conv_transpose(x, k, (stride, stride), padding,
                              dimension_numbers=_NHWC)
  _assert_close(_value_and_derivatives(ours)(x, k),
                _value_and_derivatives(reference)(x, k), rtol=_F32_RTOL)


def _hlo(fn, *args) -> str:
  return jax.jit(fn).lower(*args).as_text()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_the_convolution_is_a_onednn_call(dtype):
  x, k = _arrays(2, (2, 8, 8, 4), (4, 4, 4, 8), dtype=dtype)
  def value_and_grads(x, k):
    return jax.value_and_grad(lambda x, k: jnp.sum(
        kernels.conv_general_dilated(x, k, (2, 2), "SAME",
                                     dimension_numbers=_NHWC
                                     ).astype(jnp.float32)), (0, 1))(x, k)
  text = _hlo(value_and_grads, x, k)
  suffix = "f32" if dtype == jnp.float32 else "bf16"
  if not kernels.onednn_supports(dtype):
    # bf16 on a CPU without AVX-512: XLA computes it, no oneDNN call is made.
    assert dtype == jnp.bfloat16
    assert "gan_jax_onednn" not in text and "stablehlo.convolution" in text
    return
  for op in conv_lib._OPS:  # pylint: disable=protected-access
    assert f"custom_call @gan_jax_onednn_{op}_{suffix}(" in text
  assert "stablehlo.convolution" not in text


def test_bfloat16_is_close_to_float32():
  x, k, weights = _arrays(3, (4, 16, 16, 8), (4, 4, 8, 16), (4, 8, 8, 16))
  def value_and_grads(x, k):
    def loss(x, k):
      y = kernels.conv_general_dilated(x, k, (2, 2), "SAME",
                                       dimension_numbers=_NHWC)
      return jnp.sum(y.astype(jnp.float32) * weights), y
    return jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(x, k)
  full = value_and_grads(x, k)
  half = value_and_grads(x.astype(jnp.bfloat16), k.astype(jnp.bfloat16))
  assert half[1][0].dtype == half[0][1].dtype == jnp.bfloat16
  # bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9 = 0.2%) on the
  # inputs and the output: the value within ~1% of its largest entry.
  _assert_close(half[0][1], full[0][1], rtol=1e-2)
  _assert_close(half[1], full[1], rtol=1e-2)


@pytest.mark.parametrize("case", ["dilation", "groups", "float64_layout"])
def test_what_onednn_does_not_compute_is_lax_itself(case):
  x, k = _arrays(4, (2, 9, 9, 4), (3, 3, 4, 4))
  kwargs = dict(dimension_numbers=_NHWC)
  if case == "dilation":
    kwargs["rhs_dilation"] = (2, 2)
  elif case == "groups":
    kwargs["feature_group_count"] = 2
    k = k[:, :, :2]
  else:
    kwargs["dimension_numbers"] = ("NCHW", "OIHW", "NCHW")
    x, k = jnp.transpose(x, (0, 3, 1, 2)), jnp.transpose(k, (3, 2, 0, 1))
  ours = kernels.conv_general_dilated(x, k, (1, 1), "SAME", **kwargs)
  reference = lax.conv_general_dilated(x, k, (1, 1), "SAME", **kwargs)
  np.testing.assert_array_equal(ours, reference)
  assert "gan_jax_onednn" not in _hlo(
      lambda x, k: kernels.conv_general_dilated(x, k, (1, 1), "SAME",
                                                **kwargs), x, k)


def test_vmap_and_devices():
  """Under vmap (sequential calls) and shard_map over 2 fake CPU devices."""
  x, k = _arrays(5, (3, 2, 8, 8, 4), (4, 4, 4, 6))
  def conv(x):
    return kernels.conv_general_dilated(x, k, (2, 2), "SAME",
                                        dimension_numbers=_NHWC)
  reference = jnp.stack([lax.conv_general_dilated(
      xi, k, (2, 2), "SAME", dimension_numbers=_NHWC) for xi in x])
  _assert_close(jax.jit(jax.vmap(conv))(x), reference, rtol=_F32_RTOL)
  mesh = jax.make_mesh((2,), ("data",), devices=jax.devices()[:2])
  spec = jax.sharding.PartitionSpec(None, "data")
  sharded = jax.jit(jax.shard_map(jax.vmap(conv), mesh=mesh, in_specs=spec,
                                  out_specs=spec))
  x = jax.device_put(x, jax.sharding.NamedSharding(mesh, spec))
  _assert_close(sharded(x), reference, rtol=_F32_RTOL)
