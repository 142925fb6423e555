"""The per-sample sections: every sample's gradient (task per-sample) and DP-SGD's clipped mean
gradient without noise (task clipped), each against the reference with intervals; × loop (each
framework's vectorised form over its own per-sample loop, functorch's headline figure); the
price of asking for every sample (per-sample ÷ the same backend's batch gradient, measured in
the same process); memory; time against the batch size where the grid sweeps it."""

from __future__ import annotations

import pandas as pd

from . import prose
from .context import Context
from .prose import paragraph
from .ratios import loop_ratios, over_batch_gradient, with_shape
from .tables import fmt_bytes, markdown, pivot_section, with_ratio_cells, with_speedup_cells

TASKS = {"per-sample": "Per-sample gradients", "clipped": "DP-SGD's clipped gradient (no noise)"}


def _shaped(ctx: Context, table: pd.DataFrame) -> pd.DataFrame:
    return with_ratio_cells(with_shape(ctx, table))


def memory_table(ctx: Context, task: str) -> pd.DataFrame:
    """Peak RSS above the process's before the timed calls (every backend), and tracemalloc's peak
    of one call from cold buffers (NumPy-based), per backend and configuration."""
    part = ctx.task(task)
    sizes = ("rss_peak_bytes", "traced_bytes", "compiled_bytes")
    columns = [c for c in (*sizes, "faults_per_call") if c in part and part[c].notna().any()]
    if not columns:
        return pd.DataFrame()
    table = part[["config", "backend", *columns]].copy()
    for column in columns:
        table[column] = table[column].map(fmt_bytes if column in sizes else lambda v: f"{v:,.0f}")
    return table.sort_values(["config", "backend"])


def section(ctx: Context, task: str) -> str:
    part = ctx.task(task)
    if part.empty:
        return ""
    heading = TASKS[task]
    out = [
        pivot_section(
            f"{heading}: speed-up against {ctx.reference}",
            paragraph(
                prose.PER_SAMPLE_SPEEDUP,
                reference=ctx.reference,
                task=task,
                what=paragraph(prose.PER_SAMPLE_WHAT[task]),
            ),
            with_speedup_cells(ctx.reference, part),
            "cell",
        )
    ]
    loops = loop_ratios(ctx, task)
    if not loops.empty:
        out.append(
            pivot_section(
                f"{heading}: × loop",
                paragraph(prose.LOOP),
                _shaped(ctx, loops),
                "cell",
            )
        )
    price = over_batch_gradient(ctx, task)
    if not price.empty:
        out.append(
            pivot_section(
                f"{heading} ÷ batch gradient",
                paragraph(prose.OVER_BATCH, task=task),
                _shaped(ctx, price),
                "cell",
            )
        )
    memory = memory_table(ctx, task)
    if not memory.empty:
        out += [
            f"## {heading}: memory",
            "",
            paragraph(prose.PER_SAMPLE_MEMORY),
            "",
            markdown(memory, index=False),
            "",
        ]
    return "\n".join(out)


def section_per_sample(ctx: Context) -> str:
    return "\n\n".join(s for s in (section(ctx, task) for task in TASKS) if s)
