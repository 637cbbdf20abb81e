"""PyTorch's CPU random streams: under the same seed, every sampling function draws PyTorch's
values bit for bit (sizes on both sides of the 16-element vectorisation threshold, float32 and
float64, default and explicit generators), and the stream advances as PyTorch's does, so what
is drawn next agrees too. The MT19937 core is also checked against numpy's, without torch."""
import numpy as np
import pytest

import tapegrad as tg
from tapegrad import _C

SIZES = [1, 2, 7, 15, 16, 17, 31, 100, 1000]


def _same_next(torch):
    """Both streams are at the same place: the next draws agree."""
    np.testing.assert_array_equal(tg.rand(5, dtype=tg.float64).numpy(), torch.rand(5, dtype=torch.float64).numpy())


def _seed(torch, s):
    torch.manual_seed(s)
    tg.manual_seed(s)


# --- the core stream, against numpy's MT19937 (no torch needed) -----------------------------

def _mt_words(seed, n):
    mt = np.random.MT19937()
    mt._legacy_seeding(seed & 0xFFFFFFFF)
    return mt.random_raw(n).astype(np.uint64)


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**64 - 1])
def test_uniform_draws_are_mt19937_words(seed):
    tg.manual_seed(seed)
    words = _mt_words(seed, 3000)
    f32 = tg.rand(1000).numpy()
    np.testing.assert_array_equal(f32, (words[:1000] & 0xFFFFFF).astype(np.float32) * np.float32(2**-24))
    f64 = tg.rand(1000, dtype=tg.float64).numpy()
    pairs = (words[1000::2] << np.uint64(32)) | words[1001::2]
    np.testing.assert_array_equal(f64, (pairs & np.uint64(2**53 - 1)).astype(np.float64) * 2.0**-53)
    assert tg.initial_seed() == seed


def test_seed_range_and_type():
    with pytest.raises(TypeError, match="int"):
        tg.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="64 bits"):
        tg.manual_seed(2**64)
    tg.manual_seed(-1)
    assert tg.initial_seed() == 2**64 - 1


def test_unseeded_generators_start_from_pytorchs_default_seed():
    g = tg.Generator()
    assert g.initial_seed() == 67280421310721
    a = tg.rand(4, generator=g).numpy()
    np.testing.assert_array_equal(a, tg.rand(4, generator=tg.Generator().manual_seed(67280421310721)).numpy())


def test_state_round_trip_and_independent_generators():
    tg.manual_seed(3)
    state = tg.get_rng_state()
    a = tg.randn(3).numpy()  # (3 < 16: leaves a spare normal value in the state)
    tg.set_rng_state(state)
    np.testing.assert_array_equal(tg.randn(3).numpy(), a)
    g = tg.Generator().manual_seed(3)
    tg.manual_seed(3)
    np.testing.assert_array_equal(tg.randn(20, generator=g).numpy(), tg.randn(20).numpy())
    with pytest.raises(RuntimeError, match="int64 tensor of"):
        tg.set_rng_state(tg.zeros(5, dtype=tg.int64))
    with pytest.raises(TypeError, match="Generator"):
        tg.rand(2, generator=np.random.default_rng(0))


