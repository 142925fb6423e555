"""The backend registry made runnable: an entry of ``bench.suite.registry`` prepared through its
framework's mirror module.

Rules (as einops' backends): a framework is imported only when its backend is prepared; a
backend that was asked for and whose framework is missing is an error, one nobody asked for is
skipped with its reason. ``prepare`` does everything that must stay out of the timed region
(conversion to the framework's arrays, ``out=`` buffers, compilation); the returned ``run`` is
the timed call and returns the framework's own results, which ``to_numpy`` converts afterwards.
Everything that differs between frameworks lives in their mirror modules: nothing here branches
on a framework's name.
"""

from __future__ import annotations

import importlib.util

from . import frameworks
from .frameworks import BackendUnavailable, Prepared
from .grids import Problem
from .registry import FRAMEWORKS, GOLDEN, REFERENCE, REGISTRY, Entry

Backend = Entry  # a registry entry is everything the suite knows of a backend

__all__ = ["GOLDEN", "REFERENCE", "REGISTRY", "Backend", "BackendUnavailable", "Prepared", "prepare", "select"]


def prepare(backend: Backend, task: str, problem: Problem, options: dict) -> Prepared:
    """The backend's timed call (and forward pass, compile time) for ``problem``'s configuration."""
    return frameworks.load(backend.framework).prepare(task, backend.form, problem, options)


def framework_missing(backend: Backend) -> str | None:
    """Why the backend cannot run here (its framework fails to import), or None."""
    try:
        frameworks.load(backend.framework)
    except frameworks.FrameworkMissing as exc:
        return str(exc)
    return None


def framework_not_installed(backend: Backend) -> str | None:
    """Whether the framework's package is installed at all, found without importing it (cheap at configure)."""
    info = FRAMEWORKS[backend.framework]
    if importlib.util.find_spec(info.imports) is not None:
        return None
    return f"{backend.framework} is not installed: pip install -e '.[{info.extra}]'"


def select(names: str | None, include_opt_in: bool = False) -> list[Backend]:
    """``--backends a,b`` -> backends; None -> every backend that is not opt-in (or every one)."""
    if names is None:
        return [b for b in REGISTRY.values() if include_opt_in or not b.opt_in]
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown or not chosen:
        raise ValueError(f"--backends: unknown backend(s) {unknown or names!r}, expected names from {list(REGISTRY)}")
    return [REGISTRY[name] for name in dict.fromkeys(chosen)]
