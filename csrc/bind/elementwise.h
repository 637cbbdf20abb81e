// _C.<backend>.unary, binary, compare, where, clamp and fill, bound once for every backend B
// (tg::Cpu, tg::cuda::Cuda). The kernels are each backend's file-local entry points
// (csrc/cpu/elementwise.cpp, csrc/cuda/elementwise.cu), handed over as ElementwiseKernels.
#pragma once

#include <pybind11/pybind11.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

// The entry points of the family. One constructor argument per kernel, so that a backend
// lacking one, or defining it with other arguments, does not compile.
struct ElementwiseKernels {
  using Unary = void (*)(const std::string& op, const ArrayView& x, const ArrayView& out);
  using Binary = void (*)(const std::string& op, const ArrayView& a, const ArrayView& b,
                          const ArrayView& out);
  using Where = void (*)(const ArrayView& cond, const ArrayView& a, const ArrayView& b,
                         const ArrayView& out);
  using Clamp = void (*)(const ArrayView& x, const Scalar* lo, const Scalar* hi,
                         const ArrayView& out);
  using Fill = void (*)(const ArrayView& out, const Scalar& value);

  ElementwiseKernels(Unary unary, Binary binary, Binary compare, Where where, Clamp clamp,
                     Fill fill)
      : unary(unary), binary(binary), compare(compare), where(where), clamp(clamp), fill(fill) {}

  Unary unary;
  Binary binary, compare;
  Where where;
  Clamp clamp;
  Fill fill;
};

template <class B>
void elementwise(py::module_& m, const ElementwiseKernels& k) {
  using Array = typename B::Array;
  m.def(
      "unary",
      [k](const std::string& op, const Array& x, const Array& out) {
        B::call(
            op.c_str(), [&](const ArrayView& xv, const ArrayView& ov) { k.unary(op, xv, ov); },
            In{x}, Out{out});
      },
      py::arg("op"), py::arg("x"), py::arg("out"),
      "out = op(x) elementwise; out and x share shape and dtype; out may be x.");
  m.def(
      "binary",
      [k](const std::string& op, const Array& a, const Array& b, const Array& out) {
        auto kernel = [&](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          k.binary(op, av, bv, ov);
        };
        B::call(op.c_str(), kernel, In{a}, In{b}, Out{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = op(a, b) elementwise over one shape (broadcast operands as stride-0 views); "
      "out may be a or b.");
  m.def(
      "compare",
      [k](const std::string& op, const Array& a, const Array& b, const Array& out) {
        auto kernel = [&](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          k.compare(op, av, bv, ov);
        };
        B::call(op.c_str(), kernel, In{a}, In{b}, Out{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out (bool) = a <op> b for op in eq, ne, lt, le, gt, ge.");
  m.def(
      "where",
      [k](const Array& cond, const Array& a, const Array& b, const Array& out) {
        B::call("where", k.where, In{cond}, In{a}, In{b}, Out{out});
      },
      py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = a where cond else b.");
  m.def(
      "clamp",
      [k](const Array& x, const py::object& lo, const py::object& hi, const Array& out) {
        Scalar lo_s, hi_s;
        if (!lo.is_none()) lo_s = scalar_of(lo, "clamp", "min");
        if (!hi.is_none()) hi_s = scalar_of(hi, "clamp", "max");
        const Scalar* lo_p = lo.is_none() ? nullptr : &lo_s;
        const Scalar* hi_p = hi.is_none() ? nullptr : &hi_s;
        B::call(
            "clamp",
            [&](const ArrayView& xv, const ArrayView& ov) { k.clamp(xv, lo_p, hi_p, ov); },
            In{x}, Out{out});
      },
      py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out"),
      "out = min(max(x, lo), hi); lo/hi may be None; NaN stays NaN; out may be x.");
  m.def(
      "fill",
      [k](const Array& out, const py::object& value) {
        const Scalar v = scalar_of(value, "fill", "value");
        B::call("fill", [&](const ArrayView& ov) { k.fill(ov, v); }, Out{out});
      },
      py::arg("out"), py::arg("value"), "Sets every element of out to value (cast to its dtype).");
}

}  // namespace tg::bind
