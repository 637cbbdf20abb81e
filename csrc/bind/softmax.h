// _C.<backend>.softmax, softmax_backward, cross_entropy_forward and cross_entropy_backward,
// bound once for every backend B (tg::Cpu, tg::cuda::Cuda).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void softmax(py::module_& m) {
  using Array = typename B::Array;
  m.def(
      "softmax",
      [](const Array& x, const Array& out, bool log) {
        B::call(
            softmax_name(log),
            [log](const ArrayView& xv, const ArrayView& ov) {
              check_softmax(xv, ov, log);
              dispatch_float(xv.dtype, softmax_name(log), [&](auto t) {
                B::template softmax<typename decltype(t)::type>(xv, ov, log);
              });
            },
            In{x}, Out{out});
      },
      py::arg("x"), py::arg("out"), py::arg("log") = false,
      "out = softmax(x) (log_softmax if log) along the last axis of 2-D x. out may be x; an x\n"
      "that otherwise overlaps out is read before out is written.");
  m.def(
      "softmax_backward",
      [](const Array& y, const Array& grad, const Array& out, bool log) {
        B::call(
            softmax_backward_name(log),
            [log](const ArrayView& yv, const ArrayView& gv, const ArrayView& ov) {
              check_softmax_backward(yv, gv, ov, log);
              dispatch_float(yv.dtype, softmax_backward_name(log), [&](auto t) {
                B::template softmax_backward<typename decltype(t)::type>(yv, gv, ov, log);
              });
            },
            In{y}, In{grad}, Out{out});
      },
      py::arg("y"), py::arg("grad"), py::arg("out"), py::arg("log") = false,
      "Gradient of softmax (log_softmax if log) w.r.t. its input, from its output y and the\n"
      "upstream grad: y * (g - sum(g * y)), or g - exp(y) * sum(g). out may be y or grad;\n"
      "inputs that otherwise overlap out are read before out is written.");
  m.def(
      "cross_entropy_forward",
      [](const Array& logits, const Array& target, const Array& loss, const Array& lse,
         int64_t ignore_index, double label_smoothing, const py::object& count) {
        // The count reaches Python as the return value and, when `count` is given, also as
        // that array's value: graph mode's replays read it there.
        auto counted = std::make_shared<int64_t>(0);
        B::call(
            graph::Op("cross_entropy_forward", /*reads_host=*/true),  // the count comes back
            [ignore_index, label_smoothing, counted](
                const ArrayView& xv, const ArrayView& tv, const ArrayView& lv,
                const ArrayView& sv, const std::optional<ArrayView>& cv) {
              check_ce_forward(xv, tv, lv, sv, label_smoothing);
              if (cv) check_ce_count(*cv, xv);
              dispatch_float(xv.dtype, "cross_entropy_forward", [&](auto t) {
                *counted = B::template cross_entropy_forward<typename decltype(t)::type>(
                    xv, tv, lv, sv, ignore_index, label_smoothing);
              });
              if (cv) {
                Scalar n;
                n.is_int = true;
                n.i = *counted;
                n.d = static_cast<double>(*counted);
                B::fill(*cv, n);
              }
            },
            In{logits}, In{target}, Out{loss}, Out{lse}, OptOut{count, "count"});
        return *counted;
      },
      py::arg("logits"), py::arg("target"), py::arg("loss"), py::arg("lse"),
      py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      py::arg("count") = py::none(),
      "Per-row cross-entropy of logits (N, C) with int64 class targets (N,): writes\n"
      "lse = logsumexp(logits, 1) and loss = (1-eps)(lse - x[t]) + eps/C sum_j (lse - x_j),\n"
      "0 where target == ignore_index. Returns the number of rows not ignored, also written\n"
      "to `count` (a 0-d array of the logits' dtype) when given.");
  m.def(
      "cross_entropy_backward",
      [](const Array& logits, const Array& target, const Array& lse, const Array& grad_loss,
         const Array& out, int64_t ignore_index, double label_smoothing) {
        B::call(
            "cross_entropy_backward",
            [ignore_index, label_smoothing](const ArrayView& xv, const ArrayView& tv,
                                            const ArrayView& sv, const ArrayView& gv,
                                            const ArrayView& ov) {
              check_ce_backward(xv, tv, sv, gv, ov, label_smoothing);
              dispatch_float(xv.dtype, "cross_entropy_backward", [&](auto t) {
                B::template cross_entropy_backward<typename decltype(t)::type>(
                    xv, tv, sv, gv, ov, ignore_index, label_smoothing);
              });
            },
            In{logits}, In{target}, In{lse}, In{grad_loss}, Out{out});
      },
      py::arg("logits"), py::arg("target"), py::arg("lse"), py::arg("grad_loss"), py::arg("out"),
      py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      "out = d loss / d logits scaled per row by grad_loss: g (softmax(x) - (1-eps) onehot(t)\n"
      "- eps/C), 0 on rows whose target is ignore_index. out may be logits; inputs that\n"
      "otherwise overlap out are read before out is written.");
}

}  // namespace tg::bind
