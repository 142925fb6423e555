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


def make_problem(config: Config, seed: int = 0) -> Problem:
    dtype = np.dtype(config.dtype)
    params = ri.init_params(config.sizes, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((config.width, config.batch)).astype(dtype)
    t = rng.uniform(-0.9, 0.9, (config.width, config.batch)).astype(dtype)
    return Problem(config, params, x, t)


def upcast(problem: Problem) -> Problem:
    """The same numbers in float64: the reference for a float32 row sees exactly its inputs."""
    as64 = lambda a: a.astype(np.float64)  # noqa: E731
    params = [(as64(W), as64(b)) for W, b in problem.params]
    return Problem(problem.config, params, as64(problem.x), as64(problem.t))
