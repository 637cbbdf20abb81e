// _C.<backend>.sgd_step, adam_step, rmsprop_step, adagrad_step, nadam_step, radam_step,
// adamax_step, adadelta_step, asgd_step and rprop_step, bound once for every backend
// B (tg::Cpu, tg::cuda::Cuda). Each takes a param group as lists of arrays (params, grads and
// the optimizer's state, one entry per param) and updates them in place in one call.
#pragma once

#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

using Lists = std::vector<std::vector<ArrayView>>;

// The lists as Python objects: each a list or tuple (a bare array is itself a sequence, of its
// rows: rejected rather than updated row by row), the used ones one entry per param, the
// unused ones empty.
inline void check_optim_sequences(const char* op, const std::vector<OptimList>& spec,
                                  const std::vector<py::handle>& seqs) {
  for (size_t k = 0; k < spec.size(); ++k)
    if (!py::isinstance<py::list>(seqs[k]) && !py::isinstance<py::tuple>(seqs[k]))
      throw py::type_error(detail::cat(op, ": ", spec[k].name, " must be a list of arrays, got ",
                                       type_name(seqs[k])));
  const size_t n = py::len(seqs[0]);
  for (size_t k = 1; k < spec.size(); ++k) {
    const size_t len = py::len(seqs[k]);
    if (spec[k].used)
      TG_CHECK(len == n, op, ": got ", n, " params but ", len, " ", spec[k].name,
               " (one per param expected)");
    else
      TG_CHECK(len == 0, op, ": ", spec[k].name, " must be empty ", spec[k].when, ", got ", len,
               " arrays");
  }
}

// Checks the lists, views them (params and state written, grads read) and calls
// step(lists) with the views checked by check_optim_lists.
template <class B, class Step, class... Seqs, size_t... I>
void optim_call(const char* op, const std::vector<OptimList>& spec, const Step& step,
                std::index_sequence<I...>, const py::sequence& params,
                const py::sequence& grads, const Seqs&... state) {
  check_optim_sequences(op, spec, {params, grads, state...});
  B::call(
      graph::Op(op, /*reads_host=*/true),  // `hyper` and `steps` (below)
      // `lists` is scratch kept with the kernel: a replayed step refills it without allocating.
      [op, spec, step, lists = Lists()](const auto&... views) mutable {
        lists.resize(sizeof...(views));
        size_t k = 0;
        ((lists[k++] = views), ...);
        check_optim_lists(op, spec, lists);
        step(lists);
      },
      ListOut{params, spec[0].name}, ListIn{grads, spec[1].name},
      ListOut{state, spec[2 + I].name}...);
}

// What changes from step to step is read and written when the kernel runs, not when it is
// called, so that graph mode can replay a recorded step (tapegrad.optim.Optimizer):
// - `hyper`: None, or a float64 host array [lr, first]: the learning rate, and for SGD 1.0 on a
//   momentum buffer's first step, which the kernel sets to 0.0 once it has taken that step.
// - `steps`: None, or the params' step counts (state["step"]: 0-d host arrays of float32,
//   float64 or int64), which the kernel advances by one. For Adam and Adagrad all must agree,
//   and the new count is the step (bias correction, lr decay); RMSprop only counts.
inline double* hyper_of(const char* op, const py::object& hyper) {
  if (hyper.is_none()) return nullptr;
  TG_CHECK(py::isinstance<py::array>(hyper), op, ": hyper must be None or a numpy array, got ",
           type_name(hyper));
  auto a = py::reinterpret_borrow<py::array>(hyper);
  TG_CHECK(a.dtype().kind() == 'f' && a.itemsize() == 8 && a.size() >= 2 &&
               (a.flags() & py::array::c_style) && a.writeable(),
           op, ": hyper must be a writeable C-contiguous float64 array of at least 2 elements");
  graph::keep(hyper);
  return static_cast<double*>(a.mutable_data());
}

struct StepCounts {
  std::vector<std::pair<void*, DType>> counts;

