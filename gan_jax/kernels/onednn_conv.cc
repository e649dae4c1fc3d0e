// oneDNN 2-D convolutions for XLA:CPU, as XLA FFI custom calls.
//
// Three handlers cover a convolution and everything its derivatives need
// (gan_jax/kernels/conv.py composes them under jax.custom_vjp):
//   forward:         y[n, oh, ow, o]  = sum_{kh, kw, c} x[n, sh*oh+kh-pt, sw*ow+kw-pl, c] w[kh, kw, c, o]
//   backward data:   dx = the adjoint of forward in x  (given dy and w)
//   backward weight: dw = the adjoint of forward in w  (given x and dy)
// Layouts are JAX's: activations NHWC, weights HWIO, row-major, no groups,
// no dilation. Why not XLA's own: XLA:CPU's strided-convolution gradients
// (Eigen) run 2x slower than oneDNN's, which is what PyTorch calls on CPU.
//
// Each thread keeps its primitives in a cache keyed by the geometry, with a
// user-owned scratchpad and a buffer for oneDNN's preferred weight layout, so
// concurrent calls (several fake CPU devices) share nothing mutable.

#include <Python.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace {

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

enum class Op { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

// Geometry of one convolution: x [n, h, w, c] * k [kh, kw, c, o] -> [n, oh, ow, o].
struct Geometry {
  int64_t n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pl, pb, pr;
  memory::data_type type;
  auto key(Op op) const {
    return std::make_tuple(static_cast<int>(op), static_cast<int>(type), n, h,
                           w, c, o, kh, kw, oh, ow, sh, sw, pt, pl, pb, pr);
  }
  memory::desc src(tag t) const { return {{n, c, h, w}, type, t}; }
  memory::desc dst(tag t) const { return {{n, o, oh, ow}, type, t}; }
  memory::desc weights(tag t) const { return {{o, c, kh, kw}, type, t}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc ForwardDesc(const Geometry& g) {
  dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
      g.src(tag::nhwc), g.weights(tag::any), g.dst(tag::nhwc), g.strides(),
      g.pad_l(), g.pad_r());
  return {desc, UserScratchpad(), Engine()};
}

// One cached primitive, its weight layout and scratchpad.
struct Entry {
  dnnl::primitive primitive;
  memory::desc weights_md;          // oneDNN's chosen layout of w or dw
  std::unique_ptr<memory> weights;  // buffer in that layout, if not HWIO
  memory scratchpad;
};

Entry MakeEntry(const Geometry& g, Op op) {
  auto fwd = ForwardDesc(g);
  Entry entry;
  memory::desc scratch_md;
  if (op == Op::kForward) {
    entry.primitive = dnnl::convolution_forward(fwd);
    entry.weights_md = fwd.weights_desc();
    scratch_md = fwd.scratchpad_desc();
  } else if (op == Op::kBackwardData) {
    dnnl::convolution_backward_data::desc desc(
        dnnl::algorithm::convolution_direct, g.src(tag::nhwc),
        g.weights(tag::any), g.dst(tag::nhwc), g.strides(), g.pad_l(),
        g.pad_r());
    dnnl::convolution_backward_data::primitive_desc pd(desc, UserScratchpad(),
                                                        Engine(), fwd);
    entry.primitive = dnnl::convolution_backward_data(pd);
    entry.weights_md = pd.weights_desc();
    scratch_md = pd.scratchpad_desc();
  } else {
    dnnl::convolution_backward_weights::desc desc(
        dnnl::algorithm::convolution_direct, g.src(tag::nhwc),
        g.weights(tag::any), g.dst(tag::nhwc), g.strides(), g.pad_l(),
        g.pad_r());
    dnnl::convolution_backward_weights::primitive_desc pd(
        desc, UserScratchpad(), Engine(), fwd);
    entry.primitive = dnnl::convolution_backward_weights(pd);
    entry.weights_md = pd.diff_weights_desc();
    scratch_md = pd.scratchpad_desc();
  }
  if (entry.weights_md != g.weights(tag::hwio)) {
    entry.weights = std::make_unique<memory>(entry.weights_md, Engine());
  }
  entry.scratchpad = memory(scratch_md, Engine());
  return entry;
}

using Key = decltype(std::declval<Geometry>().key(Op::kForward));

Entry& CachedEntry(const Geometry& g, Op op) {
  thread_local std::map<Key, Entry> cache;
  auto key = g.key(op);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, MakeEntry(g, op)).first;
  return it->second;
}

// Runs `op`: a and b are its two inputs (forward: x, w; backward data: dy, w;
// backward weights: x, dy), out its result.
void Run(const Geometry& g, Op op, void* a, void* b, void* out) {
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  Entry& entry = CachedEntry(g, op);
  dnnl::stream stream(Engine());
  memory user_w(g.weights(tag::hwio), Engine(),
                op == Op::kBackwardWeights ? out : b);
  memory& w = entry.weights ? *entry.weights : user_w;
  if (entry.weights && op != Op::kBackwardWeights) {
    dnnl::reorder(user_w, w).execute(stream, user_w, w);
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SCRATCHPAD, entry.scratchpad}};
  if (op == Op::kForward) {
    args[DNNL_ARG_SRC] = memory(g.src(tag::nhwc), Engine(), a);
    args[DNNL_ARG_WEIGHTS] = w;
    args[DNNL_ARG_DST] = memory(g.dst(tag::nhwc), Engine(), out);
  } else if (op == Op::kBackwardData) {
    args[DNNL_ARG_DIFF_DST] = memory(g.dst(tag::nhwc), Engine(), a);
    args[DNNL_ARG_WEIGHTS] = w;
    args[DNNL_ARG_DIFF_SRC] = memory(g.src(tag::nhwc), Engine(), out);
  } else {
    args[DNNL_ARG_SRC] = memory(g.src(tag::nhwc), Engine(), a);
    args[DNNL_ARG_DIFF_DST] = memory(g.dst(tag::nhwc), Engine(), b);
    args[DNNL_ARG_DIFF_WEIGHTS] = w;
  }
  entry.primitive.execute(stream, args);
  if (entry.weights && op == Op::kBackwardWeights) {
    dnnl::reorder(w, user_w).execute(stream, w, user_w);
  }
  stream.wait();
}

