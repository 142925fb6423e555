"""The worker's part of one row: prepare, warm up, time, check, record. (``bench.harness.runner``
is the parent that starts the workers, one per replicate, and collects their rows.)

A worker's first sweep is every row's first use of its backend in that configuration: it is prepared
outside the timed region (conversion, compilation, timed on its own as ``compile_s``), called once
(``first_call_s``), then warmed up (where the previous row used another library, only once that
library's idle threads have stopped spinning: OpenBLAS's spin about 0.1 s after a call),
then timed in blocks of calls (``bench.harness.timing``; the loop counts are the first replicate's,
handed on by the parent), the forward pass alone in blocks of its own. The result of the first call
is then checked against the float64 numpy-hadamard reference: a row above its tolerance is kept,
marked ``incorrect``, and fails the run at its end. Everything lands in ``extra_info`` as one
``schema.Row``: nothing is parsed back out of test names. A later sweep (``bench.suite.plan``) warms
up and times the same prepared call again, and logs only its timing.
"""

from __future__ import annotations

import contextlib
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ..suite import backends, frameworks
from ..suite.grids import make_data
from ..suite.plan import Case
from . import flops, isolate, policy, timing
from .schema import Row, relative_error, tolerance
from .session import BenchSession

# After another library's row: wait until that library's idle threads have stopped spinning
# (policy.other_threads_running: OpenBLAS's spin about 0.1 s after a call, torch's OpenMP pool about
# 8 ms, JAX's and TensorFlow's under 1 ms), at most QUIET_MOST_S (a thread that never sleeps must not
# stall the run); where the kernel does not show threads, WARMUP_SECONDS since that library's last
# call. Then at least WARMUP_CALLS of the row's own before its timing: caches refilled.
WARMUP_CALLS, WARMUP_SECONDS, QUIET_MOST_S = 1, 0.12, 0.5
# A row's first timing in a process (sweep 0, right after prepare) needs more: torch's forward mode
# and JAX's compiled programs ran their first 2-3 calls 1.3-3x slow here (allocator pools, oneDNN's
# kernels, XLA's buffers), and one warm-up call left the whole first sweep 30-200 % slow.
FIRST_WARMUP_CALLS, FIRST_WARMUP_SECONDS = 3, 0.03


def wait_for_quiet(other_library_last_call: float) -> None:
    """Sleep until no other thread of the process runs (another library's pool has gone to sleep),
    at most QUIET_MOST_S; without thread states, until WARMUP_SECONDS after ``other_library_last_call``
    (a perf_counter)."""
    start = time.perf_counter()
    while time.perf_counter() - start < QUIET_MOST_S:
        running = policy.other_threads_running()
        if running == 0 or (running is None and time.perf_counter() - other_library_last_call >= WARMUP_SECONDS):
            return
        time.sleep(0.0005)


def warm_up(call, other_library_last_call: float | None = None, calls_made: int = 0, first: bool = False) -> int:
    """After another library's row (``other_library_last_call``: the perf_counter when its last call
    ended), wait until its threads are quiet (``wait_for_quiet``); then calls until the row has made
    WARMUP_CALLS (``calls_made`` counts its first call, made just before; with ``first``, the row's
    first timing in the process, FIRST_WARMUP_CALLS and FIRST_WARMUP_SECONDS of calls). Returns
    the calls made here."""
    if other_library_last_call is not None:
        wait_for_quiet(other_library_last_call)
    calls, start = 0, time.perf_counter()
    least, lasting = (FIRST_WARMUP_CALLS, FIRST_WARMUP_SECONDS) if first else (WARMUP_CALLS, 0.0)
    while calls_made + calls < least or time.perf_counter() - start < lasting:
        call()
        calls += 1
    return calls


