// The per-op bookkeeping of autograd, in C: Node.apply and Tensor._wrap
// (python/tapegrad/autograd/node.py says what they do; this is the same steps without the
// Python interpreter between them). An op on small tensors spent more time in this
// bookkeeping than in its kernel: about 1.5 us of a 4.5 us `a + b`.
//
// It reads and writes Tensor's __slots__ directly, at the offsets of their member descriptors
// (read once, in setup()), and calls back into Python for what is rare: the device check of
// mixed operands, the links of a view to its base, anomaly detection's forward stack, and the
// version bookkeeping of saved arrays (node.py's _link_view / _versions_of).
extern "C" {
#include <Python.h>
#include <structmember.h>
}

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace {

struct Slots {
  Py_ssize_t data, requires_grad, grad, grad_fn, version, base, view_of, retains_grad, hooks;
};

struct State {
  PyTypeObject* tensor = nullptr;
  PyTypeObject* ndarray = nullptr;
  Slots slot{};
  PyObject* grad_state = nullptr;   // the thread-local grad mode (its `enabled`)
  PyObject* anomaly = nullptr;      // anomaly detection's switch (its `enabled`)
  PyObject* slow_path = nullptr;    // node.py's _apply_rare(cls, node, tensors)
  PyObject* versions_of = nullptr;  // node.py's _versions_of(saved, tensors, result)
  PyObject* link_view = nullptr;    // node.py's _link_view(node, base, first_array, result)
  PyObject* s_enabled = nullptr;
  PyObject* s_forward = nullptr;
  PyObject* s_needs = nullptr;
  PyObject* s_edges = nullptr;
  PyObject* s_saved = nullptr;
  PyObject* s_saved_versions = nullptr;
  PyObject* s_saved_sources = nullptr;
  PyObject* s_is_view = nullptr;
  bool ready = false;
} g;

inline PyObject*& slot(PyObject* obj, Py_ssize_t off) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(obj) + off);
}

inline void set_slot(PyObject* obj, Py_ssize_t off, PyObject* value) {
  Py_INCREF(value);
  Py_XSETREF(slot(obj, off), value);
}

// A new Tensor (of type `type`) around `data`, with no history: Tensor._wrap.
PyObject* wrap(PyTypeObject* type, PyObject* data) {
  PyObject* t = type->tp_alloc(type, 0);
  if (t == nullptr) return nullptr;
  PyObject* version = PyList_New(1);
  if (version == nullptr) {
    Py_DECREF(t);
    return nullptr;
  }
  PyList_SET_ITEM(version, 0, PyLong_FromLong(0));  // a small int: cannot fail
  const Slots& s = g.slot;
  set_slot(t, s.data, data);
  set_slot(t, s.grad, Py_None);
  set_slot(t, s.grad_fn, Py_None);
  Py_XSETREF(slot(t, s.version), version);
  set_slot(t, s.base, Py_None);
  set_slot(t, s.view_of, Py_None);
  set_slot(t, s.retains_grad, Py_False);
  set_slot(t, s.requires_grad, Py_False);
  set_slot(t, s.hooks, Py_None);
  return t;
}

PyObject* wrap_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!g.ready) {
    PyErr_SetString(PyExc_RuntimeError, "Tensor._wrap: autograd is not set up");
    return nullptr;
  }
  if (nargs != 2 || !PyType_Check(args[0]) ||
      !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(args[0]), g.tensor)) {
    PyErr_SetString(PyExc_TypeError, "_wrap(cls, data): cls must be Tensor or a subclass");
    return nullptr;
  }
  return wrap(reinterpret_cast<PyTypeObject*>(args[0]), args[1]);
}

bool attr_true(PyObject* obj, PyObject* name, int* out) {
  PyObject* v = PyObject_GetAttr(obj, name);
  if (v == nullptr) return false;
  *out = PyObject_IsTrue(v);
  Py_DECREF(v);
  return *out >= 0;
}

