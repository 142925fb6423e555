"""Reading a run: its pytest-benchmark JSON, validated against the row schema, its samples, and
the tidy table every section reads.

A committed run keeps ``benchmarks.json`` without the raw samples (``pytest-benchmark compare``
needs only the statistics) and every sample in ``samples.npz`` beside it, compressed: the rank
test of ``compare`` reads them from there.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..harness.schema import Row, missing_fields

STATS = ("min", "max", "mean", "stddev", "median", "q1", "q3", "iqr", "rounds", "iterations", "outliers", "ops")
KEYS = ["task", "network", "width", "depth", "batch", "dtype", "activation", "steps", "batch_size"]
SAMPLES = "samples.npz"
DERIVED_STATS = ("ld15iqr", "hd15iqr", "iqr_outliers", "stddev_outliers", "total", "q1", "q3")


class ReportError(Exception):
    """Input the report cannot use; the message is the one line the user sees."""


def json_path(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "benchmarks.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such file (expected a run folder or its benchmarks.json)")
    return path


def load_run(path: Path) -> dict:
    """The run's JSON, each benchmark's samples attached (from the JSON or ``samples.npz``)."""
    path = json_path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid JSON, truncated or damaged ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) or "machine_info" not in data:
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list and 'machine_info')")
    if not data["benchmarks"]:
        raise ReportError(f"{path}: the run holds no benchmarks")
    expand(data)
    for bench in data["benchmarks"]:
        missing = missing_fields(bench.get("extra_info", {}))
        missing += [k for k in ("median", "iqr") if k not in bench.get("stats", {})]
        if missing:
            raise ReportError(
                f"{path}: benchmark {bench.get('name')!r} lacks {missing}: not a run of this suite's schema"
            )
    samples = read_samples(path.parent / SAMPLES)
    for bench in data["benchmarks"]:
        if bench["fullname"] in samples:
            bench["stats"]["data"] = samples[bench["fullname"]].astype(np.float64).tolist()
    data["_path"] = str(path)
    return data


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write next to the target and rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp.name, 0o644)  # as a plain write would leave it, not the temporary file's 0600
    os.replace(tmp.name, path)


def _rounded(value, digits: int = 4):
    """Floats to ``digits`` significant digits, recursively: statistics need no more (the samples
    themselves keep full float32 precision in ``samples.npz``)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def read_samples(path: Path) -> dict[str, np.ndarray]:
    """Row name -> its samples, from ``samples.npz`` (one array and an index; older runs: an
    array per row)."""
    if not Path(path).is_file():
        return {}
    with np.load(path) as npz:
        if "names" not in npz.files:
            return {k: npz[k] for k in npz.files}
        parts = np.split(npz["samples"], np.cumsum(npz["lengths"])[:-1])
        return dict(zip(npz["names"].tolist(), parts))


