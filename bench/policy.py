"""One process policy for every library, applied before any timing and recorded with the results.

Threads:

- NumPy's BLAS: ``threadpoolctl.threadpool_limits`` (environment variables count only before load).
- PyTorch: ``torch.set_num_threads`` and one inter-op thread.
- JAX has no thread-count API: its CPU backend obeys the process's CPU affinity as it was when
  the backend started. So for fewer threads than cores, the affinity of the whole process is
  set first, before any JAX array exists, and every library then runs on those cores.

Memory: every pass returns fresh gradient arrays (l_k x l_{k-1} each). With glibc's defaults,
blocks of that size are mmap'ed and unmapped on every call, and on this kind of VM each fresh
page costs a fault: measured, 4 new 8 MiB arrays took 12.7 ms against 4 x 1.44 ms for the
products alone, and numpy-hadamard at width 256 (float64, depth 4) went from 3.95 ms to 1.50 ms
with freed memory kept for reuse. ``malloc="reuse"`` sets glibc's M_MMAP_THRESHOLD to its maximum
(32 MiB) and M_TRIM_THRESHOLD high, for the whole process, so every library reuses freed memory
as a long-running training loop would; ``malloc="default"`` leaves glibc as it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
from dataclasses import dataclass, field


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit
MALLOC_POLICIES = ("reuse", "default")


def apply_malloc(policy: str) -> str:
    """Set glibc's allocator policy for the process; returns what was applied."""
    if policy not in MALLOC_POLICIES:
        raise ValueError(f"--malloc: expected one of {list(MALLOC_POLICIES)}, got {policy!r}")
    if policy == "default":
        return "glibc defaults"
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return "unchanged (no glibc mallopt on this platform)"
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    if not ok:
        raise RuntimeError("mallopt refused M_MMAP_THRESHOLD/M_TRIM_THRESHOLD")
    return f"reuse freed memory: M_MMAP_THRESHOLD={MMAP_THRESHOLD_MAX}, M_TRIM_THRESHOLD={2**31 - 1}"


@dataclass
class ProcessPolicy:
    threads: int
    malloc: str = ""
    cores: list[int] = field(default_factory=list)
    blas: list[dict] = field(default_factory=list)
    torch_threads: int | None = None
    torch_interop_threads: int | None = None
    _limiter: object = None

    def describe(self) -> dict:
        return {
            "threads": self.threads,
            "malloc": self.malloc,
            "cpu_affinity": self.cores,
            "blas": self.blas,
            "torch_threads": self.torch_threads,
            "torch_interop_threads": self.torch_interop_threads,
            "jax": f"CPU affinity {self.cores} set before the JAX backend started",
            "env": {
                k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "OPENBLAS_", "MKL_", "XLA_"))
            },
        }


def apply(threads: int, malloc: str = "reuse") -> ProcessPolicy:
    """Pin the process to ``threads`` cores and every library to ``threads`` threads; verify.
    Then set the allocator policy."""
    cores = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(cores):
        raise ValueError(f"--threads: expected 1 to {len(cores)} (the cores this process may use), got {threads}")
    cores = cores[:threads]
    os.sched_setaffinity(0, cores)  # before JAX starts its backend: its thread pool follows it

    from threadpoolctl import threadpool_info, threadpool_limits

    policy = ProcessPolicy(threads, apply_malloc(malloc), cores)
    policy._limiter = threadpool_limits(threads, user_api="blas")  # kept alive for the session
    policy.blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    for info in policy.blas:
        if info["num_threads"] != threads:
            raise RuntimeError(f"BLAS {info['internal_api']} runs {info['num_threads']} threads, expected {threads}")

    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(threads)
        # Allowed once per process, before inter-op work; otherwise keep what is set.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
        policy.torch_threads = torch.get_num_threads()
        policy.torch_interop_threads = torch.get_num_interop_threads()
        if policy.torch_threads != threads:
            raise RuntimeError(f"torch runs {policy.torch_threads} threads, expected {threads}")
    return policy
