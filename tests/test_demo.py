"""The seed's demo runs end to end and writes its figure; the cross-framework one shows the
same curves for full batch and b = 1."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from bench import demo as framework_demo
from reference_impl import demo

from .conftest import load_framework

ROOT = Path(__file__).resolve().parents[1]


def printed_costs(out: str, first: int, last: int) -> tuple[float, float]:
    lines = [line.split() for line in out.splitlines() if line.strip().startswith("step")]
    costs = {int(words[1]): float(words[-1]) for words in lines}
    return costs[first], costs[last]


@pytest.mark.parametrize("batch_size", [[], ["--batch-size", "1"]], ids=["full", "b1"])
def test_demo_trains_and_writes_png(tmp_path, capsys, batch_size):
    out = tmp_path / "sine.png"
    assert demo.main(["--steps", "200", "--out", str(out), *batch_size]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))
    first, last = printed_costs(capsys.readouterr().out, 0, 199)
    assert last < 0.5 * first or batch_size  # b = 1: one sample's cost per step, not monotone


@pytest.mark.parametrize("batch_size", [[], ["--batch-size", "1"]], ids=["full", "b1"])
def test_framework_curves_coincide_with_the_reference(tmp_path, capsys, batch_size):
    load_framework("torch"), load_framework("jax")
    assert framework_demo.main(["--steps", "100", "--out", str(tmp_path / "all.png"), *batch_size]) == 0
    differences = [
        float(line.rsplit(":", 1)[1]) for line in capsys.readouterr().out.splitlines() if "max relative" in line
    ]
    assert len(differences) == 2 and max(differences) < 1e-9


def test_demo_rejects_bad_arguments(tmp_path):
    for bad in (["--lr", "-1"], ["--batch-size", "0"]):
        with pytest.raises(SystemExit) as info:
            demo.main([*bad, "--out", str(tmp_path / "x.png")])
        assert info.value.code == 2
    assert not (tmp_path / "x.png").exists()


def test_reference_impl_imports_only_numpy_and_itself():
    """The reference depends on NumPy alone (matplotlib only inside the demo's figure function)."""
    for path in (ROOT / "reference_impl").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in {"numpy", "reference_impl", "__future__"} or top in sys.stdlib_module_names or (
                    path.name == "demo.py" and top == "matplotlib"), f"{path.name} imports {name}"  # fmt: skip
