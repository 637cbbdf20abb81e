// Reductions on the GPU over any subset of axes: sum, prod, max, min, argmax, argmin, all, any.
// reduce(op, x, axes, out) mirrors csrc/cpu/reduce.cpp: x of any shape and strides, out
// C-contiguous with x's shape minus the reduced axes; bound and checked with it (csrc/bind/reduce.h).
//
// The host turns the call into a plan (metadata only): size-1 axes dropped, kept and reduced
// axes each merged where their strides allow, reduced axes innermost-by-stride (in C order for
// the arg ops, whose index is the C-order position over the reduced axes). One kernel, templated
// on the op (init / load / combine / finalize) and on the group of threads that reduces one
// output (1, 8, 32 or all 256 threads of the block), then covers every case:
//   - kept axis contiguous (column sums) or tiny reductions: a thread per output, so that
//     neighbouring threads read neighbouring elements;
//   - reduced axis contiguous: 8 lanes or a warp per output, the whole block for long ones;
//   - too few outputs to fill the GPU (one output of 100M elements): each output is split into
//     S interleaved slices reduced into scratch partials, which the same kernel then combines.
// Accumulators follow the CPU: double for float32/float64 sums and products, wrapping uint64 for
// int64; combining is exact for max/min/arg/all/any, so their results equal the CPU's.
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "bind/reduce.h"
#include "cuda/common.cuh"

