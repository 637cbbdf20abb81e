// Fused optimizer updates: sgd_step, adam_step (Adam and AdamW), rmsprop_step, adagrad_step.
// One call updates every parameter of a param group in place, with PyTorch's update rules
// (torch.optim's single-tensor path), computed in the parameter's dtype with the same order of
// operations. All tensors of the call form one flat range of elements that parallel_for splits
// across threads, so a group of many small tensors is as cheap as one large tensor. Each update
// loop is compiled for the baseline ISA and for AVX2/FMA; the variant is picked at run time.
#include <cmath>
#include <optional>
#include <type_traits>

#include "common.h"
#include "isa.h"
#include "pyarray.h"

namespace tg {
namespace {


// Updates elements [begin, end) of one tensor; `ptrs` are the tensor's operands in the order the
// kernel lists them, `args` the kernel's coefficients in the tensor's dtype.
using RangeFn = void (*)(void* const* ptrs, int64_t begin, int64_t end, const void* args);

template <class K> void range_base(void* const* p, int64_t b, int64_t e, const void* a) {
  K::run(p, b, e, a);
}
template <class K> TG_TARGET_AVX2 void range_avx2(void* const* p, int64_t b, int64_t e, const void* a) {
  K::run(p, b, e, a);
}
template <class K> RangeFn pick(bool avx2) { return avx2 ? &range_avx2<K> : &range_base<K>; }

// Turns a run-time flag into a compile-time one, so that each loop is branch-free.
template <class F> RangeFn with_flag(bool flag, F&& f) {
  return flag ? f(std::true_type{}) : f(std::false_type{});
}

// torch.lerp(self, end, w): two forms, chosen by |w| < 0.5, so that the result is exact at
// both ends of the interval. `one_minus_w` is 1 - w rounded to T, as torch computes it.
template <bool Small, class T>
TG_ALWAYS_INLINE T lerp(T self, T end, T w, T one_minus_w) {
  if constexpr (Small) return self + w * (end - self);
  else return end - (end - self) * one_minus_w;
}

// torch.maximum: NaN in either operand gives NaN.
template <class T> TG_ALWAYS_INLINE T nan_max(T a, T b) { return (a > b || a != a) ? a : b; }

// Gradient direction: maximize flips the sign (multiplying by -1 is exact).
template <class T> T sign_of(bool maximize) { return maximize ? T(-1) : T(1); }

// ---------------------------------------------------------------------------------------------
// SGD. Operands: param, grad, momentum_buffer.
//   d = ±grad (+ weight_decay * param)
//   first step:  buf = d          later: buf = momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;    param -= lr * d

enum SgdMomentum { kNoMomentum = 0, kFirstStep = 1, kRunning = 2 };

template <class T> struct SgdArgs {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
};

template <class T, bool WD, int Mom, bool Nesterov> struct SgdKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const SgdArgs<T>*>(args);
    T* p = static_cast<T*>(ptrs[0]);
    const T* g = static_cast<const T*>(ptrs[1]);
    T* buf = static_cast<T*>(ptrs[2]);
    const T sign = a.sign, wd = a.weight_decay, mom = a.momentum, omd = a.one_minus_dampening;
    const T neg_lr = a.neg_lr;
    for (int64_t i = b; i < e; ++i) {
      T d = sign * g[i];
      if constexpr (WD) d = d + wd * p[i];
      if constexpr (Mom == kFirstStep) {
        buf[i] = d;
        if constexpr (Nesterov) d = d + mom * d;
      } else if constexpr (Mom == kRunning) {
        T m = buf[i] * mom;
        m = m + omd * d;
        buf[i] = m;
        d = Nesterov ? d + mom * m : m;
      }
      p[i] = p[i] + neg_lr * d;
    }
  }
};

