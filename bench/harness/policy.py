"""One process policy for every library, applied before any timing and recorded with the results.

Threads:

- NumPy's BLAS: ``threadpoolctl.threadpool_limits`` (environment variables count only before load).
- Each framework's own pools, when it starts in the process: its mirror module's ``set_threads``
  (PyTorch: ``torch.set_num_threads`` and one inter-op thread; TensorFlow: intra- and inter-op
  pools), and the BLAS it brings limited as NumPy's (numba's, through SciPy).
- JAX has no thread-count API: its CPU backend obeys the process's CPU affinity as it was when
  the backend started. So for fewer threads than cores, the affinity of the whole process is
  set first, before any JAX array exists, and every library then runs on those cores.

Memory: by default (``malloc="default"``) glibc's allocator is left as a user's process has it:
every freed block above its mmap threshold goes back to the system and fresh pages fault in on
the next call, which each library must avoid itself (the reference reuses its buffers and takes
``out=``). ``malloc="reuse"`` sets glibc's M_MMAP_THRESHOLD to its maximum (32 MiB) and
M_TRIM_THRESHOLD high for the whole process, so freed memory is kept, as an option to show
what the allocator costs; the policy is recorded with every run.

``environment_warnings`` lists what makes a run's numbers less than this machine can do: an
OpenBLAS kernel forced older than the CPU supports, a loaded machine, thread variables asking
for more threads than cores. A warning is information, not a failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass, field


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit
MALLOC_POLICIES = ("default", "reuse")


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
    frameworks: dict = field(default_factory=dict)  # what each framework's set_threads applied
    _limiters: list = field(default_factory=list)  # threadpoolctl's limits, kept alive for the session

    def describe(self) -> dict:
        return {
            "threads": self.threads,
            "malloc": self.malloc,
            "cpu_affinity": self.cores,
            "blas": self.blas,
            **self.frameworks,
            "jax": f"CPU affinity {self.cores} set before the JAX backend started",
            "env": {
                k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "OPENBLAS_", "MKL_", "XLA_"))
            },
        }

    def framework_started(self, module) -> None:
        """A framework's first use in the process: its own thread settings (``set_threads`` of its
        mirror module, where it has one), and the BLAS pools it brought (numba's, through SciPy)
        limited like NumPy's. Recorded with the policy."""
        if hasattr(module, "set_threads"):
            self.frameworks.update(module.set_threads(self.threads))
        from threadpoolctl import threadpool_limits

        self._limiters.append(threadpool_limits(self.threads, user_api="blas"))
        self.blas = blas_info()


def other_threads_running() -> int | None:
    """Threads of this process other than the caller's that are on a CPU now (state R in
    ``/proc/self/task``): after a library's call, its idle pool spinning before it sleeps (measured
    here: OpenBLAS's about 0.1 s, torch's OpenMP pool about 8 ms, JAX's and TensorFlow's under 1 ms).
    None where the kernel does not show threads' states."""
    me = str(threading.get_native_id())
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    running = 0
    for tid in tasks:
        if tid == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        running += stat[stat.rindex(")") + 2] == "R"  # the state follows the parenthesised name
    return running


def blas_info() -> list[dict]:
    """NumPy's BLAS libraries as threadpoolctl sees them: version, kernel, threads."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def apply(threads: int, malloc: str = "default") -> ProcessPolicy:
    """Pin the process to ``threads`` cores and every library to ``threads`` threads; verify.
    Then set the allocator policy."""
    cores = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(cores):
        raise ValueError(f"--threads: expected 1 to {len(cores)} (the cores this process may use), got {threads}")
    cores = cores[:threads]
    os.sched_setaffinity(0, cores)  # before JAX starts its backend: its thread pool follows it

    from threadpoolctl import threadpool_limits

    policy = ProcessPolicy(threads, apply_malloc(malloc), cores)
    policy._limiters.append(threadpool_limits(threads, user_api="blas"))
    policy.blas = blas_info()
    for info in policy.blas:
        if info["num_threads"] != threads:
            raise RuntimeError(f"BLAS {info['internal_api']} runs {info['num_threads']} threads, expected {threads}")

    return policy


# The newest OpenBLAS x86-64 kernel a CPU can run, by the instruction sets /proc/cpuinfo lists.
KERNELS = (("SkylakeX", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}), ("Haswell", {"avx2", "fma"}))


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def best_openblas_kernel(flags: set[str]) -> str | None:
    return next((kernel for kernel, needs in KERNELS if needs <= flags), None)


def environment_warnings(
    threads: int, blas: list[dict], environ=os.environ, flags: set[str] | None = None, load: float | None = None
) -> list[str]:
    """What makes this run's numbers less than the machine can do (the arguments after ``blas``
    default to this process and machine; tests pass their own)."""
    warnings = []
    forced = {k: environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in environ}
    best = best_openblas_kernel(cpu_flags() if flags is None else flags)
    running = [b.get("architecture") for b in blas if b.get("internal_api") == "openblas"]
    if forced and best and any(arch and arch.lower() != best.lower() for arch in running):
        settings = " ".join(f"{k}={v}" for k, v in forced.items())
        warnings.append(
            f"{settings} makes NumPy's OpenBLAS run its {', '.join(map(str, running))} kernel on a CPU that supports "
            f"{best}: NumPy's products are slower than this machine allows. For a benchmark of the current kernel, "
            "unset both for this command alone: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ..."
        )
    elif forced:
        warnings.append(
            f"{' '.join(f'{k}={v}' for k, v in forced.items())} is set: OpenBLAS's kernel or blocking is forced"
        )
    cores = available_cores()
    load = os.getloadavg()[0] if load is None else load
    if load > 0.5 * cores:
        warnings.append(
            f"load average {load:.2f} at start on {cores} cores (above 0.5 per core): timings will be noisy"
        )
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        value = environ.get(name, "")
        if value.isdigit() and int(value) > cores:
            warnings.append(f"{name}={value} asks for more threads than the {cores} cores this process may use")
    if threads > cores:
        warnings.append(f"{threads} threads requested on {cores} cores")
    return warnings
