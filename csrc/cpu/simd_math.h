// Vectorised math shared by the kernel families: float32 exp, expm1, log1p, tanh, sigmoid and
// the normal distribution's CDF and density, written once over GCC/Clang vector extensions of
// any width, and map, the loop that applies such functions over the runs StridedLoop hands out.
// The functions are always inlined, so they take the ISA of their caller: B = 16 bytes in
// baseline code, B = 32 inside functions marked TG_TARGET_AVX2 (chosen at run time with
// use_avx2()), B = 64 inside TG_TARGET_AVX512 ones (use_avx512()). map picks among
// its three variants.
//
// Every function takes and returns a vector V of float or double lanes. float lanes are computed
// here, branch-free, within the errors stated on each function: the largest difference from the
// float64 result, in ulps of the result, over all 2^32 inputs with FMA (the AVX2 and AVX-512
// variants, where vfma asks for it: they give identical results), and over every 7th input
// without (the baseline SSE2 build).
// double lanes go to libm one lane at a time: float64 is what gradcheck runs in, where accuracy
// matters more than speed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // declares the AVX-512 builtins exp_f32 calls
#endif

#include "common.h"
#include "isa.h"

// GCC warns that 32-byte vector arguments pass differently in code compiled without AVX. Every
// function here that takes or returns vectors is always inlined into code of one ISA, so no such
// call exists. GCC reports the warning at the end of the including file, which is why the
// pragma cannot be popped.
#pragma GCC diagnostic ignored "-Wpsabi"


namespace tg {
namespace simd {

// B bytes of T as one vector, with loads and stores that need no alignment.
template <class T, int B>
struct Vec {
  typedef T type __attribute__((vector_size(B)));
  static constexpr int W = B / static_cast<int>(sizeof(T));
  static TG_ALWAYS_INLINE type load(const T* p) {
    type v;
    std::memcpy(&v, p, B);
    return v;
  }
  static TG_ALWAYS_INLINE void store(T* p, const type& v) { std::memcpy(p, &v, B); }
  static TG_ALWAYS_INLINE type splat(T c) {
    type v;
    for (int l = 0; l < W; ++l) v[l] = c;  // not type{} + c, which turns -0 into +0
    return v;
  }
  // the first m < W elements of p, the other lanes `fill`. AVX2 and AVX-512 vectors use the
  // masked loads and stores (which touch no memory in the masked-off lanes): a vector loaded
  // from W scalars just stored stalls for the failed store forwarding, which the short rows
  // of a 10-class cross-entropy paid on every row.
  static TG_ALWAYS_INLINE type load_part(const T* p, int64_t m, T fill) {
#if defined(__x86_64__) || defined(__i386__)
    if constexpr (B == 64 && std::is_same_v<T, float>)
      return __builtin_ia32_loadups512_mask(p, splat(fill), static_cast<uint16_t>((1u << m) - 1));
    if constexpr (B == 64 && std::is_same_v<T, double>)
      return __builtin_ia32_loadupd512_mask(p, splat(fill), static_cast<uint8_t>((1u << m) - 1));
    if constexpr (B == 32 && (std::is_same_v<T, float> || std::is_same_v<T, double>)) {
      const auto mask = lane_mask(m);
      type v;
      if constexpr (std::is_same_v<T, float>)
        v = __builtin_ia32_maskloadps256(reinterpret_cast<const type*>(p), mask);
      else
        v = __builtin_ia32_maskloadpd256(reinterpret_cast<const type*>(p), mask);
      return mask != 0 ? v : splat(fill);
    }
#endif
    T t[W];
    for (int l = 0; l < W; ++l) t[l] = l < m ? p[l] : fill;
    return load(t);
  }
  static TG_ALWAYS_INLINE void store_part(T* p, const type& v, int64_t m) {
#if defined(__x86_64__) || defined(__i386__)
    if constexpr (B == 64 && std::is_same_v<T, float>)
      return __builtin_ia32_storeups512_mask(p, v, static_cast<uint16_t>((1u << m) - 1));
    if constexpr (B == 64 && std::is_same_v<T, double>)
      return __builtin_ia32_storeupd512_mask(p, v, static_cast<uint8_t>((1u << m) - 1));
    if constexpr (B == 32 && std::is_same_v<T, float>)
      return __builtin_ia32_maskstoreps256(reinterpret_cast<type*>(p), lane_mask(m), v);
    if constexpr (B == 32 && std::is_same_v<T, double>)
      return __builtin_ia32_maskstorepd256(reinterpret_cast<type*>(p), lane_mask(m), v);
#endif
    T t[W];
    store(t, v);
    for (int l = 0; l < m; ++l) p[l] = t[l];
  }

