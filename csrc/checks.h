// The host-side argument checks every backend shares, called by the bindings in csrc/bind/
// before a kernel entry point runs (the elementwise ones by the entry points), so that _C.cpu
// and _C.cuda reject the same calls with the same messages: elementwise dtypes and shapes,
// reduce, matmul and linear_backward (which return the problem size), softmax and
// cross-entropy, take / put_add / index_select / index_add, and the optimizer lists with
// their coefficients and bias corrections. Nothing here knows about Python or a device.
#pragma once

#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "ops/activations.h"
#include "ops/optim.h"

namespace tg {

// ---------------------------------------------------------------------------------------------
// elementwise
inline void check_same_dtype(const char* op, const ArrayView& a, const ArrayView& b) {
  TG_CHECK(a.dtype == b.dtype, op, ": dtypes ", dtype_name(a.dtype), " and ",
           dtype_name(b.dtype), " must match");
}

inline void check_out_shape(const char* op, const ArrayView& out, const ArrayView& in) {
  TG_CHECK(out.shape == in.shape, op, ": out shape ", shape_str(out.shape),
           " does not match input shape ", shape_str(in.shape));
}

// The argument checks of each elementwise entry point (`op` names the op in the messages).
inline void check_unary(const char* op, const ArrayView& x, const ArrayView& out) {
  check_same_dtype(op, x, out);
  check_out_shape(op, out, x);
}

// binary (out has the operands' dtype) and compare (out is bool)
inline void check_binary(const char* op, const ArrayView& a, const ArrayView& b,
                         const ArrayView& out, DType out_dtype) {
  check_same_dtype(op, a, b);
  check_same_shape(op, a, b);
  check_dtype(op, out, out_dtype, "out");
  check_out_shape(op, out, a);
}

inline void check_where(const ArrayView& cond, const ArrayView& a, const ArrayView& b,
                        const ArrayView& out) {
  check_dtype("where", cond, DType::b8, "cond");
  check_same_dtype("where", a, b);
  check_dtype("where", out, a.dtype, "out");
  check_same_shape("where", cond, a);
  check_same_shape("where", a, b);
  check_out_shape("where", out, a);
}

inline void check_clamp(const ArrayView& x, const ArrayView& out) {
  check_same_dtype("clamp", x, out);
  check_out_shape("clamp", out, x);
  TG_CHECK(x.dtype != DType::b8, "clamp: not supported for bool");
}

// ---------------------------------------------------------------------------------------------
// activations (the kind already parsed by ops::parse_activation)
inline void check_activation_params(const char* op, ops::ActKind kind, double param) {
  if (kind == ops::ActKind::softplus)
    TG_CHECK(param != 0.0, op, ": softplus needs a nonzero beta (param), got ", param);
}

inline void check_activation(ops::ActKind kind, const ArrayView& x, const ArrayView& out,
                             double param) {
  check_match("activation", "x", x, "out", out);
  check_activation_params("activation", kind, param);
}

inline void check_activation_backward(ops::ActKind kind, const ArrayView& g,
                                      const ArrayView& saved, const ArrayView& out,
                                      double param) {
  const char* op = "activation_backward";
  check_match(op, "grad", g, "saved", saved);
  check_match(op, "grad", g, "out", out);
  check_activation_params(op, kind, param);
}

// ---------------------------------------------------------------------------------------------
// reduce
enum class ReduceOp { sum, prod, max, min, argmax, argmin, all, any };

struct ReduceOpName {
  const char* name;
  ReduceOp op;
};

constexpr ReduceOpName kReduceOps[] = {
    {"sum", ReduceOp::sum},       {"prod", ReduceOp::prod},     {"max", ReduceOp::max},
    {"min", ReduceOp::min},       {"argmax", ReduceOp::argmax}, {"argmin", ReduceOp::argmin},
    {"all", ReduceOp::all},       {"any", ReduceOp::any}};

inline ReduceOpName parse_reduce_op(const std::string& opname) {
  for (const auto& e : kReduceOps)
    if (opname == e.name) return e;
  throw std::invalid_argument(detail::cat("reduce: unknown op '", opname,
                                          "' (expected sum, prod, max, min, argmax, argmin, all or any)"));
}

inline const char* reduce_op_name(ReduceOp op) { return kReduceOps[static_cast<int>(op)].name; }

inline std::string axes_str(const std::vector<int64_t>& axes) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < axes.size(); ++i) os << (i ? ", " : "") << axes[i];
  os << "]";
  return os.str();
}

