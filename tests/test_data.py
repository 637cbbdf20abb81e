"""tapegrad.utils.data: DataLoader, samplers, collation and dataset helpers, checked against
torch.utils.data where torch is installed and against hand-computed references otherwise."""
import collections

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.utils.data import (
    BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler, Sampler,
    SequentialSampler, StackDataset, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
    default_convert, get_worker_info, random_split,
)


def _np(t):
    return t.detach().numpy() if isinstance(t, tg.Tensor) else np.asarray(t)


def _ids(loader):
    """The first field of every batch, as lists of ints (the sample ids)."""
    return [_np(b[0]).reshape(-1).tolist() for b in loader]


def _id_dataset(n, width=3):
    ids = tg.arange(n)
    x = tg.arange(n * width, dtype=tg.float32).reshape(n, width)
    return TensorDataset(ids, x)


class Squares(Dataset):
    """A map-style dataset without the gather fast path: sample i is (i, i*i as float)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i, float(i * i)


# --- batching and order ----------------------------------------------------------------------

@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True),
                                             (1, 4, False), (1, 4, True), (0, 2, False), (7, 1, False),
                                             (7, 7, True), (7, 8, True)])
def test_batches_match_torch_in_order(n, bs, drop_last):
    torch = pytest.importorskip("torch")
    ours = DataLoader(_id_dataset(n), batch_size=bs, drop_last=drop_last)
    ref = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(n), torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)),
        batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(ref)
    got, want = list(ours), list(ref)
    assert len(got) == len(want)
    for (gi, gx), (wi, wx) in zip(got, want):
        assert gi.dtype == tg.int64 and gx.dtype == tg.float32
        np.testing.assert_array_equal(_np(gi), wi.numpy())
        np.testing.assert_array_equal(_np(gx), wx.numpy())


def test_batch_counts_by_hand():
    assert [len(b[0]) for b in DataLoader(_id_dataset(10), batch_size=4)] == [4, 4, 2]
    assert [len(b[0]) for b in DataLoader(_id_dataset(10), batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(_id_dataset(10), batch_size=4)) == 3
    assert len(DataLoader(_id_dataset(10), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(_id_dataset(10))) == 10  # batch_size defaults to 1


def test_default_batch_size_is_one_and_keeps_a_batch_dim():
    xb, = next(iter(DataLoader(TensorDataset(tg.ones(5, 2)))))
    assert tuple(xb.shape) == (1, 2)


def test_loader_is_reiterable_and_sequential_order_is_stable():
    loader = DataLoader(_id_dataset(11), batch_size=4)
    first, second = _ids(loader), _ids(loader)
    assert first == second == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]


# --- shuffling ----------------------------------------------------------------------------------

def test_shuffle_visits_every_sample_once_per_epoch():
    loader = DataLoader(_id_dataset(50), batch_size=8, shuffle=True)
    tg.manual_seed(0)
    for _ in range(3):
        seen = sum(_ids(loader), [])
        assert sorted(seen) == list(range(50))


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(_id_dataset(40), batch_size=7, shuffle=True)
    tg.manual_seed(123)
    a = [_ids(loader) for _ in range(2)]
    tg.manual_seed(123)
    b = [_ids(loader) for _ in range(2)]
    tg.manual_seed(124)
    c = [_ids(loader) for _ in range(2)]
    assert a == b
    assert a[0] != a[1]  # a new order each epoch
    assert a != c
    assert sum(a[0], []) != list(range(40))


def test_explicit_generator_is_reproducible_and_leaves_global_state_alone():
    ds = _id_dataset(30)
    tg.manual_seed(5)
    before = tg.get_rng_state()
    a = _ids(DataLoader(ds, batch_size=4, shuffle=True, generator=tg.Generator().manual_seed(9)))
    assert bool((tg.get_rng_state() == before).all())
    b = _ids(DataLoader(ds, batch_size=4, shuffle=True, generator=tg.Generator().manual_seed(9)))
    assert a == b
    assert sorted(sum(a, [])) == list(range(30))


def test_random_sampler_options():
    tg.manual_seed(1)
    draws = list(RandomSampler(range(5), replacement=True, num_samples=200))
    assert len(draws) == 200 and set(draws) == set(range(5))
    long = list(RandomSampler(range(4), num_samples=10))  # chained permutations without replacement
    assert sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3] and len(long) == 10
    assert len(RandomSampler(range(4), num_samples=10)) == 10
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(0))
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)


def test_subset_and_weighted_samplers():
    tg.manual_seed(2)
    picks = list(SubsetRandomSampler([3, 7, 9]))
    assert sorted(picks) == [3, 7, 9]
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=20))
    assert w == [1] * 20
    # Frequencies follow the weights (1:3); 8000 draws put the share within 0.03 of 0.75 with
    # overwhelming probability (std 0.005).
    draws = np.array(list(WeightedRandomSampler([1.0, 3.0], num_samples=8000)))
    assert abs(draws.mean() - 0.75) < 0.03
    no_repeat = list(WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], num_samples=3, replacement=False))
    assert sorted(no_repeat) == [0, 1, 2]
    with pytest.raises(ValueError):
        WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)


def test_batch_sampler_matches_torch():
    torch = pytest.importorskip("torch")
    for drop_last in (False, True):
        ours = list(BatchSampler(SequentialSampler(range(10)), 3, drop_last))
        ref = list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(10)), 3, drop_last))
        assert ours == ref
        assert len(BatchSampler(SequentialSampler(range(10)), 3, drop_last)) == len(ref)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(SequentialSampler(range(3)), 0, False)
    with pytest.raises(TypeError, match="drop_last should be a boolean"):
        BatchSampler(SequentialSampler(range(3)), 2, None)


def test_custom_sampler_and_batch_sampler():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    ds = _id_dataset(9)
    assert _ids(DataLoader(ds, batch_size=2, sampler=Evens(9))) == [[0, 2], [4, 6], [8]]
    loader = DataLoader(ds, batch_sampler=[[3, 1], [0], [8, 8, 2]])
    assert _ids(loader) == [[3, 1], [0], [8, 8, 2]] and len(loader) == 3
    assert _ids(DataLoader(Squares(5), batch_sampler=[[4, 0]])) == [[4, 0]]


# --- the gather fast path ---------------------------------------------------------------------

def _generic(batch):
    return default_collate(batch)  # any collate_fn other than default_collate takes the per-sample path


def test_fast_path_gives_what_the_per_sample_path_gives():
    x = tg.randn(37, 4)
    y = tg.randint(0, 5, (37,))
    flags = tg.rand(37) > 0.5
    ds = TensorDataset(x, y, flags)
    for kwargs in ({}, {"drop_last": True}):
        fast = list(DataLoader(ds, batch_size=8, shuffle=True, generator=tg.Generator().manual_seed(4), **kwargs))
        slow = list(DataLoader(ds, batch_size=8, shuffle=True, generator=tg.Generator().manual_seed(4),
                               collate_fn=_generic, **kwargs))
        assert len(fast) == len(slow) == (4 if kwargs else 5)
        for f, s in zip(fast, slow):
            assert isinstance(f, list) and isinstance(s, list) and len(f) == len(s) == 3
            for a, b in zip(f, s):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(_np(a), _np(b))


def test_fast_path_gathers_without_asking_for_samples(monkeypatch):
    def refuse(self, index):
        raise AssertionError("the fast path must not build per-sample views")

    ds = _id_dataset(20)
    monkeypatch.setattr(TensorDataset, "__getitem__", refuse)
    sub = random_split(ds, [15, 5], generator=tg.Generator().manual_seed(0))[0]
    ids = sum(_ids(DataLoader(sub, batch_size=4, shuffle=True)), [])
    assert sorted(ids) == sorted(sub.indices)
    assert sum(_ids(DataLoader(ds, batch_size=6)), []) == list(range(20))


def test_subclass_that_changes_samples_is_not_bypassed():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, = super().__getitem__(i)
            return (x * 2,)

    batches = list(DataLoader(Doubled(tg.arange(5)), batch_size=5))
    np.testing.assert_array_equal(_np(batches[0][0]), [0, 2, 4, 6, 8])


def test_batches_are_copies_not_views_of_the_dataset():
    x = tg.zeros(6, 2)
    for (xb,) in DataLoader(TensorDataset(x), batch_size=3):
        xb += 1
    assert float(x.sum()) == 0.0


def test_gradients_flow_through_batches_of_a_tensor_that_requires_grad():
    x = tg.arange(12, dtype=tg.float32).reshape(6, 2).requires_grad_()
    loader = DataLoader(TensorDataset(x), batch_size=4, sampler=[5, 0, 5, 2])
    (xb,) = next(iter(loader))
    xb.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [[1, 1], [0, 0], [1, 1], [0, 0], [0, 0], [2, 2]])

    class Rows(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return x[i] * 3

    x.grad = None
    (next(iter(DataLoader(Rows(), batch_size=6))).sum()).backward()
    np.testing.assert_array_equal(_np(x.grad), np.full((6, 2), 3.0))


# --- collation ----------------------------------------------------------------------------------

class Pairs(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"input": tg.full((2,), float(i)), "target": i % 3}


def test_dict_samples_collate_to_a_dict_of_stacked_tensors():
    torch = pytest.importorskip("torch")
    batch = next(iter(DataLoader(Pairs(5), batch_size=4)))
    ref = torch.utils.data.default_collate([{"input": torch.full((2,), float(i)), "target": i % 3} for i in range(4)])
    assert set(batch) == {"input", "target"} and isinstance(batch, dict)
    assert batch["input"].dtype == tg.float32 and tuple(batch["input"].shape) == (4, 2)
    np.testing.assert_array_equal(_np(batch["input"]), ref["input"].numpy())
    assert batch["target"].dtype == tg.int64
    np.testing.assert_array_equal(_np(batch["target"]), ref["target"].numpy())


def test_tuple_of_mixed_values_matches_torch():
    torch = pytest.importorskip("torch")
    samples_tg = [(tg.tensor([i, i + 1.0]), i, float(i) / 2, f"s{i}", bool(i % 2)) for i in range(3)]
    samples_pt = [(torch.tensor([i, i + 1.0]), i, float(i) / 2, f"s{i}", bool(i % 2)) for i in range(3)]
    got, want = default_collate(samples_tg), torch.utils.data.default_collate(samples_pt)
    assert isinstance(got, list) and len(got) == len(want) == 5
    dtypes = [tg.float32, tg.int64, tg.float64, None, tg.bool]
    for g, w, d in zip(got, want, dtypes):
        if d is None:
            assert g == w == ("s0", "s1", "s2")
        else:
            assert g.dtype == d and str(w.dtype).split(".")[1] == d.name
            np.testing.assert_array_equal(_np(g), w.numpy())


def test_python_and_numpy_scalars_and_arrays():
    assert default_collate([1.0, 2.5]).dtype == tg.float64
    assert default_collate([1, 2]).dtype == tg.int64
    t = default_collate([True, False])
    assert t.dtype == tg.bool and _np(t).tolist() == [True, False]
    assert default_collate([np.float32(1), np.float32(2)]).dtype == tg.float32
    assert default_collate([np.float64(1), np.float64(2)]).dtype == tg.float64
    arr = default_collate([np.ones(3, np.float32), np.zeros(3, np.float32)])
    assert arr.dtype == tg.float32 and tuple(arr.shape) == (2, 3)
    np.testing.assert_array_equal(_np(arr), [[1, 1, 1], [0, 0, 0]])
    # uint8 images widen to int64 (tapegrad has no uint8), keeping their values
    img = default_collate([np.full((2, 2), 200, np.uint8)] * 2)
    assert img.dtype == tg.int64 and int(img.max()) == 200
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_nested_lists_namedtuples_and_errors():
    got = default_collate([[1, 2.0], [3, 4.0]])
    assert isinstance(got, list) and _np(got[0]).tolist() == [1, 3] and _np(got[1]).tolist() == [2.0, 4.0]
    Point = collections.namedtuple("Point", "x y")
    p = default_collate([Point(1, 2), Point(3, 4)])
    assert isinstance(p, Point) and _np(p.x).tolist() == [1, 3] and _np(p.y).tolist() == [2, 4]
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([None, None])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError):
        default_collate([tg.ones(2), tg.ones(3)])


def test_default_convert_and_unbatched_loading():
    assert isinstance(default_convert(np.arange(3)), tg.Tensor)
    conv = default_convert((np.ones(2, np.float32), "x", {"k": np.float64(1.5)}))
    assert isinstance(conv, list) and conv[1] == "x" and conv[2]["k"].dtype == tg.float64
    items = list(DataLoader(Squares(3), batch_size=None))
    assert items == [[0, 0.0], [1, 1.0], [2, 4.0]]  # tuples become lists, numbers stay numbers
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(Squares(3), batch_size=None, drop_last=True)


def test_custom_collate_fn_receives_the_samples():
    seen = []
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda b: seen.append(b) or len(b))
    assert list(loader) == [2, 2, 1]
    assert seen[0] == [(0, 0.0), (1, 1.0)]


# --- datasets -------------------------------------------------------------------------------

def test_tensor_dataset_checks():
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(tg.ones(3, 2), tg.ones(4))
    with pytest.raises(TypeError):
        TensorDataset(np.ones(3))
    ds = TensorDataset(tg.arange(4), tg.ones(4, 2))
    assert len(ds) == 4
    i, x = ds[-1]
    assert int(i) == 3 and tuple(x.shape) == (2,)


def test_random_split_sizes_match_torch():
    torch = pytest.importorskip("torch")
    cases = [(10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (100, [0.7, 0.2, 0.1]), (11, [3, 8]), (5, [1.0])]
    for n, lengths in cases:
        ours = [len(s) for s in random_split(range(n), lengths)]
        ref = [len(s) for s in torch.utils.data.random_split(range(n), lengths)]
        assert ours == ref, (n, lengths)


def test_random_split_is_a_disjoint_cover_and_reproducible():
    ds = _id_dataset(23)
    tg.manual_seed(7)
    parts = random_split(ds, [0.6, 0.2, 0.2])
    assert [len(p) for p in parts] == [14, 5, 4]
    ids = [sorted(int(p[i][0]) for i in range(len(p))) for p in parts]
    flat = sum(ids, [])
    assert sorted(flat) == list(range(23)) and len(set(flat)) == 23
    tg.manual_seed(7)
    again = random_split(ds, [0.6, 0.2, 0.2])
    assert [p.indices for p in again] == [p.indices for p in parts]
    g1 = random_split(ds, [20, 3], generator=tg.Generator().manual_seed(1))
    g2 = random_split(ds, [20, 3], generator=tg.Generator().manual_seed(1))
    assert [p.indices for p in g1] == [p.indices for p in g2]
    assert g1[0].indices != list(range(20))


def test_random_split_errors_and_empty_split_warning():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Sum of input lengths|fractions"):
        random_split(range(10), [0.5, 0.3])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        parts = random_split(range(2), [0.5, 0.5, 0.0])
    assert [len(p) for p in parts] == [1, 1, 0]


def test_subset_and_concat_dataset():
    base = Squares(10)
    sub = Subset(base, [9, 2, 4])
    assert len(sub) == 3 and sub[0] == (9, 81.0) and sub[-1] == (4, 16.0)
    assert sub.__getitems__([0, 2]) == [(9, 81.0), (4, 16.0)]
    cat = ConcatDataset([Squares(3), Squares(2)])
    assert len(cat) == 5 and [cat[i][0] for i in range(5)] == [0, 1, 2, 0, 1]
    assert cat[-1] == (1, 1.0) and cat.cumulative_sizes == [3, 5]
    assert len(Squares(2) + Squares(4)) == 6
    with pytest.raises(IndexError):
        cat[5]
    with pytest.raises(ValueError):
        ConcatDataset([])
    loader = DataLoader(cat, batch_size=5)
    assert _np(next(iter(loader))[0]).tolist() == [0, 1, 2, 0, 1]


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches_match_torch():
    torch = pytest.importorskip("torch")

    class TorchStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    for drop_last in (False, True):
        ours = DataLoader(Stream(7), batch_size=3, drop_last=drop_last)
        ref = torch.utils.data.DataLoader(TorchStream(), batch_size=3, drop_last=drop_last)
        assert [_np(b).tolist() for b in ours] == [b.tolist() for b in ref]
        assert len(ours) == len(ref)
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert [_np(b).tolist() for b in DataLoader(Stream(2) + Stream(3), batch_size=4)] == [[0, 1, 0, 1], [2]]
    assert len(ChainDataset([Stream(2), Stream(3)])) == 5
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(3), sampler=[0, 1])


def test_argument_validation_like_torch():
    ds = _id_dataset(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    loader = DataLoader(ds, batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3
    loader.collate_fn = _generic  # not frozen, as in PyTorch
    assert get_worker_info() is None


# --- worker processes ----------------------------------------------------------------------------

class _Seen:
    """Sample i: (i, the worker id, a draw of the library's generator, a draw of numpy's global
    one) under library T (tapegrad or torch)."""

    def __init__(self, T, n=20):
        self.T, self.n = T, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = self.T.utils.data.get_worker_info()
        return (self.T.tensor([float(i), float(info.id if info else -1)]), self.T.rand(1)[0],
                float(np.random.rand()))


def _Shards(T, n=23):
    """range(n) split between the workers by get_worker_info(), as an IterableDataset of T."""
    class Shards(T.utils.data.IterableDataset):
        def __iter__(self):
            info = T.utils.data.get_worker_info()
            ids = range(n) if info is None else range(info.id, n, info.num_workers)
            return iter(T.tensor([float(i), float(info.id if info else -1)]) for i in ids)
    return Shards()


def _loaded(T, make, **kw):
    T.manual_seed(0)
    return [[_np(x).tolist() for x in (b if isinstance(b, (list, tuple)) else [b])]
            for b in T.utils.data.DataLoader(make(T), **kw)]


@pytest.mark.parametrize("kw", [dict(batch_size=3, shuffle=True, num_workers=2),
                                dict(batch_size=4, num_workers=2, prefetch_factor=1),
                                dict(batch_size=None, num_workers=2),
                                dict(batch_size=5, shuffle=True, num_workers=2, drop_last=True)])
def test_workers_load_what_torchs_load(kw):
    torch = pytest.importorskip("torch")
    # the same batches, from the same workers, with the same draws of both generators in them
    assert _loaded(tg, _Seen, **kw) == _loaded(torch, _Seen, **kw)


@pytest.mark.parametrize("kw", [dict(batch_size=3, num_workers=2), dict(batch_size=4, num_workers=2, drop_last=True),
                                dict(batch_size=None, num_workers=2)])
def test_iterable_dataset_workers_shard_and_interleave_as_torchs(kw):
    torch = pytest.importorskip("torch")
    ours = _loaded(tg, _Shards, **kw)
    assert ours == _loaded(torch, _Shards, **kw)
    ids = sorted(i for b in ours for row in np.reshape(b[0], (-1, 2)) for i in [row[0]])
    assert ids == ([float(i) for i in range(23)] if not kw.get("drop_last") else ids)


def _record_init(worker_id):
    np.random.seed(1000 + worker_id)  # visible in the samples' numpy draws


def test_worker_init_fn_and_worker_info():
    loader = DataLoader(_Seen(tg, 8), batch_size=2, num_workers=2, worker_init_fn=_record_init)
    batches = list(loader)
    for k, (ids, _, draws) in enumerate(batches):
        worker = k % 2
        assert _np(ids)[:, 1].tolist() == [worker, worker]
    first_of_worker1 = batches[1][2][0]
    np.random.seed(1001)
    assert float(first_of_worker1) == np.random.rand()


class _Pids(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import os
        return tg.tensor([i, os.getpid()])


def test_persistent_workers_live_across_epochs():
    def pids(loader):
        return sorted({int(_np(b)[0, 1]) for b in loader})

    persistent = DataLoader(_Pids(), batch_size=1, num_workers=2, persistent_workers=True)
    first = pids(persistent)
    assert len(first) == 2 and pids(persistent) == first
    fresh = DataLoader(_Pids(), batch_size=1, num_workers=2)
    assert set(pids(fresh)).isdisjoint(pids(fresh))


class _Fails(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise KeyError(f"no sample {i}")
        return tg.tensor([i])


class _Dies(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        import os
        if i == 3:
            os._exit(7)
        return tg.tensor([i])


class _Slow(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        import time
        time.sleep(30)
        return tg.tensor([i])


def test_worker_errors_reach_the_main_process():
    with pytest.raises(KeyError, match=r"Caught KeyError in DataLoader worker process 0[\s\S]*no sample 4"):
        list(DataLoader(_Fails(), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 7"):
        list(DataLoader(_Dies(), batch_size=1, num_workers=2))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(_Slow(), batch_size=1, num_workers=1, timeout=0.5))
    import gc
    import multiprocessing
    gc.collect()
    assert multiprocessing.active_children() == []  # every worker was stopped


class _Products(Dataset):
    """Each sample runs a GEMM big enough to use the kernel thread pool."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        a = tg.ones(256, 256)
        return (a @ a).sum().reshape(1)


