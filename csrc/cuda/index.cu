// Gather and scatter kernels on the GPU, mirroring csrc/cpu/index.cpp: take / put_add over
// C-order flat positions, and index_select / index_add along one axis, bound and checked with
// it (csrc/bind/index.h). (copy, the other member of the family, lives in elementwise.cu.)
//
// Out-of-range indices raise IndexError with the CPU's message. The kernels that must not write
// anything before raising (put_add, index_select, index_add: the CPU checks every index first)
// run a checking kernel first; take checks inside its gather, as the CPU does. Either way the
// reported index is the first bad one in C order (the one a serial CPU run reports), found by
// an atomicMin over positions and read back synchronously.
//
// Scatters accumulate duplicates with atomics: exact for int64 (wrapping, as on the CPU), but
// for float32/float64 the order of the additions, and so the rounding, varies between runs.
#include "bind/index.h"
#include "cuda/common.cuh"

namespace tg::cuda {
namespace {

// offset_of without its divisions for the layouts merge_dims leaves most often: no dims (a
// single element) or one dim, where the position is already in range.
__host__ __device__ inline int64_t offset_fast(const Layout& l, int64_t i) {
  if (l.ndim == 0) return 0;
  if (l.ndim == 1) return i * l.strides[0];
  return offset_of(l, i);
}

// Dims [begin, end) of `v` as a view of their own: the dims before or after an axis.
ArrayView sub_view(const ArrayView& v, int begin, int end) {
  ArrayView r;
  r.dtype = v.dtype;
  r.data = v.data;
  r.shape.assign(v.shape.begin() + begin, v.shape.begin() + end);
  r.strides.assign(v.strides.begin() + begin, v.strides.begin() + end);
  return r;
}

// The Layout of `v` alone, dims merged.
Layout merged_layout(ArrayView v, const char* op) {
  merge_dims(&v, 1, op);
  return layout_of(v, op);
}

int64_t prod(const Dims& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Bounds: the first (C-order) position of an index outside [0, size), via a device flag that
// starts at "none" (all ones) and takes the minimum of the bad positions.

constexpr unsigned long long kNoBadIndex = ~0ull;

struct BadFlag {
  Scratch mem;
  unsigned long long* ptr() const { return static_cast<unsigned long long*>(mem->ptr()); }
};

BadFlag new_bad_flag(int device) {
  BadFlag f{scratch(sizeof(unsigned long long), device)};
  CUDA_CHECK(cudaMemsetAsync(f.ptr(), 0xFF, sizeof(unsigned long long), stream()));
  return f;
}

// Waits for the kernels that set the flag; the bad position, or -1 when every index was fine.
int64_t read_bad_flag(const BadFlag& f) {
  unsigned long long pos = 0;
  copy_to_host_nogil(&pos, f.ptr(), sizeof(pos));
  return pos == kNoBadIndex ? -1 : static_cast<int64_t>(pos);
}

int64_t read_device_i64(const int64_t* p) {
  int64_t v = 0;
  copy_to_host_nogil(&v, p, sizeof(v));
  return v;
}

__device__ inline void note_bad(unsigned long long* flag, int64_t i) {
  atomicMin(flag, static_cast<unsigned long long>(i));
}

__global__ void find_bad_index_kernel(const int64_t* idx, Layout il, bool contig, int64_t n,
                                      int64_t size, unsigned long long* flag) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[contig ? i : offset_of(il, i)];
    if (v < 0 || v >= size) note_bad(flag, i);
  }
}

// Checks every element of `index` (int64, non-empty) against [0, size) before anything is
// written; on failure returns true with the first bad value in *bad.
bool find_bad_index(const ArrayView& index, int64_t size, int device, const char* op,
                    int64_t* bad) {
  const int64_t n = index.numel();
  const bool contig = contiguous(index);
  ArrayView m = index;
  merge_dims(&m, 1, op);
  const Layout il = layout_of(m, op);
  const int64_t* idx = m.ptr<const int64_t>();
  const BadFlag flag = new_bad_flag(device);
  find_bad_index_kernel<<<grid_for(n), kThreads, 0, stream()>>>(idx, il, contig, n, size,
                                                                  flag.ptr());
  CUDA_CHECK_LAUNCH();
  const int64_t pos = read_bad_flag(flag);
  if (pos < 0) return false;
  *bad = read_device_i64(idx + (contig ? pos : offset_of(il, pos)));
  return true;
}

void check_bounds_1d(const ArrayView& index, int64_t size, int axis, int device, const char* op) {
  if (index.shape[0] == 0) return;
  int64_t v = 0;
  if (find_bad_index(index, size, device, op, &v)) throw_axis_index(op, v, axis, size);
}

// ---------------------------------------------------------------------------------------------
// Accumulation: int64 wraps like the CPU's unsigned addition (atomicAdd on the same bits).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 600
#error "index.cu needs sm_60 or newer (atomicAdd on double)"
#endif

__device__ inline void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ inline void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ inline void atomic_add(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// (position / d, position % d) for the flat kernels; 32-bit when every position fits, which
// is several times cheaper than 64-bit division on the GPU.
template <bool Small>
__device__ inline int64_t div_of(int64_t a, int64_t d) {
  if constexpr (Small) return static_cast<uint32_t>(a) / static_cast<uint32_t>(d);
  else return a / d;
}

// Positions below this use 32-bit division (grid-stride steps stay far below 2^32 too).
constexpr int64_t kSmallLimit = int64_t{1} << 31;

// ---------------------------------------------------------------------------------------------
// Kernels

// out[i] = src.flat[index[i]]; out and index share a layout unless both are contiguous.
template <class T>
__global__ void take_kernel(const T* src, Layout sl, int64_t size, const int64_t* idx, Layout il,
                            T* out, Layout ol, bool contig, int64_t n, unsigned long long* flag) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[contig ? i : offset_of(il, i)];
    if (v < 0 || v >= size) {
      note_bad(flag, i);
      continue;
    }
    out[contig ? i : offset_of(ol, i)] = src[offset_fast(sl, v)];
  }
}

