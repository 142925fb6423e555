"""End to end: a real ``pytest --benchmark-only`` smoke run saves a compact run folder that the
report reads back; bad input writes nothing; ``compare`` flags a real change; an interrupted
run leaves earlier runs intact; --isolate hands the child the parent's options; shards merge
into the same rows as one run; the page renders in headless Chromium."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import report
from bench.harness.schema import Row
from bench.report import __main__ as report_main  # noqa: F401 (report.__main__.main)
from bench.report.load import expand
from bench.suite.grids import GRIDS

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
QUICK = ["--benchmark-max-time=0.01", "--order-seed=3", "--budget=1"]  # the pilot alone, unless a test asks for more
NUMPY = ["--grid", "smoke", "--backends", "numpy-hadamard,numpy-diag"]


def run_benchmarks(results: Path, *args: str, readme_form: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """A benchmark run in a fresh process. Its parent collects only bench/ (tests/ would be
    collected and deselected: seconds per run), unless ``readme_form``: README's command as it is."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        *([] if readme_form else ["bench"]),
        "--benchmark-only",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--results-dir={results}",
        *QUICK,
        *args,
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def runs(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir() and not p.name.startswith("."))


def the_run(results: Path, *args: str, readme_form: bool = False) -> Path:
    done = run_benchmarks(results, *args, readme_form=readme_form)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(results)
    return run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    return the_run(tmp_path_factory.mktemp("results"), *NUMPY, readme_form=True)


def test_run_folder_is_compact_and_every_row_follows_the_schema(smoke_run):
    names = {p.name for p in smoke_run.iterdir()}
    plots = {file for file, _ in report.PLOTS.values()} - {
        "grad-over-forward.png",
        "autograd-tax.png",
        "kernel-speed.png",
        "per-sample-time-vs-width.png",  # the smoke grid has one per-sample width and one batch
        "per-sample-time-vs-batch.png",
        "jvp-hvp-time-vs-width.png",  # and one jvp and hvp width
    }
    assert {"benchmarks.json", "samples.npz", "benchmarks.csv.gz", "summary.md", "index.html"} | plots <= names
    raw = json.loads((smoke_run / "benchmarks.json").read_text())
    # Compact: a configuration's facts said once, a backend's library in its facts, a cell's outcomes one record.
    assert not any(key in b["extra_info"] for b in raw["benchmarks"] for key in ("task", "flops", "library"))
    assert all(len(o["replicates"]) >= 1 and "replicate" not in o for o in raw.get("autograd_bench_outcomes", []))
    data = expand(raw)  # the facts said once, back in each row, as load_run reads them
    # 2 backends x 2 replicates x (4 gradient + 6 training + 2 per-sample + 2 clipped + 2 jvp + 2 hvp configurations)
    assert len(data["benchmarks"]) == 72
    for bench in data["benchmarks"]:
        assert "data" not in bench["stats"]  # the samples live in samples.npz
        extra = bench["extra_info"]
        assert set(Row.required()) <= set(extra) <= set(Row.fields())  # None fields are left out
        assert extra["flops"] > 0 and extra["rel_err"] <= extra["tolerance"] and extra["outcome"] == "ok"
        assert (extra.get("peak_gflops", 0) > 0) == (extra["replicate"] == 0)  # per configuration, once a run
        if extra["task"] == "gradient":  # training rows have no floor: see bench/harness/flops.py
            assert (extra.get("floor_s", 0) > 0 and bool(extra.get("floor_source"))) == (extra["replicate"] == 0)
            assert extra["forward_s"] > 0 and extra["grad_over_forward"] > 0
        elif extra["task"] == "train":
            assert extra["steps"] > 0 and extra["per_step_s"] > 0
    assert sorted({b["extra_info"]["replicate"] for b in data["benchmarks"]}) == [0, 1]
    info = data["machine_info"]["autograd_bench"]
    assert info["grid"] == "smoke" and info["order_seed"] == 3 and info["replicates"] == 2
    assert info["pilot_replicates"] == 2 and info["budget_s"] == 1  # the pilot alone: it outlasted the budget
    assert set(info["time_account"]) >= {"start-up and imports", "prepare and compile", "warm-up", "timing", "report"}
    # every row says where its worker's order put it, and replanning from the recorded seed agrees
    from bench.suite import backends
    from bench.suite.plan import plan

    chosen = [backends.REGISTRY[name] for name in info["backends"]]
    for replicate in (0, 1):
        planned = {
            c.row_key: c.position
            for c in plan(GRIDS["smoke"].configs(), chosen, 3, replicate, sweeps=2)
            if c.sweep == 0
        }
        recorded = {
            f"{b['extra_info']['config']}/{b['extra_info']['backend']}": b["extra_info"]["position"]
            for b in data["benchmarks"]
            if b["extra_info"]["replicate"] == replicate
        }
        assert recorded == planned
    assert info["reference"] == "numpy-hadamard" and info["backend_facts"]["numpy-diag"]["framework"] == "numpy"
    assert info["cpu"]["instruction_sets"] and info["cpu"]["memory_gib"] > 0  # the machine line's facts
    assert info["thread_policy"]["malloc"] == "glibc defaults"
    run = report.load_run(smoke_run)
    assert all(len(b["stats"]["data"]) == b["stats"]["rounds"] for b in run["benchmarks"])
    index = (smoke_run.parent / "README.md").read_text()
    assert f"[{smoke_run.name}]({smoke_run.name}/summary.md)" in index
    summary = (smoke_run / "summary.md").read_text()
    for heading in (
        "Wins, ties and losses",
        "Agreement",
        "Speed-up against numpy-hadamard",
        "Median time",
        "Gradient ÷ forward",
        "Throughput, floor and peak",
        "Training",
        "Compile break-even",
        "## Memory",
        "traced_bytes",
        "Outcomes",
        "Stability",
        "Processes a ±5 % speed-up interval would need",
        "geometric mean speed-up",
        "commit",
    ):
        assert heading in summary, heading
    assert "❌" not in summary and "× [" in summary


