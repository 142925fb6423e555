"""One row of a run: the ``extra_info`` every benchmark writes, the report validates on loading,
and the tests assert; and the one tolerance table for its error.

The error of a row is max|v - v_ref| / max|v_ref| over all arrays, against float64
``numpy-hadamard`` on exactly the row's numbers: v is the gradients (task ``gradient``) or the
parameters after training (task ``train``). A row above its tolerance fails: fast and wrong never
passes unnoticed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Measured across libraries: gradients agree to ~1e-15 (float64) and ~1e-6 (float32) for these
# unit-scale networks; the bounds leave room for depth-16 sums and float32's shorter mantissa.
# Training compounds per-step rounding: 200-3000 steps of the seed's network drift by < 1e-12
# between float64 libraries (worst 3e-16 in the default grid); float32 against the float64
# trajectory reached 9e-7 after 200 steps, and the bound leaves room for the full grid's 3000.
TOLERANCE = {
    ("gradient", "float64"): 1e-10,
    ("gradient", "float32"): 1e-4,
    ("train", "float64"): 1e-9,
    ("train", "float32"): 1e-3,
}


def tolerance(task: str, dtype) -> float:
    return TOLERANCE[(task, np.dtype(dtype).name)]


def relative_error(values, reference) -> float:
    """max |values - reference| / max |reference| over all arrays: the error on the values' own scale."""
    v = np.concatenate([np.ravel(a).astype(np.float64) for layer in values for a in layer])
    r = np.concatenate([np.ravel(a).astype(np.float64) for layer in reference for a in layer])
    return float(np.max(np.abs(v - r)) / max(np.max(np.abs(r)), np.finfo(np.float64).tiny))


@dataclass
class Row:
    """What a benchmark row records beyond pytest-benchmark's statistics (seconds, bytes)."""

    task: str  # gradient | train
    backend: str
    method: str  # how the backend gets its gradients, from the registry
    framework: str  # numpy | torch | jax
    network: str  # square | seed
    width: int
    depth: int
    batch: int  # samples d
    dtype: str
    activation: str
    threads: int
    round: int  # 0 .. R-1: the row's repetition (--rounds)
    order_seed: int  # the seed of the shuffled row order (--order-seed)
    flops: int  # FLOP model: one pass (gradient) or all steps (train)
    rel_err: float  # see the module docstring
    tolerance: float
    cost: float  # the cost (gradient) or the last step's cost (train)
    cpu_util: float  # CPU time / wall time over the timed loop: busy threads
    steps: int | None = None  # train
    batch_size: int | None = None  # train: None is full batch
    per_step_s: float | None = None  # train: median / steps
    forward_s: float | None = None  # gradient: median time of the cost alone
    grad_over_forward: float | None = None  # gradient: median / forward_s (J/F)
    model_grad_over_forward: float | None = None  # the FLOP model's J/F, (3L - 1) / L
    floor_s: float | None = None  # the fastest installed library's GEMMs for the row's products
    floor_source: str | None = None  # which library supplied them
    peak_gflops: float | None = None  # the machine's peak for the dtype (large square product)
    peak_source: str | None = None
    compile_s: float | None = None
    first_call_s: float | None = None
    peak_bytes: int | None = None  # the backend's own memory account, where it has one
    peak_method: str | None = None
    rss_peak_bytes: int | None = None  # peak RSS above the RSS before the backend's work
    isolated_median_s: float | None = None  # --isolate: the same row in a fresh process
    isolated_rss_peak_bytes: int | None = None
    isolated_options: dict | None = None  # the child's pytest-benchmark options, as it ran

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def required(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def missing_fields(extra_info: dict) -> list[str]:
    """Required fields a saved row lacks (a run of another tool, or of an older schema)."""
    return [name for name in Row.required() if name not in extra_info]
