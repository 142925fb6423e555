"""The backward pass with the Hadamard product: the fast variant.

The seed's three equations, with the diagonal Jacobian ``nabla_sigma[k]`` kept as its diagonal
only, since ``v diag(s) = v * s`` for a row vector v.

Layout: the seed's dC/dy[k] is a row vector per sample; the code stores its transpose,
``dC_dy_T`` of shape (l_k, d), column i for sample i, the layout of y[k]. Then every elementwise
product runs on arrays of one memory order, which NumPy does without iteration buffers, and
each equation is the seed's transposed: (1) (dC/dy[k-1])^T = W[k]^T (dC/dy[k] nabla_sigma[k])^T.
Products keep the orientation of the transposed equations: measured on this machine's OpenBLAS
(SkylakeX kernel, widths 16-1024, batch 64) no other orientation or memory order was faster in
both dtypes by more than the run-to-run noise (10-15 %).

Everything is written into buffers: the gradients into ``grads`` (the caller's), temporaries
into the workspace.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .activations import Activation
from .validation import Params
from .workspace import Workspace


def deltas(
    params: Params,
    y: list[np.ndarray],
    dC_dy_T: np.ndarray,
    activations: list[Activation],
    clip: float | None,
    work: Workspace,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (k, delta[k]) for k = L..1, delta[k] = (dC/dy[k] nabla_sigma[k])^T of shape (l_k, d),
    from y[0..L] and (dC/dy[L])^T (overwritten). Column i is sample i's; each delta[k] stays valid
    (its own workspace buffer) until the next pass of this shape.
    """
    for k in range(len(params), 0, -1):
        if clip is not None:
            np.clip(dC_dy_T, -clip, clip, out=dC_dy_T)  # the seed's clip, before dC/dy[k] is used
        # The diagonal of nabla_sigma[k] for every sample, (l_k, d), from the layer output y[k].
        nabla_sigma = activations[k - 1].derivative(y[k], out=work.nabla_sigma[k])
        delta = np.multiply(dC_dy_T, nabla_sigma, out=dC_dy_T)  # (dC/dy[k] nabla_sigma[k])^T, per sample
        yield k, delta
        if k > 1:  # dC/dy[0] is the input's gradient: nothing needs it
            # (1) dC/dy[k-1] = dC/dy[k] nabla_sigma[k] W[k], transposed: W[k]^T delta.
            dC_dy_T = np.matmul(params[k - 1][0].T, delta, out=work.dC_dy_T[k - 1])


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

    ``inputs[k-1]`` is what equation (2) multiplies (default y[k-1]). Training passes y[k-1] with
    a row of ones appended and (dW, None) buffers one column wider: (2) then yields [dW db] in one
    product and (3) is skipped.
    """
    inputs = y if inputs is None else inputs
    for k, delta in deltas(params, y, dC_dy_T, activations, clip, work):
        dW, db = grads[k - 1]
        # (2) dC/dW[k] = y[k-1] dC/dy[k] nabla_sigma[k], summed over samples and returned
        #     transposed, in W's shape: (y[k-1] delta^T)^T = delta y[k-1]^T.
        np.matmul(delta, inputs[k - 1].T, out=dW)
        if db is not None:
            # (3) dC/db[k] = dC/dy[k] nabla_sigma[k], summed over samples (a product with ones: one BLAS call).
            np.matmul(delta, work.ones, out=db)
    return grads


# Forward mode and second order: Pearlmutter's R-operator, R{f} = d/da f(params + a vector) at a = 0,
# applied line by line to the forward pass and to the three equations above (derivation.md).


def tangents(params: Params, vector: Params, y: list[np.ndarray], activations: list[Activation], work, T) -> None:
    """Forward tangent propagation: T.R_z[k] and T.R_y[k] for k = 1..L, from y[0..L] (R{y[0]} = 0)."""
    for k, ((W, _), (V_W, V_b), activation) in enumerate(zip(params, vector, activations), start=1):
        # R{z[k]} = V_W[k] y[k-1] + W[k] R{y[k-1]} + V_b[k]
        R_z = np.matmul(V_W, y[k - 1], out=T.R_z[k])
        if k > 1:
            R_z += np.matmul(W, T.R_y[k - 1], out=T.scratch[k])
        R_z += V_b[:, None]
        # R{y[k]} = nabla_sigma[k] R{z[k]}: the diagonal times the column, per sample
        nabla_sigma = activation.derivative(y[k], out=work.nabla_sigma[k])
        np.multiply(nabla_sigma, R_z, out=T.R_y[k])


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
    """Fill ``products`` with R{(dC/dW[k], dC/db[k])}: the Hessian times the vector, from the tangents
    (``tangents``), (dC/dy[L])^T and R{dC/dy[L]}^T (both overwritten).

    With ``dC_dy_T=None`` the terms that differentiate nabla_sigma, W and y[k-1] along the vector
    are dropped and only R{dC/dy[L]} travels back: the Gauss-Newton product J^T (d2C/dy2) J v.
    """
    hessian = dC_dy_T is not None
    for k in range(len(params), 0, -1):
        activation, W, V_W = activations[k - 1], params[k - 1][0], vector[k - 1][0]
        nabla_sigma = activation.derivative(y[k], out=work.nabla_sigma[k])
        # R{delta[k]} = R{dC/dy[k]} nabla_sigma[k] + dC/dy[k] nabla2_sigma[k] diag(R{z[k]}), transposed
        R_delta = np.multiply(R_dC_dy_T, nabla_sigma, out=R_dC_dy_T)
        if hessian:
            curvature = activation.second_derivative(y[k], out=T.nabla2_sigma[k])
            curvature *= T.R_z[k]
            curvature *= dC_dy_T
            R_delta += curvature
            delta = np.multiply(dC_dy_T, nabla_sigma, out=dC_dy_T)  # (dC/dy[k] nabla_sigma[k])^T
        H_W, H_b = products[k - 1]
        # R{(2)}: R{dC/dW[k]} = R{delta[k]} y[k-1]^T + delta[k] R{y[k-1]}^T, in W's shape
        np.matmul(R_delta, y[k - 1].T, out=H_W)
        if hessian and k > 1:
            H_W += np.matmul(delta, T.R_y[k - 1].T, out=T.weight_scratch[k])
        # R{(3)}: R{dC/db[k]} = R{delta[k]}, summed over samples
        np.matmul(R_delta, work.ones, out=H_b)
        if k > 1:
            # R{(1)}: R{dC/dy[k-1]} = W[k]^T R{delta[k]} + V_W[k]^T delta[k], transposed
            R_dC_dy_T = np.matmul(W.T, R_delta, out=T.R_dC_dy_T[k - 1])
            if hessian:
                R_dC_dy_T += np.matmul(V_W.T, delta, out=T.scratch[k - 1])
                dC_dy_T = np.matmul(W.T, delta, out=work.dC_dy_T[k - 1])  # (1) itself
    return products
