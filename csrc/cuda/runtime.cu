// The CUDA runtime of tapegrad: error reporting, one stream per device, the caching device
// allocator behind Block (with its statistics), dim merging for strided kernels, the binding
// seam that turns a Python CUDA array into an ArrayView, and the `_C.cuda` functions that manage
// devices, memory and host copies (Buffer, alloc, copy_from_host, copy_to_host, ...).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "cuda/common.cuh"

#ifndef TAPEGRAD_CUDA_VERSION
#define TAPEGRAD_CUDA_VERSION "unknown"
#endif
#ifndef TAPEGRAD_CUDA_ARCHS
#define TAPEGRAD_CUDA_ARCHS "unknown"
#endif

namespace tg::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  (void)cudaGetLastError();  // a non-sticky error must not resurface at the next check
  const char* base = std::strrchr(file, '/');
  const std::string msg = detail::cat("CUDA error: ", cudaGetErrorString(err), " (",
                                      cudaGetErrorName(err), ") in ", expr, " at ",
                                      base ? base + 1 : file, ":", line);
  if (err == cudaErrorMemoryAllocation) throw OutOfMemory(msg);
  throw std::runtime_error(msg);
}

struct GraphMemory {
  explicit GraphMemory(int device) : device(device) {}
  ~GraphMemory();  // the parked blocks go back to the cache
  int device;
  std::multimap<int64_t, void*> parked;  // by size, as the cache
};

namespace {

// ---------------------------------------------------------------------------------------------
// Streams. Created on first use and never destroyed (they live as long as the process); the
// lookup on every kernel call is a lock-free load, the mutex only guards creation.
constexpr int kMaxDevices = 64;
std::atomic<cudaStream_t> g_streams[kMaxDevices];
std::mutex g_stream_mu;
std::atomic<bool> g_allow_tf32{false};

// The device's stream if one was created (nothing ran on the device otherwise), else nullptr.
cudaStream_t existing_stream(int device) {
  return device >= 0 && device < kMaxDevices ? g_streams[device].load(std::memory_order_acquire)
                                             : nullptr;
}

// ---------------------------------------------------------------------------------------------
// The caching allocator. Every kernel of a device runs on its one stream, so a block freed on
// the host can be handed out again at once: whatever the next owner enqueues runs after the
// work still using the block. The state is deliberately leaked: Blocks may die during
// interpreter shutdown, after static destructors have run.
struct DeviceCache {
  std::multimap<int64_t, void*> free;  // cached blocks by size (best fit = lower_bound)
  int64_t allocated = 0, peak = 0, reserved = 0;
};

struct Allocator {
  std::mutex mu;
  std::map<int, DeviceCache> dev;  // std::map: references stay valid as devices are added
  std::map<int, std::shared_ptr<GraphMemory>> capturing;  // the graph each device captures
};

Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

bool no_cache() {
  static const bool off = [] {
    const char* e = std::getenv("TAPEGRAD_CUDA_NO_CACHE");
    return e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0;
  }();
  return off;
}

constexpr int64_t kMinBlock = 512;
constexpr int64_t kLarge = int64_t{1} << 20;      // requests from here on are rounded to ...
constexpr int64_t kLargeRound = int64_t{2} << 20; // ... whole 2 MiB, to limit fragmentation

int64_t round_size(int64_t n) {
  if (n < kLarge) return n <= kMinBlock ? kMinBlock : CEIL_DIV(n, kMinBlock) * kMinBlock;
  return CEIL_DIV(n, kLargeRound) * kLargeRound;
}

std::string format_bytes(double b) {
  char buf[32];
  if (b >= double(1 << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1 << 30));
  else if (b >= double(1 << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1 << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024);
  else std::snprintf(buf, sizeof buf, "%.0f bytes", b);
  return buf;
}

// Best fit from `blocks` (never a block twice the size), removed from it; null if none fits.
void* take_fitting(std::multimap<int64_t, void*>& blocks, int64_t size, int64_t* reserved) {
  auto it = blocks.lower_bound(size);
  if (it == blocks.end() || it->first >= 2 * size) return nullptr;
  void* p = it->second;
  *reserved = it->first;
  blocks.erase(it);
  return p;
}

// Returns a device's cached blocks to the driver, once the work that used them has finished.
// The device is current and the allocator's mutex is held.
void release_cached(int device, DeviceCache& c) {
  if (c.free.empty()) return;
  if (cudaStream_t s = existing_stream(device)) CUDA_CHECK(cudaStreamSynchronize(s));
  while (!c.free.empty()) {
    auto it = c.free.begin();
    CUDA_CHECK(cudaFree(it->second));
    c.reserved -= it->first;
    c.free.erase(it);
  }
}

void check_device(const char* op, int device) {
  const int n = device_count();
  TG_CHECK(device >= 0 && device < n, op, ": invalid device index ", device, " (there ",
           n == 1 ? "is " : "are ", n, n == 1 ? " CUDA device)" : " CUDA devices)");
}

}  // namespace

cudaStream_t stream() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  TG_CHECK_RT(device < kMaxDevices, "tapegrad supports at most ", kMaxDevices, " CUDA devices");
  if (cudaStream_t s = g_streams[device].load(std::memory_order_acquire)) return s;
  std::lock_guard<std::mutex> lk(g_stream_mu);
  cudaStream_t s = g_streams[device].load(std::memory_order_relaxed);
  if (s == nullptr) {
    // Non-blocking: no implicit synchronisation with the legacy default stream that other
    // libraries in the process may use.
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    g_streams[device].store(s, std::memory_order_release);
  }
  return s;
}