// node.needs_input_grad (per tensor: does it require grad) and node.next_edges (its grad_fn, the
// tensor itself for a leaf, or None), from one pass over the tensor arguments.
bool record_edges(PyObject* node, PyObject* tensors) {
  const Slots& s = g.slot;
  const Py_ssize_t nt = PyList_GET_SIZE(tensors);
  PyObject* needs = PyTuple_New(nt);
  PyObject* edges = PyTuple_New(nt);
  bool ok = needs != nullptr && edges != nullptr;
  for (Py_ssize_t i = 0; ok && i < nt; ++i) {
    PyObject* t = PyList_GET_ITEM(tensors, i);
    const bool wanted = slot(t, s.requires_grad) == Py_True;
    PyObject* e = Py_None;
    if (wanted) {
      PyObject* fn = slot(t, s.grad_fn);
      e = fn != Py_None ? fn : t;
    }
    PyTuple_SET_ITEM(needs, i, Py_NewRef(wanted ? Py_True : Py_False));
    PyTuple_SET_ITEM(edges, i, Py_NewRef(e));
  }
  ok = ok && PyObject_SetAttr(node, g.s_needs, needs) == 0 &&
       PyObject_SetAttr(node, g.s_edges, edges) == 0;
  Py_XDECREF(needs);
  Py_XDECREF(edges);
  return ok;
}

// Node.apply(cls, *args, **kwargs): see node.py.
PyObject* apply(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (!g.ready || nargs < 1) {
    PyErr_SetString(PyExc_RuntimeError, "autograd apply is not set up");
    return nullptr;
  }
  PyObject* cls = args[0];
  PyObject* const* ops = args + 1;
  const Py_ssize_t n = nargs - 1;
  const Slots& s = g.slot;

  // The operands: arrays for the tensors, the rest as given.
  PyObject* arrays = PyTuple_New(n);
  PyObject* tensors = PyList_New(0);
  PyObject* node = nullptr;
  PyObject* kwargs = nullptr;
  PyObject* out = nullptr;
  PyObject* result = nullptr;
  PyObject* forward = nullptr;
  bool recording = false, rare = false;
  PyTypeObject* kind = nullptr;
  int flag = 0;
  if (arrays == nullptr || tensors == nullptr) goto fail;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* a = ops[i];
    if (PyObject_TypeCheck(a, g.tensor)) {
      PyObject* data = slot(a, s.data);
      Py_INCREF(data);
      PyTuple_SET_ITEM(arrays, i, data);
      if (PyList_Append(tensors, a) != 0) goto fail;
      if (slot(a, s.requires_grad) == Py_True) recording = true;
      if (kind == nullptr) {
        kind = Py_TYPE(data);
      } else if (kind != Py_TYPE(data)) {
        rare = true;  // tensors of two devices: the Python side raises
      }
    } else {
      Py_INCREF(a);
      PyTuple_SET_ITEM(arrays, i, a);
    }
  }
  if (kind != nullptr && kind != g.ndarray && PyList_GET_SIZE(tensors) > 1)
    rare = true;  // GPU arrays: the Python side checks they share a device
  if (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) > 0) {
    kwargs = PyDict_New();
    if (kwargs == nullptr) goto fail;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k)
      if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, k), args[nargs + k]) != 0) goto fail;
  }
  node = PyObject_CallNoArgs(cls);
  if (node == nullptr) goto fail;
  if (recording) {
    if (!attr_true(g.grad_state, g.s_enabled, &flag)) goto fail;
    recording = flag != 0;
  }
  if (!attr_true(g.anomaly, g.s_enabled, &flag)) goto fail;
  if (rare || flag) {
    PyObject* r = PyObject_CallFunctionObjArgs(g.slow_path, cls, node, tensors, nullptr);
    if (r == nullptr) goto fail;
    Py_DECREF(r);
  }
  // Known before forward, so forward saves only what the wanted gradients need.
  if (recording && !record_edges(node, tensors)) goto fail;
  forward = PyObject_GetAttr(node, g.s_forward);
  if (forward == nullptr) goto fail;
  out = PyObject_Call(forward, arrays, kwargs);
  if (out == nullptr) goto fail;
  result = wrap(g.tensor, out);
  if (result == nullptr) goto fail;
  if (PyList_GET_SIZE(tensors) > 0) {
    if (!attr_true(cls, g.s_is_view, &flag)) goto fail;
    if (flag) {
      PyObject* r = PyObject_CallFunctionObjArgs(g.link_view, node, PyList_GET_ITEM(tensors, 0),
                                                 PyTuple_GET_ITEM(arrays, 0), result, nullptr);
      if (r == nullptr) goto fail;
      Py_DECREF(r);
    }
  }
  if (recording) {
    int err = 0;
    PyObject* saved = PyObject_GetAttr(node, g.s_saved);
    if (saved == nullptr) goto fail;
    const int any = PyObject_IsTrue(saved);
    if (any < 0) {
      Py_DECREF(saved);
      goto fail;
    }
    if (any) {
      PyObject* pair = PyObject_CallFunctionObjArgs(g.versions_of, saved, tensors, result, nullptr);
      Py_DECREF(saved);
      if (pair == nullptr) goto fail;
      err = !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            PyObject_SetAttr(node, g.s_saved_versions, PyTuple_GET_ITEM(pair, 0)) != 0 ||
            PyObject_SetAttr(node, g.s_saved_sources, PyTuple_GET_ITEM(pair, 1)) != 0;
      Py_DECREF(pair);
      if (err) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "_versions_of: expected a pair");
        goto fail;
      }
    } else {
      Py_DECREF(saved);
    }
    set_slot(result, s.requires_grad, Py_True);
    set_slot(result, s.grad_fn, node);
  }
  Py_DECREF(arrays);
  Py_DECREF(tensors);
  Py_XDECREF(kwargs);
  Py_DECREF(node);
  Py_DECREF(forward);
  Py_DECREF(out);
  return result;
