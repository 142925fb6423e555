"""The jvp benchmark, forward mode: the network's output and its directional derivative J v along the
problem's vector (each system's forward-mode or nested-autodiff forms against the
R-operator's closed form): every (configuration, backend, replicate) of the grid in the planned
order. Each row also times its base pass, the forward pass, in the same process.
"""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "jvp"


def test_jvp(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
