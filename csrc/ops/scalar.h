// Scalar building blocks of the op definitions in csrc/ops, compiled by the host compiler for
// csrc/cpu and by nvcc for csrc/cuda: TG_HD (host + device, always inlined), one set of math
// names over float and double (std:: on the host, CUDA's float / double functions on the device),
// the wrapping int64 arithmetic, Python's float divmod, erfinv, and numpy's dtype conversions.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#ifdef __CUDACC__
#define TG_HD __host__ __device__ __forceinline__
#else
// Forced inlining makes an op body take the ISA of the AVX2 / AVX-512 loop that calls it (a call
// into a baseline-ISA function would stop vectorisation).
#define TG_HD inline __attribute__((always_inline))
#endif

namespace tg::ops {

// ---------------------------------------------------------------------------------------------
// Math over float and double. float goes to the float function (expf, ...) and double to the
// double one on both sides, so a template on T calls one name. No fast-math anywhere: results
// are within the few ulps each library documents.
#ifdef __CUDA_ARCH__
#define TG_MATH1(name, f32, f64)                                   \
  TG_HD float name(float x) { return ::f32(x); }                  \
  TG_HD double name(double x) { return ::f64(x); }
#define TG_MATH2(name, f32, f64)                                           \
  TG_HD float name(float x, float y) { return ::f32(x, y); }              \
  TG_HD double name(double x, double y) { return ::f64(x, y); }
#else
#define TG_MATH1(name, f32, f64)                                   \
  TG_HD float name(float x) { return std::f64(x); }               \
  TG_HD double name(double x) { return std::f64(x); }
#define TG_MATH2(name, f32, f64)                                           \
  TG_HD float name(float x, float y) { return std::f64(x, y); }           \
  TG_HD double name(double x, double y) { return std::f64(x, y); }
#endif
TG_MATH1(exp, expf, exp)
TG_MATH1(exp2, exp2f, exp2)
TG_MATH1(expm1, expm1f, expm1)
TG_MATH1(log, logf, log)
TG_MATH1(log2, log2f, log2)
TG_MATH1(log10, log10f, log10)
TG_MATH1(log1p, log1pf, log1p)
TG_MATH1(sqrt, sqrtf, sqrt)
TG_MATH1(sin, sinf, sin)
TG_MATH1(cos, cosf, cos)
TG_MATH1(tan, tanf, tan)
TG_MATH1(asin, asinf, asin)
TG_MATH1(acos, acosf, acos)
TG_MATH1(atan, atanf, atan)
TG_MATH1(sinh, sinhf, sinh)
TG_MATH1(cosh, coshf, cosh)
TG_MATH1(tanh, tanhf, tanh)
TG_MATH1(asinh, asinhf, asinh)
TG_MATH1(acosh, acoshf, acosh)
TG_MATH1(atanh, atanhf, atanh)
TG_MATH1(erf, erff, erf)
TG_MATH1(erfc, erfcf, erfc)
TG_MATH1(fabs, fabsf, fabs)
TG_MATH1(floor, floorf, floor)
TG_MATH1(ceil, ceilf, ceil)
TG_MATH1(trunc, truncf, trunc)
TG_MATH2(pow, powf, pow)
TG_MATH2(fmod, fmodf, fmod)
TG_MATH2(copysign, copysignf, copysign)
TG_MATH2(hypot, hypotf, hypot)
TG_MATH2(atan2, atan2f, atan2)
#undef TG_MATH1
#undef TG_MATH2

// To nearest, ties to even, as torch.round (nearbyint in the default rounding mode).
#ifdef __CUDA_ARCH__
TG_HD float round_even(float x) { return ::rintf(x); }
TG_HD double round_even(double x) { return ::rint(x); }
#else
TG_HD float round_even(float x) { return std::nearbyint(x); }
TG_HD double round_even(double x) { return std::nearbyint(x); }
#endif

// erfinv, which has no std:: function: on the host, a starting point (a series near 0, Winitzki's
// closed form elsewhere, relative error < 1e-2) refined by three Halley steps on erf, enough for
// float64 (the error cubes each step). Past 0.5 the residual is taken through erfc against the
// exact 1 - |x|, since erf(y) - x would lose the digits that set y near the poles. float32 is the
// float64 result rounded. The device has erfinvf / erfinv.
namespace detail {
inline double erfinv_host(double x) {
  if (!(x >= -1.0 && x <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return x;  // keeps -0
  const double ax = std::fabs(x);
  if (ax == 1.0) return std::copysign(std::numeric_limits<double>::infinity(), x);
  constexpr double kPi = 3.14159265358979323846;
  constexpr double kHalfSqrtPi = 0.88622692545275801365;
  const double t = 1.0 - ax;  // exact for ax >= 0.5
  double y;
  if (ax < 0.5) {
    y = kHalfSqrtPi * ax * (1.0 + kPi / 12.0 * ax * ax);
  } else {
    constexpr double a = 0.147;
    const double l = std::log(t * (2.0 - t));  // log(1 - x^2) without cancellation
    const double b = 2.0 / (kPi * a) + 0.5 * l;
    y = std::sqrt(std::sqrt(b * b - l / a) - b);
  }
  for (int it = 0; it < 3; ++it) {
    const double f = ax < 0.5 ? std::erf(y) - ax : t - std::erfc(y);
    const double df = 2.0 / std::sqrt(kPi) * std::exp(-y * y);
    y -= f / (df + y * f);
  }
  return std::copysign(y, x);
}
}  // namespace detail

#ifdef __CUDA_ARCH__
TG_HD float erfinv(float x) { return ::erfinvf(x); }
TG_HD double erfinv(double x) { return ::erfinv(x); }
#else
TG_HD float erfinv(float x) { return static_cast<float>(detail::erfinv_host(x)); }
TG_HD double erfinv(double x) { return detail::erfinv_host(x); }
#endif

// ---------------------------------------------------------------------------------------------
// int64 arithmetic wraps through uint64 like numpy and torch (signed overflow is undefined).
TG_HD int64_t wrap_neg(int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); }
TG_HD int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
TG_HD int64_t wrap_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
TG_HD int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

// Python's divmod for floats: the remainder takes the sign of the divisor and the quotient is
// the floor of the exact quotient (a - remainder) / b snapped to the nearest integer, which is
// what numpy.floor_divide / numpy.remainder compute. A zero divisor gives a / b and fmod's NaN.
template <class T>
TG_HD T float_divmod(T a, T b, T* mod) {
  T m = fmod(a, b);
  if (b == T(0)) {
    *mod = m;
    return a / b;
  }
  T q = (a - m) / b;
  if (m != T(0)) {
    if ((b < T(0)) != (m < T(0))) {
      m += b;
      q -= T(1);
    }
  } else {
    m = copysign(T(0), b);
  }
  *mod = m;
  if (q == T(0)) return copysign(T(0), a / b);
  const T fq = floor(q);
  return (q - fq > T(0.5)) ? fq + T(1) : fq;
}

// ---------------------------------------------------------------------------------------------
// Conversions

constexpr double kTwo63 = 9223372036854775808.0;

// numpy's astype rules: float -> int64 truncates toward zero (NaN and out-of-range values give
// INT64_MIN, what x86 gives numpy, without undefined behaviour here); anything -> bool is != 0;
// bool -> number is 0 or 1. Types are storage types (bool is uint8_t).
template <class D, class S>
TG_HD D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, uint8_t>) {
    return v != S(0);
  } else if constexpr (std::is_same_v<S, uint8_t>) {
    return v != 0 ? D(1) : D(0);
  } else if constexpr (std::is_same_v<D, int64_t>) {
    return (v >= S(-kTwo63) && v < S(kTwo63)) ? static_cast<int64_t>(v)
                                               : std::numeric_limits<int64_t>::min();
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace tg::ops
