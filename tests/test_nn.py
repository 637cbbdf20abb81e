"""tapegrad.nn against torch.nn: every module's forward and backward with the same weights
(float64, tight tolerances), Module semantics (registration, names, state_dict, train/eval,
dtype conversion, repr), init statistics, gradient clipping, and a small MLP trained with
manual SGD step for step alongside PyTorch.

Parity tests take the `torch` fixture and skip where torch is not installed; the rest run
on tapegrad alone."""
import copy
import math
import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

TOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def copy_weights(torch, src, dst):
    """Load tapegrad module `src`'s state_dict into torch module `dst` (strict: the keys
    must be the same)."""
    sd = {k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in src.state_dict().items()}
    dst.load_state_dict(sd)


def _tensor(lib, a, grad):
    t = lib.tensor(a)
    if grad:
        t.requires_grad_(True)
    return t


def run_parity(torch, build, arrays, grads=None, tol=TOL, double=True, seed=0, quiet_torch=False):
    """Build the module in both libraries (build(nn_namespace)), give torch's tapegrad's
    weights, run both on the same inputs, backprop the same upstream gradient, and compare
    outputs, input gradients, parameter gradients and buffers."""
    mod_tg, mod_th = build(tg.nn), build(torch.nn)
    if double:
        mod_tg.double()
        mod_th.double()
    copy_weights(torch, mod_tg, mod_th)
    if grads is None:
        grads = [a.dtype.kind == "f" for a in arrays]
    ins_tg = [_tensor(tg, a, g) for a, g in zip(arrays, grads)]
    ins_th = [_tensor(torch, a, g) for a, g in zip(arrays, grads)]
    out_tg = mod_tg(*ins_tg)
    with warnings.catch_warnings():
        if quiet_torch:  # torch's own advice warnings (kl_div 'mean') are not under test
            warnings.simplefilter("ignore")
        out_th = mod_th(*ins_th)
    assert tuple(out_tg.shape) == tuple(out_th.shape)
    assert str(out_tg.dtype).split(".")[-1] == str(out_th.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(out_tg), _np(out_th), err_msg="forward", **tol)
    if out_th.requires_grad:
        up = np.random.default_rng(seed + 99).standard_normal(tuple(out_th.shape))
        out_tg.backward(tg.tensor(np.asarray(up, dtype=_np(out_tg).dtype)))
        out_th.backward(torch.tensor(np.asarray(up, dtype=_np(out_th).dtype)))
        for k, (a, b, g) in enumerate(zip(ins_tg, ins_th, grads)):
            if g:
                np.testing.assert_allclose(_np(a.grad), _np(b.grad), err_msg=f"grad of input {k}", **tol)
        th_params = dict(mod_th.named_parameters())
        for name, p in mod_tg.named_parameters():
            q = th_params[name]
            if q.grad is None:
                assert p.grad is None or not np.any(_np(p.grad)), name
            else:
                np.testing.assert_allclose(_np(p.grad), _np(q.grad), err_msg=f"grad of {name}", **tol)
    th_buffers = dict(mod_th.named_buffers())
    for name, b in mod_tg.named_buffers():
        np.testing.assert_allclose(_np(b), _np(th_buffers[name]), err_msg=f"buffer {name}", **tol)
    return mod_tg, mod_th, out_tg, out_th


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- Parameter ------------------------------------------------------------------------------

def test_parameter_is_a_leaf_tensor_sharing_memory():
    t = tg.zeros(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, tg.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    t[0, 0] = 5.0
    assert p[0, 0].item() == 5.0
    assert not nn.Parameter(tg.ones(2), requires_grad=False).requires_grad
    assert tuple(nn.Parameter().shape) == (0,)
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])


def test_parameter_ops_return_plain_tensors():
    p = nn.Parameter(tg.ones(3))
    y = p * 2
    assert type(y) is tg.Tensor and y.grad_fn is not None
    assert type(p.detach()) is tg.Tensor


def test_parameter_repr(torch):
    assert repr(nn.Parameter(tg.ones(2))) == repr(torch.nn.Parameter(torch.ones(2)))
    assert repr(nn.Parameter(tg.tensor([[1.5, -2.0]]))) == repr(torch.nn.Parameter(torch.tensor([[1.5, -2.0]])))
    assert repr(nn.Parameter(tg.ones(2), requires_grad=False)) == "Parameter containing:\ntensor([1., 1.])"


def test_parameter_deepcopy_keeps_type_grad_and_attributes():
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    p.grad = tg.tensor([0.5, 0.5])
    p.tag = "decay"
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad and q.tag == "decay"
    assert q.grad.tolist() == [0.5, 0.5]
    q.data[0] = 9.0  # a copy: p is untouched
    assert p.tolist() == [1.0, 2.0]


# --- Module registration and traversal ------------------------------------------------------

def make_net(lib):
    """One architecture, written once for torch and tapegrad: nested containers, a shared
    submodule, buffers (one non-persistent) and a bare Parameter."""
    nn_ = lib.nn

    class Block(nn_.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn_.Linear(d, d)
            self.norm = nn_.LayerNorm(d)
            self.act = nn_.GELU()

        def forward(self, x):
            return x + self.act(self.norm(self.fc(x)))

    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn_.Embedding(10, 4, padding_idx=0)
            self.blocks = nn_.ModuleList([Block(4) for _ in range(2)])
            self.bn = nn_.BatchNorm1d(4)
            self.heads = nn_.ModuleDict({"cls": nn_.Linear(4, 3), "reg": nn_.Linear(4, 1, bias=False)})
            self.shared = self.heads["cls"]  # the same module under two names
            self.scale = nn_.Parameter(lib.ones(1))
            self.register_buffer("step", lib.zeros(()))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)
            self.tail = nn_.Sequential(nn_.Tanh(), nn_.Dropout(0.0), nn_.Identity())

        def forward(self, idx):
            h = self.emb(idx).mean(1)
            for block in self.blocks:
                h = block(h)
            h = self.tail(self.bn(h))
            return self.heads["cls"](h) * self.scale + self.heads["reg"](h)

    return Net()


