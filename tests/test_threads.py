"""Kernels under concurrency. Python threads calling kernels at once (each call releases the
GIL; one caller at a time gets the thread pool, the others run serially) get the bits a serial
run gets, and no kernel's result depends on the thread count: elementwise ops, reductions,
softmax and cross-entropy work on items whose arithmetic is fixed by the shape, and the GEMM
splits its output by rows and columns, never along K, so each element's sum runs in the same
order (for one microkernel family, i.e. on one machine) however the work is shared out."""
import threading

import numpy as np
import pytest

from tapegrad import _C

K = _C.cpu


def _inputs():
    rng = np.random.default_rng(2024)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    f64 = lambda *s: rng.standard_normal(s)  # noqa: E731
    state = lambda *s: [f32(*s), f64(*s)]  # noqa: E731 - an optimizer group mixing dtypes
    return {
        "a": f32(257, 300), "b": f32(300, 511), "bias": f32(511),
        "ab": f64(4, 120, 200), "bb": f64(4, 200, 150),
        "x": f32(300_001), "y": f32(600, 500), "row": f32(500),
        "r": f32(700, 900), "flat": f32(1_000_003),
        "logits": f32(2048, 300), "target": rng.integers(0, 300, 2048),
        "p": state(70_001), "g": state(70_001), "m": state(70_001), "v": [np.abs(t) for t in state(70_001)],
    }


IN = _inputs()


def _gemm():
    out = np.empty((257, 511), np.float32)
    K.matmul(IN["a"], IN["b"], out, IN["bias"], "gelu")
    bout = np.empty((4, 120, 150))
    K.matmul(IN["ab"], IN["bb"], bout)
    return [out, bout]


def _elementwise():
    e, p = np.empty_like(IN["x"]), np.empty_like(IN["y"])
    K.unary("exp", IN["x"], e)
    K.binary("mul", IN["y"], np.broadcast_to(IN["row"], IN["y"].shape), p)
    return [e, p]


def _reductions():
    cols, total = np.empty(900, np.float32), np.empty((), np.float32)
    arg = np.empty(700, np.int64)
    K.reduce("sum", IN["r"], [0], cols)
    K.reduce("sum", IN["flat"], [0], total)
    K.reduce("argmax", IN["r"], [1], arg)
    return [cols, total, arg]


def _softmax_ce():
    sm = np.empty_like(IN["logits"])
    K.softmax(IN["logits"], sm, True)
    loss, lse = np.empty(2048, np.float32), np.empty(2048, np.float32)
    K.cross_entropy_forward(IN["logits"], IN["target"], loss, lse, -100, 0.1)
    grad = np.empty_like(IN["logits"])
    K.cross_entropy_backward(IN["logits"], IN["target"], lse, np.ones(2048, np.float32), grad, -100, 0.1)
    return [sm, loss, lse, grad]


def _optimizer_step():
    p, m, v = ([t.copy() for t in IN[k]] for k in "pmv")
    K.adam_step(p, IN["g"], m, v, [], 3, 1e-2, 0.9, 0.999, 1e-8, 0.01, True, False, False)
    return p + m + v


WORKLOADS = [_gemm, _elementwise, _reductions, _softmax_ce, _optimizer_step]


def _same_bits(got, want):
    return all(g.dtype == w.dtype and g.shape == w.shape and g.tobytes() == w.tobytes()
               for g, w in zip(got, want))


@pytest.fixture
def threads():
    """Sets the kernel thread count for a test, and restores it afterwards."""
    saved = K.get_num_threads()
    yield K.set_num_threads
    K.set_num_threads(saved)


@pytest.mark.parametrize("pool_threads", [1, 2, 4])
def test_eight_python_threads_get_the_bits_of_a_serial_run(threads, pool_threads):
    threads(pool_threads)
    want = [w() for w in WORKLOADS]
    start = threading.Barrier(8)
    wrong, errors = [], []

    def caller(t):
        try:
            start.wait()
            for rep in range(3):
                for i in range(len(WORKLOADS)):  # each caller in its own order
                    j = (i + t + rep) % len(WORKLOADS)
                    if not _same_bits(WORKLOADS[j](), want[j]):
                        wrong.append((t, rep, WORKLOADS[j].__name__))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    for _ in range(3):
        callers = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
        for c in callers:
            c.start()
        for c in callers:
            c.join()
        start.reset()
    assert not errors and not wrong


def test_no_result_depends_on_the_thread_count(threads):
    threads(1)
    want = [w() for w in WORKLOADS]
    for n in (2, 3, 8):
        threads(n)
        for w, ref in zip(WORKLOADS, want):
            assert _same_bits(w(), ref), (w.__name__, n)


def test_changing_the_thread_count_while_other_threads_run_kernels(threads):
    # set_num_threads replaces the pool; a caller already running a job on the old one
    # finishes on it (the pool is shared, not deleted under it).
    threads(2)
    want = _gemm()
    stop, wrong = threading.Event(), []

    def caller():
        while not stop.is_set():
            if not _same_bits(_gemm(), want):
                wrong.append(1)

    callers = [threading.Thread(target=caller) for _ in range(4)]
    for c in callers:
        c.start()
    try:
        for i in range(200):
            threads(1 + i % 4)
    finally:
        stop.set()
        for c in callers:
            c.join()
    assert not wrong


def test_an_error_in_one_chunk_stops_the_job_and_the_pool_carries_on(threads):
    threads(4)
    want = [w() for w in WORKLOADS]
    src = np.arange(10.0)
    index = np.zeros(400_000, np.int64)
    for bad in (0, 150_000, 399_999):  # in the first, a middle and the last chunk
        index[bad] = 10
        with pytest.raises(IndexError, match="index 10 is out of bounds for size 10"):
            K.take(src, index, np.empty(index.shape))
        index[bad] = 0
    for w, ref in zip(WORKLOADS, want):
        assert _same_bits(w(), ref), w.__name__
