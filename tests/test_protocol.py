"""The timing protocol's promises, as structure: what runs inside the timed call. A timed call
allocates no large array and builds no optimizer, so its time cannot hide setup; the warm-up
waits out another library's spinning threads and only then. (How well the protocol holds on a
given machine, in seconds, is ``python -m bench.report validate RUN``'s protocol table: wall-clock ratios
belong there, not in tests that must pass on a slow, noisy machine.)"""

from __future__ import annotations

import math
import tracemalloc
from types import SimpleNamespace

import pytest

from bench.harness import measure
from bench.suite import backends
from bench.suite.grids import Config, make_problem, square

from .conftest import load_framework


def allocated_in_calls(run, calls: int = 3) -> int:
    """Peak bytes tracemalloc sees over ``calls`` timed calls after one warm call."""
    run()
    tracemalloc.start()
    try:
        for _ in range(calls):
            run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("task", ["gradient", "train"])
@pytest.mark.parametrize("name", ["numpy-hadamard", "numpy-diag"])
def test_a_numpy_timed_call_allocates_nothing_large(name, task):
    """Buffers are made in prepare: a timed call of the reference allocates no (l, d) array
    (the diag variant's Jacobian stacks are its own cost and are allowed, bounded by them)."""
    config = square(task, "float64", 64, 3, 32, steps=5) if task == "train" else square(task, "float64", 64, 3, 32)
    prepared = backends.prepare(backends.REGISTRY[name], task, make_problem(config), {})
    # Two (l, d) arrays: NumPy's matmul keeps a small transient of its own (18 KB seen here); a pass
    # that made its temporaries afresh holds every layer's y, derivative and dC/dy at once (9 of them).
    bound = 2 * 64 * 32 * 8 if name == "numpy-hadamard" else 3 * 32 * 64 * 64 * 8
    assert allocated_in_calls(prepared.run) < bound
    if name == "numpy-hadamard":  # from cold buffers the same call exceeds the bound: the check can fail
        assert allocated_in_calls(prepared.traced_call, calls=1) > bound


def test_torch_training_builds_its_optimizer_and_copies_once(monkeypatch):
    """The optimizer and the start's parameters are made in prepare; a timed call restores the
    start in place (copy_) and steps: no optimizer, no parameter tensor built inside it."""
    torch = load_framework("torch").torch
    problem = make_problem(Config("train", "float64", (16,) * 5, 64, steps=5))
    built = []
    original = torch.optim.SGD.__init__
    monkeypatch.setattr(torch.optim.SGD, "__init__", lambda self, *a, **k: built.append(1) or original(self, *a, **k))
    prepared = backends.prepare(backends.REGISTRY["torch"], "train", problem, {})
    assert len(built) == 1
    made = []
    monkeypatch.setattr(torch.nn, "Parameter", lambda *a, **k: made.append(1))
    for _ in range(3):
        prepared.run()
    assert len(built) == 1 and not made


def test_the_warm_up_waits_out_another_librarys_spin_and_only_then(monkeypatch):
    """The rule itself, on a clock of the test's own (each call takes 0.05 s of it, a poll's sleep its
    own seconds) and thread states of the test's own: no real time or thread is read."""
    clock = [0.0]
    monkeypatch.setattr(
        measure,
        "time",
        SimpleNamespace(perf_counter=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)),
    )
    spinning_until = [0.1]  # another library's pool spins until then (OpenBLAS: about 0.1 s after its call)
    monkeypatch.setattr(measure.policy, "other_threads_running", lambda: int(clock[0] < spinning_until[0]))
    calls = []

    def call():
        clock[0] += 0.05
        calls.append(1)

    measure.warm_up(call, other_library_last_call=0.0)  # another library's last call ended at 0
    assert clock[0] == pytest.approx(0.1 + 0.05, abs=0.001)  # quiet first, then the row's call, no sooner
    assert calls == [1] * measure.WARMUP_CALLS
    calls.clear()
    spinning_until[0] = clock[0] + 60  # a thread that never sleeps stalls the row QUIET_MOST_S at most
    before = clock[0]
    measure.warm_up(call, other_library_last_call=before)
    assert clock[0] - before == pytest.approx(measure.QUIET_MOST_S + 0.05, abs=0.001)
    calls.clear()
    monkeypatch.setattr(measure.policy, "other_threads_running", lambda: None)  # no /proc: by time since that call
    before = clock[0]
    measure.warm_up(call, other_library_last_call=before)
    assert clock[0] - before == pytest.approx(measure.WARMUP_SECONDS + 0.05, abs=0.001)
    calls.clear()
    measure.warm_up(call, None, calls_made=1)  # same library, the row's first call just made
    assert calls == []
    # A row's first timing in its process: FIRST_WARMUP_CALLS calls and FIRST_WARMUP_SECONDS of them.
    measure.warm_up(call, None, calls_made=1, first=True)
    least = max(measure.FIRST_WARMUP_CALLS - 1, math.ceil(measure.FIRST_WARMUP_SECONDS / 0.05))
    assert len(calls) == least


def test_other_threads_running_sees_a_spinning_thread():
    """The thread states the warm-up waits on, read from the kernel: a busy thread is counted until it stops."""
    import threading

    from bench.harness import policy

    if policy.other_threads_running() is None:
        pytest.skip("this kernel shows no thread states")
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
    spinner.start()
    try:
        assert any(policy.other_threads_running() >= 1 for _ in range(200))  # the GIL lets it run now and then
    finally:
        stop.set()
        spinner.join()
