// Elementwise CUDA kernels, mirroring csrc/cpu/elementwise.cpp (unary, binary, compare, where,
// clamp, fill) and the copy of csrc/cpu/index.cpp (strided copy with dtype conversion), over
// device arrays that share one shape (broadcast operands arrive as stride-0 views). Every op is
// a functor of ops/elementwise.h (shared with the CPU) mapped by ew::for_each (elementwise.cuh);
// op names are turned into functors once per call on the host. Also defines copy_kernel and
// detach_if_overlapping of common.cuh.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "elementwise.cuh"
#include "ops/elementwise.h"

namespace tg::cuda {

namespace {

using namespace ops;

#define EW_DEV __device__ __forceinline__

// ---------------------------------------------------------------------------------------------
// where, clamp, fill, copy

// T is a same-sized unsigned type, so values (NaN payloads included) move bit for bit; cond is
// a bool byte read as != 0.
struct Where {
  template <class T>
  EW_DEV void operator()(T& o, const uint8_t& c, const T& a, const T& b) const {
    o = c ? a : b;
  }
};

template <class T>
struct Clamp {
  T lo, hi;
  EW_DEV T operator()(T x) const { return clamp1(x, lo, hi); }
};

template <class T>
struct Fill {
  T v;
  EW_DEV void operator()(T& o) const { o = v; }
};

// ops::convert as a functor for ew::map.
template <class D, class S>
struct Convert {
  EW_DEV D operator()(S v) const { return convert<D, S>(v); }
};

// Sets *flag where an int64 exponent is negative (pow) or a divisor is zero.
struct FlagBad {
  int* flag;
  bool is_pow;
  EW_DEV void operator()(const int64_t& v) const {
    if (is_pow ? v < 0 : v == 0) *flag = 1;  // racing stores all write 1
  }
};


// ---------------------------------------------------------------------------------------------
// Validation shared by the bindings (the CPU's messages)

void check_same_dtype(const char* op, const ArrayView& a, const ArrayView& b) {
  TG_CHECK(a.dtype == b.dtype, op, ": dtypes ", dtype_name(a.dtype), " and ",
           dtype_name(b.dtype), " must match");
}

void check_out_shape(const char* op, const ArrayView& out, const ArrayView& in) {
  TG_CHECK(out.shape == in.shape, op, ": out shape ", shape_str(out.shape),
           " does not match input shape ", shape_str(in.shape));
}

// Scans b (int64) for values the integer op cannot take, before anything is written: one flag
// in device memory, read back after a stream synchronisation (without the GIL, which may wait
// for earlier queued work).
void check_int_operand(BOp op, const char* name, const ArrayView& b) {
  const IntRule rule = int_rule(op);
  if (rule == IntRule::None) return;
  const bool is_pow = rule == IntRule::NonNegative;
  Scratch flag = scratch(sizeof(int), ew::current_device());
  int* f = static_cast<int*>(flag->ptr());
  CUDA_CHECK(cudaMemsetAsync(f, 0, sizeof(int), stream()));
  ew::for_each(name, FlagBad{f, is_pow}, ew::arg<const int64_t>(b));
  int bad = 0;
  {
    py::gil_scoped_release nogil;  // a copy to pageable memory waits for the queued work
    CUDA_CHECK(cudaMemcpyAsync(&bad, f, sizeof(int), cudaMemcpyDeviceToHost, stream()));
    CUDA_CHECK(cudaStreamSynchronize(stream()));
  }
  TG_CHECK(!bad || !is_pow, name, ": Integers to negative integer powers are not allowed.");
  TG_CHECK(!bad, name, ": division by zero");
}

// ---------------------------------------------------------------------------------------------
// Kernels

void unary_kernel(const std::string& name, const ArrayView& x, const ArrayView& out) {
  const UOp op = parse_unary(name);
  const char* opn = name.c_str();
  check_same_dtype(opn, x, out);
  check_out_shape(opn, out, x);
  dispatch_all(x.dtype, opn, [&](auto tag) {
    using S = storage_t<typename decltype(tag)::type>;
    const bool ok = with_unary<S>(op, [](auto) {});
    TG_CHECK(ok, opn, ": not supported for ", dtype_name(x.dtype));
    if (out.numel() == 0) return;
    Scratch tmp;
    const ArrayView xs = detach_if_overlapping(x, out, tmp, ew::current_device());
    with_unary<S>(op, [&](auto f) {
      ew::for_each(opn, ew::map(f), ew::arg<S>(out), ew::arg<const S>(xs));
    });
  });
}

void binary_kernel(const std::string& name, const ArrayView& a, const ArrayView& b,
                   const ArrayView& out) {
  const BOp op = parse_binary(name);
  const char* opn = name.c_str();
  check_same_dtype(opn, a, b);
  check_same_shape(opn, a, b);
  check_dtype(opn, out, a.dtype, "out");
  check_out_shape(opn, out, a);
  dispatch_all(a.dtype, opn, [&](auto tag) {
    using S = storage_t<typename decltype(tag)::type>;
    const bool ok = with_binary<S>(op, [](auto) {});
    TG_CHECK(ok, opn, ": not supported for ", dtype_name(a.dtype));
    if (out.numel() == 0) return;
    if (a.dtype == DType::i64) check_int_operand(op, opn, b);
    const int device = ew::current_device();
    Scratch tmp_a, tmp_b;
    const ArrayView as = detach_if_overlapping(a, out, tmp_a, device);
    const ArrayView bs = detach_if_overlapping(b, out, tmp_b, device);
    with_binary<S>(op, [&](auto f) {
      ew::for_each(opn, ew::map(f), ew::arg<S>(out), ew::arg<const S>(as),
                   ew::arg<const S>(bs));
    });
  });
}

void compare_kernel(const std::string& name, const ArrayView& a, const ArrayView& b,
                    const ArrayView& out) {
  const COp op = parse_compare(name);
  const char* opn = name.c_str();
  check_same_dtype(opn, a, b);
  check_same_shape(opn, a, b);
  check_dtype(opn, out, DType::b8, "out");
  check_out_shape(opn, out, a);
  if (out.numel() == 0) return;
  const int device = ew::current_device();
  Scratch tmp_a, tmp_b;
  const ArrayView as = detach_if_overlapping(a, out, tmp_a, device);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b, device);
  dispatch_all(a.dtype, opn, [&](auto tag) {
    using S = storage_t<typename decltype(tag)::type>;
    with_compare<S>(op, [&](auto f) {
      ew::for_each(opn, ew::map(f), ew::arg<uint8_t>(out), ew::arg<const S>(as),
                   ew::arg<const S>(bs));
    });
  });
}

void where_kernel(const ArrayView& cond, const ArrayView& a, const ArrayView& b,
                  const ArrayView& out) {
  check_dtype("where", cond, DType::b8, "cond");
  check_same_dtype("where", a, b);
  check_dtype("where", out, a.dtype, "out");
  check_same_shape("where", cond, a);
  check_same_shape("where", a, b);
  check_out_shape("where", out, a);
  if (out.numel() == 0) return;
  const int device = ew::current_device();
  Scratch tmp_c, tmp_a, tmp_b;
  const ArrayView cs = detach_if_overlapping(cond, out, tmp_c, device);
  const ArrayView as = detach_if_overlapping(a, out, tmp_a, device);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b, device);
  dispatch_all(a.dtype, "where", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    ew::for_each("where", Where{}, ew::arg<T>(out), ew::arg<const uint8_t>(cs),
                 ew::arg<const T>(as), ew::arg<const T>(bs));
  });
}

