"""The seed's demo runs end to end and writes its figure; the cross-framework one shows the
same curves for full batch and b = 1."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from bench.suite import demo as framework_demo
from bench.suite import frameworks
from reference_impl import demo

from .conftest import load_framework

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("batch_size", [[], ["--batch-size", "1"]], ids=["full", "b1"])
def test_demo_trains_and_writes_png(tmp_path, capsys, batch_size):
    out = tmp_path / "sine.png"
    assert demo.main(["--steps", "200", "--out", str(out), *batch_size]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))
    # b = 1: a step's cost is one sample's and goes up and down; the fit on all samples must improve.
    (before, after), *_ = re.findall(
        r"cost on all 64 samples: ([\d.]+) before, ([\d.]+) after", capsys.readouterr().out
    )
    assert float(after) < 0.5 * float(before)


@pytest.mark.parametrize("batch_size", [[], ["--batch-size", "1"]], ids=["full", "b1"])
def test_framework_curves_coincide_with_the_reference(tmp_path, capsys, batch_size):
    others = [load_framework(name) for name in sorted(set(frameworks.FRAMEWORKS) - {"numpy"})]
    assert framework_demo.main(["--steps", "100", "--out", str(tmp_path / "all.png"), *batch_size]) == 0
    differences = [
        float(line.rsplit(":", 1)[1]) for line in capsys.readouterr().out.splitlines() if "max relative" in line
    ]
    assert len(differences) == len(others) and max(differences) < 1e-9


def test_the_b1_figure_never_overwrites_the_full_batch_one():
    assert demo.default_figure(None) != demo.default_figure(1)
    assert demo.default_figure(1).name == "sine-fit-b1.png"


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
                assert (
                    top in {"numpy", "reference_impl", "__future__"}
                    or top in sys.stdlib_module_names
                    or (path.name == "demo.py" and top == "matplotlib")
                ), f"{path.name} imports {name}"
