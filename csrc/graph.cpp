// _C.Recording: graph mode's list of recorded kernel calls and host steps (graph.h), with what
// tapegrad.compile needs around it: start/stop, replay, the buffers' lifetimes for memory
// planning, and moving a buffer's views to its place in the arena.
#include "graph.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <structmember.h>

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
      if (host && steps[i].native)
        steps[i].native();
      else if (host)
        steps[i].host();
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

const py::int_& one() {
  static const py::int_* value = new py::int_(1);  // never freed: outlives the interpreter's end
  return *value;
}

// The byte offset of a __slots__ member `name` of `type`, or -1.
Py_ssize_t slot_offset(py::handle type, const char* name) {
  const py::object descr = py::getattr(type, name, py::none());
  if (!Py_IS_TYPE(descr.ptr(), &PyMemberDescr_Type)) return -1;
  const PyMemberDef* member = reinterpret_cast<PyMemberDescrObject*>(descr.ptr())->d_member;
  return member->type == T_OBJECT_EX ? member->offset : -1;
}

PyObject* slot(PyObject* obj, Py_ssize_t offset) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(obj) + offset);
}

// An attribute of one object, read where it lives: a __slots__ member (Tensor's _data and _grad)
// straight from the instance, anything else through getattr.
class Attr {
 public:
  Attr(py::handle obj, const py::str& name) : obj_(py::reinterpret_borrow<py::object>(obj)), name_(name) {
    offset_ = slot_offset(py::type::of(obj), std::string(name).c_str());
  }
  // A new reference, or null (with no Python error set) where the attribute is missing.
  py::object get() const {
    if (offset_ >= 0) return py::reinterpret_borrow<py::object>(slot(obj_.ptr(), offset_));
    PyObject* v = PyObject_GetAttr(obj_.ptr(), name_.ptr());
    if (v == nullptr) PyErr_Clear();
    return py::reinterpret_steal<py::object>(v);
  }
  void set(const py::object& value) const { py::setattr(obj_, name_, value); }

 private:
  py::object obj_;
  py::str name_;
  Py_ssize_t offset_ = -1;
};

// What a replay checks first and restores after (tapegrad.compile's guards): attributes that
// must still be the recorded objects, containers whose items must be, and attributes to set
// back to the recorded objects.
class Guards {
 public:
  void expect(py::handle obj, const py::str& name, py::handle value) {
    attrs_.push_back({Attr(obj, name), py::reinterpret_borrow<py::object>(value)});
  }
  void expect_items(py::handle container, const std::vector<py::object>& values) {
    TG_CHECK(PyDict_Check(container.ptr()) || PyList_Check(container.ptr()),
             "Guards.expect_items: expected a dict or a list");
    items_.push_back({py::reinterpret_borrow<py::object>(container), values});
  }
  void restore(py::handle obj, const py::str& name, py::handle value) {
    restores_.push_back({Attr(obj, name), py::reinterpret_borrow<py::object>(value)});
  }

  bool check() const {
    for (const auto& [attr, value] : attrs_)
      if (!attr.get().is(value)) return false;
    for (const auto& [container, values] : items_) {
      PyObject* c = container.ptr();
      if (PyDict_Check(c)) {
        if (static_cast<size_t>(PyDict_Size(c)) != values.size()) return false;
        Py_ssize_t pos = 0, i = 0;
        PyObject *key, *value;
        while (PyDict_Next(c, &pos, &key, &value))
          if (value != values[i++].ptr()) return false;
      } else {
        if (static_cast<size_t>(PyList_GET_SIZE(c)) != values.size()) return false;
        for (size_t i = 0; i < values.size(); ++i)
          if (PyList_GET_ITEM(c, i) != values[i].ptr()) return false;
      }
    }
    return true;
  }
  void apply() const {
    for (const auto& [attr, value] : restores_)
      if (!attr.get().is(value)) attr.set(value);
  }

 private:
  std::vector<std::pair<Attr, py::object>> attrs_, restores_;
  std::vector<std::pair<py::object, std::vector<py::object>>> items_;
};

