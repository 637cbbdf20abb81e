// Elementwise kernels: unary math, binary arithmetic, comparisons, where, clamp and fill over
// strided arrays that share one shape (the Python layer broadcasts operands beforehand with
// stride-0 views). Contiguous runs go through plain loops the compiler vectorises; each such loop
// is compiled twice, for the baseline ISA and for AVX2/FMA, and the variant is picked at run time.
// float32 exp, expm1 and log1p, which libm computes one element per call, use the vector
// versions of simd_math.h instead.
#include <cmath>
#include <cstring>
#include <limits>

#include "bind/elementwise.h"
#include "common.h"
#include "pyarray.h"
#include "simd_math.h"

namespace tg {

namespace {

// Op bodies are forced inline so that they are compiled with the ISA of the loop that calls
// them: a call from an AVX2 loop into a baseline-ISA function would stop vectorisation.
#define EW_INLINE TG_SIMD_INLINE
#define EW_AVX2 TG_SIMD_AVX2

// The inner function StridedLoop hands each run to: operand pointers, run length, byte strides.
using Inner = void (*)(char**, int64_t, const int64_t*);

// Transcendental ops cost tens of cycles per element, so threads pay off on smaller arrays.
constexpr int64_t kHeavyGrain = kElementwiseGrain / 8;

template <class E, size_t K>
E lookup_op(const std::pair<const char*, E> (&table)[K], const std::string& name, const char* fn) {
  for (const auto& entry : table)
    if (name == entry.first) return entry.second;
  throw std::invalid_argument(detail::cat(fn, ": unknown op '", name, "'"));
}

// Signed overflow is undefined in C++; integer ops wrap through uint64 like numpy and torch.
EW_INLINE int64_t wrap_neg(int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); }
EW_INLINE int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
EW_INLINE int64_t wrap_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
EW_INLINE int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

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
  template <class T> static EW_INLINE T f(T x) { return -x; }
  static EW_INLINE int64_t f(int64_t x) { return wrap_neg(x); }
};
struct Abs {
  template <class T> static EW_INLINE T f(T x) { return std::abs(x); }
  static EW_INLINE int64_t f(int64_t x) { return x < 0 ? wrap_neg(x) : x; }
};
struct Square {
  template <class T> static EW_INLINE T f(T x) { return x * x; }
  static EW_INLINE int64_t f(int64_t x) { return wrap_mul(x, x); }
};
struct Sign {
  // (0 < x) - (x < 0), as PyTorch: sign(nan) = 0 (numpy gives nan) and sign(-0.0) = +0.0.
  template <class T> static EW_INLINE T f(T x) {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
  static EW_INLINE int64_t f(int64_t x) { return (x > 0) - (x < 0); }
};
struct Exp { template <class T> static EW_INLINE T f(T x) { return std::exp(x); } };
struct Log { template <class T> static EW_INLINE T f(T x) { return std::log(x); } };
struct Sqrt { template <class T> static EW_INLINE T f(T x) { return std::sqrt(x); } };
struct Sin { template <class T> static EW_INLINE T f(T x) { return std::sin(x); } };
struct Cos { template <class T> static EW_INLINE T f(T x) { return std::cos(x); } };
// nearbyint rounds in the default mode, to nearest with ties to even, as torch.round.
struct Round { template <class T> static EW_INLINE T f(T x) { return std::nearbyint(x); } };
struct Reciprocal { template <class T> static EW_INLINE T f(T x) { return T(1) / x; } };
struct Log1p { template <class T> static EW_INLINE T f(T x) { return std::log1p(x); } };
struct Expm1 { template <class T> static EW_INLINE T f(T x) { return std::expm1(x); } };
struct Floor { template <class T> static EW_INLINE T f(T x) { return std::floor(x); } };
struct Ceil { template <class T> static EW_INLINE T f(T x) { return std::ceil(x); } };
struct Trunc { template <class T> static EW_INLINE T f(T x) { return std::trunc(x); } };
struct Rsqrt { template <class T> static EW_INLINE T f(T x) { return T(1) / std::sqrt(x); } };

// Operands: p[0] = out, p[1] = x.
template <class T, class Op>
EW_INLINE void unary_body(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  if (s[0] == E && s[1] == E) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    for (int64_t i = 0; i < n; ++i) o[i] = Op::f(x[i]);
    return;
  }
  char* o = p[0];
  const char* x = p[1];
  for (int64_t i = 0; i < n; ++i, o += s[0], x += s[1])
    *reinterpret_cast<T*>(o) = Op::f(*reinterpret_cast<const T*>(x));
}
template <class T, class Op> void unary_base(char** p, int64_t n, const int64_t* s) {
  unary_body<T, Op>(p, n, s);
}
template <class T, class Op> EW_AVX2 void unary_avx2(char** p, int64_t n, const int64_t* s) {
  unary_body<T, Op>(p, n, s);
}

