// The activation kinds of both backends, defined once: one list (name, whether activation()
// takes it, whether the GEMM epilogue fuses it) generates the ActKind enum, the name lookups and
// the compile-time dispatch; act_fwd / act_bwd are each kind's forward and derivative as host +
// device scalar functions. csrc/cuda runs them as they are (activations.cu, the GEMM epilogue of
// matmul.cu); csrc/cpu keeps vector forms of the same formulas for float32 speed
// (activations.cpp over simd_math.h, the float32 GEMM epilogue of matmul.cpp) and uses these
// for float64 in the GEMM epilogue.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

#include "common.h"
#include "ops/scalar.h"

namespace tg::ops {

// X(name, activation() kind, GEMM epilogue kind). `none` is the identity of the epilogue.
#define TG_ACT_KINDS(X)                 \
  X(none, false, true)                  \
  X(relu, true, true)                   \
  X(sigmoid, true, true)                \
  X(tanh, true, true)                   \
  X(leaky_relu, true, false)            \
  X(elu, true, false)                   \
  X(gelu, true, true)                   \
  X(gelu_tanh, true, true)              \
  X(softplus, true, false)              \
  X(silu, true, false)

#define TG_ACT_ENUM(name, ...) name,
enum class ActKind : int { TG_ACT_KINDS(TG_ACT_ENUM) };
#undef TG_ACT_ENUM

namespace detail {
struct ActRow {
  const char* name;
  bool activation, epilogue;
};
#define TG_ACT_ROW(name, act, epi) {#name, act, epi},
constexpr ActRow kActRows[] = {TG_ACT_KINDS(TG_ACT_ROW)};
#undef TG_ACT_ROW

// The kind called s among the rows with `member` set, or invalid_argument
// "<op>: unknown activation '<s>' (expected one of <those names>)".
inline ActKind parse_act(const std::string& s, const char* op, bool ActRow::*member) {
  std::string names;
  for (size_t i = 0; i < sizeof kActRows / sizeof kActRows[0]; ++i) {
    if (!(kActRows[i].*member)) continue;
    if (s == kActRows[i].name) return static_cast<ActKind>(i);
    names += names.empty() ? "" : ", ";
    names += kActRows[i].name;
  }
  throw std::invalid_argument(
      tg::detail::cat(op, ": unknown activation '", s, "' (expected one of ", names, ")"));
}
}  // namespace detail

// A kind of activation() / activation_backward(); `op` names the caller in the error.
inline ActKind parse_activation(const std::string& s, const char* op) {
  return detail::parse_act(s, op, &detail::ActRow::activation);
}
// A kind of matmul's fused epilogue.
inline ActKind parse_epilogue_act(const std::string& s) {
  return detail::parse_act(s, "matmul", &detail::ActRow::epilogue);
}

// Calls f(std::integral_constant<ActKind, K>{}) for the run-time kind (host side), so that a
// loop or kernel can be instantiated per kind. with_epilogue_act instantiates only the
// epilogue's kinds (others, which parse_epilogue_act never gives, do nothing).
template <class F>
void with_act_kind(ActKind kind, F&& f) {
  switch (kind) {
#define TG_CASE(name, act, epi) \
  case ActKind::name: f(std::integral_constant<ActKind, ActKind::name>{}); return;
    TG_ACT_KINDS(TG_CASE)
#undef TG_CASE
  }
}
template <class F>
void with_epilogue_act(ActKind kind, F&& f) {
  switch (kind) {
#define TG_CASE(name, act, epi)                                                 \
  case ActKind::name:                                                           \
    if constexpr (epi) f(std::integral_constant<ActKind, ActKind::name>{});     \
    return;
    TG_ACT_KINDS(TG_CASE)
#undef TG_CASE
  }
}

// The derivative of sigmoid and tanh is computed from the forward OUTPUT; every other kind's
// from the forward INPUT (what activation_backward's `saved` is).
TG_HD constexpr bool act_saves_output(ActKind k) {
  return k == ActKind::sigmoid || k == ActKind::tanh;
}

// ---------------------------------------------------------------------------------------------
// Pieces

// s = sigmoid(x) and s_neg = sigmoid(-x) = 1 - s from one exp of a non-positive argument (the
// CPU's vsigmoid_pair): neither overflows, the small one keeps its relative accuracy, and
// sigmoid(-1000) == 0, sigmoid(1000) == 1 exactly. NaN gives NaN in both.
template <class T>
TG_HD void sigmoid_pair(T x, T& s, T& s_neg) {
  const T e = exp(-fabs(x));
  const T big = T(1) / (T(1) + e);
  const T small = e * big;
  const bool pos = x >= T(0);
  s = pos ? big : small;
  s_neg = pos ? small : big;
}
template <class T>
TG_HD T sigmoid(T x) {
  T s, s_neg;
  sigmoid_pair(x, s, s_neg);
  return s;
}

// Phi(x), the standard normal CDF, as 0.5 erfc(-x / sqrt 2), which does not cancel in the left
// tail as 0.5 (1 + erf(x / sqrt 2)) would; float on the device through normcdff (within 5 ulp).
TG_HD double normal_cdf(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
TG_HD float normal_cdf(float x) {
#ifdef __CUDA_ARCH__
  return ::normcdff(x);
#else
  return 0.5f * erfc(-x * 0.70710678118654752440f);
#endif
}
// phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
template <class T>
TG_HD T normal_pdf(T x) {
  return exp(T(-0.5) * x * x) * T(0.398942280401432678);
}

// gelu_tanh's u = sqrt(2/pi) (x + 0.044715 x^3), as torch's approximate='tanh'
constexpr double kActBeta = 0.7978845608028654;
constexpr double kActKappa = 0.044715;

// ---------------------------------------------------------------------------------------------
// Forward and derivative. p1, p2 are the kind's parameters: leaky_relu p1 = negative_slope; elu
// p1 = alpha; softplus p1 = beta (nonzero), p2 = threshold; the others ignore them. Comparisons
// follow torch's so that NaN and the kink at 0 behave the same.

// y = act(x)
template <ActKind K, class T>
TG_HD T act_fwd(T x, T p1 = T(0), T p2 = T(0)) {
  if constexpr (K == ActKind::none) {
    return x;
  } else if constexpr (K == ActKind::relu) {
    return x < T(0) ? T(0) : x;  // NaN passes through, as clamp_min
  } else if constexpr (K == ActKind::sigmoid) {
    return sigmoid(x);
  } else if constexpr (K == ActKind::tanh) {
    return tanh(x);
  } else if constexpr (K == ActKind::leaky_relu) {
    return x > T(0) ? x : x * p1;
  } else if constexpr (K == ActKind::elu) {
    return x > T(0) ? x : p1 * expm1(x);
  } else if constexpr (K == ActKind::gelu) {
    return x * normal_cdf(x);
  } else if constexpr (K == ActKind::gelu_tanh) {
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u), which does not cancel for negative x
    const T u = T(kActBeta) * (x + T(kActKappa) * x * x * x);
    return x * sigmoid(T(2) * u);
  } else if constexpr (K == ActKind::softplus) {
    // x past the threshold, else (max(z, 0) + log1p(exp(-|z|))) / beta, which never overflows
    const T z = x * p1;
    const T sp = ((z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)))) / p1;
    return z > p2 ? x : sp;
  } else {
    static_assert(K == ActKind::silu, "unhandled activation");
    return x * sigmoid(x);
  }
}

