// Matrix multiply on CUDA devices: out = act(a @ b + bias) or out += a @ b, for 2-D or equally
// batched 3-D operands with any strides (transposed views and stride 0 included), and
// linear_backward, the backward of act(x @ w.T + b) in one call. Mirrors csrc/cpu/matmul.cpp:
// the same bindings, checks, messages and results.
//
// Two GEMM engines. Our own tiled kernel is always built (and is the only one without cuBLAS):
// shared-memory tiles read straight through the operands' strides, double-buffered, each thread
// accumulating an 8x8 (float, 128x128 block tiles) or 4x4 (small float products, and double)
// register tile, with bias, activation and accumulate applied in the epilogue; K is split
// across blocks when the output alone cannot fill the GPU. With TAPEGRAD_HAS_CUBLAS, GEMMs with
// K > 0 go to cuBLASLt (the bias fused into its epilogue, activations in a second pass) when its
// library can be loaded at run time (see load_cublaslt); a problem cuBLASLt has no algorithm
// for, or a machine without the library, falls back to the tiled kernel. Activations (forward in
// the epilogue, derivatives in linear_backward) are ops/activations.h's, one kernel
// instantiation per kind.
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#ifdef TAPEGRAD_HAS_CUBLAS
#include <cublasLt.h>
#include <dlfcn.h>
#endif

#include "bind/matmul.h"
#include "common.cuh"
#include "elementwise.cuh"