def _short_samples(values) -> np.ndarray:
    """float32 samples with 12 bits of mantissa (relative precision 2.4e-4, far finer than any
    row's noise of 1 % and more): the zeroed low bits halve what the compressed file holds."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFFF800)
    return bits.view(np.float32)


def compact_run(run_dir: Path) -> tuple[int, int]:
    """Make a run folder small enough to commit, keeping what every tool reads.

    Every benchmark's raw samples move from ``benchmarks.json`` into ``samples.npz`` (float32 with
    12 bits of mantissa, compressed; written first, so an interruption loses nothing); in the JSON,
    pytest-benchmark's per-row ``options`` (the same for every row) are said once in
    ``machine_info``, ``params`` (the repr of the whole case) and ``param`` (the id, which ``name``
    holds) are dropped,
    fields that are None are left out, pytest-benchmark's derived statistics that no tool reads
    (outlier bounds and counts, the total, the quartiles beside their IQR) are dropped, the fields a
    configuration fixes are said once per configuration (``said_once``; ``load_run`` puts them
    back; a backend's library is said in its facts), the outcomes of a cell are one record with
    its replicates, and floats keep 4 significant digits (0.01 %: far below any timing's noise).
    ``pytest-benchmark compare`` reads the result as before. Idempotent.
    Returns the folder's size in bytes before and after.
    """
    run_dir = Path(run_dir)
    path = json_path(run_dir)
    size = lambda: sum(p.stat().st_size for p in run_dir.iterdir() if p.is_file())  # noqa: E731
    before = size()
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid JSON, truncated or damaged ({exc}); nothing was changed") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list); nothing was changed")
    samples = {
        b["fullname"]: _short_samples(b["stats"].pop("data"))
        for b in data["benchmarks"]
        if "data" in b.get("stats", {})
    }
    sidecar = run_dir / SAMPLES
    samples = {**{k: _short_samples(v) for k, v in read_samples(sidecar).items()}, **samples}
    if samples:
        buffer = io.BytesIO()  # one array of every sample and an index: no per-row entry in the zip
        np.savez_compressed(
            buffer,
            names=np.array(list(samples)),
            lengths=np.array([len(v) for v in samples.values()]),
            samples=np.concatenate(list(samples.values())),
        )
        write_atomic(sidecar, buffer.getvalue())
    options = [b.get("options") for b in data["benchmarks"]]
    if all(o == options[0] for o in options):  # one timing protocol for the whole run: said once
        data["machine_info"].setdefault("autograd_bench", {})["benchmark_options"] = options[0]
    for bench in data["benchmarks"]:
        bench["params"] = None  # the row's id is ``param``; the parameters' repr is no use to anyone
        bench.pop("param", None)  # the id again: ``name`` holds it (test_x[id]), ``extra_info`` its fields
        config = bench.get("extra_info", {}).get("config")
        if config and bench.get("group") == f"{bench['extra_info'].get('task')} {config}":
            bench["group"] = config  # the configuration's id names its task already (gradient's: none)
        for derived in DERIVED_STATS:  # pytest-benchmark's outlier bounds and sums: nothing reads them
            bench["stats"].pop(derived, None)
        if all(o == options[0] for o in options):
            bench.pop("options", None)
        bench["extra_info"] = {k: v for k, v in bench.get("extra_info", {}).items() if v is not None}
    bench_info = data["machine_info"].setdefault("autograd_bench", {})
    expand(data)  # idempotent: a compacted run is expanded first, then said once again
    bench_info["config_facts"] = said_once(data["benchmarks"])
    facts = bench_info.get("backend_facts") or {}
    for bench in data["benchmarks"]:  # a backend's library is one of its facts, said once there
        info = bench["extra_info"]
        if "library" in info and info["library"] == facts.get(info["backend"], {}).get("library"):
            del info["library"]
    outcomes = data.get("autograd_bench_outcomes") or []
    if outcomes:
        data["autograd_bench_outcomes"] = merged_outcomes(outcomes)
    write_atomic(path, json.dumps(_rounded(data), separators=(",", ":")))
    return before, size()


# A row's fields that its configuration fixes (and the run's order seed, and its library, which its
# backend fixes): a compacted run says them once per configuration, and ``expand`` puts them back.
CONFIG_FACTS = (*KEYS, "flops", "tolerance", "model_grad_over_forward", "order_seed")


def said_once(benchmarks: list[dict]) -> dict:
    """{config: {field: value}} for the CONFIG_FACTS that every row of a configuration shares,
    each removed from those rows (a field that differs between them stays in every row)."""
    by_config: dict[str, list[dict]] = {}
    for bench in benchmarks:
        by_config.setdefault(bench["extra_info"]["config"], []).append(bench["extra_info"])
    facts = {}
    for config, infos in by_config.items():
        shared = {k: infos[0][k] for k in CONFIG_FACTS if k in infos[0] and all(i.get(k) == infos[0][k] for i in infos)}
        for info in infos:
            for key in shared:
                del info[key]
        facts[config] = shared
    return facts


def merged_outcomes(records: list[dict]) -> list[dict]:
    """One record per cell, outcome and reason, with the replicates it happened in (a backend
    declared not to run a configuration is skipped in every replicate, for the same reason)."""
    merged: dict[tuple, dict] = {}
    for record in records:
        replicates = record.get("replicates", [record.get("replicate")])
        rest = {k: v for k, v in record.items() if k not in ("replicate", "replicates", "case", "t")}
        key = json.dumps(rest, sort_keys=True)
        merged.setdefault(key, {**rest, "replicates": []})["replicates"] += replicates
    return list(merged.values())


def expand(data: dict) -> dict:
    """A compacted run's rows and outcomes as the benchmark wrote them: the facts said once per
    configuration back in every row, one outcome record per replicate. In place; returns ``data``."""
    bench_info = data.get("machine_info", {}).get("autograd_bench", {})
    facts = bench_info.pop("config_facts", None) or {}
    backends = bench_info.get("backend_facts") or {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        for key, value in facts.get(info.get("config"), {}).items():
            info.setdefault(key, value)
        if "library" in backends.get(info.get("backend"), {}):
            info.setdefault("library", backends[info["backend"]]["library"])
    records = []
    for record in data.get("autograd_bench_outcomes") or []:
        if "replicates" in record:
            rest = {k: v for k, v in record.items() if k != "replicates"}
            records += [{**rest, "replicate": r} for r in record["replicates"]]
        else:
            records.append(record)
    if "autograd_bench_outcomes" in data:
        data["autograd_bench_outcomes"] = records
    return data


def frame(run: dict) -> pd.DataFrame:
    """Tidy table: one row per timed row (configuration, backend, replicate), parameters,
    statistics and derived figures as columns."""
    rows = []
    for bench in run["benchmarks"]:
        row = {"name": bench["name"], "fullname": bench["fullname"]}
        row.update(bench["extra_info"])
        row.update({k: bench["stats"].get(k) for k in STATS})
        row["block_s"] = bench["stats"].get("median", np.nan) * bench["stats"].get("iterations", 1)
        rows.append(row)
    df = pd.DataFrame(rows)
    for name in Row.fields():  # a compact run leaves out fields that are None in every row
        if name not in df:
            df[name] = None
    if "machine" not in df:  # a merge of shards from several machines tags each row with its machine
        df["machine"] = ""
    df["machine"] = df["machine"].fillna("")
    df["spread"] = df["iqr"] / df["median"]
    df["cv"] = df["stddev"] / df["mean"]
    df["gflops_per_s"] = df["flops"] / df["median"] / 1e9
    floors = df.dropna(subset=["floor_s"]).groupby("config")["floor_s"].first()  # timed once, in replicate 0
    df["floor_s"], df["floor_source"] = (
        df["config"].map(floors),
        df["config"].map(df.dropna(subset=["floor_s"]).groupby("config")["floor_source"].first()),
    )
    peaks = df.dropna(subset=["peak_gflops"]).groupby("dtype")[["peak_gflops", "peak_source"]].first()
    df["peak_gflops"], df["peak_source"] = df["dtype"].map(peaks["peak_gflops"]), df["dtype"].map(peaks["peak_source"])
    df["floor_share"] = df["floor_s"] / df["median"]
    df["peak_share"] = df["gflops_per_s"] / df["peak_gflops"]
    if "isolated_median_s" in df:
        df["in_process_vs_isolated"] = df["median"] / df["isolated_median_s"]
    return df


def outcomes(run: dict, rows: pd.DataFrame) -> pd.DataFrame:
    """Every cell of every replicate that has an outcome other than ok: the timed rows above their
    tolerance, and the cells the run recorded without timing (skipped, error, timeout)."""
    columns = ["task", "config", "backend", "replicate", "width", "depth", "batch", "dtype", "outcome", "reason"]
    recorded = pd.DataFrame(run.get("autograd_bench_outcomes", []))
    incorrect = rows[rows["outcome"] != "ok"].assign(
        reason=lambda d: [f"error {e:.1e} above the tolerance {t:.0e}" for e, t in zip(d["rel_err"], d["tolerance"])]
    )
    table = pd.concat([recorded, incorrect], ignore_index=True)
    return table.reindex(columns=columns)


def samples_of(run: dict) -> dict[str, np.ndarray]:
    return {b["fullname"]: np.asarray(b["stats"].get("data") or [b["stats"]["median"]]) for b in run["benchmarks"]}


def per_backend(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, backend): the median over replicates of every number, the rest as is."""
    grouped = df.groupby(["config", "backend"], sort=False)
    numeric = [c for c in df.select_dtypes("number").columns if c != "replicate"]
    labels = [
        c for c in df.columns if c not in numeric and c not in ("config", "backend", "name", "fullname", "replicate")
    ]
    table = grouped[numeric].median().join(grouped[labels].first())
    integers = [c for c in numeric if pd.api.types.is_integer_dtype(df[c])]
    table[integers] = table[integers].round().astype("int64")  # a median of 2 and 2 is 2, not 2.0
    table["replicates_timed"] = grouped.size()
    return table.reset_index()
