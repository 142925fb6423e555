"""The backend registry: name -> how to prepare a function computing the cost and all gradients.

Rules (as einops' backends): a framework is imported only when its backend is prepared; a
backend that was asked for and whose framework is missing is an error, one nobody asked for is
skipped with its reason. ``prepare`` does everything that must stay out of the timed region
(conversion to the framework's arrays, jit compilation); the returned ``run`` is the timed call
and returns the framework's own results, which ``to_numpy`` converts afterwards.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import reference_impl as ri

from . import frameworks
from .config import ACTIVATION, Config, Problem

Grads = list[tuple[np.ndarray, np.ndarray]]


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (e.g. torch.compile without a working C++ compiler)."""


@dataclass
class Prepared:
    run: Callable[[], object]  # the timed call: cost and every gradient, finished (blocked on)
    to_numpy: Callable[[object], tuple[float, Grads]]
    compile_s: float | None = None  # ahead-of-time compilation, where the backend compiles
    peak_bytes: int | None = None  # the backend's own memory account, where it has one


@dataclass(frozen=True)
class Backend:
    name: str
    variant: str  # how the gradient is obtained: hadamard, diag, autograd, jit, eager, compile
    framework: str | None  # the package it needs beyond NumPy
    prepare: Callable[[Problem], Prepared]
    max_width: int | None = None  # beyond it the backend is too slow to be worth timing
    opt_in: bool = False  # run only when named in --backends

    def skip_reason(self, config: Config, diag_budget_bytes: int) -> str | None:
        if self.max_width is not None and config.width > self.max_width:
            return f"{self.name} runs only widths <= {self.max_width} (op-by-op dispatch makes larger ones slow)"
        if self.variant == "diag":
            need = ri.diag.memory_need_bytes(config.sizes, config.batch, np.dtype(config.dtype))
            if need > diag_budget_bytes:
                return (
                    f"needs {need / 2**30:.1f} GiB for diagonal Jacobians, budget {diag_budget_bytes / 2**30:.1f} GiB"
                )
        return None


def _numpy(variant: str) -> Callable[[Problem], Prepared]:
    def prepare(problem: Problem) -> Prepared:
        # The public API, as a user calls it: validation included, no private fast path. The diag
        # memory budget was applied by skip_reason (--diag-budget-gib); the library's own default
        # budget must not refuse what the user allowed, hence no limit here.
        def run():
            return ri.gradients(problem.params, problem.x, problem.t, activation=ACTIVATION, variant=variant,
                                memory_budget=2**62)  # fmt: skip

        return Prepared(run, lambda result: result)

    return prepare


def _torch(problem: Problem) -> Prepared:
    torch_mlp = frameworks.load("torch")
    return Prepared(torch_mlp.gradient_function(problem.params, problem.x, problem.t, ACTIVATION), torch_mlp.to_numpy)


def _torch_compile(problem: Problem) -> Prepared:
    torch_mlp = frameworks.load("torch")
    import torch

    params, x, t = torch_mlp.to_tensors(problem.params, problem.x, problem.t)
    flat = [p for layer in params for p in layer]
    names = torch_mlp.activation_names(ACTIVATION, len(params))
    compiled_cost = None

    def run():
        c = compiled_cost(params, x, t)
        return c, torch.autograd.grad(c, flat)

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # torch's compiler stack imports its own deprecated APIs
            warnings.simplefilter("ignore", DeprecationWarning)
            compiled_cost = torch.compile(lambda params, x, t: torch_mlp.cost(params, x, t, names), dynamic=False)
            run()  # torch.compile compiles on the first call (forward and backward graphs)
    except Exception as exc:  # inductor needs a working C++ toolchain; say why, don't crash the run
        raise BackendUnavailable(f"torch.compile does not work here: {type(exc).__name__}: {exc}"[:300]) from exc
    return Prepared(run, torch_mlp.to_numpy, compile_s=time.perf_counter() - start)


def _jax(jit: bool) -> Callable[[Problem], Prepared]:
    def prepare(problem: Problem) -> Prepared:
        jax_mlp = frameworks.load("jax")
        import jax

        args = jax_mlp.to_device(problem.params, problem.x, problem.t)
        f = jax_mlp.value_and_grad(jax_mlp.activation_names(ACTIVATION, len(problem.params)))
        if not jit:
            return Prepared(lambda: jax.block_until_ready(f(*args)), jax_mlp.to_numpy)
        start = time.perf_counter()
        compiled = jax.jit(f).lower(*args).compile()
        compile_s = time.perf_counter() - start
        memory = compiled.memory_analysis()
        peak = None
        if memory is not None:
            peak = (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
                    - memory.alias_size_in_bytes)  # fmt: skip
        return Prepared(lambda: jax.block_until_ready(compiled(*args)), jax_mlp.to_numpy, compile_s, peak)

    return prepare


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("numpy-hadamard", "hadamard", None, _numpy("hadamard")),
        Backend("numpy-diag", "diag", None, _numpy("diag")),
        Backend("torch", "autograd", "torch", _torch),
        Backend("jax", "jit", "jax", _jax(jit=True)),
        Backend("jax-eager", "eager", "jax", _jax(jit=False), max_width=256),
        Backend("torch-compile", "compile", "torch", _torch_compile, opt_in=True),
    )
}
REFERENCE = "numpy-hadamard"


def framework_missing(backend: Backend) -> str | None:
    """Why the backend cannot run here, or None."""
    if backend.framework is None:
        return None
    try:
        frameworks.load(backend.framework)
    except frameworks.FrameworkMissing as exc:
        return str(exc)
    return None


def select(names: str | None) -> list[Backend]:
    """``--backends a,b`` -> backends; None -> every backend that is not opt-in."""
    if names is None:
        return [b for b in REGISTRY.values() if not b.opt_in]
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown or not chosen:
        raise ValueError(f"--backends: unknown backend(s) {unknown or names!r}, expected names from {list(REGISTRY)}")
    return [REGISTRY[name] for name in dict.fromkeys(chosen)]
