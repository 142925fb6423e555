"""Stage 3, what it means: tables, a page and plots of a benchmark run; comparing runs; merging
shards (its command line: ``__main__``).

Every number comes from the run's files (``benchmarks.json`` and ``samples.npz``), and every
fact about the backends from the run's own metadata (``context``). Modules: ``load`` (reading
and validating, the tidy table), ``context`` (the run as the report sees it), ``tables``
(formatting), ``sections``, ``ratios``, ``training``, ``per_sample``, ``stability`` (the
summary's sections), ``plots``, ``html`` (the page), ``agree``, ``compare``, ``merge``,
``validate`` (the frameworks' own timers). The estimates and intervals are
``bench.harness.stats``'s, the same that decided the replicates. Every file is written to a
temporary name and renamed, so an interrupted report never leaves half a table; bad input gets
one error line and nothing is written.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from . import prose, sections
from .context import Context, context
from .html import page
from .load import ReportError, compact_run, load_run, write_atomic
from .per_sample import section_per_sample
from .plots import PLOTS, save_plots
from .prose import paragraph
from .second_order import section_second_order
from .stability import section_noise, section_stability, warnings_table
from .tables import markdown
from .training import section_training

SECTIONS = [
    sections.section_machine,
    sections.section_time_account,
    sections.section_headline,
    sections.section_tally,
    sections.section_outcomes,
    sections.section_agreement,
    sections.section_speedup,
    sections.section_golden,
    sections.section_times,
    sections.section_grad_over_forward,
    sections.section_autograd_tax,
    sections.section_efficiency,
    section_training,
    section_per_sample,
    section_second_order,
    sections.section_compile,
    sections.section_memory,
    sections.section_scaling,
    sections.section_isolation,
    section_noise,
    section_stability,
]  # the summary, in this order

__all__ = ["PLOTS", "ReportError", "compact_run", "context", "load_run", "speedups_csv", "write_index", "write_report"]

CELL_OUTCOME_ORDER = ("incorrect", "error", "timeout", "skipped")  # a cell's outcome: the worst of its replicates'


def speedups_csv(ctx: Context) -> pd.DataFrame:
    """The headline result as a tidy table, one line per (task, configuration, backend): speed-up,
    low, high, call, outcome (and its reason), replicates and stability warnings; runs are compared
    from it (``agree``)."""
    timed = ctx.table[["task", "config", "backend", "speedup", "low", "high", "call", "df", "replicates_timed"]].rename(
        columns={"replicates_timed": "replicates"}
    )
    cells = ctx.outcomes.drop_duplicates(["task", "config", "backend", "outcome"])
    worst = {}
    for r in cells.itertuples():
        key = (r.task, r.config, r.backend)
        if key not in worst or CELL_OUTCOME_ORDER.index(r.outcome) < CELL_OUTCOME_ORDER.index(worst[key][0]):
            worst[key] = (r.outcome, r.reason)
    untimed = pd.DataFrame(
        [
            {"task": t, "config": c, "backend": b, "replicates": 0}
            for (t, c, b) in worst
            if not ((timed["config"] == c) & (timed["backend"] == b)).any()
        ]
    )
    table = pd.concat([timed, untimed], ignore_index=True) if len(untimed) else timed
    keys = list(zip(table["task"], table["config"], table["backend"]))
    table["outcome"] = [worst.get(k, ("ok", ""))[0] for k in keys]
    table["reason"] = [worst.get(k, ("ok", ""))[1] for k in keys]
    warned = warnings_table(ctx).set_index(["config", "backend"])["warnings"]
    table["warnings"] = [warned.get((c, b), "") for c, b in zip(table["config"], table["backend"])]
    return table.sort_values(["task", "config", "backend"]).reset_index(drop=True)


def summary_markdown(ctx: Context, plots: list[str]) -> str:
    title = f"# Benchmark run {ctx.bench.get('run_id') or Path(ctx.run['_path']).parent.name}"
    intro = paragraph(prose.INTRO, activation=ctx.bench.get("activation", "tanh"))
    parts = [title, intro, *(section(ctx) for section in SECTIONS)]
    parts.append("\n".join(["## Plots", "", *(f"![{PLOTS[k][1]}]({PLOTS[k][0]})" for k in plots), ""]))
    return "\n\n".join(p.strip("\n") for p in parts if p)


def write_report(source: Path, out: Path | None = None, equivalence: float | None = None) -> Path:
    """benchmarks.csv.gz, speedups.csv, summary.md, index.html and plots for one run, into ``out``
    (default: the run's folder)."""
    run = load_run(source)  # raises before anything is written
    ctx = context(run, equivalence)
    out = Path(out) if out else Path(run["_path"]).parent
    out.mkdir(parents=True, exist_ok=True)
    plots = save_plots(ctx, out)
    table = ctx.rows.drop(columns=["isolated_options"], errors="ignore").to_csv(index=False, float_format="%.6g")
    # gzip: a fifth of the bytes, and pandas.read_csv("benchmarks.csv.gz") reads it as it is.
    write_atomic(out / "benchmarks.csv.gz", gzip.compress(table.encode(), mtime=0))
    write_atomic(out / "speedups.csv", speedups_csv(ctx).to_csv(index=False, float_format="%.6g"))
    write_atomic(out / "summary.md", summary_markdown(ctx, plots))
    write_atomic(out / "index.html", page(ctx, plots))
    return out


def record_report_time(run_dir: Path, seconds: float) -> None:
    """The report's own time, known only once it is written: into the run's account, and the
    summary and page written again with it (a rebuild from the files gives the same pages)."""
    run_dir = Path(run_dir)
    data = json.loads((run_dir / "benchmarks.json").read_text())
    account = data["machine_info"].get("autograd_bench", {}).get("time_account")
    if not account:
        return
    account["report"] = round(seconds, 2)
    write_atomic(run_dir / "benchmarks.json", json.dumps(data, separators=(",", ":")))  # as compact_run wrote it
    ctx = context(load_run(run_dir))  # the summary and page again, as a rebuild from the files writes them
    plots = [key for key, (file, _) in PLOTS.items() if (run_dir / file).exists()]
    write_atomic(run_dir / "summary.md", summary_markdown(ctx, plots))
    write_atomic(run_dir / "index.html", page(ctx, plots))


def headline(ctx: Context) -> str:
    """One line for the index: each backend's geometric-mean gradient speed-up, fastest first."""
    from ..harness.stats import geometric_headline

    geo = geometric_headline(ctx.rows, ctx.reference, ctx.pilot)
    geo = geo[geo["task"] == "gradient"].sort_values("geomean", ascending=False)
    return "gradient, geometric mean speed-up: " + ", ".join(f"{r.backend} {r.geomean:.2f}×" for r in geo.itertuples())


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
    return {
        "run": link + (f" ([page]({run_dir.name}/index.html))" if (run_dir / "index.html").is_file() else ""),
        "date (UTC)": str(run.get("datetime", "–"))[:19],
        "machine": f"{bench.get('cpu_model', '–')}, {bench.get('cores', '–')} cores",
        "grid": bench.get("grid", "–"),
        "replicates": str(bench.get("replicates", bench.get("rounds", 1))),
        "allocator": (bench.get("thread_policy") or {}).get("malloc", "–"),
        "size": f"{sum(f.stat().st_size for f in run_dir.iterdir()) / 2**20:.2f} MiB",
        "headline": headline_text,
    }


def write_index(results: Path) -> Path:
    """results/README.md: every saved run, newest first. Hidden folders (a run being written, or
    one a crash left behind) are not runs."""
    run_dirs = sorted(
        (
            p
            for p in Path(results).iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "benchmarks.json").is_file()
        ),
        reverse=True,
    )
    rows = [_index_row(run_dir) for run_dir in run_dirs]
    text = "\n".join(
        [
            "# Benchmark runs",
            "",
            "Written at the end of every `pytest --benchmark-only` run; one folder per run, never overwritten.",
            "",
            "A run folder is kept small enough to commit:",
            "",
            "- `benchmarks.json`: pytest-benchmark's JSON with statistics but without the raw samples, floats to 6 "
            "digits, the timing options said once: `pytest-benchmark compare` reads it as before;",
            "- `samples.npz`: every timing sample of every row, of the sweep the row kept (float32, compressed);",
            "- `speedups.csv`: one line per (task, configuration, backend): speed-up, interval, call, outcome, "
            "replicates (what `python -m bench.report agree` compares);",
            "- `benchmarks.csv.gz`: the tidy table, gzipped (`pandas.read_csv` reads it as it is);",
            "- `summary.md`, `index.html` (the same run as a page, showing the PNG plots beside it; PNGs in a "
            "32-colour palette).",
            "",
            "`python -m bench.report compact RUN_DIR` converts an older run the same way.",
            "",
            markdown(pd.DataFrame(rows), index=False),
            "",
        ]
    )
    # each written by python -m bench.report agree A B --out results/agree*.md: one file per pair of runs
    for agreement in sorted(Path(results).glob("agree*.md")):
        text += "\n" + agreement.read_text().replace(
            "# Do the committed runs agree?", "## Do the committed runs agree?", 1
        )
    path = Path(results) / "README.md"
    write_atomic(path, text)
    return path
