"""The interval method on synthetic replicates with known ratios: limma's prior, Stein's two-stage
interval, and what ``agree`` can expect of a rerun. Pure statistics: no timing, nothing to flake."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bench.harness.runner import allocate
from bench.harness.stats import (
    fit_prior,
    moderated_variances,
    rerun_coverage,
    speedups,
    stein_interval,
    trigamma_inverse,
)


def test_trigamma_inverse_inverts_trigamma():
    from scipy import special

    for y in (0.05, 0.7, 3.0, 40.0):
        assert trigamma_inverse(float(special.polygamma(1, y))) == pytest.approx(y, rel=1e-6)


def test_fit_prior_recovers_the_prior_the_variances_were_drawn_from():
    """limma's method of moments: variances s² = σ²·χ²_2/2 with σ² ~ s0²·d0/χ²_d0."""
    rng = np.random.default_rng(1)
    d0, s0 = 6.0, 0.01
    sigma2 = s0 * d0 / rng.chisquare(d0, 20000)
    variances = sigma2 * rng.chisquare(2, 20000) / 2
    fitted_d0, fitted_s0 = fit_prior(variances, df=2)
    assert fitted_d0 == pytest.approx(d0, rel=0.15) and fitted_s0 == pytest.approx(s0, rel=0.05)
    same = 0.01 * rng.chisquare(2, 5000) / 2  # every cell one variance: d0 is "infinite"
    assert fit_prior(same, df=2)[0] > 100
    assert all(np.isnan(fit_prior(np.array([1.0, 2.0]), df=2)))  # too few cells to fit anything


def test_stein_interval_is_the_pilot_variance_over_all_replicates_by_hand():
    values = np.log([1.10, 1.05, 1.20, 1.12, 1.08])
    point, low, high = stein_interval(values, pilot_variance=0.004, df=7)
    half = scipy_stats.t.ppf(0.975, 7) * math.sqrt(0.004 / 5)
    assert (math.log(point), math.log(low), math.log(high)) == pytest.approx(
        (values.mean(), values.mean() - half, values.mean() + half)
    )


def test_moderation_widens_a_lucky_cell_and_narrows_a_noisy_one():
    rng = np.random.default_rng(2)
    logs = pd.DataFrame(rng.normal(0, 0.1, (40, 3)))
    logs.iloc[0] = [0.10, 0.1001, 0.0999]  # 3 replicates that happen to agree
    logs.iloc[1] = [0.4, -0.2, 0.1]
    spread = moderated_variances(logs, pd.Series("gradient", index=logs.index), pilot=None)
    own = logs.var(axis=1, ddof=1)
    assert spread.loc[0, "variance"] > 10 * own[0] and spread.loc[1, "variance"] < own[1]
    assert (spread["df"] > 2).all()  # the prior adds its degrees of freedom


def test_rerun_coverage_is_the_t_distributions():
    assert rerun_coverage(2) == pytest.approx(0.91, abs=0.006)
    assert rerun_coverage(4) == pytest.approx(0.88, abs=0.006)
    assert rerun_coverage(1e6) == pytest.approx(0.834, abs=0.002)


