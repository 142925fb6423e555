"""Forward mode and second order (``jvp``, ``hvp``, ``gnvp``): the R-operator on the seed's equations,
checked against central differences of ``forward`` and ``gradients``, against full Jacobians and
Hessians built column by column from those differences, and for the structure the products must
have (the Hessian's symmetry, the Gauss-Newton matrix's positive semi-definiteness). Cross-checks
against each framework's nested autodiff are in ``test_crosscheck_second_order``."""

from __future__ import annotations

import numpy as np
import pytest

import reference_impl as ri
from reference_impl import activations as activation_module

from .cases import ACTIVATION_CASES, activation_for, problem

# Central differences of first derivatives in float64 at h = 1e-6: truncation ~h^2 |f'''|, rounding
# ~eps |f| / h ~ 1e-10; relative to the product's own scale 1e-7 leaves a hundredfold margin.
STEP = 1e-6
TOLERANCE = 1e-7
SHAPES = [([3, 4, 2], 5), ([2, 3, 3, 3, 1], 4), ([1, 1], 1), ([4, 6, 5, 3], 8)]
SHAPE_IDS = [f"{'x'.join(map(str, s))}-d{d}" for s, d in SHAPES]


def direction(params, seed=7):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal(W.shape).astype(W.dtype), rng.standard_normal(b.shape).astype(b.dtype)) for W, b in params
    ]


def moved(params, vector, step):
    return [(W + step * V_W, b + step * V_b) for (W, b), (V_W, V_b) in zip(params, vector)]


def flat(pairs) -> np.ndarray:
    return np.concatenate([a.ravel() for pair in pairs for a in pair])


def unflat(values, params):
    out, at = [], 0
    for W, b in params:
        out.append((values[at : at + W.size].reshape(W.shape), values[at + W.size : at + W.size + b.size]))
        at += W.size + b.size
    return out


def assert_close(got, expected):
    scale = max(np.max(np.abs(expected)), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE * max(scale, 1.0))


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), SHAPES, ids=SHAPE_IDS)
def test_jvp_matches_central_differences_of_forward(sizes, batch, activation_case, variant):
    params, x, _ = problem(sizes, batch, np.float64, seed=3)
    activation, vector = activation_for(activation_case, len(sizes) - 1), direction(params)
    y, dy = ri.jvp(params, x, vector, activation=activation, variant=variant)
    np.testing.assert_array_equal(y, ri.forward(params, x, activation=activation))
    ahead, behind = (ri.forward(moved(params, vector, s), x, activation=activation) for s in (STEP, -STEP))
    assert_close(dy, (ahead - behind) / (2 * STEP))


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
@pytest.mark.parametrize(("sizes", "batch"), SHAPES, ids=SHAPE_IDS)
def test_hvp_matches_central_differences_of_gradients(sizes, batch, activation_case, variant):
    params, x, t = problem(sizes, batch, np.float64, seed=3)
    activation, vector = activation_for(activation_case, len(sizes) - 1), direction(params)
    cost, hv = ri.hvp(params, x, t, vector, activation=activation, variant=variant)
    assert cost == ri.gradients(params, x, t, activation=activation)[0]
    ahead, behind = (
        flat(ri.gradients(moved(params, vector, s), x, t, activation=activation)[1]) for s in (STEP, -STEP)
    )
    assert_close(flat(hv), (ahead - behind) / (2 * STEP))


def full_hessian_and_jacobian(params, x, t, activation):
    """H (P x P) from central differences of ``gradients`` along each coordinate, and J (lL*d x P)
    of ``forward`` alike: neither uses the R-operator."""
    size = flat(params).size
    H, J = np.empty((size, size)), np.empty((ri.forward(params, x, activation).size, size))
    for i in range(size):
        unit = unflat(np.eye(size)[i], params)
        grads = [flat(ri.gradients(moved(params, unit, s), x, t, activation=activation)[1]) for s in (STEP, -STEP)]
        outputs = [ri.forward(moved(params, unit, s), x, activation=activation).ravel() for s in (STEP, -STEP)]
        H[:, i], J[:, i] = (grads[0] - grads[1]) / (2 * STEP), (outputs[0] - outputs[1]) / (2 * STEP)
    return H, J


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "relu"])
def test_products_are_the_full_matrices_times_the_vector(activation, variant):
    """Small enough to build H and J whole: hvp = H v, jvp = J v, gnvp = J^T (I/d) J v; H symmetric;
    the Gauss-Newton matrix positive semi-definite."""
    params, x, t = problem([3, 4, 2], 5, np.float64, seed=11)
    H, J = full_hessian_and_jacobian(params, x, t, activation)
    d = x.shape[1]
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-6 * np.abs(H).max())
    G = J.T @ J / d
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * np.abs(G).max()
    for seed in (1, 2):
        vector = direction(params, seed)
        v = flat(vector)
        assert_close(flat(ri.hvp(params, x, t, vector, activation=activation, variant=variant)[1]), H @ v)
        assert_close(flat(ri.gnvp(params, x, t, vector, activation=activation, variant=variant)[1]), G @ v)
        assert_close(ri.jvp(params, x, vector, activation=activation, variant=variant)[1].ravel(), J @ v)


