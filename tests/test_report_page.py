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


def test_the_replicates_line_says_when_the_pilot_used_the_whole_budget():
    """A slow machine's pilot can take the budget up (the pilot always completes): the run must
    say it had no second stage and why, not describe a pilot as if the budget had been spent on
    a second stage."""
    from bench.report.sections import replicates_line

    account = {"prepare and compile": 300.0, "timing": 237.0, "report": 19.0}
    bench = {"pilot_replicates": 3, "replicates": 3, "sweeps": 2, "budget_s": 420.0, "time_account": account}
    assert "no second stage: the pilot alone took 537 s of the 420 s budget" in replicates_line(bench)
    within = {**bench, "time_account": {"timing": 300.0, "report": 19.0}}  # under budget, yet no stage
    assert "second stage" not in replicates_line(within)
    staged = {**bench, "replicates": 5, "second_stage": {"aim_half_width": 0.08, "cells": 4}}
    assert "then 5 replicates in all" in replicates_line(staged)
