// The seam between numpy arrays and kernels, used only by the bind_<family>() functions at the
// end of each csrc/cpu/<family>.cpp: a numpy array becomes an ArrayView without copying, and
// large calls run without the GIL.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>

#include "common.h"

namespace tg {
namespace py = pybind11;

inline DType dtype_of(const py::array& a, const char* op) {
  // Kernels read native byte order only; numpy marks a swapped dtype with '>' on this machine.
  const py::dtype dt = a.dtype();
  TG_CHECK(py::detail::array_descriptor_proxy(dt.ptr())->byteorder != '>', op,
           ": array has non-native byte order (", std::string(py::str(dt)), ")");
  const char kind = dt.kind();
  const auto size = a.itemsize();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b' && size == 1) return DType::b8;
  throw std::invalid_argument(detail::cat(op, ": unsupported array dtype '",
                                          std::string(py::str(dt)), "'"));
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

// view_of / out_view for kernels that read whole elements, which need aligned data.
inline ArrayView aligned_view_of(const py::array& a, const char* op) {
  ArrayView v = view_of(a, op);
  check_aligned(v, op);
  return v;
}

inline ArrayView aligned_out_view(const py::array& a, const char* op) {
  ArrayView v = out_view(a, op);
  check_aligned(v, op);
  return v;
}

// Releases the GIL for calls that do enough work for other Python threads to gain from it;
// on small arrays releasing and re-taking it costs more than the kernel itself.
class ReleaseGilIfLarge {
 public:
  explicit ReleaseGilIfLarge(int64_t elements) {
    if (elements >= kElementwiseGrain) release_.emplace();
  }

 private:
  std::optional<py::gil_scoped_release> release_;
};

// An input or an output array of a kernel call, for call_kernel.
struct InArray {
  const py::array& array;
};
struct OutArray {
  const py::array& array;
};

inline ArrayView kernel_view(const InArray& a, const char* op) {
  return aligned_view_of(a.array, op);
}
inline ArrayView kernel_view(const OutArray& a, const char* op) {
  return aligned_out_view(a.array, op);
}

// The body of a binding: aligned views of the arrays (outputs checked writable), then
// kernel(views...), which validates and computes, without the GIL when the largest operand is
// big enough for that to pay.
template <class Kernel, class... Arrays>
void call_kernel(const char* op, Kernel&& kernel, const Arrays&... arrays) {
  const std::array<ArrayView, sizeof...(Arrays)> views{kernel_view(arrays, op)...};
  int64_t work = 0;
  for (const ArrayView& v : views) work = std::max(work, v.numel());
  ReleaseGilIfLarge nogil(work);
  std::apply(kernel, views);
}

// A Python number as a kernel argument (fill values, clamp bounds): ints (and bools) stay exact
// so int64 arrays see every value; ints beyond int64 fall back to float64, which float arrays
// accept and int64 ones reject.
struct Scalar {
  bool is_int = false;
  int64_t i = 0;
  double d = 0.0;
};

inline Scalar scalar_of(const py::handle& obj, const char* op, const char* what) {
  Scalar s;
  PyObject* o = obj.ptr();
  if (PyBool_Check(o)) {
    s.is_int = true;
    s.i = o == Py_True ? 1 : 0;
    s.d = static_cast<double>(s.i);
    return s;
  }
  if (PyIndex_Check(o)) {
    py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (as_int) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
      if (!overflow && !(v == -1 && PyErr_Occurred())) {
        s.is_int = true;
        s.i = v;
        s.d = static_cast<double>(v);
        return s;
      }
    }
    PyErr_Clear();
  }
  const double d = PyFloat_AsDouble(o);
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw std::invalid_argument(detail::cat(op, ": ", what, " ", std::string(py::repr(obj)),
                                            " is not a number that fits float64"));
  }
  s.d = d;
  return s;
}

}  // namespace tg
