// Elementwise CUDA kernels, mirroring csrc/cpu/elementwise.cpp (unary, binary, compare, where,
// clamp, fill) and the copy of csrc/cpu/index.cpp (strided copy with dtype conversion), over
// device arrays that share one shape (broadcast operands arrive as stride-0 views). Every op is
// a small functor mapped by ew::for_each (elementwise.cuh); op names are turned into functors
// once per call on the host. Also defines copy_kernel and detach_if_overlapping of common.cuh.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "bind/elementwise.h"
#include "elementwise.cuh"

namespace tg::cuda {

namespace {

template <class E, size_t K>
E lookup_op(const std::pair<const char*, E> (&table)[K], const std::string& name, const char* fn) {
  for (const auto& entry : table)
    if (name == entry.first) return entry.second;
  throw std::invalid_argument(detail::cat(fn, ": unknown op '", name, "'"));
}

// Signed overflow is undefined in C++; integer ops wrap through uint64 like numpy and torch.
__device__ __forceinline__ int64_t wrap_neg(int64_t a) {
  return static_cast<int64_t>(0 - static_cast<uint64_t>(a));
}
__device__ __forceinline__ int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
__device__ __forceinline__ int64_t wrap_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
__device__ __forceinline__ int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

#define EW_DEV __device__ __forceinline__

// ---------------------------------------------------------------------------------------------
// Unary ops

enum class UOp { neg, exp, log, sqrt, abs, sin, cos, sign, round, reciprocal, square, log1p,
                 expm1, floor, ceil, trunc, rsqrt };

constexpr std::pair<const char*, UOp> kUnaryOps[] = {
    {"neg", UOp::neg},     {"exp", UOp::exp},       {"log", UOp::log},
    {"sqrt", UOp::sqrt},   {"abs", UOp::abs},       {"sin", UOp::sin},
    {"cos", UOp::cos},     {"sign", UOp::sign},     {"round", UOp::round},
    {"reciprocal", UOp::reciprocal},                {"square", UOp::square},
    {"log1p", UOp::log1p}, {"expm1", UOp::expm1},   {"floor", UOp::floor},
    {"ceil", UOp::ceil},   {"trunc", UOp::trunc},   {"rsqrt", UOp::rsqrt},
};

struct Neg {
  template <class T> EW_DEV T operator()(T x) const { return -x; }
  EW_DEV int64_t operator()(int64_t x) const { return wrap_neg(x); }
};
struct Abs {
  template <class T> EW_DEV T operator()(T x) const { return ew::fabs(x); }
  EW_DEV int64_t operator()(int64_t x) const { return x < 0 ? wrap_neg(x) : x; }
};
struct Square {
  template <class T> EW_DEV T operator()(T x) const { return x * x; }
  EW_DEV int64_t operator()(int64_t x) const { return wrap_mul(x, x); }
};
// (0 < x) - (x < 0), as PyTorch: sign(nan) = 0 and sign(-0.0) = +0.0.
struct Sign {
  template <class T> EW_DEV T operator()(T x) const {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
};
struct Exp { template <class T> EW_DEV T operator()(T x) const { return ew::exp(x); } };
struct Log { template <class T> EW_DEV T operator()(T x) const { return ew::log(x); } };
struct Sqrt { template <class T> EW_DEV T operator()(T x) const { return ew::sqrt(x); } };
struct Sin { template <class T> EW_DEV T operator()(T x) const { return ew::sin(x); } };
struct Cos { template <class T> EW_DEV T operator()(T x) const { return ew::cos(x); } };
struct Round { template <class T> EW_DEV T operator()(T x) const { return ew::rint(x); } };
struct Reciprocal { template <class T> EW_DEV T operator()(T x) const { return T(1) / x; } };
struct Log1p { template <class T> EW_DEV T operator()(T x) const { return ew::log1p(x); } };
struct Expm1 { template <class T> EW_DEV T operator()(T x) const { return ew::expm1(x); } };
struct Floor { template <class T> EW_DEV T operator()(T x) const { return ew::floor(x); } };
struct Ceil { template <class T> EW_DEV T operator()(T x) const { return ew::ceil(x); } };
struct Trunc { template <class T> EW_DEV T operator()(T x) const { return ew::trunc(x); } };
// 1 / sqrt(x), both correctly rounded, as the CPU (rsqrtf would differ by up to 2 ulp)
struct Rsqrt {
  template <class T> EW_DEV T operator()(T x) const { return T(1) / ew::sqrt(x); }
};

// Calls run(functor) for the op in storage type T and returns true, or returns false when the
// op is not defined for T (the CPU's table: floats take every op, int64 neg/abs/sign/square,
// bool none).
template <class T, class Run>
bool with_unary(UOp op, Run&& run) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UOp::neg: run(Neg{}); return true;
      case UOp::exp: run(Exp{}); return true;
      case UOp::log: run(Log{}); return true;
      case UOp::sqrt: run(Sqrt{}); return true;
      case UOp::abs: run(Abs{}); return true;
      case UOp::sin: run(Sin{}); return true;
      case UOp::cos: run(Cos{}); return true;
      case UOp::sign: run(Sign{}); return true;
      case UOp::round: run(Round{}); return true;
      case UOp::reciprocal: run(Reciprocal{}); return true;
      case UOp::square: run(Square{}); return true;
      case UOp::log1p: run(Log1p{}); return true;
      case UOp::expm1: run(Expm1{}); return true;
      case UOp::floor: run(Floor{}); return true;
      case UOp::ceil: run(Ceil{}); return true;
      case UOp::trunc: run(Trunc{}); return true;
      case UOp::rsqrt: run(Rsqrt{}); return true;
    }
  } else if constexpr (std::is_same_v<T, int64_t>) {
    switch (op) {
      case UOp::neg: run(Neg{}); return true;
      case UOp::abs: run(Abs{}); return true;
      case UOp::sign: run(Sign{}); return true;
      case UOp::square: run(Square{}); return true;
      default: break;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Binary ops

enum class BOp { add, sub, mul, div, pow, maximum, minimum, floor_divide, remainder,
                 logical_and, logical_or, logical_xor };

constexpr std::pair<const char*, BOp> kBinaryOps[] = {
    {"add", BOp::add},         {"sub", BOp::sub},
    {"mul", BOp::mul},         {"div", BOp::div},
    {"pow", BOp::pow},         {"maximum", BOp::maximum},
    {"minimum", BOp::minimum}, {"floor_divide", BOp::floor_divide},
    {"remainder", BOp::remainder},
    {"logical_and", BOp::logical_and}, {"logical_or", BOp::logical_or},
    {"logical_xor", BOp::logical_xor},
};

struct Add {
  template <class T> EW_DEV T operator()(T a, T b) const { return a + b; }
  EW_DEV int64_t operator()(int64_t a, int64_t b) const { return wrap_add(a, b); }
};
struct Sub {
  template <class T> EW_DEV T operator()(T a, T b) const { return a - b; }
  EW_DEV int64_t operator()(int64_t a, int64_t b) const { return wrap_sub(a, b); }
};
struct Mul {
  template <class T> EW_DEV T operator()(T a, T b) const { return a * b; }
  EW_DEV int64_t operator()(int64_t a, int64_t b) const { return wrap_mul(a, b); }
};
struct Div { template <class T> EW_DEV T operator()(T a, T b) const { return a / b; } };
// NaN in either operand wins, as numpy.maximum / torch.maximum (not fmax).
struct Maximum {
  template <class T> EW_DEV T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
struct Minimum {
  template <class T> EW_DEV T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
struct Pow {
  template <class T> EW_DEV T operator()(T a, T b) const { return ew::pow(a, b); }
  // Square-and-multiply, wrapping on overflow. Negative exponents are rejected beforehand.
  EW_DEV int64_t operator()(int64_t a, int64_t b) const {
    uint64_t r = 1, base = static_cast<uint64_t>(a), e = static_cast<uint64_t>(b);
    while (e) {
      if (e & 1) r *= base;
      base *= base;
      e >>= 1;
    }
    return static_cast<int64_t>(r);
  }
};

// Python's divmod for floats, the CPU's algorithm: the remainder takes the sign of the divisor
// and the quotient is the floor of the exact quotient (a - remainder) / b snapped to the nearest
// integer (numpy.floor_divide / numpy.remainder). A zero divisor gives a / b and fmod's NaN.
template <class T>
EW_DEV T float_divmod(T a, T b, T* mod) {
  T m = ew::fmod(a, b);
  if (b == T(0)) {
    *mod = m;
    return a / b;
  }
  T q = (a - m) / b;
  if (m != T(0)) {
    if ((b < T(0)) != (m < T(0))) {
      m += b;
      q -= T(1);
    }
  } else {
    m = ew::copysign(T(0), b);
  }
  *mod = m;
  if (q == T(0)) return ew::copysign(T(0), a / b);
  const T fq = ew::floor(q);
  return (q - fq > T(0.5)) ? fq + T(1) : fq;
}

// Integer forms round the quotient down (Python); zero divisors are rejected beforehand and
// b = -1 is special-cased as on the CPU (INT64_MIN / -1 overflows).
struct FloorDivide {
  template <class T> EW_DEV T operator()(T a, T b) const {
    T m;
    return float_divmod(a, b, &m);
  }
  EW_DEV int64_t operator()(int64_t a, int64_t b) const {
    if (b == -1) return wrap_neg(a);
    const int64_t q = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
  }
};
struct Remainder {
  template <class T> EW_DEV T operator()(T a, T b) const {
    T m;
    float_divmod(a, b, &m);
    return m;
  }
  EW_DEV int64_t operator()(int64_t a, int64_t b) const {
    if (b == -1) return 0;
    const int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  }
};
// bool operands (bytes) by truth value
struct LogicalAnd {
  EW_DEV uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) & (b != 0); }
};
struct LogicalOr {
  EW_DEV uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) | (b != 0); }
};
struct LogicalXor {
  EW_DEV uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) ^ (b != 0); }
};

