"""The same training step, eager and under graph mode (`torch.compile`).

What it teaches: define-then-run next to eager. `torch.compile(step)` runs the step's first call
eagerly while recording every kernel it launches; later calls replay those kernels from C++,
with no Python per op, and give the eager numbers bit for bit. What changes from step to step
(the learning rate a scheduler sets, Adam's step count, dropout's random draws) is re-read at
every replay; `explain()` lists what was recorded.

Data: `datasets.digits()` again, 1797 8x8 images of the digits 0-9.

    python examples/graph_mode.py
"""
import time

import tapegrad as torch
from tapegrad import datasets, nn, optim

X, y = datasets.digits()
X = X / 16.0
batches = [(X[i:i + 64], y[i:i + 64]) for i in range(0, 1728, 64)]  # 27 full batches


def make_run():
    """A fresh model, optimizer and scheduler from the same seed, and the step over them."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)

    def step(xb, yb):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        sched.step()
        return loss

    return model, step


def train(step, epochs=4):
    """Loss of every step, and the mean time per step after the first epoch."""
    losses = []
    for epoch in range(epochs):
        if epoch == 1:
            start = time.perf_counter()
        for xb, yb in batches:
            losses.append(step(xb, yb).item())
    return losses, (time.perf_counter() - start) / ((epochs - 1) * len(batches))


eager_model, eager_step = make_run()
eager_losses, eager_time = train(eager_step)

graph_model, step = make_run()
compiled_step = torch.compile(step)  # or decorate the step with @torch.compile
graph_losses, graph_time = train(compiled_step)

print(f"first loss: {eager_losses[0]:.6f}")
print(f"last loss: {eager_losses[-1]:.6f}")
print(f"losses identical: {int(graph_losses == eager_losses)}")
same = all(bool((a == b).all()) for a, b in zip(eager_model.parameters(), graph_model.parameters()))
print(f"weights identical: {int(same)}")
print(f"eager step us: {eager_time * 1e6:.1f}")
print(f"compiled step us: {graph_time * 1e6:.1f}")
print()
print(compiled_step.explain())
