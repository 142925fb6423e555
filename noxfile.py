"""Sessions per backend: ``nox -l`` lists them, extra arguments go to pytest (``nox -s "tests(torch)" -- -x``).

The backends, their frameworks and extras come from the registry's static facts
(``bench/suite/registry.py``, plain data that imports nothing): a new backend needs no edit here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # nox's own environment has no NumPy: registry.py needs none
from bench.suite.registry import FRAMEWORKS, REFERENCE, REGISTRY

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["tests(all)", "lint"]

EXTRAS = sorted(f.extra for f in FRAMEWORKS.values() if f.extra)
# Each framework's tests alone (cross-checks of the others skip themselves), NumPy alone, and all.
TEST_SETS = {"numpy": [], **{extra: [extra] for extra in EXTRAS}, "all": EXTRAS}
BENCH_BACKENDS = [name for name, b in REGISTRY.items() if not b.reference]  # opt-in ones too: named, they run


@nox.session(python="3.11")
@nox.parametrize("frameworks", list(TEST_SETS.values()), ids=list(TEST_SETS))
def tests(session: nox.Session, frameworks: list[str]) -> None:
    """Correctness tests with these frameworks installed (all: every cross-check)."""
    session.install("-e", f".[{','.join(['test', 'bench', *frameworks])}]")
    session.run("pytest", *session.posargs, env={"REQUIRE_BACKENDS": ",".join(frameworks)})


@nox.session(python="3.11", name="bench")
def bench_all(session: nox.Session) -> None:
    """Every backend in one run: the fair comparison (default grid; tables, page and plots under results/)."""
    session.install("-e", ".[all]")
    session.run("pytest", "--benchmark-only", "--grid", "default", *session.posargs)


@nox.session(python="3.11", name="bench-backend", default=False)
@nox.parametrize("backend", BENCH_BACKENDS, ids=BENCH_BACKENDS)
def bench_backend(session: nox.Session, backend: str) -> None:
    """One backend against the numpy-hadamard reference."""
    extra = FRAMEWORKS[REGISTRY[backend].framework].extra
    session.install("-e", f".[bench{',' + extra if extra else ''}]")
    session.run(
        "pytest", "--benchmark-only", "--grid", "default", "--backends", f"{REFERENCE},{backend}", *session.posargs
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
