"""The benchmark machinery's own correctness: FLOP model, floor, registry, plan, grids, mirrors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import reference_impl as ri
from bench.harness import flops
from bench.harness.runner import allocate, combine_sweeps, rows_for
from bench.harness.schema import relative_error, tolerance
from bench.suite import backends, frameworks
from bench.suite.grids import GRIDS, Config, make_problem, square
from bench.suite.plan import SWEEP_LAG, parse_shard, plan
from bench.suite.registry import TASKS

from .conftest import load_framework

CONFIGS = [
    square("gradient", "float64", 8, 1, 4),
    square("gradient", "float64", 32, 3, 16),
    square("gradient", "float32", 64, 4, 1),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_flop_model_matches_torch_flop_counter(config):
    """torch counts the matrix products autograd runs: exactly the model's (no input gradient)."""
    torch_mlp = load_framework("torch")
    from torch.utils.flop_counter import FlopCounterMode

    run = torch_mlp.prepare("gradient", "autodiff", make_problem(config), {}).run
    with FlopCounterMode(display=False) as counter:
        run()
    assert counter.get_total_flops() == flops.pass_flops(config)


def test_flop_model_against_jax_cost_analysis():
    """XLA also counts elementwise work (tanh, its derivative, the cost): a few percent more."""
    jax_mlp = load_framework("jax")

    config = square("gradient", "float64", 128, 4, 64)
    problem = make_problem(config)
    f = jax_mlp.value_and_grad(("tanh",) * config.depth)
    analysis = jax_mlp.compile_ahead(f, *jax_mlp.to_device(problem.params, problem.x, problem.t)).cost_analysis()
    counted = (analysis[0] if isinstance(analysis, list) else analysis)["flops"]
    model = flops.pass_flops(config)
    assert model <= counted <= 1.10 * model


def test_gemm_shapes_skip_the_first_layers_input_gradient_and_training_counts_every_step():
    config = square("gradient", "float64", 10, 3, 5)
    assert len(flops.gemm_shapes(config)) == 3 * 3 - 1
    assert flops.pass_flops(config) == 6 * 5 * 3 * 100 - 2 * 5 * 100
    assert flops.model_grad_over_forward(config) == pytest.approx((3 * 3 - 1) / 3)
    train = square("train", "float64", 10, 3, 5, steps=7)
    assert flops.pass_flops(train) == 7 * flops.pass_flops(config)
    stochastic = Config("train", "float64", (10,) * 4, 5, steps=7, batch_size=1)
    assert flops.pass_flops(stochastic) == 7 * flops.pass_flops(square("gradient", "float64", 10, 3, 1))


def test_floor_is_the_fastest_library_and_names_it(monkeypatch):
    """Each product's time is the fastest library's, named: with timings fixed per library, the
    floor must be the sum of the per-product minima and name the libraries that supplied them."""
    times = {"numpy": 3e-6, "numpy (transposed)": 2e-6, "torch": 1e-6, "xla": 5e-6}
    fake = {name: {n: (lambda n=n: n) for n in times if n.split(" ")[0] == name} for name in ("numpy", "torch", "jax")}
    fake["jax"] = {"xla": lambda: "xla"}
    monkeypatch.setattr(flops, "LIBRARIES", {lib: (lambda *a, calls=calls: calls) for lib, calls in fake.items()})
    monkeypatch.setattr(flops, "installed_libraries", lambda: ["numpy", "torch", "jax"])
    monkeypatch.setattr(flops.timing, "sample", lambda call, budget: [times[call()]])
    flops.best_product_time.cache_clear()
    config = square("gradient", "float32", 16, 2, 16)
    seconds, source = flops.floor_seconds(config, min_time=0.005)
    assert seconds == pytest.approx(len(flops.gemm_shapes(config)) * 1e-6) and source == "torch"
    times["torch"] = 9e-6  # now NumPy's transposed product is the fastest
    flops.best_product_time.cache_clear()
    assert flops.floor_seconds(config, min_time=0.005) == (
        pytest.approx(len(flops.gemm_shapes(config)) * 2e-6),
        "numpy",
    )
    flops.best_product_time.cache_clear()


