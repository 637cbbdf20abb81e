// Reductions over any subset of axes: sum, prod, max, min, argmax, argmin, all, any.
// One entry point, reduce(op, x, axes, out), takes x with any shape and strides and writes the
// C-contiguous out (x's shape with the reduced axes removed).
//
// A reduction is first normalised into a plan: size-1 axes dropped, negative strides flipped
// (where the op allows it), reduced axes ordered innermost-by-stride and adjacent axes merged.
// Two engines then run it:
//   - "span" engine: for each kept position, walk the reduced set as runs along its innermost
//     axis (contiguous runs get the SIMD kernels). Used for full and last-axis reductions.
//   - "rows" engine: when a kept axis is the contiguous one, whole rows are accumulated into an
//     output-row buffer so the inner loop stays contiguous (column sums, bias gradients).
// Large reductions with few outputs are split into chunks whose boundaries depend only on the
// shape; the per-chunk partials are combined in a fixed order, so results are bitwise identical
// from call to call and for any number of threads.
#include <pybind11/stl.h>

#include <cmath>
#include <limits>

#include "bind/reduce.h"
#include "common.h"
#include "isa.h"
#include "pyarray.h"

// Kernels are written once with GCC vector types (32 bytes: 8 floats, 4 doubles) and compiled
// twice: inlined into an AVX2 entry point, where each vector op is one ymm instruction, and
// into a portable one, where it becomes two SSE instructions. Both execute the same operations
// in the same order, so the two paths give bitwise equal results.

#if defined(__GNUC__) && !defined(__clang__)
// The vector helpers return 32-byte vectors by value (and take them by reference). They are
// file-local and always inlined, so the AVX vs non-AVX calling-convention difference this
// warns about never arises.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tg {
namespace {

constexpr int kMaxDims = kReduceMaxDims;
constexpr int64_t kSpanChunk = 32768;  // reduced elements per partial when splitting a span
// Elements per thread below which splitting a reduction costs more than it saves: twice the
// elementwise grain, since a reduction only reads and runs at several elements per cycle.
constexpr int64_t kReduceGrain = 2 * kElementwiseGrain;
constexpr int64_t kColBlock = 1024;    // output-row buffer width of the rows engine

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// 32-byte vectors.
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));  // a widened f32x8 (two registers)
typedef int64_t i64x4 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef uint64_t u64x4 __attribute__((vector_size(32)));
typedef uint8_t u8x32 __attribute__((vector_size(32)));

// Permutes the lanes of v by constant indices; M is the integer vector type matching v's lanes.
// (__builtin_shufflevector exists in clang and only from GCC 12; __builtin_shuffle is GCC's.)
#if defined(__clang__)
#define TG_PERMUTE(v, M, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define TG_PERMUTE(v, M, ...) __builtin_shuffle(v, M{__VA_ARGS__})
#endif

template <class T> struct VecOf;
template <> struct VecOf<float> { using type = f32x8; };
template <> struct VecOf<double> { using type = f64x4; };
template <> struct VecOf<int64_t> { using type = i64x4; };
template <> struct VecOf<uint64_t> { using type = u64x4; };
template <> struct VecOf<uint8_t> { using type = u8x32; };
template <class T> using vec_t = typename VecOf<T>::type;
template <class T> constexpr int kLanes = 32 / sizeof(T);

// Element type of a scalar or vector.
template <class V> struct ElemOf { using type = V; };
template <> struct ElemOf<f32x8> { using type = float; };
template <> struct ElemOf<f64x4> { using type = double; };
template <> struct ElemOf<i64x4> { using type = int64_t; };
template <class V> constexpr bool kFloatElem = std::is_floating_point_v<typename ElemOf<V>::type>;

template <class T>
TG_ALWAYS_INLINE vec_t<T> vload(const T* p) {
  vec_t<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
TG_ALWAYS_INLINE void vstore(T* p, const vec_t<T>& v) {
  std::memcpy(p, &v, sizeof v);
}
// lo += double(v[0:4]), hi += double(v[4:8]). Converting the whole f32x8 at once gives two
// 256-bit conversions, whereas converting 4-lane halves gets split into 128-bit pieces; the
// accumulators stay two 4-lane vectors so that they live in registers.
TG_ALWAYS_INLINE void widen_add(f64x4& lo, f64x4& hi, const f32x8& v) {
  const f64x8 w = __builtin_convertvector(v, f64x8);
  lo += f64x4{w[0], w[1], w[2], w[3]};
  hi += f64x4{w[4], w[5], w[6], w[7]};
}

// True when any lane of a comparison result is set.
template <class M>
TG_ALWAYS_INLINE bool any_lane(const M& m) {
  u64x4 u;
  static_assert(sizeof(M) == sizeof(u), "32-byte mask expected");
  std::memcpy(&u, &m, sizeof u);
  return ((u[0] | u[1]) | (u[2] | u[3])) != 0;
}

template <class T>
TG_ALWAYS_INLINE bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v != v;
  } else {
    (void)v;
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Sum. Accumulators: double for float32 and float64, uint64 for int64 (wraps like numpy).

template <class T> struct SumTypes { using acc = double; using work = T; };
template <> struct SumTypes<int64_t> { using acc = uint64_t; using work = uint64_t; };

// Eight values combined as a balanced tree: three roundings instead of seven, and independent
// adds instead of one dependency chain.
template <class T>
TG_ALWAYS_INLINE T tree8(T a0, T a1, T a2, T a3, T a4, T a5, T a6, T a7) {
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}
// The same tree over vectors loaded from q, q + step, ..., q + 7 * step.
template <class T>
TG_ALWAYS_INLINE vec_t<T> vtree8(const T* q, int64_t step) {
  return ((vload(q) + vload(q + step)) + (vload(q + 2 * step) + vload(q + 3 * step))) +
         ((vload(q + 4 * step) + vload(q + 5 * step)) + (vload(q + 6 * step) + vload(q + 7 * step)));
}
// ... and from eight rows at column j.
template <class T>
TG_ALWAYS_INLINE vec_t<T> vtree8(const T* const* r, int64_t j) {
  return ((vload(r[0] + j) + vload(r[1] + j)) + (vload(r[2] + j) + vload(r[3] + j))) +
         ((vload(r[4] + j) + vload(r[5] + j)) + (vload(r[6] + j) + vload(r[7] + j)));
}

// The sum of the 4 vectors at q (a row of 4 * kLanes values, read in address order).
template <class T>
TG_ALWAYS_INLINE vec_t<T> vrow4(const T* q) {
  constexpr int L = kLanes<T>;
  return (vload(q) + vload(q + L)) + (vload(q + 2 * L) + vload(q + 3 * L));
}
// A block of 8 rows of 4 vectors (1 KiB), summed as a depth-2 tree per row and a depth-3 tree
// over the rows. Reading each row's two cache lines in order lets the hardware prefetcher keep
// up: a tree whose leaves strided through the block read 20% slower from L3 on AMD Zen 4.
template <class T>
TG_ALWAYS_INLINE vec_t<T> vblock32(const T* q) {
  constexpr int R = 4 * kLanes<T>;
  return ((vrow4(q) + vrow4(q + R)) + (vrow4(q + 2 * R) + vrow4(q + 3 * R))) +
         ((vrow4(q + 4 * R) + vrow4(q + 5 * R)) + (vrow4(q + 6 * R) + vrow4(q + 7 * R)));
}

// float32: each block of 256 values is summed in float (vblock32: at most 5 roundings per
// value, at full SIMD width), then added to 8 double lanes. So the error does not grow with n
// the way a float running sum's does.
TG_ALWAYS_INLINE double sum_contig(const float* p, int64_t n) {
  f64x4 lo = {}, hi = {};
  int64_t i = 0;
  for (; i + 256 <= n; i += 256) widen_add(lo, hi, vblock32(p + i));
  for (; i + 64 <= n; i += 64) widen_add(lo, hi, vtree8(p + i, 8));  // shorter: one 8-vector tree
  for (; i + 8 <= n; i += 8) widen_add(lo, hi, vload(p + i));
  double tail = 0.0;
  for (; i < n; ++i) tail += static_cast<double>(p[i]);
  const f64x4 s = lo + hi;
  return ((s[0] + s[2]) + (s[1] + s[3])) + tail;
}

// float64: blocks of 128 values as float32's blocks of 256, into two accumulators that take
// turns (one add's latency is not hidden by one block's loads).
TG_ALWAYS_INLINE double sum_contig(const double* p, int64_t n) {
  f64x4 d[2] = {};
  int64_t i = 0;
  for (; i + 256 <= n; i += 256) {
    d[0] += vblock32(p + i);
    d[1] += vblock32(p + i + 128);
  }
  for (; i + 16 <= n; i += 16) d[0] += vrow4(p + i);
  double tail = 0.0;
  for (; i < n; ++i) tail += p[i];
  const f64x4 s = d[0] + d[1];
  return ((s[0] + s[2]) + (s[1] + s[3])) + tail;
}

TG_ALWAYS_INLINE uint64_t sum_contig(const int64_t* p, int64_t n) {
  const uint64_t* u = reinterpret_cast<const uint64_t*>(p);
  u64x4 d[4] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; ++k) d[k] += vload(u + i + 4 * k);
  uint64_t tail = 0;
  for (; i < n; ++i) tail += u[i];
  const u64x4 s = (d[0] + d[1]) + (d[2] + d[3]);
  return ((s[0] + s[2]) + (s[1] + s[3])) + tail;
}

