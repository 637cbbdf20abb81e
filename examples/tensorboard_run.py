"""A training run logged to TensorBoard, and a picture of its autograd graph.

What it teaches: how to watch training from outside the script. A SummaryWriter writes event
files that `tensorboard --logdir runs` shows as live charts: the loss and accuracy per epoch,
the distribution of the first layer's weights as it changes, the model's graph. make_dot draws
the autograd graph of one loss, the structure backward walks: one box per op, the parameters
that receive gradients in blue.

    pip install "tapegrad[tensorboard,viz]"     (and Graphviz's dot for the picture)
    python examples/tensorboard_run.py
    tensorboard --logdir runs
"""
import shutil

import tapegrad as torch
from tapegrad import nn, optim
from tapegrad.datasets import digits
from tapegrad.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

try:
    from tapegrad.utils.tensorboard import SummaryWriter
    from tapegrad.viz import make_dot
except ImportError as e:  # the optional packages are not installed
    raise SystemExit(f"this example needs the optional packages: {e}")

x, y = digits()
x = (x - x.mean()) / x.std()
loader = DataLoader(TensorDataset(x[:1400], y[:1400]), batch_size=64, shuffle=True)
x_val, y_val = x[1400:], y[1400:]
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

with SummaryWriter("runs/tensorboard_example") as writer:
    writer.add_graph(model, x_val[:8])
    for epoch in range(1, 6):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = model(x_val)
            val_loss = loss_fn(out, y_val).item()
            val_acc = (out.argmax(1) == y_val).float().mean().item()
        writer.add_scalar("loss/train", loss.item(), epoch)
        writer.add_scalar("loss/val", val_loss, epoch)
        writer.add_scalar("accuracy/val", val_acc, epoch)
        writer.add_histogram("layer0/weight", model[0].weight, epoch)
        print(f"epoch {epoch}  val loss {val_loss:.4f}  val accuracy {val_acc:.4f}")
print(f"validation accuracy: {val_acc:.4f}")
print("logs: runs/tensorboard_example  (tensorboard --logdir runs)")

dot = make_dot(loss_fn(model(x_val[:8]), y_val[:8]), params=dict(model.named_parameters()))
if shutil.which("dot"):
    print("graph:", dot.render("runs/tensorboard_example/graph", format="png", cleanup=True))
else:
    print("graph: not drawn (Graphviz's dot is not installed: apt install graphviz)")
