// The extension module tapegrad._C. CPU kernels live in the submodule _C.cpu; each kernel
// family registers its functions through bind_<family>() at the end of csrc/cpu/<family>.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace tg {
void bind_runtime(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_activations(py::module_& m);
void bind_reduce(py::module_& m);
void bind_matmul(py::module_& m);
void bind_softmax(py::module_& m);
void bind_index(py::module_& m);
void bind_optim(py::module_& m);
}  // namespace tg

PYBIND11_MODULE(_C, m) {
  m.doc() = "tapegrad compiled kernels";
  py::module_ cpu = m.def_submodule("cpu", "CPU kernels (C++17)");
  tg::bind_runtime(cpu);
  tg::bind_elementwise(cpu);
  tg::bind_activations(cpu);
  tg::bind_reduce(cpu);
  tg::bind_matmul(cpu);
  tg::bind_softmax(cpu);
  tg::bind_index(cpu);
  tg::bind_optim(cpu);
  m.attr("has_cuda") = false;
}
