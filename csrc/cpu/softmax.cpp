// Row-wise softmax / log_softmax and the fused softmax-cross-entropy, forward and backward, on
// 2-D (rows, n) arrays of any strides (the Python layer moves the reduced dim last).
// Each row is a few passes over contiguous memory; a row with a column stride is gathered into
// a per-thread buffer first. The row kernels use the shared vector exp of simd_math.h and are
// compiled a second time for AVX2/FMA, picked at run time.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "bind/softmax.h"
#include "common.h"
#include "pyarray.h"
#include "simd_math.h"

namespace tg {
namespace {

// ---------------------------------------------------------------------------------------------
// Row kernels on contiguous rows, written once with GCC/Clang vector extensions over B-byte
// vectors (simd_math.h): instantiated with B = 16 for the portable build (SSE2 on x86-64, NEON
// on arm64) and with B = 32 inside functions compiled for AVX2/FMA. Plain loops would not do:
// without -ffast-math the compiler neither reorders a running sum nor if-converts the selects
// that exp and max need, so they stay scalar. Vector arguments go by reference and every helper
// is always inlined, so no vector crosses a call.

constexpr int64_t kChunk = 512;  // float partial sums cover at most this many elements

template <class T, int B>
struct Row {
  typedef simd::Vec<T, B> S;
  typedef typename S::type V;
  static constexpr int W = S::W;
  static constexpr T kNegInf = -std::numeric_limits<T>::infinity();

  static TG_ALWAYS_INLINE V exp(const V& v) { return simd::vexp(v); }
  static TG_ALWAYS_INLINE double hsum(const V& v, int m = W) {
    double s = 0.0;
    for (int l = 0; l < m; ++l) s += double(v[l]);
    return s;
  }

  // nan entries are skipped (x > m is false); they reach every result through the exp sum
  static TG_ALWAYS_INLINE T max(const T* x, int64_t n) {
    V a0 = S::splat(kNegInf), a1 = a0;
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      const V u = S::load(x + j), v = S::load(x + j + W);
      a0 = u > a0 ? u : a0;
      a1 = v > a1 ? v : a1;
    }
    if (j + W <= n) {
      const V u = S::load(x + j);
      a0 = u > a0 ? u : a0;
      j += W;
    }
    if (j < n) {
      const V u = S::load_part(x + j, n - j, kNegInf);
      a0 = u > a0 ? u : a0;
    }
    a0 = a1 > a0 ? a1 : a0;
    T m = kNegInf;
    for (int l = 0; l < W; ++l) m = a0[l] > m ? a0[l] : m;
    return m;
  }

  // Blocked sums: lanes accumulate at most kChunk elements in T, chunk totals add up in double.
  // sum of a (b == nullptr) or of a * b
  static TG_ALWAYS_INLINE double sum(const T* a, const T* b, int64_t n) {
    double total = 0.0;
    for (int64_t c = 0; c < n; c += kChunk) {
      const int64_t end = std::min(n, c + kChunk);
      V s0 = V{}, s1 = V{};
      int64_t j = c;
      if (b == nullptr) {
        for (; j + 2 * W <= end; j += 2 * W) {
          s0 += S::load(a + j);
          s1 += S::load(a + j + W);
        }
        for (; j < end; ++j) total += double(a[j]);
      } else {
        for (; j + 2 * W <= end; j += 2 * W) {
          s0 += S::load(a + j) * S::load(b + j);
          s1 += S::load(a + j + W) * S::load(b + j + W);
        }
        for (; j < end; ++j) total += double(a[j] * b[j]);
      }
      total += hsum(s0 + s1);
    }
    return total;
  }

  // sum_j exp(x_j - shift), also stored to out unless out is null (out may be x)
  static TG_ALWAYS_INLINE double exp_sum(const T* x, T shift, T* out, int64_t n) {
    double total = 0.0;
    for (int64_t c = 0; c < n; c += kChunk) {
      const int64_t end = std::min(n, c + kChunk);
      V s0 = V{};
      int64_t j = c;
      for (; j + W <= end; j += W) {
        const V e = exp(S::load(x + j) - shift);
        if (out) S::store(out + j, e);
        s0 += e;
      }
      if (j < end) {
        const V e = exp(S::load_part(x + j, end - j, T(0)) - shift);
        if (out) S::store_part(out + j, e, end - j);
        total += hsum(e, static_cast<int>(end - j));
      }
      total += hsum(s0);
    }
    return total;
  }

