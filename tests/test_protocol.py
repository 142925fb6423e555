"""The timing protocol's promises, measured: a library's first timed calls after another
library's heavy call are within noise of its steady state, and a training row's time per step
does not depend on the steps per call (no setup inside the timed call).

These compare ratios measured seconds apart in one process, with bounds well inside the faults
they guard against (2.2x and 1.14x were measured without the protections)."""

from __future__ import annotations

import os
import time

import pytest

from bench import backends, measure, timing, validate
from bench.config import Config, make_problem

from .conftest import load_framework


@pytest.mark.skipif(os.cpu_count() < 2, reason="idle threads take a core only where there are two")
def test_a_library_after_another_ones_heavy_call_is_at_its_steady_state():
    """Without the warm-up past OpenBLAS's 0.1 s spin, torch's next calls took 2.2x (measured here)."""
    load_framework("torch")
    assert validate.switch_ratio(width=1024, calls=3, repeats=5) < 1.35


@pytest.mark.parametrize("name", ["numpy-hadamard", "torch"])
def test_time_per_step_does_not_depend_on_the_steps_per_call(name):
    """Setup inside the timed call (copies, an optimizer, buffers) would make short calls dearer
    per step: 14 % at 5 steps was measured before it moved out."""
    backend = backends.REGISTRY[name]
    load_framework(backend.framework)
    per_step = {}
    for steps in (5, 40):
        problem = make_problem(Config("train", "float64", (16,) * 5, 64, steps=steps))
        run = backends.prepare(backend, "train", problem, {}).run
        per_step[steps] = min(min(timing.sample(run, 0.3)) for _ in range(3)) / steps  # the least disturbed blocks
    assert per_step[5] / per_step[40] == pytest.approx(1.0, abs=0.07), per_step


def test_the_warm_up_outlasts_another_librarys_spin():
    calls = []
    start = time.perf_counter()
    measure.warm_up(lambda: calls.append(1))
    assert time.perf_counter() - start >= measure.WARMUP_SECONDS > 0.1  # OpenBLAS spins about 0.1 s
    assert len(calls) >= measure.WARMUP_CALLS
