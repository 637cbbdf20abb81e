"""A seeded PyTorch training script that prints the same numbers under tapegrad.

What it teaches: tapegrad draws PyTorch's random numbers. After torch.manual_seed(0), the data
from randn and randint, the initial weights of every nn.Linear, the Dropout masks and the
DataLoader's shuffled order are the values PyTorch draws, so the losses below agree with
PyTorch's (swap the import for `import torch`) to float32 rounding of the arithmetic, which
tests/test_examples.py checks.

    python examples/seeded_mlp.py
"""
import tapegrad as torch
from tapegrad import nn
from tapegrad.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

# A teacher network labels random points; the student learns its labels.
x = torch.randn(512, 8)
teacher = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
with torch.no_grad():
    y = teacher(x).argmax(dim=1)
noise = torch.randint(0, 3, (512,))
y = torch.where(torch.rand(512) < 0.1, noise, y)  # 10% of the labels flipped at random

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.CrossEntropyLoss()
loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

print(f"first weight: {model[0].weight[0, 0].item():.8f}")
for epoch in range(5):
    model.train()
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    print(f"epoch {epoch} loss: {total / len(x):.6f} accuracy: {accuracy:.4f}")
print(f"first batch after training: {next(iter(loader))[1][:8].tolist()}")
