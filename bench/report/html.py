"""``index.html``: one self-contained page per run (no network, no external scripts or fonts: styles
and script inline, the plots the PNG files beside it in the run folder). The machine and process
policy, a heat map of speed-ups (configurations x backends, coloured by log speed-up, intervals in
every cell, ties outlined, outcomes as distinct cells with their reason), agreement, × golden, J/F,
the autograd tax, training (configurations down the rows and column headings wrapped, so no table
runs off a 1300 px page), and the plots. A few lines of script record, once the page has loaded,
whether every image decoded and the heat map has cells (``data-rendered`` on <body>), for a headless
browser to read back."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..harness.stats import geometric_headline, ratio_table
from .context import Context
from .per_sample import TASKS as PER_SAMPLE_TASKS
from .plots import PLOTS
from .ratios import (
    autograd_tax,
    base_ratios,
    golden_ratios,
    grad_over_forward,
    loop_ratios,
    nested_pairs,
    over_batch_gradient,
)
from .second_order import BASE
from .second_order import TASKS as SECOND_ORDER_TASKS
from .sections import replicates_line, time_account
from .stability import noise_levels
from .tables import fmt_speedup, fmt_time, speedup_cell, tally

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 110em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.tie { outline: 2px dashed #555; outline-offset: -3px; font-style: italic; }
td.missing { background: #eee !important; color: #888 !important; }
table.facts td { white-space: normal; text-align: left; max-width: 70em; }
#T_heatmap td { font-size: 0.9em; }
th.col_heading, thead th { white-space: normal; overflow-wrap: anywhere; max-width: 6em; } /* 15 backends fit 1300 px */
td.outcome-incorrect { background: #7b1fa2 !important; color: #fff !important; font-weight: bold; }
td.outcome-error { background: #424242 !important; color: #fff !important; }
td.outcome-timeout { background: #e65100 !important; color: #fff !important; }
td.outcome-skipped { background: #fafafa !important; color: #999 !important; font-style: italic; }
.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.5em; margin: 0.3em 0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; } .note { color: #555; max-width: 60em; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border: 1px solid #ccc; }
"""

PROBE = """
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const cells = document.querySelectorAll('#T_heatmap td').length;
  const outcomes = document.querySelectorAll('#T_heatmap td[class*="outcome-"]').length;
  const rights = Array.from(document.querySelectorAll('table')).map(t => t.getBoundingClientRect().right);
  const widest = Math.max(0, ...rights);
  document.body.setAttribute('data-rendered', JSON.stringify({images: images.length, loaded: loaded,
    heatmap_cells: cells, outcome_cells: outcomes, widest_table_right: widest, viewport: window.innerWidth}));
});
"""


def _table(df: pd.DataFrame, table_id: str = "", classes: str = "") -> str:
    """One header row: the index's names become ordinary column headings (pandas would put them,
    and the columns' name, on a second row)."""
    flat = df.reset_index() if any(df.index.names) else df
    flat.columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in flat.columns]
    return flat.to_html(
        escape=True,
        na_rep="–",
        table_id=table_id or None,
        border=0,
        classes=classes or None,
        index=not any(df.index.names),
    )


