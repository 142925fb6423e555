"""What a result must say about the machine it came from (pytest-benchmark's machine_info)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import socket

PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "jax",
    "jaxlib",
    "tensorflow-cpu",
    "tensorflow",
    "autograd",
    "numba",
    "llvmlite",
    "opacus",
    "backpack-for-pytorch",
    "torchvision",
    "pytest-benchmark",
    "pandas",
    "threadpoolctl",
)
# The instruction sets that decide which kernels the libraries pick (OpenBLAS's, oneDNN's, XLA's).
INSTRUCTION_SETS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_facts() -> dict:
    """Vendor, family, model, stepping, the instruction sets that matter, and memory, from /proc."""
    facts: dict = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in ("vendor_id", "cpu family", "model", "stepping") and key not in facts:
                    facts[key] = value
                elif key == "flags" and "instruction_sets" not in facts:
                    flags = set(value.split())
                    facts["instruction_sets"] = [name for name in INSTRUCTION_SETS if name in flags]
        with open("/proc/meminfo") as f:
            total_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        facts["memory_gib"] = round(total_kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {k.replace(" ", "_"): v for k, v in facts.items()}


def machine_line(bench: dict) -> str:
    """The machine as README and the summary quote it, from what the run recorded."""
    cpu = bench.get("cpu") or {}
    isa = ", ".join(cpu.get("instruction_sets", [])) or "–"
    return (
        f"{bench.get('cpu_model', '–')} (family {cpu.get('cpu_family', '–')} model {cpu.get('model', '–')}; {isa}), "
        f"{bench.get('cores', '–')} cores, {cpu.get('memory_gib', '–')} GiB"
    )


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


def framework_info(frameworks: set[str]) -> dict:
    """Thread pools, BLAS and dtype flags as torch and JAX report them, for the frameworks a run
    uses (a framework is imported only where one of its backends runs: a NumPy-only run's parent
    imports neither)."""
    info: dict = {}
    if frameworks & {"torch", "opacus", "backpack"}:  # Opacus and BackPACK run on torch
        try:
            import torch

            info["torch_parallel_info"] = torch.__config__.parallel_info()
            info["torch_flush_denormal"] = "off (never set by this suite)"
        except ImportError:
            pass
    if "jax" in frameworks:
        try:
            from ..suite.frameworks import load

            load("jax")  # as the suite uses it: float64 enabled by its mirror module
            import jax

            info["jax_backend"] = jax.default_backend()
            info["jax_devices"] = [str(d) for d in jax.devices()]
            info["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
            info["jax_denormals"] = "XLA on CPU flushes denormals to zero"
        except ImportError:  # FrameworkMissing is one
            pass
    return info


def describe(frameworks: set[str]) -> dict:
    """The machine, the library versions, and what the run's ``frameworks`` report of themselves."""
    return {
        "cpu_model": cpu_model(),
        "cpu": cpu_facts(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "versions": versions(),
        **framework_info(frameworks),
    }
