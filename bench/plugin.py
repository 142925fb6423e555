"""pytest plugin of the benchmark suite (loaded with ``-p bench.plugin`` from pyproject.toml).

Its options and their checks are ``bench.harness.options``. The session's
state is one ``BenchSession`` in pytest's stash; a worker builds it from the plan its parent
handed it (``--worker PLAN``) and from nothing else. A ``pytest --benchmark-only`` run
writes its raw JSON and the report into ``results/<run-id>/``: everything is written into a
hidden staging folder first and renamed into place at the end, so an interrupted run leaves no
half-written table and never touches an earlier run. Plain ``pytest`` runs every benchmark body
once on the smoke grid, untimed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from .harness import isolate, machine, options, policy
from .harness.session import BenchSession
from .suite.plan import Case, WorkerPlan


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


SESSION = pytest.StashKey[BenchSession]()  # the one place this session's state lives


def session_of(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION]


def is_benchmarking(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", False))


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its options (its configure is trylast)
def pytest_configure(config: pytest.Config) -> None:
    plan = config.getoption("worker")
    bench = (
        options.session_from_plan(config, WorkerPlan.read(plan))
        if plan is not None
        else options.session_from_options(config, is_benchmarking(config))
    )
    config.stash[SESSION] = bench


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The benchmark modules take a ``case`` of their task: parametrized here, in the planned order."""
    task = getattr(metafunc.module, "TASK", None)
    if task and "case" in metafunc.fixturenames:
        cases = session_of(metafunc.config).cases(task)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def _case(item: pytest.Item) -> Case | None:
    """The benchmark case of a row (other tests may have a parameter called case too)."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    return case if isinstance(case, Case) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--benchmark-only: deselect the correctness tests instead of listing hundreds of skips; a
    worker also leaves out the rows an earlier worker of its replicate finished."""
    if is_benchmarking(config):
        done = session_of(config).worker_skip
        keep = [
            item
            for item in items
            if "benchmark" in getattr(item, "fixturenames", ()) and not (_case(item) and _case(item).id in done)
        ]
        bench = session_of(config)
        bench.cases_left = Counter(_case(item).sweep for item in keep if _declared_to_run(bench, _case(item)))
        deselected = [item for item in items if item not in keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = keep


def pytest_runtestloop(session: pytest.Session):
    """The run's parent times nothing itself: its replicates run in worker processes (bench.harness.runner)."""
    bench = session_of(session.config)
    if not bench.run or session.config.option.collectonly:
        return None
    from .harness import runner

    selected = sorted({_case(item).row_key for item in session.items if _case(item)})
    runner.run(session, bench, options.worker_options(bench, session.config), selected)
    failed = [o for o in bench.outcomes if o["outcome"] in ("incorrect", "error", "timeout")]
    session.testsfailed += len(failed) + len(bench.incorrect)  # the run is saved all the same; its exit status says so
    return True


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from .suite.registry import GOLDEN, REFERENCE

    session = session_of(config)
    policy = session.policy.describe() if session.policy else session.worker_policy
    machine_info["autograd_bench"] = {
        **machine.describe({b.framework for b in session.backends}),
        "grid": session.grid_name,
        "activation": session.activation,
        "backends": [b.name for b in session.backends],
        # each backend's relations as measured: the report reads them from here, never from today's registry
        "backend_facts": {b.name: b.facts for b in session.backends},
        "reference": REFERENCE,
        "golden": GOLDEN,
        "replicates": session.replicates_run or session.replicates,
        "pilot_replicates": session.replicates,
        "budget_s": session.budget_s,
        "precision": session.precision,
        "time_account": session.time_account,
        "second_stage": session.second_stage,
        "noise": session.noise,
        "sweeps": session.sweeps,
        "order_seed": session.order_seed,
        "row_time_s": getattr(session, "row_time", None),
        "row_timeout_s": config.getoption("row_timeout"),
        "shard": list(session.shard) if session.shard else None,
        "thread_policy": policy,
        "warnings": session.warnings,
        "isolate": session.isolate,
        "run_id": session.run[0] if session.run else None,
    }


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A worker logs each row as it begins: the parent times it against --row-timeout."""
    case = _case(item)
    if case:
        bench = session_of(item.config)
        bench.cases_left[case.sweep] -= _declared_to_run(bench, case)
        bench.log({"kind": "start", **_cell(case)})
        bench.row_began = time.monotonic()


def _declared_to_run(bench: BenchSession, case: Case | None) -> bool:
    """A row the registry lets run (the others skip at once: they say nothing of a worker's pace)."""
    return case is not None and not case.backend.skip_reason(
        case.config.task, case.config.width, bench.grid_name == "full"
    )


def _cell(case) -> dict:
    c = case.config
    return {
        "case": case.id,
        "task": c.task,
        "config": c.id,
        "backend": case.backend.name,
        "replicate": case.replicate,
        "sweep": case.sweep,
        "network": c.network,
        "width": c.width,
        "depth": c.depth,
        "batch": c.batch,
        "dtype": c.dtype,
        "activation": c.activation,
        "steps": c.steps or None,
        "batch_size": c.batch_size,
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """A cell that was not timed is recorded with its outcome and reason (skipped, or error with
    the exception's message); the run goes on."""
    report = yield
    case = _case(item)
    bench = session_of(item.config)
    if case and report.when in ("setup", "call") and (report.skipped or report.failed):
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            outcome, reason = "skipped", reason.removeprefix("Skipped: ")
        else:
            outcome, reason = "error", (call.excinfo.exconly() if call.excinfo else str(report.longrepr))[-600:]
        record = {**_cell(case), "outcome": outcome, "reason": reason}
        bench.outcomes.append(record)
        bench.log({"kind": "outcome", **record})
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    """Environment warnings before the first row: on the terminal now, in the run's summary later."""
    bench = session_of(session.config)
    if bench.is_child or bench.worker is not None or not is_benchmarking(session.config):
        return
    bench.warnings += policy.environment_warnings(bench.threads, policy.blas_info())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in bench.warnings if reporter else ():
        reporter.write_line(f"warning: {line}", yellow=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the workers: compact the run's JSON, rename the run into place, then the report."""
    bench = session_of(session.config)
    skips = [o for o in bench.outcomes if o["outcome"] == "skipped"]
    if bench.is_child and skips:  # --isolate: the parent skips its row with the child's reason
        isolate.skip_file(Path(session.config.getoption("benchmark_json"))).write_text(skips[0]["reason"])
    if not bench.run:
        return
    run_id, staging = bench.run
    raw = staging / "benchmarks.json"
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    shutil.rmtree(staging / "workers", ignore_errors=True)  # their rows are in benchmarks.json now
    if interrupted or not raw.exists() or not json.loads(raw.read_text())["benchmarks"]:
        shutil.rmtree(staging, ignore_errors=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"benchmark run {run_id} not saved ({'interrupted' if interrupted else 'no results'})")
        if not interrupted and session.items:  # rows were asked for and no worker timed one: a failed run
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if session.config.getoption("benchmark_json") is not None:  # asked for a copy of the JSON elsewhere too
        shutil.copyfile(raw, session.config.getoption("benchmark_json"))

    from . import report

    # The measurements first: compacted and renamed into place before any table is made, so a
    # report that fails (or a kill during it) loses no timing; the report is rebuilt from them.
    report.compact_run(staging)
    results = session.config.getoption("results_dir")
    os.rename(staging, results / run_id)  # atomic; refuses to replace an existing run
    bench.saved = results / run_id
    started = time.perf_counter()
    try:
        report.write_report(bench.saved)
        report.record_report_time(bench.saved, time.perf_counter() - started)
    except Exception as exc:  # any failure: the run is saved, say how to rebuild its report
        bench.report_error = f"{type(exc).__name__}: {exc}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report.write_index(results)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    bench = session_of(config)
    if bench.warnings:
        terminalreporter.section("environment warnings")
        for line in bench.warnings:
            terminalreporter.write_line(line, yellow=True)
    if bench.saved:
        terminalreporter.section("results")
        if bench.report_error:
            terminalreporter.write_line(
                f"saved the measurements in {bench.saved}/ (benchmarks.json, samples.npz), but the report failed: "
                f"{bench.report_error}\nrebuild it with: python -m bench.report {bench.saved}",
                red=True,
            )
        else:
            terminalreporter.write_line(
                f"saved {bench.saved}/ (index.html, summary.md, benchmarks.csv.gz, benchmarks.json, samples.npz, plots)"
            )
