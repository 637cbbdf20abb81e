// Copy, gather and scatter kernels: copy (strided copy with dtype conversion: the library's
// contiguous(), astype and slice assignment), take / put_add over C-order flat positions, and
// index_select / index_add along one axis.
#include <cstdlib>
#include <cstring>
#include <limits>

#include "bind/index.h"
#include "common.h"
#include "isa.h"
#include "ops/scalar.h"
#include "pyarray.h"

namespace tg {
namespace {

// Operands: p[0] = dst (D), p[1] = src (S); the conversion is numpy astype's (ops::convert).
template <class D, class S>
void convert_inner(char** p, int64_t n, const int64_t* s) {
  if (s[0] == static_cast<int64_t>(sizeof(D)) && s[1] == static_cast<int64_t>(sizeof(S))) {
    D* d = reinterpret_cast<D*>(p[0]);
    const S* x = reinterpret_cast<const S*>(p[1]);
    for (int64_t i = 0; i < n; ++i) d[i] = ops::convert<D, S>(x[i]);
    return;
  }
  char* d = p[0];
  const char* x = p[1];
  for (int64_t i = 0; i < n; ++i, d += s[0], x += s[1])
    *reinterpret_cast<D*>(d) = ops::convert<D, S>(*reinterpret_cast<const S*>(x));
}

// A transposing copy (dst rows contiguous, src walking down columns) touches a new cache line
// of src for every element; copying 32 x 32 tiles lets each line fetched serve a whole tile row.
// The loop is the two-dimensional one StridedLoop coalesced: rows x cols with byte strides.
template <class D, class S>
void tiled_copy(const StridedLoop<2>& loop) {
  constexpr int64_t kTile = 32;
  const int64_t rows = loop.shape[0], cols = loop.shape[1];
  const int64_t d_rs = loop.bstrides[0][0], d_cs = loop.bstrides[1][0];
  const int64_t s_rs = loop.bstrides[0][1], s_cs = loop.bstrides[1][1];
  char* const dst = loop.base[0];
  const char* const src = loop.base[1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / (kTile * cols));
  parallel_for(row_tiles, grain, [&](int64_t b, int64_t e) {
    for (int64_t r0 = b * kTile; r0 < std::min(rows, e * kTile); r0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r) {
          char* d = dst + r * d_rs + c0 * d_cs;
          const char* x = src + r * s_rs + c0 * s_cs;
          for (int64_t c = c0; c < c1; ++c, d += d_cs, x += s_cs)
            *reinterpret_cast<D*>(d) = ops::convert<D, S>(*reinterpret_cast<const S*>(x));
        }
      }
    }
  });
}

// True when the coalesced copy is a 2-D transpose worth tiling: dst walks its rows contiguously
// while src jumps by more than a cache line per element.
bool wants_tiles(const StridedLoop<2>& loop, int64_t dst_item) {
  if (loop.shape.size() != 2 || loop.shape[0] < 32 || loop.shape[1] < 32) return false;
  const int64_t s_cs = std::abs(loop.bstrides[1][1]), s_rs = std::abs(loop.bstrides[0][1]);
  return loop.bstrides[1][0] == dst_item && s_cs >= 64 && s_rs < s_cs;
}

// Position -> element offset for the C-order flattening of a strided view, with dimensions
// merged where the layout allows, so contiguous and simply-strided sources map in one multiply.
struct FlatIndexer {
  Dims shape, strides;  // innermost last

  explicit FlatIndexer(const ArrayView& v) {
    for (int d = 0; d < v.ndim(); ++d) {
      if (v.shape[d] == 1) continue;
      if (!shape.empty() && strides.back() == v.strides[d] * v.shape[d]) {
        shape.back() *= v.shape[d];
        strides.back() = v.strides[d];
        continue;
      }
      shape.push_back(v.shape[d]);
      strides.push_back(v.strides[d]);
    }
  }
  TG_ALWAYS_INLINE int64_t operator()(int64_t pos) const {
    const int nd = static_cast<int>(shape.size());
    if (nd == 0) return 0;
    if (nd == 1) return pos * strides[0];
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; --d) {
      off += (pos % shape[d]) * strides[d];
      pos /= shape[d];
    }
    return off;
  }
};

