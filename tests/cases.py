"""Cases shared by the correctness tests: one list, reused for every backend; the tolerances and
the error measure are the benchmark's own (``bench.harness.schema``), so tests and rows agree on "right"."""

from __future__ import annotations

import itertools

import reference_impl as ri
from bench.harness.schema import relative_error, tolerance  # noqa: F401 (re-exported for the tests)
from bench.suite.grids import make_data

NAMES = sorted(ri.ACTIVATIONS)

# (sizes [l0, ..., lL], batch d): widths of 1, batch 1, depths 1 to 6.
SHAPES = [
    ([1, 1], 1),
    ([3, 1, 2], 5),
    ([4, 8, 3], 1),
    ([1, 64, 1], 64),
    ([5, 16, 16, 2], 7),
    ([8, 32, 32, 32, 32, 4], 33),
    ([2, 6, 5, 4, 3, 2, 1], 9),
]

# One activation for every layer, or two mixed per-layer lists (cycling through all names).
ACTIVATION_CASES = [*NAMES, "mixed", "mixed-reversed"]


def gradient_tolerance(dtype) -> float:
    return tolerance("gradient", dtype)


def activation_for(case: str, depth: int) -> str | list[str]:
    if case == "mixed":
        return list(itertools.islice(itertools.cycle(NAMES), depth))
    if case == "mixed-reversed":
        return list(itertools.islice(itertools.cycle(reversed(NAMES)), depth))
    return case


# The same generator as the benchmarks: one definition of "the problem".
problem = make_data