template <class T>
__global__ void put_add_kernel(T* dst, const int64_t* idx, Layout il, const T* src, Layout sl,
                               bool contig, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = contig ? i : offset_of(il, i);
    const int64_t x = contig ? i : offset_of(sl, i);
    atomic_add(dst + idx[q], src[x]);
  }
}

// Shapes along an axis, seen as [outer, nidx, inner]: position i = (o * nidx + j) * inner + r.
struct AxisShape {
  int64_t nidx, inner;
  const int64_t* idx;
  int64_t idx_stride;
};

// out (contiguous) = src.take(index, axis).
template <class T, bool Small>
__global__ void index_select_kernel(const T* src, Layout s_outer, Layout s_inner,
                                    int64_t axis_stride, AxisShape a, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = div_of<Small>(i, a.inner), r = i - t * a.inner;
    const int64_t o = div_of<Small>(t, a.nidx), j = t - o * a.nidx;
    const int64_t from = offset_fast(s_outer, o) + a.idx[j * a.idx_stride] * axis_stride +
                         offset_fast(s_inner, r);
    out[i] = src[from];
  }
}

// dst.index_add_(axis, index, src), one thread per src element.
template <class T, bool Small>
__global__ void index_add_kernel(T* dst, Layout d_outer, Layout d_inner, int64_t d_axis_stride,
                                 const T* src, Layout s_outer, Layout s_inner,
                                 int64_t s_axis_stride, AxisShape a, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = div_of<Small>(i, a.inner), r = i - t * a.inner;
    const int64_t o = div_of<Small>(t, a.nidx), j = t - o * a.nidx;
    const int64_t to = offset_fast(d_outer, o) + a.idx[j * a.idx_stride] * d_axis_stride +
                       offset_fast(d_inner, r);
    const int64_t from = offset_fast(s_outer, o) + j * s_axis_stride + offset_fast(s_inner, r);
    atomic_add(dst + to, src[from]);
  }
}

// ---------------------------------------------------------------------------------------------
}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points: launches (csrc/bind/index.h has checked the arguments).

// The copy kernel is elementwise.cu's, which other families use too.
void Cuda::copy(const ArrayView& src, const ArrayView& dst) { copy_kernel(src, dst); }

void Cuda::take(const ArrayView& src, const ArrayView& index, const ArrayView& out) {
  const char* op = "take";
  if (out.numel() == 0) return;
  const int device = current_device();
  Scratch tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, out, tmp_s, device);
  ArrayView pair[2] = {out, detach_if_overlapping(index, out, tmp_i, device)};
  const bool contig = contiguous(pair[0]) && contiguous(pair[1]);
  merge_dims(pair, 2, op);
  const int64_t* idx = pair[1].ptr<const int64_t>();
  const Layout ol = layout_of(pair[0], op), il = layout_of(pair[1], op);
  // (an empty src is never read: every index is out of bounds for it)
  const Layout sl = s.numel() > 0 ? merged_layout(s, op) : Layout{};
  const int64_t n = out.numel(), size = s.numel();
  const BadFlag flag = new_bad_flag(device);
  dispatch_all(src.dtype, op, [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    take_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(s.ptr<const T>(), sl, size, idx, il,
                                                            pair[0].ptr<T>(), ol, contig, n,
                                                            flag.ptr());
    CUDA_CHECK_LAUNCH();
  });
  const int64_t pos = read_bad_flag(flag);
  if (pos < 0) return;
  const int64_t v = read_device_i64(idx + (contig ? pos : offset_of(il, pos)));
  throw_flat_index(op, v, size);
}