def test_names_match_torch(torch):
    a, b = make_net(tg), make_net(torch)
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert [n for n, _ in a.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in b.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    assert [n for n, _ in a.named_children()] == [n for n, _ in b.named_children()]
    assert list(a.state_dict()) == list(b.state_dict())
    assert [n for n, _ in a.named_parameters(prefix="model", recurse=True)] == \
        [n for n, _ in b.named_parameters(prefix="model")]
    assert [n for n, _ in a.named_parameters(recurse=False)] == [n for n, _ in b.named_parameters(recurse=False)]
    assert len(list(a.parameters())) == len(list(b.parameters()))
    assert len(list(a.modules())) == len(list(b.modules()))
    assert len(list(a.children())) == len(list(b.children()))


def test_whole_net_forward_backward_matches_torch(torch):
    idx = np.array([[1, 2, 0], [3, 0, 0], [9, 8, 7], [4, 4, 5]])
    run_parity(torch, lambda nn_: make_net(_lib(nn_)), [idx], tol=dict(rtol=1e-9, atol=1e-11))


def test_setattr_registers_and_reassigns():
    m = nn.Module()
    m.w = nn.Parameter(tg.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("buf", tg.zeros(2))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf"]
    assert "w" not in m.__dict__ and m.plain == 3
    assert m.w is m._parameters["w"] and m.sub is m._modules["sub"] and m.buf is m._buffers["buf"]
    with pytest.raises(TypeError, match="cannot assign 'tapegrad.FloatTensor' as parameter 'w'"):
        m.w = tg.ones(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == list(m.sub.parameters())
    m.buf = tg.ones(3)  # a buffer may be replaced by any tensor
    assert m.buf.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = 5
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 5
    m.sub = nn.Parameter(tg.ones(1))  # a name can change kind
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub, m.buf, m.plain
    assert "sub" not in m._parameters and "buf" not in m._buffers and not hasattr(m, "plain")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing


def test_register_errors():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    m = nn.Linear(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", tg.ones(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="empty string"):
        m.add_module("", nn.ReLU())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(TypeError, match="torch Tensor or None required"):
        m.register_buffer("b", [1.0])
    with pytest.raises(TypeError, match="torch.nn.Parameter or None required"):
        m.register_parameter("p", tg.ones(1))
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("p", _non_leaf_param(x))
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(tg.ones(1))
    with pytest.raises(TypeError):
        nn.Module(3)


def _non_leaf_param(x):
    """A Parameter object that carries history (only reachable by poking at internals)."""
    p = nn.Parameter(tg.ones(2))
    p.grad_fn = (x * 2).grad_fn
    return p


def test_get_submodule_parameter_buffer():
    net = make_net(tg)
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    assert net.get_parameter("blocks.0.norm.weight") is net.blocks[0].norm.weight
    assert net.get_buffer("bn.running_mean") is net.bn.running_mean
    with pytest.raises(AttributeError):
        net.get_submodule("blocks.7")
    extra = nn.Linear(2, 2)
    net.register_module("extra", extra)  # PyTorch's alias of add_module
    assert net.get_submodule("extra") is extra and net.get_parameter("extra.bias") is extra.bias


def test_buffers_persistent_and_not():
    net = make_net(tg)
    names = [n for n, _ in net.named_buffers()]
    assert "scratch" in names and "step" in names
    assert "scratch" not in net.state_dict() and "step" in net.state_dict()


def test_apply_visits_children_first():
    seen = []
    m = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_train_eval_recursive():
    net = make_net(tg)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_train_goes_through_children_overrides():
    class FrozenNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def train(self, mode=True):
            super().train(mode)
            self.bn.eval()  # keeps its statistics fixed
            return self

    m = nn.Sequential(nn.Linear(2, 2), FrozenNorm())
    m.train()
    assert m.training and m[0].training and m[1].training and not m[1].bn.training


def test_call_passes_arguments_to_forward():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0, *, shift=0.0):
            return x * factor + shift

    assert Scale()(tg.tensor([1.0, 2.0]), 3.0, shift=1.0).tolist() == [4.0, 7.0]


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(tg.ones(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and not np.any(_np(m.weight.grad))
    m(tg.ones(4, 3)).sum().backward()
    assert np.any(_np(m.weight.grad))
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_requires_grad_():
    m = nn.Linear(2, 2)
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_dtype_keeps_parameter_identity():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m(tg.randn(4, 2)).sum().backward()
    assert m.double() is m
    assert m[0].weight is w and w.dtype is tg.float64 and w.grad.dtype is tg.float64
    assert m[1].running_mean.dtype is tg.float64
    assert m[1].num_batches_tracked.dtype is tg.int64  # integer buffers keep their dtype
    m.to(tg.float32)
    assert w.dtype is tg.float32
    m.to("cpu", dtype=tg.float64)
    assert w.dtype is tg.float64
    m.float()
    assert w.dtype is tg.float32
    assert m.to(tg.zeros(1, dtype=tg.float64)) is m and w.dtype is tg.float64
    assert m.cpu() is m
    if not tg.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' is not available"):
            m.to("cuda")
        with pytest.raises(RuntimeError, match="'cuda' is not available"):
            m.cuda()
    with pytest.raises(TypeError, match="floating point"):
        m.to(tg.int64)


def test_linear_dtype_and_device_arguments():
    assert nn.Linear(2, 3, dtype=tg.float64).weight.dtype is tg.float64
    assert nn.Linear(2, 3, device="cpu").weight.dtype is tg.float32
    if not tg.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' is not available"):
            nn.Linear(2, 3, device="cuda")


def test_deepcopy_module_is_independent():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight is not m[0].weight
    np.testing.assert_array_equal(_np(c[0].weight), _np(m[0].weight))
    with tg.no_grad():
        c[0].weight.fill_(0.0)
    assert np.any(_np(m[0].weight))
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in m.named_parameters()]


# --- state_dict -----------------------------------------------------------------------------

def test_state_dict_shares_memory_and_is_detached():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked"]
    assert not sd["0.weight"].requires_grad and type(sd["0.weight"]) is tg.Tensor
    sd["0.weight"][0, 0] = 42.0
    assert m[0].weight[0, 0].item() == 42.0
    assert m.state_dict(keep_vars=True)["0.weight"] is m[0].weight
    assert list(m.state_dict(prefix="model.")) == ["model." + k for k in sd]


def test_load_state_dict_copies_in_place():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    w = b.weight
    result = b.load_state_dict(a.state_dict())
    assert b.weight is w  # copied into, not replaced
    np.testing.assert_array_equal(_np(b.weight), _np(a.weight))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    with tg.no_grad():
        a.weight.fill_(0.0)
    assert np.any(_np(b.weight))  # no memory shared with the source
    b.load_state_dict({"weight": tg.ones(2, 3, dtype=tg.float64), "bias": tg.zeros(2)})
    assert b.weight.dtype is tg.float32 and b.weight.tolist() == [[1.0] * 3] * 2


def test_load_state_dict_errors_match_torch(torch):
    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = lib.nn.Linear(4, 4)
                self.bn = lib.nn.BatchNorm1d(4)
        return Net()

    a, b = build(tg), build(torch)
    bad = {"fc.weight": np.zeros((3, 4)), "bn.weight": np.ones(4), "foo": np.zeros(1), "bn.extra": np.zeros(1)}
    with pytest.raises(RuntimeError) as ours:
        a.load_state_dict({k: tg.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as theirs:
        b.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    expected = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", lambda m: f"({m.group(1)})", str(theirs.value))
    assert str(ours.value) == expected
    assert ("size mismatch for fc.weight: copying a param with shape (3, 4) from checkpoint, the shape in "
            "current model is (4, 4).") in str(ours.value)

    good = {"fc.weight": np.zeros((4, 4)), "fc.bias": np.zeros(4), "foo": np.zeros(1)}
    r_tg = a.load_state_dict({k: tg.tensor(v) for k, v in good.items()}, strict=False)
    r_th = b.load_state_dict({k: torch.tensor(v) for k, v in good.items()}, strict=False)
    assert r_tg.missing_keys == r_th.missing_keys and r_tg.unexpected_keys == r_th.unexpected_keys
    assert repr(r_tg) == repr(r_th)
    missing, unexpected = r_tg
    assert unexpected == ["foo"] and "bn.weight" in missing
    assert not np.any(_np(a.fc.weight))  # the matching keys were loaded

    with pytest.raises(RuntimeError, match="size mismatch for fc.bias"):  # even when not strict
        a.load_state_dict({"fc.bias": tg.zeros(3)}, strict=False)
    with pytest.raises(RuntimeError, match='parameter named "fc.bias", expected torch.Tensor'):
        a.load_state_dict({"fc.bias": 5}, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        a.load_state_dict([1, 2])


def test_load_state_dict_from_torch_checkpoint(torch):
    m_th = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.BatchNorm1d(5))
    m_th.train()
    m_th(torch.randn(8, 3))  # move the running stats
    m_tg = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.BatchNorm1d(5))
    m_tg.load_state_dict({k: tg.tensor(v.numpy()) for k, v in m_th.state_dict().items()})
    m_th.eval()
    m_tg.eval()
    x = randn(4, 3)
    np.testing.assert_allclose(_np(m_tg(tg.tensor(x, dtype=tg.float32))),
                               m_th(torch.tensor(x, dtype=torch.float32)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert m_tg[2].num_batches_tracked.item() == 1


def test_load_state_dict_assign():
    m = nn.Linear(2, 2)
    w = tg.ones(2, 2)
    m.load_state_dict({"weight": w, "bias": tg.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    w[0, 0] = 7.0
    assert m.weight[0, 0].item() == 7.0


# --- repr -------------------------------------------------------------------------------------

REPR_BUILDERS = [
    lambda nn_: nn_.Sequential(nn_.Linear(2, 3), nn_.ReLU()),
    lambda nn_: nn_.Sequential(nn_.Linear(4, 16), nn_.ReLU(), nn_.Dropout(0.2), nn_.Linear(16, 16, bias=False),
                               nn_.BatchNorm1d(16), nn_.Tanh(), nn_.Linear(16, 3), nn_.LogSoftmax(dim=1)),
    lambda nn_: nn_.Sequential(OrderedDict([("fc", nn_.Linear(2, 2)), ("inner", nn_.Sequential(nn_.SiLU()))])),
    lambda nn_: nn_.ModuleList([nn_.Linear(2, 2), nn_.Linear(2, 2), nn_.ReLU(), nn_.Linear(2, 2)]),
    lambda nn_: nn_.ModuleList([]),
    lambda nn_: nn_.ModuleDict({"a": nn_.ReLU(), "b": nn_.Sequential(nn_.Linear(1, 1))}),
    lambda nn_: nn_.Linear(2, 3),
    lambda nn_: nn_.Linear(2, 3, bias=False),
    lambda nn_: nn_.Identity(),
    lambda nn_: nn_.Flatten(),
    lambda nn_: nn_.Flatten(0, 2),
    lambda nn_: nn_.Unflatten(1, (2, 5)),
    lambda nn_: nn_.ReLU(),
    lambda nn_: nn_.ReLU(inplace=True),
    lambda nn_: nn_.LeakyReLU(),
    lambda nn_: nn_.LeakyReLU(0.2, inplace=True),
    lambda nn_: nn_.ELU(),
    lambda nn_: nn_.ELU(alpha=0.5),
    lambda nn_: nn_.GELU(),
    lambda nn_: nn_.GELU(approximate="tanh"),
    lambda nn_: nn_.SiLU(),
    lambda nn_: nn_.Sigmoid(),
    lambda nn_: nn_.Tanh(),
    lambda nn_: nn_.Softplus(),
    lambda nn_: nn_.Softplus(beta=2, threshold=10),
    lambda nn_: nn_.ReLU6(),
    lambda nn_: nn_.ReLU6(inplace=True),
    lambda nn_: nn_.Hardtanh(),
    lambda nn_: nn_.Hardtanh(-2.0, 3, inplace=True),
    lambda nn_: nn_.Hardsigmoid(),
    lambda nn_: nn_.Hardswish(inplace=True),
    lambda nn_: nn_.Mish(),
    lambda nn_: nn_.SELU(),
    lambda nn_: nn_.SELU(inplace=True),
    lambda nn_: nn_.CELU(),
    lambda nn_: nn_.CELU(0.5, inplace=True),
    lambda nn_: nn_.GLU(),
    lambda nn_: nn_.GLU(dim=1),
    lambda nn_: nn_.LogSigmoid(),
    lambda nn_: nn_.Softsign(),
    lambda nn_: nn_.Tanhshrink(),
    lambda nn_: nn_.Softshrink(),
    lambda nn_: nn_.Softshrink(0.3),
    lambda nn_: nn_.Hardshrink(lambd=0.25),
    lambda nn_: nn_.Threshold(0.1, 20),
    lambda nn_: nn_.Threshold(0.1, 20.0, inplace=True),
    lambda nn_: nn_.PReLU(),
    lambda nn_: nn_.PReLU(3, init=0.1),
    lambda nn_: nn_.Softmin(1),
    lambda nn_: nn_.GaussianNLLLoss(),
    lambda nn_: nn_.PoissonNLLLoss(log_input=False),
    lambda nn_: nn_.MarginRankingLoss(0.5),
    lambda nn_: nn_.HingeEmbeddingLoss(),
    lambda nn_: nn_.SoftMarginLoss(),
    lambda nn_: nn_.MultiLabelSoftMarginLoss(),
    lambda nn_: nn_.MultiLabelMarginLoss(),
    lambda nn_: nn_.MultiMarginLoss(p=2),
    lambda nn_: nn_.CosineEmbeddingLoss(),
    lambda nn_: nn_.TripletMarginLoss(margin=2.0),
    lambda nn_: nn_.CosineSimilarity(),
    lambda nn_: nn_.PairwiseDistance(p=1.0),
    lambda nn_: nn_.Bilinear(3, 4, 5),
    lambda nn_: nn_.Bilinear(3, 4, 5, bias=False),
    lambda nn_: nn_.AlphaDropout(0.2),
    lambda nn_: nn_.Softmax(),
    lambda nn_: nn_.Softmax(dim=-1),
    lambda nn_: nn_.LogSoftmax(1),
    lambda nn_: nn_.CrossEntropyLoss(),
    lambda nn_: nn_.CrossEntropyLoss(label_smoothing=0.1),
    lambda nn_: nn_.NLLLoss(),
    lambda nn_: nn_.MSELoss(),
    lambda nn_: nn_.L1Loss(),
    lambda nn_: nn_.SmoothL1Loss(beta=0.5),
    lambda nn_: nn_.HuberLoss(),
    lambda nn_: nn_.BCELoss(),
    lambda nn_: nn_.BCEWithLogitsLoss(),
    lambda nn_: nn_.KLDivLoss(),
    lambda nn_: nn_.Dropout(),
    lambda nn_: nn_.Dropout(0.3, inplace=True),
    lambda nn_: nn_.BatchNorm1d(3),
    lambda nn_: nn_.BatchNorm1d(3, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
    lambda nn_: nn_.BatchNorm1d(3, bias=False),
    lambda nn_: nn_.LayerNorm(4),
    lambda nn_: nn_.LayerNorm((2, 3), eps=1e-6, elementwise_affine=False),
    lambda nn_: nn_.LayerNorm(4, bias=False),
    lambda nn_: nn_.Embedding(10, 3),
    lambda nn_: nn_.Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0),
]


@pytest.mark.parametrize("k", range(len(REPR_BUILDERS)))
def test_repr_matches_torch(torch, k):
    assert repr(REPR_BUILDERS[k](nn)) == repr(REPR_BUILDERS[k](torch.nn))


def test_repr_of_custom_module_matches_torch(torch):
    assert repr(make_net(tg)) == repr(make_net(torch))


def test_sequential_repr_literal():
    assert repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU())) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"
    )


# --- containers -------------------------------------------------------------------------------

def test_sequential_indexing():
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[3]
    del s[0]
    assert list(s._modules) == ["0", "1"] and s[0] is b
    s.append(a)
    s.insert(0, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Identity", "ReLU", "Tanh", "Linear"]
    s[1] = nn.Sigmoid()
    assert isinstance(s[1], nn.Sigmoid)
    assert s.pop(0).__class__ is nn.Identity and len(s) == 3
    assert len(s + nn.Sequential(nn.ReLU())) == 4
    x = tg.tensor([[0.5]])
    s2 = nn.Sequential(OrderedDict([("relu", nn.ReLU()), ("tanh", nn.Tanh())]))
    assert s2.relu is s2[0]
    np.testing.assert_allclose(_np(s2(x)), np.tanh([[0.5]]))


@pytest.mark.parametrize("act", [nn.ReLU, nn.Sigmoid, nn.Tanh])
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_sequential_fuses_linear_and_activation_with_the_same_results(act, dtype):
    """Sequential runs Linear + ReLU/Sigmoid/Tanh as one GEMM with the activation in its
    epilogue; outputs and gradients equal running the modules one by one."""
    tg.manual_seed(3)
    seq = nn.Sequential(nn.Linear(7, 9), act(), nn.Linear(9, 4), act()).to(dtype)
    x = tg.randn(5, 7, dtype=dtype, requires_grad=True)
    fused = seq(x)
    assert fused.grad_fn.name() == "LinearBackward0"  # one node per fused pair
    fused.sum().backward()
    fused_grads = [_np(p.grad) for p in (x, *seq.parameters())]
    x.grad = None
    seq.zero_grad()
    y = x
    for m in seq:
        y = m(y)
    assert y.grad_fn.name() != "LinearBackward0"
    y.sum().backward()
    tol = 1e-6 if dtype is tg.float32 else 1e-14
    np.testing.assert_allclose(_np(fused), _np(y), rtol=tol, atol=tol)
    for got, p in zip(fused_grads, (x, *seq.parameters())):
        np.testing.assert_allclose(got, _np(p.grad), rtol=tol, atol=tol)


def test_sequential_fused_linear_passes_gradcheck():
    tg.manual_seed(4)
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Sigmoid(), nn.Linear(2, 3),
                        nn.ReLU()).double()
    x = tg.randn(6, 3, dtype=tg.float64, requires_grad=True)
    params = list(seq.parameters())
    assert tg.autograd.gradcheck(lambda x, *ps: seq(x), (x, *params), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_sequential_does_not_fuse_subclasses_or_lone_linears():
    class Doubled(nn.Linear):
        def forward(self, input):  # noqa: A002
            return super().forward(input) * 2

    x = tg.randn(2, 3)
    seq = nn.Sequential(Doubled(3, 3), nn.ReLU())
    np.testing.assert_allclose(_np(seq(x)), np.maximum(_np(seq[0](x)), 0), rtol=1e-6)
    lone = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
    assert lone(tg.randn(2, 3, requires_grad=True)).grad_fn.name() == "LinearBackward0"
    tail = nn.Sequential(nn.Linear(3, 2))
    np.testing.assert_allclose(_np(tail(x)), _np(F.linear(x, tail[0].weight, tail[0].bias)))


def test_linear_rejects_an_activation_it_cannot_fuse():
    with pytest.raises(ValueError, match="linear: act must be one of"):
        F.linear(tg.randn(2, 3), tg.randn(4, 3), act="gelu")


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(1, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Linear", "Identity", "Linear", "Linear", "ReLU", "Tanh"]
    del layers[1]
    assert list(layers._modules) == [str(i) for i in range(5)]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert isinstance(layers.pop(), nn.Tanh)
    layers += nn.ModuleList([nn.Sigmoid()])
    assert isinstance(layers[-1], nn.Sigmoid)
    with pytest.raises(TypeError, match="iterable"):
        nn.ModuleList(3)

    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    d.update([("c", nn.Tanh())])
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert list(d.keys()) == ["a", "b", "c"] and isinstance(d.pop("b"), nn.ReLU)
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(ValueError, match="length 1"):
        d.update([("x",)])
    d.clear()
    assert len(d) == 0


# --- layers: forward and backward against torch --------------------------------------------

def test_linear_matches_torch(torch):
    run_parity(torch, lambda nn_: nn_.Linear(5, 3), [randn(4, 5)])
    run_parity(torch, lambda nn_: nn_.Linear(5, 3, bias=False), [randn(4, 5)])
    run_parity(torch, lambda nn_: nn_.Linear(5, 3), [randn(2, 4, 5)])
    run_parity(torch, lambda nn_: nn_.Linear(5, 3), [randn(5)])


def test_linear_float32_matches_torch(torch):
    run_parity(torch, lambda nn_: nn_.Linear(64, 32), [randn(16, 64).astype(np.float32)], double=False,
               tol=dict(rtol=1e-5, atol=1e-5))  # float32 GEMMs accumulate in different orders


@pytest.mark.parametrize("build", [
    lambda nn_: nn_.Identity(3, unused=True),
    lambda nn_: nn_.Flatten(),
    lambda nn_: nn_.Flatten(0, -1),
    lambda nn_: nn_.Unflatten(1, (2, 3)),
])
def test_shape_modules_match_torch(torch, build):
    run_parity(torch, build, [randn(2, 6, 2)])


ACTIVATIONS = [
    lambda nn_: nn_.ReLU(),
    lambda nn_: nn_.LeakyReLU(),
    lambda nn_: nn_.LeakyReLU(0.2),
    lambda nn_: nn_.ELU(),
    lambda nn_: nn_.ELU(0.5),
    lambda nn_: nn_.GELU(),
    lambda nn_: nn_.GELU("tanh"),
    lambda nn_: nn_.SiLU(),
    lambda nn_: nn_.Sigmoid(),
    lambda nn_: nn_.Tanh(),
    lambda nn_: nn_.Softplus(),
    lambda nn_: nn_.Softplus(beta=2.0, threshold=1.0),
    lambda nn_: nn_.Softmax(dim=1),
    lambda nn_: nn_.Softmax(dim=0),
    lambda nn_: nn_.LogSoftmax(dim=-1),
]


@pytest.mark.parametrize("k", range(len(ACTIVATIONS)))
def test_activation_matches_torch(torch, k):
    run_parity(torch, ACTIVATIONS[k], [randn(4, 5, seed=k) * 3])


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("LeakyReLU", (0.1,)), ("ELU", (0.7,)), ("SiLU", ())])
def test_inplace_activation_writes_input(torch, name, args):
    x = randn(3, 4)
    t = tg.tensor(x)
    out = getattr(nn, name)(*args, inplace=True)(t)
    assert out is t
    ref = getattr(torch.nn, name)(*args)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(_np(t), ref, **TOL)
    # on a non-leaf inside a graph, gradients still flow (as PyTorch's)
    leaf_tg, leaf_th = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (getattr(nn, name)(*args, inplace=True)(leaf_tg * 2) ** 2).sum().backward()
    (getattr(torch.nn, name)(*args, inplace=True)(leaf_th * 2) ** 2).sum().backward()
    np.testing.assert_allclose(_np(leaf_tg.grad), leaf_th.grad.numpy(), **TOL)


def test_softmax_implicit_dim_warns_like_torch(torch):
    x = randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        ours = nn.Softmax()(tg.tensor(x))
    with pytest.warns(UserWarning):
        theirs = torch.nn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(_np(ours), theirs.numpy(), **TOL)
    with pytest.warns(UserWarning, match="log_softmax"):
        nn.LogSoftmax()(tg.tensor(randn(4)))


# --- losses -----------------------------------------------------------------------------------

def _probs(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape)


def _classes(n, c, seed=0, shape=None):
    return np.random.default_rng(seed).integers(0, c, shape or (n,))


W3 = np.array([0.2, 1.0, 2.5])


def _lib(nn_):
    """The library (tapegrad or torch) that an nn namespace belongs to."""
    if nn_ is tg.nn:
        return tg
    import torch

    return torch

LOSSES = [
    # (builder, input, target)
    (lambda nn_: nn_.L1Loss(), randn(4, 3), randn(4, 3, seed=1)),
    (lambda nn_: nn_.L1Loss(reduction="sum"), randn(4, 3), randn(4, 3, seed=1)),
    (lambda nn_: nn_.L1Loss(reduction="none"), randn(4, 3), randn(4, 3, seed=1)),
    (lambda nn_: nn_.MSELoss(), randn(4, 3), randn(4, 3, seed=1)),
    (lambda nn_: nn_.MSELoss(reduction="sum"), randn(4, 3), randn(4, 3, seed=1)),
    (lambda nn_: nn_.MSELoss(reduction="none"), randn(5), randn(5, seed=1)),
    (lambda nn_: nn_.SmoothL1Loss(), randn(4, 3) * 2, randn(4, 3, seed=1)),
    (lambda nn_: nn_.SmoothL1Loss(beta=0.5, reduction="none"), randn(4, 3) * 2, randn(4, 3, seed=1)),
    (lambda nn_: nn_.HuberLoss(), randn(4, 3) * 2, randn(4, 3, seed=1)),
    (lambda nn_: nn_.HuberLoss(delta=0.3, reduction="sum"), randn(4, 3) * 2, randn(4, 3, seed=1)),
    (lambda nn_: nn_.BCELoss(), _probs((4, 3)), _probs((4, 3), 1)),
    (lambda nn_: nn_.BCELoss(reduction="none"), _probs((6,)), _probs((6,), 1).round()),
    (lambda nn_: nn_.BCEWithLogitsLoss(), randn(4, 3) * 3, _probs((4, 3), 1).round()),
    (lambda nn_: nn_.BCEWithLogitsLoss(reduction="sum", pos_weight=_lib(nn_).tensor(W3)),
     randn(4, 3) * 3, _probs((4, 3), 1)),
    (lambda nn_: nn_.KLDivLoss(reduction="batchmean"), np.log(_probs((4, 3))), _probs((4, 3), 1)),
    (lambda nn_: nn_.KLDivLoss(reduction="sum", log_target=True), np.log(_probs((4, 3))), np.log(_probs((4, 3), 1))),
    (lambda nn_: nn_.KLDivLoss(reduction="none"), np.log(_probs((4, 3))), _probs((4, 3), 1)),
    (lambda nn_: nn_.KLDivLoss(), np.log(_probs((4, 3))), _probs((4, 3), 1)),
    (lambda nn_: nn_.NLLLoss(), randn(5, 3), _classes(5, 3)),
    (lambda nn_: nn_.NLLLoss(ignore_index=1, reduction="sum"), randn(5, 3), _classes(5, 3)),
    (lambda nn_: nn_.CrossEntropyLoss(), randn(6, 4) * 2, _classes(6, 4)),
    (lambda nn_: nn_.CrossEntropyLoss(reduction="none"), randn(6, 4), _classes(6, 4)),
    (lambda nn_: nn_.CrossEntropyLoss(reduction="sum", label_smoothing=0.2), randn(6, 4), _classes(6, 4)),
    (lambda nn_: nn_.CrossEntropyLoss(ignore_index=2), randn(6, 4), _classes(6, 4)),
    (lambda nn_: nn_.CrossEntropyLoss(), randn(3, 4, 5), _classes(3, 4, shape=(3, 5))),
    (lambda nn_: nn_.CrossEntropyLoss(), randn(4), np.array(2)),
    (lambda nn_: nn_.CrossEntropyLoss(label_smoothing=0.1), randn(5, 3), _probs((5, 3), 1)),
]


def _weighted(builder_name, **kw):
    """A weighted loss built in either library with W3 as its class weight."""
    def build(nn_):
        return getattr(nn_, builder_name)(weight=_lib(nn_).tensor(W3), **kw)
    return build


LOSSES += [
    (_weighted("NLLLoss"), randn(5, 3), _classes(5, 3)),
    (_weighted("NLLLoss", ignore_index=0), randn(5, 3), _classes(5, 3, seed=3)),
    (_weighted("NLLLoss", reduction="none"), randn(5, 3, 2), _classes(5, 3, shape=(5, 2))),
    (_weighted("CrossEntropyLoss"), randn(6, 3) * 2, _classes(6, 3)),
    (_weighted("CrossEntropyLoss", reduction="sum"), randn(6, 3), _classes(6, 3)),
    (_weighted("CrossEntropyLoss", label_smoothing=0.15), randn(6, 3), _classes(6, 3)),
    (_weighted("CrossEntropyLoss", label_smoothing=0.15, ignore_index=1), randn(6, 3), _classes(6, 3)),
    (_weighted("CrossEntropyLoss", reduction="none", label_smoothing=0.3), randn(2, 3, 4), _classes(2, 3, shape=(2, 4))),
    (_weighted("CrossEntropyLoss"), randn(3), np.array(1)),
    (_weighted("CrossEntropyLoss"), randn(5, 3), _probs((5, 3), 1)),
    (_weighted("CrossEntropyLoss", label_smoothing=0.2, reduction="sum"), randn(5, 3), _probs((5, 3), 1)),
    (_weighted("BCELoss"), _probs((4, 3)), _probs((4, 3), 1)),
    (_weighted("BCEWithLogitsLoss"), randn(4, 3), _probs((4, 3), 1)),
]


@pytest.mark.parametrize("k", range(len(LOSSES)))
def test_loss_matches_torch(torch, k):
    build, x, target = LOSSES[k]
    run_parity(torch, build, [x, target], grads=[True, False], quiet_torch=True)


def test_losses_legacy_reduction_arguments(torch):
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.L1Loss(reduce=False).reduction == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sa, red in [(None, None), (True, None), (False, True), (None, False), (False, False)]:
            if sa is None and red is None:
                continue
            assert nn.MSELoss(sa, red).reduction == torch.nn.MSELoss(sa, red).reduction


def test_loss_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=tg.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"]
    loss.double()
    assert loss.weight.dtype is tg.float64
    assert list(nn.BCEWithLogitsLoss(pos_weight=tg.ones(3)).state_dict()) == ["pos_weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []


# --- Dropout ----------------------------------------------------------------------------------

def test_dropout_train_mask_scale_and_gradient():
    x = tg.tensor(np.random.default_rng(0).uniform(1, 2, (200, 500)), requires_grad=True)
    d = nn.Dropout(0.3)
    tg.manual_seed(11)
    y = d(x)
    yv, xv = _np(y), _np(x)
    kept = yv != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 100k draws: the std of the fraction is 0.0015
    np.testing.assert_allclose(yv[kept], xv[kept] / 0.7, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), kept / 0.7, rtol=1e-15)


def test_dropout_reproducible_with_manual_seed():
    x = tg.ones(50, 50)
    d = nn.Dropout(0.5)
    tg.manual_seed(123)
    a = _np(d(x))
    b = _np(d(x))
    tg.manual_seed(123)
    c = _np(d(x))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_eval_p0_p1_and_inplace():
    x = tg.randn(10, 10, requires_grad=True)
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    y = nn.Dropout(1.0)(x)
    assert not np.any(_np(y))
    y.sum().backward()
    assert not np.any(_np(x.grad))
    z = tg.ones(4, 4)
    assert nn.Dropout(0.5, inplace=True)(z) is z and set(np.unique(_np(z))) <= {0.0, 2.0}
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)
    assert F.dropout(x, 0.5, training=False) is x


def test_dropout_in_model_train_vs_eval():
    m = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
    x = tg.randn(4, 8)
    m.eval()
    a, b = _np(m(x)), _np(m(x))
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.array_equal(_np(m(x)), a)


# --- BatchNorm1d and LayerNorm ---------------------------------------------------------------

BN_BUILDERS = [
    lambda nn_: nn_.BatchNorm1d(5),
    lambda nn_: nn_.BatchNorm1d(5, momentum=None),
    lambda nn_: nn_.BatchNorm1d(5, momentum=0.3, eps=1e-3),
    lambda nn_: nn_.BatchNorm1d(5, affine=False),
    lambda nn_: nn_.BatchNorm1d(5, bias=False),
    lambda nn_: nn_.BatchNorm1d(5, track_running_stats=False),
]


@pytest.mark.parametrize("k", range(len(BN_BUILDERS)))
@pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3)])
def test_batchnorm_train_steps_then_eval_match_torch(torch, k, shape):
    """Several training steps (each compared forward and backward), then eval-mode outputs and
    gradients with the running statistics both libraries accumulated."""
    mod_tg, mod_th = BN_BUILDERS[k](nn).double(), BN_BUILDERS[k](torch.nn).double()
    if mod_tg.affine:  # non-trivial affine parameters
        with tg.no_grad():
            mod_tg.weight.copy_(tg.tensor(randn(5, seed=7)))
            if mod_tg.bias is not None:
                mod_tg.bias.copy_(tg.tensor(randn(5, seed=8)))
    copy_weights(torch, mod_tg, mod_th)
    for step in range(4):
        x = randn(*shape, seed=step) * (step + 1) + step
        _compare_step(torch, mod_tg, mod_th, x, seed=step)
    th_buffers = dict(mod_th.named_buffers())
    for name, b in mod_tg.named_buffers():
        np.testing.assert_allclose(_np(b), _np(th_buffers[name]), err_msg=name, **TOL)
    mod_tg.eval()
    mod_th.eval()
    _compare_step(torch, mod_tg, mod_th, randn(*shape, seed=10), seed=10)


def _compare_step(torch, mod_tg, mod_th, x, seed):
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = mod_tg(a), mod_th(b)
    np.testing.assert_allclose(_np(ya), _np(yb), **TOL)
    up = randn(*x.shape, seed=seed + 50)
    ya.backward(tg.tensor(up))
    yb.backward(torch.tensor(up))
    np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-9, atol=1e-11)
    th_params = dict(mod_th.named_parameters())
    for name, p in mod_tg.named_parameters():
        np.testing.assert_allclose(_np(p.grad), th_params[name].grad.numpy(), rtol=1e-9, atol=1e-11)
        p.grad = None
        th_params[name].grad = None


@pytest.mark.parametrize("make", [lambda: nn.BatchNorm1d(3), lambda: nn.LayerNorm(3)])
def test_normalization_weight_changed_before_backward_raises(make):
    m = make()
    out = m(tg.randn(4, 3, requires_grad=True))
    with tg.no_grad():
        m.weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(tg.ones(3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(tg.ones(1, 3))
    bn.eval()
    assert tuple(bn(tg.ones(1, 3)).shape) == (1, 3)  # fine in eval
    with pytest.raises(RuntimeError, match="does not match the input"):
        nn.BatchNorm1d(4).eval()(tg.ones(2, 3))


def test_batchnorm_state_dict_without_counter_loads():
    a = nn.BatchNorm1d(2)
    sd = a.state_dict()
    del sd["num_batches_tracked"]
    result = nn.BatchNorm1d(2).load_state_dict(sd)
    assert result.missing_keys == []


@pytest.mark.parametrize("build,shape", [
    (lambda nn_: nn_.LayerNorm(5), (4, 5)),
    (lambda nn_: nn_.LayerNorm(5, eps=1e-3), (2, 3, 5)),
    (lambda nn_: nn_.LayerNorm((3, 5)), (2, 3, 5)),
    (lambda nn_: nn_.LayerNorm(5, elementwise_affine=False), (4, 5)),
    (lambda nn_: nn_.LayerNorm(5, bias=False), (4, 5)),
    (lambda nn_: nn_.LayerNorm(5), (5,)),
])
def test_layernorm_matches_torch(torch, build, shape):
    mod = build(nn)
    if mod.elementwise_affine:
        with tg.no_grad():  # non-trivial affine parameters
            mod.weight.copy_(tg.tensor(randn(*mod.normalized_shape, seed=3)))
            if mod.bias is not None:
                mod.bias.copy_(tg.tensor(randn(*mod.normalized_shape, seed=4)))

    def same(nn_):
        return mod if nn_ is tg.nn else build(nn_)

    run_parity(torch, same, [randn(*shape) * 3 + 1], tol=dict(rtol=1e-9, atol=1e-11))


def test_layernorm_shape_error():
    with pytest.raises(RuntimeError, match=re.escape("Given normalized_shape=[4], expected input with shape [*, 4]")):
        nn.LayerNorm(4)(tg.ones(2, 3))


def test_normalization_gradcheck():
    rng = np.random.default_rng(5)
    x = tg.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    w = tg.tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)
    assert tg.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm, rv = tg.tensor(rng.standard_normal(3)), tg.tensor(rng.uniform(0.5, 2, 3))
    assert tg.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x, w, b))
    w2 = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b2 = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert tg.autograd.gradcheck(lambda x, w, b: F.layer_norm(x, (3, 2), w, b), (x, w2, b2))
    assert tg.autograd.gradcheck(lambda x: F.layer_norm(x, (2,)), (x,))


