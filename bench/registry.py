"""The backends and frameworks as static facts: plain strings and numbers, no imports.

This is the one list of backends. ``noxfile.py`` imports it without NumPy (nox runs in an
environment of its own), ``bench.backends`` turns an entry into timed calls through its
framework's mirror module, and the report reads the facts a run recorded from it at run time.

A backend is one ``Entry``: which framework computes it and in which of that framework's
``form``s (each mirror module in ``bench/frameworks/`` says what its forms mean), which tasks it
has, and its relations (the reference every speed-up is against; the eager backend a compiled
one replaces; the framework's hand-written counterpart, for the autograd tax). A new framework is
one ``FrameworkInfo`` here and one mirror module.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("gradient", "train")


@dataclass(frozen=True)
class FrameworkInfo:
    name: str
    module: str  # the mirror module, behind bench.frameworks.Framework
    imports: str  # the package imported (find_spec looks for it without importing)
    extra: str | None  # the pyproject extra that installs it (None: always installed)


FRAMEWORKS: dict[str, FrameworkInfo] = {
    f.name: f
    for f in (
        FrameworkInfo("numpy", "bench.frameworks.numpy_mlp", "numpy", None),
        FrameworkInfo("torch", "bench.frameworks.torch_mlp", "torch", "torch"),
        FrameworkInfo("jax", "bench.frameworks.jax_mlp", "jax", "jax"),
        FrameworkInfo("tensorflow", "bench.frameworks.tensorflow_mlp", "tensorflow", "tensorflow"),
        FrameworkInfo("autograd", "bench.frameworks.autograd_mlp", "autograd", "autograd"),
        FrameworkInfo("numba", "bench.frameworks.numba_mlp", "numba", "numba"),
    )
}


@dataclass(frozen=True)
class Entry:
    name: str
    framework: str  # a key of FRAMEWORKS
    form: str  # which of the framework's forms (its mirror module's FORMS)
    method: str  # how the gradient is obtained, in words
    tasks: tuple[str, ...] = TASKS
    reference: bool = False  # the one every other backend is compared with
    eager: str | None = None  # the eager backend this compiled one replaces (compile break-even)
    manual: str | None = None  # the same framework without autodiff (the autograd tax)
    max_width: int | None = None  # beyond it too slow to be worth timing (op-by-op dispatch)
    opt_in: bool = False  # run only when named in --backends (or on the full grid)
    golden: bool = False  # the compiled hand-derived pass every time is set against (× golden)

    def skip_reason(self, task: str, width: int) -> str | None:
        if task not in self.tasks:
            return f"{self.name} has no {task} form"
        if self.max_width is not None and width > self.max_width:
            return f"{self.name} runs only widths <= {self.max_width} (op-by-op dispatch makes larger ones slow)"
        return None

    def expected_outcome(self, task: str, width: int) -> str:
        """What a cell of this backend should end as, where it is declared not to run (as
        GradBench's per-tool lists of expected failures): "skipped", or "ok"."""
        return "skipped" if self.skip_reason(task, width) else "ok"

    @property
    def facts(self) -> dict:
        """What a run records of the entry, so that its report never needs today's registry."""
        return {"framework": self.framework, "method": self.method, "reference": self.reference,
                "eager": self.eager, "manual": self.manual, "golden": self.golden}  # fmt: skip


GRADIENT = ("gradient",)
TRAIN = ("train",)

REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("numpy-hadamard", "numpy", "hadamard", "matrix calculus, Hadamard product (reference_impl)",
              reference=True),
        Entry("numpy-diag", "numpy", "diag", "matrix calculus, explicit diagonal Jacobians (reference_impl)"),
        Entry("numba-manual", "numba", "manual", "the seed's equations compiled by numba (@njit), no framework",
              golden=True),
        Entry("autograd", "autograd", "autodiff", "HIPS autograd: a tape over NumPy's own kernels",
              manual="numpy-hadamard"),
        Entry("torch", "torch", "autodiff", "eager autograd", manual="torch-manual"),
        Entry("torch-manual", "torch", "manual", "the seed's equations in torch ops, eager, no autograd"),
        # Gradient only: its training rows (the seed's 200 steps, 0.27 s a call) took 15 s of each default replicate.
        Entry("torch-func", "torch", "func", "torch.func.grad_and_value, eager", tasks=GRADIENT, manual="torch-manual"),
        Entry("torch-compile", "torch", "compile", "torch.compile of torch.func.grad_and_value (inductor)",
              eager="torch", opt_in=True),
        Entry("jax", "jax", "autodiff", "jax.jit of jax.value_and_grad (training: one jitted step per iteration)",
              eager="jax-eager", manual="jax-manual"),
        Entry("jax-manual", "jax", "manual", "the seed's equations in jax.numpy, jit, no jax.grad"),
        Entry("jax-eager", "jax", "eager", "jax.value_and_grad op by op, no jit", tasks=GRADIENT, max_width=256),
        Entry("jax-scan", "jax", "scan", "the whole SGD loop in one jitted lax.scan", tasks=TRAIN, eager="jax"),
        Entry("tensorflow", "tensorflow", "autodiff", "tf.function(jit_compile=True) of a GradientTape (XLA)",
              eager="tensorflow-eager", manual="tensorflow-manual"),
        # Gradient only, as jax-eager: its training rows (1 s a call) took a fifth of the default grid's time.
        Entry("tensorflow-eager", "tensorflow", "eager", "GradientTape op by op, no tf.function", tasks=GRADIENT,
              max_width=256),
        Entry("tensorflow-manual", "tensorflow", "manual", "the seed's equations in TF ops, tf.function with XLA"),
        Entry("tensorflow-loop", "tensorflow", "loop", "the whole SGD loop in one tf.function with XLA",
              tasks=TRAIN, eager="tensorflow"),
    )
}  # fmt: skip
REFERENCE = next(e.name for e in REGISTRY.values() if e.reference)
GOLDEN = next(e.name for e in REGISTRY.values() if e.golden)
