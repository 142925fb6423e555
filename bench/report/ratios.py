"""Sections made of paired ratios other than the speed-up, each with the same estimate and 95 %
Stein two-stage interval over replicates (``stats``): J/F, the autograd tax, the kernel speed of the
hand-written equations, and every backend's time over the golden's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .context import Context
from .stats import RATIO_COLUMNS, moderated_variances, ratio_table, stein_interval
from .tables import fmt_ratio, markdown, pivot_section

SYSTEMS = {"numpy": "NumPy", "autograd": "NumPy", "torch": "torch", "jax": "JAX", "tensorflow": "TensorFlow"}


def _with_shape(ctx: Context, table: pd.DataFrame) -> pd.DataFrame:
    shape = ctx.table.drop_duplicates("config").set_index("config")[["task", "dtype", "depth", "batch", "width", "network",
                                                                      "batch_size"]]  # fmt: skip
    return table.join(shape, on="config").assign(
        cell=[fmt_ratio(*r) for r in zip(table["estimate"], table["low"], table["high"])]
    )


def grad_over_forward(ctx: Context) -> pd.DataFrame:
    """J/F per (configuration, backend): gradient ÷ forward of the same backend in the same process."""
    rows = ctx.rows.dropna(subset=["grad_over_forward"])
    logs = np.log(rows.set_index(["config", "backend", "replicate"])["grad_over_forward"].astype(float))
    logs = logs.unstack("replicate")
    spread = moderated_variances(logs, pd.Series(logs.index.get_level_values("backend"), index=logs.index), ctx.pilot)
    out = []
    for (config, backend), values in logs.iterrows():
        variance, df = spread.loc[(config, backend), "variance"], spread.loc[(config, backend), "df"]
        point, low, high = stein_interval(values.to_numpy(), variance, df)
        out.append({"config": config, "backend": backend, "estimate": point, "low": low, "high": high,
                    "replicates": int(values.notna().sum()), "df": df, "processes_for_5pct": np.nan})  # fmt: skip
    return pd.DataFrame(out, columns=RATIO_COLUMNS)


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
    return _with_shape(ctx, table).assign(system=lambda t: t["backend"].map(framework))


def kernel_speed(ctx: Context) -> pd.DataFrame:
    gradient = ctx.rows[ctx.rows["task"] == "gradient"]
    timed = set(gradient["backend"])
    manuals = sorted(({ctx.fact(b, "manual") for b in timed} - {None, ctx.reference}) & timed)
    return _with_shape(ctx, ratio_table(gradient, [(f"{m} vs {ctx.reference}", ctx.reference, m) for m in manuals], pilot=ctx.pilot))


def golden_ratios(ctx: Context) -> pd.DataFrame:
    """Each backend's time ÷ the golden's, per configuration (both tasks): above 1 is slower than it."""
    if not ctx.golden or ctx.golden not in set(ctx.rows["backend"]):
        return pd.DataFrame(columns=RATIO_COLUMNS)
    others = sorted(set(ctx.rows["backend"]) - {ctx.golden})
    return ratio_table(ctx.rows, [(b, b, ctx.golden) for b in others], pilot=ctx.pilot)


def section_grad_over_forward(ctx: Context) -> str:
    table = grad_over_forward(ctx)
    if table.empty:
        return ""
    model = ctx.task("gradient").groupby("depth")["model_grad_over_forward"].first()
    return pivot_section("Gradient ÷ forward (J/F)",
                         "Time of cost and all gradients over the time of the cost alone, both timed in blocks of calls by one "
                         "timer in the same process (ADBench's and GradBench's ratio); geometric mean over replicates [95 % "
                         f"interval]. The FLOP model's ratio, (3L − 1)/L: {', '.join(f'L={d}: {r:.2f}' for d, r in model.items())}; "
                         "above it is autodiff and dispatch overhead.", _with_shape(ctx, table), "cell")  # fmt: skip


def section_autograd_tax(ctx: Context) -> str:
    table = autograd_tax(ctx)
    if table.empty:
        return ""
    summary = table.groupby(["system", "backend", "dtype"]).agg(
        low=("estimate", "min"), high=("estimate", "max"), configurations=("estimate", "size"),
        ties=("low", lambda lo: int(((lo <= 1) & (table.loc[lo.index, "high"] >= 1)).sum()))).reset_index()  # fmt: skip
    summary["range over widths and depths"] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(summary["low"], summary["high"])]
    tax = pivot_section("Autograd tax, per configuration", "", table, "cell")
    speed = kernel_speed(ctx)
    kernels = pivot_section("Kernel speed of the hand-written equations",
                            f"The same equations: `{ctx.reference}`'s time ÷ the framework's (above 1: the framework's kernels "
                            "are faster) [95 % interval].", speed, "cell") if not speed.empty else ""  # fmt: skip
    return "\n".join(["## Autograd tax", "",
                      "Autodiff time ÷ the same system running the seed's equations by hand, so that the kernels cancel and "
                      "only autodiff is left: NumPy (`autograd` ÷ `numpy-hadamard`: HIPS autograd's tape over the very same "
                      "NumPy kernels), torch (`torch`, `torch-func` ÷ `torch-manual`), JAX (`jax` ÷ `jax-manual`) and "
                      "TensorFlow (`tensorflow` ÷ `tensorflow-manual`); and op by op ÷ compiled (`jax-eager` ÷ `jax`, "
                      "`tensorflow-eager` ÷ `tensorflow`). Above 1: what autodiff (or eager dispatch) costs. Summary per "
                      "system: the range of the per-configuration estimates, and how many of them are ties with 1.", "",
                      markdown(summary.drop(columns=["low", "high"]), index=False), "",
                      tax.replace("## Autograd tax, per configuration\n\n\n", "### Per configuration [95 % interval]\n"),
                      kernels])  # fmt: skip


def section_golden(ctx: Context) -> str:
    table = golden_ratios(ctx)
    if table.empty:
        return ""
    shaped = _with_shape(ctx, table)
    gradient = pivot_section(f"× golden ({ctx.golden}), gradient",
                             f"Each backend's time ÷ the golden `{ctx.golden}`'s (the seed's equations compiled, no framework: "
                             "ADBench's objective ÷ Manual): above 1 slower than the golden [95 % interval].",
                             shaped[shaped["task"] == "gradient"], "cell")  # fmt: skip
    train = shaped[shaped["task"] == "train"]
    if train.empty:
        return gradient
    train = train.assign(case=[f"{d} {'seed' if n == 'seed' else f'w={w}'} {'b=1' if b == 1 else 'full'}"
                               for d, n, w, b in zip(train["dtype"], train["network"], train["width"], train["batch_size"])])  # fmt: skip
    wide = train.pivot_table(index="backend", columns="case", values="cell", aggfunc="first").fillna("–")
    return f"{gradient}\n\n### × golden, training (time per step ÷ the golden's)\n\n{markdown(wide)}\n"