def test_registry_facts_are_consistent():
    registry = backends.REGISTRY
    assert [b.name for b in registry.values() if b.reference] == [backends.REFERENCE] == ["numpy-hadamard"]
    assert [b.name for b in registry.values() if b.golden] == [backends.GOLDEN] == ["numba-manual"]
    for backend in registry.values():
        assert backend.framework in frameworks.FRAMEWORKS and backend.tasks, backend.name
        assert backend.form in load_framework(backend.framework).FORMS, backend.name
        assert backend.eager is None or registry[backend.eager].framework == backend.framework
        # the autograd tax divides by the same kernels without autodiff: HIPS autograd runs NumPy's
        manual_framework = backend.manual and registry[backend.manual].framework
        assert manual_framework in (None, backend.framework) or (backend.framework, manual_framework) == (
            "autograd",
            "numpy",
        )
    assert {b.manual for b in registry.values() if b.manual} == {
        "numpy-hadamard",
        "torch-manual",
        "jax-manual",
        "tensorflow-manual",
    }


def test_a_framework_module_owns_its_forms_and_refuses_an_unknown_one():
    numpy_mlp = frameworks.load("numpy")
    problem = make_problem(square("gradient", "float64", 8, 2, 4))
    with pytest.raises(ValueError, match=r"form: numpy has no form 'jit'.*'diag', 'hadamard'"):
        numpy_mlp.prepare("gradient", "jit", problem, {})


def test_a_named_framework_that_is_not_installed_is_found_without_importing_it():
    absent = backends.Backend("ghost", "numpy", "hadamard", "a test double")
    assert backends.framework_not_installed(absent) is None
    import dataclasses

    from bench.suite import registry

    info = dataclasses.replace(registry.FRAMEWORKS["numpy"], imports="no_such_package_here")
    registry.FRAMEWORKS["ghost-fw"] = info
    try:
        message = backends.framework_not_installed(dataclasses.replace(absent, framework="ghost-fw"))
    finally:
        del registry.FRAMEWORKS["ghost-fw"]
    assert message and "ghost-fw is not installed" in message


def test_select_rejects_unknown_backends_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend\(s\) \['nope'\].*numpy-hadamard"):
        backends.select("numpy-hadamard,nope")
    assert "torch-compile" not in [b.name for b in backends.select(None)]
    assert [b.name for b in backends.select("torch-compile")] == ["torch-compile"]
    assert "torch-compile" in [b.name for b in backends.select(None, include_opt_in=True)]  # the full grid


def test_diag_over_its_budget_is_refused_by_the_librarys_own_guard():
    problem = make_problem(square("gradient", "float64", 64, 2, 64))
    with pytest.raises(backends.BackendUnavailable, match=r"variant='diag' needs .* budget"):
        backends.prepare(backends.REGISTRY["numpy-diag"], "gradient", problem, {"diag_budget_bytes": 1000})


def test_grids_are_the_promised_ones():
    default = [c for c in GRIDS["default"].configs() if c.task == "gradient"]
    assert {c.width for c in default} == {16, 256, 1024} and {c.depth for c in default} == {4}
    assert {c.batch for c in default} == {64} and {c.dtype for c in default} == {"float32", "float64"}
    train = [c for c in GRIDS["default"].configs() if c.task == "train"]
    assert {(c.network, c.batch_size) for c in train} == {("seed", None), ("seed", 1), ("square", None)}
    per_sample = [c for c in GRIDS["default"].configs() if c.task in ("per-sample", "clipped")]
    assert {(c.task, c.width, c.depth, c.batch, c.dtype) for c in per_sample} == {
        (task, w, 4, 64, dtype)
        for task in ("per-sample", "clipped")
        for w in (16, 256)
        for dtype in ("float32", "float64")
    }
    full_per_sample = [c for c in GRIDS["full"].configs() if c.task == "per-sample"]
    assert {c.width for c in full_per_sample} == {16, 256, 1024} and {16, 512} <= {c.batch for c in full_per_sample}
    full = GRIDS["full"].configs()
    assert {2048, 4096} <= {c.width for c in full} and 16 in {c.depth for c in full}
    assert {1, 256} <= {c.batch for c in full}


