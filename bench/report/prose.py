"""The summary's paragraphs, as templates: the sections fill in the run's names and numbers
(``paragraph``) and keep to code. Written wrapped here; each becomes one Markdown line."""

from __future__ import annotations


def paragraph(template: str, **fields) -> str:
    """One Markdown paragraph: the template's runs of whitespace made single spaces, its fields filled."""
    return " ".join(template.split()).format(**fields)


INTRO = """Cost and all parameter gradients (task gradient) and SGD training (task train) of {activation}
MLPs, computed by each backend from the same parameters and data. The page `index.html` shows the
same run; `speedups.csv` holds every speed-up with its interval, call and outcome."""

TIME_ACCOUNT = """From the workers' own records: start-up and imports (the interpreter, pytest, each
framework's runtime), preparing and compiling each row (the first replicate compiles cold; the later
ones load the compile caches), warm-up, the timed calls themselves, memory, floor and peak (once per
configuration), and the report."""

HEADLINE_GEOMETRIC = """One line per backend: the geometric mean of its speed-ups against `{reference}`
over every configuration it ran in every pilot replicate, with a 95 % t interval over those replicates
(each is one process that timed the whole grid; the backends of a task borrow strength from each
other's variances, as the cells do)."""

HEADLINE = """Speed-up against `{reference}` (its time / the backend's; above 1 the backend is
faster), geometric mean over replicates with its 95 % interval (Stein's two-stage t interval: the
pilot's variance, shrunk toward the backend's other cells by limma's fitted prior,
`bench/harness/stats.py`), at depth {depth}, batch {batches}; `tie` where the interval contains 1.
Then the worst gradient error of each backend over the run, and its time over the golden
`{golden}`'s."""

TALLY = """Per configuration: a win where the backend's speed-up interval lies above 1, a loss below
1, a tie otherwise{same}."""

OUTCOMES = """Cells that are not `ok` in some replicate: `incorrect` (timed, but above its tolerance:
the run fails), `error` (an exception, kept), `timeout` (past --row-timeout: the worker was ended),
`skipped` (no form for the task, over a width cap or the memory budget)."""

AGREEMENT = """Worst max|v − v_ref| / max|v_ref| over the run against float64 `{reference}` on the
same (upcast) numbers: v is the gradients (task gradient) or the parameters after training (task
train)."""

SPEEDUP = """Time of `{reference}` divided by the backend's (above 1: faster): geometric mean of the
per-replicate ratios [95 % interval, Stein's two-stage]."""

TIMES = """Median over replicates of each row's median (this machine's absolute times: quote the
ratios), ± the interquartile range within a process as a share of the median."""

EFFICIENCY = """GFLOP/s from the FLOP model (`bench/harness/flops.py`); the floor is the time of
exactly the pass's matrix products, each timed alone (replicate 0) in NumPy, torch and XLA and the
fastest taken, so 100 % floor means no overhead around the necessary GEMMs (configurations per floor
source: {sources}). Peak: the best large square product, {peak}."""

SCALING = """Exponent p of time ∝ width^p (least squares on log-log over the run's widths): pure GEMM
work gives 2, overhead-bound backends less; the diagonal Jacobians (d·l² work per layer) make
`numpy-diag` grow fastest."""

COMPILE = """Compile time (first replicate: each process compiles anew, from empty compile caches):
making the call ready without running it where the framework can (JAX's lower and compile; numba's
@njit for the signature, timed once in a fresh process with an empty cache), else its first call
less a steady one (tf.function, torch.compile); then the first call after it, the steady-state
median, and the number of calls after which compiling beats the other backend, both compile times
counted."""

MEMORY = {
    "traced_bytes": """tracemalloc: peak of NumPy's allocations in one call from cold buffers,
        workspace and outputs included (NumPy-based backends)""",
    "compiled_bytes": """XLA's memory_analysis of the compiled program: arguments, outputs and
        temporaries (JAX)""",
    "rss_peak_bytes": """the kernel's peak-RSS mark over the timed calls above the RSS just before
        them (every backend: memory its steady state adds; 0 where it allocates nothing new)""",
    "isolated_rss_peak_bytes": """--isolate: peak RSS of a fresh process per row above its post-import
        baseline""",
}

ISOLATION = """Each row was also timed in a fresh subprocess of its own (`--isolate`); the worker's
median / the isolated median, over the rows of each backend."""

GRAD_OVER_FORWARD = """Time of cost and all gradients over the time of the cost alone, both timed in
blocks of calls by one timer in the same process (ADBench's and GradBench's ratio); geometric mean
over replicates [95 % interval]. The FLOP model's ratio, (3L − 1)/L: {model}; above it is autodiff
and dispatch overhead."""

AUTOGRAD_TAX = """Autodiff time ÷ the same system running the seed's equations by hand, so that the
kernels cancel and only autodiff is left: NumPy (`autograd` ÷ `numpy-hadamard`: HIPS autograd's tape
over the very same NumPy kernels), torch (`torch`, `torch-func` ÷ `torch-manual`), JAX (`jax` ÷
`jax-manual`) and TensorFlow (`tensorflow` ÷ `tensorflow-manual`); and op by op ÷ compiled
(`jax-eager` ÷ `jax`, `tensorflow-eager` ÷ `tensorflow`). Above 1: what autodiff (or eager dispatch)
costs. Summary per system: the range of the per-configuration estimates, and how many of them are
ties with 1."""

