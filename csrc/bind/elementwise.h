// _C.<backend>.unary, binary, compare, where, clamp and fill, bound once for every backend B
// (tg::Cpu, tg::cuda::Cuda), over the entry points each defines (csrc/kernels.inc).
#pragma once

#include <pybind11/pybind11.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void elementwise(py::module_& m) {
  using Array = typename B::Array;
  m.def(
      "unary",
      [](const std::string& op, const Array& x, const Array& out) {
        B::call(
            op.c_str(), [op](const ArrayView& xv, const ArrayView& ov) { B::unary(op, xv, ov); },
            In{x}, Out{out});
      },
      py::arg("op"), py::arg("x"), py::arg("out"),
      "out = op(x) elementwise; out and x share shape and dtype; out may be x.");
  m.def(
      "binary",
      [](const std::string& op, const Array& a, const Array& b, const Array& out) {
        auto kernel = [op](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          B::binary(op, av, bv, ov);
        };
        B::call(op.c_str(), kernel, In{a}, In{b}, Out{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = op(a, b) elementwise over one shape (broadcast operands as stride-0 views); "
      "out may be a or b.");
  m.def(
      "compare",
      [](const std::string& op, const Array& a, const Array& b, const Array& out) {
        auto kernel = [op](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          B::compare(op, av, bv, ov);
        };
        B::call(op.c_str(), kernel, In{a}, In{b}, Out{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out (bool) = a <op> b for op in eq, ne, lt, le, gt, ge.");
  m.def(
      "where",
      [](const Array& cond, const Array& a, const Array& b, const Array& out) {
        B::call("where", B::where, In{cond}, In{a}, In{b}, Out{out});
      },
      py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = a where cond else b.");
  m.def(
      "clamp",
      [](const Array& x, const py::object& lo, const py::object& hi, const Array& out) {
        std::optional<Scalar> lo_s, hi_s;
        if (!lo.is_none()) lo_s = scalar_of(lo, "clamp", "min");
        if (!hi.is_none()) hi_s = scalar_of(hi, "clamp", "max");
        B::call(
            "clamp",
            [lo_s, hi_s](const ArrayView& xv, const ArrayView& ov) {
              B::clamp(xv, lo_s ? &*lo_s : nullptr, hi_s ? &*hi_s : nullptr, ov);
            },
            In{x}, Out{out});
      },
      py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out"),
      "out = min(max(x, lo), hi); lo/hi may be None; NaN stays NaN; out may be x.");
  m.def(
      "fill",
      [](const Array& out, const py::object& value) {
        const Scalar v = scalar_of(value, "fill", "value");
        B::call("fill", [v](const ArrayView& ov) { B::fill(ov, v); }, Out{out});
      },
      py::arg("out"), py::arg("value"), "Sets every element of out to value (cast to its dtype).");
}

}  // namespace tg::bind
