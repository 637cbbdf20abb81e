// _C.<backend>.copy, take, put_add, index_select and index_add, bound once for every backend B
// (tg::Cpu, tg::cuda::Cuda).
#pragma once

#include <pybind11/pybind11.h>

#include "checks.h"
#include "pyarray.h"

namespace tg::bind {
namespace py = pybind11;

template <class B>
void index(py::module_& m) {
  using Array = typename B::Array;
  m.def(
      "copy",
      [](const Array& src, const Array& dst) {
        B::call(
            "copy",
            [](const ArrayView& sv, const ArrayView& dv) {
              check_copy(sv, dv);
              B::copy(sv, dv);
            },
            In{src}, Out{dst});
      },
      py::arg("src"), py::arg("dst"),
      "dst[...] = src (same shape, any strides), converting between any two dtypes.");
  m.def(
      "take",
      [](const Array& src, const Array& index, const Array& out) {
        B::call(
            "take",
            [](const ArrayView& sv, const ArrayView& iv, const ArrayView& ov) {
              check_take(sv, iv, ov);
              B::take(sv, iv, ov);
            },
            In{src}, In{index}, Out{out});
      },
      py::arg("src"), py::arg("index"), py::arg("out"),
      "out[i] = src.flat[index[i]] (C-order positions, 0 <= index < src.size).");
  m.def(
      "put_add",
      [](const Array& dst, const Array& index, const Array& src) {
        B::call(
            "put_add",
            [](const ArrayView& dv, const ArrayView& iv, const ArrayView& sv) {
              check_put_add(dv, iv, sv);
              B::put_add(dv, iv, sv);
            },
            Out{dst, true}, In{index}, In{src});
      },
      py::arg("dst"), py::arg("index"), py::arg("src"),
      "dst.flat[index[i]] += src[i], duplicates accumulating (dst C-contiguous; on CUDA, float "
      "sums in an order that varies between runs).");
  m.def(
      "index_select",
      [](const Array& src, int64_t axis, const Array& index, const Array& out) {
        B::call(
            "index_select",
            [axis](const ArrayView& sv, const ArrayView& iv, const ArrayView& ov) {
              B::index_select(sv, check_index_select(sv, axis, iv, ov), iv, ov);
            },
            In{src}, In{index}, Out{out});
      },
      py::arg("src"), py::arg("axis"), py::arg("index"), py::arg("out"),
      "out = src.take(index, axis) into a C-contiguous out (index 1-D int64).");
  m.def(
      "index_add",
      [](const Array& dst, int64_t axis, const Array& index, const Array& src) {
        B::call(
            "index_add",
            [axis](const ArrayView& dv, const ArrayView& iv, const ArrayView& sv) {
              B::index_add(dv, check_index_add(dv, axis, iv, sv), iv, sv);
            },
            Out{dst, true}, In{index}, In{src});
      },
      py::arg("dst"), py::arg("axis"), py::arg("index"), py::arg("src"),
      "dst.index_add_(axis, index, src): duplicates accumulate (on CUDA, float sums in an "
      "order that varies between runs).");
}

}  // namespace tg::bind
