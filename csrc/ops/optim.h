// The element updates of NAdam, RAdam, Adamax, Adadelta, ASGD and Rprop, defined once for both
// backends: each is a host + device function of one element's parameter, gradient and two
// state values, run by csrc/cpu/optim.cpp's loops and csrc/cuda/optim.cu's kernels. The math is
// torch.optim's single-tensor path, operation by operation in the parameter's dtype T, each
// product and sum rounded on its own (the CPU build turns off FMA contraction; on the device the
// _rn intrinsics, which nvcc never contracts), so both backends give PyTorch's bits.
//
// Configs hold the hyperparameters as torch.optim names them; the coefficient structs the
// scalars each update reads, computed in double as PyTorch computes them in Python and rounded
// to T where they meet a tensor.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/scalar.h"

namespace tg::ops::optim {

// ---------------------------------------------------------------------------------------------
// IEEE operations, each rounded once.
#ifdef __CUDA_ARCH__
TG_HD float add(float a, float b) { return __fadd_rn(a, b); }
TG_HD double add(double a, double b) { return __dadd_rn(a, b); }
TG_HD float sub(float a, float b) { return __fsub_rn(a, b); }
TG_HD double sub(double a, double b) { return __dsub_rn(a, b); }
TG_HD float mul(float a, float b) { return __fmul_rn(a, b); }
TG_HD double mul(double a, double b) { return __dmul_rn(a, b); }
TG_HD float div(float a, float b) { return __fdiv_rn(a, b); }
TG_HD double div(double a, double b) { return __ddiv_rn(a, b); }
TG_HD float root(float a) { return __fsqrt_rn(a); }
TG_HD double root(double a) { return __dsqrt_rn(a); }
#else
template <class T> TG_HD T add(T a, T b) { return a + b; }
template <class T> TG_HD T sub(T a, T b) { return a - b; }
template <class T> TG_HD T mul(T a, T b) { return a * b; }
template <class T> TG_HD T div(T a, T b) { return a / b; }
template <class T> TG_HD T root(T a) { return std::sqrt(a); }
#endif

// torch.lerp(self, end, w): self + w (end - self) for |w| < 0.5, else end - (end - self)(1 - w),
// exact at both ends; `one_minus_w` is 1 - w rounded to T, as torch computes it.
template <class T>
TG_HD T lerp(bool small, T self, T end, T w, T one_minus_w) {
  return small ? add(self, mul(w, sub(end, self))) : sub(end, mul(sub(end, self), one_minus_w));
}
// torch.maximum: NaN in either operand gives NaN.
template <class T> TG_HD T nan_max(T a, T b) { return (a > b || a != a) ? a : b; }
// torch.sign: (0 < x) - (x < 0), so 0 for NaN.
template <class T> TG_HD T sign(T x) { return T((T(0) < x) - (x < T(0))); }

// d = ±grad, plus weight_decay * param unless the decay is decoupled (or there is none).
enum Decay : int { kNoDecay = 0, kCoupled = 1, kDecoupled = 2 };

// ---------------------------------------------------------------------------------------------
// Configs (one call: a param group at one step; `step` is the count after this update).

struct NadamConfig {
  int64_t step;
  double lr, beta1, beta2, eps, weight_decay, momentum_decay;
  bool decoupled, maximize;
};
struct RadamConfig {
  int64_t step;
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, maximize;
};
struct AdamaxConfig {
  int64_t step;
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize;
};
struct AdadeltaConfig {
  double lr, rho, eps, weight_decay;
  bool maximize;
};
// eta and mu: the values the params' state held before this step (PyTorch's float32 scalars).
struct AsgdConfig {
  double eta, mu, lambd, weight_decay;
  bool maximize;
};
struct RpropConfig {
  double etaminus, etaplus, step_size_min, step_size_max;
  bool maximize;
};

template <class T> TG_HD T sign_of(bool maximize) { return maximize ? T(-1) : T(1); }
inline bool small_weight(double w) { return std::abs(w) < 0.5; }

// ---------------------------------------------------------------------------------------------
// The first steps NAdam and RAdam share with Adam:
//   d = ±grad;  decoupled: p *= 1 - lr wd, else d += wd p
//   m = lerp(m, d, 1 - beta1);  v = beta2 v + (1 - beta2) d d

template <class T> struct MomentCoeffs {
  T sign, weight_decay, decay_factor, w1, one_minus_w1, beta2, one_minus_beta2;
  int decay;
  bool small_w1;
};

template <class T>
void fill_moments(MomentCoeffs<T>& a, double lr, double beta1, double beta2, double weight_decay,
                  bool decoupled, bool maximize) {
  a.sign = sign_of<T>(maximize);
  a.weight_decay = static_cast<T>(weight_decay);
  a.decay_factor = static_cast<T>(1.0 - lr * weight_decay);
  a.w1 = static_cast<T>(1.0 - beta1);
  a.one_minus_w1 = T(1) - a.w1;
  a.beta2 = static_cast<T>(beta2);
  a.one_minus_beta2 = static_cast<T>(1.0 - beta2);
  a.decay = weight_decay == 0.0 ? kNoDecay : decoupled ? kDecoupled : kCoupled;
  a.small_w1 = small_weight(1.0 - beta1);
}

// Updates m and v; returns d, and p with the decoupled decay applied.
template <class T>
TG_HD T moments(T& p, T g, T& m, T& v, const MomentCoeffs<T>& a) {
  T d = mul(a.sign, g);
  if (a.decay == kDecoupled) p = mul(p, a.decay_factor);
  if (a.decay == kCoupled) d = add(d, mul(a.weight_decay, p));
  m = lerp(a.small_w1, m, d, a.w1, a.one_minus_w1);
  v = add(mul(v, a.beta2), mul(mul(a.one_minus_beta2, d), d));
  return d;
}

// ---------------------------------------------------------------------------------------------
// NAdam. State: exp_avg m, exp_avg_sq v.
//   d = ±grad;  decoupled: p *= 1 - lr wd, else d += wd p
//   m = lerp(m, d, 1 - beta1);  v = beta2 v + (1 - beta2) d d;  denom = sqrt(v / bc2) + eps
//   p += c_grad d / denom;  p += c_avg m / denom
// with mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)) and the running product of the mu's
// (mu_product, after this step's factor; mu_product_next = mu_product mu_{t+1}):
//   c_grad = -lr (1 - mu_t) / (1 - mu_product),  c_avg = -lr mu_{t+1} / (1 - mu_product_next)

template <class T> struct NadamCoeffs : MomentCoeffs<T> {
  T bc2, eps, c_grad, c_avg;
};

inline double nadam_mu(const NadamConfig& c, double step) {
  return c.beta1 * (1.0 - 0.5 * std::pow(0.96, step * c.momentum_decay));
}

template <class T> NadamCoeffs<T> nadam_coeffs(const NadamConfig& c, double mu_product) {
  const double step = static_cast<double>(c.step);
  const double mu = nadam_mu(c, step), mu_next = nadam_mu(c, step + 1.0);
  NadamCoeffs<T> a;
  fill_moments<T>(a, c.lr, c.beta1, c.beta2, c.weight_decay, c.decoupled, c.maximize);
  a.bc2 = static_cast<T>(1.0 - std::pow(c.beta2, step));
  a.eps = static_cast<T>(c.eps);
  a.c_grad = static_cast<T>(-c.lr * (1.0 - mu) / (1.0 - mu_product));
  a.c_avg = static_cast<T>((-c.lr * mu_next) / (1.0 - mu_product * mu_next));
  return a;
}

template <class T>
TG_HD void nadam_update(T& p, T g, T& m, T& v, const NadamCoeffs<T>& a) {
  T pi = p;
  const T d = moments(pi, g, m, v, a);
  const T denom = add(root(div(v, a.bc2)), a.eps);
  pi = add(pi, div(mul(a.c_grad, d), denom));
  p = add(pi, div(mul(a.c_avg, m), denom));
}

// ---------------------------------------------------------------------------------------------
// RAdam. State: exp_avg m, exp_avg_sq v.
//   d as NAdam's;  m = lerp(m, d, 1 - beta1);  v = beta2 v + (1 - beta2) d d;  u = m / bc1
//   rho_t > 5 (the variance is tractable): p -= u lr (1 / (sqrt(v) + eps)) sqrt(bc2) rect
//   else:                                  p -= u lr
// 1 / x times sqrt(bc2) is how PyTorch evaluates the Python `sqrt(bc2) / tensor`.

template <class T> struct RadamCoeffs : MomentCoeffs<T> {
  T bc1, lr, eps, bc2_sqrt, rect;
  bool rectified;
};

template <class T> RadamCoeffs<T> radam_coeffs(const RadamConfig& c) {
  const double step = static_cast<double>(c.step);
  const double bc1 = 1.0 - std::pow(c.beta1, step), bc2 = 1.0 - std::pow(c.beta2, step);
  const double rho_inf = 2.0 / (1.0 - c.beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * step * std::pow(c.beta2, step) / bc2;
  RadamCoeffs<T> a;
  fill_moments<T>(a, c.lr, c.beta1, c.beta2, c.weight_decay, c.decoupled, c.maximize);
  a.bc1 = static_cast<T>(bc1);
  a.lr = static_cast<T>(c.lr);
  a.eps = static_cast<T>(c.eps);
  a.bc2_sqrt = static_cast<T>(std::pow(bc2, 0.5));
  a.rectified = rho_t > 5.0;
  a.rect = a.rectified ? static_cast<T>(std::pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                                     ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t),
                                                 0.5))
                       : T(0);
  return a;
}

