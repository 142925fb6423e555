"""The benchmark: one parametrized test over the grid x backend matrix.

Each row prepares its backend outside the timed region (conversion, compilation), checks the
gradients against the float64 numpy-hadamard reference, warms up, and only then lets
pytest-benchmark time the call. Everything a reader needs is in ``extra_info``; nothing is
parsed back out of test names.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np
import pytest

import reference_impl as ri

from . import backends, flops, isolate, plugin
from .config import ACTIVATION, GRIDS, Config, make_problem, upcast

# A row whose gradients are further than this from the float64 reference fails: fast and wrong
# must never pass unnoticed. Measured across libraries: ~1e-15 (float64), ~1e-6 (float32); the
# bounds leave room for depth-16 sums and float32's shorter mantissa.
GRAD_TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
WARMUP_CALLS, WARMUP_SECONDS = 3, 0.2


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    configs = GRIDS[plugin.grid_name(config)].configs()
    # Backends innermost: the rows of one configuration run back to back, interleaved.
    cases = [(c, b) for c in configs for b in config.bench_backends]
    metafunc.parametrize("bench_case", cases, ids=[f"{c.id}-{b.name}" for c, b in cases])


class RunState:
    """Per-configuration data shared by every backend's row: problem, reference, floor."""

    def __init__(self) -> None:
        self._problems: dict[Config, tuple] = {}

    def get(self, config: Config, with_floor: bool):
        if config not in self._problems:
            self._problems.clear()  # configurations come one after another: keep one in memory
            problem = make_problem(config)
            _, reference = ri.gradients(*_args(upcast(problem)), activation=ACTIVATION, variant="hadamard")
            floor = flops.matmul_floor_seconds(config) if with_floor else None
            self._problems[config] = (problem, reference, floor)
        return self._problems[config]


def _args(problem):
    return problem.params, problem.x, problem.t


@pytest.fixture(scope="session")
def run_state() -> RunState:
    return RunState()


def relative_error(grads, reference) -> float:
    g = np.concatenate([np.ravel(a).astype(np.float64) for layer in grads for a in layer])
    r = np.concatenate([np.ravel(a) for layer in reference for a in layer])
    return float(np.max(np.abs(g - r)) / np.max(np.abs(r)))


def test_gradients(benchmark, bench_case, run_state, request):
    config, backend = bench_case
    pytest_config = request.config
    reason = backend.skip_reason(config, int(pytest_config.getoption("diag_budget_gib") * 2**30))
    if reason:
        pytest.skip(reason)
    missing = backends.framework_missing(backend)
    if missing:
        if pytest_config.getoption("backends"):  # asked for by name: its absence is an error
            pytest.fail(f"{backend.name} was requested with --backends but {missing}")
        pytest.skip(f"{backend.name}: {missing}")
    isolated = None
    if pytest_config.getoption("isolate") and not pytest_config.getoption("isolate_child"):
        isolated = isolate.run_child(pytest_config, request.node, backend.name)
    policy = plugin.process_policy(pytest_config)
    rss_baseline = isolate.current_rss_bytes()

    problem, reference, floor_s = run_state.get(config, with_floor=not benchmark.disabled)
    prepared = backend.prepare(problem)
    start = time.perf_counter()
    result = prepared.run()
    first_call_s = time.perf_counter() - start

    cost, grads = prepared.to_numpy(result)
    assert all(g.dtype == np.dtype(config.dtype) for layer in grads for g in layer), "gradient dtype changed"
    grad_rel_err = relative_error(grads, reference)
    assert grad_rel_err <= GRAD_TOLERANCE[config.dtype], f"{backend.name} gradients off by {grad_rel_err:.2e}"

    peak_bytes, peak_method = prepared.peak_bytes, "jax compiled memory_analysis" if prepared.peak_bytes else None
    if backend.framework is None:  # NumPy allocations are what tracemalloc traces
        tracemalloc.start()
        prepared.run()
        peak_bytes, peak_method = tracemalloc.get_traced_memory()[1], "tracemalloc"
        tracemalloc.stop()

    if not benchmark.disabled:
        calls, start = 0, time.perf_counter()
        while calls < WARMUP_CALLS or time.perf_counter() - start < WARMUP_SECONDS:
            prepared.run()
            calls += 1
    benchmark.group = config.id
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    benchmark(prepared.run)
    # Busy threads over the timed loop: checks the thread policy instead of assuming it.
    cpu_util = (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9)

    benchmark.extra_info.update(
        backend=backend.name,
        variant=backend.variant,
        width=config.width,
        depth=config.depth,
        batch=config.batch,
        dtype=config.dtype,
        activation=ACTIVATION,
        threads=policy.threads,
        flops=flops.pass_flops(config),
        grad_rel_err=grad_rel_err,
        grad_tolerance=GRAD_TOLERANCE[config.dtype],
        cost=cost,
        compile_s=prepared.compile_s,
        first_call_s=first_call_s,
        floor_s=floor_s,
        peak_bytes=peak_bytes,
        peak_method=peak_method,
        cpu_util=cpu_util,
        # Peak RSS of this process during the row, above the RSS at its start: meaningful in
        # a fresh subprocess per row (--isolate), a lower bound in a long-lived process.
        rss_peak_bytes=max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_baseline),
    )
    if isolated is not None:
        benchmark.extra_info.update(isolated)
