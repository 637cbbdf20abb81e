// Shared by the CUDA kernel families (csrc/cuda/<family>.cu): the error check after every CUDA
// call and kernel launch, the stream kernels run on, device memory from the caching allocator,
// the by-value layout a kernel indexes a strided operand with, and the binding seam that turns
// a Python CUDA array (tapegrad.backend.cuda.CudaArray) into an ArrayView of device memory.
//
// Each family mirrors csrc/cpu/<family>.cpp: the same function names, arguments, checks and
// results, with CUDA arrays in place of numpy arrays. The families bound once for both
// backends (csrc/bind/) call the entry points of struct Cuda below.
#pragma once

#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "common.h"
#include "pyarray.h"

namespace tg::cuda {
namespace py = pybind11;

// ---------------------------------------------------------------------------------------------
// Errors. Every CUDA runtime call and every launch is checked; a failure is a C++ exception
// (RuntimeError in Python), never an abort. Running out of device memory, after the allocator
// has emptied its cache and retried, is OutOfMemory (tapegrad.cuda.OutOfMemoryError).
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws OutOfMemory for cudaErrorMemoryAllocation, std::runtime_error otherwise; the message
// names the failed expression and CUDA's description of the error. Defined in runtime.cu.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);

#define CUDA_CHECK(expr)                                                              \
  do {                                                                                \
    const cudaError_t tg_cuda_err_ = (expr);                                          \
    if (tg_cuda_err_ != cudaSuccess)                                                  \
      ::tg::cuda::throw_cuda_error(tg_cuda_err_, #expr, __FILE__, __LINE__);          \
  } while (0)

// After every <<<...>>>: a bad configuration (too many threads, too much shared memory) is
// reported here, at the launch, instead of surfacing later or hanging.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// ---------------------------------------------------------------------------------------------
// Devices and streams. Every kernel of a device runs on that device's one stream, so work is
// ordered without events, and memory freed by one op can be reused by the next at once.
// Host copies synchronise that stream. Kernel calls make their arrays' device current only for
// the call (DeviceGuard); the thread's device changes only through _C.cuda.set_device. Defined
// in runtime.cu.
cudaStream_t stream();           // the current device's stream, created on first use
int device_count();              // 0 when there is no driver or no GPU (never throws)
bool allow_tf32();               // float32 GEMMs may use TF32 tensor cores (off by default)

// The device the calling thread has current: inside a kernel entry point, the arrays' device
// (Cuda::call makes it current).
inline int current_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// Device memory from the caching allocator. A Block returns its memory to the cache when it
// dies; the cache hands it to the next request of a fitting size on the same device. With the
// environment variable TAPEGRAD_CUDA_NO_CACHE=1 every block is cudaMalloc'ed and cudaFree'd
// directly (for compute-sanitizer, which cannot see inside a cache). Defined in runtime.cu.
// The memory of one CUDA graph's kernels (runtime.cu): blocks allocated while the graph was
// captured are parked here when freed, not returned to the cache, because every launch of the
// graph uses them again; they go back to the cache when the graph is destroyed.
struct GraphMemory;

class Block {
 public:
  Block(int64_t nbytes, int device);  // throws OutOfMemory
  ~Block();
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  void* ptr() const { return ptr_; }
  int64_t nbytes() const { return nbytes_; }
  int device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  int64_t nbytes_ = 0;   // as requested
  int64_t reserved_ = 0; // as rounded by the allocator
  int device_ = 0;
  std::shared_ptr<GraphMemory> graph_;  // set when allocated during a graph capture
};

// Scratch device memory for the duration of one kernel call (reduction partials, an operand
// copied because it overlaps the output, cuBLAS workspace).
using Scratch = std::unique_ptr<Block>;
inline Scratch scratch(int64_t nbytes, int device) { return std::make_unique<Block>(nbytes, device); }

// ---------------------------------------------------------------------------------------------
// Strided operands inside kernels: shape and strides (in elements) by value, at most kMaxDims
// dims. layout_of() first merges dims that are contiguous with each other across ALL the
// operands of a call (merge_dims), so most calls index with one or two dims.
constexpr int kMaxDims = 8;

struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

// The element offset of the i-th element (C order) of a view with this layout.
__host__ __device__ inline int64_t offset_of(const Layout& l, int64_t i) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t s = l.shape[d];
    off += (i % s) * l.strides[d];
    i /= s;
  }
  return off;
}

// The views, all of the same shape, with adjacent dims merged wherever every view allows it and
// dims of size 1 dropped: same elements, same C order, fewer dims. Raises when more than
// kMaxDims dims remain. Defined in runtime.cu.
void merge_dims(ArrayView* views, int n, const char* op);

// A Layout of a view (its shape and strides, which must have at most kMaxDims dims).
Layout layout_of(const ArrayView& v, const char* op);

// True when a view's elements are contiguous in C order (kernels then index with i directly).
inline bool contiguous(const ArrayView& v) { return v.is_contiguous(); }

// Grid-stride launches: kThreads per block, enough blocks to fill the GPU, never more than
// needed for n elements (n > 0).
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = CEIL_DIV(n, static_cast<int64_t>(kThreads));
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

