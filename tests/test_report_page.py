"""The page's tables: one header row each, whatever the pandas index names (the headline, the
win/tie/loss and the agreement tables are pivots with named axes)."""

from __future__ import annotations

import re

import pandas as pd

from bench.report.html import _table


def test_a_pivot_with_named_axes_renders_with_one_header_row():
    long = pd.DataFrame({"backend": ["a", "a", "b"], "task": ["gradient", "train", "gradient"], "x": ["1", "2", "3"]})
    wide = long.pivot_table(index="backend", columns="task", values="x", aggfunc="first")
    assert wide.index.name == "backend" and wide.columns.name == "task"  # pandas would make two header rows
    html = _table(wide)
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert head.count("<tr") == 1
    assert all(f">{name}<" in head for name in ("backend", "gradient", "train"))
    grouped = long.groupby(["task", "backend"]).agg(n=("x", "size"))  # a two-level index, as the agreement table
    head = re.search(r"<thead>(.*?)</thead>", _table(grouped), re.S).group(1)
    assert head.count("<tr") == 1 and ">task<" in head and ">backend<" in head