void copy_to_host_nogil(void* dst, const void* src, int64_t nbytes) {
  const cudaStream_t s = stream();
  // A graph-mode replay runs its kernels without the GIL already (graph.cpp).
  std::optional<py::gil_scoped_release> nogil;
  if (PyGILState_Check()) nogil.emplace();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(nbytes), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

int device_count() {
  // Fixed for the life of the process (CUDA_VISIBLE_DEVICES is read once by the driver).
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      (void)cudaGetLastError();
      count = 0;
    }
    return count;
  }();
  return n;
}

// A kernel that does nothing: whether the driver finds machine code or PTX of it for a device
// tells whether this build's kernels can run there at all (a build without the GPU's
// architecture, say sm_80 code on a T4, is seen but unusable).
__global__ void probe_kernel() {}

bool kernels_load_on_every_device() {
  static const bool ok = [] {
    const int n = device_count();
    if (n == 0) return false;
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) return false;
    bool all = true;
    for (int d = 0; d < n && all; ++d) {
      cudaFuncAttributes attr;
      all = cudaSetDevice(d) == cudaSuccess &&
            cudaFuncGetAttributes(&attr, reinterpret_cast<const void*>(&probe_kernel)) == cudaSuccess;
    }
    (void)cudaGetLastError();
    (void)cudaSetDevice(current);
    return all;
  }();
  return ok;
}

bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

Block::Block(int64_t nbytes, int device) : nbytes_(nbytes), device_(device) {
  TG_CHECK(nbytes >= 0, "CUDA allocation: negative size ", nbytes);
  check_device("CUDA allocation", device);
  // Beyond any GPU's memory; also keeps the rounding below from overflowing.
  if (nbytes > (int64_t{1} << 56))
    throw OutOfMemory(detail::cat("CUDA out of memory: tried to allocate ",
                                  format_bytes(double(nbytes)), " on cuda:", device));
  const int64_t size = round_size(nbytes);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lk(a.mu);
  DeviceCache& c = a.dev[device];
  if (auto g = a.capturing.find(device); g != a.capturing.end()) {
    graph_ = g->second;  // a graph being captured: its own parked blocks first
    ptr_ = take_fitting(graph_->parked, size, &reserved_);
  }
  // Best fit, but never a block twice the size: that would waste more than it saves.
  if (ptr_ == nullptr && !no_cache()) ptr_ = take_fitting(c.free, size, &reserved_);
  if (ptr_ == nullptr) {
    DeviceGuard guard(device);
    cudaError_t err = cudaMalloc(&ptr_, static_cast<size_t>(size));
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(device, c);
      err = cudaMalloc(&ptr_, static_cast<size_t>(size));
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
      ptr_ = nullptr;
      throw OutOfMemory(detail::cat(
          "CUDA out of memory: tried to allocate ", format_bytes(double(nbytes)), " on cuda:",
          device, " (", format_bytes(double(c.allocated)), " allocated by tapegrad, ",
          format_bytes(double(c.reserved)), " reserved, ", format_bytes(double(free_b)),
          " free of ", format_bytes(double(total_b)), ")"));
    }
    if (err != cudaSuccess) {
      ptr_ = nullptr;
      throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    }
    reserved_ = size;
    c.reserved += size;
  }
  c.allocated += reserved_;
  if (c.allocated > c.peak) c.peak = c.allocated;
}

