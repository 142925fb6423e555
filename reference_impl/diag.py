"""The backward pass with explicit diagonal Jacobians, exactly as the seed's equations read.

``nabla_sigma[k]`` is materialised as a (d, l_k, l_k) stack, one diagonal matrix per sample, and
multiplied like any other Jacobian. That costs O(d l_k^2) memory and O(d l_k^2) work per layer
where the Hadamard variant needs O(d l_k): it is here to show the equations are right and what
writing them literally costs. It knows its memory need and refuses a configuration over a budget.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .activations import Activation
from .validation import Params
from .workspace import Workspace

DEFAULT_MEMORY_BUDGET_BYTES = 2 * 2**30


class MemoryBudgetError(ValueError):
    """The diagonal Jacobians of a configuration would not fit in the memory budget."""


def memory_need_bytes(sizes: list[int], batch: int, dtype: np.dtype, stacks: int = 1) -> int:
    """Bytes of the largest stacks of diagonal Jacobians: d l_k^2 numbers each (one layer at a
    time); the Hessian-vector product holds two (nabla_sigma and nabla2_sigma)."""
    return stacks * batch * max(width * width for width in sizes[1:]) * np.dtype(dtype).itemsize


def check_memory(sizes: list[int], batch: int, dtype: np.dtype, budget_bytes: int | None, stacks: int = 1) -> None:
    budget = DEFAULT_MEMORY_BUDGET_BYTES if budget_bytes is None else budget_bytes
    need = memory_need_bytes(sizes, batch, dtype, stacks)
    if need > budget:
        raise MemoryBudgetError(
            f"variant='diag' needs {need / 2**30:.1f} GiB for diagonal Jacobians "
            f"({stacks} x batch {batch} x width {max(sizes[1:])}^2 x {np.dtype(dtype).itemsize} bytes), "
            f"budget {budget / 2**30:.1f} GiB: use variant='hadamard' or a larger memory_budget"
        )


def diagonal_jacobians(derivatives: np.ndarray, stack: np.ndarray | None = None) -> np.ndarray:
    """(d, l) derivatives -> (d, l, l) stack of diagonal matrices, np.diagflat per sample.

    ``stack``, if given, is an earlier result of the same shape: its off-diagonal entries are
    still zero, so only the diagonals are written (a d l^2 zero fill saved per layer).
    """
    d, width = derivatives.shape
    if stack is None:
        stack = np.zeros((d, width, width), dtype=derivatives.dtype)
    diagonal = np.arange(width)
    stack[:, diagonal, diagonal] = derivatives
    return stack


def deltas(
    params: Params,
    y: list[np.ndarray],
    dC_dy_T: np.ndarray,
    activations: list[Activation],
    clip: float | None,
    work: Workspace,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (k, delta[k]) for k = L..1, delta[k] = (dC/dy[k] nabla_sigma[k])^T of shape (l_k, d),
    as ``hadamard.deltas`` does, with nabla_sigma[k] multiplied as a matrix. The row vectors
    dC/dy[k] are the rows of ``dC_dy_T.T``.
    """
    nabla_sigma = None
    for k in range(len(params), 0, -1):
        if clip is not None:
            np.clip(dC_dy_T, -clip, clip, out=dC_dy_T)  # the seed's clip, before dC/dy[k] is used
        dC_dy = dC_dy_T.T  # (d, l_k): one row vector per sample, as the seed writes it
        # nabla_sigma[k]: one (l_k, l_k) diagonal matrix per sample, the seed's np.diagflat. One
        # stack at a time (the memory need is the widest layer's), reused while widths repeat.
        # It is not kept in the workspace between calls: d l^2 numbers are too many to hold on to.
        if nabla_sigma is not None and nabla_sigma.shape[1] != dC_dy.shape[1]:
            nabla_sigma = None
        derivatives = activations[k - 1].derivative(y[k], out=work.nabla_sigma[k]).T
        nabla_sigma = diagonal_jacobians(derivatives, nabla_sigma)
        # dC/dy[k] nabla_sigma[k]: each sample's row vector (1, l_k) times its matrix, stacked.
        dC_dy_nabla_sigma = (dC_dy[:, None, :] @ nabla_sigma)[:, 0, :]
        yield k, dC_dy_nabla_sigma.T
        if k > 1:  # dC/dy[0] is the input's gradient: nothing needs it
            # (1) dC/dy[k-1] = dC/dy[k] nabla_sigma[k] W[k], stored transposed like every dC/dy.
            dC_dy_T = np.matmul(dC_dy_nabla_sigma, params[k - 1][0], out=work.dC_dy_T[k - 1].T).T


