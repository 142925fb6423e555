"""Benchmark configurations, the named grids that ``--grid`` chooses, and the data of a row.

A configuration is everything a row's numbers depend on except the backend and the replicate: the
task (``gradient``: cost and all gradients; ``train``: SGD steps; ``per-sample``: every sample's
gradient; ``clipped``: DP-SGD's clipped mean gradient without noise), the network, the dtype, the
activation and, for training, the steps and the mini-batch size.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

import reference_impl as ri
from reference_impl import demo

SEED_SIZES = tuple(demo.SIZES)  # the seed's network, fitting 0.8 sin(x) on 64 samples
SEED_SAMPLES, SEED_LR, SEED_CLIP = demo.SAMPLES, demo.LR, demo.CLIP


@dataclass(frozen=True)
class Config:
    task: str  # "gradient", "train", "per-sample" or "clipped"
    dtype: str
    sizes: tuple[int, ...]  # [l0, l1, ..., lL]
    batch: int  # samples d in x
    activation: str = "tanh"
    steps: int = 0  # train: SGD steps per timed call
    batch_size: int | None = None  # train: None is full batch

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def width(self) -> int:
        """The widest layer (every layer of a square network)."""
        return max(self.sizes)

    @property
    def network(self) -> str:
        return "seed" if self.sizes == SEED_SIZES else "square"

    @property
    def id(self) -> str:
        net = "seed" if self.network == "seed" else f"w{self.width}-L{self.depth}"
        base = f"{net}-d{self.batch}-{self.dtype}-{self.activation}"
        if self.task == "gradient":
            return base
        if self.task in PER_SAMPLE_PREFIX:
            return f"{PER_SAMPLE_PREFIX[self.task]}-{base}"
        return f"train-{base}-b{self.batch_size or 'full'}-s{self.steps}"

    @property
    def lr(self) -> float:
        return SEED_LR

    @property
    def clip(self) -> float:
        return SEED_CLIP


PER_SAMPLE_PREFIX = {"per-sample": "ps", "clipped": "clip", "jvp": "jvp", "hvp": "hvp"}  # tasks on square networks
SECOND_ORDER = ("jvp", "hvp")  # forward mode and the Hessian-vector product, along Problem.vector


def square(task: str, dtype: str, width: int, depth: int, batch: int, **kwargs) -> Config:
    return Config(task, dtype, (width,) * (depth + 1), batch, **kwargs)


@dataclass(frozen=True)
class Grid:
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    batches: tuple[int, ...]
    train_widths: tuple[int, ...]  # square networks of depth 4, batch 64, full-batch SGD
    train_steps: int  # steps per timed call for the square networks
    seed_steps: int  # steps per timed call for the seed's network (full batch and b = 1)
    replicates: int  # default --replicates: the pilot, worker processes that each time every row
    sweeps: int  # times each worker times each row, tens of seconds apart (bench.suite.plan)
    row_time: float  # default --benchmark-max-time: seconds of timing per row and sweep
    peak_size: int  # n of the n x n product that measures the machine's peak
    budget_s: float  # default --budget: wall time of the benchmarking, the pilot and the second stage
    precision: float  # default --precision: the half-width the second stage aims for in every cell
    max_replicates: int  # replicates a cell may get in all
    per_sample_widths: tuple[int, ...] = ()  # per-sample and clipped: square networks of depth 4, batch 64
    per_sample_batches: tuple[int, ...] = ()  # and a batch sweep at width 256 (the loops' linear growth)
    second_order_widths: tuple[int, ...] = ()  # jvp and hvp: square networks of these widths, batch 64
    second_order_depths: tuple[int, ...] = (4,)
    dtypes: tuple[str, ...] = ("float64", "float32")

    def configs(self, activation: str = "tanh") -> list[Config]:
        """In a fixed order (task, dtype, network): the order --shard splits by."""
        gradient = [
            square("gradient", dtype, width, depth, batch, activation=activation)
            for dtype, depth, width, batch in itertools.product(self.dtypes, self.depths, self.widths, self.batches)
        ]
        train = [
            Config("train", dtype, SEED_SIZES, SEED_SAMPLES, activation, self.seed_steps, batch_size)
            for dtype in self.dtypes
            for batch_size in (None, 1)
        ] + [
            square("train", dtype, width, 4, 64, activation=activation, steps=self.train_steps)
            for dtype in self.dtypes
            for width in self.train_widths
        ]
        per_sample = [
            square(task, dtype, width, 4, batch, activation=activation)
            for task in ("per-sample", "clipped")
            for dtype in self.dtypes
            for width, batch in dict.fromkeys(
                [(w, 64) for w in self.per_sample_widths] + [(256, b) for b in self.per_sample_batches]
            )
        ]
        second_order = [
            square(task, dtype, width, depth, 64, activation=activation)
            for task in SECOND_ORDER
            for dtype in self.dtypes
            for depth in self.second_order_depths
            for width in self.second_order_widths
        ]
        return gradient + train + per_sample + second_order


GRIDS = {
    "smoke": Grid(
        widths=(16, 64),
        depths=(2,),
        batches=(16,),
        train_widths=(16,),
        train_steps=5,
        seed_steps=20,
        replicates=2,
        sweeps=2,
        row_time=0.05,
        peak_size=256,
        budget_s=60,
        precision=0.2,
        max_replicates=3,
        per_sample_widths=(16,),
        second_order_widths=(16,),
        second_order_depths=(2,),
    ),
    # default: every backend at widths 16-1024, depth 4; README's command within 10 minutes on 2 cores, installation
    # included, so the benchmarking has 7 minutes (--budget 420). A pilot of 2 processes in at most three quarters of
    # it (the first one's cold compiles not counted), each timing every row in up to 4 sweeps seconds to tens of
    # seconds apart: measured on a 2-core Zen 5 VM, a process costs 75-85 s warm (start-up, prepare, its first
    # sweep's warm-up) and a later sweep 12 s, so repetitions inside a process are the cheap ones (Kalibera & Jones),
    # and each row's fastest of 3 sweeps had a between-process SD of 0.028 against 0.081 from one. A worker drops
    # later sweeps to keep its share on a slower machine. Then processes for the cells that need more, in the rest.
    # full: 5 pilot processes of one sweep (a second sweep would hold several configurations' GB-sized copies).
    "default": Grid(
        widths=(16, 256, 1024),
        depths=(4,),
        batches=(64,),
        train_widths=(16, 256),
        train_steps=5,
        seed_steps=200,
        replicates=2,
        sweeps=4,
        row_time=0.015,
        peak_size=2048,
        budget_s=420,
        precision=0.08,
        max_replicates=30,
        per_sample_widths=(16, 256),
        second_order_widths=(16, 256),
    ),
    "full": Grid(
        widths=(16, 64, 256, 1024, 2048, 4096),
        depths=(2, 4, 8, 16),
        batches=(1, 64, 256),
        train_widths=(16, 64, 256, 1024, 2048),
        train_steps=10,
        seed_steps=3000,
        replicates=5,
        sweeps=1,
        row_time=0.5,
        peak_size=4096,
        budget_s=8 * 3600,
        precision=0.05,
        max_replicates=20,
        per_sample_widths=(16, 256, 1024),
        per_sample_batches=(16, 32, 64, 128, 256, 512),
        second_order_widths=(16, 64, 256, 1024, 2048, 4096),
        second_order_depths=(2, 4, 8, 16),
    ),
}


@dataclass
class Problem:
    """Parameters, inputs and targets of a configuration, the same for every backend."""

    config: Config
    params: list[tuple[np.ndarray, np.ndarray]]
    x: np.ndarray
    t: np.ndarray
    vector: list[tuple[np.ndarray, np.ndarray]] | None = None  # jvp, hvp: the direction in parameter space

    @functools.cached_property
    def max_norm(self) -> float:
        """DP-SGD's clipping norm C for the clipped task: the median of the samples' gradient norms
        (float64 reference), so that about half the samples are clipped; the same for every backend."""
        from reference_impl import hadamard
        from reference_impl.per_sample import ghost_norms
        from reference_impl.validation import check_activations
        from reference_impl.workspace import Workspace

        p = upcast(self)
        sizes = (p.x.shape[0], *(W.shape[0] for W, _ in p.params))
        work = Workspace.allocate(sizes, p.x.shape[1], p.x.dtype)
        activations = check_activations(self.config.activation, len(p.params))
        _, norms, _ = ghost_norms(p.params, p.x, p.t, activations, hadamard.deltas, None, work)
        return float(np.median(norms))

    def indices(self) -> np.ndarray | None:
        """The training batches: the reference's sample stream, (steps, b), or None (full batch)."""
        c = self.config
        return None if c.batch_size is None else ri.batch_indices(c.batch, c.batch_size, c.steps)