namespace tg::cuda {
namespace {

template <class T>
constexpr DType dtype_v = std::is_same_v<T, float> ? DType::f32 : DType::f64;

// =============================================================================================
// Kernels

// One product per batch item: C[M,N] (+)= A[M,K] @ B[K,N], element (i, j) of each at
// x[i * s_row + j * s_col] (any strides), item z offset by z * s{a,b,c}. Epilogue, as on the
// CPU: v = acc (+ C when accumulating) (+ bias[j], or bias[i] when bias_on_rows), then act.
template <class T>
struct GemmArgs {
  const T* a;
  const T* b;
  T* c;
  const T* bias;  // null when none
  int64_t M, N, K, batch;
  int64_t sam, sak, sbk, sbn, scm, scn, sbias;
  int64_t sa, sb, sc;
  ActKind act;
  bool accumulate;
  bool bias_on_rows;
  // Split K (tiled kernel only; splits == 1 otherwise): batch item z's k-range is cut into
  // `splits` chunks of kchunk, each computed by its own blocks into ws (contiguous, one M x N
  // matrix per (z, split)) without the epilogue, which splitk_reduce applies after summing.
  int64_t splits, kchunk;
  T* ws;
};

// A 16-byte shared-memory load into registers (the tile rows are padded to keep it aligned).
__device__ __forceinline__ void load16(const float* p, float* d) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  d[0] = v.x;
  d[1] = v.y;
  d[2] = v.z;
  d[3] = v.w;
}
__device__ __forceinline__ void load16(const double* p, double* d) {
  const double2 v = *reinterpret_cast<const double2*>(p);
  d[0] = v.x;
  d[1] = v.y;
}

// A BM x BN block tile of C per block, stepping K by BK; each of the (BM/TM)*(BN/TN) threads
// owns TM x TN elements, taken as 16-byte runs of VW rows (columns) spaced RS (CS) apart, so a
// warp's shared-memory reads of one k-step are contiguous runs (no bank conflicts).
template <class T_, int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileCfg {
  using T = T_;
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int NT = (BM / TM) * (BN / TN);  // threads per block
  static constexpr int VW = 16 / int(sizeof(T));    // elements per 16-byte load
  static constexpr int RS = BM * VW / TM, CS = BN * VW / TN;
  // Pad keeps rows 16-byte aligned and makes the k-fast staging stores conflict-free.
  static constexpr int PAD = 4;
  static constexpr int LA = BM * BK / NT, LB = BK * BN / NT;  // staged elements per thread
  static_assert(BM % TM == 0 && BN % TN == 0 && TM % VW == 0 && TN % VW == 0, "tile shape");
  static_assert(NT % BM == 0 && NT % BN == 0 && NT % BK == 0, "staging slots must tile evenly");
  static_assert(((BM + PAD) * sizeof(T)) % 16 == 0 && ((BN + PAD) * sizeof(T)) % 16 == 0,
                "padded rows must stay 16-byte aligned");
};

using TileF128 = TileCfg<float, 128, 128, 8, 8, 8>;  // float, enough tiles to fill the GPU
using TileF64 = TileCfg<float, 64, 64, 8, 4, 4>;     // float, small products
using TileD64 = TileCfg<double, 64, 64, 8, 4, 4>;    // double

// grid: x over M tiles, y over N tiles and z over the batch, y and z grid-strided (65535 max).
// AK / BNF: stage A walking k fastest (else m) and B walking n fastest (else k), i.e. along
// each operand's unit-stride direction, so a warp's global loads are as contiguous as the
// layout allows. Compile-time, so the staging index math folds to shifts and masks.
template <class C, bool AK, bool BNF, ActKind K>
__global__ void __launch_bounds__(C::NT) gemm_tiled(const GemmArgs<typename C::T> P) {
  using T = typename C::T;
  constexpr int BM = C::BM, BN = C::BN, BK = C::BK, TM = C::TM, TN = C::TN, NT = C::NT;
  constexpr int VW = C::VW, RS = C::RS, CS = C::CS, LA = C::LA, LB = C::LB;
  __shared__ __align__(16) T As[2][BK][BM + C::PAD];
  __shared__ __align__(16) T Bs[2][BK][BN + C::PAD];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = int64_t(blockIdx.x) * BM;

  for (int64_t zs = blockIdx.z; zs < P.batch * P.splits; zs += gridDim.z) {
    const int64_t z = zs / P.splits;
    const int64_t kb = zs % P.splits * P.kchunk;                         // k-range [kb, ke)
    const int64_t ke = P.K - kb < P.kchunk ? P.K : kb + P.kchunk;
    const int64_t ktiles = (ke - kb + BK - 1) / BK;
    const T* A = P.a + z * P.sa;
    const T* B = P.b + z * P.sb;
    // A split's raw partial product goes to its own contiguous matrix in ws.
    const bool raw = P.splits > 1;
    T* const Cz = raw ? P.ws + zs * P.M * P.N : P.c + z * P.sc;
    const int64_t scm = raw ? P.N : P.scm, scn = raw ? 1 : P.scn;
    for (int64_t n0 = int64_t(blockIdx.y) * BN; n0 < P.N; n0 += int64_t(gridDim.y) * BN) {
      // Staging slot r of this thread: element (am(r), ak(r)) of each A tile and (bk(r), bn(r))
      // of each B tile. As NT is a multiple of every tile side, slot r is slot 0 moved r steps
      // along the slow direction (m or k for A, k or n for B), so one pointer per operand walks
      // all the slots.
      auto am = [&](int r) { const int e = tid + r * NT; return AK ? e / BK : e % BM; };
      auto ak = [&](int r) { const int e = tid + r * NT; return AK ? e % BK : e / BM; };
      auto bn = [&](int r) { const int e = tid + r * NT; return BNF ? e % BN : e / BK; };
      auto bk = [&](int r) { const int e = tid + r * NT; return BNF ? e / BN : e % BK; };
      const T* const pa = A + (m0 + am(0)) * P.sam + (kb + ak(0)) * P.sak;
      const T* const pb = B + (kb + bk(0)) * P.sbk + (n0 + bn(0)) * P.sbn;
      const int64_t da = AK ? (NT / BK) * P.sam : (NT / BM) * P.sak;
      const int64_t db = BNF ? (NT / BN) * P.sbk : (NT / BK) * P.sbn;
      // Slots whose row of A (column of B) lies inside the matrix, as bit masks.
      unsigned a_in = 0, b_in = 0;
#pragma unroll
      for (int r = 0; r < LA; ++r) a_in |= unsigned(m0 + am(r) < P.M) << r;
#pragma unroll
      for (int r = 0; r < LB; ++r) b_in |= unsigned(n0 + bn(r) < P.N) << r;
      const int64_t klen = ke - kb;

      T ra[LA], rb[LB];
      // Global -> registers for k-tile t (zeros outside the matrices)...
      auto load = [&](int64_t t) {
        const int64_t k0 = t * BK;
        const int64_t a_kleft = klen - k0 - ak(0), b_kleft = klen - k0 - bk(0);
        const T* p = pa + k0 * P.sak;
#pragma unroll
        for (int r = 0; r < LA; ++r, p += da)
          ra[r] = (a_in >> r & 1u) && ak(r) - ak(0) < a_kleft ? *p : T(0);
        p = pb + k0 * P.sbk;
#pragma unroll
        for (int r = 0; r < LB; ++r, p += db)
          rb[r] = (b_in >> r & 1u) && bk(r) - bk(0) < b_kleft ? *p : T(0);
      };
      // ...and registers -> shared buffer `buf`, both tiles stored k-major.
      auto store = [&](int buf) {
#pragma unroll
        for (int r = 0; r < LA; ++r) As[buf][ak(r)][am(r)] = ra[r];
#pragma unroll
        for (int r = 0; r < LB; ++r) Bs[buf][bk(r)][bn(r)] = rb[r];
      };

      T acc[TM][TN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

      if (ktiles > 0) {
        load(0);
        store(0);
      }
      __syncthreads();
      // One barrier per k-tile: tile kt+1 is fetched into registers while tile kt is
      // multiplied, then stored to the other buffer, which nobody reads until after the barrier
      // (its last readers, in step kt-1, all passed the previous barrier).
      for (int64_t kt = 0; kt < ktiles; ++kt) {
        const int buf = int(kt & 1);
        if (kt + 1 < ktiles) load(kt + 1);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
          T fa[TM], fb[TN];
#pragma unroll
          for (int q = 0; q < TM / VW; ++q) load16(&As[buf][kk][q * RS + ty * VW], fa + q * VW);
#pragma unroll
          for (int q = 0; q < TN / VW; ++q) load16(&Bs[buf][kk][q * CS + tx * VW], fb + q * VW);
#pragma unroll
          for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] += fa[i] * fb[j];
        }
        if (kt + 1 < ktiles) store(buf ^ 1);
        __syncthreads();
      }

#pragma unroll
      for (int i = 0; i < TM; ++i) {
        const int64_t gm = m0 + (i / VW) * RS + ty * VW + i % VW;
        if (gm >= P.M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          const int64_t gn = n0 + (j / VW) * CS + tx * VW + j % VW;
          if (gn >= P.N) continue;
          T* cp = Cz + gm * scm + gn * scn;
          T v = acc[i][j];
          if (!raw) {
            if (P.accumulate) v += *cp;
            if (P.bias) v += P.bias[(P.bias_on_rows ? gm : gn) * P.sbias];
            v = act_fwd<K>(v);
          }
          *cp = v;
        }
      }
    }
  }
}

// Split K's second pass: the splits' partial products summed in a fixed order, then the
// epilogue exactly as gemm_tiled applies it.
template <class T, ActKind K>
__global__ void splitk_reduce(const GemmArgs<T> P) {
  const int64_t n = P.batch * P.M * P.N;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx % P.N, i = (idx / P.N) % P.M, z = idx / (P.N * P.M);
    const T* w = P.ws + (z * P.splits * P.M + i) * P.N + j;
    T v = T(0);
    for (int64_t s = 0; s < P.splits; ++s) v += w[s * P.M * P.N];
    T* cp = P.c + z * P.sc + i * P.scm + j * P.scn;
    if (P.accumulate) v += *cp;
    if (P.bias) v += P.bias[(P.bias_on_rows ? i : j) * P.sbias];
    *cp = act_fwd<K>(v);
  }
}