def simulated_run(rng, truth, sigma, pilot, precision, bursts, backends=12, groups=4, sweeps=2):
    """One run of the pipeline on synthetic timings, the shared-reference burst model: in each
    process, each configuration's ``backends`` rows in ``groups`` library groups, each group
    followed by its probe of the reference (``bench.suite.plan``), ``sweeps`` times. A row's log
    time has its cell's truth, a process effect of its own and one of the reference's that every
    cell of the configuration shares (the reference's process moves them together), sweep noise
    of the cell's size ``sigma``, and bursts: now and then a burst slows a group and, four times
    in five, its probe (the probe is seconds away; sometimes the burst ends first). Rows carry
    every sweep's time and its probe's, as ``runner.combine_sweeps`` writes them; Stein's
    allocation, the second stage and the intervals are the suite's (``allocate``, ``speedups``)."""
    configs, size = len(truth) // backends, backends // groups

    def process(config):
        cells = slice(config * backends, (config + 1) * backends)
        own = rng.normal(0, sigma[cells] * 0.4)  # the process's own effect on each row
        shared = rng.normal(0, np.median(sigma) * 0.3)  # the reference's: every cell of the configuration
        ref_logs, row_logs = [], []
        for _ in range(sweeps):
            burst = np.where(rng.random(groups) < bursts * size, np.log(rng.uniform(1.3, 3.0, groups)), 0.0)
            on_probe = burst * (rng.random(groups) < 0.8)
            row_logs.append(-truth[cells] + own + rng.normal(0, sigma[cells]) + np.repeat(burst, size))
            ref_logs.append(np.repeat(shared + rng.normal(0, 0.02, groups) + on_probe, size))
        return np.exp(np.array(row_logs)), np.exp(np.array(ref_logs))  # (sweeps, backends)

    def replicate_rows(r, configs_needed=None):
        out = []
        for c in range(configs):
            if configs_needed is not None and c not in configs_needed:
                continue
            times, refs = process(c)
            for b in range(backends):
                out.append(
                    {"config": f"c{c}", "backend": f"b{b}", "task": "gradient", "replicate": r,
                     "median": times[0, b], "sweep_medians": list(times[:, b]), "ref_sweep_medians": list(refs[:, b])}
                )  # fmt: skip
            out.append({"config": f"c{c}", "backend": "ref", "task": "gradient", "replicate": r, "median": 1.0,
                        "sweep_medians": [1.0] * sweeps, "ref_sweep_medians": [1.0] * sweeps})  # fmt: skip
        return out

    rows = [row for r in range(pilot) for row in replicate_rows(r)]
    costs = {f"c{c}/{b}": 0.1 for c in range(configs) for b in ["ref"] + [f"b{k}" for k in range(backends)]}
    need, _ = allocate(pd.DataFrame(rows), "ref", pilot, precision, 30, costs, worker_s=1.0, seconds=1e9)
    for r in range(pilot, max(need.values())):  # a cell is timed again while it needs it
        wanted = {key for key, n in need.items() if n > r}
        fresh = replicate_rows(r, {int(key.split("/")[0][1:]) for key in wanted})
        rows += [row for row in fresh if f"{row['config']}/{row['backend']}" in wanted or row["backend"] == "ref"]
    table = speedups(pd.DataFrame(rows), "ref", pilot=pilot)
    table = table[table["backend"] != "ref"].set_index(["config", "backend"]).sort_index()
    n = np.array([need[f"{c}/{b}"] for c, b in table.index])
    return table[["speedup", "low", "high"]].to_numpy(), table["df"].to_numpy(), n


@pytest.mark.parametrize("bursts", [0.0, 0.01], ids=["process noise", "with slow bursts"])
def test_a_reruns_estimate_lands_inside_as_often_as_predicted(bursts):
    """Two independent runs of the whole method on the same true ratios: the share of cells where
    one run's estimate lies inside the other's interval is within 5 points of the rate the
    intervals' degrees of freedom predict (what ``agree`` prints beside the measured one), with
    the reference's own process noise shared by the cells of a configuration and bursts that
    hit a group and its probe (a 1 % chance per row that a burst starts: about 6 % of rows were
    hit on the AMD VM). The noise is the VMs' of BENCHMARKING.md: per-cell SD of a sweep's log
    speed-up around 0.08, varying between cells, a process's own about half of it. A pilot of 2
    processes of 2 sweeps, as the default grid's."""
    rng = np.random.default_rng(3)
    cells = 12 * 40
    truth = rng.normal(0, 0.5, cells)
    sigma = np.sqrt(0.08**2 * 8 / rng.chisquare(8, cells))  # cells differ in noise, as the prior assumes
    a, df_a, n_a = simulated_run(rng, truth, sigma, 2, 0.08, bursts)
    b, _, _ = simulated_run(rng, truth, sigma, 2, 0.08, bursts)
    inside = np.mean((a[:, 1] <= b[:, 0]) & (b[:, 0] <= a[:, 2]))
    predicted = np.mean([rerun_coverage(df) for df in df_a])
    assert abs(inside - predicted) <= 0.05, (inside, predicted)
    assert n_a.max() > 2  # the second stage ran: the noisier cells got more replicates
    half_widths = np.sqrt(a[:, 2] / a[:, 1]) - 1
    assert np.median(half_widths) <= 0.10  # Stein's n gives each cell its aim (±8 %) unless capped at 30


def test_the_statistics_module_is_pure_numbers():
    """Estimation (numbers in, numbers out) apart from formatting, as asv keeps statistics.py:
    no formatter lives in bench.harness.stats, and it imports nothing of the report above it."""
    import ast
    import inspect

    from bench.harness import stats

    tree = ast.parse(inspect.getsource(stats))
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert not [name for name in functions if name.startswith("fmt") or name == "tally"]
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m and not m.startswith(("__future__", "scipy"))}
