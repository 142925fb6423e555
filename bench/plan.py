"""Which rows a worker times, and in what order: replicates, a shuffled order from a recorded seed, shards.

A run is R replicates, each one worker process (``bench.runner``) that times every (configuration,
backend) row once. Each worker has its own order, drawn from the run's seed and its replicate
number: configurations shuffled, and within one, its backends shuffled (a randomized block
design: each ratio compares rows measured seconds apart, in the same process). ``--shard K/N``
keeps the K-th of every N configurations (in the grid's fixed order), all its backends with it.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from .config import Config
from .registry import Entry


class Case(NamedTuple):
    config: Config
    backend: Entry
    replicate: int  # the worker process (0 .. R-1) that times it

    @property
    def id(self) -> str:
        return f"{self.config.id}-{self.backend.name}-p{self.replicate}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` with 1 <= K <= N, or None."""
    if text is None:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected K/N with integers 1 <= K <= N, got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard: expected K/N with integers 1 <= K <= N, got {text!r}")
    return k, n


def shard_configs(configs: list[Config], shard: tuple[int, int] | None) -> list[Config]:
    if shard is None:
        return list(configs)
    k, n = shard
    return [config for index, config in enumerate(configs) if index % n == k - 1]


def plan(configs: list[Config], backends: list[Entry], seed: int, replicate: int = 0,
         shard: tuple[int, int] | None = None) -> list[Case]:  # fmt: skip
    """Every row once, in replicate ``replicate``'s own order."""
    rng = random.Random(f"{seed}/{replicate}")
    order = shard_configs(configs, shard)
    rng.shuffle(order)
    cases = []
    for config in order:
        block = [Case(config, backend, replicate) for backend in backends]
        rng.shuffle(block)
        cases += block
    return cases