template <ffi::DataType T>
memory::data_type DnnlType() {
  return T == ffi::DataType::BF16 ? memory::data_type::bf16
                                  : memory::data_type::f32;
}

// Geometry from the activations [n, h, w, c], weights [kh, kw, c, o] and
// output [n, oh, ow, o] dims; padding_r follows from the output size.
template <typename X, typename K, typename Y>
Geometry MakeGeometry(const X& x, const K& k, const Y& y, int64_t sh,
                      int64_t sw, int64_t pt, int64_t pl,
                      memory::data_type type) {
  Geometry g{x[0], x[1], x[2], x[3], k[3], k[0], k[1], y[1], y[2],
             sh,   sw,   pt,   pl,   0,    0,    type};
  g.pb = (g.oh - 1) * sh + g.kh - g.h - pt;
  g.pr = (g.ow - 1) * sw + g.kw - g.w - pl;
  return g;
}

template <typename F>
ffi::Error Guarded(F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    return ffi::Error(ffi::ErrorCode::kInternal,
                      std::string("oneDNN convolution: ") + e.what());
  }
  return ffi::Error::Success();
}

template <ffi::DataType T>
ffi::Error Forward(ffi::Buffer<T> x, ffi::Buffer<T> k, ffi::ResultBuffer<T> y,
                   int64_t sh, int64_t sw, int64_t pt, int64_t pl) {
  return Guarded([&] {
    auto g = MakeGeometry(x.dimensions(), k.dimensions(), y->dimensions(), sh,
                          sw, pt, pl, DnnlType<T>());
    Run(g, Op::kForward, x.untyped_data(), k.untyped_data(),
        y->untyped_data());
  });
}