// The epilogue as a pass of its own, over a C a library GEMM has written: bias then act.
template <class T, ActKind K>
__global__ void bias_act_kernel(const GemmArgs<T> P) {
  const int64_t n = P.batch * P.M * P.N;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx % P.N, i = (idx / P.N) % P.M, z = idx / (P.N * P.M);
    T* cp = P.c + z * P.sc + i * P.scm + j * P.scn;
    T v = *cp;
    if (P.bias) v += P.bias[(P.bias_on_rows ? i : j) * P.sbias];
    *cp = act_fwd<K>(v);
  }
}

// gz = g * act'(.) into a contiguous gz, from the forward output y (relu, sigmoid and tanh, the
// kinds linear_backward takes, all have their derivative as a function of the output, which is
// what the CPU uses); g and y through their (merged) layouts.
template <class T, bool Contig, ActKind K>
__global__ void act_grad_kernel(T* gz, const T* g, const T* y, const Layout lg, const Layout ly,
                                int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const T gv = Contig ? g[i] : g[offset_of(lg, i)];
    const T yv = Contig ? y[i] : y[offset_of(ly, i)];
    gz[i] = act_bwd<K>(gv, yv);
  }
}

// Column sums of an (n x o) matrix, element (i, j) at z[i * s0 + j * s1], accumulated in double
// (as the CPU does). Block (kSumCols x kSumRows) sums kSumCols columns over the rows
// [blockIdx.y * chunk, +chunk): each thread a strided subset in double, then the kSumRows
// partials in a fixed order, so the result does not depend on scheduling. With one row chunk
// the sums go straight to out, else to part[blockIdx.y][j] for colsum_finish.
constexpr int kSumCols = 32, kSumRows = 8;

template <class T>
__global__ void __launch_bounds__(kSumCols * kSumRows)
colsum_partial(const T* z, int64_t s0, int64_t s1, int64_t n, int64_t o, int64_t chunk,
               double* part, T* out, int64_t so) {
  __shared__ double red[kSumRows][kSumCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * kSumCols + tx;
  const int64_t r0 = int64_t(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < n ? r0 + chunk : n;
  double acc = 0.0;
  if (j < o)
    for (int64_t i = r0 + ty; i < r1; i += kSumRows) acc += double(z[i * s0 + j * s1]);
  red[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && j < o) {
    double s = 0.0;
#pragma unroll
    for (int r = 0; r < kSumRows; ++r) s += red[r][tx];
    if (out)
      out[j * so] = T(s);
    else
      part[int64_t(blockIdx.y) * o + j] = s;
  }
}

template <class T>
__global__ void colsum_finish(const double* part, int64_t parts, int64_t o, T* out, int64_t so) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < o;
       j += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t p = 0; p < parts; ++p) s += part[p * o + j];
    out[j * so] = T(s);
  }
}

// =============================================================================================
// Launchers

int sm_count(int device) {
  int sms = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms > 0 ? sms : 1;
}

// Split K when the output has too few tiles to occupy the GPU but K is long (linear_backward's
// gw = gz.T @ x over a large batch is the typical case): each split at least kMinSplitK deep,
// about two blocks per SM in all, partials at most kMaxSplitBytes.
constexpr int64_t kMinSplitK = 512;
constexpr int64_t kMaxSplitBytes = int64_t(64) << 20;

