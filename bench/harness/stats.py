"""Ratios between backends with 95 % intervals that hold for a handful of replicates: pure
statistics, numbers in and numbers out (formatting lives in ``tables``).

The unit of replication is the process (``bench.harness.runner``): replicate r timed every row of its
plan, so for two backends in one configuration it gives one paired log ratio (their times from
the same sweeps of the same process). Speed-up (the reference's time over the backend's),
autograd tax, kernel speed, J/F and "× golden" are all such paired ratios; the estimate is the
geometric mean of the per-replicate ratios.

The interval is Stein's two-stage t interval (Stein 1945) with a moderated pilot variance:

1. The first ``pilot`` replicates of every row are the pilot. A cell's pilot variance s² has
   pilot − 1 degrees of freedom and is itself very uncertain with 3 replicates, so the cells of
   one ratio and task borrow strength from each other as limma does (Smyth 2004): the prior
   (d₀, s₀²) is estimated from the distribution of the pilot variances (limma's ``fitFDist``,
   ``fit_prior`` below), and s̃² = (d₀·s₀² + (pilot − 1)·s²) / (d₀ + pilot − 1) has
   ν = d₀ + pilot − 1 degrees of freedom.
2. The runner then gives each cell n ≥ pilot replicates in all, n fixed by s̃ alone
   (``replicates_needed``: enough for a ±h interval, within the run's budget).
3. The interval is mean ± t_ν · s̃ / √n over all n replicates. Because n depends on the pilot
   only, the mean of the later replicates is independent of s̃, and the interval keeps its 95 %
   exactly for normal log ratios; with n = pilot it is the moderated t interval.

A cell whose interval contains 1 is a tie; with ``equivalence`` E, one whose whole interval lies
within [1/(1+E), 1+E] is "same". A rerun's estimate falls inside a t interval on ν degrees of
freedom with probability P(|t_ν| < t_ν,0.975/√2) (``rerun_coverage``), not 95 %.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as scipy_stats

LEVEL = 0.95
TARGET = 0.05  # pyperf's spirit: how many processes would a ±5 % interval need?
MAX_PRIOR_DF = 1e6  # limma's d0 = inf (every cell's variance the same): a t with this many is the normal


def trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x, by limma's Newton iteration (Smyth 2004, ``trigammaInverse``)."""
    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1 - tri / x) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def fit_prior(variances: np.ndarray, df: float) -> tuple[float, float]:
    """limma's ``fitFDist`` without covariates: (d₀, s₀²) of the scaled inverse-χ² prior that the
    sample variances (each on ``df`` degrees of freedom) were drawn from, by the method of
    moments on their logarithms. (nan, nan) with fewer than 3 usable variances."""
    values = np.asarray(variances, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3 or df <= 0:
        return np.nan, np.nan
    values = np.maximum(values, 1e-5 * np.median(values) + 1e-300)  # limma's guard against zero variances
    e = np.log(values) - special.digamma(df / 2) + math.log(df / 2)
    mean = float(e.mean())
    excess = float(e.var(ddof=1)) - float(special.polygamma(1, df / 2))
    if excess <= 0:  # no more spread than chance: every cell has the same variance
        return MAX_PRIOR_DF, math.exp(mean)
    d0 = min(2 * trigamma_inverse(excess), MAX_PRIOR_DF)
    return d0, math.exp(mean + special.digamma(d0 / 2) - math.log(d0 / 2))


def moderated(variance: float, df: float, prior: tuple[float, float]) -> tuple[float, float]:
    """(s̃², ν): the cell's variance shrunk toward the prior's, and its degrees of freedom."""
    d0, s0 = prior
    if not (np.isfinite(d0) and np.isfinite(s0)):
        return variance, df
    return (d0 * s0 + df * variance) / (d0 + df), d0 + df


def t_quantile(df: float, level: float = LEVEL) -> float:
    return float(scipy_stats.t.ppf((1 + level) / 2, df))


def stein_interval(
    log_ratios: np.ndarray, pilot_variance: float, df: float, level: float = LEVEL
) -> tuple[float, float, float]:
    """(estimate, low, high) of exp(mean log ratio) over every replicate, the half-width from the
    pilot's (moderated) variance on ``df`` degrees of freedom; NaN bounds without a variance."""
    values = np.asarray(log_ratios, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if not (np.isfinite(pilot_variance) and df > 0):
        return math.exp(mean), np.nan, np.nan
    half = t_quantile(df, level) * math.sqrt(pilot_variance / len(values))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def log_interval(log_ratios: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """The plain t interval on one cell's own values (no pilot, no prior)."""
    values = np.asarray(log_ratios, dtype=float)
    values = values[np.isfinite(values)]
    variance = values.var(ddof=1) if len(values) > 1 else np.nan
    return stein_interval(values, variance, len(values) - 1, level)


def replicates_needed(variance: float, df: float, half_width: float, pilot: int, most: int) -> int:
    """Stein's second stage: the replicates (pilot included, at most ``most``) for which the
    interval's half-width t_ν·s̃/√n is at most ``half_width`` (on the log scale)."""
    if not np.isfinite(variance) or df <= 0:
        return pilot
    need = math.ceil(variance * (t_quantile(df) / half_width) ** 2)
    return int(min(max(pilot, need), most))


def rerun_coverage(df: float, level: float = LEVEL) -> float:
    """Probability that a rerun's estimate lies inside a t interval on ``df`` degrees of freedom
    (both runs with the same variance and replicates): P(|t_ν| < t_ν,q / √2)."""
    if not df > 0:
        return np.nan
    return float(2 * scipy_stats.t.cdf(t_quantile(df, level) / math.sqrt(2), df) - 1)


def cell_variances(logs: pd.DataFrame, pilot: int | None) -> tuple[pd.Series, pd.Series]:
    """Per cell (a row of ``logs``, one column per replicate): the pilot's variance and its degrees
    of freedom (replicates before ``pilot``; all of them where ``pilot`` is None)."""
    columns = [c for c in logs.columns if pilot is None or c < pilot]
    first = logs[columns]
    return first.var(axis=1, ddof=1), first.notna().sum(axis=1) - 1


def moderated_variances(logs: pd.DataFrame, groups: pd.Series, pilot: int | None) -> pd.DataFrame:
    """Per cell: its pilot variance moderated by the prior fitted to its group's cells: columns
    ``variance`` (s̃²) and ``df`` (ν)."""
    variance, df = cell_variances(logs, pilot)
    out = pd.DataFrame({"variance": variance, "df": df.astype(float)}, index=logs.index)
    for _, cells in out.groupby(groups.to_numpy()):
        usable = cells[cells["df"] > 0]
        if usable.empty:
            continue
        common = float(usable["df"].median())  # cells of one group share the pilot's degrees of freedom
        prior = fit_prior(usable.loc[usable["df"] == common, "variance"].to_numpy(), common)
        for cell, (v, d) in usable.iterrows():
            out.loc[cell, ["variance", "df"]] = moderated(v, d, prior)
    return out


def processes_for(log_ratios: np.ndarray, target: float = TARGET) -> float:
    """Replicates a ±target interval would need, from this spread (pyperf estimates it alike)."""
    values = np.asarray(log_ratios, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return np.nan
    sd = values.std(ddof=1)
    for n in range(2, 1001):
        if scipy_stats.t.ppf((1 + LEVEL) / 2, n - 1) * sd / math.sqrt(n) <= math.log1p(target):
            return n
    return np.inf


def call(low: float, high: float, equivalence: float | None = None) -> str:
    """The backend against the reference: faster (win), slower (loss), a tie; or "same" within ±E."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "tie"
    if equivalence and 1 / (1 + equivalence) <= low and high <= 1 + equivalence:
        return "same"
    return "win" if low > 1 else "loss" if high < 1 else "tie"


RATIO_COLUMNS = ["config", "backend", "estimate", "low", "high", "replicates", "df", "processes_for_5pct"]


def paired_ratios(rows: pd.DataFrame, numerator: pd.Series, denominator: pd.Series) -> pd.DataFrame:
    """Per configuration, numerator ÷ denominator per replicate: both Series are indexed by
    (config, replicate); the result is indexed by config, one column per replicate."""
    joined = pd.concat({"a": numerator, "b": denominator}, axis=1).dropna()
    return np.log(joined["a"] / joined["b"]).unstack("replicate")


def ratio_table(
    rows: pd.DataFrame, pairs: list[tuple[str, str, str]], value: str = "median", pilot: int | None = None
) -> pd.DataFrame:
    """(label, numerator backend, denominator backend) -> one line per configuration where both
    were timed: estimate over every paired replicate, Stein's interval from the moderated pilot
    variance (each label's cells of one task share a prior), replicates paired, its ν."""
    medians = rows.set_index(["backend", "config", "replicate"])[value]
    out = []
    for label, top, bottom in pairs:
        if top not in medians.index.get_level_values(0) or bottom not in medians.index.get_level_values(0):
            continue
        out += interval_lines(label, paired_ratios(rows, medians.loc[top], medians.loc[bottom]), rows, pilot)
    return pd.DataFrame(out, columns=RATIO_COLUMNS)


def interval_lines(label: str, logs: pd.DataFrame, rows: pd.DataFrame, pilot: int | None) -> list[dict]:
    """One line per configuration (a row of ``logs``, one column per replicate): the estimate,
    Stein's interval from the variance moderated over the task's cells, replicates, ν."""
    task_of = rows.groupby("config")["task"].first()
    spread = moderated_variances(logs, task_of.reindex(logs.index), pilot)
    out = []
    for config, values in logs.iterrows():
        variance, df = spread.loc[config, "variance"], spread.loc[config, "df"]
        point, low, high = stein_interval(values.to_numpy(), variance, df)
        out.append(
            {
                "config": config,
                "backend": label,
                "estimate": point,
                "low": low,
                "high": high,
                "replicates": int(values.notna().sum()),
                "df": df,
                "processes_for_5pct": processes_for(values.to_numpy()),
            }
        )
    return out


def speedup_logs(rows: pd.DataFrame, reference: str, backend: str) -> pd.DataFrame:
    """log speed-up per configuration (rows) and replicate (columns): the reference's time over the
    backend's, both from the same sweep of the same process."""
    medians = rows.set_index(["backend", "config", "replicate"])["median"]
    return paired_ratios(rows, medians.loc[reference], medians.loc[backend])


def speedups(
    rows: pd.DataFrame, reference: str, equivalence: float | None = None, pilot: int | None = None
) -> pd.DataFrame:
    """Per (configuration, backend): speedup, low, high, call, replicates paired with the reference."""
    timed = rows[rows["backend"] != reference]["backend"].unique()
    lines = [line for b in timed for line in interval_lines(b, speedup_logs(rows, reference, b), rows, pilot)]
    table = pd.DataFrame(lines, columns=RATIO_COLUMNS).rename(columns={"estimate": "speedup"})
    table["call"] = [call(lo, hi, equivalence) for lo, hi in zip(table["low"], table["high"])]
    ref = rows[rows["backend"] == reference].groupby("config").size()
    own = pd.DataFrame(
        {
            "config": ref.index,
            "backend": reference,
            "speedup": 1.0,
            "low": 1.0,
            "high": 1.0,
            "replicates": ref.to_numpy(),
            "df": np.nan,
            "processes_for_5pct": np.nan,
            "call": "reference",
        }
    )
    return pd.concat([table, own], ignore_index=True) if len(own) else table


def geometric_headline(rows: pd.DataFrame, reference: str, pilot: int | None = None) -> pd.DataFrame:
    """Per (task, backend): the geometric mean of its speed-ups over the configurations both
    timed in every pilot replicate, with a t interval over those replicates (each pilot replicate
    is one process that timed the whole grid, so its geometric mean is one paired value; the
    later replicates time only some rows). With a pilot of 2 a backend's own variance has one
    degree of freedom, so the backends of a task borrow strength as the cells do
    (``moderated_variances``)."""
    if pilot is not None:
        rows = rows[rows["replicate"] < pilot]
    means, sizes = {}, {}
    for (task, backend), part in rows[rows["backend"] != reference].groupby(["task", "backend"]):
        logs = speedup_logs(rows, reference, backend)
        logs = logs[logs.index.isin(part["config"])]
        complete = logs.dropna(axis=0, how="any")  # configurations measured in every replicate
        if not complete.empty:
            means[task, backend], sizes[task, backend] = complete.mean(axis=0), complete.shape
    columns = ["task", "backend", "geomean", "low", "high", "configurations", "replicates"]
    if not means:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(means).T  # (task, backend) x replicate: each process's mean log speed-up
    spread = moderated_variances(frame, pd.Series(frame.index.get_level_values(0), index=frame.index), None)
    out = []
    for key, values in frame.iterrows():
        point, low, high = stein_interval(
            values.dropna().to_numpy(), spread.loc[key, "variance"], spread.loc[key, "df"]
        )
        out.append([*key, point, low, high, *sizes[key]])
    return pd.DataFrame(out, columns=columns)


def sweep_log_ratios(rows: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Every sweep of every ok row beside the reference's row of the same configuration,
    replicate and sweep: columns task, cell, replicate, sweep and value, the log of the
    reference's time over the row's (``rows``: config, backend, task, replicate, outcome and
    sweep_medians, a list where the row had several sweeps)."""
    ok = rows[rows["outcome"] == "ok"]
    refs = ok[ok["backend"] == reference].set_index(["config", "replicate"])["sweep_medians"]
    values = [
        (r.task, f"{r.config}/{r.backend}", r.replicate, sweep, math.log(ref / mine))
        for r in ok[ok["backend"] != reference].itertuples()
        if isinstance(r.sweep_medians, list) and isinstance(theirs := refs.get((r.config, r.replicate)), list)
        for sweep, (mine, ref) in enumerate(zip(r.sweep_medians, theirs))
    ]
    return pd.DataFrame(values, columns=["task", "cell", "replicate", "sweep", "value"])


def variance_components(values: pd.DataFrame) -> dict:
    """The two levels of repetition, as Kalibera & Jones (2013) measure them once: ``values`` has
    columns cell, replicate (the process), sweep and value (a log ratio). ``within`` is the
    variance between sweeps inside one process (pooled over every cell's processes), ``between``
    the process's own (the variance of the process means, less what within/S explains; 0 when
    chance explains it all), ``sweeps`` S the harmonic mean of sweeps per process."""
    per_process = values.groupby(["cell", "replicate"])["value"].agg(["mean", "var", "count"])
    inner = per_process[per_process["count"] >= 2]
    within = float(((inner["count"] - 1) * inner["var"]).sum() / (inner["count"] - 1).sum()) if len(inner) else np.nan
    means = per_process.groupby(level="cell")["mean"].agg(["var", "count"])
    means = means[means["count"] >= 2]
    spread = float(((means["count"] - 1) * means["var"]).sum() / (means["count"] - 1).sum()) if len(means) else np.nan
    sweeps = float(len(per_process) / (1 / per_process["count"]).sum()) if len(per_process) else np.nan
    inner_share = within / sweeps if np.isfinite(within) else 0.0
    between = max(0.0, spread - inner_share) if np.isfinite(spread) else np.nan
    swept = inner.index.get_level_values("cell").nunique()  # cells with two sweeps in a process
    return {
        "within": within,
        "between": between,
        "process_means": spread,
        "sweeps": sweeps,
        "cells": len(means),
        "swept_cells": swept,
    }


def sweeps_per_process(within: float, between: float, process_s: float, sweep_s: float, most: int = 8) -> int:
    """Kalibera & Jones's optimum of the inner level: the sweeps per process that give the
    narrowest interval for the time spent, sqrt(c_process σ²_within / (c_sweep σ²_between)),
    rounded, at least 1 and at most ``most`` (a process that adds nothing of its own gets ``most``;
    a level that was not measured, 1)."""
    if not (np.isfinite(within) and np.isfinite(between) and process_s > 0 and sweep_s > 0):
        return 1  # a level not measured: no case for more sweeps than the pilot's
    if not between > 0:
        return most
    return int(min(most, max(1, round(math.sqrt(process_s * within / (sweep_s * between))))))