  // Adds one to every count and returns the new count, which every count must equal when the
  // update uses it (`agree`).
  int64_t advance(const char* op, bool agree = true) const {
    int64_t now = -1;
    for (size_t i = 0; i < counts.size(); ++i) {
      const auto [p, dtype] = counts[i];
      int64_t c = 0;
      if (dtype == DType::f32) {  // as PyTorch counts: in float32
        float& f = *static_cast<float*>(p);
        f = static_cast<float>(static_cast<double>(f) + 1.0);
        c = static_cast<int64_t>(f);
      } else if (dtype == DType::f64) {
        double& d = *static_cast<double*>(p);
        d += 1.0;
        c = static_cast<int64_t>(d);
      } else {
        c = ++*static_cast<int64_t*>(p);
      }
      if (i == 0) now = c;
      TG_CHECK(!agree || c == now, op, ": steps[", i, "] is at step ", c, " but steps[0] at ", now,
               " (one call updates params at one step count)");
    }
    return now;
  }
};

// A list of per-param 0-d host arrays (state["step"], NAdam's mu_product, ASGD's eta and mu):
// None or one writeable 0-d array per param, of the dtypes `allowed`, kept alive for replays.
inline std::vector<std::pair<void*, DType>> host_scalars_of(const char* op, const char* name,
                                                             const py::object& seq_obj,
                                                             const py::sequence& params,
                                                             bool allow_int64) {
  std::vector<std::pair<void*, DType>> out;
  if (seq_obj.is_none()) return out;
  TG_CHECK(py::isinstance<py::list>(seq_obj) || py::isinstance<py::tuple>(seq_obj), op, ": ", name,
           " must be None or a list of arrays, got ", type_name(seq_obj));
  const size_t n = py::len(seq_obj);
  TG_CHECK(n == py::len(params), op, ": got ", py::len(params), " params but ", n, " ", name,
           " (one per param expected)");
  const auto seq = py::reinterpret_borrow<py::sequence>(seq_obj);
  for (size_t i = 0; i < n; ++i) {
    py::object obj = seq[i];
    TG_CHECK(py::isinstance<py::array>(obj), op, ": ", name, "[", i, "] must be a numpy array, got ",
             type_name(obj));
    auto a = py::reinterpret_borrow<py::array>(obj);
    TG_CHECK(a.ndim() == 0 && a.writeable(), op, ": ", name, "[", i, "] must be a writeable 0-d array");
    const DType d = dtype_of(a, op);
    TG_CHECK(d == DType::f32 || d == DType::f64 || (allow_int64 && d == DType::i64), op, ": ", name,
             "[", i, "] must be float32", allow_int64 ? ", float64 or int64" : " or float64", ", got ",
             dtype_name(d));
    graph::keep(obj);
    out.emplace_back(a.mutable_data(), d);
  }
  return out;
}

inline StepCounts step_counts_of(const char* op, const py::object& steps,
                                 const py::sequence& params) {
  return StepCounts{host_scalars_of(op, "steps", steps, params, /*allow_int64=*/true)};
}

// Per-param scalar state that every param of a call shares (the params step together): read as
// one value, written to all, each rounded to its own dtype as PyTorch's scalar tensors are.
struct SharedScalars {
  std::vector<std::pair<void*, DType>> values;

  double get(const char* op, const char* name) const {
    double first = 0.0;
    for (size_t i = 0; i < values.size(); ++i) {
      const auto [p, dtype] = values[i];
      const double v = dtype == DType::f32 ? double(*static_cast<float*>(p)) : *static_cast<double*>(p);
      if (i == 0) first = v;
      TG_CHECK(v == first || (v != v && first != first), op, ": ", name, "[", i, "] is ", v, " but ", name,
               "[0] is ", first, " (one call updates params at one step)");
    }
    return first;
  }
  // x = x * factor in each value's dtype (PyTorch's in-place multiply of a scalar tensor)
  void scale(double factor) const {
    for (const auto& [p, dtype] : values) {
      if (dtype == DType::f32) *static_cast<float*>(p) *= static_cast<float>(factor);
      else *static_cast<double*>(p) *= factor;
    }
  }
  void set(double x) const {
    for (const auto& [p, dtype] : values) {
      if (dtype == DType::f32) *static_cast<float*>(p) = static_cast<float>(x);
      else *static_cast<double*>(p) = x;
    }
  }
};