constexpr int kReduceMaxDims = 64;  // numpy's limit

// Returns which axes of x are reduced.
inline std::vector<bool> check_reduce(const ReduceOpName& r, const ArrayView& x,
                                      const std::vector<int64_t>& axes, const ArrayView& out) {
  const char* name = r.name;
  const ReduceOp op = r.op;
  const int nd = x.ndim();
  TG_CHECK(nd <= kReduceMaxDims, name, ": input has ", nd, " dimensions, at most ", kReduceMaxDims,
           " are supported");
  const bool logic = op == ReduceOp::all || op == ReduceOp::any;
  const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  if (logic) {
    TG_CHECK(x.dtype == DType::b8, name, ": expected a bool input, got ", dtype_name(x.dtype));
  } else {
    TG_CHECK(x.dtype != DType::b8, name, ": expected a float32, float64 or int64 input, got bool");
  }
  const DType want = arg ? DType::i64 : x.dtype;
  TG_CHECK(out.dtype == want, name, ": out must be ", dtype_name(want), " for a ",
           dtype_name(x.dtype), " input, got ", dtype_name(out.dtype));

  std::vector<bool> red(nd, false);
  for (int64_t a : axes) {
    TG_CHECK(a >= 0 && a < nd, name, ": axis ", a, " is out of range for input of shape ",
             shape_str(x.shape), " (axes ", axes_str(axes), ")");
    TG_CHECK(!red[a], name, ": axis ", a, " is repeated in axes ", axes_str(axes),
             " for input of shape ", shape_str(x.shape));
    red[a] = true;
  }
  Dims want_shape;
  int64_t nr = 1;
  for (int d = 0; d < nd; ++d) {
    if (red[d]) nr *= x.shape[d];
    else want_shape.push_back(x.shape[d]);
  }
  TG_CHECK(out.shape == want_shape, name, ": out has shape ", shape_str(out.shape), ", expected ",
           shape_str(want_shape), " for input of shape ", shape_str(x.shape),
           " reduced over axes ", axes_str(axes));
  // (an empty out has nothing to write; numpy gives empty arrays zero strides)
  TG_CHECK(out.numel() == 0 || out.is_contiguous(), name, ": out of shape ",
           shape_str(out.shape), " must be C-contiguous");
  if (!(op == ReduceOp::sum || op == ReduceOp::prod || logic))
    TG_CHECK(nr > 0, name, ": cannot reduce over an empty dimension of shape ",
             shape_str(x.shape));
  return red;
}

// ---------------------------------------------------------------------------------------------
// matmul and linear_backward. Activations are named as the Python API names them; each backend
// turns the name into its own epilogue.

// out[i] = a[i] @ b[i] with a[i] (M, K), b[i] (K, N) and out[i] (M, N), i < batch; `o` is the
// index of the first matrix dim (1 when batched, else 0).
struct MatmulSize {
  int64_t M = 0, N = 0, K = 0, batch = 1;
  int o = 0;
  bool batched = false;
};