// grad * act'(x); `saved` is the forward output for sigmoid and tanh (act_saves_output), the
// forward input otherwise.
template <ActKind K, class T>
TG_HD T act_bwd(T g, T saved, T p1 = T(0), T p2 = T(0)) {
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
    return x <= T(0) ? g * p1 * exp(x) : g;
  } else if constexpr (K == ActKind::gelu) {
    return g * (normal_cdf(x) + x * normal_pdf(x));
  } else if constexpr (K == ActKind::gelu_tanh) {
    // 1 - tanh(u)^2 = 4 sigmoid(2u) sigmoid(-2u)
    const T x2 = x * x;
    const T u = T(kActBeta) * (x + T(kActKappa) * x2 * x);
    T s, s_neg;
    sigmoid_pair(T(2) * u, s, s_neg);
    const T ss = s * s_neg;
    // where ss underflows to 0, x^3 may have overflowed to inf: the term is 0, not NaN
    const T right = T(2) * x * ss * T(kActBeta) * (T(1) + T(3) * T(kActKappa) * x2);
    return g * (s + (ss == T(0) ? T(0) : right));
  } else if constexpr (K == ActKind::softplus) {
    const T z = x * p1;
    return z > p2 ? g : g * sigmoid(z);
  } else {
    static_assert(K == ActKind::silu, "unhandled activation");
    T s, s_neg;
    sigmoid_pair(x, s, s_neg);
    return g * s * (T(1) + x * s_neg);
  }
}

}  // namespace tg::ops
