"""The backward pass with the Hadamard product: the fast variant.

The seed's three equations, with the diagonal Jacobian ``nabla_sigma[k]`` kept as its diagonal
only, since ``v diag(s) = v * s`` for a row vector v. Row i of every ``dC_dy[k]`` (shape (d, l_k))
is the derivative for sample i, a row vector as numerator layout has it.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation
from .validation import Params


def backward(
    params: Params,
    y: list[np.ndarray],
    dC_dy: np.ndarray,
    activations: list[Activation],
    clip: float | None = None,
) -> Params:
    """Gradients [(dC/dW[k], dC/db[k]) for k = 1..L], from y[0..L] and dC/dy[L]."""
    L = len(params)
    grads: Params = [None] * L  # type: ignore[list-item]
    for k in range(L, 0, -1):
        W = params[k - 1][0]
        if clip is not None:
            dC_dy = np.clip(dC_dy, -clip, clip)  # the seed's clip, before dC/dy[k] is used
        # The diagonal of nabla_sigma[k] for every sample, (d, l_k), from the layer output y[k].
        nabla_sigma = activations[k - 1].derivative(y[k]).T
        dC_dy_nabla_sigma = dC_dy * nabla_sigma  # dC/dy[k] nabla_sigma[k], one row per sample
        # (2) dC/dW[k] = y[k-1] dC/dy[k] nabla_sigma[k], summed over samples and returned
        #     transposed, in W's shape: (y[k-1] @ rows)^T = rows^T @ y[k-1]^T.
        dW = dC_dy_nabla_sigma.T @ y[k - 1].T
        # (3) dC/db[k] = dC/dy[k] nabla_sigma[k], summed over samples.
        db = dC_dy_nabla_sigma.sum(axis=0)
        grads[k - 1] = (dW, db)
        if k > 1:  # dC/dy[0] is the input's gradient: nothing needs it
            # (1) dC/dy[k-1] = dC/dy[k] nabla_sigma[k] W[k]
            dC_dy = dC_dy_nabla_sigma @ W
    return grads