namespace tg::cuda {
namespace {

// offset_of with the common one-dim case free of divisions.
__device__ __forceinline__ int64_t elem_offset(const Layout& l, int64_t i) {
  if (l.ndim == 1) return i * l.strides[0];
  return offset_of(l, i);
}

template <class T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// ---------------------------------------------------------------------------------------------
// The ops. load(x, r) turns the element at reduced index r into an accumulator.

template <class T>
using WideAcc = std::conditional_t<std::is_integral_v<T>, unsigned long long, double>;

template <class T>
struct SumOp {
  using In = T;
  using Out = T;
  using Acc = WideAcc<T>;
  __device__ static Acc init() { return Acc(0); }
  __device__ static Acc load(T x, int64_t) { return static_cast<Acc>(x); }
  __device__ static Acc combine(Acc a, Acc b) { return a + b; }
  __device__ static Out finalize(Acc a) { return static_cast<Out>(a); }
};

template <class T>
struct ProdOp {
  using In = T;
  using Out = T;
  using Acc = WideAcc<T>;
  __device__ static Acc init() { return Acc(1); }
  __device__ static Acc load(T x, int64_t) { return static_cast<Acc>(x); }
  __device__ static Acc combine(Acc a, Acc b) { return a * b; }
  __device__ static Out finalize(Acc a) { return static_cast<Out>(a); }
};

// max / min: any NaN in the set gives NaN (as torch.amax and the CPU kernel).
template <class T, bool IsMax>
struct ExtOp {
  using In = T;
  using Out = T;
  using Acc = T;
  __device__ static Acc init() {
    if constexpr (std::is_floating_point_v<T>)
      return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      return IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  __device__ static Acc load(T x, int64_t) { return x; }
  __device__ static Acc combine(Acc a, Acc b) {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return (IsMax ? (b > a) : (b < a)) ? b : a;
  }
  __device__ static Out finalize(Acc a) { return a; }
};

// argmax / argmin: (value, C-order index over the reduced axes). The winner is the extreme
// value, NaN above every number, and among equals the smallest index: a total order on
// (value, index), so combining in any order gives the CPU's "first occurrence, first NaN".
template <class T>
struct ArgAcc {
  T v;
  int64_t i;  // -1: nothing seen yet
};

template <class T, bool IsMax>
struct ArgOp {
  using In = T;
  using Out = int64_t;
  using Acc = ArgAcc<T>;
  __device__ static Acc init() { return Acc{T(0), -1}; }
  __device__ static Acc load(T x, int64_t r) { return Acc{x, r}; }
  __device__ static Acc combine(Acc a, Acc b) {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    bool b_wins;
    if (an || bn) b_wins = bn && (!an || b.i < a.i);
    else b_wins = (IsMax ? (b.v > a.v) : (b.v < a.v)) || (b.v == a.v && b.i < a.i);
    return b_wins ? b : a;
  }
  __device__ static Out finalize(Acc a) { return a.i; }
};

// all / any over bool bytes (any nonzero byte counts as true).
template <bool IsAll>
struct LogicOp {
  using In = uint8_t;
  using Out = uint8_t;
  using Acc = unsigned;
  __device__ static Acc init() { return IsAll ? 1u : 0u; }
  __device__ static Acc load(uint8_t x, int64_t) { return x != 0 ? 1u : 0u; }
  __device__ static Acc combine(Acc a, Acc b) { return IsAll ? (a & b) : (a | b); }
  __device__ static Out finalize(Acc a) { return static_cast<Out>(a); }
};

// ---------------------------------------------------------------------------------------------
// The kernel. Output k reads x[kept(k) + red(r)] for r in [0, nr). Its reduction is split into
// S interleaved slices: slice s of output k is reduced by one group of G threads, lane l taking
// r = s*G + l, s*G + l + G*S, ... With S == 1 the group writes the finished out[k]; otherwise
// part[k*S + s], which a second launch (FromAcc: the source is those partials) combines.
// Items (k, s) are numbered so that neighbouring threads read neighbouring memory: k fastest for
// a thread per item (the kept axis is then the contiguous one), s fastest otherwise.
template <class Op, int G, bool FromAcc>
__global__ void __launch_bounds__(kThreads)
reduce_kernel(const std::conditional_t<FromAcc, typename Op::Acc, typename Op::In>* x,
              Layout kept, Layout red, int64_t nk, int64_t nr, int64_t S,
              typename Op::Out* out, typename Op::Acc* part) {
  using Acc = typename Op::Acc;
  constexpr int kGroups = kThreads / G;
  const int lane = static_cast<int>(threadIdx.x) % G;
  const int group = static_cast<int>(threadIdx.x) / G;
  const int64_t items = nk * S;
  const int64_t step = static_cast<int64_t>(G) * S;
  // The loop bound is uniform over the block, so every thread reaches group_reduce together.
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kGroups; first < items;
       first += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t it = first + group;
    const bool active = it < items;
    int64_t k = 0, s = 0;
    Acc a = Op::init();
    if (active) {
      if constexpr (G == 1) {
        k = it % nk;
        s = it / nk;
      } else {
        k = it / S;
        s = it % S;
      }
      const auto* xk = x + elem_offset(kept, k);
      for (int64_t r = s * G + lane; r < nr; r += step) {
        if constexpr (FromAcc) a = Op::combine(a, xk[elem_offset(red, r)]);
        else a = Op::combine(a, Op::load(xk[elem_offset(red, r)], r));
      }
    }
    a = group_reduce<G>(a, [](const Acc& u, const Acc& v) { return Op::combine(u, v); });
    if (active && lane == 0) {
      if (S == 1) out[k] = Op::finalize(a);
      else part[k * S + s] = a;
    }
  }
}

int sm_count() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  static std::atomic<int> cache[64];  // zero-initialised: not looked up yet
  if (dev >= 0 && dev < 64) {
    const int c = cache[dev].load(std::memory_order_relaxed);
    if (c > 0) return c;
  }
  int v = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
  if (v < 1) v = 1;
  if (dev >= 0 && dev < 64) cache[dev].store(v, std::memory_order_relaxed);
  return v;
}

constexpr int64_t kMinPerThread = 16;   // elements a thread should own before splitting more
constexpr int64_t kMaxBlocks = 65536;   // grid-stride beyond this (as grid_for)

template <class Op, bool FromAcc, int G>
void launch_g(const void* x, const Layout& kept, const Layout& red, int64_t nk, int64_t nr,
              int64_t S, typename Op::Out* out, typename Op::Acc* part) {
  using Src = std::conditional_t<FromAcc, typename Op::Acc, typename Op::In>;
  constexpr int64_t kGroups = kThreads / G;
  const int64_t blocks = std::min(CEIL_DIV(nk * S, kGroups), kMaxBlocks);
  reduce_kernel<Op, G, FromAcc><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
      static_cast<const Src*>(x), kept, red, nk, nr, S, out, part);
  CUDA_CHECK_LAUNCH();
}

