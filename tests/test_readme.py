"""README's two commands are the ones CI and nox run: they must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command():
    ci_lines = [
        line
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "export ", "apt-get "))
    ]
    assert ci_lines == [readme_commands()[1]]


def test_readme_benchmark_command_runs_the_benchmarks():
    command = readme_commands()[0]
    assert "pytest --benchmark-only" in command and "pip install" in command


def test_readme_names_every_backend_of_the_registry():
    """README's option table lists the backends by hand: this keeps it equal to the registry."""
    from bench.backends import REGISTRY

    text = (ROOT / "README.md").read_text()
    missing = [name for name in REGISTRY if f"`{name}`" not in text]
    assert not missing, f"README.md does not name {missing}"
