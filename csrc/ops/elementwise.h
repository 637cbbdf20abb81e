// The elementwise ops of both backends, defined once: the lists of unary, binary and compare ops
// (each row: name, functor, the dtypes that take it, its cost), which generate the enums, the
// name tables and the dispatch (with_unary / with_binary / with_compare), and each op's scalar
// math as a host + device functor. csrc/cpu/elementwise.cpp maps the functors with its
// vectorised loops, csrc/cuda/elementwise.cu with its kernels. Also clamp's element rule and the
// host-side conversion of clamp bounds and fill values to the array's dtype.
//
// Adding an op: one row in its list and its functor below.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "common.h"
#include "ops/scalar.h"

namespace tg::ops {

// Which storage types an op is defined for: Float = float32 and float64; FloatInt = those and
// int64; Bool = bool (as uint8_t) only.
enum class Types { Float, FloatInt, Bool };

template <class T>
constexpr bool takes(Types t) {
  constexpr bool is_float = std::is_floating_point_v<T>;
  switch (t) {
    case Types::Float: return is_float;
    case Types::FloatInt: return is_float || std::is_same_v<T, int64_t>;
    case Types::Bool: return std::is_same_v<T, uint8_t>;
  }
  return false;
}

// Heavy ops (libm calls, tens of cycles per element) are worth threads on smaller arrays.
enum class Cost { Light, Heavy };

// What an int64 right operand must satisfy, checked over the whole operand before anything is
// written: pow rejects negative exponents, the divisions zero divisors.
enum class IntRule { None, NonNegative, NonZero };

// ---------------------------------------------------------------------------------------------
// The lists. X(name, Functor, Types, Cost) for unary and binary (binary adds the IntRule),
// X(name, Functor) for compare.

#define TG_UNARY_OPS(X)                         \
  X(neg, Neg, FloatInt, Light)                  \
  X(abs, Abs, FloatInt, Light)                  \
  X(sign, Sign, FloatInt, Light)                \
  X(square, Square, FloatInt, Light)            \
  X(exp, Exp, Float, Heavy)                     \
  X(exp2, Exp2, Float, Heavy)                   \
  X(expm1, Expm1, Float, Heavy)                 \
  X(log, Log, Float, Heavy)                     \
  X(log2, Log2, Float, Heavy)                   \
  X(log10, Log10, Float, Heavy)                 \
  X(log1p, Log1p, Float, Heavy)                 \
  X(sqrt, Sqrt, Float, Light)                   \
  X(rsqrt, Rsqrt, Float, Light)                 \
  X(reciprocal, Reciprocal, Float, Light)       \
  X(sin, Sin, Float, Heavy)                     \
  X(cos, Cos, Float, Heavy)                     \
  X(tan, Tan, Float, Heavy)                     \
  X(asin, Asin, Float, Heavy)                   \
  X(acos, Acos, Float, Heavy)                   \
  X(atan, Atan, Float, Heavy)                   \
  X(sinh, Sinh, Float, Heavy)                   \
  X(cosh, Cosh, Float, Heavy)                   \
  X(asinh, Asinh, Float, Heavy)                 \
  X(acosh, Acosh, Float, Heavy)                 \
  X(atanh, Atanh, Float, Heavy)                 \
  X(erf, Erf, Float, Heavy)                     \
  X(erfc, Erfc, Float, Heavy)                   \
  X(erfinv, Erfinv, Float, Heavy)               \
  X(round, Round, Float, Light)                 \
  X(floor, Floor, Float, Light)                 \
  X(ceil, Ceil, Float, Light)                   \
  X(trunc, Trunc, Float, Light)                 \
  X(frac, Frac, Float, Light)

#define TG_BINARY_OPS(X)                                         \
  X(add, Add, FloatInt, Light, None)                             \
  X(sub, Sub, FloatInt, Light, None)                             \
  X(mul, Mul, FloatInt, Light, None)                             \
  X(div, Div, Float, Light, None)                                \
  X(pow, Pow, FloatInt, Heavy, NonNegative)                      \
  X(maximum, Maximum, FloatInt, Light, None)                     \
  X(minimum, Minimum, FloatInt, Light, None)                     \
  X(floor_divide, FloorDivide, FloatInt, Light, NonZero)         \
  X(remainder, Remainder, FloatInt, Light, NonZero)              \
  X(fmod, Fmod, FloatInt, Heavy, NonZero)                        \
  X(hypot, Hypot, Float, Heavy, None)                            \
  X(atan2, Atan2, Float, Heavy, None)                            \
  X(logaddexp, LogAddExp, Float, Heavy, None)                    \
  X(logical_and, LogicalAnd, Bool, Light, None)                  \
  X(logical_or, LogicalOr, Bool, Light, None)                    \
  X(logical_xor, LogicalXor, Bool, Light, None)

#define TG_COMPARE_OPS(X) X(eq, Eq) X(ne, Ne) X(lt, Lt) X(le, Le) X(gt, Gt) X(ge, Ge)

// ---------------------------------------------------------------------------------------------
// Unary functors

struct Neg {
  template <class T> TG_HD T operator()(T x) const { return -x; }
  TG_HD int64_t operator()(int64_t x) const { return wrap_neg(x); }
};
struct Abs {
  template <class T> TG_HD T operator()(T x) const { return fabs(x); }
  TG_HD int64_t operator()(int64_t x) const { return x < 0 ? wrap_neg(x) : x; }
};
// (0 < x) - (x < 0), as PyTorch: sign(nan) = 0 (numpy gives nan) and sign(-0.0) = +0.0.
struct Sign {
  template <class T> TG_HD T operator()(T x) const {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
  TG_HD int64_t operator()(int64_t x) const { return (x > 0) - (x < 0); }
};
struct Square {
  template <class T> TG_HD T operator()(T x) const { return x * x; }
  TG_HD int64_t operator()(int64_t x) const { return wrap_mul(x, x); }
};

#define TG_MATH_FUNCTOR(Name, fn) \
  struct Name {                   \
    template <class T> TG_HD T operator()(T x) const { return fn(x); } \
  };
TG_MATH_FUNCTOR(Exp, exp)
TG_MATH_FUNCTOR(Exp2, exp2)
TG_MATH_FUNCTOR(Expm1, expm1)
TG_MATH_FUNCTOR(Log, log)
TG_MATH_FUNCTOR(Log2, log2)
TG_MATH_FUNCTOR(Log10, log10)
TG_MATH_FUNCTOR(Log1p, log1p)
TG_MATH_FUNCTOR(Sqrt, sqrt)
TG_MATH_FUNCTOR(Sin, sin)
TG_MATH_FUNCTOR(Cos, cos)
TG_MATH_FUNCTOR(Tan, tan)
TG_MATH_FUNCTOR(Asin, asin)
TG_MATH_FUNCTOR(Acos, acos)
TG_MATH_FUNCTOR(Atan, atan)
TG_MATH_FUNCTOR(Sinh, sinh)
TG_MATH_FUNCTOR(Cosh, cosh)
TG_MATH_FUNCTOR(Asinh, asinh)
TG_MATH_FUNCTOR(Acosh, acosh)
TG_MATH_FUNCTOR(Atanh, atanh)
TG_MATH_FUNCTOR(Erf, erf)
TG_MATH_FUNCTOR(Erfc, erfc)
TG_MATH_FUNCTOR(Erfinv, erfinv)
TG_MATH_FUNCTOR(Round, round_even)
TG_MATH_FUNCTOR(Floor, floor)
TG_MATH_FUNCTOR(Ceil, ceil)
TG_MATH_FUNCTOR(Trunc, trunc)
#undef TG_MATH_FUNCTOR

struct Reciprocal {
  template <class T> TG_HD T operator()(T x) const { return T(1) / x; }
};
// 1 / sqrt(x), both correctly rounded (CUDA's rsqrtf would differ by up to 2 ulp).
struct Rsqrt {
  template <class T> TG_HD T operator()(T x) const { return T(1) / sqrt(x); }
};
// x - trunc(x), as torch.frac: the sign of x, and NaN for infinities.
struct Frac {
  template <class T> TG_HD T operator()(T x) const { return x - trunc(x); }
};

// ---------------------------------------------------------------------------------------------
// Binary functors

struct Add {
  template <class T> TG_HD T operator()(T a, T b) const { return a + b; }
  TG_HD int64_t operator()(int64_t a, int64_t b) const { return wrap_add(a, b); }
};
struct Sub {
  template <class T> TG_HD T operator()(T a, T b) const { return a - b; }
  TG_HD int64_t operator()(int64_t a, int64_t b) const { return wrap_sub(a, b); }
};
struct Mul {
  template <class T> TG_HD T operator()(T a, T b) const { return a * b; }
  TG_HD int64_t operator()(int64_t a, int64_t b) const { return wrap_mul(a, b); }
};
struct Div {
  template <class T> TG_HD T operator()(T a, T b) const { return a / b; }
};
// NaN in either operand wins, as numpy.maximum / torch.maximum (not std::max, not fmax).
struct Maximum {
  template <class T> TG_HD T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
struct Minimum {
  template <class T> TG_HD T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
struct Pow {
  template <class T> TG_HD T operator()(T a, T b) const { return pow(a, b); }
  // Square-and-multiply, wrapping on overflow. Negative exponents are rejected beforehand.
  TG_HD int64_t operator()(int64_t a, int64_t b) const {
    uint64_t r = 1, base = static_cast<uint64_t>(a), e = static_cast<uint64_t>(b);
    while (e) {
      if (e & 1) r *= base;
      base *= base;
      e >>= 1;
    }
    return static_cast<int64_t>(r);
  }
};

// Integer forms use Python semantics (round the quotient down); zero divisors are rejected
// beforehand and b = -1 is special-cased because INT64_MIN / -1 traps on x86.
struct FloorDivide {
  template <class T> TG_HD T operator()(T a, T b) const {
    T m;
    return float_divmod(a, b, &m);
  }
  TG_HD int64_t operator()(int64_t a, int64_t b) const {
    if (b == -1) return wrap_neg(a);
    const int64_t q = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
  }
};
struct Remainder {
  template <class T> TG_HD T operator()(T a, T b) const {
    T m;
    float_divmod(a, b, &m);
    return m;
  }
  TG_HD int64_t operator()(int64_t a, int64_t b) const {
    if (b == -1) return 0;
    const int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  }
};
// C's fmod, as torch.fmod: the quotient truncated, the remainder with the sign of a.
struct Fmod {
  template <class T> TG_HD T operator()(T a, T b) const { return fmod(a, b); }
  TG_HD int64_t operator()(int64_t a, int64_t b) const { return b == -1 ? 0 : a % b; }
};
struct Hypot {
  template <class T> TG_HD T operator()(T a, T b) const { return hypot(a, b); }
};
struct Atan2 {
  template <class T> TG_HD T operator()(T a, T b) const { return atan2(a, b); }
};
// log(exp(a) + exp(b)) as max + log1p(exp(-|a - b|)), which cannot overflow. Equal infinities
// are returned as they are (their difference would be NaN), as torch does.
struct LogAddExp {
  template <class T> TG_HD T operator()(T a, T b) const {
    if (a == b && a - a != T(0)) return a;  // a == b == +-inf
    const T m = (a > b || a != a) ? a : b;
    return m + log1p(exp(-fabs(a - b)));
  }
};
// bool operands (bytes) by truth value
struct LogicalAnd {
  TG_HD uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) & (b != 0); }
};
struct LogicalOr {
  TG_HD uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) | (b != 0); }
};
struct LogicalXor {
  TG_HD uint8_t operator()(uint8_t a, uint8_t b) const { return (a != 0) ^ (b != 0); }
};

