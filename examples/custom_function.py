"""Custom autograd Functions: ops with a hand-written backward.

What it teaches: subclass torch.autograd.Function with a static forward(ctx, ...) that computes
the result and saves what the backward needs (ctx.save_for_backward), and a static
backward(ctx, grad_output) that returns the gradient with respect to each input. Autograd then
uses it like any built-in op. Two of them, trained by plain gradient descent:
  * the Legendre polynomial P3(x) = (5x^3 - 3x) / 2, with P3'(x) = 1.5 (5x^2 - 1), in a fit of
    sin(x) on [-pi, pi] by y = a + b P3(c + d x);
  * a ReLU whose backward zeroes the gradient where the input was negative, in a two-layer
    network fitted to random targets.
Both start from numpy-seeded values, so the script prints the same losses under PyTorch
(swap the import for `import torch`), which tests/test_examples.py checks.

    python examples/custom_function.py
"""
import math

import numpy as np

import tapegrad as torch

torch.manual_seed(0)
rng = np.random.default_rng(0)


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x ** 3 - 3 * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * x ** 2 - 1)


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[x < 0] = 0
        return grad_input


def sgd(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


# --- a Legendre-polynomial fit of sin --------------------------------------------------------
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
a, b, c, d = (torch.tensor(v, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
P3 = LegendrePolynomial3.apply
for t in range(2000):
    loss = (a + b * P3(c + d * x) - y).pow(2).sum()
    if t == 0:
        print(f"polynomial first loss: {loss.item():.4f}")
    loss.backward()
    sgd((a, b, c, d), 5e-6)
print(f"polynomial final loss: {loss.item():.4f}")
print(f"fit: y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")

# --- a two-layer network with the custom ReLU ------------------------------------------------
N, D_in, H, D_out = 64, 100, 50, 10
xs = torch.tensor(rng.standard_normal((N, D_in)), dtype=torch.float32)
ys = torch.tensor(rng.standard_normal((N, D_out)), dtype=torch.float32)
w1 = torch.tensor(rng.standard_normal((D_in, H)) * 0.1, dtype=torch.float32, requires_grad=True)
w2 = torch.tensor(rng.standard_normal((H, D_out)) * 0.1, dtype=torch.float32, requires_grad=True)
relu = MyReLU.apply
for t in range(300):
    loss = (relu(xs.mm(w1)).mm(w2) - ys).pow(2).sum()
    if t == 0:
        print(f"network first loss: {loss.item():.4f}")
    loss.backward()
    sgd((w1, w2), 1e-3)
print(f"network final loss: {loss.item():.6g}")
