// Random numbers on the CPU, drawn as PyTorch's CPU generator draws them, so that a seed gives
// the values torch.manual_seed gives.
//
// The generator is MT19937 (32-bit words), seeded from the low 32 bits of the seed by the
// standard recurrence. Its whole state, including the spare normal value that Box-Muller leaves
// for the next call, is an int64 numpy array (`state`, kStateWords long) owned by
// tapegrad.Generator: a kernel reads and advances it in place, so graph mode's replays move the
// same stream as eager calls do. How each distribution turns words into values (PyTorch 2.x's
// CPU kernels at the AVX2 / AVX-512 capability, checked against torch by tests/test_random.py):
//   64-bit draw       first word << 32 | second word
//   uniform float32   (w & (2^24 - 1)) * 2^-24, then fma(x, to - from, from) in float
//   uniform float64   (64-bit draw & (2^53 - 1)) * 2^-53, then fma(x, to - from, from)
//   normal, >= 16 contiguous values: every value drawn uniform first; then each block of 16
//                     is Box-Muller on pairs (j, j + 8): u1 = 1 - x[j], u2 = x[j + 8],
//                     r = sqrt(-2 log u1), theta = 2 pi u2, x[j] = r cos theta, x[j + 8] =
//                     r sin theta; a ragged end redraws 16 fresh values for the last block.
//                     float32 evaluates log and sincos with the 8-lane Cephes polynomials
//                     (cephes_logf / cephes_sincosf below, FMAs where PyTorch's build has
//                     them); float64 uses libm's log, cos and sin.
//   normal, otherwise  float64 Box-Muller on two uniform float64 draws (u1, u2):
//                     r = sqrt(-2 log1p(-u2)), theta = 2 pi u1; returns r cos theta and keeps
//                     r sin theta for the next value (cleared by seeding)
//   integers [low, high)  low + w % (high - low), w one word, or a 64-bit draw when
//                     high - low >= 2^32
//   bernoulli(p)      uniform float64 < p (a float32 p: uniform float32 < p)
//   exponential(l)    -1 / l * log1p(-u), u uniform float64
//   randperm(n)       r = 0..n-1; for i < n - 1: swap r[i] and r[i + w % (n - i)]
//                     (n >= 2^32 / 20: the inside-out shuffle on 64-bit draws)
#include <pybind11/pybind11.h>

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <mutex>

#include "checks.h"
#include "cpu/isa.h"
#include "pyarray.h"

