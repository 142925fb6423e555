"""The parent of a run: replicates in separate worker processes, one after another (as pyperf's
runner and its workers).

Differences between processes (memory placement, allocator and page state, thread placement,
library caches) and the machine's drift over minutes reach a ratio only if it is measured in
several processes spread over the run; rounds inside one process never see them. So
``pytest --benchmark-only`` does not time anything itself: it starts R workers in turn, each a
fresh ``pytest`` with the same options and ``--worker-replicate r``, which applies the run's
thread and allocator policy, times every (configuration, backend) once in its own shuffled order
(``bench.plan``; with several sweeps, once per sweep, and the row keeps its fastest sweep), and
writes each finished row to its log at once (``bench.worker_log``).

The parent follows each log: it shows progress (the replicate, timings done of all, time left),
ends a worker whose row runs past ``--row-timeout`` (the cell's outcome is ``timeout``) and
starts a new one for the rest of that replicate; a worker that crashes loses only the row it was
on (outcome ``error``). At the end the rows of every worker become one run's
``benchmarks.json``, every row saying its replicate, and every cell that was not timed saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from . import worker_log
from .session import BenchSession

POLL_S = 0.1

# The parent's options that a worker must not inherit: where results go (the parent saves the run).
PARENT_ONLY = ("--results-dir", "--benchmark-json", "--benchmark-save", "--benchmark-autosave", "--benchmark-save-data",
               "--benchmark-compare", "--benchmark-histogram", "--benchmark-cprofile-dump", "--replicates")  # fmt: skip
TAKES_VALUE = ("--results-dir", "--benchmark-json", "--benchmark-save", "--benchmark-compare",
               "--benchmark-histogram", "--replicates")  # fmt: skip


def without(args: list[str], names: tuple[str, ...], takes_value: tuple[str, ...]) -> list[str]:
    """``args`` minus the options ``names`` (and their values, where they take one)."""
    kept, skip_value = [], False
    for arg in args:
        name = arg.split("=")[0]
        if skip_value:
            skip_value = False
        elif name in names:
            skip_value = "=" not in arg and name in takes_value
        else:
            kept.append(arg)
    return kept


def worker_command(config: pytest.Config, replicate: int, log: Path, skip: Path) -> list[str]:
    args = without([str(a) for a in config.invocation_params.args], PARENT_ONLY, TAKES_VALUE)
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:  # no paths given: collect the benchmarks alone
        args.append(str(Path(__file__).parent))
    return [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", f"--worker-replicate={replicate}",
            f"--worker-log={log}", f"--worker-skip={skip}"]  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    """End a worker and everything it started (its --isolate children): its own process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_replicate(config: pytest.Config, bench: BenchSession, replicate: int, workdir: Path, total: int,
                  progress: Callable[[int, str], None]) -> None:  # fmt: skip
    """Every row of one replicate, in as many workers as it takes (a timeout or crash ends one)."""
    timeout = config.getoption("row_timeout")
    finished: set[str] = set()  # cases with a row or an outcome in this replicate
    for attempt in range(total + 1):
        if len(finished) >= total:  # the row that ended the last worker was this replicate's last
            return
        log, skip = workdir / f"p{replicate}-a{attempt}.jsonl", workdir / f"p{replicate}-a{attempt}.skip"
        skip.write_text("\n".join(sorted(finished)))
        with open(workdir / f"p{replicate}-a{attempt}.out", "w") as output:
            process = subprocess.Popen(worker_command(config, replicate, log, skip), cwd=config.rootpath,
                                       stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            reader, running, reason = worker_log.Reader(log), None, None
            try:
                while True:
                    exited = process.poll() is not None
                    for record in reader.new_records():
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
        if running is None and process.returncode in (0, 1, 5):  # 1: a row failed (its outcome says so); 5: none left
            return
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
        worker_log.append(workdir / f"p{replicate}-a{attempt}.jsonl", record)
        finished.add(case)
        progress(1, case)
    raise RuntimeError(f"replicate {replicate}: more workers failed than there are rows")


class Progress:
    """One terminal line now and then: replicate, timings (rows x sweeps) done of all, time left."""

    def __init__(self, write: Callable[[str], None], replicates: int, rows: int):
        self.write, self.replicates, self.rows = write, replicates, rows
        self.done, self.start, self.last = 0, time.monotonic(), 0.0
        self.replicate = 0

    def __call__(self, count: int, case: str) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= 5 or self.done == self.rows * self.replicates:
            self.last = now
            left = (now - self.start) / self.done * (self.rows * self.replicates - self.done)
            self.write(f"replicate {self.replicate + 1}/{self.replicates}: {self.done}/{self.rows * self.replicates} "
                       f"timings, about {int(left // 60)} min {int(left % 60):02d} s left")  # fmt: skip


def run(session: pytest.Session, bench: BenchSession) -> Path:
    """Every replicate in turn; then one ``benchmarks.json`` in the run's staging folder."""
    config = session.config
    run_id, staging = bench.run
    workdir = staging / "workers"
    workdir.mkdir()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = (lambda line: reporter.write_line(line)) if reporter else (lambda line: None)
    rows = len(session.items)
    write(f"benchmark run {run_id}: {bench.replicates} replicates x {rows // bench.sweeps} rows x {bench.sweeps} "
          "sweeps, each replicate a fresh process")  # fmt: skip
    progress = Progress(write, bench.replicates, rows)
    for replicate in range(bench.replicates):
        progress.replicate = replicate
        run_replicate(config, bench, replicate, workdir, rows, progress)
    return merge_workers(config, bench, workdir, staging / "benchmarks.json")


# A row's fields that come from its timing: a later, faster sweep brings its own.
TIMING_FIELDS = ("cpu_util", "rss_peak_bytes", "per_step_s", "forward_s", "grad_over_forward")


def keep_fastest_sweep(records: list[dict]) -> list[dict]:
    """One row per (configuration, backend, replicate): sweep 0's row (its checks, compile and
    memory) with the timing of its fastest sweep, and every sweep's median. A burst of the
    machine's noise slows a whole sweep of a row; two sweeps tens of seconds apart are rarely
    both hit, and noise only ever slows a call down (``timeit`` keeps the minimum for that reason)."""
    sweeps: dict[str, list[dict]] = {}
    for record in records:
        if record["kind"] == "sweep":
            sweeps.setdefault(record["row"], []).append(record)
    rows = []
    for record in records:
        if record["kind"] != "row":
            continue
        row = record["benchmark"]
        later = sorted(sweeps.get(record["case"], []), key=lambda r: r["sweep"])
        if later:
            timings = [(0, row)] + [(r["sweep"], r["benchmark"]) for r in later]
            medians = [timed["stats"]["median"] for _, timed in timings]
            sweep, best = min(timings, key=lambda pair: pair[1]["stats"]["median"])
            extra = {**row["extra_info"], "sweep": sweep, "sweep_medians": medians}
            extra.update({k: best["extra_info"][k] for k in TIMING_FIELDS if k in best["extra_info"]})
            row = {**row, "stats": best["stats"], "extra_info": extra}
        rows.append(row)
    return rows


def merge_workers(config: pytest.Config, bench: BenchSession, workdir: Path, out: Path) -> Path:
    records = [r for log in sorted(workdir.glob("*.jsonl")) for r in worker_log.read(log)]
    rows = keep_fastest_sweep(records)
    policies = [r["policy"] for r in records if r["kind"] == "policy"]
    bench.worker_policy = policies[-1] if policies else None  # the last: frameworks add their threads as they start
    bench.incorrect = [
        r["case"] for r in records if r["kind"] == "row" and r["benchmark"]["extra_info"]["outcome"] != "ok"
    ]
    # A later sweep that did not time its row leaves the row with the sweeps it has: a note, not the cell's outcome.
    bench.outcomes = [{k: v for k, v in r.items() if k != "kind"} for r in records
                      if r["kind"] == "outcome" and not r.get("sweep")]  # fmt: skip
    bench.warnings += [f"{r['case']}: {r['outcome']} in sweep {r['sweep']} ({r['reason'][:200]}); the row keeps its "
                       "other sweeps" for r in records
                       if r["kind"] == "outcome" and r.get("sweep") and r["outcome"] in ("error", "timeout")]  # fmt: skip
    machine_info = config.hook.pytest_benchmark_generate_machine_info(config=config)
    config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    import pytest_benchmark

    output = {"machine_info": machine_info, "commit_info": commit_info, "benchmarks": rows,
              "datetime": datetime.now(UTC).isoformat(), "version": pytest_benchmark.__version__,
              "autograd_bench_outcomes": bench.outcomes}  # fmt: skip
    out.write_text(json.dumps(output))
    return out
