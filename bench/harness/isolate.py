"""``--isolate``: every row measured again in a fresh subprocess of its own.

On 2 cores, thread pools of one library that keep spinning after their work can steal a core
from the next library in the same process; a fresh process per row has no neighbours. Each
child is ``pytest`` on exactly one row with exactly the parent's options (its invocation minus
the row selection, so pytest-benchmark's own options reach it too), and it runs right before the
same row in-process; its peak RSS above its own post-import baseline is the memory figure
comparable across all backends. The report compares the in-process median with the isolated one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Options of the worker that a child must not inherit: where results go.
PARENT_ONLY = (
    "--results-dir",
    "--benchmark-json",
    "--benchmark-save",
    "--benchmark-autosave",
    "--benchmark-save-data",
    "--benchmark-compare",
    "--benchmark-histogram",
    "--benchmark-cprofile-dump",
)
TAKES_VALUE = ("--results-dir", "--benchmark-json", "--benchmark-save", "--benchmark-compare", "--benchmark-histogram")


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


def child_args(config: pytest.Config) -> list[str]:
    """The worker's command-line arguments (its plan) minus the row selection (its test paths) and PARENT_ONLY."""
    positional = {str(a) for a in config.args}
    args, skip_value = [], False
    for arg in map(str, config.invocation_params.args):
        name = arg.split("=")[0]
        if skip_value:
            skip_value = False
        elif name in PARENT_ONLY:
            skip_value = "=" not in arg and name in TAKES_VALUE
        elif arg not in positional:
            args.append(arg)
    return args


def child_command(config: pytest.Config, nodeid: str, json_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        nodeid,
        *child_args(config),
        "--isolate-child",
        "-q",
        "-p",
        "no:cacheprovider",
        "--benchmark-json",
        str(json_path),
    ]


def skip_file(json_path: Path) -> Path:
    """Where a child that skipped its row leaves the reason (it writes no JSON then)."""
    return json_path.with_suffix(".skipped")


def run_child(item: pytest.Item, backend: str) -> tuple[float, int, dict]:
    """Time one row in a fresh subprocess, right before the in-process row: both see the same
    machine state, so their ratio shows the effect of the shared process, not of drifting load.
    Returns the child's median, its peak RSS and the pytest-benchmark options it ran with.

    The child has no time limit of its own: the run's parent owns ``--row-timeout`` for the whole
    row, the child included (it is in its worker's process group, which the parent ends)."""
    config = item.config
    with tempfile.TemporaryDirectory(prefix="isolate-") as tmp:
        json_path = Path(tmp) / "row.json"
        done = subprocess.run(
            child_command(config, item.nodeid, json_path), cwd=config.rootpath, capture_output=True, text=True
        )
        if done.returncode == 0 and skip_file(json_path).exists():  # the child skipped: so does the parent
            pytest.skip(skip_file(json_path).read_text())
        if done.returncode != 0 or not json_path.exists():
            raise RuntimeError(f"isolated run of {item.nodeid} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        row = json.loads(json_path.read_text())["benchmarks"][0]
    return row["stats"]["median"], row["extra_info"]["rss_peak_bytes"], row["options"]
