"""Check the suite's speed-ups against the frameworks' own timers.

    python -m bench.report validate RUN [--cells w1024-L4] [--repeats 5] [--time 0.5]

For a few cells of a saved run (by default the widest square network at depth 4, both dtypes,
torch and jax against numpy-hadamard), it times the same calls again in this process with each
framework's own timer: ``torch.utils.benchmark.Timer.blocked_autorange`` for torch, ``timeit``
for NumPy and for JAX (whose call blocks until its result is ready). It interleaves the backends
repeat by repeat, as the suite does, and takes the same geometric-mean ratio with a t interval
over the repeats. A cell "parts" where the two estimates differ by more than both intervals
allow (and more than ``--tolerance``): then one of the timers is measuring something else.

It also measures the protocol's promises on this machine, in seconds (they are wall-clock
ratios, so they live here and not in the tests, which must pass on a slow, noisy machine):
a torch call right after a heavy NumPy call, once warmed up as the suite warms up
(``measure.warm_up``), against torch's steady state (2.2x was measured without the warm-up);
and a training row's time per step at 5 and at 40 steps per call (setup inside the timed call
made 5-step calls 14 % dearer per step before it moved out).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

from ..harness import measure
from ..harness.policy import apply, available_cores
from ..harness.stats import log_interval
from ..suite import backends
from ..suite.grids import Config, make_problem, square
from .load import ReportError, load_run
from .tables import markdown

OWN_TIMER = {"torch": "torch.utils.benchmark blocked_autorange", "numpy": "timeit", "jax": "timeit (blocked on)"}


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


def cells_of(run: Path, pattern: str, names: list[str]) -> pd.DataFrame:
    path = Path(run) / "speedups.csv"
    if not path.is_file():
        raise ReportError(f"{path}: no such file (a run folder with speedups.csv)")
    table = pd.read_csv(path)  # a run of one replicate has speed-ups without intervals: they count too
    table = table[table["speedup"].notna() & (table["call"] != "reference")]
    table = table[
        table["config"].str.startswith(pattern) & table["backend"].isin(names) & (table["task"] == "gradient")
    ]
    if table.empty:
        raise ReportError(f"{run}: no gradient cell matches {pattern!r} for {names}")
    return table


def config_of(config_id: str):
    """w1024-L4-d64-float64-tanh -> the Config (square networks only)."""
    width, depth, batch, dtype, activation = config_id.split("-")
    return square("gradient", dtype, int(width[1:]), int(depth[1:]), int(batch[1:]), activation=activation)


def own_timings(run: Path, pattern: str, names: list[str], repeats: int, budget: float) -> dict[tuple, np.ndarray]:
    """The log speed-up of each cell of ``run`` by the frameworks' own timers, one per repeat:
    (config, backend) -> the repeats' log ratios. The run gives the cells and its thread policy."""
    bench = load_run(run)["machine_info"].get("autograd_bench", {})
    threads = (bench.get("thread_policy") or {}).get("threads") or available_cores()
    apply(threads)  # the run's thread policy, before any framework starts
    reference = backends.REGISTRY[backends.REFERENCE]
    found = {}
    for _, cell in cells_of(run, pattern, names).iterrows():
        problem = make_problem(config_of(cell["config"]))
        chosen = backends.REGISTRY[cell["backend"]]
        prepared = {
            b.name: backends.prepare(b, "gradient", problem, {"diag_budget_bytes": 2**31}) for b in (reference, chosen)
        }
        logs = []
        for _ in range(repeats):  # interleaved, as the suite interleaves backends
            times = {}
            for b in (reference, chosen):
                measure.warm_up(prepared[b.name].run, time.perf_counter())  # after the other library
                times[b.name] = own_timer_seconds(b.framework, prepared[b.name].run, budget)
            logs.append(math.log(times[reference.name] / times[chosen.name]))
        found[cell["config"], cell["backend"]] = np.array(logs)
    return found


def judge(cells: pd.DataFrame, logs: dict[tuple, np.ndarray], tolerance: float) -> pd.DataFrame:
    """Each cell's speed-up by the suite against the frameworks' own timers' (``own_timings``)."""
    out = []
    for _, cell in cells.iterrows():
        point, low, high = log_interval(logs[cell["config"], cell["backend"]])
        suite = (cell["speedup"], cell["low"], cell["high"])
        gap = abs(math.log(point / suite[0]))
        # the wider of the two intervals (a run of one replicate has none: then the framework timer's alone)
        bounds = [b for b in (suite[2] / suite[0], suite[0] / suite[1], high / point, point / low) if np.isfinite(b)]
        allowed = max(map(math.log, bounds), default=0.0)
        out.append(
            {
                "config": cell["config"],
                "backend": cell["backend"],
                "timer": OWN_TIMER[backends.REGISTRY[cell["backend"]].framework],
                "suite": f"{suite[0]:.2f} [{suite[1]:.2f}–{suite[2]:.2f}]",
                "own timer": f"{point:.2f} [{low:.2f}–{high:.2f}]",
                "difference": f"{math.exp(gap) - 1:.0%}",
                "parts": "yes" if gap > max(allowed, math.log1p(tolerance)) else "no",
            }
        )
    return pd.DataFrame(out)


def validate(run: Path, pattern: str, names: list[str], repeats: int, budget: float, tolerance: float) -> pd.DataFrame:
    return judge(cells_of(run, pattern, names), own_timings(run, pattern, names, repeats, budget), tolerance)


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
    from ..harness import timing

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report validate", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with speedups.csv")
    parser.add_argument(
        "--cells", default="w1024-L4", help="configurations whose id starts with this (default w1024-L4)"
    )
    parser.add_argument("--backends", default="torch,jax", help="backends to check (default torch,jax)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    parser.add_argument("--time", type=float, default=0.5, help="seconds per framework timer call (default 0.5)")
    parser.add_argument(
        "--tolerance", type=float, default=0.15, help="a difference below this never parts (default 0.15)"
    )
    parser.add_argument("--no-protocol", action="store_true", help="skip the protocol table (its checks take ~20 s)")
    parser.add_argument("--out", type=Path, help="also write what it prints to this Markdown file")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats: expected at least 2 (an interval needs two), got {args.repeats}")
    try:
        table = validate(
            args.run, args.cells, [b.strip() for b in args.backends.split(",")], args.repeats, args.time, args.tolerance
        )
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parted = int((table["parts"] == "yes").sum())
    lines = [
        markdown(table, index=False),
        "",
        f"{len(table)} cells; {parted} part by more than the noise (and {args.tolerance:.0%}).",
    ]
    if not args.no_protocol:
        protocol = protocol_table()
        lines += [
            "",
            "The protocol on this machine:",
            "",
            markdown(protocol, index=False),
            "",
            f"{int((protocol['holds'] == 'no').sum())} of {len(protocol)} protocol checks out of range.",
        ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        from .load import write_atomic

        command = " ".join(["python -m bench.report validate", *map(str, argv if argv is not None else sys.argv[1:])])
        write_atomic(args.out, f"# The suite against the frameworks' own timers\n\n`{command}`\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
