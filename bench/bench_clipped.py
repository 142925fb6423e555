"""DP-SGD's clipped gradient without noise: the mean over samples of each sample's gradient
scaled to norm at most C; every (configuration, backend, replicate) of the grid in the planned order."""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "clipped"


def test_clipped(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
