"""SGD trajectories of ``train`` step by step against the same SGD in PyTorch and JAX."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri

from .cases import problem, relative_error

STEPS = 60
# Sixty updates compound the per-step rounding differences; measured drift stays below 1e-12.
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def sine():
    """The seed's task: fit a sinusoid with an all-tanh network."""
    x = np.linspace(-np.pi, np.pi, 32).reshape(1, -1)
    return ri.init_params([1, 16, 16, 1], seed=0), x, 0.8 * np.sin(x)


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("clip", [None, 0.005])
def test_train_matches_framework_sgd(framework, sine, variant, clip):
    params, x, t = sine
    trained, history = ri.train(params, x, t, steps=STEPS, lr=0.2, clip=clip, variant=variant)
    expected_params, expected_history = framework.train(params, x, t, steps=STEPS, lr=0.2, clip=clip)
    np.testing.assert_allclose(history, expected_history, rtol=TOLERANCE)
    assert relative_error(trained, expected_params) <= TOLERANCE
    assert history[-1] < 0.5 * history[0]


def test_clipping_changes_the_trajectory(sine):
    """Otherwise the clipped comparisons above would prove nothing."""
    params, x, t = sine
    _, plain = ri.train(params, x, t, steps=STEPS, lr=0.2)
    _, clipped = ri.train(params, x, t, steps=STEPS, lr=0.2, clip=0.005)
    assert np.max(np.abs(plain - clipped)) > 1e-3 * plain[0]


def test_train_float32_stays_float32(framework):
    params, x, t = problem([2, 8, 1], 16, np.float32)
    trained, history = ri.train(params, x, t, steps=20, lr=0.1)
    expected, expected_history = framework.train(params, x, t, steps=20, lr=0.1)
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in trained)
    np.testing.assert_allclose(history, expected_history, rtol=1e-4)
    assert relative_error(trained, expected) <= 1e-4


def test_gradient_step_equals_one_train_step():
    params, x, t = problem([3, 5, 2], 4, np.float64)
    _, grads = ri.gradients(params, x, t)
    trained, _ = ri.train(params, x, t, steps=1, lr=0.3)
    # train folds lr into dC/dy[L] (lr dC/dW instead of lr * dC/dW): equal up to the last bits.
    for (W, b), (dW, db), (Wt, bt) in zip(params, grads, trained):
        np.testing.assert_allclose(Wt, W - 0.3 * dW, rtol=0, atol=1e-15)
        np.testing.assert_allclose(bt, b - 0.3 * db, rtol=0, atol=1e-15)
