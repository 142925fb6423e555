"""The state of one benchmark session: options as parsed, the process policy, the configuration
being timed (its data, reference and prepared backends, one configuration at a time), skipped rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import reference_impl as ri

from . import backends, policy
from .config import Config, Grid, make_problem, upcast
from .plan import Case, plan


@dataclass
class ConfigData:
    """Data of the configuration being timed, shared by its backends and rounds (one at a time)."""

    config: Config
    problem: object
    reference: object = None  # float64 numpy-hadamard gradients or trained parameters
    prepared: dict = field(default_factory=dict)  # backend name -> Prepared, or the reason it cannot run


@dataclass
class BenchSession:
    grid_name: str
    grid: Grid
    activation: str
    backends: list[backends.Backend]
    rounds: int
    order_seed: int
    shard: tuple[int, int] | None
    threads: int
    malloc: str
    diag_budget_bytes: int
    isolate: bool
    is_child: bool
    named_backends: bool  # --backends given: a missing framework is an error
    run: tuple[str, Path] | None = None  # run id and staging folder
    policy: policy.ProcessPolicy | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    started: set[str] = field(default_factory=set)  # frameworks whose runtime this process started
    current: ConfigData | None = None
    saved: Path | None = None  # the run folder, once the measurements are in place
    report_error: str | None = None  # the report failed: the run keeps its measurements

    def cases(self, task: str) -> list[Case]:
        configs = self.grid.configs(self.activation)
        return [
            c for c in plan(configs, self.backends, self.rounds, self.order_seed, self.shard) if c.config.task == task
        ]

    def process_policy(self) -> policy.ProcessPolicy:
        """Applied once, before the first benchmark (and so before any JAX array of the run)."""
        if self.policy is None:
            self.policy = policy.apply(self.threads, self.malloc)
        return self.policy

    def data(self, config: Config) -> ConfigData:
        if self.current is None or self.current.config != config:  # keep one configuration in memory
            self.current = ConfigData(config, make_problem(config))
        return self.current

    def reference(self, config: Config):
        data = self.data(config)
        if data.reference is None:
            p = upcast(data.problem)
            if config.task == "gradient":
                data.reference = ri.gradients(p.params, p.x, p.t, activation=config.activation)[1]
            else:
                data.reference = ri.train(p.params, p.x, p.t, steps=config.steps, lr=config.lr, clip=config.clip,
                                          activation=config.activation, batch_size=config.batch_size)[0]  # fmt: skip
        return data.reference
