"""The same MLP, cost and SGD written in each framework, for cross-checks and benchmarks.

Every mirror module follows one interface, ``Framework`` below: parameters, data and targets in
the seed's layout (a batch as columns), the cost C = 1/(2d) sum_i ||t_i - y[L](s_i)||^2, the
seed's optional clipping of every dC/dy[k], and two ways to the gradients: the framework's
autodiff, and the seed's three equations written in the framework's ops (``manual=True``). A new
framework is one module here plus its name in ``FRAMEWORKS``. Modules are imported only when
used; ``load(name)`` says clearly when a framework is not installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Protocol

import numpy as np

FRAMEWORKS = {"torch": "bench.frameworks.torch_mlp", "jax": "bench.frameworks.jax_mlp"}

Grads = list[tuple[np.ndarray, np.ndarray]]


class Framework(Protocol):
    """What the registry, the tests and the demo use of a mirror module."""

    # name -> (sigma, its derivative written through y = sigma(z)), exactly the reference's names
    ACTIVATIONS: Mapping[str, tuple[Callable, Callable]]

    def gradient_function(self, params, x, t, activation, clip=None, manual=False) -> Callable[[], object]:
        """A no-argument call returning the framework's (cost, gradients); inputs converted once."""

    def forward_function(self, params, x, t, activation) -> Callable[[], object]:
        """A no-argument call returning the cost alone (no gradient bookkeeping)."""

    def to_numpy(self, result) -> tuple[float, Grads]: ...

    def gradients(self, params, x, t, activation="tanh", clip=None, manual=False) -> tuple[float, Grads]:
        """Cost and gradients as NumPy, in the reference's format."""

    def training_function(self, params, x, t, steps, lr, clip, activation, indices, manual=False) -> Callable:
        """A no-argument call running ``steps`` SGD steps from ``params`` (on the batches ``indices``,
        None for full batch) and returning (final parameters, cost history) as the framework's arrays."""

    def train(self, params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False,
              seed=0, manual=False) -> tuple[Grads, np.ndarray]:  # fmt: skip
        """``reference_impl.train`` in the framework: (new parameters, cost history) as NumPy."""


class FrameworkMissing(ImportError):
    """A framework's package is not installed."""


def load(name: str) -> ModuleType:
    if name not in FRAMEWORKS:
        raise ValueError(f"framework: unknown name {name!r}, expected one of {sorted(FRAMEWORKS)}")
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise FrameworkMissing(f"{name} is not installed (pip install -e '.[{name}]'): {exc}") from exc
    return importlib.import_module(FRAMEWORKS[name])


def activation_names(activation: str | Sequence[str], depth: int) -> tuple[str, ...]:
    return (activation,) * depth if isinstance(activation, str) else tuple(activation)


def stream_indices(samples: int, steps: int, batch_size: int | None, shuffle: bool, seed: int):
    """The reference's sample stream as a (steps, b) array, or None for full batch."""
    import reference_impl as ri

    return None if batch_size is None else ri.batch_indices(samples, batch_size, steps, shuffle, seed)
