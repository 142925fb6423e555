"""Every sample's gradient, and DP-SGD's clipped mean gradient without a per-sample array.

The seed's equation (2) sums over the batch: dC/dW[k] = sum_i y_i[k-1] dC/dy_i[k] nabla_sigma_i[k].
Its terms are what differentially private SGD and per-example diagnostics need. Sample i's own
cost is C_i = 1/2 ||t_i - y_i[L]||^2 (the seed's cost at d = 1), so its backward pass starts
from dC_i/dy_i[L] = (y_i[L] - t_i)^T, without the batch's 1/d, and each column of the batch pass
is then exactly sample i's pass (clipping is elementwise, so it clips each sample's own values):

    g_i(W[k]) = (y_i[k-1] delta_i[k])^T = delta_i[k]^T y_i[k-1]^T    (2), one term: an outer product
    g_i(b[k]) = delta_i[k]                                           (3), one term

with delta_i[k] = dC_i/dy_i[k] nabla_sigma_i[k] (``deltas`` of either variant: that is where the
variants differ). The Frobenius norm of an outer product is the product of its factors' norms
(Goodfellow 2015), so

    ||g_i||^2 = sum_k ||delta_i[k]||^2 (||y_i[k-1]||^2 + 1)

needs no per-sample array, and DP-SGD's clipped mean (Abadi et al. 2016, before the noise),
1/d sum_i s_i g_i with s_i = min(1, C / ||g_i||), is the batch pass's equation (2) with column i
of delta[k] scaled by s_i / d: one product per layer ("ghost clipping", Li et al. 2021).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from .diag import DEFAULT_MEMORY_BUDGET_BYTES, MemoryBudgetError
from .network import forward_pass
from .validation import Params
from .workspace import Workspace

Deltas = Callable[..., Iterator[tuple[int, np.ndarray]]]


def memory_need_bytes(sizes: list[int], batch: int, dtype: np.dtype) -> int:
    """Bytes of the per-sample gradients: d x P numbers, P = sum_k l_k (l_{k-1} + 1)."""
    parameters = sum(fan_out * (fan_in + 1) for fan_in, fan_out in itertools.pairwise(sizes))
    return batch * parameters * np.dtype(dtype).itemsize


def check_memory(sizes: list[int], batch: int, dtype: np.dtype, budget_bytes: int | None) -> None:
    budget = DEFAULT_MEMORY_BUDGET_BYTES if budget_bytes is None else budget_bytes
    need = memory_need_bytes(sizes, batch, dtype)
    if need > budget:
        itemsize = np.dtype(dtype).itemsize
        parameters = need // batch // itemsize
        raise MemoryBudgetError(
            f"per-sample gradients need {need / 2**30:.2f} GiB (batch {batch} x {parameters} parameters x "
            f"{itemsize} bytes), memory_budget {budget / 2**30:.2f} GiB: use"
            " clipped_gradients (no per-sample array), a smaller batch, or a larger memory_budget"
        )


def costs_and_output_derivatives(y_L: np.ndarray, t: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's cost C_i = 1/2 ||t_i - y_i[L]||^2, shape (d,), and (dC_i/dy_i[L])^T = y_i[L] - t_i
    in column i (the layout of ``network.cost_and_output_derivative``, without its 1/d)."""
    residual = np.subtract(y_L, t, out=out)
    costs = np.einsum("ij,ij->j", residual, residual)
    costs *= 0.5  # a Python float: the dtype is kept
    return costs, residual


def _sample_pass(params, x, t, activations, deltas: Deltas, clip, work: Workspace):
    """Forward pass and each sample's costs; then (k, delta[k], y[k-1]) for k = L..1."""
    y = forward_pass(params, x, activations, work)
    costs, dC_dy_T = costs_and_output_derivatives(y[-1], t, out=work.dC_dy_T[-1])
    return costs, ((k, delta, y[k - 1]) for k, delta in deltas(params, y, dC_dy_T, activations, clip, work))


