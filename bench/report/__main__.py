"""Command line of the report: one parser, a subcommand per verb (as pyperf's and asv's).

    python -m bench.report report RUN [--out DIR] [--equivalence E]   (``report`` may be left out)
    python -m bench.report agree RUN RUN... [--min-coverage X] [--out FILE]
    python -m bench.report compare OLD NEW [--threshold PCT] [--fail-above PCT]
    python -m bench.report merge SHARD... --out DIR [--allow-mixed]
    python -m bench.report compact RUN...
    python -m bench.report validate RUN [--cells ...]   (the frameworks' own timers)

Every bad argument is a one-line error naming it, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import PLOTS, ReportError, compact_run, write_index, write_report
from .agree import agree
from .compare import compare, compare_markdown
from .load import write_atomic
from .merge import merge

VERBS = ("report", "agree", "compare", "merge", "compact", "validate")


def _refresh_index(run_dir: Path) -> None:
    if run_dir.parent.name == "results" or (run_dir.parent / "README.md").is_file():
        write_index(run_dir.parent)


def _share(name: str, low: float = 0.0, high: float = 1.0, open_low: bool = False):
    """An argparse type: a number in [low, high] (or (low, high]), named in its error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (low < value if open_low else low <= value) or not value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a number {'above' if open_low else 'from'} {low:g} to {high:g}, got {text}"
            )
        return value

    parse.__name__ = name
    return parse


class Parser(argparse.ArgumentParser):
    """argparse, with an error as one line (no usage block): the line names the argument."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    verbs = top.add_subparsers(dest="verb", required=True, metavar="{" + ",".join(VERBS) + "}")

    report = verbs.add_parser("report", help="rebuild a run's page, tables and plots from its files")
    report.add_argument("run", type=Path, help="a run folder or its benchmarks.json")
    report.add_argument("--out", type=Path, help="where to write (default: the run's folder)")
    report.add_argument(
        "--equivalence",
        type=_share("--equivalence", open_low=True),
        metavar="E",
        help="call a speed-up whose whole interval lies within 1 ± E 'same' (e.g. 0.05)",
    )

    agreement = verbs.add_parser("agree", help="do two or more runs of one grid agree? (from their speedups.csv)")
    agreement.add_argument("runs", nargs="+", type=Path)
    agreement.add_argument(
        "--out",
        type=Path,
        help="also write the report to this Markdown file (results/agree*.md are shown in results/README.md)",
    )
    agreement.add_argument(
        "--min-coverage",
        type=_share("--min-coverage"),
        metavar="X",
        help="exit 1 if, for some pair and task, fewer than X (0-1) of one run's estimates lie in "
        "the other's intervals",
    )

    change = verbs.add_parser("compare", help="per row: a change between two runs beyond the replicates' noise")
    change.add_argument("old", type=Path)
    change.add_argument("new", type=Path)
    change.add_argument(
        "--threshold",
        type=_share("--threshold", 0, 1000, open_low=True),
        default=10.0,
        metavar="PCT",
        help="percent change that counts (default 10)",
    )
    change.add_argument(
        "--fail-above",
        type=_share("--fail-above", 0, 1000, open_low=True),
        metavar="PCT",
        help="exit 1 if a row got slower by more than PCT %%",
    )

    shards = verbs.add_parser("merge", help="combine shards of one grid")
    shards.add_argument("runs", nargs="+", type=Path)
    shards.add_argument("--out", type=Path, required=True)
    shards.add_argument(
        "--allow-mixed", action="store_true", help="shards of different machines: one table per machine"
    )

    compact = verbs.add_parser("compact", help="store a run's samples in samples.npz, its JSON without them")
    compact.add_argument("runs", nargs="+", type=Path)

    verbs.add_parser("validate", help="the suite's ratios against the frameworks' own timers", add_help=False)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in VERBS and not argv[0].startswith("-"):
        argv.insert(0, "report")  # python -m bench.report RUN: the report verb
    if argv[:1] == ["validate"]:  # its own parser and the frameworks: imported only here
        from .validate import main as validate_main

        return validate_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return VERB[args.verb](args)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_report(args) -> int:
    out = write_report(args.run, args.out, args.equivalence)
    if args.out is None:
        _refresh_index(out)
    print(f"wrote {out}/summary.md, index.html, benchmarks.csv.gz and up to {len(PLOTS)} plots")
    return 0


def run_agree(args) -> int:
    text, lowest, _ = agree(args.runs)
    print(text)
    if args.out:
        listed = " ".join(map(str, args.runs))
        write_atomic(args.out, f"# Do the committed runs agree?\n\n`python -m bench.report agree {listed}`\n\n{text}\n")
        if (args.out.parent / "README.md").is_file():
            write_index(args.out.parent)
    if args.min_coverage is not None and lowest < args.min_coverage:
        print(f"coverage {lowest:.0%} is below --min-coverage {args.min_coverage:.0%}", file=sys.stderr)
        return 1
    return 0


def run_compare(args) -> int:
    table = compare(args.old, args.new, threshold=args.threshold / 100)
    print(compare_markdown(table, args.threshold / 100))
    if args.fail_above is not None:
        worst = table[(table["ratio"] > 1 + args.fail_above / 100) & (table["change"] == "slower")]
        if not worst.empty:
            print(f"regression: {len(worst)} row(s) slower by more than {args.fail_above:g} %", file=sys.stderr)
            return 1
    return 0


def run_merge(args) -> int:
    out = merge(args.runs, args.out, args.allow_mixed)
    _refresh_index(out)
    print(f"merged {len(args.runs)} shards into {out}/")
    return 0


def run_compact(args) -> int:
    for run in args.runs:
        before, after = compact_run(run)
        print(f"{run}: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    return 0


VERB = {"report": run_report, "agree": run_agree, "compare": run_compare, "merge": run_merge, "compact": run_compact}


if __name__ == "__main__":
    raise SystemExit(main())