namespace tg {
namespace {

constexpr int kMtWords = 624;

// The state as it lies in the int64 buffer.
struct MtState {
  uint64_t seed;
  uint32_t words[kMtWords];
  int32_t left;        // draws before the next twist
  uint32_t next;       // index of the next word
  double spare_normal;
  int64_t has_spare_normal;
};
static_assert(sizeof(MtState) % 8 == 0, "the state fills whole int64 words");
constexpr int64_t kStateWords = sizeof(MtState) / 8;

// One generator may be shared by threads that call kernels without the GIL.
std::mutex g_random_mutex;

void mt_seed(MtState& s, uint64_t seed) {
  s.seed = seed;
  s.words[0] = static_cast<uint32_t>(seed & 0xffffffffu);
  for (int j = 1; j < kMtWords; ++j)
    s.words[j] = 1812433253u * (s.words[j - 1] ^ (s.words[j - 1] >> 30)) + static_cast<uint32_t>(j);
  s.left = 1;
  s.next = 0;
  s.spare_normal = 0.0;
  s.has_spare_normal = 0;
}

void mt_twist(MtState& s) {
  constexpr int kShift = 397;
  auto mix = [](uint32_t u, uint32_t v) {
    const uint32_t y = (u & 0x80000000u) | (v & 0x7fffffffu);
    return (y >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
  };
  uint32_t* w = s.words;
  for (int j = 0; j < kMtWords - kShift; ++j) w[j] = w[j + kShift] ^ mix(w[j], w[j + 1]);
  for (int j = kMtWords - kShift; j < kMtWords - 1; ++j)
    w[j] = w[j + kShift - kMtWords] ^ mix(w[j], w[j + 1]);
  w[kMtWords - 1] = w[kShift - 1] ^ mix(w[kMtWords - 1], w[0]);
  s.left = kMtWords;
  s.next = 0;
}

TG_ALWAYS_INLINE uint32_t draw32(MtState& s) {
  if (--s.left == 0) mt_twist(s);
  uint32_t y = s.words[s.next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

TG_ALWAYS_INLINE uint64_t draw64(MtState& s) {
  const uint64_t hi = draw32(s);
  return (hi << 32) | draw32(s);
}

TG_ALWAYS_INLINE float uniform01_f32(MtState& s) {
  return static_cast<float>(draw32(s) & 0xffffffu) * (1.0f / 16777216.0f);
}
TG_ALWAYS_INLINE double uniform01_f64(MtState& s) {
  return static_cast<double>(draw64(s) & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

template <class T>
TG_ALWAYS_INLINE T uniform01(MtState& s) {
  if constexpr (std::is_same_v<T, float>) return uniform01_f32(s);
  else return uniform01_f64(s);
}

// ---- float32 log and sincos as 8-lane Cephes polynomials ------------------------------------
// Written lane by lane; the operation order, and which products are fused, follow the
// vectorised Box-Muller of PyTorch's AVX2 CPU kernels, so the values agree bit for bit.

TG_ALWAYS_INLINE float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
TG_ALWAYS_INLINE uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// log(x) for x in (0, 1] (the only arguments Box-Muller passes).
TG_ALWAYS_INLINE float cephes_logf(float x) {
  const uint32_t xb = float_to_bits(x);
  float e = static_cast<float>(static_cast<int32_t>(xb >> 23) - 0x7f) + 1.0f;
  float m = bits_to_float((xb & ~0x7f800000u) | 0x3f000000u);  // mantissa in [0.5, 1)
  // below sqrt(1/2): one more halving of the mantissa, as 2m - 1 = (m - 1) + m (branch-free, so
  // that the block's eight lanes vectorise)
  const bool small = m < 0.707106781186547524f;
  e -= small ? 1.0f : 0.0f;
  m = (m - 1.0f) + (small ? m : 0.0f);
  const float z = m * m;
  float y = 7.0376836292E-2f;
  for (float p : {-1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f,
                  -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f})
    y = std::fma(y, m, p);
  y = y * m;
  y = std::fma(y, z, e * -2.12194440E-4f);
  y = std::fma(z, -0.5f, y);
  m = m + y;
  return std::fma(e, 0.693359375f, m);
}

TG_ALWAYS_INLINE void cephes_sincosf(float x, float* sin_out, float* cos_out) {
  uint32_t sign_sin = float_to_bits(x) & 0x80000000u;
  x = std::fabs(x);
  int32_t j = static_cast<int32_t>(x * 1.27323954473516f);  // x * 4 / pi, truncated
  j = (j + 1) & ~1;
  const float y = static_cast<float>(j);
  const uint32_t swap_sign = static_cast<uint32_t>(j & 4) << 29;
  const bool cos_poly_is_cos = (j & 2) == 0;
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const uint32_t sign_cos = static_cast<uint32_t>(~(j - 2) & 4) << 29;
  sign_sin ^= swap_sign;
  const float z = x * x;
  float c = 2.443315711809948E-005f;
  c = std::fma(c, z, -1.388731625493765E-003f);
  c = std::fma(c, z, 4.166664568298827E-002f);
  c = c * z;
  c = std::fma(c, z, -(z * 0.5f));
  c = c + 1.0f;
  float s = -1.9515295891E-4f;
  s = std::fma(s, z, 8.3321608736E-3f);
  s = std::fma(s, z, -1.6666654611E-1f);
  s = s * z;
  s = std::fma(s, x, x);
  const float sv = cos_poly_is_cos ? s : c;
  const float cv = cos_poly_is_cos ? c : s;
  *sin_out = bits_to_float(float_to_bits(sv) ^ sign_sin);
  *cos_out = bits_to_float(float_to_bits(cv) ^ sign_cos);
}

// Box-Muller on one block of 16 uniform values, in place.
template <class T>
TG_ALWAYS_INLINE void box_muller_16(T* d, T mean, T stdv) {
#pragma GCC ivdep
  for (int j = 0; j < 8; ++j) {
    const T u1 = T(1) - d[j];
    const T u2 = d[j + 8];
    if constexpr (std::is_same_v<T, float>) {
      const float radius = std::sqrt(-2.0f * cephes_logf(u1));
      const float theta = static_cast<float>(2.0 * M_PI) * u2;
      float sn, cs;
      cephes_sincosf(theta, &sn, &cs);
      d[j] = std::fma(radius * cs, stdv, mean);
      d[j + 8] = std::fma(radius * sn, stdv, mean);
    } else {
      const double radius = std::sqrt(-2 * std::log(u1));
      const double theta = 2.0 * M_PI * u2;
      d[j] = std::fma(radius * std::cos(theta), stdv, mean);
      d[j + 8] = std::fma(radius * std::sin(theta), stdv, mean);
    }
  }
}

template <class T>
TG_ALWAYS_INLINE void normal_blocks(MtState& s, T* d, int64_t n, T mean, T stdv) {
  for (int64_t i = 0; i < n; ++i) d[i] = uniform01<T>(s);
  for (int64_t i = 0; i + 16 <= n; i += 16) box_muller_16(d + i, mean, stdv);
  if (n % 16 != 0) {
    T* tail = d + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform01<T>(s);
    box_muller_16(tail, mean, stdv);
  }
}

// The float32 Box-Muller of a block on eight AVX2 lanes: cephes_logf and cephes_sincosf above,
// operation for operation, so the same bits as the scalar code.
TG_ALWAYS_INLINE TG_TARGET_AVX2 __m256 log_avx2(__m256 x) {
  const __m256i xb = _mm256_castps_si256(x);
  __m256 e = _mm256_add_ps(
      _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xb, 23), _mm256_set1_epi32(0x7f))),
      _mm256_set1_ps(1.0f));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xb, _mm256_set1_epi32(~0x7f800000)),
                                                 _mm256_set1_epi32(0x3f000000)));
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OS);
  e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
  m = _mm256_add_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.0f)), _mm256_and_ps(small, m));
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292E-2f);
  for (float p : {-1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f,
                  -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f})
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(p));
  y = _mm256_mul_ps(y, m);
  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, _mm256_set1_ps(-2.12194440E-4f)));
  y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
  m = _mm256_add_ps(m, y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), m);
}