  // out_j = f(a_j) or f(a_j, b_j) for a functor f on vectors; out may be a or b
  template <class F>
  static TG_ALWAYS_INLINE void map(const F& f, const T* a, T* out, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) S::store(out + j, f(S::load(a + j)));
    if (j < n) S::store_part(out + j, f(S::load_part(a + j, n - j, T(0))), n - j);
  }
  template <class F>
  static TG_ALWAYS_INLINE void map(const F& f, const T* a, const T* b, T* out, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) S::store(out + j, f(S::load(a + j), S::load(b + j)));
    if (j < n)
      S::store_part(out + j, f(S::load_part(a + j, n - j, T(0)), S::load_part(b + j, n - j, T(0))),
                    n - j);
  }

  struct Scale {
    T s;
    TG_ALWAYS_INLINE V operator()(const V& v) const { return v * s; }
  };
  struct LogOut {  // (x - m) - log s, not x - (m + log s): x - m is exact near the max
    T m, ls;
    TG_ALWAYS_INLINE V operator()(const V& x) const { return (x - m) - ls; }
  };
  struct SoftmaxGrad {
    T d;
    TG_ALWAYS_INLINE V operator()(const V& y, const V& g) const { return y * (g - d); }
  };
  struct LogSoftmaxGrad {
    T s;
    TG_ALWAYS_INLINE V operator()(const V& y, const V& g) const { return g - exp(y) * s; }
  };
  struct CeGrad {
    T lse, a, c;
    TG_ALWAYS_INLINE V operator()(const V& x) const { return a * (exp(x - lse) - c); }
  };

  static TG_ALWAYS_INLINE void softmax(const T* x, T* out, int64_t n, bool log) {
    const T m = max(x, n);
    if (!log) {
      const double s = exp_sum(x, m, out, n);
      map(Scale{T(1.0 / s)}, out, out, n);
    } else {
      const double s = exp_sum(x, m, nullptr, n);
      map(LogOut{m, T(std::log(s))}, x, out, n);
    }
  }

  static TG_ALWAYS_INLINE void softmax_backward(const T* y, const T* g, T* out, int64_t n,
                                                bool log) {
    if (!log)
      map(SoftmaxGrad{T(sum(g, y, n))}, y, g, out, n);
    else
      map(LogSoftmaxGrad{T(sum(g, nullptr, n))}, y, g, out, n);
  }

  // log sum_j exp(x_j) as torch.logsumexp: the shift is the row max unless that is +-inf, so an
  // all -inf row gives -inf and a row holding +inf gives +inf (nan with a nan entry)
  static TG_ALWAYS_INLINE double logsumexp(const T* x, int64_t n) {
    if (n == 0) return -std::numeric_limits<double>::infinity();
    T m = max(x, n);
    if (std::isinf(m)) m = T(0);
    return double(m) + std::log(exp_sum(x, m, nullptr, n));
  }

  // out = a * (exp(x - lse) - c): the cross-entropy gradient of a row, target aside
  static TG_ALWAYS_INLINE void ce_grad(const T* x, T lse, T a, T c, T* out, int64_t n) {
    map(CeGrad{lse, a, c}, x, out, n);
  }

  struct Exp {
    TG_ALWAYS_INLINE V operator()(const V& v) const { return exp(v); }
  };
  struct Shift {
    T s;
    TG_ALWAYS_INLINE V operator()(const V& v) const { return v - s; }
  };

  // Short rows (see kShortRow), `rows` of C elements at x[r*C], a block at a time.
  // lse[r] = log sum_j exp(x_j) with logsumexp's conventions; buf gets exp(x - m) meanwhile.
  static TG_ALWAYS_INLINE void short_rows_lse(const T* x, int64_t rows, int64_t C, T* buf,
                                              double* lse) {
    for (int64_t r = 0; r < rows; ++r) {
      T m = max(x + r * C, C);
      if (std::isinf(m)) m = T(0);
      lse[r] = double(m);
      map(Shift{m}, x + r * C, buf + r * C, C);
    }
    map(Exp{}, buf, buf, rows * C);
    for (int64_t r = 0; r < rows; ++r) lse[r] += std::log(sum(buf + r * C, nullptr, C));
  }

  // The cross-entropy gradient of short rows: out row r = a_r (exp(x - lse_r) - c), with c_target
  // for the target class; rows whose target is ignored (t_r < 0) are zero. buf is scratch.
  static TG_ALWAYS_INLINE void short_rows_ce_grad(const T* x, int64_t rows, int64_t C, const T* lse,
                                                  const T* a, const int64_t* t, T c, T c_target,
                                                  T* buf, T* out) {
    for (int64_t r = 0; r < rows; ++r) map(Shift{lse[r]}, x + r * C, buf + r * C, C);
    map(Exp{}, buf, buf, rows * C);
    for (int64_t r = 0; r < rows; ++r) {
      T* o = out + r * C;
      if (t[r] < 0) {
        std::fill(o, o + C, T(0));
        continue;
      }
      map(CeGradOfExp{a[r], c}, buf + r * C, o, C);
      o[t[r]] = a[r] * (buf[r * C + t[r]] - c_target);
    }
  }
  struct CeGradOfExp {
    T a, c;
    TG_ALWAYS_INLINE V operator()(const V& e) const { return a * (e - c); }
  };
};