template <class T, class Op> Inner pick_unary(bool avx2) {
  return avx2 ? &unary_avx2<T, Op> : &unary_base<T, Op>;
}

// The float32 forms of exp, expm1 and log1p: simd::map picks its own variant.
struct VecExp {
  template <class V> EW_INLINE V operator()(const V& x) const { return simd::vexp(x); }
};
struct VecExpm1 {
  template <class V> EW_INLINE V operator()(const V& x) const { return simd::vexpm1(x); }
};
struct VecLog1p {
  template <class V> EW_INLINE V operator()(const V& x) const { return simd::vlog1p(x); }
};
template <class Op> void unary_vec(char** p, int64_t n, const int64_t* s) {
  simd::map<float, 2>(Op{}, p, n, s);
}

template <class T>
Inner unary_fn(UOp op, bool avx2) {
  if constexpr (std::is_same_v<T, float>) {
    if (op == UOp::exp) return &unary_vec<VecExp>;
    if (op == UOp::expm1) return &unary_vec<VecExpm1>;
    if (op == UOp::log1p) return &unary_vec<VecLog1p>;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UOp::neg: return pick_unary<T, Neg>(avx2);
      case UOp::exp: return pick_unary<T, Exp>(avx2);
      case UOp::log: return pick_unary<T, Log>(avx2);
      case UOp::sqrt: return pick_unary<T, Sqrt>(avx2);
      case UOp::abs: return pick_unary<T, Abs>(avx2);
      case UOp::sin: return pick_unary<T, Sin>(avx2);
      case UOp::cos: return pick_unary<T, Cos>(avx2);
      case UOp::sign: return pick_unary<T, Sign>(avx2);
      case UOp::round: return pick_unary<T, Round>(avx2);
      case UOp::reciprocal: return pick_unary<T, Reciprocal>(avx2);
      case UOp::square: return pick_unary<T, Square>(avx2);
      case UOp::log1p: return pick_unary<T, Log1p>(avx2);
      case UOp::expm1: return pick_unary<T, Expm1>(avx2);
      case UOp::floor: return pick_unary<T, Floor>(avx2);
      case UOp::ceil: return pick_unary<T, Ceil>(avx2);
      case UOp::trunc: return pick_unary<T, Trunc>(avx2);
      case UOp::rsqrt: return pick_unary<T, Rsqrt>(avx2);
    }
  } else if constexpr (std::is_same_v<T, int64_t>) {
    switch (op) {
      case UOp::neg: return pick_unary<T, Neg>(avx2);
      case UOp::abs: return pick_unary<T, Abs>(avx2);
      case UOp::sign: return pick_unary<T, Sign>(avx2);
      case UOp::square: return pick_unary<T, Square>(avx2);
      default: break;
    }
  }
  return nullptr;
}

bool is_heavy(UOp op) {
  switch (op) {
    case UOp::exp: case UOp::log: case UOp::sin: case UOp::cos: case UOp::log1p: case UOp::expm1:
      return true;
    default: return false;
  }
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
  template <class T> static EW_INLINE T f(T a, T b) { return a + b; }
  static EW_INLINE int64_t f(int64_t a, int64_t b) { return wrap_add(a, b); }
};
struct Sub {
  template <class T> static EW_INLINE T f(T a, T b) { return a - b; }
  static EW_INLINE int64_t f(int64_t a, int64_t b) { return wrap_sub(a, b); }
};
struct Mul {
  template <class T> static EW_INLINE T f(T a, T b) { return a * b; }
  static EW_INLINE int64_t f(int64_t a, int64_t b) { return wrap_mul(a, b); }
};
struct Div { template <class T> static EW_INLINE T f(T a, T b) { return a / b; } };
// NaN in either operand wins, as numpy.maximum / torch.maximum (not std::max, not fmax).
struct Maximum {
  template <class T> static EW_INLINE T f(T a, T b) { return (a > b || a != a) ? a : b; }
};
struct Minimum {
  template <class T> static EW_INLINE T f(T a, T b) { return (a < b || a != a) ? a : b; }
};
struct Pow {
  template <class T> static EW_INLINE T f(T a, T b) { return std::pow(a, b); }
  // Square-and-multiply, wrapping on overflow. Negative exponents are rejected beforehand.
  static EW_INLINE int64_t f(int64_t a, int64_t b) {
    uint64_t r = 1, base = static_cast<uint64_t>(a), e = static_cast<uint64_t>(b);
    while (e) {
      if (e & 1) r *= base;
      base *= base;
      e >>= 1;
    }
    return static_cast<int64_t>(r);
  }
};

