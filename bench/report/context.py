"""The report's core type: one run, read from its own files alone.

Which backend is the reference and the golden, and each backend's relations (its hand-written
counterpart for the autograd tax, the eager backend a compiled one replaces) come from the run's
metadata, as the run recorded them: an older or merged run renders as it was measured, whatever
today's registry says. Nothing in ``bench/report/`` imports the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..harness.stats import speedups
from .load import frame, outcomes, per_backend


@dataclass
class Context:
    run: dict
    rows: pd.DataFrame  # one row per timed row (configuration, backend, replicate)
    table: pd.DataFrame  # one row per (configuration, backend): medians over replicates, speed-up and interval
    outcomes: pd.DataFrame  # cells and replicates whose outcome is not ok, with the reason
    equivalence: float | None = None
    extra: dict = field(default_factory=dict)

    def task(self, name: str) -> pd.DataFrame:
        return self.table[self.table["task"] == name]

    @property
    def bench(self) -> dict:
        return self.run["machine_info"].get("autograd_bench", {})

    @property
    def reference(self) -> str:
        return self.bench.get("reference", "numpy-hadamard")

    @property
    def golden(self) -> str | None:
        return self.bench.get("golden")

    @property
    def pilot(self) -> int | None:
        """Replicates that timed every row (Stein's first stage); None: every replicate did."""
        return self.bench.get("pilot_replicates")

    def fact(self, backend: str, name: str):
        """A recorded relation of a backend (``manual``, ``eager``, ``framework``, ...), or None."""
        return (self.bench.get("backend_facts") or {}).get(backend, {}).get(name)


def context(run: dict, equivalence: float | None = None) -> Context:
    rows = frame(run)
    bench = run["machine_info"].get("autograd_bench", {})
    reference, pilot = bench.get("reference", "numpy-hadamard"), bench.get("pilot_replicates")
    table = per_backend(rows).merge(speedups(rows, reference, equivalence, pilot), on=["config", "backend"], how="left")
    return Context(run, rows, table, outcomes(run, rows), equivalence)
