"""Cases and tolerances shared by the correctness tests: one list, reused for every backend."""

from __future__ import annotations

import itertools

import numpy as np

import reference_impl as ri
from bench.config import make_data, relative_error  # noqa: F401 (re-exported for the tests)

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

# Gradients never match bitwise across libraries (BLAS blocking, thread splits, FMA and XLA
# fusion reorder sums). Measured for these cases: max|diff| / max|g| below 1e-14 in float64 and
# 1e-6 in float32; the tolerances leave room for deeper and wider sums than these.
RELATIVE_TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


def activation_for(case: str, depth: int) -> str | list[str]:
    if case == "mixed":
        return list(itertools.islice(itertools.cycle(NAMES), depth))
    if case == "mixed-reversed":
        return list(itertools.islice(itertools.cycle(reversed(NAMES)), depth))
    return case


# The same generator and error measure as the benchmarks: one definition of "the problem".
problem = make_data
