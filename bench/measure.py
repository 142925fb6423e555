"""The worker's part of one row: prepare, warm up, time, check, record. (``bench.runner`` is the
parent that starts the workers, one per replicate, and collects their rows.)

A worker times every (configuration, backend) once, so every row is its backend's first use in
that configuration: it is prepared outside the timed region (conversion, compilation, timed on
its own as ``compile_s``), called once (``first_call_s``), then warmed up by time, long enough
that another library's idle threads (OpenBLAS's spin about 0.1 s after a call) have gone quiet,
then timed in blocks of calls (``bench.timing``), the forward pass alone with the same blocks.
The result of the first call is then checked against the float64 numpy-hadamard reference: a
row above its tolerance is kept, marked ``incorrect``, and fails the run at its end. Everything
lands in ``extra_info`` as one ``schema.Row``: nothing is parsed back out of test names.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from . import backends, flops, frameworks, isolate, timing
from .config import make_data
from .plan import Case
from .schema import Row, relative_error, tolerance
from .session import BenchSession

# After the first call: at least 2 more calls and 0.12 s, past the 0.1 s that OpenBLAS's threads
# spin after the previous library's call (a slow call passes it in its 2 calls).
WARMUP_CALLS, WARMUP_SECONDS = 2, 0.12


def warm_up(call) -> int:
    """At least WARMUP_CALLS calls and WARMUP_SECONDS: caches filled, and the previous library's
    spinning threads gone quiet before timing starts. Returns the calls made."""
    calls, start = 0, time.perf_counter()
    while calls < WARMUP_CALLS or time.perf_counter() - start < WARMUP_SECONDS:
        call()
        calls += 1
    return calls


def start_framework(bench: BenchSession, backend: backends.Backend, dtype: str) -> None:
    """The framework's runtime started once per process, on a tiny network: its one-off cost is no row's."""
    if backend.framework not in bench.started:
        module = frameworks.load(backend.framework)
        bench.process_policy().framework_started(module)
        bench.log({"kind": "policy", "policy": bench.policy.describe()})  # with the framework's own threads
        module.gradients(*make_data([2, 2], 1, np.dtype(dtype)))
        bench.started.add(backend.framework)


def prepare(bench: BenchSession, case: Case) -> backends.Prepared:
    """The backend ready for the row's configuration, or skip with the reason it cannot run here."""
    config, backend = case.config, case.backend
    reason = backend.skip_reason(config.task, config.width)
    if reason:
        pytest.skip(reason)
    missing = backends.framework_missing(backend)
    if missing:
        pytest.skip(f"{backend.name}: {missing}")  # named backends were refused at configure already
    start_framework(bench, backend, config.dtype)
    try:
        return backends.prepare(backend, config.task, bench.data(config).problem,
                                {"diag_budget_bytes": bench.diag_budget_bytes})  # fmt: skip
    except backends.BackendUnavailable as exc:
        pytest.skip(str(exc))


def traced_bytes(prepared: backends.Prepared) -> int | None:
    """Peak of the allocations tracemalloc sees in one call from cold buffers (NumPy-based backends)."""
    if prepared.traced_call is None:
        return None
    tracemalloc.start()
    try:
        prepared.traced_call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_row(benchmark, case: Case, bench: BenchSession, item: pytest.Item) -> None:
    config, backend = case.config, case.backend
    isolated = isolate.run_child(item, backend.name) if bench.isolate and not bench.is_child else None
    bench.process_policy()  # before the first framework starts: JAX's threads follow the affinity
    prepared = prepare(bench, case)
    quick = benchmark.disabled  # plain pytest: every measurement once, as short as it can be
    budget = 0.002 if quick else bench.row_time  # --benchmark-max-time, or the grid's

    start = time.perf_counter()
    result = prepared.run()  # checked below: the first result, before any timing
    first_call_s = time.perf_counter() - start
    cost, values = prepared.to_numpy(result)  # converted now: out= buffers are refilled by later calls
    values = [(np.array(v), np.array(w)) for v, w in values]
    if not quick:
        warm_up(prepared.run)

    benchmark.group = f"{config.task} {config.id}"
    rss_baseline = isolate.reset_peak_rss()  # the timed calls' own memory, above what exists now
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    if quick:
        benchmark(prepared.run)
    else:
        iterations, rounds = timing.calibrate(prepared.run, budget)
        benchmark.pedantic(prepared.run, iterations=iterations, rounds=rounds)
    # Busy threads over the timed loop: compared with the thread policy in the report.
    cpu_util = (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9)
    rss_peak_bytes = max(0, isolate.peak_rss_bytes() - rss_baseline)
    median = benchmark.stats.stats.median if benchmark.stats else None

    assert all(v.dtype == np.dtype(config.dtype) for layer in values for v in layer), "dtype changed"
    error, bound = relative_error(values, bench.reference(config)), tolerance(config.task, config.dtype)
    row = Row(task=config.task, config=config.id, backend=backend.name, network=config.network, width=config.width,
              depth=config.depth, batch=config.batch, dtype=config.dtype, activation=config.activation,
              replicate=case.replicate, outcome="ok" if error <= bound else "incorrect",
              flops=flops.pass_flops(config), rel_err=error, tolerance=bound, cost=cost, cpu_util=cpu_util,
              compile_s=prepared.compile_s, first_call_s=first_call_s, rss_peak_bytes=rss_peak_bytes,
              compiled_bytes=prepared.compiled_bytes)  # fmt: skip
    if config.task == "train":
        row.steps, row.batch_size = config.steps, config.batch_size
        row.per_step_s = median / config.steps if median else None
    elif prepared.forward is not None:
        row.forward_s = float(np.median(timing.sample(prepared.forward, budget / 2)))
        row.grad_over_forward = median / row.forward_s if median else None
        row.model_grad_over_forward = flops.model_grad_over_forward(config)
    if case.replicate == 0 and not bench.is_child:  # per configuration, once a run: memory, the floor and the peak
        row.traced_bytes = traced_bytes(prepared)  # deterministic: one replicate tells it
        if config.task == "gradient":
            row.floor_s, row.floor_source = flops.floor_seconds(config, 0.005 if quick else 0.01)
        row.peak_gflops, row.peak_source = flops.peak_gflops(config.dtype, 256 if quick else bench.grid.peak_size)
    if isolated is not None:
        row.isolated_median_s, row.isolated_rss_peak_bytes, row.isolated_options = isolated
    benchmark.extra_info.update(row.as_dict())
    bench.rows_done(benchmark, item)