template <class T>
TG_HD void radam_update(T& p, T g, T& m, T& v, const RadamCoeffs<T>& a) {
  T pi = p;
  moments(pi, g, m, v, a);
  T step = mul(div(m, a.bc1), a.lr);
  if (a.rectified) {
    const T adaptive = mul(div(T(1), add(root(v), a.eps)), a.bc2_sqrt);
    step = mul(mul(step, adaptive), a.rect);
  }
  p = sub(pi, step);
}

// ---------------------------------------------------------------------------------------------
// Adamax. State: exp_avg m, exp_inf u.
//   d = ±grad (+ wd p);  m = lerp(m, d, 1 - beta1);  u = max(beta2 u, |d| + eps)
//   p += -(lr / bc1) m / u

template <class T> struct AdamaxCoeffs {
  T sign, weight_decay, w1, one_minus_w1, beta2, eps, neg_clr;
  bool decay, small_w1;
};

template <class T> AdamaxCoeffs<T> adamax_coeffs(const AdamaxConfig& c) {
  AdamaxCoeffs<T> a;
  a.sign = sign_of<T>(c.maximize);
  a.weight_decay = static_cast<T>(c.weight_decay);
  a.w1 = static_cast<T>(1.0 - c.beta1);
  a.one_minus_w1 = T(1) - a.w1;
  a.beta2 = static_cast<T>(c.beta2);
  a.eps = static_cast<T>(c.eps);
  a.neg_clr = static_cast<T>(-(c.lr / (1.0 - std::pow(c.beta1, static_cast<double>(c.step)))));
  a.decay = c.weight_decay != 0.0;
  a.small_w1 = small_weight(1.0 - c.beta1);
  return a;
}

