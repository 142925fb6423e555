"""The FLOP model of one gradient pass and its matrix-multiply floor.

The pass needs, per layer k (n_in = l_{k-1}, n_out = l_k, batch d):
  forward   W[k] @ y[k-1]            (n_out, n_in) x (n_in, d)       2 d n_in n_out
  eq. (2)   rows^T @ y[k-1]^T        (n_out, d) x (d, n_in)          2 d n_in n_out
  eq. (1)   rows @ W[k], k > 1       (d, n_out) x (n_out, n_in)      2 d n_in n_out
so 6 d sum(n_in n_out) - 2 d n0 n1 in all (no input gradient for layer 1). Elementwise work is
O(d n) per layer and is left out: it matters only at tiny widths.
"""

from __future__ import annotations

import time

import numpy as np

from .config import Config


def gemm_shapes(config: Config) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product of the pass: an (m, k) times a (k, n)."""
    d = config.batch
    shapes = []
    for layer, (n_in, n_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:]), start=1):
        shapes.append((n_out, n_in, d))  # forward
        shapes.append((n_out, d, n_in))  # weight gradient, equation (2)
        if layer > 1:
            shapes.append((d, n_out, n_in))  # dC/dy[k-1], equation (1)
    return shapes


def pass_flops(config: Config) -> int:
    return sum(2 * m * k * n for m, k, n in gemm_shapes(config))


def matmul_floor_seconds(config: Config, min_time: float = 0.2, rounds: int = 7) -> float:
    """Median time of exactly the pass's matrix products in NumPy (shapes and dtype as used).

    Operands are allocated once and results go to preallocated ``out=`` arrays, so this is the
    time of the products alone: what a pass would cost with zero overhead around its GEMMs.
    """
    rng = np.random.default_rng(0)
    dtype = np.dtype(config.dtype)
    operands = [
        (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype), np.empty((m, n), dtype))
        for m, k, n in gemm_shapes(config)
    ]

    def products():
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    products()  # warm-up: BLAS threads started, pages touched
    start = time.perf_counter()
    products()
    once = max(time.perf_counter() - start, 1e-7)
    repeats = max(1, int(min_time / rounds / once))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            products()
        samples.append((time.perf_counter() - start) / repeats)
    return float(np.median(samples))
