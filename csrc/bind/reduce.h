// _C.<backend>.reduce, bound once for every backend B (tg::Cpu, tg::cuda::Cuda).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void reduce(py::module_& m) {
  m.def(
      "reduce",
      [](const std::string& opname, const typename B::Array& x, const std::vector<int64_t>& axes,
         const typename B::Array& out) {
        const ReduceOpName r = parse_reduce_op(opname);
        B::call(
            r.name,
            [r, axes](const ArrayView& xv, const ArrayView& ov) {
              B::reduce(r.op, xv, check_reduce(r, xv, axes, ov), ov);
            },
            In{x}, Out{out});
      },
      py::arg("op"), py::arg("x"), py::arg("axes"), py::arg("out"),
      "reduce(op, x, axes, out): reduce x over `axes` (distinct, non-negative) into the "
      "C-contiguous `out` (x's shape without those axes). op: sum, prod, max, min (NaN "
      "propagates), argmax, argmin (int64 out; C-order index over the reduced axes, first "
      "occurrence; first NaN wins), all, any (bool).");
}

}  // namespace tg::bind