template <class T>
TG_HD void adamax_update(T& p, T g, T& m, T& u, const AdamaxCoeffs<T>& a) {
  T d = mul(a.sign, g);
  if (a.decay) d = add(d, mul(a.weight_decay, p));
  const T mi = lerp(a.small_w1, m, d, a.w1, a.one_minus_w1);
  m = mi;
  const T ui = nan_max(mul(u, a.beta2), add(d < T(0) ? -d : d, a.eps));
  u = ui;
  p = add(p, div(mul(a.neg_clr, mi), ui));
}

// ---------------------------------------------------------------------------------------------
// Adadelta. State: square_avg s, acc_delta r.
//   d = ±grad (+ wd p);  s = rho s + (1 - rho) d d
//   delta = sqrt(r + eps) / sqrt(s + eps) d;  r = rho r + (1 - rho) delta delta;  p -= lr delta

template <class T> struct AdadeltaCoeffs {
  T sign, weight_decay, rho, one_minus_rho, eps, neg_lr;
  bool decay;
};

template <class T> AdadeltaCoeffs<T> adadelta_coeffs(const AdadeltaConfig& c) {
  return {sign_of<T>(c.maximize),        static_cast<T>(c.weight_decay),
          static_cast<T>(c.rho),         static_cast<T>(1.0 - c.rho),
          static_cast<T>(c.eps),         static_cast<T>(-c.lr),
          c.weight_decay != 0.0};
}

