"""Bad input: a ValueError or TypeError that names the argument, never an error from deep inside."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri

from .cases import problem

PARAMS, X, T = problem([3, 4, 2], 5, np.float64)


def with_layer(k, W=None, b=None):
    params = list(PARAMS)
    params[k] = (PARAMS[k][0] if W is None else W, PARAMS[k][1] if b is None else b)
    return params


def with_nan(array):
    array = array.copy()
    array.flat[0] = np.nan
    return array


def with_inf(array):
    array = array.copy()
    array.flat[-1] = -np.inf
    return array


def fresh_out():
    return [(np.empty_like(W), np.empty_like(b)) for W, b in PARAMS]


def with_out(k, i, array):
    out = fresh_out()
    pair = list(out[k])
    pair[i] = array
    out[k] = tuple(pair)
    return out


def read_only(array):
    array.flags.writeable = False
    return array


def shared_out():
    """db of layer 1 as a view into dW of layer 2's memory: two outputs overlapping."""
    out = fresh_out()
    out[0] = (out[0][0], out[1][0].ravel()[:4])
    return out


def gradients(**changes):
    arguments = {"params": PARAMS, "x": X, "t": T, **changes}
    return lambda: ri.gradients(**arguments)


def per_sample(**changes):
    arguments = {"params": PARAMS, "x": X, "t": T, **changes}
    return lambda: ri.per_sample_gradients(**arguments)


def clipped(**changes):
    arguments = {"params": PARAMS, "x": X, "t": T, "max_norm": 1.0, **changes}
    return lambda: ri.clipped_gradients(**arguments)


def train(**changes):
    arguments = {"params": PARAMS, "x": X, "t": T, "steps": 3, "lr": 0.1, **changes}
    return lambda: ri.train(**arguments)


