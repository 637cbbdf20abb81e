// _C.<backend>.activation and activation_backward, bound once for every backend B (tg::Cpu,
// tg::cuda::Cuda), over the entry points each defines (csrc/kernels.inc), with the kind parsed
// by ops::parse_activation.
#pragma once

#include <pybind11/pybind11.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void activations(py::module_& m) {
  using Array = typename B::Array;
  auto forward = [](const std::string& kind, const Array& x, const Array& out, double param,
                     double param2) {
    const ops::ActKind act = ops::parse_activation(kind, "activation");
    B::call(
        "activation",
        [act, param, param2](const ArrayView& xv, const ArrayView& ov) {
          B::activation(act, xv, ov, param, param2);
        },
        In{x}, Out{out});
  };
  auto backward = [](const std::string& kind, const Array& grad, const Array& saved,
                      const Array& out, double param, double param2) {
    const ops::ActKind act = ops::parse_activation(kind, "activation_backward");
    B::call(
        "activation_backward",
        [act, param, param2](const ArrayView& gv, const ArrayView& sv, const ArrayView& ov) {
          B::activation_backward(act, gv, sv, ov, param, param2);
        },
        In{grad}, In{saved}, Out{out});
  };
  m.def("activation", forward, py::arg("kind"), py::arg("x"), py::arg("out"),
        py::arg("param") = 0.0, py::arg("param2") = 0.0,
        "out = act(x) for kind in relu, sigmoid, tanh, leaky_relu (param = negative_slope), elu\n"
        "(param = alpha), gelu, gelu_tanh, softplus (param = beta, param2 = threshold), silu.\n"
        "out may be x itself; an x that otherwise overlaps out is read before out is written.");
  m.def("activation_backward", backward, py::arg("kind"), py::arg("grad"), py::arg("saved"),
        py::arg("out"), py::arg("param") = 0.0, py::arg("param2") = 0.0,
        "out = grad * act'(x). saved is the forward output for sigmoid and tanh and the forward\n"
        "input for every other kind; params as in activation(). out may be grad or saved; inputs\n"
        "that otherwise overlap out are read before out is written.");
}

}  // namespace tg::bind
