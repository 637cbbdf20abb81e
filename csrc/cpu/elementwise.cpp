// Elementwise kernels: unary math, binary arithmetic, comparisons, where, clamp and fill over
// strided arrays that share one shape (the Python layer broadcasts operands beforehand with
// stride-0 views). The ops, their dtypes and their scalar math are ops/elementwise.h's (shared
// with the CUDA backend); here are the loops. Contiguous runs go through plain loops the compiler
// vectorises; each such loop is compiled twice, for the baseline ISA and for AVX2/FMA, and the
// variant is picked at run time. float32 exp, expm1 and log1p, which libm computes one element
// per call, use the vector versions of simd_math.h instead.
#include <cmath>
#include <cstring>
#include <limits>

#include "bind/elementwise.h"
#include "common.h"
#include "pyarray.h"
#include "ops/elementwise.h"
#include "simd_math.h"

namespace tg {

namespace {

// The names of ops/elementwise.h this file uses. Declared one by one: a using-directive here
// would reach every file compiled after this one in the same unity translation unit
// (CMakeLists.txt), making their tg::detail ambiguous with ops::detail.
using ops::BOp;
using ops::COp;
using ops::IntRule;
using ops::UOp;
using ops::clamp1;
using ops::clamp_bounds;
using ops::fill_bits;
using ops::int_rule;
using ops::is_heavy;
using ops::parse_binary;
using ops::parse_compare;
using ops::parse_unary;
using ops::with_binary;
using ops::with_compare;
using ops::with_unary;

// The inner function StridedLoop hands each run to: operand pointers, run length, byte strides.
using Inner = void (*)(char**, int64_t, const int64_t*);

// Transcendental ops cost tens of cycles per element, so threads pay off on smaller arrays.
constexpr int64_t kHeavyGrain = kElementwiseGrain / 8;

// ---------------------------------------------------------------------------------------------
// Unary ops (the functors of ops/elementwise.h)

// Operands: p[0] = out, p[1] = x.
template <class T, class Op>
TG_ALWAYS_INLINE void unary_body(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  const Op op{};
  if (s[0] == E && s[1] == E) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    for (int64_t i = 0; i < n; ++i) o[i] = op(x[i]);
    return;
  }
  char* o = p[0];
  const char* x = p[1];
  for (int64_t i = 0; i < n; ++i, o += s[0], x += s[1])
    *reinterpret_cast<T*>(o) = op(*reinterpret_cast<const T*>(x));
}
template <class T, class Op> void unary_base(char** p, int64_t n, const int64_t* s) {
  unary_body<T, Op>(p, n, s);
}
template <class T, class Op> TG_TARGET_AVX2 void unary_avx2(char** p, int64_t n, const int64_t* s) {
  unary_body<T, Op>(p, n, s);
}

// The float32 forms of exp, expm1 and log1p, which libm computes one element per call, are the
// vector versions of simd_math.h: simd::map picks its own variant.
struct VecExp {
  template <class V> TG_ALWAYS_INLINE V operator()(const V& x) const { return simd::vexp(x); }
};
struct VecExpm1 {
  template <class V> TG_ALWAYS_INLINE V operator()(const V& x) const { return simd::vexpm1(x); }
};
struct VecLog1p {
  template <class V> TG_ALWAYS_INLINE V operator()(const V& x) const { return simd::vlog1p(x); }
};
template <class Op> void unary_vec(char** p, int64_t n, const int64_t* s) {
  simd::map<float, 2>(Op{}, p, n, s);
}

// The loop for op in storage type T, or null when T does not take op.
template <class T>
Inner unary_fn(UOp op, bool avx2) {
  if constexpr (std::is_same_v<T, float>) {
    if (op == UOp::exp) return &unary_vec<VecExp>;
    if (op == UOp::expm1) return &unary_vec<VecExpm1>;
    if (op == UOp::log1p) return &unary_vec<VecLog1p>;
  }
  Inner fn = nullptr;
  with_unary<T>(op, [&](auto f) {
    using Op = decltype(f);
    fn = avx2 ? &unary_avx2<T, Op> : &unary_base<T, Op>;
  });
  return fn;
}

// ---------------------------------------------------------------------------------------------
// Binary ops and comparisons

// Operands: p[0] = out (type R), p[1] = a, p[2] = b (type T). Besides the all-contiguous run,
// a broadcast scalar on either side (x * 2.0, 1 - x) gets its own vectorisable loop.
// Exact aliasing of out with a or b is safe: every element is read before it is written.
template <class T, class R, class Op>
TG_ALWAYS_INLINE void binary_body(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  const Op op{};
  if (s[0] == static_cast<int64_t>(sizeof(R))) {
    R* o = reinterpret_cast<R*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    const T* b = reinterpret_cast<const T*>(p[2]);
    if (s[1] == E && s[2] == E) {
      for (int64_t i = 0; i < n; ++i) o[i] = op(a[i], b[i]);
      return;
    }
    if (s[1] == E && s[2] == 0) {
      const T bv = *b;
      for (int64_t i = 0; i < n; ++i) o[i] = op(a[i], bv);
      return;
    }
    if (s[1] == 0 && s[2] == E) {
      const T av = *a;
      for (int64_t i = 0; i < n; ++i) o[i] = op(av, b[i]);
      return;
    }
  }
  char* o = p[0];
  const char* a = p[1];
  const char* b = p[2];
  for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1], b += s[2])
    *reinterpret_cast<R*>(o) = op(*reinterpret_cast<const T*>(a), *reinterpret_cast<const T*>(b));
}
template <class T, class R, class Op> void binary_base(char** p, int64_t n, const int64_t* s) {
  binary_body<T, R, Op>(p, n, s);
}
template <class T, class R, class Op>
TG_TARGET_AVX2 void binary_avx2(char** p, int64_t n, const int64_t* s) {
  binary_body<T, R, Op>(p, n, s);
}

