"""Which rows a run times, and in what order: rounds, a shuffled order from a recorded seed, shards.

Every (configuration, backend) pair is timed ``rounds`` times as separate rows. Configurations run
in a shuffled order; within one, each round times every backend once, in a freshly shuffled
order: a randomized block design, so that the drift of a shared machine falls on all backends
alike and each round's ratio compares rows measured seconds apart. ``--shard K/N`` keeps the
K-th of every N configurations (in the grid's fixed order), all its backends and rounds with it,
so every ratio is still measured within one process.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from .backends import Backend
from .config import Config


class Case(NamedTuple):
    config: Config
    backend: Backend
    round: int

    @property
    def id(self) -> str:
        return f"{self.config.id}-{self.backend.name}-r{self.round}"


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


def plan(configs: list[Config], backends: list[Backend], rounds: int, seed: int,
         shard: tuple[int, int] | None = None) -> list[Case]:  # fmt: skip
    rng = random.Random(seed)
    order = shard_configs(configs, shard)
    rng.shuffle(order)
    cases = []
    for config in order:
        for round_ in range(rounds):
            block = [Case(config, backend, round_) for backend in backends]
            rng.shuffle(block)
            cases += block
    return cases
