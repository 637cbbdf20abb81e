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
      op,
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

// The values of a step that change from step to step, read when the kernel runs rather than
// when it is called: `hyper` is None, or a float64 host array [lr, count] (count: the step count
// for Adam and Adagrad, 1.0 on SGD's first step). Graph mode replays a recorded step with the
// values its host step writes there (tapegrad.optim.Optimizer).
inline const double* hyper_of(const char* op, const py::object& hyper) {
  if (hyper.is_none()) return nullptr;
  TG_CHECK(py::isinstance<py::array>(hyper), op, ": hyper must be None or a numpy array, got ",
           type_name(hyper));
  const auto a = py::reinterpret_borrow<py::array>(hyper);
  TG_CHECK(a.dtype().kind() == 'f' && a.itemsize() == 8 && a.size() >= 2 &&
               (a.flags() & py::array::c_style),
           op, ": hyper must be a C-contiguous float64 array of at least 2 elements");
  graph::keep(hyper);
  return static_cast<const double*>(a.data());
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
        const double* h = hyper_of("sgd_step", hyper);
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
         const py::object& hyper) {
        check_step("adam_step", step);
        const AdamConfig c{step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                           maximize};
        const double* h = hyper_of("adam_step", hyper);
        optim_call<B>(
            "adam_step",
            {{"params", true, ""},
             {"grads", true, ""},
             {"exp_avgs", true, ""},
             {"exp_avg_sqs", true, ""},
             {"max_exp_avg_sqs", amsgrad, "when amsgrad is False"}},
            [c, h](const Lists& lists) {
              AdamConfig now = c;
              if (h) {
                now.lr = h[0];
                now.step = static_cast<int64_t>(h[1]);
                check_step("adam_step", now.step);
              }
              B::adam_step(lists, now);
            },
            std::make_index_sequence<3>{},
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("step"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"),
      py::arg("amsgrad"), py::arg("maximize"), py::arg("hyper") = py::none(),
      "One torch.optim.Adam (decoupled=False) or AdamW (decoupled=True) step over a param group, "
      "in place. step is the step count after this update (>= 1); max_exp_avg_sqs is empty "
      "unless amsgrad.");

  m.def(
      "rmsprop_step",
      [](const Seq& params, const Seq& grads, const Seq& square_avgs, const Seq& momentum_buffers,
         const Seq& grad_avgs, double lr, double alpha, double eps, double weight_decay,
         double momentum, bool centered, bool maximize, const py::object& hyper) {
        const RmspropConfig c{lr, alpha, eps, weight_decay, momentum, centered, maximize};
        const double* h = hyper_of("rmsprop_step", hyper);
        optim_call<B>(
            "rmsprop_step",
            {{"params", true, ""},
             {"grads", true, ""},
             {"square_avgs", true, ""},
             {"momentum_buffers", momentum > 0.0, "when momentum is 0"},
             {"grad_avgs", centered, "when centered is False"}},
            [c, h](const Lists& lists) {
              RmspropConfig now = c;
              if (h) now.lr = h[0];
              B::rmsprop_step(lists, now);
            },
            std::make_index_sequence<3>{}, params, grads, square_avgs, momentum_buffers,
            grad_avgs);
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"),
      py::arg("grad_avgs"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
      py::arg("hyper") = py::none(),
      "One torch.optim.RMSprop step over a param group, in place. momentum_buffers: one per "
      "param when momentum > 0 (else empty); grad_avgs: one per param when centered (else empty).");

  m.def(
      "adagrad_step",
      [](const Seq& params, const Seq& grads, const Seq& state_sums, int64_t step, double lr,
         double lr_decay, double weight_decay, double eps, bool maximize,
         const py::object& hyper) {
        check_step("adagrad_step", step);
        const AdagradConfig c{step, lr, lr_decay, weight_decay, eps, maximize};
        const double* h = hyper_of("adagrad_step", hyper);
        optim_call<B>(
            "adagrad_step",
            {{"params", true, ""}, {"grads", true, ""}, {"state_sums", true, ""}},
            [c, h](const Lists& lists) {
              AdagradConfig now = c;
              if (h) {
                now.lr = h[0];
                now.step = static_cast<int64_t>(h[1]);
                check_step("adagrad_step", now.step);
              }
              B::adagrad_step(lists, now);
            },
            std::make_index_sequence<1>{}, params, grads, state_sums);
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("step"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      py::arg("hyper") = py::none(),
      "One torch.optim.Adagrad step over a param group, in place. step is the step count after "
      "this update (>= 1).");
}

}  // namespace tg::bind