template <ffi::DataType T>
ffi::Error BackwardData(ffi::Buffer<T> dy, ffi::Buffer<T> k,
                        ffi::ResultBuffer<T> dx, int64_t sh, int64_t sw,
                        int64_t pt, int64_t pl) {
  return Guarded([&] {
    auto g = MakeGeometry(dx->dimensions(), k.dimensions(), dy.dimensions(),
                          sh, sw, pt, pl, DnnlType<T>());
    Run(g, Op::kBackwardData, dy.untyped_data(), k.untyped_data(),
        dx->untyped_data());
  });
}

template <ffi::DataType T>
ffi::Error BackwardWeights(ffi::Buffer<T> x, ffi::Buffer<T> dy,
                           ffi::ResultBuffer<T> dk, int64_t sh, int64_t sw,
                           int64_t pt, int64_t pl) {
  return Guarded([&] {
    auto g = MakeGeometry(x.dimensions(), dk->dimensions(), dy.dimensions(),
                          sh, sw, pt, pl, DnnlType<T>());
    Run(g, Op::kBackwardWeights, x.untyped_data(), dy.untyped_data(),
        dk->untyped_data());
  });
}

template <ffi::DataType T>
auto Binding() {
  return ffi::Ffi::Bind()
      .template Arg<ffi::Buffer<T>>()
      .template Arg<ffi::Buffer<T>>()
      .template Ret<ffi::Buffer<T>>()
      .template Attr<int64_t>("stride_h")
      .template Attr<int64_t>("stride_w")
      .template Attr<int64_t>("pad_top")
      .template Attr<int64_t>("pad_left");
}

}  // namespace

#define GAN_JAX_HANDLER(name, impl, type) \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, impl<ffi::DataType::type>, \
                                Binding<ffi::DataType::type>());

GAN_JAX_HANDLER(ConvForwardF32, Forward, F32)
GAN_JAX_HANDLER(ConvBackwardDataF32, BackwardData, F32)
GAN_JAX_HANDLER(ConvBackwardWeightsF32, BackwardWeights, F32)
GAN_JAX_HANDLER(ConvForwardBF16, Forward, BF16)
GAN_JAX_HANDLER(ConvBackwardDataBF16, BackwardData, BF16)
GAN_JAX_HANDLER(ConvBackwardWeightsBF16, BackwardWeights, BF16)

// The Python module: handlers() -> {target name: PyCapsule}, for
// jax.ffi.register_ffi_target(name, capsule, platform="cpu").
namespace {

PyObject* Handlers(PyObject*, PyObject*) {
  const std::array<std::pair<const char*, void*>, 6> handlers{{
      {"conv_forward_f32", reinterpret_cast<void*>(ConvForwardF32)},
      {"conv_backward_data_f32", reinterpret_cast<void*>(ConvBackwardDataF32)},
      {"conv_backward_weights_f32",
       reinterpret_cast<void*>(ConvBackwardWeightsF32)},
      {"conv_forward_bf16", reinterpret_cast<void*>(ConvForwardBF16)},
      {"conv_backward_data_bf16",
       reinterpret_cast<void*>(ConvBackwardDataBF16)},
      {"conv_backward_weights_bf16",
       reinterpret_cast<void*>(ConvBackwardWeightsBF16)},
  }};
  PyObject* result = PyDict_New();
  for (const auto& [name, fn] : handlers) {
    PyObject* capsule = PyCapsule_New(fn, nullptr, nullptr);
    PyDict_SetItemString(result, name, capsule);
    Py_DECREF(capsule);
  }
  return result;
}

PyObject* Version(PyObject*, PyObject*) {
  const dnnl_version_t* v = dnnl_version();
  return PyUnicode_FromFormat("%d.%d.%d", v->major, v->minor, v->patch);
}

PyMethodDef kMethods[] = {
    {"handlers", Handlers, METH_NOARGS,
     "{name: PyCapsule} of the XLA FFI convolution handlers."},
    {"onednn_version", Version, METH_NOARGS, "The linked oneDNN's version."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_onednn",
                       "oneDNN convolutions as XLA FFI handlers.", -1,
                       kMethods};

}  // namespace

PyMODINIT_FUNC PyInit__onednn() { return PyModule_Create(&kModule); }
