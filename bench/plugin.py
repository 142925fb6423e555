"""pytest plugin of the benchmark suite (loaded with ``-p bench.plugin`` from pyproject.toml).

Options: ``--grid``, ``--backends``, ``--replicates``, ``--budget``, ``--precision``,
``--order-seed``, ``--shard``, ``--threads``, ``--malloc``, ``--isolate``, ``--row-timeout``,
``--diag-budget-gib``, ``--activation``, ``--results-dir``; of pytest-benchmark's own,
``--benchmark-max-time`` (the time per row and sweep) and ``--benchmark-disable-gc``, while the
ones the suite's protocol replaces are refused with the option to use instead. The session's
state is one ``BenchSession`` in pytest's stash; a worker builds it from the plan its parent
handed it (``--worker PLAN``) and from nothing else. A ``pytest --benchmark-only`` run
writes its raw JSON and the report into ``results/<run-id>/``: everything is written into a
hidden staging folder first and renamed into place at the end, so an interrupted run leaves no
half-written table and never touches an earlier run. Plain ``pytest`` runs every benchmark body
once on the smoke grid, untimed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import reference_impl as ri

from .harness import isolate, machine, policy
from .harness.session import BenchSession
from .suite import backends
from .suite.grids import GRIDS
from .suite.plan import Case, WorkerPlan, parse_shard

STAGING_PREFIX = ".incomplete-"  # a run being written (hidden: the index lists no dot-folder)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd benchmarks")
    group.addoption(
        "--grid",
        choices=sorted(GRIDS),
        default=None,
        help="configuration grid: smoke, default or full (plain pytest: smoke; --benchmark-only: default)",
    )
    group.addoption(
        "--backends",
        default=None,
        help=f"comma-separated backends (default: all but opt-in ones); known: {', '.join(backends.REGISTRY)}",
    )
    group.addoption(
        "--replicates",
        type=int,
        default=None,
        help="the pilot: worker processes, one after another, each timing every row (default: the grid's)",
    )
    group.addoption(
        "--budget",
        type=float,
        default=None,
        metavar="S",
        help="wall-time budget of the benchmarking in seconds: after the pilot, further replicates go to "
        "the cells with the widest intervals until it is spent (default: the grid's)",
    )
    group.addoption(
        "--precision",
        type=float,
        default=None,
        metavar="H",
        help="the interval half-width the further replicates aim for, e.g. 0.08 for ±8 %% (default: the grid's)",
    )
    group.addoption(
        "--order-seed", type=int, default=None, help="seed of the shuffled row order (default: a new one, recorded)"
    )
    group.addoption(
        "--shard", default=None, metavar="K/N", help="run the K-th of N parts of the grid (whole configurations)"
    )
    group.addoption("--threads", type=int, default=None, help="threads for every library (default: all usable cores)")
    group.addoption(
        "--malloc",
        choices=policy.MALLOC_POLICIES,
        default="default",
        help="glibc allocator policy: default (as a user's process has it) or reuse (freed memory kept)",
    )
    group.addoption(
        "--isolate",
        action="store_true",
        help="also time each row in a fresh subprocess of its own and compare with the in-process time",
    )
    group.addoption(
        "--row-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="hard limit in seconds on one row of a worker (and of an --isolate child): past it the "
        "worker is ended, the cell's outcome is timeout and the run goes on (default 300)",
    )
    group.addoption(
        "--diag-budget-gib",
        type=float,
        default=2.0,
        help="numpy-diag refuses configurations whose diagonal Jacobians need more memory (GiB)",
    )
    group.addoption("--activation", choices=sorted(ri.ACTIVATIONS), default="tanh", help="activation of every layer")
    group.addoption("--results-dir", type=Path, default=Path("results"), help="where runs are saved")
    group.addoption("--isolate-child", action="store_true", help=argparse.SUPPRESS)  # set by --isolate only
    # Set by the run's parent (bench.harness.runner) on its workers only: the worker's whole plan.
    group.addoption("--worker", type=Path, default=None, help=argparse.SUPPRESS)


# pytest-benchmark's options that the suite's protocol replaces: refused, naming what to use instead.
REFUSED_OPTIONS = {
    "--benchmark-min-rounds": "the suite times blocks of calls filling --benchmark-max-time (bench/harness/timing.py)",
    "--benchmark-min-time": "a block of calls is at least 1 ms (bench/harness/timing.py); a row's time is "
    "--benchmark-max-time",
    "--benchmark-warmup": "every row is warmed up by the suite's own rule (bench/harness/measure.py)",
    "--benchmark-warmup-iterations": "every row is warmed up by the suite's own rule (bench/harness/measure.py)",
    "--benchmark-calibration-precision": "the suite calibrates blocks of at least 1 ms (bench/harness/timing.py)",
    "--benchmark-timer": "one timer, time.perf_counter, times the gradient, the forward pass and the floor alike",
}

SESSION = pytest.StashKey[BenchSession]()  # the one place this session's state lives


def session_of(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION]


def is_benchmarking(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", False))


def _given(config: pytest.Config, option: str) -> bool:
    args = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    return any(str(a).split("=")[0] == option for a in args)


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its options (its configure is trylast)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("worker") is not None:
        return configure_worker(config, WorkerPlan.read(config.getoption("worker")))
    option = config.getoption
    if is_benchmarking(config):
        for name, why in REFUSED_OPTIONS.items():
            if _given(config, name):
                raise pytest.UsageError(f"{name}: not used by this suite ({why}); see README's benchmark options")
    grid_name = option("grid") or ("default" if is_benchmarking(config) else "smoke")
    grid = GRIDS[grid_name]
    try:
        chosen = backends.select(option("backends"), include_opt_in=grid_name == "full")  # full: every backend
        shard = parse_shard(option("shard"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    notes = []
    if not any(b.reference for b in chosen):  # every speed-up is measured against it, in the same run
        chosen.insert(0, backends.REGISTRY[backends.REFERENCE])
        notes.append(f"{backends.REFERENCE} added to --backends: every speed-up is measured against it")
    if option("backends") is not None:  # asked for by name: a missing framework is refused now, not row by row
        missing = [f"{b.name} ({reason})" for b in chosen if (reason := backends.framework_not_installed(b))]
        if missing:
            raise pytest.UsageError(f"--backends: not installed here: {', '.join(missing)}")
    usable = policy.available_cores()
    threads = usable if option("threads") is None else option("threads")
    if not 1 <= threads <= usable:
        raise pytest.UsageError(f"--threads: expected 1 to {usable} (the cores this process may use), got {threads}")
    if option("row_timeout") <= 0:
        raise pytest.UsageError(f"--row-timeout: expected a positive number of seconds, got {option('row_timeout')}")
    if option("diag_budget_gib") <= 0:
        raise pytest.UsageError("--diag-budget-gib: expected a positive number of GiB")
    replicates = grid.replicates if option("replicates") is None else option("replicates")
    if replicates < 1:
        raise pytest.UsageError(f"--replicates: expected a positive integer, got {replicates}")
    budget = grid.budget_s if option("budget") is None else option("budget")
    if not budget > 0:
        raise pytest.UsageError(f"--budget: expected a positive number of seconds, got {option('budget')}")
    precision = grid.precision if option("precision") is None else option("precision")
    if not 0 < precision < 1:
        raise pytest.UsageError(f"--precision: expected a half-width between 0 and 1 (0.08 is ±8 %), got {precision}")
    seed = option("order_seed") if option("order_seed") is not None else random.SystemRandom().randrange(2**31)
    config.stash[SESSION] = BenchSession(
        grid_name,
        grid,
        option("activation"),
        chosen,
        replicates,
        seed,
        shard,
        threads,
        option("malloc"),
        int(option("diag_budget_gib") * 2**30),
        option("isolate"),
        option("isolate_child"),
        option("backends") is not None,
        warnings=notes,
        budget_s=budget,
        precision=precision,
        max_replicates=max(replicates, grid.max_replicates),
        sweeps=grid.sweeps if is_benchmarking(config) and not option("isolate_child") else 1,
    )
    if is_benchmarking(
        config
    ):  # blocks of calls fill it (bench.harness.timing); pytest-benchmark keeps it as given, a string
        given = _given(config, "--benchmark-max-time") and hasattr(config.option, "benchmark_max_time")
        session_of(config).row_time = float(config.option.benchmark_max_time) if given else grid.row_time
        if not session_of(config).row_time > 0:
            raise pytest.UsageError("--benchmark-max-time: expected a positive number of seconds per row and sweep")
    if not is_benchmarking(config) and hasattr(config.option, "benchmark_disable"):
        # Plain pytest: each benchmark body runs once, untimed, so a broken benchmark fails the tests.
        config.option.benchmark_disable = True
    if is_benchmarking(config) and not option("isolate_child"):
        session = session_of(config)
        try:  # before any timing: a run that cannot be saved is refused, not measured and lost
            session.run = new_run(option("results_dir"))
        except OSError as exc:
            raise pytest.UsageError(
                f"--results-dir: cannot create a run folder in {option('results_dir')} ({exc.strerror or exc})"
            ) from None


def worker_options(bench: BenchSession, config: pytest.Config) -> dict:
    """The run's options a worker needs, as the parent parsed them: they go into its plan."""
    return {
        "grid": bench.grid_name,
        "activation": bench.activation,
        "backends": [b.name for b in bench.backends],
        "shard": list(bench.shard) if bench.shard else None,
        "threads": bench.threads,
        "malloc": bench.malloc,
        "diag_budget_bytes": bench.diag_budget_bytes,
        "isolate": bench.isolate,
        "row_time": bench.row_time,
        "row_timeout": config.getoption("row_timeout"),
        "plugins": plugins_given(config),
        "disable_gc": bool(getattr(config.option, "benchmark_disable_gc", False)),
    }


