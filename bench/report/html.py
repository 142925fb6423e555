"""``index.html``: one self-contained page per run (no network, no external scripts or fonts:
styles and script inline, the plots the PNG files beside it in the run folder). The machine and process policy, a heat map of speed-ups (backends x configurations,
coloured by log speed-up, intervals in every cell, ties outlined), agreement, J/F, training, and
the plots. A few lines of script record, once the page has loaded, whether every image decoded
and the heat map has cells (``data-rendered`` on <body>), for a headless browser to read back."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..registry import REFERENCE
from .plots import PLOTS
from .sections import Context, speedup_cell
from .stats import tally
from .tables import fmt_time

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 110em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.tie { outline: 2px dashed #555; outline-offset: -3px; font-style: italic; }
.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.5em; margin: 0.3em 0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; } .note { color: #555; max-width: 60em; }
"""

PROBE = """
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const cells = document.querySelectorAll('#T_heatmap td').length;
  document.body.setAttribute('data-rendered', JSON.stringify({images: images.length, loaded: loaded, heatmap_cells: cells}));
});
"""


def _table(df: pd.DataFrame, table_id: str = "") -> str:
    return df.to_html(escape=True, na_rep="–", table_id=table_id or None, border=0)


def heat_map(ctx: Context) -> str:
    """Configurations down, backends across; colour: log2 speed-up, green faster, red slower."""
    df = ctx.task("gradient")
    if df.empty:
        return "<p>No gradient rows.</p>"
    order = df.sort_values(["dtype", "depth", "width", "batch"])["config"].drop_duplicates()
    wide = {v: df.pivot_table(index="config", columns="backend", values=v, aggfunc="first").loc[order]
            for v in ("speedup", "low", "high")}  # fmt: skip
    speed, low, high = wide["speedup"], wide["low"], wide["high"]
    reference = speed.columns == REFERENCE
    text = pd.DataFrame(
        [[speedup_cell(b, speed.at[c, b], low.at[c, b], high.at[c, b]).replace(" tie", "") for b in speed.columns]
         for c in speed.index], index=speed.index, columns=speed.columns)  # fmt: skip
    ties = ((low <= 1) & (high >= 1)).to_numpy() & ~reference
    colour = np.log2(speed.astype(float))
    colour.loc[:, reference] = 0.0  # the reference itself: neutral
    styler = (
        text.style.background_gradient(cmap="RdYlGn", gmap=colour, axis=None, vmin=-3, vmax=3)
        .map(lambda v: "background-color: #eee; color: #888" if v == "–" else "")
        .set_td_classes(pd.DataFrame(np.where(ties, "tie", ""), index=speed.index, columns=speed.columns))
        .set_uuid("heatmap")  # the table's id is T_heatmap
    )
    return styler.to_html()


def _image(name: str) -> str:
    return f'<img alt="{html.escape(name)}" src="{html.escape(name)}">'


def page(ctx: Context, plots: list[str]) -> str:
    bench = ctx.bench
    policy = bench.get("thread_policy") or {}
    facts = pd.DataFrame(
        [("run", bench.get("run_id")), ("date (UTC)", ctx.run.get("datetime")), ("commit", (ctx.run.get("commit_info") or {}).get("id")),
         ("CPU", f"{bench.get('cpu_model')}, {bench.get('cores')} cores"), ("grid", bench.get("grid")),
         ("rounds", f"{bench.get('rounds')} (order seed {bench.get('order_seed')})"),
         ("threads", policy.get("threads")), ("allocator", policy.get("malloc")),
         ("BLAS", "; ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}" for b in policy.get("blas", []))),
         ("versions", ", ".join(f"{k} {v}" for k, v in bench.get("versions", {}).items() if v))],
        columns=["", "value"]).set_index("")  # fmt: skip
    parts = [f"<h1>Benchmark run {html.escape(str(bench.get('run_id')))}</h1>", _table(facts)]
    parts += [f'<div class="warning">Warning: {html.escape(w)}</div>' for w in bench.get("warnings", [])]
    parts += ["<h2>Speed-up against numpy-hadamard (gradient)</h2>",
              f'<p class="note">Each cell: `{REFERENCE}`\'s time ÷ the backend\'s, median over rounds [95 % interval]; green '
              "is faster than the reference, red slower (colour: log speed-up). Outlined italic cells are ties: the interval "
              "contains 1.</p>", heat_map(ctx)]  # fmt: skip
    for task in ("gradient", "train"):
        if not ctx.task(task).empty:
            parts += [f"<h3>Wins, ties and losses ({task})</h3>", _table(tally(ctx.task(task)))]
    agreement = ctx.rows.groupby(["task", "backend", "dtype"]).agg(
        worst=("rel_err", "max"), tolerance=("tolerance", "first")
    )
    parts += ["<h2>Agreement with float64 numpy-hadamard</h2>", _table(agreement.map(lambda v: f"{v:.1e}"))]
    gradient = ctx.task("gradient").dropna(subset=["grad_over_forward"])
    if not gradient.empty:
        jf = gradient.pivot_table(index="backend", columns="config", values="grad_over_forward", aggfunc="first")
        parts += [
            "<h2>Gradient ÷ forward (J/F)</h2>",
            jf.style.format("{:.2f}").background_gradient(cmap="Blues", axis=None).to_html(),
        ]
    train = ctx.task("train")
    if not train.empty:
        per_step = train.pivot_table(index="backend", columns="config", values="per_step_s", aggfunc="first").map(
            fmt_time
        )
        parts += ["<h2>Training: time per SGD step</h2>", _table(per_step)]
    parts += [
        "<h2>Plots</h2>",
        *(f"<h3>{html.escape(PLOTS[key][1])}</h3>{_image(PLOTS[key][0])}" for key in plots),
    ]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Run {html.escape(str(bench.get("run_id")))}'
            f"</title><style>{STYLE}</style><script>{PROBE}</script></head><body>{body}</body></html>")  # fmt: skip