// The dimensions of `v` before `axis`, as an offset function of the outer C-order position.
ArrayView leading_dims(const ArrayView& v, int axis) {
  ArrayView r;
  r.dtype = v.dtype;
  r.shape.assign(v.shape.begin(), v.shape.begin() + axis);
  r.strides.assign(v.strides.begin(), v.strides.begin() + axis);
  return r;
}

ArrayView trailing_dims(const ArrayView& v, int axis) {
  ArrayView r;
  r.dtype = v.dtype;
  r.data = v.data;
  r.shape.assign(v.shape.begin() + axis + 1, v.shape.end());
  r.strides.assign(v.strides.begin() + axis + 1, v.strides.end());
  return r;
}

int64_t prod(const Dims& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

// The trailing dimensions (after the axis) of two operands, coalesced once and then walked from
// many base pointers: one slab per (outer position, index entry). Usually they merge into a
// single run, which is walked directly without the general strided loop.
struct Slab {
  StridedLoop<2> loop;
  bool single;

  Slab(const ArrayView& a, const ArrayView& b)
      : loop(a.shape, {&a, &b}), single(loop.shape.size() == 1) {}

  // Runs inner over elements [lo, hi) of the slab starting at p0 / p1. `scratch` is a per-thread
  // copy of `loop` whose base pointers may be rewritten.
  template <class F>
  TG_ALWAYS_INLINE void run(char* p0, char* p1, int64_t lo, int64_t hi, StridedLoop<2>& scratch,
                     F&& inner) const {
    if (single) {
      const int64_t* s = loop.bstrides[0].data();
      char* p[2] = {p0 + lo * s[0], p1 + lo * s[1]};
      inner(p, hi - lo, s);
      return;
    }
    scratch.base = {p0, p1};
    scratch.run(lo, hi, inner);
  }
};

TG_ALWAYS_INLINE int64_t index_at(const ArrayView& index, int64_t j) {
  return index.ptr<const int64_t>()[j * index.strides[0]];
}

// Every index in [0, size), checked before anything is written.
void check_bounds_1d(const ArrayView& index, int64_t size, int axis, const char* op) {
  const int64_t n = index.shape[0];
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = index_at(index, j);
    if (v < 0 || v >= size) throw_axis_index(op, v, axis, size);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points (csrc/bind/index.h has checked the arguments)

void Cpu::copy(const ArrayView& src, const ArrayView& dst) {
  if (dst.numel() == 0) return;
  std::vector<char> tmp;
  const ArrayView s = detach_if_overlapping(src, dst, tmp);
  if (s.dtype == dst.dtype && same_elements(s, dst)) return;
  if (s.dtype == dst.dtype && s.is_contiguous() && dst.is_contiguous()) {
    const int64_t nbytes = dst.numel() * dtype_size(dst.dtype);
    char* to = static_cast<char*>(dst.data);
    const char* from = static_cast<const char*>(s.data);
    parallel_for(nbytes, kElementwiseGrain * 8, [&](int64_t b, int64_t e) {
      std::memcpy(to + b, from + b, static_cast<size_t>(e - b));
    });
    return;
  }
  StridedLoop<2> loop(dst.shape, {&dst, &s});
  const bool tiles = wants_tiles(loop, dtype_size(dst.dtype));
  if (s.dtype == dst.dtype) {
    dispatch_all(dst.dtype, "copy", [&](auto tag) {
      using T = bits_t<typename decltype(tag)::type>;
      if (tiles)
        tiled_copy<T, T>(loop);
      else
        loop.run_parallel(move_run<T>);
    });
    return;
  }
  dispatch_all(dst.dtype, "copy", [&](auto dtag) {
    using D = storage_t<typename decltype(dtag)::type>;
    dispatch_all(s.dtype, "copy", [&](auto stag) {
      using S = storage_t<typename decltype(stag)::type>;
      if (tiles)
        tiled_copy<D, S>(loop);
      else
        loop.run_parallel(convert_inner<D, S>);
    });
  });
}

void Cpu::take(const ArrayView& src, const ArrayView& index, const ArrayView& out) {
  if (out.numel() == 0) return;
  std::vector<char> tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, out, tmp_s);
  const ArrayView ix = detach_if_overlapping(index, out, tmp_i);
  const int64_t size = s.numel();
  const FlatIndexer flat(s);
  StridedLoop<2> loop(out.shape, {&out, &ix});
  // A source that flattens to one stride (contiguous, or a simple slice) needs no unravelling;
  // the stride is kept in a local so the gather loop does not reload it after every store.
  const bool linear = flat.shape.size() <= 1;
  const int64_t stride = flat.shape.empty() ? 0 : flat.strides[0];
  dispatch_all(src.dtype, "take", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    const T* base = s.ptr<const T>();
    loop.run_parallel([&, base](char** p, int64_t n, const int64_t* st) {
      char* o = p[0];
      const char* q = p[1];
      const int64_t so = st[0], sq = st[1], lim = size, sstride = stride;
      for (int64_t i = 0; i < n; ++i, o += so, q += sq) {
        const int64_t v = *reinterpret_cast<const int64_t*>(q);
        if (v < 0 || v >= lim) throw_flat_index("take", v, lim);
        *reinterpret_cast<T*>(o) = base[linear ? v * sstride : flat(v)];
      }
    });
  });
}

