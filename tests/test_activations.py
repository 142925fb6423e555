"""Activations: stable for large pre-activations, dtype kept, derivative through y correct."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri

from .cases import NAMES

# Warnings are errors (pyproject.toml), so an overflow inside exp would fail these tests.
EXTREMES = np.array([-1e4, -800.0, -100.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 100.0, 800.0, 1e4])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_stable_and_dtype_kept_for_large_pre_activations(name, dtype):
    activation = ri.ACTIVATIONS[name]
    z = EXTREMES.astype(dtype)
    y = activation.sigma(z.copy())
    derivative = activation.derivative(y)
    assert y.dtype == dtype and derivative.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(derivative).all()


@pytest.mark.parametrize("name", NAMES)
def test_derivative_through_y_matches_finite_differences(name):
    activation = ri.ACTIVATIONS[name]
    z = np.linspace(-6, 6, 101) + 0.01  # avoid relu's kink at 0 exactly
    h = 1e-6
    numeric = (activation.sigma(z + h) - activation.sigma(z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(activation.sigma(z.copy())), numeric, atol=1e-8)


def test_relu_derivative_is_zero_at_zero():
    relu = ri.ACTIVATIONS["relu"]
    assert relu.derivative(relu.sigma(np.zeros(1)))[0] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_saturated_network_gives_finite_gradients(name, dtype):
    """Weights scaled so pre-activations reach about 1e4: no overflow, finite results."""
    params = [(W * 3e3, b) for W, b in ri.init_params([4, 6, 2], seed=1, dtype=dtype)]
    x = np.ones((4, 3), dtype=dtype)
    t = np.zeros((2, 3), dtype=dtype)
    if name in {"identity", "relu", "softplus"}:  # unbounded: the second layer would reach 1e8
        params[1] = (params[1][0] / 3e3, params[1][1])
    for variant in ri.VARIANTS:
        cost, grads = ri.gradients(params, x, t, activation=name, variant=variant)
        assert np.isfinite(cost)
        assert all(np.isfinite(g).all() and g.dtype == dtype for layer in grads for g in layer)
