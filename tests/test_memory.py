"""Memory over training: the library keeps no graph alive. A training loop's resident memory is
flat after warm-up; an intermediate tensor and its graph node die once the loss is gone (by
reference counting, with no cycles for the collector); backward frees what forward saved.
Keeping a running total as a tensor (`running_loss += loss`) keeps every step's graph nodes
reachable, as in PyTorch; `loss.item()` does not."""
import gc
import sys
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import _C, nn, optim

from child import run_python

# argv: how the running loss is kept ("item" or "tensor"). Prints the growth of the resident
# set, in bytes, over 1000 steps after 100 steps of warm-up.
_TRAIN = """
import os, sys
import tapegrad as tg
from tapegrad import nn, optim

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

tg.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
opt = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
x, y = tg.randn(128, 64), tg.randint(0, 10, (128,))
running_loss = 0.0

def step():
    global running_loss
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    running_loss += loss.item() if sys.argv[1] == "item" else loss

for _ in range(100):
    step()
before = rss()
for _ in range(1000):
    step()
print(rss() - before)
"""

# A leak of one activation of this model per step (128 x 256 float32 = 128 KB) would add
# 128 MB over the 1000 steps; the graph nodes alone, kept by `running_loss += loss`, add about
# 3 MB. The flat loop measures well under 0.1 MB here, so 1 MB separates the two with room
# for allocator noise.
_FLAT_BYTES = 1_000_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif("-fsanitize=address" in _C.cpu.build_info()["cxx_flags"],
                    reason="AddressSanitizer holds freed memory in quarantine (scripts/sanitize.sh)")
def test_1000_training_steps_keep_memory_flat():
    growth = int(run_python(_TRAIN, "item").stdout)
    assert growth < _FLAT_BYTES
    # The same measurement sees the nodes a tensor-valued running total keeps.
    assert int(run_python(_TRAIN, "tensor").stdout) > _FLAT_BYTES


def _mlp():
    tg.manual_seed(0)
    return nn.Linear(8, 16), nn.Linear(16, 3), tg.randn(4, 8), tg.tensor([0, 2, 1, 0])


