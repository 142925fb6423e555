"""Per-sample gradients and DP-SGD's clipped gradient of the reference, against the seed's own
per-sample step (``ri.gradients`` on one column), the batch gradient, and the materialised control."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import reference_impl as ri

from .cases import ACTIVATION_CASES, SHAPES, activation_for, problem

# The contract: per-sample equals the one-sample ri.gradients to 1e-12 (float64) and 1e-5
# (float32), relative to the largest entry of that sample's gradient (clipped: of it unclipped, below).
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
CLIPS = [None, 0.05]
IDS = [f"{'x'.join(map(str, s))}-d{d}" for s, d in SHAPES]


def largest(grads) -> float:
    return max(float(np.abs(g).max()) for layer in grads for g in layer)


def sample_error(per_sample, i, expected, scale=None) -> float:
    """max |entry i of the per-sample gradients - expected| / max |expected| (or ``scale``), over
    every W and b."""
    scale = scale or largest(expected) or 1.0
    return (
        max(np.abs(g[i] - e).max() for layer, e_layer in zip(per_sample, expected) for g, e in zip(layer, e_layer))
        / scale
    )


def grads_error(grads, expected) -> float:
    scale = max(np.abs(g).max() for layer in expected for g in layer) or 1.0
    return max(np.abs(g - e).max() for layer, e_layer in zip(grads, expected) for g, e in zip(layer, e_layer)) / scale


@pytest.mark.parametrize("clip", CLIPS, ids=["exact", "clip"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), SHAPES, ids=IDS)
def test_each_sample_is_the_seeds_per_sample_step(sizes, batch, activation_case, variant, dtype, clip):
    params, x, t = problem(sizes, batch, dtype)
    activation = activation_for(activation_case, len(sizes) - 1)
    costs, grads = ri.per_sample_gradients(params, x, t, activation=activation, variant=variant, clip=clip)

    assert costs.shape == (batch,) and costs.dtype == np.dtype(dtype)
    for (dW, db), (W, b) in zip(grads, params):
        assert dW.shape == (batch, *W.shape) and db.shape == (batch, *b.shape)
        assert dW.dtype == db.dtype == np.dtype(dtype)
    # C_i = 1/2 ||y_i - t_i||^2 cancels where y_i is close to t_i: its rounding is relative to
    # the size of y_i and t_i, not to C_i (float32 at 1x64x1: C_i 2e-5 off by 2e-5 relative).
    y = ri.forward(params, x, activation).astype(np.float64)
    scales = 0.5 * (np.sum(y**2, axis=0) + np.sum(t.astype(np.float64) ** 2, axis=0))
    for i in range(batch):
        one = (params, x[:, i : i + 1], t[:, i : i + 1], activation, variant)
        cost, expected = ri.gradients(*one, clip)
        assert costs[i] == pytest.approx(cost, abs=TOLERANCE[dtype] * scales[i])
        # Clipping shrinks dC/dy but not the forward pass's rounding in y, from which it is made:
        # the batch's GEMM and the one sample's GEMV round y differently (float32, OpenBLAS's
        # Haswell kernel, 8x32x32x32x32x4 identity: 7e-7 apart on values of 0.7), and clipped to
        # 0.05 that is 1.5e-5 of the clipped gradient. So a clipped gradient's rounding is measured
        # against the size of the same gradient unclipped, as the costs' is against y and t.
        scale = max(largest(expected), largest(ri.gradients(*one)[1])) if clip else None
        assert sample_error(grads, i, expected, scale) <= TOLERANCE[dtype]
    if clip is None:  # the batch cost and gradient are the means (the 1/d of the seed's cost)
        cost, batch_grads = ri.gradients(params, x, t, activation, variant)
        assert costs.mean() == pytest.approx(cost, rel=TOLERANCE[dtype])
        mean = [(dW.mean(axis=0), db.mean(axis=0)) for dW, db in grads]
        assert grads_error(mean, batch_grads) <= TOLERANCE[dtype]


def clipped_by_hand(params, x, t, max_norm, activation, variant, clip):
    """DP-SGD's clipped mean written out from the one-sample ri.gradients: the definition itself."""
    total = [(np.zeros(W.shape), np.zeros(b.shape)) for W, b in params]
    clipped = 0
    for i in range(x.shape[1]):
        _, g = ri.gradients(params, x[:, i : i + 1], t[:, i : i + 1], activation, variant, clip)
        norm = np.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for layer in g for a in layer))
        scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
        clipped += scale < 1
        for (sW, sb), (dW, db) in zip(total, g):
            sW += scale * dW / x.shape[1]
            sb += scale * db / x.shape[1]
    return total, clipped


