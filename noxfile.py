"""Sessions per backend: ``nox -l`` lists them, extra arguments go to pytest (``nox -s "tests(torch)" -- -x``).

The backends, their frameworks and extras come from the registry (``bench/backends.py``): a new
backend needs no edit here. The registry is read without importing it, since the environment
nox itself runs in need not have NumPy.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import nox


def read_registry() -> dict[str, SimpleNamespace]:
    """name -> (framework, reference): the literal arguments of every ``Backend(...)`` entry."""
    entries = {}
    for node in ast.walk(ast.parse(Path(__file__).with_name("bench").joinpath("backends.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Backend":
            name, framework = (arg.value for arg in node.args[:2])
            reference = any(k.arg == "reference" and k.value.value for k in node.keywords)
            entries[name] = SimpleNamespace(framework=framework, reference=reference)
    return entries


REGISTRY = read_registry()

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["tests(all)", "lint"]

FRAMEWORKS = sorted({b.framework for b in REGISTRY.values()} - {"numpy"})
# Each framework's tests alone (cross-checks of the others skip themselves), NumPy alone, and all.
TEST_SETS = {"numpy": [], **{name: [name] for name in FRAMEWORKS}, "all": FRAMEWORKS}
BENCH_BACKENDS = [name for name, b in REGISTRY.items() if not b.reference]


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
    framework = REGISTRY[backend].framework
    session.install("-e", f".[bench{'' if framework == 'numpy' else ',' + framework}]")
    reference = next(name for name, b in REGISTRY.items() if b.reference)
    session.run(
        "pytest", "--benchmark-only", "--grid", "default", "--backends", f"{reference},{backend}", *session.posargs
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