// One table of row kernels per dtype and instruction set.
template <class T>
struct RowKernels {
  void (*softmax)(const T*, T*, int64_t, bool);
  void (*softmax_backward)(const T*, const T*, T*, int64_t, bool);
  double (*logsumexp)(const T*, int64_t);
  double (*sum)(const T*, int64_t);
  void (*ce_grad)(const T*, T, T, T, T*, int64_t);
  void (*short_rows_lse)(const T*, int64_t, int64_t, T*, double*);
  void (*short_rows_ce_grad)(const T*, int64_t, int64_t, const T*, const T*, const int64_t*, T, T,
                             T*, T*);
};

#define TG_ROW_KERNELS(ATTR, SUFFIX, T, B)                                                     \
  ATTR void softmax_##SUFFIX(const T* x, T* o, int64_t n, bool log) {                          \
    Row<T, B>::softmax(x, o, n, log);                                                          \
  }                                                                                            \
  ATTR void softmax_backward_##SUFFIX(const T* y, const T* g, T* o, int64_t n, bool log) {     \
    Row<T, B>::softmax_backward(y, g, o, n, log);                                              \
  }                                                                                            \
  ATTR double logsumexp_##SUFFIX(const T* x, int64_t n) { return Row<T, B>::logsumexp(x, n); } \
  ATTR double sum_##SUFFIX(const T* x, int64_t n) { return Row<T, B>::sum(x, nullptr, n); }    \
  ATTR void ce_grad_##SUFFIX(const T* x, T lse, T a, T c, T* o, int64_t n) {                   \
    Row<T, B>::ce_grad(x, lse, a, c, o, n);                                                    \
  }                                                                                            \
  ATTR void short_rows_lse_##SUFFIX(const T* x, int64_t rows, int64_t C, T* buf, double* lse) { \
    Row<T, B>::short_rows_lse(x, rows, C, buf, lse);                                           \
  }                                                                                            \
  ATTR void short_rows_ce_grad_##SUFFIX(const T* x, int64_t rows, int64_t C, const T* lse,     \
                                        const T* a, const int64_t* t, T c, T ct, T* buf,       \
                                        T* o) {                                                \
    Row<T, B>::short_rows_ce_grad(x, rows, C, lse, a, t, c, ct, buf, o);                       \
  }                                                                                            \
  const RowKernels<T> kernels_##SUFFIX = {softmax_##SUFFIX,   softmax_backward_##SUFFIX,       \
                                          logsumexp_##SUFFIX, sum_##SUFFIX,                    \
                                          ce_grad_##SUFFIX,   short_rows_lse_##SUFFIX,         \
                                          short_rows_ce_grad_##SUFFIX};

