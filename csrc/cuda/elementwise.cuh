// The N-operand elementwise machinery of the CUDA backend, shared by elementwise.cu,
// activations.cu and any kernel that maps a per-element functor over arrays of one shape:
// ew::for_each (one grid-stride kernel with a contiguous and a strided form), float/double math
// overloads that go to CUDA's libdevice, and the activation functions (forward and derivative)
// as __device__ templates, which the GEMM epilogue of matmul.cu reuses.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "common.cuh"

namespace tg::cuda {
namespace ew {

// ---------------------------------------------------------------------------------------------
// Math overloads: float goes to the float32 libdevice function (expf, ...), double to the
// double one, so templates on T call one name. No fast-math: results stay within a few ulps.
#define TG_EW_MATH1(name, f32, f64)                                            \
  __device__ __forceinline__ float name(float x) { return ::f32(x); }         \
  __device__ __forceinline__ double name(double x) { return ::f64(x); }
#define TG_EW_MATH2(name, f32, f64)                                                     \
  __device__ __forceinline__ float name(float x, float y) { return ::f32(x, y); }      \
  __device__ __forceinline__ double name(double x, double y) { return ::f64(x, y); }
TG_EW_MATH1(exp, expf, exp)
TG_EW_MATH1(expm1, expm1f, expm1)
TG_EW_MATH1(log, logf, log)
TG_EW_MATH1(log1p, log1pf, log1p)
TG_EW_MATH1(sqrt, sqrtf, sqrt)
TG_EW_MATH1(sin, sinf, sin)
TG_EW_MATH1(cos, cosf, cos)
TG_EW_MATH1(tanh, tanhf, tanh)
TG_EW_MATH1(erfc, erfcf, erfc)
TG_EW_MATH1(fabs, fabsf, fabs)
TG_EW_MATH1(floor, floorf, floor)
TG_EW_MATH1(ceil, ceilf, ceil)
TG_EW_MATH1(trunc, truncf, trunc)
TG_EW_MATH1(rint, rintf, rint)  // to nearest, ties to even (torch.round)
TG_EW_MATH2(pow, powf, pow)
TG_EW_MATH2(fmod, fmodf, fmod)
TG_EW_MATH2(copysign, copysignf, copysign)
#undef TG_EW_MATH1
#undef TG_EW_MATH2

// s = sigmoid(x) and s_neg = sigmoid(-x) = 1 - s from one exp of a non-positive argument, as
// the CPU's vsigmoid_pair: neither overflows, the small one keeps its relative accuracy, and
// sigmoid(-1000) == 0, sigmoid(1000) == 1 exactly. NaN gives NaN in both.
template <class T>
__device__ __forceinline__ void sigmoid_pair(T x, T& s, T& s_neg) {
  const T e = exp(-fabs(x));
  const T big = T(1) / (T(1) + e);
  const T small = e * big;
  const bool pos = x >= T(0);
  s = pos ? big : small;
  s_neg = pos ? small : big;
}
template <class T>
__device__ __forceinline__ T sigmoid(T x) {
  T s, s_neg;
  sigmoid_pair(x, s, s_neg);
  return s;
}

// Phi(x), the standard normal CDF, accurate in the left tail where 0.5 (1 + erf(x / sqrt 2))
// would cancel: float through normcdff (within 5 ulp), double as the CPU computes it.
__device__ __forceinline__ float normal_cdf(float x) { return ::normcdff(x); }
__device__ __forceinline__ double normal_cdf(double x) {
  return 0.5 * ::erfc(-x * 0.70710678118654752440);
}
// phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
template <class T>
__device__ __forceinline__ T normal_pdf(T x) {
  return exp(T(-0.5) * x * x) * T(0.398942280401432678);
}

// ---------------------------------------------------------------------------------------------
// Strided indexing. All operands of a call share one (merged) shape; the C-order index i is
// split into coordinates once and every operand's offset is accumulated from them, which costs
// one division chain per element rather than one per operand (offset_of's). Dims are stored
// innermost first so that the unrolled loop indexes the arrays with constants (registers /
// parameter space instead of local memory). Where every index fits 32 bits the divisions are
// 32-bit ones, several times cheaper than 64-bit division on the GPU.
template <int N>
struct Index {
  int ndim = 0;
  bool narrow = false;                // the element count fits in uint32_t
  int64_t shape[kMaxDims] = {};       // innermost first
  int64_t strides[N][kMaxDims] = {};  // per operand, innermost first, in elements

