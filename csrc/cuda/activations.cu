// Pointwise activation kernels on the GPU (relu, sigmoid, tanh, leaky_relu, elu, gelu, gelu_tanh,
// softplus, silu) and their backward kernels, float32 and float64, mirroring
// csrc/cpu/activations.cpp: _C.cuda.activation(kind, x, out, ...) and
// _C.cuda.activation_backward(...). The per-element formulas are act_fwd / act_bwd of
// ops/activations.h (shared with the GEMM epilogue and the CPU); each kind is its own
// instantiation of the elementwise kernel, chosen once per call.
#include <string>

#include "elementwise.cuh"

namespace tg::cuda {
namespace {

void check_params(const char* op, ActKind kind, double p1) {
  if (kind == ActKind::softplus)
    TG_CHECK(p1 != 0.0, op, ": softplus needs a nonzero beta (param), got ", p1);
}

// Parameters are converted to T once, as the CPU's functors hold them.
template <ActKind K, class T>
struct Forward {
  T p1, p2;
  __device__ __forceinline__ void operator()(T& o, const T& x) const {
    o = act_fwd<K>(x, p1, p2);
  }
};

template <ActKind K, class T>
struct Backward {
  T p1, p2;
  __device__ __forceinline__ void operator()(T& o, const T& g, const T& saved) const {
    o = act_bwd<K>(g, saved, p1, p2);
  }
};

// Inputs that share memory with out other than as the same elements are copied first (numpy's
// rule, see detach_if_overlapping); out may be x itself.
void activation_forward(ActKind kind, const ArrayView& x, const ArrayView& out, double p1,
                        double p2) {
  const char* op = "activation";
  check_match(op, "x", x, "out", out);
  check_params(op, kind, p1);
  dispatch_float(x.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (x.numel() == 0) return;
    Scratch tmp;
    const ArrayView xs = detach_if_overlapping(x, out, tmp, ew::current_device());
    with_act_kind(kind, [&](auto k) {
      constexpr ActKind K = decltype(k)::value;
      ew::for_each(op, Forward<K, T>{T(p1), T(p2)}, ew::arg<T>(out), ew::arg<const T>(xs));
    });
  });
}

void activation_backward(ActKind kind, const ArrayView& g, const ArrayView& saved,
                         const ArrayView& out, double p1, double p2) {
  const char* op = "activation_backward";
  check_match(op, "grad", g, "saved", saved);
  check_match(op, "grad", g, "out", out);
  check_params(op, kind, p1);
  dispatch_float(g.dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.numel() == 0) return;
    const int device = ew::current_device();
    Scratch tmp_g, tmp_s;
    const ArrayView gs = detach_if_overlapping(g, out, tmp_g, device);
    const ArrayView ss = detach_if_overlapping(saved, out, tmp_s, device);
    with_act_kind(kind, [&](auto k) {
      constexpr ActKind K = decltype(k)::value;
      ew::for_each(op, Backward<K, T>{T(p1), T(p2)}, ew::arg<T>(out), ew::arg<const T>(gs),
                   ew::arg<const T>(ss));
    });
  });
}

}  // namespace

void bind_activations(py::module_& m) {
  auto forward = [](const std::string& kind, const py::object& x, const py::object& out,
                    double param, double param2) {
    const ActKind k = ops::parse_activation(kind, "activation");
    call_cuda_kernel(
        "activation",
        [&](const ArrayView& xv, const ArrayView& ov) {
          activation_forward(k, xv, ov, param, param2);
        },
        CudaIn{x}, CudaOut{out});
  };
  auto backward = [](const std::string& kind, const py::object& grad, const py::object& saved,
                     const py::object& out, double param, double param2) {
    const ActKind k = ops::parse_activation(kind, "activation_backward");
    call_cuda_kernel(
        "activation_backward",
        [&](const ArrayView& gv, const ArrayView& sv, const ArrayView& ov) {
          activation_backward(k, gv, sv, ov, param, param2);
        },
        CudaIn{grad}, CudaIn{saved}, CudaOut{out});
  };
  m.def("activation", forward, py::arg("kind"), py::arg("x"), py::arg("out"),
        py::arg("param") = 0.0, py::arg("param2") = 0.0,
        "out = act(x) for kind in relu, sigmoid, tanh, leaky_relu (param = negative_slope), elu\n"
        "(param = alpha), gelu, gelu_tanh, softplus (param = beta, param2 = threshold), silu.\n"
        "out may be x itself; an x that otherwise overlaps out is read before out is written.");
  m.def("activation_backward", backward, py::arg("kind"), py::arg("grad"), py::arg("saved"),
        py::arg("out"), py::arg("param") = 0.0, py::arg("param2") = 0.0,
        "out = grad * act'(x). saved is the forward output for sigmoid and tanh and the forward\n"
        "input for every other kind; params as in activation(). out may be grad or saved; inputs\n"
        "that otherwise overlap out are read before out is written.");
}

}  // namespace tg::cuda