 private:
  // -1 in the lanes below m, in integers as wide as T
  static TG_ALWAYS_INLINE auto lane_mask(int64_t m) {
    using I = std::conditional_t<sizeof(T) == 4, int, long long>;  // the builtins' lane types
    typedef I IV __attribute__((vector_size(B)));
    IV idx;
    for (int l = 0; l < W; ++l) idx[l] = l;
    return reinterpret_cast<IV>(idx < static_cast<I>(m));  // a comparison gives `long` lanes
  }
};

template <class V> using lane_t = std::decay_t<decltype(std::declval<V&>()[0])>;
// The integer vector a comparison of two V gives: lanes of V's width, -1 where true.
template <class V> using mask_t = decltype(std::declval<V>() < std::declval<V>());
template <class V> constexpr int lanes_v = static_cast<int>(sizeof(V) / sizeof(lane_t<V>));
template <class V> constexpr bool is_f32_v = std::is_same_v<lane_t<V>, float>;

template <class V>
TG_ALWAYS_INLINE mask_t<V> bits_of(const V& v) {
  return reinterpret_cast<mask_t<V>>(v);
}
template <class V>
TG_ALWAYS_INLINE V from_bits(const mask_t<V>& m) {
  return reinterpret_cast<V>(m);
}
// m + c in every lane, wrapping around as two's complement does; in signed lanes an overflow
// is undefined behaviour, even in a lane whose result is discarded.
template <class M, class L = std::decay_t<decltype(std::declval<M&>()[0])>>
TG_ALWAYS_INLINE M wrapping_add(const M& m, L c) {
  using UL = std::make_unsigned_t<L>;
  typedef UL U __attribute__((vector_size(sizeof(M))));
  return reinterpret_cast<M>(reinterpret_cast<U>(m) + static_cast<UL>(c));
}
template <class V>
TG_ALWAYS_INLINE V splat(lane_t<V> c) {
  V v;
  for (int l = 0; l < lanes_v<V>; ++l) v[l] = c;  // not V{} + c, which turns -0 into +0
  return v;
}
template <class V>
TG_ALWAYS_INLINE V vabs(const V& x) {
  return from_bits<V>(bits_of(x) & ~bits_of(splat<V>(-0.0)));
}
// |mag| with the sign of sgn
template <class V>
TG_ALWAYS_INLINE V vcopysign(const V& mag, const V& sgn) {
  const mask_t<V> sign = bits_of(splat<V>(-0.0));
  return from_bits<V>((bits_of(mag) & ~sign) | (bits_of(sgn) & sign));
}

// f applied to each lane: the double-lane forms, which go to libm.
template <class V, class F>
TG_ALWAYS_INLINE V lanewise(const V& x, F&& f) {
  V r;
  for (int l = 0; l < lanes_v<V>; ++l) r[l] = f(x[l]);
  return r;
}

// a * b + c, rounded once where the ISA has FMA (the 8- and 16-lane float code, compiled only
// for AVX2/FMA and AVX-512), else rounded twice. The build turns off implicit contraction (see
// CMakeLists.txt), so the polynomials below ask for it here.
template <class V>
TG_ALWAYS_INLINE V vfma(const V& a, const V& b, const V& c) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (is_f32_v<V> && sizeof(V) == 64)
    return __builtin_ia32_vfmaddps512_mask(a, b, c, static_cast<uint16_t>(~0u), 4);
  if constexpr (is_f32_v<V> && sizeof(V) == 32) return __builtin_ia32_vfmaddps256(a, b, c);
#endif
  return a * b + c;
}

namespace detail {

// float32 pieces of the exp family. ln 2 is split so that k * kLn2Hi is exact for |k| < 2^15.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440054690583e-4f;
constexpr float kRoundInt = 12582912.0f;  // 1.5 * 2^23: adding it rounds a float to an integer

// 2^k for integer lanes k in [-126, 127].
template <class V>
TG_ALWAYS_INLINE V pow2i(const mask_t<V>& k) {
  return from_bits<V>((k + 127) << 23);
}

// hi + lo = k ln2 + r with k an integer (returned, as floats) and |r| <= ln2/2 + a rounding.
// lo is a small correction to hi, or absent. hi - k kLn2Hi is exact (Cody and Waite).
template <bool HasLo, class V>
TG_ALWAYS_INLINE V reduce_ln2(const V& hi, const V& lo, V& r) {
  const V sum = HasLo ? hi + lo : hi;
  const V kf = vfma(sum, splat<V>(kLog2e), splat<V>(kRoundInt)) - kRoundInt;
  r = vfma(kf, splat<V>(-kLn2Hi), hi);
  if constexpr (HasLo) r = r + lo;
  r = vfma(kf, splat<V>(-kLn2Lo), r);
  return kf;
}

// Q(r) = (e^r - 1 - r) / r^2 for |r| <= 0.35, a minimax polynomial (error about 2^-32 relative
// to expm1(r)). exp and expm1 finish it differently, each so that the last step rounds once.
template <class V>
TG_ALWAYS_INLINE V exp_q(const V& r) {
  V q = splat<V>(1.991416648e-04f);
  q = vfma(q, r, splat<V>(1.394100604e-03f));
  q = vfma(q, r, splat<V>(8.333273232e-03f));
  q = vfma(q, r, splat<V>(4.166635498e-02f));
  q = vfma(q, r, splat<V>(1.666666716e-01f));
  return vfma(q, r, splat<V>(0.5f));
}

// exp(hi + lo) for float lanes; see vexp.
template <bool HasLo, class V>
TG_ALWAYS_INLINE V exp_f32(const V& hi, const V& lo) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (sizeof(V) == 64) {
    // 16 lanes are only ever compiled for AVX-512, whose vscalefps multiplies by 2^k and rounds
    // once, subnormal and overflowing results included: the same result as the two factors
    // below, in one instruction instead of nine. With no integer conversion left, the clamps
    // need not remove nan: written this way round they let it through, and the arithmetic
    // carries it to the result.
    V xc = hi < -104.0f ? splat<V>(-104.0f) : hi;
    xc = xc > 89.0f ? splat<V>(89.0f) : xc;
    V r;
    const V kf = reduce_ln2<HasLo>(xc, lo, r);
    const V p = vfma(vfma(exp_q(r), r, splat<V>(1.0f)), r, splat<V>(1.0f));
    // the builtin, not _mm512_scalef_ps: GCC will not inline that intrinsic into this function,
    // which has no target of its own, even though every caller is AVX-512 code
    // (4: the current rounding mode)
    return __builtin_ia32_scalefps512_mask(p, kf, p, static_cast<uint16_t>(~0u), 4);
  }
#endif
  // exp(-104) and exp(89) already round to 0 and inf; the clamp keeps k in the range the
  // two-factor scaling below covers and turns nan into a number (restored at the end), so
  // that the integer conversion is defined
  V xc = hi > -104.0f ? hi : splat<V>(-104.0f);
  xc = xc < 89.0f ? xc : splat<V>(89.0f);
  V r;
  const V kf = reduce_ln2<HasLo>(xc, lo, r);
  const V p = vfma(vfma(exp_q(r), r, splat<V>(1.0f)), r, splat<V>(1.0f));
  // 2^k as two factors, each a normal float, so that a result in the subnormal range or beyond
  // FLT_MAX is rounded once, by the last multiply, as the exact value would be
  const mask_t<V> k = __builtin_convertvector(kf, mask_t<V>);  // in [-151, 129]
  const mask_t<V> k1 = k >> 1, k2 = k - k1;                    // each in [-76, 65]
  const V res = (p * pow2i<V>(k1)) * pow2i<V>(k2);
  return hi == hi ? res : hi;
}

}  // namespace detail