  __host__ __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    if (ndim == 1) {  // one merged dim: a broadcast scalar next to a run, a plain slice
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] = i * strides[k][0];
      return;
    }
    if (narrow) {
      uint32_t r = static_cast<uint32_t>(i);
#pragma unroll
      for (int d = 0; d < kMaxDims; ++d) {
        if (d == ndim) break;
        const uint32_t s = static_cast<uint32_t>(shape[d]);
        const uint32_t q = r / s;
        const int64_t c = static_cast<int64_t>(r - q * s);
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += c * strides[k][d];
        r = q;
      }
    } else {
#pragma unroll
      for (int d = 0; d < kMaxDims; ++d) {
        if (d == ndim) break;
        const int64_t q = i / shape[d];
        const int64_t c = i - q * shape[d];
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += c * strides[k][d];
        i = q;
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Kernels. f is called as f(p0[j0], p1[j1], ...) with references to one element of each
// operand (T const for inputs). An output that is exactly one of the inputs is fine: each
// element is read and written by the same thread, read first.
template <class F, class... T>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(F f, int64_t n, T*... p) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    f(p[i]...);
}

template <class F, size_t... K, class... T>
__device__ __forceinline__ void apply_at(const F& f, const int64_t* off,
                                         std::index_sequence<K...>, T*... p) {
  f(p[off[K]]...);
}

template <class F, class... T>
__global__ void __launch_bounds__(kThreads)
    strided_kernel(F f, int64_t n, Index<static_cast<int>(sizeof...(T))> ix, T*... p) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    int64_t off[sizeof...(T)];
    ix.offsets(i, off);
    apply_at(f, off, std::index_sequence_for<T...>{}, p...);
  }
}

// One operand of for_each: a view whose elements the kernel sees as T (storage types: bool is
// uint8_t; inputs are const).
template <class T>
struct Arg {
  const ArrayView& view;
};
template <class T>
Arg<T> arg(const ArrayView& v) {
  return Arg<T>{v};
}

// Runs f over every element of the operands, which must all have one shape (checked by the
// caller), on stream(). Nothing is launched for zero elements. `op` names the caller in errors
// (more than kMaxDims dims left after merging).
template <class F, class... T>
void for_each(const char* op, const F& f, Arg<T>... args) {
  constexpr int N = static_cast<int>(sizeof...(T));
  const ArrayView* views[N] = {&args.view...};
  const int64_t n = views[0]->numel();
  if (n == 0) return;
  bool all_contiguous = true;
  for (const ArrayView* v : views) all_contiguous = all_contiguous && contiguous(*v);
  if (all_contiguous) {
    contiguous_kernel<F, T...><<<grid_for(n), kThreads, 0, stream()>>>(
        f, n, static_cast<T*>(args.view.data)...);
    CUDA_CHECK_LAUNCH();
    return;
  }
  ArrayView merged[N] = {args.view...};
  merge_dims(merged, N, op);
  Index<N> ix;
  for (int k = 0; k < N; ++k) {
    const Layout l = layout_of(merged[k], op);
    ix.ndim = l.ndim;
    for (int d = 0; d < l.ndim; ++d) {
      ix.shape[d] = l.shape[l.ndim - 1 - d];
      ix.strides[k][d] = l.strides[l.ndim - 1 - d];
    }
  }
  ix.narrow = n <= static_cast<int64_t>(UINT32_MAX);
  strided_kernel<F, T...><<<grid_for(n), kThreads, 0, stream()>>>(
      f, n, ix, static_cast<T*>(args.view.data)...);
  CUDA_CHECK_LAUNCH();
}

// out = f(inputs...): the usual shape of an elementwise op for for_each (output first).
template <class F>
struct Map {
  F f;
  template <class O, class... I>
  __device__ __forceinline__ void operator()(O& o, const I&... x) const {
    o = f(x...);
  }
};
template <class F>
Map<F> map(const F& f) {
  return Map<F>{f};
}

// The device the calling thread has current (call_cuda_kernel made it the arrays' device).
inline int current_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

}  // namespace ew

