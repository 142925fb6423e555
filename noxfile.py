"""Sessions per backend: ``nox -l`` lists them, extra arguments go to pytest (``nox -s tests-torch -- -x``)."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["tests(all)", "lint"]

# The extras in pyproject.toml a backend needs, and the frameworks its tests must find.
BACKENDS = {
    "numpy": ([], ""),  # cross-checks skip themselves; the reference's own tests run
    "torch": (["torch"], "torch"),
    "jax": (["jax"], "jax"),
    "all": (["torch", "jax"], "torch,jax"),
}
BENCH_BACKENDS = ["numpy-diag", "torch", "jax", "jax-eager"]


@nox.session(python="3.11")
@nox.parametrize("backend", list(BACKENDS), ids=list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """Correctness tests with one backend's framework installed (all: every cross-check)."""
    extras, required = BACKENDS[backend]
    session.install("-e", f".[{','.join(['test', 'bench', *extras])}]")
    session.run("pytest", *session.posargs, env={"REQUIRE_BACKENDS": required})


@nox.session(python="3.11", name="bench")
def bench_all(session: nox.Session) -> None:
    """Every backend in one run: the fair comparison (default grid; tables and plots under results/)."""
    session.install("-e", ".[all]")
    session.run("pytest", "--benchmark-only", "--grid", "default", *session.posargs)


@nox.session(python="3.11", name="bench-backend", default=False)
@nox.parametrize("backend", BENCH_BACKENDS, ids=BENCH_BACKENDS)
def bench_backend(session: nox.Session, backend: str) -> None:
    """One backend against the numpy-hadamard reference."""
    extras = {"torch": "torch", "jax": "jax", "jax-eager": "jax"}.get(backend)
    session.install("-e", f".[bench{',' + extras if extras else ''}]")
    session.run(
        "pytest", "--benchmark-only", "--grid", "default", "--backends", f"numpy-hadamard,{backend}", *session.posargs
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
