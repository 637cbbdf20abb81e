// Row-wise softmax / log_softmax and the fused softmax-cross-entropy, forward and backward, on
// the GPU. Mirrors csrc/cpu/softmax.cpp: 2-D (rows, n) CUDA arrays of any strides (the Python
// layer moves the reduced dim last), bound and checked with it (csrc/bind/softmax.h), the same
// formulas.
//
// A group of G threads handles one row: 8 lanes for rows of at most 32 elements (the class
// scores of most MLP heads), a warp up to 1024, the whole block beyond. Each row is a few passes
// (max, sum of exponentials, write), every element read and written by the same thread, so an
// output that is its own input needs no care. Exponentials are computed in the array's dtype
// (expf for float32), the row sums accumulated in double as the CPU's chunk totals are.
// Cross-entropy targets are validated on the device: a small kernel counts the rows not
// ignored and records the first out-of-range row, which the host reads back (one synchronised
// copy) to return the count or raise the CPU's IndexError.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "bind/softmax.h"
#include "cuda/common.cuh"

namespace tg::cuda {
namespace {

struct Plus {
  template <class A>
  __device__ A operator()(A a, A b) const { return a + b; }
};

// The larger of two maxima; NaN never enters one (x > m is false for NaN x), as on the CPU.
struct Larger {
  template <class T>
  __device__ T operator()(T a, T b) const { return b > a ? b : a; }
};

__device__ __forceinline__ float dexp(float v) { return expf(v); }
__device__ __forceinline__ double dexp(double v) { return exp(v); }

// Threads per row for rows of n elements; f(std::integral_constant<int, G>).
template <class F>
void with_group(int64_t n, F&& f) {
  if (n <= 32) f(std::integral_constant<int, 8>{});
  else if (n <= 1024) f(std::integral_constant<int, 32>{});
  else f(std::integral_constant<int, kThreads>{});
}

// Blocks for R rows taken kThreads / G at a time (grid-stride beyond 65536 blocks).
unsigned row_blocks(int64_t R, int G) {
  const int64_t per_block = kThreads / G;
  return static_cast<unsigned>(std::min<int64_t>(CEIL_DIV(R, per_block), 65536));
}

// A (rows, n) view: element (i, j) at p[i * rs + j * cs].
template <class T>
struct Mat {
  T* p;
  int64_t rs, cs;
  __device__ T& operator()(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};

template <class T>
Mat<T> mat(const ArrayView& v) {
  return Mat<T>{v.ptr<T>(), v.strides[0], v.strides[1]};
}

// A per-row vector: element i at p[i * s].
template <class T>
struct Vec {
  T* p;
  int64_t s;
  __device__ T& operator()(int64_t i) const { return p[i * s]; }
};

template <class T>
Vec<T> vec(const ArrayView& v) {
  return Vec<T>{v.ptr<T>(), v.strides[0]};
}

// The loop over rows shared by the row kernels: row i of group `group`, with a loop bound that
// is uniform over the block so that every thread reaches each group_reduce.
#define TG_FOR_ROWS(G, R)                                                                     \
  constexpr int kGroups = kThreads / (G);                                                     \
  const int lane = static_cast<int>(threadIdx.x) % (G);                                       \
  const int group = static_cast<int>(threadIdx.x) / (G);                                      \
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kGroups; first < (R);               \
       first += static_cast<int64_t>(gridDim.x) * kGroups)

// ---------------------------------------------------------------------------------------------
// Kernels.

// out = softmax(x) or log_softmax(x) per row: m = max (NaN skipped), s = sum exp(x - m), then
// exp(x - m) * (1/s) or (x - m) - log s (x - m is exact near the max).
template <class T, int G>
__global__ void __launch_bounds__(kThreads)
softmax_rows(Mat<const T> x, Mat<T> out, int64_t R, int64_t n, bool log) {
  TG_FOR_ROWS(G, R) {
    const int64_t i = first + group;
    const bool active = i < R;
    T m = -std::numeric_limits<T>::infinity();
    if (active)
      for (int64_t j = lane; j < n; j += G) {
        const T v = x(i, j);
        m = v > m ? v : m;
      }
    m = group_reduce<G>(m, Larger{});
    double s = 0.0;
    if (active)
      for (int64_t j = lane; j < n; j += G) s += double(dexp(x(i, j) - m));
    s = group_reduce<G>(s, Plus{});
    if (!active) continue;
    if (!log) {
      const T inv = T(1.0 / s);
      for (int64_t j = lane; j < n; j += G) out(i, j) = dexp(x(i, j) - m) * inv;
    } else {
      const T ls = T(::log(s));
      for (int64_t j = lane; j < n; j += G) out(i, j) = (x(i, j) - m) - ls;
    }
  }
}

// softmax: out = y * (g - sum(g * y)); log_softmax: out = g - exp(y) * sum(g).
template <class T, int G>
__global__ void __launch_bounds__(kThreads)
softmax_backward_rows(Mat<const T> y, Mat<const T> g, Mat<T> out, int64_t R, int64_t n,
                      bool log) {
  TG_FOR_ROWS(G, R) {
    const int64_t i = first + group;
    const bool active = i < R;
    double d = 0.0;
    if (active)
      for (int64_t j = lane; j < n; j += G) d += log ? double(g(i, j)) : double(g(i, j) * y(i, j));
    d = group_reduce<G>(d, Plus{});
    if (!active) continue;
    const T dt = T(d);
    if (!log)
      for (int64_t j = lane; j < n; j += G) out(i, j) = y(i, j) * (g(i, j) - dt);
    else
      for (int64_t j = lane; j < n; j += G) out(i, j) = g(i, j) - dexp(y(i, j)) * dt;
  }
}

struct SumPair {
  double e, x;  // sum exp(x - m), sum x
  __device__ SumPair operator+(const SumPair& o) const { return SumPair{e + o.e, x + o.x}; }
};

// Per row: lse = log sum exp(x) (shift by the max, by 0 when that is infinite, as
// torch.logsumexp) and loss = (1-eps)(lse - x[t]) + eps (lse - sum(x)/C), 0 where t is
// ignore_index. Targets out of range are left to ce_check_targets (loss 0 here).
template <class T, int G>
__global__ void __launch_bounds__(kThreads)
ce_forward_rows(Mat<const T> x, Vec<const int64_t> target, Vec<T> loss, Vec<T> lse, int64_t R,
                int64_t C, int64_t ignore_index, double eps) {
  TG_FOR_ROWS(G, R) {
    const int64_t i = first + group;
    const bool active = i < R;
    T m = -std::numeric_limits<T>::infinity();
    if (active)
      for (int64_t j = lane; j < C; j += G) {
        const T v = x(i, j);
        m = v > m ? v : m;
      }
    m = group_reduce<G>(m, Larger{});
    if (isinf(m)) m = T(0);
    SumPair s{0.0, 0.0};
    if (active)
      for (int64_t j = lane; j < C; j += G) {
        const T v = x(i, j);
        s.e += double(dexp(v - m));
        if (eps != 0.0) s.x += double(v);
      }
    s = group_reduce<G>(s, Plus{});
    if (!active || lane != 0) continue;
    const double l = double(m) + ::log(s.e);  // C == 0: -inf, as the CPU
    lse(i) = T(l);
    const int64_t t = target(i);
    double li = 0.0;
    if (t != ignore_index && t >= 0 && t < C) {
      li = (1.0 - eps) * (l - double(x(i, t)));
      // skipped at eps == 0 so that -inf logits do not turn 0 into nan
      if (eps != 0.0) li += eps * (l - s.x / double(C));
    }
    loss(i) = T(li);
  }
}

// out = g (exp(x - lse) - c) with c = eps/C, and c + (1 - eps) at the target class; 0 on rows
// whose target is ignore_index (or out of range: ce_check_targets reports those).
template <class T, int G>
__global__ void __launch_bounds__(kThreads)
ce_backward_rows(Mat<const T> x, Vec<const int64_t> target, Vec<const T> lse, Vec<const T> grad,
                 Mat<T> out, int64_t R, int64_t C, int64_t ignore_index, T c, T c_target) {
  TG_FOR_ROWS(G, R) {
    const int64_t i = first + group;
    if (i >= R) continue;
    const int64_t t = target(i);
    if (t != ignore_index && t >= 0 && t < C) {
      const T a = grad(i), l = lse(i);
      for (int64_t j = lane; j < C; j += G)
        out(i, j) = a * (dexp(x(i, j) - l) - (j == t ? c_target : c));
    } else {
      for (int64_t j = lane; j < C; j += G) out(i, j) = T(0);
    }
  }
}

// stats[0] += rows whose target is not ignore_index; stats[1] = min(stats[1], first row whose
// target is neither ignore_index nor in [0, C)).
__global__ void __launch_bounds__(kThreads)
ce_check_targets(Vec<const int64_t> target, int64_t R, int64_t C, int64_t ignore_index,
                 unsigned long long* stats) {
  unsigned long long counted = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < R;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t t = target(i);
    if (t == ignore_index) continue;
    ++counted;
    if (t < 0 || t >= C) atomicMin(&stats[1], static_cast<unsigned long long>(i));
  }
  counted = group_reduce<kThreads>(counted, Plus{});
  if (threadIdx.x == 0 && counted != 0) atomicAdd(&stats[0], counted);
}

// ---------------------------------------------------------------------------------------------
// Host side.

// Validates the targets on the device; returns the number of rows not ignored, or throws the
// CPU's IndexError for the first row whose target is out of range.
int64_t check_targets(const ArrayView& target, int64_t C, int64_t ignore_index, int device) {
  const int64_t N = target.shape[0];
  if (N == 0) return 0;
  Scratch tmp = scratch(2 * sizeof(unsigned long long), device);
  auto* stats = static_cast<unsigned long long*>(tmp->ptr());
  CUDA_CHECK(cudaMemsetAsync(stats, 0, sizeof(unsigned long long), stream()));
  CUDA_CHECK(cudaMemsetAsync(stats + 1, 0xff, sizeof(unsigned long long), stream()));
  ce_check_targets<<<grid_for(N), kThreads, 0, stream()>>>(vec<const int64_t>(target), N, C,
                                                           ignore_index, stats);
  CUDA_CHECK_LAUNCH();
  unsigned long long host[2] = {0, 0};
  copy_to_host_nogil(host, stats, sizeof host);
  if (host[1] != ~0ull) {
    int64_t t = 0;
    const int64_t* at = target.ptr<int64_t>() + static_cast<int64_t>(host[1]) * target.strides[0];
    copy_to_host_nogil(&t, at, sizeof t);
    throw_target_out_of_bounds(t, C);
  }
  return static_cast<int64_t>(host[0]);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points (csrc/bind/softmax.h has checked the arguments and picked T); launches on the
// current device.

template <class T>
void Cuda::softmax(const ArrayView& x_in, const ArrayView& out, bool log) {
  const int64_t R = x_in.shape[0], n = x_in.shape[1];
  if (n == 0 || R == 0) return;
  const int device = current_device();
  Scratch tmp;
  const ArrayView x = detach_if_overlapping(x_in, out, tmp, device);
  with_group(n, [&](auto g) {
    constexpr int G = decltype(g)::value;
    softmax_rows<T, G><<<row_blocks(R, G), kThreads, 0, stream()>>>(mat<const T>(x), mat<T>(out),
                                                                     R, n, log);
    CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void Cuda::softmax_backward(const ArrayView& y_in, const ArrayView& g_in, const ArrayView& out,
                            bool log) {
  const int64_t R = y_in.shape[0], n = y_in.shape[1];
  if (n == 0 || R == 0) return;
  const int device = current_device();
  Scratch tmp_y, tmp_g;
  const ArrayView y = detach_if_overlapping(y_in, out, tmp_y, device);
  const ArrayView g = detach_if_overlapping(g_in, out, tmp_g, device);
  with_group(n, [&](auto grp) {
    constexpr int G = decltype(grp)::value;
    softmax_backward_rows<T, G><<<row_blocks(R, G), kThreads, 0, stream()>>>(
        mat<const T>(y), mat<const T>(g), mat<T>(out), R, n, log);
    CUDA_CHECK_LAUNCH();
  });
}

template <class T>
int64_t Cuda::cross_entropy_forward(const ArrayView& x_in, const ArrayView& target_in,
                                    const ArrayView& loss, const ArrayView& lse,
                                    int64_t ignore_index, double eps) {
  const int64_t N = x_in.shape[0], C = x_in.shape[1];
  if (N == 0) return 0;
  const int device = current_device();
  Scratch tmp[4];
  const ArrayView x = detach_if_overlapping(detach_if_overlapping(x_in, loss, tmp[0], device),
                                            lse, tmp[1], device);
  const ArrayView target = detach_if_overlapping(
      detach_if_overlapping(target_in, loss, tmp[2], device), lse, tmp[3], device);
  with_group(C, [&](auto g) {
    constexpr int G = decltype(g)::value;
    ce_forward_rows<T, G><<<row_blocks(N, G), kThreads, 0, stream()>>>(
        mat<const T>(x), vec<const int64_t>(target), vec<T>(loss), vec<T>(lse), N, C,
        ignore_index, eps);
    CUDA_CHECK_LAUNCH();
  });
  return check_targets(target, C, ignore_index, device);
}

template <class T>
void Cuda::cross_entropy_backward(const ArrayView& x_in, const ArrayView& target_in,
                                  const ArrayView& lse_in, const ArrayView& grad_in,
                                  const ArrayView& out, int64_t ignore_index, double eps) {
  const int64_t N = x_in.shape[0], C = x_in.shape[1];
  if (N == 0) return;
  const int device = current_device();
  Scratch tmp[4];
  const ArrayView x = detach_if_overlapping(x_in, out, tmp[0], device);
  const ArrayView target = detach_if_overlapping(target_in, out, tmp[1], device);
  const ArrayView lse = detach_if_overlapping(lse_in, out, tmp[2], device);
  const ArrayView grad = detach_if_overlapping(grad_in, out, tmp[3], device);
  const T c = C > 0 ? T(eps / double(C)) : T(0);
  const T c_target = c + T(1.0 - eps);
  if (C > 0)
    with_group(C, [&](auto g) {
      constexpr int G = decltype(g)::value;
      ce_backward_rows<T, G><<<row_blocks(N, G), kThreads, 0, stream()>>>(
          mat<const T>(x), vec<const int64_t>(target), vec<const T>(lse), vec<const T>(grad),
          mat<T>(out), N, C, ignore_index, c, c_target);
      CUDA_CHECK_LAUNCH();
    });
  check_targets(target, C, ignore_index, device);
}

void bind_softmax(py::module_& m) { bind::softmax<Cuda>(m); }

}  // namespace tg::cuda
