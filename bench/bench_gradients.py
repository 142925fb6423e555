"""The benchmark: one parametrized test over the grid x backend matrix.

Each row prepares its backend outside the timed region (conversion, compilation), warms up, lets
pytest-benchmark time the call, and then checks the first call's gradients against the float64
numpy-hadamard reference (a row off by more than the tolerance fails). Everything a reader needs
is in ``extra_info``; nothing is parsed back out of test names.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

import reference_impl as ri

from . import backends, flops, isolate, plugin
from .config import ACTIVATION, GRIDS, Config, make_problem, relative_error, upcast

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
    """Per-configuration data shared by every backend's row, each made once, when first needed."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self._cache: dict[str, object] = {}
        self.started: set[str] = set()  # frameworks whose runtime this process has started

    def _get(self, config: Config, key: str, make):
        if config != self.config:  # configurations come one after another: keep one in memory
            self.config, self._cache = config, {}
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def problem(self, config: Config):
        return self._get(config, "problem", lambda: make_problem(config))

    def reference(self, config: Config):
        """float64 numpy-hadamard gradients of exactly the row's numbers (upcast)."""

        def make():
            problem = upcast(self.problem(config))
            return ri.gradients(problem.params, problem.x, problem.t, activation=ACTIVATION)[1]

        return self._get(config, "reference", make)

    def floor(self, config: Config, min_time: float):
        return self._get(config, "floor", lambda: flops.matmul_floor_seconds(config, min_time=min_time))


@pytest.fixture(scope="session")
def run_state() -> RunState:
    return RunState()


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
    is_child = pytest_config.getoption("isolate_child")
    isolated = None
    if pytest_config.getoption("isolate") and not is_child:
        isolated = isolate.run_child(pytest_config, request.node, backend.name)
    policy = plugin.process_policy(pytest_config)

    # Only the backend's own work happens between here and the end of timing, so that in a fresh
    # subprocess (--isolate) the peak RSS above this point is the backend's memory.
    problem = run_state.problem(config)
    try:
        if backend.framework and backend.framework not in run_state.started:
            # Start the framework's runtime once, before the baseline: its one-off memory is no row's.
            backend.prepare(make_problem(Config(config.dtype, 1, 2, 1))).run()
            run_state.started.add(backend.framework)
        rss_baseline = isolate.reset_peak_rss()
        prepared = backend.prepare(problem)
    except backends.BackendUnavailable as exc:
        pytest.skip(str(exc))
    start = time.perf_counter()
    result = prepared.run()
    first_call_s = time.perf_counter() - start
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
    rss_peak_bytes = max(0, isolate.peak_rss_bytes() - rss_baseline)

    # Correctness of this very result, outside the timed region: fast and wrong fails the row.
    cost, grads = prepared.to_numpy(result)
    assert all(g.dtype == np.dtype(config.dtype) for layer in grads for g in layer), "gradient dtype changed"
    grad_rel_err = relative_error(grads, run_state.reference(config))
    assert grad_rel_err <= GRAD_TOLERANCE[config.dtype], f"{backend.name} gradients off by {grad_rel_err:.2e}"

    peak_bytes = prepared.peak_bytes
    peak_method = "jax compiled memory_analysis" if peak_bytes is not None else None
    if backend.framework is None:  # NumPy allocations are what tracemalloc traces
        tracemalloc.start()
        prepared.run()
        peak_bytes, peak_method = tracemalloc.get_traced_memory()[1], "tracemalloc"
        tracemalloc.stop()
    # The isolated child only times; the parent's row carries the floor.
    floor_s = None if is_child else run_state.floor(config, min_time=0.01 if benchmark.disabled else 0.2)

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
        # Peak RSS during the backend's work above the RSS before it: the comparable memory figure
        # in a fresh subprocess (--isolate); in a long-lived process, where freed memory is reused,
        # only a lower bound.
        rss_peak_bytes=rss_peak_bytes,
    )
    if isolated is not None:
        benchmark.extra_info.update(isolated)