inline SharedScalars shared_scalars_of(const char* op, const char* name, const py::sequence& seq,
                                       const py::sequence& params) {
  return SharedScalars{host_scalars_of(op, name, seq, params, /*allow_int64=*/false)};
}

// The element updates of csrc/ops/optim.h: one call of B::element_step<Op> with the
// coefficients coeffs(T{}, lr, step) gives for each dtype T, lr from `hyper` and the step count
// advanced from `steps` when the kernel runs (so that graph mode replays them), with
// before(lr, step) and after(lr, step) around it (the per-step scalar state). A rule that does
// not use the count (step 0: Adadelta, Rprop) still advances it, for PyTorch's state layout.
template <class B, class Op, size_t N, class Coeffs, class Before, class After, class... Seqs>
void element_call(const char* op, const std::vector<OptimList>& spec, double lr, int64_t step,
                  const py::object& hyper, const py::object& steps, const Coeffs& coeffs,
                  const Before& before, const After& after, const py::sequence& params,
                  const py::sequence& grads, const Seqs&... state) {
  const bool uses_step = step != 0;
  const double* h = hyper_of(op, hyper);
  const StepCounts counts = step_counts_of(op, steps, params);
  if (uses_step && counts.counts.empty()) check_step(op, step);
  optim_call<B>(
      op, spec,
      [op, lr, step, uses_step, h, counts, coeffs, before, after](const Lists& lists) {
        const double now_lr = h ? h[0] : lr;
        const int64_t counted = counts.advance(op, /*agree=*/uses_step);
        const int64_t now = counts.counts.empty() ? step : counted;
        before(now_lr, now);
        B::template element_step<Op>(lists, coeffs(float{}, now_lr, now), coeffs(double{}, now_lr, now));
        after(now_lr, now);
      },
      std::make_index_sequence<N>{}, params, grads, state...);
}