// As with_unary: floats take the arithmetic ops, int64 the same but div, bool the logical ops.
template <class T, class Run>
bool with_binary(BOp op, Run&& run) {
  if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, int64_t>) {
    switch (op) {
      case BOp::add: run(Add{}); return true;
      case BOp::sub: run(Sub{}); return true;
      case BOp::mul: run(Mul{}); return true;
      case BOp::pow: run(Pow{}); return true;
      case BOp::maximum: run(Maximum{}); return true;
      case BOp::minimum: run(Minimum{}); return true;
      case BOp::floor_divide: run(FloorDivide{}); return true;
      case BOp::remainder: run(Remainder{}); return true;
      case BOp::div:
        if constexpr (std::is_floating_point_v<T>) {
          run(Div{});
          return true;
        }
        break;
      default: break;
    }
  } else {  // bool
    switch (op) {
      case BOp::logical_and: run(LogicalAnd{}); return true;
      case BOp::logical_or: run(LogicalOr{}); return true;
      case BOp::logical_xor: run(LogicalXor{}); return true;
      default: break;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Comparisons (bool output)

enum class COp { eq, ne, lt, le, gt, ge };

constexpr std::pair<const char*, COp> kCompareOps[] = {
    {"eq", COp::eq}, {"ne", COp::ne}, {"lt", COp::lt},
    {"le", COp::le}, {"gt", COp::gt}, {"ge", COp::ge},
};

struct Eq { template <class T> EW_DEV bool operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> EW_DEV bool operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> EW_DEV bool operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> EW_DEV bool operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> EW_DEV bool operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> EW_DEV bool operator()(T a, T b) const { return a >= b; } };

// bool operands (bytes) compare by truth value.
template <class Op>
struct Truth {
  EW_DEV bool operator()(uint8_t a, uint8_t b) const { return Op{}(a != 0, b != 0); }
};

template <class T, class Run>
void with_compare(COp op, Run&& run) {
  auto go = [&](auto cmp) {
    if constexpr (std::is_same_v<T, uint8_t>)
      run(Truth<decltype(cmp)>{});
    else
      run(cmp);
  };
  switch (op) {
    case COp::eq: go(Eq{}); return;
    case COp::ne: go(Ne{}); return;
    case COp::lt: go(Lt{}); return;
    case COp::le: go(Le{}); return;
    case COp::gt: go(Gt{}); return;
    case COp::ge: go(Ge{}); return;
  }
}

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

// As torch.clamp: a NaN x fails both comparisons and passes through, a NaN bound makes every
// result NaN, and lo > hi gives hi everywhere.
template <class T>
struct Clamp {
  T lo, hi;
  EW_DEV T operator()(T x) const {
    const T r = (lo > x || lo != lo) ? lo : x;
    return (r > hi || hi != hi) ? hi : r;
  }
};

template <class T>
struct Fill {
  T v;
  EW_DEV void operator()(T& o) const { o = v; }
};

constexpr double kTwo63 = 9223372036854775808.0;

// numpy's astype rules, as the CPU's copy: float -> int64 truncates toward zero (NaN and
// out-of-range values give INT64_MIN); anything -> bool is != 0; bool -> number is 0 or 1.
// Types are storage types (bool is uint8_t).
template <class D, class S>
struct Convert {
  EW_DEV D operator()(S v) const {
    if constexpr (std::is_same_v<D, S>) {
      return v;
    } else if constexpr (std::is_same_v<D, uint8_t>) {
      return v != S(0);
    } else if constexpr (std::is_same_v<S, uint8_t>) {
      return v != 0 ? D(1) : D(0);
    } else if constexpr (std::is_same_v<D, int64_t>) {
      return (v >= S(-kTwo63) && v < S(kTwo63)) ? static_cast<int64_t>(v)
                                                 : std::numeric_limits<int64_t>::min();
    } else {
      return static_cast<D>(v);
    }
  }
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
  if (op != BOp::pow && op != BOp::floor_divide && op != BOp::remainder) return;
  const bool is_pow = op == BOp::pow;
  Scratch flag = scratch(sizeof(int), ew::current_device());
  int* f = static_cast<int*>(flag->ptr());
  CUDA_CHECK(cudaMemsetAsync(f, 0, sizeof(int), stream()));
  ew::for_each(name, FlagBad{f, is_pow}, ew::arg<const int64_t>(b));
  int bad = 0;
  copy_to_host_nogil(&bad, f, sizeof(int));
  TG_CHECK(!bad || !is_pow, name, ": Integers to negative integer powers are not allowed.");
  TG_CHECK(!bad, name, ": division by zero");
}

// ---------------------------------------------------------------------------------------------
// Kernels

void unary_kernel(const std::string& name, const ArrayView& x, const ArrayView& out) {
  const UOp op = lookup_op(kUnaryOps, name, "unary");
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
  const BOp op = lookup_op(kBinaryOps, name, "binary");
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
  const COp op = lookup_op(kCompareOps, name, "compare");
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
  auto go = [&](auto tag, auto lo_v, auto hi_v) {
    using T = typename decltype(tag)::type;
    ew::for_each("clamp", ew::map(Clamp<T>{lo_v, hi_v}), ew::arg<T>(out), ew::arg<const T>(xs));
  };
  if (x.dtype == DType::i64) {
    auto bound = [](const Scalar* b, bool is_lo) -> int64_t {
      constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
      constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
      if (b == nullptr) return is_lo ? kMin : kMax;
      if (b->is_int) return b->i;
      TG_CHECK(!std::isnan(b->d), "clamp: bound nan is not valid for int64");
      const double r = is_lo ? std::ceil(b->d) : std::floor(b->d);
      if (r < -kTwo63) return kMin;
      if (r >= kTwo63) return kMax;
      return static_cast<int64_t>(r);
    };
    const int64_t lo_i = bound(lo, true), hi_i = bound(hi, false);
    go(TypeTag<int64_t>{}, lo_i, hi_i);
    return;
  }
  dispatch_float(x.dtype, "clamp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr T inf = std::numeric_limits<T>::infinity();
    go(tag, lo ? static_cast<T>(lo->d) : -inf, hi ? static_cast<T>(hi->d) : inf);
  });
}

void fill_kernel(const ArrayView& out, const Scalar& value) {
  uint64_t bits = 0;
  switch (out.dtype) {
    case DType::f32: {
      const float v = static_cast<float>(value.d);
      std::memcpy(&bits, &v, sizeof v);
      break;
    }
    case DType::f64: std::memcpy(&bits, &value.d, sizeof value.d); break;
    case DType::i64: {
      int64_t v = value.i;
      if (!value.is_int) {
        // Truncation toward zero, as torch's fill_ of an integer tensor with a float.
        TG_CHECK(value.d >= -kTwo63 && value.d < kTwo63,
                 "fill: value ", value.d, " cannot be converted to int64");
        v = static_cast<int64_t>(value.d);
      }
      std::memcpy(&bits, &v, sizeof v);
      break;
    }
    case DType::b8: bits = value.is_int ? value.i != 0 : value.d != 0.0; break;
  }
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
  tmp = scratch(in.numel() * dtype_size(in.dtype), device);
  const ArrayView c = contiguous_like(in, tmp->ptr());
  copy_kernel(in, c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Bindings

void bind_elementwise(py::module_& m) {
  bind::elementwise<Cuda>(m, {unary_kernel, binary_kernel, compare_kernel, where_kernel,
                              clamp_kernel, fill_kernel});
}

}  // namespace tg::cuda
