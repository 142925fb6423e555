"""Back-propagation for a multilayer perceptron, derived with matrix calculus (numerator layout).

The derivation is ``derivation.md`` beside this file (the team's seed); the public API below is a
contract that checks outside the project call exactly as written::

    params = init_params([l0, ..., lL], seed=0, dtype=np.float64)
    y = forward(params, x, activation="tanh")
    cost, grads = gradients(params, x, t, activation="tanh", variant="hadamard", clip=None, out=None)
    params, history = train(params, x, t, steps=100, lr=0.1, clip=None, batch_size=None, shuffle=False, seed=0)
    costs, grads = per_sample_gradients(params, x, t, activation="tanh", variant="hadamard", clip=None, out=None)
    cost, grads = clipped_gradients(params, x, t, max_norm=1.0, activation="tanh", variant="hadamard", clip=None,
                                    out=None, materialize=False)
    y, dy = jvp(params, x, vector, activation="tanh", variant="hadamard")
    cost, hv = hvp(params, x, t, vector, activation="tanh", variant="hadamard", out=None)
    cost, gv = gnvp(params, x, t, vector, activation="tanh", variant="hadamard", out=None)

Two variants of the same equations: ``"diag"`` multiplies explicit diagonal Jacobians, as the
equations read; ``"hadamard"`` uses the elementwise product and is the fast one. Inputs are
never modified and results keep the input dtype (float32 or float64). Temporaries are reused
between calls (``workspace``) and ``out=`` takes the gradients' arrays, so a hot loop allocates
nothing large.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import diag, hadamard, per_sample
from .activations import ACTIVATIONS
from .diag import MemoryBudgetError
from .network import cost_and_output_derivative, forward_pass
from .network import init_params as _init_params
from .training import SGD, batch_indices
from .validation import (
    VARIANTS,
    Params,
    check_activations,
    check_batch_size,
    check_data,
    check_dtype,
    check_out,
    check_params,
    check_positive,
    check_seed,
    check_sizes,
    check_steps,
    check_variant,
    check_vector,
)
from .workspace import get_workspace

__all__ = [
    "ACTIVATIONS",
    "VARIANTS",
    "MemoryBudgetError",
    "batch_indices",
    "clipped_gradients",
    "diag_memory_need_bytes",
    "forward",
    "gnvp",
    "gradients",
    "hvp",
    "init_params",
    "jvp",
    "per_sample_gradients",
    "per_sample_memory_need_bytes",
    "train",
    "trainer",
]

_BACKWARD = {"diag": diag.backward, "hadamard": hadamard.backward}
_DELTAS = {"diag": diag.deltas, "hadamard": hadamard.deltas}
_VARIANTS = {"diag": diag, "hadamard": hadamard}

Activation = str | Sequence[str]


def init_params(sizes: Sequence[int], seed: int = 0, dtype: np.dtype | type = np.float64) -> Params:
    """Random parameters [(W[1], b[1]), ..., (W[L], b[L])] for widths [l0, l1, ..., lL]."""
    return _init_params(check_sizes(sizes), seed, check_dtype(dtype))


def forward(params: Params, x: np.ndarray, activation: Activation = "tanh") -> np.ndarray:
    """The network's output y[L], shape (lL, d), for inputs x of shape (l0, d): a new array."""
    params = check_params(params)
    dtype = params[0][0].dtype
    x = check_data(x, "x", params[0][0].shape[1], dtype)
    work = get_workspace(tuple(_sizes(params)), x.shape[1], dtype)  # hidden layers in reused buffers
    return forward_pass(params, x, check_activations(activation, len(params)), work)[-1].copy()


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
    out: Params | None = None,
    memory_budget: int | None = None,
) -> tuple[float, Params]:
    """The cost C and its gradients [(dC/dW[k], dC/db[k])], each in its parameter's shape and dtype.

    ``clip`` (None or c > 0) clips every dC/dy[k] to [-c, c] before it is used, as the seed's
    backward loop does; the result is then no longer the exact gradient. ``out`` (None or a list
    of (dW, db) arrays of exactly those shapes and dtype) is filled in place and returned: a loop
    that passes the same ``out`` every call allocates nothing large. ``memory_budget`` (bytes,
    default 2 GiB) bounds the ``"diag"`` variant's Jacobians.
    """
    params, x, t, activations, variant, clip = _check_problem(params, x, t, activation, variant, clip, memory_budget)
    grads = _outputs(out, params, x, t)
    return _gradients(params, x, t, activations, variant, clip, grads), grads


