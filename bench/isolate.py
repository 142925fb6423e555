"""``--isolate``: every row measured again in a fresh subprocess of its own.

On 2 cores, thread pools of one library that keep spinning after their work can steal a core
from the next library in the same process; a fresh process per row has no neighbours. Each
child is ``pytest`` on exactly one row with the same options, so the timing protocol is
identical, and it runs right before the same row in-process; its peak RSS above its own post-import baseline is the memory figure comparable
across all backends. The report compares the in-process median with the isolated one.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); returns that RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS:")


def peak_rss_bytes() -> int:
    """Peak RSS since the last ``reset_peak_rss``."""
    return _status_bytes("VmHWM:")


def _child_command(config: pytest.Config, nodeid: str, backend: str, json_path: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", nodeid, "--benchmark-only", "--isolate-child", "-q",
               "-p", "no:cacheprovider", "--benchmark-json", str(json_path), "--backends", backend,
               "--grid", config.getoption("grid") or "default", "--threads", str(config.bench_threads),
               "--diag-budget-gib", str(config.getoption("diag_budget_gib")), "--malloc", config.getoption("malloc")]  # fmt: skip
    for option in ("benchmark_min_time", "benchmark_max_time", "benchmark_min_rounds"):
        value = config.getoption(option, None)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    return command


def run_child(config: pytest.Config, item: pytest.Item, backend: str) -> dict:
    """Time one row in a fresh subprocess, right before the in-process row: both see the same
    machine state, so their ratio shows the effect of the shared process, not of drifting load."""
    with tempfile.TemporaryDirectory(prefix="isolate-") as tmp:
        json_path = Path(tmp) / "row.json"
        done = subprocess.run(_child_command(config, item.nodeid, backend, json_path),
                              cwd=config.rootpath, capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0 or not json_path.exists():
            raise RuntimeError(f"isolated run of {item.nodeid} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        row = json.loads(json_path.read_text())["benchmarks"][0]
    return {"isolated_median_s": row["stats"]["median"], "isolated_rss_peak_bytes": row["extra_info"]["rss_peak_bytes"]}


def summarize(benchmarks) -> dict | None:
    """Median over rows of in-process median / isolated median, per backend."""
    ratios: dict[str, list[float]] = {}
    for bench in benchmarks:
        isolated = bench.extra_info.get("isolated_median_s")
        if isolated:
            ratios.setdefault(bench.extra_info["backend"], []).append(bench.stats.median / isolated)
    if not ratios:
        return None
    return {
        "statistic": "median over rows of (in-process median time / isolated median time)",
        "per_backend": {
            name: {
                "median_ratio": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "rows": len(values),
            }
            for name, values in ratios.items()
        },
    }