def test_functional_batch_norm_updates_running_stats_like_torch(torch):
    x = randn(6, 3, 2)
    rm_tg, rv_tg = tg.zeros(3, dtype=tg.float64), tg.ones(3, dtype=tg.float64)
    rm_th, rv_th = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    a = F.batch_norm(tg.tensor(x), rm_tg, rv_tg, training=True, momentum=0.25)
    b = torch.nn.functional.batch_norm(torch.tensor(x), rm_th, rv_th, training=True, momentum=0.25)
    np.testing.assert_allclose(_np(a), b.numpy(), **TOL)
    np.testing.assert_allclose(_np(rm_tg), rm_th.numpy(), **TOL)
    np.testing.assert_allclose(_np(rv_tg), rv_th.numpy(), **TOL)


# --- Embedding --------------------------------------------------------------------------------

def test_embedding_matches_torch(torch):
    idx = np.array([[1, 0, 3], [0, 2, 3]])
    run_parity(torch, lambda nn_: nn_.Embedding(5, 4), [idx])
    mod_tg, _, _, _ = run_parity(torch, lambda nn_: nn_.Embedding(5, 4, padding_idx=0), [idx])
    assert not np.any(_np(mod_tg.weight)[0]) and not np.any(_np(mod_tg.weight.grad)[0])
    run_parity(torch, lambda nn_: nn_.Embedding(5, 4, padding_idx=-2), [idx])
    run_parity(torch, lambda nn_: nn_.Embedding(5, 4), [np.array(3)])


