"""The parent of a run: replicates in separate worker processes, one after another (as pyperf's
runner and its workers), within a wall-time budget spent where the intervals are widest.

Differences between processes (memory placement, allocator and page state, thread placement,
library caches) and the machine's drift over minutes reach a ratio only if it is measured in
several processes spread over the run; rounds inside one process never see them. So
``pytest --benchmark-only`` times nothing itself. It runs Stein's two stages (``stats``):

1. **The pilot**: ``--replicates`` workers in turn, each timing every row of the grid in its own
   shuffled order (``bench.suite.plan``), in up to the grid's sweeps, each row keeping its least
   disturbed sweep (``combine_sweeps``). The pilot has
   ``PILOT_SHARE`` of ``--budget``, split between its workers; a worker late for its share drops its
   last sweeps for every row alike (never sweep 0), so the pilot fits on a slower machine by repeating less inside
   each process. The first worker also calibrates every row's loop counts (handed to the later
   workers in their plans) and measures memory, the floor and the peak. From the pilot, the
   noise at each level (between sweeps, between processes) and each level's cost give Kalibera
   & Jones's sweeps per process (``noise_levels``).
2. **The second stage**, at least the rest of the budget: from the pilot alone, each cell gets the
   replicates its interval needs for ``--precision`` (``allocate``), as many as the rest of
   ``--budget`` affords; workers of those sweeps (never fewer than the pilot's) then time only the
   rows of the cells that still need replicates (and the reference's rows of those
   configurations), until every cell has its number or the budget is spent.

Each worker gets a ``WorkerPlan`` file and nothing else from the parent. The parent follows
each worker's log: it shows progress (replicate, timings done, time left), ends a worker whose
row runs past ``--row-timeout`` (the cell's outcome is ``timeout``) and starts a new one for the
rest of that replicate; a worker that crashes loses only the row it was on (outcome ``error``).
At the end the rows of every worker become one ``benchmarks.json``, with an account of where
the run's time went.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..suite.plan import WorkerPlan, plan
from . import worker_log
from .session import BenchSession

POLL_S = 0.1
ACCOUNT = (
    "start-up and imports",
    "prepare and compile",
    "warm-up",
    "timing",
    "memory, floor and peak",
    "checks and bookkeeping",
    "between workers",
    "report",
)


NARROWEST = 4  # the second stage aims at most this many times narrower than --precision
MEASURED_CELLS = 10  # a task's noise levels choose the second stage's sweeps once this many cells had two sweeps

# The pilot's part of --budget: the second stage always has the rest, at least a quarter, for the widest cells.
# Not a third: on the 2-core Zen 5 VM a warm process costs about 76 s, a later sweep 13 s, the first process's cold
# compiles about 100 s more, and with two thirds the second pilot process could afford only 1-2 of its 4 sweeps
# (its rows' intervals then the widest of the run); each sweep a pilot process keeps narrows every cell, while the
# second stage's extra processes reached a dozen of them.
PILOT_SHARE = 3 / 4

TASKS = Path(__file__).resolve().parents[1]  # bench/, where the four tasks pytest collects are


def worker_command(plan: WorkerPlan, plan_path: Path) -> list[str]:
    """A worker is pytest on the benchmark modules with its plan (and the plugins the run named):
    nothing else of the parent's command line."""
    plugins = [arg for name in plan.options.get("plugins", []) for arg in ("-p", name)]
    return [
        sys.executable,
        "-m",
        "pytest",
        str(TASKS),
        "-q",
        "-p",
        "no:cacheprovider",
        *plugins,
        "--benchmark-only",
        f"--worker={plan_path}",
    ]


def worker_environment(cache_dir: Path) -> dict:
    """Compile caches that outlive a worker: TensorFlow's XLA cache is read from the environment
    when TensorFlow loads (JAX's and numba's are set by their mirror modules from the plan;
    inductor's FX graph cache persists by itself)."""
    env = dict(os.environ)
    flag = f"--tf_xla_persistent_cache_directory={cache_dir / 'tensorflow'}"
    env["TF_XLA_FLAGS"] = f"{env.get('TF_XLA_FLAGS', '')} {flag}".strip()
    return env