def _missing_grey(text: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(np.where(text == "–", "missing", ""), index=text.index, columns=text.columns)


def heat_map(ctx: Context) -> str:
    """Configurations down, backends across; colour: log2 speed-up, green faster, red slower.
    A cell that is not ok in some replicate shows its outcome, with the reason as its tooltip."""
    df = ctx.task("gradient")
    outcomes = ctx.outcomes[ctx.outcomes["task"] == "gradient"]
    if df.empty and outcomes.empty:
        return "<p>No gradient rows.</p>"
    shape = pd.concat(
        [df[["config", "dtype", "depth", "width", "batch"]], outcomes[["config", "dtype", "depth", "width", "batch"]]]
    )
    order = shape.sort_values(["dtype", "depth", "width", "batch"])["config"].drop_duplicates()
    # A backend skipped in every cell (no gradient form, say) gets a line under the map, not a column.
    never_run = outcomes.groupby("backend").filter(
        lambda part: (part["outcome"] == "skipped").all() and part.name not in set(df["backend"])
    )
    outcomes = outcomes[~outcomes["backend"].isin(never_run["backend"])]
    backends = sorted(set(df["backend"]) | set(outcomes["backend"]))
    wide = {
        v: df.pivot_table(index="config", columns="backend", values=v, aggfunc="first").reindex(
            index=order, columns=backends
        )
        for v in ("speedup", "low", "high")
    }
    speed, low, high = wide["speedup"], wide["low"], wide["high"]
    # the interval on a second line: 15 backends fit a 1300 px page
    text = pd.DataFrame(
        [
            [
                speedup_cell(ctx.reference, b, speed.at[c, b], low.at[c, b], high.at[c, b])
                .replace(" tie", "")
                .replace(" [", "<br>")
                .replace("]", "")
                .replace(" (1 replicate)", "<br>1 rep.")
                for b in backends
            ]
            for c in order
        ],
        index=order,
        columns=backends,
    )
    classes = _missing_grey(text)
    tips = pd.DataFrame("", index=order, columns=backends)
    ties = ((low <= 1) & (high >= 1)).to_numpy() & (speed.columns != ctx.reference)
    classes = classes.where(~ties, "tie")
    worst = {"skipped": 0, "timeout": 1, "error": 2, "incorrect": 3}
    for (config, backend), part in outcomes.groupby(["config", "backend"]):
        outcome = max(part["outcome"], key=worst.get)
        reasons = "; ".join(
            dict.fromkeys(
                f"{o} (replicate {r}): {why}" for o, r, why in zip(part["outcome"], part["replicate"], part["reason"])
            )
        )
        label = outcome if pd.isna(speed.at[config, backend]) else f"{text.at[config, backend]} {outcome}"
        text.at[config, backend], classes.at[config, backend] = label, f"outcome-{outcome}"
        tips.at[config, backend] = reasons[:500]
    colour = np.log2(speed.astype(float)).fillna(0.0)
    colour.loc[:, speed.columns == ctx.reference] = 0.0  # the reference itself: neutral
    styler = (
        text.style.background_gradient(cmap="RdYlGn", gmap=colour, axis=None, vmin=-3, vmax=3)
        .set_td_classes(classes)
        .set_tooltips(tips, as_title_attribute=True)  # the reason as the cell's title: a tooltip needing no script
        .set_uuid("heatmap")  # the table's id is T_heatmap
    )
    skipped = never_run.groupby("backend")["reason"].first()
    note = "; ".join(f"{html.escape(b)} ({html.escape(why)})" for b, why in skipped.items())
    return styler.to_html() + (f'<p class="note">Skipped in every cell: {note}.</p>' if note else "")


def _down(df: pd.DataFrame, values: str, fmt) -> str:
    """Configurations down the rows (as the heat map), backends across: no table runs off the page."""
    wide = df.pivot_table(index="config", columns="backend", values=values, aggfunc="first")
    text = wide.map(lambda v: fmt(v) if pd.notna(v) else "–")
    return text.style.set_td_classes(_missing_grey(text)).to_html()


def _across(df: pd.DataFrame, values: str, fmt) -> str:
    """Backends down the rows, the (few) configurations across: the per-sample tables, where a
    dozen backends across would run off the page."""
    wide = df.pivot_table(index="backend", columns="config", values=values, aggfunc="first")
    text = wide.map(lambda v: fmt(v) if pd.notna(v) else "–")
    return text.style.set_td_classes(_missing_grey(text)).to_html()


def _speedups_across(ctx: Context, task: str, heading: str) -> list[str]:
    """A task's speed-ups with their intervals, backends down the rows: its heading and table."""
    part = ctx.task(task)
    cells = part.assign(
        cell=[speedup_cell(ctx.reference, *r) for r in zip(part["backend"], part["speedup"], part["low"], part["high"])]
    )
    return [
        f"<h2>{html.escape(heading)}: speed-up against {html.escape(ctx.reference)}</h2>",
        _across(cells, "cell", str),
    ]


def _image(name: str) -> str:
    return f'<img alt="{html.escape(name)}" src="{html.escape(name)}">'


def page(ctx: Context, plots: list[str]) -> str:
    from ..harness.machine import machine_line

    bench = ctx.bench
    policy = bench.get("thread_policy") or {}
    facts = pd.DataFrame(
        [
            ("run", bench.get("run_id")),
            ("date (UTC)", ctx.run.get("datetime")),
            ("commit", (ctx.run.get("commit_info") or {}).get("id")),
            ("machine", machine_line(bench)),
            ("grid", bench.get("grid")),
            ("replicates", replicates_line(bench)),
            ("threads", policy.get("threads")),
            ("allocator", policy.get("malloc")),
            (
                "BLAS",
                "; ".join(
                    f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}"
                    for b in policy.get("blas", [])
                ),
            ),
            ("versions", ", ".join(f"{k} {v}" for k, v in bench.get("versions", {}).items() if v)),
        ],
        columns=["", "value"],
    ).set_index("")
    parts = [f"<h1>Benchmark run {html.escape(str(bench.get('run_id')))}</h1>", _table(facts, classes="facts")]
    parts += [f'<div class="warning">Warning: {html.escape(w)}</div>' for w in bench.get("warnings", [])]
    geo = geometric_headline(ctx.rows, ctx.reference, ctx.pilot)
    if not geo.empty:
        geo = geo.assign(speedup=[fmt_speedup(p, lo, hi) for p, lo, hi in zip(geo["geomean"], geo["low"], geo["high"])])
        wide = geo.pivot_table(index="backend", columns="task", values="speedup", aggfunc="first")
        second = [task for task in wide.columns if task in SECOND_ORDER_TASKS]  # a table of their own: six
        first = [task for task in wide.columns if task not in SECOND_ORDER_TASKS]  # tasks across run off the page
        parts += ["<h2>Headline: geometric mean speed-up per backend</h2>", _table(wide[first].dropna(how="all"))]
        if second:
            parts += [_table(wide[second].dropna(how="all"))]
    parts += [
        f"<h2>Speed-up against {html.escape(ctx.reference)} (gradient)</h2>",
        f"<p class=\"note\">Each cell: `{html.escape(ctx.reference)}`'s time ÷ the backend's, geometric mean over "
        "replicates [95 % interval]; green is faster than the reference, red slower (colour: log speed-up). "
        "Outlined italic cells are ties: the interval contains 1. Grey “–”: not run. Hover a coloured outcome cell "
        "for its reason.</p>",
        '<p class="legend"><span class="outcome-incorrect" style="background:#7b1fa2;color:#fff">incorrect</span>'
        '<span style="background:#424242;color:#fff">error</span><span style="background:#e65100;color:#fff">timeout'
        '</span><span style="background:#fafafa;color:#999">skipped</span></p>',
        heat_map(ctx),
    ]
    for task in ("gradient", "train"):
        if not ctx.task(task).empty:
            parts += [f"<h3>Wins, ties and losses ({task})</h3>", _table(tally(ctx.task(task)))]
    worst = ctx.rows.assign(share=ctx.rows["rel_err"] / ctx.rows["tolerance"])
    agreement = worst.pivot_table(index="backend", columns="task", values="share", aggfunc="max")
    parts += [
        f"<h2>Agreement with float64 {html.escape(ctx.reference)}</h2>",
        "<p class=\"note\">Each backend's worst error over the task's rows, as a share of the tolerance (below 1 "
        "passes; summary.md lists each dtype's error and tolerance).</p>",
        _table(agreement.map(lambda v: f"{v:.1e}" if np.isfinite(v) else "–")),
    ]
    golden = golden_ratios(ctx)
    golden = golden[golden["config"].isin(ctx.task("gradient")["config"])]  # as the summary's section
    if not golden.empty:
        parts += [
            f"<h2>× golden: time ÷ {html.escape(ctx.golden)}'s</h2>",
            _down(golden, "estimate", lambda v: f"{v:.2f}×"),
        ]
    jf = grad_over_forward(ctx)
    if not jf.empty:
        parts += ["<h2>Gradient ÷ forward (J/F)</h2>", _down(jf, "estimate", lambda v: f"{v:.2f}")]
    tax = autograd_tax(ctx)
    if not tax.empty:
        parts += ["<h2>Autograd tax</h2>", _down(tax, "estimate", lambda v: f"{v:.2f}")]
    train = ctx.task("train")
    if not train.empty:
        parts += ["<h2>Training: time per SGD step</h2>", _down(train, "per_step_s", fmt_time)]
    for task, heading in PER_SAMPLE_TASKS.items():
        if ctx.task(task).empty:
            continue
        parts += _speedups_across(ctx, task, heading)
        loops = loop_ratios(ctx, task)
        if not loops.empty:
            parts += [
                f"<h3>{html.escape(heading)}: × loop (the loop's time ÷ the vectorised form's)</h3>",
                _across(loops, "estimate", lambda v: f"{v:.2f}×"),
            ]
        price = over_batch_gradient(ctx, task)
        if not price.empty:
            parts += [
                f"<h3>{html.escape(heading)} ÷ the same backend's batch gradient</h3>",
                _across(price, "estimate", lambda v: f"{v:.2f}"),
            ]
    for task, heading in SECOND_ORDER_TASKS.items():
        if ctx.task(task).empty:
            continue
        parts += _speedups_across(ctx, task, heading)
        ratios = base_ratios(ctx, task)
        if not ratios.empty:
            parts += [
                f"<h3>{html.escape(heading)} ÷ the same backend's {BASE[task]} (same process)</h3>",
                _across(ratios, "estimate", lambda v: f"{v:.2f}"),
            ]
    nested = ratio_table(ctx.rows[ctx.rows["task"] == "hvp"], nested_pairs(ctx), pilot=ctx.pilot)
    if not nested.empty:
        parts += [
            "<h3>HVP: reverse over reverse ÷ forward over reverse</h3>",
            _across(nested, "estimate", lambda v: f"{v:.2f}"),
        ]
    noise = noise_levels(ctx)
    if not noise.empty:
        parts += ["<h2>Where the noise is</h2>", _table(noise.set_index("task"))]
    account = time_account(bench)
    if not account.empty:
        parts += ["<h2>Where the run's time went</h2>", _table(account.set_index("part"))]
    parts += [
        "<h2>Plots</h2>",
        *(f"<h3>{html.escape(PLOTS[key][1])}</h3>{_image(PLOTS[key][0])}" for key in plots),
    ]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Run {html.escape(str(bench.get("run_id")))}'
        f"</title><style>{STYLE}</style><script>{PROBE}</script></head><body>{body}</body></html>"
    )
