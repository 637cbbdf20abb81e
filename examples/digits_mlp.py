"""An MLP on handwritten digits, in the plain PyTorch training-loop style.

What it teaches: the standard loop every PyTorch user writes, unchanged under tapegrad:
Dataset -> random_split -> DataLoader -> model -> loss -> zero_grad / backward / step, with
model.train() / model.eval() and torch.no_grad() for evaluation on held-out data.

Data: `datasets.digits()`, 1797 8x8 images of the digits 0-9 (pixel values 0..16).

    python examples/digits_mlp.py
"""
import tapegrad as torch
from tapegrad import datasets, nn, optim
from tapegrad.utils.data import DataLoader, TensorDataset, random_split

torch.manual_seed(0)

X, y = datasets.digits()  # X: (1797, 64) float32, y: (1797,) int64 class indices
X = X / 16.0  # pixels to [0, 1]: inputs of order 1 suit the default initialisation

dataset = TensorDataset(X, y)
n_test = 360
train_set, test_set = random_split(dataset, [len(dataset) - n_test, n_test])
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)  # reshuffled every epoch
test_loader = DataLoader(test_set, batch_size=256)

model = nn.Sequential(
    nn.Linear(64, 128),
    nn.ReLU(),
    nn.Linear(128, 10),  # 10 logits; CrossEntropyLoss applies log-softmax itself
)
loss_fn = nn.CrossEntropyLoss()
optimizer = optim.Adam(model.parameters(), lr=3e-3)


def evaluate(loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():  # no graph: faster, and nothing to backpropagate anyway
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
            total += yb.shape[0]
    return correct / total


for epoch in range(1, 31):
    model.train()
    running, batches = 0.0, 0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        running += loss.item()  # .item(): a float, so no graph is kept alive
        batches += 1
    if epoch % 5 == 0:
        print(f"epoch {epoch:2d}  train loss {running / batches:.4f}  test accuracy {evaluate(test_loader):.4f}")

print(f"train accuracy: {evaluate(DataLoader(train_set, batch_size=256)):.4f}")
print(f"test accuracy: {evaluate(test_loader):.4f}")