// ---------------------------------------------------------------------------------------------
// Group reduction: G consecutive threads (1, up to 32, or the whole block of kThreads) combine
// their values; every thread of the group gets the result. The combines must be commutative
// (all of ours are, up to the sign of a zero max), since the butterfly pairs lanes both ways.

template <class A>
__device__ __forceinline__ A shfl_xor(const A& a, int mask) {
  constexpr int W = (sizeof(A) + 3) / 4;  // any trivially copyable value, in 32-bit words
  unsigned w[W] = {};
  memcpy(w, &a, sizeof(A));
#pragma unroll
  for (int i = 0; i < W; ++i) w[i] = __shfl_xor_sync(0xffffffffu, w[i], mask);
  A r;
  memcpy(&r, w, sizeof(A));
  return r;
}

// Called by every thread of the block (it may synchronise the block).
template <int G, class A, class F>
__device__ __forceinline__ A group_reduce(A a, F combine) {
  static_assert(G == 1 || G == 8 || G == 32 || G == kThreads, "unsupported group size");
  if constexpr (G > 1) {
    constexpr int kWidth = G < 32 ? G : 32;
#pragma unroll
    for (int o = kWidth / 2; o > 0; o /= 2) a = combine(a, shfl_xor(a, o));
  }
  if constexpr (G > 32) {
    __shared__ A warp_acc[kThreads / 32];
    __syncthreads();  // an earlier call may still be reading warp_acc
    if (threadIdx.x % 32 == 0) warp_acc[threadIdx.x / 32] = a;
    __syncthreads();
    a = warp_acc[0];
#pragma unroll
    for (int w = 1; w < kThreads / 32; ++w) a = combine(a, warp_acc[w]);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// The binding seam. A Python CUDA array has `meta`, a numpy array (never read) whose data
// pointer, dtype, shape and strides are the device view's, and `buffer`, the _C.cuda.Buffer
// that owns the memory (and knows its device). Defined in runtime.cu.
struct Buffer {
  std::shared_ptr<Block> block;
};

// An ArrayView of a CUDA array's device memory; a TypeError naming `op` when `a` is not a CUDA
// array (a numpy array passed here would be read as device memory). `device` receives the
// array's device.
ArrayView device_view(py::handle a, const char* op, bool writable, int* device);

// Makes a device current for a scope and restores the caller's on exit, so that a kernel call
// leaves the thread's current device as it found it. Never throws on exit.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) CUDA_CHECK(cudaSetDevice(device));
    else prev_ = -1;
  }
  ~DeviceGuard() {
    if (prev_ >= 0 && cudaSetDevice(prev_) != cudaSuccess) (void)cudaGetLastError();
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

// Copies nbytes from the device into pageable host memory on the current device's stream and
// waits for it, without the GIL: the copy waits for every kernel queued before it, and other
// Python threads run meanwhile. The caller holds the GIL. Defined in runtime.cu.
void copy_to_host_nogil(void* dst, const void* src, int64_t nbytes);

// The CUDA backend: Python CUDA arrays, and the entry points of csrc/cuda/<family>.cu.
struct Cuda {
  using Array = py::object;  // a binding's required array argument
  static constexpr const char* kArrayKind = "a CUDA array";
  static bool is_array(py::handle a) {
    return py::isinstance<Buffer>(py::getattr(a, "buffer", py::none()));
  }
  static bool writeable(py::handle a) {
    const py::object meta = a.attr("meta");
    return !py::isinstance<py::array>(meta) || py::reinterpret_borrow<py::array>(meta).writeable();
  }
  static ArrayView array_view(py::handle a, const char* op, bool writable, int* device) {
    return device_view(a, op, writable, device);
  }

  // The body of a binding: views of the arrays (outputs checked writable), all on one device,
  // which is current while kernel(views...) validates and launches on stream(), and the
  // caller's again afterwards. Launches are asynchronous, so the GIL is kept.
  template <class Kernel, class... Args>
  static void call(const graph::Op& op, Kernel&& kernel, const Args&... args) {
    CallViews<Cuda> c{op.name};
    std::tuple<decltype(c(args))...> views{c(args)...};
    const int device = c.device;
    if (c.recording) {
      // Replayed calls set their device themselves; the kernel is kept by value (see Cpu::call).
      auto on_device = [device, k = std::decay_t<Kernel>(kernel)](auto&... v) mutable {
        std::optional<DeviceGuard> guard;
        if (device >= 0) guard.emplace(device);
        k(v...);
      };
      std::apply(on_device, views);
      graph::record(op, device, on_device, std::move(views), {access_of(args)...},
                    std::move(c.keep));
      return;
    }
    std::optional<DeviceGuard> guard;
    if (device >= 0) guard.emplace(device);
    std::apply(kernel, views);
  }

#include "kernels.inc"
};

// Returns `in`, or a C-contiguous device copy of it held in `tmp` when it shares memory with
// `out` in any way other than naming the very same elements (the CPU rule: the result is as if
// all inputs were read before any output was written). Defined in elementwise.cu.
ArrayView detach_if_overlapping(const ArrayView& in, const ArrayView& out, Scratch& tmp,
                                int device);

// A contiguous device copy of `src` into `dst` (any strides, same shape; dtypes may differ).
// Defined in elementwise.cu; the copy kernel behind _C.cuda.copy.
void copy_kernel(const ArrayView& src, const ArrayView& dst);

}  // namespace tg::cuda