template <class C>
void launch_tiled(GemmArgs<typename C::T> P, int sms, int device) {
  using T = typename C::T;
  const int64_t mt = CEIL_DIV(P.M, int64_t(C::BM)), nt = CEIL_DIV(P.N, int64_t(C::BN));
  TG_CHECK_RT(mt <= int64_t(std::numeric_limits<int32_t>::max()), "matmul: ", P.M,
              " rows are too many for one launch");
  const int64_t tiles = mt * nt * P.batch, mn = P.batch * P.M * P.N;
  int64_t splits = std::min(CEIL_DIV(2 * int64_t(sms), tiles), P.K / kMinSplitK);
  splits = std::min(splits, kMaxSplitBytes / (mn * int64_t(sizeof(T))));
  P.splits = 1;
  P.kchunk = std::max<int64_t>(P.K, 1);
  P.ws = nullptr;
  Scratch ws;
  if (splits > 1) {
    // Chunks of whole k-tiles; rounding up may leave fewer splits than asked.
    P.kchunk = CEIL_DIV(CEIL_DIV(P.K, splits), int64_t(C::BK)) * C::BK;
    P.splits = CEIL_DIV(P.K, P.kchunk);
    ws = scratch(P.splits * mn * int64_t(sizeof(T)), device);
    P.ws = static_cast<T*>(ws->ptr());
  }
  const dim3 grid(static_cast<unsigned>(mt), static_cast<unsigned>(std::min<int64_t>(nt, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(P.batch * P.splits, 65535)));
  // Stage each operand along its unit-stride (else smaller-stride) direction.
  const bool ak = P.sak == 1 || (P.sam != 1 && std::llabs(P.sak) <= std::llabs(P.sam));
  const bool bn = P.sbn == 1 || (P.sbk != 1 && std::llabs(P.sbn) <= std::llabs(P.sbk));
  // The activation is a template argument, chosen here once (no switch per element).
  with_epilogue_act(P.act, [&](auto kind) {
    constexpr ActKind K = decltype(kind)::value;
    if (ak && bn)
      gemm_tiled<C, true, true, K><<<grid, C::NT, 0, stream()>>>(P);
    else if (ak)
      gemm_tiled<C, true, false, K><<<grid, C::NT, 0, stream()>>>(P);
    else if (bn)
      gemm_tiled<C, false, true, K><<<grid, C::NT, 0, stream()>>>(P);
    else
      gemm_tiled<C, false, false, K><<<grid, C::NT, 0, stream()>>>(P);
    CUDA_CHECK_LAUNCH();
    if (P.splits > 1) {
      splitk_reduce<T, K><<<grid_for(mn), kThreads, 0, stream()>>>(P);
      CUDA_CHECK_LAUNCH();
    }
  });
}

template <class T>
void tiled_gemm(const GemmArgs<T>& P, int device) {
  const int sms = sm_count(device);
  if constexpr (std::is_same_v<T, float>) {
    // Big tiles only when there are enough of them to occupy every SM.
    const int64_t big = CEIL_DIV(P.M, int64_t(128)) * CEIL_DIV(P.N, int64_t(128)) * P.batch;
    if (big >= sms)
      launch_tiled<TileF128>(P, sms, device);
    else
      launch_tiled<TileF64>(P, sms, device);
  } else {
    launch_tiled<TileD64>(P, sms, device);
  }
}

template <class T>
void launch_bias_act(const GemmArgs<T>& P) {
  const int64_t n = P.batch * P.M * P.N;
  if (n == 0 || (!P.bias && P.act == ActKind::none)) return;
  with_epilogue_act(P.act, [&](auto kind) {
    bias_act_kernel<T, decltype(kind)::value><<<grid_for(n), kThreads, 0, stream()>>>(P);
    CUDA_CHECK_LAUNCH();
  });
}

// Column sums of z (n x o) into out[j * so], for linear_backward's gb.
template <class T>
void column_sums(const T* z, int64_t s0, int64_t s1, int64_t n, int64_t o, T* out, int64_t so,
                 int device) {
  if (o == 0) return;
  const int64_t col_blocks = CEIL_DIV(o, int64_t(kSumCols));
  TG_CHECK_RT(col_blocks <= int64_t(std::numeric_limits<int32_t>::max()),
              "linear_backward: too many columns for one launch");
  // Row chunks of at least 512 rows (64 per thread), at most 256 of them.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(CEIL_DIV(n, int64_t(512)), 256));
  const int64_t chunk = std::max<int64_t>(1, CEIL_DIV(n, parts));
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(parts));
  const dim3 block(kSumCols, kSumRows);
  if (parts == 1) {
    colsum_partial<T><<<grid, block, 0, stream()>>>(z, s0, s1, n, o, chunk, nullptr, out, so);
    CUDA_CHECK_LAUNCH();
    return;
  }
  Scratch part = scratch(parts * o * int64_t(sizeof(double)), device);
  double* pp = static_cast<double*>(part->ptr());
  colsum_partial<T><<<grid, block, 0, stream()>>>(z, s0, s1, n, o, chunk, pp, nullptr, so);
  CUDA_CHECK_LAUNCH();
  colsum_finish<T><<<grid_for(o), kThreads, 0, stream()>>>(pp, parts, o, out, so);
  CUDA_CHECK_LAUNCH();
}

// A 3-D view (batch, rows, cols) of device memory, for copy_kernel.
template <class T>
ArrayView view3(const T* p, int64_t nb, int64_t r, int64_t c, int64_t sb, int64_t sr, int64_t sc) {
  ArrayView v;
  v.data = const_cast<T*>(p);
  v.dtype = dtype_v<T>;
  v.shape = {nb, r, c};
  v.strides = {sb, sr, sc};
  return v;
}

// =============================================================================================
// cuBLASLt

#ifdef TAPEGRAD_HAS_CUBLAS

// cuBLASLt is not linked: the module loads it at its first GEMM, so that `import tapegrad` and
// everything on the CPU work where no cuBLAS library exists, and a wheel finds the library
// where the user has it. Candidates, in order: the path the Python side found (PyPI's
// nvidia-cublas package, set_cublaslt_path), the system's loader path (libcublasLt.so.<major>,
// LD_LIBRARY_PATH and ldconfig), and the toolkit directory of the build machine (a local build).
#define TG_CUBLASLT_FUNCTIONS(X)                                                          \
  X(cublasLtGetStatusName) X(cublasLtGetStatusString) X(cublasLtCreate)                   \
  X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute) \
  X(cublasLtMatrixLayoutCreate) X(cublasLtMatrixLayoutDestroy)                            \
  X(cublasLtMatrixLayoutSetAttribute) X(cublasLtMatmulPreferenceCreate)                   \
  X(cublasLtMatmulPreferenceDestroy) X(cublasLtMatmulPreferenceSetAttribute)              \
  X(cublasLtMatmulAlgoGetHeuristic) X(cublasLtMatmul)

struct LtLib {
#define TG_LT_FIELD(name) decltype(&::name) name = nullptr;
  TG_CUBLASLT_FUNCTIONS(TG_LT_FIELD)
#undef TG_LT_FIELD
  std::string path;  // where it was loaded from
};

#define TG_STR2(x) #x
#define TG_STR(x) TG_STR2(x)

// The library of the cuBLAS major version whose header the build used.
constexpr const char* kCublasLtSoname = "libcublasLt.so." TG_STR(CUBLAS_VER_MAJOR);

std::mutex g_lt_mutex;
std::string g_lt_hint;  // set_cublaslt_path

// The library, or nullptr when none of the candidates loads (looked for once).
const LtLib* load_cublaslt() {
  static std::once_flag once;
  static LtLib lib;
  static bool found = false;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    {
      std::lock_guard<std::mutex> lock(g_lt_mutex);
      if (!g_lt_hint.empty()) candidates.push_back(g_lt_hint);
    }
    candidates.push_back(kCublasLtSoname);
#ifdef TAPEGRAD_CUBLASLT_BUILD_PATH
    candidates.push_back(TAPEGRAD_CUBLASLT_BUILD_PATH);
#endif
    for (const std::string& c : candidates) {
      void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      bool all = true;
#define TG_LT_LOAD(name) \
  lib.name = reinterpret_cast<decltype(&::name)>(dlsym(h, #name)); \
  all = all && lib.name != nullptr;
      TG_CUBLASLT_FUNCTIONS(TG_LT_LOAD)
#undef TG_LT_LOAD
      if (all) {
        lib.path = c;
        found = true;
        return;
      }
      dlclose(h);
    }
  });
  return found ? &lib : nullptr;
}