fail:
  Py_XDECREF(arrays);
  Py_XDECREF(tensors);
  Py_XDECREF(kwargs);
  Py_XDECREF(node);
  Py_XDECREF(forward);
  Py_XDECREF(out);
  Py_XDECREF(result);
  return nullptr;
}

Py_ssize_t member_offset(PyObject* type, const char* name) {
  PyObject* d = PyObject_GetAttrString(type, name);
  if (d == nullptr) throw py::error_already_set();
  if (!PyObject_TypeCheck(d, &PyMemberDescr_Type)) {
    Py_DECREF(d);
    throw py::type_error(std::string("autograd setup: Tensor.") + name + " is not a slot");
  }
  const Py_ssize_t off = reinterpret_cast<PyMemberDescrObject*>(d)->d_member->offset;
  Py_DECREF(d);
  return off;
}

PyMethodDef g_apply_def = {
    "apply", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&apply)),
    METH_FASTCALL | METH_KEYWORDS,
    "apply(cls, *args, **kwargs): run op `cls` (an autograd.Node subclass) and record it "
    "(Node.apply)."};

PyMethodDef g_wrap_def = {
    "wrap", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&wrap_fast)),
    METH_FASTCALL, "wrap(cls, data): a tensor of type cls around data, with no history (Tensor._wrap)."};

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

}  // namespace

namespace tg {

void bind_autograd(py::module_& m) {
  m.add_object("apply", py::reinterpret_steal<py::object>(PyCFunction_New(&g_apply_def, nullptr)));
  m.add_object("wrap", py::reinterpret_steal<py::object>(PyCFunction_New(&g_wrap_def, nullptr)));
  m.def("setup", [](py::object tensor, py::object grad_state, py::object anomaly, py::object slow_path,
                    py::object versions_of, py::object link_view) {
    if (!PyType_Check(tensor.ptr())) throw py::type_error("autograd setup: expected the Tensor type");
    PyObject* t = tensor.ptr();
    g.slot = Slots{member_offset(t, "_data"), member_offset(t, "_requires_grad"),
                   member_offset(t, "_grad"), member_offset(t, "grad_fn"),
                   member_offset(t, "_version"), member_offset(t, "_base"),
                   member_offset(t, "_view_of"), member_offset(t, "_retains_grad"),
                   member_offset(t, "_hooks")};
    // references kept for the life of the process, as the module that holds them
    g.tensor = reinterpret_cast<PyTypeObject*>(tensor.release().ptr());
    g.ndarray = reinterpret_cast<PyTypeObject*>(
        py::object(py::module_::import("numpy").attr("ndarray")).release().ptr());
    g.grad_state = grad_state.release().ptr();
    g.anomaly = anomaly.release().ptr();
    g.slow_path = slow_path.release().ptr();
    g.versions_of = versions_of.release().ptr();
    g.link_view = link_view.release().ptr();
    g.s_enabled = intern("enabled");
    g.s_forward = intern("forward");
    g.s_needs = intern("needs_input_grad");
    g.s_edges = intern("next_edges");
    g.s_saved = intern("_saved");
    g.s_saved_versions = intern("_saved_versions");
    g.s_saved_sources = intern("_saved_sources");
    g.s_is_view = intern("is_view");
    g.ready = true;
  }, "Give apply and wrap the Tensor type and node.py's helpers (done once, by node.py).");
}

}  // namespace tg
