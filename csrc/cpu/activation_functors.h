// The activation functions on vectors, one definition for every CPU caller: the activation
// kernels (activations.cpp) and the GEMM's fused epilogue (matmul.cpp), so that
// F.linear(x, w, b, act=...) and the activation applied after the product give the same bits.
#pragma once

#include <type_traits>

#include "ops/activations.h"
#include "simd_math.h"

namespace tg {
namespace act {

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

// The functor of kind K in type T, with its parameters (leaky_relu's slope, elu's alpha,
// softplus's beta and threshold).
template <ActKind K, class T>
auto functor_for(double p1, double p2) {
  if constexpr (K == ActKind::relu) return Relu<T>{};
  else if constexpr (K == ActKind::sigmoid) return Sigmoid<T>{};
  else if constexpr (K == ActKind::tanh) return Tanh<T>{};
  else if constexpr (K == ActKind::leaky_relu) return LeakyRelu<T>{T(p1)};
  else if constexpr (K == ActKind::elu) return Elu<T>{T(p1)};
  else if constexpr (K == ActKind::gelu) return Gelu<T>{};
  else if constexpr (K == ActKind::gelu_tanh) return GeluTanh<T>{};
  else if constexpr (K == ActKind::softplus) return Softplus<T>{T(p1), T(p2)};
  else if constexpr (K == ActKind::silu) return Silu<T>{};
  else static_assert(K == ActKind::none, "an activation kind without a functor");
}

// Calls run(functor) with the functor for `kind` in type T (nothing for ActKind::none).
template <class T, class Run>
void with_functor(ActKind kind, double p1, double p2, Run&& run) {
  ops::with_act_kind(kind, [&](auto k) {
    if constexpr (decltype(k)::value != ActKind::none) run(functor_for<decltype(k)::value, T>(p1, p2));
  });
}

// out[j] = act(in[j]) for a contiguous run of n values (out may be in), in B-byte vectors: the
// caller's ISA (B = 64 inside AVX-512 code, 32 inside AVX2 code, 16 elsewhere).
template <int B, class T, class F>
TG_ALWAYS_INLINE void forward_run(const F& f, const T* in, T* out, int64_t n) {
  const T* ins[1] = {in};
  simd::map_contiguous<B, T, 2>(Forward<F>{f}, out, ins, n);
}

}  // namespace act
}  // namespace tg
