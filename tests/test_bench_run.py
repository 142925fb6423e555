"""End to end: a real ``pytest --benchmark-only`` smoke run saves a run folder, the report reads it,
bad input to the report writes nothing, ``--compare`` flags a real change, and an interrupted run
leaves earlier runs intact."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
QUICK = ["--benchmark-max-time=0.02", "--benchmark-min-rounds=3"]


def run_benchmarks(results: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               f"--results-dir={results}", *QUICK, *args]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def runs(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    done = run_benchmarks(results, "--grid", "smoke", "--backends", "numpy-hadamard,numpy-diag")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(results)
    return run


def test_run_folder_holds_json_tables_and_plots(smoke_run):
    names = {p.name for p in smoke_run.iterdir()}
    assert {"benchmarks.json", "benchmarks.csv", "summary.md", *report.PLOTS.values()} <= names
    data = json.loads((smoke_run / "benchmarks.json").read_text())
    assert len(data["benchmarks"]) == 8  # 2 widths x 2 dtypes x 2 backends
    for bench in data["benchmarks"]:
        extra = bench["extra_info"]
        for key in ("backend", "variant", "width", "depth", "batch", "dtype", "threads", "flops", "grad_rel_err",
                    "compile_s", "first_call_s", "floor_s", "peak_bytes"):  # fmt: skip
            assert key in extra, key
        assert extra["floor_s"] > 0 and extra["peak_bytes"] > 0 and extra["flops"] > 0
    info = data["machine_info"]["autograd_bench"]
    assert info["grid"] == "smoke" and info["thread_policy"]["threads"] >= 1 and info["cpu_model"]
    index = (smoke_run.parent / "README.md").read_text()
    assert f"[{smoke_run.name}]({smoke_run.name}/summary.md)" in index
    summary = (smoke_run / "summary.md").read_text()
    for heading in ("Gradient agreement", "Speed-up against numpy-hadamard", "Median time", "floor", "Peak memory",
                    "Scaling with width", "Skipped configurations", "too noisy"):  # fmt: skip
        assert heading in summary
    assert "❌" not in summary


def test_json_is_readable_by_pytest_benchmark_compare(smoke_run):
    cli = Path(sys.executable).parent / "pytest-benchmark"  # the console script pytest-benchmark installs
    done = subprocess.run([str(cli), "compare", str(smoke_run / "benchmarks.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test_gradients[w16-L2-d16-float64-numpy-hadamard]" in done.stdout


def test_report_reruns_from_json_alone(smoke_run, tmp_path):
    assert report.main([str(smoke_run / "benchmarks.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").read_text() == (smoke_run / "summary.md").read_text()


def bad_inputs(tmp_path: Path, smoke_run: Path) -> dict[str, Path]:
    good = (smoke_run / "benchmarks.json").read_text()
    files = {
        "missing": tmp_path / "nope.json",
        "malformed": tmp_path / "malformed.json",
        "truncated": tmp_path / "truncated.json",
        "other tool": tmp_path / "other.json",
        "no benchmarks": tmp_path / "empty.json",
    }
    files["malformed"].write_text("{benchmarks: [}")
    files["truncated"].write_text(good[: len(good) // 2])
    files["other tool"].write_text(json.dumps({"results": [{"name": "x", "time": 1.0}]}))
    empty = json.loads(good)
    empty["benchmarks"] = []
    files["no benchmarks"].write_text(json.dumps(empty))
    return files


@pytest.mark.parametrize("case", ["missing", "malformed", "truncated", "other tool", "no benchmarks"])
def test_bad_report_input_is_one_line_exit_2_nothing_written(case, smoke_run, tmp_path, capsys):
    source = bad_inputs(tmp_path, smoke_run)[case]
    out = tmp_path / "out"
    assert report.main([str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(source) in err
    assert not out.exists()


def test_compare_flags_a_real_change_and_fails_above_threshold(smoke_run, tmp_path, capsys):
    data = json.loads((smoke_run / "benchmarks.json").read_text())
    slower = copy.deepcopy(data)
    target = slower["benchmarks"][0]
    target["stats"]["data"] = [v * 1.5 for v in target["stats"]["data"]]
    target["stats"]["median"] *= 1.5
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    old = str(smoke_run / "benchmarks.json")

    assert report.main(["--compare", old, old]) == 0
    assert "0 changed" in capsys.readouterr().out
    assert report.main(["--compare", old, str(tmp_path / "slower.json"), "--fail-above", "20"]) == 1
    printed = capsys.readouterr().out
    assert "1 changed" in printed and "**slower**" in printed


def test_second_run_never_touches_the_first_and_interrupt_saves_nothing(smoke_run, tmp_path):
    results = smoke_run.parent
    before = {p: p.read_bytes() for p in smoke_run.iterdir()}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pytest", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               f"--results-dir={results}", "--grid", "default", "--backends", "numpy-diag"]  # fmt: skip
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".incomplete-") for p in results.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # well inside the default grid's rows
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=120)
    assert "not saved (interrupted)" in output, output[-2000:]
    assert runs(results) == [smoke_run]
    assert not any(p.name.startswith(".incomplete-") for p in results.iterdir())
    assert {p: p.read_bytes() for p in smoke_run.iterdir()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backends", "numpy-hadamard,tensorflow"], "unknown backend(s) ['tensorflow']"),
        (["--threads", "0"], "--threads: expected 1 to"),
        (["--threads", "999"], "--threads: expected 1 to"),
        (["--diag-budget-gib", "-1"], "--diag-budget-gib: expected a positive number"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(tmp_path, args, message):
    done = run_benchmarks(tmp_path, *args)
    assert done.returncode == 4
    assert message in done.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_isolate_times_every_row_again_in_its_own_process(tmp_path):
    done = run_benchmarks(tmp_path, "--grid", "smoke", "--backends", "numpy-hadamard", "--isolate")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(tmp_path)
    data = json.loads((run / "benchmarks.json").read_text())
    for bench in data["benchmarks"]:
        assert bench["extra_info"]["isolated_median_s"] > 0 and bench["extra_info"]["isolated_rss_peak_bytes"] >= 0
    isolation = data["machine_info"]["autograd_bench"]["isolation"]["per_backend"]["numpy-hadamard"]
    assert isolation["rows"] == 4 and isolation["median_ratio"] > 0
    assert "In-process against isolated timing" in (run / "summary.md").read_text()


def test_one_thread_policy_is_applied_and_verified(tmp_path):
    done = run_benchmarks(tmp_path, "--grid", "smoke", "--backends", "numpy-hadamard", "--threads", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(tmp_path)
    data = json.loads((run / "benchmarks.json").read_text())
    policy = data["machine_info"]["autograd_bench"]["thread_policy"]
    assert policy["threads"] == 1 and len(policy["cpu_affinity"]) == 1
    assert all(blas["num_threads"] == 1 for blas in policy["blas"])
    # CPU time / wall time over each timed loop: one busy thread (a second core would show ~2).
    assert all(bench["extra_info"]["cpu_util"] < 1.3 for bench in data["benchmarks"])
