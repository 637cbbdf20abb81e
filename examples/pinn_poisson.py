"""A physics-informed network: an MLP that solves u''(x) = f(x) on [0, 1] with u(0) = u(1) = 0.

What it teaches: the loss may contain derivatives of the network with respect to its input,
and autograd computes them. With create_graph=True, autograd.grad returns u'(x) as a tensor
that is itself part of the graph, so it can be differentiated again (u''), and the loss built
from u'' can be differentiated once more, with respect to the weights, to train them. No
solution values are given to the network: only the equation at 64 collocation points and the
two boundary values. With f(x) = -pi^2 sin(pi x) the exact solution is u(x) = sin(pi x), so
the result can be checked everywhere.

    python examples/pinn_poisson.py            (writes pinn_poisson.png if matplotlib is installed)
"""
import math

import tapegrad as torch
from tapegrad import nn, optim

torch.manual_seed(0)

STEPS = 1500


def f(x):
    return -math.pi ** 2 * torch.sin(math.pi * x)


def exact(x):
    return torch.sin(math.pi * x)


model = nn.Sequential(nn.Linear(1, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 1))
opt = optim.Adam(model.parameters(), lr=1e-2)
sched = optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.3)
x = torch.linspace(0, 1, 64).unsqueeze(1).requires_grad_()  # collocation points
boundary = torch.tensor([[0.0], [1.0]])


def second_derivative(u, x):
    ones = torch.ones_like(u)
    (du,) = torch.autograd.grad(u, x, grad_outputs=ones, create_graph=True)
    (d2u,) = torch.autograd.grad(du, x, grad_outputs=ones, create_graph=True)
    return d2u


for step in range(STEPS + 1):
    opt.zero_grad()
    u = model(x)
    residual = second_derivative(u, x) - f(x)
    loss = (residual ** 2).mean() + 10 * (model(boundary) ** 2).mean()
    loss.backward()
    opt.step()
    sched.step()
    if step % 500 == 0:
        print(f"step {step:4d} loss: {loss.item():.6f}")

grid = torch.linspace(0, 1, 201).unsqueeze(1)
with torch.no_grad():
    u_net = model(grid)
error = (u_net - exact(grid)).abs().max().item()
print(f"final loss: {loss.item():.6f}")
print(f"max |u - sin(pi x)| on 201 points: {error:.6f}")
print(f"u(0.5): {u_net[100, 0].item():.6f}  (exact 1)")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("plot: skipped (pip install matplotlib)")
else:
    xs = grid.squeeze(1).numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, exact(grid).squeeze(1).numpy(), label="exact sin(pi x)", linewidth=3, alpha=0.5)
    ax.plot(xs, u_net.squeeze(1).numpy(), "--", label="network")
    ax.set_xlabel("x")
    ax.set_title("u'' = -pi^2 sin(pi x), u(0) = u(1) = 0")
    ax.legend()
    fig.savefig("pinn_poisson.png", dpi=100)
    print("plot: pinn_poisson.png")
