"""One benchmark row, the same steps for every task and backend.

Prepare the backend outside the timed region (once per configuration: later rounds reuse it),
warm up, let pytest-benchmark time the call, then check the first call's result against the
float64 numpy-hadamard reference (a row off by more than the tolerance fails) and record
everything in ``extra_info`` as one ``schema.Row``: nothing is parsed back out of test names.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from . import backends, flops, frameworks, isolate
from .config import make_data
from .plan import Case
from .schema import Row, relative_error, tolerance
from .session import BenchSession

WARMUP_CALLS, WARMUP_SECONDS = 3, 0.1  # on a backend's first use in a configuration
REWARM_CALLS = 2  # in later rounds: other backends ran in between and evicted the caches


def _prepare(bench: BenchSession, case: Case):
    """The backend's prepared calls for this configuration, made on first use; or skip with the reason."""
    config, backend = case.config, case.backend
    data = bench.data(config)
    if backend.name not in data.prepared:
        options = {"diag_budget_bytes": bench.diag_budget_bytes}
        try:
            if backend.framework not in bench.started:
                # Start the framework's runtime once, on a tiny network: its one-off cost is no row's.
                module = frameworks.load(backend.framework)
                bench.process_policy().framework_started(module)
                module.gradients(*make_data([2, 2], 1, np.dtype(config.dtype)))
                bench.started.add(backend.framework)
            data.prepared[backend.name] = backends.prepare(backend, config.task, data.problem, options)
        except backends.BackendUnavailable as exc:
            data.prepared[backend.name] = str(exc)
    prepared = data.prepared[backend.name]
    if isinstance(prepared, str):
        pytest.skip(prepared)
    return prepared


def run_row(benchmark, case: Case, bench: BenchSession, item: pytest.Item) -> None:
    config, backend = case.config, case.backend
    reason = backend.skip_reason(config.task, config.width)
    if reason:
        pytest.skip(reason)
    missing = backends.framework_missing(backend)
    if missing:
        if bench.named_backends:  # asked for by name: its absence is an error
            pytest.fail(f"{backend.name} was requested with --backends but {missing}")
        pytest.skip(f"{backend.name}: {missing}")
    isolated = isolate.run_child(item, backend.name) if bench.isolate and not bench.is_child else None
    policy = bench.process_policy()

    first_use = backend.name not in bench.data(config).prepared
    rss_baseline = isolate.reset_peak_rss()  # only the backend's own work from here to the end of timing
    prepared = _prepare(bench, case)
    start = time.perf_counter()
    result = prepared.run()
    first_call_s = time.perf_counter() - start if first_use else None
    if not benchmark.disabled:
        calls, start = 0, time.perf_counter()
        while calls < (WARMUP_CALLS if first_use else REWARM_CALLS) or (
            first_use and time.perf_counter() - start < WARMUP_SECONDS
        ):
            prepared.run()
            calls += 1
    benchmark.group = f"{config.task} {config.id}"
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    benchmark(prepared.run)
    # Busy threads over the timed loop: checks the thread policy instead of assuming it.
    cpu_util = (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9)
    rss_peak_bytes = max(0, isolate.peak_rss_bytes() - rss_baseline)
    median = benchmark.stats.stats.median if benchmark.stats else None

    # Correctness of this very result, outside the timed region: fast and wrong fails the row.
    cost, values = prepared.to_numpy(result)
    assert all(v.dtype == np.dtype(config.dtype) for layer in values for v in layer), "dtype changed"
    error, bound = relative_error(values, bench.reference(config)), tolerance(config.task, config.dtype)
    assert error <= bound, f"{backend.name} is off by {error:.2e} (tolerance {bound:.0e})"

    row = Row(task=config.task, backend=backend.name, method=backend.method, framework=backend.framework,
              network=config.network, width=config.width, depth=config.depth, batch=config.batch, dtype=config.dtype,
              activation=config.activation, threads=policy.threads, round=case.round, order_seed=bench.order_seed,
              flops=flops.pass_flops(config), rel_err=error, tolerance=bound, cost=cost, cpu_util=cpu_util,
              compile_s=prepared.compile_s if first_use else None, first_call_s=first_call_s,
              rss_peak_bytes=rss_peak_bytes, peak_bytes=prepared.compiled_bytes,
              peak_method="xla memory_analysis" if prepared.compiled_bytes else None)  # fmt: skip
    quick = benchmark.disabled  # plain pytest: every measurement once, as short as it can be
    if config.task == "train":
        row.steps, row.batch_size = config.steps, config.batch_size
        row.per_step_s = median / config.steps if median else None
    elif prepared.forward is not None:
        row.forward_s = flops.median_time(prepared.forward, 0.002 if quick else bench.grid.row_time / 2)
        row.grad_over_forward = median / row.forward_s if median else None
        row.model_grad_over_forward = flops.model_grad_over_forward(config)
    if backend.framework == "numpy" and first_use:  # NumPy allocations are what tracemalloc traces
        tracemalloc.start()
        prepared.run()
        row.peak_bytes, row.peak_method = tracemalloc.get_traced_memory()[1], "tracemalloc"
        tracemalloc.stop()
    if not bench.is_child:  # the isolated child only times; the parent's row carries the floor and peak
        if config.task == "gradient":
            row.floor_s, row.floor_source = flops.floor_seconds(config, 0.005 if quick else 0.05)
        row.peak_gflops, row.peak_source = flops.peak_gflops(config.dtype, 256 if quick else bench.grid.peak_size)
    if isolated is not None:
        row.isolated_median_s, row.isolated_rss_peak_bytes, row.isolated_options = isolated
    benchmark.extra_info.update(row.as_dict())
