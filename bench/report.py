"""Tables and plots of a benchmark run, and comparisons between runs.

    python -m bench.report RUN_DIR_OR_JSON [--out DIR]
    python -m bench.report --compare OLD NEW [--threshold PCT] [--fail-above PCT]

Every number comes from the run's pytest-benchmark JSON (``results/<run-id>/benchmarks.json``).
Writes ``benchmarks.csv`` (tidy: one row per benchmark, every parameter, statistic and
``extra_info`` field a column), ``summary.md`` (Markdown pivots) and PNG plots, each file written
to a temporary name and renamed, so an interrupted report never leaves half a table. Bad input
gets one error line and exit code 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = "numpy-hadamard"
REQUIRED_EXTRA = ("backend", "variant", "width", "depth", "batch", "dtype", "threads", "flops", "grad_rel_err")
STATS = (
    "min",
    "max",
    "mean",
    "stddev",
    "median",
    "q1",
    "q3",
    "iqr",
    "rounds",
    "iterations",
    "outliers",
    "ops",
    "total",
)
SPREAD_LIMIT = 0.10  # IQR / median above this: the row's median is not to be trusted
SIGNIFICANCE = 0.01  # Mann-Whitney p-value below which a change between runs counts as real


class ReportError(Exception):
    """Input the report cannot use; the message is the one line the user sees."""


# ---------------------------------------------------------------------------------------- loading


def json_path(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "benchmarks.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such file (expected a run folder or its benchmarks.json)")
    return path


def load_run(path: Path) -> dict:
    path = json_path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid JSON, truncated or damaged ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) or "machine_info" not in data:
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list and 'machine_info')")
    if not data["benchmarks"]:
        raise ReportError(f"{path}: the run holds no benchmarks")
    for bench in data["benchmarks"]:
        extra, stats = bench.get("extra_info", {}), bench.get("stats", {})
        missing = [k for k in REQUIRED_EXTRA if k not in extra] + [k for k in ("median", "iqr") if k not in stats]
        if missing:
            raise ReportError(f"{path}: benchmark {bench.get('name')!r} lacks {missing}: not a run of this suite")
    data["_path"] = str(path)
    return data


def frame(run: dict) -> pd.DataFrame:
    """Tidy table: one row per benchmark, parameters, statistics and derived figures as columns."""
    rows = []
    for bench in run["benchmarks"]:
        row = {"name": bench["name"], "group": bench.get("group")}
        row.update(bench["extra_info"])
        row.update({k: bench["stats"].get(k) for k in STATS})
        rows.append(row)
    df = pd.DataFrame(rows)
    df["spread"] = df["iqr"] / df["median"]
    df["cv"] = df["stddev"] / df["mean"]
    df["gflops_per_s"] = df["flops"] / df["median"] / 1e9
    df["floor_share"] = df["floor_s"] / df["median"] if "floor_s" in df else np.nan
    keys = ["width", "depth", "batch", "dtype"]
    reference = df[df["backend"] == REFERENCE].set_index(keys)["median"].rename("reference_median")
    df = df.join(reference, on=keys)
    df["speedup_vs_reference"] = df["reference_median"] / df["median"]
    if "isolated_median_s" in df:
        df["in_process_vs_isolated"] = df["median"] / df["isolated_median_s"]
    return df.drop(columns=["reference_median"])


# ------------------------------------------------------------------------------------- formatting


def fmt_time(seconds: float) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(n: float) -> str:
    if n is None or not np.isfinite(n):
        return "–"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def markdown(df: pd.DataFrame, index: bool = True) -> str:
    return df.to_markdown(index=index, disable_numparse=True) if len(df) else "_(none)_"


def per_panel(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One table per (dtype, depth, batch): the panels every pivot is split by."""
    return [
        (f"{dtype}, depth {depth}, batch {batch}", part)
        for (dtype, depth, batch), part in df.groupby(["dtype", "depth", "batch"], sort=True)
    ]