def plugins_given(config: pytest.Config) -> list[str]:
    """Plugins named with ``-p`` on the run's command line (the test suite's injected faults):
    a worker loads them too. ``no:...`` switches are the parent's business."""
    args, named = [str(a) for a in config.invocation_params.args], []
    for i, arg in enumerate(args):
        name = args[i + 1] if arg == "-p" and i + 1 < len(args) else arg[2:] if arg.startswith("-p") else None
        if name and not name.startswith("no:") and name != "bench.plugin":
            named.append(name)
    return named


def configure_worker(config: pytest.Config, plan: WorkerPlan) -> None:
    """A worker (or an --isolate child of one): its session from its plan alone."""
    options = plan.options
    child = bool(config.getoption("isolate_child"))
    config.stash[SESSION] = BenchSession(
        options["grid"],
        GRIDS[options["grid"]],
        options["activation"],
        [backends.REGISTRY[name] for name in options["backends"]],
        plan.replicate + 1,
        plan.order_seed,
        tuple(options["shard"]) if options["shard"] else None,
        options["threads"],
        options["malloc"],
        options["diag_budget_bytes"],
        options["isolate"],
        child,
        True,
        row_time=options["row_time"],
        sweeps=1 if child else plan.sweeps,
        worker=plan,
        worker_log=None if child else Path(plan.log),
        worker_skip=frozenset(plan.done),
    )
    config.option.benchmark_disable_gc = options["disable_gc"]
    config.option.benchmark_max_time = options["row_time"]


def new_run(results: Path) -> tuple[str, Path]:
    """A fresh run id (UTC time, machine tag, a counter if the second is taken) and its staging folder."""
    stamp = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{machine.machine_tag()}"
    results.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 100):
        run_id = stamp if attempt == 1 else f"{stamp}-{attempt}"
        staging = results / f"{STAGING_PREFIX}{run_id}"
        if (results / run_id).exists():
            continue
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return run_id, staging
    raise RuntimeError(f"--results-dir: could not find a free run id for {stamp} in {results}")


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
    runner.run(session, bench, worker_options(bench, session.config), selected)
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
        session_of(item.config).log({"kind": "start", **_cell(case)})


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
