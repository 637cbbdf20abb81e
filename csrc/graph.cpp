// _C.Recording: graph mode's list of recorded kernel calls and host steps (graph.h), with what
// tapegrad.compile needs around it: start/stop, replay, the buffers' lifetimes for memory
// planning, and moving a buffer's views to its place in the arena.
#include "graph.h"

#include <pybind11/stl.h>

#include <algorithm>

namespace tg::graph {

Recording::~Recording() {
  for (auto& [first, r] : device_runs)
    if (r.graph) g_device_graphs->destroy(r.graph);
}

const Recording::DeviceRun& Recording::device_run(size_t first, size_t end) {
  auto it = device_runs.find(first);
  if (it != device_runs.end()) return it->second;
  const int device = steps[first].call->device();
  size_t last = first;
  while (last < end && steps[last].call && steps[last].call->capturable() &&
         steps[last].call->device() == device)
    ++last;
  DeviceRun r;
  r.end = last;
  if (last - first >= 2) {  // a graph of one kernel saves nothing
    std::vector<Call*> calls;
    for (size_t k = first; k < last; ++k) calls.push_back(steps[k].call.get());
    r.graph = g_device_graphs->capture(device, calls.data(), calls.size());
  }
  return device_runs.emplace(first, r).first->second;
}

void Recording::run(size_t begin, size_t end, bool host) {
  TG_CHECK(begin <= end && end <= steps.size(), "Recording.run: steps [", begin, ", ", end,
           ") are not within the ", steps.size(), " recorded");
  size_t i = begin;
  while (i < end) {
    if (steps[i].call) {
      py::gil_scoped_release nogil;
      while (i < end && steps[i].call) {
        if (g_device_graphs != nullptr && steps[i].call->capturable()) {
          const DeviceRun& r = device_run(i, end);
          if (r.graph != nullptr && r.end <= end) {
            g_device_graphs->launch(r.graph);
            i = r.end;
            continue;
          }
          for (const size_t stop = std::min(r.end, end); i < stop; ++i) steps[i].call->run();
          continue;
        }
        steps[i].call->run();
        ++i;
      }
    } else {
      if (host) steps[i].host();
      ++i;
    }
  }
}

namespace {

// A buffer given by its address range [start, start + bytes).
struct Range {
  uintptr_t start, bytes;
  size_t index;  // its position in the caller's list
};

std::vector<Range> sorted_ranges(const std::vector<std::pair<uintptr_t, uintptr_t>>& ranges) {
  std::vector<Range> out;
  for (size_t i = 0; i < ranges.size(); ++i)
    if (ranges[i].second > 0) out.push_back({ranges[i].first, ranges[i].second, i});
  std::sort(out.begin(), out.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  for (size_t i = 1; i < out.size(); ++i)
    TG_CHECK(out[i - 1].start + out[i - 1].bytes <= out[i].start,
             "Recording: the buffers' address ranges overlap");
  return out;
}

// The range holding address p, or null.
const Range* find_range(const std::vector<Range>& sorted, uintptr_t p) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), p,
                             [](uintptr_t v, const Range& r) { return v < r.start; });
  if (it == sorted.begin()) return nullptr;
  --it;
  return p < it->start + it->bytes ? &*it : nullptr;
}

}  // namespace