template <class Op, bool FromAcc>
void launch(int G, const void* x, const Layout& kept, const Layout& red, int64_t nk, int64_t nr,
            int64_t S, typename Op::Out* out, typename Op::Acc* part) {
  switch (G) {
    case 1: return launch_g<Op, FromAcc, 1>(x, kept, red, nk, nr, S, out, part);
    case 8: return launch_g<Op, FromAcc, 8>(x, kept, red, nk, nr, S, out, part);
    case 32: return launch_g<Op, FromAcc, 32>(x, kept, red, nk, nr, S, out, part);
    default: return launch_g<Op, FromAcc, kThreads>(x, kept, red, nk, nr, S, out, part);
  }
}

// Threads per output for a reduction of nr elements, when the kept axis is (or is not) the
// contiguous one: short reductions take 8 lanes, so a warp still reads whole 32-byte sectors.
int group_size(int64_t nr, bool kept_inner) {
  if (kept_inner || nr <= kMinPerThread) return 1;
  if (nr <= 128) return 8;
  if (nr <= 2048) return 32;
  return kThreads;
}

Layout line(int64_t n, int64_t stride) {
  Layout l;
  l.ndim = 1;
  l.shape[0] = n;
  l.strides[0] = stride;
  return l;
}

// nk outputs, each the reduction of nr elements (kept / red give their offsets in x).
template <class Op>
void run_plan(const typename Op::In* x, const Layout& kept, const Layout& red, int64_t nk,
              int64_t nr, typename Op::Out* out, int device) {
  using Acc = typename Op::Acc;
  const bool kept_inner = kept.ndim > 0 && kept.strides[kept.ndim - 1] == 1 &&
                          !(red.ndim > 0 && (red.strides[red.ndim - 1] == 1 ||
                                             red.strides[red.ndim - 1] == -1));
  const int G = group_size(nr, kept_inner);
  // Enough threads to fill the GPU (2048 resident per SM), each with some work.
  const int64_t target = static_cast<int64_t>(sm_count()) * 2048;
  int64_t S = 1;
  if (nk * G < target && nr > G * kMinPerThread)
    S = std::max<int64_t>(1, std::min(CEIL_DIV(target, nk * G), CEIL_DIV(nr, G * kMinPerThread)));
  if (S == 1) {
    launch<Op, false>(G, x, kept, red, nk, nr, 1, out, nullptr);
    return;
  }
  Scratch tmp = scratch(nk * S * static_cast<int64_t>(sizeof(Acc)), device);
  Acc* part = static_cast<Acc*>(tmp->ptr());
  launch<Op, false>(G, x, kept, red, nk, nr, S, out, part);
  // Second pass: output k combines part[k*S .. k*S + S).
  launch<Op, true>(group_size(S, false), part, line(nk, S), line(S, 1), nk, S, 1, out, nullptr);
  // (tmp goes back to the cache now: later work on this stream runs after these kernels)
}

// ---------------------------------------------------------------------------------------------
// Host side: the plan (csrc/checks.h has checked the arguments).

struct Dim {
  int64_t n, s;
};

// Merges neighbours d-1, d of dims (outermost first) that form one longer axis.
std::vector<Dim> merged(const std::vector<Dim>& dims) {
  std::vector<Dim> m;
  for (const Dim& d : dims) {
    if (!m.empty() && m.back().s == d.s * d.n) {
      m.back().n *= d.n;
      m.back().s = d.s;
    } else {
      m.push_back(d);
    }
  }
  return m;
}

Layout layout_from(const std::vector<Dim>& dims, const char* name, const ArrayView& x) {
  TG_CHECK(static_cast<int>(dims.size()) <= kMaxDims, name, ": arrays with more than ", kMaxDims,
           " dims are not supported on CUDA (got shape ", shape_str(x.shape), ")");
  Layout l;
  l.ndim = static_cast<int>(dims.size());
  for (int d = 0; d < l.ndim; ++d) {
    l.shape[d] = dims[d].n;
    l.strides[d] = dims[d].s;
  }
  return l;
}

