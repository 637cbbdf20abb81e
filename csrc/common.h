// Shared by every kernel family: dtypes, error checks, the strided array view kernels take,
// the N-operand strided loop, dtype dispatch and the thread pool's parallel_for.
// Nothing here knows about Python; csrc/pyarray.h turns numpy arrays into ArrayViews.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
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
// A strided view of memory owned elsewhere (a numpy array). Strides are in ELEMENTS and may be
// 0 (broadcast) or negative.
struct ArrayView {
  void* data = nullptr;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

std::string shape_str(const std::vector<int64_t>& shape);  // "(2, 3)"; defined in runtime.cpp

inline void check_same_shape(const char* op, const ArrayView& a, const ArrayView& b) {
  TG_CHECK(a.shape == b.shape, op, ": shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
           " must match");
}

inline void check_dtype(const char* op, const ArrayView& a, DType d, const char* what) {
  TG_CHECK(a.dtype == d, op, ": ", what, " must be ", dtype_name(d), ", got ", dtype_name(a.dtype));
}

// ---------------------------------------------------------------------------------------------
// Threads. A persistent pool; parallel_for splits [0, n) into chunks of at least `grain`
// and runs f(begin, end) on them, the calling thread included. Called from inside a worker it
// runs serially. The first exception thrown by any chunk is rethrown in the caller.
int get_num_threads();
void set_num_threads(int n);
void parallel_for_impl(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (n <= grain || get_num_threads() <= 1) {
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
  std::vector<int64_t> shape;                      // coalesced, innermost last
  std::vector<std::array<int64_t, N>> bstrides;    // byte strides per dim per operand
  std::array<char*, N> base;

  StridedLoop(const std::vector<int64_t>& full_shape, const std::array<const ArrayView*, N>& ops) {
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
    std::vector<int64_t> idx(nd, 0);
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
// CPU features, detected once at run time (csrc/cpu/runtime.cpp).
bool cpu_has_avx2_fma();

}  // namespace tg