inline MatmulSize check_matmul(const ArrayView& a, const ArrayView& b, const ArrayView& out,
                               const std::optional<ArrayView>& bias, const std::string& act,
                               bool accumulate) {
  const char* op = "matmul";
  TG_CHECK(a.ndim() == 2 || a.ndim() == 3, op, ": expected 2-D or 3-D operands, got shapes ",
           shape_str(a.shape), " and ", shape_str(b.shape));
  TG_CHECK(b.ndim() == a.ndim(), op, ": shapes ", shape_str(a.shape), " and ",
           shape_str(b.shape), " must both be 2-D or both 3-D");
  TG_CHECK(a.dtype == b.dtype, op, ": dtypes ", dtype_name(a.dtype), " and ",
           dtype_name(b.dtype), " do not match");
  TG_CHECK(a.dtype == DType::f32 || a.dtype == DType::f64, op,
           ": expected float32 or float64 operands, got ", dtype_name(a.dtype));
  TG_CHECK(out.dtype == a.dtype, op, ": out dtype ", dtype_name(out.dtype),
           " does not match operand dtype ", dtype_name(a.dtype));
  MatmulSize s;
  s.batched = a.ndim() == 3;
  s.o = s.batched ? 1 : 0;
  s.M = a.shape[s.o], s.K = a.shape[s.o + 1], s.N = b.shape[s.o + 1];
  s.batch = s.batched ? a.shape[0] : 1;
  TG_CHECK(b.shape[s.o] == s.K, op, ": shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
           " do not align");
  TG_CHECK(!s.batched || a.shape[0] == b.shape[0], op, ": batch sizes of shapes ",
           shape_str(a.shape), " and ", shape_str(b.shape), " differ");
  const Dims want = s.batched ? Dims{a.shape[0], s.M, s.N}
                                              : Dims{s.M, s.N};
  TG_CHECK(out.shape == want, op, ": out has shape ", shape_str(out.shape), ", expected ",
           shape_str(want), " for shapes ", shape_str(a.shape), " and ", shape_str(b.shape));
  for (int d = 0; d < out.ndim(); ++d)
    TG_CHECK(out.strides[d] != 0 || out.shape[d] <= 1 || out.numel() == 0, op,
             ": out must not have zero (broadcast) strides, got shape ", shape_str(out.shape));
  TG_CHECK(!views_overlap(out, a) && !views_overlap(out, b), op,
           ": out must not share memory with a or b");
  if (bias) {
    TG_CHECK(bias->ndim() == 1 && bias->shape[0] == s.N, op, ": bias has shape ",
             shape_str(bias->shape), ", expected (", s.N, ",) for shapes ", shape_str(a.shape),
             " and ", shape_str(b.shape));
    TG_CHECK(bias->dtype == a.dtype, op, ": bias dtype ", dtype_name(bias->dtype),
             " does not match operand dtype ", dtype_name(a.dtype));
  }
  TG_CHECK(!accumulate || (!bias && act == "none"), op,
           ": accumulate=True cannot be combined with bias or act (got act='", act, "'",
           bias ? " and a bias" : "", ")");
  return s;
}

// The arrays of linear_backward: grad (N, O); x (N, I), w (O, I) and y (N, O) as needed;
// the outputs gx (N, I), gw (O, I), gb (O,) where wanted.
struct LinearGrads {
  ArrayView g;
  std::optional<ArrayView> x, w, y, gx, gw, gb;
};