def test_workers_run_kernels_after_the_parent_used_its_thread_pool():
    tg.set_num_threads(2)
    a = tg.ones(512, 512)
    (a @ a).sum()  # the parent's pool is up and has run a job
    loader = DataLoader(_Products(), batch_size=2, num_workers=2, timeout=60)
    assert [_np(b).ravel().tolist() for b in loader] == [[256.0 ** 3] * 2] * 2
    (a @ a).sum()  # and the parent's pool still works


def test_leaving_an_epoch_early_stops_its_workers():
    import gc
    import multiprocessing

    loader = DataLoader(_id_dataset(40), batch_size=2, num_workers=2)
    for k, _ in enumerate(loader):
        if k == 1:
            break
    gc.collect()
    assert multiprocessing.active_children() == []
    assert len(list(loader)) == 20  # a new epoch starts fresh workers


def test_out_of_order_batches_are_all_delivered():
    loader = DataLoader(_id_dataset(17), batch_size=3, num_workers=2, in_order=False)
    assert sorted(i for b in _ids(loader) for i in b) == list(range(17))


def test_more_workers_than_cpus_warns_as_torch():
    import os
    n = len(os.sched_getaffinity(0)) + 1
    with pytest.warns(UserWarning, match=f"This DataLoader will create {n} worker processes in total"):
        assert len(list(DataLoader(_id_dataset(6), batch_size=2, num_workers=n))) == 3