def test_embedding_padding_row_gets_no_gradient_even_when_nonzero(torch):
    w = randn(5, 3)
    idx = np.array([[2, 1, 1], [4, 2, 0]])
    a = nn.Embedding.from_pretrained(tg.tensor(w), freeze=False, padding_idx=1)
    b = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, padding_idx=1)
    ya, yb = a(tg.tensor(idx)), b(torch.tensor(idx))
    np.testing.assert_allclose(_np(ya), yb.detach().numpy(), **TOL)  # the row's values are read
    up = randn(2, 3, 3, seed=1)
    ya.backward(tg.tensor(up))
    yb.backward(torch.tensor(up))
    np.testing.assert_allclose(_np(a.weight.grad), b.weight.grad.numpy(), **TOL)
    assert not np.any(_np(a.weight.grad)[1])


def test_embedding_max_norm_renormalises_like_torch(torch):
    w = randn(6, 3) * 3
    idx = np.array([0, 2, 2, 5])
    a = nn.Embedding.from_pretrained(tg.tensor(w), freeze=False, max_norm=1.5)
    b = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, max_norm=1.5)
    np.testing.assert_allclose(_np(a(tg.tensor(idx))), b(torch.tensor(idx)).detach().numpy(), **TOL)
    np.testing.assert_allclose(_np(a.weight), b.weight.detach().numpy(), **TOL)


