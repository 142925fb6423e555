"""Per-sample gradients: every sample's cost and gradient, materialised, (d, l_k, l_{k-1}) per
layer; every (configuration, backend, replicate) of the grid in the planned order (``plan.py``)."""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "per-sample"


def test_per_sample(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