// exp(x). float: within 0.88 ulp (1.15 without FMA), subnormal results included; exp(-inf) = 0,
// exp(+inf) = inf, nan stays nan.
template <class V>
TG_ALWAYS_INLINE V vexp(const V& x) {
  if constexpr (is_f32_v<V>) {
    return detail::exp_f32<false>(x, x);
  } else {
    return lanewise(x, [](auto v) { return std::exp(v); });
  }
}

namespace detail {

// expm1(x) for x in [-25, 89] (float lanes; -25 already rounds to -1, and 89 to inf).
// exp(x) - 1 = t (1 + p) - 1 = t p + (t - 1) with t = 2^k and p = expm1(r): t - 1 is exact for
// the k where the sum can cancel, so the only rounding left is that of the final multiply-add.
// With Big, x may exceed 88.38, where k = 128 and t is not a float: t is taken as 2^127 and
// the result doubled.
template <bool Big, class V>
TG_ALWAYS_INLINE V expm1_f32(const V& x) {
  using M = mask_t<V>;
  V r;
  const V kf = reduce_ln2<false>(x, x, r);
  const V p = vfma(r * r, exp_q(r), r);
  const M k = __builtin_convertvector(kf, M);
  if constexpr (Big) {
    const M big = k > 127;
    const V t = pow2i<V>(big ? k - 1 : k);
    const V res = vfma(t, p, t - 1.0f);
    return big ? res * 2.0f : res;
  } else {
    const V t = pow2i<V>(k);
    return vfma(t, p, t - 1.0f);
  }
}

}  // namespace detail

