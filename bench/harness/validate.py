"""The frameworks' own timers and the protocol's promises, measured in this process: what
``python -m bench.report validate`` sets against a saved run (the report reads the run and judges;
the timing lives here, with the rest of how the suite times).

Each cell's speed-up is timed again with each framework's own timer:
``torch.utils.benchmark.Timer.blocked_autorange`` for torch, ``timeit`` for NumPy and for JAX (whose
call blocks until its result is ready), the reference and the backend interleaved repeat by repeat,
each right after the other. The protocol's
promises are wall-clock ratios, so they live here and not in the tests, which must pass on a slow,
noisy machine: a torch call right after a heavy NumPy call, once warmed up as the suite warms up
(``measure.warm_up``), against torch's steady state (2.2x was measured without the warm-up); and a
training row's time per step at 5 and at 40 steps per call (setup inside the timed call made 5-step
calls 14 % dearer per step before it moved out).
"""

from __future__ import annotations

import math
import time
import timeit

import numpy as np
import pandas as pd

from ..suite import backends
from ..suite.grids import Config, make_problem, square
from . import measure, timing
from .policy import apply

OWN_TIMER = {"torch": "torch.utils.benchmark blocked_autorange", "numpy": "timeit", "jax": "timeit (blocked on)"}


def timer_name(backend: str) -> str:
    return OWN_TIMER[backends.REGISTRY[backend].framework]


def own_timer_seconds(framework: str, call, budget: float) -> float:
    """Median seconds per call by the framework's own timer."""
    if framework == "torch":
        import torch
        from torch.utils import benchmark as torch_benchmark

        # Timer runs torch on 1 thread unless told: the run's policy set the process's count
        timer = torch_benchmark.Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())
        return timer.blocked_autorange(min_run_time=budget).median
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    repeats = max(3, int(budget / max(timer.timeit(number) / number * number, 1e-9)))
    return float(np.median(timer.repeat(repeat=min(repeats, 50), number=number))) / number


def config_of(config_id: str):
    """w1024-L4-d64-float64-tanh -> the Config (square networks only)."""
    width, depth, batch, dtype, activation = config_id.split("-")
    return square("gradient", dtype, int(width[1:]), int(depth[1:]), int(batch[1:]), activation=activation)


def own_timings(cells: list[tuple[str, str]], threads: int, repeats: int, budget: float) -> dict[tuple, np.ndarray]:
    """The log speed-up of each (config id, backend) by the frameworks' own timers, one per repeat,
    on ``threads`` threads (the run's policy, applied before any framework starts)."""
    apply(threads)
    reference = backends.REGISTRY[backends.REFERENCE]
    found = {}
    for config_id, name in cells:
        problem = make_problem(config_of(config_id))
        chosen = backends.REGISTRY[name]
        prepared = {
            b.name: backends.prepare(b, "gradient", problem, {"diag_budget_bytes": 2**31}) for b in (reference, chosen)
        }
        logs = []
        for _ in range(repeats):  # interleaved, each right after the other, as the suite pairs them
            times = {}
            for b in (chosen, reference):
                measure.warm_up(prepared[b.name].run, time.perf_counter())  # after the other library
                times[b.name] = own_timer_seconds(b.framework, prepared[b.name].run, budget)
            logs.append(math.log(times[reference.name] / times[chosen.name]))
        found[config_id, name] = np.array(logs)
    return found


def switch_ratio(width: int = 1024, calls: int = 3, repeats: int = 5) -> float:
    """Median of torch's first timed calls after a heavy NumPy call and the suite's warm-up,
    over torch's steady-state median (OpenBLAS's threads spin about 0.1 s after a call; without
    a warm-up past that, torch's next calls on 2 cores took 2.2x their steady time here)."""
    problem = make_problem(square("gradient", "float64", width, 4, 64))
    numpy_run = backends.prepare(backends.REGISTRY[backends.REFERENCE], "gradient", problem, {}).run
    torch_run = backends.prepare(backends.REGISTRY["torch"], "gradient", problem, {}).run

    def timed_calls(n):
        out = []
        for _ in range(n):
            start = time.perf_counter()
            torch_run()
            out.append(time.perf_counter() - start)
        return out

    measure.warm_up(torch_run)
    steady = float(np.median(timed_calls(10)))
    after = []
    for _ in range(repeats):
        numpy_run()  # the previous library's heavy call: its threads now spin
        measure.warm_up(torch_run, time.perf_counter())
        after += timed_calls(calls)
    return float(np.median(after)) / steady


def steps_ratio(name: str, blocks: int = 3) -> float:
    """A training row's time per step at 5 steps per call over that at 40 (the least disturbed
    blocks of each): 1 when nothing but the steps runs inside the timed call."""
    backend = backends.REGISTRY[name]
    per_step = {}
    for steps in (5, 40):
        problem = make_problem(Config("train", "float64", (16,) * 5, 64, steps=steps))
        run = backends.prepare(backend, "train", problem, {}).run
        per_step[steps] = min(min(timing.sample(run, 0.3)) for _ in range(blocks)) / steps
    return per_step[5] / per_step[40]


def busy_threads(threads: int) -> float:
    """CPU time ÷ wall time over a w1024 float64 gradient loop of the reference on the policy's
    threads: about 1 per thread that works (a policy that did nothing would show it)."""
    problem = make_problem(square("gradient", "float64", 1024, 4, 64))
    run = backends.prepare(backends.REGISTRY[backends.REFERENCE], "gradient", problem, {}).run
    run()
    cpu, wall = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall < 0.5:
        run()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


# (check, what it measures, how to run it, the range it should stay in)
PROTOCOL = [
    (
        "switch",
        "torch right after a heavy NumPy call and the suite's warm-up ÷ torch's steady state",
        lambda: switch_ratio(width=1024, calls=3, repeats=5),
        (0.0, 1.35),
    ),
    (
        "steps numpy-hadamard",
        "numpy-hadamard's time per step, 5 ÷ 40 steps per call",
        lambda: steps_ratio("numpy-hadamard"),
        (0.93, 1.07),
    ),
    ("steps torch", "torch's time per step, 5 ÷ 40 steps per call", lambda: steps_ratio("torch"), (0.93, 1.07)),
    (
        "busy threads",
        "CPU time ÷ wall time of the reference's w1024 gradient loop on 2 threads (cpu_util)",
        lambda: busy_threads(2),
        (1.3, 2.05),
    ),
]


def protocol_table() -> pd.DataFrame:
    """Each promise measured once now, with whether it holds on this machine."""
    out = []
    for name, what, measure_it, (low, high) in PROTOCOL:
        ratio = measure_it()
        out.append(
            {
                "check": name,
                "measures": what,
                "ratio": f"{ratio:.2f}",
                "expected": f"{low:.2f}–{high:.2f}",
                "holds": "yes" if low <= ratio <= high else "no",
            }
        )
    return pd.DataFrame(out)
