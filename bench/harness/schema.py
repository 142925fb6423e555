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
    # Every sample's gradient, and their clipped mean: the same sums as the batch gradient's, one sample at a time.
    ("per-sample", "float64"): 1e-10,
    ("per-sample", "float32"): 1e-4,
    ("clipped", "float64"): 1e-10,
    ("clipped", "float32"): 1e-4,
    # Forward mode ([y, J v]) and the Hessian times a vector: sums of the gradient's length, twice over.
    ("jvp", "float64"): 1e-10,
    ("jvp", "float32"): 1e-4,
    ("hvp", "float64"): 1e-10,
    ("hvp", "float32"): 1e-4,
    ("train", "float64"): 1e-9,
    ("train", "float32"): 1e-3,
}


def tolerance(task: str, dtype) -> float:
    return TOLERANCE[(task, np.dtype(dtype).name)]


def relative_error(values, reference) -> float:
    """max |values - reference| / max |reference| over all arrays: the error on the values' own scale."""
    worst, scale = 0.0, np.finfo(np.float64).tiny
    for layer, expected in zip(values, reference, strict=True):
        for v, r in zip(layer, expected, strict=True):
            diff = np.subtract(v, r, dtype=np.float64)  # one temporary, whatever the sizes (per-sample: d x P)
            np.abs(diff, out=diff)
            worst, scale = max(worst, float(diff.max())), max(scale, float(np.max(np.abs(r))))
    return worst / scale


OUTCOMES = ("ok", "incorrect", "error", "timeout", "skipped")  # of a cell in one replicate (GradBench's spirit)


@dataclass
class Row:
    """What a timed row records beyond pytest-benchmark's statistics (seconds, bytes). Facts of the
    whole run (order seed, threads, the backends' relations) are in its metadata, said once."""

    task: str  # gradient | train | per-sample | clipped | jvp | hvp
    config: str  # the configuration's id (Config.id): the report never parses it out of names
    backend: str
    network: str  # square | seed
    width: int
    depth: int
    batch: int  # samples d
    dtype: str
    activation: str
    replicate: int  # 0 .. R-1: the worker process that timed it (the pilot's, then the second stage's)
    outcome: str  # ok | incorrect: above its tolerance (timed and kept, the run fails at the end)
    flops: int  # FLOP model: one pass (gradient) or all steps (train)
    rel_err: float  # see the module docstring
    tolerance: float
    cost: float  # the cost (gradient) or the last step's cost (train)
    cpu_util: float  # CPU time / wall time over the timed loop: busy threads
    order_seed: int | None = None  # the run's seed its worker's order was drawn from (bench.suite.plan)
    position: int | None = None  # its place in that order: --order-seed reproduces it
    steps: int | None = None  # train
    batch_size: int | None = None  # train: None is full batch
    per_step_s: float | None = None  # train: median / steps
    # gradient, jvp: median time of the cost alone (same timer as the row's); hvp: of the backend's own gradient
    forward_s: float | None = None
    grad_over_forward: float | None = None  # median / forward_s in this process: J/F, JVP/F, HVP/gradient
    model_grad_over_forward: float | None = None  # the FLOP model's J/F, (3L - 1) / L
    floor_s: float | None = None  # the fastest installed library's GEMMs for the row's products (replicate 0)
    floor_source: str | None = None  # which library supplied them
    peak_gflops: float | None = None  # the machine's peak for the dtype (large square product, replicate 0)
    peak_source: str | None = None
    # Making the timed call ready without running it: JAX's lower and compile; where a framework cannot
    # separate them (tf.function, torch.compile: the first call traces, compiles and runs), that first
    # call less the row's steady median; numba's @njit compiles ahead too, timed once per signature in
    # a fresh process with an empty cache. First replicate only: it starts from empty compile caches
    # (the run's own folder), and the later ones load them.
    compile_s: float | None = None
    first_call_s: float | None = None  # the first call of the ready callable, after prepare; first replicate only
    traced_bytes: int | None = None  # NumPy-based: tracemalloc peak of one call from a cold workspace, outputs included
    compiled_bytes: int | None = None  # XLA's memory_analysis of the compiled program (arguments, outputs, temporaries)
    rss_peak_bytes: int | None = None  # kernel peak-RSS mark over the timed calls, above the RSS before them
    faults_per_call: float | None = None  # minor page faults per timed call (fresh pages mapped by the kernel)
    library: str | None = None  # whose kernels and thread pools compute it (rows of one library run back to back)
    sweep: int | None = None  # with several sweeps: the one the row kept (its fastest, runner.combine_sweeps)
    sweep_medians: list | None = None  # each sweep's median, in sweep order
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
