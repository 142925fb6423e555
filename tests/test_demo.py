"""The seed's demo runs end to end and writes its figure."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from reference_impl import demo


def test_demo_trains_and_writes_png(tmp_path, capsys):
    out = tmp_path / "sine.png"
    assert demo.main(["--steps", "200", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))
    printed = capsys.readouterr().out
    first, last = (
        float(line.split()[-1])
        for line in printed.splitlines()
        if line.strip().startswith("step") and line.split()[1] in {"0", "199"}
    )
    assert last < 0.5 * first


def test_demo_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit) as info:
        demo.main(["--lr", "-1", "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    assert not (tmp_path / "x.png").exists()
