"""A worker's log: one JSON record per line, appended and flushed as things happen, so the
parent follows a worker live and keeps every finished row of a worker it had to end.

Records: ``policy`` (the thread and allocator policy the worker applied), ``start`` (a row
begins: its case and configuration), ``row`` (a timed row: pytest-benchmark's entry for it, with
its samples), ``outcome`` (a cell with no timing: skipped or error, with the reason; the parent
adds timeout and crash outcomes).
"""

from __future__ import annotations

import json
from pathlib import Path


def append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read(path: Path) -> list[dict]:
    """Every complete record (a line cut short by a kill is not one)."""
    if not Path(path).exists():
        return []
    lines = Path(path).read_text().split("\n")
    return [json.loads(line) for line in lines[:-1] if line]


class Reader:
    """The records added since the last call."""

    def __init__(self, path: Path):
        self.path, self.offset, self.records_seen = Path(path), 0, 0

    def new_records(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path) as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        records = [json.loads(line) for line in complete.splitlines() if line]
        self.records_seen += len(records)
        return records
