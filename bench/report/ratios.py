"""The report's numbers other than the speed-up, as tables of estimates (no formatting): paired
ratios, each with the same estimate and 95 % Stein two-stage interval over replicates
(``bench.harness.stats``): J/F, the autograd tax, the kernel speed of the hand-written equations,
every backend's time over the golden's, × loop and ÷ batch gradient of the per-sample tasks; and
the compile break-even."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..harness.stats import RATIO_COLUMNS, moderated_variances, paired_ratios, ratio_table, stein_interval
from .context import Context

SYSTEMS = {"numpy": "NumPy", "autograd": "NumPy", "torch": "torch", "jax": "JAX", "tensorflow": "TensorFlow"}


SHAPE = ["task", "dtype", "depth", "batch", "width", "network", "batch_size"]
PER_SAMPLE_SHAPE = ["dtype", "depth", "batch", "width"]  # a per-sample row and its batch gradient share it


def with_shape(ctx: Context, table: pd.DataFrame) -> pd.DataFrame:
    """A ratio table with each configuration's shape beside it (the columns every pivot splits by)."""
    return table.join(ctx.table.drop_duplicates("config").set_index("config")[SHAPE], on="config")


def grad_over_forward(ctx: Context, task: str = "gradient") -> pd.DataFrame:
    """J/F per (configuration, backend): gradient ÷ forward of the same backend in the same process
    (task jvp: JVP ÷ forward; hvp: HVP ÷ the backend's own gradient)."""
    rows = ctx.rows[ctx.rows["task"] == task].dropna(subset=["grad_over_forward"])
    if rows.empty:
        return pd.DataFrame(columns=RATIO_COLUMNS)
    logs = np.log(rows.set_index(["config", "backend", "replicate"])["grad_over_forward"].astype(float))
    logs = logs.unstack("replicate")
    spread = moderated_variances(logs, pd.Series(logs.index.get_level_values("backend"), index=logs.index), ctx.pilot)
    out = []
    for (config, backend), values in logs.iterrows():
        variance, df = spread.loc[(config, backend), "variance"], spread.loc[(config, backend), "df"]
        point, low, high = stein_interval(values.to_numpy(), variance, df)
        out.append(
            {
                "config": config,
                "backend": backend,
                "estimate": point,
                "low": low,
                "high": high,
                "replicates": int(values.notna().sum()),
                "df": df,
                "processes_for_5pct": np.nan,
            }
        )
    return pd.DataFrame(out, columns=RATIO_COLUMNS)


def base_ratios(ctx: Context, task: str) -> pd.DataFrame:
    """JVP ÷ forward or HVP ÷ gradient per (configuration, backend), from the same process."""
    return grad_over_forward(ctx, task)


def nested_pairs(ctx: Context) -> list[tuple[str, str, str]]:
    """(label, reverse-over-reverse backend, its forward-over-reverse counterpart), from the run's facts."""
    timed = set(ctx.rows.loc[ctx.rows["task"] == "hvp", "backend"])
    return [(f"{b} ÷ {n}", b, n) for b in sorted(timed) if (n := ctx.fact(b, "nested")) in timed]


def tax_pairs(ctx: Context) -> list[tuple[str, str, str]]:
    """(label, autodiff backend, its hand-written counterpart), and eager ÷ compiled, from the run's facts."""
    timed = set(ctx.rows["backend"])
    pairs = [(f"{b} ÷ {m}", b, m) for b in sorted(timed) if (m := ctx.fact(b, "manual")) in timed]
    pairs += [(f"{e} ÷ {b}", e, b) for b in sorted(timed) if (e := ctx.fact(b, "eager")) in timed]
    return pairs


def autograd_tax(ctx: Context) -> pd.DataFrame:
    gradient = ctx.rows[ctx.rows["task"] == "gradient"]
    table = ratio_table(gradient, tax_pairs(ctx), pilot=ctx.pilot)
    framework = {
        label: SYSTEMS.get(ctx.fact(top, "framework"), ctx.fact(top, "framework")) for label, top, _ in tax_pairs(ctx)
    }
    return with_shape(ctx, table).assign(system=lambda t: t["backend"].map(framework))


