"""Which rows a worker times, and in what order: replicates, a shuffled order from a recorded seed,
shards, and the plan the parent hands each worker.

A run is a pilot of R replicates, each one worker process (``bench.harness.runner``) that times
every (configuration, backend) row, and then further replicates that time only the rows whose cells
need more (Stein's second stage, ``runner.allocate``). Each worker has its own order, drawn from the
run's seed and its replicate number (the whole grid's order, then restricted to its rows, so
``--order-seed S`` reproduces every replicate's order): configurations shuffled, and within one, its
frameworks shuffled and each framework's backends together, shuffled (a randomized block design:
each ratio compares rows measured seconds apart, in the same process; a framework's rows back to
back need the long re-warm-up only where the library changes, ``measure.warm_up``). ``--shard K/N``
keeps the K-th of every N configurations (in the grid's fixed order), all its backends with it.

With S sweeps (the grid's), a worker times every row up to S times: sweep k of a configuration
comes after sweep 0 of the configuration k·SWEEP_LAG places later, so a row's sweeps lie seconds
to tens of seconds apart, farther than the bursts in which a shared machine slows a few rows for a
second or so. Each row keeps its least disturbed sweep (``runner.combine_sweeps``). A worker drops
later sweeps to keep its share of the budget (``WorkerPlan.allowance_s``); sweep 0 it always times.

The parent hands each worker a ``WorkerPlan`` (a JSON file, as pyperf's runner hands its workers
explicit arguments): the run's options, the replicate, the order seed, the rows, the sweeps, the time
allowance and the calibrated loop counts. A worker reads nothing else of the parent's command line.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .grids import Config
from .registry import Entry

# Configurations between a row's sweeps: 15-30 s on the default grid (at 2, more rows had both sweeps slow).
SWEEP_LAG = 3


class Case(NamedTuple):
    config: Config
    backend: Entry
    replicate: int  # the worker process (0 .. R-1) that times it
    sweep: int = 0  # which of the worker's times through the grid
    position: int = 0  # its place in the worker's order (sweeps included)
    order_seed: int = 0  # the run's seed the order was drawn from

    @property
    def row_key(self) -> str:
        """The row across replicates: its configuration and backend."""
        return f"{self.config.id}/{self.backend.name}"

    @property
    def row_id(self) -> str:
        """The row every sweep of this case times: one row per (configuration, backend, replicate)."""
        return f"{self.config.id}-{self.backend.name}-p{self.replicate}"

    @property
    def id(self) -> str:
        return self.row_id + (f"-s{self.sweep}" if self.sweep else "")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` with 1 <= K <= N, or None."""
    if text is None:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected K/N with integers 1 <= K <= N, got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard: expected K/N with integers 1 <= K <= N, got {text!r}")
    return k, n


def shard_configs(configs: list[Config], shard: tuple[int, int] | None) -> list[Config]:
    if shard is None:
        return list(configs)
    k, n = shard
    return [config for index, config in enumerate(configs) if index % n == k - 1]


def block(
    config: Config,
    backends: list[Entry],
    replicate: int,
    sweep: int,
    rng: random.Random,
    only: set[str] | None = None,
) -> list[Case]:
    """One configuration's rows: its libraries in a random order (a framework's kernels and thread
    pools: autograd runs on NumPy's, Opacus and BackPACK on torch's), each library's backends
    together, shuffled: the long re-warm-up is paid only where the library changes."""
    by_library: dict[str, list[Entry]] = {}
    for backend in backends:
        by_library.setdefault(backend.library, []).append(backend)
    groups = list(by_library.values())
    rng.shuffle(groups)
    cases = []
    for group in groups:
        rng.shuffle(group)
        rows = [Case(config, b, replicate, sweep) for b in group]
        cases += [case for case in rows if only is None or case.row_key in only]  # drawn first: one order per seed
    return cases


def plan(
    configs: list[Config],
    backends: list[Entry],
    seed: int,
    replicate: int = 0,
    shard: tuple[int, int] | None = None,
    sweeps: int = 1,
    only: set[str] | None = None,
) -> list[Case]:
    """Every row ``sweeps`` times, in replicate ``replicate``'s own order, task by task; with
    ``only`` (row keys, ``Case.row_key``) the same order restricted to those rows."""
    rng = random.Random(f"{seed}/{replicate}")
    chosen = shard_configs(configs, shard)
    cases = []
    for task in dict.fromkeys(config.task for config in chosen):
        order = [config for config in chosen if config.task == task]
        rng.shuffle(order)
        slots: dict[int, list[tuple[int, Config]]] = {}
        for sweep in range(sweeps):
            for position, config in enumerate(order):
                slots.setdefault(position + sweep * SWEEP_LAG, []).append((sweep, config))
        for position in sorted(slots):
            for sweep, config in slots[position]:
                cases += block(config, backends, replicate, sweep, rng, only)
    return [case._replace(position=position, order_seed=seed) for position, case in enumerate(cases)]


@dataclass
class WorkerPlan:
    """Everything a worker needs, handed to it as a file: it reads nothing else from its parent."""

    replicate: int
    order_seed: int
    sweeps: int
    options: dict  # grid, activation, backends, threads, malloc, diag_budget_bytes, row_time, isolate, ...
    log: str  # where the worker appends its records (bench.harness.worker_log)
    only: list[str] | None = None  # row keys to time (None: every row of the grid and shard)
    done: list[str] = field(default_factory=list)  # case ids an earlier worker of this replicate finished
    calibration: dict[str, list[int]] = field(default_factory=dict)  # row key -> [iterations, rounds]
    facts: bool = False  # memory, floor and peak, once per configuration (the first replicate)
    cache_dir: str | None = None  # compile caches that outlive a worker (bench.suite.frameworks.use_compile_caches)
    allowance_s: float | None = None  # the worker's share of the budget: later sweeps are dropped to keep it
    sharing: int = 1  # pilot workers (this one and those after it) that share the first one's one-off seconds

    def write(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(dataclasses.asdict(self)))
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> WorkerPlan:
        return cls(**json.loads(Path(path).read_text()))
