"""The suite's command line: its options, checked into a ``BenchSession``, and what a worker is
handed of them (as pyperf's runner hands its workers explicit arguments, never its own command
line minus a deny-list). The plugin (``bench.plugin``) calls these from pytest's hooks.

Options: ``--grid``, ``--backends``, ``--replicates``, ``--budget``, ``--precision``,
``--order-seed``, ``--shard``, ``--threads``, ``--malloc``, ``--isolate``, ``--row-timeout``,
``--diag-budget-gib``, ``--activation``, ``--results-dir``; of pytest-benchmark's own,
``--benchmark-max-time`` (the time per row and sweep) and ``--benchmark-disable-gc``, while the
ones the suite's protocol replaces are refused with the option to use instead.
"""

from __future__ import annotations

import argparse
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

import reference_impl as ri

from ..suite import backends
from ..suite.grids import GRIDS
from ..suite.plan import WorkerPlan, parse_shard
from . import machine, policy
from .session import BenchSession

STAGING_PREFIX = ".incomplete-"  # a run being written (hidden: the index lists no dot-folder)


def add_options(parser: pytest.Parser) -> None:
    """The suite's options, in their own group of ``pytest --help``."""
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


def _given(config: pytest.Config, option: str) -> bool:
    args = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    return any(str(a).split("=")[0] == option for a in args)


def session_from_options(config: pytest.Config, benchmarking: bool) -> BenchSession:
    """The session of a run's parent (or of plain pytest) from its command line, every option
    checked: a bad one is a usage error naming it, before anything is timed or written."""
    option = config.getoption
    if benchmarking:
        for name, why in REFUSED_OPTIONS.items():
            if _given(config, name):
                raise pytest.UsageError(f"{name}: not used by this suite ({why}); see README's benchmark options")
    grid_name = option("grid") or ("default" if benchmarking else "smoke")
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
    bench = BenchSession(
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
        sweeps=grid.sweeps if benchmarking and not option("isolate_child") else 1,
    )
    if benchmarking:  # blocks of calls fill it (bench.harness.timing); pytest-benchmark keeps it as given, a string
        given = _given(config, "--benchmark-max-time") and hasattr(config.option, "benchmark_max_time")
        bench.row_time = float(config.option.benchmark_max_time) if given else grid.row_time
        if not bench.row_time > 0:
            raise pytest.UsageError("--benchmark-max-time: expected a positive number of seconds per row and sweep")
    if not benchmarking and hasattr(config.option, "benchmark_disable"):
        # Plain pytest: each benchmark body runs once, untimed, so a broken benchmark fails the tests.
        config.option.benchmark_disable = True
    if benchmarking and not option("isolate_child"):
        try:  # before any timing: a run that cannot be saved is refused, not measured and lost
            bench.run = new_run(option("results_dir"))
        except OSError as exc:
            raise pytest.UsageError(
                f"--results-dir: cannot create a run folder in {option('results_dir')} ({exc.strerror or exc})"
            ) from None
    return bench


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


def session_from_plan(config: pytest.Config, plan: WorkerPlan) -> BenchSession:
    """A worker (or an --isolate child of one): its session from its plan alone."""
    options = plan.options
    child = bool(config.getoption("isolate_child"))
    bench = BenchSession(
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
    return bench


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