TG_ALWAYS_INLINE TG_TARGET_AVX2 void sincos_avx2(__m256 x, __m256* sin_out, __m256* cos_out) {
  const __m256i sign_mask = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  __m256i sign_sin = _mm256_and_si256(_mm256_castps_si256(x), sign_mask);
  x = _mm256_castsi256_ps(_mm256_andnot_si256(sign_mask, _mm256_castps_si256(x)));
  __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(x, _mm256_set1_ps(1.27323954473516f)));
  j = _mm256_and_si256(_mm256_add_epi32(j, _mm256_set1_epi32(1)), _mm256_set1_epi32(~1));
  const __m256 y = _mm256_cvtepi32_ps(j);
  const __m256i swap_sign = _mm256_slli_epi32(_mm256_and_si256(j, _mm256_set1_epi32(4)), 29);
  const __m256 cos_poly_is_cos = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
  x = _mm256_fmadd_ps(y, _mm256_set1_ps(-0.78515625f), x);
  x = _mm256_fmadd_ps(y, _mm256_set1_ps(-2.4187564849853515625e-4f), x);
  x = _mm256_fmadd_ps(y, _mm256_set1_ps(-3.77489497744594108e-8f), x);
  const __m256i sign_cos = _mm256_slli_epi32(
      _mm256_andnot_si256(_mm256_sub_epi32(j, _mm256_set1_epi32(2)), _mm256_set1_epi32(4)), 29);
  sign_sin = _mm256_xor_si256(sign_sin, swap_sign);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 c = _mm256_set1_ps(2.443315711809948E-005f);
  c = _mm256_fmadd_ps(c, z, _mm256_set1_ps(-1.388731625493765E-003f));
  c = _mm256_fmadd_ps(c, z, _mm256_set1_ps(4.166664568298827E-002f));
  c = _mm256_mul_ps(c, z);
  c = _mm256_fmsub_ps(c, z, _mm256_mul_ps(z, _mm256_set1_ps(0.5f)));
  c = _mm256_add_ps(c, _mm256_set1_ps(1.0f));
  __m256 sn = _mm256_set1_ps(-1.9515295891E-4f);
  sn = _mm256_fmadd_ps(sn, z, _mm256_set1_ps(8.3321608736E-3f));
  sn = _mm256_fmadd_ps(sn, z, _mm256_set1_ps(-1.6666654611E-1f));
  sn = _mm256_mul_ps(sn, z);
  sn = _mm256_fmadd_ps(sn, x, x);
  const __m256 sv = _mm256_blendv_ps(c, sn, cos_poly_is_cos);
  const __m256 cv = _mm256_blendv_ps(sn, c, cos_poly_is_cos);
  *sin_out = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(sv), sign_sin));
  *cos_out = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(cv), sign_cos));
}