template <class A, class T>
TG_ALWAYS_INLINE A sum_strided(const T* p, int64_t n, int64_t s) {
  A a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // independent chains hide the add latency
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += static_cast<A>(p[i * s]);
    a1 += static_cast<A>(p[(i + 1) * s]);
    a2 += static_cast<A>(p[(i + 2) * s]);
    a3 += static_cast<A>(p[(i + 3) * s]);
  }
  for (; i < n; ++i) a0 += static_cast<A>(p[i * s]);
  return (a0 + a1) + (a2 + a3);
}

template <class T>
struct Sum {
  using In = T;
  using Out = T;
  using Acc = typename SumTypes<T>::acc;
  using W = typename SumTypes<T>::work;
  static constexpr bool kOrdered = false;     // the reduced axes may be visited in any order
  static constexpr bool kIdempotent = false;  // repeated (stride-0) values count every time
  static Acc init() { return Acc(0); }
  static Acc merge(Acc a, Acc b) { return a + b; }
  static Out finalize(Acc a) { return static_cast<Out>(a); }
  static TG_ALWAYS_INLINE void run(const T* p, int64_t n, int64_t s, int64_t, Acc& acc) {
    acc += (s == 1) ? sum_contig(p, n) : sum_strided<Acc>(p, n, s);
  }
  // Eight rows are combined as a tree in the input type (float stays float for SIMD width),
  // then added to the wider buffer: the same scheme as sum_contig's blocks.
  static TG_ALWAYS_INLINE void rows8(Acc* b, const T* const* r, int64_t nc, int64_t) {
    const W* const* q = reinterpret_cast<const W* const*>(r);
    int64_t j = 0;
    constexpr int L = kLanes<W>;
    for (; j + L <= nc; j += L) {
      const vec_t<W> t = vtree8(q, j);
      if constexpr (std::is_same_v<W, float>) {
        f64x4 lo = vload(b + j), hi = vload(b + j + 4);
        widen_add(lo, hi, t);
        vstore(b + j, lo);
        vstore(b + j + 4, hi);
      } else {
        vstore(b + j, vload(b + j) + t);
      }
    }
    for (; j < nc; ++j)
      b[j] += static_cast<Acc>(tree8(q[0][j], q[1][j], q[2][j], q[3][j], q[4][j], q[5][j], q[6][j], q[7][j]));
  }
  static TG_ALWAYS_INLINE void row1(Acc* __restrict b, const T* __restrict r, int64_t nc, int64_t) {
    for (int64_t j = 0; j < nc; ++j) b[j] += static_cast<Acc>(r[j]);
  }
};

// ---------------------------------------------------------------------------------------------
// Product, accumulated in double for floats (fewer spurious overflows for float32) and in
// uint64 for int64 (wraps like numpy).

template <class T> struct ProdTypes { using acc = double; };
template <> struct ProdTypes<int64_t> { using acc = uint64_t; };

template <class T>
struct Prod {
  using In = T;
  using Out = T;
  using Acc = typename ProdTypes<T>::acc;
  static constexpr bool kOrdered = false;
  static constexpr bool kIdempotent = false;
  static Acc init() { return Acc(1); }
  static Acc merge(Acc a, Acc b) { return a * b; }
  static Out finalize(Acc a) { return static_cast<Out>(a); }
  static TG_ALWAYS_INLINE void run(const T* p, int64_t n, int64_t s, int64_t, Acc& acc) {
    Acc a[8];
    for (int l = 0; l < 8; ++l) a[l] = Acc(1);
    int64_t i = 0;
    if (s == 1) {
      for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) a[l] *= static_cast<Acc>(p[i + l]);
    }
    for (; i < n; ++i) a[0] *= static_cast<Acc>(p[i * s]);
    acc *= ((a[0] * a[1]) * (a[2] * a[3])) * ((a[4] * a[5]) * (a[6] * a[7]));
  }
  static TG_ALWAYS_INLINE void rows8(Acc* __restrict b, const T* const* r, int64_t nc, int64_t) {
    for (int64_t j = 0; j < nc; ++j)
      b[j] *= ((Acc(r[0][j]) * Acc(r[1][j])) * (Acc(r[2][j]) * Acc(r[3][j]))) *
              ((Acc(r[4][j]) * Acc(r[5][j])) * (Acc(r[6][j]) * Acc(r[7][j])));
  }
  static TG_ALWAYS_INLINE void row1(Acc* __restrict b, const T* __restrict r, int64_t nc, int64_t) {
    for (int64_t j = 0; j < nc; ++j) b[j] *= static_cast<Acc>(r[j]);
  }
};

// ---------------------------------------------------------------------------------------------
// Max / min with NaN propagation (any NaN in the set gives NaN, as torch.amax).