// lo/hi are null when absent. Integer arrays clamp to the integers inside [lo, hi]: ceil(lo)
// and floor(hi), which is exactly clamp(x, lo, hi) for every integer x.
void clamp_kernel(const ArrayView& x, const Scalar* lo, const Scalar* hi, const ArrayView& out) {
  check_same_dtype("clamp", x, out);
  check_out_shape("clamp", out, x);
  TG_CHECK(x.dtype != DType::b8, "clamp: not supported for bool");
  if (out.numel() == 0) return;
  Scratch tmp;
  const ArrayView xs = detach_if_overlapping(x, out, tmp, ew::current_device());
  dispatch_all(x.dtype, "clamp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      const std::pair<T, T> bounds = clamp_bounds<T>(lo, hi);
      const T lo_v = bounds.first, hi_v = bounds.second;
      ew::for_each("clamp", ew::map(Clamp<T>{lo_v, hi_v}), ew::arg<T>(out), ew::arg<const T>(xs));
    }
  });
}

void fill_kernel(const ArrayView& out, const Scalar& value) {
  const uint64_t bits = fill_bits(out.dtype, value);
  if (out.numel() == 0) return;
  dispatch_all(out.dtype, "fill", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    ew::for_each("fill", Fill<T>{static_cast<T>(bits)}, ew::arg<T>(out));
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The shared helpers of common.cuh

void copy_kernel(const ArrayView& src, const ArrayView& dst) {
  TG_CHECK(src.shape == dst.shape, "copy: shapes ", shape_str(src.shape), " and ",
           shape_str(dst.shape), " must match");
  if (dst.numel() == 0) return;
  Scratch tmp;
  const ArrayView s = detach_if_overlapping(src, dst, tmp, ew::current_device());
  if (s.dtype == dst.dtype && same_elements(s, dst)) return;
  if (s.dtype == dst.dtype && contiguous(s) && contiguous(dst)) {
    CUDA_CHECK(cudaMemcpyAsync(dst.data, s.data,
                               static_cast<size_t>(dst.numel() * dtype_size(dst.dtype)),
                               cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  if (s.dtype == dst.dtype) {
    dispatch_all(dst.dtype, "copy", [&](auto tag) {
      using T = bits_t<typename decltype(tag)::type>;
      ew::for_each("copy", ew::map(Convert<T, T>{}), ew::arg<T>(dst), ew::arg<const T>(s));
    });
    return;
  }
  dispatch_all(dst.dtype, "copy", [&](auto dtag) {
    using D = storage_t<typename decltype(dtag)::type>;
    dispatch_all(s.dtype, "copy", [&](auto stag) {
      using S = storage_t<typename decltype(stag)::type>;
      ew::for_each("copy", ew::map(Convert<D, S>{}), ew::arg<D>(dst), ew::arg<const S>(s));
    });
  });
}

ArrayView detach_if_overlapping(const ArrayView& in, const ArrayView& out, Scratch& tmp,
                                int device) {
  if (same_elements(in, out) || !views_overlap(in, out)) return in;
  ArrayView c;
  c.dtype = in.dtype;
  c.shape = in.shape;
  c.strides.resize(in.shape.size());
  int64_t expected = 1;
  for (int d = in.ndim() - 1; d >= 0; --d) {
    c.strides[d] = expected;
    expected *= in.shape[d];
  }
  tmp = scratch(in.numel() * dtype_size(in.dtype), device);
  c.data = tmp->ptr();
  copy_kernel(in, c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Bindings

void bind_elementwise(py::module_& m) {
  m.def(
      "unary",
      [](const std::string& op, const py::object& x, const py::object& out) {
        call_cuda_kernel(
            op.c_str(), [&](const ArrayView& xv, const ArrayView& ov) { unary_kernel(op, xv, ov); },
            CudaIn{x}, CudaOut{out});
      },
      py::arg("op"), py::arg("x"), py::arg("out"),
      "out = op(x) elementwise; out and x share shape and dtype; out may be x.");
  m.def(
      "binary",
      [](const std::string& op, const py::object& a, const py::object& b, const py::object& out) {
        auto kernel = [&](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          binary_kernel(op, av, bv, ov);
        };
        call_cuda_kernel(op.c_str(), kernel, CudaIn{a}, CudaIn{b}, CudaOut{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = op(a, b) elementwise over one shape (broadcast operands as stride-0 views); "
      "out may be a or b.");
  m.def(
      "compare",
      [](const std::string& op, const py::object& a, const py::object& b, const py::object& out) {
        auto kernel = [&](const ArrayView& av, const ArrayView& bv, const ArrayView& ov) {
          compare_kernel(op, av, bv, ov);
        };
        call_cuda_kernel(op.c_str(), kernel, CudaIn{a}, CudaIn{b}, CudaOut{out});
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out (bool) = a <op> b for op in eq, ne, lt, le, gt, ge.");
  m.def(
      "where",
      [](const py::object& cond, const py::object& a, const py::object& b,
         const py::object& out) {
        call_cuda_kernel("where", where_kernel, CudaIn{cond}, CudaIn{a}, CudaIn{b},
                         CudaOut{out});
      },
      py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = a where cond else b.");
  m.def(
      "clamp",
      [](const py::object& x, const py::object& lo, const py::object& hi, const py::object& out) {
        Scalar lo_s, hi_s;
        if (!lo.is_none()) lo_s = scalar_of(lo, "clamp", "min");
        if (!hi.is_none()) hi_s = scalar_of(hi, "clamp", "max");
        const Scalar* lo_p = lo.is_none() ? nullptr : &lo_s;
        const Scalar* hi_p = hi.is_none() ? nullptr : &hi_s;
        call_cuda_kernel(
            "clamp",
            [&](const ArrayView& xv, const ArrayView& ov) { clamp_kernel(xv, lo_p, hi_p, ov); },
            CudaIn{x}, CudaOut{out});
      },
      py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out"),
      "out = min(max(x, lo), hi); lo/hi may be None; NaN stays NaN; out may be x.");
  m.def(
      "fill",
      [](const py::object& out, const py::object& value) {
        const Scalar v = scalar_of(value, "fill", "value");
        call_cuda_kernel("fill", [&](const ArrayView& ov) { fill_kernel(ov, v); }, CudaOut{out});
      },
      py::arg("out"), py::arg("value"), "Sets every element of out to value (cast to its dtype).");
  m.def(
      "copy",
      [](const py::object& src, const py::object& dst) {
        call_cuda_kernel("copy", copy_kernel, CudaIn{src}, CudaOut{dst});
      },
      py::arg("src"), py::arg("dst"),
      "dst[...] = src (same shape, any strides), converting between any two dtypes.");
}

}  // namespace tg::cuda
