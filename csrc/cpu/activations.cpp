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
#include "ops/activations.h"
#include "simd_math.h"

namespace tg {
namespace {

using ops::ActKind;

// The vector forms of ops/activations.h's act_fwd / act_bwd, the same formulas: each functor
// holds its parameters in T and gives fwd(x) and bwd(grad, saved) on vectors of T (simd_math.h:
// float lanes computed there, double lanes by libm); `saved` is what activation_backward
// documents (the output for sigmoid/tanh, the input otherwise).
template <class T>
struct Relu {
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const {
    return x < T(0) ? V{} : x;  // nan passes through, as clamp_min
  }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    return x <= T(0) ? V{} : g;
  }
};

template <class T>
struct Sigmoid {
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const { return simd::vsigmoid(x); }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& y) const {
    return g * (T(1) - y) * y;
  }
};

template <class T>
struct Tanh {
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const { return simd::vtanh(x); }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& y) const {
    return g * (T(1) - y * y);
  }
};

template <class T>
struct LeakyRelu {
  T slope;
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const { return x > T(0) ? x : x * slope; }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    return x > T(0) ? g : g * slope;
  }
};

template <class T>
struct Elu {
  T alpha;
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const {
    return x > T(0) ? x : alpha * simd::vexpm1(x);
  }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    return x <= T(0) ? g * alpha * simd::vexp(x) : g;
  }
};

// x Phi(x) and its derivative Phi(x) + x phi(x); vnormal_cdf keeps the left tail accurate,
// where 0.5 (1 + erf(x / sqrt 2)) would cancel.
template <class T>
struct Gelu {
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const { return x * simd::vnormal_cdf(x); }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    V pdf;
    const V cdf = simd::vnormal_cdf(x, &pdf);
    return g * (cdf + x * pdf);
  }
};

// torch's approximate='tanh': 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
// 0.5 (1 + tanh(u)) = sigmoid(2u) and 1 - tanh(u)^2 = 4 sigmoid(2u) sigmoid(-2u), which avoid the
// cancellation of 1 + tanh(u) for negative x.
template <class T>
struct GeluTanh {
  static constexpr T kBeta = T(0.7978845608028654);  // sqrt(2/pi)
  static constexpr T kKappa = T(0.044715);
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const {
    const V u = kBeta * (x + kKappa * x * x * x);
    return x * simd::vsigmoid(T(2) * u);
  }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    const V x2 = x * x;
    const V u = kBeta * (x + kKappa * x2 * x);
    V s, s_neg;
    simd::vsigmoid_pair(T(2) * u, s, s_neg);
    const V ss = s * s_neg;
    // where ss underflows to 0, x^3 may have overflowed to inf: the term is 0, not nan
    const V right = T(2) * x * ss * kBeta * (T(1) + T(3) * kKappa * x2);
    return g * (s + (ss == T(0) ? V{} : right));
  }
};

// torch.nn.functional.softplus: x where beta*x > threshold, else log1p(exp(beta*x)) / beta,
// here written as (max(z, 0) + log1p(exp(-|z|))) / beta so that it never overflows.
template <class T>
struct Softplus {
  T beta, threshold;
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const {
    const V z = x * beta;
    const V sp = ((z > T(0) ? z : V{}) + simd::vlog1p(simd::vexp(-simd::vabs(z)))) / beta;
    return z > threshold ? x : sp;
  }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    const V z = x * beta;
    return z > threshold ? g : g * simd::vsigmoid(z);
  }
};

template <class T>
struct Silu {
  template <class V> TG_ALWAYS_INLINE V fwd(const V& x) const { return x * simd::vsigmoid(x); }
  template <class V> TG_ALWAYS_INLINE V bwd(const V& g, const V& x) const {
    V s, s_neg;
    simd::vsigmoid_pair(x, s, s_neg);
    return g * s * (T(1) + x * s_neg);
  }
};

// The shapes simd::map calls: op(x) and op(grad, saved).
template <class F>
struct Forward {
  F f;
  template <class V> TG_ALWAYS_INLINE V operator()(const V& x) const { return f.fwd(x); }
};
template <class F>
struct Backward {
  F f;
  template <class V> TG_ALWAYS_INLINE V operator()(const V& g, const V& s) const {
    return f.bwd(g, s);
  }
};

// relu and leaky_relu are a compare and a select: memory bound, so they split only when large.
// The others cost tens of vector operations per element and are worth threads much earlier.
int64_t grain_for(ActKind kind) {
  return (kind == ActKind::relu || kind == ActKind::leaky_relu) ? kElementwiseGrain
                                                        : kElementwiseGrain / 8;
}

// Calls run(functor) with the functor for `kind` in type T.
template <class T, class Run>
void with_functor(ActKind kind, double p1, double p2, Run&& run) {
  switch (kind) {
    case ActKind::none: return;  // not an activation() kind
    case ActKind::relu: return run(Relu<T>{});
    case ActKind::sigmoid: return run(Sigmoid<T>{});
    case ActKind::tanh: return run(Tanh<T>{});
    case ActKind::leaky_relu: return run(LeakyRelu<T>{T(p1)});
    case ActKind::elu: return run(Elu<T>{T(p1)});
    case ActKind::gelu: return run(Gelu<T>{});
    case ActKind::gelu_tanh: return run(GeluTanh<T>{});
    case ActKind::softplus: return run(Softplus<T>{T(p1), T(p2)});
    case ActKind::silu: return run(Silu<T>{});
  }
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