// Serial: duplicate positions must accumulate, and a scatter is rarely large enough for
// partitioning by destination to pay off. Walked in slices of this many indices, checking for
// Ctrl-C between them.
constexpr int64_t kSerialSlice = kElementwiseGrain * kSliceGrains;

void Cpu::put_add(const ArrayView& dst, const ArrayView& index, const ArrayView& src) {
  if (index.numel() == 0) return;
  const int64_t size = dst.numel();
  {
    StridedLoop<1> check(index.shape, {&index});
    for_slices(0, check.numel(), kSerialSlice, [&](int64_t b, int64_t e) {
      check.run(b, e, [&](char** p, int64_t n, const int64_t* st) {
        const char* q = p[0];
        for (int64_t i = 0; i < n; ++i, q += st[0]) {
          const int64_t v = *reinterpret_cast<const int64_t*>(q);
          if (v < 0 || v >= size) throw_flat_index("put_add", v, size);
        }
      });
    });
  }
  std::vector<char> tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, dst, tmp_s);
  const ArrayView ix = detach_if_overlapping(index, dst, tmp_i);
  StridedLoop<2> loop(ix.shape, {&ix, &s});
  dispatch_all(dst.dtype, "put_add", [&](auto tag) {
    using T = storage_t<typename decltype(tag)::type>;
    if constexpr (!std::is_same_v<T, uint8_t>) {
      T* d = dst.ptr<T>();
      for_slices(0, loop.numel(), kSerialSlice, [&](int64_t b, int64_t e) {
        loop.run(b, e, [&](char** p, int64_t n, const int64_t* st) {
          const char* q = p[0];
          const char* x = p[1];
          for (int64_t i = 0; i < n; ++i, q += st[0], x += st[1]) {
            T& r = d[*reinterpret_cast<const int64_t*>(q)];
            const T v = *reinterpret_cast<const T*>(x);
            if constexpr (std::is_same_v<T, int64_t>)
              r = static_cast<int64_t>(static_cast<uint64_t>(r) + static_cast<uint64_t>(v));
            else
              r += v;
          }
        });
      });
    }
  });
}