// Returns a where a is NaN or strictly better than b, else b (per lane for vectors). A NaN
// argument always wins, so folding lanes in any order still propagates NaN.
template <bool IsMax, class V>
TG_ALWAYS_INLINE V pick(const V& a, const V& b) {
  if constexpr (kFloatElem<V>) {
    if constexpr (IsMax) return ((a > b) | (a != a)) ? a : b;
    else return ((a < b) | (a != a)) ? a : b;
  } else {
    if constexpr (IsMax) return (a > b) ? a : b;
    else return (a < b) ? a : b;
  }
}

template <class T, bool IsMax>
constexpr T ext_identity() {
  if constexpr (std::is_floating_point_v<T>) {
    return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  } else {
    return IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
}

// Scalar extremum continuing from m, without data-dependent branches (random data would
// mispredict them). A NaN result is returned as the canonical quiet NaN.
template <class T, bool IsMax>
TG_ALWAYS_INLINE T ext_scalar(const T* p, int64_t n, int64_t s, T m) {
  if constexpr (std::is_floating_point_v<T>) {
    bool nan = m != m;
    for (int64_t i = 0; i < n; ++i) {
      const T x = p[i * s];
      nan |= x != x;
      m = (IsMax ? (x > m) : (x < m)) ? x : m;
    }
    return nan ? std::numeric_limits<T>::quiet_NaN() : m;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T x = p[i * s];
      m = (IsMax ? (x > m) : (x < m)) ? x : m;
    }
    return m;
  }
}

// Horizontal extremum of a vector by halving shuffles.
template <bool IsMax>
TG_ALWAYS_INLINE float hpick(const f32x8& v) {
  const f32x8 a = pick<IsMax>(v, TG_PERMUTE(v, i32x8, 4, 5, 6, 7, 0, 1, 2, 3));
  const f32x8 b = pick<IsMax>(a, TG_PERMUTE(a, i32x8, 2, 3, 0, 1, 6, 7, 4, 5));
  return pick<IsMax>(b, TG_PERMUTE(b, i32x8, 1, 0, 3, 2, 5, 4, 7, 6))[0];
}
template <bool IsMax>
TG_ALWAYS_INLINE double hpick(const f64x4& v) {
  const f64x4 a = pick<IsMax>(v, TG_PERMUTE(v, i64x4, 2, 3, 0, 1));
  return pick<IsMax>(a, TG_PERMUTE(a, i64x4, 1, 0, 3, 2))[0];
}
template <bool IsMax>
TG_ALWAYS_INLINE int64_t hpick(const i64x4& v) {
  const i64x4 a = pick<IsMax>(v, TG_PERMUTE(v, i64x4, 2, 3, 0, 1));
  return pick<IsMax>(a, TG_PERMUTE(a, i64x4, 1, 0, 3, 2))[0];
}

// Plain per-lane extremum (vmaxps / vminps): a lane holding a NaN gives an arbitrary result,
// so callers track NaN separately.
template <bool IsMax, class V>
TG_ALWAYS_INLINE V ext2(const V& a, const V& b) {
  if constexpr (IsMax) return (a > b) ? a : b;
  else return (a < b) ? a : b;
}

// Extremum of a run, NaN if it holds one. The vector loop keeps the NaN test apart from the
// compare-and-select chains (one max instruction per vector instead of four NaN-aware ops).
template <class T, bool IsMax>
TG_ALWAYS_INLINE T ext_run(const T* p, int64_t n, int64_t s) {
  constexpr int L = kLanes<T>;
  if (s != 1 || n < L) return ext_scalar<T, IsMax>(p, n, s, ext_identity<T, IsMax>());
  using V = vec_t<T>;
  V m0 = vload(p);
  auto nan = m0 != m0;
  int64_t i = L;
  if (n >= 4 * L) {  // four chains hide the latency
    V m1 = vload(p + L), m2 = vload(p + 2 * L), m3 = vload(p + 3 * L);
    nan |= (m1 != m1) | (m2 != m2) | (m3 != m3);
    for (i = 4 * L; i + 4 * L <= n; i += 4 * L) {
      const V a = vload(p + i), b = vload(p + i + L), c = vload(p + i + 2 * L), d = vload(p + i + 3 * L);
      m0 = ext2<IsMax>(a, m0);
      m1 = ext2<IsMax>(b, m1);
      m2 = ext2<IsMax>(c, m2);
      m3 = ext2<IsMax>(d, m3);
      nan |= ((a != a) | (b != b)) | ((c != c) | (d != d));
    }
    m0 = ext2<IsMax>(ext2<IsMax>(m0, m1), ext2<IsMax>(m2, m3));
  }
  for (; i + L <= n; i += L) {
    const V a = vload(p + i);
    m0 = ext2<IsMax>(a, m0);
    nan |= a != a;
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (any_lane(nan)) return std::numeric_limits<T>::quiet_NaN();
  }
  return ext_scalar<T, IsMax>(p + i, n - i, 1, hpick<IsMax>(m0));
}

template <class T, bool IsMax>
struct Extremum {
  using In = T;
  using Out = T;
  using Acc = T;
  static constexpr bool kOrdered = false;
  static constexpr bool kIdempotent = true;  // a stride-0 axis can be dropped
  static Acc init() { return ext_identity<T, IsMax>(); }
  static Acc merge(Acc a, Acc b) { return pick<IsMax>(a, b); }
  static Out finalize(Acc a) { return a; }
  static TG_ALWAYS_INLINE void run(const T* p, int64_t n, int64_t s, int64_t, Acc& acc) {
    acc = pick<IsMax>(ext_run<T, IsMax>(p, n, s), acc);
  }
  static TG_ALWAYS_INLINE void rows8(Acc* b, const T* const* r, int64_t nc, int64_t) {
    constexpr int L = kLanes<T>;
    int64_t j = 0;
    for (; j + L <= nc; j += L) {
      const vec_t<T> a = pick<IsMax>(pick<IsMax>(vload(r[0] + j), vload(r[1] + j)),
                                     pick<IsMax>(vload(r[2] + j), vload(r[3] + j)));
      const vec_t<T> c = pick<IsMax>(pick<IsMax>(vload(r[4] + j), vload(r[5] + j)),
                                     pick<IsMax>(vload(r[6] + j), vload(r[7] + j)));
      vstore(b + j, pick<IsMax>(pick<IsMax>(a, c), vload(b + j)));
    }
    for (; j < nc; ++j) {
      const T a = pick<IsMax>(pick<IsMax>(r[0][j], r[1][j]), pick<IsMax>(r[2][j], r[3][j]));
      const T c = pick<IsMax>(pick<IsMax>(r[4][j], r[5][j]), pick<IsMax>(r[6][j], r[7][j]));
      b[j] = pick<IsMax>(pick<IsMax>(a, c), b[j]);
    }
  }
  static TG_ALWAYS_INLINE void row1(Acc* b, const T* r, int64_t nc, int64_t) {
    constexpr int L = kLanes<T>;
    int64_t j = 0;
    for (; j + L <= nc; j += L) vstore(b + j, pick<IsMax>(vload(r + j), vload(b + j)));
    for (; j < nc; ++j) b[j] = pick<IsMax>(r[j], b[j]);
  }
};

