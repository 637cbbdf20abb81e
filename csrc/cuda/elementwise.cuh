// The N-operand elementwise machinery of the CUDA backend, shared by elementwise.cu,
// activations.cu and any kernel that maps a per-element functor over arrays of one shape:
// ew::for_each (one grid-stride kernel with a contiguous and a strided form). The per-element
// math (op functors, activations) is csrc/ops's, shared with the CPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "common.cuh"
#include "ops/activations.h"

namespace tg::cuda {
namespace ew {

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

// The op definitions of csrc/ops, shared with the CPU, by their names in this namespace.
using ops::ActKind;
using ops::act_bwd;
using ops::act_fwd;
using ops::with_act_kind;
using ops::with_epilogue_act;

}  // namespace tg::cuda
