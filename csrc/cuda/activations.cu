// Pointwise activation kernels on the GPU (relu, sigmoid, tanh, leaky_relu, elu, gelu, gelu_tanh,
// softplus, silu) and their backward kernels, float32 and float64, mirroring
// csrc/cpu/activations.cpp: _C.cuda.activation(kind, x, out, ...) and
// _C.cuda.activation_backward(...). The per-element formulas are act_fwd / act_bwd of
// ops/activations.h (shared with the GEMM epilogue and the CPU); each kind is its own
// instantiation of the elementwise kernel, chosen once per call.
#include <string>

#include "bind/activations.h"
#include "elementwise.cuh"

namespace tg::cuda {
namespace {

// Parameters are converted to T once, as the CPU's functors hold them.
template <ActKind K, class T>
struct Forward {
  T p1, p2;
  __device__ __forceinline__ void operator()(T& o, const T& x) const {
    o = act_fwd<K>(x, p1, p2);
  }
};

template <ActKind K, class T>
struct Backward {
  T p1, p2;
  __device__ __forceinline__ void operator()(T& o, const T& g, const T& saved) const {
    o = act_bwd<K>(g, saved, p1, p2);
  }
};

}  // namespace

// Inputs that share memory with out other than as the same elements are copied first (numpy's
// rule, see detach_if_overlapping); out may be x itself.
void Cuda::activation(ActKind kind, const ArrayView& x, const ArrayView& out, double p1,
                      double p2) {
  const char* op = "activation";
  check_activation(kind, x, out, p1);
  dispatch_float(x.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (x.numel() == 0) return;
    Scratch tmp;
    const ArrayView xs = detach_if_overlapping(x, out, tmp, ew::current_device());
    with_act_kind(kind, [&](auto k) {
      constexpr ActKind K = decltype(k)::value;
      ew::for_each(op, Forward<K, T>{T(p1), T(p2)}, ew::arg<T>(out), ew::arg<const T>(xs));
    });
  });
}

void Cuda::activation_backward(ActKind kind, const ArrayView& g, const ArrayView& saved,
                               const ArrayView& out, double p1, double p2) {
  const char* op = "activation_backward";
  check_activation_backward(kind, g, saved, out, p1);
  dispatch_float(g.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.numel() == 0) return;
    const int device = ew::current_device();
    Scratch tmp_g, tmp_s;
    const ArrayView gs = detach_if_overlapping(g, out, tmp_g, device);
    const ArrayView ss = detach_if_overlapping(saved, out, tmp_s, device);
    with_act_kind(kind, [&](auto k) {
      constexpr ActKind K = decltype(k)::value;
      ew::for_each(op, Backward<K, T>{T(p1), T(p2)}, ew::arg<T>(out), ew::arg<const T>(gs),
                   ew::arg<const T>(ss));
    });
  });
}


void bind_activations(py::module_& m) {
  bind::activations<Cuda>(m);
}

}  // namespace tg::cuda
