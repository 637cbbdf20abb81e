// Fused optimizer updates on the GPU, mirroring csrc/cpu/optim.cpp: sgd_step, adam_step (Adam
// and AdamW), rmsprop_step, adagrad_step. One call updates every parameter of a param group in
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

template <class T> T sign_of(bool maximize) { return maximize ? T(-1) : T(1); }

// Operand pointers of one tensor, in the order each update lists them.
constexpr int kMaxOperands = 5;
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
  struct Args {
    T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
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
  struct Args {
    T sign, weight_decay, decay_factor, w1, one_minus_w1, beta2, one_minus_beta2, bc2_sqrt, eps,
        neg_step_size;
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
  struct Args {
    T sign, weight_decay, alpha, one_minus_alpha, w, one_minus_w, eps, momentum, neg_lr;
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
  struct Args {
    T sign, weight_decay, eps, neg_clr;
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

struct TensorSlots {
  DType dtype = DType::f32;
  int64_t numel = 0;
  void* ptr[kMaxOperands] = {};
};

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

// ---------------------------------------------------------------------------------------------
// Bindings: lists of CUDA arrays in, validated as the CPU validates numpy arrays, then the
// update launched on the arrays' device.

struct Operand {
  const char* name;
  py::sequence list;
  bool writable;
  bool used;         // an unused operand must be an empty list
  const char* when;  // for the error when an unused operand is not empty
};

struct Collected {
  std::vector<TensorSlots> slots;
  int device = -1;
};

std::string type_name(const py::handle& obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

ArrayView checked_view(const char* op, const py::handle& obj, const char* list, size_t i,
                       bool writable, int* device) {
  // (device_view's own TypeError would not say which list and entry)
  TG_CHECK(py::isinstance<Buffer>(py::getattr(obj, "buffer", py::none())), op, ": ", list, "[", i,
           "] must be a CUDA array, got ", type_name(obj));
  if (writable) {
    const py::object meta = obj.attr("meta");
    TG_CHECK(!py::isinstance<py::array>(meta) || py::reinterpret_borrow<py::array>(meta).writeable(),
             op, ": ", list, "[", i, "] is read-only");
  }
  int d = -1;
  ArrayView v = device_view(obj, op, writable, &d);
  TG_CHECK(v.dtype == DType::f32 || v.dtype == DType::f64, op, ": ", list, "[", i,
           "] must be float32 or float64, got ", dtype_name(v.dtype));
  // (an empty array has no elements to lay out; numpy gives it stride 0)
  TG_CHECK(v.numel() == 0 || v.is_contiguous(), op, ": ", list, "[", i, "] must be C-contiguous");
  TG_CHECK(reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype) == 0, op, ": ", list, "[", i,
           "] is not aligned to its item size");
  TG_CHECK(*device < 0 || d == *device, op, ": expected all arrays on one device, got cuda:",
           *device, " and cuda:", d);
  *device = d;
  return v;
}

Collected collect(const char* op, const std::vector<Operand>& ops) {
  // A bare array is itself a sequence (of its rows): reject it rather than update its rows.
  for (const Operand& o : ops)
    if (!py::isinstance<py::list>(o.list) && !py::isinstance<py::tuple>(o.list))
      throw py::type_error(
          detail::cat(op, ": ", o.name, " must be a list of arrays, got ", type_name(o.list)));
  const size_t n = py::len(ops[0].list);
  for (size_t k = 1; k < ops.size(); ++k) {
    const size_t len = py::len(ops[k].list);
    if (ops[k].used)
      TG_CHECK(len == n, op, ": got ", n, " params but ", len, " ", ops[k].name,
               " (one per param expected)");
    else
      TG_CHECK(len == 0, op, ": ", ops[k].name, " must be empty ", ops[k].when, ", got ", len,
               " arrays");
  }
  Collected c;
  c.slots.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const py::object pobj = ops[0].list[i];
    const ArrayView pv = checked_view(op, pobj, ops[0].name, i, ops[0].writable, &c.device);
    TensorSlots& t = c.slots[i];
    t.dtype = pv.dtype;
    t.numel = pv.numel();
    t.ptr[0] = pv.data;
    for (size_t k = 1; k < ops.size(); ++k) {
      if (!ops[k].used) continue;
      const py::object obj = ops[k].list[i];
      const ArrayView v = checked_view(op, obj, ops[k].name, i, ops[k].writable, &c.device);
      TG_CHECK(v.shape == pv.shape, op, ": ", ops[k].name, "[", i, "] has shape ",
               shape_str(v.shape), " but params[", i, "] has shape ", shape_str(pv.shape));
      TG_CHECK(v.dtype == pv.dtype, op, ": ", ops[k].name, "[", i, "] is ", dtype_name(v.dtype),
               " but params[", i, "] is ", dtype_name(pv.dtype));
      t.ptr[k] = v.data;
    }
  }
  return c;
}

// Fills the coefficients for each dtype and launches the update on the group's device.
template <template <class> class Op, class Fill>
void run_update(const Collected& c, Fill&& fill) {
  if (c.device < 0) return;  // no params
  typename Op<float>::Args a32{};
  typename Op<double>::Args a64{};
  fill(a32);
  fill(a64);
  set_device(c.device);
  launch_update<Op<float>, float>(c.slots, DType::f32, a32);
  launch_update<Op<double>, double>(c.slots, DType::f64, a64);
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_step",
      [](const py::sequence& params, const py::sequence& grads,
         const py::sequence& momentum_buffers, double lr, double momentum, double dampening,
         double weight_decay, bool nesterov, bool maximize, bool first_step) {
        const char* op = "sgd_step";
        const bool use_mom = momentum != 0.0;
        const Collected c = collect(op, {{"params", params, true, true, ""},
                                         {"grads", grads, false, true, ""},
                                         {"momentum_buffers", momentum_buffers, true, use_mom,
                                          "when momentum is 0"}});
        const int mom = !use_mom ? kNoMomentum : first_step ? kFirstStep : kRunning;
        run_update<Sgd>(c, [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.momentum = static_cast<T>(momentum);
          a.one_minus_dampening = static_cast<T>(1.0 - dampening);
          a.neg_lr = static_cast<T>(-lr);
          a.wd = weight_decay != 0.0;
          a.nesterov = nesterov && mom != kNoMomentum;
          a.mom = mom;
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("lr"),
      py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
      py::arg("maximize"), py::arg("first_step"),
      "One torch.optim.SGD step over a param group, in place. momentum_buffers: one per param "
      "when momentum != 0 (else empty); with first_step they are overwritten with the gradient, "
      "as torch initialises them.");

  m.def(
      "adam_step",
      [](const py::sequence& params, const py::sequence& grads, const py::sequence& exp_avgs,
         const py::sequence& exp_avg_sqs, const py::sequence& max_exp_avg_sqs, int64_t step,
         double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
         bool amsgrad, bool maximize) {
        const char* op = "adam_step";
        TG_CHECK(step >= 1, op, ": step must be >= 1 (the count after this update), got ", step);
        const Collected c = collect(op, {{"params", params, true, true, ""},
                                         {"grads", grads, false, true, ""},
                                         {"exp_avgs", exp_avgs, true, true, ""},
                                         {"exp_avg_sqs", exp_avg_sqs, true, true, ""},
                                         {"max_exp_avg_sqs", max_exp_avg_sqs, true, amsgrad,
                                          "when amsgrad is False"}});
        // Scalars in double as torch computes them in Python, rounded to the parameter's dtype
        // where they meet a tensor; pow(x, 0.5) as torch writes bias_correction2 ** 0.5.
        const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
        const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
        const double step_size = lr / bc1;
        const double bc2_sqrt = std::pow(bc2, 0.5);
        const double w1 = 1.0 - beta1;
        const int decay = weight_decay == 0.0 ? kNoDecay : decoupled ? kDecoupled : kCoupled;
        run_update<Adam>(c, [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.decay_factor = static_cast<T>(1.0 - lr * weight_decay);
          a.w1 = static_cast<T>(w1);
          a.one_minus_w1 = T(1) - a.w1;
          a.beta2 = static_cast<T>(beta2);
          a.one_minus_beta2 = static_cast<T>(1.0 - beta2);
          a.bc2_sqrt = static_cast<T>(bc2_sqrt);
          a.eps = static_cast<T>(eps);
          a.neg_step_size = static_cast<T>(-step_size);
          a.decay = decay;
          a.small_w1 = std::abs(w1) < 0.5;
          a.amsgrad = amsgrad;
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("step"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"),
      py::arg("amsgrad"), py::arg("maximize"),
      "One torch.optim.Adam (decoupled=False) or AdamW (decoupled=True) step over a param group, "
      "in place. step is the step count after this update (>= 1); max_exp_avg_sqs is empty "
      "unless amsgrad.");

  m.def(
      "rmsprop_step",
      [](const py::sequence& params, const py::sequence& grads, const py::sequence& square_avgs,
         const py::sequence& momentum_buffers, const py::sequence& grad_avgs, double lr,
         double alpha, double eps, double weight_decay, double momentum, bool centered,
         bool maximize) {
        const char* op = "rmsprop_step";
        const bool use_mom = momentum > 0.0;
        const Collected c = collect(op, {{"params", params, true, true, ""},
                                         {"grads", grads, false, true, ""},
                                         {"square_avgs", square_avgs, true, true, ""},
                                         {"momentum_buffers", momentum_buffers, true, use_mom,
                                          "when momentum is 0"},
                                         {"grad_avgs", grad_avgs, true, centered,
                                          "when centered is False"}});
        const double w = 1.0 - alpha;
        run_update<Rmsprop>(c, [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.alpha = static_cast<T>(alpha);
          a.one_minus_alpha = static_cast<T>(1.0 - alpha);
          a.w = static_cast<T>(w);
          a.one_minus_w = T(1) - a.w;
          a.eps = static_cast<T>(eps);
          a.momentum = static_cast<T>(momentum);
          a.neg_lr = static_cast<T>(-lr);
          a.wd = weight_decay != 0.0;
          a.centered = centered;
          a.small_w = std::abs(w) < 0.5;
          a.use_momentum = use_mom;
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"),
      py::arg("grad_avgs"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
      "One torch.optim.RMSprop step over a param group, in place. momentum_buffers: one per "
      "param when momentum > 0 (else empty); grad_avgs: one per param when centered (else empty).");

  m.def(
      "adagrad_step",
      [](const py::sequence& params, const py::sequence& grads, const py::sequence& state_sums,
         int64_t step, double lr, double lr_decay, double weight_decay, double eps,
         bool maximize) {
        const char* op = "adagrad_step";
        TG_CHECK(step >= 1, op, ": step must be >= 1 (the count after this update), got ", step);
        const Collected c = collect(op, {{"params", params, true, true, ""},
                                         {"grads", grads, false, true, ""},
                                         {"state_sums", state_sums, true, true, ""}});
        const double clr = lr / (1.0 + static_cast<double>(step - 1) * lr_decay);
        run_update<Adagrad>(c, [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.eps = static_cast<T>(eps);
          a.neg_clr = static_cast<T>(-clr);
          a.wd = weight_decay != 0.0;
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("step"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      "One torch.optim.Adagrad step over a param group, in place. step is the step count after "
      "this update (>= 1).");
}

}  // namespace tg::cuda