def backward(
    params: Params,
    y: list[np.ndarray],
    dC_dy_T: np.ndarray,
    activations: list[Activation],
    clip: float | None,
    grads: Params,
    work: Workspace,
    inputs: list[np.ndarray] | None = None,
) -> Params:
    """Fill grads with [(dC/dW[k], dC/db[k]) for k = 1..L], from y[0..L] and (dC/dy[L])^T (overwritten).

    Arguments as ``hadamard.backward``.
    """
    inputs = y if inputs is None else inputs
    for k, delta in deltas(params, y, dC_dy_T, activations, clip, work):
        dW, db = grads[k - 1]
        dC_dy_nabla_sigma = delta.T  # (d, l_k): sample i's row vector dC/dy[k] nabla_sigma[k]
        # (2) dC/dW[k] = y[k-1] dC/dy[k] nabla_sigma[k], summed over samples, in W's shape.
        np.matmul(inputs[k - 1], dC_dy_nabla_sigma, out=dW.T)
        if db is not None:
            # (3) dC/db[k] = dC/dy[k] nabla_sigma[k], summed over samples.
            np.matmul(work.ones, dC_dy_nabla_sigma, out=db)
    return grads


# Forward mode and second order, with explicit diagonal Jacobians: the R-operator on the seed's
# equations as ``hadamard`` applies it, every nabla_sigma[k] and nabla2_sigma[k] a (d, l_k, l_k) stack.


def tangents(params: Params, vector: Params, y: list[np.ndarray], activations: list[Activation], work, T) -> None:
    """Forward tangent propagation: T.R_z[k] and T.R_y[k] for k = 1..L, as ``hadamard.tangents``."""
    for k, ((W, _), (V_W, V_b), activation) in enumerate(zip(params, vector, activations), start=1):
        # R{z[k]} = V_W[k] y[k-1] + W[k] R{y[k-1]} + V_b[k]
        R_z = np.matmul(V_W, y[k - 1], out=T.R_z[k])
        if k > 1:
            R_z += np.matmul(W, T.R_y[k - 1], out=T.scratch[k])
        R_z += V_b[:, None]
        # R{y[k]} = nabla_sigma[k] R{z[k]}: each sample's diagonal matrix times its column
        nabla_sigma = diagonal_jacobians(activation.derivative(y[k], out=work.nabla_sigma[k]).T)
        T.R_y[k][...] = (nabla_sigma @ R_z.T[:, :, None])[:, :, 0].T


def r_backward(
    params: Params,
    vector: Params,
    y: list[np.ndarray],
    dC_dy_T: np.ndarray | None,
    R_dC_dy_T: np.ndarray,
    activations: list[Activation],
    products: Params,
    work: Workspace,
    T,
) -> Params:
    """``hadamard.r_backward`` with the Jacobians as matrices; the seed's row vectors per sample."""
    hessian = dC_dy_T is not None
    for k in range(len(params), 0, -1):
        activation, W, V_W = activations[k - 1], params[k - 1][0], vector[k - 1][0]
        nabla_sigma = diagonal_jacobians(activation.derivative(y[k], out=work.nabla_sigma[k]).T)
        R_dC_dy = R_dC_dy_T.T[:, None, :]  # (d, 1, l_k): sample i's row vector R{dC/dy[k]}
        # R{dC/dy[k] nabla_sigma[k]} = R{dC/dy[k]} nabla_sigma[k] + dC/dy[k] nabla2_sigma[k] diag(R{z[k]})
        R_delta = (R_dC_dy @ nabla_sigma)[:, 0, :]
        if hessian:
            dC_dy = dC_dy_T.T[:, None, :]
            curvature = activation.second_derivative(y[k], out=T.nabla2_sigma[k])
            curvature *= T.R_z[k]
            nabla2_sigma_R_z = diagonal_jacobians(curvature.T)  # nabla2_sigma[k] diag(R{z[k]}) per sample
            R_delta += (dC_dy @ nabla2_sigma_R_z)[:, 0, :]
            delta = (dC_dy @ nabla_sigma)[:, 0, :]  # dC/dy[k] nabla_sigma[k], (d, l_k)
        H_W, H_b = products[k - 1]
        # R{(2)}: R{dC/dW[k]} = y[k-1] R{dC/dy[k] nabla_sigma[k]} + R{y[k-1]} dC/dy[k] nabla_sigma[k], in W's shape
        np.matmul(y[k - 1], R_delta, out=H_W.T)
        if hessian and k > 1:
            H_W.T[...] += T.R_y[k - 1] @ delta
        # R{(3)}: R{dC/db[k]} = R{dC/dy[k] nabla_sigma[k]}, summed over samples
        np.matmul(work.ones, R_delta, out=H_b)
        if k > 1:
            # R{(1)}: R{dC/dy[k-1]} = R{dC/dy[k] nabla_sigma[k]} W[k] + dC/dy[k] nabla_sigma[k] V_W[k]
            R_dC_dy_T = np.matmul(R_delta, W, out=T.R_dC_dy_T[k - 1].T).T
            if hessian:
                R_dC_dy_T += (delta @ V_W).T
                dC_dy_T = np.matmul(delta, W, out=work.dC_dy_T[k - 1].T).T  # (1) itself
    return products