// ---------------------------------------------------------------------------------------------
// Activations, per element, float or double, exactly the formulas of csrc/cpu/activations.cpp.
// `none` is the identity (for the GEMM epilogue; _C.cuda.activation does not accept it).
// p1, p2 are the kind's parameters: leaky_relu p1 = negative_slope; elu p1 = alpha; softplus
// p1 = beta (nonzero), p2 = threshold; the others ignore them.
enum class ActKind : int { none, relu, sigmoid, tanh, leaky_relu, elu, gelu, gelu_tanh, softplus, silu };

// The derivative of sigmoid and tanh is computed from the forward OUTPUT; every other kind's
// from the forward INPUT (what activation_backward's `saved` is).
__host__ __device__ constexpr bool act_saves_output(ActKind k) {
  return k == ActKind::sigmoid || k == ActKind::tanh;
}

// gelu_tanh's u = sqrt(2/pi) (x + 0.044715 x^3), as torch's approximate='tanh'
constexpr double kActBeta = 0.7978845608028654;
constexpr double kActKappa = 0.044715;

// y = act(x) for a kind known at compile time.
template <ActKind K, class T>
__device__ __forceinline__ T act_fwd(T x, T p1 = T(0), T p2 = T(0)) {
  if constexpr (K == ActKind::none) {
    return x;
  } else if constexpr (K == ActKind::relu) {
    return x < T(0) ? T(0) : x;  // NaN passes through, as clamp_min
  } else if constexpr (K == ActKind::sigmoid) {
    return ew::sigmoid(x);
  } else if constexpr (K == ActKind::tanh) {
    return ew::tanh(x);
  } else if constexpr (K == ActKind::leaky_relu) {
    return x > T(0) ? x : x * p1;
  } else if constexpr (K == ActKind::elu) {
    return x > T(0) ? x : p1 * ew::expm1(x);
  } else if constexpr (K == ActKind::gelu) {
    return x * ew::normal_cdf(x);
  } else if constexpr (K == ActKind::gelu_tanh) {
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u), which does not cancel for negative x
    const T u = T(kActBeta) * (x + T(kActKappa) * x * x * x);
    return x * ew::sigmoid(T(2) * u);
  } else if constexpr (K == ActKind::softplus) {
    // x past the threshold, else (max(z, 0) + log1p(exp(-|z|))) / beta, which never overflows
    const T z = x * p1;
    const T sp = ((z > T(0) ? z : T(0)) + ew::log1p(ew::exp(-ew::fabs(z)))) / p1;
    return z > p2 ? x : sp;
  } else {
    static_assert(K == ActKind::silu, "unhandled activation");
    return x * ew::sigmoid(x);
  }
}

// grad * act'(x) for a kind known at compile time; `saved` is the forward output for sigmoid
// and tanh (act_saves_output), the forward input otherwise.
template <ActKind K, class T>
__device__ __forceinline__ T act_bwd(T g, T saved, T p1 = T(0), T p2 = T(0)) {
  const T x = saved;
  if constexpr (K == ActKind::none) {
    return g;
  } else if constexpr (K == ActKind::relu) {
    return x <= T(0) ? T(0) : g;
  } else if constexpr (K == ActKind::sigmoid) {
    const T y = saved;
    return g * (T(1) - y) * y;
  } else if constexpr (K == ActKind::tanh) {
    const T y = saved;
    return g * (T(1) - y * y);
  } else if constexpr (K == ActKind::leaky_relu) {
    return x > T(0) ? g : g * p1;
  } else if constexpr (K == ActKind::elu) {
    return x <= T(0) ? g * p1 * ew::exp(x) : g;
  } else if constexpr (K == ActKind::gelu) {
    return g * (ew::normal_cdf(x) + x * ew::normal_pdf(x));
  } else if constexpr (K == ActKind::gelu_tanh) {
    // 1 - tanh(u)^2 = 4 sigmoid(2u) sigmoid(-2u)
    const T x2 = x * x;
    const T u = T(kActBeta) * (x + T(kActKappa) * x2 * x);
    T s, s_neg;
    ew::sigmoid_pair(T(2) * u, s, s_neg);
    const T ss = s * s_neg;
    // where ss underflows to 0, x^3 may have overflowed to inf: the term is 0, not NaN
    const T right = T(2) * x * ss * T(kActBeta) * (T(1) + T(3) * T(kActKappa) * x2);
    return g * (s + (ss == T(0) ? T(0) : right));
  } else if constexpr (K == ActKind::softplus) {
    const T z = x * p1;
    return z > p2 ? g : g * ew::sigmoid(z);
  } else {
    static_assert(K == ActKind::silu, "unhandled activation");
    T s, s_neg;
    ew::sigmoid_pair(x, s, s_neg);
    return g * s * (T(1) + x * s_neg);
  }
}