TG_ALWAYS_INLINE TG_TARGET_AVX2 void box_muller_16_avx2(float* d, __m256 mean, __m256 stdv) {
  const __m256 u1 = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_loadu_ps(d));
  const __m256 u2 = _mm256_loadu_ps(d + 8);
  const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log_avx2(u1)));
  __m256 sn, cs;
  sincos_avx2(_mm256_mul_ps(_mm256_set1_ps(static_cast<float>(2.0 * M_PI)), u2), &sn, &cs);
  _mm256_storeu_ps(d, _mm256_fmadd_ps(_mm256_mul_ps(radius, cs), stdv, mean));
  _mm256_storeu_ps(d + 8, _mm256_fmadd_ps(_mm256_mul_ps(radius, sn), stdv, mean));
}

TG_NOINLINE TG_TARGET_AVX2 void normal_blocks_f32_avx2(MtState& s, float* d, int64_t n, float mean, float stdv) {
  const __m256 m = _mm256_set1_ps(mean), sd = _mm256_set1_ps(stdv);
  for (int64_t i = 0; i < n; ++i) d[i] = uniform01_f32(s);
  for (int64_t i = 0; i + 16 <= n; i += 16) box_muller_16_avx2(d + i, m, sd);
  if (n % 16 != 0) {
    float* tail = d + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform01_f32(s);
    box_muller_16_avx2(tail, m, sd);
  }
}

double normal_one(MtState& s, double mean, double stdv) {
  double v;
  if (s.has_spare_normal) {
    s.has_spare_normal = 0;
    v = s.spare_normal;
  } else {
    const double u1 = uniform01_f64(s);
    const double u2 = uniform01_f64(s);
    const double r = std::sqrt(-2.0 * std::log1p(-u2));
    const double theta = 2.0 * M_PI * u1;
    s.spare_normal = r * std::sin(theta);
    s.has_spare_normal = 1;
    v = r * std::cos(theta);
  }
  return std::fma(v, stdv, mean);
}

// ---- argument checks and the per-dtype loop ----------------------------------------------------

MtState& state_of(const ArrayView& v, const char* op) {
  TG_CHECK(v.dtype == DType::i64 && v.ndim() == 1 && v.numel() == kStateWords && v.is_contiguous(),
           op, ": the generator state must be a contiguous int64 array of ", kStateWords,
           " words, got ", dtype_name(v.dtype), " of shape ", shape_str(v.shape));
  return *v.ptr<MtState>();
}

void check_out(const ArrayView& out, const char* op, bool floating) {
  TG_CHECK(out.is_contiguous(), op, ": out must be C-contiguous");
  if (floating)
    TG_CHECK(out.dtype == DType::f32 || out.dtype == DType::f64, op,
             ": out must be float32 or float64, got ", dtype_name(out.dtype));
}

// Calls body.template operator()<T>() for out's element type T.
template <class Body>
void for_dtype(DType d, Body&& body) {
  switch (d) {
    case DType::f32: body(float{}); break;
    case DType::f64: body(double{}); break;
    case DType::i64: body(int64_t{}); break;
    case DType::b8: body(bool{}); break;
  }
}

template <class T>
TG_ALWAYS_INLINE void uniform_body(MtState& s, T* d, int64_t n, T lo, T span) {
  for (int64_t i = 0; i < n; ++i) d[i] = std::fma(uniform01<T>(s), span, lo);
}
// With FMA instructions where the CPU has them (the same bits; no libm call per element).
template <class T>
TG_NOINLINE TG_TARGET_AVX2 void uniform_avx2(MtState& s, T* d, int64_t n, T lo, T span) {
  uniform_body<T>(s, d, n, lo, span);
}
template <class T>
TG_NOINLINE void uniform_portable(MtState& s, T* d, int64_t n, T lo, T span) {
  uniform_body<T>(s, d, n, lo, span);
}

void uniform_fill(MtState& s, const ArrayView& out, double from, double to) {
  const int64_t n = out.numel();
  const bool avx2 = use_avx2();
  if (out.dtype == DType::f32) {
    const float lo = static_cast<float>(from), span = static_cast<float>(to) - lo;
    (avx2 ? uniform_avx2<float> : uniform_portable<float>)(s, out.ptr<float>(), n, lo, span);
  } else {
    (avx2 ? uniform_avx2<double> : uniform_portable<double>)(s, out.ptr<double>(), n, from, to - from);
  }
}

