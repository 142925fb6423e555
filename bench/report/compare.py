"""Two runs side by side: per (configuration, backend), the ratio of medians and a Mann–Whitney
rank test on every timing sample of both (rounds pooled); a change counts beyond the noise only
when it exceeds the threshold and the test's p-value is below SIGNIFICANCE."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .load import ReportError, frame, load_run, samples_of
from .tables import fmt_time, markdown

SIGNIFICANCE = 0.01


def compare(old_path, new_path, threshold: float) -> pd.DataFrame:
    from scipy.stats import mannwhitneyu

    tables = []
    for path in (old_path, new_path):
        run = load_run(path)
        df, samples = frame(run), samples_of(run)
        pooled = df.groupby(["config", "backend"]).agg(median=("median", "median"), threads=("threads", "first"),
                                                       names=("fullname", list))  # fmt: skip
        pooled["samples"] = [np.concatenate([samples[n] for n in names]) for names in pooled["names"]]
        tables.append(pooled.drop(columns="names"))
    old, new = tables
    shared = old.index.intersection(new.index)
    if shared.empty:
        raise ReportError(f"{old_path} and {new_path} share no (configuration, backend) row")
    rows = []
    for key in shared:
        a, b = old.loc[key], new.loc[key]
        ratio = b["median"] / a["median"]
        p = mannwhitneyu(a["samples"], b["samples"]).pvalue if min(len(a["samples"]), len(b["samples"])) > 1 else np.nan
        change = "slower" if ratio > 1 + threshold else "faster" if ratio < 1 - threshold else ""
        flagged = bool(change) and (np.isnan(p) or p < SIGNIFICANCE)
        rows.append({"config": key[0], "backend": key[1], "threads": f"{a['threads']} → {b['threads']}",
                     "old": a["median"], "new": b["median"], "ratio": ratio, "p_value": p,
                     "change": change if flagged else ""})  # fmt: skip
    return pd.DataFrame(rows)


def compare_markdown(table: pd.DataFrame, threshold: float) -> str:
    shown = table.assign(old=table["old"].map(fmt_time), new=table["new"].map(fmt_time),
                         ratio=table["ratio"].map(lambda v: f"{v:.3f}"),
                         p_value=table["p_value"].map(lambda v: "–" if np.isnan(v) else f"{v:.1e}"),
                         change=table["change"].map(lambda c: f"**{c}**" if c else ""))  # fmt: skip
    flagged = int((table["change"] != "").sum())
    return "\n".join([f"{len(table)} shared rows; {flagged} changed by more than {threshold:.0%} with Mann–Whitney "
                      f"p < {SIGNIFICANCE} (ratio = new median / old median).", "", markdown(shown, index=False)])  # fmt: skip