inline void check_linear_backward(const LinearGrads& a, const std::string& act) {
  const char* op = "linear_backward";
  const ArrayView& g = a.g;
  TG_CHECK(act == "none" || act == "relu" || act == "sigmoid" || act == "tanh", op,
           ": act must be none, relu, sigmoid or tanh, got '", act, "'");
  TG_CHECK(g.ndim() == 2, op, ": grad must be 2-D, got shape ", shape_str(g.shape));
  TG_CHECK(g.dtype == DType::f32 || g.dtype == DType::f64, op,
           ": expected float32 or float64, got ", dtype_name(g.dtype));
  const int64_t N = g.shape[0], O = g.shape[1];
  auto check = [&](const std::optional<ArrayView>& v, const char* name,
                   const Dims& want) {
    if (!v) return;
    TG_CHECK(v->dtype == g.dtype, op, ": ", name, " dtype ", dtype_name(v->dtype),
             " does not match grad dtype ", dtype_name(g.dtype));
    TG_CHECK(v->shape == want, op, ": ", name, " has shape ", shape_str(v->shape), ", expected ",
             shape_str(want), " for grad of shape ", shape_str(g.shape));
  };
  TG_CHECK(act == "none" || a.y, op, ": act '", act, "' needs the output y");
  TG_CHECK(!a.gx || a.w, op, ": gx needs w");
  TG_CHECK(!a.gw || a.x, op, ": gw needs x");
  check(a.y, "y", {N, O});
  if (a.w) check(a.w, "w", {O, a.w->ndim() == 2 ? a.w->shape[1] : -1});
  if (a.x) check(a.x, "x", {N, a.x->ndim() == 2 ? a.x->shape[1] : -1});
  if (a.gx) check(a.gx, "gx", {N, a.w->shape[1]});
  if (a.gw) check(a.gw, "gw", {O, a.x->shape[1]});
  check(a.gb, "gb", {O});
  auto overlap = [](const std::optional<ArrayView>& p, const std::optional<ArrayView>& q) {
    return p && q && views_overlap(*p, *q);
  };
  for (const auto* out : {&a.gx, &a.gw, &a.gb}) {
    if (!*out) continue;
    for (const auto* in : {&a.x, &a.w, &a.y})
      TG_CHECK(!overlap(*out, *in), op, ": outputs must not share memory with inputs");
    TG_CHECK(!views_overlap(**out, g), op, ": outputs must not share memory with grad");
  }
  TG_CHECK(!overlap(a.gx, a.gw) && !overlap(a.gx, a.gb) && !overlap(a.gw, a.gb), op,
           ": gx, gw and gb must not share memory");
}

// ---------------------------------------------------------------------------------------------
// softmax and cross-entropy
namespace detail {
inline void check_ndim(const char* op, const char* name, const ArrayView& v, int nd) {
  TG_CHECK(v.ndim() == nd, op, ": ", name, " must be ", nd, "-D, got shape ", shape_str(v.shape));
}

inline void check_rows(const char* op, const char* an, const ArrayView& a, const char* bn,
                       const ArrayView& b) {
  TG_CHECK(b.shape[0] == a.shape[0], op, ": ", an, " ", shape_str(a.shape), " and ", bn, " ",
           shape_str(b.shape), " must have the same number of rows");
}

// The arguments both cross-entropy kernels share: 2-D logits, int64 targets, one per row, and
// the label smoothing.
inline void check_ce_args(const char* op, const ArrayView& logits, const ArrayView& target,
                          double label_smoothing) {
  check_ndim(op, "logits", logits, 2);
  check_ndim(op, "target", target, 1);
  check_dtype(op, target, DType::i64, "target");
  check_rows(op, "logits", logits, "target", target);
  TG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
           ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
}

// A per-row vector (loss, lse, grad_loss): 1-D, one per row of logits, logits' dtype.
inline void check_row_vector(const char* op, const ArrayView& logits, const char* name,
                             const ArrayView& v) {
  check_ndim(op, name, v, 1);
  check_rows(op, "logits", logits, name, v);
  TG_CHECK(logits.dtype == v.dtype, op, ": logits and ", name, " dtypes must match, got ",
           dtype_name(logits.dtype), " and ", dtype_name(v.dtype));
}
}  // namespace detail

inline const char* softmax_name(bool log) { return log ? "log_softmax" : "softmax"; }
inline const char* softmax_backward_name(bool log) {
  return log ? "log_softmax_backward" : "softmax_backward";
}

inline void check_softmax(const ArrayView& x, const ArrayView& out, bool log) {
  const char* op = softmax_name(log);
  detail::check_ndim(op, "x", x, 2);
  check_match(op, "x", x, "out", out);
}

inline void check_softmax_backward(const ArrayView& y, const ArrayView& g, const ArrayView& out,
                                   bool log) {
  const char* op = softmax_backward_name(log);
  detail::check_ndim(op, "y", y, 2);
  check_match(op, "y", y, "grad", g);
  check_match(op, "y", y, "out", out);
}

inline void check_ce_forward(const ArrayView& x, const ArrayView& target, const ArrayView& loss,
                             const ArrayView& lse, double label_smoothing) {
  const char* op = "cross_entropy_forward";
  detail::check_ce_args(op, x, target, label_smoothing);
  detail::check_row_vector(op, x, "loss", loss);
  detail::check_row_vector(op, x, "lse", lse);
  // two outputs: no order of writes would make overlapping ones meaningful
  TG_CHECK(!views_overlap(loss, lse), op,
           ": loss and lse must be different arrays that do not overlap");
}