template <class T>
Inner binary_fn(BOp op, bool avx2) {
  Inner fn = nullptr;
  with_binary<T>(op, [&](auto f) {
    using Op = decltype(f);
    fn = avx2 ? &binary_avx2<T, T, Op> : &binary_base<T, T, Op>;
  });
  return fn;
}

template <class T>
Inner compare_fn(COp op, bool avx2) {
  Inner fn = nullptr;
  with_compare<T>(op, [&](auto f) {
    using Op = decltype(f);
    fn = avx2 ? &binary_avx2<T, uint8_t, Op> : &binary_base<T, uint8_t, Op>;
  });
  return fn;
}

// ---------------------------------------------------------------------------------------------
// where, clamp, fill

// Operands: p[0] = out, p[1] = cond, p[2] = a, p[3] = b; T is a same-sized unsigned type, so
// values (NaN payloads included) are moved bit for bit.
template <class T>
TG_ALWAYS_INLINE void where_body(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  if (s[0] == E && s[1] == 1) {
    T* o = reinterpret_cast<T*>(p[0]);
    const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
    const T* a = reinterpret_cast<const T*>(p[2]);
    const T* b = reinterpret_cast<const T*>(p[3]);
    if (s[2] == E && s[3] == E) {
      for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? a[i] : b[i];
      return;
    }
    if (s[2] == E && s[3] == 0) {
      const T bv = *b;
      for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? a[i] : bv;
      return;
    }
    if (s[2] == 0 && s[3] == E) {
      const T av = *a;
      for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? av : b[i];
      return;
    }
  }
  char* o = p[0];
  const char* c = p[1];
  const char* a = p[2];
  const char* b = p[3];
  for (int64_t i = 0; i < n; ++i, o += s[0], c += s[1], a += s[2], b += s[3])
    *reinterpret_cast<T*>(o) = *reinterpret_cast<const uint8_t*>(c)
                                   ? *reinterpret_cast<const T*>(a)
                                   : *reinterpret_cast<const T*>(b);
}
template <class T> void where_base(char** p, int64_t n, const int64_t* s) { where_body<T>(p, n, s); }
template <class T> TG_TARGET_AVX2 void where_avx2(char** p, int64_t n, const int64_t* s) {
  where_body<T>(p, n, s);
}