class Phases(dict):
    """Seconds of a row by part of the work, for the run's account (``runner.Account``)."""

    @contextlib.contextmanager
    def __call__(self, part: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[part] = self.get(part, 0.0) + time.perf_counter() - start


def start_framework(bench: BenchSession, backend: backends.Backend, dtype: str) -> None:
    """The framework's runtime started once per process, on a tiny network: its one-off cost is no
    row's. Its compile cache (``plan.cache_dir``) is set first, where it has one."""
    if backend.framework not in bench.started:
        start = time.perf_counter()
        module = frameworks.load(backend.framework)
        if bench.worker is not None and bench.worker.cache_dir and hasattr(module, "use_compile_cache"):
            module.use_compile_cache(Path(bench.worker.cache_dir) / backend.framework)
        bench.process_policy().framework_started(module)
        bench.log({"kind": "policy", "policy": bench.policy.describe()})  # with the framework's own threads
        module.gradients(*make_data([2, 2], 1, np.dtype(dtype)))
        bench.started.add(backend.framework)
        bench.log({"kind": "framework", "framework": backend.framework, "seconds": time.perf_counter() - start})


def prepare(bench: BenchSession, case: Case, measure_compile: bool) -> backends.Prepared:
    """The backend ready for the row's configuration, or skip with the reason it cannot run here.
    ``measure_compile``: the row records its compile time (a backend may skip a costly measurement)."""
    config, backend = case.config, case.backend
    reason = backend.skip_reason(config.task, config.width, full_grid=bench.grid_name == "full")
    if reason:
        pytest.skip(reason)
    missing = backends.framework_missing(backend)
    if missing:
        pytest.skip(f"{backend.name}: {missing}")  # named backends were refused at configure already
    start_framework(bench, backend, config.dtype)
    try:
        return backends.prepare(
            backend,
            config.task,
            bench.data(config).problem,
            {"diag_budget_bytes": bench.diag_budget_bytes, "measure_compile": measure_compile},
        )
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


def time_row(
    benchmark,
    case: Case,
    bench: BenchSession,
    prepared: backends.Prepared,
    quick: bool,
    phases: Phases,
    counts: tuple[int, int] | None = None,
    calls_made: int = 0,
) -> tuple[dict, tuple[int, int] | None]:
    """Warm up, then time the call (pytest-benchmark's ``pedantic``, in blocks: the loop counts the
    first replicate calibrated, or calibrated now) and the forward pass alone with the same
    counts: the row's timing fields, the same in every sweep, and the loop counts used."""
    config = case.config
    budget = 0.002 if quick else bench.row_time  # --benchmark-max-time, or the grid's
    with phases("warm-up"):
        if not quick:
            switched = bench.last_framework != case.backend.library
            warm_up(prepared.run, bench.last_call_end if switched else None, calls_made, first=not case.sweep)
        if not quick:
            counts = counts or bench.calibration(case) or timing.calibrate(prepared.run, budget)
    benchmark.group = config.id  # names its task (ps-, clip-, jvp-, hvp-, train-; gradient: none)
    with phases("timing"):
        rss_baseline = isolate.reset_peak_rss()  # the timed calls' own memory, above what exists now
        faults_start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        if quick:
            benchmark(prepared.run)
        else:
            benchmark.pedantic(prepared.run, iterations=counts[0], rounds=counts[1])
        calls = 1 if quick else counts[0] * counts[1]
        # Busy threads over the timed loop: compared with the thread policy in the report.
        fields = {
            "cpu_util": (time.process_time() - cpu_start) / max(time.perf_counter() - wall_start, 1e-9),
            "rss_peak_bytes": max(0, isolate.peak_rss_bytes() - rss_baseline),
            # Pages the kernel mapped afresh per call: a call writing a fresh 134 MB output faults in
            # 33,000 pages of 4 KiB (or 64 huge ones), the source of the per-sample rows' spread.
            "faults_per_call": round((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_start) / calls, 1),
        }
        median = benchmark.stats.stats.median if benchmark.stats else None
        if config.task == "train":
            fields.update(
                steps=config.steps, batch_size=config.batch_size, per_step_s=median / config.steps if median else None
            )
        elif prepared.forward is not None:
            prepared.forward()  # its first call in the row: warm, as the gradient's was
            forward_counts = timing.calibrate(prepared.forward, budget / 2)
            forward_s = float(np.median(timing.block_times(prepared.forward, *forward_counts)))
            fields.update(
                forward_s=forward_s,
                grad_over_forward=median / forward_s if median else None,
                model_grad_over_forward=flops.model_grad_over_forward(config),
            )
    bench.last_framework, bench.last_call_end = case.backend.library, time.perf_counter()
    return fields, counts


def time_again(benchmark, case: Case, bench: BenchSession) -> None:
    """A later sweep: the prepared call of sweep 0, warmed up and timed again with the same loop
    counts; its timing is logged for the parent, which combines the row's sweeps."""
    kept = bench.kept.get(case.row_id)
    if kept is None:  # skipped or failed in sweep 0 (its outcome says why), or timed by an ended worker
        pytest.skip(f"sweep {case.sweep}: sweep 0 did not time this row in this worker")
    prepared, counts = kept
    if case.sweep == bench.sweeps - 1:
        del bench.kept[case.row_id]  # its last sweep: memory for the next configurations
    if case.sweep >= bench.sweeps_that_fit():
        pytest.skip(f"sweep {case.sweep}: dropped to keep the worker within its share of the budget")
    phases = Phases()
    # The row was called in this process already (sweep 0): no warm-up call unless another library ran
    # just before (the median of its blocks absorbs a first block that starts from colder caches).
    timing_fields, _ = time_row(benchmark, case, bench, prepared, False, phases, counts, calls_made=1)
    benchmark.extra_info.update(timing_fields)
    bench.rows_done(benchmark, case, phases)
    bench.row_timed(case.sweep)


def run_row(benchmark, case: Case, bench: BenchSession, item: pytest.Item) -> None:
    if case.sweep:
        return time_again(benchmark, case, bench)
    config, backend = case.config, case.backend
    phases = Phases()
    isolated = isolate.run_child(item, backend.name) if bench.isolate and not bench.is_child else None
    bench.process_policy()  # before the first framework starts: JAX's threads follow the affinity
    # Compile time where it was cold: the first replicate (the later ones load the compile caches).
    cold = bench.worker is None or bench.worker.facts
    quick = benchmark.disabled  # plain pytest: every measurement once, as short as it can be
    with phases("prepare and compile"):
        prepared = prepare(bench, case, measure_compile=cold and not quick)
        start = time.perf_counter()
        result = prepared.run()  # checked below: the first result, before any timing
        first_call_s = time.perf_counter() - start
    # Checked now, before the timing refills any out= buffer: no copy of the results is needed.
    cost, values = prepared.to_numpy(result)
    assert all(np.asarray(v).dtype == np.dtype(config.dtype) for layer in values for v in layer), "dtype changed"
    error, bound = relative_error(values, bench.reference(config)), tolerance(config.task, config.dtype)
    del result, values
    timing_fields, counts = time_row(benchmark, case, bench, prepared, quick, phases, calls_made=1)

    # Where the framework's compile ran the call too, less that many steady calls (Prepared.compile_runs).
    compile_s = prepared.compile_s
    if compile_s is not None and benchmark.stats:
        compile_s = max(0.0, compile_s - prepared.compile_runs * benchmark.stats.stats.median)
    row = Row(
        task=config.task,
        config=config.id,
        backend=backend.name,
        library=backend.library,
        network=config.network,
        width=config.width,
        depth=config.depth,
        batch=config.batch,
        dtype=config.dtype,
        activation=config.activation,
        replicate=case.replicate,
        order_seed=case.order_seed,
        position=case.position,
        outcome="ok" if error <= bound else "incorrect",
        flops=flops.pass_flops(config),
        rel_err=error,
        tolerance=bound,
        cost=cost,
        compile_s=compile_s if cold else None,
        first_call_s=first_call_s if cold else None,
        compiled_bytes=prepared.compiled_bytes,
        **timing_fields,
    )
    if bench.worker is not None and bench.worker.facts and not bench.is_child:
        with phases("memory, floor and peak"):  # per configuration, once a run: memory, the floor and the peak
            row.traced_bytes = traced_bytes(prepared)  # deterministic: one replicate tells it
            if config.task == "gradient":
                row.floor_s, row.floor_source = flops.floor_seconds(config, 0.005 if quick else 0.01)
            row.peak_gflops, row.peak_source = flops.peak_gflops(config.dtype, 256 if quick else bench.grid.peak_size)
        bench.last_framework, bench.last_call_end = "numpy", time.perf_counter()  # the floor and peak ran products
    if isolated is not None:
        row.isolated_median_s, row.isolated_rss_peak_bytes, row.isolated_options = isolated
    if cold:
        bench.one_off_s += phases.get("prepare and compile", 0.0) + phases.get("memory, floor and peak", 0.0)
    if bench.sweeps > 1:
        bench.kept[case.row_id] = (prepared, counts)  # timed again in the later sweeps, with the same blocks
    benchmark.extra_info.update(row.as_dict())
    bench.rows_done(benchmark, case, phases, counts)
    bench.row_timed(case.sweep)
