"""Buffers a pass reuses from one call to the next, so that a hot loop allocates nothing large.

With glibc's default allocator every freed array above 128 KiB-32 MiB goes back to the system
and the next call faults its pages in again: numpy-hadamard at width 256 (float64, depth 4,
batch 64) took 2.5 ms with fresh temporaries in a plain process against 0.84 ms with the
allocator retuned. A library must not need its users to retune their process, so the pass keeps
its temporaries (layer outputs, activation derivatives, dC/dy) here instead.

Only temporaries live here: results handed to the caller (gradients, ``forward``'s output) are
fresh arrays or the caller's own ``out`` arrays, never a buffer that the next call overwrites.
The cache is per thread (threads never share buffers) and keeps the last few shapes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

KEEP = 4  # shapes kept per thread: a benchmark or a training loop alternates between few
_local = threading.local()


@dataclass
class Workspace:
    """Buffers for one network shape, batch and dtype; index k is layer k (index 0 unused)."""

    y: list[np.ndarray | None]  # y[k], (l_k, d): the forward pass writes z and then sigma(z) here
    nabla_sigma: list[np.ndarray | None]  # the diagonal of nabla_sigma[k] per sample, (l_k, d)
    dC_dy_T: list[np.ndarray | None]  # (dC/dy[k])^T, (l_k, d): one column per sample, y[k]'s layout
    ones: np.ndarray  # (d,): summing over samples is a product with it
    tangent: Tangents | None = None  # the R-operator's buffers (``hvp``), made on its first use

    @classmethod
    def allocate(cls, sizes: tuple[int, ...], batch: int, dtype: np.dtype) -> Workspace:
        def per_layer() -> list[np.ndarray | None]:
            return [None] + [np.empty((width, batch), dtype) for width in sizes[1:]]

        return cls(y=per_layer(), nabla_sigma=per_layer(), dC_dy_T=per_layer(), ones=np.ones(batch, dtype))

    def tangents(self, sizes: list[int]) -> Tangents:
        """The forward tangents' and the R-backward pass's buffers for widths ``sizes``, made on first use."""
        if self.tangent is None:
            shapes = [y.shape for y in self.y[1:]]
            per_layer = lambda: [None] + [np.empty(shape, self.ones.dtype) for shape in shapes]  # noqa: E731
            self.tangent = Tangents(
                R_z=per_layer(),
                R_y=per_layer(),
                nabla2_sigma=per_layer(),
                R_dC_dy_T=per_layer(),
                scratch=per_layer(),
                weight_scratch=[None]
                + [np.empty((rows, cols), self.ones.dtype) for rows, cols in zip(sizes[1:], sizes[:-1])],
            )
        return self.tangent


@dataclass
class Tangents:
    """The R-operator's buffers; index k is layer k, R{.} the directional derivative along the vector."""

    R_z: list[np.ndarray | None]  # R{z[k]}, (l_k, d): the pre-activation's tangent
    R_y: list[np.ndarray | None]  # R{y[k]}, (l_k, d)
    nabla2_sigma: list[np.ndarray | None]  # the diagonal of nabla^2 sigma[k] per sample, (l_k, d)
    R_dC_dy_T: list[np.ndarray | None]  # R{dC/dy[k]}^T, (l_k, d)
    scratch: list[np.ndarray | None]  # (l_k, d): a product's partial sum
    weight_scratch: list[np.ndarray | None]  # (l_k, l_{k-1}): a weight-shaped partial sum


def get_workspace(sizes: tuple[int, ...], batch: int, dtype: np.dtype) -> Workspace:
    """This thread's buffers for the shape, made on first use."""
    cache: OrderedDict = _local.__dict__.setdefault("cache", OrderedDict())
    key = (sizes, batch, dtype)
    if key in cache:
        cache.move_to_end(key)
    else:
        cache[key] = Workspace.allocate(sizes, batch, dtype)
        if len(cache) > KEEP:
            cache.popitem(last=False)
    return cache[key]


def clear() -> None:
    """Drop this thread's buffers: the next pass allocates them again (a cold start, as measured
    by the benchmarks' memory column)."""
    _local.__dict__.get("cache", OrderedDict()).clear()
