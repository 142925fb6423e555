"""Do two runs of the same grid agree? Per pair of runs, from their ``speedups.csv`` (or their
files, for a run whose report predates it): the calls that agree, each run's estimate inside the
other's interval (both directions), the win↔loss flips, and the cells that moved most.

A calibrated 95 % interval does not hold a rerun's estimate 95 % of the time: the rerun's estimate
has noise of its own, so the difference of two estimates spreads √2 wider. For a t interval on ν
degrees of freedom the rate is P(|t_ν| < t_ν,0.975/√2) (91 % at ν = 2, 88 % at ν = 4, 83 % as ν
grows); each direction's expected rate, the mean over its cells of that, is printed beside the
measured one.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ..harness.stats import rerun_coverage
from . import prose
from .load import ReportError
from .prose import paragraph
from .tables import markdown

KEYS = ["task", "config", "backend"]


def speedup_table(run: Path) -> pd.DataFrame:
    path = Path(run) / "speedups.csv" if Path(run).is_dir() else Path(run)
    if not path.is_file():
        raise ReportError(
            f"{path}: no such file (a run folder with speedups.csv; rebuild with python -m bench.report RUN)"
        )
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a speedups.csv table ({type(exc).__name__})") from None
    missing = [c for c in (*KEYS, "speedup", "low", "high", "call") if c not in table]
    if missing:
        raise ReportError(f"{path}: not a speedups.csv table (no {', '.join(missing)} column)")
    timed = table[(table["call"] != "reference") & table["speedup"].notna() & table["low"].notna()]
    return timed.set_index(KEYS)


def agreement(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    shared = a.join(b, how="inner", suffixes=("_a", "_b"))
    inside_a = (shared["low_a"] <= shared["speedup_b"]) & (shared["speedup_b"] <= shared["high_a"])
    inside_b = (shared["low_b"] <= shared["speedup_a"]) & (shared["speedup_a"] <= shared["high_b"])
    flips = shared[
        ((shared["call_a"] == "win") & (shared["call_b"] == "loss"))
        | ((shared["call_a"] == "loss") & (shared["call_b"] == "win"))
    ]
    moved = np.abs(np.log(shared["speedup_b"] / shared["speedup_a"]))
    expected = {
        side: float(np.mean([rerun_coverage(df) for df in shared[f"df_{side}"]])) if f"df_{side}" in shared else np.nan
        for side in "ab"
    }
    return {
        "shared": shared,
        "cells": len(shared),
        "calls agree": int((shared["call_a"] == shared["call_b"]).sum()),
        "b inside a": int(inside_a.sum()),
        "a inside b": int(inside_b.sum()),
        "flips": flips,
        "expected a": expected["a"],
        "expected b": expected["b"],
        "ties": int(((shared["call_a"] == "tie") & (shared["call_b"] == "tie")).sum()),
        "worst": shared.assign(moved=moved).sort_values("moved", ascending=False).head(8),
    }


def _percent(value: float) -> str:
    return f"{value:.0%}" if np.isfinite(value) else "–"


def agree(runs: list[Path]) -> tuple[str, float, float]:
    """The report as Markdown, the lowest coverage of any pair in either direction, per task, and
    the largest shortfall of a measured coverage below the rate its intervals predict."""
    if len(runs) < 2:
        raise ReportError("agree: expected at least two runs")
    tables = [(Path(r).name, speedup_table(r)) for r in runs]
    out, lowest, shortfall = [], 1.0, 0.0
    for (name_a, a), (name_b, b) in itertools.combinations(tables, 2):
        out += [f"## {name_a} and {name_b}", ""]
        lines = []
        for task in sorted(set(a.index.get_level_values("task")) & set(b.index.get_level_values("task"))):
            found = agreement(a.xs(task, level="task", drop_level=False), b.xs(task, level="task", drop_level=False))
            n = max(found["cells"], 1)
            lowest = min(lowest, found["b inside a"] / n, found["a inside b"] / n)
            for measured, expected in (
                (found["b inside a"] / n, found["expected a"]),
                (found["a inside b"] / n, found["expected b"]),
            ):
                if np.isfinite(expected):
                    shortfall = max(shortfall, expected - measured)
            share = {key: f"{found[key]} ({found[key] / n:.0%})" for key in ("calls agree", "b inside a", "a inside b")}
            lines.append(
                {
                    "task": task,
                    "cells": found["cells"],
                    "calls agree": share["calls agree"],
                    "of which both tie": found["ties"],
                    f"{name_b[:15]}… inside {name_a[:15]}…'s interval": share["b inside a"],
                    "expected": _percent(found["expected a"]),
                    f"{name_a[:15]}… inside {name_b[:15]}…'s interval": share["a inside b"],
                    "expected ": _percent(found["expected b"]),
                    "win↔loss flips": len(found["flips"]),
                }
            )
            worst = found["worst"].reset_index()[
                [
                    "task",
                    "config",
                    "backend",
                    "speedup_a",
                    "low_a",
                    "high_a",
                    "speedup_b",
                    "low_b",
                    "high_b",
                    "call_a",
                    "call_b",
                ]
            ]
            out_worst = worst.assign(
                a=[
                    f"{p:.2f} [{lo:.2f}–{hi:.2f}] {c}"
                    for p, lo, hi, c in zip(worst["speedup_a"], worst["low_a"], worst["high_a"], worst["call_a"])
                ],
                b=[
                    f"{p:.2f} [{lo:.2f}–{hi:.2f}] {c}"
                    for p, lo, hi, c in zip(worst["speedup_b"], worst["low_b"], worst["high_b"], worst["call_b"])
                ],
            )[["config", "backend", "a", "b"]]
            out += [f"### {task}: the cells that moved most", "", markdown(out_worst, index=False), ""]
            if len(found["flips"]):
                out += [
                    f"### {task}: win↔loss flips",
                    "",
                    markdown(found["flips"].reset_index()[KEYS], index=False),
                    "",
                ]
        out[out.index(f"## {name_a} and {name_b}") + 2 : out.index(f"## {name_a} and {name_b}") + 2] = [
            markdown(pd.DataFrame(lines), index=False),
            "",
        ]
    return "\n".join([paragraph(prose.AGREE), "", *out]), lowest, shortfall