// The loaded library (callers have checked load_cublaslt() first).
const LtLib& lt() { return *load_cublaslt(); }

[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* expr) {
  const std::string msg = detail::cat("cuBLAS call ", expr, " failed: ", lt().cublasLtGetStatusName(s),
                                      " (", lt().cublasLtGetStatusString(s), ")");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemory(msg);
  throw std::runtime_error(msg);
}

// Test hook: TAPEGRAD_CUDA_NO_CUBLAS=1 sends every GEMM to the tiled kernel.
bool cublas_disabled() {
  static const bool off = [] {
    const char* e = std::getenv("TAPEGRAD_CUDA_NO_CUBLAS");
    return e != nullptr && e[0] != '\0' && std::string(e) != "0";
  }();
  return off;
}

#define CUBLAS_CHECK(expr)                                                 \
  do {                                                                     \
    const cublasStatus_t tg_cublas_st_ = (expr);                           \
    if (tg_cublas_st_ != CUBLAS_STATUS_SUCCESS)                            \
      throw_cublas_error(tg_cublas_st_, #expr);                            \
  } while (0)

// One handle per device, created on first use and kept for the life of the process
// (destroying it at exit could run after the CUDA runtime has shut down). cuBLASLt takes the
// stream per call, so every matmul runs on stream().
cublasLtHandle_t lt_handle(int device) {
  static std::mutex mu;
  static std::vector<cublasLtHandle_t> handles;
  std::lock_guard<std::mutex> lock(mu);
  if (device >= static_cast<int>(handles.size())) handles.resize(device + 1, nullptr);
  if (!handles[device]) CUBLAS_CHECK(lt().cublasLtCreate(&handles[device]));
  return handles[device];
}

// Owners of cuBLASLt descriptors, destroyed on every path out (exceptions included).
template <class H, auto LtLib::*Destroy>
struct LtObject {
  H h = nullptr;
  LtObject() = default;
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;
  ~LtObject() {
    if (h) (lt().*Destroy)(h);
  }
};
using LtMatmulDesc = LtObject<cublasLtMatmulDesc_t, &LtLib::cublasLtMatmulDescDestroy>;
using LtLayout = LtObject<cublasLtMatrixLayout_t, &LtLib::cublasLtMatrixLayoutDestroy>;
using LtPreference = LtObject<cublasLtMatmulPreference_t, &LtLib::cublasLtMatmulPreferenceDestroy>;

// True when the r x c matrix with element (i, j) at i*rs + j*cs is row-major with a valid
// leading dimension (returned in ld): unit column stride, ld >= c. Strides of size-1 dims are
// free, so they never disqualify a matrix.
bool as_rowmajor(int64_t r, int64_t c, int64_t rs, int64_t cs, int64_t* ld) {
  if (c > 1 && cs != 1) return false;
  *ld = r > 1 ? rs : std::max<int64_t>(c, 1);
  return *ld >= std::max<int64_t>(c, 1);
}

// An operand as cuBLASLt sees it: a column-major rows x cols matrix with leading dimension ld,
// used transposed or not.
struct LtOperand {
  const void* ptr = nullptr;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int64_t batch_stride = 0;  // elements
  bool trans = false;
};

// cuBLASLt is column-major, so the row-major C = A @ B is computed as C^T = B^T A^T: each of
// our r x c operands X must reach it as op(X') = X^T. A row-major X already is X^T stored
// column-major (no op); a column-major X is X' with op = T. Anything else (both strides
// non-unit, negative or overlapping rows, a negative batch stride) is first copied to a
// contiguous scratch; a batch-broadcast (stride 0) operand is copied once and stays broadcast.
template <class T>
LtOperand lt_operand(const T* p, int64_t r, int64_t c, int64_t rs, int64_t cs, int64_t batch,
                     int64_t bs, Scratch& tmp, int device) {
  LtOperand o;
  int64_t ld = 0;
  const bool batch_ok = batch <= 1 || bs >= 0;
  if (batch_ok && as_rowmajor(r, c, rs, cs, &ld)) {
    o.rows = uint64_t(c), o.cols = uint64_t(r), o.ld = ld, o.trans = false;
  } else if (batch_ok && as_rowmajor(c, r, cs, rs, &ld)) {
    o.rows = uint64_t(r), o.cols = uint64_t(c), o.ld = ld, o.trans = true;
  } else {
    const int64_t nb = batch > 1 && bs != 0 ? batch : 1;
    tmp = scratch(nb * r * c * int64_t(sizeof(T)), device);
    copy_kernel(view3(p, nb, r, c, bs, rs, cs),
                view3(static_cast<const T*>(tmp->ptr()), nb, r, c, r * c, c, 1));
    o.ptr = tmp->ptr();
    o.rows = uint64_t(c), o.cols = uint64_t(r), o.ld = c, o.trans = false;
    o.batch_stride = nb > 1 ? r * c : 0;
    return o;
  }
  o.ptr = p;
  o.batch_stride = batch > 1 ? bs : 0;
  return o;
}

// The largest power of two (at most 256) dividing a buffer's address and its batch stride:
// what cuBLASLt may assume about the alignment of every matrix of the batch.
uint32_t lt_alignment(const void* p, int64_t batch_stride_bytes) {
  const uint64_t v = uint64_t(reinterpret_cast<uintptr_t>(p)) | uint64_t(batch_stride_bytes) | 256u;
  return static_cast<uint32_t>(v & (~v + 1));
}

// The heuristic's choice per problem signature (a query costs more than a small matmul).
struct LtChoice {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
};

constexpr uint64_t kLtMaxWorkspace = uint64_t(32) << 20;
// Only the bias is fused into cuBLASLt's epilogue. Its RELU epilogues compute max(x, 0), which
// turns NaN into 0 where ours (and the CPU's) pass NaN through, and which GELU form its GELU
// epilogue computes is not documented: activations run in our own epilogue pass.
template <class T>
cublasLtMatrixLayout_t lt_layout(LtLayout& l, uint64_t rows, uint64_t cols, int64_t ld,
                                 int64_t batch, int64_t batch_stride) {
  constexpr cudaDataType_t dt = std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;
  CUBLAS_CHECK(lt().cublasLtMatrixLayoutCreate(&l.h, dt, rows, cols, ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    CUBLAS_CHECK(lt().cublasLtMatrixLayoutSetAttribute(l.h, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                  sizeof(count)));
    CUBLAS_CHECK(lt().cublasLtMatrixLayoutSetAttribute(
        l.h, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride, sizeof(batch_stride)));
  }
  return l.h;
}

// D = C^T (N x M column-major, leading dimension ldc) = op(la) @ op(lb) (+ C when
// accumulating), with the epilogue `epi` (bias: contiguous, length N, or null). False when
// cuBLASLt has no algorithm for it; nothing is launched then.
template <class T>
bool lt_run(const GemmArgs<T>& P, const LtOperand& la, const LtOperand& lb, int64_t ldc,
            cublasLtEpilogue_t epi, const T* bias, int device) {
  constexpr bool is_f32 = std::is_same_v<T, float>;
  constexpr cudaDataType_t dt = is_f32 ? CUDA_R_32F : CUDA_R_64F;
  const bool tf32 = is_f32 && allow_tf32();
  const cublasComputeType_t ct =
      is_f32 ? (tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F) : CUBLAS_COMPUTE_64F;
  const cublasLtHandle_t handle = lt_handle(device);

  LtMatmulDesc desc;
  CUBLAS_CHECK(lt().cublasLtMatmulDescCreate(&desc.h, ct, dt));
  const int32_t ta = la.trans ? CUBLAS_OP_T : CUBLAS_OP_N, tb = lb.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(lt().cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  CUBLAS_CHECK(lt().cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  const uint32_t epi_v = static_cast<uint32_t>(epi);
  CUBLAS_CHECK(lt().cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi_v, sizeof(epi_v)));
  if (bias) {
    const void* bp = bias;
    CUBLAS_CHECK(lt().cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
  }

  LtLayout al, bl, cl;
  lt_layout<T>(al, la.rows, la.cols, la.ld, P.batch, la.batch_stride);
  lt_layout<T>(bl, lb.rows, lb.cols, lb.ld, P.batch, lb.batch_stride);
  lt_layout<T>(cl, uint64_t(P.N), uint64_t(P.M), ldc, P.batch, P.sc);

  const int64_t item = sizeof(T);
  const uint32_t align_a = lt_alignment(la.ptr, la.batch_stride * item);
  const uint32_t align_b = lt_alignment(lb.ptr, lb.batch_stride * item);
  const uint32_t align_c = lt_alignment(P.c, P.batch > 1 ? P.sc * item : 0);
  const uint32_t align_bias = bias ? lt_alignment(bias, 0) : 0;

  const std::vector<int64_t> key{device, int64_t(dt), int64_t(ct), ta, tb,
                                 int64_t(la.rows), int64_t(la.cols), la.ld, la.batch_stride,
                                 int64_t(lb.rows), int64_t(lb.cols), lb.ld, lb.batch_stride,
                                 ldc, P.sc, P.batch, int64_t(epi_v), P.accumulate,
                                 align_a, align_b, align_c, align_bias};
  static std::mutex cache_mu;
  static std::map<std::vector<int64_t>, LtChoice> cache;
  LtChoice choice;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    const auto it = cache.find(key);
    if (it != cache.end()) {
      choice = it->second;
      cached = true;
    }
  }
  if (!cached) {
    LtPreference pref;
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceCreate(&pref.h));
    const uint64_t ws = kLtMaxWorkspace;
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c)));
    CUBLAS_CHECK(lt().cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof(align_c)));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t st = lt().cublasLtMatmulAlgoGetHeuristic(handle, desc.h, al.h, bl.h, cl.h, cl.h,
                                                             pref.h, 1, &result, &returned);
    // NOT_SUPPORTED: no algorithm for this configuration; INVALID_VALUE: a layout cuBLASLt
    // rejects. Both leave the product to the tiled kernel rather than fail the call.
    if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE) CUBLAS_CHECK(st);
    if (st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
      choice.found = true;
      choice.algo = result.algo;
      choice.workspace = result.workspaceSize;
    }
    std::lock_guard<std::mutex> lock(cache_mu);
    if (cache.size() >= 4096) cache.clear();
    cache.emplace(key, choice);
  }
  if (!choice.found) return false;

  Scratch workspace;
  void* ws_ptr = nullptr;
  if (choice.workspace > 0) {
    workspace = scratch(static_cast<int64_t>(choice.workspace), device);
    ws_ptr = workspace->ptr();
  }
  const T alpha = T(1), beta = P.accumulate ? T(1) : T(0);
  CUBLAS_CHECK(lt().cublasLtMatmul(handle, desc.h, &alpha, la.ptr, al.h, lb.ptr, bl.h, &beta, P.c, cl.h,
                              P.c, cl.h, &choice.algo, ws_ptr, choice.workspace, stream()));
  return true;
}

