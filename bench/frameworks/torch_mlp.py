"""The MLP in PyTorch, differentiated by eager autograd.

``torch.nn.functional.softplus`` returns z itself for z > 20 (its ``threshold``); the reference
computes log(1 + e^z) exactly. They differ by at most 2e-9 there, so cross-checks keep
pre-activations below 20 (any network initialised by ``init_params`` on unit-scale data does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "relu": torch.relu,  # derivative 0 at 0, as the reference
    "identity": lambda z: z,
}


def activation_names(activation: str | Sequence[str], depth: int) -> list[str]:
    return [activation] * depth if isinstance(activation, str) else list(activation)


def to_tensors(params, x, t, requires_grad: bool = True):
    """NumPy -> torch, same dtype; parameters copied so that training never touches the inputs."""
    tensors = [
        (torch.tensor(W, requires_grad=requires_grad), torch.tensor(b, requires_grad=requires_grad)) for W, b in params
    ]
    return tensors, torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(t))


def cost(params, x, t, activations: list[str], clip: float | None = None) -> torch.Tensor:
    y = x
    for (W, b), name in zip(params, activations):
        y = ACTIVATIONS[name](W @ y + b[:, None])
        if clip is not None and y.requires_grad:
            # The seed clips every dC/dy[k] before it is used: a hook on y[k]'s gradient.
            y.register_hook(lambda g: g.clamp(-clip, clip))
    return ((y - t) ** 2).sum() / (2 * x.shape[1])


def gradient_function(params, x, t, activation="tanh", clip=None):
    """A no-argument function returning (cost, [dW1, db1, ...]) as tensors, and its inputs."""
    params_t, x_t, t_t = to_tensors(params, x, t)
    names = activation_names(activation, len(params))
    flat = [p for layer in params_t for p in layer]

    def run():
        c = cost(params_t, x_t, t_t, names, clip)
        return c, torch.autograd.grad(c, flat)

    return run


def to_numpy(result) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    c, flat = result
    arrays = [g.detach().numpy() for g in flat]
    return float(c.detach()), list(zip(arrays[::2], arrays[1::2]))


def gradients(params, x, t, activation="tanh", clip=None):
    """Cost and gradients as NumPy, in the reference's format."""
    return to_numpy(gradient_function(params, x, t, activation, clip)())


def train(params, x, t, steps, lr, clip=None, activation="tanh"):
    """The reference's full-batch SGD in PyTorch: (new params as NumPy, cost history)."""
    params_t, x_t, t_t = to_tensors(params, x, t)
    names = activation_names(activation, len(params))
    flat = [p for layer in params_t for p in layer]
    history = np.empty(steps)
    for step in range(steps):
        c = cost(params_t, x_t, t_t, names, clip)
        grads = torch.autograd.grad(c, flat)
        history[step] = float(c.detach())
        with torch.no_grad():
            for p, g in zip(flat, grads):
                p -= lr * g
    return [(W.detach().numpy(), b.detach().numpy()) for W, b in params_t], history
