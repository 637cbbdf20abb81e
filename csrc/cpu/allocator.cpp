// Memory of CPU arrays: `empty(shape, dtype, like=None)`, numpy.empty with a cache of large
// blocks.
//
// glibc serves a large allocation with fresh pages (mmap, or heap it trimmed when a big block
// was freed), and the kernel zeroes each 4 KiB page on first touch: a fault of a few
// microseconds on a VM. An eager training step frees its activations and gradients and
// allocates the same sizes again, so without a cache a 64-64-64-64-64-16 MLP step at batch 4096
// took about 1,500 faults (some 3 ms of its 5-8 ms). Freed blocks of at least kCachedMin bytes
// are therefore kept, by size, and handed out again; at most kCacheCap bytes are kept, and
// release_cached_memory() returns them all. Smaller arrays are numpy's own (malloc's free lists
// serve them without faults).
//
// The array's base is a capsule that owns the block: numpy frees it through the capsule, which
// puts it back. Allocations are reported to tracemalloc under numpy's domain, as numpy reports
// its own, so memory measurements see them.
// Python 3.11's tracemalloc.h declares its functions without C linkage for C++.
extern "C" {
#include <Python.h>
}

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "common.h"
#include "pyarray.h"

namespace tg {
namespace {

constexpr size_t kCachedMin = size_t(128) << 10;  // glibc's default mmap threshold
constexpr size_t kCacheCap = size_t(1) << 30;
constexpr size_t kGranule = size_t(64) << 10;     // sizes round up to this, so near sizes share
constexpr size_t kHeader = 64;                    // the block's size, before 64-byte aligned data
constexpr unsigned kNumpyTraceDomain = 389047;    // numpy's tracemalloc domain
const char* const kCapsuleName = "tapegrad.cpu_block";

std::mutex g_mu;
std::map<size_t, std::vector<void*>> g_free;  // blocks by size (header included)
size_t g_cached = 0;

void* take_block(size_t bytes) {
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_free.find(bytes);
    if (it != g_free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      g_cached -= bytes;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, bytes);
  if (p != nullptr) *static_cast<size_t*>(p) = bytes;
  return p;
}

void give_block(void* p) {
  const size_t bytes = *static_cast<size_t*>(p);
  {
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_cached + bytes <= kCacheCap) {
      g_free[bytes].push_back(p);
      g_cached += bytes;
      return;
    }
  }
  std::free(p);
}

void release_cached_memory() {
  std::map<size_t, std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    blocks.swap(g_free);
    g_cached = 0;
  }
  for (auto& [bytes, list] : blocks)
    for (void* p : list) std::free(p);
}

void capsule_destructor(PyObject* capsule) {
  void* p = PyCapsule_GetPointer(capsule, kCapsuleName);
  PyTraceMalloc_Untrack(kNumpyTraceDomain, reinterpret_cast<uintptr_t>(static_cast<char*>(p) + kHeader));
  give_block(p);
}

// empty(shape, dtype, like=None). Called for every result of every CPU kernel, so it takes its
// arguments the way CPython passes them (no pybind11 layer): shape and dtype positionally, like
// by keyword or third, and ignored (every CPU array is on the CPU).
PyObject* empty(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs < 2 || nargs + nkw > 3 ||
      (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "like") != 0)) {
    PyErr_SetString(PyExc_TypeError, "empty(shape, dtype, like=None)");
    return nullptr;
  }
  auto& api = py::detail::npy_api::get();
  PyObject* descr = nullptr;
  if (!api.PyArray_DescrConverter_(args[1], &descr)) return nullptr;
  py::object owned_descr = py::reinterpret_steal<py::object>(descr);
  std::vector<Py_intptr_t> dims;
  size_t nbytes = 0;
  bool overflow = false;
  try {
    nbytes = static_cast<size_t>(py::reinterpret_borrow<py::dtype>(descr).itemsize());
    auto add_dim = [&](int64_t n) {
      TG_CHECK(n >= 0, "negative dimensions are not allowed");
      dims.push_back(static_cast<Py_intptr_t>(n));
      overflow = overflow || __builtin_mul_overflow(nbytes, size_t(n), &nbytes);
    };
    if (PyTuple_Check(args[0])) {  // the common case, without pybind11's conversions
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[0]); ++i) {
        const int64_t n = PyLong_AsLongLong(PyTuple_GET_ITEM(args[0], i));
        if (n == -1 && PyErr_Occurred()) return nullptr;
        add_dim(n);
      }
    } else if (PyLong_Check(args[0])) {
      add_dim(py::reinterpret_borrow<py::int_>(args[0]).cast<int64_t>());
    } else {
      for (py::handle d : py::reinterpret_borrow<py::sequence>(args[0])) add_dim(d.cast<int64_t>());
    }
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (std::exception& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
    return nullptr;
  }
  const int nd = static_cast<int>(dims.size());
  // numpy's own below the cache's sizes, and where the size overflows (numpy raises on it)
  if (nbytes < kCachedMin || overflow || nbytes > (size_t(1) << 60)) {
    Py_INCREF(descr);  // the call steals a reference
    return api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, nd, dims.data(), nullptr, nullptr, 0, nullptr);
  }
  const size_t bytes = (nbytes + kHeader + kGranule - 1) / kGranule * kGranule;
  void* block = take_block(bytes);
  if (block == nullptr) return PyErr_NoMemory();
  PyObject* capsule = PyCapsule_New(block, kCapsuleName, capsule_destructor);
  if (capsule == nullptr) {
    give_block(block);
    return nullptr;
  }
  char* data = static_cast<char*>(block) + kHeader;
  PyTraceMalloc_Track(kNumpyTraceDomain, reinterpret_cast<uintptr_t>(data), nbytes);
  Py_INCREF(descr);
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, nd, dims.data(), nullptr, data,
                                            py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ |
                                                py::detail::npy_api::NPY_ARRAY_WRITEABLE_ |
                                                py::detail::npy_api::NPY_ARRAY_ALIGNED_,
                                            nullptr);
  if (arr == nullptr) {
    Py_DECREF(capsule);  // gives the block back
    return nullptr;
  }
  if (api.PyArray_SetBaseObject_(arr, capsule) != 0) {  // takes the capsule's reference, even then
    Py_DECREF(arr);
    return nullptr;
  }
  return arr;
}

PyMethodDef g_empty_def = {
    "empty", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&empty)),
    METH_FASTCALL | METH_KEYWORDS,
    "empty(shape, dtype, like=None): an uninitialised C-contiguous array, as numpy.empty; large "
    "ones reuse freed blocks."};

}  // namespace

void bind_allocator(py::module_& m) {
  m.add_object("empty", py::reinterpret_steal<py::object>(PyCFunction_New(&g_empty_def, nullptr)));
  m.def("release_cached_memory", &release_cached_memory,
        "Free the blocks that CPU arrays gave back and that the cache keeps for reuse.");
  m.def("cached_memory", [] {
    std::lock_guard<std::mutex> lk(g_mu);
    return g_cached;
  }, "Bytes of freed CPU array blocks kept for reuse.");
  m.def("owns_memory", [](py::array a) {
    PyObject* base = py::detail::array_proxy(a.ptr())->base;
    return base == nullptr || PyCapsule_IsValid(base, kCapsuleName);
  }, "True when the array's memory is its own: no base, or a block of empty()'s.");
}

}  // namespace tg
