"""The same MLP, cost and SGD written in each framework, for cross-checks and benchmarks.

Every mirror module follows one interface, ``Framework`` below: parameters, data and targets in
the seed's layout (a batch as columns), the cost C = 1/(2d) sum_i ||t_i - y[L](s_i)||^2, the
seed's optional clipping of every dC/dy[k], and its ``FORMS``: the ways it gets the gradients
(its autodiff, the seed's three equations written in its ops, jitted or not, ...). A module owns
everything that differs between frameworks (conversion, compilation and its timing, blocking on
asynchronous results), so the registry needs no branch on a framework's name. Modules are
imported only when used; ``load(name)`` says clearly when a framework is not installed.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

from ..registry import FRAMEWORKS

Grads = list[tuple[np.ndarray, np.ndarray]]


class BackendUnavailable(RuntimeError):
    """The backend cannot run this row here (no C++ compiler, over its memory budget, ...)."""


@dataclass
class Prepared:
    """A backend made ready for one configuration: everything slow happened before this exists."""

    run: Callable[[], object]  # the timed call: gradients, or every training step, finished (blocked on)
    to_numpy: Callable[[object], tuple[float, Grads]]  # -> (cost, gradients) or (last cost, parameters)
    forward: Callable[[], object] | None = None  # the cost alone, timed with the same protocol (gradient task)
    compile_s: float | None = None  # making the timed call ready, where the backend compiles (see compile_runs)
    compiled_bytes: int | None = None  # the compiled program's own memory account (XLA), where it has one
    traced_call: Callable[[], object] | None = None  # NumPy-based: one call from cold buffers, for tracemalloc
    # Where a framework cannot compile without running (tf.function, torch.compile: the first call traces,
    # compiles and executes), how many timed calls' worth of execution compile_s includes: the row subtracts
    # that many steady medians, so compile_s means the same for every framework (JAX compiles ahead: 0).
    compile_runs: float = 0.0


class Framework(Protocol):
    """What the registry, the tests and the demo use of a mirror module."""

    # name -> (sigma, its derivative written through y = sigma(z)), exactly the reference's names
    ACTIVATIONS: Mapping[str, tuple[Callable, Callable]]
    FORMS: Mapping[str, str]  # form -> what it is, in words

    def prepare(self, task: str, form: str, problem, options: Mapping) -> Prepared:
        """``task`` "gradient" or "train" of ``problem`` (a ``bench.suite.grids.Problem``) in ``form``:
        inputs converted and everything compiled here, outside the timed call."""

    def gradients(self, params, x, t, activation="tanh", clip=None, form="autodiff") -> tuple[float, Grads]:
        """Cost and gradients as NumPy, in the reference's format."""

    def train(
        self,
        params,
        x,
        t,
        steps,
        lr,
        clip=None,
        activation="tanh",
        batch_size=None,
        shuffle=False,
        seed=0,
        form="autodiff",
    ) -> tuple[Grads, np.ndarray]:
        """``reference_impl.train`` in the framework: (new parameters, cost history) as NumPy."""


class FrameworkMissing(ImportError):
    """A framework's package is not installed."""


def load(name: str) -> ModuleType:
    if name not in FRAMEWORKS:
        raise ValueError(f"framework: unknown name {name!r}, expected one of {sorted(FRAMEWORKS)}")
    info = FRAMEWORKS[name]
    try:  # the mirror module imports its framework itself (after any setting it needs first)
        return importlib.import_module(info.module)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in (info.imports, "scipy"):  # a bug of ours, not a missing package
            raise
        raise FrameworkMissing(f"{name} is not installed (pip install -e '.[{info.extra}]'): {exc}") from exc


def activation_names(activation: str | Sequence[str], depth: int) -> tuple[str, ...]:
    return (activation,) * depth if isinstance(activation, str) else tuple(activation)


def stream_indices(samples: int, steps: int, batch_size: int | None, shuffle: bool, seed: int):
    """The reference's sample stream as a (steps, b) array, or None for full batch."""
    import reference_impl as ri

    return None if batch_size is None else ri.batch_indices(samples, batch_size, steps, shuffle, seed)


def timed(make: Callable[[], object]) -> tuple[object, float]:
    """(make(), its wall time): a compile step, measured where it happens."""
    start = time.perf_counter()
    made = make()
    return made, time.perf_counter() - start


def check_form(module_forms: Mapping[str, str], form: str, framework: str) -> None:
    if form not in module_forms:
        raise ValueError(f"form: {framework} has no form {form!r}, expected one of {sorted(module_forms)}")


def jvp_values(y, dy) -> tuple[float, Grads]:
    """A JVP row's values from NumPy-convertible y[L] and J v: [(y[L], J v)], checked like a gradient;
    its "cost" is ||J v||^2 / 2, a checksum of the product."""
    y, dy = np.asarray(y), np.asarray(dy)
    return 0.5 * float(np.vdot(dy, dy)), [(y, dy)]


def as_float_arrays(params) -> Grads:
    """Any framework's (W, b) pairs -> NumPy arrays."""
    return [(np.asarray(W), np.asarray(b)) for W, b in params]