// A replay of one recording of a compiled step or no-grad function, entered straight from its
// positional arguments: the signature check, the guards, binding the inputs, the replay and
// the outputs, in one call (tapegrad.compile's common case; every other call, and any call
// whose checks fail here, goes through the full path in Python).
class Replay {
 public:
  Replay(py::object recording, py::object guards, py::object tensor_type, py::object wrap,
         size_t n_args, std::vector<size_t> tensor_positions,
         std::vector<std::pair<size_t, py::object>> values, py::object grad_state,
         bool grad_enabled, std::vector<py::object> modules, std::vector<bool> training,
         std::vector<py::object> outputs, bool single_output, std::vector<py::object> bound)
      : recording_(std::move(recording)),
        rec_(recording_.cast<Recording&>()),
        guards_(std::move(guards)),
        tensor_type_(std::move(tensor_type)),
        wrap_(std::move(wrap)),
        n_args_(n_args),
        tensor_positions_(std::move(tensor_positions)),
        values_(std::move(values)),
        grad_state_(std::move(grad_state)),
        grad_enabled_(grad_enabled),
        modules_(std::move(modules)),
        training_(std::move(training)),
        outputs_(std::move(outputs)),
        single_output_(single_output),
        bound_(std::move(bound)) {
    data_offset_ = slot_offset(tensor_type_, "_data");
    requires_grad_offset_ = slot_offset(tensor_type_, "_requires_grad");
    TG_CHECK(data_offset_ >= 0 && requires_grad_offset_ >= 0,
             "Replay: the tensor type keeps _data and _requires_grad in __slots__");
    TG_CHECK(tensor_positions_.size() == rec_.inputs.size(), "Replay: ",
             tensor_positions_.size(), " tensor arguments for ", rec_.inputs.size(), " inputs");
    for (const Recording::InputSlot& s : rec_.inputs)
      TG_CHECK(s.bindable, "Replay: every input must be one the caller's array can stand in for");
    for (const py::object& o : outputs_)
      TG_CHECK(py::isinstance<py::array>(o), "Replay: the outputs must be numpy arrays");
    learn_tensor_slots();
  }

  // The outputs, or None where a check fails (the caller then takes the full path).
  py::object operator()(const py::tuple& args) {
    if (args.size() != n_args_) return py::none();
    const py::object enabled = py::reinterpret_steal<py::object>(
        PyObject_GetAttr(grad_state_.ptr(), enabled_name_.ptr()));
    if (!enabled || PyObject_IsTrue(enabled.ptr()) != int(grad_enabled_)) return py::none();
    for (size_t i = 0; i < modules_.size(); ++i) {
      const py::object t = py::reinterpret_steal<py::object>(
          PyObject_GetAttr(modules_[i].ptr(), training_name_.ptr()));
      if (!t || !PyBool_Check(t.ptr()) || (t.ptr() == Py_True) != training_[i]) return py::none();
    }
    for (const auto& [position, value] : values_) {
      PyObject* a = PyTuple_GET_ITEM(args.ptr(), position);
      if (Py_TYPE(a) != Py_TYPE(value.ptr()) || PyObject_RichCompareBool(a, value.ptr(), Py_EQ) != 1) {
        PyErr_Clear();
        return py::none();
      }
    }
    // The caller's arrays, each of which must be able to stand in for its input (the
    // signature's dtype and shape among the rest).
    given_.clear();
    for (size_t k = 0; k < tensor_positions_.size(); ++k) {
      PyObject* a = PyTuple_GET_ITEM(args.ptr(), tensor_positions_[k]);
      if (!PyObject_TypeCheck(a, reinterpret_cast<PyTypeObject*>(tensor_type_.ptr())))
        return py::none();
      if (slot(a, requires_grad_offset_) != Py_False) return py::none();
      PyObject* data = slot(a, data_offset_);
      if (data == nullptr || !rec_.inputs[k].accepts(data)) return py::none();
      given_.push_back(py::reinterpret_borrow<py::object>(data));
    }
    if (!guards_.cast<const Guards&>().check()) return py::none();
    for (size_t k = 0; k < given_.size(); ++k) {
      char* base = static_cast<char*>(
          const_cast<void*>(py::reinterpret_borrow<py::array>(given_[k]).data()));
      for (const auto& [view, offset] : rec_.inputs[k].views) view->data = base + offset;
    }
    bound_.swap(given_);  // the views point into these until the next call
    rec_.run(0, rec_.steps.size(), true);
    guards_.cast<const Guards&>().apply();
    // Fresh arrays: a later replay overwrites the recording's own.
    py::tuple out(outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i) {
      PyObject* copy = py::detail::npy_api::get().PyArray_NewCopy_(outputs_[i].ptr(), 0);
      if (copy == nullptr) throw py::error_already_set();
      out[i] = make_tensor(py::reinterpret_steal<py::object>(copy));
    }
    return single_output_ ? py::object(out[0]) : py::object(out);
  }

