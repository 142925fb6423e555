"""Formatting shared by the summary, the page and the plots: units, Markdown, the pivots every
section is made of (one backend x width table per (dtype, depth, batch) panel)."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd


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
    """A pipe table without the padding that aligns its columns in plain text: the same table
    rendered (GitHub, the page), at about half the bytes of a committed run's summary."""
    if not len(df):
        return "_(none)_"
    lines = []
    for line in df.to_markdown(index=index, disable_numparse=True).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):  # the alignment row: its colons only
            cells = [
                f"{':' if c.startswith(':') else ''}--{':' if c.endswith(':') and len(c) > 1 else ''}" for c in cells
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_panel(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One table per (dtype, depth, batch), and per machine in a merge of several: the panels
    every pivot is split by."""
    machine = df["machine"] if "machine" in df else pd.Series("", index=df.index)
    return [
        (f"{dtype}, depth {depth}, batch {batch}{f' @{m}' if m else ''}", part)
        for (m, dtype, depth, batch), part in df.assign(machine=machine.fillna("")).groupby(
            ["machine", "dtype", "depth", "batch"], sort=True
        )
    ]


def pivot(df: pd.DataFrame, values: str, fmt: Callable[[float], str], columns: str = "width") -> pd.DataFrame:
    table = df.pivot_table(index="backend", columns=columns, values=values, aggfunc="first")
    table.columns = [f"w={w}" if columns == "width" else str(w) for w in table.columns]
    return table.map(lambda v: fmt(v) if isinstance(v, str) or pd.notna(v) else "–")


def pivot_section(heading: str, intro: str, df: pd.DataFrame, values: str, fmt=str, suffix: str = "") -> str:
    if df.empty:
        return ""
    out = [f"## {heading}", "", intro, ""]
    for title, part in per_panel(df):
        out += [f"### {title}{suffix}", "", markdown(pivot(part, values, fmt)), ""]
    return "\n".join(out)


def fmt_speedup(point: float, low: float, high: float, is_tie: bool | None = None) -> str:
    if not np.isfinite(point):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{point:.2f}× (1 replicate)"
    text = f"{point:.2f}× [{low:.2f}–{high:.2f}]"
    return f"{text} tie" if (low <= 1 <= high if is_tie is None else is_tie) else text


def fmt_ratio(point: float, low: float, high: float) -> str:
    if not np.isfinite(point):
        return "–"
    return f"{point:.2f} [{low:.2f}–{high:.2f}]" if np.isfinite(low) else f"{point:.2f}"


def tally(table: pd.DataFrame) -> pd.DataFrame:
    """Wins, ties and losses (and "same") per backend against the reference, per task."""
    counted = table[table["call"] != "reference"]
    columns = ["win", "tie", "loss"] + (["same"] if (counted["call"] == "same").any() else [])
    if counted.empty:
        return pd.DataFrame(columns=["backend", *columns])
    return counted.pivot_table(index="backend", columns="call", values="speedup", aggfunc="size", fill_value=0).reindex(
        columns=columns, fill_value=0
    )


def speedup_cell(reference: str, backend: str, point: float, low: float, high: float) -> str:
    return "1 (reference)" if backend == reference else fmt_speedup(point, low, high)


def with_speedup_cells(reference: str, df: pd.DataFrame) -> pd.DataFrame:
    cells = [speedup_cell(reference, *r) for r in zip(df["backend"], df["speedup"], df["low"], df["high"])]
    return df.assign(cell=cells)


def with_ratio_cells(table: pd.DataFrame) -> pd.DataFrame:
    """A ratio table with its estimate and interval as one text cell, for the pivots."""
    return table.assign(cell=[fmt_ratio(*r) for r in zip(table["estimate"], table["low"], table["high"])])