def test_embedding_init_and_from_pretrained():
    tg.manual_seed(0)
    e = nn.Embedding(1000, 50, padding_idx=3)
    w = _np(e.weight)
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01 and not np.any(w[3])
    pre = tg.randn(4, 2)
    f = nn.Embedding.from_pretrained(pre)
    assert not f.weight.requires_grad
    pre[0, 0] = 9.0
    assert f.weight[0, 0].item() == 9.0  # shares memory with the given tensor
    with pytest.raises(RuntimeError, match="int64"):
        e(tg.tensor([1.0]))


def test_one_hot_matches_torch(torch):
    t = np.array([[0, 2], [1, 3]])
    np.testing.assert_array_equal(_np(F.one_hot(tg.tensor(t))), torch.nn.functional.one_hot(torch.tensor(t)).numpy())
    np.testing.assert_array_equal(_np(F.one_hot(tg.tensor(t), 6)), torch.nn.functional.one_hot(torch.tensor(t), 6).numpy())
    assert F.one_hot(tg.tensor([1])).dtype is tg.int64
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(tg.tensor([3]), 2)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(tg.tensor([-1]), 2)


# --- init -------------------------------------------------------------------------------------

def test_linear_init_bounds_and_statistics():
    tg.manual_seed(0)
    m = nn.Linear(256, 128)
    w, b = _np(m.weight), _np(m.bias)
    bound = 1 / math.sqrt(256)
    assert w.shape == (128, 256) and b.shape == (128,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)
    assert abs(w.mean()) < 0.02 * bound
    assert np.abs(b).max() <= bound
    assert m.weight.is_leaf and m.weight.requires_grad and m.weight.grad_fn is None


