"""Check the suite's speed-ups against the frameworks' own timers.

    python -m bench.report validate RUN [--cells w256-L4,w1024-L4] [--repeats 5] [--time 0.5]

For a few cells of a saved run (by default the square networks of widths 256 and 1024 at depth 4,
both dtypes, torch and jax against numpy-hadamard: 8 cells), ``bench.harness.validate`` times the
same calls again in this process with each framework's own timer, the backend and the reference
interleaved repeat by repeat, and this verb sets its geometric-mean ratio, with a t interval over
the repeats, against the run's. A cell "parts" where the two estimates differ by more than both
intervals allow (and more than ``--tolerance``): then one of the timers is measuring something
else. The protocol's promises on this machine (``bench.harness.validate.PROTOCOL``) follow.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..harness import validate as timers
from ..harness.policy import available_cores
from ..harness.stats import log_interval
from .load import ReportError, load_run
from .tables import markdown


def cells_of(run: Path, pattern: str, names: list[str]) -> pd.DataFrame:
    path = Path(run) / "speedups.csv"
    if not path.is_file():
        raise ReportError(f"{path}: no such file (a run folder with speedups.csv)")
    table = pd.read_csv(path)  # a run of one replicate has speed-ups without intervals: they count too
    table = table[table["speedup"].notna() & (table["call"] != "reference")]
    table = table[
        table["config"].str.startswith(tuple(pattern.split(",")))
        & table["backend"].isin(names)
        & (table["task"] == "gradient")
    ]
    if table.empty:
        raise ReportError(f"{run}: no gradient cell matches {pattern!r} for {names}")
    return table


def own_timings(run: Path, pattern: str, names: list[str], repeats: int, budget: float) -> dict[tuple, np.ndarray]:
    """The log speed-up of each cell of ``run`` by the frameworks' own timers, one per repeat:
    (config, backend) -> the repeats' log ratios. The run gives the cells and its thread policy."""
    bench = load_run(run)["machine_info"].get("autograd_bench", {})
    threads = (bench.get("thread_policy") or {}).get("threads") or available_cores()
    cells = [(cell["config"], cell["backend"]) for _, cell in cells_of(run, pattern, names).iterrows()]
    return timers.own_timings(cells, threads, repeats, budget)


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
                "timer": timers.timer_name(cell["backend"]),
                "suite": f"{suite[0]:.2f} [{suite[1]:.2f}–{suite[2]:.2f}]",
                "own timer": f"{point:.2f} [{low:.2f}–{high:.2f}]",
                "difference": f"{math.exp(gap) - 1:.0%}",
                "parts": "yes" if gap > max(allowed, math.log1p(tolerance)) else "no",
            }
        )
    return pd.DataFrame(out)


def validate(run: Path, pattern: str, names: list[str], repeats: int, budget: float, tolerance: float) -> pd.DataFrame:
    return judge(cells_of(run, pattern, names), own_timings(run, pattern, names, repeats, budget), tolerance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report validate", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with speedups.csv")
    parser.add_argument(
        "--cells",
        default="w256-L4,w1024-L4",
        help="configurations whose id starts with one of these, comma-separated (default w256-L4,w1024-L4)",
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
        protocol = timers.protocol_table()
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
