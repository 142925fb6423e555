"""Benchmark configurations and the named grids that ``--grid`` chooses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

import reference_impl as ri

ACTIVATION = "tanh"  # the seed's activation, on every layer


@dataclass(frozen=True, order=True)
class Config:
    """A square MLP: ``depth`` layers of ``width`` units (input and output width too), batch ``batch``."""

    dtype: str
    depth: int
    width: int
    batch: int

    @property
    def sizes(self) -> list[int]:
        return [self.width] * (self.depth + 1)

    @property
    def id(self) -> str:
        return f"w{self.width}-L{self.depth}-d{self.batch}-{self.dtype}"


@dataclass(frozen=True)
class Grid:
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    batches: tuple[int, ...]
    dtypes: tuple[str, ...] = ("float64", "float32")

    def configs(self) -> list[Config]:
        """Sorted by dtype, depth, width, batch: neighbours in a run differ in one parameter."""
        return sorted(
            Config(dtype, depth, width, batch)
            for width, depth, batch, dtype in itertools.product(self.widths, self.depths, self.batches, self.dtypes)
        )


GRIDS = {
    "smoke": Grid(widths=(16, 64), depths=(2,), batches=(16,)),
    "default": Grid(widths=(16, 64, 256, 1024), depths=(2, 4, 8), batches=(64,)),
    "full": Grid(widths=(16, 64, 256, 1024, 2048, 4096), depths=(2, 4, 8, 16), batches=(1, 64, 256)),
}


@dataclass
class Problem:
    """Parameters, inputs and targets of a configuration, the same for every backend."""

    config: Config
    params: list[tuple[np.ndarray, np.ndarray]]
    x: np.ndarray
    t: np.ndarray


def make_data(sizes: list[int], batch: int, dtype, seed: int = 0):
    """Parameters, inputs and targets: unit-scale data, so pre-activations stay far below 20
    (where torch's softplus switches to the identity)."""
    params = ri.init_params(sizes, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((sizes[0], batch)).astype(dtype)
    t = rng.uniform(-0.9, 0.9, (sizes[-1], batch)).astype(dtype)
    return params, x, t


def make_problem(config: Config, seed: int = 0) -> Problem:
    return Problem(config, *make_data(config.sizes, config.batch, np.dtype(config.dtype), seed))


def relative_error(grads, reference) -> float:
    """max |grads - reference| / max |reference| over all arrays: the error on the gradient's own scale."""
    g = np.concatenate([np.ravel(a).astype(np.float64) for layer in grads for a in layer])
    r = np.concatenate([np.ravel(a).astype(np.float64) for layer in reference for a in layer])
    return float(np.max(np.abs(g - r)) / max(np.max(np.abs(r)), np.finfo(np.float64).tiny))


def upcast(problem: Problem) -> Problem:
    """The same numbers in float64: the reference for a float32 row sees exactly its inputs."""
    as64 = lambda a: a.astype(np.float64)  # noqa: E731
    params = [(as64(W), as64(b)) for W, b in problem.params]
    return Problem(problem.config, params, as64(problem.x), as64(problem.t))
