"""The FLOP model of a pass, its matrix-multiply floor, and the machine's peak.

A gradient pass needs, per layer k (n_in = l_{k-1}, n_out = l_k, batch d):
  forward   W[k] @ y[k-1]            (n_out, n_in) x (n_in, d)       2 d n_in n_out
  eq. (2)   delta @ y[k-1]^T         (n_out, d) x (d, n_in)          2 d n_in n_out
  eq. (1)   W[k]^T @ delta, k > 1    (n_in, n_out) x (n_out, d)      2 d n_in n_out
so 6 d sum(n_in n_out) - 2 d n0 n1 in all (no input gradient for layer 1), and the forward pass
alone 2 d sum(n_in n_out): the model's gradient / forward ratio is (3L - 1) / L for a square
network. Elementwise work is O(d n) per layer and is left out: it matters only at tiny widths.

The floor of a gradient row is the time of exactly its products, operands stored as the pass
stores them, each timed alone in every installed library (NumPy in both orientations of the
product, torch, XLA), the best block of calls (``bench.harness.timing``), and the fastest library taken: no correct
backend can run well below it. (Training rows have none: a whole loop compiled into one XLA
program pays no per-call overhead, which the products timed one call at a time include.) The
peak is the best GFLOP/s of a large square product.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import itertools
from collections.abc import Callable

import numpy as np

from ..suite.grids import Config
from . import timing


def gemm_shapes(config: Config, forward_only: bool = False) -> list[tuple[int, int, int, bool, bool]]:
    """Every matrix product of one pass: (m, k, n, a transposed, b transposed), an (m, k) times a
    (k, n) whose operands are stored as the pass stores them (W is (n_out, n_in), y is (n, d))."""
    d = config.batch if config.batch_size is None else config.batch_size
    shapes = []
    for layer, (n_in, n_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:]), start=1):
        shapes.append((n_out, n_in, d, False, False))  # forward: W[k] @ y[k-1]
        if not forward_only:
            shapes.append((n_out, d, n_in, False, True))  # equation (2): delta @ y[k-1]^T
            if layer > 1:
                shapes.append((n_in, n_out, d, True, False))  # equation (1): W[k]^T @ delta
    return shapes


# Products per layer of the R-operator's passes (reference_impl's hadamard.tangents and r_backward), each
# 2 d n_in n_out: JVP = forward, V_W y[k-1], W R{y[k-1]} (none for layer 1: R{y[0]} = 0); HVP = those, (2) and
# (1) as the gradient has them, R{(2)}'s two products and R{(1)}'s two (layer 1: R{delta} y[0]^T alone).
SECOND_ORDER_PRODUCTS = {"jvp": (2, 3), "hvp": (4, 9)}  # (layer 1, every later layer)


def pass_flops(config: Config, forward_only: bool = False) -> int:
    """FLOPs of one pass; a training row runs ``steps`` of them."""
    if config.task in SECOND_ORDER_PRODUCTS and not forward_only:
        first, later = SECOND_ORDER_PRODUCTS[config.task]
        pairs = list(itertools.pairwise(config.sizes))
        return sum(2 * config.batch * a * b * (first if k == 0 else later) for k, (a, b) in enumerate(pairs))
    flops = sum(2 * m * k * n for m, k, n, *_ in gemm_shapes(config, forward_only))
    if config.task == "per-sample" and not forward_only:  # every sample's outer products: d x P multiplications
        sizes = config.sizes
        flops += config.batch * sum(a * b for a, b in itertools.pairwise(sizes))
    return flops * (config.steps if config.task == "train" else 1)


def model_grad_over_forward(config: Config) -> float:
    """The model's ratio of the row's pass to its base pass: gradient or JVP over the forward pass,
    HVP over the gradient (Pearlmutter's bound is against it)."""
    if config.task == "hvp":
        return pass_flops(config) / pass_flops(dataclasses.replace(config, task="gradient"))
    return pass_flops(config) / pass_flops(config, forward_only=True)


def _operands(shape, dtype):
    """a and b stored as the pass stores them: (k, m) where a is used transposed, (n, k) for b."""
    m, k, n, trans_a, trans_b = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, trans_a, trans_b


def _numpy_products(a, b, trans_a, trans_b) -> dict[str, Callable[[], object]]:
    a, b = (a.T if trans_a else a), (b.T if trans_b else b)  # views: BLAS reads them transposed
    out, out_t = np.empty((a.shape[0], b.shape[1]), a.dtype), np.empty((b.shape[1], a.shape[0]), a.dtype)
    return {
        "numpy": lambda: np.matmul(a, b, out=out),
        "numpy (transposed)": lambda: np.matmul(b.T, a.T, out=out_t),  # the same numbers, (b^T a^T)^T
    }


def _torch_products(a, b, trans_a, trans_b) -> dict[str, Callable[[], object]]:
    import torch

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ta, tb = (ta.T if trans_a else ta), (tb.T if trans_b else tb)
    out = torch.empty(ta.shape[0], tb.shape[1], dtype=ta.dtype)
    return {"torch": lambda: torch.mm(ta, tb, out=out)}


def _xla_products(a, b, trans_a, trans_b) -> dict[str, Callable[[], object]]:
    from ..suite.frameworks import load

    load("jax")  # float64 enabled before the first array
    import jax

    ja, jb = jax.device_put(a), jax.device_put(b)
    product = jax.jit(lambda a, b: (a.T if trans_a else a) @ (b.T if trans_b else b)).lower(ja, jb).compile()
    return {"xla": lambda: jax.block_until_ready(product(ja, jb))}


LIBRARIES = {"numpy": _numpy_products, "torch": _torch_products, "jax": _xla_products}


def installed_libraries() -> list[str]:
    return [name for name in LIBRARIES if importlib.util.find_spec(name) is not None]


@functools.cache
def best_product_time(shape: tuple, dtype: str, min_time: float) -> tuple[float, str]:
    """Fastest time of one product over the installed libraries, and which: the best block of
    repeated calls (a floor is what the hardware allows, so the least disturbed block counts)."""
    operands = _operands(shape, dtype)
    times = {}
    for library in installed_libraries():
        for name, call in LIBRARIES[library](*operands).items():
            times[name] = min(timing.sample(call, min_time))
    best = min(times, key=times.get)
    return times[best], best.split(" ")[0]


def floor_seconds(config: Config, min_time: float = 0.05) -> tuple[float, str]:
    """The gradient pass's matrix-multiply floor (all its products) and the libraries that supplied it."""
    parts = [best_product_time(shape, config.dtype, min_time) for shape in gemm_shapes(config)]
    return sum(t for t, _ in parts), "+".join(sorted({source for _, source in parts}))


@functools.cache
def peak_gflops(dtype: str, n: int, min_time: float = 0.15) -> tuple[float, str]:
    """The machine's GFLOP/s for an n x n product: the best installed library."""
    seconds, source = best_product_time((n, n, n, False, False), dtype, min_time)
    return 2 * n**3 / seconds / 1e9, source
