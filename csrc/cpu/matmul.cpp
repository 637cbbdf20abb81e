// Matrix multiply on the CPU: out = act(a @ b + bias) or out += a @ b, for 2-D or equally batched
// 3-D operands with any strides. A packed, cache-blocked GEMM in the BLIS loop order (NC / KC /
// MC blocks; A and B packed into contiguous micro-panels straight through their strides, so
// transposed operands are never copied) around a register-blocked microkernel chosen at run
// time: AVX-512 (12 rows x 2 vectors), AVX2/FMA (6 x 2 vectors), or portable C++ (6 x 64 bytes).
// The bias and activation (vectorised float32 forms) are applied while each tile is still hot.
// A C much narrower than a tile is computed transposed; products big enough to pay for waking
// the thread pool are split over threads by blocks of M or N, or over the batch.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_MATMUL_X86 1
#endif

#include "bind/matmul.h"
#include "common.h"
#include "isa.h"
#include "activation_functors.h"
#include "ops/activations.h"
#include "pyarray.h"

namespace tg {
namespace {

// ---------------------------------------------------------------------------------------------
// Activations of the fused epilogue: the functors of activation_functors.h, which the activation
// kernels use too, so that a fused activation gives the bits of the unfused one. They run over
// contiguous rows in vectors of B bytes, the ISA of the caller.
using ops::ActKind;

template <int B, class T, class F>
TG_ALWAYS_INLINE void act_rows_with(const F& f, T* c, int64_t rsc, int mr, int nr) {
  for (int i = 0; i < mr; ++i) act::forward_run<B>(f, c + i * rsc, c + i * rsc, nr);
}

// act over mr rows of nr contiguous values, rows rsc apart, for the kinds the epilogue takes
// (ops/activations.h). A switch, not a lambda: a lambda would not take the ISA of an AVX2 or
// AVX-512 caller.
template <int B, class T>
TG_ALWAYS_INLINE void act_rows(T* c, int64_t rsc, int mr, int nr, ActKind kind) {
  switch (kind) {
#define TG_CASE(name, is_activation, epilogue)                                              \
  case ActKind::name:                                                                       \
    if constexpr (epilogue && ActKind::name != ActKind::none)                               \
      act_rows_with<B>(act::functor_for<ActKind::name, T>(0.0, 0.0), c, rsc, mr, nr);       \
    return;
    TG_ACT_KINDS(TG_CASE)
#undef TG_CASE
  }
}

template <class T>
void act_rows_generic(T* c, int64_t rsc, int mr, int nr, ActKind act) {
  act_rows<16>(c, rsc, mr, nr, act);
}
#if defined(__x86_64__) || defined(__i386__)
template <class T>
TG_TARGET_AVX2 void act_rows_avx2(T* c, int64_t rsc, int mr, int nr, ActKind act) {
  act_rows<32>(c, rsc, mr, nr, act);
}
template <class T>
TG_TARGET_AVX512 void act_rows_avx512(T* c, int64_t rsc, int mr, int nr, ActKind act) {
  act_rows<64>(c, rsc, mr, nr, act);
}
#endif

// act_rows in the vectors of the CPU path that runs (for code compiled for no ISA of its own;
// every path computes the same values, as the activation kernels' paths do).
template <class T>
void act_rows_any(T* c, int64_t rsc, int mr, int nr, ActKind act) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx512()) return act_rows_avx512(c, rsc, mr, nr, act);
  if (use_avx2()) return act_rows_avx2(c, rsc, mr, nr, act);
#endif
  act_rows_generic(c, rsc, mr, nr, act);
}

// ---------------------------------------------------------------------------------------------
// One matrix product C[M,N] (op)= A[M,K] @ B[K,N] with element strides.
template <class T>
struct Problem {
  int64_t M, N, K;
  const T* a;
  int64_t sam, sak;
  const T* b;
  int64_t sbk, sbn;
  T* c;
  int64_t scm, scn;
  const T* bias;  // contiguous, length N (or M when bias_on_rows), or null
  bool bias_on_rows;
  ActKind act;
  bool accumulate;
};

// The same product computed as C^T = B^T A^T: the operands swap roles and every stride pair
// swaps, so nothing moves in memory; the bias then runs along rows.
template <class T>
Problem<T> transposed(const Problem<T>& P) {
  return Problem<T>{P.N, P.M, P.K, P.b, P.sbn, P.sbk, P.a, P.sak, P.sam, P.c, P.scn, P.scm,
                    P.bias, !P.bias_on_rows, P.act, P.accumulate};
}

// ---------------------------------------------------------------------------------------------
// What a microkernel does with its tile once the k-loop is done: add the C already there
// (a later k-block, or accumulate=True), and on the last k-block add the bias and apply act.
template <class T>
struct Epilogue {
  bool load_c;
  const T* bias;      // per column, at the tile's first column; null when none or not last
  const T* row_bias;  // per row, at the tile's first row (a product computed transposed)
  ActKind act;            // ActKind::none when not the last k-block
};

// The general store: a tile computed into `acc` (row-major, leading dimension ld; the
// epilogue is applied in it) goes to C through any strides, for edge tiles and non-unit column
// strides.
template <class T>
void store_tile(T* acc, int ld, T* c, int64_t rsc, int64_t csc, int mr, int nr,
                const Epilogue<T>& e) {
  for (int i = 0; i < mr; ++i) {
    for (int j = 0; j < nr; ++j) {
      T& v = acc[i * ld + j];
      if (e.load_c) v += c[i * rsc + j * csc];
      if (e.bias) v += e.bias[j];
      if (e.row_bias) v += e.row_bias[i];
    }
  }
  act_rows_any(acc, ld, mr, nr, e.act);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * rsc + j * csc] = acc[i * ld + j];
}

// ---------------------------------------------------------------------------------------------
// Small products (see kSmallWork), where packing and padded MR x NR tiles would cost more than
// the arithmetic. C is computed in strips W columns wide (one vector), a row of a strip at a
// time along contiguous rows of B (B is first copied into that layout when its rows are
// strided). Each element is the same chain of operations as in the microkernels: k ascending
// from zero, fused multiply-adds where the ISA has them as there, then the epilogue in the same
// order; so the result does not depend on which path computed it.
template <bool kFma, class T>
TG_ALWAYS_INLINE T multiply_add(T a, T b, T c) {
  if constexpr (kFma) {
    return std::fma(a, b, c);
  } else {
    return c + a * b;
  }
}

