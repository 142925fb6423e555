"""Shards of one grid, run on several machines (``--shard K/N``), combined into one run.

Every ratio was measured within one process, because a shard holds whole configurations; the
merged run gets the same summary, page and plots as an unsharded one. Shards from different
CPUs or library versions are refused unless ``allow_mixed``: then each row says its machine
(``machine`` in ``extra_info``, and its configuration id is tagged with it), so every ratio stays
within one machine and every table keeps one set of panels per machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .load import ReportError, compact_run, load_run


def _machine(run: dict) -> tuple:
    bench = run["machine_info"].get("autograd_bench", {})
    return bench.get("cpu_model"), bench.get("cores"), tuple(sorted((bench.get("versions") or {}).items()))


def merge(paths: list[Path], out: Path, allow_mixed: bool = False) -> Path:
    if len(paths) < 2:
        raise ReportError("merge: expected at least two run folders (shards of one grid)")
    if Path(out).exists():
        raise ReportError(f"{out}: exists already; merge never overwrites a run")
    runs = [load_run(p) for p in paths]
    machines = {_machine(r) for r in runs}
    if len(machines) > 1 and not allow_mixed:
        described = "; ".join(f"{m[0]} x{m[1]}" for m in machines)
        raise ReportError(
            f"merge: the shards come from different machines or library versions ({described}); "
            "pass --allow-mixed to keep one table per machine"
        )
    grids = {r["machine_info"].get("autograd_bench", {}).get("grid") for r in runs}
    if len(grids) > 1:
        raise ReportError(f"merge: the shards ran different grids {sorted(map(str, grids))}")
    merged = json.loads(json.dumps({k: v for k, v in runs[0].items() if k != "_path"}))
    merged["benchmarks"], merged["autograd_bench_outcomes"] = [], []
    seen = set()
    labels = {}  # machine -> a short label: its CPU model (and versions' index where CPU models repeat)
    for m in dict.fromkeys(_machine(r) for r in runs):
        labels[m] = str(m[0]) if [k[0] for k in labels].count(m[0]) == 0 else f"{m[0]} #{len(labels) + 1}"
    for run in runs:
        machine = labels[_machine(run)]
        for bench in run["benchmarks"]:
            if bench["fullname"] in seen:
                raise ReportError(f"merge: row {bench['fullname']} is in two shards")
            seen.add(bench["fullname"])
            if len(machines) > 1:  # one set of panels per machine: never a ratio across machines
                bench["extra_info"] = {
                    **bench["extra_info"],
                    "machine": machine,
                    "config": f"{bench['extra_info']['config']} @{machine}",
                }
                bench["group"] = f"{bench['group']} @{machine}"
            merged["benchmarks"].append(bench)
        for outcome in run.get("autograd_bench_outcomes", []):
            merged["autograd_bench_outcomes"].append(
                {**outcome, "config": f"{outcome['config']} @{machine}"} if len(machines) > 1 else outcome
            )
    info = merged["machine_info"].setdefault("autograd_bench", {})
    info["shard"], info["merged_from"] = None, [r["machine_info"].get("autograd_bench", {}).get("run_id") for r in runs]
    info["run_id"] = Path(out).name
    staging = Path(out).parent / f".incomplete-{Path(out).name}"
    staging.mkdir(parents=True)
    try:
        (staging / "benchmarks.json").write_text(json.dumps(merged, indent=1))
        compact_run(staging)
        from . import write_report

        write_report(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(out)