// Python's divmod for floats: the remainder takes the sign of the divisor and the quotient is
// the floor of the exact quotient (a - remainder) / b snapped to the nearest integer, which is
// what numpy.floor_divide / numpy.remainder compute. A zero divisor gives a / b and fmod's NaN.
template <class T>
EW_INLINE T float_divmod(T a, T b, T* mod) {
  T m = std::fmod(a, b);
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
    m = std::copysign(T(0), b);
  }
  *mod = m;
  if (q == T(0)) return std::copysign(T(0), a / b);
  T fq = std::floor(q);
  return (q - fq > T(0.5)) ? fq + T(1) : fq;
}

// Integer forms use Python semantics (round the quotient down); zero divisors are rejected
// beforehand and b = -1 is special-cased because INT64_MIN / -1 traps on x86.
struct FloorDivide {
  template <class T> static EW_INLINE T f(T a, T b) {
    T m;
    return float_divmod(a, b, &m);
  }
  static EW_INLINE int64_t f(int64_t a, int64_t b) {
    if (b == -1) return wrap_neg(a);
    int64_t q = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
  }
};
struct Remainder {
  template <class T> static EW_INLINE T f(T a, T b) {
    T m;
    float_divmod(a, b, &m);
    return m;
  }
  static EW_INLINE int64_t f(int64_t a, int64_t b) {
    if (b == -1) return 0;
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  }
};
struct LogicalAnd {
  static EW_INLINE uint8_t f(uint8_t a, uint8_t b) { return (a != 0) & (b != 0); }
};
struct LogicalOr {
  static EW_INLINE uint8_t f(uint8_t a, uint8_t b) { return (a != 0) | (b != 0); }
};
struct LogicalXor {
  static EW_INLINE uint8_t f(uint8_t a, uint8_t b) { return (a != 0) ^ (b != 0); }
};

// Operands: p[0] = out (type R), p[1] = a, p[2] = b (type T). Besides the all-contiguous run,
// a broadcast scalar on either side (x * 2.0, 1 - x) gets its own vectorisable loop.
// Exact aliasing of out with a or b is safe: every element is read before it is written.
template <class T, class R, class Op>
EW_INLINE void binary_body(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  if (s[0] == static_cast<int64_t>(sizeof(R))) {
    R* o = reinterpret_cast<R*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    const T* b = reinterpret_cast<const T*>(p[2]);
    if (s[1] == E && s[2] == E) {
      for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], b[i]);
      return;
    }
    if (s[1] == E && s[2] == 0) {
      const T bv = *b;
      for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], bv);
      return;
    }
    if (s[1] == 0 && s[2] == E) {
      const T av = *a;
      for (int64_t i = 0; i < n; ++i) o[i] = Op::f(av, b[i]);
      return;
    }
  }
  char* o = p[0];
  const char* a = p[1];
  const char* b = p[2];
  for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1], b += s[2])
    *reinterpret_cast<R*>(o) =
        Op::f(*reinterpret_cast<const T*>(a), *reinterpret_cast<const T*>(b));
}
template <class T, class R, class Op> void binary_base(char** p, int64_t n, const int64_t* s) {
  binary_body<T, R, Op>(p, n, s);
}
template <class T, class R, class Op>
EW_AVX2 void binary_avx2(char** p, int64_t n, const int64_t* s) {
  binary_body<T, R, Op>(p, n, s);
}

template <class T, class Op> Inner pick_binary(bool avx2) {
  return avx2 ? &binary_avx2<T, T, Op> : &binary_base<T, T, Op>;
}