 private:
  // The tensors returned are made as wrap() makes them, without calling into Python: the
  // slots of a tensor wrap() made are copied, with a fresh _data and a fresh version counter.
  // That holds while wrap() sets every other slot to None, True or False, which is checked
  // here; otherwise make_tensor calls wrap().
  void learn_tensor_slots() {
    const py::object proto = wrap_(py::array_t<float>(0));
    PyObject* p = proto.ptr();
    copyable_ = Py_TYPE(p) == reinterpret_cast<PyTypeObject*>(tensor_type_.ptr());
    for (const py::handle name : tensor_type_.attr("__slots__")) {
      const std::string n = py::str(name);
      if (n == "__weakref__" || n == "__dict__") continue;
      const Py_ssize_t offset = slot_offset(tensor_type_, n.c_str());
      if (offset < 0) {
        copyable_ = false;
        continue;
      }
      PyObject* v = slot(p, offset);
      if (n == "_data") continue;
      if (n == "_version") {
        version_offset_ = offset;
        copyable_ = copyable_ && PyList_Check(v) && PyList_GET_SIZE(v) == 1;
        continue;
      }
      copyable_ = copyable_ && (v == Py_None || v == Py_True || v == Py_False);
      defaults_.emplace_back(offset, v);
    }
    copyable_ = copyable_ && version_offset_ >= 0;
  }

  py::object make_tensor(py::object data) {
    if (!copyable_) return wrap_(data);
    auto* type = reinterpret_cast<PyTypeObject*>(tensor_type_.ptr());
    PyObject* t = type->tp_alloc(type, 0);
    if (t == nullptr) throw py::error_already_set();
    auto result = py::reinterpret_steal<py::object>(t);
    PyObject* version = Py_BuildValue("[i]", 0);
    if (version == nullptr) throw py::error_already_set();
    *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + version_offset_) = version;
    *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + data_offset_) = data.release().ptr();
    for (const auto& [offset, value] : defaults_) {
      Py_INCREF(value);
      *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + offset) = value;
    }
    return result;
  }

  py::object recording_;
  Recording& rec_;
  py::object guards_, tensor_type_, wrap_;
  size_t n_args_;
  std::vector<size_t> tensor_positions_;  // of the arguments that are the inputs, in order
  std::vector<std::pair<size_t, py::object>> values_;
  py::object grad_state_;
  bool grad_enabled_;
  std::vector<py::object> modules_;
  std::vector<bool> training_;
  std::vector<py::object> outputs_;
  bool single_output_;
  Py_ssize_t data_offset_ = -1, requires_grad_offset_ = -1, version_offset_ = -1;
  bool copyable_ = false;
  std::vector<std::pair<Py_ssize_t, PyObject*>> defaults_;  // None, True, False: never freed
  std::vector<py::object> bound_, given_;  // the arrays the input views point into; scratch
  const py::str enabled_name_{"enabled"}, training_name_{"training"};
};

// The C++ part of a compiled function (tapegrad.compile.graph.CompiledFunction derives from
// it): a call goes straight to `_fast`, the Replay of the recording used last, where that
// replay's checks pass, and to the Python method `_call` otherwise.
struct DirectCall {
  explicit DirectCall(py::object recorder) : recorder(std::move(recorder)) {}
  py::object recorder;     // tapegrad.compile.recorder: its `active` is the recording under way
  py::object fast = py::none();
  const py::str active_name{"active"};
};

}  // namespace

bool Recording::InputSlot::accepts(py::handle a) const {
  if (!py::isinstance<py::array>(a)) return false;
  const auto arr = py::reinterpret_borrow<py::array>(a);
  if (!(arr.flags() & py::array::c_style) || !arr.writeable() || arr.dtype().num() != dtype ||
      arr.ndim() != py::ssize_t(shape.size()))
    return false;
  for (py::ssize_t d = 0; d < arr.ndim(); ++d)
    if (arr.shape(d) != shape[d]) return false;
  return true;
}

