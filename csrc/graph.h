// Graph mode's recording: while a Recording is active, every kernel call made through a backend's
// call wrapper (Cpu::call, Cuda::call) runs as usual and is also appended to it as a Call: the
// kernel (the binding's lambda, captured by value) with the views of its arrays. Replaying runs
// the Calls again from one C++ loop, reading and writing the same memory, with no Python between
// them; Python "host steps" (learning-rate schedules, step counts, random draws) sit between the
// Calls where the recorded function ran them. tapegrad/compile/ drives it.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"

namespace tg::graph {
namespace py = pybind11;

// How a kernel touches an array argument. Memory planning gives a buffer to the arena only when
// its first access overwrites it (so no value from before the recording is needed).
enum class Access : uint8_t { read, write, read_write };

struct ViewRef {
  ArrayView* view;
  Access access;
};

// A kernel call's name as a backend's call wrapper takes it, and whether the kernel reads host
// memory when it runs (an optimizer's lr and step counts in `hyper` and `steps`) or waits for
// the device (cross-entropy's count comes back to the host): on a GPU such calls are launched
// one by one, between the CUDA graphs that hold the other calls.
struct Op {
  Op(const char* name, bool reads_host = false) : name(name), reads_host(reads_host) {}
  const char* name;
  bool reads_host;
};

class Call {
 public:
  Call(const Op& op, int device)
      : op_(op.name), device_(device), capturable_(device >= 0 && !op.reads_host) {}
  virtual ~Call() = default;
  virtual void run() = 0;
  // Every array view of the call, with how the kernel accesses it (for planning and remapping).
  virtual void views(std::vector<ViewRef>& out) = 0;
  const std::string& op() const { return op_; }
  int device() const { return device_; }
  // A GPU call that a CUDA graph can hold.
  bool capturable() const { return capturable_; }

 private:
  std::string op_;
  int device_;  // -1: host memory
  bool capturable_;
};

// CUDA graphs, set by the CUDA backend when it is built (csrc/cuda/runtime.cu): capture()
// records calls [0, n), all on `device`, into an executable graph without running them, or
// returns null where they cannot be captured; launch() runs it on the device's stream.
struct DeviceGraphs {
  void* (*capture)(int device, Call* const* calls, size_t n);
  void (*launch)(void* graph);
  void (*destroy)(void* graph);
};
inline const DeviceGraphs* g_device_graphs = nullptr;

inline void push_views(std::vector<ViewRef>& out, ArrayView& v, Access a) { out.push_back({&v, a}); }
inline void push_views(std::vector<ViewRef>& out, std::optional<ArrayView>& v, Access a) {
  if (v) out.push_back({&*v, a});
}
inline void push_views(std::vector<ViewRef>& out, std::vector<ArrayView>& vs, Access a) {
  for (auto& v : vs) out.push_back({&v, a});
}

template <class Kernel, class... Views>
class KernelCall final : public Call {
 public:
  KernelCall(const Op& op, int device, Kernel kernel, std::tuple<Views...> views,
             std::array<Access, sizeof...(Views)> access)
      : Call(op, device),
        kernel_(std::move(kernel)),
        views_(std::move(views)),
        access_(access) {}
  void run() override { std::apply(kernel_, views_); }
  void views(std::vector<ViewRef>& out) override {
    size_t i = 0;
    std::apply([&](auto&... v) { (push_views(out, v, access_[i++]), ...); }, views_);
  }

 private:
  Kernel kernel_;
  std::tuple<Views...> views_;
  std::array<Access, sizeof...(Views)> access_;
};

// One step of a recording: a kernel call, or a host step run with the GIL: a Python callable,
// or a C++ one (`native`, then `host` is its name).
struct Step {
  std::unique_ptr<Call> call;
  py::object host;
  std::function<void()> native;
};

class Recording {
 public:
  Recording() = default;
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  ~Recording();

  std::vector<Step> steps;
  // The arrays the calls point into, referenced so that their memory outlives the recording
  // (tapegrad.compile drops the ones whose memory the arena replaces).
  std::vector<py::object> kept;
  bool paused = false;

  // Runs steps [begin, end): consecutive kernel calls without the GIL, host steps with it
  // (skipped when !host: the kernels alone, as the benchmarks time them). On a GPU, runs of
  // capturable calls are captured into CUDA graphs the first time and launched as one after.
  void run(size_t begin, size_t end, bool host = true);

  // The function's inputs (set_inputs and bind in graph.cpp). A bindable input is read from
  // the caller's array itself: a C-contiguous CPU array of the recorded dtype and shape, to
  // which bind() points the input's views. The others (device arrays, inputs that require
  // grad, inputs the function writes) stay in the recording's own buffers, copied into.
  struct InputSlot {
    bool bindable = false;
    int dtype = 0;  // numpy type number
    std::vector<py::ssize_t> shape;
    std::vector<std::pair<ArrayView*, ptrdiff_t>> views;  // every view into it, byte offsets

    // Whether `a` can stand in for the input: the layout above, and writeable (as eagerly, the
    // kernels may write where the function's tensors alias).
    bool accepts(py::handle a) const;
  };
  std::vector<InputSlot> inputs;

  // A run of GPU calls [first, end) and its CUDA graph (null where capture failed).
  struct DeviceRun {
    size_t end = 0;
    void* graph = nullptr;
  };
  std::map<size_t, DeviceRun> device_runs;  // by first step

 private:
  const DeviceRun& device_run(size_t first, size_t end);
};

// The recording this thread's kernel calls go to, or null: set and cleared by tapegrad.compile
// on the thread it records; kernels other threads launch meanwhile are not recorded.
inline thread_local Recording* g_active = nullptr;

inline bool recording() { return g_active != nullptr && !g_active->paused; }

template <class Kernel, class... Views>
void record(const Op& op, int device, const Kernel& kernel, std::tuple<Views...> views,
            std::array<Access, sizeof...(Views)> access, std::vector<py::object> keep) {
  using K = std::decay_t<Kernel>;  // a function is kept as a pointer
  Recording& r = *g_active;
  r.steps.push_back({std::make_unique<KernelCall<K, Views...>>(op, device, K(kernel),
                                                                std::move(views), access),
                     py::object()});
  for (auto& k : keep) r.kept.push_back(std::move(k));
}

// Keeps `obj` alive as long as the active recording (a host array a kernel reads when it runs).
inline void keep(py::handle obj) {
  if (recording()) g_active->kept.push_back(py::reinterpret_borrow<py::object>(obj));
}

// Binds _C.Recording and _C.set_recording (graph.cpp).
void bind(py::module_& m);

}  // namespace tg::graph
