"""The benchmark machinery's own correctness: FLOP model, registry, memory guard, grids."""

from __future__ import annotations

import numpy as np
import pytest

from bench import backends, flops
from bench.config import GRIDS, Config, make_problem

from .conftest import load_framework


@pytest.mark.parametrize(
    "config",
    [Config("float64", 1, 8, 4), Config("float64", 3, 32, 16), Config("float32", 4, 64, 1)],
    ids=lambda c: c.id,
)
def test_flop_model_matches_torch_flop_counter(config):
    """torch counts the matrix products autograd runs: exactly the model's (no input gradient)."""
    torch_mlp = load_framework("torch")
    from torch.utils.flop_counter import FlopCounterMode

    problem = make_problem(config)
    run = torch_mlp.gradient_function(problem.params, problem.x, problem.t)
    with FlopCounterMode(display=False) as counter:
        run()
    assert counter.get_total_flops() == flops.pass_flops(config)


def test_flop_model_against_jax_cost_analysis():
    """XLA also counts elementwise work (tanh, its derivative, the cost): a few percent more."""
    jax_mlp = load_framework("jax")
    import jax

    config = Config("float64", 4, 128, 64)
    problem = make_problem(config)
    f = jax_mlp.value_and_grad(("tanh",) * config.depth)
    compiled = jax.jit(f).lower(*jax_mlp.to_device(problem.params, problem.x, problem.t)).compile()
    analysis = compiled.cost_analysis()
    counted = (analysis[0] if isinstance(analysis, list) else analysis)["flops"]
    model = flops.pass_flops(config)
    assert model <= counted <= 1.10 * model


def test_gemm_shapes_skip_the_first_layers_input_gradient():
    config = Config("float64", 3, 10, 5)
    assert len(flops.gemm_shapes(config)) == 3 * 3 - 1
    assert flops.pass_flops(config) == 6 * 5 * 3 * 100 - 2 * 5 * 100


def test_floor_is_positive_and_small_for_tiny_configs():
    assert 0 < flops.matmul_floor_seconds(Config("float32", 2, 16, 16), min_time=0.01) < 1e-2


def test_select_rejects_unknown_backends_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend\(s\) \['nope'\].*numpy-hadamard"):
        backends.select("numpy-hadamard,nope")
    assert [b.name for b in backends.select(None)] == ["numpy-hadamard", "numpy-diag", "torch", "jax", "jax-eager"]
    assert [b.name for b in backends.select("torch-compile")] == ["torch-compile"]


def test_diag_memory_guard_skips_with_the_need_and_budget():
    diag = backends.REGISTRY["numpy-diag"]
    reason = diag.skip_reason(Config("float64", 2, 8192, 64), diag_budget_bytes=2 * 2**30)
    assert reason == "needs 32.0 GiB for diagonal Jacobians, budget 2.0 GiB"
    assert diag.skip_reason(Config("float64", 8, 1024, 64), diag_budget_bytes=2 * 2**30) is None
    assert backends.REGISTRY["numpy-hadamard"].skip_reason(Config("float64", 2, 8192, 64), 1) is None


def test_grids_are_the_promised_ones():
    default = GRIDS["default"].configs()
    assert {c.width for c in default} == {16, 64, 256, 1024} and {c.depth for c in default} == {2, 4, 8}
    assert {c.batch for c in default} == {64} and {c.dtype for c in default} == {"float32", "float64"}
    full = GRIDS["full"].configs()
    assert (
        {2048, 4096} <= {c.width for c in full}
        and 16 in {c.depth for c in full}
        and {1, 256} <= {c.batch for c in full}
    )


@pytest.mark.parametrize("name", [n for n, b in backends.REGISTRY.items() if not b.opt_in])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_backend_computes_the_reference_gradients(name, dtype):
    backend = backends.REGISTRY[name]
    if backend.framework:
        load_framework(backend.framework)
    problem = make_problem(Config(dtype, 3, 24, 8))
    prepared = backend.prepare(problem)
    cost, grads = prepared.to_numpy(prepared.run())
    expected_cost, expected = backends.REGISTRY["numpy-hadamard"].prepare(problem).run()
    tolerance = {"float64": 1e-12, "float32": 1e-5}[dtype]
    assert cost == pytest.approx(expected_cost, rel=tolerance)
    for (dW, db), (eW, eb) in zip(grads, expected):
        assert dW.dtype == np.dtype(dtype)
        np.testing.assert_allclose(dW, eW, atol=tolerance * np.abs(eW).max(), rtol=0)
        np.testing.assert_allclose(db, eb, atol=tolerance * np.abs(eW).max(), rtol=0)