template <class T>
TG_HD void adadelta_update(T& p, T g, T& s, T& r, const AdadeltaCoeffs<T>& a) {
  T d = mul(a.sign, g);
  if (a.decay) d = add(d, mul(a.weight_decay, p));
  const T si = add(mul(s, a.rho), mul(mul(a.one_minus_rho, d), d));
  s = si;
  const T delta = mul(div(root(add(r, a.eps)), root(add(si, a.eps))), d);
  r = add(mul(r, a.rho), mul(mul(a.one_minus_rho, delta), delta));
  p = add(p, mul(a.neg_lr, delta));
}

// ---------------------------------------------------------------------------------------------
// ASGD. State: ax (the average); eta and mu are per-step scalars (AsgdConfig).
//   d = ±grad (+ wd p);  p *= 1 - lambd eta;  p -= eta d
//   ax += (p - ax) mu, or ax = p where mu is 1

template <class T> struct AsgdCoeffs {
  T sign, weight_decay, decay_factor, neg_eta, mu;
  bool decay, averaging;
};

template <class T> AsgdCoeffs<T> asgd_coeffs(const AsgdConfig& c) {
  return {sign_of<T>(c.maximize),
          static_cast<T>(c.weight_decay),
          static_cast<T>(1.0 - c.lambd * c.eta),
          static_cast<T>(-c.eta),
          static_cast<T>(c.mu),
          c.weight_decay != 0.0,
          c.mu != 1.0};
}

template <class T>
TG_HD void asgd_update(T& p, T g, T& ax, T& /*unused*/, const AsgdCoeffs<T>& a) {
  T d = mul(a.sign, g);
  if (a.decay) d = add(d, mul(a.weight_decay, p));
  T pi = mul(p, a.decay_factor);
  pi = add(pi, mul(a.neg_eta, d));
  p = pi;
  ax = a.averaging ? add(ax, mul(sub(pi, ax), a.mu)) : pi;
}

// ---------------------------------------------------------------------------------------------
// Rprop. State: prev (the last gradient used), step_size.
//   d = ±grad;  s = sign(d prev);  f = etaplus (s > 0), etaminus (s < 0), 1 (s = 0)
//   step_size = clamp(step_size f, min, max);  d = 0 where f = etaminus
//   p -= sign(d) step_size;  prev = d

template <class T> struct RpropCoeffs {
  T sign, etaminus, etaplus, step_size_min, step_size_max;
};

template <class T> RpropCoeffs<T> rprop_coeffs(const RpropConfig& c) {
  return {sign_of<T>(c.maximize), static_cast<T>(c.etaminus), static_cast<T>(c.etaplus),
          static_cast<T>(c.step_size_min), static_cast<T>(c.step_size_max)};
}

template <class T>
TG_HD void rprop_update(T& p, T g, T& prev, T& step_size, const RpropCoeffs<T>& a) {
  T d = mul(a.sign, g);
  const T s = sign(mul(d, prev));
  const T f = s > T(0) ? a.etaplus : s < T(0) ? a.etaminus : T(1);
  T st = mul(step_size, f);
  // clamp_(min, max): NaN stays NaN
  st = st < a.step_size_min ? a.step_size_min : st;
  st = st > a.step_size_max ? a.step_size_max : st;
  step_size = st;
  if (f == a.etaminus) d = T(0);
  p = add(p, mul(mul(T(-1), sign(d)), st));
  prev = d;
}

}  // namespace tg::ops::optim

namespace tg::ops::optim {

// Each update as a type for the backends' loops (element_step): Op::Coeffs<T> and Op::update.
#define TG_OPTIM_OP(Name, name)                                                       \
  struct Name {                                                                       \
    template <class T> using Coeffs = Name##Coeffs<T>;                                \
    template <class T>                                                                \
    static TG_HD void update(T& p, T g, T& s1, T& s2, const Name##Coeffs<T>& a) {     \
      name##_update(p, g, s1, s2, a);                                                 \
    }                                                                                 \
  };
TG_OPTIM_OP(Nadam, nadam)
TG_OPTIM_OP(Radam, radam)
TG_OPTIM_OP(Adamax, adamax)
TG_OPTIM_OP(Adadelta, adadelta)
TG_OPTIM_OP(Asgd, asgd)
TG_OPTIM_OP(Rprop, rprop)
#undef TG_OPTIM_OP

// The ops element_step is instantiated for, in each backend.
#define TG_OPTIM_ELEMENT_OPS(X) X(Nadam) X(Radam) X(Adamax) X(Adadelta) X(Asgd) X(Rprop)

}  // namespace tg::ops::optim
