"""The training section: time per SGD step, speed-up with intervals, compile break-even in steps,
and the final cost every backend reached."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..registry import REFERENCE, REGISTRY
from .sections import Context, speedup_cell
from .tables import fmt_time, markdown, pivot


def section_training(ctx: Context) -> str:
    df = ctx.task("train")
    if df.empty:
        return ""
    df = df.assign(case=[f"{'seed' if n == 'seed' else f'w={w}'} {'b=1' if b == 1 else 'full'}"
                         for n, w, b in zip(df["network"], df["width"], df["batch_size"])])  # fmt: skip
    out = ["## Training", "",
           "A fixed number of SGD steps with the seed's clipping, timed as a whole (`ri.train` for NumPy); time per step, "
           f"and speed-up against `{REFERENCE}` [95 % interval].", ""]  # fmt: skip
    for dtype, part in df.groupby("dtype"):
        cells = part.assign(cell=[f"{fmt_time(t)} ({speedup_cell(b, p, lo, hi)})" for t, b, p, lo, hi in
                                  zip(part["per_step_s"], part["backend"], part["speedup"], part["low"], part["high"])])  # fmt: skip
        out += [f"### {dtype}: time per step (speed-up)", "", markdown(pivot(cells, "cell", str, columns="case")), ""]
    out += [section_break_even(df)]
    for dtype, part in df.groupby("dtype"):
        out += [f"### {dtype}: final cost", "", markdown(pivot(part, "cost", lambda v: f"{v:.9g}", columns="case")), ""]
    return "\n".join(out)


def section_break_even(df: pd.DataFrame) -> str:
    """Steps after which compiling pays off: compile_s + n t_compiled < n t_other."""
    medians = df.set_index(["config", "backend"])["per_step_s"]
    rows = []
    for _, r in df[df["compile_s"].notna()].iterrows():
        for other in dict.fromkeys([REGISTRY[r["backend"]].eager, REFERENCE]):
            gain = (medians.get((r["config"], other), np.nan) if other else np.nan) - r["per_step_s"]
            if not np.isfinite(gain):
                continue
            steps = f"{math.ceil(r['compile_s'] / gain)}" if gain > 0 else "never"
            rows.append({"backend": r["backend"], "config": r["config"], "compile": fmt_time(r["compile_s"]),
                         "per step": fmt_time(r["per_step_s"]), "against": other, "pays off after (steps)": steps})  # fmt: skip
    return "\n".join(
        [
            "### Compile break-even",
            "",
            "Steps after which compiling pays off: compile time + n × its time per step < n × the other's.",
            "",
            markdown(pd.DataFrame(rows), index=False),
            "",
        ]
    )
