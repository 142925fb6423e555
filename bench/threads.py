"""One thread policy for every library, applied before any timing and recorded with the results.

- NumPy's BLAS: ``threadpoolctl.threadpool_limits`` (environment variables count only before load).
- PyTorch: ``torch.set_num_threads`` and one inter-op thread.
- JAX has no thread-count API: its CPU backend obeys the process's CPU affinity as it was when
  the backend started. So for fewer threads than cores, the affinity of the whole process is
  set first, before any JAX array exists, and every library then runs on those cores.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


@dataclass
class ThreadPolicy:
    threads: int
    cores: list[int] = field(default_factory=list)
    blas: list[dict] = field(default_factory=list)
    torch_threads: int | None = None
    torch_interop_threads: int | None = None
    _limiter: object = None

    def describe(self) -> dict:
        return {
            "threads": self.threads,
            "cpu_affinity": self.cores,
            "blas": self.blas,
            "torch_threads": self.torch_threads,
            "torch_interop_threads": self.torch_interop_threads,
            "jax": f"CPU affinity {self.cores} set before the JAX backend started",
            "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "OPENBLAS_", "MKL_", "XLA_"))},
        }


def apply(threads: int) -> ThreadPolicy:
    """Pin the process to ``threads`` cores and every library to ``threads`` threads; verify."""
    cores = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(cores):
        raise ValueError(f"--threads: expected 1 to {len(cores)} (the cores this process may use), got {threads}")
    cores = cores[:threads]
    os.sched_setaffinity(0, cores)  # before JAX starts its backend: its thread pool follows it

    from threadpoolctl import threadpool_info, threadpool_limits

    policy = ThreadPolicy(threads, cores)
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
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # allowed once per process, before inter-op work; keep what is set
            pass
        policy.torch_threads = torch.get_num_threads()
        policy.torch_interop_threads = torch.get_num_interop_threads()
        if policy.torch_threads != threads:
            raise RuntimeError(f"torch runs {policy.torch_threads} threads, expected {threads}")
    return policy
