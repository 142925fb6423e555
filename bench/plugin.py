"""pytest plugin of the benchmark suite (loaded with ``-p bench.plugin`` from pyproject.toml).

Options: ``--grid``, ``--backends``, ``--rounds``, ``--order-seed``, ``--shard``, ``--threads``,
``--malloc``, ``--isolate``, ``--diag-budget-gib``, ``--activation``, ``--results-dir``. The
session's state is one ``BenchSession`` in pytest's stash. A ``pytest --benchmark-only`` run
writes its raw JSON and the report into ``results/<run-id>/``: everything is written into a
hidden staging folder first and renamed into place at the end, so an interrupted run leaves no
half-written table and never touches an earlier run. Plain ``pytest`` runs every benchmark body
once on the smoke grid, untimed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import reference_impl as ri

from . import backends, isolate, machine, policy
from .config import GRIDS
from .plan import parse_shard
from .session import BenchSession

STAGING_PREFIX = ".incomplete-"  # a run being written (hidden: the index lists no dot-folder)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd benchmarks")
    group.addoption("--grid", choices=sorted(GRIDS), default=None,
                    help="configuration grid: smoke, default or full (plain pytest: smoke; --benchmark-only: default)")  # fmt: skip
    group.addoption("--backends", default=None,
                    help=f"comma-separated backends (default: all but opt-in ones); known: {', '.join(backends.REGISTRY)}")  # fmt: skip
    group.addoption(
        "--rounds",
        type=int,
        default=None,
        help="times every (configuration, backend) row is timed (default: the grid's)",
    )
    group.addoption(
        "--order-seed", type=int, default=None, help="seed of the shuffled row order (default: a new one, recorded)"
    )
    group.addoption(
        "--shard", default=None, metavar="K/N", help="run the K-th of N parts of the grid (whole configurations)"
    )
    group.addoption("--threads", type=int, default=None, help="threads for every library (default: all usable cores)")
    group.addoption("--malloc", choices=policy.MALLOC_POLICIES, default="default",
                    help="glibc allocator policy: default (as a user's process has it) or reuse (freed memory kept)")  # fmt: skip
    group.addoption("--isolate", action="store_true",
                    help="also time each row in a fresh subprocess of its own and compare with the in-process time")  # fmt: skip
    group.addoption("--row-timeout", type=float, default=300.0, metavar="S",
                    help="hard limit in seconds on one row in a subprocess (--isolate): past it the row fails")  # fmt: skip
    group.addoption("--diag-budget-gib", type=float, default=2.0,
                    help="numpy-diag refuses configurations whose diagonal Jacobians need more memory (GiB)")  # fmt: skip
    group.addoption("--activation", choices=sorted(ri.ACTIVATIONS), default="tanh", help="activation of every layer")
    group.addoption("--results-dir", type=Path, default=Path("results"), help="where runs are saved")
    group.addoption("--isolate-child", action="store_true", help=argparse.SUPPRESS)  # set by --isolate only


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
    option = config.getoption
    grid_name = option("grid") or ("default" if is_benchmarking(config) else "smoke")
    grid = GRIDS[grid_name]
    try:
        chosen = backends.select(option("backends"))
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
    rounds = grid.rounds if option("rounds") is None else option("rounds")
    if rounds < 1:
        raise pytest.UsageError(f"--rounds: expected a positive integer, got {rounds}")
    seed = option("order_seed") if option("order_seed") is not None else random.SystemRandom().randrange(2**31)
    config.stash[SESSION] = BenchSession(
        grid_name, grid, option("activation"), chosen, rounds, seed, shard, threads, option("malloc"),
        int(option("diag_budget_gib") * 2**30), option("isolate"), option("isolate_child"), option("backends") is not None,
        warnings=notes,
    )  # fmt: skip
    if is_benchmarking(config) and hasattr(config.option, "benchmark_max_time"):
        if not _given(config, "--benchmark-max-time"):
            config.option.benchmark_max_time = grid.row_time  # the grid's time per row and round
        if not _given(config, "--benchmark-min-time"):
            config.option.benchmark_min_time = 0.001  # per sample: at most 80 samples a row, every one kept
        if not _given(config, "--benchmark-min-rounds"):
            config.option.benchmark_min_rounds = 3  # slow rows: 3 samples a round, rounds x R in all
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
        if option("benchmark_json") is None:
            config.option.benchmark_json = session.run[1] / "benchmarks.json"


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--benchmark-only: deselect the correctness tests instead of listing hundreds of skips."""
    if is_benchmarking(config):
        keep = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
        deselected = [item for item in items if "benchmark" not in getattr(item, "fixturenames", ())]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = keep


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    session = session_of(config)
    machine_info["autograd_bench"] = {
        **machine.describe(),
        "grid": session.grid_name,
        "activation": session.activation,
        "backends": [b.name for b in session.backends],
        "rounds": session.rounds,
        "order_seed": session.order_seed,
        "shard": list(session.shard) if session.shard else None,
        "thread_policy": session.policy.describe() if session.policy else None,
        "warnings": session.warnings,
        "isolate": session.isolate,
        "run_id": session.run[0] if session.run else None,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    output_json["autograd_bench_skipped"] = session_of(config).skipped


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Remember skipped rows with their reasons: the report lists them (they have no JSON row)."""
    report = yield
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    if case and report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        c = case.config
        session_of(item.config).skipped.append({
            "task": c.task, "config": c.id, "backend": case.backend.name, "round": case.round, "width": c.width,
            "depth": c.depth, "batch": c.batch, "dtype": c.dtype, "reason": reason.removeprefix("Skipped: ")})  # fmt: skip
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    """Environment warnings before the first row: on the terminal now, in the run's summary later."""
    bench = session_of(session.config)
    if bench.is_child or not is_benchmarking(session.config):
        return
    bench.warnings += policy.environment_warnings(bench.threads, policy.blas_info())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in bench.warnings if reporter else ():
        reporter.write_line(f"warning: {line}", yellow=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After pytest-benchmark wrote the JSON: compact it, add the report, rename the run into place."""
    bench = session_of(session.config)
    if bench.is_child and bench.skipped:  # --isolate: the parent skips its row with the child's reason
        isolate.skip_file(Path(session.config.getoption("benchmark_json"))).write_text(bench.skipped[0]["reason"])
    if not bench.run:
        return
    run_id, staging = bench.run
    raw = Path(session.config.getoption("benchmark_json"))
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if interrupted or not raw.exists():
        shutil.rmtree(staging, ignore_errors=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"benchmark run {run_id} not saved ({'interrupted' if interrupted else 'no results'})")
        return
    if raw.parent != staging:
        shutil.copyfile(raw, staging / "benchmarks.json")

    from . import report

    # The measurements first: compacted and renamed into place before any table is made, so a
    # report that fails (or a kill during it) loses no timing; the report is rebuilt from them.
    report.compact_run(staging)
    results = session.config.getoption("results_dir")
    os.rename(staging, results / run_id)  # atomic; refuses to replace an existing run
    bench.saved = results / run_id
    try:
        report.write_report(bench.saved)
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
