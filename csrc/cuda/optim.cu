// Fused optimizer updates on the GPU, mirroring csrc/cpu/optim.cpp: sgd_step, adam_step (Adam
// and AdamW), rmsprop_step, adagrad_step, and element_step over the element updates that
// csrc/ops/optim.h defines for both backends, bound and checked with it (csrc/bind/optim.h). One call updates every parameter of a param group in
// place with PyTorch's update rules, in the parameter's dtype and the CPU's order of operations.
//
// A group is one launch per dtype it holds (a group may mix float32 and float64), or one per 48
// tensors for bigger groups: the tensors' pointers and sizes travel in the kernel's parameters
// (no host-to-device copy), and each block step takes one tile of one tensor, so a group of
// many small tensors costs what one large tensor does.
//
// The CPU build turns off FMA contraction, so every product and sum there is rounded on its
// own. The per-element math here uses the explicitly rounded intrinsics (__fmul_rn, ...),
// which nvcc never contracts, so the GPU update is bit-for-bit the CPU's.
#include <cmath>

#include "bind/optim.h"
#include "cuda/common.cuh"

namespace tg::cuda {
namespace {

// ---------------------------------------------------------------------------------------------
// IEEE operations, each rounded once (no contraction into FMAs).
__device__ inline float add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double add(double a, double b) { return __dadd_rn(a, b); }
__device__ inline float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ inline double sub(double a, double b) { return __dsub_rn(a, b); }
__device__ inline float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float div(float a, float b) { return __fdiv_rn(a, b); }
__device__ inline double div(double a, double b) { return __ddiv_rn(a, b); }
__device__ inline float root(float a) { return __fsqrt_rn(a); }
__device__ inline double root(double a) { return __dsqrt_rn(a); }

// torch.lerp(self, end, w): two forms, chosen by |w| < 0.5, so that the result is exact at
// both ends of the interval. `one_minus_w` is 1 - w rounded to T, as torch computes it.
template <class T>
__device__ inline T lerp(bool small, T self, T end, T w, T one_minus_w) {
  return small ? add(self, mul(w, sub(end, self))) : sub(end, mul(sub(end, self), one_minus_w));
}

// torch.maximum: NaN in either operand gives NaN.
template <class T> __device__ inline T nan_max(T a, T b) { return (a > b || a != a) ? a : b; }

// Operand pointers of one tensor, in the order each update lists them.
constexpr int kMaxOperands = kOptimMaxOperands;
template <class T> using Ptrs = T* const (&)[kMaxOperands];

// The flags are run-time values: they are uniform across the grid, so the branches cost next
// to nothing next to the memory traffic, and one kernel per update and dtype suffices.

// ---------------------------------------------------------------------------------------------
// SGD. Operands: param, grad, momentum_buffer.
//   d = ±grad (+ weight_decay * param)
//   first step:  buf = d          later: buf = momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;    param -= lr * d

enum SgdMomentum { kNoMomentum = 0, kFirstStep = 1, kRunning = 2 };

template <class T> struct Sgd {
  struct Args : SgdCoeffs<T> {
    bool wd, nesterov;
    int mom;
  };
  static __device__ inline void apply(Ptrs<T> p, int64_t i, const Args& a) {
    T* param = p[0];
    const T* g = p[1];
    T* buf = p[2];
    T d = mul(a.sign, g[i]);
    if (a.wd) d = add(d, mul(a.weight_decay, param[i]));
    if (a.mom == kFirstStep) {
      buf[i] = d;
      if (a.nesterov) d = add(d, mul(a.momentum, d));
    } else if (a.mom == kRunning) {
      T m = mul(buf[i], a.momentum);
      m = add(m, mul(a.one_minus_dampening, d));
      buf[i] = m;
      d = a.nesterov ? add(d, mul(a.momentum, m)) : m;
    }
    param[i] = add(param[i], mul(a.neg_lr, d));
  }
};

// ---------------------------------------------------------------------------------------------
// Adam / AdamW. Operands: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad only).
//   d = ±grad;  AdamW: param *= 1 - lr * wd;  Adam: d += wd * param
//   m = lerp(m, d, 1 - beta1);  v = beta2 * v + (1 - beta2) * d * d;  amsgrad: vmax = max(vmax, v)
//   param += -(lr / bc1) * m / (sqrt(v or vmax) / sqrt(bc2) + eps),  bc_i = 1 - beta_i^step

enum WeightDecay { kNoDecay = 0, kCoupled = 1, kDecoupled = 2 };

template <class T> struct Adam {
  struct Args : AdamCoeffs<T> {
    int decay;
    bool small_w1, amsgrad;
  };
  static __device__ inline void apply(Ptrs<T> p, int64_t i, const Args& a) {
    const T* g = p[1];
    T* m = p[2];
    T* v = p[3];
    T* vmax = p[4];
    T d = mul(a.sign, g[i]);
    T pi = p[0][i];
    if (a.decay == kDecoupled) pi = mul(pi, a.decay_factor);
    if (a.decay == kCoupled) d = add(d, mul(a.weight_decay, pi));
    const T mi = lerp(a.small_w1, m[i], d, a.w1, a.one_minus_w1);
    m[i] = mi;
    T vi = mul(v[i], a.beta2);
    vi = add(vi, mul(mul(a.one_minus_beta2, d), d));
    v[i] = vi;
    if (a.amsgrad) {
      vi = nan_max(vmax[i], vi);
      vmax[i] = vi;
    }
    const T denom = add(div(root(vi), a.bc2_sqrt), a.eps);
    p[0][i] = add(pi, div(mul(a.neg_step_size, mi), denom));
  }
};

// ---------------------------------------------------------------------------------------------
// RMSprop. Operands: param, grad, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
//   d = ±grad (+ wd * param);  s = alpha * s + (1 - alpha) * d * d
//   centered: ga = lerp(ga, d, 1 - alpha), avg = sqrt(s - ga * ga) + eps;  else avg = sqrt(s) + eps
//   momentum: buf = momentum * buf + d / avg, param -= lr * buf;  else param -= lr * d / avg

template <class T> struct Rmsprop {
  struct Args : RmspropCoeffs<T> {
    bool wd, centered, small_w, use_momentum;
  };
  static __device__ inline void apply(Ptrs<T> p, int64_t i, const Args& a) {
    T* param = p[0];
    const T* g = p[1];
    T* sq = p[2];
    T* buf = p[3];
    T* ga = p[4];
    T d = mul(a.sign, g[i]);
    if (a.wd) d = add(d, mul(a.weight_decay, param[i]));
    T s = mul(sq[i], a.alpha);
    s = add(s, mul(mul(a.one_minus_alpha, d), d));
    sq[i] = s;
    T avg;
    if (a.centered) {
      const T gi = lerp(a.small_w, ga[i], d, a.w, a.one_minus_w);
      ga[i] = gi;
      avg = root(add(s, mul(mul(T(-1), gi), gi)));
    } else {
      avg = root(s);
    }
    avg = add(avg, a.eps);
    if (a.use_momentum) {
      T bi = mul(buf[i], a.momentum);
      bi = add(bi, div(mul(T(1), d), avg));
      buf[i] = bi;
      param[i] = add(param[i], mul(a.neg_lr, bi));
    } else {
      param[i] = add(param[i], div(mul(a.neg_lr, d), avg));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Adagrad. Operands: param, grad, state_sum.
//   d = ±grad (+ wd * param);  sum += d * d;  param -= clr * d / (sqrt(sum) + eps),
//   clr = lr / (1 + (step - 1) * lr_decay)

template <class T> struct Adagrad {
  struct Args : AdagradCoeffs<T> {
    bool wd;
  };
  static __device__ inline void apply(Ptrs<T> p, int64_t i, const Args& a) {
    T* param = p[0];
    const T* g = p[1];
    T* sum = p[2];
    T d = mul(a.sign, g[i]);
    if (a.wd) d = add(d, mul(a.weight_decay, param[i]));
    const T s = add(sum[i], mul(mul(T(1), d), d));
    sum[i] = s;
    const T stdev = add(root(s), a.eps);
    param[i] = add(param[i], div(mul(a.neg_clr, d), stdev));
  }
};

// ---------------------------------------------------------------------------------------------
// The driver: the tensors of one launch laid end to end as tiles of kTile elements (a tensor's
// last tile may be partial). Block b takes tiles b, b + gridDim.x, ...; every thread of a block
// finds the tile's tensor by the same binary search over tile_start, so the search is uniform.

constexpr int kChunkTensors = 48;
constexpr int64_t kTile = 4 * kThreads;

struct TensorChunk {
  int count;                               // tensors in this launch, each non-empty
  int64_t tile_start[kChunkTensors + 1];   // first tile of each tensor; [count] = total tiles
  int64_t numel[kChunkTensors];
  void* ptr[kChunkTensors][kMaxOperands];  // unused operands are null
};

template <class Op, class T>
__global__ void __launch_bounds__(kThreads)
    update_kernel(const TensorChunk c, const typename Op::Args a) {
  const int64_t tiles = c.tile_start[c.count];
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    int lo = 0, hi = c.count - 1;  // the last tensor starting at or before tile t
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (c.tile_start[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    T* p[kMaxOperands];
    for (int q = 0; q < kMaxOperands; ++q) p[q] = static_cast<T*>(c.ptr[lo][q]);
    const int64_t begin = (t - c.tile_start[lo]) * kTile;
    const int64_t end = begin + kTile < c.numel[lo] ? begin + kTile : c.numel[lo];
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) Op::apply(p, i, a);
  }
}

// Kernel parameters are limited to 4 KiB before CUDA 12.1 / Volta.
static_assert(sizeof(TensorChunk) + 256 <= 4096, "TensorChunk too large for kernel parameters");

// Launches Op over the tensors of dtype `dt`, kChunkTensors at a time.
template <class Op, class T>
void launch_update(const std::vector<TensorSlots>& ts, DType dt, const typename Op::Args& a) {
  TensorChunk chunk{};
  auto flush = [&] {
    if (chunk.count == 0) return;
    const int64_t tiles = chunk.tile_start[chunk.count];
    const unsigned blocks = static_cast<unsigned>(tiles < 65536 ? tiles : 65536);
    update_kernel<Op, T><<<blocks, kThreads, 0, stream()>>>(chunk, a);  // chunk copied here
    CUDA_CHECK_LAUNCH();
    chunk.count = 0;
  };
  for (const TensorSlots& t : ts) {
    if (t.dtype != dt || t.numel == 0) continue;
    const int k = chunk.count;
    chunk.numel[k] = t.numel;
    for (int q = 0; q < kMaxOperands; ++q) chunk.ptr[k][q] = t.ptr[q];
    chunk.tile_start[k + 1] = chunk.tile_start[k] + CEIL_DIV(t.numel, kTile);
    if (++chunk.count == kChunkTensors) flush();
  }
  flush();
}

// Launches Op over every tensor of the group (the lists checked by csrc/bind/optim.h) on the
// current device; fill(args, TypeTag<T>) sets the Args of each dtype.
template <template <class> class Op, class Fill>
void run_update(const std::vector<std::vector<ArrayView>>& lists, Fill&& fill) {
  if (lists[0].empty()) return;
  typename Op<float>::Args a32{};
  typename Op<double>::Args a64{};
  fill(a32, TypeTag<float>{});
  fill(a64, TypeTag<double>{});
  const std::vector<TensorSlots> slots = tensor_slots(lists);
  launch_update<Op<float>, float>(slots, DType::f32, a32);
  launch_update<Op<double>, double>(slots, DType::f64, a64);
}

// The element updates of csrc/ops/optim.h (operands: param, grad, one or two states).
template <class Op, class T> struct Element {
  using Args = typename Op::template Coeffs<T>;
  static __device__ inline void apply(Ptrs<T> p, int64_t i, const Args& a) {
    T unused = T(0);
    Op::update(p[0][i], p[1][i], p[2][i], p[3] != nullptr ? p[3][i] : unused, a);
  }
};

}  // namespace

template <class Op>
void Cuda::element_step(const std::vector<std::vector<ArrayView>>& lists,
                        const typename Op::template Coeffs<float>& c32,
                        const typename Op::template Coeffs<double>& c64) {
  if (lists[0].empty()) return;
  const std::vector<TensorSlots> slots = tensor_slots(lists);
  launch_update<Element<Op, float>, float>(slots, DType::f32, c32);
  launch_update<Element<Op, double>, double>(slots, DType::f64, c64);
}
#define TG_INSTANTIATE(Op)                                                              \
  template void Cuda::element_step<ops::optim::Op>(                                     \
      const std::vector<std::vector<ArrayView>>&, const ops::optim::Op::Coeffs<float>&,   \
      const ops::optim::Op::Coeffs<double>&);
TG_OPTIM_ELEMENT_OPS(TG_INSTANTIATE)
#undef TG_INSTANTIATE

// ---------------------------------------------------------------------------------------------
// Entry points (csrc/bind/optim.h has checked the lists).

void Cuda::sgd_step(const std::vector<std::vector<ArrayView>>& lists, const SgdConfig& c) {
  const int mom = c.momentum == 0.0 ? kNoMomentum : c.first_step ? kFirstStep : kRunning;
  run_update<Sgd>(lists, [&](auto& a, auto tag) {
    using T = typename decltype(tag)::type;
    static_cast<SgdCoeffs<T>&>(a) = sgd_coeffs<T>(c);
    a.wd = c.weight_decay != 0.0;
    a.nesterov = c.nesterov && mom != kNoMomentum;
    a.mom = mom;
  });
}

void Cuda::adam_step(const std::vector<std::vector<ArrayView>>& lists, const AdamConfig& c) {
  run_update<Adam>(lists, [&](auto& a, auto tag) {
    using T = typename decltype(tag)::type;
    static_cast<AdamCoeffs<T>&>(a) = adam_coeffs<T>(c);
    a.decay = c.weight_decay == 0.0 ? kNoDecay : c.decoupled ? kDecoupled : kCoupled;
    a.small_w1 = small_weight(1.0 - c.beta1);
    a.amsgrad = c.amsgrad;
  });
}

void Cuda::rmsprop_step(const std::vector<std::vector<ArrayView>>& lists,
                        const RmspropConfig& c) {
  run_update<Rmsprop>(lists, [&](auto& a, auto tag) {
    using T = typename decltype(tag)::type;
    static_cast<RmspropCoeffs<T>&>(a) = rmsprop_coeffs<T>(c);
    a.wd = c.weight_decay != 0.0;
    a.centered = c.centered;
    a.small_w = small_weight(1.0 - c.alpha);
    a.use_momentum = c.momentum > 0.0;
  });
}

void Cuda::adagrad_step(const std::vector<std::vector<ArrayView>>& lists,
                        const AdagradConfig& c) {
  run_update<Adagrad>(lists, [&](auto& a, auto tag) {
    using T = typename decltype(tag)::type;
    static_cast<AdagradCoeffs<T>&>(a) = adagrad_coeffs<T>(c);
    a.wd = c.weight_decay != 0.0;
  });
}

void bind_optim(py::module_& m) { bind::optim<Cuda>(m); }

}  // namespace tg::cuda
