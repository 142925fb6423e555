"""The MLP in PyTorch: eager autograd, and the seed's equations in torch ops (``manual``).

``torch.nn.functional.softplus`` returns z itself for z > 20 (its ``threshold``); the reference
computes log(1 + e^z) exactly. They differ by at most 2e-9 there, so cross-checks keep
pre-activations below 20 (any network initialised by ``init_params`` on unit-scale data does).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import activation_names, stream_indices

ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, lambda y: y * (1 - y)),
    "tanh": (torch.tanh, lambda y: 1 - y * y),
    "softplus": (F.softplus, lambda y: -torch.expm1(-y)),
    "relu": (torch.relu, lambda y: (y > 0).to(y.dtype)),  # derivative 0 at 0, as the reference
    "identity": (lambda z: z, torch.ones_like),
}


def to_tensors(params, x, t, requires_grad: bool = True):
    """NumPy -> torch, same dtype; parameters copied so that training never touches the inputs."""
    tensors = [
        (torch.tensor(W, requires_grad=requires_grad), torch.tensor(b, requires_grad=requires_grad)) for W, b in params
    ]
    return tensors, torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(t))


def cost(params, x, t, names, clip=None) -> torch.Tensor:
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y))
        if clip is not None and y.requires_grad:
            # The seed clips every dC/dy[k] before it is used: a hook on y[k]'s gradient.
            y.register_hook(lambda g: g.clamp(-clip, clip))
    return ((y - t) ** 2).sum() / (2 * x.shape[1])


@torch.no_grad()
def manual_gradients(params, x, t, names, clip=None):
    """The seed's three equations in torch ops, Hadamard form, no autograd graph.

    As in ``reference_impl.hadamard``, dC/dy[k] is stored transposed, one column per sample.
    """
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y[-1])))
    residual = y[-1] - t
    d = x.shape[1]
    dC_dy_T = residual / d  # base case: (dC/dy[L])^T
    grads = [None] * len(params)
    for k in range(len(params), 0, -1):
        if clip is not None:
            dC_dy_T = dC_dy_T.clamp(-clip, clip)  # the seed's clip
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])  # (dC/dy[k] nabla_sigma[k])^T
        grads[k - 1] = (delta @ y[k - 1].T, delta.sum(dim=1))  # (2) dC/dW[k], (3) dC/db[k]
        if k > 1:
            dC_dy_T = params[k - 1][0].T @ delta  # (1) (dC/dy[k-1])^T = W[k]^T delta
    return (residual * residual).sum() / (2 * d), [g for layer in grads for g in layer]


def gradient_function(params, x, t, activation="tanh", clip=None, manual=False):
    """A no-argument call returning (cost, [dW1, db1, ...]) as tensors."""
    params_t, x_t, t_t = to_tensors(params, x, t, requires_grad=not manual)
    names = activation_names(activation, len(params))
    if manual:
        return lambda: manual_gradients(params_t, x_t, t_t, names, clip)
    flat = [p for layer in params_t for p in layer]

    def run():
        c = cost(params_t, x_t, t_t, names, clip)
        return c, torch.autograd.grad(c, flat)  # fresh gradients, as ri.gradients without out=

    return run


def forward_function(params, x, t, activation="tanh"):
    params_t, x_t, t_t = to_tensors(params, x, t, requires_grad=False)
    names = activation_names(activation, len(params))

    def run():
        with torch.inference_mode():
            return cost(params_t, x_t, t_t, names)

    return run


def to_numpy(result):
    c, flat = result
    arrays = [g.detach().numpy() for g in flat]
    return float(c.detach()), list(zip(arrays[::2], arrays[1::2]))


def gradients(params, x, t, activation="tanh", clip=None, manual=False):
    return to_numpy(gradient_function(params, x, t, activation, clip, manual)())


def training_function(params, x, t, steps, lr, clip, activation, indices, manual=False):
    """SGD as a torch user writes it: zero the gradients, backward() into .grad (the clip as
    hooks), torch.optim.SGD's step; or, ``manual``, the seed's equations and in-place updates."""
    names = activation_names(activation, len(params))
    x_t, t_t = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(t))
    batches = None if indices is None else torch.from_numpy(indices)

    def run():
        params_t = to_tensors(params, x, t, requires_grad=not manual)[0]  # every run from the same start
        flat = [p for layer in params_t for p in layer]
        optimizer = None if manual else torch.optim.SGD(flat, lr=lr)
        history = torch.empty(steps, dtype=torch.float64)
        xb, tb = x_t, t_t
        for step in range(steps):
            if batches is not None:
                xb, tb = x_t[:, batches[step]], t_t[:, batches[step]]
            if manual:
                c, grads = manual_gradients(params_t, xb, tb, names, clip)
                with torch.no_grad():
                    for p, g in zip(flat, grads):
                        p.sub_(g, alpha=lr)
            else:
                optimizer.zero_grad()
                c = cost(params_t, xb, tb, names, clip)
                c.backward()
                optimizer.step()
            history[step] = c.detach()
        return [(W.detach(), b.detach()) for W, b in params_t], history

    return run


def train(params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, manual=False):
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    params_t, history = training_function(params, x, t, steps, lr, clip, activation, indices, manual)()
    return [(W.numpy(), b.numpy()) for W, b in params_t], history.numpy()
