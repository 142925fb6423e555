"""bench/ shows its pipeline: three stage folders, imports that only run down it, and README's
layout section listing exactly the modules there are, each under its stage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("suite", "harness", "report")  # in pipeline order: each may import only the ones before it


def _imported(path: Path, root: Path) -> set[str]:
    """Every bench module a file imports, module level or inside a function, as an absolute name."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("bench.")}


def upward_imports(root: Path) -> list[str]:
    """Imports from a stage to a later one, or to the plugin and the tasks above every stage."""
    found = []
    for rank, stage in enumerate(STAGES):
        allowed = STAGES[: rank + 1]
        for path in sorted((root / "bench" / stage).rglob("*.py")):
            for module in sorted(_imported(path, root)):
                if module.split(".")[1] not in allowed:
                    found.append(f"{path.relative_to(root)} imports {module}")
    return found


def test_imports_run_only_down_the_pipeline():
    assert not upward_imports(ROOT)


def test_the_import_check_sees_upward_imports(tmp_path):
    """It fails on a stage-1 module that imports a later stage, lazily or not, or the plugin."""
    (tmp_path / "bench" / "suite").mkdir(parents=True)
    (tmp_path / "bench" / "suite" / "bad.py").write_text(
        "from .grids import Config\nfrom .. import plugin\n\n\ndef f():\n    from ..report import tables\n"
        "    from bench.harness.runner import run\n"
    )
    assert upward_imports(tmp_path) == [
        "bench/suite/bad.py imports bench.harness.runner.run",
        "bench/suite/bad.py imports bench.plugin",
        "bench/suite/bad.py imports bench.report.tables",
    ]


def _layout_section() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    return block.splitlines()


def test_readme_layout_lists_every_module_under_its_stage():
    """Under each stage's heading (``  suite/``), the names README lists are the folder's files."""
    listed: dict[str, set[str]] = {stage: set() for stage in STAGES}
    stage = None
    for line in _layout_section():
        indent = len(line) - len(line.lstrip())
        if indent <= 2:  # a top-level folder or a module of bench/'s root, or a stage heading
            heading = re.match(r"^  (\w+)/\s", line)
            stage = heading.group(1) if heading and heading.group(1) in STAGES else None
        elif stage:
            listed[stage] |= set(re.findall(r"\b\w+\.py|(?<!\S)\w+/", line))
    for stage in STAGES:
        folder = ROOT / "bench" / stage
        present = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        present |= {f"{p.name}/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
        assert listed[stage] == present, (stage, sorted(listed[stage] ^ present))


def test_bench_root_holds_only_the_entry_and_the_tasks():
    """A module at bench/'s root belongs to no stage: only pytest's entry and the tasks it collects."""
    root = {p.name for p in (ROOT / "bench").glob("*.py")} - {"__init__.py", "plugin.py"}
    assert root and all(name.startswith("bench_") for name in root), root
    folders = {p.name for p in (ROOT / "bench").iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert folders == set(STAGES)


# Inside the report: reading a run, the numbers (estimation: no formatting), the formatting, the
# summary's sections (none imports another), the page, the package's write_report, the verbs.
REPORT_LAYERS = (
    {"load"},
    {"context"},
    {"ratios", "tables", "prose"},
    {"sections", "training", "per_sample", "second_order", "stability", "plots"},
    {"html"},
    {"__init__"},
    {"agree", "compare", "merge", "validate"},
    {"__main__"},
)


def sideways_imports(root: Path) -> list[str]:
    """Report modules importing one of their own layer or a later one."""
    rank = {name: i for i, layer in enumerate(REPORT_LAYERS) for name in layer}
    found = []
    for path in sorted((root / "bench" / "report").glob("*.py")):
        for module in sorted(_imported(path, root)):
            parts = module.split(".")
            if parts[:2] != ["bench", "report"]:
                continue
            target = parts[2] if len(parts) > 2 and parts[2] in rank else "__init__"  # a name of the package itself
            if rank[target] >= rank[path.stem]:
                found.append(f"{path.relative_to(root)} imports {module}")
    return found


def test_the_report_is_layered():
    assert not sideways_imports(ROOT)
    assert set().union(*REPORT_LAYERS) == {p.stem for p in (ROOT / "bench" / "report").glob("*.py")}


def test_the_layer_check_sees_a_section_importing_a_section(tmp_path):
    (tmp_path / "bench" / "report").mkdir(parents=True)
    (tmp_path / "bench" / "report" / "training.py").write_text("from .sections import speedup_cell\n")
    (tmp_path / "bench" / "report" / "ratios.py").write_text("from .tables import fmt_ratio\n")
    assert sideways_imports(tmp_path) == [
        "bench/report/ratios.py imports bench.report.tables.fmt_ratio",
        "bench/report/training.py imports bench.report.sections.speedup_cell",
    ]
