"""One timer for every number the suite times: blocks of calls.

A sample is a block of ``iterations`` back-to-back calls, at least ``MIN_BLOCK`` long, divided by
the calls; a row is ``rounds`` such samples filling its time. The gradient call goes through
pytest-benchmark's ``pedantic`` with exactly these blocks, and the forward pass, the floor's
products and the peak through ``block_times``: so J/F and the floor divide like by like.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_BLOCK = 0.001  # s: far above the timer's resolution, short enough for many samples
MIN_SAMPLES = 3


def calibrate(call: Callable[[], object], budget: float) -> tuple[int, int]:
    """(iterations per block, blocks) for ``call`` to fill about ``budget`` seconds; the call is
    already warm."""
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    iterations = max(1, int(MIN_BLOCK / once + 0.999))
    rounds = max(MIN_SAMPLES, int(budget / (iterations * once)))
    return iterations, rounds


def block_times(call: Callable[[], object], iterations: int, rounds: int) -> list[float]:
    """Seconds per call, one value per block."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        samples.append((time.perf_counter() - start) / iterations)
    return samples


def sample(call: Callable[[], object], budget: float) -> list[float]:
    """Warm ``call`` once, then time it in blocks for about ``budget`` seconds."""
    call()
    return block_times(call, *calibrate(call, budget))