TG_ROW_KERNELS(, f32_generic, float, 16)
TG_ROW_KERNELS(, f64_generic, double, 16)
#if defined(__x86_64__) || defined(__i386__)
TG_ROW_KERNELS(TG_TARGET_AVX2, f32_avx2, float, 32)
TG_ROW_KERNELS(TG_TARGET_AVX2, f64_avx2, double, 32)
TG_ROW_KERNELS(TG_TARGET_AVX512, f32_avx512, float, 64)
TG_ROW_KERNELS(TG_TARGET_AVX512, f64_avx512, double, 64)
#define TG_HAVE_X86_KERNELS 1
#endif
#undef TG_ROW_KERNELS

// Rows at least this long use 64-byte vectors where the CPU has them; shorter rows would
// spend more of each vector on padding than the wider vector gains.
constexpr int64_t kWideRow = 64;

// The row kernels for rows of n elements (n < 0: blocks of any length, widest vectors).
template <class T>
const RowKernels<T>& row_kernels(int64_t n = -1) {
  constexpr bool f32 = std::is_same_v<T, float>;
#ifdef TG_HAVE_X86_KERNELS
  if ((n < 0 || n >= kWideRow) && use_avx512()) {
    if constexpr (f32) return kernels_f32_avx512; else return kernels_f64_avx512;
  }
  if (use_avx2()) {
    if constexpr (f32) return kernels_f32_avx2; else return kernels_f64_avx2;
  }
#endif
  if constexpr (f32) return kernels_f32_generic; else return kernels_f64_generic;
}

// ---------------------------------------------------------------------------------------------
// Row access for (R, n) views. A row whose elements are adjacent is used in place; any other
// row goes through a buffer owned by the calling thread.
template <class T>
class Rows {
 public:
  Rows(const ArrayView& v, int64_t n)
      : base_(v.ptr<T>()), rs_(v.strides[0]), cs_(v.strides[1]), n_(n),
        direct_(cs_ == 1 || n <= 1) {
    if (!direct_) buf_.resize(n);
  }
  const T* read(int64_t i) {
    const T* p = base_ + i * rs_;
    if (direct_) return p;
    for (int64_t j = 0; j < n_; ++j) buf_[j] = p[j * cs_];
    return buf_.data();
  }
  // Where to write row i; commit(i) then stores it if that was the buffer.
  T* write(int64_t i) { return direct_ ? base_ + i * rs_ : buf_.data(); }
  void commit(int64_t i) {
    if (direct_) return;
    T* p = base_ + i * rs_;
    for (int64_t j = 0; j < n_; ++j) p[j * cs_] = buf_[j];
  }

 private:
  T* base_;
  int64_t rs_, cs_, n_;
  bool direct_;
  std::vector<T> buf_;
};

// Rows per parallel chunk: about kRowGrain elements, so that small problems stay on one thread
// (float32 softmax over 32k elements takes ~30 us here, which a second thread does not shorten).
constexpr int64_t kRowGrain = 32768;
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, kRowGrain / std::max<int64_t>(n, 1)); }

template <class T>
T at(const ArrayView& v, int64_t i) {
  return v.ptr<T>()[i * v.strides[0]];
}
template <class T>
T& at_mut(const ArrayView& v, int64_t i) {
  return v.ptr<T>()[i * v.strides[0]];
}