def test_fills_check_their_arguments():
    x = tg.empty(3)
    with pytest.raises(RuntimeError, match="from=2.0 > to=1.0"):
        x.uniform_(2.0, 1.0)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        x.normal_(0.0, -1.0)
    with pytest.raises(RuntimeError, match=r"p to be in \[0, 1\]"):
        x.bernoulli_(1.5)
    with pytest.raises(RuntimeError, match="lambda > 0.0"):
        x.exponential_(0.0)
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        x.random_(5, 5)
    with pytest.raises(TypeError, match="floating point"):
        tg.empty(3, dtype=tg.int64).normal_()
    with pytest.raises(RuntimeError, match="categories|prob_dist"):
        tg.multinomial(tg.ones(2, 2, 2), 1)
    with pytest.raises(RuntimeError, match="without replacement"):
        tg.multinomial(tg.ones(3), 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        tg.multinomial(tg.tensor([1.0, -1.0]), 1)
    leaf = tg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.uniform_()
    with tg.no_grad():
        leaf.uniform_()
    assert leaf.requires_grad and 0 < float(leaf.sum()) < 3


def test_random_draws_replay_in_graph_mode_as_eager():
    def step(x):
        return x * tg.randn(x.shape) + tg.rand(x.shape)

    x = tg.ones(40)
    tg.manual_seed(11)
    eager = [step(x).numpy().copy() for _ in range(4)]
    after_eager = tg.rand(3).numpy()
    fn = tg.compile(step)
    tg.manual_seed(11)
    compiled = [fn(x).numpy().copy() for _ in range(4)]
    for a, b in zip(eager, compiled):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(tg.rand(3).numpy(), after_eager)
    assert "random_normal" in fn.explain()  # replayed from C++, the state advanced in its buffer


# --- against PyTorch ----------------------------------------------------------------------------

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _dtypes(torch):
    return [(tg.float32, torch.float32), (tg.float64, torch.float64)]


@pytest.mark.parametrize("n", SIZES)
def test_rand_and_randn(torch, n):
    for ours, theirs in _dtypes(torch):
        _seed(torch, n)
        np.testing.assert_array_equal(tg.rand(n, dtype=ours).numpy(), torch.rand(n, dtype=theirs).numpy())
        np.testing.assert_array_equal(tg.randn(n, dtype=ours).numpy(), torch.randn(n, dtype=theirs).numpy())
        np.testing.assert_array_equal(tg.randn(2, n, dtype=ours).numpy(), torch.randn(2, n, dtype=theirs).numpy())
        _same_next(torch)


@pytest.mark.parametrize("n", [3, 16, 33, 1000])
def test_in_place_fills(torch, n):
    for ours, theirs in _dtypes(torch):
        _seed(torch, 5)
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).uniform_(-0.3, 0.7).numpy(),
                                      torch.empty(n, dtype=theirs).uniform_(-0.3, 0.7).numpy())
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).normal_(0.37, 1.9).numpy(),
                                      torch.empty(n, dtype=theirs).normal_(0.37, 1.9).numpy())
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).bernoulli_(0.3).numpy(),
                                      torch.empty(n, dtype=theirs).bernoulli_(0.3).numpy())
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).exponential_(2.5).numpy(),
                                      torch.empty(n, dtype=theirs).exponential_(2.5).numpy())
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).random_(-4, 9).numpy(),
                                      torch.empty(n, dtype=theirs).random_(-4, 9).numpy())
        np.testing.assert_array_equal(tg.empty(n, dtype=ours).random_().numpy(),
                                      torch.empty(n, dtype=theirs).random_().numpy())
        _same_next(torch)


def test_non_contiguous_targets_fill_in_memory_order(torch):
    _seed(torch, 2)
    for shape in [(20, 3), (4, 5, 6)]:
        a, b = tg.empty(*shape).transpose(0, 1), torch.empty(*shape).transpose(0, 1)
        np.testing.assert_array_equal(a.normal_().numpy(), b.normal_().numpy())  # not blocks of 16
        np.testing.assert_array_equal(a.uniform_().numpy(), b.uniform_().numpy())
    _same_next(torch)


@pytest.mark.parametrize("low,high,size", [(0, 10, (5,)), (-7, 3, (4, 9)), (0, 2**40, (20,)),
                                           (-(2**62), 2**62, (3,))])