void bind(py::module_& m) {
  using Ranges = std::vector<std::pair<uintptr_t, uintptr_t>>;
  py::class_<Recording>(m, "Recording",
                        "Kernel calls and host steps recorded by graph mode (tapegrad.compile).")
      .def(py::init<>())
      .def("start",
           [](Recording& r) {
             TG_CHECK(g_active == nullptr, "Recording.start: another recording is active");
             g_active = &r;
           },
           "Makes this the recording that this thread's kernel calls are appended to.")
      .def("stop",
           [](Recording& r) {
             if (g_active == &r) g_active = nullptr;
           })
      .def_property(
          "paused", [](const Recording& r) { return r.paused; },
          [](Recording& r, bool p) { r.paused = p; },
          "While True, kernel calls run without being recorded (one-time set-up such as "
          "creating optimizer state).")
      .def("add_host",
           [](Recording& r, py::object fn) {
             TG_CHECK(PyCallable_Check(fn.ptr()), "Recording.add_host: expected a callable");
             r.steps.push_back({nullptr, std::move(fn)});
           },
           py::arg("fn"), "Appends a host step: fn() is called at this point of each replay.")
      .def("__len__", [](const Recording& r) { return r.steps.size(); })
      .def("steps",
           [](const Recording& r) {
             py::list out;
             for (const Step& s : r.steps) {
               if (s.call)
                 out.append(py::make_tuple(s.call->op(), s.call->device()));
               else
                 out.append(py::make_tuple(s.host, py::none()));
             }
             return out;
           },
           "(op name, device) for each kernel call, (callable, None) for each host step.")
      .def("run", &Recording::run, py::arg("begin"), py::arg("end"), py::arg("host") = true,
           "Replays steps [begin, end); with host=False, only their kernel calls.")
      .def("device_graphs",
           [](const Recording& r) {
             std::vector<std::pair<size_t, size_t>> out;
             for (const auto& [first, run] : r.device_runs)
               if (run.graph) out.emplace_back(first, run.end);
             return out;
           },
           "The runs of steps [first, end) that replay as one CUDA graph each.")
      .def_property(
          "kept", [](const Recording& r) { return py::list(py::cast(r.kept)); },
          [](Recording& r, const std::vector<py::object>& kept) { r.kept = kept; },
          "The arrays the recorded calls point into, referenced by the recording.")
      .def("references",
           [](const Recording& r, py::handle obj) {
             size_t n = 0;
             for (const auto& k : r.kept) n += k.ptr() == obj.ptr();
             return n;
           },
           py::arg("obj"), "How many references to obj the recording holds.")
      .def("lifetimes",
           [](Recording& r, const Ranges& ranges) {
             // For each buffer: (first step, last step, whether the first access overwrites
             // it), or (-1, -1, False) when no call touches it.
             const std::vector<Range> sorted = sorted_ranges(ranges);
             std::vector<std::tuple<int64_t, int64_t, bool>> out(ranges.size(), {-1, -1, false});
             std::vector<ViewRef> views;
             for (size_t i = 0; i < r.steps.size(); ++i) {
               if (!r.steps[i].call) continue;
               views.clear();
               r.steps[i].call->views(views);
               for (const ViewRef& v : views) {
                 const Range* range = find_range(sorted, reinterpret_cast<uintptr_t>(v.view->data));
                 if (!range) continue;
                 auto& [first, last, overwrites] = out[range->index];
                 if (first < 0) {
                   first = static_cast<int64_t>(i);
                   overwrites = v.access == Access::write;
                 } else if (first == static_cast<int64_t>(i) && v.access != Access::write) {
                   overwrites = false;  // read by the same call that writes it first
                 }
                 last = static_cast<int64_t>(i);
               }
             }
             return out;
           },
           py::arg("ranges"),
           "For buffers given as (address, bytes): the first and last step touching each and "
           "whether its first access overwrites it.")
      .def("remap",
           [](Recording& r, const Ranges& ranges, const std::vector<uintptr_t>& targets) {
             TG_CHECK(ranges.size() == targets.size(), "Recording.remap: ", ranges.size(),
                      " ranges but ", targets.size(), " targets");
             const std::vector<Range> sorted = sorted_ranges(ranges);
             std::vector<ViewRef> views;
             for (Step& s : r.steps) {
               if (!s.call) continue;
               views.clear();
               s.call->views(views);
               for (const ViewRef& v : views) {
                 const auto p = reinterpret_cast<uintptr_t>(v.view->data);
                 if (const Range* range = find_range(sorted, p))
                   v.view->data = reinterpret_cast<void*>(targets[range->index] + (p - range->start));
               }
             }
           },
           py::arg("ranges"), py::arg("targets"),
           "Points every view into buffer i (address, bytes) at the same offset from targets[i].");
}

}  // namespace tg::graph