void check_target(int64_t t, int64_t C) {
  if (t < 0 || t >= C) throw_target_out_of_bounds(t, C);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points (csrc/bind/softmax.h has checked the arguments and picked T).
// Each kernel first detaches the inputs that share memory with an output other than as the same
// elements (numpy's rule, see detach_if_overlapping); an output may be an input itself.
template <class T>
void Cpu::softmax(const ArrayView& x_in, const ArrayView& out, bool log) {
  const int64_t R = x_in.shape[0], n = x_in.shape[1];
  if (n == 0) return;
  std::vector<char> tmp;
  const ArrayView x = detach_if_overlapping(x_in, out, tmp);
  const RowKernels<T>& K = row_kernels<T>(n);
  parallel_for(R, row_grain(n), [&](int64_t b, int64_t e) {
    Rows<T> xr(x, n), orow(out, n);
    for (int64_t i = b; i < e; ++i) {
      K.softmax(xr.read(i), orow.write(i), n, log);
      orow.commit(i);
    }
  });
}

template <class T>
void Cpu::softmax_backward(const ArrayView& y_in, const ArrayView& g_in, const ArrayView& out,
                           bool log) {
  const int64_t R = y_in.shape[0], n = y_in.shape[1];
  if (n == 0) return;
  std::vector<char> tmp_y, tmp_g;
  const ArrayView y = detach_if_overlapping(y_in, out, tmp_y);
  const ArrayView g = detach_if_overlapping(g_in, out, tmp_g);
  const RowKernels<T>& K = row_kernels<T>(n);
  parallel_for(R, row_grain(n), [&](int64_t b, int64_t e) {
    Rows<T> yr(y, n), gr(g, n), orow(out, n);
    for (int64_t i = b; i < e; ++i) {
      K.softmax_backward(yr.read(i), gr.read(i), orow.write(i), n, log);
      orow.commit(i);
    }
  });
}

namespace {

// Rows of at most kShortRow classes (the heads of most MLP classifiers) are handled a block of
// rows at a time: the exponentials of a whole block go through one vector loop over contiguous
// memory, where row by row each short row would be mostly vector padding and per-row setup.
constexpr int64_t kShortRow = 32;
constexpr int64_t kShortBlock = 4096;  // elements per block (16 KB of float32: stays in L1)

// The rows [b, e) of x as contiguous blocks of at most kShortBlock elements: f(first row, row
// count, pointer to the rows' C-contiguous values).
template <class T, class F>
void for_short_row_blocks(const ArrayView& x, int64_t C, int64_t b, int64_t e, T* gather,
                          const F& f) {
  const int64_t block_rows = std::max<int64_t>(1, kShortBlock / std::max<int64_t>(C, 1));
  Rows<T> xr(x, C);
  const bool dense = x.strides[1] == 1 && x.strides[0] == C;
  for (int64_t i0 = b; i0 < e; i0 += block_rows) {
    const int64_t rows = std::min(block_rows, e - i0);
    const T* base = x.ptr<T>() + i0 * x.strides[0];
    if (!dense) {
      for (int64_t r = 0; r < rows; ++r) std::memcpy(gather + r * C, xr.read(i0 + r), C * sizeof(T));
      base = gather;
    }
    f(i0, rows, base);
  }
}

}  // namespace

template <class T>
int64_t Cpu::cross_entropy_forward(const ArrayView& x_in, const ArrayView& target_in,
                                   const ArrayView& loss, const ArrayView& lse,
                                   int64_t ignore_index, double eps) {
  const int64_t N = x_in.shape[0], C = x_in.shape[1];
  std::vector<char> tmp[4];
  const ArrayView x = detach_if_overlapping(detach_if_overlapping(x_in, loss, tmp[0]), lse, tmp[1]);
  const ArrayView target =
      detach_if_overlapping(detach_if_overlapping(target_in, loss, tmp[2]), lse, tmp[3]);
  const RowKernels<T>& K = row_kernels<T>(C);
  std::atomic<int64_t> ignored_rows{0};
  // The loss of row i from its log-sum-exp l; counts the ignored rows.
  auto row_loss = [&](int64_t i, const T* row, double l, int64_t& ignored) {
    const int64_t t = at<int64_t>(target, i);
    at_mut<T>(lse, i) = T(l);
    double li = 0.0;
    if (t == ignore_index) {
      ++ignored;
    } else {
      check_target(t, C);
      li = (1.0 - eps) * (l - double(row[t]));
      // sum_j (lse - x_j) / C, skipped at eps == 0 so that -inf logits do not turn 0 into nan
      if (eps != 0.0) li += eps * (l - K.sum(row, C) / double(C));
    }
    at_mut<T>(loss, i) = T(li);
  };
  if (C > 0 && C <= kShortRow) {
    const RowKernels<T>& KB = row_kernels<T>();
    parallel_for(N, row_grain(C), [&](int64_t b, int64_t e) {
      // Scratch for at most one block of these rows (a small batch zeroes little of it).
      const int64_t cap = std::min(kShortBlock, (e - b) * C) + kShortRow;
      std::vector<T> gather(cap), buf(cap);
      std::vector<double> l(std::min(kShortBlock, e - b));
      int64_t ignored_here = 0;
      for_short_row_blocks<T>(x, C, b, e, gather.data(), [&](int64_t i0, int64_t rows, const T* xs) {
        KB.short_rows_lse(xs, rows, C, buf.data(), l.data());
        for (int64_t r = 0; r < rows; ++r) row_loss(i0 + r, xs + r * C, l[r], ignored_here);
      });
      ignored_rows += ignored_here;
    });
    return N - ignored_rows.load();
  }
  parallel_for(N, row_grain(C), [&](int64_t b, int64_t e) {
    Rows<T> xr(x, C);
    int64_t ignored_here = 0;
    for (int64_t i = b; i < e; ++i) {
      const T* row = xr.read(i);
      row_loss(i, row, K.logsumexp(row, C), ignored_here);
    }
    ignored_rows += ignored_here;
  });
  return N - ignored_rows.load();
}

template <class T>
void Cpu::cross_entropy_backward(const ArrayView& x_in, const ArrayView& target_in,
                                 const ArrayView& lse_in, const ArrayView& grad_in,
                                 const ArrayView& out, int64_t ignore_index, double eps) {
  const int64_t N = x_in.shape[0], C = x_in.shape[1];
  std::vector<char> tmp[4];
  const ArrayView x = detach_if_overlapping(x_in, out, tmp[0]);
  const ArrayView target = detach_if_overlapping(target_in, out, tmp[1]);
  const ArrayView lse = detach_if_overlapping(lse_in, out, tmp[2]);
  const ArrayView grad = detach_if_overlapping(grad_in, out, tmp[3]);
  const RowKernels<T>& K = row_kernels<T>(C);
  const T c = C > 0 ? T(eps / double(C)) : T(0);
  const T c_target = c + T(1.0 - eps);
  if (C > 0 && C <= kShortRow) {
    // out = a (exp(x - lse) - c) as the row kernel computes it, the exponentials a block at
    // a time; the target class subtracts c_target instead of c.
    const RowKernels<T>& KB = row_kernels<T>();
    const bool out_dense = out.strides[1] == 1 && out.strides[0] == C;
    const int64_t block_rows = std::max<int64_t>(1, kShortBlock / C);
    parallel_for(N, row_grain(C), [&](int64_t b, int64_t e) {
      const int64_t cap = std::min(kShortBlock, (e - b) * C) + kShortRow;  // as in the forward
      std::vector<T> gather(cap), buf(cap), obuf(out_dense ? 0 : cap);
      const int64_t most = std::min(block_rows, e - b);
      std::vector<T> l(most), a(most);
      std::vector<int64_t> t(most);
      Rows<T> orow(out, C);
      for_short_row_blocks<T>(x, C, b, e, gather.data(), [&](int64_t i0, int64_t rows, const T* xs) {
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r, ti = at<int64_t>(target, i);
          if (ti != ignore_index) check_target(ti, C);
          t[r] = ti == ignore_index ? -1 : ti;
          l[r] = at<T>(lse, i);
          a[r] = at<T>(grad, i);
        }
        T* o = out_dense ? out.ptr<T>() + i0 * C : obuf.data();
        KB.short_rows_ce_grad(xs, rows, C, l.data(), a.data(), t.data(), c, c_target, buf.data(), o);
        if (!out_dense) {
          for (int64_t r = 0; r < rows; ++r) {
            std::memcpy(orow.write(i0 + r), o + r * C, C * sizeof(T));
            orow.commit(i0 + r);
          }
        }
      });
    });
    return;
  }
  parallel_for(N, row_grain(C), [&](int64_t b, int64_t e) {
    Rows<T> xr(x, C), orow(out, C);
    for (int64_t i = b; i < e; ++i) {
      const int64_t t = at<int64_t>(target, i);
      T* o = orow.write(i);
      if (t == ignore_index) {
        std::fill(o, o + C, T(0));
      } else {
        check_target(t, C);
        const T* row = xr.read(i);
        const T a = at<T>(grad, i), l = at<T>(lse, i), xt = row[t];
        K.ce_grad(row, l, a, c, o, C);
        // the target class again, from xt read before out (which may be x) was written
        K.ce_grad(&xt, l, a, c_target, o + t, 1);
      }
      orow.commit(i);
    }
  });
}

void bind_softmax(py::module_& m) { bind::softmax<Cpu>(m); }

}  // namespace tg
