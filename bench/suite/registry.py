"""The backends and frameworks as static facts: plain strings and numbers, no imports.

This is the one list of backends. ``noxfile.py`` imports it without NumPy (nox runs in an
environment of its own), ``bench.suite.backends`` turns an entry into timed calls through its
framework's mirror module, and the report reads the facts a run recorded from it at run time.

A backend is one ``Entry``: which framework computes it and in which of that framework's
``form``s (each mirror module in ``bench/suite/frameworks/`` says what its forms mean), which tasks it
has, and its relations (the reference every speed-up is against; the eager backend a compiled
one replaces; the framework's hand-written counterpart, for the autograd tax). A new framework is
one ``FrameworkInfo`` here and one mirror module.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("gradient", "train", "per-sample", "clipped", "jvp", "hvp")
PER_SAMPLE = ("per-sample", "clipped")  # every sample's gradient; DP-SGD's clipped mean gradient (no noise)
SECOND_ORDER = ("jvp", "hvp")  # forward mode; the Hessian times a vector


@dataclass(frozen=True)
class FrameworkInfo:
    name: str
    module: str  # the mirror module, behind bench.suite.frameworks.Framework
    imports: str  # the package imported (find_spec looks for it without importing)
    extra: str | None  # the pyproject extra that installs it (None: always installed)
    library: str = ""  # whose kernels and thread pools it runs on (its name where empty): rows of one library
    # run back to back without the library-switch wait


FRAMEWORKS: dict[str, FrameworkInfo] = {
    f.name: f
    for f in (
        FrameworkInfo("numpy", "bench.suite.frameworks.numpy_mlp", "numpy", None),
        FrameworkInfo("torch", "bench.suite.frameworks.torch_mlp", "torch", "torch"),
        FrameworkInfo("jax", "bench.suite.frameworks.jax_mlp", "jax", "jax"),
        FrameworkInfo("tensorflow", "bench.suite.frameworks.tensorflow_mlp", "tensorflow", "tensorflow"),
        FrameworkInfo("autograd", "bench.suite.frameworks.autograd_mlp", "autograd", "autograd", library="numpy"),
        FrameworkInfo("numba", "bench.suite.frameworks.numba_mlp", "numba", "numba"),
        FrameworkInfo("opacus", "bench.suite.frameworks.opacus_mlp", "opacus", "opacus", library="torch"),
        FrameworkInfo("backpack", "bench.suite.frameworks.backpack_mlp", "backpack", "backpack", library="torch"),
    )
}


@dataclass(frozen=True)
class Entry:
    name: str
    framework: str  # a key of FRAMEWORKS
    form: str  # which of the framework's forms (its mirror module's FORMS)
    method: str  # how the gradient is obtained, in words
    tasks: tuple[str, ...] = ("gradient", "train")
    reference: bool = False  # the one every other backend is compared with
    eager: str | None = None  # the eager backend this compiled one replaces (compile break-even)
    manual: str | None = None  # the same framework without autodiff (the autograd tax)
    max_width: int | None = None  # beyond it too slow to be worth timing (op-by-op dispatch)
    opt_in: bool = False  # run only when named in --backends (or on the full grid)
    golden: bool = False  # the compiled hand-derived pass every time is set against (× golden)
    loop: str | None = None  # per-sample: the same framework's loop over samples (× loop)
    full_grid_tasks: tuple[str, ...] = ()  # tasks too slow for the smoke and default grids: the full grid runs them
    nested: str | None = None  # hvp: the forward-over-reverse backend this reverse-over-reverse one is set against

    @property
    def library(self) -> str:
        """Whose kernels and thread pools the backend runs on: autograd NumPy's, Opacus and BackPACK torch's."""
        return FRAMEWORKS[self.framework].library or self.framework

    def skip_reason(self, task: str, width: int, full_grid: bool = False) -> str | None:
        if task not in self.tasks:
            return f"{self.name} has no {task} form"
        if task in self.full_grid_tasks and not full_grid:
            return f"{self.name} runs {task} on the full grid only (too slow a call for the default grid's budget)"
        if self.max_width is not None and width > self.max_width:
            return f"{self.name} runs only widths <= {self.max_width} (op-by-op dispatch makes larger ones slow)"
        return None

    def expected_outcome(self, task: str, width: int, full_grid: bool = False) -> str:
        """What a cell of this backend should end as, where it is declared not to run (as
        GradBench's per-tool lists of expected failures): "skipped", or "ok"."""
        return "skipped" if self.skip_reason(task, width, full_grid) else "ok"

    @property
    def facts(self) -> dict:
        """What a run records of the entry, so that its report never needs today's registry."""
        return {
            "framework": self.framework,
            "library": self.library,
            "method": self.method,
            "reference": self.reference,
            "eager": self.eager,
            "manual": self.manual,
            "golden": self.golden,
            "loop": self.loop,
            "nested": self.nested,
        }


GRADIENT = ("gradient",)
TRAIN = ("train",)

ALL = ("gradient", "train", *PER_SAMPLE)
HVP = ("hvp",)

REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        # jvp and hvp: the R-operator on the same equations (reference_impl.jvp, .hvp).
        Entry("numpy-hadamard", "numpy", "hadamard", "matrix calculus, Hadamard product (reference_impl)",
              tasks=(*ALL, *SECOND_ORDER), reference=True),
        Entry("numpy-diag", "numpy", "diag", "matrix calculus, explicit diagonal Jacobians (reference_impl)",
              tasks=(*ALL, *SECOND_ORDER)),
        Entry("numba-manual", "numba", "manual", "the seed's equations compiled by numba (@njit), no framework",
              tasks=(*ALL, *SECOND_ORDER), golden=True),
        # Per-sample: a Python loop over samples, value_and_grad of one sample each. The default grid leaves the
        # per-sample Python loops (this, jax-loop, tensorflow-loop) to the full grid: 40-100x slower than the
        # vectorised forms, their cells were the widest and told nothing the × loop column of torch's loop does not.
        # jvp: make_jvp; hvp: hessian_vector_product (reverse over reverse).
        Entry("autograd", "autograd", "autodiff", "HIPS autograd: a tape over NumPy's own kernels",
              tasks=(*ALL, *SECOND_ORDER), manual="numpy-hadamard", full_grid_tasks=PER_SAMPLE),
        # Per-sample: a Python loop over samples, torch.autograd.grad of one sample each (the baseline quoted).
        # jvp: torch.autograd.forward_ad's dual tensors; hvp: double backward (create_graph=True), reverse over reverse.
        Entry("torch", "torch", "autodiff", "eager autograd", tasks=(*ALL, *SECOND_ORDER), manual="torch-manual",
              nested="torch-func"),
        Entry("torch-manual", "torch", "manual", "the seed's equations in torch ops, eager, no autograd",
              tasks=(*ALL, *SECOND_ORDER)),
        # Training on the full grid only: its rows (the seed's 200 steps, 0.27 s a call) took 15 s of each default
        # replicate. Per-sample: torch.func.vmap of grad_and_value of one sample.
        # jvp: torch.func.jvp; hvp: torch.func.jvp of torch.func.grad (forward over reverse).
        Entry("torch-func", "torch", "func", "torch.func.grad_and_value, eager", tasks=(*ALL, *SECOND_ORDER),
              full_grid_tasks=TRAIN, manual="torch-manual", loop="torch"),
        Entry("torch-compile", "torch", "compile", "torch.compile of torch.func.grad_and_value (inductor)",
              eager="torch", opt_in=True),
        Entry("opacus", "opacus", "hooks", "Opacus GradSampleModule hooks (per-sample); its ghost-clipping norms, two "
              "backward passes (clipped)", tasks=PER_SAMPLE, loop="torch"),
        Entry("backpack", "backpack", "batchgrad", "BackPACK BatchGrad (per-sample); BatchL2Grad norms and a second "
              "backward pass (clipped); hessianfree's hessian_vector_product (hvp)", tasks=(*PER_SAMPLE, *HVP),
              loop="torch"),
        # Per-sample: jax.jit of jax.vmap of value_and_grad of one sample.
        # jvp: jit of jax.jvp; hvp: jit of jax.jvp of jax.grad (forward over reverse).
        Entry("jax", "jax", "autodiff", "jax.jit of jax.value_and_grad (training: one jitted step per iteration)",
              tasks=(*ALL, *SECOND_ORDER), eager="jax-eager", manual="jax-manual", loop="jax-loop"),
        Entry("jax-manual", "jax", "manual", "the seed's equations in jax.numpy, jit, no jax.grad",
              tasks=(*ALL, *SECOND_ORDER)),
        Entry("jax-revrev", "jax", "revrev", "hvp: jit of jax.grad of <jax.grad, v> (reverse over reverse)",
              tasks=HVP, nested="jax"),
        Entry("jax-eager", "jax", "eager", "jax.value_and_grad op by op, no jit", tasks=GRADIENT, max_width=256),
        Entry("jax-loop", "jax", "loop", "a Python loop over samples of a jitted value_and_grad of one sample",
              tasks=PER_SAMPLE, full_grid_tasks=PER_SAMPLE),
        Entry("jax-scan", "jax", "scan", "the whole SGD loop in one jitted lax.scan", tasks=TRAIN, eager="jax"),
        # Per-sample: tf.vectorized_map of one sample's GradientTape, under tf.function with XLA.
        # jvp: tf.autodiff.ForwardAccumulator; hvp: nested GradientTapes (reverse over reverse); both XLA-compiled.
        Entry("tensorflow", "tensorflow", "autodiff", "tf.function(jit_compile=True) of a GradientTape (XLA)",
              tasks=(*ALL, *SECOND_ORDER), eager="tensorflow-eager", manual="tensorflow-manual",
              loop="tensorflow-loop"),
        # Training on the full grid only: its rows (1 s a call) took a fifth of the default grid's time.
        Entry("tensorflow-eager", "tensorflow", "eager", "GradientTape op by op, no tf.function",
              tasks=(*GRADIENT, *TRAIN, *SECOND_ORDER), full_grid_tasks=TRAIN, max_width=256),
        Entry("tensorflow-manual", "tensorflow", "manual", "the seed's equations in TF ops, tf.function with XLA"),
        # Training: the whole SGD loop compiled; per-sample: a Python loop over samples of one sample's tf.function.
        Entry("tensorflow-loop", "tensorflow", "loop", "the whole SGD loop in one tf.function with XLA (training); "
              "a Python loop over samples of one sample's compiled gradient (per-sample)",
              tasks=(*TRAIN, *PER_SAMPLE), eager="tensorflow", full_grid_tasks=PER_SAMPLE),
    )
}  # fmt: skip
REFERENCE = next(e.name for e in REGISTRY.values() if e.reference)
GOLDEN = next(e.name for e in REGISTRY.values() if e.golden)