@pytest.mark.parametrize("name", [n for n, b in backends.REGISTRY.items() if not b.opt_in])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_backend_computes_the_reference(name, task, dtype):
    backend = backends.REGISTRY[name]
    if task not in backend.tasks:
        pytest.skip(f"{name} has no {task} form")
    load_framework(backend.framework)
    config = Config(task, dtype, (6, 24, 24, 3), 8, steps=5 if task == "train" else 0)
    problem = make_problem(config)
    prepared = backends.prepare(backend, task, problem, {"diag_budget_bytes": 2**30})
    cost, values = prepared.to_numpy(prepared.run())
    if task == "gradient":
        expected_cost, expected = ri.gradients(problem.params, problem.x, problem.t)
        assert float(prepared.forward()) == pytest.approx(expected_cost, rel=tolerance(task, dtype))
    elif task == "per-sample":  # against the reference and against a loop of its one-sample ri.gradients
        costs, expected = ri.per_sample_gradients(problem.params, problem.x, problem.t)
        expected_cost = float(costs.mean())
        for i in (0, config.batch - 1):
            one = ri.gradients(problem.params, problem.x[:, i : i + 1], problem.t[:, i : i + 1])[1]
            assert relative_error([(dW[i], db[i]) for dW, db in values], one) <= tolerance(task, dtype)
    elif task == "clipped":  # the clipped mean; about half the samples are clipped at the problem's max_norm
        expected_cost, expected = ri.clipped_gradients(problem.params, problem.x, problem.t, problem.max_norm)
        control = ri.clipped_gradients(problem.params, problem.x, problem.t, problem.max_norm, materialize=True)[1]
        assert relative_error(values, control) <= tolerance(task, dtype)
    elif task == "jvp":  # [(y[L], J v)], and its base pass is the forward pass and its cost
        expected = [ri.jvp(problem.params, problem.x, problem.vector)]
        expected_cost = 0.5 * float(np.vdot(expected[0][1], expected[0][1]))
        assert float(prepared.forward()) == pytest.approx(
            ri.gradients(problem.params, problem.x, problem.t)[0], rel=1e-4
        )
    elif task == "hvp":  # H v, and its base pass is the backend's own gradient
        expected_cost, expected = ri.hvp(problem.params, problem.x, problem.t, problem.vector)
        prepared.forward()
    else:
        expected, history = ri.train(problem.params, problem.x, problem.t, steps=5, lr=config.lr, clip=config.clip)
        expected_cost = history[-1]
    assert cost == pytest.approx(expected_cost, rel=tolerance(task, dtype))
    assert all(v.dtype == np.dtype(dtype) for layer in values for v in layer)
    assert relative_error(values, expected) <= tolerance(task, dtype)


@pytest.mark.parametrize("name", sorted(frameworks.FRAMEWORKS))
def test_each_mirror_supports_exactly_the_references_activations(name):
    assert set(load_framework(name).ACTIVATIONS) == set(ri.ACTIVATIONS)


def test_each_replicate_has_its_own_order_and_the_same_rows():
    configs = GRIDS["smoke"].configs()
    chosen = backends.select(None)
    ids = lambda seed, replicate: [case.id for case in plan(configs, chosen, seed, replicate)]  # noqa: E731
    assert ids(11, 0) == ids(11, 0)
    assert ids(11, 0) != ids(12, 0) and ids(11, 0) != [i.replace("-p1", "-p0") for i in ids(11, 1)]
    assert sorted(ids(11, 0)) == sorted(ids(12, 0))  # the same rows, visited in another order
    assert len(ids(11, 0)) == len(configs) * len(chosen)  # every row once per replicate
    # Within one configuration, every backend appears once, back to back: a randomized block.
    first = plan(configs, chosen, 11, 0)[: len(chosen)]
    assert len({c.config for c in first}) == 1 and {c.backend.name for c in first} == {b.name for b in chosen}