KERNEL_SPEED = """The same equations: `{reference}`'s time ÷ the framework's (above 1: the framework's
kernels are faster) [95 % interval]."""

GOLDEN = """Each backend's time ÷ the golden `{golden}`'s (the seed's equations compiled, no
framework: ADBench's objective ÷ Manual): above 1 slower than the golden [95 % interval]."""

TRAINING = """A fixed number of SGD steps with the seed's clipping from the same start, timed as a
whole, setup outside the timed call for every backend; speed-up against `{reference}` [95 % interval]
first, then this machine's time per step (median over replicates)."""

BREAK_EVEN = """Steps after which compiling pays off: compile time + n × its time per step < the
other's compile time (if it compiles) + n × its time per step."""

PER_SAMPLE_SPEEDUP = """Time of `{reference}`'s {task} pass ÷ the backend's (above 1: faster) [95 %
interval]. {what}"""

PER_SAMPLE_WHAT = {
    "per-sample": "Every sample's gradient, materialised: (d, l_k, l_{{k-1}}) per layer.",
    "clipped": """The mean over samples of each sample's gradient scaled to norm at most C (C: the
        median of the samples' norms); the reference and the ghost-clipping forms never hold a
        per-sample array.""",
}

LOOP = """Each framework's per-sample loop's time ÷ its vectorised form's (vmap, hooks,
vectorized_map): how much the vectorisation buys on this CPU [95 % interval]."""

OVER_BATCH = """Each backend's {task} time ÷ its own batch gradient's (task gradient, same network,
batch and dtype, same process): the price of asking for every sample [95 % interval]."""

PER_SAMPLE_MEMORY = """`rss_peak_bytes`: the kernel's peak-RSS mark over the timed calls above the RSS
before them (every backend); `traced_bytes`: tracemalloc's peak of one call from cold buffers
(NumPy-based); `compiled_bytes`: XLA's account of the compiled program; `faults_per_call`: minor
page faults per timed call. The per-sample output is d × P numbers; the ghost-norm path holds no
such array. A backend that writes a fresh output every call (134 MB at width 256 in float64) has
the kernel map it anew each time: tens of thousands of 4 KiB pages, or a few dozen huge pages where
transparent huge pages are granted (`madvise` here, which NumPy asks for and the frameworks' allocators
may not). How many of the call's pages come back huge varies with the machine's free memory, and
that is the within-process spread of these rows; the reference writes into reused buffers (`out=`)
and faults nothing."""

NOISE = """A speed-up's noise at the two levels the run repeats (Kalibera & Jones 2013): between the
sweeps of one process (the same row timed again seconds to tens of seconds later, each time divided
into the reference's row of the same sweep) and the process's own (what a fresh process adds: memory
placement, caches, thread placement). The interval is over processes; sweeps make each process's
value cheaper to pin down (each row keeps its fastest sweep, so a burst of the machine's noise in one
sweep is dropped). The best number of sweeps a process is √(process cost × variance between sweeps ÷
(sweep cost × process variance)), at most 8 (Kalibera & Jones's rule for a mean of sweeps; bursts
inflate the variance between sweeps, and more sweeps is then the right way to go for the fastest as
well): the second stage's processes use it (never fewer than the pilot's)."""

STABILITY = """Per cell, pyperf's checks: a spread within a process above 10 %, replicates that
disagree (std dev ≥ 10 % of the mean or min/max ≥ 50 % away), samples under 100 µs, busy threads
unlike the policy, rows below their floor. Their intervals are wider; compare with care. Cells
warned, per backend and check (`speedups.csv` has each cell's warnings in full):"""

AGREE = """Calls that agree, each run's estimate inside the other's 95 % interval with the rate a
calibrated t interval would give beside it (P(|t_ν| < t_ν,0.975/√2), averaged over the cells' ν),
win↔loss flips, and the cells that moved most."""

SECOND_ORDER_SPEEDUP = {
    "jvp": """Forward mode: the network's output y[L] and its directional derivative J v along one
fixed direction v in parameter space (every backend the same v), against `{reference}`'s forward
tangents (the R-operator on the seed's forward pass, `reference_impl.jvp`), with 95 % intervals.""",
    "hvp": """The seed's cost and its Hessian (all parameters) times v, against `{reference}`'s
R-operator on the seed's three equations (`reference_impl.hvp`): forward tangents, then the
backward pass carrying the derivatives and their R-images. The frameworks use their nested
autodiff: forward over reverse (jax, torch-func), reverse over reverse (jax-revrev, torch's
double backward, TensorFlow's nested tapes, autograd, BackPACK), or the same R-operator in their
ops (the -manual backends and the golden).""",
}

SECOND_ORDER_RATIO = {
    "jvp": """JVP ÷ forward: each backend's JVP over its own forward pass (and cost), both timed in
the same process. Forward mode costs a small constant: the reference's FLOP model (three products a
layer against the forward pass's one, the first layer two) gives {model}.""",
    "hvp": """HVP ÷ gradient: each backend's Hessian-vector product over its own gradient, both
timed in the same process. Pearlmutter's bound is a small constant; the reference's FLOP model (nine
products a layer against the gradient's three, the first layer four against one) gives {model}.""",
}

NESTED = """Each system's reverse-over-reverse HVP (the gradient of <∇C, v>) over its
forward-over-reverse one (the JVP of ∇C) on the same network, in the same process: above 1 the
forward-over-reverse form is the cheaper."""