template <class T>
Inner binary_fn(BOp op, bool avx2) {
  if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, int64_t>) {
    switch (op) {
      case BOp::add: return pick_binary<T, Add>(avx2);
      case BOp::sub: return pick_binary<T, Sub>(avx2);
      case BOp::mul: return pick_binary<T, Mul>(avx2);
      case BOp::pow: return pick_binary<T, Pow>(avx2);
      case BOp::maximum: return pick_binary<T, Maximum>(avx2);
      case BOp::minimum: return pick_binary<T, Minimum>(avx2);
      case BOp::floor_divide: return pick_binary<T, FloorDivide>(avx2);
      case BOp::remainder: return pick_binary<T, Remainder>(avx2);
      case BOp::div:
        if constexpr (std::is_floating_point_v<T>) return pick_binary<T, Div>(avx2);
        break;
      default: break;
    }
  } else {  // bool
    switch (op) {
      case BOp::logical_and: return pick_binary<T, LogicalAnd>(avx2);
      case BOp::logical_or: return pick_binary<T, LogicalOr>(avx2);
      case BOp::logical_xor: return pick_binary<T, LogicalXor>(avx2);
      default: break;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Comparisons (bool output)

enum class COp { eq, ne, lt, le, gt, ge };

constexpr std::pair<const char*, COp> kCompareOps[] = {
    {"eq", COp::eq}, {"ne", COp::ne}, {"lt", COp::lt},
    {"le", COp::le}, {"gt", COp::gt}, {"ge", COp::ge},
};

struct Eq { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a == b; } };
struct Ne { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a != b; } };
struct Lt { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a < b; } };
struct Le { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a <= b; } };
struct Gt { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a > b; } };
struct Ge { template <class T> static EW_INLINE uint8_t f(T a, T b) { return a >= b; } };

// bool operands compare by truth value (see storage_t).
template <class Op> struct TruthCompare {
  static EW_INLINE uint8_t f(uint8_t a, uint8_t b) { return Op::f(a != 0, b != 0); }
};

template <class T, class Op> Inner pick_compare(bool avx2) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    return avx2 ? &binary_avx2<T, uint8_t, TruthCompare<Op>>
                : &binary_base<T, uint8_t, TruthCompare<Op>>;
  } else {
    return avx2 ? &binary_avx2<T, uint8_t, Op> : &binary_base<T, uint8_t, Op>;
  }
}

