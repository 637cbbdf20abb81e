// Fused optimizer updates: sgd_step, adam_step (Adam and AdamW), rmsprop_step, adagrad_step, and
// element_step, the loop over the element updates of csrc/ops/optim.h (NAdam, RAdam, ...).
// One call updates every parameter of a param group in place, with PyTorch's update rules
// (torch.optim's single-tensor path), computed in the parameter's dtype with the same order of
// operations. All tensors of the call form one flat range of elements that parallel_for splits
// across threads, so a group of many small tensors is as cheap as one large tensor. Each update
// loop is compiled for the baseline ISA and for AVX2/FMA; the variant is picked at run time.
#include <cmath>
#include <optional>
#include <type_traits>

#include "bind/optim.h"
#include "common.h"
#include "isa.h"
#include "pyarray.h"

namespace tg {
namespace {


// Updates elements [begin, end) of one tensor; `ptrs` are the tensor's operands in the order the
// kernel lists them, `args` the kernel's coefficients in the tensor's dtype.
// The operands of one tensor never overlap (the optimizer's own param, grad and state arrays):
// the kernels read them through restrict pointers, which lets the compiler vectorize the loops.
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

// ---------------------------------------------------------------------------------------------
// SGD. Operands: param, grad, momentum_buffer.
//   d = ±grad (+ weight_decay * param)
//   first step:  buf = d          later: buf = momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;    param -= lr * d

enum SgdMomentum { kNoMomentum = 0, kFirstStep = 1, kRunning = 2 };

template <class T> using SgdArgs = SgdCoeffs<T>;

template <class T, bool WD, int Mom, bool Nesterov> struct SgdKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const SgdArgs<T>*>(args);
    T* __restrict__ p = static_cast<T*>(ptrs[0]);
    const T* __restrict__ g = static_cast<const T*>(ptrs[1]);
    T* __restrict__ buf = static_cast<T*>(ptrs[2]);
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

template <class T> using AdamArgs = AdamCoeffs<T>;

template <class T, int Decay, bool SmallW1, bool Amsgrad> struct AdamKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const AdamArgs<T>*>(args);
    T* __restrict__ p = static_cast<T*>(ptrs[0]);
    const T* __restrict__ g = static_cast<const T*>(ptrs[1]);
    T* __restrict__ m = static_cast<T*>(ptrs[2]);
    T* __restrict__ v = static_cast<T*>(ptrs[3]);
    T* __restrict__ vmax = static_cast<T*>(ptrs[4]);
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

template <class T> using RmspropArgs = RmspropCoeffs<T>;

template <class T, bool WD, bool Centered, bool SmallW, bool Momentum> struct RmspropKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const RmspropArgs<T>*>(args);
    T* __restrict__ p = static_cast<T*>(ptrs[0]);
    const T* __restrict__ g = static_cast<const T*>(ptrs[1]);
    T* __restrict__ sq = static_cast<T*>(ptrs[2]);
    T* __restrict__ buf = static_cast<T*>(ptrs[3]);
    T* __restrict__ ga = static_cast<T*>(ptrs[4]);
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

template <class T> using AdagradArgs = AdagradCoeffs<T>;

template <class T, bool WD> struct AdagradKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto& a = *static_cast<const AdagradArgs<T>*>(args);
    T* __restrict__ p = static_cast<T*>(ptrs[0]);
    const T* __restrict__ g = static_cast<const T*>(ptrs[1]);
    T* __restrict__ sum = static_cast<T*>(ptrs[2]);
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

// One update over the group, both dtypes' coefficients filled (a group may mix them).
template <class Args32, class Args64>
void run_with_args(const std::vector<std::vector<ArrayView>>& lists, RangeFn fn32, RangeFn fn64,
                   const Args32& a32, const Args64& a64) {
  run_update(tensor_slots(lists), Update{fn32, fn64, &a32, &a64});
}

// ---------------------------------------------------------------------------------------------
// The element updates of csrc/ops/optim.h. Operands: param, grad, state, state (absent for
// ASGD's one state: a local stands in). Their flags are uniform over the loop, which the
// compiler unswitches.

template <class Op, class T> struct ElementKernel {
  static TG_ALWAYS_INLINE void run(void* const* ptrs, int64_t b, int64_t e, const void* args) {
    const auto a = *static_cast<const typename Op::template Coeffs<T>*>(args);
    T* __restrict__ p = static_cast<T*>(ptrs[0]);
    const T* __restrict__ g = static_cast<const T*>(ptrs[1]);
    T* __restrict__ s1 = static_cast<T*>(ptrs[2]);
    T* __restrict__ s2 = static_cast<T*>(ptrs[3]);
    if (s2 == nullptr) {
      for (int64_t i = b; i < e; ++i) {
        T unused = T(0);
        Op::update(p[i], g[i], s1[i], unused, a);
      }
    } else {
      for (int64_t i = b; i < e; ++i) Op::update(p[i], g[i], s1[i], s2[i], a);
    }
  }
};

}  // namespace

template <class Op>
void Cpu::element_step(const std::vector<std::vector<ArrayView>>& lists,
                       const typename Op::template Coeffs<float>& c32,
                       const typename Op::template Coeffs<double>& c64) {
  const bool avx2 = use_avx2();
  run_with_args(lists, pick<ElementKernel<Op, float>>(avx2), pick<ElementKernel<Op, double>>(avx2),
                c32, c64);
}
#define TG_INSTANTIATE(Op)                                                            \
  template void Cpu::element_step<ops::optim::Op>(                                    \
      const std::vector<std::vector<ArrayView>>&, const ops::optim::Op::Coeffs<float>&, \
      const ops::optim::Op::Coeffs<double>&);
TG_OPTIM_ELEMENT_OPS(TG_INSTANTIATE)
#undef TG_INSTANTIATE

// ---------------------------------------------------------------------------------------------
// Entry points (csrc/bind/optim.h has checked the lists).

void Cpu::sgd_step(const std::vector<std::vector<ArrayView>>& lists, const SgdConfig& c) {
  const int mom = c.momentum == 0.0 ? kNoMomentum : c.first_step ? kFirstStep : kRunning;
  const bool wd = c.weight_decay != 0.0, avx2 = use_avx2();
  run_with_args(lists, sgd_fn<float>(wd, mom, c.nesterov, avx2),
                         sgd_fn<double>(wd, mom, c.nesterov, avx2), sgd_coeffs<float>(c),
                         sgd_coeffs<double>(c));
}

void Cpu::adam_step(const std::vector<std::vector<ArrayView>>& lists, const AdamConfig& c) {
  const int decay = c.weight_decay == 0.0 ? kNoDecay : c.decoupled ? kDecoupled : kCoupled;
  const bool small = small_weight(1.0 - c.beta1), avx2 = use_avx2();
  run_with_args(lists, adam_fn<float>(decay, small, c.amsgrad, avx2),
                          adam_fn<double>(decay, small, c.amsgrad, avx2), adam_coeffs<float>(c),
                          adam_coeffs<double>(c));
}

void Cpu::rmsprop_step(const std::vector<std::vector<ArrayView>>& lists,
                       const RmspropConfig& c) {
  const bool wd = c.weight_decay != 0.0, small = small_weight(1.0 - c.alpha);
  const bool use_mom = c.momentum > 0.0, avx2 = use_avx2();
  run_with_args(lists, rmsprop_fn<float>(wd, c.centered, small, use_mom, avx2),
                             rmsprop_fn<double>(wd, c.centered, small, use_mom, avx2),
                             rmsprop_coeffs<float>(c), rmsprop_coeffs<double>(c));
}

void Cpu::adagrad_step(const std::vector<std::vector<ArrayView>>& lists,
                       const AdagradConfig& c) {
  const bool wd = c.weight_decay != 0.0, avx2 = use_avx2();
  run_with_args(lists, adagrad_fn<float>(wd, avx2), adagrad_fn<double>(wd, avx2),
                             adagrad_coeffs<float>(c), adagrad_coeffs<double>(c));
}

void bind_optim(py::module_& m) { bind::optim<Cpu>(m); }

}  // namespace tg