def test_init_reproducible_with_seed():
    tg.manual_seed(42)
    a = nn.Linear(5, 5)
    tg.manual_seed(42)
    b = nn.Linear(5, 5)
    np.testing.assert_array_equal(_np(a.weight), _np(b.weight))
    g = tg.Generator().manual_seed(3)
    t1 = nn.init.normal_(tg.empty(3, 3), generator=g)
    g.manual_seed(3)
    t2 = nn.init.normal_(tg.empty(3, 3), generator=g)
    np.testing.assert_array_equal(_np(t1), _np(t2))


def test_init_distributions():
    tg.manual_seed(1)
    t = tg.empty(300, 400)
    n = 300 * 400
    assert nn.init.uniform_(t, -2.0, 3.0) is t
    v = _np(t)
    assert v.min() >= -2.0 and v.max() < 3.0 and abs(v.mean() - 0.5) < 0.02
    v = _np(nn.init.normal_(t, 1.0, 2.0))
    assert abs(v.mean() - 1.0) < 0.03 and abs(v.std() - 2.0) < 0.03

    fan_in, fan_out = 400, 300
    v = _np(nn.init.xavier_uniform_(t, gain=2.0))
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    v = _np(nn.init.xavier_normal_(t, gain=0.5))
    assert abs(v.std() / (0.5 * math.sqrt(2 / (fan_in + fan_out))) - 1) < 0.02

    v = _np(nn.init.kaiming_uniform_(t, nonlinearity="relu"))
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    v = _np(nn.init.kaiming_uniform_(t, a=0.3, mode="fan_out"))
    bound = math.sqrt(2 / (1 + 0.09)) * math.sqrt(3 / fan_out)
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    v = _np(nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="tanh"))
    assert abs(v.std() / ((5 / 3) / math.sqrt(fan_out)) - 1) < 0.02
    assert abs(v.mean()) < 4 * v.std() / math.sqrt(n)

    v = _np(nn.init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=1.0))
    assert v.min() >= -1.0 and v.max() <= 1.0 and v.std() > 0.4

    assert not np.any(_np(nn.init.zeros_(t)))
    assert np.all(_np(nn.init.ones_(t)) == 1)
    assert np.all(_np(nn.init.constant_(t, 0.25)) == 0.25)
    np.testing.assert_array_equal(_np(nn.init.eye_(tg.empty(2, 3))), np.eye(2, 3))


