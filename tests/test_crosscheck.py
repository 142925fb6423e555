"""Cost and gradients of both variants against PyTorch and JAX autograd: one matrix over backends."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri

from .cases import ACTIVATION_CASES, SHAPES, activation_for, gradient_tolerance, problem, relative_error


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), SHAPES, ids=[f"{'x'.join(map(str, s))}-d{d}" for s, d in SHAPES])
def test_gradients_match_autograd(framework, sizes, batch, activation_case, variant, dtype):
    params, x, t = problem(sizes, batch, dtype)
    activation = activation_for(activation_case, len(sizes) - 1)

    cost, grads = ri.gradients(params, x, t, activation=activation, variant=variant)
    expected_cost, expected_grads = framework.gradients(params, x, t, activation=activation)

    tolerance = gradient_tolerance(dtype)
    for (dW, db), (W, b), (eW, eb) in zip(grads, params, expected_grads):
        assert dW.shape == W.shape and db.shape == b.shape
        assert dW.dtype == eW.dtype == np.dtype(dtype) and db.dtype == eb.dtype == np.dtype(dtype)
    assert cost == pytest.approx(expected_cost, rel=tolerance)
    assert relative_error(grads, expected_grads) <= tolerance


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_jitted_jax_matches(dtype):
    """The benchmarks time jax.jit; check it computes what eager JAX and the reference compute."""
    from .conftest import load_framework

    jax_mlp = load_framework("jax")
    params, x, t = problem([5, 16, 16, 2], 7, dtype)
    cost, grads = ri.gradients(params, x, t, activation="tanh")
    jit_cost, jit_grads = jax_mlp.gradients(params, x, t, activation="tanh", form="autodiff")
    assert jit_cost == pytest.approx(cost, rel=gradient_tolerance(dtype))
    assert relative_error(jit_grads, grads) <= gradient_tolerance(dtype)
