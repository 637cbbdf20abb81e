// The extension module tapegrad._C. CPU kernels live in the submodule _C.cpu, CUDA kernels (when
// built) in _C.cuda; each kernel family registers its functions through bind_<family>() at the
// end of csrc/cpu/<family>.cpp or csrc/cuda/<family>.cu, which instantiates the family's one
// binding (csrc/bind/<family>.h) for that backend.
// Also the Python side of tg::check_interrupt: how a long kernel notices Ctrl-C.
#include <pybind11/pybind11.h>

#include "common.h"
#include "graph.h"

namespace py = pybind11;

namespace {

unsigned long g_main_thread = 0;  // threading.main_thread().ident

// The interrupt hook. Python runs signal handlers only on its main thread, so elsewhere there is
// nothing to ask (and no GIL worth waiting for). A handler that raises (SIGINT's default raises
// KeyboardInterrupt) becomes error_already_set, which unwinds the kernel and its thread-pool
// job; pybind11 restores it as the Python exception when the call returns.
void check_python_signals() {
  if (PyThread_get_thread_ident() != g_main_thread) return;
  py::gil_scoped_acquire gil;  // no-op when the kernel kept the GIL
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

}  // namespace

namespace tg {
void bind_autograd(py::module_& m);
void bind_runtime(py::module_& m);
void bind_allocator(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_activations(py::module_& m);
void bind_reduce(py::module_& m);
void bind_matmul(py::module_& m);
void bind_softmax(py::module_& m);
void bind_index(py::module_& m);
void bind_optim(py::module_& m);
void bind_random(py::module_& m);
}  // namespace tg

#ifdef TAPEGRAD_HAS_CUDA
namespace tg::cuda {
void bind_runtime(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_activations(py::module_& m);
void bind_reduce(py::module_& m);
void bind_matmul(py::module_& m);
void bind_softmax(py::module_& m);
void bind_index(py::module_& m);
void bind_optim(py::module_& m);
void bind_random(py::module_& m);
}  // namespace tg::cuda
#endif

PYBIND11_MODULE(_C, m) {
  m.doc() = "tapegrad compiled kernels";
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  tg::set_interrupt_hook(&check_python_signals);
  tg::graph::bind(m);
  py::module_ autograd = m.def_submodule("autograd", "Node.apply and Tensor._wrap (csrc/autograd.cpp)");
  tg::bind_autograd(autograd);
  py::module_ cpu = m.def_submodule("cpu", "CPU kernels (C++17)");
  tg::bind_runtime(cpu);
  tg::bind_allocator(cpu);
  tg::bind_elementwise(cpu);
  tg::bind_activations(cpu);
  tg::bind_reduce(cpu);
  tg::bind_matmul(cpu);
  tg::bind_softmax(cpu);
  tg::bind_index(cpu);
  tg::bind_optim(cpu);
  tg::bind_random(cpu);
#ifdef TAPEGRAD_HAS_CUDA
  // Present whenever the CUDA code was built; whether a GPU is there is _C.cuda.is_available().
  py::module_ cuda = m.def_submodule("cuda", "CUDA kernels; the same names and arguments as _C.cpu");
  tg::cuda::bind_runtime(cuda);
  tg::cuda::bind_elementwise(cuda);
  tg::cuda::bind_activations(cuda);
  tg::cuda::bind_reduce(cuda);
  tg::cuda::bind_matmul(cuda);
  tg::cuda::bind_softmax(cuda);
  tg::cuda::bind_index(cuda);
  tg::cuda::bind_optim(cuda);
  tg::cuda::bind_random(cuda);
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
}