def test_sweeps_time_every_row_again_configurations_later_and_frameworks_back_to_back():
    configs = GRIDS["smoke"].configs()
    chosen = backends.select(None)
    cases = plan(configs, chosen, 11, 0, sweeps=2)
    assert sorted(c.id for c in cases if c.sweep == 0) == sorted(c.id for c in plan(configs, chosen, 11, 0))
    assert sorted(c.row_id for c in cases if c.sweep == 1) == sorted(c.row_id for c in cases if c.sweep == 0)
    for task in ("gradient", "train"):
        blocks = [(c.config, c.sweep) for c in cases if c.config.task == task][:: len(chosen)]
        for config in {config for config, _ in blocks}:
            first, again = blocks.index((config, 0)), blocks.index((config, 1))
            # other configurations' sweeps between a row's two: SWEEP_LAG of them, or all there are
            assert again - first >= min(SWEEP_LAG, sum(1 for c, s in blocks if s == 0) - 1)
    # Within a block, each library's backends come back to back.
    block = cases[: len(chosen)]
    runs = [b.backend.library for b in block]
    assert len([f for i, f in enumerate(runs) if i == 0 or runs[i - 1] != f]) == len(set(runs))


def _record(kind, case, median, sweep=0, config="c", **extra):
    stats = {"median": median, "data": [median]}
    info = {"cpu_util": median, "config": config, "replicate": 0, **extra}
    record = {"kind": kind, "case": case, "benchmark": {"stats": stats, "extra_info": info}}
    return {**record, "row": case.removesuffix(f"-s{sweep}"), "sweep": sweep} if kind == "sweep" else record


def test_each_row_keeps_its_fastest_sweep_with_that_sweeps_timing_fields():
    """A burst slowed sweep 1 of rows a and b: they keep sweep 0; c was faster in sweep 1 and
    keeps it, with that sweep's timing fields; sweep 0's checks stay with every row."""
    records = [
        _record("row", "a-p0", 2.0, rel_err=1e-16),
        _record("row", "b-p0", 1.0),
        _record("row", "c-p0", 1.0),
        _record("sweep", "a-p0-s1", 6.0, sweep=1),
        _record("sweep", "b-p0-s1", 3.0, sweep=1),
        _record("sweep", "c-p0-s1", 0.9, sweep=1),
        _record("sweep", "c-p0-s2", 0.95, sweep=2),
    ]
    a, b, c = combine_sweeps(records)
    assert [r["extra_info"]["sweep"] for r in (a, b, c)] == [0, 0, 1]
    assert a["stats"]["median"] / b["stats"]["median"] == 2.0
    assert c["stats"]["median"] == 0.9 and c["extra_info"]["sweep_medians"] == [1.0, 0.9, 0.95]
    assert c["extra_info"]["cpu_util"] == 0.9  # the timing fields of its sweep
    assert a["extra_info"]["rel_err"] == 1e-16  # sweep 0's checks stay
    lone = combine_sweeps([_record("row", "e-p0", 4.0)])  # a sweep lost with its worker: the row as timed
    assert lone[0]["stats"]["median"] == 4.0 and "sweep" not in lone[0]["extra_info"]


def test_replanning_with_the_recorded_seed_reproduces_every_replicates_order():
    """Rows record their worker's order seed and position: the plan from that seed gives back the
    order, for the pilot's full replicates and for a second-stage replicate of a few rows alike."""
    configs = GRIDS["smoke"].configs()
    chosen = backends.select(None)
    full = plan(configs, chosen, 7, 1, sweeps=2)
    assert [c.position for c in full] == list(range(len(full))) and {c.order_seed for c in full} == {7}
    some = {full[3].row_key, full[10].row_key, full[-1].row_key}
    later = plan(configs, chosen, 7, 4, sweeps=2, only=some)
    assert {c.row_key for c in later} == some and [c.position for c in later] == list(range(len(later)))
    again = {c.id: c.position for c in plan(configs, chosen, 7, 4, sweeps=2, only=some)}
    assert again == {c.id: c.position for c in later}
    assert [c.row_key for c in later] == [c.row_key for c in plan(configs, chosen, 7, 4, sweeps=2) if c.row_key in some]