// cross_entropy_forward's optional count: a 0-d array of the logits' dtype.
inline void check_ce_count(const ArrayView& count, const ArrayView& x) {
  TG_CHECK(count.ndim() == 0 && count.dtype == x.dtype, "cross_entropy_forward",
           ": count must be a 0-d array of the logits' dtype (", dtype_name(x.dtype), "), got shape ",
           shape_str(count.shape), " and dtype ", dtype_name(count.dtype));
}

inline void check_ce_backward(const ArrayView& x, const ArrayView& target, const ArrayView& lse,
                              const ArrayView& grad, const ArrayView& out,
                              double label_smoothing) {
  const char* op = "cross_entropy_backward";
  detail::check_ce_args(op, x, target, label_smoothing);
  detail::check_row_vector(op, x, "lse", lse);
  detail::check_row_vector(op, x, "grad_loss", grad);
  check_match(op, "logits", x, "out", out);
}

[[noreturn]] inline void throw_target_out_of_bounds(int64_t t, int64_t C) {
  throw std::out_of_range(
      detail::cat("cross_entropy: target ", t, " is out of bounds for ", C, " classes"));
}

// ---------------------------------------------------------------------------------------------
// take, put_add, index_select, index_add. The indices' values are checked by each kernel
// (before anything is written, except take), raising the IndexErrors below.
namespace detail {
inline int normalize_axis(int64_t axis, int ndim, const char* op) {
  TG_CHECK(ndim >= 1, op, ": expected an array with at least 1 dimension, got a 0-d array");
  TG_CHECK(axis >= -ndim && axis < ndim, op, ": axis ", axis,
           " is out of range for an array with ", ndim, " dimensions");
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

inline void check_index_1d(const ArrayView& index, const char* op) {
  check_dtype(op, index, DType::i64, "index");
  TG_CHECK(index.ndim() == 1, op, ": index must be 1-D, got shape ", shape_str(index.shape));
}
}  // namespace detail

inline void check_copy(const ArrayView& src, const ArrayView& dst) {
  TG_CHECK(src.shape == dst.shape, "copy: shapes ", shape_str(src.shape), " and ",
           shape_str(dst.shape), " must match");
}

inline void check_take(const ArrayView& src, const ArrayView& index, const ArrayView& out) {
  check_dtype("take", index, DType::i64, "index");
  check_dtype("take", out, src.dtype, "out");
  TG_CHECK(out.shape == index.shape, "take: out shape ", shape_str(out.shape),
           " does not match index shape ", shape_str(index.shape));
}

inline void check_put_add(const ArrayView& dst, const ArrayView& index, const ArrayView& src) {
  check_dtype("put_add", index, DType::i64, "index");
  TG_CHECK(dst.dtype != DType::b8, "put_add: not supported for bool");
  check_dtype("put_add", src, dst.dtype, "src");
  TG_CHECK(index.shape == src.shape, "put_add: index shape ", shape_str(index.shape),
           " and src shape ", shape_str(src.shape), " must match");
  // numpy gives empty arrays zero strides, so contiguity means something only when non-empty.
  TG_CHECK(dst.numel() == 0 || dst.is_contiguous(), "put_add: dst must be C-contiguous");
}

// Flat positions (take, put_add) out of [0, size).
[[noreturn]] inline void throw_flat_index(const char* op, int64_t v, int64_t size) {
  throw std::out_of_range(detail::cat(op, ": index ", v, " is out of bounds for size ", size));
}

// Positions along an axis (index_select, index_add) out of [0, size).
[[noreturn]] inline void throw_axis_index(const char* op, int64_t v, int axis, int64_t size) {
  throw std::out_of_range(detail::cat(op, ": index ", v, " is out of bounds for axis ", axis,
                                      " with size ", size));
}

// Returns the axis, made non-negative.
inline int check_index_select(const ArrayView& src, int64_t axis_arg, const ArrayView& index,
                              const ArrayView& out) {
  const char* op = "index_select";
  const int axis = detail::normalize_axis(axis_arg, src.ndim(), op);
  detail::check_index_1d(index, op);
  check_dtype(op, out, src.dtype, "out");
  Dims expect = src.shape;
  expect[axis] = index.shape[0];
  TG_CHECK(out.shape == expect, op, ": out shape ", shape_str(out.shape),
           " does not match the expected ", shape_str(expect), " for src shape ",
           shape_str(src.shape), " and ", index.shape[0], " indices along axis ", axis);
  TG_CHECK(out.numel() == 0 || out.is_contiguous(), op, ": out must be C-contiguous");
  return axis;
}

inline int check_index_add(const ArrayView& dst, int64_t axis_arg, const ArrayView& index,
                           const ArrayView& src) {
  const char* op = "index_add";
  const int axis = detail::normalize_axis(axis_arg, dst.ndim(), op);
  detail::check_index_1d(index, op);
  TG_CHECK(dst.dtype != DType::b8, op, ": not supported for bool");
  check_dtype(op, src, dst.dtype, "src");
  Dims expect = dst.shape;
  expect[axis] = index.shape[0];
  TG_CHECK(src.shape == expect, op, ": src shape ", shape_str(src.shape),
           " does not match the expected ", shape_str(expect), " for dst shape ",
           shape_str(dst.shape), " and ", index.shape[0], " indices along axis ", axis);
  return axis;
}

// ---------------------------------------------------------------------------------------------
// Optimizers. Each call updates a param group: lists[0] the params, then the gradients and the
// state, one entry per param (an unused state list is empty).
struct OptimList {
  const char* name;
  bool used;         // an unused list must be empty
  const char* when;  // for the error when an unused list is not empty
};

// The element checks, in the order a serial walk over the params meets them.
inline void check_optim_lists(const char* op, const std::vector<OptimList>& spec,
                              const std::vector<std::vector<ArrayView>>& lists) {
  const size_t n = lists[0].size();
  auto element = [&](size_t k, size_t i) {
    const ArrayView& v = lists[k][i];
    const char* list = spec[k].name;
    TG_CHECK(v.dtype == DType::f32 || v.dtype == DType::f64, op, ": ", list, "[", i,
             "] must be float32 or float64, got ", dtype_name(v.dtype));
    // (an empty array has no elements to lay out; numpy gives it stride 0)
    TG_CHECK(v.numel() == 0 || v.is_contiguous(), op, ": ", list, "[", i,
             "] must be C-contiguous");
    TG_CHECK(reinterpret_cast<uintptr_t>(v.data) % dtype_size(v.dtype) == 0, op, ": ", list, "[",
             i, "] is not aligned to its item size");
  };
  for (size_t i = 0; i < n; ++i) {
    const ArrayView& p = lists[0][i];
    element(0, i);
    for (size_t k = 1; k < spec.size(); ++k) {
      if (!spec[k].used) continue;
      element(k, i);
      const ArrayView& v = lists[k][i];
      TG_CHECK(v.shape == p.shape, op, ": ", spec[k].name, "[", i, "] has shape ",
               shape_str(v.shape), " but params[", i, "] has shape ", shape_str(p.shape));
      TG_CHECK(v.dtype == p.dtype, op, ": ", spec[k].name, "[", i, "] is ", dtype_name(v.dtype),
               " but params[", i, "] is ", dtype_name(p.dtype));
    }
  }
}

inline void check_step(const char* op, int64_t step) {
  TG_CHECK(step >= 1, op, ": step must be >= 1 (the count after this update), got ", step);
}

// The hyperparameters of each update, as torch.optim names them. step (Adam, Adagrad) is the
// step count after this update.
struct SgdConfig {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;
};

struct AdamConfig {
  int64_t step;
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, amsgrad, maximize;
};

struct RmspropConfig {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

struct AdagradConfig {
  int64_t step;
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};

// The coefficients each update loop reads, in the parameter's dtype T. Scalars are computed in
// double as torch computes them in Python, then rounded to T where they meet a tensor.
using ops::optim::sign_of;

template <class T> struct SgdCoeffs {
  T sign, weight_decay, momentum, one_minus_dampening, neg_lr;
};

template <class T> SgdCoeffs<T> sgd_coeffs(const SgdConfig& c) {
  return {sign_of<T>(c.maximize), static_cast<T>(c.weight_decay), static_cast<T>(c.momentum),
          static_cast<T>(1.0 - c.dampening), static_cast<T>(-c.lr)};
}

// lerp weights are 1 - beta1 (Adam) and 1 - alpha (RMSprop); torch.lerp picks its formula by
// |w| < 0.5, so the update loops do too.
using ops::optim::small_weight;

template <class T> struct AdamCoeffs {
  T sign, weight_decay, decay_factor, w1, one_minus_w1, beta2, one_minus_beta2, bc2_sqrt, eps,
      neg_step_size;
};

// pow(x, 0.5) rather than sqrt(x): torch writes bias_correction2 ** 0.5.
template <class T> AdamCoeffs<T> adam_coeffs(const AdamConfig& c) {
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(c.step));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(c.step));
  AdamCoeffs<T> a;
  a.sign = sign_of<T>(c.maximize);
  a.weight_decay = static_cast<T>(c.weight_decay);
  a.decay_factor = static_cast<T>(1.0 - c.lr * c.weight_decay);
  a.w1 = static_cast<T>(1.0 - c.beta1);
  a.one_minus_w1 = T(1) - a.w1;
  a.beta2 = static_cast<T>(c.beta2);
  a.one_minus_beta2 = static_cast<T>(1.0 - c.beta2);
  a.bc2_sqrt = static_cast<T>(std::pow(bc2, 0.5));
  a.eps = static_cast<T>(c.eps);
  a.neg_step_size = static_cast<T>(-(c.lr / bc1));
  return a;
}

