"""The summary's sections: each takes the run's ``Context`` and returns Markdown (or "" when the
run has nothing for it). ``SECTIONS`` in ``__init__`` lists them in order: a new section is one
function here and one entry there; ``html.py`` renders the same context as a page."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..registry import REFERENCE, REGISTRY
from .stats import fmt_speedup, tally
from .tables import fmt_bytes, fmt_time, markdown, per_panel, pivot, pivot_section

SPREAD_LIMIT = 0.10  # IQR / median above this: the row's median is not to be trusted
BELOW_FLOOR = 0.95  # a row faster than its floor by more than 5 % is a measurement error
HEADLINE_WIDTHS, HEADLINE_DEPTH = (16, 256, 1024), 4


@dataclass
class Context:
    run: dict
    rows: pd.DataFrame  # one row per benchmark (every round)
    table: pd.DataFrame  # one row per (configuration, backend): medians over rounds, speed-up and interval

    def task(self, name: str) -> pd.DataFrame:
        return self.table[self.table["task"] == name]

    @property
    def bench(self) -> dict:
        return self.run["machine_info"].get("autograd_bench", {})


def speedup_cell(backend: str, point: float, low: float, high: float) -> str:
    return "1 (reference)" if backend == REFERENCE else fmt_speedup(point, low, high)


def with_speedup_cells(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(cell=[speedup_cell(*r) for r in zip(df["backend"], df["speedup"], df["low"], df["high"])])


# ---------------------------------------------------------------------------------------- sections


def section_machine(ctx: Context) -> str:
    info, bench = ctx.run["machine_info"], ctx.bench
    policy = bench.get("thread_policy") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')} kernel, {b.get('num_threads')} threads)"
                     for b in policy.get("blas", []))  # fmt: skip
    versions = ", ".join(f"{k} {v}" for k, v in bench.get("versions", {}).items() if v)
    commit = ctx.run.get("commit_info") or {}
    facts = [("run", bench.get("run_id", "–")), ("date (UTC)", ctx.run.get("datetime", "–")),
             ("commit", f"{commit.get('id', '–')[:12]}{' (uncommitted changes)' if commit.get('dirty') else ''} on {commit.get('branch', '–')}"),
             ("CPU", f"{bench.get('cpu_model', '–')}, {bench.get('cores', '–')} cores"),
             ("grid", f"{bench.get('grid', '–')}{', shard ' + '/'.join(map(str, bench['shard'])) if bench.get('shard') else ''}"),
             ("rounds", f"{bench.get('rounds', '–')} per row, shuffled order, seed {bench.get('order_seed', '–')}"),
             ("backends", ", ".join(bench.get("backends", []))),
             ("threads", f"{policy.get('threads', '–')} per library, CPU affinity {policy.get('cpu_affinity', '–')}"),
             ("BLAS (NumPy)", blas or "–"), ("allocator", policy.get("malloc") or "–"),
             ("torch threads", f"{policy.get('torch_threads', '–')} intra-op, {policy.get('torch_interop_threads', '–')} inter-op"),
             ("JAX", f"{bench.get('jax_backend', '–')}, x64 {bench.get('jax_enable_x64', '–')}; {policy.get('jax', '')}"),
             ("environment", ", ".join(f"{k}={v}" for k, v in policy.get("env", {}).items()) or "–"),
             ("versions", f"Python {bench.get('python', info.get('python_version', '–'))}, {versions}")]  # fmt: skip
    out = ["## Machine and process policy", ""]
    out += [f"> **Warning:** {w}" for w in bench.get("warnings", [])] + ([""] if bench.get("warnings") else [])
    return "\n".join([*out, markdown(pd.DataFrame(facts, columns=["", "value"]), index=False), ""])


def section_headline(ctx: Context) -> str:
    df = ctx.task("gradient")
    part = df[(df["depth"] == HEADLINE_DEPTH) & df["width"].isin(HEADLINE_WIDTHS)]
    if part.empty:
        return ""
    cells = with_speedup_cells(part).pivot_table(
        index="backend", columns=["dtype", "width"], values="cell", aggfunc="first"
    )
    cells.columns = [f"{dtype} w={width}" for dtype, width in cells.columns]
    worst = ctx.rows[ctx.rows["task"] == "gradient"].pivot_table(
        index="backend", columns="dtype", values="rel_err", aggfunc="max"
    )
    worst.columns = [f"worst error {dtype}" for dtype in worst.columns]
    table = cells.fillna("–").join(worst.map(lambda v: f"{v:.0e}"))
    out = ["## Headline", "",
           f"Speed-up against `{REFERENCE}` (its time / the backend's; above 1 the backend is faster), median over rounds "
           f"with its 95 % interval, at depth {HEADLINE_DEPTH}, batch {', '.join(map(str, sorted(part['batch'].unique())))}; "
           "`tie` where the interval contains 1. Last columns: the worst gradient error of each backend over the run.", "",
           markdown(table), ""]  # fmt: skip
    seed = ctx.task("train")
    seed = seed[seed["network"] == "seed"]
    if not seed.empty:
        per_step = seed.assign(
            case=[f"{d} {'b=1' if b == 1 else 'full batch'}" for d, b in zip(seed["dtype"], seed["batch_size"])]
        )
        out += ["Training the seed's network ([1, 16, 16, 1], 64 samples, SGD with clipping), time per step:", "",
                markdown(pivot(per_step, "per_step_s", fmt_time, columns="case")), ""]  # fmt: skip
    return "\n".join(out)


def section_tally(ctx: Context) -> str:
    out = ["## Wins, ties and losses against numpy-hadamard", "",
           "Per configuration: a win where the backend's speed-up interval lies above 1, a loss below 1, a tie otherwise.", ""]  # fmt: skip
    for task in ("gradient", "train"):
        part = ctx.task(task)
        if not part.empty:
            out += [f"### {task}", "", markdown(tally(part)), ""]
    return "\n".join(out)


def section_agreement(ctx: Context) -> str:
    table = ctx.rows.groupby(["task", "backend", "dtype"]).agg(worst=("rel_err", "max"), tolerance=("tolerance", "first"),
                                                               rows=("rel_err", "size"))  # fmt: skip
    table["pass"] = np.where(table["worst"] <= table["tolerance"], "✅ pass", "❌ FAIL")
    table["worst"] = table["worst"].map(lambda v: f"{v:.1e}")
    table["tolerance"] = table["tolerance"].map(lambda v: f"{v:.0e}")
    return "\n".join(["## Agreement", "",
                      "Worst max|v − v_ref| / max|v_ref| over the run against float64 `numpy-hadamard` on the same (upcast) "
                      "numbers: v is the gradients (task gradient) or the parameters after training (task train).", "",
                      markdown(table.reset_index(), index=False), ""])  # fmt: skip


def section_speedup(ctx: Context) -> str:
    return pivot_section("Speed-up against numpy-hadamard",
                         f"Time of `{REFERENCE}` divided by the backend's (above 1: faster), median over rounds [95 % interval].",
                         with_speedup_cells(ctx.task("gradient")), "cell")  # fmt: skip


def section_times(ctx: Context) -> str:
    df = ctx.task("gradient")
    cells = df.assign(cell=[f"{fmt_time(m)} ±{s:.0%}" for m, s in zip(df["median"], df["spread"])])
    return pivot_section("Median time per gradient pass",
                         "Median over rounds of each row's median, ± the interquartile range as a share of the median.",
                         cells, "cell")  # fmt: skip


def section_grad_over_forward(ctx: Context) -> str:
    df = ctx.task("gradient").dropna(subset=["grad_over_forward"])
    if df.empty:
        return ""
    cells = df.assign(cell=[f"{r:.2f}" for r in df["grad_over_forward"]])
    model = ", ".join(f"L={d}: {r:.2f}" for d, r in df.groupby("depth")["model_grad_over_forward"].first().items())
    return pivot_section("Gradient ÷ forward (J/F)",
                         "Time of cost and all gradients over the time of the cost alone, per backend (as ADBench and GradBench "
                         f"report it). The FLOP model's ratio, (3L − 1)/L: {model}; above it is autodiff and dispatch overhead.",
                         cells, "cell")  # fmt: skip


def section_autograd_tax(ctx: Context) -> str:
    df = ctx.task("gradient")
    medians = df.set_index(["config", "backend"])["median"]
    rows = []
    for name, backend in REGISTRY.items():
        if backend.manual is None:
            continue
        for config, part in df[df["backend"] == name].groupby("config"):
            manual = medians.get((config, backend.manual), np.nan)
            reference = medians.get((config, REFERENCE), np.nan)
            r = part.iloc[0]
            rows.append({"dtype": r["dtype"], "depth": r["depth"], "batch": r["batch"], "width": r["width"],
                         "backend": f"{name} ÷ {backend.manual}", "tax": r["median"] / manual,
                         "kernel": f"{backend.manual} vs {REFERENCE}", "kernel_speed": reference / manual})  # fmt: skip
    if not rows:
        return ""
    table = pd.DataFrame(rows).dropna(subset=["tax"])
    tax = pivot_section("Autograd tax", "Autodiff time ÷ the same framework running the seed's equations by hand "
                        "(above 1: what autodiff costs over hand-derived backprop in that framework).", table, "tax",
                        lambda v: f"{v:.2f}")  # fmt: skip
    kernels = table.drop_duplicates(["dtype", "depth", "batch", "width", "kernel"]).assign(
        backend=lambda t: t["kernel"]
    )
    speed = pivot_section("Kernel speed of the hand-written equations",
                          f"The same equations: `{REFERENCE}`'s time ÷ the framework's (above 1: the framework's kernels are faster).",
                          kernels, "kernel_speed", lambda v: f"{v:.2f}×")  # fmt: skip
    return f"{tax}\n\n{speed}"


def section_efficiency(ctx: Context) -> str:
    df = ctx.task("gradient")
    cells = df.assign(cell=[f"{g:.3g} ({f:.0%} floor, {p:.0%} peak)" for g, f, p in
                            zip(df["gflops_per_s"], df["floor_share"], df["peak_share"])])  # fmt: skip
    peaks = df.groupby("dtype")[["peak_gflops", "peak_source"]].first()
    peak = "; ".join(f"{dtype} {r.peak_gflops:.1f} GFLOP/s ({r.peak_source})" for dtype, r in peaks.iterrows())
    sources = ", ".join(f"{s}: {n}" for s, n in df.drop_duplicates("config")["floor_source"].value_counts().items())
    return pivot_section("Throughput, floor and peak",
                         "GFLOP/s from the FLOP model (`bench/flops.py`); the floor is the time of exactly the pass's matrix "
                         "products, each timed alone in every installed library and the fastest taken, so 100 % floor means "
                         f"no overhead around the necessary GEMMs (configurations per floor source: {sources}). "
                         f"Peak: the best large square product, {peak}.", cells, "cell", suffix=": GFLOP/s")  # fmt: skip


def section_scaling(ctx: Context) -> str:
    """Slope of log(time) against log(width) per backend, dtype and depth, and where the faster of two swaps."""
    df = ctx.task("gradient")
    rows, swaps = [], []
    for (backend, dtype, depth), part in df.groupby(["backend", "dtype", "depth"]):
        if part["width"].nunique() >= 2:
            rows.append({"backend": backend, "panel": f"{dtype} L={depth}",
                         "exponent": np.polyfit(np.log(part["width"]), np.log(part["median"]), 1)[0]})  # fmt: skip
    for (dtype, depth), part in df.groupby(["dtype", "depth"]):
        table = part.pivot_table(index="width", columns="backend", values="median", aggfunc="first")
        for a in table.columns:
            for b in table.columns[table.columns > a]:
                pair = table[[a, b]].dropna()
                faster = (pair[a] < pair[b]).to_numpy()
                swaps += [{"panel": f"{dtype} L={depth}", "pair": f"{a} / {b}", "faster above": a if faster[j] else b,
                           "between widths": f"{pair.index[j - 1]} and {pair.index[j]}"}
                          for j in range(1, len(faster)) if faster[j] != faster[j - 1]]  # fmt: skip
    if not rows:
        return ""
    wide = pd.DataFrame(rows).pivot_table(index="backend", columns="panel", values="exponent", aggfunc="first")
    return "\n".join(["## Scaling with width", "",
                      "Exponent p of time ∝ width^p (least squares on log-log over the run's widths): pure GEMM work gives 2, "
                      "overhead-bound backends less; the diagonal Jacobians (d·l² work per layer) make `numpy-diag` grow fastest.", "",
                      markdown(wide.map(lambda v: f"{v:.2f}")), "", "### Where the faster of two backends changes", "",
                      markdown(pd.DataFrame(swaps), index=False), ""])  # fmt: skip


def section_compile(ctx: Context) -> str:
    df = ctx.task("gradient")
    compiled = df[df["compile_s"].notna()]
    if compiled.empty:
        return ""
    medians = df.set_index(["config", "backend"])["median"]
    rows = []
    for _, r in compiled.iterrows():
        eager = REGISTRY[r["backend"]].eager
        gain = medians.get((r["config"], eager), np.nan) - r["median"] if eager else np.nan
        calls = "–" if not np.isfinite(gain) else (f"{math.ceil(r['compile_s'] / gain)}" if gain > 0 else "never")
        rows.append({"backend": r["backend"], "config": r["config"], "compile": fmt_time(r["compile_s"]),
                     "first call": fmt_time(r["first_call_s"]), "steady": fmt_time(r["median"]), "vs": eager or "–",
                     "pays off after (calls)": calls})  # fmt: skip
    return "\n".join(["## Compilation (gradient)", "",
                      "Ahead-of-time compile time, first call after it, steady-state median, and the number of calls after "
                      "which compiling beats the same library op by op.", "", markdown(pd.DataFrame(rows), index=False), ""])  # fmt: skip


def section_memory(ctx: Context) -> str:
    df = ctx.task("gradient")
    out = ["## Peak memory", "",
           "In-process figure: NumPy via tracemalloc, JAX via the compiled `memory_analysis`; torch has none in-process. "
           "Under `--isolate`, the peak RSS of a fresh subprocess per row above its post-import baseline (all backends).", ""]  # fmt: skip
    for title, part in per_panel(df):
        out += [f"### {title}: in-process peak", "", markdown(pivot(part, "peak_bytes", fmt_bytes)), ""]
        if "isolated_rss_peak_bytes" in part and part["isolated_rss_peak_bytes"].notna().any():
            out += [
                f"### {title}: isolated peak RSS",
                "",
                markdown(pivot(part, "isolated_rss_peak_bytes", fmt_bytes)),
                "",
            ]
    return "\n".join(out)


def section_isolation(ctx: Context) -> str:
    if "in_process_vs_isolated" not in ctx.rows or ctx.rows["in_process_vs_isolated"].isna().all():
        return ""
    table = ctx.rows.groupby("backend")["in_process_vs_isolated"].agg(["median", "min", "max", "size"])
    table["within 10 %"] = np.where((table["median"] - 1).abs() <= 0.10, "✅", "❌")
    return "\n".join(["## In-process against isolated timing", "",
                      "Each row was also timed in a fresh subprocess of its own (`--isolate`); in-process median / isolated "
                      "median, over the rows of each backend.", "", markdown(table.round(3)), ""])  # fmt: skip


def section_skipped(ctx: Context) -> str:
    skipped = pd.DataFrame(ctx.run.get("autograd_bench_skipped", []))
    out = ["## Skipped rows", ""]
    if skipped.empty:
        return "\n".join([*out, "_None._", ""])
    table = skipped.drop_duplicates(["config", "backend"]).groupby(["backend", "reason"]).agg(
        configurations=("config", lambda c: ", ".join(c))).reset_index()  # fmt: skip
    return "\n".join([*out, markdown(table, index=False), ""])


def section_noise(ctx: Context) -> str:
    """Per (configuration, backend): how many rounds were too noisy, or ran below the floor."""
    rows = ctx.rows

    def summary(flagged: pd.DataFrame, column: str, fmt) -> pd.DataFrame:
        if flagged.empty:
            return flagged
        grouped = flagged.groupby(["config", "backend"], sort=False)
        return pd.DataFrame({"rounds": grouped.size().astype(str) + f" of {ctx.bench.get('rounds', '?')}",
                             f"worst {column}": grouped[column].max().map(fmt),
                             "median": grouped["median"].median().map(fmt_time)}).reset_index()  # fmt: skip

    noisy = summary(rows[rows["spread"] > SPREAD_LIMIT], "spread", lambda v: f"{v:.0%}")
    below = summary(rows[rows["floor_share"] > 1 / BELOW_FLOOR], "floor_share", lambda v: f"{v:.2f}")
    return "\n".join(["## Rows too noisy to trust", "",
                      f"Rows whose interquartile range exceeds {SPREAD_LIMIT:.0%} of the median (the machine is shared): "
                      "their intervals are wide; compare with care.", "", markdown(noisy, index=False), "",
                      f"Rows more than {1 - BELOW_FLOOR:.0%} faster than their matrix-multiply floor (a measurement error: "
                      "no correct backend runs below the fastest library's products):", "",
                      markdown(below, index=False), ""])  # fmt: skip
