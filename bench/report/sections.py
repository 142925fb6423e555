"""The summary's sections: each takes the run's ``Context`` and returns Markdown (or "" when the
run has nothing for it). ``SECTIONS`` in ``__init__`` lists them in order: a new section is one
function here (or in ``training``, ``per_sample``, ``stability``) and one entry there; ``html.py`` renders the same
context as a page."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..harness.machine import machine_line
from ..harness.stats import geometric_headline
from . import prose
from .context import Context
from .prose import paragraph
from .ratios import autograd_tax, break_even, golden_ratios, grad_over_forward, kernel_speed, with_shape
from .tables import (
    fmt_bytes,
    fmt_speedup,
    fmt_time,
    markdown,
    per_panel,
    pivot,
    pivot_section,
    tally,
    with_ratio_cells,
    with_speedup_cells,
)

HEADLINE_WIDTHS, HEADLINE_DEPTH = (16, 256, 1024), 4


REPORT_PENDING = "(written after this report: see benchmarks.json)"


def replicates_line(bench: dict) -> str:
    """How the run replicated: the pilot, the second stage, sweeps, order seed, budget."""
    pilot = bench.get("pilot_replicates") or bench.get("replicates", "–")
    sweeps = bench.get("sweeps", 1)
    each = (
        "once"
        if sweeps == 1
        else f"in up to {sweeps} sweeps tens of seconds apart (the later ones dropped where a worker ran past its "
        "share of the budget), each block keeping one sweep for all its rows"
    )
    text = (
        f"a pilot of {pilot} worker processes, one after another, each timing every row {each}, in its own "
        f"shuffled order (seed {bench.get('order_seed', '–')})"
    )
    stage = bench.get("second_stage") or {}
    if stage:
        text += (
            f"; then {bench.get('replicates', pilot)} replicates in all for the cells that needed them (Stein's "
            f"second stage, {stage.get('sweeps', sweeps)} sweeps a process, "
            f"aiming at ±{stage.get('aim_half_width', float('nan')):.0%} within a budget of "
            f"{bench.get('budget_s', '–'):g} s{'; ' + stage['stopped'] if stage.get('stopped') else ''})"
        )
    elif isinstance(pilot, int) and pilot >= 2 and bench.get("budget_s"):
        account = bench.get("time_account") or {}
        spent = sum(v for k, v in account.items() if k != "report" and not isinstance(v, dict))
        if spent >= bench["budget_s"]:  # the pilot always completes; on a slow machine it uses the budget up
            text += f"; no second stage: the pilot alone took {spent:.0f} s of the {bench['budget_s']:g} s budget"
    return text


def time_account(bench: dict) -> pd.DataFrame:
    """Where the run's wall time went, part by part, with each part's share."""
    account = {k: v for k, v in (bench.get("time_account") or {}).items() if not isinstance(v, dict)}
    if not account:
        return pd.DataFrame()
    report = account.pop("report", 0.0)
    total = sum(account.values())
    rows = [(part, f"{seconds:.1f} s", f"{seconds / total:.0%}" if total else "–") for part, seconds in account.items()]
    rows += [
        ("benchmarking, in all", f"{total:.1f} s", "100%"),
        ("report", f"{report:.1f} s" if report else REPORT_PENDING, ""),
    ]
    return pd.DataFrame(rows, columns=["part", "seconds", "share"])


def section_time_account(ctx: Context) -> str:
    table = time_account(ctx.bench)
    if table.empty:
        return ""
    per = (ctx.bench.get("time_account") or {}).get("per replicate") or {}
    walls = ", ".join(f"{int(r) + 1}: {sum(p.values()):.0f} s" for r, p in per.items())
    return "\n".join(
        [
            "## Where the run's time went",
            "",
            paragraph(prose.TIME_ACCOUNT),
            "",
            markdown(table, index=False),
            "",
            f"Worker seconds per replicate: {walls}." if walls else "",
            "",
        ]
    )


def section_machine(ctx: Context) -> str:
    info, bench = ctx.run["machine_info"], ctx.bench
    policy = bench.get("thread_policy") or {}
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')} kernel, {b.get('num_threads')} threads)"
        for b in policy.get("blas", [])
    )
    versions = ", ".join(f"{k} {v}" for k, v in bench.get("versions", {}).items() if v)
    commit = ctx.run.get("commit_info") or {}
    tf = policy.get("tensorflow_intra_op_threads")
    dirty = " (uncommitted changes)" if commit.get("dirty") else ""
    facts = [
        ("run", bench.get("run_id", "–")),
        ("date (UTC)", ctx.run.get("datetime", "–")),
        ("commit", f"{commit.get('id', '–')[:12]}{dirty} on {commit.get('branch', '–')}"),
        ("machine", machine_line(bench)),
        (
            "grid",
            f"{bench.get('grid', '–')}{', shard ' + '/'.join(map(str, bench['shard'])) if bench.get('shard') else ''}",
        ),
        (
            "replicates",
            f"{replicates_line(bench)}; {bench.get('row_time_s', '–')} s of timing per row and sweep, "
            f"--row-timeout {bench.get('row_timeout_s', '–')} s",
        ),
        ("backends", ", ".join(bench.get("backends", []))),
        ("threads", f"{policy.get('threads', '–')} per library, CPU affinity {policy.get('cpu_affinity', '–')}"),
        ("BLAS", blas or "–"),
        ("allocator", policy.get("malloc") or "–"),
        (
            "torch threads",
            f"{policy.get('torch_threads', '–')} intra-op, {policy.get('torch_interop_threads', '–')} inter-op",
        ),
        ("TensorFlow threads", f"{tf} intra-op, {policy.get('tensorflow_inter_op_threads')} inter-op" if tf else "–"),
        ("JAX", f"{bench.get('jax_backend', '–')}, x64 {bench.get('jax_enable_x64', '–')}; {policy.get('jax', '')}"),
        ("environment", ", ".join(f"{k}={v}" for k, v in policy.get("env", {}).items()) or "–"),
        ("versions", f"Python {bench.get('python', info.get('python_version', '–'))}, {versions}"),
    ]
    out = ["## Machine and process policy", ""]
    out += [f"> **Warning:** {w}" for w in bench.get("warnings", [])] + ([""] if bench.get("warnings") else [])
    return "\n".join([*out, markdown(pd.DataFrame(facts, columns=["", "value"]), index=False), ""])


def golden_column(ctx: Context, df: pd.DataFrame) -> pd.Series:
    """Each backend's time over the golden's in the same configuration (ADBench's objective ÷ Manual)."""
    if not ctx.golden:
        return pd.Series(dtype=object)
    ratios = golden_ratios(ctx)
    ratios = ratios[ratios["config"].isin(df["config"])]
    return ratios.groupby("backend")["estimate"].agg(lambda v: f"{np.exp(np.log(v).mean()):.2f}×" if len(v) else "–")


def section_headline(ctx: Context) -> str:
    out = ["## Headline", ""]
    geo = geometric_headline(ctx.rows, ctx.reference, ctx.pilot)
    if not geo.empty:
        geo = geo.assign(cell=[fmt_speedup(p, lo, hi) for p, lo, hi in zip(geo["geomean"], geo["low"], geo["high"])])
        line = geo.pivot_table(index="backend", columns="task", values="cell", aggfunc="first").fillna("–")
        line.columns = [f"{task}: geometric mean speed-up" for task in line.columns]
        out += [
            paragraph(prose.HEADLINE_GEOMETRIC, reference=ctx.reference),
            "",
            markdown(line),
            "",
        ]
    df = ctx.task("gradient")
    part = df[(df["depth"] == HEADLINE_DEPTH) & df["width"].isin(HEADLINE_WIDTHS)]
    if part.empty:
        return "\n".join(out)
    cells = with_speedup_cells(ctx.reference, part).pivot_table(
        index="backend", columns=["dtype", "width"], values="cell", aggfunc="first"
    )
    cells.columns = [f"{dtype} w={width}" for dtype, width in cells.columns]
    worst = ctx.rows[ctx.rows["task"] == "gradient"].pivot_table(
        index="backend", columns="dtype", values="rel_err", aggfunc="max"
    )
    worst.columns = [f"worst error {dtype}" for dtype in worst.columns]
    table = cells.fillna("–").join(worst.map(lambda v: f"{v:.0e}"))
    golden = golden_column(ctx, part)
    if not golden.empty:
        table[f"× {ctx.golden} (geo. mean)"] = golden.reindex(table.index).fillna("–")
    out += [
        paragraph(
            prose.HEADLINE,
            reference=ctx.reference,
            depth=HEADLINE_DEPTH,
            batches=", ".join(map(str, sorted(part["batch"].unique()))),
            golden=ctx.golden,
        ),
        "",
        markdown(table),
        "",
    ]
    return "\n".join(out)


def section_tally(ctx: Context) -> str:
    out = [
        f"## Wins, ties and losses against {ctx.reference}",
        "",
        paragraph(prose.TALLY, same=f"; same where it lies within ±{ctx.equivalence:.0%}" if ctx.equivalence else ""),
        "",
    ]
    for task in ("gradient", "train"):
        part = ctx.task(task)
        if not part.empty:
            out += [f"### {task}", "", markdown(tally(part)), ""]
    return "\n".join(out)


def _listed(configs, most: int = 2) -> str:
    """The first configurations, and how many in all: a backend skipped on half the grid is one line."""
    names = list(dict.fromkeys(configs))
    return ", ".join(names) if len(names) <= most else f"{', '.join(names[:most])}, … ({len(names)} in all)"


def section_outcomes(ctx: Context) -> str:
    """Every cell whose outcome is not ok, with its reason (GradBench's outcomes)."""
    out = [
        "## Outcomes",
        "",
        paragraph(prose.OUTCOMES),
        "",
    ]
    if ctx.outcomes.empty:
        return "\n".join([*out, "_Every cell ok._", ""])
    table = (
        ctx.outcomes.groupby(["outcome", "backend", "reason"], dropna=False)
        .agg(cells=("config", _listed), replicates=("replicate", lambda r: len(set(r))))
        .reset_index()
    )
    return "\n".join([*out, markdown(table, index=False), ""])


def section_agreement(ctx: Context) -> str:
    table = ctx.rows.groupby(["task", "backend", "dtype"]).agg(
        worst=("rel_err", "max"), tolerance=("tolerance", "first"), rows=("rel_err", "size")
    )
    table["pass"] = np.where(table["worst"] <= table["tolerance"], "✅ pass", "❌ FAIL")
    table["worst"] = table["worst"].map(lambda v: f"{v:.1e}")
    table["tolerance"] = table["tolerance"].map(lambda v: f"{v:.0e}")
    return "\n".join(
        [
            "## Agreement",
            "",
            paragraph(prose.AGREEMENT, reference=ctx.reference),
            "",
            markdown(table.reset_index(), index=False),
            "",
        ]
    )


def section_speedup(ctx: Context) -> str:
    return pivot_section(
        f"Speed-up against {ctx.reference}",
        paragraph(prose.SPEEDUP, reference=ctx.reference),
        with_speedup_cells(ctx.reference, ctx.task("gradient")),
        "cell",
    )


def section_times(ctx: Context) -> str:
    df = ctx.task("gradient")
    cells = df.assign(cell=[f"{fmt_time(m)} ±{s:.0%}" for m, s in zip(df["median"], df["spread"])])
    return pivot_section(
        "Median time per gradient pass",
        paragraph(prose.TIMES),
        cells,
        "cell",
    )


def section_efficiency(ctx: Context) -> str:
    df = ctx.task("gradient").dropna(subset=["floor_s"])
    if df.empty:
        return ""
    cells = df.assign(
        cell=[
            f"{g:.3g} ({f:.0%} floor, {p:.0%} peak)"
            for g, f, p in zip(df["gflops_per_s"], df["floor_share"], df["peak_share"])
        ]
    )
    peaks = df.groupby("dtype")[["peak_gflops", "peak_source"]].first()
    peak = "; ".join(f"{dtype} {r.peak_gflops:.1f} GFLOP/s ({r.peak_source})" for dtype, r in peaks.iterrows())
    sources = ", ".join(f"{s}: {n}" for s, n in df.drop_duplicates("config")["floor_source"].value_counts().items())
    return pivot_section(
        "Throughput, floor and peak",
        paragraph(prose.EFFICIENCY, sources=sources, peak=peak),
        cells,
        "cell",
        suffix=": GFLOP/s",
    )


def section_scaling(ctx: Context) -> str:
    """Slope of log(time) against log(width) per backend, dtype and depth."""
    df = ctx.task("gradient")
    rows = [
        {
            "backend": backend,
            "panel": f"{dtype} L={depth}",
            "exponent": np.polyfit(np.log(part["width"]), np.log(part["median"]), 1)[0],
        }
        for (backend, dtype, depth), part in df.groupby(["backend", "dtype", "depth"])
        if part["width"].nunique() >= 2
    ]
    if not rows:
        return ""
    wide = pd.DataFrame(rows).pivot_table(index="backend", columns="panel", values="exponent", aggfunc="first")
    return "\n".join(
        [
            "## Scaling with width",
            "",
            paragraph(prose.SCALING),
            "",
            markdown(wide.map(lambda v: f"{v:.2f}")),
            "",
        ]
    )


def section_compile(ctx: Context) -> str:
    """Compile time, and the calls after which compiling pays off against the same library op by op
    (its eager backend) and against the reference, with both compile times counted."""
    df = ctx.task("gradient")
    by = df.set_index(["config", "backend"])
    rows = []
    for _, r in df[df["compile_s"].notna()].iterrows():
        for other in dict.fromkeys([ctx.fact(r["backend"], "eager"), ctx.reference]):
            if other is None or other == r["backend"] or (r["config"], other) not in by.index:
                continue
            o = by.loc[(r["config"], other)]
            other_compile = o["compile_s"] if pd.notna(o["compile_s"]) else 0.0
            calls = break_even(r["compile_s"], r["median"], other_compile, o["median"])
            rows.append(
                {
                    "backend": r["backend"],
                    "config": r["config"],
                    "compile": fmt_time(r["compile_s"]),
                    "first call": fmt_time(r["first_call_s"]),
                    "steady": fmt_time(r["median"]),
                    "against": other,
                    "its compile": fmt_time(other_compile) if other_compile else "–",
                    "pays off after (calls)": "never" if math.isinf(calls) else f"{calls:,}",
                }
            )
    if not rows:
        return ""
    return "\n".join(
        ["## Compilation (gradient)", "", paragraph(prose.COMPILE), "", markdown(pd.DataFrame(rows), index=False), ""]
    )


def section_memory(ctx: Context) -> str:
    """One table per measure: the three (four under --isolate) measure different things."""
    df = ctx.task("gradient")
    out = [
        "## Memory",
        "",
        "Each measure in its own table, with its method: they are not comparable with each other.",
        "",
    ]
    for column, method in prose.MEMORY.items():
        if column not in df or df[column].isna().all():
            continue
        out += [f"### {column}", "", paragraph(method), ""]
        for title, part in per_panel(df.dropna(subset=[column])):
            out += [f"#### {title}", "", markdown(pivot(part, column, fmt_bytes)), ""]
    return "\n".join(out)


def section_isolation(ctx: Context) -> str:
    if "in_process_vs_isolated" not in ctx.rows or ctx.rows["in_process_vs_isolated"].isna().all():
        return ""
    table = ctx.rows.groupby("backend")["in_process_vs_isolated"].agg(["median", "min", "max", "size"])
    table["within 10 %"] = np.where((table["median"] - 1).abs() <= 0.10, "✅", "❌")
    return "\n".join(
        [
            "## In-process against isolated timing",
            "",
            paragraph(prose.ISOLATION),
            "",
            markdown(table.round(3)),
            "",
        ]
    )


def section_grad_over_forward(ctx: Context) -> str:
    table = grad_over_forward(ctx)
    if table.empty:
        return ""
    model = ctx.task("gradient").groupby("depth")["model_grad_over_forward"].first()
    return pivot_section(
        "Gradient ÷ forward (J/F)",
        paragraph(prose.GRAD_OVER_FORWARD, model=", ".join(f"L={d}: {r:.2f}" for d, r in model.items())),
        with_ratio_cells(with_shape(ctx, table)),
        "cell",
    )


def section_autograd_tax(ctx: Context) -> str:
    table = autograd_tax(ctx)
    if table.empty:
        return ""
    summary = (
        table.groupby(["system", "backend", "dtype"])
        .agg(
            low=("estimate", "min"),
            high=("estimate", "max"),
            configurations=("estimate", "size"),
            ties=("low", lambda lo: int(((lo <= 1) & (table.loc[lo.index, "high"] >= 1)).sum())),
        )
        .reset_index()
    )
    summary["range over widths and depths"] = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(summary["low"], summary["high"])]
    tax = pivot_section("Autograd tax, per configuration", "", with_ratio_cells(table), "cell")
    speed = kernel_speed(ctx)
    kernels = (
        pivot_section(
            "Kernel speed of the hand-written equations",
            paragraph(prose.KERNEL_SPEED, reference=ctx.reference),
            with_ratio_cells(speed),
            "cell",
        )
        if not speed.empty
        else ""
    )
    return "\n".join(
        [
            "## Autograd tax",
            "",
            paragraph(prose.AUTOGRAD_TAX),
            "",
            markdown(summary.drop(columns=["low", "high"]), index=False),
            "",
            tax.replace("## Autograd tax, per configuration\n\n\n", "### Per configuration [95 % interval]\n"),
            kernels,
        ]
    )


def section_golden(ctx: Context) -> str:
    table = golden_ratios(ctx)
    if table.empty:
        return ""
    shaped = with_ratio_cells(with_shape(ctx, table))
    gradient = pivot_section(
        f"× golden ({ctx.golden}), gradient",
        paragraph(prose.GOLDEN, golden=ctx.golden),
        shaped[shaped["task"] == "gradient"],
        "cell",
    )
    train = shaped[shaped["task"] == "train"]
    if train.empty:
        return gradient
    train = train.assign(
        case=[
            f"{d} {'seed' if n == 'seed' else f'w={w}'} {'b=1' if b == 1 else 'full'}"
            for d, n, w, b in zip(train["dtype"], train["network"], train["width"], train["batch_size"])
        ]
    )
    wide = train.pivot_table(index="backend", columns="case", values="cell", aggfunc="first").fillna("–")
    return f"{gradient}\n\n### × golden, training (time per step ÷ the golden's)\n\n{markdown(wide)}\n"
