"""Central finite differences in float64: a check that needs no framework, to break ties.

If the reference and both frameworks shared a mistake, the cross-checks would pass; the cost
computed here from ``forward`` alone cannot share a mistake of the backward pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri

from .cases import ACTIVATION_CASES, activation_for, problem

# Central differences: truncation error ~ h^2 |C'''|, rounding ~ eps |C| / h; at h = 1e-6 both stay
# below 1e-9 on the gradient's scale for these unit-scale networks.
STEP = 1e-6
TOLERANCE = 1e-7


def cost(params, x, t, activation) -> float:
    residual = t - ri.forward(params, x, activation=activation)
    return float(np.sum(residual**2)) / (2 * x.shape[1])


def finite_difference_gradients(params, x, t, activation):
    grads = []
    for k, layer in enumerate(params):
        layer_grads = []
        for i, array in enumerate(layer):
            grad = np.empty_like(array)
            for index in np.ndindex(array.shape):
                h = STEP * max(1.0, abs(array[index]))
                shifted = []
                for sign in (1, -1):
                    moved = array.copy()
                    moved[index] += sign * h
                    trial = [
                        tuple(moved if (kk, ii) == (k, i) else a for ii, a in enumerate(lay))
                        for kk, lay in enumerate(params)
                    ]
                    shifted.append(cost(trial, x, t, activation))
                grad[index] = (shifted[0] - shifted[1]) / (2 * h)
            layer_grads.append(grad)
        grads.append(tuple(layer_grads))
    return grads


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), [([3, 4, 2], 5), ([2, 3, 3, 3, 1], 4), ([1, 1], 1)])
def test_gradients_match_finite_differences(sizes, batch, activation_case, variant):
    params, x, t = problem(sizes, batch, np.float64, seed=3)
    activation = activation_for(activation_case, len(sizes) - 1)
    c, grads = ri.gradients(params, x, t, activation=activation, variant=variant)
    assert c == pytest.approx(cost(params, x, t, activation), rel=1e-14)
    expected = finite_difference_gradients(params, x, t, activation)
    scale = max(np.max(np.abs(g)) for layer in expected for g in layer)
    for layer, expected_layer in zip(grads, expected):
        for g, e in zip(layer, expected_layer):
            np.testing.assert_allclose(g, e, rtol=0, atol=TOLERANCE * scale)