@pytest.mark.parametrize("clip", CLIPS, ids=["exact", "clip"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), SHAPES, ids=IDS)
def test_clipped_gradient_is_the_clipped_mean(sizes, batch, activation_case, variant, dtype, clip):
    params, x, t = problem(sizes, batch, dtype)
    activation = activation_for(activation_case, len(sizes) - 1)
    costs, per_sample = ri.per_sample_gradients(params, x, t, activation, variant, clip)
    norms = np.sqrt(
        sum(np.sum(g.reshape(batch, -1).astype(np.float64) ** 2, axis=1) for lay in per_sample for g in lay)
    )
    positive = norms[norms > 0]  # relu can zero a sample's whole gradient
    max_norm = float(np.median(positive)) if positive.size else 1.0  # about half clipped, half not

    cost, ghost = ri.clipped_gradients(
        params, x, t, max_norm=max_norm, activation=activation, variant=variant, clip=clip
    )
    _, control = ri.clipped_gradients(params, x, t, max_norm, activation, variant, clip, materialize=True)
    expected, clipped = clipped_by_hand(params, x, t, max_norm, activation, variant, clip)

    for (dW, db), (W, b) in zip(ghost, params):
        assert dW.shape == W.shape and db.shape == b.shape and dW.dtype == db.dtype == np.dtype(dtype)
    assert cost == pytest.approx(float(costs.mean()), rel=TOLERANCE[dtype])
    assert grads_error(ghost, control) <= TOLERANCE[dtype]
    assert grads_error(ghost, expected) <= TOLERANCE[dtype]
    assert grads_error(control, expected) <= TOLERANCE[dtype]
    if positive.size > 1 and positive.max() > positive.min() * (1 + 1e-6):
        assert 0 < clipped < batch  # the case really mixes clipped and unclipped samples


def test_clipping_off_gives_the_batch_gradient():
    """A max_norm above every sample's norm clips nothing: the plain batch gradient."""
    params, x, t = problem([5, 16, 16, 2], 7, np.float64)
    cost, grads = ri.gradients(params, x, t)
    clipped_cost, clipped = ri.clipped_gradients(params, x, t, max_norm=1e6)
    assert clipped_cost == pytest.approx(cost, rel=1e-14)
    assert grads_error(clipped, grads) <= 1e-13


@pytest.mark.parametrize("variant", ri.VARIANTS)
def test_out_is_filled_in_place(variant):
    params, x, t = problem([5, 16, 16, 2], 7, np.float32)
    out = [(np.full((7, *W.shape), np.nan, W.dtype), np.full((7, *b.shape), np.nan, b.dtype)) for W, b in params]
    _, grads = ri.per_sample_gradients(params, x, t, variant=variant, out=out)
    _, fresh = ri.per_sample_gradients(params, x, t, variant=variant)
    assert all(g is o for layer, o_layer in zip(grads, out) for g, o in zip(layer, o_layer))
    assert grads_error(out, fresh) == 0
    clipped_out = [(np.full_like(W, np.nan), np.full_like(b, np.nan)) for W, b in params]
    _, clipped = ri.clipped_gradients(params, x, t, max_norm=0.1, variant=variant, out=clipped_out)
    assert all(g is o for layer, o_layer in zip(clipped, clipped_out) for g, o in zip(layer, o_layer))
    assert np.isfinite(clipped_out[0][0]).all()


def test_ghost_clipping_makes_no_per_sample_array():
    """The default path holds no d x P array: its peak allocation stays far below one."""
    params, x, t = problem([64, 256, 256, 256, 10], 256, np.float64)
    need = ri.per_sample_memory_need_bytes(params, 256)
    ri.clipped_gradients(params, x, t, max_norm=1.0)  # the workspace for this shape, once
    out = [(np.empty_like(W), np.empty_like(b)) for W, b in params]
    tracemalloc.start()
    try:
        ri.clipped_gradients(params, x, t, max_norm=1.0, out=out)
        _, ghost_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ri.clipped_gradients(params, x, t, max_norm=1.0, out=out, materialize=True)
        _, control_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert control_peak >= need  # the control does hold it
    assert ghost_peak < need / 50  # a few (d,) vectors: 280 MiB against a few KiB


def test_inputs_are_not_modified():
    params, x, t = problem([3, 8, 2], 5, np.float64)
    copies = [(W.copy(), b.copy()) for W, b in params], x.copy(), t.copy()
    for variant in ri.VARIANTS:
        ri.per_sample_gradients(params, x, t, variant=variant, clip=0.01)
        ri.clipped_gradients(params, x, t, max_norm=0.01, variant=variant, clip=0.01)
    np.testing.assert_array_equal(x, copies[1])
    np.testing.assert_array_equal(t, copies[2])
    for (W, b), (W0, b0) in zip(params, copies[0]):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
