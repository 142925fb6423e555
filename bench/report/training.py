"""The training section: time per SGD step, speed-up with intervals, compile break-even in steps,
and the final cost every backend reached."""

from __future__ import annotations

import math

import pandas as pd

from . import prose
from .context import Context
from .prose import paragraph
from .ratios import break_even
from .tables import fmt_time, markdown, pivot, speedup_cell


def with_case(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        case=[
            f"{'seed' if n == 'seed' else f'w={w}'} {'b=1' if b == 1 else 'full'}"
            for n, w, b in zip(df["network"], df["width"], df["batch_size"])
        ]
    )


def section_training(ctx: Context) -> str:
    df = ctx.task("train")
    if df.empty:
        return ""
    df = with_case(df)
    out = [
        "## Training",
        "",
        paragraph(prose.TRAINING, reference=ctx.reference),
        "",
    ]
    for dtype, part in df.groupby("dtype"):
        cells = part.assign(
            cell=[
                f"{speedup_cell(ctx.reference, b, p, lo, hi)}; {fmt_time(t)}"
                for t, b, p, lo, hi in zip(
                    part["per_step_s"], part["backend"], part["speedup"], part["low"], part["high"]
                )
            ]
        )
        out += [f"### {dtype}: speed-up; time per step", "", markdown(pivot(cells, "cell", str, columns="case")), ""]
    out += [section_break_even(ctx, df)]
    for dtype, part in df.groupby("dtype"):
        out += [f"### {dtype}: final cost", "", markdown(pivot(part, "cost", lambda v: f"{v:.9g}", columns="case")), ""]
    return "\n".join(out)


def section_break_even(ctx: Context, df: pd.DataFrame) -> str:
    """Steps after which compiling pays off, with both backends' compile times counted."""
    by = df.set_index(["config", "backend"])
    rows = []
    for _, r in df[df["compile_s"].notna()].iterrows():
        for other in dict.fromkeys([ctx.fact(r["backend"], "eager"), ctx.reference]):
            if other is None or (r["config"], other) not in by.index:
                continue
            o = by.loc[(r["config"], other)]
            other_compile = o["compile_s"] if pd.notna(o["compile_s"]) else 0.0
            steps = break_even(r["compile_s"], r["per_step_s"], other_compile, o["per_step_s"])
            rows.append(
                {
                    "backend": r["backend"],
                    "config": r["config"],
                    "compile": fmt_time(r["compile_s"]),
                    "per step": fmt_time(r["per_step_s"]),
                    "against": other,
                    "its compile": fmt_time(other_compile) if other_compile else "–",
                    "pays off after (steps)": "never" if math.isinf(steps) else f"{steps:,}",
                }
            )
    return "\n".join(
        [
            "### Compile break-even",
            "",
            paragraph(prose.BREAK_EVEN),
            "",
            markdown(pd.DataFrame(rows), index=False),
            "",
        ]
    )
