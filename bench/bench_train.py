"""The training benchmark: a fixed number of SGD steps with the seed's clipping, from the same
start, timed as a whole; the final parameters are checked against ``reference_impl.train``'s."""

from __future__ import annotations

from .harness.measure import run_row
from .plugin import session_of

TASK = "train"


def test_train(benchmark, case, request):
    run_row(benchmark, case, session_of(request.config), request.node)
