"""Reproducible training on the CPU: the same seed gives the same 100 losses, bit for bit, run
after run in one process and in a process with another thread count (no kernel's result
depends on the thread count; tests/test_threads.py checks each family). The guarantee is for
one machine: the GEMM and the vectorised math pick AVX-512, AVX2 or portable kernels at run
time, and those round differently."""
import tapegrad as tg
from tapegrad import datasets, nn, optim
from tapegrad.utils.data import DataLoader, TensorDataset

from child import run_python


def train_losses(steps=100, seed=0):
    """Losses of `steps` AdamW steps on the digits: shuffled batches, dropout, label smoothing,
    layers wide enough for the GEMMs and elementwise ops to be split across threads."""
    tg.manual_seed(seed)
    x, y = datasets.digits()
    loader = DataLoader(TensorDataset(x / 16, y), batch_size=256, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Dropout(0.1), nn.Linear(512, 512),
                          nn.GELU(), nn.Linear(512, 10))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    while len(losses) < steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


_CHILD = """
import sys
import tapegrad as tg
tg.set_num_threads(int(sys.argv[1]))
from test_determinism import train_losses
print(" ".join(map(float.hex, train_losses())))
"""


def test_same_seed_same_losses_in_one_process_and_with_another_thread_count():
    first = train_losses()
    assert len(first) == 100 and first[-1] < first[0]  # it trains
    assert train_losses() == first
    assert train_losses(seed=1) != first  # the seed is what fixes them
    threads = 1 if tg.get_num_threads() > 1 else 3
    out = run_python(_CHILD, threads).stdout.split()
    assert [float.fromhex(v) for v in out] == first
