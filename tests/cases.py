"""Cases and tolerances shared by the correctness tests: one list, reused for every backend."""

from __future__ import annotations

import itertools

import numpy as np

import reference_impl as ri

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


def problem(sizes: list[int], batch: int, dtype, seed: int = 0):
    """Parameters, inputs and targets: unit-scale data, so pre-activations stay far below 20."""
    params = ri.init_params(sizes, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((sizes[0], batch)).astype(dtype)
    t = rng.uniform(-0.9, 0.9, (sizes[-1], batch)).astype(dtype)
    return params, x, t


def flat(grads) -> np.ndarray:
    return np.concatenate([np.ravel(array) for layer in grads for array in layer])


def relative_error(grads, reference) -> float:
    """max |grads - reference| / max |reference|: the error on the gradient's own scale."""
    g, r = flat(grads).astype(np.float64), flat(reference).astype(np.float64)
    return float(np.max(np.abs(g - r)) / max(np.max(np.abs(r)), np.finfo(np.float64).tiny))