def kernel_speed(ctx: Context) -> pd.DataFrame:
    gradient = ctx.rows[ctx.rows["task"] == "gradient"]
    timed = set(gradient["backend"])
    manuals = sorted(({ctx.fact(b, "manual") for b in timed} - {None, ctx.reference}) & timed)
    return with_shape(
        ctx, ratio_table(gradient, [(f"{m} vs {ctx.reference}", ctx.reference, m) for m in manuals], pilot=ctx.pilot)
    )


def golden_ratios(ctx: Context) -> pd.DataFrame:
    """Each backend's time ÷ the golden's, per configuration (both tasks): above 1 is slower than it."""
    if not ctx.golden or ctx.golden not in set(ctx.rows["backend"]):
        return pd.DataFrame(columns=RATIO_COLUMNS)
    others = sorted(set(ctx.rows["backend"]) - {ctx.golden})
    return ratio_table(ctx.rows, [(b, b, ctx.golden) for b in others], pilot=ctx.pilot)


def loop_ratios(ctx: Context, task: str) -> pd.DataFrame:
    """× loop per configuration: the loop backend's time ÷ each vectorised backend's, paired."""
    rows = ctx.rows[ctx.rows["task"] == task]
    timed = set(rows["backend"])
    pairs = [
        (f"{b} against the {ctx.fact(b, 'loop')} loop", ctx.fact(b, "loop"), b)
        for b in sorted(timed)
        if ctx.fact(b, "loop") in timed
    ]
    return ratio_table(rows, pairs, pilot=ctx.pilot)


def over_batch_gradient(ctx: Context, task: str) -> pd.DataFrame:
    """Each backend's time for the task ÷ its own batch gradient's in the same shape and process:
    what asking for every sample costs."""
    rows = ctx.rows[ctx.rows["task"].isin([task, "gradient"])]
    shape_key = rows[PER_SAMPLE_SHAPE].astype(str).agg("-".join, axis=1)
    rows = rows.assign(shape=shape_key)
    times = rows.set_index(["task", "backend", "shape", "replicate"])["median"].sort_index()
    out = []
    for backend in sorted(set(rows.loc[rows["task"] == task, "backend"])):
        if (task, backend) not in times.index.droplevel([2, 3]) or ("gradient", backend) not in times.index.droplevel(
            [2, 3]
        ):
            continue
        mine, batch = times.loc[(task, backend)], times.loc[("gradient", backend)]
        logs = paired_ratios(
            rows, mine.rename_axis(["config", "replicate"]), batch.rename_axis(["config", "replicate"])
        )
        if logs.empty:
            continue
        spread = moderated_variances(logs, pd.Series(task, index=logs.index), ctx.pilot)
        for shape, values in logs.iterrows():
            point, low, high = stein_interval(values.to_numpy(), spread.loc[shape, "variance"], spread.loc[shape, "df"])
            config = rows.loc[(rows["task"] == task) & (rows["shape"] == shape), "config"].iloc[0]
            out.append(
                {
                    "config": config,
                    "backend": backend,
                    "estimate": point,
                    "low": low,
                    "high": high,
                    "replicates": int(values.notna().sum()),
                    "df": spread.loc[shape, "df"],
                    "processes_for_5pct": np.nan,
                }
            )
    return pd.DataFrame(out, columns=RATIO_COLUMNS)


def break_even(compile_s: float, per_step: float, other_compile_s: float, other_per_step: float) -> float:
    """Steps n from which compile_s + n per_step < other_compile_s + n other_per_step (inf: never)."""
    gain = other_per_step - per_step
    if not np.isfinite(gain) or gain <= 0:
        return math.inf
    return max(0, math.ceil((compile_s - other_compile_s) / gain))
