"""Framework loading for the cross-checks: skip a missing framework, unless it is required.

REQUIRE_BACKENDS (comma-separated, e.g. ``torch,jax``; CI sets it) turns a missing framework
from a skip into a failure, so a broken install can never pass as "skipped".
"""

from __future__ import annotations

import os

import pytest

from bench.suite import frameworks
from bench.suite.registry import REGISTRY


def required_frameworks() -> set[str]:
    return {name.strip() for name in os.environ.get("REQUIRE_BACKENDS", "").split(",") if name.strip()}


def load_framework(name: str):
    try:
        return frameworks.load(name)
    except frameworks.FrameworkMissing as exc:
        if name in required_frameworks():
            pytest.fail(f"{exc} (required by REQUIRE_BACKENDS)")
        pytest.skip(str(exc))


# numpy is the reference itself; Opacus and BackPACK compute per-sample gradients only (their batch
# gradient is torch's own, cross-checked as torch)
BATCH_FRAMEWORKS = sorted({b.framework for b in REGISTRY.values() if "gradient" in b.tasks} - {"numpy"})


@pytest.fixture(params=BATCH_FRAMEWORKS)
def framework(request):
    """Each framework's mirror module with a batch gradient of its own (``bench.suite.frameworks``'s
    torch_mlp, jax_mlp, ...)."""
    return load_framework(request.param)