// The same product as C^T = B^T A^T: operands and stride pairs swap, the bias runs along rows.
template <class T>
GemmArgs<T> transposed(const GemmArgs<T>& P) {
  GemmArgs<T> Q = P;
  Q.a = P.b, Q.b = P.a;
  Q.M = P.N, Q.N = P.M;
  Q.sam = P.sbn, Q.sak = P.sbk;
  Q.sbk = P.sak, Q.sbn = P.sam;
  Q.scm = P.scn, Q.scn = P.scm;
  Q.sa = P.sb, Q.sb = P.sa;
  Q.bias_on_rows = !P.bias_on_rows;
  return Q;
}

// C = act(A @ B + bias) (or C += A @ B) through cuBLASLt; false (with nothing written) when it
// has no algorithm for the problem. K > 0, M, N, batch > 0.
template <class T>
bool lt_gemm(const GemmArgs<T>& P0, int device) {
  if (P0.batch > int64_t(std::numeric_limits<int32_t>::max())) return false;
  int64_t ldc = 0;
  auto c_ok = [&ldc](const GemmArgs<T>& Q) {
    return (Q.batch <= 1 || Q.sc > 0) && as_rowmajor(Q.M, Q.N, Q.scm, Q.scn, &ldc);
  };
  GemmArgs<T> P = P0;
  if (!c_ok(P)) {
    P = transposed(P0);  // a column-major C
    if (!c_ok(P)) {
      // C fits neither way: compute into a contiguous scratch (holding C when accumulating).
      Scratch tmp = scratch(P0.batch * P0.M * P0.N * int64_t(sizeof(T)), device);
      GemmArgs<T> Q = P0;
      Q.c = static_cast<T*>(tmp->ptr());
      Q.scm = P0.N, Q.scn = 1, Q.sc = P0.M * P0.N;
      const ArrayView outv = view3(P0.c, P0.batch, P0.M, P0.N, P0.sc, P0.scm, P0.scn);
      const ArrayView tmpv = view3(Q.c, P0.batch, P0.M, P0.N, Q.sc, Q.scm, Q.scn);
      if (P0.accumulate) copy_kernel(outv, tmpv);
      if (!lt_gemm(Q, device)) return false;
      copy_kernel(tmpv, outv);
      return true;
    }
  }
  Scratch a_tmp, b_tmp, bias_tmp;
  const LtOperand la = lt_operand(P.b, P.K, P.N, P.sbk, P.sbn, P.batch, P.sb, b_tmp, device);
  const LtOperand lb = lt_operand(P.a, P.M, P.K, P.sam, P.sak, P.batch, P.sa, a_tmp, device);

  // cuBLASLt's bias runs along D's rows, i.e. our columns; it wants it contiguous and aligned.
  const bool col_bias = P.bias != nullptr && !P.bias_on_rows;
  const T* bias = P.bias;
  if (col_bias && ((P.sbias != 1 && P.N > 1) || reinterpret_cast<uintptr_t>(bias) % 16 != 0)) {
    bias_tmp = scratch(P.N * int64_t(sizeof(T)), device);
    ArrayView src, dst;
    src.data = const_cast<T*>(P.bias), src.dtype = dtype_v<T>, src.shape = {P.N}, src.strides = {P.sbias};
    dst.data = bias_tmp->ptr(), dst.dtype = dtype_v<T>, dst.shape = {P.N}, dst.strides = {1};
    copy_kernel(src, dst);
    bias = static_cast<const T*>(bias_tmp->ptr());
  }
  const cublasLtEpilogue_t epi = col_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  bool fused_bias = col_bias;
  bool ok = lt_run(P, la, lb, ldc, epi, fused_bias ? bias : nullptr, device);
  if (!ok && fused_bias) {  // no fused form: plain GEMM + our epilogue
    fused_bias = false;
    ok = lt_run(P, la, lb, ldc, CUBLASLT_EPILOGUE_DEFAULT, static_cast<const T*>(nullptr), device);
  }
  if (!ok) return false;
  GemmArgs<T> E = P;
  E.bias = fused_bias ? nullptr : P.bias;
  launch_bias_act(E);
  return true;
}