// clamp1 of ops/elementwise.h over a run.
template <class T>
TG_ALWAYS_INLINE void clamp_body(char** p, int64_t n, const int64_t* s, T lo, T hi) {
  constexpr int64_t E = sizeof(T);
  if (s[0] == E && s[1] == E) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    for (int64_t i = 0; i < n; ++i) o[i] = clamp1(x[i], lo, hi);
    return;
  }
  char* o = p[0];
  const char* x = p[1];
  for (int64_t i = 0; i < n; ++i, o += s[0], x += s[1])
    *reinterpret_cast<T*>(o) = clamp1(*reinterpret_cast<const T*>(x), lo, hi);
}
template <class T> void clamp_base(char** p, int64_t n, const int64_t* s, T lo, T hi) {
  clamp_body<T>(p, n, s, lo, hi);
}
template <class T> TG_TARGET_AVX2 void clamp_avx2(char** p, int64_t n, const int64_t* s, T lo, T hi) {
  clamp_body<T>(p, n, s, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// Validation shared by the bindings

// Scans b (int64) for values the integer op cannot take, before anything is written.
void check_int_operand(BOp op, const char* name, const ArrayView& b) {
  const IntRule rule = int_rule(op);
  if (rule == IntRule::None) return;
  StridedLoop<1> loop(b.shape, {&b});
  bool bad = false;
  const bool is_pow = rule == IntRule::NonNegative;
  loop.run(0, loop.numel(), [&](char** p, int64_t n, const int64_t* s) {
    const char* q = p[0];
    bool found = false;
    for (int64_t i = 0; i < n; ++i, q += s[0]) {
      const int64_t v = *reinterpret_cast<const int64_t*>(q);
      found |= is_pow ? v < 0 : v == 0;
    }
    bad |= found;
  });
  TG_CHECK(!bad || !is_pow, name, ": Integers to negative integer powers are not allowed.");
  TG_CHECK(!bad, name, ": division by zero");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernels

void Cpu::unary(const std::string& name, const ArrayView& x, const ArrayView& out) {
  const UOp op = parse_unary(name);
  const char* opn = name.c_str();
  check_unary(opn, x, out);
  const bool avx2 = use_avx2();
  Inner fn = dispatch_all(x.dtype, opn, [&](auto tag) {
    return unary_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  TG_CHECK(fn != nullptr, opn, ": not supported for ", dtype_name(x.dtype));
  if (out.numel() == 0) return;
  std::vector<char> tmp;
  const ArrayView xs = detach_if_overlapping(x, out, tmp);
  for_each_run<2>({&out, &xs}, fn, is_heavy(op) ? kHeavyGrain : kElementwiseGrain);
}

void Cpu::binary(const std::string& name, const ArrayView& a, const ArrayView& b,
                 const ArrayView& out) {
  const BOp op = parse_binary(name);
  const char* opn = name.c_str();
  check_binary(opn, a, b, out, a.dtype);
  const bool avx2 = use_avx2();
  Inner fn = dispatch_all(a.dtype, opn, [&](auto tag) {
    return binary_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  TG_CHECK(fn != nullptr, opn, ": not supported for ", dtype_name(a.dtype));
  if (out.numel() == 0) return;
  if (a.dtype == DType::i64) check_int_operand(op, opn, b);
  std::vector<char> tmp_a, tmp_b;
  const ArrayView as = detach_if_overlapping(a, out, tmp_a);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b);
  for_each_run<3>({&out, &as, &bs}, fn, is_heavy(op) ? kHeavyGrain : kElementwiseGrain);
}

void Cpu::compare(const std::string& name, const ArrayView& a, const ArrayView& b,
                  const ArrayView& out) {
  const COp op = parse_compare(name);
  const char* opn = name.c_str();
  check_binary(opn, a, b, out, DType::b8);
  const bool avx2 = use_avx2();
  Inner fn = dispatch_all(a.dtype, opn, [&](auto tag) {
    return compare_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  if (out.numel() == 0) return;
  std::vector<char> tmp_a, tmp_b;
  const ArrayView as = detach_if_overlapping(a, out, tmp_a);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b);
  for_each_run<3>({&out, &as, &bs}, fn);
}

void Cpu::where(const ArrayView& cond, const ArrayView& a, const ArrayView& b,
                const ArrayView& out) {
  check_where(cond, a, b, out);
  if (out.numel() == 0) return;
  const bool avx2 = use_avx2();
  Inner fn = dispatch_all(a.dtype, "where", [&](auto tag) -> Inner {
    using T = bits_t<typename decltype(tag)::type>;
    return avx2 ? &where_avx2<T> : &where_base<T>;
  });
  std::vector<char> tmp_c, tmp_a, tmp_b;
  const ArrayView cs = detach_if_overlapping(cond, out, tmp_c);
  const ArrayView as = detach_if_overlapping(a, out, tmp_a);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b);
  for_each_run<4>({&out, &cs, &as, &bs}, fn);
}

// lo/hi are null when absent. Integer arrays clamp to the integers inside [lo, hi]: ceil(lo)
// and floor(hi), which is exactly clamp(x, lo, hi) for every integer x.
void Cpu::clamp(const ArrayView& x, const Scalar* lo, const Scalar* hi, const ArrayView& out) {
  check_clamp(x, out);
  if (out.numel() == 0) return;
  const bool avx2 = use_avx2();
  std::vector<char> tmp;
  const ArrayView xs = detach_if_overlapping(x, out, tmp);
  dispatch_all(x.dtype, "clamp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      const std::pair<T, T> bounds = clamp_bounds<T>(lo, hi);
      const T lo_v = bounds.first, hi_v = bounds.second;
      auto fn = avx2 ? &clamp_avx2<T> : &clamp_base<T>;
      for_each_run<2>({&out, &xs},
                      [=](char** p, int64_t n, const int64_t* s) { fn(p, n, s, lo_v, hi_v); });
    }
  });
}

void Cpu::fill(const ArrayView& out, const Scalar& value) {
  const uint64_t bits = fill_bits(out.dtype, value);
  if (out.numel() == 0) return;
  dispatch_all(out.dtype, "fill", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    const T v = static_cast<T>(bits);
    for_each_run<1>({&out}, [v](char** p, int64_t n, const int64_t* s) {
      if (s[0] == static_cast<int64_t>(sizeof(T))) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        char* o = p[0];
        for (int64_t i = 0; i < n; ++i, o += s[0]) *reinterpret_cast<T*>(o) = v;
      }
    });
  });
}


void bind_elementwise(py::module_& m) {
  bind::elementwise<Cpu>(m);
}

}  // namespace tg
