"""The forward-mode and second-order sections (tasks jvp and hvp): each backend against the
reference's R-operator with intervals; the cost ratios the theory bounds, JVP ÷ forward and HVP ÷
gradient, each of a backend in the same process, beside the reference's FLOP model; and each
system's forward-over-reverse HVP against its reverse-over-reverse one."""

from __future__ import annotations

import pandas as pd

from ..harness.stats import ratio_table
from . import prose
from .context import Context
from .prose import paragraph
from .ratios import base_ratios, nested_pairs, with_shape
from .tables import pivot_section, with_ratio_cells, with_speedup_cells

TASKS = {"jvp": "Forward mode (JVP)", "hvp": "Hessian-vector product (HVP)"}
BASE = {"jvp": "forward", "hvp": "gradient"}


def section(ctx: Context, task: str) -> str:
    part = ctx.task(task)
    if part.empty:
        return ""
    heading = TASKS[task]
    out = [
        pivot_section(
            f"{heading}: speed-up against {ctx.reference}",
            paragraph(prose.SECOND_ORDER_SPEEDUP[task], reference=ctx.reference),
            with_speedup_cells(ctx.reference, part),
            "cell",
        )
    ]
    ratios = base_ratios(ctx, task)
    if not ratios.empty:
        model = ctx.rows[ctx.rows["task"] == task].groupby("depth")["model_grad_over_forward"].first()
        out.append(
            pivot_section(
                f"{heading} ÷ {BASE[task]}",
                paragraph(
                    prose.SECOND_ORDER_RATIO[task],
                    model=", ".join(f"L={depth}: {ratio:.2f}" for depth, ratio in model.items()),
                ),
                with_ratio_cells(with_shape(ctx, ratios)),
                "cell",
            )
        )
    if task == "hvp":
        rows = ctx.rows[ctx.rows["task"] == "hvp"]
        nested = ratio_table(rows, nested_pairs(ctx), pilot=ctx.pilot)
        if not nested.empty:
            out.append(
                pivot_section(
                    "HVP: reverse over reverse ÷ forward over reverse",
                    paragraph(prose.NESTED),
                    with_ratio_cells(with_shape(ctx, nested)),
                    "cell",
                )
            )
    return "\n".join(out)


def section_second_order(ctx: Context) -> str:
    return "\n\n".join(s for s in (section(ctx, task) for task in TASKS) if s)


def summary_table(ctx: Context) -> pd.DataFrame:
    """Per task and backend: geometric means of the base ratio over the configurations (README's figures)."""
    frames = [base_ratios(ctx, task).assign(task=task) for task in TASKS]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