Block::~Block() {
  if (ptr_ == nullptr) return;
  try {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lk(a.mu);
    DeviceCache& c = a.dev[device_];
    c.allocated -= reserved_;
    if (graph_) {  // the graph's launches use this block again
      graph_->parked.emplace(reserved_, ptr_);
      return;
    }
    if (!no_cache()) {
      c.free.emplace(reserved_, ptr_);
      return;
    }
    c.reserved -= reserved_;
    // At interpreter exit the runtime may already be unloaded (cudaErrorCudartUnloading):
    // every call here may fail, and the process is ending anyway, so failures are dropped.
    int prev = -1;
    if (cudaGetDevice(&prev) == cudaSuccess &&
        (prev == device_ || cudaSetDevice(device_) == cudaSuccess)) {
      const cudaStream_t s = existing_stream(device_);
      if (s == nullptr || cudaStreamSynchronize(s) == cudaSuccess) (void)cudaFree(ptr_);
      if (prev != device_) (void)cudaSetDevice(prev);
    }
    (void)cudaGetLastError();
  } catch (...) {
  }
}

GraphMemory::~GraphMemory() {
  try {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lk(a.mu);
    DeviceCache& c = a.dev[device];
    for (auto& [size, ptr] : parked) c.free.emplace(size, ptr);
    if (no_cache()) {
      DeviceGuard guard(device);
      release_cached(device, c);
    }
  } catch (...) {
  }
}

