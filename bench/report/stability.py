"""Stability warnings per cell, in pyperf's spirit, and what the thread policy looked like.

pyperf warns when the standard deviation is ≥ 10 % of the mean or the min or max is ≥ 50 % away
from it, when values are too short for the timer, and estimates how many processes a given
precision needs. The same checks here, per (configuration, backend):
- a large spread within a process (interquartile range over median above 10 % in a replicate);
- replicates that disagree (the replicates' medians: standard deviation ≥ 10 % of their mean, or
  the min or max ≥ 50 % away from it);
- samples too short for the timer (a block of calls under 100 µs);
- busy threads unlike the policy (CPU time / wall time over the timed loop more than 0.5 away
  from the policy's threads and from 1: a library using threads it was not given, or idle);
and, per speed-up, the processes a ±5 % interval would need at the measured spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..harness.stats import sweep_log_ratios, variance_components
from . import prose
from .context import Context
from .prose import paragraph
from .tables import markdown

SPREAD_LIMIT = 0.10
DISAGREE_CV, DISAGREE_RANGE = 0.10, 0.50
SHORT_BLOCK_S = 100e-6
THREAD_SLACK = 0.5
BELOW_FLOOR = 0.95  # a row faster than its floor by more than 5 % is a measurement error


CHECKS = {
    "spread": "spread within a process",
    "disagree": "replicates disagree",
    "short": "samples too short",
    "threads": "busy threads unlike the policy",
    "floor": "below its floor",
}


def warnings_table(ctx: Context) -> pd.DataFrame:
    """Per (configuration, backend): which checks warned (a column each) and the details."""
    rows = ctx.rows
    threads = (ctx.bench.get("thread_policy") or {}).get("threads") or np.nan
    out = []
    for (config, backend), part in rows.groupby(["config", "backend"], sort=False):
        medians = part["median"].astype(float)
        found = {}
        noisy = part[part["spread"] > SPREAD_LIMIT]
        if len(noisy):
            found["spread"] = (
                f"IQR above {SPREAD_LIMIT:.0%} of the median in {len(noisy)} of {len(part)} replicates "
                f"(worst {noisy['spread'].max():.0%})"
            )
        if len(medians) >= 2:
            mean = medians.mean()
            cv = medians.std(ddof=1) / mean
            far = max(abs(medians.max() - mean), abs(mean - medians.min())) / mean
            if cv >= DISAGREE_CV or far >= DISAGREE_RANGE:
                found["disagree"] = f"replicates' std dev {cv:.0%} of the mean, farthest {far:.0%} away"
        short = part[part["block_s"] < SHORT_BLOCK_S]
        if len(short):
            found["short"] = f"blocks of {short['block_s'].min() * 1e6:.0f} µs"
        util = part["cpu_util"].median()
        if np.isfinite(threads) and min(abs(util - threads), abs(util - 1)) > THREAD_SLACK:
            found["threads"] = f"busy threads {util:.1f} against the policy's {threads:g}"
        below = part[part["floor_share"] > 1 / BELOW_FLOOR]
        if len(below):
            found["floor"] = f"faster than its matrix-multiply floor in {len(below)} replicates"
        out.append(
            {
                "config": config,
                "backend": backend,
                **{k: k in found for k in CHECKS},
                "warnings": "; ".join(f"{CHECKS[k]}: {v}" for k, v in found.items()),
            }
        )
    return pd.DataFrame(out, columns=["config", "backend", *CHECKS, "warnings"])


def noise_levels(ctx: Context) -> pd.DataFrame:
    """Per task, from the rows' per-sweep times and the reference's row's of the same sweeps: the SD
    of a log speed-up between sweeps inside a process and the process's own (Kalibera & Jones's levels,
    ``stats.variance_components``), with what a sweep and a process cost in this run and the
    sweeps per process those give (as the runner recorded them after the pilot)."""
    recorded = ctx.bench.get("noise") or {}
    out = []
    for task, values in sweep_log_ratios(ctx.rows, ctx.reference).groupby("task"):
        levels = variance_components(values)
        noted = recorded.get(task, {})
        out.append(
            {
                "task": task,
                "cells": levels["cells"],
                "sweeps a process": f"{levels['sweeps']:.1f}",
                "SD between sweeps": f"{np.sqrt(levels['within']):.3f}",
                "SD of a process's own": f"{np.sqrt(levels['between']):.3f}",
                "a process costs": f"{noted['process_s']:.0f} s" if noted.get("process_s") else "–",
                "a sweep costs": f"{noted['sweep_s']:.0f} s" if noted.get("sweep_s") else "–",
                "best sweeps a process": noted.get("optimal_sweeps", "–"),
            }
        )
    return pd.DataFrame(out)


def section_noise(ctx: Context) -> str:
    table = noise_levels(ctx)
    if table.empty:
        return ""
    return "\n".join(["## Where the noise is", "", paragraph(prose.NOISE), "", markdown(table, index=False), ""])


def section_stability(ctx: Context) -> str:
    table = warnings_table(ctx)
    counts = table.groupby("backend")[list(CHECKS)].sum().astype(int).rename(columns=CHECKS)
    counts.insert(0, "cells", table.groupby("backend").size())
    rare = table[table["threads"] | table["floor"]][["config", "backend", "warnings"]]
    speed = ctx.table[(ctx.table["backend"] != ctx.reference) & ctx.table["processes_for_5pct"].notna()]
    if speed.empty:
        need_text = "_No interval: every speed-up has fewer than 2 replicates._"
    else:
        need = speed.groupby("task")["processes_for_5pct"].quantile([0.5, 0.9, 1.0]).unstack()
        need.columns = ["median", "90th percentile", "max"]
        need.insert(0, "speed-ups", speed.groupby("task").size())
        need_text = markdown(need.map(lambda v: f"{v:.0f}" if np.isfinite(v) else "∞"))
    return "\n".join(
        [
            "## Stability",
            "",
            paragraph(prose.STABILITY),
            "",
            markdown(counts),
            "",
            "Cells whose busy threads or floor point at a measurement fault:",
            "",
            markdown(rare, index=False),
            "",
            f"### Processes a ±5 % speed-up interval would need (this run: {ctx.bench.get('replicates', '?')})",
            "",
            "At each speed-up's measured spread between processes (Student t):",
            "",
            need_text,
            "",
        ]
    )