// ---------------------------------------------------------------------------------------------
// argmax / argmin: index in C order over the reduced axes, first occurrence on ties, the first
// NaN wins (NaN counts as the extreme value, as in torch).

// First k in [0, n) where p[k*s] is NaN (FindNaN) or equals m; the caller knows there is one.
template <bool FindNaN, class T>
TG_ALWAYS_INLINE int64_t first_match(const T* p, int64_t n, int64_t s, T m) {
  int64_t k = 0;
  if (s == 1) {  // skip whole vector pairs that cannot contain it
    constexpr int L = kLanes<T>;
    for (; k + 2 * L <= n; k += 2 * L) {
      const vec_t<T> a = vload(p + k), b = vload(p + k + L);
      if constexpr (FindNaN) {
        if (any_lane((a != a) | (b != b))) break;
      } else {
        if (any_lane((a == m) | (b == m))) break;
      }
    }
  }
  if constexpr (FindNaN) {
    while (!is_nan(p[k * s])) ++k;
  } else {
    while (!(p[k * s] == m)) ++k;
  }
  return k;
}

// Lane indices for the vectorised arg kernels: int32 beside 8 floats, int64 beside 4 doubles
// or int64s, so that a comparison mask selects values and indices alike.
template <class T> struct IdxOf { using type = i64x4; };
template <> struct IdxOf<float> { using type = i32x8; };
template <class T> using idx_t = typename IdxOf<T>::type;

// Where (v2, i2) beats (v, i), lane by lane: strictly better, or NaN over a number, or equal
// (both NaN counts as equal) at a smaller index.
template <bool IsMax, class V, class I>
TG_ALWAYS_INLINE void arg_combine(V& v, I& i, const V& v2, const I& i2) {
  const auto nan1 = v != v, nan2 = v2 != v2;
  const auto better = IsMax ? (v2 > v) : (v2 < v);
  const auto eq = (v2 == v) | (nan1 & nan2);
  const auto t = better | (nan2 & ~nan1) | (eq & (i2 < i));
  v = t ? v2 : v;
  i = t ? i2 : i;
}

// argmax / argmin of a contiguous run of L <= n < 2^31 values in one pass: each lane keeps its
// best value and index, then the lanes are combined by halving shuffles. A last partial vector
// is taken as the vector ending at the run's end: the values it repeats come back with their
// own indices, which changes nothing, and nothing is read past the run. Returns (value, index);
// a NaN value means the first NaN.
template <class T, bool IsMax>
TG_ALWAYS_INLINE void arg_contig(const T* p, int64_t n, T& best, int64_t& where) {
  using V = vec_t<T>;
  using I = idx_t<T>;
  using IE = typename std::remove_reference_t<decltype(std::declval<I>()[0])>;
  constexpr int L = kLanes<T>;
  I iota;
  for (int l = 0; l < L; ++l) iota[l] = static_cast<IE>(l);
  V mv = vload(p);
  I mi = iota;
  for (int64_t i = L; i < n; i += L) {
    const int64_t at = std::min(i, n - L);
    const V x = vload(p + at);
    const auto t = (IsMax ? (x > mv) : (x < mv)) | ((x != x) & ~(mv != mv));
    mv = t ? x : mv;
    mi = t ? (iota + static_cast<IE>(at)) : mi;
  }
  if constexpr (L == 8) {
    arg_combine<IsMax>(mv, mi, TG_PERMUTE(mv, i32x8, 4, 5, 6, 7, 0, 1, 2, 3),
                       TG_PERMUTE(mi, i32x8, 4, 5, 6, 7, 0, 1, 2, 3));
    arg_combine<IsMax>(mv, mi, TG_PERMUTE(mv, i32x8, 2, 3, 0, 1, 6, 7, 4, 5),
                       TG_PERMUTE(mi, i32x8, 2, 3, 0, 1, 6, 7, 4, 5));
    arg_combine<IsMax>(mv, mi, TG_PERMUTE(mv, i32x8, 1, 0, 3, 2, 5, 4, 7, 6),
                       TG_PERMUTE(mi, i32x8, 1, 0, 3, 2, 5, 4, 7, 6));
  } else {
    arg_combine<IsMax>(mv, mi, TG_PERMUTE(mv, i64x4, 2, 3, 0, 1),
                       TG_PERMUTE(mi, i64x4, 2, 3, 0, 1));
    arg_combine<IsMax>(mv, mi, TG_PERMUTE(mv, i64x4, 1, 0, 3, 2),
                       TG_PERMUTE(mi, i64x4, 1, 0, 3, 2));
  }
  best = mv[0];
  where = mi[0];
}