// expm1(x) = exp(x) - 1, accurate near 0 where the subtraction would cancel. float: within
// 1.44 ulp (1.49 without FMA); the sign of zero is kept.
template <class V>
TG_ALWAYS_INLINE V vexpm1(const V& x) {
  if constexpr (is_f32_v<V>) {
    V xc = x > -25.0f ? x : splat<V>(-25.0f);
    xc = xc < 89.0f ? xc : splat<V>(89.0f);
    const V res = detail::expm1_f32<true>(xc);
    // expm1 has the sign of x, which the copy gives to res = +0 at x = -0. (A select on
    // (x == 0) | (x != x) instead makes GCC compare the 16 lanes one at a time, 7x slower.)
    return x == x ? vcopysign(res, x) : x;
  } else {
    return lanewise(x, [](auto v) { return std::expm1(v); });
  }
}

// log1p(x) = log(1 + x), accurate near 0 where 1 + x would round. float: within 2.08 ulp (also
// without FMA); log1p(-1) = -inf, nan below -1, log1p(inf) = inf; the sign of zero is kept.
template <class V>
TG_ALWAYS_INLINE V vlog1p(const V& x) {
  if constexpr (is_f32_v<V>) {
    using M = mask_t<V>;
    constexpr float kLn2Hi = 0.693145751953125f;  // 16 bits: k * kLn2Hi is exact
    constexpr float kLn2Lo = 1.42860682030941723e-6f;
    constexpr int32_t kSqrtHalf = 0x3f3504f3;  // bits of sqrt(1/2)
    const V u = x + 1.0f;
    // u = 2^k m with m in [sqrt(1/2), sqrt(2)): offsetting the bits of u by those of 1 / sqrt(2)
    // puts k in the exponent field; the low bits, put back on top of sqrt(1/2), give m (the sum
    // wraps for a nan u, a lane replaced at the end)
    const M ub = wrapping_add(bits_of(u), 0x3f800000 - kSqrtHalf);
    const M k = (ub >> 23) - 127;
    const V m = from_bits<V>((ub & 0x007fffff) + kSqrtHalf);
    const V kf = __builtin_convertvector(k, V);
    // log1p(x) = k ln2 + log1p(f) + c: f = m - 1 exactly, or x itself where k == 0 (1 + x may
    // have rounded); c = ((1 + x) - u) / u, the first-order term of the rounding of u
    const M k0 = k == 0;
    const V f = k0 ? x : m - 1.0f;
    const V c = k0 ? V{} : (k > 0 ? 1.0f - (u - x) : x - (u - 1.0f)) / u;
    // log1p(f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), R a minimax polynomial (error
    // below 2^-29); s only enters a term of order f^3, so its rounding hardly matters
    const V s = f / (f + 2.0f);
    const V z = s * s;
    V R = splat<V>(2.333472073e-01f);
    R = R * z + 2.855065167e-01f;
    R = R * z + 4.000012279e-01f;
    R = R * z + 6.666666865e-01f;
    R = R * z;
    const V hf = 0.5f * f * f;
    const V lf = f - (hf - (s * (hf + R) + (kf * kLn2Lo + c)));
    // k == 0 skips adding 0 * ln2, which would turn log1p(-0) = -0 into +0
    const V res = k0 ? lf : kf * kLn2Hi + lf;
    const V inf = splat<V>(std::numeric_limits<float>::infinity());
    const V finite = x < inf ? res : x;  // inf and nan as they are
    return x > -1.0f ? finite
                     : (x == -1.0f ? -inf : splat<V>(std::numeric_limits<float>::quiet_NaN()));
  } else {
    return lanewise(x, [](auto v) { return std::log1p(v); });
  }
}