def test_init_in_place_on_parameters_records_nothing():
    p = nn.Parameter(tg.zeros(4, 4))
    version = p._version_counter
    nn.init.kaiming_normal_(p)
    assert p.grad_fn is None and p.is_leaf and p._version_counter > version
    assert np.any(_np(p))


def test_init_errors_and_empty_warning():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(tg.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        nn.init.kaiming_uniform_(tg.empty(2, 2), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(tg.empty(0, 3))


def test_fan_in_fan_out_match_torch(torch):
    for shape in [(3, 4), (5, 2, 3), (6, 4, 2, 2)]:
        assert nn.init._calculate_fan_in_and_fan_out(tg.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_calculate_gain_matches_torch(torch):
    cases = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
             ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None),
             ("conv_transpose3d", None)]
    for name, param in cases:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        nn.init.calculate_gain("leaky_relu", True)


# --- utils ------------------------------------------------------------------------------------

def _grads_pair(torch, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2), ()]
    arrays = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) * 3 for s in shapes]
    ours, theirs = [], []
    for a, g in zip(arrays, grads):
        p = nn.Parameter(tg.tensor(a))
        p.grad = tg.tensor(g)
        q = torch.nn.Parameter(torch.tensor(a))
        q.grad = torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    ours.append(nn.Parameter(tg.ones(2)))  # no grad: skipped by both
    theirs.append(torch.nn.Parameter(torch.ones(2, dtype=torch.float64)))
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    ours, theirs = _grads_pair(torch)
    total_tg = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_th = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(_np(total_tg), total_th.numpy(), **TOL)
    assert total_tg.ndim == 0
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), **TOL)


def test_clip_grad_norm_edge_cases():
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    p = nn.Parameter(tg.ones(3))
    p.grad = tg.tensor([3.0, 4.0, 0.0])
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)  # a single tensor
    np.testing.assert_allclose(_np(p.grad), [3 / (5 + 1e-6), 4 / (5 + 1e-6), 0], rtol=1e-6)
    p.grad = tg.tensor([float("nan"), 1.0, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch(torch):
    ours, theirs = _grads_pair(torch, seed=1)
    nn.utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, q in zip(ours, theirs):
        if q.grad is not None:
            np.testing.assert_array_equal(_np(p.grad), q.grad.numpy())


def test_parameters_vector_round_trip(torch):
    m_tg, m_th = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    copy_weights(torch, m_tg, m_th)
    v_tg = nn.utils.parameters_to_vector(m_tg.parameters())
    v_th = torch.nn.utils.parameters_to_vector(m_th.parameters())
    np.testing.assert_array_equal(_np(v_tg), v_th.detach().numpy())
    assert v_tg.requires_grad  # differentiable, as PyTorch's
    new = tg.arange(8, dtype=tg.float64)
    nn.utils.vector_to_parameters(new, m_tg.parameters())
    assert m_tg.weight.tolist() == [[0, 1, 2], [3, 4, 5]] and m_tg.bias.tolist() == [6, 7]
    new[0] = 100.0  # the parameters now view the vector
    assert m_tg.weight[0, 0].item() == 100.0
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], m_tg.parameters())


# --- training ---------------------------------------------------------------------------------

def _mlp(nn_):
    return nn_.Sequential(nn_.Linear(4, 16), nn_.ReLU(), nn_.Linear(16, 16), nn_.BatchNorm1d(16), nn_.Tanh(),
                          nn_.Linear(16, 3))


@pytest.mark.parametrize("dtype,tol", [
    ("float64", dict(rtol=1e-10, atol=1e-12)),
    # float32: GEMM and reduction accumulation orders differ from PyTorch's, and 20 steps
    # of SGD carry those roundings forward
    ("float32", dict(rtol=2e-5, atol=2e-6)),
])
def test_mlp_sgd_trajectory_matches_torch(torch, dtype, tol):
    tg.manual_seed(0)
    m_tg, m_th = _mlp(nn), _mlp(torch.nn)
    if dtype == "float64":
        m_tg.double()
        m_th.double()
    copy_weights(torch, m_tg, m_th)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(dtype)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    crit_tg, crit_th = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    lr = 0.1
    losses_tg, losses_th = [], []
    for _ in range(20):
        m_tg.zero_grad()
        m_th.zero_grad()
        loss_tg = crit_tg(m_tg(tg.tensor(x)), tg.tensor(y))
        loss_th = crit_th(m_th(torch.tensor(x)), torch.tensor(y))
        loss_tg.backward()
        loss_th.backward()
        nn.utils.clip_grad_norm_(m_tg.parameters(), 5.0)
        torch.nn.utils.clip_grad_norm_(m_th.parameters(), 5.0)
        with tg.no_grad():
            for p in m_tg.parameters():
                p -= lr * p.grad
        with torch.no_grad():
            for p in m_th.parameters():
                p -= lr * p.grad
        losses_tg.append(loss_tg.item())
        losses_th.append(loss_th.item())
    np.testing.assert_allclose(losses_tg, losses_th, **tol)
    assert losses_tg[-1] < losses_tg[0] * 0.7
    sd_th = m_th.state_dict()
    for k, v in m_tg.state_dict().items():
        np.testing.assert_allclose(_np(v), sd_th[k].numpy(), err_msg=k, **tol)