void normal_fill(MtState& s, const ArrayView& out, double mean, double stdv, bool blocks) {
  const int64_t n = out.numel();
  if (blocks && n >= 16) {
    if (out.dtype == DType::f32)
      (use_avx2() ? normal_blocks_f32_avx2 : normal_blocks<float>)(s, out.ptr<float>(), n, static_cast<float>(mean),
                                                                   static_cast<float>(stdv));
    else
      normal_blocks<double>(s, out.ptr<double>(), n, mean, stdv);
    return;
  }
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(normal_one(s, mean, stdv));
  });
}

void integers_fill(MtState& s, const ArrayView& out, int64_t low, int64_t high) {
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const bool wide = range >= (uint64_t{1} << 32);
  const int64_t n = out.numel();
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t w = wide ? draw64(s) : draw32(s);
      d[i] = static_cast<T>(static_cast<int64_t>(w % range + static_cast<uint64_t>(low)));
    }
  });
}

// random_() without bounds: [0, 2^63) for int64, [0, 2^24] / [0, 2^53] for float32 / float64
// (the integers the type holds exactly), 0 or 1 for bool.
void bits_fill(MtState& s, const ArrayView& out) {
  const int64_t n = out.numel();
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, int64_t>) d[i] = static_cast<int64_t>(draw64(s) % (uint64_t{1} << 63));
      else if constexpr (std::is_same_v<T, double>) d[i] = static_cast<double>(draw64(s) % ((uint64_t{1} << 53) + 1));
      else if constexpr (std::is_same_v<T, float>) d[i] = static_cast<float>(draw32(s) % ((uint32_t{1} << 24) + 1));
      else d[i] = (draw32(s) & 1u) != 0;
    }
  });
}

void permutation_fill(MtState& s, const ArrayView& out) {
  TG_CHECK(out.dtype == DType::i64, "random_permutation: out must be int64, got ", dtype_name(out.dtype));
  const int64_t n = out.numel();
  int64_t* r = out.ptr<int64_t>();
  if (n < static_cast<int64_t>(std::numeric_limits<uint32_t>::max() / 20)) {
    for (int64_t i = 0; i < n; ++i) r[i] = i;
    for (int64_t i = 0; i < n - 1; ++i) {
      const int64_t z = static_cast<int64_t>(draw32(s) % static_cast<uint64_t>(n - i));
      std::swap(r[i], r[z + i]);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t z = static_cast<int64_t>(draw64(s) % static_cast<uint64_t>(i + 1));
    r[i] = r[z];
    r[z] = i;
  }
}

void bernoulli_fill(MtState& s, const ArrayView& out, double p) {
  const int64_t n = out.numel();
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(uniform01_f64(s) < p);
  });
}

void bernoulli_each(MtState& s, const ArrayView& out, const ArrayView& p) {
  TG_CHECK(p.shape == out.shape && p.is_contiguous(), "random_bernoulli_each: p must be C-contiguous "
           "and of out's shape ", shape_str(out.shape), ", got ", shape_str(p.shape));
  TG_CHECK(p.dtype == DType::f32 || p.dtype == DType::f64,
           "random_bernoulli_each: p must be float32 or float64, got ", dtype_name(p.dtype));
  const int64_t n = out.numel();
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    if (p.dtype == DType::f64) {
      const double* pv = p.ptr<double>();
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(uniform01_f64(s) < pv[i]);
    } else {
      const float* pv = p.ptr<float>();
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(uniform01_f32(s) < pv[i]);
    }
  });
}

void exponential_fill(MtState& s, const ArrayView& out, double lambd) {
  const int64_t n = out.numel();
  for_dtype(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = out.ptr<T>();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(-1.0 / lambd * std::log1p(-uniform01_f64(s)));
  });
}

// A kernel over (state, out): the state is read and written, out written.
template <class Fill>
void run(const char* op, const py::array& state, const py::array& out, bool floating, Fill fill) {
  Cpu::call(
      op,
      [op, floating, fill](const ArrayView& sv, const ArrayView& ov) {
        MtState& s = state_of(sv, op);
        check_out(ov, op, floating);
        std::lock_guard<std::mutex> lock(g_random_mutex);
        fill(s, ov);
      },
      Out{state, true}, Out{out});
}

}  // namespace