// tanh(x) = e / (e + 2) with e = expm1(2|x|), which cancels nowhere. float: within 2.42 ulp
// (also without FMA).
template <class V>
TG_ALWAYS_INLINE V vtanh(const V& x) {
  if constexpr (is_f32_v<V>) {
    const V a = vabs(x);
    // tanh(10) rounds to 1; the clamp keeps e finite (nan is restored at the end)
    const V e = detail::expm1_f32<false>(2.0f * (a < 10.0f ? a : splat<V>(10.0f)));
    const V t = vcopysign(e / (e + 2.0f), x);
    return x == x ? t : x;
  } else {
    return lanewise(x, [](auto v) { return std::tanh(v); });
  }
}

// s = sigmoid(x) and s_neg = sigmoid(-x) = 1 - s from one exp of a non-positive argument, so
// neither overflows and the small one keeps its relative accuracy: sigmoid(-1000) == 0 and
// sigmoid(1000) == 1 exactly. float: sigmoid within 2.78 ulp (2.75 without FMA).
template <class V>
TG_ALWAYS_INLINE void vsigmoid_pair(const V& x, V& s, V& s_neg) {
  const V e = vexp(-vabs(x));
  const V big = lane_t<V>(1) / (lane_t<V>(1) + e);
  const V small = e * big;
  const mask_t<V> pos = x >= lane_t<V>(0);
  s = pos ? big : small;
  s_neg = pos ? small : big;
}

template <class V>
TG_ALWAYS_INLINE V vsigmoid(const V& x) {
  V s, s_neg;
  vsigmoid_pair(x, s, s_neg);
  return s;
}

