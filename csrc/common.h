// Shared by every kernel family: dtypes, error checks, the strided array view kernels take,
// the N-operand strided loop, dtype dispatch, the thread pool's parallel_for, and the rule for
// inputs that overlap outputs (detach_if_overlapping).
// Nothing here knows about Python; csrc/pyarray.h turns numpy arrays into ArrayViews.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tg {

// ---------------------------------------------------------------------------------------------
// Errors. Every failure is a C++ exception that pybind11 turns into a Python exception:
// std::invalid_argument -> ValueError, std::out_of_range -> IndexError,
// std::runtime_error -> RuntimeError. Kernels never abort the process.
namespace detail {
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

#define TG_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond)) throw std::invalid_argument(::tg::detail::cat(__VA_ARGS__)); \
  } while (0)

#define TG_CHECK_INDEX(cond, ...)                                          \
  do {                                                                     \
    if (!(cond)) throw std::out_of_range(::tg::detail::cat(__VA_ARGS__));  \
  } while (0)

#define TG_CHECK_RT(cond, ...)                                              \
  do {                                                                      \
    if (!(cond)) throw std::runtime_error(::tg::detail::cat(__VA_ARGS__));  \
  } while (0)

// ---------------------------------------------------------------------------------------------
// dtypes
enum class DType : int { f32 = 0, f64 = 1, i64 = 2, b8 = 3 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
  }
  return "?";
}

inline int64_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::b8: return 1;
  }
  return 0;
}

template <class T> struct TypeTag { using type = T; };

// Calls f(TypeTag<T>{}) with T the C++ type of `d`. `op` names the caller in the error.
template <class F>
decltype(auto) dispatch_float(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::f64: return f(TypeTag<double>{});
    default: break;
  }
  throw std::invalid_argument(detail::cat(op, ": expected a float32 or float64 array, got ", dtype_name(d)));
}

template <class F>
decltype(auto) dispatch_all(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::f64: return f(TypeTag<double>{});
    case DType::i64: return f(TypeTag<int64_t>{});
    case DType::b8: return f(TypeTag<bool>{});
  }
  throw std::invalid_argument(detail::cat(op, ": unsupported dtype"));
}

// ---------------------------------------------------------------------------------------------
// A vector of trivially copyable T that keeps up to kInline entries inside the object, for the
// shapes and strides of array views. Kernels copy views (to check, to detach, to reshape), and a
// replayed step of a small model makes a few hundred such copies: a heap allocation for each
// was most of a small kernel's time.
template <class T, size_t kInline>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SmallVector() noexcept {}  // user-provided: inline_ needs no zeroing
  explicit SmallVector(size_t n, T value = T()) { assign(n, value); }
  SmallVector(std::initializer_list<T> values) { assign(values.begin(), values.end()); }
  SmallVector(const T* first, const T* last) { assign(first, last); }
  SmallVector(const std::vector<T>& v) { assign(v.data(), v.data() + v.size()); }
  SmallVector(const SmallVector& o) { assign(o.begin(), o.end()); }
  SmallVector(SmallVector&& o) noexcept { take(o); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~SmallVector() { release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return heap_ ? heap_ : inline_; }
  const T* data() const { return heap_ ? heap_ : inline_; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  T front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  T back() const { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= capacity_) return;
    T* grown = new T[n];
    std::copy(begin(), end(), grown);
    release();
    heap_ = grown;
    capacity_ = n;
  }
  void resize(size_t n, T value = T()) {
    reserve(n);
    std::fill(data() + std::min(n, size_), data() + n, value);
    size_ = n;
  }
  void clear() { size_ = 0; }
  void push_back(T v) {  // by value: v may be one of this vector's entries
    if (size_ == capacity_) reserve(2 * capacity_);
    data()[size_++] = v;
  }
  void pop_back() { --size_; }
  void assign(size_t n, T value) {
    size_ = 0;
    resize(n, value);
  }
  template <class It, class = std::enable_if_t<!std::is_integral_v<It>>>
  void assign(It first, It last) {
    const size_t n = static_cast<size_t>(std::distance(first, last));
    size_ = 0;
    reserve(n);
    std::copy(first, last, data());
    size_ = n;
  }
  std::vector<T> vec() const { return std::vector<T>(begin(), end()); }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const SmallVector& a, const SmallVector& b) { return !(a == b); }

 private:
  void release() {
    delete[] heap_;
    heap_ = nullptr;
    capacity_ = kInline;
  }
  void take(SmallVector& o) {  // steals o's heap block, or copies its inline entries
    size_ = o.size_;
    if (o.heap_) {
      heap_ = o.heap_;
      capacity_ = o.capacity_;
      o.heap_ = nullptr;
      o.capacity_ = kInline;
    } else {
      std::copy(o.inline_, o.inline_ + o.size_, inline_);
    }
    o.size_ = 0;
  }

  T inline_[kInline];
  T* heap_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = kInline;
};

