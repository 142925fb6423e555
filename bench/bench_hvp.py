"""The hvp benchmark, the seed's cost and its Hessian (all parameters) times the problem's
vector (each system's forward-mode or nested-autodiff forms against the
R-operator's closed form): every (configuration, backend, replicate) of the grid in the planned
order. Each row also times its base pass, the backend's own gradient, in the same process.
"""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "hvp"


def test_hvp(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
