"""The triangle problem: why a hidden layer of three neurons is enough.

What it teaches: what a hidden layer does geometrically. The points inside a triangle are where
three half-planes overlap. Each hidden sigmoid neuron learns one half-plane (its weights and bias
define a line, and the sigmoid is ~1 on one side of it, ~0 on the other); the output neuron then
fires only where all three are on, an AND of three lines. A model without a hidden layer has
only one line and cannot do this.

    python examples/triangle.py
"""
import tapegrad as torch
from tapegrad import datasets, nn, optim

torch.manual_seed(0)

X, y = datasets.triangle(2000, seed=0)  # y: 1 inside the triangle, 0 outside
y = y.float()
X_train, y_train = X[:1500], y[:1500]
X_test, y_test = X[1500:], y[1500:]


def train(model, steps=1500):
    loss_fn = nn.BCEWithLogitsLoss()
    # Adam with a fairly large step: the neurons must grow large weights to make their
    # sigmoids sharp enough to draw crisp edges.
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(X_train).squeeze(1), y_train)
        loss.backward()
        optimizer.step()
    return loss.item()


def accuracy(model, X, y):
    with torch.no_grad():
        return ((model(X).squeeze(1) > 0).float() == y).float().mean().item()


# Baselines: always answering "outside", and one line (logistic regression), which cannot
# enclose a triangle and so does little better, if at all.
print(f"always 'outside', test accuracy: {(y_test == 0).float().mean().item():.4f}")
linear = nn.Linear(2, 1)
train(linear)
print(f"no hidden layer, test accuracy: {accuracy(linear, X_test, y_test):.4f}")

model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
loss = train(model)
print(f"3 hidden neurons, final train loss: {loss:.4f}")
print(f"train accuracy: {accuracy(model, X_train, y_train):.4f}")
print(f"test accuracy: {accuracy(model, X_test, y_test):.4f}")

# Each hidden neuron's line w1*x1 + w2*x2 + b = 0. The output neuron adds up the three soft
# half-planes and thresholds the sum, so the lines are the cuts its boundary is made of (not
# always exactly the three edges: a weighted sum of sigmoids can bend the boundary too).
hidden = model[0]
for i, (w, b) in enumerate(zip(hidden.weight.tolist(), hidden.bias.tolist())):
    print(f"hidden neuron {i}: {w[0]:+.2f}*x1 {w[1]:+.2f}*x2 {b:+.2f} = 0")
