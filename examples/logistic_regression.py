"""Logistic regression: one linear layer trained with binary cross-entropy.

What it teaches: a classifier is a linear model whose output is read as log-odds, trained with
nn.BCEWithLogitsLoss (sigmoid + binary cross-entropy in one numerically stable op, so the model
itself ends in a plain nn.Linear). The data are two Gaussian blobs with the same covariance, the
one case where logistic regression is exactly the right model: for blobs centred at -m and +m
with identity covariance, the true log-odds are log p(1|x)/p(0|x) = 2 m.x, so the learned
weights should come out near 2m and the bias near 0.

    python examples/logistic_regression.py
"""
import math

import tapegrad as torch
from tapegrad import nn, optim

torch.manual_seed(0)

m = torch.tensor([1.0, 1.0])  # blob centres at -m (class 0) and +m (class 1)


def blobs(n):
    """n points per class: x = +-m + standard normal noise, labels 0 / 1 as floats."""
    x = torch.cat([torch.randn(n, 2) - m, torch.randn(n, 2) + m])
    y = torch.cat([torch.zeros(n), torch.ones(n)])
    return x, y


x_train, y_train = blobs(1000)
x_test, y_test = blobs(1000)  # fresh points: accuracy on data the model never saw

model = nn.Linear(2, 1)
loss_fn = nn.BCEWithLogitsLoss()
optimizer = optim.Adam(model.parameters(), lr=0.05)

for step in range(1, 501):
    optimizer.zero_grad()
    logits = model(x_train).squeeze(1)  # (n, 1) -> (n,) to match the targets
    loss = loss_fn(logits, y_train)
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step:3d}  loss {loss.item():.4f}")


def accuracy(x, y):
    with torch.no_grad():
        # logit > 0  <=>  sigmoid(logit) > 0.5
        pred = (model(x).squeeze(1) > 0).float()
        return (pred == y).float().mean().item()


w = model.weight.detach()[0]
print("learned weights:", [round(v, 3) for v in w.tolist()])
print("ideal weights:", [round(v, 3) for v in (2 * m).tolist()])
print(f"learned bias: {model.bias.item():.3f} (ideal 0)")
print(f"train accuracy: {accuracy(x_train, y_train):.4f}")
print(f"test accuracy: {accuracy(x_test, y_test):.4f}")
# No classifier can beat the Bayes rule: it errs exactly when the noise carries a point across
# the line m.x = 0, i.e. with probability P(N(0, 1) > |m|).
bayes = 0.5 * (1 + math.erf((m**2).sum().sqrt().item() / math.sqrt(2)))
print(f"best possible (Bayes) accuracy: {bayes:.4f}")