def per_sample_gradients(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    clip: float | None = None,
    out: Params | None = None,
    memory_budget: int | None = None,
) -> tuple[np.ndarray, Params]:
    """Every sample's cost and gradient: ``costs`` of shape (d,) and [(dW, db)] of shapes
    (d, l_k, l_{k-1}) and (d, l_k), in the input dtype.

    Entry i is ``gradients(params, x[:, i:i+1], t[:, i:i+1], clip=clip)`` (the seed's per-sample
    step, C_i = 1/2 ||t_i - y_i||^2), to rounding; without ``clip`` their mean is the batch's
    gradient. ``out`` takes arrays of exactly those shapes. ``memory_budget`` (bytes, default
    2 GiB) bounds the d x P output (and the ``"diag"`` variant's Jacobians): above it a
    ``MemoryBudgetError`` says how much was asked.
    """
    params, x, t, activations, variant, clip = _check_problem(params, x, t, activation, variant, clip, memory_budget)
    d = x.shape[1]
    per_sample.check_memory(_sizes(params), d, x.dtype, memory_budget)
    grads = _outputs(out, params, x, t, samples=d)
    work = get_workspace(tuple(_sizes(params)), d, x.dtype)
    costs = per_sample.per_sample_gradients(params, x, t, activations, _DELTAS[variant], clip, grads, work)
    return costs, grads


def clipped_gradients(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    max_norm: float,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    clip: float | None = None,
    out: Params | None = None,
    materialize: bool = False,
    memory_budget: int | None = None,
) -> tuple[float, Params]:
    """DP-SGD's gradient without the noise: the batch cost and 1/d sum_i g_i min(1, C / ||g_i||),
    with g_i sample i's whole gradient (as ``per_sample_gradients`` gives it) and C = ``max_norm``.

    By default the norms come from ||delta_i[k]|| ||y_i[k-1]|| and the mean from one weighted
    product per layer: no (d, ...) per-sample array is made. ``materialize=True`` computes the
    same from ``per_sample_gradients``, as a control. ``out`` as in ``gradients``.
    """
    params, x, t, activations, variant, clip = _check_problem(params, x, t, activation, variant, clip, memory_budget)
    max_norm = check_positive(max_norm, "max_norm")
    if not isinstance(materialize, (bool, np.bool_)):
        raise TypeError(f"materialize: expected True or False, got {materialize!r}")
    grads = _outputs(out, params, x, t)
    if materialize:
        costs, samples = per_sample_gradients(params, x, t, activation, variant, clip, None, memory_budget)
        per_sample.clipped_from_per_sample(samples, max_norm, grads)
        return float(costs.mean(dtype=np.float64)), grads
    work = get_workspace(tuple(_sizes(params)), x.shape[1], x.dtype)
    deltas = _DELTAS[variant]
    return per_sample.clipped_gradients(params, x, t, activations, deltas, clip, max_norm, grads, work), grads


def jvp(
    params: Params, x: np.ndarray, vector: Params, activation: Activation = "tanh", variant: str = "hadamard"
) -> tuple[np.ndarray, np.ndarray]:
    """Forward mode: the output y[L] and its directional derivative R{y[L]} = J vector, both (lL, d)
    and new arrays, by forward tangent propagation (no backward pass).

    ``vector`` is a direction in parameter space, [(V_W, V_b)] in the parameters' shapes and dtype.
    """
    params, x, _, activations, variant, _ = _check_problem(params, x, None, activation, variant, None, None)
    vector = check_vector(vector, params)
    work = get_workspace(tuple(_sizes(params)), x.shape[1], x.dtype)
    y = forward_pass(params, x, activations, work)
    T = work.tangents(_sizes(params))
    _VARIANTS[variant].tangents(params, vector, y, activations, work, T)
    return y[-1].copy(), T.R_y[-1].copy()


def hvp(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    vector: Params,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    out: Params | None = None,
    memory_budget: int | None = None,
) -> tuple[float, Params]:
    """The seed's cost C = 1/(2d) sum ||y[L] - t||^2 and its Hessian (all parameters) times ``vector``:
    [(H_W, H_b)] in the parameters' shapes and dtype, by Pearlmutter's R-operator (one forward
    tangent pass, one backward pass and its R-image).

    These are products of the exact cost's derivatives: there is no ``clip`` (clipping dC/dy makes
    the gradient piecewise). ``out`` as in ``gradients``; ``memory_budget`` bounds ``"diag"``'s two
    stacks of diagonal matrices (nabla_sigma and nabla2_sigma) per layer.
    """
    return _second_order(params, x, t, vector, activation, variant, out, memory_budget, hessian=True)


def gnvp(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    vector: Params,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    out: Params | None = None,
    memory_budget: int | None = None,
) -> tuple[float, Params]:
    """The cost and the Gauss-Newton matrix J^T (d2C/dy2) J times ``vector`` (Schraudolph 2002): the
    forward tangent J vector, scaled by d2C/dy2 = I/d, taken back by one backward pass. J is the
    Jacobian of y[L] with respect to all parameters; the result is positive semi-definite.
    Arguments as ``hvp``."""
    return _second_order(params, x, t, vector, activation, variant, out, memory_budget, hessian=False)