// Phi(x), the standard normal CDF, and if pdf is not null phi(x) = exp(-x^2/2) / sqrt(2 pi).
// Both keep their relative accuracy in the left tail, where 1 + erf(x / sqrt 2) would cancel,
// down to the subnormal range. float: Phi within 5.2 ulp (every float in [-14, -1], where the
// largest errors are, and every 3rd input elsewhere; 5.7 without FMA), phi within 2.1 ulp.
template <class V>
TG_ALWAYS_INLINE V vnormal_cdf(const V& x, V* pdf = nullptr) {
  using T = lane_t<V>;
  if constexpr (is_f32_v<V>) {
    using M = mask_t<V>;
    // past 15, Phi is 0 or 1 and phi 0 in float; the clamp keeps the exponent's pieces in range
    const V a0 = vabs(x);
    const V a = a0 < 15.0f ? a0 : splat<V>(15.0f);
    // exp(-x^2/2) with x^2 = xh^2 + xl (x + xh) exactly, xh the top 12 bits of x: xh^2 is
    // exact, so the exponent is an exact float plus a small correction, and the result keeps
    // its relative accuracy even where x^2/2 is near 100 (rounding x^2 there would cost 2^-18)
    const V ah = from_bits<V>(bits_of(a) & (M{} + ~0xfff));
    const V al = a - ah;
    const V e = detail::exp_f32<true>(-0.5f * (ah * ah), -0.5f * (al * (a + ah)));
    if (pdf) *pdf = x == x ? e * 0.398942280401432678f : x;
    // |x| < 1: Phi(x) = 1/2 + x P(x^2), P a minimax polynomial (error 2^-30)
    const V u = x * x;
    V p = splat<V>(-7.462894700e-06f);
    p = vfma(p, u, splat<V>(1.129521697e-04f));
    p = vfma(p, u, splat<V>(-1.185784931e-03f));
    p = vfma(p, u, splat<V>(9.973078035e-03f));
    p = vfma(p, u, splat<V>(-6.649031490e-02f));
    p = vfma(p, u, splat<V>(3.989422917e-01f));
    const V near = vfma(x, p, splat<V>(0.5f));
    // |x| >= 1: Phi(-|x|) = exp(-x^2/2) t G(t), t = 1 / (1 + 0.35 |x|) in [0.17, 0.75], G a
    // minimax polynomial in t - 0.455 (relative error 2^-27 for |x| up to 14, past which Phi
    // underflows; centring the variable halves the rounding error of its evaluation)
    const V t = 1.0f / vfma(a, splat<V>(0.35f), splat<V>(1.0f));
    const V w = t - 0.45511612f;
    V g = splat<V>(-2.386798151e-02f);
    g = vfma(g, w, splat<V>(3.947660699e-02f));
    g = vfma(g, w, splat<V>(3.280878440e-02f));
    g = vfma(g, w, splat<V>(-6.698206812e-02f));
    g = vfma(g, w, splat<V>(-6.783093512e-02f));
    g = vfma(g, w, splat<V>(9.535136819e-02f));
    g = vfma(g, w, splat<V>(2.724356949e-01f));
    g = vfma(g, w, splat<V>(3.179850876e-01f));
    g = vfma(g, w, splat<V>(2.384146899e-01f));
    const V tail = e * (t * g);
    const V far = x < 0.0f ? tail : 1.0f - tail;
    const V res = a < 1.0f ? near : far;
    return x == x ? res : x;
  } else {
    if (pdf) *pdf = lanewise(x, [](auto v) { return std::exp(T(-0.5) * v * v); }) *
                    T(0.398942280401432678);
    // 0.5 erfc(-x / sqrt 2) equals 0.5 (1 + erf(x / sqrt 2)) but does not cancel for x < 0
    return lanewise(x, [](auto v) { return T(0.5) * std::erfc(-v * T(M_SQRT1_2)); });
  }
}

