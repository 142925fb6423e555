"""Two runs side by side: per (configuration, backend), did its time change beyond the noise?

The unit is the replicate (a process), as for the intervals: each run gives R values per row,
the medians of its replicates. The change is the ratio of their geometric means (new ÷ old),
with a 99 % Welch t interval on the difference of the mean log times. A row counts as changed
only when that whole interval lies beyond ±threshold: noise between processes and drift between
runs (which pooling one process's samples as independent values would call significant) widen
the interval instead of flagging the row. The Mann–Whitney rank test of the pooled samples is
kept as a detail column.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .load import ReportError, frame, load_run, samples_of
from .tables import fmt_time, markdown

LEVEL = 0.99


def change_interval(old: np.ndarray, new: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(ratio new/old of geometric means, low, high): Welch t on log values; NaN bounds below 2 each."""
    a, b = np.log(np.asarray(old, float)), np.log(np.asarray(new, float))
    point = math.exp(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return point, np.nan, np.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return point, point, point
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = scipy_stats.t.ppf((1 + level) / 2, df) * se
    return point, math.exp(b.mean() - a.mean() - half), math.exp(b.mean() - a.mean() + half)


def verdict(low: float, high: float, threshold: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return "slower" if low > 1 + threshold else "faster" if high < 1 / (1 + threshold) else ""


def _per_row(path) -> pd.DataFrame:
    run = load_run(path)
    df, samples = frame(run), samples_of(run)
    grouped = df.groupby(["config", "backend"])
    return pd.DataFrame(
        {
            "medians": grouped["median"].agg(list),
            "samples": grouped["fullname"].agg(lambda n: np.concatenate([samples[x] for x in n])),
        }
    )


def compare(old_path, new_path, threshold: float) -> pd.DataFrame:
    old, new = _per_row(old_path), _per_row(new_path)
    shared = old.index.intersection(new.index)
    if shared.empty:
        raise ReportError(f"{old_path} and {new_path} share no (configuration, backend) row")
    rows = []
    for key in shared:
        a, b = old.loc[key], new.loc[key]
        ratio, low, high = change_interval(a["medians"], b["medians"])
        p = (
            scipy_stats.mannwhitneyu(a["samples"], b["samples"]).pvalue
            if min(len(a["samples"]), len(b["samples"])) > 1
            else np.nan
        )
        rows.append(
            {
                "config": key[0],
                "backend": key[1],
                "old": float(np.exp(np.mean(np.log(a["medians"])))),
                "new": float(np.exp(np.mean(np.log(b["medians"])))),
                "ratio": ratio,
                "low": low,
                "high": high,
                "replicates": f"{len(a['medians'])} / {len(b['medians'])}",
                "rank test p (pooled)": p,
                "change": verdict(low, high, threshold),
            }
        )
    return pd.DataFrame(rows)


def compare_markdown(table: pd.DataFrame, threshold: float) -> str:
    shown = table.assign(
        old=table["old"].map(fmt_time),
        new=table["new"].map(fmt_time),
        ratio=[f"{r:.3f} [{lo:.3f}–{hi:.3f}]" for r, lo, hi in zip(table["ratio"], table["low"], table["high"])],
        change=table["change"].map(lambda c: f"**{c}**" if c else ""),
        **{"rank test p (pooled)": table["rank test p (pooled)"].map(lambda v: "–" if np.isnan(v) else f"{v:.1e}")},
    ).drop(columns=["low", "high"])
    flagged = int((table["change"] != "").sum())
    return "\n".join(
        [
            f"{len(table)} shared rows; {flagged} changed: the {LEVEL:.0%} interval of new ÷ old (Welch t over the "
            f"replicates' medians) lies wholly beyond ±{threshold:.0%}.",
            "",
            markdown(shown, index=False),
        ]
    )