#endif  // TAPEGRAD_HAS_CUBLAS

// The one GEMM entry: any strides, batch, K == 0 (out = act(bias), or untouched when
// accumulating) and empty products.
template <class T>
void gemm(const GemmArgs<T>& P, int device) {
  if (P.M == 0 || P.N == 0 || P.batch == 0) return;
  if (P.K == 0 && P.accumulate) return;
#ifdef TAPEGRAD_HAS_CUBLAS
  if (P.K > 0 && !cublas_disabled() && load_cublaslt() != nullptr && lt_gemm(P, device)) return;
#endif
  tiled_gemm(P, device);
}

template <class T>
GemmArgs<T> gemm_args(int64_t M, int64_t N, int64_t K, const T* a, int64_t sam, int64_t sak,
                      const T* b, int64_t sbk, int64_t sbn, T* c, int64_t scm, int64_t scn) {
  GemmArgs<T> P{};
  P.a = a, P.b = b, P.c = c, P.bias = nullptr;
  P.M = M, P.N = N, P.K = K, P.batch = 1;
  P.sam = sam, P.sak = sak, P.sbk = sbk, P.sbn = sbn, P.scm = scm, P.scn = scn, P.sbias = 0;
  P.sa = P.sb = P.sc = 0;
  P.act = ActKind::none;
  P.accumulate = false;
  P.bias_on_rows = false;
  return P;
}