@pytest.mark.parametrize("variant", ri.VARIANTS)
@pytest.mark.parametrize("activation_case", ACTIVATION_CASES)
def test_hessian_is_symmetric_and_gauss_newton_positive(activation_case, variant):
    """w^T H v = v^T H w, and v^T G v >= 0, on a network too large for the full matrices."""
    params, x, t = problem([5, 16, 16, 2], 7, np.float64, seed=5)
    activation = activation_for(activation_case, 3)
    v, w = direction(params, 1), direction(params, 2)
    hv, hw = (flat(ri.hvp(params, x, t, u, activation=activation, variant=variant)[1]) for u in (v, w))
    assert flat(w) @ hv == pytest.approx(flat(v) @ hw, rel=1e-12, abs=1e-12)
    for u in (v, w):
        gv = flat(ri.gnvp(params, x, t, u, activation=activation, variant=variant)[1])
        assert flat(u) @ gv >= -1e-12 * np.abs(gv).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("product", ["jvp", "hvp", "gnvp"])
def test_variants_agree_and_keep_the_dtype(product, dtype):
    params, x, t = problem([4, 8, 8, 3], 6, dtype, seed=2)
    vector = direction(params)
    results = []
    for variant in ri.VARIANTS:
        if product == "jvp":
            y, dy = ri.jvp(params, x, vector, activation="tanh", variant=variant)
            assert y.dtype == dy.dtype == np.dtype(dtype) and dy.shape == y.shape == (3, 6)
            results.append(dy.ravel())
        else:
            cost, out = getattr(ri, product)(params, x, t, vector, activation="tanh", variant=variant)
            assert isinstance(cost, float)
            for (H_W, H_b), (W, b) in zip(out, params):
                assert H_W.shape == W.shape and H_b.shape == b.shape and H_W.dtype == H_b.dtype == np.dtype(dtype)
            results.append(flat(out))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e3 * eps * np.abs(results[1]).max())


@pytest.mark.parametrize("product", ["hvp", "gnvp"])
def test_out_is_filled_in_place_and_inputs_are_untouched(product):
    params, x, t = problem([4, 8, 3], 6, np.float64, seed=2)
    vector = direction(params)
    before = [a.copy() for a in (*flat(params), *flat(vector))]
    expected = getattr(ri, product)(params, x, t, vector)[1]
    out = [(np.full_like(W, np.nan), np.full_like(b, np.nan)) for W, b in params]
    _, got = getattr(ri, product)(params, x, t, vector, out=out)
    assert all(g is o for pair, given in zip(got, out) for g, o in zip(pair, given))  # the very arrays
    np.testing.assert_array_equal(flat(out), flat(expected))
    np.testing.assert_array_equal(np.array(before), np.concatenate([flat(params), flat(vector)]))


def test_dropping_the_second_derivative_fails_the_checks(monkeypatch):
    """The checks above see the R-operator's sigma'' term: with nabla2_sigma set to zero (the
    Gauss-Newton part alone plus the weight terms), the Hessian product misses the differences."""
    params, x, t = problem([3, 4, 2], 5, np.float64, seed=3)
    vector = direction(params)
    ahead, behind = (flat(ri.gradients(moved(params, vector, s), x, t)[1]) for s in (STEP, -STEP))
    expected = (ahead - behind) / (2 * STEP)
    tanh = activation_module.ACTIVATIONS["tanh"]
    monkeypatch.setitem(
        activation_module.ACTIVATIONS,
        "tanh",
        activation_module.Activation("tanh", tanh.sigma, tanh.derivative_into, activation_module._zero),
    )
    for variant in ri.VARIANTS:
        wrong = flat(ri.hvp(params, x, t, vector, activation="tanh", variant=variant)[1])
        with pytest.raises(AssertionError):
            assert_close(wrong, expected)


@pytest.mark.parametrize("product", ["jvp", "hvp", "gnvp"])
def test_a_vector_that_does_not_match_the_parameters_names_vector(product):
    params, x, t = problem([3, 4, 2], 5, np.float64)
    good = direction(params)
    bad_vectors = [
        good[:1],  # too few layers
        [(good[0][0].T, good[0][1]), good[1]],  # a transposed V_W
        [(good[0][0].astype(np.float32), good[0][1]), good[1]],  # another dtype
        [(good[0][0], np.full_like(good[0][1], np.nan)), good[1]],  # not finite
        [good[0], (good[1][0],)],  # not a pair
        "not a vector",
    ]
    call = {
        "jvp": lambda v: ri.jvp(params, x, v),
        "hvp": lambda v: ri.hvp(params, x, t, v),
        "gnvp": lambda v: ri.gnvp(params, x, t, v),
    }[product]
    for vector in bad_vectors:
        with pytest.raises(ValueError, match=r"^vector"):
            call(vector)


def test_diag_refuses_a_configuration_over_its_memory_budget():
    params, x, t = problem([64, 64, 2], 32, np.float64)
    with pytest.raises(ri.MemoryBudgetError, match="diag"):
        ri.hvp(params, x, t, direction(params), variant="diag", memory_budget=2 * 32 * 64 * 64 * 8 - 1)
    ri.hvp(params, x, t, direction(params), variant="diag", memory_budget=2 * 32 * 64 * 64 * 8)
