"""Speed-ups against the reference with 95 % intervals, and the win/tie/loss call they support.

A speed-up is the reference's time over the backend's (above 1: the backend is faster). Each
round times both within seconds of each other, so the estimate is the median over rounds of the
per-round ratio of medians. Its interval comes from a two-level bootstrap: resample the rounds,
and within each drawn round resample both rows' timing samples; the 2.5th and 97.5th percentiles
of the resampled estimates bound it. The rounds carry the machine's drift and the samples the
noise within a row, so both widen the interval. Where it contains 1 the pair is a tie.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..registry import REFERENCE

RESAMPLES = 1000
LEVEL = 0.95


def _bootstrap_medians(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RESAMPLES medians of resamples (with replacement) of one row's timing samples."""
    draws = rng.integers(0, len(samples), size=(RESAMPLES, len(samples)))
    return np.median(samples[draws], axis=1)


def speedup_interval(
    reference: list[np.ndarray], backend: list[np.ndarray], seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high) from paired rounds of samples (reference[i] and backend[i] from round i)."""
    rng = np.random.default_rng(seed)
    point = float(np.median([np.median(r) / np.median(b) for r, b in zip(reference, backend)]))
    ratios = np.stack([_bootstrap_medians(r, rng) / _bootstrap_medians(b, rng) for r, b in zip(reference, backend)])
    rounds = rng.integers(0, len(reference), size=(RESAMPLES, len(reference)))
    estimates = np.median(ratios[rounds, np.arange(RESAMPLES)[:, None]], axis=1)
    low, high = np.quantile(estimates, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return point, float(low), float(high)


def call(low: float, high: float) -> str:
    """The backend against the reference: faster (win), slower (loss), or a tie."""
    return "win" if low > 1 else "loss" if high < 1 else "tie"


def speedups(df: pd.DataFrame, samples: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per (configuration, backend): speedup, low, high, call, rounds paired with the reference."""
    rows = []
    for config, part in df.groupby("config", sort=False):
        reference = part[part["backend"] == REFERENCE].set_index("round")["fullname"]
        for backend, rows_of in part.groupby("backend", sort=False):
            mine = rows_of.set_index("round")["fullname"]
            paired = sorted(set(mine.index) & set(reference.index))
            if not paired:
                continue
            point, low, high = speedup_interval(
                [samples[reference[r]] for r in paired], [samples[mine[r]] for r in paired]
            )
            rows.append({"config": config, "backend": backend, "speedup": point, "low": low, "high": high,
                         "call": "reference" if backend == REFERENCE else call(low, high), "paired_rounds": len(paired)})  # fmt: skip
    # The columns even when no row is paired with the reference (a run without it): no speed-ups, same table.
    return pd.DataFrame(rows, columns=["config", "backend", "speedup", "low", "high", "call", "paired_rounds"])


def fmt_speedup(point: float, low: float, high: float, is_tie: bool | None = None) -> str:
    if not np.isfinite(point):
        return "–"
    text = f"{point:.2f}× [{low:.2f}–{high:.2f}]"
    return f"{text} tie" if (low <= 1 <= high if is_tie is None else is_tie) else text


def tally(table: pd.DataFrame) -> pd.DataFrame:
    """Wins, ties and losses per backend against the reference, per task."""
    counted = table[table["call"] != "reference"]
    if counted.empty:
        return pd.DataFrame(columns=["backend", "win", "tie", "loss"])
    return counted.pivot_table(index="backend", columns="call", values="speedup", aggfunc="size", fill_value=0).reindex(
        columns=["win", "tie", "loss"], fill_value=0
    )