def per_sample_gradients(params, x, t, activations, deltas: Deltas, clip, grads: Params, work) -> np.ndarray:
    """Fill grads[k-1] = (g(W[k]) of shape (d, l_k, l_{k-1}), g(b[k]) of shape (d, l_k)); return the costs."""
    costs, layers = _sample_pass(params, x, t, activations, deltas, clip, work)
    for k, delta, y_prev in layers:
        dW, db = grads[k - 1]
        # Sample i's delta and input as contiguous rows (d x l, small): the d x l_k x l_{k-1} products
        # below then run along contiguous memory, twice as fast as from the column-per-sample layout.
        delta_rows, input_rows = np.ascontiguousarray(delta.T), np.ascontiguousarray(y_prev.T)
        # (2), sample i's term: delta_i[k]^T y_i[k-1]^T, an outer product, stacked over i.
        np.multiply(delta_rows[:, :, None], input_rows[:, None, :], out=dW)
        # (3), sample i's term: delta_i[k] itself.
        np.copyto(db, delta_rows)
    return costs


def per_sample_norms(grads: Params) -> np.ndarray:
    """||g_i||, the L2 norm of sample i's whole gradient, from materialised per-sample gradients."""
    d = grads[0][0].shape[0]
    squares = sum(np.einsum("ij,ij->i", g.reshape(d, -1), g.reshape(d, -1)) for layer in grads for g in layer)
    return np.sqrt(squares)


def clip_factors(norms: np.ndarray, max_norm: float) -> np.ndarray:
    """s_i = min(1, C / ||g_i||), in the norms' dtype; a zero gradient keeps factor 1."""
    with np.errstate(divide="ignore"):
        return np.minimum(max_norm / norms, 1, dtype=norms.dtype)  # C is a Python float: dtype kept


def ghost_norms(params, x, t, activations, deltas: Deltas, clip, work) -> tuple[np.ndarray, np.ndarray, list]:
    """Each sample's cost and ||g_i|| from the outer-product identity, and the (k, delta[k], y[k-1])
    they came from (each delta[k] in its own workspace buffer until the next pass)."""
    costs, layers = _sample_pass(params, x, t, activations, deltas, clip, work)
    kept = []
    squares = np.zeros(x.shape[1], x.dtype)
    for k, delta, y_prev in layers:
        delta_norms = np.einsum("ij,ij->j", delta, delta)  # ||delta_i[k]||^2
        input_norms = np.einsum("ij,ij->j", y_prev, y_prev)  # ||y_i[k-1]||^2
        squares += delta_norms * (input_norms + 1)  # ||g_i(W[k])||^2 + ||g_i(b[k])||^2
        kept.append((k, delta, y_prev))
    return costs, np.sqrt(squares), kept


def clipped_gradients(params, x, t, activations, deltas: Deltas, clip, max_norm, grads: Params, work) -> float:
    """Fill grads with 1/d sum_i s_i g_i (W's and b's shapes) from the ghost norms; return the batch cost."""
    costs, norms, kept = ghost_norms(params, x, t, activations, deltas, clip, work)
    d = x.shape[1]
    weights = clip_factors(norms, max_norm)
    weights /= d  # a Python int: the dtype is kept
    for k, delta, y_prev in kept:
        dW, db = grads[k - 1]
        scaled = np.multiply(delta, weights, out=delta)  # column i times s_i / d
        np.matmul(scaled, y_prev.T, out=dW)  # (2) summed over samples, as in the batch pass
        np.matmul(scaled, work.ones, out=db)  # (3)
    return float(costs.mean(dtype=np.float64))


def clipped_from_per_sample(per_sample: Params, max_norm: float, grads: Params) -> None:
    """The same clipped mean from materialised per-sample gradients (the control)."""
    weights = clip_factors(per_sample_norms(per_sample), max_norm)
    weights /= weights.shape[0]
    for (dW_i, db_i), (dW, db) in zip(per_sample, grads):
        dW[...] = np.tensordot(weights, dW_i, axes=1)
        np.matmul(weights, db_i, out=db)
