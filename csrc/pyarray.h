// The seam between Python arrays and kernels, used only by the bindings: a numpy array becomes
// an ArrayView without copying; CallViews turns a call's array arguments into views for either
// backend; struct Cpu is the CPU backend the bindings of csrc/bind/ are instantiated with (its
// call wrapper runs large calls without the GIL).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>

#include "checks.h"
#include "common.h"
#include "graph.h"

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

// The array arguments of a binding, in the order the kernel takes their views (see
// CallViews): an input or an output array; an optional one (None or an array; std::optional
// view); a list or tuple of arrays (std::vector of views, entries named list[i] in errors).
struct In {
  py::handle array;
};
struct Out {
  py::handle array;
  bool reads = false;  // the kernel reads the old values too (accumulates into them)
};
struct OptIn {
  py::handle array;
  const char* name;
};
struct OptOut {
  py::handle array;
  const char* name;
};
struct ListIn {
  py::handle list;
  const char* name;
};
struct ListOut {
  py::handle list;
  const char* name;
};

// How each kind of argument is accessed, for graph mode's memory planning (graph.h).
inline graph::Access access_of(const In&) { return graph::Access::read; }
inline graph::Access access_of(const Out& a) {
  return a.reads ? graph::Access::read_write : graph::Access::write;
}
inline graph::Access access_of(const OptIn&) { return graph::Access::read; }
inline graph::Access access_of(const OptOut&) { return graph::Access::write; }
inline graph::Access access_of(const ListIn&) { return graph::Access::read; }
inline graph::Access access_of(const ListOut&) { return graph::Access::read_write; }

inline std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

// Turns a call's array arguments into views, one call per argument, in order, through the
// backend B: B::array_view(handle, op, writable, &device) (device -1 for host memory),
// B::is_array, B::writeable and B::kArrayKind ("a numpy array"). Single arrays are checked to be
// aligned; list entries are checked by the caller (the optimizers name the entry). All arrays
// must be on one device.
template <class B>
struct CallViews {
  const char* op;
  int device = -1;               // the arrays' device, -1 until a device array is seen
  int64_t work = 0;              // elements of the largest array, or of a whole list
  std::vector<py::object> keep;  // list entries, referenced while the kernel runs (and, while
                                 // graph mode records, every array argument)
  bool recording = graph::recording();

  ArrayView view(py::handle a, bool writable) {
    int d = -1;
    ArrayView v = B::array_view(a, op, writable, &d);
    if (d >= 0) {
      TG_CHECK(device < 0 || d == device, op, ": expected all arrays on one device, got cuda:",
               device, " and cuda:", d);
      device = d;
    }
    return v;
  }
  ArrayView aligned(py::handle a, bool writable) {
    ArrayView v = view(a, writable);
    if (recording) keep.push_back(py::reinterpret_borrow<py::object>(a));
    check_aligned(v, op);
    work = std::max(work, v.numel());
    return v;
  }
  std::optional<ArrayView> optional(py::handle a, const char* name, bool writable) {
    if (a.is_none()) return std::nullopt;
    TG_CHECK(B::is_array(a), op, ": ", name, " must be None or ", B::kArrayKind, ", got ",
             type_name(a));
    return aligned(a, writable);
  }
  std::vector<ArrayView> list(py::handle seq, const char* name, bool writable) {
    const auto items = py::reinterpret_borrow<py::sequence>(seq);
    const size_t n = py::len(items);
    std::vector<ArrayView> views;
    views.reserve(n);
    int64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      py::object obj = items[i];
      TG_CHECK(B::is_array(obj), op, ": ", name, "[", i, "] must be ", B::kArrayKind, ", got ",
               type_name(obj));
      TG_CHECK(!writable || B::writeable(obj), op, ": ", name, "[", i, "] is read-only");
      views.push_back(view(obj, writable));
      total += views.back().numel();
      keep.push_back(std::move(obj));
    }
    work = std::max(work, total);
    return views;
  }

  ArrayView operator()(const In& a) { return aligned(a.array, false); }
  ArrayView operator()(const Out& a) { return aligned(a.array, true); }
  std::optional<ArrayView> operator()(const OptIn& a) { return optional(a.array, a.name, false); }
  std::optional<ArrayView> operator()(const OptOut& a) { return optional(a.array, a.name, true); }
  std::vector<ArrayView> operator()(const ListIn& a) { return list(a.list, a.name, false); }
  std::vector<ArrayView> operator()(const ListOut& a) { return list(a.list, a.name, true); }
};

// The CPU backend: numpy arrays, and the entry points of csrc/cpu/<family>.cpp.
struct Cpu {
  using Array = py::array;  // a binding's required array argument
  static constexpr const char* kArrayKind = "a numpy array";
  static bool is_array(py::handle a) { return py::isinstance<py::array>(a); }
  static bool writeable(py::handle a) { return py::reinterpret_borrow<py::array>(a).writeable(); }
  static ArrayView array_view(py::handle a, const char* op, bool writable, int* /*device*/) {
    return view_of(py::reinterpret_borrow<py::array>(a), op, writable);
  }

  // The body of a binding: views of the arrays (outputs checked writable), then
  // kernel(views...), without the GIL when the largest operand (or list) is big enough for
  // that to pay.
  // While graph mode records, the call is also appended to the recording: the kernel is kept by
  // value, so a binding's kernel lambda captures values only, never references.
  template <class Kernel, class... Args>
  static void call(const graph::Op& op, Kernel&& kernel, const Args&... args) {
    CallViews<Cpu> c{op.name};
    std::tuple<decltype(c(args))...> views{c(args)...};
    {
      ReleaseGilIfLarge nogil(c.work);
      std::apply(kernel, views);
    }
    if (c.recording)
      graph::record(op, -1, kernel, std::move(views), {access_of(args)...}, std::move(c.keep));
  }

#include "kernels.inc"
};

// A Python number as a Scalar (common.h): ints (and bools) stay exact so int64 arrays see every
// value; ints beyond int64 fall back to float64, which float arrays accept and int64 ones reject.
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