def test_randint(torch, low, high, size):
    _seed(torch, 9)
    np.testing.assert_array_equal(tg.randint(low, high, size).numpy(), torch.randint(low, high, size).numpy())
    top = min(high, 2**40)  # float64 holds every integer below it
    np.testing.assert_array_equal(tg.randint(top, size, dtype=tg.float64).numpy(),
                                  torch.randint(top, size, dtype=torch.float64).numpy())
    _same_next(torch)


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000])
def test_randperm(torch, n):
    _seed(torch, 4)
    np.testing.assert_array_equal(tg.randperm(n).numpy(), torch.randperm(n).numpy())
    _same_next(torch)


def test_bernoulli_with_probabilities(torch):
    p = np.random.default_rng(0).random((7, 9))
    for ours, theirs in _dtypes(torch):
        _seed(torch, 6)
        np.testing.assert_array_equal(tg.bernoulli(tg.tensor(p, dtype=ours)).numpy(),
                                      torch.bernoulli(torch.tensor(p, dtype=theirs)).numpy())
        np.testing.assert_array_equal(tg.empty(7, 9, dtype=ours).bernoulli_(tg.tensor(p[0], dtype=ours)).numpy(),
                                      torch.empty(7, 9, dtype=theirs).bernoulli_(torch.tensor(p[0], dtype=theirs)).numpy())
        _same_next(torch)


def test_normal_functions(torch):
    _seed(torch, 8)
    np.testing.assert_array_equal(tg.normal(1.0, 2.0, (3, 7)).numpy(), torch.normal(1.0, 2.0, (3, 7)).numpy())
    mean, std = np.linspace(-1, 1, 20, dtype=np.float32), np.linspace(0.1, 2, 20, dtype=np.float32)
    np.testing.assert_array_equal(tg.normal(tg.tensor(mean), tg.tensor(std)).numpy(),
                                  torch.normal(torch.tensor(mean), torch.tensor(std)).numpy())
    _same_next(torch)


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("num_samples", [1, 3])
def test_multinomial(torch, replacement, num_samples):
    w = np.array([[1.0, 2.0, 3.0, 0.5, 0.0], [0.1, 0.0, 5.0, 1.0, 2.0]], np.float32)
    for ours, theirs in _dtypes(torch):
        _seed(torch, 1)
        np.testing.assert_array_equal(tg.multinomial(tg.tensor(w, dtype=ours), num_samples, replacement).numpy(),
                                      torch.multinomial(torch.tensor(w, dtype=theirs), num_samples, replacement).numpy())
        np.testing.assert_array_equal(tg.multinomial(tg.tensor(w[1], dtype=ours), 40, True).numpy(),
                                      torch.multinomial(torch.tensor(w[1], dtype=theirs), 40, True).numpy())
        _same_next(torch)


def test_generator_objects(torch):
    g, h = tg.Generator().manual_seed(21), torch.Generator().manual_seed(21)
    np.testing.assert_array_equal(tg.randn(50, generator=g).numpy(), torch.randn(50, generator=h).numpy())
    np.testing.assert_array_equal(tg.randperm(12, generator=g).numpy(), torch.randperm(12, generator=h).numpy())
    np.testing.assert_array_equal(tg.randint(5, (6,), generator=g).numpy(), torch.randint(5, (6,), generator=h).numpy())
    np.testing.assert_array_equal(tg.empty(9).uniform_(generator=g).numpy(), torch.empty(9).uniform_(generator=h).numpy())
    assert g.initial_seed() == h.initial_seed() == 21