// mask ? a : b for a mask of all ones or zero, as bit operations: a plain ternary on a
// data-dependent condition tends to compile to a branch, which random data mispredicts.
template <class T>
TG_ALWAYS_INLINE T select_bits(int64_t mask, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  const U um = static_cast<U>(mask);
  const U r = (ua & um) | (ub & ~um);
  T out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

template <class T, bool IsMax>
struct Arg {
  using In = T;
  using Out = int64_t;
  struct Acc {
    T v;
    int64_t i;  // -1: nothing seen yet
  };
  static constexpr bool kOrdered = true;  // indices need the axes in C order
  static constexpr bool kIdempotent = false;
  static Acc init() { return Acc{T(0), -1}; }
  static TG_ALWAYS_INLINE bool better(T a, T b) { return IsMax ? (a > b) : (a < b); }
  // b comes after a in index order, so it only wins when strictly better.
  static Acc merge(Acc a, Acc b) {
    if (b.i < 0) return a;
    if (a.i < 0) return b;
    if (is_nan(a.v)) return a;
    if (is_nan(b.v)) return b;
    return better(b.v, a.v) ? b : a;
  }
  static Out finalize(Acc a) { return a.i; }
  // Whether x, seen after cur, replaces it.
  static TG_ALWAYS_INLINE bool takes(T x, T cur) { return better(x, cur) | (is_nan(x) & !is_nan(cur)); }
  // Long contiguous runs: two passes, the vectorised extremum and a search for its first
  // occurrence (which usually stops early). Shorter contiguous runs (rows of class scores):
  // one vectorised pass tracking value and index per lane, no branches. Strided runs and runs
  // shorter than a vector: one scalar pass with branch-free updates, since data-dependent
  // branches mispredict on random data.
  static TG_ALWAYS_INLINE void run(const T* p, int64_t n, int64_t s, int64_t base, Acc& acc) {
    if (acc.i >= 0 && is_nan(acc.v)) return;  // the first NaN has been found
    if (s == 1 && n >= 256) {
      const T m = ext_run<T, IsMax>(p, n, 1);
      const int64_t k = is_nan(m) ? first_match<true>(p, n, 1, m) : first_match<false>(p, n, 1, m);
      acc = merge(acc, Acc{m, base + k});
      return;
    }
    if (s == 1 && n >= kLanes<T>) {
      T m;
      int64_t k;
      arg_contig<T, IsMax>(p, n, m, k);
      acc = merge(acc, Acc{m, base + k});
      return;
    }
    T m = p[0];
    int64_t k = 0;
    for (int64_t i = 1; i < n; ++i) {
      const T x = p[i * s];
      const int64_t take = -static_cast<int64_t>(takes(x, m));  // all ones or zero
      k ^= (k ^ i) & take;
      m = select_bits(take, x, m);
    }
    acc = merge(acc, Acc{m, base + k});
  }
  // Rows engine, with the buffer split into values bv and indices bi (int32 beside floats) so
  // that whole vectors of columns are updated at once; bi holds the row of bv's value.
  using Idx = typename std::remove_reference_t<decltype(std::declval<idx_t<T>>()[0])>;
  static TG_ALWAYS_INLINE void row1_soa(T* bv, Idx* bi, const T* r, int64_t nc, int64_t row) {
    constexpr int L = kLanes<T>;
    const idx_t<T> rv = idx_t<T>{} + static_cast<Idx>(row);
    int64_t j = 0;
    for (; j + L <= nc; j += L) {
      const vec_t<T> x = vload(r + j), v = vload(bv + j);
      const auto t = (IsMax ? (x > v) : (x < v)) | ((x != x) & ~(v != v));
      vstore(bv + j, t ? x : v);
      idx_t<T> ix;
      std::memcpy(&ix, bi + j, sizeof ix);
      ix = t ? rv : ix;
      std::memcpy(bi + j, &ix, sizeof ix);
    }
    for (; j < nc; ++j) {
      const int64_t take = -static_cast<int64_t>(takes(r[j], bv[j]));
      bv[j] = select_bits(take, r[j], bv[j]);
      bi[j] = static_cast<Idx>(bi[j] ^ ((bi[j] ^ row) & take));
    }
  }
  // Eight consecutive rows, row .. row + 7, keeping each vector of columns in registers.
  static TG_ALWAYS_INLINE void rows8_soa(T* bv, Idx* bi, const T* const* r, int64_t nc, int64_t row) {
    constexpr int L = kLanes<T>;
    const idx_t<T> rv = idx_t<T>{} + static_cast<Idx>(row);
    int64_t j = 0;
    for (; j + L <= nc; j += L) {
      vec_t<T> v = vload(bv + j);
      idx_t<T> ix;
      std::memcpy(&ix, bi + j, sizeof ix);
      for (int k = 0; k < 8; ++k) {
        const vec_t<T> x = vload(r[k] + j);
        const auto t = (IsMax ? (x > v) : (x < v)) | ((x != x) & ~(v != v));
        v = t ? x : v;
        ix = t ? rv + static_cast<Idx>(k) : ix;
      }
      vstore(bv + j, v);
      std::memcpy(bi + j, &ix, sizeof ix);
    }
    for (int k = 0; k < 8; ++k)
      for (int64_t jj = j; jj < nc; ++jj) {
        const int64_t take = -static_cast<int64_t>(takes(r[k][jj], bv[jj]));
        bv[jj] = select_bits(take, r[k][jj], bv[jj]);
        bi[jj] = static_cast<Idx>(bi[jj] ^ ((bi[jj] ^ (row + k)) & take));
      }
  }
};

// ---------------------------------------------------------------------------------------------
// all / any over bool bytes (any nonzero byte counts as true).

template <bool IsAll>
struct Logic {
  using In = uint8_t;
  using Out = uint8_t;
  using Acc = uint8_t;
  static constexpr bool kOrdered = false;
  static constexpr bool kIdempotent = true;
  static Acc init() { return IsAll ? 1 : 0; }
  static Acc merge(Acc a, Acc b) { return IsAll ? (a & b) : (a | b); }
  static Out finalize(Acc a) { return a; }
  static TG_ALWAYS_INLINE void run(const uint8_t* p, int64_t n, int64_t s, int64_t, Acc& acc) {
    if (acc != init()) return;  // already decided
    if (s == 1) {
      if (IsAll) {
        acc = std::memchr(p, 0, static_cast<size_t>(n)) == nullptr;
      } else {
        int64_t i = 0;
        for (; i + 64 <= n; i += 64)
          if (any_lane(vload(p + i) | vload(p + i + 32))) break;
        for (; i < n; ++i)
          if (p[i]) {
            acc = 1;
            return;
          }
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      if ((p[i * s] != 0) != IsAll) {
        acc = !IsAll;
        return;
      }
    }
  }
  static TG_ALWAYS_INLINE uint8_t combine(uint8_t a, uint8_t b) { return IsAll ? (a & b) : (a | b); }
  static TG_ALWAYS_INLINE void rows8(Acc* b, const uint8_t* const* r, int64_t nc, int64_t) {
    int64_t j = 0;
    const u8x32 zero = {};
    for (; j + 32 <= nc; j += 32) {
      u8x32 m = vload(b + j);
      for (int k = 0; k < 8; ++k) {
        const u8x32 v = reinterpret_cast<u8x32>(vload(r[k] + j) != zero) & 1;
        m = IsAll ? (m & v) : (m | v);
      }
      vstore(b + j, m);
    }
    for (; j < nc; ++j)
      for (int k = 0; k < 8; ++k) b[j] = combine(b[j], r[k][j] != 0);
  }
  static TG_ALWAYS_INLINE void row1(Acc* b, const uint8_t* r, int64_t nc, int64_t) {
    for (int64_t j = 0; j < nc; ++j) b[j] = combine(b[j], r[j] != 0);
  }
};

// ---------------------------------------------------------------------------------------------
// The plan: kept and reduced axes of x after normalisation. Strides in elements.
struct Plan {
  int nkd = 0, nrd = 0;  // number of kept / reduced axes left (size-1 axes dropped)
  int64_t ks[kMaxDims], kx[kMaxDims], ko[kMaxDims];  // kept: size, x stride, out stride
  int64_t rs[kMaxDims], rx[kMaxDims];                // reduced: size, x stride (innermost last)
  int64_t nk = 1, nr = 1;                            // kept / reduced element counts
  int64_t x_off = 0, o_off = 0;                      // element offsets after flipping axes
};

// `ordered`: reduced axes must stay in C order (arg ops). `idempotent`: stride-0 reduced axes
// only repeat values and can be dropped.
Plan make_plan(const ArrayView& x, const std::vector<bool>& reduced, bool ordered, bool idempotent) {
  Plan P;
  const int nd = x.ndim();
  int64_t ostride[kMaxDims];
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    ostride[d] = acc;
    if (!reduced[d]) acc *= x.shape[d];
  }
  for (int d = 0; d < nd; ++d) {
    const int64_t n = x.shape[d];
    if (reduced[d]) P.nr *= n; else P.nk *= n;
  }
  if (P.nk == 0 || P.nr == 0) return P;  // callers handle empty cases before using the axes
  for (int d = 0; d < nd; ++d) {
    int64_t n = x.shape[d], sx = x.strides[d];
    if (n == 1) continue;
    if (reduced[d]) {
      if (!ordered && sx < 0) {  // order within a reduced axis does not matter: walk it forward
        P.x_off += (n - 1) * sx;
        sx = -sx;
      }
      if (idempotent && sx == 0) continue;
      P.rs[P.nrd] = n;
      P.rx[P.nrd] = sx;
      ++P.nrd;
    } else {
      int64_t so = ostride[d];
      if (sx < 0) {  // walk x forward; the out position follows
        P.x_off += (n - 1) * sx;
        sx = -sx;
        P.o_off += (n - 1) * so;
        so = -so;
      }
      P.ks[P.nkd] = n;
      P.kx[P.nkd] = sx;
      P.ko[P.nkd] = so;
      ++P.nkd;
    }
  }
  if (!ordered) {
    // Smallest stride innermost so runs are as contiguous as possible; stride-0 (broadcast)
    // axes outermost, where they only repeat the inner work.
    auto key = [](int64_t s) { return s == 0 ? std::numeric_limits<int64_t>::max() : s; };
    for (int i = 1; i < P.nrd; ++i)
      for (int j = i; j > 0 && key(P.rx[j - 1]) < key(P.rx[j]); --j) {
        std::swap(P.rx[j - 1], P.rx[j]);
        std::swap(P.rs[j - 1], P.rs[j]);
      }
  }
  // Merge reduced neighbours that form one longer axis; in C order this keeps flat indices.
  int m = 0;
  for (int i = 0; i < P.nrd; ++i) {
    if (m > 0 && P.rx[m - 1] == P.rx[i] * P.rs[i]) {
      P.rs[m - 1] *= P.rs[i];
      P.rx[m - 1] = P.rx[i];
    } else {
      P.rs[m] = P.rs[i];
      P.rx[m] = P.rx[i];
      ++m;
    }
  }
  P.nrd = m;
  P.nr = 1;
  for (int i = 0; i < P.nrd; ++i) P.nr *= P.rs[i];
  m = 0;
  for (int i = 0; i < P.nkd; ++i) {
    if (m > 0 && P.kx[m - 1] == P.kx[i] * P.ks[i] && P.ko[m - 1] == P.ko[i] * P.ks[i]) {
      P.ks[m - 1] *= P.ks[i];
      P.kx[m - 1] = P.kx[i];
      P.ko[m - 1] = P.ko[i];
    } else {
      P.ks[m] = P.ks[i];
      P.kx[m] = P.kx[i];
      P.ko[m] = P.ko[i];
      ++m;
    }
  }
  P.nkd = m;
  return P;
}

// C-order walk over the first nd of a set of axes, tracking an x offset and (if so is given)
// an out offset.
struct Walk {
  const int64_t *sz, *sx, *so;
  int nd;
  int64_t idx[kMaxDims];
  int64_t xo = 0, oo = 0;
  Walk(const int64_t* sz_, const int64_t* sx_, const int64_t* so_, int nd_, int64_t start)
      : sz(sz_), sx(sx_), so(so_), nd(nd_) {
    if (start == 0) {  // the common case, without divisions
      for (int d = 0; d < nd; ++d) idx[d] = 0;
      return;
    }
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = start % sz[d];
      start /= sz[d];
      xo += idx[d] * sx[d];
      if (so) oo += idx[d] * so[d];
    }
  }
  void next() {
    for (int d = nd - 1; d >= 0; --d) {
      xo += sx[d];
      if (so) oo += so[d];
      if (++idx[d] < sz[d]) return;
      xo -= sz[d] * sx[d];
      if (so) oo -= sz[d] * so[d];
      idx[d] = 0;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Span engine.

// Reduces flat reduced indices [r0, r1) at x into a fresh accumulator.
template <class K>
TG_ALWAYS_INLINE typename K::Acc reduce_span(const Plan& P, const typename K::In* x, int64_t r0, int64_t r1) {
  typename K::Acc acc = K::init();
  const int nd = P.nrd;
  const int64_t n_in = P.rs[nd - 1], s_in = P.rx[nd - 1];
  if (nd == 1) {
    K::run(x + r0 * s_in, r1 - r0, s_in, r0, acc);
    return acc;
  }
  Walk w(P.rs, P.rx, nullptr, nd - 1, r0 == 0 ? 0 : r0 / n_in);
  int64_t i_in = r0 == 0 ? 0 : r0 % n_in;
  for (int64_t r = r0; r < r1;) {
    const int64_t len = std::min(n_in - i_in, r1 - r);
    K::run(x + w.xo + i_in * s_in, len, s_in, r, acc);
    r += len;
    i_in = 0;
    w.next();
  }
  return acc;
}

// Kept positions [b, e), each reduced whole and written to out.
template <class K>
TG_ALWAYS_INLINE void span_positions(const Plan* P, const typename K::In* x, typename K::Out* out,
                              int64_t b, int64_t e) {
  Walk w(P->ks, P->kx, P->ko, P->nkd, b);
  for (int64_t k = b; k < e; ++k) {
    out[w.oo] = K::finalize(reduce_span<K>(*P, x + w.xo, 0, P->nr));
    w.next();
  }
}

// Items [b, e) of (kept position, chunk) pairs, each reduced into its own partial.
template <class K>
TG_ALWAYS_INLINE void span_chunks(const Plan* P, const typename K::In* x, typename K::Acc* part,
                           int64_t nchunks, int64_t chunk, int64_t b, int64_t e) {
  for (int64_t t = b; t < e; ++t) {
    const int64_t k = t / nchunks, c = t % nchunks;
    const Walk w(P->ks, P->kx, nullptr, P->nkd, k);
    part[t] = reduce_span<K>(*P, x + w.xo, c * chunk, std::min(P->nr, (c + 1) * chunk));
  }
}

template <class K, class... A> TG_TARGET_AVX2 TG_NOINLINE void span_positions_avx2(A... a) { span_positions<K>(a...); }
template <class K, class... A> TG_NOINLINE void span_positions_generic(A... a) { span_positions<K>(a...); }
template <class K, class... A> TG_TARGET_AVX2 TG_NOINLINE void span_chunks_avx2(A... a) { span_chunks<K>(a...); }
template <class K, class... A> TG_NOINLINE void span_chunks_generic(A... a) { span_chunks<K>(a...); }

template <class K>
void span_engine(const Plan& P, const typename K::In* x, typename K::Out* out, bool avx2) {
  using Acc = typename K::Acc;
  const int64_t nk = P.nk, nr = P.nr;
  // Few outputs, much work: split each reduction into fixed chunks (set by the shape alone).
  if (nk < 16 && nk * nr >= 2 * kReduceGrain && nr > kSpanChunk) {
    const int64_t chunk = std::max(kSpanChunk, ceil_div(nr, 1024));
    const int64_t nchunks = ceil_div(nr, chunk);
    std::vector<Acc> part(static_cast<size_t>(nk * nchunks));
    Acc* pp = part.data();
    parallel_for(nk * nchunks, ceil_div(kReduceGrain, chunk), [&](int64_t b, int64_t e) {
      if (avx2) span_chunks_avx2<K>(&P, x, pp, nchunks, chunk, b, e);
      else span_chunks_generic<K>(&P, x, pp, nchunks, chunk, b, e);
    });
    Walk w(P.ks, P.kx, P.ko, P.nkd, 0);
    for (int64_t k = 0; k < nk; ++k) {
      Acc a = pp[k * nchunks];
      for (int64_t c = 1; c < nchunks; ++c) a = K::merge(a, pp[k * nchunks + c]);
      out[w.oo] = K::finalize(a);
      w.next();
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kReduceGrain / nr);
  parallel_for(nk, grain, [&](int64_t b, int64_t e) {
    if (avx2) span_positions_avx2<K>(&P, x, out, b, e);
    else span_positions_generic<K>(&P, x, out, b, e);
  });
}

// ---------------------------------------------------------------------------------------------
// Rows engine. The last kept axis of the plan has x stride 1; every reduced position is a row
// along it, added into an output-row buffer. Work items are (outer kept position, column
// block, row chunk).
//
// Short rows that follow one another in memory are taken `fold` at a time as one wide row
// (buffer lane i collects column i % kj), so the vector loops run at full width; the fold
// segments of the buffer are combined at the end.
struct RowsSplit {
  int64_t no;          // outer kept positions
  int64_t kj;          // row length (outputs per outer position)
  int64_t ncb;         // column blocks
  int64_t fold;        // rows per wide row (1: no folding)
  int64_t nrows;       // rows walked (wide rows when folding)
  int64_t rem_rows;    // rows left after the wide rows when folding
  int64_t nchunks;     // row chunks
  int64_t chunk_rows;  // walked rows per chunk
};

constexpr int64_t kFoldWidth = 128;  // target wide-row length when folding short rows

// The rows engine for argmax / argmin: values and row indices in separate buffers, the
// buffer starting as the item's first row (so ties keep the earliest row).
template <class K>
TG_ALWAYS_INLINE void rows_items_arg(const Plan* P, const RowsSplit* S, const typename K::In* x,
                              typename K::Out* out, typename K::Acc* part, int64_t b, int64_t e) {
  using T = typename K::In;
  using Idx = typename K::Idx;
  alignas(64) T bv[kColBlock];
  alignas(64) Idx bi[kColBlock];
  const int64_t koj = P->ko[P->nkd - 1];
  for (int64_t t = b; t < e; ++t) {
    const int64_t c = t % S->nchunks, cb = (t / S->nchunks) % S->ncb, o = t / (S->nchunks * S->ncb);
    const Walk ow(P->ks, P->kx, P->ko, P->nkd - 1, o);
    const int64_t col0 = cb * kColBlock, nc = std::min(kColBlock, S->kj - col0);
    const int64_t rb = c * S->chunk_rows, re = std::min(S->nrows, rb + S->chunk_rows);
    const T* base = x + ow.xo + col0;
    Walk rw(P->rs, P->rx, nullptr, P->nrd, rb);
    std::copy(base + rw.xo, base + rw.xo + nc, bv);
    std::fill(bi, bi + nc, static_cast<Idx>(rb));
    rw.next();
    const T* rows[8];
    int cnt = 0;
    int64_t first = rb + 1;
    for (int64_t r = rb + 1; r < re; ++r) {
      rows[cnt++] = base + rw.xo;
      rw.next();
      if (cnt == 8) {
        K::rows8_soa(bv, bi, rows, nc, first);
        cnt = 0;
        first = r + 1;
      }
    }
    for (int k = 0; k < cnt; ++k) K::row1_soa(bv, bi, rows[k], nc, first + k);
    if (S->nchunks == 1) {
      int64_t* o_ptr = out + ow.oo + col0 * koj;
      for (int64_t j = 0; j < nc; ++j) o_ptr[j * koj] = bi[j];
    } else {
      typename K::Acc* dst = part + (o * S->nchunks + c) * S->kj + col0;
      for (int64_t j = 0; j < nc; ++j) dst[j] = typename K::Acc{bv[j], bi[j]};
    }
  }
}

template <class K>
TG_ALWAYS_INLINE void rows_items_plain(const Plan* P, const RowsSplit* S, const typename K::In* x,
                                typename K::Out* out, typename K::Acc* part, int64_t b, int64_t e) {
  using In = typename K::In;
  using Acc = typename K::Acc;
  const int64_t koj = P->ko[P->nkd - 1];
  alignas(64) Acc buf[kColBlock];
  for (int64_t t = b; t < e; ++t) {
    const int64_t c = t % S->nchunks, cb = (t / S->nchunks) % S->ncb, o = t / (S->nchunks * S->ncb);
    const Walk ow(P->ks, P->kx, P->ko, P->nkd - 1, o);
    const int64_t col0 = cb * kColBlock, nc = std::min(kColBlock, S->kj - col0);
    const int64_t width = S->fold > 1 ? S->fold * S->kj : nc;
    const int64_t rb = c * S->chunk_rows, re = std::min(S->nrows, rb + S->chunk_rows);
    for (int64_t j = 0; j < width; ++j) buf[j] = K::init();
    const In* base = x + ow.xo + col0;
    Walk rw(P->rs, P->rx, nullptr, P->nrd, rb);
    const In* rows[8];
    int cnt = 0;
    int64_t first = rb;
    for (int64_t r = rb; r < re; ++r) {
      rows[cnt++] = base + rw.xo;
      rw.next();
      if (cnt == 8) {
        K::rows8(buf, rows, width, first);
        cnt = 0;
        first = r + 1;
      }
    }
    for (int k = 0; k < cnt; ++k) K::row1(buf, rows[k], width, first + k);
    if (S->fold > 1) {
      if (c == S->nchunks - 1) {
        const In* rp = base + S->nrows * S->fold * S->kj;
        for (int64_t k = 0; k < S->rem_rows; ++k) K::row1(buf, rp + k * S->kj, S->kj, 0);
      }
      for (int64_t f = 1; f < S->fold; ++f)
        for (int64_t j = 0; j < S->kj; ++j) buf[j] = K::merge(buf[j], buf[f * S->kj + j]);
    }
    if (S->nchunks == 1) {
      typename K::Out* o_ptr = out + ow.oo + col0 * koj;
      for (int64_t j = 0; j < nc; ++j) o_ptr[j * koj] = K::finalize(buf[j]);
    } else {
      std::copy(buf, buf + nc, part + (o * S->nchunks + c) * S->kj + col0);
    }
  }
}

template <class K>
TG_ALWAYS_INLINE void rows_items(const Plan* P, const RowsSplit* S, const typename K::In* x,
                          typename K::Out* out, typename K::Acc* part, int64_t b, int64_t e) {
  if constexpr (K::kOrdered) {
    rows_items_arg<K>(P, S, x, out, part, b, e);
  } else {
    rows_items_plain<K>(P, S, x, out, part, b, e);
  }
}

template <class K, class... A> TG_TARGET_AVX2 TG_NOINLINE void rows_items_avx2(A... a) { rows_items<K>(a...); }
template <class K, class... A> TG_NOINLINE void rows_items_generic(A... a) { rows_items<K>(a...); }

template <class K>
void rows_engine(const Plan& P0, const typename K::In* x, typename K::Out* out, bool avx2) {
  using Acc = typename K::Acc;
  Plan P = P0;
  RowsSplit S;
  S.kj = P.ks[P.nkd - 1];
  S.no = P.nk / S.kj;
  S.ncb = ceil_div(S.kj, kColBlock);
  S.fold = 1;
  S.nrows = P.nr;
  S.rem_rows = 0;
  // Folding needs consecutive rows back to back in memory and visits them out of index order,
  // so not for arg ops.
  if (!K::kOrdered && P.nrd == 1 && P.rx[0] == S.kj && S.kj < kFoldWidth / 2) {
    const int64_t fold = ceil_div(kFoldWidth, S.kj);
    if (P.nr >= 2 * fold) {
      S.fold = fold;
      S.nrows = P.nr / fold;
      S.rem_rows = P.nr % fold;
      P.rs[0] = S.nrows;
      P.rx[0] = fold * S.kj;
      P.nr = S.nrows;
    }
  }
  const int64_t width = S.fold > 1 ? S.fold * S.kj : std::min(S.kj, kColBlock);
  S.nchunks = 1;
  S.chunk_rows = S.nrows;
  // Too few column blocks to share out: also split the rows, at boundaries set by the shape.
  // At most 32 row chunks, which bounds the partial buffers and their serial merge.
  if (S.no * S.ncb < 8 && S.no * width * S.nrows >= 2 * kReduceGrain) {
    int64_t rows = std::max<int64_t>(64, ceil_div(kSpanChunk, width));
    rows = std::max(rows, ceil_div(S.nrows, 32));
    rows = ceil_div(rows, 8) * 8;
    S.chunk_rows = rows;
    S.nchunks = ceil_div(S.nrows, rows);
  }
  std::vector<Acc> part;
  if (S.nchunks > 1) part.resize(static_cast<size_t>(S.no * S.nchunks * S.kj));
  Acc* pp = part.data();
  const int64_t items = S.no * S.ncb * S.nchunks;
  const int64_t grain = std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(1, width * S.chunk_rows));
  parallel_for(items, grain, [&](int64_t b, int64_t e) {
    if (avx2) rows_items_avx2<K>(&P, &S, x, out, pp, b, e);
    else rows_items_generic<K>(&P, &S, x, out, pp, b, e);
  });
  if (S.nchunks == 1) return;
  const int64_t koj = P.ko[P.nkd - 1];
  Walk ow(P.ks, P.kx, P.ko, P.nkd - 1, 0);
  for (int64_t o = 0; o < S.no; ++o) {
    Acc* p0 = pp + o * S.nchunks * S.kj;
    for (int64_t c = 1; c < S.nchunks; ++c) {
      const Acc* pc = p0 + c * S.kj;
      for (int64_t j = 0; j < S.kj; ++j) p0[j] = K::merge(p0[j], pc[j]);
    }
    typename K::Out* o_ptr = out + ow.oo;
    for (int64_t j = 0; j < S.kj; ++j) o_ptr[j * koj] = K::finalize(p0[j]);
    ow.next();
  }
}

// ---------------------------------------------------------------------------------------------
template <class K>
void run_reduce(const ArrayView& x, const std::vector<bool>& reduced, const ArrayView& out) {
  using In = typename K::In;
  using Out = typename K::Out;
  Plan P = make_plan(x, reduced, K::kOrdered, K::kIdempotent);
  if (P.nk == 0) return;
  Out* out0 = out.ptr<Out>();
  if (P.nr == 0) {  // empty reduced set: the identity (ops without one were rejected earlier)
    std::fill(out0, out0 + P.nk, K::finalize(K::init()));
    return;
  }
  const In* xb = x.ptr<In>() + P.x_off;
  Out* ob = out0 + P.o_off;
  if (P.nrd == 0) {  // nothing left to reduce: each output is one input element
    if (K::kOrdered) {
      std::fill(out0, out0 + P.nk, Out(0));
      return;
    }
    ArrayView xv, ov;
    xv.data = const_cast<In*>(xb);
    ov.data = ob;
    xv.dtype = x.dtype;
    ov.dtype = out.dtype;
    xv.shape.assign(P.ks, P.ks + P.nkd);
    xv.strides.assign(P.kx, P.kx + P.nkd);
    ov.shape = xv.shape;
    ov.strides.assign(P.ko, P.ko + P.nkd);
    StridedLoop<2> loop(xv.shape, {&xv, &ov});
    loop.run_parallel([](char** p, int64_t n, const int64_t* bs) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[1] + i * bs[1]) = *reinterpret_cast<const In*>(p[0] + i * bs[0]);
    });
    return;
  }
  const bool avx2 = use_avx2();
  int contig = -1;
  for (int d = 0; d < P.nkd; ++d)
    if (P.kx[d] == 1) contig = d;
  const int64_t s_in = P.rx[P.nrd - 1];
  // (argmax over float keeps row indices in int32 lanes in the rows engine)
  const bool rows_ok = !(K::kOrdered && std::is_same_v<In, float> && P.nr >= (int64_t(1) << 31));
  if (contig >= 0 && s_in != 1 && s_in != -1 && rows_ok) {
    for (int d = contig; d + 1 < P.nkd; ++d) {  // the contiguous kept axis goes last
      std::swap(P.ks[d], P.ks[d + 1]);
      std::swap(P.kx[d], P.kx[d + 1]);
      std::swap(P.ko[d], P.ko[d + 1]);
    }
    rows_engine<K>(P, xb, ob, avx2);
  } else {
    span_engine<K>(P, xb, ob, avx2);
  }
}

template <template <class> class K>
void run_numeric(DType d, const ArrayView& x, const std::vector<bool>& red, const ArrayView& out) {
  switch (d) {
    case DType::f32: return run_reduce<K<float>>(x, red, out);
    case DType::f64: return run_reduce<K<double>>(x, red, out);
    case DType::i64: return run_reduce<K<int64_t>>(x, red, out);
    default: break;
  }
  throw std::invalid_argument("reduce: internal dtype error");
}

template <class T> using Max = Extremum<T, true>;
template <class T> using Min = Extremum<T, false>;
template <class T> using ArgMax = Arg<T, true>;
template <class T> using ArgMin = Arg<T, false>;

void dispatch(ReduceOp op, const ArrayView& x, const std::vector<bool>& red, const ArrayView& out) {
  switch (op) {
    case ReduceOp::sum: return run_numeric<Sum>(x.dtype, x, red, out);
    case ReduceOp::prod: return run_numeric<Prod>(x.dtype, x, red, out);
    case ReduceOp::max: return run_numeric<Max>(x.dtype, x, red, out);
    case ReduceOp::min: return run_numeric<Min>(x.dtype, x, red, out);
    case ReduceOp::argmax: return run_numeric<ArgMax>(x.dtype, x, red, out);
    case ReduceOp::argmin: return run_numeric<ArgMin>(x.dtype, x, red, out);
    case ReduceOp::all: return run_reduce<Logic<true>>(x, red, out);
    case ReduceOp::any: return run_reduce<Logic<false>>(x, red, out);
  }
}

}  // namespace

void Cpu::reduce(ReduceOp op, const ArrayView& x, const std::vector<bool>& reduced,
                 const ArrayView& out) {
  dispatch(op, x, reduced, out);
}

void bind_reduce(py::module_& m) { bind::reduce<Cpu>(m); }

}  // namespace tg