// ---------------------------------------------------------------------------------------------
// CUDA graphs of recorded calls (graph.h). Capture records the launches on the device's stream
// without running them; the scratch blocks the kernels allocate meanwhile belong to the graph
// (GraphMemory). A call that cannot be captured (one that waits for the device, say) fails the
// capture, and the caller runs those calls one by one instead.
namespace {

struct DeviceGraph {
  cudaGraphExec_t exec;
  std::shared_ptr<GraphMemory> memory;
  int device;
};

void* capture_calls(int device, graph::Call* const* calls, size_t n) {
  try {
    DeviceGuard guard(device);
    const cudaStream_t s = stream();
    auto memory = std::make_shared<GraphMemory>(device);
    Allocator& a = allocator();
    {
      std::lock_guard<std::mutex> lk(a.mu);
      a.capturing[device] = memory;
    }
    cudaGraph_t g = nullptr;
    // Relaxed: the allocator may call cudaMalloc while the stream is being captured.
    bool ok = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess;
    if (ok) {
      try {
        for (size_t k = 0; k < n; ++k) calls[k]->run();
      } catch (...) {
        ok = false;
      }
      if (cudaStreamEndCapture(s, &g) != cudaSuccess || g == nullptr) ok = false;
    }
    {
      std::lock_guard<std::mutex> lk(a.mu);
      a.capturing.erase(device);
    }
    cudaGraphExec_t exec = nullptr;
    if (ok && cudaGraphInstantiateWithFlags(&exec, g, 0) != cudaSuccess) {
      exec = nullptr;
      ok = false;
    }
    if (g != nullptr) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();  // a failed capture leaves nothing behind
    if (!ok) return nullptr;
    return new DeviceGraph{exec, std::move(memory), device};
  } catch (...) {
    (void)cudaGetLastError();
    return nullptr;
  }
}

void launch_graph(void* p) {
  const auto* d = static_cast<const DeviceGraph*>(p);
  DeviceGuard guard(d->device);
  CUDA_CHECK(cudaGraphLaunch(d->exec, stream()));
}

void destroy_graph(void* p) {
  const auto* d = static_cast<const DeviceGraph*>(p);
  (void)cudaGraphExecDestroy(d->exec);
  (void)cudaGetLastError();
  delete d;
}

// TAPEGRAD_CUDA_GRAPHS=0 replays recorded GPU calls one launch at a time.
bool device_graphs_enabled() {
  const char* e = std::getenv("TAPEGRAD_CUDA_GRAPHS");
  return e == nullptr || std::strcmp(e, "0") != 0;
}

const graph::DeviceGraphs kDeviceGraphs{&capture_calls, &launch_graph, &destroy_graph};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Layouts.
void merge_dims(ArrayView* views, int n, const char* op) {
  if (n <= 0) return;
  const Dims shape = views[0].shape;
  for (int k = 1; k < n; ++k)
    TG_CHECK(views[k].shape == shape, op, ": internal error: operand shapes ",
             shape_str(views[k].shape), " and ", shape_str(shape), " differ");
  Dims mshape;
  std::vector<Dims> mstrides(n);
  if (views[0].numel() == 0) {  // nothing is indexed; one empty dim keeps numel() == 0
    mshape.push_back(0);
    for (auto& s : mstrides) s.push_back(1);
  } else {
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      bool merge = !mshape.empty();
      for (int k = 0; k < n && merge; ++k)
        merge = mstrides[k].back() == views[k].strides[d] * shape[d];
      if (merge) {
        mshape.back() *= shape[d];
        for (int k = 0; k < n; ++k) mstrides[k].back() = views[k].strides[d];
      } else {
        mshape.push_back(shape[d]);
        for (int k = 0; k < n; ++k) mstrides[k].push_back(views[k].strides[d]);
      }
    }
  }
  TG_CHECK(mshape.size() <= size_t(kMaxDims), op, ": arrays with more than ", kMaxDims,
           " non-mergeable dims are not supported on CUDA (got ", mshape.size(), " in shape ",
           shape_str(shape), ")");
  for (int k = 0; k < n; ++k) {
    views[k].shape = mshape;
    views[k].strides = std::move(mstrides[k]);
  }
}

Layout layout_of(const ArrayView& v, const char* op) {
  TG_CHECK(v.ndim() <= kMaxDims, op, ": arrays with more than ", kMaxDims,
           " dims are not supported on CUDA (got shape ", shape_str(v.shape), ")");
  Layout l;
  l.ndim = v.ndim();
  for (int d = 0; d < l.ndim; ++d) {
    l.shape[d] = v.shape[d];
    l.strides[d] = v.strides[d];
  }
  return l;
}

// ---------------------------------------------------------------------------------------------
// The binding seam.
ArrayView device_view(py::handle a, const char* op, bool writable, int* device) {
  const py::object buf = py::getattr(a, "buffer", py::none());
  if (!py::isinstance<Buffer>(buf))
    throw py::type_error(detail::cat(op, ": expected a CUDA array, got ", Py_TYPE(a.ptr())->tp_name));
  const Block* block = buf.cast<const Buffer&>().block.get();
  TG_CHECK_RT(block != nullptr, op, ": CUDA array has no memory");
  const py::object meta = a.attr("meta");
  if (!py::isinstance<py::array>(meta))
    throw py::type_error(detail::cat(op, ": CUDA array meta is not a numpy array"));
  ArrayView v = view_of(py::reinterpret_borrow<py::array>(meta), op, writable);
  if (v.numel() > 0) {
    const auto span = byte_span(v);
    const auto lo = reinterpret_cast<uintptr_t>(block->ptr());
    const auto hi = lo + static_cast<uintptr_t>(block->nbytes());
    TG_CHECK(reinterpret_cast<uintptr_t>(span.first) >= lo &&
                 reinterpret_cast<uintptr_t>(span.second) <= hi,
             op, ": array view lies outside its buffer");
  }
  *device = block->device();
  return v;
}