void Cpu::index_select(const ArrayView& src, int axis, const ArrayView& index,
                       const ArrayView& out) {
  check_bounds_1d(index, src.shape[axis], axis, "index_select");
  if (out.numel() == 0) return;
  std::vector<char> tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, out, tmp_s);
  const ArrayView ix = detach_if_overlapping(index, out, tmp_i);

  const int64_t nidx = ix.shape[0];
  const FlatIndexer outer(leading_dims(s, axis));
  const int64_t nslabs = prod(leading_dims(s, axis).shape) * nidx;
  const ArrayView s_in = trailing_dims(s, axis), o_in = trailing_dims(out, axis);
  const int64_t inner_n = prod(s_in.shape);
  const int64_t item = dtype_size(s.dtype);
  const int64_t axis_stride = s.strides[axis] * item;
  const Slab slab(o_in, s_in);
  char* const obase = static_cast<char*>(out.data);
  const char* const sbase = static_cast<const char*>(s.data);

  dispatch_all(s.dtype, "index_select", [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner_n, 1));
    parallel_for(nslabs, grain, [&](int64_t b, int64_t e) {
      StridedLoop<2> scratch = slab.loop;
      int64_t cur_o = -1, ooff = 0;
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / nidx, j = t - o * nidx;
        if (o != cur_o) {
          cur_o = o;
          ooff = outer(o) * item;
        }
        const char* from = sbase + ooff + index_at(ix, j) * axis_stride;
        char* to = obase + t * inner_n * item;
        // Contiguous rows (the embedding lookup) are one memcpy each.
        slab.run(to, const_cast<char*>(from), 0, inner_n, scratch, move_run<T>);
      }
    });
  });
}

// Parallel over (outer, trailing) positions, each walking all of `index`, so every destination
// element is owned by one thread and duplicates accumulate without races.
void Cpu::index_add(const ArrayView& dst, int axis, const ArrayView& index,
                    const ArrayView& src) {
  check_bounds_1d(index, dst.shape[axis], axis, "index_add");
  if (src.numel() == 0) return;
  std::vector<char> tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, dst, tmp_s);
  const ArrayView ix = detach_if_overlapping(index, dst, tmp_i);

  const int64_t nidx = ix.shape[0];
  const FlatIndexer douter(leading_dims(dst, axis)), souter(leading_dims(s, axis));
  const ArrayView d_in = trailing_dims(dst, axis), s_in = trailing_dims(s, axis);
  const int64_t inner_n = prod(d_in.shape);
  const int64_t npos = prod(leading_dims(dst, axis).shape) * inner_n;
  const int64_t item = dtype_size(dst.dtype);
  const int64_t dstride = dst.strides[axis] * item, sstride = s.strides[axis] * item;
  const Slab slab(d_in, s_in);
  char* const dbase = static_cast<char*>(dst.data);
  char* const sbase = static_cast<char*>(s.data);

  dispatch_all(dst.dtype, "index_add", [&](auto tag) {
    using T = storage_t<typename decltype(tag)::type>;
    if constexpr (!std::is_same_v<T, uint8_t>) {
      auto add = [](char** p, int64_t n, const int64_t* st) {
        constexpr int64_t E = sizeof(T);
        if (st[0] == E && st[1] == E) {
          T* d = reinterpret_cast<T*>(p[0]);
          const T* x = reinterpret_cast<const T*>(p[1]);
          if constexpr (std::is_same_v<T, int64_t>) {
            for (int64_t i = 0; i < n; ++i)
              d[i] = static_cast<int64_t>(static_cast<uint64_t>(d[i]) + static_cast<uint64_t>(x[i]));
          } else {
            for (int64_t i = 0; i < n; ++i) d[i] += x[i];
          }
          return;
        }
        char* d = p[0];
        const char* x = p[1];
        for (int64_t i = 0; i < n; ++i, d += st[0], x += st[1]) {
          T& r = *reinterpret_cast<T*>(d);
          const T v = *reinterpret_cast<const T*>(x);
          if constexpr (std::is_same_v<T, int64_t>)
            r = static_cast<int64_t>(static_cast<uint64_t>(r) + static_cast<uint64_t>(v));
          else
            r += v;
        }
      };
      const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(nidx, 1));
      parallel_for(npos, grain, [&](int64_t b, int64_t e) {
        StridedLoop<2> scratch = slab.loop;
        for (int64_t o = b / inner_n; o * inner_n < e; ++o) {
          const int64_t lo = std::max(b, o * inner_n) - o * inner_n;
          const int64_t hi = std::min(e, (o + 1) * inner_n) - o * inner_n;
          char* drow = dbase + douter(o) * item;
          char* srow = sbase + souter(o) * item;
          for (int64_t j = 0; j < nidx; ++j)
            slab.run(drow + index_at(ix, j) * dstride, srow + j * sstride, lo, hi, scratch, add);
        }
      });
    }
  });
}

void bind_index(py::module_& m) { bind::index<Cpu>(m); }

}  // namespace tg