def test_the_second_stage_gives_noisy_cells_more_replicates_within_the_budget():
    """Stein's second stage: n from the pilot's moderated variance, the aim widened until it fits,
    or narrowed while it fits."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(12):
        noise = 0.2 if c < 3 else 0.02  # three noisy cells of backend b
        for r in range(3):
            ref = np.exp(rng.normal(0, 0.01))
            rows += [
                {"config": f"c{c}", "backend": "ref", "task": "gradient", "replicate": r, "median": ref},
                {
                    "config": f"c{c}",
                    "backend": "b",
                    "task": "gradient",
                    "replicate": r,
                    "median": ref * np.exp(rng.normal(0, noise)),
                },
            ]
    frame = pd.DataFrame(rows)
    costs = {f"c{c}/{b}": 1.0 for c in range(12) for b in ("ref", "b")}
    need, h = allocate(frame, "ref", 3, 0.05, 5000, costs, worker_s=2.0, seconds=1e6)
    # Budget to spare: the aim narrows (to a quarter of --precision at most), the noisy cells get the replicates.
    assert np.log1p(0.05) / 4 / 1.05 <= h <= np.log1p(0.05) / 4
    assert min(need[f"c{c}/b"] for c in range(3)) > max(need[f"c{c}/b"] for c in range(3, 12)) >= 3
    assert rows_for(need, 3, "ref") >= {"c0/b", "c0/ref"}
    tight, wider = allocate(frame, "ref", 3, 0.05, 30, costs, worker_s=2.0, seconds=30.0)
    assert wider > h and sum(tight.values()) < sum(need.values())
    spent = sum(2.0 + len(rows_for(tight, r, "ref")) for r in range(3, max(tight.values())))
    assert spent <= 30.0


def test_shards_partition_whole_configurations():
    configs = GRIDS["default"].configs()
    chosen = backends.select(None)
    shards = [plan(configs, chosen, 5, 0, (k, 3)) for k in (1, 2, 3)]
    assert sorted(c.id for shard in shards for c in shard) == sorted(c.id for c in plan(configs, chosen, 5, 0))
    owners = {}
    for k, shard in enumerate(shards):
        for case in shard:
            assert owners.setdefault(case.config, k) == k  # all backends of a configuration together
    for bad in ("0/2", "3/2", "a/b", "2"):
        with pytest.raises(ValueError, match="--shard: expected K/N"):
            parse_shard(bad)


def test_environment_warnings_name_the_forced_kernel_the_load_and_the_threads():
    from bench.harness.policy import available_cores, environment_warnings

    blas = [{"internal_api": "openblas", "architecture": "Haswell"}]
    avx512 = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}
    forced = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576", "OMP_NUM_THREADS": "64"}
    warnings = environment_warnings(1, blas, environ=forced, flags=avx512, load=9.0)
    assert any("OPENBLAS_CORETYPE=Haswell" in w and "supports SkylakeX" in w and "env -u" in w for w in warnings)
    assert any(w.startswith("load average 9.00") for w in warnings)
    assert any("OMP_NUM_THREADS=64" in w for w in warnings)
    assert (
        environment_warnings(
            1, [{"internal_api": "openblas", "architecture": "SkylakeX"}], environ={}, flags=avx512, load=0.0
        )
        == []
    )
    assert available_cores() >= 1


def test_compile_break_even_counts_both_compile_times():
    """jax-scan against jax (which compiles too): (compile_a - compile_b) / (gain per step)."""
    from bench.report.ratios import break_even

    assert break_even(0.5, 1e-6, 0.25, 6e-6) == 50_000  # 0.25 s more compile, 5 µs a step saved
    assert break_even(0.5, 1e-6, 0.0, 6e-6) == 100_000  # against an eager backend: all of it
    assert break_even(0.2, 1e-6, 0.3, 6e-6) == 0  # it compiles faster and runs faster: from the start
    assert break_even(0.5, 7e-6, 0.0, 6e-6) == float("inf")  # slower per step: never


def test_torch_compile_matches_the_reference_in_both_tasks():
    """The opt-in backend the full grid runs: inductor compiles (about 20 s here) and must agree."""
    load_framework("torch")
    entry = backends.REGISTRY["torch-compile"]
    gradient, train = square("gradient", "float64", 8, 2, 4), Config("train", "float64", (8, 8, 8), 4, steps=3)
    try:
        prepared = {c.task: (c, backends.prepare(entry, c.task, make_problem(c), {})) for c in (gradient, train)}
    except backends.BackendUnavailable as exc:  # no C++ compiler for inductor: said, not hidden
        pytest.skip(str(exc))
    p = make_problem(gradient)
    _, values = prepared["gradient"][1].to_numpy(prepared["gradient"][1].run())
    assert relative_error(values, ri.gradients(p.params, p.x, p.t)[1]) <= tolerance("gradient", "float64")
    p = make_problem(train)
    _, values = prepared["train"][1].to_numpy(prepared["train"][1].run())
    expected = ri.train(p.params, p.x, p.t, steps=3, lr=train.lr, clip=train.clip)[0]
    assert relative_error(values, expected) <= tolerance("train", "float64")
    assert all(c.compile_s > 0 for _, c in prepared.values())  # compiling is timed, apart from the row


def test_the_full_grid_runs_every_form_of_every_backend():
    """A task too slow for the default grid (torch-func's and tensorflow-eager's training) is
    declared, skipped there with the reason, and run on the full grid, opt-in backends included."""
    chosen = backends.select(None, include_opt_in=True)
    assert {b.name for b in chosen} == set(backends.REGISTRY)
    for backend in chosen:
        for task in backend.tasks:
            assert backend.skip_reason(task, 16, full_grid=True) is None, (backend.name, task)
    for name in ("torch-func", "tensorflow-eager"):
        entry = backends.REGISTRY[name]
        assert "train" in entry.tasks and "full grid only" in entry.skip_reason("train", 16)


def test_the_golden_compile_is_measured_with_the_cache_off_once_per_signature(monkeypatch):
    """numba compiles at a signature's first call (dtype and depth): a row that records its compile
    time gets it from a fresh process whose numba cache is an empty folder, once per signature;
    another width is the same signature and reuses the measurement; a row that would drop it starts
    no probe."""
    numba_mlp = load_framework("numba")
    monkeypatch.setattr(numba_mlp, "_COLD_COMPILE", {})
    probes, run = [], subprocess.run

    def spy(command, **kwargs):
        empty = kwargs["env"]["NUMBA_CACHE_DIR"]
        probes.append((command[-3:], sorted(Path(empty).iterdir())))
        if len(probes) == 1:  # the first probe runs for real (3-4 s); the harness's own runs run the others
            return run(command, **kwargs)
        return subprocess.CompletedProcess(command, 0, stdout="0.5\n", stderr="")

    monkeypatch.setattr(subprocess, "run", spy)
    entry = backends.REGISTRY["numba-manual"]
    configs = [
        square("gradient", "float64", 8, 2, 8),
        square("gradient", "float64", 16, 2, 8),
        square("gradient", "float32", 8, 2, 8),
        Config("train", "float64", (8, 8, 8), 4, steps=3),
    ]
    f64, f64_wider, f32, train = [
        backends.prepare(entry, c.task, make_problem(c), {"measure_compile": True}).compile_s for c in configs
    ]
    assert f64 > 0 and (f32, train) == (0.5, 0.5) and f64_wider == f64
    assert probes == [
        (["gradient", "float64", "2"], []),
        (["gradient", "float32", "2"], []),
        (["train", "float64", "2"], []),
    ]
    assert backends.prepare(entry, "gradient", make_problem(configs[0]), {}).compile_s is None
    assert len(probes) == 3


@pytest.mark.parametrize(("name", "runs"), [("jax", 0), ("jax-manual", 0), ("tensorflow", 1), ("tensorflow-manual", 1)])
def test_compile_time_means_making_the_call_ready_in_every_framework(name, runs):
    """JAX compiles ahead without running; tf.function's first call also runs the pass once, which
    the row subtracts (Prepared.compile_runs), so compile_s is the same quantity for both."""
    backend = backends.REGISTRY[name]
    load_framework(backend.framework)
    prepared = backends.prepare(backend, "gradient", make_problem(square("gradient", "float64", 16, 2, 8)), {})
    assert prepared.compile_s > 0 and prepared.compile_runs == runs


def test_a_run_records_the_version_of_every_package_a_framework_extra_installs():
    """The machine record names each framework's packages (a run quoted in README says which
    opacus or torchvision it timed): every requirement of a framework's extra is in PACKAGES."""
    import tomllib

    from bench.harness.machine import PACKAGES
    from bench.suite.registry import FRAMEWORKS

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extras = extras["project"]["optional-dependencies"]
    wanted = {
        re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0]
        for info in FRAMEWORKS.values()
        if info.extra
        for requirement in extras[info.extra]
    }
    assert wanted - set(PACKAGES) == set()