// An array view's shape or strides, in elements.
using Dims = SmallVector<int64_t, 6>;

// ---------------------------------------------------------------------------------------------
// A strided view of memory owned elsewhere (a numpy array). Strides are in ELEMENTS and may be
// 0 (broadcast) or negative.
struct ArrayView {
  void* data = nullptr;
  DType dtype = DType::f32;
  Dims shape;
  Dims strides;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  bool is_contiguous() const {
    if (numel() == 0) return true;  // numpy gives empty arrays arbitrary (often 0) strides
    int64_t expected = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

// A number argument of a kernel (fill values, clamp bounds): an exact int64 when it came as an
// integer, else a float64 (csrc/pyarray.h makes them from Python numbers).
struct Scalar {
  bool is_int = false;
  int64_t i = 0;
  double d = 0.0;
};

std::string shape_str(const Dims& shape);  // "(2, 3)"; defined in runtime.cpp

inline void check_same_shape(const char* op, const ArrayView& a, const ArrayView& b) {
  TG_CHECK(a.shape == b.shape, op, ": shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
           " must match");
}

inline void check_dtype(const char* op, const ArrayView& a, DType d, const char* what) {
  TG_CHECK(a.dtype == d, op, ": ", what, " must be ", dtype_name(d), ", got ", dtype_name(a.dtype));
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C. Long kernels call check_interrupt() between coarse blocks of work (parallel_for does
// it between slices of its range, so every kernel built on it is covered; kernels with long
// loops of their own call it too). On the thread that called the kernel it asks the binding
// layer's hook, at most every few tens of milliseconds, whether Python has a pending signal
// whose handler raised (SIGINT: KeyboardInterrupt), and the hook throws that exception. On a
// pool worker it throws when another part of the same job has failed, so the whole job stops.
// An interrupted kernel may leave its outputs partly written.
void check_interrupt();

// Returns normally or throws; set once by the binding layer, which owns everything Python.
using InterruptHook = void (*)();
void set_interrupt_hook(InterruptHook hook);

// Calls f on [b, e) in consecutive pieces of at most `slice`, checking for an interrupt between
// pieces. Kernels given to parallel_for compute each index independently of how [0, n) is
// split (that is what makes their results independent of the thread count), so slicing a range
// changes nothing but where an interrupt can land.
template <class F>
inline void for_slices(int64_t b, int64_t e, int64_t slice, F&& f) {
  while (b < e) {
    const int64_t end = e - b > slice ? b + slice : e;
    f(b, end);
    b = end;
    if (b < e) check_interrupt();
  }
}

// ---------------------------------------------------------------------------------------------
// Threads. A persistent pool; parallel_for splits [0, n) into chunks of at least `grain`
// and runs f(begin, end) on them, the calling thread included, each chunk in slices of
// kSliceGrains grains with check_interrupt() between them. Called from inside a worker, or
// while another thread is using the pool, it runs serially (still sliced). The first exception
// thrown by any chunk stops the others at their next check and is rethrown in the caller.
int get_num_threads();
void set_num_threads(int n);
void parallel_for_impl(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

// A grain is sized as the least work worth a thread (tens of microseconds); this many of them
// run between two interrupt checks, a few milliseconds.
constexpr int64_t kSliceGrains = 64;

inline int64_t slice_of(int64_t grain) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return grain > kMax / kSliceGrains ? kMax : std::max<int64_t>(grain, 1) * kSliceGrains;
}

template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (n <= grain || (n <= slice_of(grain) && get_num_threads() <= 1)) {
    f(int64_t{0}, n);
    return;
  }
  parallel_for_impl(n, grain, std::function<void(int64_t, int64_t)>(std::forward<F>(f)));
}

// Elements per thread below which splitting a memory-bound loop costs more than it saves.
constexpr int64_t kElementwiseGrain = 32768;

// ---------------------------------------------------------------------------------------------
// N-operand strided loop over a common shape. Dimensions of size 1 are dropped and adjacent
// dimensions that are contiguous for every operand are merged, so the common cases reach the
// inner function as one long run. inner(char* ptrs[N], int64_t n, const int64_t bstrides[N])
// processes n elements starting at ptrs with the given BYTE strides.
template <int N>
struct StridedLoop {
  Dims shape;                                        // coalesced, innermost last
  SmallVector<std::array<int64_t, N>, 6> bstrides;  // byte strides per dim per operand
  std::array<char*, N> base;

  StridedLoop(const Dims& full_shape, const std::array<const ArrayView*, N>& ops) {
    for (int k = 0; k < N; ++k) {
      TG_CHECK(ops[k]->shape == full_shape, "internal: operand shape ", shape_str(ops[k]->shape),
               " differs from loop shape ", shape_str(full_shape));
      base[k] = static_cast<char*>(ops[k]->data);
    }
    for (size_t d = 0; d < full_shape.size(); ++d) {
      if (full_shape[d] == 1) continue;
      std::array<int64_t, N> st;
      for (int k = 0; k < N; ++k) st[k] = ops[k]->strides[d] * dtype_size(ops[k]->dtype);
      if (!shape.empty()) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (bstrides.back()[k] != st[k] * full_shape[d]) merge = false;
        if (merge) {
          shape.back() *= full_shape[d];
          bstrides.back() = st;
          continue;
        }
      }
      shape.push_back(full_shape[d]);
      bstrides.push_back(st);
    }
    if (shape.empty()) {  // 0-d or all ones: a single element
      shape.push_back(1);
      bstrides.push_back(std::array<int64_t, N>{});
    }
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }

  // Runs inner over linear element indices [begin, end).
  template <class Inner>
  void run(int64_t begin, int64_t end, Inner&& inner) const {
    const int nd = static_cast<int>(shape.size());
    const int64_t inner_n = shape[nd - 1];
    Dims idx(nd, 0);
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      std::array<char*, N> p = base;
      for (int d = 0; d < nd; ++d)
        for (int k = 0; k < N; ++k) p[k] += idx[d] * bstrides[d][k];
      int64_t n = std::min(inner_n - idx[nd - 1], end - pos);
      inner(p.data(), n, bstrides[nd - 1].data());
      pos += n;
      idx[nd - 1] += n;
      for (int d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }

  // Runs inner over every element, split across threads when large enough.
  template <class Inner>
  void run_parallel(Inner&& inner, int64_t grain = kElementwiseGrain) const {
    parallel_for(numel(), grain, [&](int64_t b, int64_t e) { run(b, e, inner); });
  }
};

// ---------------------------------------------------------------------------------------------
// The CPU code path (csrc/cpu/runtime.cpp). Kernels compiled once per instruction set pick
// their copy from cpu_isa(): the widest this CPU runs, unless set_cpu_isa chose a narrower one
// (TAPEGRAD_CPU_ISA), so that one machine can test and time every path.
enum class CpuIsa : int { portable = 0, avx2 = 1, avx512 = 2 };  // avx2 includes FMA
bool cpu_supports(CpuIsa isa);  // AVX-512 only where the OS saves zmm state
CpuIsa cpu_isa();
void set_cpu_isa(CpuIsa isa);   // throws when this CPU cannot run isa
inline bool use_avx2() { return cpu_isa() >= CpuIsa::avx2; }
inline bool use_avx512() { return cpu_isa() >= CpuIsa::avx512; }

// The data caches one core sees, in bytes: L1d and L2 its own, l3 its share of the last level
// (the cache's size over the CPUs that share it). Read from Linux's /sys at first use, else
// from sysconf; sizes it cannot read keep the defaults below. The GEMM blocking derives from
// them (csrc/cpu/matmul.cpp); set_cpu_caches overrides them, for tests and tuning.
struct CpuCaches {
  int64_t l1d = 32 << 10, l2 = 1 << 20, l3 = 2 << 20;
};
CpuCaches cpu_caches();
void set_cpu_caches(const CpuCaches& c);  // throws unless every size is positive

// ---------------------------------------------------------------------------------------------
// Element types as kernels handle them. bool is handled as bytes, and read as `!= 0` wherever
// its value matters, so a numpy bool holding a byte other than 0/1 cannot cause undefined
// behaviour; kernels that only move elements work on same-sized unsigned integers.
template <class T> using storage_t = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
template <class T>
using bits_t = std::conditional_t<sizeof(T) == 1, uint8_t,
                                  std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;

// `a` and `b` have the same dtype and shape; the message names both, as `an` and `bn`.
inline void check_match(const char* op, const char* an, const ArrayView& a, const char* bn,
                        const ArrayView& b) {
  TG_CHECK(a.dtype == b.dtype, op, ": ", an, " and ", bn, " dtypes must match, got ",
           dtype_name(a.dtype), " and ", dtype_name(b.dtype));
  TG_CHECK(a.shape == b.shape, op, ": ", an, " and ", bn, " shapes ", shape_str(a.shape), " and ",
           shape_str(b.shape), " must match");
}

// numpy allows any byte offset (np.frombuffer(buf, offset=1)); kernels read whole elements.
inline void check_aligned(const ArrayView& v, const char* op) {
  TG_CHECK(reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype) == 0, op,
           ": array data is not aligned to its ", dtype_name(v.dtype), " item size");
}

// Runs fn(ptrs, n, byte_strides) over every element of operands that share one shape, split
// across threads when large enough. All-contiguous operands, the common case, skip the strided
// loop's set-up (a few heap allocations, which dominate the cost of small calls).
template <int N, class F>
void for_each_run(const std::array<const ArrayView*, N>& ops, F&& fn,
                  int64_t grain = kElementwiseGrain) {
  bool contiguous = true;
  for (const ArrayView* v : ops) contiguous = contiguous && v->is_contiguous();
  if (!contiguous) {
    StridedLoop<N> loop(ops[0]->shape, ops);
    loop.run_parallel(fn, grain);
    return;
  }
  std::array<char*, N> base;
  std::array<int64_t, N> item;
  for (int k = 0; k < N; ++k) {
    base[k] = static_cast<char*>(ops[k]->data);
    item[k] = dtype_size(ops[k]->dtype);
  }
  parallel_for(ops[0]->numel(), grain, [&](int64_t b, int64_t e) {
    std::array<char*, N> p;
    for (int k = 0; k < N; ++k) p[k] = base[k] + b * item[k];
    fn(p.data(), e - b, item.data());
  });
}

// ---------------------------------------------------------------------------------------------
// Overlapping operands. numpy lets views share memory arbitrarily (x[1:] and x[:-1]); every
// kernel follows numpy's rule: the result is as if all inputs were read before any output is
// written. Elementwise loops read each element before writing it, so an input naming exactly
// the output's elements is fine; any other input that shares memory with an output is copied
// first, through detach_if_overlapping.

// True when a and b name exactly the same elements in the same order.
inline bool same_elements(const ArrayView& a, const ArrayView& b) {
  if (a.data != b.data || dtype_size(a.dtype) != dtype_size(b.dtype) || a.shape != b.shape)
    return false;
  for (int d = 0; d < a.ndim(); ++d)
    if (a.shape[d] != 1 && a.strides[d] != b.strides[d]) return false;
  return true;
}

// Bytes [lo, hi) spanned by a non-empty view.
inline std::pair<const char*, const char*> byte_span(const ArrayView& v) {
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < v.ndim(); ++d) {
    const int64_t ext = (v.shape[d] - 1) * v.strides[d];
    (ext < 0 ? lo : hi) += ext;
  }
  const int64_t item = dtype_size(v.dtype);
  const char* base = static_cast<const char*>(v.data);
  return {base + lo * item, base + (hi + 1) * item};
}

// True when the byte ranges of two views intersect (they may still interleave without
// sharing an element; copying then is merely unnecessary).
inline bool views_overlap(const ArrayView& a, const ArrayView& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const auto x = byte_span(a), y = byte_span(b);
  return x.first < y.second && y.first < x.second;
}

// Moves n elements of type T (operands: p[0] = destination, p[1] = source, byte strides s).
template <class T>
void move_run(char** p, int64_t n, const int64_t* s) {
  constexpr int64_t E = sizeof(T);
  if (s[0] == E && s[1] == E) {
    std::memcpy(p[0], p[1], static_cast<size_t>(n * E));
    return;
  }
  char* d = p[0];
  const char* x = p[1];
  for (int64_t i = 0; i < n; ++i, d += s[0], x += s[1])
    *reinterpret_cast<T*>(d) = *reinterpret_cast<const T*>(x);
}

// A C-contiguous view of `data` with v's dtype and shape (where a copy of v goes).
inline ArrayView contiguous_like(const ArrayView& v, void* data) {
  ArrayView c;
  c.data = data;
  c.dtype = v.dtype;
  c.shape = v.shape;
  c.strides.resize(v.shape.size());
  int64_t expected = 1;
  for (int d = v.ndim() - 1; d >= 0; --d) {
    c.strides[d] = expected;
    expected *= v.shape[d];
  }
  return c;
}

// Returns `in`, or a C-contiguous copy of it held in `buf` when it shares memory with `out` in
// any way other than naming the very same elements.
inline ArrayView detach_if_overlapping(const ArrayView& in, const ArrayView& out,
                                       std::vector<char>& buf) {
  if (same_elements(in, out) || !views_overlap(in, out)) return in;
  // Over-allocated by one element so the copy can start at an aligned address.
  const int64_t item = dtype_size(in.dtype);
  buf.resize(static_cast<size_t>((in.numel() + 1) * item));
  char* p = buf.data();
  p += (item - reinterpret_cast<uintptr_t>(p) % item) % item;
  const ArrayView c = contiguous_like(in, p);
  StridedLoop<2> loop(in.shape, {&c, &in});
  switch (item) {
    case 1: loop.run_parallel(move_run<uint8_t>); break;
    case 4: loop.run_parallel(move_run<uint32_t>); break;
    default: loop.run_parallel(move_run<uint64_t>); break;
  }
  return c;
}

}  // namespace tg
