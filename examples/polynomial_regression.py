"""Polynomial regression: overfitting, L2 regularisation and early stopping.

What it teaches: a model with more freedom than the data can pin down fits the noise. We fit a
degree-14 polynomial (15 coefficients) to 15 noisy samples of sin(pi x), enough freedom to pass
through every point: the training loss falls towards zero, while the loss on a held-out
validation set reaches a minimum early and then rises, as the curve bends to go through the
noise and swings wildly between the samples. Two standard remedies, compared on the same
validation set:
  * L2 regularisation: Adam's weight_decay=lam adds lam * w to every gradient, so training
    settles where the gradient of loss + lam/2 * ||w||^2 vanishes: small coefficients, a smooth
    curve;
  * early stopping: watch the validation loss while training and keep the weights from the step
    where it was lowest.

    python examples/polynomial_regression.py
"""
import math

import tapegrad as torch
from tapegrad import nn, optim

torch.manual_seed(0)

DEGREE = 14
N_TRAIN, N_VAL = 15, 200
NOISE = 0.2  # standard deviation, so no model can get a validation loss below NOISE**2 = 0.04
STEPS = 3000


def target(x):
    return torch.sin(math.pi * x)


def features(x):
    """Chebyshev polynomials T_1(x) .. T_DEGREE(x) as columns (T_0 = 1 is the layer's bias).

    They span the same polynomials as x, x^2, ..., x^DEGREE, but on [-1, 1] the powers x^k are
    nearly parallel for large k, which makes gradient descent crawl; the T_k are close to
    orthogonal there. Recurrence: T_0 = 1, T_1 = x, T_{k+1} = 2 x T_k - T_{k-1}."""
    T = [torch.ones_like(x), x]
    for _ in range(2, DEGREE + 1):
        T.append(2 * x * T[-1] - T[-2])
    return torch.stack(T[1:], dim=1)


x_train = torch.linspace(-1, 1, N_TRAIN)
y_train = target(x_train) + NOISE * torch.randn(N_TRAIN)
x_val = torch.rand(N_VAL) * 2 - 1
y_val = target(x_val) + NOISE * torch.randn(N_VAL)
F_train, F_val = features(x_train), features(x_val)
y_train, y_val = y_train.unsqueeze(1), y_val.unsqueeze(1)  # (n, 1), like the model's output
loss_fn = nn.MSELoss()


def val_loss(model):
    with torch.no_grad():
        return loss_fn(model(F_val), y_val).item()


def fit(name, weight_decay=0.0, patience=None):
    """Full-batch Adam on the coefficients. With `patience`, stop once the validation loss has
    not improved for that many steps and restore the weights from the best step."""
    torch.manual_seed(1)  # every run starts from the same coefficients: a fair comparison
    model = nn.Linear(DEGREE, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.03, weight_decay=weight_decay)
    best, best_step, best_state = float("inf"), 0, None
    print(name)
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(F_train), y_train)
        loss.backward()
        optimizer.step()
        v = val_loss(model)
        if v < best:
            # clone: state_dict() shares memory with the parameters, which the next steps change
            best, best_step = v, step
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        if step % 500 == 0:
            print(f"  step {step:4d}  train loss {loss.item():.4f}  val loss {v:.4f}")
        if patience is not None and step - best_step >= patience:
            model.load_state_dict(best_state)
            print(f"  stopped at step {step}, restored step {best_step}")
            break
    with torch.no_grad():
        train = loss_fn(model(F_train), y_train).item()
    return model, train, best


overfit, overfit_train, overfit_best = fit(f"degree {DEGREE}, no regularisation:")
regular, regular_train, _ = fit(f"degree {DEGREE}, weight_decay=1e-2:", weight_decay=1e-2)
stopped, stopped_train, _ = fit(f"degree {DEGREE}, early stopping (patience 100):", patience=100)

print(f"train loss, overfit: {overfit_train:.6f}")
print(f"train loss, weight decay: {regular_train:.6f}")
print(f"train loss, early stopping: {stopped_train:.6f}")
print(f"lowest validation loss seen without regularisation: {overfit_best:.4f}")
print(f"validation loss, overfit: {val_loss(overfit):.4f}")
print(f"validation loss, weight decay: {val_loss(regular):.4f}")
print(f"validation loss, early stopping: {val_loss(stopped):.4f}")
print(f"noise floor (NOISE**2): {NOISE**2:.4f}")