CASES = {
    # data
    "x wrong rows": (gradients(x=np.ones((4, 5))), ValueError, "x: expected 3 rows"),
    "t wrong rows": (gradients(t=np.ones((3, 5))), ValueError, "t: expected 2 rows"),
    "batch sizes differ": (gradients(t=np.ones((2, 6))), ValueError, "t: expected 5 columns"),
    "x 1-d": (gradients(x=np.ones(3)), ValueError, "x: expected a 2-d array"),
    "t 1-d": (gradients(t=np.ones(2)), ValueError, "t: expected a 2-d array"),
    "empty batch": (gradients(x=np.ones((3, 0)), t=np.ones((2, 0))), ValueError, "x: expected at least one sample"),
    "NaN in x": (gradients(x=with_nan(X)), ValueError, "x: expected finite values"),
    "inf in t": (gradients(t=with_inf(T)), ValueError, "t: expected finite values"),
    "integer x": (gradients(x=np.ones((3, 5), dtype=np.int64)), TypeError, "x: expected a float32 or float64 array"),
    "x float32, params float64": (gradients(x=X.astype(np.float32)), TypeError, "x: expected dtype float64"),
    "float16 t": (gradients(t=T.astype(np.float16)), TypeError, "t: expected a float32 or float64 array"),
    # activation and variant
    "unknown activation": (gradients(activation="gelu"), ValueError, "activation: unknown name 'gelu'"),
    "activation list too short": (
        gradients(activation=["tanh"]),
        ValueError,
        "activation: expected one name or a list of 2",
    ),
    "activation list too long": (gradients(activation=["tanh"] * 3), ValueError, "list of 2 names"),
    "activation not a name": (gradients(activation=3), TypeError, "activation: expected a name"),
    "unknown variant": (gradients(variant="jacobian"), ValueError, "variant: expected one of ['diag', 'hadamard']"),
    # parameters
    "params empty": (gradients(params=[]), ValueError, "params: expected at least one"),
    "params not a list": (gradients(params=np.ones((2, 2))), TypeError, "params: expected a list of (W, b) pairs"),
    "layer not a pair": (gradients(params=[PARAMS[0][0], PARAMS[1]]), TypeError, "params[0]: expected a (W, b) pair"),
    "b wrong shape": (
        gradients(params=with_layer(0, b=np.zeros(5))),
        ValueError,
        "params[0][1] (b of layer 1): expected shape (4,)",
    ),
    "W 1-d": (
        gradients(params=with_layer(1, W=np.zeros(4))),
        ValueError,
        "params[1][0] (W of layer 2): expected a non-empty 2-d",
    ),
    "layers do not chain": (gradients(params=with_layer(1, W=np.zeros((2, 5)))), ValueError, "layers do not chain"),
    "zero-width layer": (
        gradients(params=with_layer(0, W=np.zeros((0, 3)), b=np.zeros(0))),
        ValueError,
        "non-empty 2-d",
    ),
    "integer W": (
        gradients(params=with_layer(0, W=np.ones((4, 3), dtype=int))),
        TypeError,
        "params[0][0] (W of layer 1): expected a float32",
    ),
    "mixed param dtypes": (
        gradients(params=with_layer(1, b=np.zeros(2, np.float32))),
        TypeError,
        "params: expected one dtype",
    ),
    "NaN in W": (
        gradients(params=with_layer(1, W=with_nan(PARAMS[1][0]))),
        ValueError,
        "params[1][0] (W of layer 2): expected finite",
    ),
    "inf in b": (
        gradients(params=with_layer(0, b=with_inf(PARAMS[0][1]))),
        ValueError,
        "params[0][1] (b of layer 1): expected finite",
    ),
    "clip zero": (gradients(clip=0), ValueError, "clip: expected a positive finite number"),
    "clip negative": (gradients(clip=-1.0), ValueError, "clip: expected a positive"),
    "clip not a number": (gradients(clip="1"), TypeError, "clip: expected a positive number or None"),
    # training
    "negative steps": (train(steps=-1), ValueError, "steps: expected a non-negative integer"),
    "fractional steps": (train(steps=2.5), TypeError, "steps: expected a non-negative integer"),
    "lr zero": (train(lr=0.0), ValueError, "lr: expected a positive finite number"),
    "lr negative": (train(lr=-0.1), ValueError, "lr: expected a positive"),
    "lr NaN": (train(lr=float("nan")), ValueError, "lr: expected a positive finite"),
    "train clip negative": (train(clip=-0.5), ValueError, "clip: expected a positive"),
    # init_params and forward
    "zero width": (lambda: ri.init_params([3, 0, 2]), ValueError, "sizes[1]: expected a positive width, got 0"),
    "negative width": (lambda: ri.init_params([3, -4, 2]), ValueError, "sizes[1]: expected a positive width"),
    "one width": (lambda: ri.init_params([3]), ValueError, "sizes: expected at least two widths"),
    "float width": (lambda: ri.init_params([3, 2.5]), TypeError, "sizes[1]: expected an integer width"),
    "integer dtype": (lambda: ri.init_params([3, 2], dtype=np.int32), TypeError, "dtype: expected float32 or float64"),
    "forward bad x": (lambda: ri.forward(PARAMS, np.ones((2, 5))), ValueError, "x: expected 3 rows"),
    # out= (issue: a wrong out is a ValueError naming out)
    "out not a list": (gradients(out=np.zeros(3)), ValueError, "out: expected None or a list of 2 (dW, db) pairs"),
    "out too short": (gradients(out=fresh_out()[:1]), ValueError, "out: expected None or a list of 2"),
    "out wrong shape": (
        gradients(out=with_out(1, 0, np.zeros((4, 2)))),
        ValueError,
        "out[1][0] (dW of layer 2): expected an array of shape (2, 4) and dtype float64, got shape (4, 2)",
    ),
    "out wrong dtype": (
        gradients(out=with_out(0, 1, np.zeros(4, np.float32))),
        ValueError,
        "out[0][1] (db of layer 1): expected an array of shape (4,) and dtype float64",
    ),
    "out read-only": (
        gradients(out=with_out(0, 0, read_only(np.zeros((4, 3))))),
        ValueError,
        "out[0][0] (dW of layer 1): expected a writeable array",
    ),
    "out aliases a weight": (
        gradients(out=with_out(0, 0, PARAMS[0][0])),
        ValueError,
        "out[0][0]: expected memory of its own",
    ),
    "out aliases another out": (gradients(out=shared_out()), ValueError, "expected memory of its own"),
    "out is a list of arrays": (
        gradients(out=[np.zeros((4, 3)), np.zeros((2, 4))]),
        ValueError,
        "out[0]: expected a (dW, db) pair for layer 1",
    ),
    # per-sample gradients and DP-SGD's clipped gradient
    "per-sample x wrong rows": (per_sample(x=np.ones((4, 5))), ValueError, "x: expected 3 rows"),
    "per-sample unknown variant": (per_sample(variant="dense"), ValueError, "variant: expected one of"),
    "per-sample clip negative": (per_sample(clip=-1.0), ValueError, "clip: expected a positive"),
    "per-sample out of batch shape": (
        per_sample(out=fresh_out()),
        ValueError,
        "out[0][0] (dW of layer 1): expected an array of shape (5, 4, 3) and dtype float64, got shape (4, 3)",
    ),
    "per-sample over budget": (per_sample(memory_budget=100), ri.MemoryBudgetError, "per-sample gradients need"),
    "clipped max_norm zero": (clipped(max_norm=0.0), ValueError, "max_norm: expected a positive finite number"),
    "clipped max_norm negative": (clipped(max_norm=-1), ValueError, "max_norm: expected a positive finite number"),
    "clipped max_norm inf": (clipped(max_norm=np.inf), ValueError, "max_norm: expected a positive finite number"),
    "clipped max_norm NaN": (clipped(max_norm=float("nan")), ValueError, "max_norm: expected a positive finite"),
    "clipped max_norm text": (clipped(max_norm="1"), TypeError, "max_norm: expected a positive number"),
    "clipped materialize text": (clipped(materialize="yes"), TypeError, "materialize: expected True or False"),
    "clipped NaN in t": (clipped(t=with_nan(T)), ValueError, "t: expected finite values"),
    "clipped out wrong shape": (
        clipped(out=with_out(1, 0, np.zeros((4, 2)))),
        ValueError,
        "out[1][0] (dW of layer 2): expected an array of shape (2, 4)",
    ),
    # the diag variant's memory guard
    "diag over budget": (gradients(variant="diag", memory_budget=100), ri.MemoryBudgetError, "variant='diag' needs"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_argument(case):
    call, error, message = CASES[case]
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_failed_call_leaves_inputs_untouched():
    params = [(W.copy(), b.copy()) for W, b in PARAMS]
    with pytest.raises(ValueError):
        ri.train(params, X, T, steps=3, lr=-1.0)
    for (W, b), (W0, b0) in zip(params, PARAMS):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


def test_memory_guard_reports_the_need():
    need = ri.diag_memory_need_bytes(ri.init_params([8, 8192, 1]), batch=64)
    assert need == 64 * 8192**2 * 8  # 32 GiB: d l^2 float64 numbers for the widest layer
    with pytest.raises(ri.MemoryBudgetError, match=r"needs 32\.0 GiB .* budget 2\.0 GiB"):
        params, x, t = problem([8, 8192, 1], 64, np.float64)
        ri.gradients(params, x, t, variant="diag")


def test_out_is_filled_in_place_and_returned():
    out = fresh_out()
    cost, grads = ri.gradients(PARAMS, X, T, out=out)
    expected_cost, expected = ri.gradients(PARAMS, X, T)
    assert cost == expected_cost
    for (dW, db), (oW, ob), (eW, eb) in zip(grads, out, expected):
        assert dW is oW and db is ob
        np.testing.assert_array_equal(dW, eW)
        np.testing.assert_array_equal(db, eb)


def test_a_failed_call_with_out_leaves_it_untouched():
    out = [(np.full_like(W, 7.0), np.full_like(b, 7.0)) for W, b in PARAMS]
    with pytest.raises(ValueError):
        ri.gradients(PARAMS, X, np.ones((3, 5)), out=out)
    assert all((a == 7.0).all() for pair in out for a in pair)