def pivot(df: pd.DataFrame, values: str, fmt: Callable[[float], str]) -> pd.DataFrame:
    table = df.pivot_table(index="backend", columns="width", values=values, aggfunc="first")
    table.columns = [f"w={w}" for w in table.columns]
    return table.map(lambda v: fmt(v) if pd.notna(v) else "–")


# ---------------------------------------------------------------------------------------- sections


HEADLINE_WIDTHS, HEADLINE_DEPTH = (16, 256, 1024), 4


def section_headline(df: pd.DataFrame) -> str:
    """Speed-up against numpy-hadamard at a few widths, and each backend's worst gradient error."""
    part = df[(df["depth"] == HEADLINE_DEPTH) & df["width"].isin(HEADLINE_WIDTHS)]
    if part.empty:
        return ""
    speed = part.pivot_table(
        index="backend", columns=["dtype", "width"], values="speedup_vs_reference", aggfunc="first"
    )
    speed.columns = [f"{dtype} w={width}" for dtype, width in speed.columns]
    worst = df.pivot_table(index="backend", columns="dtype", values="grad_rel_err", aggfunc="max")
    worst.columns = [f"worst grad error {dtype}" for dtype in worst.columns]
    table = speed.map(lambda v: f"{v:.2f}×" if pd.notna(v) else "–").join(worst.map(lambda v: f"{v:.0e}"))
    batch = ", ".join(map(str, sorted(part["batch"].unique())))
    return "\n".join(["## Headline", "",
                      f"Speed-up against `{REFERENCE}` (its time / the backend's; above 1 is faster) at depth "
                      f"{HEADLINE_DEPTH}, batch {batch}, and the worst gradient error of each backend over the whole run "
                      "(max|g − g_ref| / max|g_ref| against float64 numpy-hadamard).", "", markdown(table), ""])  # fmt: skip


def pivot_section(heading: str, intro: str, df: pd.DataFrame, values: str, fmt=str, suffix: str = "") -> str:
    """A heading, a sentence, and one backend x width pivot per (dtype, depth, batch) panel."""
    out = [f"## {heading}", "", intro, ""]
    for title, part in per_panel(df):
        out += [f"### {title}{suffix}", "", markdown(pivot(part, values, fmt)), ""]
    return "\n".join(out)


def section_times(df: pd.DataFrame) -> str:
    cells = df.assign(cell=[f"{fmt_time(m)} ±{s:.0%}" for m, s in zip(df["median"], df["spread"])])
    return pivot_section("Median time per gradient pass",
                         "Median of pytest-benchmark's rounds, ± the interquartile range as a share of the median.",
                         cells, "cell")  # fmt: skip


def section_speedup(df: pd.DataFrame) -> str:
    return pivot_section("Speed-up against numpy-hadamard",
                         f"Time of `{REFERENCE}` divided by the backend's time: above 1 the backend is faster.",
                         df, "speedup_vs_reference", lambda v: f"{v:.2f}×")  # fmt: skip


def section_efficiency(df: pd.DataFrame) -> str:
    cells = df.assign(cell=[f"{g:.3g} ({s:.2f})" for g, s in zip(df["gflops_per_s"], df["floor_share"])])
    return pivot_section("Throughput and share of the matrix-multiply floor",
                         "GFLOP/s from the FLOP model (`bench/flops.py`); the floor is the time of exactly the pass's "
                         "matrix products in NumPy, timed alone in the same run, so floor/time is the share of the time "
                         "spent in necessary GEMMs (1.00 = no overhead; above 1 the backend's GEMMs beat NumPy's).",
                         cells, "cell", suffix=": GFLOP/s (floor share)")  # fmt: skip


def section_agreement(df: pd.DataFrame) -> str:
    table = df.groupby(["backend", "dtype"]).agg(worst=("grad_rel_err", "max"), tolerance=("grad_tolerance", "first"),
                                                 rows=("grad_rel_err", "size"))  # fmt: skip
    table["pass"] = np.where(table["worst"] <= table["tolerance"], "✅ pass", "❌ FAIL")
    table["worst"] = table["worst"].map(lambda v: f"{v:.1e}")
    table["tolerance"] = table["tolerance"].map(lambda v: f"{v:.0e}")
    return "\n".join([
        "## Gradient agreement", "",
        "Worst max|g − g_ref| / max|g_ref| over the run, against the float64 `numpy-hadamard` gradients of "
        "the same (upcast) parameters and data.", "", markdown(table.reset_index(), index=False), ""])  # fmt: skip