def _second_order(params, x, t, vector, activation, variant, out, memory_budget, hessian: bool) -> tuple[float, Params]:
    params, x, t, activations, variant, _ = _check_problem(
        params, x, t, activation, variant, None, memory_budget, stacks=2
    )
    vector = check_vector(vector, params)
    products = _outputs(out, params, x, t)
    work = get_workspace(tuple(_sizes(params)), x.shape[1], x.dtype)
    y = forward_pass(params, x, activations, work)
    T = work.tangents(_sizes(params))
    _VARIANTS[variant].tangents(params, vector, y, activations, work, T)
    cost, dC_dy_T = cost_and_output_derivative(y[-1], t, out=work.dC_dy_T[-1])
    # The base case's image: R{dC/dy[L]} = R{y[L]} / d (d2C/dy2 = I/d), transposed like dC/dy[L].
    R_dC_dy_T = np.divide(T.R_y[-1], x.shape[1], out=T.R_dC_dy_T[-1])
    _VARIANTS[variant].r_backward(
        params, vector, y, dC_dy_T if hessian else None, R_dC_dy_T, activations, products, work, T
    )
    return cost, products


def per_sample_memory_need_bytes(params: Params, batch: int) -> int:
    """Bytes of ``per_sample_gradients``' output: d x P numbers."""
    params = check_params(params)
    return per_sample.memory_need_bytes(_sizes(params), batch, params[0][0].dtype)


def train(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    steps: int,
    lr: float,
    clip: float | None = None,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    memory_budget: int | None = None,
) -> tuple[Params, np.ndarray]:
    """Gradient descent: ``steps`` updates W[k] -= lr dC/dW[k], b[k] -= lr dC/db[k].

    ``batch_size=None`` is full-batch gradient descent; b (1 <= b <= d) is SGD on mini-batches.
    Samples form a stream, epoch after epoch; step s uses stream entries s*b ... s*b+b-1. With
    ``shuffle=False`` each epoch is 0..d-1 in order (b = 1 is the seed's per-sample loop); with
    ``shuffle=True`` each epoch is a new permutation drawn from ``np.random.default_rng(seed)``
    (``batch_indices`` gives the same stream). The step's cost is 1/(2b) sum over its samples,
    and ``history[s]`` (float64) is that cost before the step's update. Returns new parameters:
    the given ones are not touched. Validation happens once, before the first step.
    """
    steps = check_steps(steps)
    state = trainer(params, x, t, lr, clip, activation, variant, batch_size, shuffle, seed, memory_budget)
    history = state.run(steps)
    return state.params(), history


def trainer(
    params: Params,
    x: np.ndarray,
    t: np.ndarray,
    lr: float,
    clip: float | None = None,
    activation: Activation = "tanh",
    variant: str = "hadamard",
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    memory_budget: int | None = None,
) -> SGD:
    """``train``'s state, validated and allocated once: ``.run(steps)`` trains on from the current
    parameters, ``.reset(params)`` goes back to a start in place, ``.params()`` returns copies.
    For a loop timed again and again from one start (the benchmarks): no setup inside it."""
    batch_size = check_batch_size(batch_size, np.shape(x)[-1] if np.ndim(x) == 2 else 1)
    params, x, t, activations, variant, clip = _check_problem(
        params, x, t, activation, variant, clip, memory_budget, batch=batch_size
    )
    lr = check_positive(lr, "lr")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle: expected True or False, got {shuffle!r}")
    seed = check_seed(seed)
    return SGD(params, x, t, lr, clip, activations, _BACKWARD[variant], batch_size, bool(shuffle), seed)


def _outputs(out, params: Params, x: np.ndarray, t: np.ndarray, samples: int | None = None) -> Params:
    """Fresh (dW, db) arrays in the parameters' shapes (with ``samples`` in front), or ``out`` checked."""
    if out is None:
        lead = () if samples is None else (samples,)
        return [(np.empty((*lead, *W.shape), W.dtype), np.empty((*lead, *b.shape), b.dtype)) for W, b in params]
    return check_out(out, params, [a for layer in params for a in layer] + [x, t], samples=samples)


def _sizes(params: Params) -> list[int]:
    return [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]


def _check_problem(params, x, t, activation, variant, clip, memory_budget, batch=None, stacks=1):
    params = check_params(params)
    dtype = params[0][0].dtype
    x = check_data(x, "x", params[0][0].shape[1], dtype)
    t = None if t is None else check_data(t, "t", params[-1][0].shape[0], dtype, batch=x.shape[1])
    activations = check_activations(activation, len(params))
    if check_variant(variant) == "diag":
        diag.check_memory(_sizes(params), batch or x.shape[1], dtype, memory_budget, stacks)
    return params, x, t, activations, variant, check_positive(clip, "clip", allow_none=True)


def _gradients(params, x, t, activations, variant, clip, grads) -> float:
    """The pass itself, on validated arguments: fills ``grads`` and returns the cost."""
    work = get_workspace(tuple(_sizes(params)), x.shape[1], x.dtype)
    y = forward_pass(params, x, activations, work)
    cost, dC_dy_T = cost_and_output_derivative(y[-1], t, out=work.dC_dy_T[-1])
    _BACKWARD[variant](params, y, dC_dy_T, activations, clip, grads, work)
    return cost
