"""Hypothesis properties over random shapes, activations and seeds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_impl as ri

from .cases import NAMES, gradient_tolerance, problem, relative_error


@st.composite
def problems(draw):
    depth = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    batch = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    activation = draw(st.sampled_from(NAMES) | st.lists(st.sampled_from(NAMES), min_size=depth, max_size=depth))
    clip = draw(st.none() | st.floats(1e-3, 1.0))
    return (*problem(sizes, batch, dtype, seed), activation, clip)


def copies(params, x, t):
    return [(W.copy(), b.copy()) for W, b in params], x.copy(), t.copy()


@settings(max_examples=150, deadline=None)
@given(problems())
def test_variants_agree_and_preserve_shapes_dtypes_and_inputs(case):
    params, x, t, activation, clip = case
    before = copies(params, x, t)
    dtype = x.dtype

    cost_h, grads_h = ri.gradients(params, x, t, activation=activation, variant="hadamard", clip=clip)
    _, grads_d = ri.gradients(params, x, t, activation=activation, variant="diag", clip=clip)

    assert isinstance(cost_h, float) and np.isfinite(cost_h)
    assert relative_error(grads_d, grads_h) <= gradient_tolerance(dtype)
    for grads in (grads_h, grads_d):
        for (dW, db), (W, b) in zip(grads, params):
            assert dW.shape == W.shape and db.shape == b.shape
            assert dW.dtype == dtype and db.dtype == dtype
    y = ri.forward(params, x, activation=activation)
    assert y.shape == t.shape and y.dtype == dtype

    for (W, b), (W0, b0) in zip(params, before[0]):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(x, before[1])
    np.testing.assert_array_equal(t, before[2])


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 5))
def test_train_returns_new_params_of_the_same_dtype(case, steps):
    params, x, t, activation, clip = case
    before = copies(params, x, t)
    trained, history = ri.train(params, x, t, steps=steps, lr=0.1, clip=clip, activation=activation)
    assert history.shape == (steps,) and np.isfinite(history).all()
    for (W, b), (W0, b0), (Wt, bt) in zip(params, before[0], trained):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
        assert Wt.dtype == W.dtype and bt.dtype == b.dtype and Wt.shape == W.shape
        assert Wt is not W and not np.shares_memory(Wt, W)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 1000))
def test_float32_follows_float64(width, batch, seed):
    """The same seed gives the same network in both dtypes; float32 gradients stay close."""
    p64, x, t = problem([3, width, 2], batch, np.float64, seed)
    p32, x32, t32 = problem([3, width, 2], batch, np.float32, seed)
    _, g64 = ri.gradients(p64, x, t, activation="tanh")
    _, g32 = ri.gradients(p32, x32, t32, activation="tanh")
    assert relative_error(g32, g64) <= gradient_tolerance(np.float32)