def test_json_is_readable_by_pytest_benchmark_compare(smoke_run):
    cli = Path(sys.executable).parent / "pytest-benchmark"  # the console script pytest-benchmark installs
    done = subprocess.run([str(cli), "compare", str(smoke_run / "benchmarks.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test_gradient[w16-L2-d16-float64-tanh-numpy-hadamard-p0]" in done.stdout


def test_report_reruns_from_the_files_alone(smoke_run, tmp_path):
    assert report.__main__.main([str(smoke_run), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").read_text() == (smoke_run / "summary.md").read_text()


def bad_inputs(tmp_path: Path, smoke_run: Path) -> dict[str, Path]:
    good = (smoke_run / "benchmarks.json").read_text()
    files = {
        name: tmp_path / f"{name.replace(' ', '-')}.json"
        for name in ("malformed", "truncated", "other tool", "no benchmarks", "old schema")
    }
    files["missing"] = tmp_path / "nope.json"
    files["malformed"].write_text("{benchmarks: [}")
    files["truncated"].write_text(good[: len(good) // 2])
    files["other tool"].write_text(json.dumps({"results": [{"name": "x", "time": 1.0}]}))
    empty = json.loads(good)
    empty["benchmarks"] = []
    files["no benchmarks"].write_text(json.dumps(empty))
    old = json.loads(good)
    del old["benchmarks"][0]["extra_info"]["replicate"]
    files["old schema"].write_text(json.dumps(old))
    return files


@pytest.mark.parametrize("case", ["missing", "malformed", "truncated", "other tool", "no benchmarks", "old schema"])
def test_bad_report_input_is_one_line_exit_2_nothing_written(case, smoke_run, tmp_path, capsys):
    source = bad_inputs(tmp_path, smoke_run)[case]
    out = tmp_path / "out"
    assert report.__main__.main([str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(source) in err
    assert not out.exists()


def test_compare_judges_replicates_identical_code_passes_a_real_slowdown_is_caught(smoke_run, tmp_path, capsys):
    """Deterministic: one row's replicate medians are set, equal within each run, 1.5x apart."""
    runs = {name: tmp_path / name for name in ("old", "new")}
    for name, factor in (("old", 1.0), ("new", 1.5)):
        shutil.copytree(smoke_run, runs[name])
        data = json.loads((runs[name] / "benchmarks.json").read_text())
        for bench in data["benchmarks"]:
            extra = bench["extra_info"]
            if extra["backend"] == "numpy-hadamard" and extra["config"] == "w16-L2-d16-float64-tanh":
                # the replicates differ (Welch's interval, not the zero-variance branch), as real ones do
                bench["stats"]["median"] = 1e-3 * factor * (1.0, 1.03, 0.98)[extra["replicate"] % 3]
        (runs[name] / "benchmarks.json").write_text(json.dumps(data))
    main = report.__main__.main
    assert main(["compare", str(smoke_run), str(smoke_run)]) == 0
    assert "0 changed" in capsys.readouterr().out
    assert main(["compare", str(runs["old"]), str(runs["new"]), "--fail-above", "20"]) == 1
    out = capsys.readouterr().out
    assert "1 changed" in out and "**slower**" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["agree", "README.md", "results/agree.md"], "README.md: not a speedups.csv table"),
        (["compact", "BAD"], "not valid JSON, truncated or damaged"),
        (["compare", "A", "B", "--threshold", "-50"], "argument --threshold: expected a number above 0"),
        (["agree", "A", "B", "--min-coverage", "1.5"], "argument --min-coverage: expected a number from 0 to 1"),
        (["report", "RUN", "--equivalence", "0"], "argument --equivalence: expected a number above 0"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_every_bad_report_argument_is_one_line_exit_2_nothing_written(argv, message, smoke_run, tmp_path, capsys):
    bad = tmp_path / "bad-run"
    bad.mkdir()
    (bad / "benchmarks.json").write_text("{")
    argv = [
        str(bad)
        if a == "BAD"
        else str(smoke_run)
        if a in ("A", "B", "RUN")
        else str(ROOT / a)
        if a.endswith(".md")
        else a
        for a in argv
    ]
    before = sorted(p.name for p in smoke_run.iterdir())
    try:
        status = report.__main__.main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and "Traceback" not in err
    assert (bad / "benchmarks.json").read_text() == "{" and sorted(p.name for p in smoke_run.iterdir()) == before


def test_change_interval_is_a_welch_interval_over_replicates():
    from bench.report.compare import change_interval, verdict

    base = np.array([1.00, 1.02, 0.98, 1.01, 0.99])
    ratio, low, high = change_interval(base, base * 1.5)
    assert ratio == pytest.approx(1.5) and verdict(low, high, 0.10) == "slower"
    assert verdict(*change_interval(base, base[::-1])[1:], 0.10) == ""
    noisy_old, noisy_new = np.array([1.0, 1.3, 0.8]), np.array([1.2, 0.9, 1.1])  # drift between processes: no call
    assert verdict(*change_interval(noisy_old, noisy_new)[1:], 0.10) == ""


def test_second_run_never_touches_the_first_and_interrupt_saves_nothing(smoke_run):
    """Deterministic: the SIGINT is sent once the first row has finished (the parent's first
    progress line), into a run that takes many minutes (2 s a row on the default grid), so however
    late it comes it lands mid-run; the parent ends its worker and saves nothing."""
    results = smoke_run.parent
    before = {p: p.read_bytes() for p in smoke_run.iterdir()}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "bench",
        "--benchmark-only",
        "-v",
        "-p",
        "no:cacheprovider",
        f"--results-dir={results}",
        "--grid",
        "default",
        "--backends",
        "numpy-diag",
        "--benchmark-max-time=2",
    ]
    # SIGINT as a terminal delivers it: a shell's background job (as CI may run the tests) starts with
    # SIGINT ignored, and Python then never turns it into KeyboardInterrupt. A small launcher resets it
    # and execs the run (no preexec_fn: forking this process, where JAX runs threads, would warn).
    launcher = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", launcher, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in child.stdout:  # blocks until the child writes; it writes PASSED after each row
        lines.append(line)
        if line.startswith("pilot replicate 1/"):
            break
    assert any(p.name.startswith(".incomplete-") for p in results.iterdir())  # the run is being written
    child.send_signal(signal.SIGINT)
    output = "".join(lines) + child.communicate(timeout=120)[0]
    assert "not saved (interrupted)" in output, output[-2000:]
    assert runs(results) == [smoke_run]
    assert not any(p.name.startswith(".incomplete-") for p in results.iterdir())
    assert {p: p.read_bytes() for p in smoke_run.iterdir()} == before


ONE_ROW = ["--grid", "smoke", "--replicates", "1", "-k", "gradient and w16 and float64"]


def test_each_fault_ends_as_its_outcome_and_every_other_cell_is_measured(tmp_path):
    """Backends that exist only in the tests: one hangs, one raises, one is wrong."""
    backends = "numpy-hadamard,numpy-diag,test-hang,test-raise,test-wrong"
    done = run_benchmarks(
        tmp_path,
        *ONE_ROW,
        "--replicates",
        "2",
        "--backends",
        backends,
        # the hang waits this out in each replicate; the other rows must finish inside it, the first
        # of a configuration with its floor and peak (importing torch and JAX: ~3 s on the AMD VM),
        # so the limit leaves a machine 3x slower room rather than racing a clock
        "--row-timeout",
        "10",
        "-p",
        "tests.plugins.faulty_backends",
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # incorrect, error and timeout fail the run
    (run,) = runs(tmp_path)
    cells = {r["backend"]: r for r in csv.DictReader((run / "speedups.csv").read_text().splitlines())}
    assert {b: cells[b]["outcome"] for b in cells} == {
        "numpy-hadamard": "ok",
        "numpy-diag": "ok",
        "test-hang": "timeout",
        "test-raise": "error",
        "test-wrong": "incorrect",
    }
    assert "injected failure while preparing" in cells["test-raise"]["reason"]
    assert "--row-timeout" in cells["test-hang"]["reason"]
    assert cells["numpy-diag"]["replicates"] == "2" and float(cells["numpy-diag"]["speedup"]) > 0  # measured in both
    assert float(cells["test-wrong"]["speedup"]) > 0  # incorrect is still timed and kept
    page = (run / "index.html").read_text()
    for outcome in ("timeout", "error", "incorrect"):
        assert f"outcome-{outcome}" in page
    summary = (run / "summary.md").read_text()
    assert "injected failure while preparing" in summary and "| timeout" in summary


@pytest.fixture(scope="module")
def after_a_crash(tmp_path_factory) -> Path:
    """A results folder with a crashed run's staging folder and a damaged run folder, then a run of
    numpy-diag alone (no reference asked for) saved into it."""
    results = tmp_path_factory.mktemp("after-a-crash")
    (results / ".incomplete-20200101T000000Z-x").mkdir(parents=True)
    (results / ".incomplete-20200101T000000Z-x" / "benchmarks.json").write_text("{half a file")
    (results / "20200102T000000Z-x").mkdir()
    (results / "20200102T000000Z-x" / "benchmarks.json").write_text("{damaged")
    done = run_benchmarks(results, *ONE_ROW, "--backends", "numpy-diag")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


def test_a_run_left_behind_or_damaged_never_stops_a_new_run(after_a_crash):
    """A crashed run's staging folder and a damaged run folder: the next run is saved and indexed."""
    (new,) = [p for p in runs(after_a_crash) if p.name != "20200102T000000Z-x"]
    index = (after_a_crash / "README.md").read_text()
    assert new.name in index and "20200102T000000Z-x" in index and "damaged" in index
    assert ".incomplete-" not in index


def test_a_failing_report_keeps_the_measurements_and_says_how_to_rebuild(tmp_path):
    done = run_benchmarks(tmp_path, *ONE_ROW, "--backends", "numpy-hadamard", "-p", "tests.plugins.failing_report")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(tmp_path)
    assert {"benchmarks.json", "samples.npz"} <= {p.name for p in run.iterdir()}
    assert "injected report failure" in done.stdout and f"python -m bench.report {run}" in done.stdout
    assert report.__main__.main([str(run)]) == 0  # rebuilt from the saved files alone
    assert (run / "summary.md").is_file()


def test_a_selection_without_the_reference_gets_it_and_says_so(after_a_crash):
    (run,) = [p for p in runs(after_a_crash) if p.name != "20200102T000000Z-x"]
    data = json.loads((run / "benchmarks.json").read_text())
    assert {b["extra_info"]["backend"] for b in data["benchmarks"]} == {"numpy-hadamard", "numpy-diag"}
    summary = (run / "summary.md").read_text()
    assert "numpy-hadamard added to --backends" in summary
    assert "| numpy-diag | 0." in summary or "| numpy-diag | 1." in summary  # a speed-up, not "–"


@pytest.fixture(scope="module")
def isolated_run(tmp_path_factory) -> Path:
    """--isolate on the smoke grid's w16 gradient rows: numpy-diag over a tiny memory budget (it
    skips) and the reference, with pytest-benchmark's --benchmark-disable-gc."""
    return the_run(
        tmp_path_factory.mktemp("isolated"),
        "--grid",
        "smoke",
        "--backends",
        "numpy-hadamard,numpy-diag",
        "--replicates",
        "1",
        "--isolate",
        "--benchmark-disable-gc",
        "--diag-budget-gib",
        "1e-9",
        "-k",
        "gradient and w16",
    )


def test_an_isolated_row_that_skips_is_a_skip_not_an_error(isolated_run):
    """numpy-diag over its memory budget skips in the child; the parent skips with the same reason."""
    cells = list(csv.DictReader((isolated_run / "speedups.csv").read_text().splitlines()))
    diag = [c for c in cells if c["backend"] == "numpy-diag"]
    assert len(diag) == 2 and all(c["outcome"] == "skipped" and "budget" in c["reason"] for c in diag)
    assert all(c["outcome"] == "ok" for c in cells if c["backend"] == "numpy-hadamard")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backends", "numpy-hadamard,tinygrad"], "unknown backend(s) ['tinygrad']"),
        (["--threads", "0"], "--threads: expected 1 to"),
        (["--threads", "999"], "--threads: expected 1 to"),
        (["--diag-budget-gib", "-1"], "--diag-budget-gib: expected a positive number"),
        (["--replicates", "0"], "--replicates: expected a positive integer"),
        (["--shard", "3/2"], "--shard: expected K/N"),
        (["--row-timeout", "0"], "--row-timeout: expected a positive number"),
        (["--budget", "0"], "--budget: expected a positive number of seconds"),
        (["--precision", "1.5"], "--precision: expected a half-width between 0 and 1"),
        (["--benchmark-min-rounds=3"], "--benchmark-min-rounds: not used by this suite"),
        (["--benchmark-warmup=on"], "--benchmark-warmup: not used by this suite"),
        (["--benchmark-timer", "time.process_time"], "--benchmark-timer: not used by this suite (one timer"),
        (["--results-dir=/proc/no-such-dir"], "--results-dir: cannot create a run folder in /proc/no-such-dir"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(tmp_path, args, message):
    done = run_benchmarks(tmp_path, *args)
    assert done.returncode == 4
    assert message in done.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_isolate_child_runs_with_the_parents_options(isolated_run):
    """The run's options reach the child through its worker's plan: it reports the options it ran with."""
    data = json.loads((isolated_run / "benchmarks.json").read_text())
    assert len(data["benchmarks"]) == 2  # the reference at w16 in both dtypes (numpy-diag skipped)
    for bench in data["benchmarks"]:
        extra = bench["extra_info"]
        assert (
            extra["isolated_median_s"] > 0
        )  # the same row timed in a fresh process (how close: bench.report.validate)
        assert extra["isolated_options"]["disable_gc"] is True
        assert extra["isolated_options"]["max_time"] == 0.01
    assert "In-process against isolated timing" in (isolated_run / "summary.md").read_text()


@pytest.mark.parametrize("threads", [1, 2])
def test_the_thread_policy_is_applied_and_recorded(tmp_path, threads, smoke_run):
    """One thread: the process pinned to one core, every pool at 1. Two: both cores, every pool at
    2. Every core is the default, so there the smoke run's own policy is the case. How busy the
    threads were is a wall-clock ratio: recorded on every row (cpu_util), judged by the summary's
    stability section and bench.report.validate's protocol table, not here."""
    if threads > os.cpu_count():
        pytest.skip("needs 2 cores")
    if threads == os.cpu_count():
        run = smoke_run
    else:
        run = the_run(tmp_path, *ONE_ROW, "--backends", "numpy-hadamard", "--threads", str(threads))
    data = json.loads((run / "benchmarks.json").read_text())
    policy = data["machine_info"]["autograd_bench"]["thread_policy"]
    assert policy["threads"] == threads and len(policy["cpu_affinity"]) == threads
    assert all(blas["num_threads"] == threads for blas in policy["blas"])
    assert all(bench["extra_info"]["cpu_util"] > 0 for bench in data["benchmarks"])  # recorded


def test_shards_merge_into_the_rows_of_one_run(smoke_run, tmp_path):
    # The gradient task's four configurations, one replicate per shard: the smoke run's first
    # replicate of them (rows in bench_gradients.py ending in -p0) is what the shards make together.
    shard = (*NUMPY, "--replicates", "1", "-k", "gradient")
    shards = [the_run(tmp_path / f"shard{k}", *shard, "--shard", f"{k}/2") for k in (1, 2)]
    merged = tmp_path / "merged"
    assert report.__main__.main(["merge", *map(str, shards), "--out", str(merged)]) == 0
    names = lambda run: sorted(b["fullname"] for b in json.loads((run / "benchmarks.json").read_text())["benchmarks"])  # noqa: E731
    whole = [name for name in names(smoke_run) if name.startswith("bench/bench_gradients.py") and name.endswith("-p0]")]
    assert names(merged) == whole
    assert all(names(shard) and set(names(shard)) < set(whole) for shard in shards)
    files = lambda run: {p.name for p in run.iterdir() if p.suffix != ".png"}  # noqa: E731 (plots: per task)
    assert files(merged) == files(smoke_run) and any(merged.glob("*.png"))
    other = copy.deepcopy(json.loads((shards[1] / "benchmarks.json").read_text()))
    other["machine_info"]["autograd_bench"]["cpu_model"] = "another CPU"
    (shards[1] / "benchmarks.json").write_text(json.dumps(other))
    assert report.__main__.main(["merge", *map(str, shards), "--out", str(tmp_path / "mixed")]) == 2
    assert not (tmp_path / "mixed").exists()
    # --allow-mixed: one set of panels per machine, and no ratio across machines
    assert report.__main__.main(["merge", *map(str, shards), "--out", str(tmp_path / "mixed"), "--allow-mixed"]) == 0
    rows = json.loads((tmp_path / "mixed" / "benchmarks.json").read_text())["benchmarks"]
    first = json.loads((shards[0] / "benchmarks.json").read_text())["machine_info"]["autograd_bench"]["cpu_model"]
    assert {r["extra_info"]["machine"] for r in rows} == {first, "another CPU"}
    assert all(r["extra_info"]["config"].endswith(f"@{r['extra_info']['machine']}") for r in rows)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def rendered(run: Path, tmp_path: Path) -> dict:
    """What the page's own probe recorded once it loaded in headless Chromium at 1300 px."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1300,900",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        (run / "index.html").as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    marker = 'data-rendered="'
    assert marker in done.stdout, done.stderr[-2000:]
    return json.loads(done.stdout.split(marker, 1)[1].split('"', 1)[0].replace("&quot;", '"'))


NO_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (.ci/run installs Debian's chromium)")


@NO_CHROMIUM
def test_page_renders_in_headless_chromium(smoke_run, tmp_path):
    page = rendered(smoke_run, tmp_path)
    assert page["images"] >= 4 and page["loaded"] == page["images"]
    assert page["heatmap_cells"] == 2 * 4  # 2 backends x 4 gradient configurations
    assert page["viewport"] == 1300 and page["widest_table_right"] <= page["viewport"]  # nothing off the edge


@pytest.fixture(scope="module")
def every_backend_run(tmp_path_factory) -> Path:
    """Every backend that is not opt-in, on the smoke grid, one replicate: the harness end to end."""
    return the_run(
        tmp_path_factory.mktemp("all"),
        "--grid",
        "smoke",
        "--replicates",
        "1",
        "--benchmark-max-time=0.005",
        "-k",
        "not w64 and not float32",
    )  # outcomes do not depend on them


def test_the_smoke_grids_outcomes_are_the_declared_ones(every_backend_run):
    from bench.suite.registry import REGISTRY

    cells = list(csv.DictReader((every_backend_run / "speedups.csv").read_text().splitlines()))
    configs = {c.id: c for c in GRIDS["smoke"].configs() if c.width != 64 and c.dtype == "float64"}  # the run's -k
    found = {(r["task"], r["config"], r["backend"]): r["outcome"] for r in cells}
    expected = {
        (c.task, c.id, name): REGISTRY[name].expected_outcome(c.task, c.width)
        for c in configs.values()
        for name, b in REGISTRY.items()
        if not b.opt_in
    }
    assert found == expected
    # The page: a backend skipped in every gradient cell is a line under the heat map, not a column of "skipped".
    page = (every_backend_run / "index.html").read_text()
    heat_map = page[page.index('id="T_heatmap"') : page.index("</table>", page.index('id="T_heatmap"'))]
    never = [name for name, b in REGISTRY.items() if not b.opt_in and "gradient" not in b.tasks]
    assert never and all(f">{name}<" not in heat_map for name in never)
    assert all(f"{name} ({name} has no gradient form)" in page for name in never)


@NO_CHROMIUM
def test_a_page_of_every_backend_fits_1300_px(every_backend_run, tmp_path):
    """Tables with a column per backend (13 with a gradient form) wrap their headings instead of running off."""
    page = rendered(every_backend_run, tmp_path)
    assert page["heatmap_cells"] >= 13  # every backend with a gradient form x 1 configuration (w16, float64)
    assert page["viewport"] == 1300 and page["widest_table_right"] <= page["viewport"]


def test_agree_reports_calls_coverage_and_flips_and_holds_a_minimum(smoke_run, tmp_path, capsys):
    """A run against itself agrees in every call and covers every estimate; a copy whose speed-ups
    are moved far outside the intervals, and one call flipped, does not."""
    moved = tmp_path / "moved"
    shutil.copytree(smoke_run, moved)
    lines = (moved / "speedups.csv").read_text().splitlines()
    header, rows = lines[0].split(","), list(csv.reader(lines[1:]))
    col = {name: i for i, name in enumerate(header)}
    for row in rows:
        if row[col["call"]] not in ("reference", "") and row[col["speedup"]]:
            row[col["speedup"]], row[col["low"]], row[col["high"]] = "9.0", "8.5", "9.5"
            row[col["call"]] = "win"
    with (moved / "speedups.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    main = report.__main__.main
    assert main(["agree", str(smoke_run), str(smoke_run), "--min-coverage", "0.8"]) == 0
    assert "(100%)" in capsys.readouterr().out
    assert main(["agree", str(smoke_run), str(moved), "--min-coverage", "0.8"]) == 1
    out = capsys.readouterr().out
    assert "win↔loss flips" in out and "moved most" in out


def test_validate_times_the_smoke_cells_with_the_frameworks_own_timers(every_backend_run, capsys):
    """bench.report.validate on the smoke grid (CI runs it here): torch with torch.utils.benchmark, jax with timeit."""
    from bench.report import validate

    load = pytest.importorskip
    load("torch"), load("jax")
    args = ["--cells", "w16-L2", "--backends", "torch", "--repeats", "2", "--time", "0.02", "--no-protocol"]
    assert validate.main([str(every_backend_run), *args]) == 0  # the command line, on one cell
    assert "torch.utils.benchmark blocked_autorange" in capsys.readouterr().out
    # 3 repeats: with 2 the own timer's t interval has 1 degree of freedom (t = 12.7) and can be
    # wider than the 10x below on a noisy machine, and then nothing can part
    logs = validate.own_timings(every_backend_run, "w16-L2", ["torch", "jax"], 3, 0.02)
    table = validate.judge(validate.cells_of(every_backend_run, "w16-L2", ["torch", "jax"]), logs, 0.15)
    assert len(table) == 2 and set(table["backend"]) == {"torch", "jax"}  # float64: the run's only dtype
    assert set(table["timer"]) == {"torch.utils.benchmark blocked_autorange", "timeit (blocked on)"}
    own = table["own timer"].str.split(" ").str[0].astype(float)
    assert (own > 0).all()
    # A suite whose speed-ups were 10x off parts from the frameworks' own timers: validate says so.
    wrong = every_backend_run.parent / "wrong"
    shutil.copytree(every_backend_run, wrong)
    cells = (wrong / "speedups.csv").read_text().splitlines()
    header = cells[0].split(",")
    rows = [dict(zip(header, row)) for row in csv.reader(cells[1:])]
    for row in rows:
        if row["backend"] in ("torch", "jax") and row["speedup"]:
            row.update(
                speedup=str(float(row["speedup"]) * 10),
                low=str(float(row["low"] or row["speedup"]) * 10),
                high=str(float(row["high"] or row["speedup"]) * 10),
            )
    with (wrong / "speedups.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    parted = validate.judge(validate.cells_of(wrong, "w16-L2", ["torch", "jax"]), logs, 0.15)  # the same timings
    assert (parted["parts"] == "yes").all(), parted.to_string()


def test_a_saved_run_stays_compact_after_its_report_time_is_recorded(smoke_run):
    """The report's own time goes into benchmarks.json after the report: still the compact form."""
    raw = (smoke_run / "benchmarks.json").read_text()
    assert ", " not in raw[:2000] and ": " not in raw[:2000]
    assert json.loads(raw)["machine_info"]["autograd_bench"]["time_account"]["report"] > 0


def test_with_isolate_the_runner_owns_a_hanging_row(tmp_path):
    """--isolate times a row first in a child of the worker; if that child hangs, the run's parent
    ends the worker and its child at --row-timeout (the child has no limit of its own), and the
    cell is timeout with the parent's reason, not an error from a race of two clocks."""
    # 20 s: the reference's isolated row starts a fresh pytest and measures the floor and peak within
    # the row's limit (about 8 s on the AMD VM): room for a machine 2.5x slower, not a race.
    done = run_benchmarks(
        tmp_path,
        *ONE_ROW,
        "--backends",
        "numpy-hadamard,test-hang",
        "--isolate",
        "--row-timeout",
        "20",
        "-p",
        "tests.plugins.faulty_backends",
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = runs(tmp_path)
    cells = {r["backend"]: r for r in csv.DictReader((run / "speedups.csv").read_text().splitlines())}
    assert cells["test-hang"]["outcome"] == "timeout" and "--row-timeout" in cells["test-hang"]["reason"]
    assert cells["numpy-hadamard"]["outcome"] == "ok"
    leftover = subprocess.run(["pgrep", "-f", "isolate-child"], capture_output=True, text=True).stdout.split()
    assert not leftover  # the hanging child went with its worker