// ---------------------------------------------------------------------------------------------
// Loops. An op is a functor with a template operator() on vectors: op(a) for N = 2 operands,
// op(a, b) for N = 3. Operands come as StridedLoop gives them: p[0] is the output, p[1..] the
// inputs, s their byte strides. The output may be one of the inputs (the same elements); each
// block is read before it is written.

// Runs a contiguous op over n elements. (No lambdas here: they would not inherit the AVX2
// target of the caller.)
template <int B, class T, int N, class Op>
TG_ALWAYS_INLINE void map_contiguous(const Op& op, T* out, const T* const* in, int64_t n) {
  static_assert(N == 2 || N == 3, "map: one or two inputs");
  using S = Vec<T, B>;
  constexpr int W = S::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    if constexpr (N == 2)
      S::store(out + i, op(S::load(in[0] + i)));
    else
      S::store(out + i, op(S::load(in[0] + i), S::load(in[1] + i)));
  }
  if (i < n) {
    const int64_t m = n - i;
    if constexpr (N == 2)
      S::store_part(out + i, op(S::load_part(in[0] + i, m, T(0))), m);
    else
      S::store_part(out + i, op(S::load_part(in[0] + i, m, T(0)), S::load_part(in[1] + i, m, T(0))),
                    m);
  }
}

template <int B, class T, int N, class Op>
TG_ALWAYS_INLINE void map_body(const Op& op, char* const* p, int64_t n, const int64_t* s) {
  bool contiguous = true;
  for (int k = 0; k < N; ++k) contiguous = contiguous && s[k] == static_cast<int64_t>(sizeof(T));
  if (contiguous) {
    const T* in[N - 1];
    for (int k = 1; k < N; ++k) in[k - 1] = reinterpret_cast<const T*>(p[k]);
    map_contiguous<B, T, N>(op, reinterpret_cast<T*>(p[0]), in, n);
    return;
  }
  // Strided runs go through a block buffer, so that every layout gives the same results.
  constexpr int64_t kBlock = 256;
  T buf[N][kBlock];
  const T* in[N - 1];
  for (int k = 1; k < N; ++k) in[k - 1] = buf[k];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = std::min(kBlock, n - b);
    for (int k = 1; k < N; ++k) {
      const char* q = p[k] + b * s[k];
      for (int64_t j = 0; j < m; ++j, q += s[k]) buf[k][j] = *reinterpret_cast<const T*>(q);
    }
    map_contiguous<B, T, N>(op, buf[0], in, m);
    char* q = p[0] + b * s[0];
    for (int64_t j = 0; j < m; ++j, q += s[0]) *reinterpret_cast<T*>(q) = buf[0][j];
  }
}

template <class T, int N, class Op>
void map_base(const Op& op, char* const* p, int64_t n, const int64_t* s) {
  map_body<16, T, N>(op, p, n, s);
}

#if defined(__x86_64__) || defined(__i386__)
template <class T, int N, class Op>
TG_TARGET_AVX2 void map_avx2(const Op& op, char* const* p, int64_t n, const int64_t* s) {
  map_body<32, T, N>(op, p, n, s);
}

// Where the CPU has AVX-512, 16-lane vectors halve the instructions per element again, which
// the transcendental kernels (tanh, sigmoid, gelu: tens of operations per vector) turn into
// speed up to the memory bandwidth.
template <class T, int N, class Op>
TG_TARGET_AVX512 void map_avx512(const Op& op, char* const* p, int64_t n, const int64_t* s) {
  map_body<64, T, N>(op, p, n, s);
}
#endif

// One run through the widest variant this CPU runs.
template <class T, int N, class Op>
void map(const Op& op, char* const* p, int64_t n, const int64_t* s) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx512()) return map_avx512<T, N>(op, p, n, s);
  if (use_avx2()) return map_avx2<T, N>(op, p, n, s);
#endif
  map_base<T, N>(op, p, n, s);
}

}  // namespace simd
}  // namespace tg
