// _C.<backend>.sgd_step, adam_step, rmsprop_step and adagrad_step, bound once for every backend
// B (tg::Cpu, tg::cuda::Cuda). Each takes a param group as lists of arrays (params, grads and
// the optimizer's state, one entry per param) and updates them in place in one call.
#pragma once

#include <pybind11/pybind11.h>

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

inline StepCounts step_counts_of(const char* op, const py::object& steps,
                                 const py::sequence& params) {
  StepCounts s;
  if (steps.is_none()) return s;
  TG_CHECK(py::isinstance<py::list>(steps) || py::isinstance<py::tuple>(steps), op,
           ": steps must be None or a list of arrays, got ", type_name(steps));
  const size_t n = py::len(steps);
  TG_CHECK(n == py::len(params), op, ": got ", py::len(params), " params but ", n,
           " steps (one per param expected)");
  const auto seq = py::reinterpret_borrow<py::sequence>(steps);
  for (size_t i = 0; i < n; ++i) {
    py::object obj = seq[i];
    TG_CHECK(py::isinstance<py::array>(obj), op, ": steps[", i, "] must be a numpy array, got ",
             type_name(obj));
    auto a = py::reinterpret_borrow<py::array>(obj);
    TG_CHECK(a.ndim() == 0 && a.writeable(), op, ": steps[", i,
             "] must be a writeable 0-d array");
    const DType d = dtype_of(a, op);
    TG_CHECK(d == DType::f32 || d == DType::f64 || d == DType::i64, op, ": steps[", i,
             "] must be float32, float64 or int64, got ", dtype_name(d));
    graph::keep(obj);
    s.counts.emplace_back(a.mutable_data(), d);
  }
  return s;
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
}

}  // namespace tg::bind