PYTORCH_SCRIPT = '''
import tapegrad as torch
from tapegrad import nn
import tapegrad.nn.functional as F

torch.manual_seed(0)


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes, p=0.1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.bn = nn.BatchNorm1d(d_hidden)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(d_hidden, n_classes)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.bn(self.fc1(x)))))


model = MLP(2, 32, 2)
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
x = torch.randn(128, 2)
y = (x[:, 0] * x[:, 1] > 0).long()
first = None
for epoch in range(60):
    model.train()
    model.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    first = loss.item() if first is None else first
model.eval()
with torch.no_grad():
    acc = (model(x).argmax(dim=1) == y).float().mean().item()
checkpoint = model.state_dict()
clone = MLP(2, 32, 2)
clone.load_state_dict(checkpoint)
clone.eval()
same = bool((clone(x) == model(x)).all())
'''


def test_pytorch_style_script_runs():
    ns = {}
    exec(compile(PYTORCH_SCRIPT, "<script>", "exec"), ns)
    assert ns["loss"].item() < 0.6 * ns["first"]
    assert ns["acc"] > 0.9
    assert ns["same"]


ACTIVATION_MODULES = [
    ("ReLU6", (), {}), ("Hardtanh", (-0.5, 0.5), {}), ("Hardsigmoid", (), {}), ("Hardswish", (), {}),
    ("Mish", (), {}), ("SELU", (), {}), ("CELU", (0.7,), {}), ("GLU", (), {"dim": 1}),
    ("LogSigmoid", (), {}), ("Softsign", (), {}), ("Tanhshrink", (), {}), ("Softshrink", (0.3,), {}),
    ("Hardshrink", (), {"lambd": 0.3}), ("Threshold", (0.1, -1.0), {}), ("Softmin", (1,), {}),
    ("PReLU", (), {}), ("PReLU", (4,), {"init": 0.1}),
]


@pytest.mark.parametrize("name, args, kwargs", ACTIVATION_MODULES, ids=[m[0] + str(i) for i, m in enumerate(ACTIVATION_MODULES)])
def test_activation_modules_match_torch(torch, name, args, kwargs):
    x = np.random.default_rng(5).standard_normal((3, 4, 2)) * 3
    outs = []
    for T in (tg, torch):
        m = getattr(T.nn, name)(*args, **kwargs).double()
        xt = T.tensor(x, requires_grad=True)
        y = m(xt)
        y.backward(T.ones_like(y) * 0.5)
        outs.append((y.detach().numpy(), xt.grad.numpy(),
                     {k: p.grad.numpy() for k, p in m.named_parameters()}))
    (y, gx, gp), (ty, tgx, tgp) = outs
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-14)
    # PyTorch's float64 backward of hardsigmoid multiplies by 1/6 rounded to float32, and that of
    # celu by 1/alpha rounded to float32 (|x| 3e-8 off exp(x / alpha), which tapegrad's is to 1 ulp)
    rtol = {"Hardsigmoid": 1e-7, "CELU": 1e-6}.get(name, 1e-12)
    np.testing.assert_allclose(gx, tgx, rtol=rtol, atol=1e-14)
    assert gp.keys() == tgp.keys()
    for k in gp:
        np.testing.assert_allclose(gp[k], tgp[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, args", [("ReLU6", ()), ("Hardtanh", (-0.5, 0.5)), ("SELU", ()), ("CELU", (0.7,)),
                                        ("Threshold", (0.1, -1.0)), ("Mish", ()), ("Hardswish", ()),
                                        ("Hardsigmoid", ()), ("SiLU", ()), ("ELU", ()), ("LeakyReLU", ())])
def test_inplace_activation_modules_write_into_their_input(torch, name, args):
    x = np.random.default_rng(6).standard_normal((3, 4)) * 4
    a = tg.tensor(x)
    out = getattr(nn, name)(*args, inplace=True)(a)
    assert out is a
    want = getattr(torch.nn, name)(*args)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(a.numpy(), want, rtol=1e-12, atol=1e-14)


def test_prelu_checks_its_weight_against_the_channels():
    with pytest.raises(RuntimeError, match=r"parameter numbers = 3 and channel size = 4.*\(2, 4, 5\).*\(3,\)"):
        nn.PReLU(3)(tg.zeros(2, 4, 5))
    assert nn.PReLU(4).state_dict()["weight"].shape == (4,)


def test_composite_activation_argument_errors():
    with pytest.raises(RuntimeError, match="halving dimension must be even, but dimension 1 is size 5"):
        F.glu(tg.zeros(2, 5))
    with pytest.raises(ValueError, match=r"min_val \(2.0\) cannot be greater than max_val \(1.0\)"):
        F.hardtanh(tg.zeros(2), 2.0, 1.0)
    with pytest.raises(ValueError, match="lambd must be at least 0"):
        F.softshrink(tg.zeros(2), -1.0)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.relu6([1.0, 2.0])


def test_bilinear_draws_torchs_initial_weights(torch):
    tg.manual_seed(3)
    torch.manual_seed(3)
    ours, theirs = nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5)
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.detach().numpy(), theirs.bias.detach().numpy())


def test_alpha_dropout_matches_torch_under_the_same_seed(torch):
    x = np.random.default_rng(8).standard_normal((64, 50)).astype(np.float32)
    tg.manual_seed(11)
    torch.manual_seed(11)
    ours = F.alpha_dropout(tg.tensor(x), 0.2, training=True).numpy()
    theirs = torch.nn.functional.alpha_dropout(torch.tensor(x), 0.2, training=True).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert F.alpha_dropout(tg.tensor(x), 0.2) is not None  # training=False by default: the identity
    np.testing.assert_array_equal(F.alpha_dropout(tg.tensor(x), 0.2).numpy(), x)


def test_alpha_dropout_keeps_a_standard_normal_standard():
    tg.manual_seed(0)
    y = nn.AlphaDropout(0.3).train()(tg.randn(200000)).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01


def test_loss_and_distance_argument_errors():
    x = tg.randn(4, 3)
    with pytest.raises(ValueError, match="var has negative"):
        F.gaussian_nll_loss(x, x, -tg.ones(4, 3))
    with pytest.raises(ValueError, match=r"var is of incorrect size: \(4, 2\) for input \(4, 3\)"):
        F.gaussian_nll_loss(x, x, tg.ones(4, 2))
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        F.soft_margin_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        F.multi_margin_loss(x, tg.tensor([0, 1, 2, 0]), p=3)
    with pytest.raises(RuntimeError, match=r"inconsistent target size: \(3,\) for input of size \(4, 3\)"):
        F.multi_margin_loss(x, tg.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="target 7 is out of bounds for 3 classes"):
        F.multilabel_margin_loss(x, tg.tensor([[7, -1, 0]] * 4))
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(x, x, x, margin=0)
    with pytest.raises(RuntimeError, match=r"bilinear: input1 \(4, 3\) and input2 \(4, 2\) do not fit weight"):
        F.bilinear(x, tg.randn(4, 2), tg.randn(5, 3, 3))
    with pytest.raises(ValueError, match="padding length must be divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match=r"padding \(3, 0\) in reflect mode must be less than the size 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode="replicate", value=2.0)