// ---------------------------------------------------------------------------------------------
// Bindings.
namespace {

// Host copies move whole C-contiguous arrays on the array's device (the caller's current device
// is restored); the stream is synchronised before returning, so the host array may be freed or
// read at once. Both directions wait for the work queued on the stream, however small the copy,
// so the wait runs without the GIL.
void host_copy(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind, int device) {
  if (nbytes == 0) return;
  DeviceGuard guard(device);
  const cudaStream_t s = stream();
  py::gil_scoped_release nogil;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(nbytes), kind, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

ArrayView contiguous_device_view(py::handle a, const char* op, bool writable, int* device) {
  ArrayView v = device_view(a, op, writable, device);
  TG_CHECK(contiguous(v), op, ": expected a contiguous CUDA array");
  return v;
}

int64_t memory_stat(int device, int64_t DeviceCache::*field, const char* op) {
  check_device(op, device);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lk(a.mu);
  return a.dev[device].*field;
}

}  // namespace

void bind_runtime(py::module_& m) {
  if (device_graphs_enabled()) graph::g_device_graphs = &kDeviceGraphs;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OutOfMemory& e) {
      py::object cls;
      try {
        cls = py::module_::import("tapegrad.cuda").attr("OutOfMemoryError");
      } catch (const py::error_already_set&) {
        PyErr_Clear();
      }
      PyErr_SetString(cls ? cls.ptr() : PyExc_MemoryError, e.what());
    }
  });

  py::class_<Buffer, std::shared_ptr<Buffer>>(m, "Buffer", "Device memory owned by CUDA arrays.")
      .def_property_readonly("ptr", [](const Buffer& b) { return reinterpret_cast<uintptr_t>(b.block->ptr()); })
      .def_property_readonly("nbytes", [](const Buffer& b) { return b.block->nbytes(); })
      .def_property_readonly("device", [](const Buffer& b) { return b.block->device(); })
      .def("__repr__", [](const Buffer& b) {
        return detail::cat("<Buffer ", b.block->nbytes(), " bytes on cuda:", b.block->device(), ">");
      });

  m.def("alloc", [](int64_t nbytes, int device) {
    TG_CHECK(nbytes >= 0, "alloc: expected a non-negative size, got ", nbytes);
    check_device("alloc", device);
    return std::make_shared<Buffer>(Buffer{std::make_shared<Block>(nbytes, device)});
  }, py::arg("nbytes"), py::arg("device"), "Device memory of nbytes bytes from the caching allocator.");

  m.def("copy_from_host", [](const py::array& src, py::handle dst) {
    const char* op = "copy_from_host";
    int device = -1;
    const ArrayView d = contiguous_device_view(dst, op, true, &device);
    TG_CHECK(src.flags() & py::array::c_style, op, ": expected a C-contiguous numpy array");
    const int64_t nbytes = d.numel() * dtype_size(d.dtype);
    TG_CHECK(src.nbytes() == nbytes, op, ": sizes differ: ", src.nbytes(), " bytes from the host, ",
             nbytes, " bytes on the device");
    host_copy(d.data, src.data(), nbytes, cudaMemcpyHostToDevice, device);
  }, py::arg("src"), py::arg("dst"), "Copy a numpy array into a contiguous CUDA array.");

  m.def("copy_to_host", [](py::handle src, const py::array& dst) {
    const char* op = "copy_to_host";
    int device = -1;
    const ArrayView s = contiguous_device_view(src, op, false, &device);
    TG_CHECK((dst.flags() & py::array::c_style) && dst.writeable(), op,
             ": expected a writable C-contiguous numpy array");
    const int64_t nbytes = s.numel() * dtype_size(s.dtype);
    TG_CHECK(dst.nbytes() == nbytes, op, ": sizes differ: ", nbytes, " bytes on the device, ",
             dst.nbytes(), " bytes on the host");
    host_copy(const_cast<void*>(dst.data()), s.data, nbytes, cudaMemcpyDeviceToHost, device);
  }, py::arg("src"), py::arg("dst"), "Copy a contiguous CUDA array into a numpy array.");

  m.def("is_available", [] { return kernels_load_on_every_device(); },
        "True when a CUDA GPU is there and this build's kernels can run on it (its architecture "
        "or compatible PTX was compiled in).");
  m.def("device_count", &device_count, "Number of CUDA devices (0 without driver or GPU).");
  m.def("synchronize", [](int device) {
    if (device == -1 && device_count() > 0) CUDA_CHECK(cudaGetDevice(&device));
    check_device("synchronize", device);
    if (cudaStream_t s = existing_stream(device)) {
      py::gil_scoped_release nogil;
      CUDA_CHECK(cudaStreamSynchronize(s));
    }
  }, py::arg("device") = -1, "Wait for all kernels queued on a device (-1: the current one).");
  m.def("current_device", [] {
    int d = 0;
    CUDA_CHECK(cudaGetDevice(&d));
    return d;
  }, "Index of the current device.");
  m.def("set_device", [](int device) {
    check_device("set_device", device);
    CUDA_CHECK(cudaSetDevice(device));
  }, py::arg("device"), "Make a device current for the calling thread.");
  m.def("get_device_name", [](int device) {
    check_device("get_device_name", device);
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    return std::string(prop.name);
  }, py::arg("device"), "The device's name.");
  m.def("get_device_capability", [](int device) {
    check_device("get_device_capability", device);
    int major = 0, minor = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    return py::make_tuple(major, minor);
  }, py::arg("device"), "The device's compute capability (major, minor).");
  m.def("memory_allocated", [](int device) {
    return memory_stat(device, &DeviceCache::allocated, "memory_allocated");
  }, py::arg("device"), "Bytes of device memory in use by arrays (allocator blocks).");
  m.def("max_memory_allocated", [](int device) {
    return memory_stat(device, &DeviceCache::peak, "max_memory_allocated");
  }, py::arg("device"), "Peak of memory_allocated since the start or the last reset.");
  m.def("memory_reserved", [](int device) {
    return memory_stat(device, &DeviceCache::reserved, "memory_reserved");
  }, py::arg("device"), "Bytes held from the driver: in use plus cached.");
  m.def("reset_peak_memory_stats", [](int device) {
    check_device("reset_peak_memory_stats", device);
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lk(a.mu);
    DeviceCache& c = a.dev[device];
    c.peak = c.allocated;
  }, py::arg("device"), "Restart max_memory_allocated from the current use.");
  m.def("empty_cache", [] {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lk(a.mu);
    for (auto& [device, c] : a.dev) {
      if (c.free.empty()) continue;
      DeviceGuard guard(device);
      release_cached(device, c);
    }
  }, "Return cached, unused device memory to the driver.");
  m.def("set_allow_tf32", [](bool on) { g_allow_tf32.store(on); }, py::arg("allow"),
        "Let float32 matmuls use TF32 tensor cores.");
  m.def("get_allow_tf32", &allow_tf32, "Whether float32 matmuls may use TF32 tensor cores.");
  m.def("caching_enabled", [] { return !no_cache(); },
        "False when TAPEGRAD_CUDA_NO_CACHE=1 turned the caching allocator off.");
  m.def("build_info", [] {
    py::dict d;
    d["cuda_version"] = TAPEGRAD_CUDA_VERSION;
    d["archs"] = TAPEGRAD_CUDA_ARCHS;
#ifdef TAPEGRAD_HAS_CUBLAS
    d["cublas"] = true;
#else
    d["cublas"] = false;
#endif
    int rt = 0, drv = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) {
      (void)cudaGetLastError();
      rt = 0;
    }
    if (cudaDriverGetVersion(&drv) != cudaSuccess) {
      (void)cudaGetLastError();
      drv = 0;
    }
    d["runtime_version"] = rt;
    d["driver_version"] = drv;
    return d;
  }, "How the CUDA backend was built, and the runtime and driver it found.");
}

}  // namespace tg::cuda
