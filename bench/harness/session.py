"""The state of one benchmark session: options as parsed, the process policy, the configuration
being timed (its data and reference, one configuration at a time), and, in a worker, its log."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import reference_impl as ri

from ..suite import backends
from ..suite.grids import Config, Grid, make_problem, upcast
from ..suite.plan import Case, WorkerPlan, plan
from . import policy, worker_log


@dataclass
class ConfigData:
    """Data of the configuration being timed, shared by its backends (one configuration at a time)."""

    config: Config
    problem: object
    reference: object = None  # float64 numpy-hadamard gradients or trained parameters


@dataclass
class BenchSession:
    grid_name: str
    grid: Grid
    activation: str
    backends: list[backends.Backend]
    replicates: int  # the pilot: replicates that time every row
    order_seed: int
    shard: tuple[int, int] | None
    threads: int
    malloc: str
    diag_budget_bytes: int
    isolate: bool
    is_child: bool  # an --isolate child: times one row
    named_backends: bool  # --backends given: a missing framework is an error
    row_time: float = 0.0  # seconds of timing per row and sweep (--benchmark-max-time, or the grid's)
    sweeps: int = 1  # times a worker times each row (bench.suite.plan); the row keeps the fastest
    budget_s: float | None = None  # the parent: wall time for the benchmarking (--budget)
    precision: float = 0.1  # the parent: the half-width Stein's second stage aims for (--precision)
    max_replicates: int = 1  # the parent: replicates a cell may get in all
    worker: WorkerPlan | None = None  # a worker of the run: its plan
    worker_log: Path | None = None
    worker_skip: frozenset = frozenset()  # cases an earlier worker of this replicate finished
    run: tuple[str, Path] | None = None  # the parent: run id and staging folder
    policy: policy.ProcessPolicy | None = None
    worker_policy: dict | None = None  # the parent: the policy its workers applied, as they reported it
    replicates_run: int | None = None  # the parent: replicates started in all (pilot and second stage)
    time_account: dict = field(default_factory=dict)  # the parent: where the run's wall time went
    second_stage: dict = field(default_factory=dict)  # the parent: Stein's allocation, as decided after the pilot
    noise: dict = field(default_factory=dict)  # the parent: per task, the pilot's variance levels (runner.noise_levels)
    warnings: list[str] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)  # cells that were not timed, with the reason
    incorrect: list[str] = field(default_factory=list)  # the parent: rows timed but above their tolerance
    started: set[str] = field(default_factory=set)  # frameworks whose runtime this process started
    current: ConfigData | None = None
    kept: dict = field(default_factory=dict)  # Case.row_id -> its prepared backend, until its last sweep
    last_framework: str | None = None  # whose library ran the previous row (measure.warm_up)
    last_call_end: float | None = None  # perf_counter when that row's last call ended
    saved: Path | None = None  # the run folder, once the measurements are in place
    report_error: str | None = None  # the report failed: the run keeps its measurements

    began: float = field(default_factory=time.monotonic)
    cases_left: Counter = field(default_factory=Counter)  # sweep -> this worker's rows of it not yet begun
    spent: dict = field(default_factory=dict)  # first sweep or later -> [seconds, rows timed]: the worker's pace
    row_began: float = 0.0  # time.monotonic() when the worker's current row began
    one_off_s: float = 0.0  # the first replicate's cold compiles, memory, floor and peak: no later process pays them

    def row_timed(self, sweep: int) -> None:
        """A row of this worker was timed (a skipped one says nothing of the pace): the seconds since
        it began, for the pace of its first sweep or of later ones."""
        pace = self.spent.setdefault(sweep > 0, [0.0, 0])
        pace[0] += time.monotonic() - self.row_began
        pace[1] += 1

    def sweeps_that_fit(self) -> int:
        """The most sweeps in which every row still to come can be timed, at this worker's pace so
        far, within its allowance (``WorkerPlan.allowance_s``); sweep 0 always. A worker that runs
        late drops its last sweep index for every row alike, not all later sweeps of its last rows:
        every row is timed once per process whatever the machine's speed, and the repetitions
        within a process shrink evenly to fit. The first replicate's one-off seconds
        (``one_off_s``: compiling cold what every later process loads from the caches) are shared by
        every pilot worker (``WorkerPlan.sharing``), so the first does not starve the others of sweeps."""
        if self.worker is None or not self.worker.allowance_s:
            return self.sweeps
        sharing = self.worker.sharing
        allowance = (self.worker.allowance_s * sharing - self.one_off_s) / sharing
        first_s, first_rows = self.spent.get(False, [0.0, 0])
        later_s, later_rows = self.spent.get(True, [0.0, 0])
        if not first_rows or not later_rows:  # no pace to go by yet
            return self.sweeps
        first_pace, later_pace = max(0.0, first_s - self.one_off_s) / first_rows, later_s / later_rows
        elapsed = time.monotonic() - self.began - self.one_off_s
        for sweeps in range(self.sweeps, 1, -1):
            later_left = sum(self.cases_left[k] for k in range(1, sweeps))
            if elapsed + self.cases_left[0] * first_pace + later_left * later_pace <= allowance:
                return sweeps
        return 1

    @property
    def worker_replicate(self) -> int | None:
        return None if self.worker is None else self.worker.replicate

    def cases(self, task: str) -> list[Case]:
        configs = self.grid.configs(self.activation)
        replicate, only = (0, None) if self.worker is None else (self.worker.replicate, self.worker.only)
        only = None if only is None else set(only)
        cases = plan(configs, self.backends, self.order_seed, replicate, self.shard, self.sweeps, only)
        return [c for c in cases if c.config.task == task]

    def calibration(self, case: Case) -> tuple[int, int] | None:
        """(iterations, rounds) the first replicate found for this row, handed on by the parent."""
        found = None if self.worker is None else self.worker.calibration.get(case.row_key)
        return tuple(found) if found else None

    def log(self, record: dict) -> None:
        """A record for the parent, stamped with the wall clock (the parent's account reads it)."""
        if self.worker_log is not None:
            worker_log.append(self.worker_log, {**record, "t": time.time()})

    def rows_done(self, benchmark, case: Case, phases: dict, calibration: tuple[int, int] | None = None) -> None:
        """A worker's finished row goes to its log at once: a worker ended later keeps it. A later
        sweep of a row is logged as its own record, for the parent to set against the row. Each
        says where its seconds went (``phases``) and, in the first replicate, its loop counts."""
        if self.worker_log is not None and benchmark.stats:
            entry = {**benchmark.stats.as_dict(include_data=True), "params": None}  # the case is in extra_info
            record = {
                "case": case.id,
                "config": case.config.id,
                "backend": case.backend.name,
                "replicate": case.replicate,
                "benchmark": entry,
                "phases": phases,
            }
            if case.sweep:
                self.log({"kind": "sweep", "row": case.row_id, "sweep": case.sweep, **record})
            else:
                self.log({"kind": "row", "calibration": list(calibration) if calibration else None, **record})

    def process_policy(self) -> policy.ProcessPolicy:
        """Applied once, before the first benchmark (and so before any JAX array of the run)."""
        if self.policy is None:
            self.policy = policy.apply(self.threads, self.malloc)
            self.log({"kind": "policy", "policy": self.policy.describe()})
        return self.policy

    def data(self, config: Config) -> ConfigData:
        if self.current is None or self.current.config != config:  # keep one configuration in memory
            self.current = ConfigData(config, make_problem(config))
        return self.current

    def reference(self, config: Config):
        """The float64 reference result of the configuration, kept for the run in its cache folder
        (a d x P per-sample reference takes a second to compute; every worker reads it)."""
        data = self.data(config)
        stored = None
        if data.reference is None and self.worker is not None and self.worker.cache_dir:
            stored = Path(self.worker.cache_dir) / "reference" / f"{config.id}.npz"
            if stored.exists():
                with np.load(stored) as arrays:
                    flat = [arrays[f"a{i}"] for i in range(len(arrays.files))]
                data.reference = list(zip(flat[::2], flat[1::2]))
        if data.reference is None:
            p = upcast(data.problem)
            if config.task == "gradient":
                data.reference = ri.gradients(p.params, p.x, p.t, activation=config.activation)[1]
            elif config.task == "per-sample":
                data.reference = ri.per_sample_gradients(p.params, p.x, p.t, activation=config.activation)[1]
            elif config.task == "jvp":
                data.reference = [ri.jvp(p.params, p.x, p.vector, activation=config.activation)]
            elif config.task == "hvp":
                data.reference = ri.hvp(p.params, p.x, p.t, p.vector, activation=config.activation)[1]
            elif config.task == "clipped":
                data.reference = ri.clipped_gradients(
                    p.params, p.x, p.t, max_norm=data.problem.max_norm, activation=config.activation
                )[1]
            else:
                data.reference = ri.train(
                    p.params,
                    p.x,
                    p.t,
                    steps=config.steps,
                    lr=config.lr,
                    clip=config.clip,
                    activation=config.activation,
                    batch_size=config.batch_size,
                )[0]
            if stored is not None:
                stored.parent.mkdir(exist_ok=True)
                partial = stored.with_suffix(".partial.npz")
                np.savez(partial, **{f"a{i}": a for i, a in enumerate(a for layer in data.reference for a in layer)})
                partial.rename(stored)  # whole or absent: another worker never reads half a file
        return data.reference