def section_compile(df: pd.DataFrame) -> str:
    compiled = df[df["compile_s"].notna()] if "compile_s" in df else df.iloc[0:0]
    if compiled.empty:
        return "## Compilation\n\n_No backend in this run compiles._\n"
    # A compiled backend pays off once compile_s + n t_compiled < n t_eager.
    eager_of = {"jax": "jax-eager", "torch-compile": "torch"}
    keys = ["width", "depth", "batch", "dtype"]
    medians = df.set_index([*keys, "backend"])["median"]
    rows = []
    for _, r in compiled.iterrows():
        eager = eager_of.get(r["backend"])
        t_eager = medians.get((*(r[k] for k in keys), eager), np.nan) if eager else np.nan
        gain = t_eager - r["median"]
        calls = "–" if not np.isfinite(gain) else (f"{math.ceil(r['compile_s'] / gain)}" if gain > 0 else "never")
        rows.append({"backend": r["backend"], "config": r["group"], "compile": fmt_time(r["compile_s"]),
                     "first call": fmt_time(r["first_call_s"]), "steady": fmt_time(r["median"]),
                     "vs": eager or "–", "pays off after (calls)": calls})  # fmt: skip
    return "\n".join(["## Compilation", "",
                      "Ahead-of-time compile time, first call after it, steady-state median, and the number of calls "
                      "after which compiling beats the same library op by op.", "",
                      markdown(pd.DataFrame(rows), index=False), ""])  # fmt: skip


def section_memory(df: pd.DataFrame) -> str:
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


def scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Slope of log(time) against log(width) per backend, depth, batch and dtype."""
    rows = []
    for (backend, dtype, depth, batch), part in df.groupby(["backend", "dtype", "depth", "batch"]):
        if part["width"].nunique() >= 2:
            slope = np.polyfit(np.log(part["width"]), np.log(part["median"]), 1)[0]
            rows.append({"backend": backend, "dtype": dtype, "depth": depth, "batch": batch, "exponent": slope})
    return pd.DataFrame(rows)


def crossovers(df: pd.DataFrame) -> pd.DataFrame:
    """Widths between which one backend overtakes another (the faster one changes)."""
    rows = []
    for (dtype, depth, batch), part in df.groupby(["dtype", "depth", "batch"]):
        table = part.pivot_table(index="width", columns="backend", values="median", aggfunc="first")
        names = list(table.columns)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                pair = table[[a, b]].dropna()
                faster = (pair[a] < pair[b]).to_numpy()
                for j in range(1, len(faster)):
                    if faster[j] != faster[j - 1]:
                        winner, loser = (a, b) if faster[j] else (b, a)
                        rows.append({"dtype": dtype, "depth": depth, "batch": batch, "overtakes": winner, "backend": loser,
                                     "between widths": f"{pair.index[j - 1]} and {pair.index[j]}"})  # fmt: skip
    return pd.DataFrame(rows)


def section_scaling(df: pd.DataFrame) -> str:
    table = scaling(df)
    out = ["## Scaling with width", "",
           "Exponent p of time ∝ width^p (least squares on log-log, all widths of the run). Pure GEMM work gives 2; "
           "overhead-bound backends give less; the diagonal Jacobians push `numpy-diag` towards 2 and beyond.", ""]  # fmt: skip
    if not table.empty:
        wide = table.pivot_table(index="backend", columns=["dtype", "depth"], values="exponent", aggfunc="first")
        wide.columns = [f"{dtype} L={depth}" for dtype, depth in wide.columns]
        out += [markdown(wide.map(lambda v: f"{v:.2f}" if pd.notna(v) else "–")), ""]
    cross = crossovers(df)
    out += ["### Where one backend overtakes another", "", markdown(cross, index=False), ""]
    return "\n".join(out)


def section_skipped(run: dict) -> str:
    skipped = pd.DataFrame(run.get("autograd_bench_skipped", []))
    out = ["## Skipped configurations", ""]
    if skipped.empty:
        return "\n".join([*out, "_None._", ""])
    table = skipped.groupby(["backend", "reason"]).agg(configurations=("config", lambda c: ", ".join(c))).reset_index()
    return "\n".join([*out, markdown(table, index=False), ""])


def section_noise(df: pd.DataFrame) -> str:
    noisy = df[(df["spread"] > SPREAD_LIMIT)]
    out = ["## Rows too noisy to trust", "",
           f"Rows whose interquartile range exceeds {SPREAD_LIMIT:.0%} of the median (the machine is shared): "
           "compare their ratios with care.", ""]  # fmt: skip
    table = noisy[["group", "backend", "median", "spread", "cv", "rounds"]].assign(
        median=noisy["median"].map(fmt_time), spread=noisy["spread"].map(lambda v: f"{v:.0%}"),
        cv=noisy["cv"].map(lambda v: f"{v:.0%}"))  # fmt: skip
    return "\n".join([*out, markdown(table, index=False), ""])


def section_isolation(run: dict, df: pd.DataFrame) -> str:
    summary = run["machine_info"].get("autograd_bench", {}).get("isolation")
    if not summary:
        return ""
    table = pd.DataFrame(summary["per_backend"]).T.reset_index(names="backend")
    table["rows"] = table["rows"].astype(int)
    table["within 10 %"] = np.where((table["median_ratio"] - 1).abs() <= 0.10, "✅", "❌")
    for col in ("median_ratio", "min", "max"):
        table[col] = table[col].map(lambda v: f"{v:.3f}")
    return "\n".join(["## In-process against isolated timing", "",
                      "Each row was also timed in a fresh subprocess of its own (`--isolate`); the ratio is "
                      "in-process median / isolated median, summarised per backend.", "",
                      markdown(table, index=False), ""])  # fmt: skip


def section_machine(run: dict) -> str:
    info = run["machine_info"]
    bench = info.get("autograd_bench", {})
    policy = bench.get("thread_policy") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, {b.get('num_threads')} threads)"
                     for b in policy.get("blas", []))  # fmt: skip
    versions = ", ".join(f"{k} {v}" for k, v in bench.get("versions", {}).items() if v)
    facts = pd.DataFrame(
        [("run", bench.get("run_id", "–")), ("date (UTC)", run.get("datetime", "–")),
         ("CPU", f"{bench.get('cpu_model', info.get('cpu', {}).get('brand_raw', '–'))}, {bench.get('cores', '–')} cores"),
         ("grid", bench.get("grid", "–")), ("backends", ", ".join(bench.get("backends", []))),
         ("threads", f"{policy.get('threads', '–')} per library, CPU affinity {policy.get('cpu_affinity', '–')}"),
         ("BLAS (NumPy)", blas or "–"), ("allocator", policy.get("malloc") or "–"),
         ("torch threads", f"{policy.get('torch_threads', '–')} intra-op, {policy.get('torch_interop_threads', '–')} inter-op"),
         ("JAX", f"{bench.get('jax_backend', '–')}, x64 {bench.get('jax_enable_x64', '–')}; {policy.get('jax', '')}"),
         ("environment", ", ".join(f"{k}={v}" for k, v in policy.get("env", {}).items()) or "–"),
         ("versions", f"Python {bench.get('python', info.get('python_version', '–'))}, {versions}")],
        columns=["", "value"])  # fmt: skip
    return "\n".join(["## Machine and thread policy", "", markdown(facts, index=False), ""])


def summary_markdown(run: dict, df: pd.DataFrame) -> str:
    bench = run["machine_info"].get("autograd_bench", {})
    title = f"# Benchmark run {bench.get('run_id') or Path(run['_path']).parent.name}"
    intro = ("Cost and all parameter gradients of a square tanh MLP (width × depth, batch as columns), "
             "computed by each backend from the same parameters and data. Times are per pass.")  # fmt: skip
    parts = [title, intro, section_machine(run), section_headline(df), section_agreement(df), section_speedup(df), section_times(df),
             section_efficiency(df), section_compile(df), section_memory(df), section_scaling(df),
             section_isolation(run, df), section_skipped(run), section_noise(df), plots_markdown(df)]  # fmt: skip
    return "\n\n".join(p.strip("\n") for p in parts if p)


# ------------------------------------------------------------------------------------------ plots

PLOTS = {"time": "time-vs-width.png", "speedup": "speedup-vs-width.png", "memory": "memory-diag-vs-hadamard.png"}


def plots_markdown(df: pd.DataFrame) -> str:
    return "\n".join(["## Plots", "", *(f"![{k}]({v})" for k, v in PLOTS.items()), ""])


def _panels(df: pd.DataFrame, plot_one, ylabel: str, logy: bool = True):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = per_panel(df)
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (title, part) in zip(axes.flat, panels):
        plot_one(ax, part)
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="width", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _lines(column: str, scale: float = 1.0):
    def plot_one(ax, part):
        for i, (backend, rows) in enumerate(part.groupby("backend")):
            rows = rows.sort_values("width").dropna(subset=[column])
            ax.plot(rows["width"], rows[column] * scale, marker="o", label=backend, color=f"C{i}")

    return plot_one


def save_plots(df: pd.DataFrame, out: Path) -> None:
    import matplotlib.pyplot as plt

    figures = {
        "time": _panels(df, _lines("median", 1e3), "median time per pass (ms)"),
        "speedup": _panels(df, _lines("speedup_vs_reference"), f"speed-up vs {REFERENCE}"),
    }
    mem = df[df["variant"].isin(["diag", "hadamard"])]
    column = (
        "isolated_rss_peak_bytes"
        if "isolated_rss_peak_bytes" in mem and mem["isolated_rss_peak_bytes"].notna().any()
        else "peak_bytes"
    )
    figures["memory"] = _panels(mem, _lines(column, 1 / 2**20), f"peak memory (MiB, {column})")
    for key, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        write_atomic(out / PLOTS[key], buffer.getvalue())


# ---------------------------------------------------------------------------------------- writing


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write next to the target and rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp.name, path)


def write_report(source: Path, out: Path | None = None) -> Path:
    """benchmarks.csv, summary.md and plots for one run, into ``out`` (default: the run's folder)."""
    run = load_run(source)  # raises before anything is written
    df = frame(run)
    out = Path(out) if out else Path(run["_path"]).parent
    text = summary_markdown(run, df)
    csv = df.to_csv(index=False)
    save_plots(df, out)
    write_atomic(out / "benchmarks.csv", csv)
    write_atomic(out / "summary.md", text)
    return out


def write_index(results: Path) -> Path:
    """results/README.md: every saved run, newest first, and a pointer to the latest."""
    rows = []
    for run_dir in sorted(
        (p for p in Path(results).iterdir() if p.is_dir() and (p / "benchmarks.json").is_file()), reverse=True
    ):
        try:
            run = load_run(run_dir)
        except ReportError:
            continue
        bench = run["machine_info"].get("autograd_bench", {})
        policy = bench.get("thread_policy") or {}
        rows.append({"run": f"[{run_dir.name}]({run_dir.name}/summary.md)", "date (UTC)": run.get("datetime", "–")[:19],
                     "machine": f"{bench.get('cpu_model', '–')}, {bench.get('cores', '–')} cores",
                     "grid": bench.get("grid", "–"), "threads": policy.get("threads", "–"),
                     "isolated": "yes" if bench.get("isolation") else "no", "rows": len(run["benchmarks"])})  # fmt: skip
    latest = rows[0]["run"] if rows else "_none yet_"
    text = "\n".join(["# Benchmark runs", "",
                      "Generated by `python -m bench.report` at the end of every `pytest --benchmark-only` run; "
                      "one folder per run, never overwritten.", "", f"Latest: {latest}", "",
                      markdown(pd.DataFrame(rows), index=False), ""])  # fmt: skip
    path = Path(results) / "README.md"
    write_atomic(path, text)
    return path


# ---------------------------------------------------------------------------------------- compare


def compare(old_path: Path, new_path: Path, threshold: float) -> pd.DataFrame:
    """Per configuration and backend: ratio of medians and a Mann–Whitney test on the raw samples."""
    from scipy.stats import mannwhitneyu

    old, new = load_run(old_path), load_run(new_path)
    # Threads are not part of the key: comparing a 1-thread run with a 2-thread run is a use.
    fields = ("backend", "width", "depth", "batch", "dtype")
    key = lambda b: tuple(b["extra_info"][f] for f in fields)  # noqa: E731
    old_rows = {key(b): b for b in old["benchmarks"]}
    rows = []
    for b in new["benchmarks"]:
        a = old_rows.get(key(b))
        if a is None:
            continue
        ratio = b["stats"]["median"] / a["stats"]["median"]
        x, y = a["stats"].get("data"), b["stats"].get("data")
        p = mannwhitneyu(x, y).pvalue if x and y and len(x) > 1 and len(y) > 1 else np.nan
        change = "slower" if ratio > 1 + threshold else "faster" if ratio < 1 - threshold else ""
        flagged = bool(change) and (np.isnan(p) or p < SIGNIFICANCE)
        rows.append({**dict(zip(fields, key(b))),
                     "threads": f"{a['extra_info']['threads']} → {b['extra_info']['threads']}",
                     "old": a["stats"]["median"], "new": b["stats"]["median"], "ratio": ratio, "p_value": p,
                     "change": change if flagged else ""})  # fmt: skip
    if not rows:
        raise ReportError(f"{old_path} and {new_path} share no configuration (backend, width, depth, batch, dtype)")
    return pd.DataFrame(rows)


def compare_markdown(table: pd.DataFrame, threshold: float) -> str:
    shown = table.assign(old=table["old"].map(fmt_time), new=table["new"].map(fmt_time),
                         ratio=table["ratio"].map(lambda v: f"{v:.3f}"),
                         p_value=table["p_value"].map(lambda v: "–" if np.isnan(v) else f"{v:.1e}"),
                         change=table["change"].map(lambda c: f"**{c}**" if c else ""))  # fmt: skip
    flagged = int((table["change"] != "").sum())
    return "\n".join([f"{len(table)} shared rows; {flagged} changed by more than {threshold:.0%} with Mann–Whitney "
                      f"p < {SIGNIFICANCE} (ratio = new median / old median).", "",
                      markdown(shown, index=False)])  # fmt: skip


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="a run folder or its benchmarks.json")
    parser.add_argument("--out", type=Path, help="where to write (default: the run's folder)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two runs")
    parser.add_argument("--threshold", type=float, default=10.0, help="percent change that counts (default 10)")
    parser.add_argument(
        "--fail-above", type=float, metavar="PCT", help="exit 1 if a row got slower by more than PCT %%"
    )
    args = parser.parse_args(argv)
    if (args.run is None) == (args.compare is None):
        parser.error("give either RUN_DIR_OR_JSON or --compare OLD NEW")
    try:
        if args.compare:
            table = compare(*args.compare, threshold=args.threshold / 100)
            print(compare_markdown(table, args.threshold / 100))
            if args.fail_above is not None:
                worst = table[(table["ratio"] > 1 + args.fail_above / 100) & (table["change"] == "slower")]
                if not worst.empty:
                    print(f"regression: {len(worst)} row(s) slower by more than {args.fail_above:g} %", file=sys.stderr)
                    return 1
            return 0
        out = write_report(args.run, args.out)
        if args.out is None and (out.parent.name == "results" or (out.parent / "README.md").is_file()):
            write_index(out.parent)  # the run lives in a results folder: refresh its index
        print(f"wrote {out}/summary.md, benchmarks.csv and {len(PLOTS)} plots")
        return 0
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