def make_data(sizes, batch: int, dtype, seed: int = 0):
    """Parameters, inputs and targets: unit-scale data, so pre-activations stay far below 20
    (where torch's softplus switches to the identity)."""
    params = ri.init_params(list(sizes), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((sizes[0], batch)).astype(dtype)
    t = rng.uniform(-0.9, 0.9, (sizes[-1], batch)).astype(dtype)
    return params, x, t


def sine_task(samples: int = SEED_SAMPLES, dtype=np.float64):
    """The seed's task (``reference_impl.demo``'s, x on [-pi, pi], t = 0.8 sin(x)) in ``dtype``."""
    x, t = demo.sine_task(samples)
    return x.astype(dtype), t.astype(dtype)


def direction(params, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """A unit-scale direction in parameter space, in the parameters' shapes and dtype (drawn in
    float64 and cast, as ``init_params`` draws)."""
    rng = np.random.default_rng(seed + 2)
    return [
        (rng.standard_normal(W.shape).astype(W.dtype), rng.standard_normal(b.shape).astype(b.dtype)) for W, b in params
    ]


def make_problem(config: Config, seed: int = 0) -> Problem:
    dtype = np.dtype(config.dtype)
    if config.network == "seed":
        return Problem(
            config, ri.init_params(list(config.sizes), seed=seed, dtype=dtype), *sine_task(config.batch, dtype)
        )
    problem = Problem(config, *make_data(config.sizes, config.batch, dtype, seed))
    if config.task in SECOND_ORDER:
        problem.vector = direction(problem.params, seed)
    return problem


def upcast(problem: Problem) -> Problem:
    """The same numbers in float64: the reference for a float32 row sees exactly its inputs."""
    as64 = lambda a: a.astype(np.float64)  # noqa: E731
    params = [(as64(W), as64(b)) for W, b in problem.params]
    vector = None if problem.vector is None else [(as64(V), as64(v)) for V, v in problem.vector]
    return Problem(problem.config, params, as64(problem.x), as64(problem.t), vector)
