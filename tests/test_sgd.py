"""SGD as the seed runs it: the sample stream, the per-sample loop with clipping, bad batch sizes,
and steps that allocate nothing large."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import reference_impl as ri

from .cases import problem


def test_stream_in_order_wraps_into_the_next_epoch():
    assert ri.batch_indices(5, 2, 4).tolist() == [[0, 1], [2, 3], [4, 0], [1, 2]]
    assert ri.batch_indices(3, 3, 2).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert ri.batch_indices(4, 1, 6).ravel().tolist() == [0, 1, 2, 3, 0, 1]


def test_shuffled_stream_is_a_new_permutation_each_epoch_reproducible_from_seed():
    stream = ri.batch_indices(6, 4, 9, shuffle=True, seed=7).ravel()  # 36 entries: 6 epochs
    epochs = stream.reshape(6, 6)
    rng = np.random.default_rng(7)
    for epoch in epochs:
        assert epoch.tolist() == rng.permutation(6).tolist()
    assert (ri.batch_indices(6, 4, 9, shuffle=True, seed=7) == stream.reshape(9, 4)).all()
    assert (ri.batch_indices(6, 4, 9, shuffle=True, seed=8) != stream.reshape(9, 4)).any()


def seed_per_sample_sgd(params, x, t, steps, lr, clip):
    """The seed's own loop, one column vector at a time, with explicit diagonal Jacobians."""
    W = [None] + [W.copy() for W, _ in params]
    b = [None] + [b.copy().reshape(-1, 1) for _, b in params]
    L, costs = len(params), []
    for step in range(steps):
        i = step % x.shape[1]
        y, nabla_sigma = [x[:, i : i + 1]], [None]
        for k in range(1, L + 1):
            y.append(np.tanh(W[k] @ y[k - 1] + b[k]))
            nabla_sigma.append(np.diagflat(1 - y[k] ** 2))
        costs.append(0.5 * float(np.sum((t[:, i : i + 1] - y[L]) ** 2)))
        dC_dy = [None] * (L + 1)
        dC_dy[L] = (y[L] - t[:, i : i + 1]).T
        for k in range(L, 0, -1):
            dC_dy[k] = np.clip(dC_dy[k], -clip, clip)
            dC_dy[k - 1] = dC_dy[k] @ nabla_sigma[k] @ W[k]
            W[k] += -lr * (y[k - 1] @ (dC_dy[k] @ nabla_sigma[k])).T
            b[k] += -lr * (dC_dy[k] @ nabla_sigma[k]).T
    return [(W[k], b[k].ravel()) for k in range(1, L + 1)], np.array(costs)


@pytest.mark.parametrize("variant", ri.VARIANTS)
def test_batch_size_one_is_the_seeds_per_sample_loop_with_clipping(variant):
    x = np.linspace(-np.pi, np.pi, 16).reshape(1, -1)
    t = 0.8 * np.sin(x)
    params = ri.init_params([1, 8, 8, 1], seed=0)
    expected, expected_costs = seed_per_sample_sgd(params, x, t, steps=40, lr=0.1, clip=0.005)
    trained, history = ri.train(params, x, t, steps=40, lr=0.1, clip=0.005, batch_size=1, variant=variant)
    np.testing.assert_allclose(history, expected_costs, rtol=1e-12)
    for (W, b), (eW, eb) in zip(trained, expected):
        np.testing.assert_allclose(W, eW, rtol=0, atol=1e-13)
        np.testing.assert_allclose(b, eb, rtol=0, atol=1e-13)
    # The clip must have been active, or this test would not show it is applied.
    _, unclipped = ri.train(params, x, t, steps=40, lr=0.1, batch_size=1, variant=variant)
    assert np.max(np.abs(unclipped - history)) > 1e-6


def test_mini_batch_step_is_a_gradient_step_on_the_streamed_samples():
    params, x, t = problem([3, 5, 2], 7, np.float64)
    trained, history = ri.train(params, x, t, steps=3, lr=0.2, batch_size=3, shuffle=True, seed=4)
    current = params
    for indices in ri.batch_indices(7, 3, 3, shuffle=True, seed=4):
        cost, grads = ri.gradients(current, x[:, indices], t[:, indices])
        current = [(W - 0.2 * dW, b - 0.2 * db) for (W, b), (dW, db) in zip(current, grads)]
    assert cost == pytest.approx(history[-1], rel=1e-14)
    for (W, b), (eW, eb) in zip(trained, current):
        np.testing.assert_allclose(W, eW, rtol=1e-14)
        np.testing.assert_allclose(b, eb, rtol=1e-14)


def test_full_batch_equals_batch_size_d_in_order():
    params, x, t = problem([2, 4, 1], 6, np.float64)
    full = ri.train(params, x, t, steps=5, lr=0.1)
    streamed = ri.train(params, x, t, steps=5, lr=0.1, batch_size=6)
    np.testing.assert_array_equal(full[1], streamed[1])


@pytest.mark.parametrize("batch_size", [0, -1, 8, 2.5, "4", True])
def test_bad_batch_size_is_a_value_error_naming_it(batch_size):
    params, x, t = problem([2, 3, 1], 7, np.float64)
    with pytest.raises(ValueError, match=r"batch_size: expected None or an integer from 1 to 7"):
        ri.train(params, x, t, steps=2, lr=0.1, batch_size=batch_size)


@pytest.mark.parametrize("variant", ["hadamard"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_training_steps_allocate_nothing_large(batch_size, variant):
    """Buffers are made once, before the first step: the peak of traced memory with 1 or 200 steps
    exceeds the peak with 0 steps (every buffer, no step) by the history and a few kilobytes,
    where one layer's array is 32 KiB. (diag allocates its Jacobian stacks per step: d l^2 numbers.)"""
    params, x, t = problem([64, 64, 64, 64], 64, np.float64)

    def peak(steps: int) -> int:
        tracemalloc.start()
        try:
            ri.train(params, x, t, steps=steps, lr=0.01, batch_size=batch_size, variant=variant)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    no_step = peak(0)
    assert peak(1) - no_step <= 4096
    assert peak(200) - no_step <= 200 * 8 + 4096