def _stop(process: subprocess.Popen) -> None:
    """End a worker and everything it started (its --isolate children): its own process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def replicate_cases(bench: BenchSession, replicate: int, only: set[str] | None, sweeps: int | None = None) -> list:
    configs = bench.grid.configs(bench.activation)
    return plan(configs, bench.backends, bench.order_seed, replicate, bench.shard, sweeps or bench.sweeps, only)


class Account:
    """Where the run's wall time went, from the workers' own records (seconds per part)."""

    def __init__(self) -> None:
        self.parts = dict.fromkeys(ACCOUNT, 0.0)
        self.workers_s = 0.0
        self.fixed: dict[int, list[float]] = {}  # replicate -> each worker's seconds before its first row
        self.by_replicate: dict[int, dict[str, float]] = {}  # replicate -> part -> seconds

    def add_worker(self, replicate: int, started: float, ended: float, records: list[dict]) -> None:
        wall = ended - started
        self.workers_s += wall
        self.replicate = replicate
        stamped = [r["t"] for r in records if "t" in r]
        counted = 0.0
        if stamped:  # before its first record: interpreter, pytest, collection; after its last: exit
            counted += self._add("start-up and imports", min(stamped) - started + max(0.0, ended - max(stamped)))
        boot = min(stamped) - started if stamped else wall
        for record in records:
            if record["kind"] == "framework":
                counted += self._add("start-up and imports", record["seconds"])
                boot += record["seconds"]
            for part, seconds in record.get("phases", {}).items():
                counted += self._add(part, seconds)
        self.fixed.setdefault(replicate, []).append(boot)
        self._add("checks and bookkeeping", max(0.0, wall - counted))

    def _add(self, part: str, seconds: float) -> float:
        self.parts[part] += seconds
        mine = self.by_replicate.setdefault(self.replicate, {})
        mine[part] = mine.get(part, 0.0) + seconds
        return seconds

    def finish(self, elapsed: float) -> dict:
        """Seconds per part over the run, and per replicate (the pilot's first one compiles cold)."""
        self.parts["between workers"] = max(0.0, elapsed - self.workers_s)
        rounded = lambda parts: {part: round(seconds, 2) for part, seconds in parts.items()}  # noqa: E731
        return {**rounded(self.parts), "per replicate": {str(r): rounded(p) for r, p in self.by_replicate.items()}}


def run_replicate(
    config: pytest.Config,
    bench: BenchSession,
    template: WorkerPlan,
    workdir: Path,
    account: Account,
    progress: Callable[[int, str], None],
) -> list[dict]:
    """Every row of one replicate's plan, in as many workers as it takes (a timeout or crash
    ends one); returns the replicate's records."""
    timeout = config.getoption("row_timeout")
    replicate = template.replicate
    only = None if template.only is None else set(template.only)
    total = len(replicate_cases(bench, replicate, only, template.sweeps))
    finished: set[str] = set()  # cases with a row or an outcome in this replicate
    records: list[dict] = []
    for attempt in range(total + 1):
        if len(finished) >= total:  # the row that ended the last worker was this replicate's last
            return records
        stem = workdir / f"p{replicate}-a{attempt}"
        log = stem.with_suffix(".jsonl")
        worker = WorkerPlan(**{**template.__dict__, "log": str(log), "done": sorted(finished)})
        plan_path = worker.write(stem.with_suffix(".plan.json"))
        started = time.time()
        with open(stem.with_suffix(".out"), "w") as output:
            process = subprocess.Popen(
                worker_command(worker, plan_path),
                cwd=config.rootpath,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=worker_environment(Path(template.cache_dir)),
            )
            reader, running, reason = worker_log.Reader(log), None, None
            try:
                while True:
                    exited = process.poll() is not None
                    for record in reader.new_records():
                        records.append(record)
                        if record["kind"] == "start":
                            running = (record, time.monotonic())
                        elif record["kind"] in ("row", "sweep", "outcome"):
                            finished.add(record["case"])
                            running = None
                            progress(1, record["case"])
                    if exited:
                        break
                    if running and time.monotonic() - running[1] > timeout:
                        _stop(process)
                        reason = ("timeout", f"passed --row-timeout ({timeout:g} s): the worker was ended")
                        break
                    time.sleep(POLL_S)
            except BaseException:  # Ctrl-C, or anything else: never leave a worker behind
                _stop(process)
                raise
        account.add_worker(replicate, started, time.time(), worker_log.read(log))
        if running is None and process.returncode in (0, 1, 5):  # 1: a row failed (its outcome says so); 5: none left
            return records
        if running is None:  # died between rows: nothing is lost but the worker
            reason = reason or ("error", f"worker exited with status {process.returncode} between rows")
            if attempt > 0 and not reader.records_seen:
                raise RuntimeError(f"replicate {replicate}: the worker keeps failing to start; see {output.name}")
            continue
        cell, _ = running
        case = cell["case"]
        if reason is None:
            tail = Path(output.name).read_text()[-1500:]
            reason = ("error", f"the worker died (status {process.returncode}) on this row: {tail.strip()[-300:]}")
        record = {**cell, "kind": "outcome", "outcome": reason[0], "reason": reason[1]}
        worker_log.append(log, record)
        records.append(record)
        finished.add(case)
        progress(1, case)
    raise RuntimeError(f"replicate {replicate}: more workers failed than there are rows")


class Progress:
    """One terminal line now and then: replicate, timings done of the pilot's, time left in the budget."""

    def __init__(self, write: Callable[[str], None], pilot_timings: int, budget_s: float):
        self.write, self.pilot_timings, self.budget_s = write, pilot_timings, budget_s
        self.done, self.start, self.last = 0, time.monotonic(), 0.0
        self.label = ""

    def __call__(self, count: int, case: str) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= 5:
            self.last = now
            elapsed = now - self.start
            # The pilot's pace once a quarter of its first replicate is done (its first rows compile cold).
            steady = self.done >= self.pilot_timings / 12
            pilot_left = elapsed / self.done * max(0, self.pilot_timings - self.done) if steady else 0.0
            left = max(
                pilot_left, self.budget_s - elapsed
            )  # the pilot always ends; the second stage stops at the budget
            self.write(
                f"{self.label}: {self.done} timings done, about {int(left // 60)} min {int(left % 60):02d} s left"
            )


def row_frame(records: list[dict]) -> pd.DataFrame:
    """The timed rows of some workers' records: config, backend, task, replicate, outcome, median
    and each sweep's median."""
    rows = combine_sweeps(records)
    return pd.DataFrame(
        [
            {
                **{k: r["extra_info"][k] for k in ("config", "backend", "task", "replicate", "outcome")},
                "median": r["stats"]["median"],
                "sweep_medians": r["extra_info"].get("sweep_medians"),
            }
            for r in rows
            if r["extra_info"]["outcome"] == "ok"
        ]
    )


def row_costs(records: list[dict]) -> dict[str, float]:
    """Seconds each row took in a worker (all its sweeps, from its start record to its timing),
    the mean over the replicates given: what one more replicate of the row costs."""
    begun, spent = {}, {}
    for record in records:
        if record["kind"] == "start":
            begun[record["case"]] = record["t"]
        elif record["kind"] in ("row", "sweep") and record["case"] in begun:
            key = f"{record['config']}/{record['backend']}#{record['replicate']}"
            spent[key] = spent.get(key, 0.0) + record["t"] - begun[record["case"]]
    by_row: dict[str, list[float]] = {}
    for key, seconds in spent.items():
        by_row.setdefault(key.split("#")[0], []).append(seconds)
    return {row: float(np.mean(values)) for row, values in by_row.items()}


def allocate(
    rows: pd.DataFrame,
    reference: str,
    pilot: int,
    precision: float,
    most: int,
    costs: dict[str, float],
    worker_s: float,
    seconds: float,
) -> tuple[dict[str, int], float]:
    """Stein's second stage: replicates per cell (row key of the backend -> n in all), from the
    pilot alone, for one half-width h on the log scale: log(1 + precision), widened until the extra
    replicates fit in ``seconds``, or narrowed while they still fit (the budget then goes to the
    cells that need it most). Returns the allocation and h."""
    from .stats import moderated_variances, replicates_needed, speedup_logs

    cells = {}
    task_of = rows.groupby("config")["task"].first()
    for backend in sorted(set(rows["backend"]) - {reference}):
        logs = speedup_logs(rows, reference, backend)
        spread = moderated_variances(logs, task_of.reindex(logs.index), pilot)
        for config, (variance, df) in spread[["variance", "df"]].iterrows():
            cells[f"{config}/{backend}"] = (config, variance, df)
    if not cells:
        return {}, math.log1p(precision)

    def needs(h: float) -> dict[str, int]:
        return {key: replicates_needed(v, df, h, pilot, most) for key, (_, v, df) in cells.items()}

    def cost(need: dict[str, int]) -> float:
        total = 0.0
        for replicate in range(pilot, max(need.values())):
            keys = [key for key, n in need.items() if n > replicate]
            configs = {cells[key][0] for key in keys}
            total += worker_s + sum(costs.get(key, 0.0) for key in keys)
            total += sum(costs.get(f"{config}/{reference}", 0.0) for config in configs)
        return total

    h = math.log1p(precision)
    while cost(needs(h)) > seconds and h < 5:  # widen the aim until the second stage fits the budget
        h *= 1.05
    # Budget left over at the aim: narrow it while that still fits, so the rest goes to the widest cells.
    while h > math.log1p(precision) / NARROWEST and cost(needs(h / 1.05)) <= seconds:
        h /= 1.05
    return needs(h), h


def noise_levels(records: list[dict], frame: pd.DataFrame, account: Account, warm: int) -> dict[str, dict]:
    """Per task: where the noise of a speed-up is (the variance between sweeps inside a process and
    the process's own, ``stats.variance_components`` on every cell's per-sweep log speed-ups, each
    sweep's row over the reference's row of the same sweep; ``frame`` is ``row_frame(records)``),
    what each level costs here (a warm process's seconds outside its later sweeps, a sweep's
    seconds), and Kalibera & Jones's sweeps per process for them."""
    from ..suite.registry import REFERENCE
    from .stats import sweep_log_ratios, sweeps_per_process, variance_components

    values = sweep_log_ratios(frame, REFERENCE) if not frame.empty else pd.DataFrame(columns=["task"])
    # A warm process's later sweeps: seconds (start of the row to its record) and how many sweeps' worth of rows.
    later, sweeps_done, begun = {}, {}, {}
    first_rows = {
        r: sum(1 for x in records if x["kind"] == "row" and x["replicate"] == r) for r in account.by_replicate
    }
    for record in records:
        if record["kind"] == "start":
            begun[record["case"]] = record["t"]
        elif record["kind"] == "sweep" and record["case"] in begun and record["replicate"] >= warm:
            r = record["replicate"]
            later[r] = later.get(r, 0.0) + record["t"] - begun[record["case"]]
            sweeps_done[r] = sweeps_done.get(r, 0.0) + 1 / max(1, first_rows.get(r, 1))
    sweep_s = float(np.mean([later[r] / sweeps_done[r] for r in later])) if later else np.nan
    walls = {r: sum(parts.values()) for r, parts in account.by_replicate.items() if r >= warm}
    # What a process costs besides its sweeps: its wall time less every sweep it timed (sweep 0 included).
    process_s = (
        float(np.mean([walls[r] - (1 + sweeps_done.get(r, 0.0)) * sweep_s for r in walls]))
        if walls and np.isfinite(sweep_s)
        else np.nan
    )
    out = {}
    for task, part in values.groupby("task"):
        levels = variance_components(part)
        out[task] = {
            "cells": int(levels["swept_cells"]),
            "within_sd": math.sqrt(levels["within"]) if np.isfinite(levels["within"]) else None,
            "between_sd": math.sqrt(levels["between"]) if np.isfinite(levels["between"]) else None,
            "sweeps": round(levels["sweeps"], 2),
            "process_s": round(process_s, 1) if np.isfinite(process_s) else None,
            "sweep_s": round(sweep_s, 1) if np.isfinite(sweep_s) else None,
            "optimal_sweeps": sweeps_per_process(levels["within"], levels["between"], process_s, sweep_s),
        }
    return out


def rows_for(need: dict[str, int], replicate: int, reference: str) -> set[str]:
    """The row keys replicate ``replicate`` times: every cell still short of its n, and the
    reference's row of each of their configurations."""
    keys = {key for key, n in need.items() if n > replicate}
    return keys | {f"{key.rsplit('/', 1)[0]}/{reference}" for key in keys}


def calibration_of(records: list[dict]) -> dict[str, list[int]]:
    """Each row's loop counts as the first replicate calibrated them: handed to the later workers."""
    return {f"{r['config']}/{r['backend']}": r["calibration"] for r in records if r.get("calibration")}


def run(session: pytest.Session, bench: BenchSession, options: dict, selected: list[str]) -> Path:
    """The pilot, then the second stage within the budget; then one ``benchmarks.json`` in the
    run's staging folder. ``options`` are the run's options a worker needs (each goes into its
    plan); ``selected`` the row keys pytest collected (a ``-k`` selection names fewer)."""
    from ..suite.registry import REFERENCE

    config = session.config
    run_id, staging = bench.run
    workdir = staging / "workers"
    cache_dir = workdir / "cache"
    cache_dir.mkdir(parents=True)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = (lambda line: reporter.write_line(line)) if reporter else (lambda line: None)
    rows = len(session.items)
    write(
        f"benchmark run {run_id}: a pilot of {bench.replicates} replicates x {rows // bench.sweeps} rows x "
        f"{bench.sweeps} sweeps, each a fresh process; then more replicates where the intervals are widest, "
        f"within a budget of {bench.budget_s:g} s"
    )
    start, account = time.monotonic(), Account()
    progress = Progress(write, bench.replicates * rows, bench.budget_s)
    everything = {case.row_key for case in replicate_cases(bench, 0, None)}
    template = WorkerPlan(
        replicate=0,
        order_seed=bench.order_seed,
        sweeps=bench.sweeps,
        options=options,
        log="",
        facts=True,
        cache_dir=str(cache_dir),
        only=None if set(selected) == everything else selected,
    )  # a -k selection: these rows only
    records: list[dict] = []
    for replicate in range(bench.replicates):
        progress.label = f"pilot replicate {replicate + 1}/{bench.replicates}"
        # Each pilot worker's share of the pilot's part of the budget: it drops later sweeps to keep it.
        allowance = (PILOT_SHARE * bench.budget_s - (time.monotonic() - start)) / (bench.replicates - replicate)
        template = WorkerPlan(
            **{
                **template.__dict__,
                "replicate": replicate,
                "facts": replicate == 0,
                "allowance_s": max(0.0, allowance),
                "sharing": bench.replicates - replicate,
            }
        )
        found = run_replicate(config, bench, template, workdir, account, progress)
        records += found
        if replicate == 0:
            template.calibration = calibration_of(found)
    bench.replicates_run = bench.replicates
    warm = min(1, bench.replicates - 1)  # from the second replicate on, compile caches are warm
    costs = row_costs([r for r in records if r.get("replicate", 0) >= warm])
    fixed = [s for r, found in account.fixed.items() if r >= warm for s in found] or [0.0]
    left = bench.budget_s - (time.monotonic() - start)
    frame = row_frame(records)
    bench.noise = noise_levels(records, frame, account, warm)
    if bench.replicates >= 2 and not frame.empty and left > 0:
        # The second stage's processes: Kalibera & Jones's sweeps for the machine's measured levels,
        # never fewer than the pilot's (so the pilot's variance of a process mean bounds theirs).
        measured = [n["optimal_sweeps"] for n in bench.noise.values() if n["cells"] >= MEASURED_CELLS]
        sweeps = max(bench.sweeps, min(measured, default=bench.sweeps))
        need, h = allocate(
            frame,
            REFERENCE,
            bench.replicates,
            bench.precision,
            bench.max_replicates,
            {key: cost * sweeps / bench.sweeps for key, cost in costs.items()},
            float(np.mean(fixed)),
            left,
        )
        stage = {
            "sweeps": sweeps,
            "aim_half_width": round(math.expm1(h), 4),
            "cells": len(need),
            "replicates_needed": {str(n): int(c) for n, c in pd.Series(need).value_counts().sort_index().items()},
        }
        for replicate in range(bench.replicates, max(need.values(), default=0)):
            only = rows_for(need, replicate, REFERENCE)
            estimate = float(np.mean(fixed)) + sum(costs.get(key, 0.0) for key in only) * sweeps / bench.sweeps
            if time.monotonic() - start + estimate > bench.budget_s:
                stage["stopped"] = f"before replicate {replicate + 1}: the budget would be exceeded"
                break
            progress.label = f"replicate {replicate + 1} ({len(only)} rows)"
            if template.only is not None:
                only &= set(template.only)
            template = WorkerPlan(
                **{
                    **template.__dict__,
                    "replicate": replicate,
                    "facts": False,
                    "only": sorted(only),
                    "sweeps": sweeps,
                    "allowance_s": bench.budget_s - (time.monotonic() - start),
                    "sharing": 1,
                }
            )
            records += run_replicate(config, bench, template, workdir, account, progress)
            bench.replicates_run = replicate + 1
        bench.second_stage = stage
    bench.time_account = account.finish(time.monotonic() - start)
    return merge_workers(config, bench, records, staging / "benchmarks.json")


def combine_sweeps(records: list[dict]) -> list[dict]:
    """One row per (configuration, backend, replicate): sweep 0's row (its checks, compile and
    memory) with the timing of the row's fastest sweep, and every sweep's median recorded
    (``sweep_medians``: the noise levels are measured from them).

    Why the fastest: on the shared VMs measured, a burst of the machine's noise slows a few
    consecutive rows 30 % to 3x for a second or so, whatever their library, and it hits a third
    of a noisy row's sweeps or more; a row left alone by the machine is within 1-2 % of itself
    seconds apart. So each process's value of a row is its least disturbed sweep, the same rule
    for the reference and every backend, sweeps seconds to tens of seconds apart. Measured on a
    2-core Zen 5 VM, 3 processes of 3 sweeps: the SD of a process's log speed-up, median over
    gradient cells, was 0.081 from one sweep, 0.048 keeping one sweep per configuration (the
    block's fastest together) and 0.028 keeping each row's fastest (90th percentile 0.21, 0.13
    and 0.09). The price: a backend that is disturbed more often than the reference (a
    multi-threaded framework on a VM whose vCPUs are taken now and then) is shown at its
    undisturbed speed, 2-10 % above the median of its sweeps; ``sweep_medians`` keeps them all."""
    sweeps: dict[str, list[dict]] = {}
    for record in records:
        if record["kind"] == "sweep":
            sweeps.setdefault(record["row"], []).append(record)
    out = []
    for r in (r for r in records if r["kind"] == "row"):
        row = r["benchmark"]
        timed = [row] + [s["benchmark"] for s in sorted(sweeps.get(r["case"], []), key=lambda s: s["sweep"])]
        if len(timed) > 1:
            medians = [t["stats"]["median"] for t in timed]
            sweep = int(np.argmin(medians))
            best = timed[sweep]
            extra = {**row["extra_info"], "sweep": sweep, "sweep_medians": medians}
            extra.update({k: best["extra_info"][k] for k in TIMING_FIELDS if k in best["extra_info"]})
            row = {**row, "stats": best["stats"], "extra_info": extra}
        out.append(row)
    return out


# A row's fields that come from its timing: the chosen sweep brings its own.
TIMING_FIELDS = ("cpu_util", "rss_peak_bytes", "faults_per_call", "per_step_s", "forward_s", "grad_over_forward")


def merge_workers(config: pytest.Config, bench: BenchSession, records: list[dict], out: Path) -> Path:
    rows = combine_sweeps(records)
    policies = [r["policy"] for r in records if r["kind"] == "policy"]
    bench.worker_policy = policies[-1] if policies else None  # the last: frameworks add their threads as they start
    bench.incorrect = [
        r["case"] for r in records if r["kind"] == "row" and r["benchmark"]["extra_info"]["outcome"] != "ok"
    ]
    # A later sweep that did not time its row leaves the row with the sweeps it has: a note, not the cell's outcome.
    bench.outcomes = [
        {k: v for k, v in r.items() if k not in ("kind", "t")}
        for r in records
        if r["kind"] == "outcome" and not r.get("sweep")
    ]
    bench.warnings += [
        f"{r['case']}: {r['outcome']} in sweep {r['sweep']} ({r['reason'][:200]}); the row keeps its other sweeps"
        for r in records
        if r["kind"] == "outcome" and r.get("sweep") and r["outcome"] in ("error", "timeout")
    ]
    machine_info = config.hook.pytest_benchmark_generate_machine_info(config=config)
    config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    import pytest_benchmark

    output = {
        "machine_info": machine_info,
        "commit_info": commit_info,
        "benchmarks": rows,
        "datetime": datetime.now(UTC).isoformat(),
        "version": pytest_benchmark.__version__,
        "autograd_bench_outcomes": bench.outcomes,
    }
    out.write_text(json.dumps(output))
    return out