void bind(py::module_& m) {
  py::class_<DirectCall>(m, "DirectCall",
                         "Base of a compiled function: calls replay in one C++ step where "
                         "they can (see Replay), else go to the method _call.")
      .def(py::init<py::object>(), py::arg("recorder"))
      .def_property(
          "_fast", [](const DirectCall& d) { return d.fast; },
          [](DirectCall& d, py::object fast) {
            TG_CHECK(fast.is_none() || py::isinstance<Replay>(fast),
                     "DirectCall._fast: expected a Replay or None");
            d.fast = std::move(fast);
          })
      .def("__call__", [](py::object self, py::args args, py::kwargs kwargs) -> py::object {
        const DirectCall& d = self.cast<const DirectCall&>();
        if (!d.fast.is_none() && kwargs.empty()) {
          const py::object active = py::reinterpret_steal<py::object>(
              PyObject_GetAttr(d.recorder.ptr(), d.active_name.ptr()));
          if (!active) throw py::error_already_set();
          if (active.is_none()) {
            const py::object fast = d.fast;  // the replay may end up replacing it
            py::object out;
            try {
              out = fast.cast<Replay&>()(args);
            } catch (...) {
              self.attr("_forget")(fast);  // the next call records afresh
              throw;
            }
            if (!out.is_none()) return out;
          }
        }
        return self.attr("_call")(*args, **kwargs);
      });
  py::class_<Replay>(m, "Replay",
                     "One recording's replay entered straight from positional arguments "
                     "(tapegrad.compile's common case); returns None where a check fails.")
      .def(py::init<py::object, py::object, py::object, py::object, size_t, std::vector<size_t>,
                    std::vector<std::pair<size_t, py::object>>, py::object, bool,
                    std::vector<py::object>, std::vector<bool>, std::vector<py::object>, bool,
                    std::vector<py::object>>(),
           py::arg("recording"), py::arg("guards"), py::arg("tensor_type"), py::arg("wrap"),
           py::arg("n_args"), py::arg("tensor_positions"), py::arg("values"),
           py::arg("grad_state"), py::arg("grad_enabled"), py::arg("modules"),
           py::arg("training"), py::arg("outputs"), py::arg("single_output"), py::arg("bound"))
      .def("__call__", &Replay::operator(), py::arg("args"));
  py::class_<Guards>(m, "Guards",
                     "Identity checks run before a graph-mode replay, and attributes it restores.")
      .def(py::init<>())
      .def("expect", &Guards::expect, py::arg("obj"), py::arg("name"), py::arg("value"),
           "check() requires getattr(obj, name) is value.")
      .def("expect_items", &Guards::expect_items, py::arg("container"), py::arg("values"),
           "check() requires the dict's values (or the list's items) to be `values`, in order.")
      .def("restore", &Guards::restore, py::arg("obj"), py::arg("name"), py::arg("value"),
           "apply() sets obj.name = value (where it is not already).")
      .def("check", &Guards::check)
      .def("apply", &Guards::apply);

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
             r.steps.push_back({nullptr, std::move(fn), nullptr});
           },
           py::arg("fn"), "Appends a host step: fn() is called at this point of each replay.")
      .def("add_lr_refresh",
           [](Recording& r, const py::dict& group, const std::vector<py::array>& hypers,
              const std::vector<py::list>& versions) {
             for (const py::array& h : hypers)
               TG_CHECK(h.dtype().kind() == 'f' && h.itemsize() == 8 && h.size() >= 1 &&
                            h.writeable(),
                        "Recording.add_lr_refresh: hypers must be writeable float64 arrays");
             for (const py::list& v : versions)
               TG_CHECK(v.size() == 1, "Recording.add_lr_refresh: a version counter is a "
                                       "list of one int");
             r.steps.push_back({nullptr, py::str("Optimizer: lr and versions"),
                                [group, hypers, versions] {
                                  PyObject* lr = PyDict_GetItemString(group.ptr(), "lr");
                                  TG_CHECK(lr != nullptr, "optimizer step: the param group "
                                                          "has no 'lr'");
                                  const double value = PyFloat_AsDouble(lr);
                                  if (value == -1.0 && PyErr_Occurred())
                                    throw py::error_already_set();
                                  for (const py::array& h : hypers)
                                    *static_cast<double*>(const_cast<void*>(h.data())) = value;
                                  for (const py::list& v : versions) {
                                    PyObject* bumped =
                                        PyNumber_Add(PyList_GET_ITEM(v.ptr(), 0), one().ptr());
                                    if (bumped == nullptr) throw py::error_already_set();
                                    PyList_SetItem(v.ptr(), 0, bumped);  // steals bumped
                                  }
                                }});
           },
           py::arg("group"), py::arg("hypers"), py::arg("versions"),
           "Appends an optimizer step's host part, in C++: at each replay, hyper[0] = "
           "float(group['lr']) for each of `hypers`, and one more on each version counter "
           "(a tensor's _version list) of the params it updates.")
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
           "Points every view into buffer i (address, bytes) at the same offset from targets[i].")
      .def("set_inputs",
           [](Recording& r, const std::vector<py::object>& buffers) {
             std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
             r.inputs.assign(buffers.size(), {});
             for (size_t i = 0; i < buffers.size(); ++i) {
               Recording::InputSlot& slot = r.inputs[i];
               if (!py::isinstance<py::array>(buffers[i])) {
                 ranges.emplace_back(0, 0);
                 continue;
               }
               const auto a = py::reinterpret_borrow<py::array>(buffers[i]);
               ranges.emplace_back(reinterpret_cast<uintptr_t>(a.data()),
                                   static_cast<uintptr_t>(a.nbytes()));
               slot.bindable = a.nbytes() > 0 && (a.flags() & py::array::c_style);
               slot.dtype = a.dtype().num();
               slot.shape.assign(a.shape(), a.shape() + a.ndim());
             }
             const std::vector<Range> sorted = sorted_ranges(ranges);
             std::vector<ViewRef> views;
             for (Step& s : r.steps) {
               if (!s.call || s.call->device() >= 0) continue;
               views.clear();
               s.call->views(views);
               for (const ViewRef& v : views) {
                 const auto p = reinterpret_cast<uintptr_t>(v.view->data);
                 if (const Range* range = find_range(sorted, p)) {
                   Recording::InputSlot& slot = r.inputs[range->index];
                   slot.views.emplace_back(v.view, p - range->start);
                   // An input the function writes stays a copy: its writes never reach the
                   // caller's tensor, at the recording as at every replay.
                   if (v.access != Access::read) slot.bindable = false;
                 }
               }
             }
             for (Recording::InputSlot& slot : r.inputs)
               if (!slot.bindable) slot.views.clear();
           },
           py::arg("buffers"),
           "The function's input buffers, in argument order: numpy arrays (C-contiguous ones "
           "are bindable unless a recorded call writes them) or None (device arrays).")
      .def("bindable",
           [](const Recording& r) {
             std::vector<bool> out;
             for (const Recording::InputSlot& s : r.inputs) out.push_back(s.bindable);
             return out;
           },
           "For each input: whether bind() reads the caller's array in place of a buffer.")
      .def("bind",
           [](Recording& r, const py::list& arrays) {
             TG_CHECK(arrays.size() == r.inputs.size(), "Recording.bind: ", arrays.size(),
                      " arrays for ", r.inputs.size(), " inputs");
             py::list missed;
             for (size_t i = 0; i < r.inputs.size(); ++i) {
               const Recording::InputSlot& slot = r.inputs[i];
               const py::handle given = arrays[i];
               if (!slot.bindable || !slot.accepts(given)) {
                 missed.append(i);
                 continue;
               }
               char* base = static_cast<char*>(
                   const_cast<void*>(py::reinterpret_borrow<py::array>(given).data()));
               for (const auto& [view, offset] : slot.views) view->data = base + offset;
             }
             return missed;
           },
           py::arg("arrays"),
           "Points each bindable input's views at the caller's array (one per input, in "
           "argument order; the caller keeps them alive while the recording may run). Returns "
           "the positions of the inputs it did not bind: the others, and bindable ones whose "
           "array is not C-contiguous, of the recorded dtype and shape, and writeable.");

}

}  // namespace tg::graph