def test_init_and_layers(torch):
    _seed(torch, 0)
    pairs = [(tg.nn.Linear(13, 7), torch.nn.Linear(13, 7)), (tg.nn.Linear(40, 3, bias=False), torch.nn.Linear(40, 3, bias=False)),
             (tg.nn.Embedding(10, 4), torch.nn.Embedding(10, 4))]
    for ours, theirs in pairs:
        for a, b in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    inits = ["uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]
    for name in inits:
        np.testing.assert_array_equal(getattr(tg.nn.init, name)(tg.empty(30, 20)).numpy(),
                                      getattr(torch.nn.init, name)(torch.empty(30, 20)).numpy())
    for std, a, b in [(0.02, -2.0, 2.0), (1.0, 0.5, 3.0), (1.0, 2.0, 4.0)]:  # both sampling branches
        np.testing.assert_array_equal(tg.nn.init.trunc_normal_(tg.empty(30, 50), std=std, a=a, b=b).numpy(),
                                      torch.nn.init.trunc_normal_(torch.empty(30, 50), std=std, a=a, b=b).numpy())
    _same_next(torch)


@pytest.mark.parametrize("shape", [(5, 3), (3, 7), (4, 2, 3), (6, 6)])
def test_orthogonal_init_matches_torch(torch, shape):
    _seed(torch, 4)
    ours = tg.nn.init.orthogonal_(tg.empty(*shape), gain=1.5).numpy()
    theirs = torch.nn.init.orthogonal_(torch.empty(*shape), gain=1.5).numpy()
    # both take the QR from LAPACK in float32 (numpy's and PyTorch's builds): equal to rounding
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    flat = ours.reshape(shape[0], -1) / 1.5
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    _same_next(torch)


def test_sparse_init_matches_torch(torch):
    _seed(torch, 6)
    ours = tg.nn.init.sparse_(tg.empty(10, 4), sparsity=0.3, std=0.5).numpy()
    theirs = torch.nn.init.sparse_(torch.empty(10, 4), sparsity=0.3, std=0.5).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ((ours == 0).sum(0) == 3).all()
    _same_next(torch)
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        tg.nn.init.sparse_(tg.empty(3), 0.5)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_masks(torch, p):
    x = np.random.default_rng(1).standard_normal((37, 11)).astype(np.float32)
    _seed(torch, 3)
    np.testing.assert_array_equal(tg.nn.functional.dropout(tg.tensor(x), p).numpy(),
                                  torch.nn.functional.dropout(torch.tensor(x), p).numpy())
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    a, b = tg.nn.Dropout(p)(ours), torch.nn.Dropout(p)(theirs)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    _same_next(torch)


def test_samplers_and_loaders(torch):
    from torch.utils import data as td

    from tapegrad.utils import data as gd

    _seed(torch, 12)
    ds_t, ds_g = td.TensorDataset(torch.arange(23)), gd.TensorDataset(tg.arange(23))
    for kwargs in [{}, {"drop_last": True}]:
        ours = [b[0].tolist() for _ in range(3) for b in gd.DataLoader(ds_g, batch_size=5, shuffle=True, **kwargs)]
        theirs = [b[0].tolist() for _ in range(3) for b in td.DataLoader(ds_t, batch_size=5, shuffle=True, **kwargs)]
        assert ours == theirs
    g, h = tg.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    ours = [b[0].tolist() for _ in range(2) for b in gd.DataLoader(ds_g, batch_size=4, shuffle=True, generator=g)]
    theirs = [b[0].tolist() for _ in range(2) for b in td.DataLoader(ds_t, batch_size=4, shuffle=True, generator=h)]
    assert ours == theirs
    assert list(gd.RandomSampler(range(7), num_samples=10)) == list(td.RandomSampler(range(7), num_samples=10))
    assert (list(gd.RandomSampler(range(7), replacement=True, num_samples=40))
            == list(td.RandomSampler(range(7), replacement=True, num_samples=40)))
    assert list(gd.SubsetRandomSampler([5, 9, 2, 7])) == list(td.SubsetRandomSampler([5, 9, 2, 7]))
    for replacement in (True, False):
        assert (list(gd.WeightedRandomSampler([0.1, 0.5, 2, 1, 3], 4, replacement=replacement))
                == list(td.WeightedRandomSampler([0.1, 0.5, 2, 1, 3], 4, replacement=replacement)))
    ours = [list(s) for s in gd.random_split(range(10), [3, 7])]
    theirs = [list(s) for s in td.random_split(range(10), [3, 7])]
    assert ours == theirs
    _same_next(torch)
