// _C.<backend>.matmul and linear_backward, bound once for every backend B (tg::Cpu,
// tg::cuda::Cuda).
#pragma once

#include <pybind11/pybind11.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void matmul(py::module_& m) {
  using Array = typename B::Array;
  m.def(
      "matmul",
      [](const Array& a, const Array& b, const Array& out, const py::object& bias,
         const std::string& act, bool accumulate) {
        B::call(
            "matmul",
            [act, accumulate](const ArrayView& av, const ArrayView& bv, const ArrayView& ov,
                              const std::optional<ArrayView>& biasv) {
              const MatmulSize size = check_matmul(av, bv, ov, biasv, act, accumulate);
              B::matmul(av, bv, ov, biasv, act, accumulate, size);
            },
            In{a}, In{b}, Out{out, accumulate}, OptIn{bias, "bias"});
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("bias") = py::none(),
      py::arg("act") = "none", py::arg("accumulate") = false,
      "out = act(a @ b + bias), or out += a @ b with accumulate=True. 2-D or batched 3-D operands "
      "with any strides; act is one of none, relu, gelu, gelu_tanh, sigmoid, tanh.");
  m.def(
      "linear_backward",
      [](const Array& grad, const py::object& x, const py::object& w, const py::object& y,
         const std::string& act, const py::object& gx, const py::object& gw,
         const py::object& gb) {
        using Opt = std::optional<ArrayView>;
        B::call(
            "linear_backward",
            [act](const ArrayView& gv, const Opt& xv, const Opt& wv, const Opt& yv, const Opt& gxv,
                  const Opt& gwv, const Opt& gbv) {
              const LinearGrads arrays{gv, xv, wv, yv, gxv, gwv, gbv};
              check_linear_backward(arrays, act);
              B::linear_backward(arrays, act);
            },
            In{grad}, OptIn{x, "x"}, OptIn{w, "w"}, OptIn{y, "y"}, OptOut{gx, "gx"},
            OptOut{gw, "gw"}, OptOut{gb, "gb"});
      },
      py::arg("grad"), py::arg("x"), py::arg("w"), py::arg("y"), py::arg("act"), py::arg("gx"),
      py::arg("gw"), py::arg("gb"),
      "The backward of act(x @ w.T + b): gz = grad * act'(y) (y the forward's output), then "
      "gx = gz @ w, gw = gz.T @ x and gb = column sums of gz, each written when given (else "
      "None). act is none, relu, sigmoid or tanh.");
}

}  // namespace tg::bind
