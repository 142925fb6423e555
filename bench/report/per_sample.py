"""The per-sample sections: every sample's gradient (task per-sample) and DP-SGD's clipped mean
gradient without noise (task clipped), each against the reference with intervals; × loop (each
framework's vectorised form over its own per-sample loop, functorch's headline figure); the
price of asking for every sample (per-sample ÷ the same backend's batch gradient, measured in
the same process); memory; time against the batch size where the grid sweeps it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .context import Context
from .sections import with_speedup_cells
from .stats import RATIO_COLUMNS, moderated_variances, paired_ratios, ratio_table, stein_interval
from .tables import fmt_bytes, fmt_ratio, markdown, pivot_section

TASKS = {"per-sample": "Per-sample gradients", "clipped": "DP-SGD's clipped gradient (no noise)"}
SHAPE = ["dtype", "depth", "batch", "width"]


def loop_ratios(ctx: Context, task: str) -> pd.DataFrame:
    """× loop per configuration: the loop backend's time ÷ each vectorised backend's, paired."""
    rows = ctx.rows[ctx.rows["task"] == task]
    timed = set(rows["backend"])
    pairs = [(f"{b} against the {ctx.fact(b, 'loop')} loop", ctx.fact(b, "loop"), b) for b in sorted(timed)
             if ctx.fact(b, "loop") in timed]  # fmt: skip
    return ratio_table(rows, pairs, pilot=ctx.pilot)


def over_batch_gradient(ctx: Context, task: str) -> pd.DataFrame:
    """Each backend's time for the task ÷ its own batch gradient's in the same shape and process:
    what asking for every sample costs."""
    rows = ctx.rows[ctx.rows["task"].isin([task, "gradient"])]
    shape_key = rows[SHAPE].astype(str).agg("-".join, axis=1)
    rows = rows.assign(shape=shape_key)
    times = rows.set_index(["task", "backend", "shape", "replicate"])["median"].sort_index()
    out = []
    for backend in sorted(set(rows.loc[rows["task"] == task, "backend"])):
        if (task, backend) not in times.index.droplevel([2, 3]) or ("gradient", backend) not in times.index.droplevel([2, 3]):
            continue
        mine, batch = times.loc[(task, backend)], times.loc[("gradient", backend)]
        logs = paired_ratios(rows, mine.rename_axis(["config", "replicate"]), batch.rename_axis(["config", "replicate"]))
        if logs.empty:
            continue
        spread = moderated_variances(logs, pd.Series(task, index=logs.index), ctx.pilot)
        for shape, values in logs.iterrows():
            point, low, high = stein_interval(values.to_numpy(), spread.loc[shape, "variance"], spread.loc[shape, "df"])
            config = rows.loc[(rows["task"] == task) & (rows["shape"] == shape), "config"].iloc[0]
            out.append({"config": config, "backend": backend, "estimate": point, "low": low, "high": high,
                        "replicates": int(values.notna().sum()), "df": spread.loc[shape, "df"],
                        "processes_for_5pct": np.nan})  # fmt: skip
    return pd.DataFrame(out, columns=RATIO_COLUMNS)


def _shaped(ctx: Context, table: pd.DataFrame) -> pd.DataFrame:
    shape = ctx.table.drop_duplicates("config").set_index("config")[SHAPE]
    cells = [fmt_ratio(*r) for r in zip(table["estimate"], table["low"], table["high"])]
    return table.join(shape, on="config").assign(cell=cells)


def memory_table(ctx: Context, task: str) -> pd.DataFrame:
    """Peak RSS above the process's before the timed calls (every backend), and tracemalloc's peak
    of one call from cold buffers (NumPy-based), per backend and configuration."""
    part = ctx.task(task)
    columns = [c for c in ("rss_peak_bytes", "traced_bytes", "compiled_bytes") if c in part and part[c].notna().any()]
    if not columns:
        return pd.DataFrame()
    table = part[["config", "backend", *columns]].copy()
    for column in columns:
        table[column] = table[column].map(fmt_bytes)
    return table.sort_values(["config", "backend"])


def section(ctx: Context, task: str) -> str:
    part = ctx.task(task)
    if part.empty:
        return ""
    heading = TASKS[task]
    out = [pivot_section(f"{heading}: speed-up against {ctx.reference}",
                         f"Time of `{ctx.reference}`'s {task} pass ÷ the backend's (above 1: faster) [95 % interval]. "
                         + ("Every sample's gradient, materialised: (d, l_k, l_{k-1}) per layer." if task == "per-sample"
                            else "The mean over samples of each sample's gradient scaled to norm at most C (C: the median "
                            "of the samples' norms); the reference and the ghost-clipping forms never hold a per-sample array."),
                         with_speedup_cells(ctx, part), "cell")]  # fmt: skip
    loops = loop_ratios(ctx, task)
    if not loops.empty:
        out.append(pivot_section(f"{heading}: × loop",
                                 "Each framework's per-sample loop's time ÷ its vectorised form's (vmap, hooks, "
                                 "vectorized_map): how much the vectorisation buys on this CPU [95 % interval].",
                                 _shaped(ctx, loops), "cell"))  # fmt: skip
    price = over_batch_gradient(ctx, task)
    if not price.empty:
        out.append(pivot_section(f"{heading} ÷ batch gradient",
                                 f"Each backend's {task} time ÷ its own batch gradient's (task gradient, same network, "
                                 "batch and dtype, same process): the price of asking for every sample [95 % interval].",
                                 _shaped(ctx, price), "cell"))  # fmt: skip
    memory = memory_table(ctx, task)
    if not memory.empty:
        out += [f"## {heading}: memory", "",
                "`rss_peak_bytes`: the kernel's peak-RSS mark over the timed calls above the RSS before them (every "
                "backend); `traced_bytes`: tracemalloc's peak of one call from cold buffers (NumPy-based); "
                "`compiled_bytes`: XLA's account of the compiled program. The per-sample output is d × P numbers; the "
                "ghost-norm path holds no such array.", "", markdown(memory, index=False), ""]  # fmt: skip
    return "\n".join(out)


def section_per_sample(ctx: Context) -> str:
    return "\n\n".join(s for s in (section(ctx, task) for task in TASKS) if s)
