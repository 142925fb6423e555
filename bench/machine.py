"""What a result must say about the machine it came from (pytest-benchmark's machine_info)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import socket

PACKAGES = ("numpy", "torch", "jax", "jaxlib", "pytest-benchmark", "pandas", "threadpoolctl")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_tag() -> str:
    """A short tag for run ids: CPU model and core count, e.g. ``amd-epyc-2c``."""
    model = re.sub(r"\((r|tm)\)|cpu|processor|@.*", "", cpu_model().lower())
    words = re.findall(r"[a-z0-9]+", model)[:3]
    return "-".join([*words, f"{os.cpu_count()}c"])


def versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def framework_info() -> dict:
    """Thread pools, BLAS and dtype flags as each framework reports them (imports only what exists)."""
    info: dict = {}
    try:
        import torch

        info["torch_parallel_info"] = torch.__config__.parallel_info()
        info["torch_flush_denormal"] = "off (never set by this suite)"
    except ImportError:
        pass
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
        info["jax_denormals"] = "XLA on CPU flushes denormals to zero"
    except ImportError:
        pass
    return info


def describe() -> dict:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "versions": versions(),
        **framework_info(),
    }