template <class T> struct RmspropCoeffs {
  T sign, weight_decay, alpha, one_minus_alpha, w, one_minus_w, eps, momentum, neg_lr;
};

template <class T> RmspropCoeffs<T> rmsprop_coeffs(const RmspropConfig& c) {
  RmspropCoeffs<T> a;
  a.sign = sign_of<T>(c.maximize);
  a.weight_decay = static_cast<T>(c.weight_decay);
  a.alpha = static_cast<T>(c.alpha);
  a.one_minus_alpha = static_cast<T>(1.0 - c.alpha);
  a.w = static_cast<T>(1.0 - c.alpha);
  a.one_minus_w = T(1) - a.w;
  a.eps = static_cast<T>(c.eps);
  a.momentum = static_cast<T>(c.momentum);
  a.neg_lr = static_cast<T>(-c.lr);
  return a;
}

template <class T> struct AdagradCoeffs {
  T sign, weight_decay, eps, neg_clr;
};

template <class T> AdagradCoeffs<T> adagrad_coeffs(const AdagradConfig& c) {
  const double clr = c.lr / (1.0 + static_cast<double>(c.step - 1) * c.lr_decay);
  return {sign_of<T>(c.maximize), static_cast<T>(c.weight_decay), static_cast<T>(c.eps),
          static_cast<T>(-clr)};
}

// The operands of one tensor of a param group (param, grad, state...; an unused state list's
// slot is null), as the update loops take them.
constexpr int kOptimMaxOperands = 5;

struct TensorSlots {
  DType dtype = DType::f32;
  int64_t numel = 0;
  void* ptr[kOptimMaxOperands] = {};
};

inline std::vector<TensorSlots> tensor_slots(const std::vector<std::vector<ArrayView>>& lists) {
  std::vector<TensorSlots> ts(lists[0].size());
  for (size_t i = 0; i < ts.size(); ++i) {
    ts[i].dtype = lists[0][i].dtype;
    ts[i].numel = lists[0][i].numel();
    for (size_t k = 0; k < lists.size(); ++k)
      if (i < lists[k].size()) ts[i].ptr[k] = lists[k][i].data;
  }
  return ts;
}

}  // namespace tg
