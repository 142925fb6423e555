"""pytest plugin of the benchmark suite (loaded with ``-p bench.plugin`` from pyproject.toml).

Options: ``--grid``, ``--backends``, ``--threads``, ``--malloc``, ``--isolate``,
``--diag-budget-gib``, ``--results-dir``. A ``pytest --benchmark-only`` run writes its raw JSON and the report into
``results/<run-id>/``: everything is written into a hidden staging folder first and renamed
into place at the end, so an interrupted run leaves no half-written table and never touches
an earlier run. Plain ``pytest`` runs every benchmark body once on the smoke grid, untimed.
"""

from __future__ import annotations

import argparse
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from . import backends, machine, policy
from .config import GRIDS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd benchmarks")
    group.addoption("--grid", choices=sorted(GRIDS), default=None,
                    help="configuration grid: smoke, default or full (plain pytest: smoke; --benchmark-only: default)")  # fmt: skip
    group.addoption("--backends", default=None,
                    help=f"comma-separated backends (default: all but opt-in ones); known: {', '.join(backends.REGISTRY)}")  # fmt: skip
    group.addoption("--threads", type=int, default=None, help="threads for every library (default: all usable cores)")
    group.addoption("--malloc", choices=policy.MALLOC_POLICIES, default="reuse",
                    help="glibc allocator policy for the whole process: reuse freed memory (default) or glibc's defaults")  # fmt: skip
    group.addoption("--isolate", action="store_true",
                    help="also run each backend's rows in a fresh subprocess per row and compare with the in-process times")  # fmt: skip
    group.addoption("--diag-budget-gib", type=float, default=2.0,
                    help="skip numpy-diag configurations whose diagonal Jacobians need more memory (GiB)")  # fmt: skip
    group.addoption("--results-dir", type=Path, default=Path("results"), help="where runs are saved")
    group.addoption("--isolate-child", action="store_true", help=argparse.SUPPRESS)  # set by --isolate only


def is_benchmarking(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_only", False))


def grid_name(config: pytest.Config) -> str:
    return config.getoption("grid") or ("default" if is_benchmarking(config) else "smoke")


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.bench_backends = backends.select(config.getoption("backends"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    usable = policy.available_cores()
    wanted = usable if config.getoption("threads") is None else config.getoption("threads")
    if not 1 <= wanted <= usable:
        raise pytest.UsageError(f"--threads: expected 1 to {usable} (the cores this process may use), got {wanted}")
    if config.getoption("diag_budget_gib") <= 0:
        raise pytest.UsageError("--diag-budget-gib: expected a positive number of GiB")
    config.bench_threads = wanted
    config.bench_skipped = []
    config.bench_policy = None
    config.bench_run_dir = None
    if not is_benchmarking(config) and hasattr(config.option, "benchmark_disable"):
        # Plain pytest: each benchmark body runs once, untimed, so a broken benchmark fails the tests.
        config.option.benchmark_disable = True
    if is_benchmarking(config) and not config.getoption("isolate_child"):
        config.bench_run_dir = new_run(config.getoption("results_dir"))
        if config.getoption("benchmark_json") is None:
            config.option.benchmark_json = config.bench_run_dir[1] / "benchmarks.json"


def new_run(results: Path) -> tuple[str, Path]:
    """A fresh run id (UTC time, machine tag, a counter if the second is taken) and its staging folder."""
    stamp = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{machine.machine_tag()}"
    results.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 100):
        run_id = stamp if attempt == 1 else f"{stamp}-{attempt}"
        staging = results / f".incomplete-{run_id}"
        if (results / run_id).exists():
            continue
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return run_id, staging
    raise RuntimeError(f"--results-dir: could not find a free run id for {stamp} in {results}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--benchmark-only: deselect the correctness tests instead of listing hundreds of skips."""
    if is_benchmarking(config):
        keep = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
        deselected = [item for item in items if "benchmark" not in getattr(item, "fixturenames", ())]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = keep


def process_policy(config: pytest.Config) -> policy.ProcessPolicy:
    """Applied once, before the first benchmark (and so before any JAX array of the run)."""
    if config.bench_policy is None:
        config.bench_policy = policy.apply(config.bench_threads, config.getoption("malloc"))
    return config.bench_policy


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["autograd_bench"] = {
        **machine.describe(),
        "grid": grid_name(config),
        "backends": [b.name for b in config.bench_backends],
        "thread_policy": config.bench_policy.describe() if config.bench_policy else None,
        "isolate": bool(config.getoption("isolate")),
        "run_id": config.bench_run_dir[0] if config.bench_run_dir else None,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    from . import isolate

    output_json["autograd_bench_skipped"] = config.bench_skipped
    isolation = config.bench_isolation_summary = isolate.summarize(benchmarks)
    if isolation is not None:
        output_json["machine_info"].setdefault("autograd_bench", {})["isolation"] = isolation


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Remember skipped rows with their reasons: the report lists them (they have no JSON row)."""
    report = yield
    case = getattr(item, "callspec", None) and item.callspec.params.get("bench_case")
    if case and report.skipped and report.when in ("setup", "call"):
        config, backend = case
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        item.config.bench_skipped.append({"config": config.id, "backend": backend.name, "width": config.width,
                                          "depth": config.depth, "batch": config.batch, "dtype": config.dtype,
                                          "reason": reason.removeprefix("Skipped: ")})  # fmt: skip
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After pytest-benchmark wrote the JSON: add the report and rename the run into place."""
    config = session.config
    if not config.bench_run_dir:
        return
    run_id, staging = config.bench_run_dir
    raw = Path(config.getoption("benchmark_json"))
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if interrupted or not raw.exists():
        shutil.rmtree(staging, ignore_errors=True)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"benchmark run {run_id} not saved ({'interrupted' if interrupted else 'no results'})")
        return
    if raw.parent != staging:
        shutil.copyfile(raw, staging / "benchmarks.json")

    from . import report

    report.write_report(staging / "benchmarks.json", staging)
    final = config.getoption("results_dir") / run_id
    os.rename(staging, final)  # atomic; refuses to replace an existing run
    report.write_index(config.getoption("results_dir"))
    config.bench_saved = final


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    saved = getattr(config, "bench_saved", None)
    summary = getattr(config, "bench_isolation_summary", None)
    if summary:
        terminalreporter.section("in-process vs isolated (median ratio per backend)")
        for name, row in summary["per_backend"].items():
            terminalreporter.write_line(f"{name:16s} {row['median_ratio']:.3f}  ({row['rows']} rows)")
    if saved:
        terminalreporter.section("results")
        terminalreporter.write_line(f"saved {saved}/ (benchmarks.json, benchmarks.csv, summary.md, plots)")
