"""Back-propagation for a multilayer perceptron, derived with matrix calculus (numerator layout).

The derivation is ``derivation.md`` beside this file (the team's seed); the public API is the contract in
``shared/DESIGN.md``::

    params = init_params([l0, ..., lL], seed=0, dtype=np.float64)
    y = forward(params, x, activation="tanh")
    cost, grads = gradients(params, x, t, activation="tanh", variant="hadamard")
    params, history = train(params, x, t, steps=100, lr=0.1, clip=None)

Two variants of the same equations: ``"diag"`` multiplies explicit diagonal Jacobians, as the
equations read; ``"hadamard"`` uses the elementwise product and is the fast one. Inputs are
never modified and results keep the input dtype (float32 or float64).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import diag, hadamard
from .activations import ACTIVATIONS
from .diag import MemoryBudgetError
from .network import cost_and_output_derivative, forward_pass
from .network import init_params as _init_params
from .validation import (
    VARIANTS,
    Params,
    check_activations,
    check_data,
    check_dtype,
    check_params,
    check_positive,
    check_sizes,
    check_steps,
    check_variant,
)

__all__ = [
    "ACTIVATIONS",
    "VARIANTS",
    "MemoryBudgetError",
    "diag_memory_need_bytes",
    "forward",
    "gradients",
    "init_params",
    "train",
]

_BACKWARD = {"diag": diag.backward, "hadamard": hadamard.backward}

Activation = str | Sequence[str]


def init_params(sizes: Sequence[int], seed: int = 0, dtype: np.dtype | type = np.float64) -> Params:
    """Random parameters [(W[1], b[1]), ..., (W[L], b[L])] for widths [l0, l1, ..., lL]."""
    return _init_params(check_sizes(sizes), seed, check_dtype(dtype))


def forward(params: Params, x: np.ndarray, activation: Activation = "tanh") -> np.ndarray:
    """The network's output y[L], shape (lL, d), for inputs x of shape (l0, d)."""
    params = check_params(params)
    dtype = params[0][0].dtype
    x = check_data(x, "x", params[0][0].shape[1], dtype)
    return forward_pass(params, x, check_activations(activation, len(params)))[-1]


def diag_memory_need_bytes(params: Params, batch: int) -> int:
    """Bytes the ``"diag"`` variant needs for its largest stack of diagonal Jacobians."""
    params = check_params(params)
    return diag.memory_need_bytes(_sizes(params), batch, params[0][0].dtype)


def gradients(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    clip: float | None = None,
    memory_budget: int | None = None,
) -> tuple[float, Params]:
    """The cost C and its gradients [(dC/dW[k], dC/db[k])], each in its parameter's shape and dtype.

    ``clip`` (None or c > 0) clips every dC/dy[k] to [-c, c] before it is used, as the seed's
    backward loop does; the result is then no longer the exact gradient. ``memory_budget``
    (bytes, default 2 GiB) bounds the ``"diag"`` variant's Jacobians.
    """
    params, x, t, activations, variant, clip = _check_problem(params, x, t, activation, variant, clip, memory_budget)
    return _gradients(params, x, t, activations, variant, clip)


def train(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    steps: int,
    lr: float,
    clip: float | None = None,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    memory_budget: int | None = None,
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent: ``steps`` updates W[k] -= lr dC/dW[k], b[k] -= lr dC/db[k].

    Returns new parameters (the given ones are not touched) and the history of the cost, one
    float64 entry per step, measured before that step's update.
    """
    params, x, t, activations, variant, clip = _check_problem(params, x, t, activation, variant, clip, memory_budget)
    steps = check_steps(steps)
    lr = check_positive(lr, "lr")
    params = [(W.copy(), b.copy()) for W, b in params]
    history = np.empty(steps)
    for step in range(steps):
        history[step], grads = _gradients(params, x, t, activations, variant, clip)
        for (W, b), (dW, db) in zip(params, grads):
            W -= lr * dW  # lr is a Python float: float32 stays float32
            b -= lr * db
    return params, history


def _sizes(params: Params) -> list[int]:
    return [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]


def _check_problem(params, x, t, activation, variant, clip, memory_budget):
    params = check_params(params)
    dtype = params[0][0].dtype
    x = check_data(x, "x", params[0][0].shape[1], dtype)
    t = check_data(t, "t", params[-1][0].shape[0], dtype, batch=x.shape[1])
    activations = check_activations(activation, len(params))
    if check_variant(variant) == "diag":
        diag.check_memory(_sizes(params), x.shape[1], dtype, memory_budget)
    return params, x, t, activations, variant, check_positive(clip, "clip", allow_none=True)


def _gradients(params, x, t, activations, variant, clip):
    y = forward_pass(params, x, activations)
    cost, dC_dy = cost_and_output_derivative(y[-1], t)
    return cost, _BACKWARD[variant](params, y, dC_dy, activations, clip)
