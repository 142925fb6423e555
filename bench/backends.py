"""The backend registry: every fact about a backend on its one entry.

Rules (as einops' backends): a framework is imported only when its backend is prepared; a
backend that was asked for and whose framework is missing is an error, one nobody asked for is
skipped with its reason. ``prepare`` does everything that must stay out of the timed region
(conversion to the framework's arrays, ``out=`` buffers, jit compilation); the returned ``run``
is the timed call and returns the framework's own results, which ``to_numpy`` converts
afterwards. A new backend is one entry in ``REGISTRY`` (and, for a new framework, one mirror
module in ``frameworks/``); the report, the nox sessions, the tests and README read it from here.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import reference_impl as ri

from . import frameworks
from .config import Problem

Arrays = list[tuple[np.ndarray, np.ndarray]]


class BackendUnavailable(RuntimeError):
    """The backend cannot run this row here (no C++ compiler, over its memory budget, ...)."""


@dataclass
class Prepared:
    run: Callable[[], object]  # the timed call: gradients, or every training step, finished (blocked on)
    to_numpy: Callable[[object], tuple[float, Arrays]]  # -> (cost, gradients) or (last cost, parameters)
    forward: Callable[[], object] | None = None  # the cost alone, timed separately (gradient task)
    compile_s: float | None = None  # ahead-of-time compilation, where the backend compiles
    peak_bytes: int | None = None  # the backend's own memory account, where it has one
    peak_method: str | None = None


@dataclass(frozen=True)
class Backend:
    name: str
    framework: str  # "numpy", or the extra (and mirror module) it needs: "torch", "jax"
    method: str  # how the gradient is obtained, in words
    gradient: Callable[[Problem, dict], Prepared] | None  # None: no gradient-task form
    train: Callable[[Problem, dict], Prepared] | None  # None: no training form
    reference: bool = False  # the one every other backend is compared with
    eager: str | None = None  # the eager backend this compiled one replaces (compile break-even)
    manual: str | None = None  # the same framework without autodiff (the autograd tax)
    max_width: int | None = None  # beyond it too slow to be worth timing (op-by-op dispatch)
    opt_in: bool = False  # run only when named in --backends

    def skip_reason(self, config) -> str | None:
        if (self.gradient if config.task == "gradient" else self.train) is None:
            return f"{self.name} has no {config.task} form"
        if self.max_width is not None and config.width > self.max_width:
            return f"{self.name} runs only widths <= {self.max_width} (op-by-op dispatch makes larger ones slow)"
        return None


# ----------------------------------------------------------------------------------------- numpy


def _numpy_gradient(variant: str):
    def prepare(problem: Problem, options: dict) -> Prepared:
        params, x, t, activation = problem.params, problem.x, problem.t, problem.config.activation
        out = [(np.empty_like(W), np.empty_like(b)) for W, b in params]  # reused, as a hot loop does

        def run():
            return ri.gradients(params, x, t, activation=activation, variant=variant, out=out,
                                memory_budget=options["diag_budget_bytes"])  # fmt: skip

        def forward():
            residual = ri.forward(params, x, activation=activation) - t
            return float(np.vdot(residual, residual)) / (2 * x.shape[1])

        try:
            run()  # the library's own guard: a diag configuration over the budget is refused here
        except ri.MemoryBudgetError as exc:
            raise BackendUnavailable(str(exc)) from None
        return Prepared(run, lambda result: result, forward)

    return prepare


def _numpy_train(variant: str):
    def prepare(problem: Problem, options: dict) -> Prepared:
        c = problem.config

        def run():
            return ri.train(problem.params, problem.x, problem.t, steps=c.steps, lr=c.lr, clip=c.clip,
                            activation=c.activation, variant=variant, batch_size=c.batch_size,
                            memory_budget=options["diag_budget_bytes"])  # fmt: skip

        return Prepared(run, lambda result: (float(result[1][-1]), result[0]))

    return prepare


# ---------------------------------------------------------------------------------- torch and jax


def _framework_gradient(framework: str, manual: bool = False, jit: bool = True):
    def prepare(problem: Problem, options: dict) -> Prepared:
        mirror = frameworks.load(framework)
        p, x, t, activation = problem.params, problem.x, problem.t, problem.config.activation
        extra = {} if framework == "torch" else {"jit": jit}
        start = time.perf_counter()
        run = mirror.gradient_function(p, x, t, activation, manual=manual, **extra)
        compile_s = time.perf_counter() - start if framework == "jax" and jit else None  # the gradient's compile alone
        forward = mirror.forward_function(p, x, t, activation, **extra)
        peak = getattr(run, "peak_bytes", None)  # JAX: the compiled program's own memory account
        return Prepared(
            run, mirror.to_numpy, forward, compile_s, peak, "jax compiled memory_analysis" if peak else None
        )

    return prepare


def _framework_train(framework: str, manual: bool = False, whole_loop: bool = False):
    def prepare(problem: Problem, options: dict) -> Prepared:
        mirror = frameworks.load(framework)
        c = problem.config
        extra = {"whole_loop": whole_loop} if framework == "jax" else {}
        start = time.perf_counter()
        run = mirror.training_function(problem.params, problem.x, problem.t, c.steps, c.lr, c.clip, c.activation,
                                       problem.indices(), manual=manual, **extra)  # fmt: skip
        compile_s = time.perf_counter() - start if framework == "jax" else None

        def to_numpy(result):
            params, history = result
            return float(history[-1]), [(np.asarray(W), np.asarray(b)) for W, b in params]

        return Prepared(run, to_numpy, compile_s=compile_s)

    return prepare


def _torch_compile(problem: Problem, options: dict) -> Prepared:
    torch_mlp = frameworks.load("torch")
    import torch

    params, x, t = torch_mlp.to_tensors(problem.params, problem.x, problem.t)
    flat = [p for layer in params for p in layer]
    names = frameworks.activation_names(problem.config.activation, len(params))
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
    compile_s = time.perf_counter() - start
    forward = torch_mlp.forward_function(problem.params, problem.x, problem.t, problem.config.activation)
    return Prepared(run, torch_mlp.to_numpy, forward, compile_s)


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("numpy-hadamard", "numpy", "matrix calculus, Hadamard product (reference_impl)",
                _numpy_gradient("hadamard"), _numpy_train("hadamard"), reference=True),
        Backend("numpy-diag", "numpy", "matrix calculus, explicit diagonal Jacobians (reference_impl)",
                _numpy_gradient("diag"), _numpy_train("diag")),
        Backend("torch", "torch", "eager autograd", _framework_gradient("torch"), _framework_train("torch"),
                manual="torch-manual"),
        Backend("torch-manual", "torch", "the seed's equations in torch ops, eager, no autograd",
                _framework_gradient("torch", manual=True), _framework_train("torch", manual=True)),
        Backend("jax", "jax", "jax.jit of jax.value_and_grad (training: one jitted step per iteration)",
                _framework_gradient("jax"), _framework_train("jax"), eager="jax-eager", manual="jax-manual"),
        Backend("jax-manual", "jax", "the seed's equations in jax.numpy, jit, no jax.grad",
                _framework_gradient("jax", manual=True), _framework_train("jax", manual=True)),
        Backend("jax-eager", "jax", "jax.value_and_grad op by op, no jit",
                _framework_gradient("jax", jit=False), None, max_width=256),
        Backend("jax-scan", "jax", "the whole SGD loop in one jitted lax.scan",
                None, _framework_train("jax", whole_loop=True), eager="jax"),
        Backend("torch-compile", "torch", "torch.compile of the cost, autograd", _torch_compile, None,
                eager="torch", opt_in=True),
    )
}  # fmt: skip
REFERENCE = next(b.name for b in REGISTRY.values() if b.reference)


def framework_missing(backend: Backend) -> str | None:
    """Why the backend cannot run here, or None."""
    if backend.framework == "numpy":
        return None
    try:
        frameworks.load(backend.framework)
    except frameworks.FrameworkMissing as exc:
        return str(exc)
    return None


def framework_not_installed(backend: Backend) -> str | None:
    """Whether the framework's package is installed at all, found without importing it (cheap at configure)."""
    if backend.framework == "numpy" or importlib.util.find_spec(backend.framework) is not None:
        return None
    return f"{backend.framework} is not installed: pip install -e '.[{backend.framework}]'"


def select(names: str | None) -> list[Backend]:
    """``--backends a,b`` -> backends; None -> every backend that is not opt-in."""
    if names is None:
        return [b for b in REGISTRY.values() if not b.opt_in]
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown or not chosen:
        raise ValueError(f"--backends: unknown backend(s) {unknown or names!r}, expected names from {list(REGISTRY)}")
    return [REGISTRY[name] for name in dict.fromkeys(chosen)]