// ---------------------------------------------------------------------------------------------
// Compare functors (bool output, as bytes)

struct Eq { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> TG_HD uint8_t operator()(T a, T b) const { return a >= b; } };

// bool operands (bytes) compare by truth value.
template <class Op>
struct Truth {
  TG_HD uint8_t operator()(uint8_t a, uint8_t b) const { return Op{}(a != 0, b != 0); }
};

// ---------------------------------------------------------------------------------------------
// clamp: as torch.clamp, a NaN x fails both comparisons and passes through, a NaN bound makes
// every result NaN, and lo > hi gives hi everywhere.
template <class T>
TG_HD T clamp1(T x, T lo, T hi) {
  const T r = (lo > x || lo != lo) ? lo : x;
  return (r > hi || hi != hi) ? hi : r;
}

// ---------------------------------------------------------------------------------------------
// Enums, names and dispatch, generated from the lists.

#define TG_OP_ENUM(name, ...) name,
enum class UOp { TG_UNARY_OPS(TG_OP_ENUM) };
enum class BOp { TG_BINARY_OPS(TG_OP_ENUM) };
enum class COp { TG_COMPARE_OPS(TG_OP_ENUM) };
#undef TG_OP_ENUM

#define TG_OP_NAME(name, ...) #name,
constexpr const char* kUnaryNames[] = {TG_UNARY_OPS(TG_OP_NAME)};
constexpr const char* kBinaryNames[] = {TG_BINARY_OPS(TG_OP_NAME)};
constexpr const char* kCompareNames[] = {TG_COMPARE_OPS(TG_OP_NAME)};
#undef TG_OP_NAME

