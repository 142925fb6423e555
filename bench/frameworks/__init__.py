"""The same MLP, cost and SGD written in each framework, for cross-checks and benchmarks.

Each module mirrors ``reference_impl``: parameters, data and targets in the seed's layout (a batch
as columns), the cost C = 1/(2d) sum_i ||t_i - y[L](s_i)||^2, and the seed's optional clipping of
every dC/dy[k]. Modules are imported only when used; ``load(name)`` imports one and says clearly
when its framework is not installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FRAMEWORKS = {"torch": "bench.frameworks.torch_mlp", "jax": "bench.frameworks.jax_mlp"}


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