def test_a_run_describes_only_the_frameworks_it_uses():
    """The parent of a NumPy-only run records the machine without starting torch or JAX (each
    costs seconds to import; a framework is imported only where one of its backends runs)."""
    probe = (
        "import sys; from bench.harness import machine; info = machine.describe({'numpy'}); "
        "print(sorted({'torch', 'jax'} & set(sys.modules)), 'jax_backend' in info, 'torch_parallel_info' in info)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "False", "False"]


def test_a_late_worker_drops_its_last_sweep_for_every_row_alike(monkeypatch):
    """At a first-sweep pace of 2 s a row and a later one of 1 s (the test's own clock), with 10
    first-sweep rows and 10 of each later sweep to come, 45 s left fit sweeps 0-2 (20 + 20 s) but not
    sweep 3; the first replicate's one-off seconds (cold compiles) are not counted against it."""
    from bench.harness import session as session_module
    from bench.harness.session import BenchSession
    from bench.suite.plan import WorkerPlan

    clock = [100.0]
    monkeypatch.setattr(session_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    bench = BenchSession("default", GRIDS["default"], "tanh", [], 2, 0, None, 2, "default", 2**30, False, False, False)
    bench.sweeps, bench.began = 4, 0.0
    bench.worker = WorkerPlan(replicate=1, order_seed=0, sweeps=4, options={}, log="", allowance_s=145.0)
    assert bench.sweeps_that_fit() == 4  # no later sweep timed yet: no pace to go by
    for sweep, seconds, rows in ((0, 2.0, 40), (1, 1.0, 20)):
        for _ in range(rows):
            bench.row_began = clock[0] - seconds
            bench.row_timed(sweep)
    bench.cases_left.update({0: 10, 1: 10, 2: 10, 3: 10})
    assert bench.sweeps_that_fit() == 3  # 100 s gone, 20 + 10 + 10 fit the 45 s left, another 10 do not
    bench.one_off_s = 30.0  # of the 100 s, 30 were compiling cold: 70 s gone, the first sweep's pace 1.25 s
    assert bench.sweeps_that_fit() == 4  # 70 + 12.5 + 30 within 145 - 30
    bench.worker.allowance_s = 120.0
    assert bench.sweeps_that_fit() == 1  # 70 + 12.5 + 10 is past 120 - 30: only the first sweep is left
    bench.worker.sharing = 2  # a pilot worker after this one pays half the 30 s: (2 x 120 - 30) / 2 = 105 s
    assert bench.sweeps_that_fit() == 3  # 70 + 12.5 + 20 within 105, another 10 not
