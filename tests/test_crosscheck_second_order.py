"""Forward mode and the Hessian-vector product of every backend that has them, against the
reference's R-operator (``reference_impl.jvp`` and ``hvp``): each framework's forward-mode and
nested-autodiff forms, and the R-operator written in its ops, on the benchmark's own tolerance
table and error measure. One matrix over the registry, both dtypes, every activation."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri
from bench.suite.grids import direction
from bench.suite.registry import REGISTRY

from .cases import NAMES, activation_for, problem, relative_error, tolerance
from .conftest import load_framework

# The forms a test calls: what the benchmark times, and TensorFlow's XLA program as well as its eager one.
FORM_OF = {"tensorflow": "autodiff", "tensorflow-eager": "eager"}


def backends_with(task: str) -> list[str]:
    return [b.name for b in REGISTRY.values() if task in b.tasks and not b.reference]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation_case", [*NAMES, "mixed"])
@pytest.mark.parametrize("backend", backends_with("jvp"))
def test_jvp_matches_the_reference(backend, activation_case, dtype):
    entry = REGISTRY[backend]
    module = load_framework(entry.framework)
    params, x, _ = problem([5, 16, 16, 2], 7, dtype)
    vector, activation = direction(params), activation_for(activation_case, 3)
    y, dy = module.jvp(params, x, vector, activation=activation, form=FORM_OF.get(backend, entry.form))
    expected = ri.jvp(params, x, vector, activation=activation)
    assert y.dtype == dy.dtype == np.dtype(dtype) and dy.shape == expected[1].shape
    assert relative_error([(y, dy)], [expected]) <= tolerance("jvp", dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation_case", [*NAMES, "mixed"])
@pytest.mark.parametrize("backend", backends_with("hvp"))
def test_hvp_matches_the_reference(backend, activation_case, dtype):
    entry = REGISTRY[backend]
    module = load_framework(entry.framework)
    params, x, t = problem([5, 16, 16, 2], 7, dtype)
    vector, activation = direction(params), activation_for(activation_case, 3)
    cost, hv = module.hvp(params, x, t, vector, activation=activation, form=FORM_OF.get(backend, entry.form))
    expected_cost, expected = ri.hvp(params, x, t, vector, activation=activation)
    for (H_W, H_b), (W, b) in zip(hv, params):
        assert H_W.shape == W.shape and H_b.shape == b.shape and H_W.dtype == H_b.dtype == np.dtype(dtype)
    assert cost == pytest.approx(expected_cost, rel=tolerance("hvp", dtype))
    assert relative_error(hv, expected) <= tolerance("hvp", dtype)
