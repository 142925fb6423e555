"""What both variants share: parameters, the forward pass, the cost and its derivative.

Notation of the seed, numerator layout, a batch stored as columns:
``y[0] = x`` has shape (l0, d), ``W[k]`` is (l_k, l_{k-1}), ``b[k]`` is (l_k,), and

    y[k] = sigma_k(W[k] y[k-1] + b[k])                 k = 1..L
    C    = 1/(2d) sum_i ||t_i - y[L](s_i)||^2

Python lists are 0-based, so ``params[k - 1]`` holds ``(W[k], b[k])`` while ``y[k]`` is ``y[k]``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .activations import Activation
from .validation import Params, check_finite_layer
from .workspace import Workspace


def init_params(sizes: list[int], seed: int, dtype: np.dtype) -> Params:
    """W[k] ~ N(0, 1/l_{k-1}) (LeCun), b[k] ~ N(0, 0.1^2).

    Drawn in float64 and then cast, so float32 and float64 parameters from one seed agree up to
    rounding and can be compared.
    """
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        W = rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)
        b = 0.1 * rng.standard_normal(fan_out)
        params.append((W.astype(dtype), b.astype(dtype)))
    return params


def forward_pass(
    params: Params, x: np.ndarray, activations: list[Activation], work: Workspace | None = None
) -> list[np.ndarray]:
    """All layer outputs [y[0], ..., y[L]]; the backward pass needs every one of them.

    With ``work`` the outputs are written into its buffers (no allocation for tanh and relu).
    """
    y = [x]
    for k, ((W, b), activation) in enumerate(zip(params, activations), start=1):
        z = np.matmul(W, y[k - 1], out=None if work is None else work.y[k])
        z += b[:, None]  # the bias added in place: no second (l_k, d) temporary
        # A NaN or inf anywhere in W[k] or b[k] makes its whole row of z non-finite (inf * 0 is
        # NaN), so the sum of one column, O(l_k), catches bad parameters without reading W again.
        if not math.isfinite(z[:, 0].sum()):
            check_finite_layer(params, k)
        y.append(activation.sigma(z))
    return y


def cost_and_output_derivative(
    y_L: np.ndarray, t: np.ndarray, out: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """C and the base case of the backward pass, dC/dy[L], transposed.

    The seed writes dC/dy[L] = 1/d sum_i (y[L](s_i) - t_i)^T, a sum of row vectors. The code keeps
    one column per sample instead, shape (l_L, d) (the backward pass's layout, see ``hadamard``),
    because the weight gradient (equation 2) needs each sample's derivative next to that sample's
    y[k-1]; summing the columns recovers the seed's vector.
    """
    d = t.shape[1]
    residual = np.subtract(y_L, t, out=out)  # column i is y[L](s_i) - t_i
    cost = float(np.vdot(residual, residual)) / (2 * d)
    residual /= d  # d is a Python int: the dtype is kept
    return cost, residual
