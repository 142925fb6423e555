"""Tables, a page and plots of a benchmark run; comparing runs; merging shards.

    python -m bench.report RUN_DIR_OR_JSON [--out DIR]
    python -m bench.report --compare OLD NEW [--threshold PCT] [--fail-above PCT]
    python -m bench.report merge RUN_DIR... --out DIR [--allow-mixed]
    python -m bench.report compact RUN_DIR...

Every number comes from the run's files (``benchmarks.json`` and ``samples.npz``). Modules:
``load`` (reading and validating, the tidy table), ``stats`` (speed-up intervals), ``sections``
(the summary's sections), ``plots``, ``html`` (the page), ``compare``, ``merge``. Every file is
written to a temporary name and renamed, so an interrupted report never leaves half a table;
bad input gets one error line and nothing is written.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from . import sections
from .html import page
from .load import ReportError, compact_run, frame, load_run, per_backend, samples_of, write_atomic
from .plots import PLOTS, save_plots
from .sections import Context
from .stats import speedups
from .tables import markdown
from .training import section_training

SECTIONS = [
    sections.section_machine,
    sections.section_headline,
    sections.section_tally,
    sections.section_agreement,
    sections.section_speedup,
    sections.section_times,
    sections.section_grad_over_forward,
    sections.section_autograd_tax,
    sections.section_efficiency,
    section_training,
    sections.section_compile,
    sections.section_memory,
    sections.section_scaling,
    sections.section_isolation,
    sections.section_skipped,
    sections.section_noise,
]  # the summary, in this order

__all__ = ["PLOTS", "ReportError", "compact_run", "context", "load_run", "write_index", "write_report"]


def context(run: dict) -> Context:
    rows = frame(run)
    table = per_backend(rows).merge(speedups(rows, samples_of(run)), on=["config", "backend"], how="left")
    return Context(run, rows, table)


def summary_markdown(ctx: Context, plots: list[str]) -> str:
    title = f"# Benchmark run {ctx.bench.get('run_id') or Path(ctx.run['_path']).parent.name}"
    intro = (f"Cost and all parameter gradients (task gradient) and SGD training (task train) of {ctx.bench.get('activation', 'tanh')} "
             "MLPs, computed by each backend from the same parameters and data. The page `index.html` shows the same run.")  # fmt: skip
    parts = [title, intro, *(section(ctx) for section in SECTIONS)]
    parts.append("\n".join(["## Plots", "", *(f"![{PLOTS[k][1]}]({PLOTS[k][0]})" for k in plots), ""]))
    return "\n\n".join(p.strip("\n") for p in parts if p)


def write_report(source: Path, out: Path | None = None) -> Path:
    """benchmarks.csv.gz, summary.md, index.html and plots for one run, into ``out`` (default: the run's folder)."""
    run = load_run(source)  # raises before anything is written
    ctx = context(run)
    out = Path(out) if out else Path(run["_path"]).parent
    out.mkdir(parents=True, exist_ok=True)
    plots = save_plots(ctx, out)
    table = ctx.rows.drop(columns=["isolated_options"], errors="ignore").to_csv(index=False, float_format="%.6g")
    # gzip: a fifth of the bytes, and pandas.read_csv("benchmarks.csv.gz") reads it as it is.
    write_atomic(out / "benchmarks.csv.gz", gzip.compress(table.encode(), mtime=0))
    write_atomic(out / "summary.md", summary_markdown(ctx, plots))
    write_atomic(out / "index.html", page(ctx, plots))
    return out


def headline(ctx: Context) -> str:
    """One line for the index: who has the lowest median how often, and the seed network's training."""
    gradient = ctx.task("gradient")
    best = gradient.loc[gradient.groupby("config")["median"].idxmin(), "backend"].value_counts()
    text = (
        "lowest gradient median: "
        + ", ".join(f"{b} {n}" for b, n in best.items())
        + f" of {gradient['config'].nunique()}"
    )
    seed = ctx.task("train")
    seed = seed[(seed["network"] == "seed") & (seed["dtype"] == "float64") & seed["batch_size"].isna()]
    if not seed.empty:
        text += "; seed network float64 µs/step: " + ", ".join(
            f"{r.backend} {r.per_step_s * 1e6:.0f}" for r in seed.sort_values("per_step_s").itertuples()
        )
    return text


def _index_row(run_dir: Path) -> dict:
    """One line of the index. A run this version cannot read still gets its line, saying why."""
    try:
        ctx = context(load_run(run_dir))
        run, headline_text = ctx.run, headline(ctx)
    except Exception as exc:  # an older schema, a damaged file: never stop the index
        try:
            run = json.loads((run_dir / "benchmarks.json").read_text())
            run["machine_info"]["autograd_bench"]  # a run of this suite at all?
            headline_text = f"not readable by this version ({type(exc).__name__}): see its summary.md"
        except Exception:
            run, headline_text = {"machine_info": {}}, f"damaged: {str(exc)[:120]}"
    bench = run["machine_info"].get("autograd_bench", {})
    link = f"[{run_dir.name}]({run_dir.name}/summary.md)" if (run_dir / "summary.md").is_file() else run_dir.name
    if not (run_dir / "summary.md").is_file():
        headline_text = f"no report yet (python -m bench.report {run_dir}); " + headline_text
    return {"run": link + (f" ([page]({run_dir.name}/index.html))" if (run_dir / "index.html").is_file() else ""),
            "date (UTC)": str(run.get("datetime", "–"))[:19],
            "machine": f"{bench.get('cpu_model', '–')}, {bench.get('cores', '–')} cores",
            "grid": bench.get("grid", "–"), "rounds": str(bench.get("rounds", 1)),
            "allocator": (bench.get("thread_policy") or {}).get("malloc", "–"),
            "size": f"{sum(f.stat().st_size for f in run_dir.iterdir()) / 2**20:.2f} MiB", "headline": headline_text}  # fmt: skip


def write_index(results: Path) -> Path:
    """results/README.md: every saved run, newest first. Hidden folders (a run being written, or
    one a crash left behind) are not runs."""
    run_dirs = sorted((p for p in Path(results).iterdir()
                       if p.is_dir() and not p.name.startswith(".") and (p / "benchmarks.json").is_file()), reverse=True)  # fmt: skip
    rows = [_index_row(run_dir) for run_dir in run_dirs]
    text = "\n".join(["# Benchmark runs", "",
                      "Written at the end of every `pytest --benchmark-only` run; one folder per run, never overwritten.", "",
                      "A run folder is kept small enough to commit (a default run with every round: about 1.5 MB, where the "
                      "first version's runs were 13-14 MB, almost all of it raw samples inside the JSON):", "",
                      "- `benchmarks.json`: pytest-benchmark's JSON with statistics but without the raw samples, floats to 6 "
                      "digits, the timing options said once: `pytest-benchmark compare` reads it as before;",
                      "- `samples.npz`: every timing sample of every row (float32, compressed), which the speed-up intervals "
                      "and `python -m bench.report --compare` read;",
                      "- `benchmarks.csv.gz`: the tidy table, gzipped (`pandas.read_csv` reads it as it is);",
                      "- `summary.md`, `index.html` (the same run as a page, showing the PNG plots beside it; PNGs in a "
                      "64-colour palette).", "",
                      "`python -m bench.report compact RUN_DIR` converts an older run the same way.", "",
                      markdown(pd.DataFrame(rows), index=False), ""])  # fmt: skip
    path = Path(results) / "README.md"
    write_atomic(path, text)
    return path