// The same with the kind known only at run time (a switch per element: prefer act_fwd<K> in
// hot loops, choosing K on the host with with_act_kind).
template <class T>
__device__ __forceinline__ T act_forward(ActKind kind, T x, T p1 = T(0), T p2 = T(0)) {
  switch (kind) {
    case ActKind::none: return x;
    case ActKind::relu: return act_fwd<ActKind::relu>(x, p1, p2);
    case ActKind::sigmoid: return act_fwd<ActKind::sigmoid>(x, p1, p2);
    case ActKind::tanh: return act_fwd<ActKind::tanh>(x, p1, p2);
    case ActKind::leaky_relu: return act_fwd<ActKind::leaky_relu>(x, p1, p2);
    case ActKind::elu: return act_fwd<ActKind::elu>(x, p1, p2);
    case ActKind::gelu: return act_fwd<ActKind::gelu>(x, p1, p2);
    case ActKind::gelu_tanh: return act_fwd<ActKind::gelu_tanh>(x, p1, p2);
    case ActKind::softplus: return act_fwd<ActKind::softplus>(x, p1, p2);
    case ActKind::silu: return act_fwd<ActKind::silu>(x, p1, p2);
  }
  return x;
}

template <class T>
__device__ __forceinline__ T act_backward(ActKind kind, T g, T saved, T p1 = T(0), T p2 = T(0)) {
  switch (kind) {
    case ActKind::none: return g;
    case ActKind::relu: return act_bwd<ActKind::relu>(g, saved, p1, p2);
    case ActKind::sigmoid: return act_bwd<ActKind::sigmoid>(g, saved, p1, p2);
    case ActKind::tanh: return act_bwd<ActKind::tanh>(g, saved, p1, p2);
    case ActKind::leaky_relu: return act_bwd<ActKind::leaky_relu>(g, saved, p1, p2);
    case ActKind::elu: return act_bwd<ActKind::elu>(g, saved, p1, p2);
    case ActKind::gelu: return act_bwd<ActKind::gelu>(g, saved, p1, p2);
    case ActKind::gelu_tanh: return act_bwd<ActKind::gelu_tanh>(g, saved, p1, p2);
    case ActKind::softplus: return act_bwd<ActKind::softplus>(g, saved, p1, p2);
    case ActKind::silu: return act_bwd<ActKind::silu>(g, saved, p1, p2);
  }
  return g;
}

// Calls f(std::integral_constant<ActKind, K>{}) for the run-time kind (host side), so that a
// kernel can be instantiated per kind.
template <class F>
void with_act_kind(ActKind kind, F&& f) {
  using A = ActKind;
  switch (kind) {
    case A::none: f(std::integral_constant<A, A::none>{}); return;
    case A::relu: f(std::integral_constant<A, A::relu>{}); return;
    case A::sigmoid: f(std::integral_constant<A, A::sigmoid>{}); return;
    case A::tanh: f(std::integral_constant<A, A::tanh>{}); return;
    case A::leaky_relu: f(std::integral_constant<A, A::leaky_relu>{}); return;
    case A::elu: f(std::integral_constant<A, A::elu>{}); return;
    case A::gelu: f(std::integral_constant<A, A::gelu>{}); return;
    case A::gelu_tanh: f(std::integral_constant<A, A::gelu_tanh>{}); return;
    case A::softplus: f(std::integral_constant<A, A::softplus>{}); return;
    case A::silu: f(std::integral_constant<A, A::silu>{}); return;
  }
}

}  // namespace tg::cuda