void bind_random(py::module_& m) {
  m.attr("random_state_words") = kStateWords;
  m.def(
      "random_seed",
      [](const py::array& state, uint64_t seed) {
        Cpu::call(
            "random_seed",
            [seed](const ArrayView& sv) {
              std::lock_guard<std::mutex> lock(g_random_mutex);
              mt_seed(state_of(sv, "random_seed"), seed);
            },
            Out{state});
      },
      py::arg("state"), py::arg("seed"),
      "Seeds the MT19937 state (an int64 array of random_state_words) from seed's low 32 bits, "
      "as torch.manual_seed does, and clears the spare normal value.");
  m.def(
      "random_uniform",
      [](const py::array& state, const py::array& out, double from, double to) {
        run("random_uniform", state, out, true,
            [from, to](MtState& s, const ArrayView& o) { uniform_fill(s, o, from, to); });
      },
      py::arg("state"), py::arg("out"), py::arg("low") = 0.0, py::arg("high") = 1.0,
      "Fills out (C-contiguous float32/float64) with U[low, high) from the MT19937 state.");
  m.def(
      "random_normal",
      [](const py::array& state, const py::array& out, double mean, double stdv, bool blocks) {
        run("random_normal", state, out, false, [mean, stdv, blocks](MtState& s, const ArrayView& o) {
          TG_CHECK(!blocks || o.dtype == DType::f32 || o.dtype == DType::f64,
                   "random_normal: blocks need float32 or float64, got ", dtype_name(o.dtype));
          normal_fill(s, o, mean, stdv, blocks);
        });
      },
      py::arg("state"), py::arg("out"), py::arg("mean") = 0.0, py::arg("std") = 1.0,
      py::arg("blocks") = true,
      "Fills out (C-contiguous) with N(mean, std^2): Box-Muller in blocks of 16 when blocks and "
      "out has at least 16 elements (a contiguous tensor), else one float64 pair at a time.");
  m.def(
      "random_integers",
      [](const py::array& state, const py::array& out, int64_t low, int64_t high) {
        TG_CHECK(low < high, "random_integers: expected low < high, got low=", low, ", high=", high);
        run("random_integers", state, out, false,
            [low, high](MtState& s, const ArrayView& o) { integers_fill(s, o, low, high); });
      },
      py::arg("state"), py::arg("out"), py::arg("low"), py::arg("high"),
      "Fills out (C-contiguous) with integers uniform on [low, high).");
  m.def(
      "random_bits",
      [](const py::array& state, const py::array& out) {
        run("random_bits", state, out, false, [](MtState& s, const ArrayView& o) { bits_fill(s, o); });
      },
      py::arg("state"), py::arg("out"),
      "Tensor.random_() without bounds: [0, 2^63) for int64, [0, 2^24] / [0, 2^53] for "
      "float32 / float64, {0, 1} for bool.");
  m.def(
      "random_permutation",
      [](const py::array& state, const py::array& out) {
        run("random_permutation", state, out, false,
            [](MtState& s, const ArrayView& o) { permutation_fill(s, o); });
      },
      py::arg("state"), py::arg("out"), "Fills the int64 array out with a permutation of 0..out.size-1.");
  m.def(
      "random_bernoulli",
      [](const py::array& state, const py::array& out, double p) {
        TG_CHECK(p >= 0.0 && p <= 1.0, "random_bernoulli: expected 0 <= p <= 1, got ", p);
        run("random_bernoulli", state, out, false,
            [p](MtState& s, const ArrayView& o) { bernoulli_fill(s, o, p); });
      },
      py::arg("state"), py::arg("out"), py::arg("p"), "Fills out with 1 with probability p, else 0.");
  m.def(
      "random_bernoulli_each",
      [](const py::array& state, const py::array& out, const py::array& p) {
        Cpu::call(
            "random_bernoulli_each",
            [](const ArrayView& sv, const ArrayView& ov, const ArrayView& pv) {
              MtState& s = state_of(sv, "random_bernoulli_each");
              check_out(ov, "random_bernoulli_each", false);
              std::lock_guard<std::mutex> lock(g_random_mutex);
              bernoulli_each(s, ov, pv);
            },
            Out{state, true}, Out{out}, In{p});
      },
      py::arg("state"), py::arg("out"), py::arg("p"),
      "out[i] = 1 with probability p[i] (p of out's shape, values in [0, 1]), else 0.");
  m.def(
      "random_exponential",
      [](const py::array& state, const py::array& out, double lambd) {
        TG_CHECK(lambd > 0.0 && std::isfinite(lambd), "random_exponential: expected lambda > 0, got ", lambd);
        run("random_exponential", state, out, false,
            [lambd](MtState& s, const ArrayView& o) { exponential_fill(s, o, lambd); });
      },
      py::arg("state"), py::arg("out"), py::arg("lambd"), "Fills out with Exp(lambd) draws.");
}

}  // namespace tg