template <class Op>
void run_reduce(const char* name, const ArrayView& x, const std::vector<bool>& reduced,
                const ArrayView& out, bool ordered, bool idempotent, int device) {
  using In = typename Op::In;
  using Out = typename Op::Out;
  int64_t nk = 1, nr = 1;
  for (int d = 0; d < x.ndim(); ++d) (reduced[d] ? nr : nk) *= x.shape[d];
  if (nk == 0) return;
  Out* o = static_cast<Out*>(out.data);
  if (nr == 0) {  // empty reduced set: the identity (ops without one were rejected earlier)
    run_plan<Op>(static_cast<const In*>(x.data), line(nk, 0), Layout{}, nk, 0, o, device);
    return;
  }
  // Kept axes in C order (out is C-contiguous over them, so out's index is the kept index).
  // Reduced axes: for value ops walked forward, broadcast ones dropped where repeats do not
  // matter, smallest stride innermost and broadcast outermost; for arg ops kept in C order.
  std::vector<Dim> kd, rd;
  int64_t x_off = 0;
  for (int d = 0; d < x.ndim(); ++d) {
    Dim dim{x.shape[d], x.strides[d]};
    if (dim.n == 1) continue;
    if (!reduced[d]) {
      kd.push_back(dim);
      continue;
    }
    if (!ordered && dim.s < 0) {
      x_off += (dim.n - 1) * dim.s;
      dim.s = -dim.s;
    }
    if (idempotent && dim.s == 0) continue;
    rd.push_back(dim);
  }
  if (!ordered) {
    auto key = [](const Dim& d) { return d.s == 0 ? std::numeric_limits<int64_t>::max() : d.s; };
    std::stable_sort(rd.begin(), rd.end(), [&](const Dim& a, const Dim& b) { return key(a) > key(b); });
  }
  rd = merged(rd);
  kd = merged(kd);
  nr = 1;
  for (const Dim& d : rd) nr *= d.n;
  const Layout kept = layout_from(kd, name, x), red = layout_from(rd, name, x);
  run_plan<Op>(static_cast<const In*>(x.data) + x_off, kept, red, nk, nr, o, device);
}

template <template <class> class K>
void run_numeric(const char* name, const ArrayView& x, const std::vector<bool>& red,
                 const ArrayView& out, bool ordered, bool idem, int device) {
  switch (x.dtype) {
    case DType::f32: return run_reduce<K<float>>(name, x, red, out, ordered, idem, device);
    case DType::f64: return run_reduce<K<double>>(name, x, red, out, ordered, idem, device);
    case DType::i64: return run_reduce<K<int64_t>>(name, x, red, out, ordered, idem, device);
    default: break;
  }
  throw std::invalid_argument("reduce: internal dtype error");
}

template <class T> using MaxOp = ExtOp<T, true>;
template <class T> using MinOp = ExtOp<T, false>;
template <class T> using ArgMaxOp = ArgOp<T, true>;
template <class T> using ArgMinOp = ArgOp<T, false>;

void dispatch(ReduceOp op, const char* name, const ArrayView& x, const std::vector<bool>& red,
              const ArrayView& out, int device) {
  switch (op) {
    case ReduceOp::sum: return run_numeric<SumOp>(name, x, red, out, false, false, device);
    case ReduceOp::prod: return run_numeric<ProdOp>(name, x, red, out, false, false, device);
    case ReduceOp::max: return run_numeric<MaxOp>(name, x, red, out, false, true, device);
    case ReduceOp::min: return run_numeric<MinOp>(name, x, red, out, false, true, device);
    case ReduceOp::argmax: return run_numeric<ArgMaxOp>(name, x, red, out, true, false, device);
    case ReduceOp::argmin: return run_numeric<ArgMinOp>(name, x, red, out, true, false, device);
    case ReduceOp::all: return run_reduce<LogicOp<true>>(name, x, red, out, false, true, device);
    case ReduceOp::any: return run_reduce<LogicOp<false>>(name, x, red, out, false, true, device);
  }
}

}  // namespace

void Cuda::reduce(ReduceOp op, const ArrayView& x, const std::vector<bool>& reduced,
                  const ArrayView& out) {
  dispatch(op, reduce_op_name(op), x, reduced, out, current_device());
}

void bind_reduce(py::module_& m) { bind::reduce<Cuda>(m); }

}  // namespace tg::cuda
