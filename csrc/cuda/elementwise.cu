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

#include "bind/elementwise.h"
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

// Scans b (int64) for values the integer op cannot take, before anything is written: one flag
// in device memory, read back after the queued work (without the GIL).
void check_int_operand(BOp op, const char* name, const ArrayView& b) {
  const IntRule rule = int_rule(op);
  if (rule == IntRule::None) return;
  const bool is_pow = rule == IntRule::NonNegative;
  Scratch flag = scratch(sizeof(int), ew::current_device());
  int* f = static_cast<int*>(flag->ptr());
  CUDA_CHECK(cudaMemsetAsync(f, 0, sizeof(int), stream()));
  ew::for_each(name, FlagBad{f, is_pow}, ew::arg<const int64_t>(b));
  int bad = 0;
  copy_to_host_nogil(&bad, f, sizeof(int));
  TG_CHECK(!bad || !is_pow, name, ": Integers to negative integer powers are not allowed.");
  TG_CHECK(!bad, name, ": division by zero");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernels

void Cuda::unary(const std::string& name, const ArrayView& x, const ArrayView& out) {
  const UOp op = parse_unary(name);
  const char* opn = name.c_str();
  check_unary(opn, x, out);
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

void Cuda::binary(const std::string& name, const ArrayView& a, const ArrayView& b,
                  const ArrayView& out) {
  const BOp op = parse_binary(name);
  const char* opn = name.c_str();
  check_binary(opn, a, b, out, a.dtype);
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

void Cuda::compare(const std::string& name, const ArrayView& a, const ArrayView& b,
                   const ArrayView& out) {
  const COp op = parse_compare(name);
  const char* opn = name.c_str();
  check_binary(opn, a, b, out, DType::b8);
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

void Cuda::where(const ArrayView& cond, const ArrayView& a, const ArrayView& b,
                 const ArrayView& out) {
  check_where(cond, a, b, out);
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
void Cuda::clamp(const ArrayView& x, const Scalar* lo, const Scalar* hi, const ArrayView& out) {
  check_clamp(x, out);
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

void Cuda::fill(const ArrayView& out, const Scalar& value) {
  const uint64_t bits = fill_bits(out.dtype, value);
  if (out.numel() == 0) return;
  dispatch_all(out.dtype, "fill", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    ew::for_each("fill", Fill<T>{static_cast<T>(bits)}, ew::arg<T>(out));
  });
}


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
  tmp = scratch(in.numel() * dtype_size(in.dtype), device);
  const ArrayView c = contiguous_like(in, tmp->ptr());
  copy_kernel(in, c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Bindings

void bind_elementwise(py::module_& m) {
  bind::elementwise<Cuda>(m);
}

}  // namespace tg::cuda