class _OnTheGpu(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return tg.ones(2, device="cuda")


def test_a_forked_worker_refuses_cuda_with_a_clear_error(cuda_standin):
    # the stand-in plays a CUDA build whose parent process uses the GPU
    assert tg.ones(1, device="cuda").is_cuda
    with pytest.raises(RuntimeError, match="CUDA cannot be used in a DataLoader worker process started by fork"):
        list(DataLoader(_OnTheGpu(), batch_size=1, num_workers=1))
    assert tg.ones(1, device="cuda").is_cuda  # the main process keeps its GPU


def test_stack_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)

    def batches(T, named):
        D = T.utils.data
        a, b = D.TensorDataset(T.tensor(x)), D.TensorDataset(T.tensor(y))
        ds = D.StackDataset(a=a, b=b) if named else D.StackDataset(a, b)
        assert len(ds) == 6
        out = []
        for batch in D.DataLoader(ds, batch_size=4):
            parts = batch.values() if named else batch
            out.append([[_np(t).tolist() for t in part] for part in parts])
        return out, ds[2]

    for named in (False, True):
        (ours, one), (theirs, t_one) = batches(tg, named), batches(torch, named)
        assert ours == theirs
        assert type(one) is type(t_one)
    with pytest.raises(ValueError, match="size mismatch between datasets: lengths \\[6, 5\\]"):
        StackDataset(TensorDataset(tg.tensor(x)), TensorDataset(tg.tensor(y[:5])))
    with pytest.raises(ValueError, match="not both"):
        StackDataset(TensorDataset(tg.tensor(x)), b=TensorDataset(tg.tensor(y)))


class _Sleeps(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        import time
        time.sleep(60)
        return tg.tensor([i])


def test_ctrl_c_stops_every_worker():
    import multiprocessing
    import os
    import signal
    import threading

    loader = DataLoader(_Sleeps(), batch_size=1, num_workers=2)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(loader)
    finally:
        timer.cancel()
    assert multiprocessing.active_children() == []