template <class T>
RangeFn sgd_fn(bool wd, int mom, bool nesterov, bool avx2) {
  return with_flag(wd, [&](auto WD) {
    return with_flag(nesterov && mom != kNoMomentum, [&](auto NEST) {
      constexpr bool kWD = decltype(WD)::value, kNest = decltype(NEST)::value;
      switch (mom) {
        case kNoMomentum: return pick<SgdKernel<T, kWD, kNoMomentum, false>>(avx2);
        case kFirstStep: return pick<SgdKernel<T, kWD, kFirstStep, kNest>>(avx2);
        default: return pick<SgdKernel<T, kWD, kRunning, kNest>>(avx2);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW. Operands: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad only).
//   d = ±grad;  AdamW: param *= 1 - lr * wd;  Adam: d += wd * param
//   m = lerp(m, d, 1 - beta1);  v = beta2 * v + (1 - beta2) * d * d;  amsgrad: vmax = max(vmax, v)
//   param += -(lr / bc1) * m / (sqrt(v or vmax) / sqrt(bc2) + eps),  bc_i = 1 - beta_i^step

enum WeightDecay { kNoDecay = 0, kCoupled = 1, kDecoupled = 2 };

template <class T> struct AdamArgs {
  T sign, weight_decay, decay_factor, w1, one_minus_w1, beta2, one_minus_beta2, bc2_sqrt, eps,
      neg_step_size;
};

template <class T, int Decay, bool SmallW1, bool Amsgrad> struct AdamKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const AdamArgs<T>*>(args);
    T* p = static_cast<T*>(ptrs[0]);
    const T* g = static_cast<const T*>(ptrs[1]);
    T* m = static_cast<T*>(ptrs[2]);
    T* v = static_cast<T*>(ptrs[3]);
    T* vmax = static_cast<T*>(ptrs[4]);
    const T sign = a.sign, wd = a.weight_decay, decay = a.decay_factor, w1 = a.w1;
    const T omw1 = a.one_minus_w1, beta2 = a.beta2, omb2 = a.one_minus_beta2;
    const T bc2_sqrt = a.bc2_sqrt, eps = a.eps, neg_ss = a.neg_step_size;
    for (int64_t i = b; i < e; ++i) {
      T d = sign * g[i];
      T pi = p[i];
      if constexpr (Decay == kDecoupled) pi = pi * decay;
      if constexpr (Decay == kCoupled) d = d + wd * pi;
      const T mi = lerp<SmallW1>(m[i], d, w1, omw1);
      m[i] = mi;
      T vi = v[i] * beta2;
      vi = vi + omb2 * d * d;
      v[i] = vi;
      if constexpr (Amsgrad) {
        vi = nan_max(vmax[i], vi);
        vmax[i] = vi;
      }
      const T denom = std::sqrt(vi) / bc2_sqrt + eps;
      p[i] = pi + neg_ss * mi / denom;
    }
  }
};

template <class T>
RangeFn adam_fn(int decay, bool small_w1, bool amsgrad, bool avx2) {
  return with_flag(small_w1, [&](auto SMALL) {
    return with_flag(amsgrad, [&](auto AMS) {
      constexpr bool kSmall = decltype(SMALL)::value, kAms = decltype(AMS)::value;
      switch (decay) {
        case kNoDecay: return pick<AdamKernel<T, kNoDecay, kSmall, kAms>>(avx2);
        case kCoupled: return pick<AdamKernel<T, kCoupled, kSmall, kAms>>(avx2);
        default: return pick<AdamKernel<T, kDecoupled, kSmall, kAms>>(avx2);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// RMSprop. Operands: param, grad, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
//   d = ±grad (+ wd * param);  s = alpha * s + (1 - alpha) * d * d
//   centered: ga = lerp(ga, d, 1 - alpha), avg = sqrt(s - ga * ga) + eps;  else avg = sqrt(s) + eps
//   momentum: buf = momentum * buf + d / avg, param -= lr * buf;  else param -= lr * d / avg

template <class T> struct RmspropArgs {
  T sign, weight_decay, alpha, one_minus_alpha, w, one_minus_w, eps, momentum, neg_lr;
};

template <class T, bool WD, bool Centered, bool SmallW, bool Momentum> struct RmspropKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const RmspropArgs<T>*>(args);
    T* p = static_cast<T*>(ptrs[0]);
    const T* g = static_cast<const T*>(ptrs[1]);
    T* sq = static_cast<T*>(ptrs[2]);
    T* buf = static_cast<T*>(ptrs[3]);
    T* ga = static_cast<T*>(ptrs[4]);
    const T sign = a.sign, wd = a.weight_decay, alpha = a.alpha, oma = a.one_minus_alpha;
    const T w = a.w, omw = a.one_minus_w, eps = a.eps, mom = a.momentum, neg_lr = a.neg_lr;
    for (int64_t i = b; i < e; ++i) {
      T d = sign * g[i];
      if constexpr (WD) d = d + wd * p[i];
      T s = sq[i] * alpha;
      s = s + oma * d * d;
      sq[i] = s;
      T avg;
      if constexpr (Centered) {
        const T gi = lerp<SmallW>(ga[i], d, w, omw);
        ga[i] = gi;
        avg = std::sqrt(s + T(-1) * gi * gi);
      } else {
        avg = std::sqrt(s);
      }
      avg = avg + eps;
      if constexpr (Momentum) {
        T bi = buf[i] * mom;
        bi = bi + T(1) * d / avg;
        buf[i] = bi;
        p[i] = p[i] + neg_lr * bi;
      } else {
        p[i] = p[i] + neg_lr * d / avg;
      }
    }
  }
};

template <class T>
RangeFn rmsprop_fn(bool wd, bool centered, bool small_w, bool momentum, bool avx2) {
  return with_flag(wd, [&](auto WD) {
    return with_flag(momentum, [&](auto MOM) {
      return with_flag(small_w, [&](auto SMALL) {
        constexpr bool kWD = decltype(WD)::value, kMom = decltype(MOM)::value;
        constexpr bool kSmall = decltype(SMALL)::value;
        return centered ? pick<RmspropKernel<T, kWD, true, kSmall, kMom>>(avx2)
                        : pick<RmspropKernel<T, kWD, false, true, kMom>>(avx2);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Adagrad. Operands: param, grad, state_sum.
//   d = ±grad (+ wd * param);  sum += d * d;  param -= clr * d / (sqrt(sum) + eps),
//   clr = lr / (1 + (step - 1) * lr_decay)

template <class T> struct AdagradArgs {
  T sign, weight_decay, eps, neg_clr;
};

template <class T, bool WD> struct AdagradKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const AdagradArgs<T>*>(args);
    T* p = static_cast<T*>(ptrs[0]);
    const T* g = static_cast<const T*>(ptrs[1]);
    T* sum = static_cast<T*>(ptrs[2]);
    const T sign = a.sign, wd = a.weight_decay, eps = a.eps, neg_clr = a.neg_clr;
    for (int64_t i = b; i < e; ++i) {
      T d = sign * g[i];
      if constexpr (WD) d = d + wd * p[i];
      const T s = sum[i] + T(1) * d * d;
      sum[i] = s;
      const T stdev = std::sqrt(s) + eps;
      p[i] = p[i] + neg_clr * d / stdev;
    }
  }
};

template <class T> RangeFn adagrad_fn(bool wd, bool avx2) {
  return with_flag(wd, [&](auto WD) { return pick<AdagradKernel<T, decltype(WD)::value>>(avx2); });
}

// ---------------------------------------------------------------------------------------------
// The driver: every tensor of the group laid end to end as one range of elements.

constexpr int kMaxOperands = 5;

struct TensorSlots {
  DType dtype = DType::f32;
  int64_t numel = 0;
  void* ptr[kMaxOperands] = {};
};

// The update of one call: the range function and coefficients for each dtype (a group may mix
// float32 and float64 parameters).
struct Update {
  RangeFn fn32 = nullptr, fn64 = nullptr;
  const void* args32 = nullptr;
  const void* args64 = nullptr;
};

void run_update(const std::vector<TensorSlots>& ts, const Update& u) {
  std::vector<int64_t> start(ts.size() + 1, 0);
  for (size_t i = 0; i < ts.size(); ++i) start[i + 1] = start[i] + ts[i].numel;
  parallel_for(start.back(), kElementwiseGrain, [&](int64_t b, int64_t e) {
    // The last tensor starting at or before b (skipping over empty tensors as we go).
    size_t i = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), b) - start.begin());
    --i;
    while (b < e) {
      const int64_t stop = std::min(e, start[i + 1]);
      if (stop > b) {
        const TensorSlots& t = ts[i];
        if (t.dtype == DType::f32) u.fn32(t.ptr, b - start[i], stop - start[i], u.args32);
        else u.fn64(t.ptr, b - start[i], stop - start[i], u.args64);
      }
      b = stop;
      ++i;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Bindings: lists of numpy arrays in, validated, then one update with the GIL released.

struct Operand {
  const char* name;
  py::sequence list;
  bool writable;
  bool used;         // an unused operand must be an empty list
  const char* when;  // for the error when an unused operand is not empty
};

// The arrays of a call, kept referenced while the GIL is released (the caller's lists could be
// changed by another thread meanwhile), and their data pointers.
struct Collected {
  std::vector<py::array> keep;
  std::vector<TensorSlots> slots;
  int64_t total = 0;
};

std::string type_name(const py::handle& obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

ArrayView checked_view(const char* op, const py::handle& obj, const char* list, size_t i,
                       bool writable) {
  TG_CHECK(py::isinstance<py::array>(obj), op, ": ", list, "[", i, "] must be a numpy array, got ",
           type_name(obj));
  const auto a = py::reinterpret_borrow<py::array>(obj);
  TG_CHECK(!writable || a.writeable(), op, ": ", list, "[", i, "] is read-only");
  ArrayView v = view_of(a, op, writable);
  TG_CHECK(v.dtype == DType::f32 || v.dtype == DType::f64, op, ": ", list, "[", i,
           "] must be float32 or float64, got ", dtype_name(v.dtype));
  // (an empty array has no elements to lay out; numpy gives it stride 0)
  TG_CHECK(v.numel() == 0 || v.is_contiguous(), op, ": ", list, "[", i, "] must be C-contiguous");
  TG_CHECK(reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype) == 0, op, ": ", list, "[", i,
           "] is not aligned to its item size");
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
  c.keep.reserve(n * ops.size());
  for (size_t i = 0; i < n; ++i) {
    const py::object pobj = ops[0].list[i];
    const ArrayView pv = checked_view(op, pobj, ops[0].name, i, ops[0].writable);
    c.keep.push_back(py::reinterpret_borrow<py::array>(pobj));
    TensorSlots& t = c.slots[i];
    t.dtype = pv.dtype;
    t.numel = pv.numel();
    t.ptr[0] = pv.data;
    for (size_t k = 1; k < ops.size(); ++k) {
      if (!ops[k].used) continue;
      const py::object obj = ops[k].list[i];
      const ArrayView v = checked_view(op, obj, ops[k].name, i, ops[k].writable);
      TG_CHECK(v.shape == pv.shape, op, ": ", ops[k].name, "[", i, "] has shape ",
               shape_str(v.shape), " but params[", i, "] has shape ", shape_str(pv.shape));
      TG_CHECK(v.dtype == pv.dtype, op, ": ", ops[k].name, "[", i, "] is ", dtype_name(v.dtype),
               " but params[", i, "] is ", dtype_name(pv.dtype));
      c.keep.push_back(py::reinterpret_borrow<py::array>(obj));
      t.ptr[k] = v.data;
    }
    c.total += t.numel;
  }
  return c;
}

template <template <class> class Args, class Fill>
void run_with_args(const Collected& c, RangeFn fn32, RangeFn fn64, Fill&& fill) {
  Args<float> a32;
  Args<double> a64;
  fill(a32);
  fill(a64);
  ReleaseGilIfLarge nogil(c.total);
  run_update(c.slots, Update{fn32, fn64, &a32, &a64});
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
        const bool wd = weight_decay != 0.0, avx2 = cpu_has_avx2_fma();
        run_with_args<SgdArgs>(c, sgd_fn<float>(wd, mom, nesterov, avx2),
                               sgd_fn<double>(wd, mom, nesterov, avx2), [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.momentum = static_cast<T>(momentum);
          a.one_minus_dampening = static_cast<T>(1.0 - dampening);
          a.neg_lr = static_cast<T>(-lr);
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
        // Scalars are computed in double as torch computes them in Python, then rounded to the
        // parameter's dtype where they meet a tensor. pow(x, 0.5) rather than sqrt(x): torch
        // writes bias_correction2 ** 0.5.
        const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
        const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
        const double step_size = lr / bc1;
        const double bc2_sqrt = std::pow(bc2, 0.5);
        const double w1 = 1.0 - beta1;
        const int decay = weight_decay == 0.0 ? kNoDecay : decoupled ? kDecoupled : kCoupled;
        const bool small = std::abs(w1) < 0.5, avx2 = cpu_has_avx2_fma();
        run_with_args<AdamArgs>(c, adam_fn<float>(decay, small, amsgrad, avx2),
                                adam_fn<double>(decay, small, amsgrad, avx2), [&](auto& a) {
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
        const bool wd = weight_decay != 0.0, small = std::abs(w) < 0.5, avx2 = cpu_has_avx2_fma();
        run_with_args<RmspropArgs>(c, rmsprop_fn<float>(wd, centered, small, use_mom, avx2),
                                   rmsprop_fn<double>(wd, centered, small, use_mom, avx2),
                                   [&](auto& a) {
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
        const bool wd = weight_decay != 0.0, avx2 = cpu_has_avx2_fma();
        run_with_args<AdagradArgs>(c, adagrad_fn<float>(wd, avx2), adagrad_fn<double>(wd, avx2),
                                   [&](auto& a) {
          using T = std::decay_t<decltype(a.sign)>;
          a.sign = sign_of<T>(maximize);
          a.weight_decay = static_cast<T>(weight_decay);
          a.eps = static_cast<T>(eps);
          a.neg_clr = static_cast<T>(-clr);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("step"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      "One torch.optim.Adagrad step over a param group, in place. step is the step count after "
      "this update (>= 1).");
}

}  // namespace tg