// The op called `name` in `names`, or invalid_argument "<fn>: unknown op '<name>'".
template <class E, size_t K>
E lookup_op(const char* const (&names)[K], const std::string& name, const char* fn) {
  for (size_t i = 0; i < K; ++i)
    if (name == names[i]) return static_cast<E>(i);
  throw std::invalid_argument(tg::detail::cat(fn, ": unknown op '", name, "'"));
}
inline UOp parse_unary(const std::string& name) {
  return lookup_op<UOp>(kUnaryNames, name, "unary");
}
inline BOp parse_binary(const std::string& name) {
  return lookup_op<BOp>(kBinaryNames, name, "binary");
}
inline COp parse_compare(const std::string& name) {
  return lookup_op<COp>(kCompareNames, name, "compare");
}

inline bool is_heavy(UOp op) {
  switch (op) {
#define TG_CASE(name, F, types, cost) case UOp::name: return Cost::cost == Cost::Heavy;
    TG_UNARY_OPS(TG_CASE)
#undef TG_CASE
  }
  return false;
}
inline bool is_heavy(BOp op) {
  switch (op) {
#define TG_CASE(name, F, types, cost, rule) case BOp::name: return Cost::cost == Cost::Heavy;
    TG_BINARY_OPS(TG_CASE)
#undef TG_CASE
  }
  return false;
}
inline IntRule int_rule(BOp op) {
  switch (op) {
#define TG_CASE(name, F, types, cost, rule) case BOp::name: return IntRule::rule;
    TG_BINARY_OPS(TG_CASE)
#undef TG_CASE
  }
  return IntRule::None;
}

