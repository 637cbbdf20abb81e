// Pointwise activation functions (relu, sigmoid, tanh, leaky_relu, elu, gelu, gelu_tanh, softplus,
// silu) and their backward kernels, over arrays of any shape and strides, float32 and float64.
// Each is written once on vectors, with the shared math of simd_math.h (vectorised for float32,
// libm for float64). Exposed as _C.cpu.activation(kind, x, out, ...) and
// _C.cpu.activation_backward(...).
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "bind/activations.h"
#include "common.h"
#include "pyarray.h"
#include "activation_functors.h"

namespace tg {
namespace {

using ops::ActKind;
using act::Backward;
using act::Forward;
using act::with_functor;

// relu and leaky_relu are a compare and a select: memory bound, so they split only when large.
// The others cost tens of vector operations per element and are worth threads much earlier.
int64_t grain_for(ActKind kind) {
  return (kind == ActKind::relu || kind == ActKind::leaky_relu) ? kElementwiseGrain
                                                        : kElementwiseGrain / 8;
}

}  // namespace

// Inputs that share memory with out other than as the same elements are copied first (numpy's
// rule, see detach_if_overlapping); out may be x itself.
void Cpu::activation(ActKind kind, const ArrayView& x, const ArrayView& out, double p1, double p2) {
  const char* op = "activation";
  check_activation(kind, x, out, p1);
  dispatch_float(x.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (x.numel() == 0) return;
    std::vector<char> tmp;
    const ArrayView xs = detach_if_overlapping(x, out, tmp);
    with_functor<T>(kind, p1, p2, [&](const auto& f) {
      const Forward<std::decay_t<decltype(f)>> fwd{f};
      for_each_run<2>(
          {&out, &xs},
          [&](char** p, int64_t n, const int64_t* s) { simd::map<T, 2>(fwd, p, n, s); },
          grain_for(kind));
    });
  });
}

void Cpu::activation_backward(ActKind kind, const ArrayView& g, const ArrayView& saved,
                              const ArrayView& out, double p1, double p2) {
  const char* op = "activation_backward";
  check_activation_backward(kind, g, saved, out, p1);
  dispatch_float(g.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.numel() == 0) return;
    std::vector<char> tmp_g, tmp_s;
    const ArrayView gs = detach_if_overlapping(g, out, tmp_g);
    const ArrayView ss = detach_if_overlapping(saved, out, tmp_s);
    with_functor<T>(kind, p1, p2, [&](const auto& f) {
      const Backward<std::decay_t<decltype(f)>> bwd{f};
      for_each_run<3>(
          {&out, &gs, &ss},
          [&](char** p, int64_t n, const int64_t* s) { simd::map<T, 3>(bwd, p, n, s); },
          grain_for(kind));
    });
  });
}


void bind_activations(py::module_& m) {
  bind::activations<Cpu>(m);
}

}  // namespace tg