template <class T, bool kFma, int W>
TG_ALWAYS_INLINE void gemm_small_body(const Problem<T>& P, T* packed_b) {
  const int64_t M = P.M, N = P.N, K = P.K;
  const T* b = P.b;
  int64_t ldb = P.sbk;
  if (P.sbn != 1) {
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) packed_b[k * N + j] = P.b[k * P.sbk + j * P.sbn];
    b = packed_b;
    ldb = N;
  }
  const T* col_bias = P.bias && !P.bias_on_rows ? P.bias : nullptr;
  const T* row_bias = P.bias && P.bias_on_rows ? P.bias : nullptr;
  for (int64_t j0 = 0; j0 < N; j0 += W) {
    const int w = static_cast<int>(std::min<int64_t>(W, N - j0));
    for (int64_t i = 0; i < M; ++i) {
      alignas(64) T acc[W];
      for (int j = 0; j < W; ++j) acc[j] = T(0);
      const T* a = P.a + i * P.sam;
      const T* bs = b + j0;
      if (w == W) {
        for (int64_t k = 0; k < K; ++k) {
          const T av = a[k * P.sak];
          _Pragma("GCC unroll 16") for (int j = 0; j < W; ++j)
              acc[j] = multiply_add<kFma>(av, bs[k * ldb + j], acc[j]);
        }
      } else {
        for (int64_t k = 0; k < K; ++k) {
          const T av = a[k * P.sak];
          for (int j = 0; j < w; ++j) acc[j] = multiply_add<kFma>(av, bs[k * ldb + j], acc[j]);
        }
      }
      T* c = P.c + i * P.scm + j0 * P.scn;
      if (P.accumulate)
        for (int j = 0; j < w; ++j) acc[j] += c[j * P.scn];
      if (col_bias)
        for (int j = 0; j < w; ++j) acc[j] += col_bias[j0 + j];
      if (row_bias)
        for (int j = 0; j < w; ++j) acc[j] += row_bias[i];
      act_rows<W * int(sizeof(T))>(acc, 0, 1, w, P.act);
      for (int j = 0; j < w; ++j) c[j * P.scn] = acc[j];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Microkernels. Each computes an MR x NR tile from kc steps of a packed A sliver (MR values per
// step) and a B sliver (NR contiguous values per step, steps ldb apart: packed, or a row-major
// B read in place), then applies the epilogue.
// Every tile goes through the full MR x NR computation, edge tiles included (packing pads with
// zeros), so an element's sum does not depend on where tile or thread boundaries fall.
// A kernel type also carries its k-blocking, KC: the microkernel sweeps an MC x KC block of A
// held in L2 with a KC x NR sliver of B, and a KC x NC panel of B is shared by all the MC
// blocks. MC and NC come from the caches of the machine at hand (cache_blocking below).

template <class T_, int MR_, int NR_>
struct GenericKernel {
  using T = T_;
  static constexpr int MR = MR_, NR = NR_;
  static constexpr int64_t KC = 256;
  static constexpr bool one_sliver_panels = false;
  static constexpr bool simd_pack = false;
  static constexpr bool reads_a_in_place = false;
  static void tile(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                   int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
    alignas(64) T acc[MR * NR] = {};
    for (int64_t p = 0; p < kc; ++p) {
      const T* a = A + p * lda;
      const T* b = B + p * ldb;
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i * NR + j] += a[i] * b[j];
    }
    store_tile(acc, NR, c, rsc, csc, mr, nr, e);
  }
  static void small(const Problem<T>& P, T* packed_b) {
    gemm_small_body<T, false, 16 / sizeof(T)>(P, packed_b);
  }
};

#ifdef TG_MATMUL_X86

// Thin overloads over the intrinsics so one kernel template serves float and double.
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256 set1_256(float x) { return _mm256_set1_ps(x); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256d set1_256(double x) { return _mm256_set1_pd(x); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256 loadu_256(const float* p) { return _mm256_loadu_ps(p); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256d loadu_256(const double* p) { return _mm256_loadu_pd(p); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE void store(float* p, __m256 v) { _mm256_store_ps(p, v); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE void store(double* p, __m256d v) { _mm256_store_pd(p, v); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE void storeu(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE void storeu(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256 fmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256d fmadd(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256d add(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
// max(0, v) keeps a NaN v: maxps returns its second operand when either is NaN.
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256 relu(__m256 v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
TG_TARGET_AVX2 TG_ALWAYS_INLINE __m256d relu(__m256d v) { return _mm256_max_pd(_mm256_setzero_pd(), v); }

TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512 set1_512(float x) { return _mm512_set1_ps(x); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512d set1_512(double x) { return _mm512_set1_pd(x); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512 loadu_512(const float* p) { return _mm512_loadu_ps(p); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512d loadu_512(const double* p) { return _mm512_loadu_pd(p); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE void store(float* p, __m512 v) { _mm512_store_ps(p, v); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE void store(double* p, __m512d v) { _mm512_store_pd(p, v); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE void storeu(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE void storeu(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512 fmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512d fmadd(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512d add(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }
// A blend on "v < 0" (false for NaN) rather than maxps, whose masked form trips GCC's
// uninitialised-variable warning inside the intrinsic header.
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512 relu(__m512 v) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                              _mm512_setzero_ps());
}
TG_TARGET_AVX512 TG_ALWAYS_INLINE __m512d relu(__m512d v) {
  return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_LT_OQ), v,
                              _mm512_setzero_pd());
}

// The ISA kernels below share this body; only the vector width and the target differ, and where
// A comes from: row i of step p at A[p * lda + i], in a packed sliver (lda = MR) or read in place
// from a column-major A (A_ROW(i) = i, A_STEP = lda), or at A[i * lda + p] read in place from a
// row-major A (A_ROW(i) = i * lda, A_STEP = 1).
// MR rows by NV vectors: MR*NV accumulators, NV loads of B and MR broadcasts of A per step.
#define TG_TILE_BODY(LOADU, SET1, ACT_ROWS, W, A_ROW, A_STEP)                                      \
  using V = decltype(SET1(T(0)));                                                            \
  constexpr int NR = NV * W;                                                                 \
  const bool full = mr == MR && nr == NR && csc == 1;                                        \
  if (full)                                                                                  \
    for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0); \
  V acc[MR][NV];                                                                             \
  _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                      \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = SET1(T(0));           \
  _Pragma("GCC unroll 4") for (int64_t p = 0; p < kc; ++p) {                                 \
    V b[NV];                                                                                 \
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) b[v] = LOADU(B + v * W);            \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {                                  \
      const V a = SET1(A[A_ROW(i)]);                                                         \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(a, b[v], acc[i][v]); \
    }                                                                                        \
    A += A_STEP;                                                                             \
    B += ldb;                                                                                \
  }                                                                                          \
  if (full) {                                                                                \
    V bias[NV];                                                                              \
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                     \
        bias[v] = e.bias ? LOADU(e.bias + v * W) : SET1(T(0));                               \
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {                                  \
      T* row = c + i * rsc;                                                                  \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {                                 \
        V x = acc[i][v];                                                                     \
        if (e.load_c) x = add(x, LOADU(row + v * W));                                        \
        if (e.bias) x = add(x, bias[v]);                                                     \
        if (e.row_bias) x = add(x, SET1(e.row_bias[i]));                                     \
        if (e.act == ActKind::relu) x = relu(x);                                                 \
        storeu(row + v * W, x);                                                              \
      }                                                                                      \
    }                                                                                        \
    if (e.act != ActKind::none && e.act != ActKind::relu) ACT_ROWS(c, rsc, MR, NR, e.act);           \
    return;                                                                                  \
  }                                                                                          \
  alignas(64) T buf[MR * NR];                                                                \
  _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i)                                      \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) store(buf + i * NR + v * W, acc[i][v]); \
  store_tile(buf, NR, c, rsc, csc, mr, nr, e);

#define TG_PACKED_ROW(i) (i)
#define TG_DIRECT_ROW(i) ((i) * lda)
template <class T, int MR, int NV>
TG_TARGET_AVX2 void tile_avx2(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                              int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
  TG_TILE_BODY(loadu_256, set1_256, act_rows_avx2, int(32 / sizeof(T)), TG_PACKED_ROW, lda)
}

template <class T, int MR, int NV>
TG_TARGET_AVX512 void tile_avx512(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb,
                                  T* c, int64_t rsc, int64_t csc, int mr, int nr,
                                  const Epilogue<T>& e) {
  TG_TILE_BODY(loadu_512, set1_512, act_rows_avx512, int(64 / sizeof(T)), TG_PACKED_ROW, lda)
}

template <class T, int MR, int NV>
TG_TARGET_AVX2 void tile_direct_a_avx2(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb,
                                       T* c, int64_t rsc, int64_t csc, int mr, int nr,
                                       const Epilogue<T>& e) {
  TG_TILE_BODY(loadu_256, set1_256, act_rows_avx2, int(32 / sizeof(T)), TG_DIRECT_ROW, 1)
}

template <class T, int MR, int NV>
TG_TARGET_AVX512 void tile_direct_a_avx512(int64_t kc, const T* A, int64_t lda, const T* B,
                                           int64_t ldb, T* c, int64_t rsc, int64_t csc, int mr,
                                           int nr, const Epilogue<T>& e) {
  TG_TILE_BODY(loadu_512, set1_512, act_rows_avx512, int(64 / sizeof(T)), TG_DIRECT_ROW, 1)
}
#undef TG_PACKED_ROW
#undef TG_DIRECT_ROW
#undef TG_TILE_BODY

template <class T>
TG_TARGET_AVX2 void small_avx2(const Problem<T>& P, T* packed_b) {
  gemm_small_body<T, true, 32 / sizeof(T)>(P, packed_b);
}
template <class T>
TG_TARGET_AVX512 void small_avx512(const Problem<T>& P, T* packed_b) {
  gemm_small_body<T, true, 64 / sizeof(T)>(P, packed_b);
}

// 6 x 2 vectors: 12 of the 16 ymm registers accumulate.
template <class T_>
struct Avx2Kernel {
  using T = T_;
  static constexpr int MR = 6, NR = 2 * 32 / sizeof(T);
  static constexpr int64_t KC = 256;
  static constexpr bool one_sliver_panels = false;
  static constexpr bool simd_pack = true;
  static constexpr bool reads_a_in_place = false;
  static void tile(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                   int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
    tile_avx2<T, MR, 2>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
  }
  static void small(const Problem<T>& P, T* packed_b) { small_avx2(P, packed_b); }
};

// 12 x 2 vectors: 24 of the 32 zmm registers accumulate.
template <class T_>
struct Avx512Kernel {
  using T = T_;
  static constexpr int MR = 12, NR = 2 * 64 / sizeof(T);
  static constexpr int64_t KC = 512;
  static constexpr bool one_sliver_panels = false;
  static constexpr bool simd_pack = true;
  static constexpr bool reads_a_in_place = false;
  static void tile(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                   int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
    tile_avx512<T, MR, 2>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
  }
  static void small(const Problem<T>& P, T* packed_b) { small_avx512(P, packed_b); }
};

// 12 x 1 vector (AVX2) and 24 x 1 vector (AVX-512): for a C at most one vector wide. The
// KC x NR sliver of B stays in L1. KC is the wide kernel's: the k-blocks, whose partial sums C
// accumulates, must fall in the same places for the results to be the same. Each element of A
// takes part in at most NR multiply-adds here, so packing A would cost as much as the
// arithmetic: a row-major A is read in place (tile_direct_a), its full slivers at least (an edge
// sliver is packed, padded with zeros).
template <class T_, bool Avx512>
struct NarrowKernel {
  using T = T_;
  using Wide = std::conditional_t<Avx512, Avx512Kernel<T>, Avx2Kernel<T>>;
  static constexpr int MR = Avx512 ? 24 : 12, NR = (Avx512 ? 64 : 32) / sizeof(T);
  static constexpr int64_t KC = Wide::KC;
  static constexpr bool one_sliver_panels = true;  // a panel of B is one NR-wide sliver
  static constexpr bool simd_pack = true;
  static constexpr bool reads_a_in_place = true;
  static void tile(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                   int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
    if constexpr (Avx512) tile_avx512<T, MR, 1>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
    else tile_avx2<T, MR, 1>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
  }
  static void tile_direct_a(int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* c,
                            int64_t rsc, int64_t csc, int mr, int nr, const Epilogue<T>& e) {
    if constexpr (Avx512) tile_direct_a_avx512<T, MR, 1>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
    else tile_direct_a_avx2<T, MR, 1>(kc, A, lda, B, ldb, c, rsc, csc, mr, nr, e);
  }
};

#endif  // TG_MATMUL_X86

// The packing of a sliver whose R lines (rows of A, or columns of B) are each contiguous along
// k, `ld` apart: dst[p * R + r] = src[r * ld + p]. This is a transpose, the common case (a
// row-major A; B = W.T of a row-major weight), so it gets in-register transposes.
template <int R, class T>
void pack_lines(const T* src, int64_t ld, int64_t kc, T* dst) {
  for (int64_t p = 0; p < kc; ++p)
    for (int r = 0; r < R; ++r) dst[p * R + r] = src[r * ld + p];
}

#ifdef TG_MATMUL_X86
// 8 lines x 8 steps of floats through 8x8 transposes, 4 lines x 8 steps through 4x8 ones.
template <int R>
TG_TARGET_AVX2 void pack_lines_avx2(const float* src, int64_t ld,
                                                         int64_t kc, float* dst) {
  int64_t p0 = 0;
  for (; p0 + 8 <= kc; p0 += 8) {
    float* d = dst + p0 * R;
    int r0 = 0;
    for (; r0 + 8 <= R; r0 += 8) {
      const float* s = src + r0 * ld + p0;
      const __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + ld),
                   x2 = _mm256_loadu_ps(s + 2 * ld), x3 = _mm256_loadu_ps(s + 3 * ld),
                   x4 = _mm256_loadu_ps(s + 4 * ld), x5 = _mm256_loadu_ps(s + 5 * ld),
                   x6 = _mm256_loadu_ps(s + 6 * ld), x7 = _mm256_loadu_ps(s + 7 * ld);
      // Interleave pairs of lines, then pairs of pairs: each 128-bit half of u_k holds step k
      // (low half) or k + 4 (high half) of four lines.
      const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1),
                   t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3),
                   t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5),
                   t6 = _mm256_unpacklo_ps(x6, x7), t7 = _mm256_unpackhi_ps(x6, x7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                   u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                   u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* o = d + r0;
      _mm256_storeu_ps(o + 0 * R, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(o + 1 * R, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(o + 2 * R, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(o + 3 * R, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(o + 4 * R, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(o + 5 * R, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(o + 6 * R, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(o + 7 * R, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    for (; r0 + 4 <= R; r0 += 4) {
      const float* s = src + r0 * ld + p0;
      const __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + ld),
                   x2 = _mm256_loadu_ps(s + 2 * ld), x3 = _mm256_loadu_ps(s + 3 * ld);
      const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1),
                   t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                   u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      float* o = d + r0;
      _mm_storeu_ps(o + 0 * R, _mm256_castps256_ps128(u0));
      _mm_storeu_ps(o + 1 * R, _mm256_castps256_ps128(u1));
      _mm_storeu_ps(o + 2 * R, _mm256_castps256_ps128(u2));
      _mm_storeu_ps(o + 3 * R, _mm256_castps256_ps128(u3));
      _mm_storeu_ps(o + 4 * R, _mm256_extractf128_ps(u0, 1));
      _mm_storeu_ps(o + 5 * R, _mm256_extractf128_ps(u1, 1));
      _mm_storeu_ps(o + 6 * R, _mm256_extractf128_ps(u2, 1));
      _mm_storeu_ps(o + 7 * R, _mm256_extractf128_ps(u3, 1));
    }
    for (; r0 < R; ++r0)
      for (int q = 0; q < 8; ++q) d[q * R + r0] = src[r0 * ld + p0 + q];
  }
  for (int64_t p = p0; p < kc; ++p)
    for (int r = 0; r < R; ++r) dst[p * R + r] = src[r * ld + p];
}

// 4 lines x 4 steps of doubles through 4x4 transposes.
template <int R>
TG_TARGET_AVX2 void pack_lines_avx2(const double* src, int64_t ld,
                                                         int64_t kc, double* dst) {
  int64_t p0 = 0;
  for (; p0 + 4 <= kc; p0 += 4) {
    double* d = dst + p0 * R;
    int r0 = 0;
    for (; r0 + 4 <= R; r0 += 4) {
      const double* s = src + r0 * ld + p0;
      const __m256d x0 = _mm256_loadu_pd(s), x1 = _mm256_loadu_pd(s + ld),
                    x2 = _mm256_loadu_pd(s + 2 * ld), x3 = _mm256_loadu_pd(s + 3 * ld);
      const __m256d t0 = _mm256_unpacklo_pd(x0, x1), t1 = _mm256_unpackhi_pd(x0, x1),
                    t2 = _mm256_unpacklo_pd(x2, x3), t3 = _mm256_unpackhi_pd(x2, x3);
      double* o = d + r0;
      _mm256_storeu_pd(o + 0 * R, _mm256_permute2f128_pd(t0, t2, 0x20));
      _mm256_storeu_pd(o + 1 * R, _mm256_permute2f128_pd(t1, t3, 0x20));
      _mm256_storeu_pd(o + 2 * R, _mm256_permute2f128_pd(t0, t2, 0x31));
      _mm256_storeu_pd(o + 3 * R, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
    for (; r0 < R; ++r0)
      for (int q = 0; q < 4; ++q) d[q * R + r0] = src[r0 * ld + p0 + q];
  }
  for (int64_t p = p0; p < kc; ++p)
    for (int r = 0; r < R; ++r) dst[p * R + r] = src[r * ld + p];
}
#endif  // TG_MATMUL_X86

template <int R, bool Simd, class T>
inline void pack_lines_any(const T* src, int64_t ld, int64_t kc, T* dst) {
#ifdef TG_MATMUL_X86
  if constexpr (Simd) return pack_lines_avx2<R>(src, ld, kc, dst);
#endif
  pack_lines<R>(src, ld, kc, dst);
}

// Packs rows [0, mc) x cols [0, kc) of A (element (i, p) at a[i*sam + p*sak]) into slivers of
// MR rows: sliver s holds, for each p, the MR values A[s*MR + i, p]; missing rows are zeros.
template <int MR, bool Simd, class T>
void pack_a(int64_t mc, int64_t kc, const T* a, int64_t sam, int64_t sak, T* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
    const T* src = a + i0 * sam;
    if (mr == MR && sam == 1) {
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[p * sak + i];
    } else if (mr == MR && sak == 1) {
      pack_lines_any<MR, Simd>(src, sam, kc, dst);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int i = 0; i < mr; ++i) dst[p * MR + i] = src[i * sam + p * sak];
        for (int i = mr; i < MR; ++i) dst[p * MR + i] = T(0);
      }
    }
  }
}

// Packs rows [0, kc) x cols [0, nc) of B (element (p, j) at b[p*sbk + j*sbn]) into slivers of
// NR columns: sliver s holds, for each p, the NR values B[p, s*NR + j]; missing columns are 0.
template <int NR, bool Simd, class T>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t sbk, int64_t sbn, T* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j0));
    const T* src = b + j0 * sbn;
    if (nr == NR && sbn == 1) {
      for (int64_t p = 0; p < kc; ++p)
        for (int j = 0; j < NR; ++j) dst[p * NR + j] = src[p * sbk + j];
    } else if (nr == NR && sbk == 1) {
      pack_lines_any<NR, Simd>(src, sbn, kc, dst);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int j = 0; j < nr; ++j) dst[p * NR + j] = src[p * sbk + j * sbn];
        for (int j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
      }
    }
  }
}

// Per-thread packing buffers, kept between calls (pool threads are persistent) and grown on
// demand; 64-byte aligned so packed slivers start on cache lines.
struct PackBuffer {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> mem;
  size_t bytes = 0;

  void* get(size_t n) {
    if (n > bytes) {
      n = (n + 4095) & ~size_t(4095);
      void* p = std::aligned_alloc(64, n);
      TG_CHECK_RT(p != nullptr, "matmul: out of memory allocating a ", n, "-byte packing buffer");
      mem.reset(p);
      bytes = n;
    }
    return mem.get();
  }
};

thread_local PackBuffer t_pack_a, t_pack_b;
// linear_backward's gz and column sums (its GEMMs use the packing buffers meanwhile).
thread_local PackBuffer t_linear_gz, t_linear_sums;

// The blocked product over rows [m0, m1) and columns [n0, n1) of C, on the calling thread.
// The cache blocking of kernel KT on this machine, MC rows of A and NC columns of B: an MC x KC
// block of A fills about a quarter of L2 (the rest holds the B slivers streaming through and
// C's tiles), a KC x NC panel of B about half of this core's share of L3. The k-blocks, KC, are
// fixed per kernel instead: they decide where partial sums are added, so they must not vary
// from machine to machine. MC and NC only decide the order in which tiles are computed, and
// results do not depend on them (tests/test_kernels_matmul.py).
template <class KT>
std::pair<int64_t, int64_t> cache_blocking() {
  constexpr int64_t MR = KT::MR, NR = KT::NR;
  constexpr int64_t panel_row = KT::KC * int64_t(sizeof(typename KT::T));  // bytes per row of A
  const CpuCaches caches = cpu_caches();
  const int64_t mc = std::clamp<int64_t>(caches.l2 / 4 / panel_row / MR, 1, 64) * MR;
  const int64_t nc = KT::one_sliver_panels
                         ? NR
                         : std::clamp<int64_t>(caches.l3 / 2 / panel_row / NR, 1, 512) * NR;
  return {mc, nc};
}

// The largest step between an operand's k-steps (bytes) at which the GEMM reads its slivers
// in place rather than packing them: the KC steps of one sliver then span at most KC / 16 pages,
// which the first-level TLB holds, and packing would only copy what is already dense.
constexpr int64_t kInPlaceStride = 256;

template <class KT>
void gemm_block(const Problem<typename KT::T>& P, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1) {
  using T = typename KT::T;
  constexpr int MR = KT::MR, NR = KT::NR;
  constexpr int64_t KC = KT::KC;
  const auto [MC, NC] = cache_blocking<KT>();
  // Equal k-blocks, so a K just above KC does not leave a thin last block.
  const int64_t kb = (P.K + KC - 1) / KC, kstep = (P.K + kb - 1) / kb;
  const int64_t mc_max = std::min(MC, (m1 - m0 + MR - 1) / MR * MR);
  const int64_t nc_max = std::min(NC, (n1 - n0 + NR - 1) / NR * NR);
  T* pa = static_cast<T*>(t_pack_a.get(sizeof(T) * mc_max * kstep));
  T* pb = static_cast<T*>(t_pack_b.get(sizeof(T) * nc_max * kstep));
  // A row-major B is read in place rather than copied first when each of its slivers is used
  // once (a single sliver of A rows), or when all of it fits in half of L1 whatever its row
  // stride.
  const bool direct_b = P.sbn == 1 && (m1 - m0 <= MR || P.K * (n1 - n0) * int64_t(sizeof(T)) <=
                                                            cpu_caches().l1d / 2 ||
                                       P.sbk * int64_t(sizeof(T)) <= kInPlaceStride);
  const bool direct_a = KT::reads_a_in_place && P.sak == 1;
  // A column-major A (a transposed view: the weight gradient's gz.T) with short columns is
  // read in place by the wide kernels as well: its MR rows at step p are already contiguous,
  // as a packed sliver's are, only further apart.
  const bool in_place_a = !KT::reads_a_in_place && P.sam == 1 &&
                          P.sak * int64_t(sizeof(T)) <= kInPlaceStride;

  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = 0; pc < P.K; pc += kstep) {
      const int64_t kc = std::min(kstep, P.K - pc);
      const bool last = pc + kc == P.K;
      const T* bpanel = P.b + pc * P.sbk + jc * P.sbn;
      if (!direct_b) pack_b<NR, KT::simd_pack>(kc, nc, bpanel, P.sbk, P.sbn, pb);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        check_interrupt();  // an MC x KC x NC block: a few milliseconds at most
        const int64_t mc = std::min(MC, m1 - ic);
        const T* ablock = P.a + ic * P.sam + pc * P.sak;
        if (!direct_a && !in_place_a) pack_a<MR, KT::simd_pack>(mc, kc, ablock, P.sam, P.sak, pa);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const T* col_bias = last && P.bias && !P.bias_on_rows ? P.bias + jc + jr : nullptr;
          const T* row_bias = last && P.bias && P.bias_on_rows ? P.bias + ic : nullptr;
          const T* bs = pb + jr * kc;
          int64_t ldb = NR;
          if (direct_b && nr == NR) {
            bs = bpanel + jr;
            ldb = P.sbk;
          } else if (direct_b) {
            pack_b<NR, KT::simd_pack>(kc, nr, bpanel + jr, P.sbk, P.sbn, pb);
            bs = pb;
          }
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            const Epilogue<T> e{P.accumulate || pc > 0, col_bias, row_bias ? row_bias + ir : nullptr,
                                last ? P.act : ActKind::none};
            T* c = P.c + (ic + ir) * P.scm + (jc + jr) * P.scn;
            if constexpr (KT::reads_a_in_place) {
              if (direct_a && mr == MR) {
                KT::tile_direct_a(kc, ablock + ir * P.sam, P.sam, bs, ldb, c, P.scm, P.scn, mr, nr, e);
                continue;
              }
              if (direct_a) {  // the edge sliver, packed with zero rows
                pack_a<MR, KT::simd_pack>(mr, kc, ablock + ir * P.sam, P.sam, P.sak, pa);
                KT::tile(kc, pa, MR, bs, ldb, c, P.scm, P.scn, mr, nr, e);
                continue;
              }
            }
            if (in_place_a && mr == MR) {
              KT::tile(kc, ablock + ir, P.sak, bs, ldb, c, P.scm, P.scn, mr, nr, e);
              continue;
            }
            if (in_place_a) {  // the edge sliver, packed with zero rows
              pack_a<MR, KT::simd_pack>(mr, kc, ablock + ir, P.sam, P.sak, pa);
              KT::tile(kc, pa, MR, bs, ldb, c, P.scm, P.scn, mr, nr, e);
              continue;
            }
            KT::tile(kc, pa + ir * kc, MR, bs, ldb, c, P.scm, P.scn, mr, nr, e);
          }
        }
      }
    }
  }
}

// K == 0: the product is zero, so out = act(bias) (or act(0)), or unchanged when accumulating.
template <class T>
void gemm_empty_k(const Problem<T>& P) {
  if (P.accumulate) return;
  std::vector<T> row(P.N, T(0));
  if (P.bias && !P.bias_on_rows) std::copy(P.bias, P.bias + P.N, row.begin());
  for (int64_t i = 0; i < P.M; ++i) {
    if (P.bias && P.bias_on_rows) std::fill(row.begin(), row.end(), P.bias[i]);
    if (i == 0 || (P.bias && P.bias_on_rows)) act_rows_any(row.data(), 0, 1, int(P.N), P.act);
    for (int64_t j = 0; j < P.N; ++j) P.c[i * P.scm + j * P.scn] = row[j];
  }
}

// Work (M*N*K multiply-adds) below which a product runs on one thread: waking the pool costs
// more than it saves.
constexpr int64_t kParallelWork = int64_t(96) * 96 * 96;

template <class KT>
void gemm_oriented(const Problem<typename KT::T>& P, int nthreads) {
  const int64_t work = P.M * P.N * P.K;
  if (nthreads <= 1 || work < kParallelWork) return gemm_block<KT>(P, 0, P.M, 0, P.N);

  // Split C into mt x nt parts of whole micro-tiles. Splitting N makes every thread pack all
  // of A (and splitting M, all of B), so pick the split with the least padded work plus
  // redundant packing.
  constexpr int MR = KT::MR, NR = KT::NR;
  const int64_t mu = (P.M + MR - 1) / MR, nu = (P.N + NR - 1) / NR;
  int parts = static_cast<int>(std::min<int64_t>(nthreads, mu * nu));
  int best_mt = 1;
  double best_cost = -1;
  for (int mt = 1; mt <= parts; ++mt) {
    if (parts % mt) continue;
    const int nt = parts / mt;
    if (mt > mu || nt > nu) continue;
    const double rows = double((mu + mt - 1) / mt) * MR, cols = double((nu + nt - 1) / nt) * NR;
    const double cost = rows * cols * double(P.K) + double(P.K) * (rows * (nt - 1) + cols * (mt - 1));
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best_mt = mt;
    }
  }
  if (best_cost < 0) {  // no exact factorisation fits: split the longer side only
    best_mt = mu >= nu ? static_cast<int>(std::min<int64_t>(parts, mu)) : 1;
    parts = mu >= nu ? best_mt : static_cast<int>(std::min<int64_t>(parts, nu));
  }
  const int mt = best_mt, nt = parts / best_mt;
  parallel_for(parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t ti = t / nt, tj = t % nt;
      const int64_t m0 = std::min(P.M, mu * ti / mt * MR), m1 = std::min(P.M, mu * (ti + 1) / mt * MR);
      const int64_t n0 = std::min(P.N, nu * tj / nt * NR), n1 = std::min(P.N, nu * (tj + 1) / nt * NR);
      if (m0 < m1 && n0 < n1) gemm_block<KT>(P, m0, m1, n0, n1);
    }
  });
}

// Work (M*N*K multiply-adds) up to which a product with one k-block runs unpacked
// (gemm_small_body): a few microseconds of arithmetic, where packing and the set-up of the
// blocked loops would be most of the time.
constexpr int64_t kSmallWork = int64_t(32) * 32 * 32;

// One product with the kernels of one code path: Wide for most products, Narrow (one vector of
// columns, more rows) for a C at most one vector wide, such as the last layer of a classifier.
// Both compute every element by the same chain of operations, so which one runs changes no
// result.
template <class Wide, class Narrow>
void gemm_one(const Problem<typename Wide::T>& P, int nthreads) {
  using T = typename Wide::T;
  if (P.M == 0 || P.N == 0) return;
  if (P.K == 0) return gemm_empty_k(P);
  if (P.M * P.N * P.K <= kSmallWork && P.K <= Wide::KC) {
    // Along the longer side of C, which its inner loop runs over.
    const Problem<T> Q = P.N >= P.M ? P : transposed(P);
    T* packed_b = Q.sbn == 1 ? nullptr : static_cast<T*>(t_pack_b.get(sizeof(T) * Q.K * Q.N));
    return Wide::small(Q, packed_b);
  }
  // Edge tiles are computed in full, so a C much narrower than NR wastes most of the
  // microkernel's work; computed transposed it pads to MR instead, and a C at most one vector
  // wide has the narrow kernel. Edge tiles, and all tiles when C's rows are not contiguous, go
  // through the scalar store, costed here as kScalarStore multiply-adds per element.
  constexpr double kScalarStore = 48;
  auto cost = [&](auto kt, int64_t rows, int64_t cols, int64_t col_stride) {
    constexpr int64_t MR = decltype(kt)::MR, NR = decltype(kt)::NR;
    if (cols > NR && NR < Wide::NR) return std::numeric_limits<double>::infinity();
    const double padded = double((rows + MR - 1) / MR * MR) * double((cols + NR - 1) / NR * NR);
    const double scalar = col_stride != 1 ? double(rows) * double(cols)
                                          : double(rows) * double(cols % NR) +
                                                double(rows % MR) * double(cols - cols % NR);
    return padded * double(P.K) + kScalarStore * scalar;
  };
  const double costs[4] = {cost(Wide{}, P.M, P.N, P.scn), cost(Wide{}, P.N, P.M, P.scm),
                           cost(Narrow{}, P.M, P.N, P.scn), cost(Narrow{}, P.N, P.M, P.scm)};
  const int best = static_cast<int>(std::min_element(costs, costs + 4) - costs);
  const Problem<T> Q = best % 2 ? transposed(P) : P;
  if (best < 2) return gemm_oriented<Wide>(Q, nthreads);
  gemm_oriented<Narrow>(Q, nthreads);
}

// A batch of products with per-batch element offsets (0 for a broadcast operand).
template <class T>
struct Batch {
  int64_t count;
  int64_t sa, sb, sc;
};

template <class Wide, class Narrow>
void gemm_batched(const Problem<typename Wide::T>& P, const Batch<typename Wide::T>& B) {
  using T = typename Wide::T;
  auto item = [&](int64_t i) {
    Problem<T> Q = P;
    Q.a += i * B.sa;
    Q.b += i * B.sb;
    Q.c += i * B.sc;
    return Q;
  };
  const int nthreads = get_num_threads();
  const int64_t work = P.M * P.N * P.K;
  // Whole products per thread when there are enough of them to share out evenly, or when each
  // is too small to split; otherwise each product is split across the threads in turn.
  const bool over_batch = B.count > 1 && nthreads > 1 && work * B.count >= kParallelWork &&
                          (work < kParallelWork || B.count % nthreads == 0 || B.count >= 4 * nthreads);
  if (over_batch) {
    const int64_t grain = std::max<int64_t>(1, kParallelWork / std::max<int64_t>(work, 1));
    parallel_for(B.count, grain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) gemm_one<Wide, Narrow>(item(i), 1);
    });
  } else {
    for (int64_t i = 0; i < B.count; ++i) gemm_one<Wide, Narrow>(item(i), nthreads);
  }
}

template <class T>
void matmul_kernel(const Problem<T>& P, const Batch<T>& B) {
  switch (cpu_isa()) {
#ifdef TG_MATMUL_X86
    case CpuIsa::avx512: return gemm_batched<Avx512Kernel<T>, NarrowKernel<T, true>>(P, B);
    case CpuIsa::avx2: return gemm_batched<Avx2Kernel<T>, NarrowKernel<T, false>>(P, B);
#endif
    default: {
      using Portable = GenericKernel<T, 6, 64 / sizeof(T)>;
      return gemm_batched<Portable, Portable>(P, B);
    }
  }
}

// linear_backward's elementwise passes, compiled once per ISA (the loops vectorise; there is
// no FMA contraction, so every ISA gives the same numbers): gz rows [b, e) = g * act'(y), and
// column sums of gz into double accumulators.
template <class T>
struct GzRows {
  const T* g;
  int64_t gs0, gs1;
  const T* y;  // null when act is none
  int64_t ys0, ys1;
  ActKind act;
  int64_t O;
  T* gz;  // C-contiguous (N, O)
};

template <class T>
TG_ALWAYS_INLINE void gz_rows_body(const GzRows<T>& a, int64_t b, int64_t e) {
  const int64_t O = a.O, gs1 = a.gs1, ys1 = a.ys1;
  for (int64_t i = b; i < e; ++i) {
    const T* __restrict__ gr = a.g + i * a.gs0;
    const T* __restrict__ yr = a.y ? a.y + i * a.ys0 : nullptr;
    T* __restrict__ zr = a.gz + i * O;
    const bool unit = gs1 == 1 && ys1 == 1;
    switch (a.act) {
      case ActKind::relu:
        // Both loads unconditional, so that the select compiles to a blend (the signs of y are
        // random: a branch would mispredict half the time).
        if (unit) {
          for (int64_t j = 0; j < O; ++j) {
            const T gj = gr[j];
            zr[j] = yr[j] <= T(0) ? T(0) : gj;
          }
        } else {
          for (int64_t j = 0; j < O; ++j) {
            const T gj = gr[j * gs1];
            zr[j] = yr[j * ys1] <= T(0) ? T(0) : gj;
          }
        }
        break;
      case ActKind::sigmoid:
        if (unit) {
          for (int64_t j = 0; j < O; ++j) zr[j] = gr[j] * (T(1) - yr[j]) * yr[j];
        } else {
          for (int64_t j = 0; j < O; ++j) {
            const T v = yr[j * ys1];
            zr[j] = gr[j * gs1] * (T(1) - v) * v;
          }
        }
        break;
      case ActKind::tanh:
        if (unit) {
          for (int64_t j = 0; j < O; ++j) zr[j] = gr[j] * (T(1) - yr[j] * yr[j]);
        } else {
          for (int64_t j = 0; j < O; ++j) {
            const T v = yr[j * ys1];
            zr[j] = gr[j * gs1] * (T(1) - v * v);
          }
        }
        break;
      default:
        for (int64_t j = 0; j < O; ++j) zr[j] = gr[j * gs1];
    }
  }
}

// acc[j] += gz[i, j] for every row i in order: one order for every thread count, and each
// column's sum carries no float rounding until the end.
template <class T>
TG_ALWAYS_INLINE void column_sums_body(const T* gz, int64_t N, int64_t O, double* acc) {
  for (int64_t i = 0; i < N; ++i) {
    const T* __restrict__ zr = gz + i * O;
    double* __restrict__ out = acc;
    for (int64_t j = 0; j < O; ++j) out[j] += double(zr[j]);
  }
}

template <class T>
void gz_rows_generic(const GzRows<T>& a, int64_t b, int64_t e) { gz_rows_body(a, b, e); }
template <class T>
void column_sums_generic(const T* gz, int64_t N, int64_t O, double* acc) {
  column_sums_body(gz, N, O, acc);
}
#ifdef TG_MATMUL_X86
template <class T>
TG_TARGET_AVX2 void gz_rows_avx2(const GzRows<T>& a, int64_t b, int64_t e) { gz_rows_body(a, b, e); }
template <class T>
TG_TARGET_AVX512 void gz_rows_avx512(const GzRows<T>& a, int64_t b, int64_t e) {
  gz_rows_body(a, b, e);
}
template <class T>
TG_TARGET_AVX2 void column_sums_avx2(const T* gz, int64_t N, int64_t O, double* acc) {
  column_sums_body(gz, N, O, acc);
}
template <class T>
TG_TARGET_AVX512 void column_sums_avx512(const T* gz, int64_t N, int64_t O, double* acc) {
  column_sums_body(gz, N, O, acc);
}
#endif

template <class T>
void gz_rows(const GzRows<T>& a, int64_t b, int64_t e) {
  switch (cpu_isa()) {
#ifdef TG_MATMUL_X86
    case CpuIsa::avx512: return gz_rows_avx512(a, b, e);
    case CpuIsa::avx2: return gz_rows_avx2(a, b, e);
#endif
    default: return gz_rows_generic(a, b, e);
  }
}

template <class T>
void column_sums(const T* gz, int64_t N, int64_t O, double* acc) {
  switch (cpu_isa()) {
#ifdef TG_MATMUL_X86
    case CpuIsa::avx512: return column_sums_avx512(gz, N, O, acc);
    case CpuIsa::avx2: return column_sums_avx2(gz, N, O, acc);
#endif
    default: return column_sums_generic(gz, N, O, acc);
  }
}

// The backward of act(x @ w.T + bias) (Linear's forward) in one call, given the upstream
// gradient g (N, out) and the output y (for act != none): gz = g * act'(y), then
// gx = gz @ w, gw = gz.T @ x and gb = column sums of gz (any of the three may be skipped).
// The activation derivatives, as functions of the output, match activations.cpp's backward.
template <class T>
void linear_backward_kernel(const ArrayView& g, const ArrayView& x, const ArrayView& w,
                            const ArrayView* y, ActKind act, const ArrayView* gx,
                            const ArrayView* gw, const ArrayView* gb) {
  const int64_t N = g.shape[0], O = g.shape[1];
  // gz, C-contiguous: the GEMMs below read it as an (N, O) matrix and as its transpose. With no
  // activation it is g itself where g is C-contiguous.
  const T* gp = g.ptr<T>();
  const T* yp = y ? y->ptr<T>() : nullptr;
  const int64_t gs0 = g.strides[0], gs1 = g.strides[1];
  const int64_t ys0 = y ? y->strides[0] : 0, ys1 = y ? y->strides[1] : 0;
  const bool g_is_gz = act == ActKind::none && (N <= 1 || gs0 == O) && (O <= 1 || gs1 == 1);
  T* gz = g_is_gz ? const_cast<T*>(gp) : static_cast<T*>(t_linear_gz.get(sizeof(T) * N * O));
  if (!g_is_gz) {
    const GzRows<T> rows{gp, gs0, gs1, yp, ys0, ys1, act, O, gz};
    parallel_for(N, std::max<int64_t>(1, 32768 / std::max<int64_t>(O, 1)),
                 [&](int64_t b, int64_t e) { gz_rows(rows, b, e); });
  }
  const Batch<T> one{1, 0, 0, 0};
  if (gx) {
    const int64_t I = w.shape[1];
    matmul_kernel(Problem<T>{N, I, O, gz, O, 1, w.ptr<T>(), w.strides[0], w.strides[1],
                             gx->ptr<T>(), gx->strides[0], gx->strides[1], nullptr, false,
                             ActKind::none, false},
                  one);
  }
  if (gw) {
    const int64_t I = x.shape[1];
    matmul_kernel(Problem<T>{O, I, N, gz, 1, O, x.ptr<T>(), x.strides[0], x.strides[1],
                             gw->ptr<T>(), gw->strides[0], gw->strides[1], nullptr, false,
                             ActKind::none, false},
                  one);
  }
  if (gb) {
    double* acc = static_cast<double*>(t_linear_sums.get(sizeof(double) * O));
    std::fill(acc, acc + O, 0.0);
    column_sums(gz, N, O, acc);
    T* bp = gb->ptr<T>();
    for (int64_t j = 0; j < O; ++j) bp[j * gb->strides[0]] = T(acc[j]);
  }
}

}  // namespace

void Cpu::matmul(const ArrayView& a, const ArrayView& b, const ArrayView& out,
                 const std::optional<ArrayView>& bias, const std::string& act_name,
                 bool accumulate, const MatmulSize& s) {
  const ActKind act = ops::parse_epilogue_act(act_name);
  const int o = s.o;
  dispatch_float(a.dtype, "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> bias_buf;
    const T* bias_ptr = bias && bias->strides[0] == 1 ? bias->ptr<T>() : nullptr;
    if (bias && !bias_ptr) {  // a contiguous copy, so the epilogue loads it with vector loads
      bias_buf.resize(static_cast<size_t>(s.N));
      const T* src = bias->ptr<T>();
      for (int64_t j = 0; j < s.N; ++j) bias_buf[j] = src[j * bias->strides[0]];
      bias_ptr = bias_buf.data();
    }
    Problem<T> P{s.M, s.N, s.K,
                 a.ptr<T>(), a.strides[o], a.strides[o + 1],
                 b.ptr<T>(), b.strides[o], b.strides[o + 1],
                 out.ptr<T>(), out.strides[o], out.strides[o + 1],
                 bias_ptr, false, act, accumulate};
    Batch<T> B{s.batch, s.batched ? a.strides[0] : 0, s.batched ? b.strides[0] : 0,
               s.batched ? out.strides[0] : 0};
    matmul_kernel(P, B);
  });
}

void Cpu::linear_backward(const LinearGrads& g, const std::string& act_name) {
  const ActKind act = ops::parse_epilogue_act(act_name);
  dispatch_float(g.g.dtype, "linear_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto ptr = [](const std::optional<ArrayView>& v) { return v ? &*v : nullptr; };
    const ArrayView empty;
    linear_backward_kernel<T>(g.g, g.x ? *g.x : empty, g.w ? *g.w : empty, ptr(g.y), act,
                              ptr(g.gx), ptr(g.gw), ptr(g.gb));
  });
}

void bind_matmul(py::module_& m) {
  bind::matmul<Cpu>(m);
}

}  // namespace tg
