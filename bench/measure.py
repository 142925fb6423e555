"""The worker's part of one row: prepare, warm up, time, check, record. (``bench.runner`` is the
parent that starts the workers, one per replicate, and collects their rows.)

A worker's first sweep is every row's first use of its backend in that configuration: it is
prepared outside the timed region (conversion, compilation, timed on its own as ``compile_s``),
called once (``first_call_s``), then warmed up (where the previous row used another library, by
time, long enough that that library's idle threads, OpenBLAS's spin about 0.1 s after a call,
have gone quiet), then timed in blocks of calls (``bench.timing``), the forward pass alone with
the same blocks. The result of the first call is then checked against the float64
numpy-hadamard reference: a row above its tolerance is kept, marked ``incorrect``, and fails the
run at its end. Everything lands in ``extra_info`` as one ``schema.Row``: nothing is parsed back
out of test names. A later sweep (``bench.plan``) warms up and times the same prepared call
again, and logs only its timing.
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

# After the first call: at least 2 more calls and, after another library's row, 0.12 s, past the
# 0.1 s that OpenBLAS's threads spin after its call (a slow call passes it in its 2 calls).
WARMUP_CALLS, WARMUP_SECONDS = 2, 0.12


def warm_up(call, after_another_library: bool = True) -> int:
    """At least WARMUP_CALLS calls, and WARMUP_SECONDS after another library's row: caches filled,
    and the previous library's spinning threads gone quiet before timing starts. Returns the calls made."""
    seconds = WARMUP_SECONDS if after_another_library else 0.0
    calls, start = 0, time.perf_counter()
    while calls < WARMUP_CALLS or time.perf_counter() - start < seconds:
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


def time_row(benchmark, case: Case, bench: BenchSession, prepared: backends.Prepared, quick: bool) -> dict:
    """Warm up, then time the call (pytest-benchmark's ``pedantic``, in blocks) and the forward pass
    alone: the row's timing fields, the same in every sweep."""
    config = case.config
    budget = 0.002 if quick else bench.row_time  # --benchmark-max-time, or the grid's
    if not quick:
        warm_up(prepared.run, after_another_library=bench.last_framework != case.backend.framework)
    bench.last_framework = case.backend.framework
    benchmark.group = f"{config.task} {config.id}"
    rss_baseline = isolate.reset_peak_rss()  # the timed calls' own memory, above what exists now
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    if quick:
        benchmark(prepared.run)
    else:
        iterations, rounds = timing.calibrate(prepared.run, budget)
        benchmark.pedantic(prepared.run, iterations=iterations, rounds=rounds)
    # Busy threads over the timed loop: compared with the thread policy in the report.
    fields = {"cpu_util": (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9),
              "rss_peak_bytes": max(0, isolate.peak_rss_bytes() - rss_baseline)}  # fmt: skip
    median = benchmark.stats.stats.median if benchmark.stats else None
    if config.task == "train":
        fields.update(steps=config.steps, batch_size=config.batch_size,
                      per_step_s=median / config.steps if median else None)  # fmt: skip
    elif prepared.forward is not None:
        forward_s = float(np.median(timing.sample(prepared.forward, budget / 2)))
        fields.update(forward_s=forward_s, grad_over_forward=median / forward_s if median else None,
                      model_grad_over_forward=flops.model_grad_over_forward(config))  # fmt: skip
    return fields


def time_again(benchmark, case: Case, bench: BenchSession) -> None:
    """A later sweep: the prepared call of sweep 0, warmed up and timed again; its timing is logged
    for the parent, which keeps the row's fastest sweep."""
    prepared = bench.kept.get(case.row_id)
    if prepared is None:  # skipped or failed in sweep 0 (its outcome says why), or timed by an ended worker
        pytest.skip(f"sweep {case.sweep}: sweep 0 did not time this row in this worker")
    if case.sweep == bench.sweeps - 1:
        del bench.kept[case.row_id]  # its last sweep: memory for the next configurations
    timing_fields = time_row(benchmark, case, bench, prepared, quick=False)
    benchmark.extra_info.update(timing_fields)
    bench.rows_done(benchmark, case)


def run_row(benchmark, case: Case, bench: BenchSession, item: pytest.Item) -> None:
    if case.sweep:
        return time_again(benchmark, case, bench)
    config, backend = case.config, case.backend
    isolated = isolate.run_child(item, backend.name) if bench.isolate and not bench.is_child else None
    bench.process_policy()  # before the first framework starts: JAX's threads follow the affinity
    prepared = prepare(bench, case)
    quick = benchmark.disabled  # plain pytest: every measurement once, as short as it can be

    start = time.perf_counter()
    result = prepared.run()  # checked below: the first result, before any timing
    first_call_s = time.perf_counter() - start
    cost, values = prepared.to_numpy(result)  # converted now: out= buffers are refilled by later calls
    values = [(np.array(v), np.array(w)) for v, w in values]
    timing_fields = time_row(benchmark, case, bench, prepared, quick)

    assert all(v.dtype == np.dtype(config.dtype) for layer in values for v in layer), "dtype changed"
    error, bound = relative_error(values, bench.reference(config)), tolerance(config.task, config.dtype)
    row = Row(task=config.task, config=config.id, backend=backend.name, network=config.network, width=config.width,
              depth=config.depth, batch=config.batch, dtype=config.dtype, activation=config.activation,
              replicate=case.replicate, outcome="ok" if error <= bound else "incorrect",
              flops=flops.pass_flops(config), rel_err=error, tolerance=bound, cost=cost,
              compile_s=prepared.compile_s, first_call_s=first_call_s, compiled_bytes=prepared.compiled_bytes,
              **timing_fields)  # fmt: skip
    if case.replicate == 0 and not bench.is_child:  # per configuration, once a run: memory, the floor and the peak
        row.traced_bytes = traced_bytes(prepared)  # deterministic: one replicate tells it
        if config.task == "gradient":
            row.floor_s, row.floor_source = flops.floor_seconds(config, 0.005 if quick else 0.01)
        row.peak_gflops, row.peak_source = flops.peak_gflops(config.dtype, 256 if quick else bench.grid.peak_size)
        bench.last_framework = None  # the floor and the peak ran NumPy's and torch's products
    if isolated is not None:
        row.isolated_median_s, row.isolated_rss_peak_bytes, row.isolated_options = isolated
    if bench.sweeps > 1:
        bench.kept[case.row_id] = prepared  # timed again in the later sweeps
    benchmark.extra_info.update(row.as_dict())
    bench.rows_done(benchmark, case)
