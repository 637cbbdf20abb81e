"""A single sigmoid neuron, gradient by hand and by autograd.

What it teaches: the chain rule behind `loss.backward()`. We derive the gradient of the mean
squared error of one sigmoid neuron on paper, compute that formula with plain tensor ops, check
it against autograd, and then train the neuron with plain gradient descent (no optimizer
object: `w -= lr * w.grad`).

Data: `datasets.sensors()`, 12 rows of two sensor readings and the temperature they go with.

    python examples/sigmoid_neuron.py
"""
import tapegrad as torch
from tapegrad import datasets

torch.manual_seed(0)

X, temp = datasets.sensors()  # X: (12, 2) readings, temp: the 12 temperatures
temp = temp.reshape(-1)  # one temperature per row, shape (12,), like the output of X @ w
N = X.shape[0]

# Standardise the inputs so that both readings start on the same scale, and map the targets
# into [0.1, 0.9]: a sigmoid only outputs values in (0, 1), and targets at 0 or 1 would need
# infinite weights.
X = (X - X.mean(0)) / X.std(0)
t_lo, t_hi = temp.min(), temp.max()
t = 0.1 + 0.8 * (temp - t_lo) / (t_hi - t_lo)

# The model: p = sigmoid(z), z = X w + b, with w of shape (2,) and b a scalar.
w = (0.1 * torch.randn(2)).requires_grad_()
b = torch.zeros((), requires_grad=True)

# ---- The gradient by hand ------------------------------------------------------------------
#   L      = 1/N * sum_i (p_i - t_i)^2
#   dL/dp_i = 2/N * (p_i - t_i)
#   dp/dz   = sigmoid(z) * (1 - sigmoid(z)) = p * (1 - p)
#   dz_i/dw = X_i,   dz_i/db = 1
# so with  d_i = 2/N * (p_i - t_i) * p_i * (1 - p_i):
#   dL/dw = X^T d        dL/db = sum_i d_i


def hand_gradient(w, b):
    with torch.no_grad():  # plain arithmetic, nothing to record
        p = torch.sigmoid(X @ w + b)
        d = 2.0 / N * (p - t) * p * (1 - p)
        return X.T @ d, d.sum()


def mse(w, b):
    p = torch.sigmoid(X @ w + b)
    return ((p - t) ** 2).mean()


gw_hand, gb_hand = hand_gradient(w, b)

loss = mse(w, b)
loss.backward()  # autograd walks the same chain rule backwards through the recorded ops
gw_auto, gb_auto = w.grad, b.grad

diff = max((gw_hand - gw_auto).abs().max().item(), (gb_hand - gb_auto).abs().item())
print("hand     dL/dw:", [round(v, 6) for v in gw_hand.tolist()], f" dL/db: {gb_hand.item():.6f}")
print("autograd dL/dw:", [round(v, 6) for v in gw_auto.tolist()], f" dL/db: {gb_auto.item():.6f}")
print(f"max |hand - autograd|: {diff:.3e}")

# ---- Plain gradient descent ----------------------------------------------------------------
# A sigmoid's slope is at most 1/4, so the gradients are small and a large step size is fine.
lr = 2.0
w.grad = None
b.grad = None
print(f"initial loss: {loss.item():.6f}")
for step in range(1, 1001):
    loss = mse(w, b)
    loss.backward()
    with torch.no_grad():  # the update itself must not become part of the graph
        w -= lr * w.grad
        b -= lr * b.grad
    w.grad = None  # gradients accumulate, so clear them before the next backward
    b.grad = None
    if step % 250 == 0:
        print(f"step {step:4d}  loss {loss.item():.6f}")

with torch.no_grad():
    final = mse(w, b).item()
    # Back to degrees: undo the [0.1, 0.9] mapping.
    pred = t_lo + (torch.sigmoid(X @ w + b) - 0.1) / 0.8 * (t_hi - t_lo)
    rmse = ((pred - temp) ** 2).mean().sqrt().item()
print(f"final loss: {final:.6f}")
print("weights:", [round(v, 4) for v in w.tolist()])
print(f"bias: {b.item():.4f}")
print(f"temperature range: {(t_hi - t_lo).item():.4f}")
print(f"RMSE in degrees: {rmse:.4f}")