template <class T>
Inner compare_fn(COp op, bool avx2) {
  switch (op) {
    case COp::eq: return pick_compare<T, Eq>(avx2);
    case COp::ne: return pick_compare<T, Ne>(avx2);
    case COp::lt: return pick_compare<T, Lt>(avx2);
    case COp::le: return pick_compare<T, Le>(avx2);
    case COp::gt: return pick_compare<T, Gt>(avx2);
    case COp::ge: return pick_compare<T, Ge>(avx2);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// where, clamp, fill

// Operands: p[0] = out, p[1] = cond, p[2] = a, p[3] = b; T is a same-sized unsigned type, so
// values (NaN payloads included) are moved bit for bit.
template <class T>
EW_INLINE void where_body(char** p, int64_t n, const int64_t* s) {
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
template <class T> EW_AVX2 void where_avx2(char** p, int64_t n, const int64_t* s) {
  where_body<T>(p, n, s);
}

// As torch.clamp: a NaN x fails both comparisons and passes through, a NaN bound makes every
// result NaN, and lo > hi gives hi everywhere.
template <class T>
EW_INLINE T clamp1(T x, T lo, T hi) {
  const T r = (lo > x || lo != lo) ? lo : x;
  return (r > hi || hi != hi) ? hi : r;
}
template <class T>
EW_INLINE void clamp_body(char** p, int64_t n, const int64_t* s, T lo, T hi) {
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
template <class T> EW_AVX2 void clamp_avx2(char** p, int64_t n, const int64_t* s, T lo, T hi) {
  clamp_body<T>(p, n, s, lo, hi);
}


constexpr double kTwo63 = 9223372036854775808.0;

// ---------------------------------------------------------------------------------------------
// Validation shared by the bindings

// Scans b (int64) for values the integer op cannot take, before anything is written.
void check_int_operand(BOp op, const char* name, const ArrayView& b) {
  if (op != BOp::pow && op != BOp::floor_divide && op != BOp::remainder) return;
  StridedLoop<1> loop(b.shape, {&b});
  bool bad = false;
  const bool is_pow = op == BOp::pow;
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

// ---------------------------------------------------------------------------------------------
// Kernels

void unary_kernel(const std::string& name, const ArrayView& x, const ArrayView& out) {
  const UOp op = lookup_op(kUnaryOps, name, "unary");
  const char* opn = name.c_str();
  check_same_dtype(opn, x, out);
  check_out_shape(opn, out, x);
  const bool avx2 = cpu_has_avx2_fma();
  Inner fn = dispatch_all(x.dtype, opn, [&](auto tag) {
    return unary_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  TG_CHECK(fn != nullptr, opn, ": not supported for ", dtype_name(x.dtype));
  if (out.numel() == 0) return;
  std::vector<char> tmp;
  const ArrayView xs = detach_if_overlapping(x, out, tmp);
  for_each_run<2>({&out, &xs}, fn, is_heavy(op) ? kHeavyGrain : kElementwiseGrain);
}

void binary_kernel(const std::string& name, const ArrayView& a, const ArrayView& b,
                   const ArrayView& out) {
  const BOp op = lookup_op(kBinaryOps, name, "binary");
  const char* opn = name.c_str();
  check_same_dtype(opn, a, b);
  check_same_shape(opn, a, b);
  check_dtype(opn, out, a.dtype, "out");
  check_out_shape(opn, out, a);
  const bool avx2 = cpu_has_avx2_fma();
  Inner fn = dispatch_all(a.dtype, opn, [&](auto tag) {
    return binary_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  TG_CHECK(fn != nullptr, opn, ": not supported for ", dtype_name(a.dtype));
  if (out.numel() == 0) return;
  if (a.dtype == DType::i64) check_int_operand(op, opn, b);
  std::vector<char> tmp_a, tmp_b;
  const ArrayView as = detach_if_overlapping(a, out, tmp_a);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b);
  for_each_run<3>({&out, &as, &bs}, fn, op == BOp::pow ? kHeavyGrain : kElementwiseGrain);
}

void compare_kernel(const std::string& name, const ArrayView& a, const ArrayView& b,
                    const ArrayView& out) {
  const COp op = lookup_op(kCompareOps, name, "compare");
  const char* opn = name.c_str();
  check_same_dtype(opn, a, b);
  check_same_shape(opn, a, b);
  check_dtype(opn, out, DType::b8, "out");
  check_out_shape(opn, out, a);
  const bool avx2 = cpu_has_avx2_fma();
  Inner fn = dispatch_all(a.dtype, opn, [&](auto tag) {
    return compare_fn<storage_t<typename decltype(tag)::type>>(op, avx2);
  });
  if (out.numel() == 0) return;
  std::vector<char> tmp_a, tmp_b;
  const ArrayView as = detach_if_overlapping(a, out, tmp_a);
  const ArrayView bs = detach_if_overlapping(b, out, tmp_b);
  for_each_run<3>({&out, &as, &bs}, fn);
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
  const bool avx2 = cpu_has_avx2_fma();
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
void clamp_kernel(const ArrayView& x, const Scalar* lo, const Scalar* hi, const ArrayView& out) {
  check_same_dtype("clamp", x, out);
  check_out_shape("clamp", out, x);
  TG_CHECK(x.dtype != DType::b8, "clamp: not supported for bool");
  if (out.numel() == 0) return;
  const bool avx2 = cpu_has_avx2_fma();
  std::vector<char> tmp;
  const ArrayView xs = detach_if_overlapping(x, out, tmp);
  auto go = [&](auto tag, auto lo_v, auto hi_v) {
    using T = typename decltype(tag)::type;
    auto fn = avx2 ? &clamp_avx2<T> : &clamp_base<T>;
    for_each_run<2>({&out, &xs},
                    [=](char** p, int64_t n, const int64_t* s) { fn(p, n, s, lo_v, hi_v); });
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
    go(TypeTag<int64_t>{}, bound(lo, true), bound(hi, false));
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

}  // namespace

void bind_elementwise(py::module_& m) {
  bind::elementwise<Cpu>(m, {unary_kernel, binary_kernel, compare_kernel, where_kernel,
                             clamp_kernel, fill_kernel});
}

}  // namespace tg
