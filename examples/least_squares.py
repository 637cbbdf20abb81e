"""Least squares two ways: the normal equation and gradient descent.

What it teaches: for a linear model y ~ X w, the mean squared error is minimised where its
gradient 2/n X^T (X w - y) vanishes, i.e. where (X^T X) w = X^T y (the normal equation).
Gradient descent on the same loss walks to that same w. We compute both and compare.

tapegrad has no linalg.solve, so the one linear solve is done by numpy on the .numpy() views of
X^T X and X^T y (computed in tapegrad). Everything else is tapegrad.

    python examples/least_squares.py
"""
import numpy as np

import tapegrad as torch
from tapegrad import optim

torch.manual_seed(0)

n, d = 500, 4
w_true = torch.tensor([1.5, -2.0, 0.5, 3.0])
b_true = 0.7
A = torch.randn(n, d)
y = A @ w_true + b_true + 0.1 * torch.randn(n)

# A column of ones makes the intercept one more weight: X = [A, 1].
X = torch.cat([A, torch.ones(n, 1)], dim=1)

# ---- Normal equation ----------------------------------------------------------------------
XtX = X.T @ X
Xty = X.T @ y
w_normal = torch.from_numpy(np.linalg.solve(XtX.numpy(), Xty.numpy()))

# ---- Gradient descent ---------------------------------------------------------------------
# The features are standard normal, so X^T X / n is close to the identity and plain gradient
# descent converges fast: each step shrinks the error by about |1 - 2 lr|.
w = torch.zeros(d + 1, requires_grad=True)
optimizer = optim.SGD([w], lr=0.1)
for step in range(1, 201):
    optimizer.zero_grad()
    loss = ((X @ w - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    if step in (1, 10, 50, 200):
        print(f"step {step:3d}  loss {loss.item():.6f}")

w_gd = w.detach()
w_true_full = torch.cat([w_true, torch.tensor([b_true])])  # the intercept is the last weight
print("true weights:    ", [round(v, 4) for v in w_true_full.tolist()])
print("normal equation: ", [round(v, 4) for v in w_normal.tolist()])
print("gradient descent:", [round(v, 4) for v in w_gd.tolist()])
print(f"max |normal - gd|: {(w_normal - w_gd).abs().max().item():.3e}")
print(f"max |normal - true|: {(w_normal - w_true_full).abs().max().item():.3e}")