template <class B>
void optim(py::module_& m) {
  using Seq = py::sequence;
  m.def(
      "sgd_step",
      [](const Seq& params, const Seq& grads, const Seq& momentum_buffers, double lr,
         double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
         bool first_step, const py::object& hyper) {
        const SgdConfig c{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
        double* h = hyper_of("sgd_step", hyper);
        optim_call<B>(
            "sgd_step",
            {{"params", true, ""},
             {"grads", true, ""},
             {"momentum_buffers", momentum != 0.0, "when momentum is 0"}},
            [c, h](const Lists& lists) {
              SgdConfig now = c;
              if (h) {
                now.lr = h[0];
                now.first_step = h[1] != 0.0;
              }
              B::sgd_step(lists, now);
              if (h) h[1] = 0.0;  // the buffers exist now: later steps are not first steps
            },
            std::make_index_sequence<1>{},
            params, grads, momentum_buffers);
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("lr"),
      py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
      py::arg("maximize"), py::arg("first_step"), py::arg("hyper") = py::none(),
      "One torch.optim.SGD step over a param group, in place. momentum_buffers: one per param "
      "when momentum != 0 (else empty); with first_step they are overwritten with the gradient, "
      "as torch initialises them.");

  m.def(
      "adam_step",
      [](const Seq& params, const Seq& grads, const Seq& exp_avgs, const Seq& exp_avg_sqs,
         const Seq& max_exp_avg_sqs, int64_t step, double lr, double beta1, double beta2,
         double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize,
         const py::object& hyper, const py::object& steps) {
        const AdamConfig c{step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                           maximize};
        const double* h = hyper_of("adam_step", hyper);
        const StepCounts counts = step_counts_of("adam_step", steps, params);
        if (counts.counts.empty()) check_step("adam_step", step);
        optim_call<B>(
            "adam_step",
            {{"params", true, ""},
             {"grads", true, ""},
             {"exp_avgs", true, ""},
             {"exp_avg_sqs", true, ""},
             {"max_exp_avg_sqs", amsgrad, "when amsgrad is False"}},
            [c, h, counts](const Lists& lists) {
              AdamConfig now = c;
              if (h) now.lr = h[0];
              if (!counts.counts.empty()) now.step = counts.advance("adam_step");
              B::adam_step(lists, now);
            },
            std::make_index_sequence<3>{},
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("step"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"),
      py::arg("amsgrad"), py::arg("maximize"), py::arg("hyper") = py::none(),
      py::arg("steps") = py::none(),
      "One torch.optim.Adam (decoupled=False) or AdamW (decoupled=True) step over a param group, "
      "in place. step is the step count after this update (>= 1); max_exp_avg_sqs is empty "
      "unless amsgrad.");

  m.def(
      "rmsprop_step",
      [](const Seq& params, const Seq& grads, const Seq& square_avgs, const Seq& momentum_buffers,
         const Seq& grad_avgs, double lr, double alpha, double eps, double weight_decay,
         double momentum, bool centered, bool maximize, const py::object& hyper,
         const py::object& steps) {
        const RmspropConfig c{lr, alpha, eps, weight_decay, momentum, centered, maximize};
        const double* h = hyper_of("rmsprop_step", hyper);
        const StepCounts counts = step_counts_of("rmsprop_step", steps, params);
        optim_call<B>(
            "rmsprop_step",
            {{"params", true, ""},
             {"grads", true, ""},
             {"square_avgs", true, ""},
             {"momentum_buffers", momentum > 0.0, "when momentum is 0"},
             {"grad_avgs", centered, "when centered is False"}},
            [c, h, counts](const Lists& lists) {
              RmspropConfig now = c;
              if (h) now.lr = h[0];
              counts.advance("rmsprop_step", false);  // PyTorch's state layout; unused
              B::rmsprop_step(lists, now);
            },
            std::make_index_sequence<3>{}, params, grads, square_avgs, momentum_buffers,
            grad_avgs);
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"),
      py::arg("grad_avgs"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
      py::arg("hyper") = py::none(), py::arg("steps") = py::none(),
      "One torch.optim.RMSprop step over a param group, in place. momentum_buffers: one per "
      "param when momentum > 0 (else empty); grad_avgs: one per param when centered (else empty).");

  m.def(
      "adagrad_step",
      [](const Seq& params, const Seq& grads, const Seq& state_sums, int64_t step, double lr,
         double lr_decay, double weight_decay, double eps, bool maximize,
         const py::object& hyper, const py::object& steps) {
        const AdagradConfig c{step, lr, lr_decay, weight_decay, eps, maximize};
        const double* h = hyper_of("adagrad_step", hyper);
        const StepCounts counts = step_counts_of("adagrad_step", steps, params);
        if (counts.counts.empty()) check_step("adagrad_step", step);
        optim_call<B>(
            "adagrad_step",
            {{"params", true, ""}, {"grads", true, ""}, {"state_sums", true, ""}},
            [c, h, counts](const Lists& lists) {
              AdagradConfig now = c;
              if (h) now.lr = h[0];
              if (!counts.counts.empty()) now.step = counts.advance("adagrad_step");
              B::adagrad_step(lists, now);
            },
            std::make_index_sequence<1>{}, params, grads, state_sums);
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("step"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      py::arg("hyper") = py::none(), py::arg("steps") = py::none(),
      "One torch.optim.Adagrad step over a param group, in place. step is the step count after "
      "this update (>= 1).");

  namespace oo = ops::optim;
  using Spec = std::vector<OptimList>;
  auto state_spec = [](const char* a, const char* b) {
    return Spec{{"params", true, ""}, {"grads", true, ""}, {a, true, ""}, {b, true, ""}};
  };
  auto none = [](double, int64_t) {};

  m.def(
      "nadam_step",
      [state_spec, none](const Seq& params, const Seq& grads, const Seq& exp_avgs, const Seq& exp_avg_sqs,
                   const Seq& mu_products, int64_t step, double lr, double beta1, double beta2,
                   double eps, double weight_decay, double momentum_decay, bool decoupled,
                   bool maximize, const py::object& hyper, const py::object& steps) {
        const char* op = "nadam_step";
        const SharedScalars mu_product = shared_scalars_of(op, "mu_products", mu_products, params);
        const oo::NadamConfig c{step, lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled,
                                maximize};
        // mu_product *= mu_t first; the coefficients read the product after it
        auto before = [op, c, mu_product](double, int64_t now) {
          mu_product.get(op, "mu_products");
          mu_product.scale(oo::nadam_mu(c, static_cast<double>(now)));
        };
        auto coeffs = [op, c, mu_product](auto tag, double now_lr, int64_t now) {
          oo::NadamConfig k = c;
          k.lr = now_lr;
          k.step = now;
          return oo::nadam_coeffs<decltype(tag)>(k, mu_product.get(op, "mu_products"));
        };
        element_call<B, oo::Nadam, 2>(op, state_spec("exp_avgs", "exp_avg_sqs"), lr, step, hyper, steps,
                                      coeffs, before, none, params, grads, exp_avgs, exp_avg_sqs);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("mu_products"), py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"), py::arg("decoupled"),
      py::arg("maximize"), py::arg("hyper") = py::none(), py::arg("steps") = py::none(),
      "One torch.optim.NAdam step over a param group, in place; mu_products (0-d arrays, one per "
      "param) are multiplied by this step's momentum factor.");

  m.def(
      "radam_step",
      [state_spec, none](const Seq& params, const Seq& grads, const Seq& exp_avgs,
                         const Seq& exp_avg_sqs, int64_t step, double lr, double beta1, double beta2,
                         double eps, double weight_decay, bool decoupled, bool maximize,
                         const py::object& hyper, const py::object& steps) {
        const oo::RadamConfig c{step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize};
        auto coeffs = [c](auto tag, double now_lr, int64_t now) {
          oo::RadamConfig k = c;
          k.lr = now_lr;
          k.step = now;
          return oo::radam_coeffs<decltype(tag)>(k);
        };
        element_call<B, oo::Radam, 2>("radam_step", state_spec("exp_avgs", "exp_avg_sqs"), lr, step,
                                      hyper, steps, coeffs, none, none, params, grads, exp_avgs,
                                      exp_avg_sqs);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("decoupled"), py::arg("maximize"),
      py::arg("hyper") = py::none(), py::arg("steps") = py::none(),
      "One torch.optim.RAdam step over a param group, in place.");

  m.def(
      "adamax_step",
      [state_spec, none](const Seq& params, const Seq& grads, const Seq& exp_avgs,
                         const Seq& exp_infs, int64_t step, double lr, double beta1, double beta2,
                         double eps, double weight_decay, bool maximize, const py::object& hyper,
                         const py::object& steps) {
        const oo::AdamaxConfig c{step, lr, beta1, beta2, eps, weight_decay, maximize};
        auto coeffs = [c](auto tag, double now_lr, int64_t now) {
          oo::AdamaxConfig k = c;
          k.lr = now_lr;
          k.step = now;
          return oo::adamax_coeffs<decltype(tag)>(k);
        };
        element_call<B, oo::Adamax, 2>("adamax_step", state_spec("exp_avgs", "exp_infs"), lr, step,
                                       hyper, steps, coeffs, none, none, params, grads, exp_avgs,
                                       exp_infs);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_infs"),
      py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("maximize"), py::arg("hyper") = py::none(),
      py::arg("steps") = py::none(), "One torch.optim.Adamax step over a param group, in place.");

  m.def(
      "adadelta_step",
      [state_spec, none](const Seq& params, const Seq& grads, const Seq& square_avgs,
                         const Seq& acc_deltas, double lr, double rho, double eps,
                         double weight_decay, bool maximize, const py::object& hyper,
                         const py::object& steps) {
        const oo::AdadeltaConfig c{lr, rho, eps, weight_decay, maximize};
        auto coeffs = [c](auto tag, double now_lr, int64_t) {
          oo::AdadeltaConfig k = c;
          k.lr = now_lr;
          return oo::adadelta_coeffs<decltype(tag)>(k);
        };
        // the step count is kept for PyTorch's state layout; the rule ignores it
        element_call<B, oo::Adadelta, 2>("adadelta_step", state_spec("square_avgs", "acc_deltas"), lr,
                                         0, hyper, steps, coeffs, none, none, params, grads,
                                         square_avgs, acc_deltas);
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("acc_deltas"),
      py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
      py::arg("hyper") = py::none(), py::arg("steps") = py::none(),
      "One torch.optim.Adadelta step over a param group, in place.");

  m.def(
      "asgd_step",
      [none](const Seq& params, const Seq& grads, const Seq& axs, const Seq& etas, const Seq& mus,
             int64_t step, double lr, double lambd, double alpha, double t0, double weight_decay,
             bool maximize, const py::object& hyper, const py::object& steps) {
        const char* op = "asgd_step";
        const SharedScalars eta = shared_scalars_of(op, "etas", etas, params);
        const SharedScalars mu = shared_scalars_of(op, "mus", mus, params);
        // the update uses eta and mu as the last step left them, then sets them for the next
        auto coeffs = [op, lambd, weight_decay, maximize, eta, mu](auto tag, double, int64_t) {
          const oo::AsgdConfig k{eta.get(op, "etas"), mu.get(op, "mus"), lambd, weight_decay, maximize};
          return oo::asgd_coeffs<decltype(tag)>(k);
        };
        auto after = [eta, mu, lambd, alpha, t0](double now_lr, int64_t now) {
          const double s = static_cast<double>(now);
          eta.set(now_lr / std::pow(1.0 + lambd * now_lr * s, alpha));
          mu.set(1.0 / std::max(1.0, s - t0));
        };
        element_call<B, oo::Asgd, 1>(op, {{"params", true, ""}, {"grads", true, ""}, {"axs", true, ""}},
                                     lr, step, hyper, steps, coeffs, none, after, params, grads, axs);
      },
      py::arg("params"), py::arg("grads"), py::arg("axs"), py::arg("etas"), py::arg("mus"),
      py::arg("step"), py::arg("lr"), py::arg("lambd"), py::arg("alpha"), py::arg("t0"),
      py::arg("weight_decay"), py::arg("maximize"), py::arg("hyper") = py::none(),
      py::arg("steps") = py::none(),
      "One torch.optim.ASGD step over a param group, in place; etas and mus (0-d arrays, one per "
      "param) are used, then set for the next step.");

  m.def(
      "rprop_step",
      [state_spec, none](const Seq& params, const Seq& grads, const Seq& prevs,
                         const Seq& step_sizes, double etaminus, double etaplus,
                         double step_size_min, double step_size_max, bool maximize,
                         const py::object& steps) {
        const oo::RpropConfig c{etaminus, etaplus, step_size_min, step_size_max, maximize};
        auto coeffs = [c](auto tag, double, int64_t) { return oo::rprop_coeffs<decltype(tag)>(c); };
        // lr only sets the initial step sizes (the optimizer's state); the count is PyTorch's
        element_call<B, oo::Rprop, 2>("rprop_step", state_spec("prevs", "step_sizes"), 0.0, 0,
                                      py::none(), steps, coeffs, none, none, params, grads, prevs,
                                      step_sizes);
      },
      py::arg("params"), py::arg("grads"), py::arg("prevs"), py::arg("step_sizes"),
      py::arg("etaminus"), py::arg("etaplus"), py::arg("step_size_min"), py::arg("step_size_max"),
      py::arg("maximize"), py::arg("steps") = py::none(),
      "One torch.optim.Rprop step over a param group, in place.");
}

}  // namespace tg::bind
