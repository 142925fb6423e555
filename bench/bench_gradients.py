"""The gradient benchmark: cost and all parameter gradients, every (configuration, backend, replicate)
of the grid, in the planned order (``plan.py``). Each row also times the forward pass alone."""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "gradient"


def test_gradient(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