void Cuda::put_add(const ArrayView& dst, const ArrayView& index, const ArrayView& src) {
  const char* op = "put_add";
  if (index.numel() == 0) return;
  const int device = current_device();
  const int64_t size = dst.numel();
  int64_t bad = 0;
  if (find_bad_index(index, size, device, op, &bad)) throw_flat_index(op, bad, size);
  Scratch tmp_s, tmp_i;
  ArrayView pair[2] = {detach_if_overlapping(index, dst, tmp_i, device),
                       detach_if_overlapping(src, dst, tmp_s, device)};
  const bool contig = contiguous(pair[0]) && contiguous(pair[1]);
  merge_dims(pair, 2, op);
  const int64_t* idx = pair[0].ptr<const int64_t>();
  const Layout il = layout_of(pair[0], op), sl = layout_of(pair[1], op);
  const int64_t n = index.numel();
  dispatch_all(dst.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      put_add_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(
          dst.ptr<T>(), idx, il, pair[1].ptr<const T>(), sl, contig, n);
      CUDA_CHECK_LAUNCH();
    }
  });
}

void Cuda::index_select(const ArrayView& src, int axis, const ArrayView& index,
                        const ArrayView& out) {
  const char* op = "index_select";
  const int device = current_device();
  check_bounds_1d(index, src.shape[axis], axis, device, op);
  if (out.numel() == 0) return;
  Scratch tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, out, tmp_s, device);
  const ArrayView ix = detach_if_overlapping(index, out, tmp_i, device);
  const AxisShape a{ix.shape[0], prod(sub_view(s, axis + 1, s.ndim()).shape),
                    ix.ptr<const int64_t>(), ix.strides[0]};
  const Layout s_outer = merged_layout(sub_view(s, 0, axis), op);
  const Layout s_inner = merged_layout(sub_view(s, axis + 1, s.ndim()), op);
  const int64_t n = out.numel();
  dispatch_all(src.dtype, op, [&](auto tag) {
    using T = bits_t<typename decltype(tag)::type>;
    auto launch = [&](auto small) {
      index_select_kernel<T, decltype(small)::value><<<grid_for(n), kThreads, 0, stream()>>>(
          s.ptr<const T>(), s_outer, s_inner, s.strides[axis], a, out.ptr<T>(), n);
      CUDA_CHECK_LAUNCH();
    };
    if (n < kSmallLimit) launch(std::true_type{});
    else launch(std::false_type{});
  });
}

void Cuda::index_add(const ArrayView& dst, int axis, const ArrayView& index,
                     const ArrayView& src) {
  const char* op = "index_add";
  const int device = current_device();
  check_bounds_1d(index, dst.shape[axis], axis, device, op);
  if (src.numel() == 0) return;
  Scratch tmp_s, tmp_i;
  const ArrayView s = detach_if_overlapping(src, dst, tmp_s, device);
  const ArrayView ix = detach_if_overlapping(index, dst, tmp_i, device);
  const AxisShape a{ix.shape[0], prod(sub_view(s, axis + 1, s.ndim()).shape),
                    ix.ptr<const int64_t>(), ix.strides[0]};
  const Layout d_outer = merged_layout(sub_view(dst, 0, axis), op);
  const Layout d_inner = merged_layout(sub_view(dst, axis + 1, dst.ndim()), op);
  const Layout s_outer = merged_layout(sub_view(s, 0, axis), op);
  const Layout s_inner = merged_layout(sub_view(s, axis + 1, s.ndim()), op);
  const int64_t n = s.numel();
  dispatch_all(dst.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      auto launch = [&](auto small) {
        index_add_kernel<T, decltype(small)::value><<<grid_for(n), kThreads, 0, stream()>>>(
            dst.ptr<T>(), d_outer, d_inner, dst.strides[axis], s.ptr<const T>(), s_outer,
            s_inner, s.strides[axis], a, n);
        CUDA_CHECK_LAUNCH();
      };
      if (n < kSmallLimit) launch(std::true_type{});
      else launch(std::false_type{});
    }
  });
}

void bind_index(py::module_& m) { bind::index<Cuda>(m); }

}  // namespace tg::cuda
