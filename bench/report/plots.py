"""PNG plots of a run: one panel per (dtype, depth, batch), one line per backend."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from .context import Context
from .load import write_atomic
from .ratios import autograd_tax, kernel_speed
from .tables import per_panel

PLOTS = {
    "time": ("time-vs-width.png", "Gradient pass: median time"),
    "speedup": ("speedup-vs-width.png", "Speed-up against numpy-hadamard (95 % intervals)"),
    "grad_over_forward": ("grad-over-forward.png", "Gradient ÷ forward (J/F)"),
    "tax": ("autograd-tax.png", "Autograd tax: autodiff ÷ the same framework by hand"),
    "kernel": (
        "kernel-speed.png",
        "Kernel speed: the seed's equations in torch, JAX and TensorFlow against numpy-hadamard",
    ),
    "train": ("train-time-per-step.png", "Training: time per SGD step"),
    "per_sample": ("per-sample-time-vs-width.png", "Per-sample gradients and DP-SGD's clipped gradient: median time"),
    "per_sample_batch": ("per-sample-time-vs-batch.png", "Per-sample and clipped gradients against the batch size"),
    "second_order": ("jvp-hvp-time-vs-width.png", "Forward mode (JVP) and the Hessian-vector product: median time"),
    "memory": (
        "memory-diag-vs-hadamard.png",
        "Memory of one call from cold buffers (tracemalloc): diagonal Jacobians against Hadamard",
    ),
}


def _figure(df: pd.DataFrame, plot_one, ylabel: str, logy: bool = True):
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
    fig.legend(handles, labels, loc="lower center", ncol=min(5, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * math.ceil(len(labels) / 5), 1, 1))
    return fig


def _lines(column: str, scale: float = 1.0, interval: bool = False, colours: dict | None = None):
    def plot_one(ax, part):
        for backend, rows in part.groupby("backend"):
            rows = rows.sort_values("width").dropna(subset=[column])
            y = rows[column] * scale
            if interval:
                ax.errorbar(
                    rows["width"],
                    y,
                    yerr=[y - rows["low"], rows["high"] - y],
                    marker="o",
                    capsize=3,
                    label=backend,
                    color=(colours or {}).get(backend),
                )
            else:
                ax.plot(rows["width"], y, marker="o", label=backend, color=(colours or {}).get(backend))

    return plot_one


def figures(ctx: Context) -> dict:
    gradient, train = ctx.task("gradient"), ctx.task("train")
    # One colour per backend of the run, the same in every plot (20 distinct ones: tab20).
    colours = {
        name: f"C{i % 10}" if i < 10 else f"tab:{['brown', 'pink', 'olive', 'cyan'][i % 4]}"
        for i, name in enumerate(sorted(set(ctx.table["backend"])))
    }
    made = {}
    if not gradient.empty:
        made["time"] = _figure(gradient, _lines("median", 1e3, colours=colours), "median time per pass (ms)")
        made["speedup"] = _figure(
            gradient, _lines("speedup", interval=True, colours=colours), f"speed-up vs {ctx.reference}"
        )
        if gradient["grad_over_forward"].notna().any():
            made["grad_over_forward"] = _figure(
                gradient, _lines("grad_over_forward", colours=colours), "gradient time / forward time"
            )
        tax = autograd_tax(ctx)
        if not tax.empty:
            made["tax"] = _figure(
                tax.rename(columns={"estimate": "speedup"}),
                _lines("speedup", interval=True),
                "autodiff time / manual time",
                logy=False,
            )
        kernels = kernel_speed(ctx)
        if not kernels.empty:
            made["kernel"] = _figure(
                kernels.rename(columns={"estimate": "speedup"}),
                _lines("speedup", interval=True),
                f"speed-up vs {ctx.reference}",
            )
        memory = gradient[gradient["backend"].isin(["numpy-diag", "numpy-hadamard"])].dropna(subset=["traced_bytes"])
        if not memory.empty:  # like with like: both NumPy, one measure
            made["memory"] = _figure(
                memory, _lines("traced_bytes", 1 / 2**20, colours=colours), "MiB (tracemalloc, one call)"
            )
    square = train[train["network"] == "square"]
    if not square.empty:
        made["train"] = _figure(square, _lines("per_step_s", 1e3, colours=colours), "time per step (ms)")
    per_sample = ctx.table[ctx.table["task"].isin(["per-sample", "clipped"])]
    at_64 = per_sample[per_sample["batch"] == 64]
    if at_64["width"].nunique() > 1:
        panels = at_64.assign(dtype=at_64["task"] + ", " + at_64["dtype"])  # a panel per task and dtype
        made["per_sample"] = _figure(panels, _lines("median", 1e3, colours=colours), "median time per call (ms)")
    second = ctx.table[ctx.table["task"].isin(["jvp", "hvp"])]
    if second["width"].nunique() > 1:
        panels = second.assign(dtype=second["task"] + ", " + second["dtype"])  # a panel per task and dtype
        made["second_order"] = _figure(panels, _lines("median", 1e3, colours=colours), "median time per call (ms)")
    sweep = per_sample[per_sample["width"] == 256]
    if sweep["batch"].nunique() >= 3:
        made["per_sample_batch"] = _batch_figure(sweep, colours)
    return made


def _batch_figure(df: pd.DataFrame, colours: dict):
    """Time against the batch size, one panel per (task, dtype): a loop over samples grows linearly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(df.groupby(["task", "dtype"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, ((task, dtype), part) in zip(axes.flat, panels):
        for backend, rows in part.groupby("backend"):
            rows = rows.sort_values("batch")
            ax.plot(rows["batch"], rows["median"] * 1e3, marker="o", label=backend, color=colours.get(backend))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(title=f"{task}, {dtype}, width 256", xlabel="batch size d", ylabel="median time per call (ms)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * math.ceil(len(labels) / 5), 1, 1))
    return fig


def save_plots(ctx: Context, out: Path) -> list[str]:
    """Write every plot the run has data for; returns their keys."""
    import matplotlib.pyplot as plt
    from PIL import Image

    made = figures(ctx)
    for key, fig in made.items():
        rendered, buffer = io.BytesIO(), io.BytesIO()
        fig.savefig(rendered, format="png", dpi=80)
        plt.close(fig)
        # A palette of 32 colours holds these line plots (20 backends at most): a quarter of full colour's bytes.
        Image.open(rendered).convert("RGB").quantize(32).save(buffer, format="png", optimize=True)
        write_atomic(out / PLOTS[key][0], buffer.getvalue())
    return [key for key in PLOTS if key in made]  # PLOTS's order, as a rebuild from the files finds them
