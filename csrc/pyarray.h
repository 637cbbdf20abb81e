// The seam between numpy arrays and kernels, used only by the bind_<family>() functions at the
// end of each csrc/cpu/<family>.cpp: a numpy array becomes an ArrayView without copying.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"

namespace tg {
namespace py = pybind11;

inline DType dtype_of(const py::array& a, const char* op) {
  const char kind = a.dtype().kind();
  const auto size = a.itemsize();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b' && size == 1) return DType::b8;
  throw std::invalid_argument(detail::cat(op, ": unsupported array dtype '",
                                          std::string(py::str(a.dtype())), "'"));
}

// A view of `a`'s memory. `writable` arrays are checked to be writeable (outputs).
inline ArrayView view_of(const py::array& a, const char* op, bool writable = false) {
  ArrayView v;
  v.dtype = dtype_of(a, op);
  if (writable) {
    TG_CHECK(a.writeable(), op, ": output array is read-only");
    v.data = const_cast<void*>(a.data());
  } else {
    v.data = const_cast<void*>(a.data());
  }
  const int64_t item = a.itemsize();
  v.shape.resize(a.ndim());
  v.strides.resize(a.ndim());
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    v.shape[d] = a.shape(d);
    TG_CHECK(a.strides(d) % item == 0, op, ": array strides are not a multiple of its item size");
    v.strides[d] = a.strides(d) / item;
  }
  return v;
}

inline ArrayView out_view(const py::array& a, const char* op) { return view_of(a, op, true); }

}  // namespace tg
