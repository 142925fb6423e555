"""Command line of the report: see the package docstring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import PLOTS, ReportError, compact_run, write_index, write_report
from .agree import agree
from .compare import compare, compare_markdown
from .load import write_atomic
from .merge import merge


def _refresh_index(run_dir: Path) -> None:
    if run_dir.parent.name == "results" or (run_dir.parent / "README.md").is_file():
        write_index(run_dir.parent)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["merge"]:
            parser = argparse.ArgumentParser(
                prog="python -m bench.report merge", description="combine shards of one grid"
            )
            parser.add_argument("runs", nargs="+", type=Path)
            parser.add_argument("--out", type=Path, required=True)
            parser.add_argument(
                "--allow-mixed", action="store_true", help="shards of different machines: one table per machine"
            )
            args = parser.parse_args(argv[1:])
            out = merge(args.runs, args.out, args.allow_mixed)
            _refresh_index(out)
            print(f"merged {len(args.runs)} shards into {out}/")
            return 0
        if argv[:1] == ["agree"]:
            parser = argparse.ArgumentParser(prog="python -m bench.report agree",
                                             description="do two or more runs of one grid agree? (from their speedups.csv)")  # fmt: skip
            parser.add_argument("runs", nargs="+", type=Path)
            parser.add_argument("--out", type=Path, help="also write the report to this Markdown file "
                                "(results/agree.md is shown in results/README.md)")  # fmt: skip
            parser.add_argument("--min-coverage", type=float, metavar="X",
                                help="exit 1 if, for some pair and task, fewer than X (0-1) of one run's estimates lie in the other's intervals")  # fmt: skip
            args = parser.parse_args(argv[1:])
            if args.min_coverage is not None and not 0 <= args.min_coverage <= 1:
                parser.error(f"--min-coverage: expected a share between 0 and 1, got {args.min_coverage}")
            text, lowest = agree(args.runs)
            print(text)
            if args.out:
                write_atomic(
                    args.out,
                    f"# Do the committed runs agree?\n\n`python -m bench.report agree {' '.join(map(str, args.runs))}`\n\n{text}\n",
                )
                if (args.out.parent / "README.md").is_file():
                    write_index(args.out.parent)
            if args.min_coverage is not None and lowest < args.min_coverage:
                print(f"coverage {lowest:.0%} is below --min-coverage {args.min_coverage:.0%}", file=sys.stderr)
                return 1
            return 0
        if argv[:1] == ["compact"]:
            for run in argv[1:]:
                before, after = compact_run(Path(run))
                print(f"{run}: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
            return 0
        parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
        parser.add_argument("run", nargs="?", type=Path, help="a run folder or its benchmarks.json")
        parser.add_argument("--out", type=Path, help="where to write (default: the run's folder)")
        parser.add_argument("--equivalence", type=float, metavar="E",
                            help="call a speed-up whose whole interval lies within 1 ± E 'same' (e.g. 0.05)")  # fmt: skip
        parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two runs")
        parser.add_argument("--threshold", type=float, default=10.0, help="percent change that counts (default 10)")
        parser.add_argument(
            "--fail-above", type=float, metavar="PCT", help="exit 1 if a row got slower by more than PCT %%"
        )
        args = parser.parse_args(argv)
        if (args.run is None) == (args.compare is None):
            parser.error("give either RUN_DIR_OR_JSON or --compare OLD NEW")
        if args.compare:
            table = compare(*args.compare, threshold=args.threshold / 100)
            print(compare_markdown(table, args.threshold / 100))
            if args.fail_above is not None:
                worst = table[(table["ratio"] > 1 + args.fail_above / 100) & (table["change"] == "slower")]
                if not worst.empty:
                    print(f"regression: {len(worst)} row(s) slower by more than {args.fail_above:g} %", file=sys.stderr)
                    return 1
            return 0
        if args.equivalence is not None and not 0 < args.equivalence < 1:
            parser.error(f"--equivalence: expected a share between 0 and 1, got {args.equivalence}")
        out = write_report(args.run, args.out, args.equivalence)
        if args.out is None:
            _refresh_index(out)
        print(f"wrote {out}/summary.md, index.html, benchmarks.csv.gz and up to {len(PLOTS)} plots")
        return 0
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