// Calls run(functor) for the op in storage type T and returns true, or returns false when the
// op is not defined for T.
template <class T, class Run>
bool with_unary(UOp op, Run&& run) {
  switch (op) {
#define TG_CASE(name, F, types, cost) \
  case UOp::name:                     \
    if constexpr (takes<T>(Types::types)) { run(F{}); return true; } \
    break;
    TG_UNARY_OPS(TG_CASE)
#undef TG_CASE
  }
  return false;
}
template <class T, class Run>
bool with_binary(BOp op, Run&& run) {
  switch (op) {
#define TG_CASE(name, F, types, cost, rule) \
  case BOp::name:                           \
    if constexpr (takes<T>(Types::types)) { run(F{}); return true; } \
    break;
    TG_BINARY_OPS(TG_CASE)
#undef TG_CASE
  }
  return false;
}
// Every dtype compares; bool by truth value.
template <class T, class Run>
void with_compare(COp op, Run&& run) {
  switch (op) {
#define TG_CASE(name, F)                                     \
  case COp::name:                                            \
    if constexpr (std::is_same_v<T, uint8_t>) run(Truth<F>{}); \
    else run(F{});                                           \
    return;
    TG_COMPARE_OPS(TG_CASE)
#undef TG_CASE
  }
}

// ---------------------------------------------------------------------------------------------
// Host-side scalar conversions of clamp and fill.

// A clamp bound for an int64 array (null = absent): the integers inside [lo, hi], ceil(lo) and
// floor(hi), which is exactly clamp(x, lo, hi) for every integer x.
inline int64_t clamp_int_bound(const Scalar* b, bool is_lo) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (b == nullptr) return is_lo ? kMin : kMax;
  if (b->is_int) return b->i;
  TG_CHECK(!std::isnan(b->d), "clamp: bound nan is not valid for int64");
  const double r = is_lo ? std::ceil(b->d) : std::floor(b->d);
  if (r < -kTwo63) return kMin;
  if (r >= kTwo63) return kMax;
  return static_cast<int64_t>(r);
}

// clamp's bounds (null = absent) in the array's type T, float or int64.
template <class T>
std::pair<T, T> clamp_bounds(const Scalar* lo, const Scalar* hi) {
  if constexpr (std::is_same_v<T, int64_t>) {
    return {clamp_int_bound(lo, true), clamp_int_bound(hi, false)};
  } else {
    constexpr T inf = std::numeric_limits<T>::infinity();
    return {lo ? static_cast<T>(lo->d) : -inf, hi ? static_cast<T>(hi->d) : inf};
  }
}

// fill's value as the bits of one element of `dtype` (in the low bytes).
inline uint64_t fill_bits(DType dtype, const Scalar& value) {
  uint64_t bits = 0;
  switch (dtype) {
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
  return bits;
}

}  // namespace tg::ops