// linear_backward: gz = g * act'(y) (contiguous scratch; g itself when act is none), then
// gx = gz @ w, gw = gz.T @ x, gb = column sums of gz.
template <class T>
void linear_backward_cuda(const ArrayView& g, const ArrayView& x, const ArrayView& w,
                          const ArrayView* y, ActKind act, const ArrayView* gx, const ArrayView* gw,
                          const ArrayView* gb, int device) {
  const char* op = "linear_backward";
  const int64_t N = g.shape[0], O = g.shape[1];
  const T* gz = g.ptr<T>();
  int64_t gz0 = g.strides[0], gz1 = g.strides[1];
  Scratch gz_buf;
  if (act != ActKind::none && N * O > 0) {
    gz_buf = scratch(N * O * int64_t(sizeof(T)), device);
    ArrayView views[3] = {g, g, *y};
    views[0].data = gz_buf->ptr();
    views[0].strides = {O, 1};
    merge_dims(views, 3, op);
    T* out = static_cast<T*>(gz_buf->ptr());
    const bool contig = contiguous(views[1]) && contiguous(views[2]);
    const Layout lg = layout_of(views[1], op), ly = layout_of(views[2], op);
    // linear_backward takes relu, sigmoid and tanh, whose derivatives come from the output.
    with_epilogue_act(act, [&](auto kind) {
      constexpr ActKind K = decltype(kind)::value;
      if constexpr (K == ActKind::relu || ops::act_saves_output(K)) {
        if (contig)
          act_grad_kernel<T, true, K><<<grid_for(N * O), kThreads, 0, stream()>>>(
              out, g.ptr<T>(), y->ptr<T>(), lg, ly, N * O);
        else
          act_grad_kernel<T, false, K><<<grid_for(N * O), kThreads, 0, stream()>>>(
              out, g.ptr<T>(), y->ptr<T>(), lg, ly, N * O);
      }
    });
    CUDA_CHECK_LAUNCH();
    gz = out;
    gz0 = O, gz1 = 1;
  }
  if (gx) {
    const int64_t I = w.shape[1];
    gemm(gemm_args<T>(N, I, O, gz, gz0, gz1, w.ptr<T>(), w.strides[0], w.strides[1],
                      gx->ptr<T>(), gx->strides[0], gx->strides[1]),
         device);
  }
  if (gw) {
    const int64_t I = x.shape[1];
    gemm(gemm_args<T>(O, I, N, gz, gz1, gz0, x.ptr<T>(), x.strides[0], x.strides[1],
                      gw->ptr<T>(), gw->strides[0], gw->strides[1]),
         device);
  }
  if (gb) column_sums<T>(gz, gz0, gz1, N, O, gb->ptr<T>(), gb->strides[0], device);
}

}  // namespace

// =============================================================================================
// Entry points (csrc/bind/matmul.h has checked the arguments); launches on the current device.

void Cuda::matmul(const ArrayView& a, const ArrayView& b, const ArrayView& out,
                  const std::optional<ArrayView>& bias, const std::string& act_name,
                  bool accumulate, const MatmulSize& s) {
  const ActKind act = ops::parse_epilogue_act(act_name);
  const int device = current_device();
  const int o = s.o;
  dispatch_float(a.dtype, "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // The CPU reads the bias into a buffer before writing out; here a bias sharing memory
    // with out is copied first, or blocks writing out could change what others read.
    Scratch bias_tmp;
    const ArrayView bv = bias ? detach_if_overlapping(*bias, out, bias_tmp, device) : ArrayView{};
    GemmArgs<T> P{};
    P.a = a.ptr<T>(), P.b = b.ptr<T>(), P.c = out.ptr<T>();
    P.bias = bias ? bv.ptr<T>() : nullptr;
    P.M = s.M, P.N = s.N, P.K = s.K, P.batch = s.batch;
    P.sam = a.strides[o], P.sak = a.strides[o + 1];
    P.sbk = b.strides[o], P.sbn = b.strides[o + 1];
    P.scm = out.strides[o], P.scn = out.strides[o + 1];
    P.sbias = bias ? bv.strides[0] : 0;
    P.sa = s.batched ? a.strides[0] : 0;
    P.sb = s.batched ? b.strides[0] : 0;
    P.sc = s.batched ? out.strides[0] : 0;
    P.act = act;
    P.accumulate = accumulate;
    P.bias_on_rows = false;
    gemm(P, device);
  });
}

void Cuda::linear_backward(const LinearGrads& g, const std::string& act_name) {
  const ActKind act = ops::parse_epilogue_act(act_name);
  const int device = current_device();
  dispatch_float(g.g.dtype, "linear_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto ptr = [](const std::optional<ArrayView>& v) { return v ? &*v : nullptr; };
    const ArrayView empty;
    linear_backward_cuda<T>(g.g, g.x ? *g.x : empty, g.w ? *g.w : empty, ptr(g.y), act,
                            ptr(g.gx), ptr(g.gw), ptr(g.gb), device);
  });
}

void bind_matmul(py::module_& m) {
  bind::matmul<Cuda>(m);
  m.def(
      "set_cublaslt_path",
      [](const std::string& path) {
#ifdef TAPEGRAD_HAS_CUBLAS
        std::lock_guard<std::mutex> lock(g_lt_mutex);
        g_lt_hint = path;
#else
        (void)path;
#endif
      },
      py::arg("path"),
      "The cuBLASLt library to try first (PyPI's nvidia-cublas), before the loader's search path; "
      "read at the first GEMM.");
  m.def(
      "cublaslt_soname",
      []() -> py::object {
#ifdef TAPEGRAD_HAS_CUBLAS
        return py::str(kCublasLtSoname);
#else
        return py::none();
#endif
      },
      "The cuBLASLt library file this build loads (libcublasLt.so.<major>), or None without "
      "cuBLASLt support.");
  m.def(
      "cublaslt_path",
      []() -> py::object {
#ifdef TAPEGRAD_HAS_CUBLAS
        if (const LtLib* lib = load_cublaslt()) return py::str(lib->path);
#endif
        return py::none();
      },
      "Where cuBLASLt was loaded from (loading it now if it was not yet), or None: GEMMs then "
      "use the tiled kernels.");
}

}  // namespace tg::cuda