def _nodes(root):
    """Every node reachable from `root` (a grad_fn) through next_edges."""
    seen, stack = {}, [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not isinstance(node, tg.autograd.Node):
            continue
        seen[id(node)] = node
        stack.extend(node.next_edges)
    return list(seen.values())


@pytest.mark.parametrize("backward", [True, False])
def test_the_graph_dies_with_the_loss_without_the_garbage_collector(backward):
    lin1, lin2, x, y = _mlp()
    gc.collect()
    gc.disable()  # only reference counting frees anything: the graph must have no cycles
    try:
        hidden = tg.relu(lin1(x))
        loss = nn.functional.cross_entropy(lin2(hidden), y)
        refs = [weakref.ref(o) for o in (hidden, hidden.grad_fn, loss.grad_fn, hidden._data)]
        if backward:
            loss.backward()
        del hidden, loss
        assert [r() for r in refs] == [None] * len(refs)
        assert lin1.weight.grad is not None or not backward
    finally:
        gc.enable()


def test_backward_frees_what_forward_saved():
    lin1, lin2, x, y = _mlp()
    hidden = tg.relu(lin1(x))
    loss = nn.functional.cross_entropy(lin2(hidden), y)
    nodes = _nodes(loss.grad_fn)
    assert sum(bool(n._saved) for n in nodes) >= 3  # linear x2, relu, cross-entropy saved arrays
    saved_activation = weakref.ref(hidden._data)  # saved by the second linear
    del hidden
    assert saved_activation() is not None
    loss.backward()
    assert saved_activation() is None  # while every node is still held here
    for n in nodes:
        assert not n._saved
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_retain_graph_keeps_what_forward_saved():
    lin1, lin2, x, y = _mlp()
    hidden = tg.relu(lin1(x))
    loss = nn.functional.cross_entropy(lin2(hidden), y)
    saved_activation = weakref.ref(hidden._data)
    del hidden
    loss.backward(retain_graph=True)
    assert saved_activation() is not None
    first = lin1.weight.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(lin1.weight.grad.numpy(), 2 * first, rtol=1e-6)
    assert saved_activation() is None


def test_a_tensor_running_total_keeps_each_steps_graph_and_item_does_not():
    lin1, lin2, x, y = _mlp()
    opt = optim.SGD([*lin1.parameters(), *lin2.parameters()], lr=0.1)
    totals = {"tensor": 0.0, "item": 0.0}
    first_nodes = {}
    for step in range(5):
        for how in totals:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(lin2(tg.relu(lin1(x))), y)
            loss.backward()
            if step == 0:
                first_nodes[how] = weakref.ref(loss.grad_fn)
            totals[how] += loss if how == "tensor" else loss.item()
            del loss
    assert isinstance(totals["item"], float) and first_nodes["item"]() is None
    # As in PyTorch: the total's graph reaches every step's loss node (their saved arrays are
    # already freed by backward, the nodes are not).
    assert totals["tensor"].requires_grad and first_nodes["tensor"]() is not None
    assert first_nodes["tensor"]() in _nodes(totals["tensor"].grad_fn)
    assert not first_nodes["tensor"]()._saved


# --- the CPU array allocator (csrc/cpu/allocator.cpp) -------------------------------------------

_BIG = (1024, 512)  # 2 MiB of float32: above the size from which freed blocks are kept


def test_empty_is_numpy_empty_for_every_size():
    for shape, dtype in [((), np.float64), (5, np.int64), ((2, 3), "float32"), ((0, 7), np.bool_),
                         (_BIG, np.float32), ([3, 70000], np.float64)]:
        a = _C.cpu.empty(shape, dtype, like=None)
        want = np.empty(shape, dtype)
        assert (a.shape, a.dtype, a.strides) == (want.shape, want.dtype, want.strides)
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
        a[...] = 1
        assert np.all(a == 1)
    with pytest.raises(ValueError, match="negative dimensions are not allowed"):
        _C.cpu.empty((-1, 2), np.float32)
    with pytest.raises(ValueError, match="array is too big"):
        _C.cpu.empty((2 ** 40, 2 ** 40), np.float32)
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        _C.cpu.empty((2.5, 2), np.float32)
    with pytest.raises(TypeError, match=r"empty\(shape, dtype, like=None\)"):
        _C.cpu.empty((2, 2))
    with pytest.raises(TypeError, match=r"empty\(shape, dtype, like=None\)"):
        _C.cpu.empty((2, 2), np.float32, out=None)
    with pytest.raises(TypeError):
        _C.cpu.empty((2, 2), "no such dtype")


def test_freed_large_blocks_are_reused_and_can_be_released():
    _C.cpu.release_cached_memory()
    assert _C.cpu.cached_memory() == 0
    a = _C.cpu.empty(_BIG, np.float32)
    address = a.ctypes.data
    assert address % 64 == 0
    del a
    assert _C.cpu.cached_memory() >= 2 * 2 ** 20
    b = _C.cpu.empty(_BIG, np.float32)  # the same block again
    assert b.ctypes.data == address and _C.cpu.cached_memory() == 0
    small = _C.cpu.empty((4, 4), np.float32)
    del small
    assert _C.cpu.cached_memory() == 0  # small arrays are numpy's own
    del b
    _C.cpu.release_cached_memory()
    assert _C.cpu.cached_memory() == 0


def test_owned_memory_and_tracemalloc_see_the_blocks():
    import tracemalloc

    a = _C.cpu.empty(_BIG, np.float32)
    assert _C.cpu.owns_memory(a) and not _C.cpu.owns_memory(a[1:]) and not _C.cpu.owns_memory(a.T)
    assert _C.cpu.owns_memory(np.empty(3)) and not _C.cpu.owns_memory(np.frombuffer(b"abcd", np.uint8))
    del a
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        b = _C.cpu.empty(_BIG, np.float32)
        assert tracemalloc.get_traced_memory()[0] - before >= b.nbytes
        del b
        assert tracemalloc.get_traced_memory()[0] - before < 4096
    finally:
        tracemalloc.stop()


_FAULTS = """
import resource
import tapegrad as tg
from tapegrad import nn, optim

tg.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))
opt = optim.Adam(model.parameters(), lr=1e-3)
x, y = tg.randn(4096, 64), tg.randint(0, 16, (4096,))

def step():
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()

for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts page faults with getrusage")
@pytest.mark.skipif("-fsanitize=address" in _C.cpu.build_info()["cxx_flags"],
                    reason="AddressSanitizer's allocator, not glibc's, serves the arrays")
def test_an_eager_step_takes_no_fresh_pages_after_warm_up():
    # Its activations and gradients are 1 MiB arrays, allocated and freed every step: served
    # with fresh pages, each step took about 1,500 page faults.
    assert float(run_python(_FAULTS).stdout) < 20
