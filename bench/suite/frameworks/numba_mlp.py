"""The golden: the seed's equations (Hadamard form) compiled by numba, no framework at all.

ADBench's "Manual" tool is the hand-derived gradient written in C++; this is the same idea for
the seed's MLP. Every function is ``@njit(cache=True, fastmath=FAST)``: compiled once per dtype and
depth (layers are a tuple of arrays, indexed in compiled code), then loaded from numba's cache. A
training call runs the whole SGD loop, the sample stream and the seed's clip included, inside one
compiled function, so a step pays no Python or dispatch overhead.

Compile time: numba compiles at a signature's first call (dtype and depth; not width or batch),
so the first replicate's rows measure it with the cache off: a fresh process with an empty cache
times making a small pass ready (``cold_compile_seconds``), once per signature; ``prepare`` then
compiles the row's pass without running it (or loads it from the cache).
A benchmark run's workers keep numba's cache in the run's own folder (``use_compile_cache``).

Matrix products go through ``np.dot`` (BLAS, through SciPy) where a product is large enough to
amortise the call, and through explicit loops where shapes are tiny (the seed's b = 1 step is a
few hundred multiply-adds, less than one BLAS call costs). Elementwise work (sigma, its
derivative, the clip) is explicit loops; numba's ``tanh`` is scalar here (pip's llvmlite has no
SVML), where NumPy's and XLA's are vectorized.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numba
import numpy as np
from numba import njit

from . import Prepared, activation_names, as_float_arrays, check_form, jvp_values, stream_indices, timed

CODES = {"sigmoid": 0, "tanh": 1, "softplus": 2, "relu": 3, "identity": 4}  # one int per layer in compiled code
LOOP_BELOW = 4096  # multiply-adds below which an explicit loop beats a BLAS call (measured at b = 1 and 64)
# Reassociation and fused multiply-adds let LLVM vectorize the sums (rounding differs in the last
# bits, as between any two BLAS); no assumptions about NaN or inf, so bad input still shows.
FAST = {"reassoc", "contract"}
FORMS = {"manual": "the seed's equations in @njit functions (training: the whole SGD loop compiled)"}


@njit(cache=True, fastmath=FAST, inline="always")
def _sigma(z, code):
    if code == 0:
        return 1.0 / (1.0 + np.exp(-z))
    if code == 1:
        return np.tanh(z)
    if code == 2:
        return np.log1p(np.exp(-abs(z))) + max(z, 0.0)
    if code == 3:
        return max(z, 0.0)
    return z


@njit(cache=True, fastmath=FAST, inline="always")
def _sigma_prime(y, code):
    """sigma' written through y = sigma(z), as the seed."""
    if code == 0:
        return y * (1.0 - y)
    if code == 1:
        return 1.0 - y * y
    if code == 2:
        return -np.expm1(-y)
    if code == 3:
        return 1.0 if y > 0 else 0.0
    return 1.0


@njit(cache=True, fastmath=FAST)
def _activate(y, b, code):
    """y = sigma(y + b), in place; one loop per activation, so each can be vectorized."""
    if code == 1:
        for i in range(y.shape[0]):
            for j in range(y.shape[1]):
                y[i, j] = 1.0 - 2.0 / (np.exp(2.0 * (y[i, j] + b[i])) + 1.0)  # tanh through exp: see TANH
    else:
        for i in range(y.shape[0]):
            for j in range(y.shape[1]):
                y[i, j] = _sigma(y[i, j] + b[i], code)


@njit(cache=True, fastmath=FAST)
def _matmul(a, b, out, transpose_a, transpose_b):
    """out = op(a) @ op(b): an explicit loop for tiny products, BLAS otherwise."""
    n, m = out.shape
    inner = a.shape[0] if transpose_a else a.shape[1]
    if n * m * inner >= LOOP_BELOW:  # one branch per layout: numba types each call apart
        if transpose_a:
            np.dot(a.T, b, out)
        elif transpose_b:
            np.dot(a, b.T, out)
        else:
            np.dot(a, b, out)
        return
    # Explicit loops, ordered so that the innermost one runs along contiguous memory when the
    # batch is one sample (the case they exist for), which lets LLVM vectorize it.
    if transpose_a:  # out = a^T b, (1): for each sample, a sum of rows of a
        out[...] = 0
        for j in range(m):
            for p in range(inner):
                bpj = b[p, j]
                for i in range(n):
                    out[i, j] += a[p, i] * bpj
    elif transpose_b:  # out = a b^T, (2): a sum of outer products, one per sample
        out[...] = 0
        for i in range(n):
            for p in range(inner):
                aip = a[i, p]
                for j in range(m):
                    out[i, j] += aip * b[j, p]
    else:  # out = a b, the forward pass: a dot product per output
        for i in range(n):
            for j in range(m):
                acc = 0.0
                for p in range(inner):
                    acc += a[i, p] * b[p, j]
                out[i, j] = acc


@njit(cache=True, fastmath=FAST)
def _pass(Ws, bs, codes, clip, t, ys, dC_dy_T, dWs, dbs):
    """Cost and gradients into dWs, dbs. ys[0] holds the batch x; ys[k], dC_dy_T[k] are (l_k, d)
    buffers (index 0 of dC_dy_T unused). dC/dy[k] is kept transposed, one column per sample."""
    L = len(Ws)
    _forward(Ws, bs, codes, ys)
    d = t.shape[1]
    cost = _cost_and_base(ys[L], t, dC_dy_T[L])
    for k in range(L, 0, -1):
        delta = dC_dy_T[k]  # becomes (dC/dy[k] nabla_sigma[k])^T in place
        y, db = ys[k], dbs[k - 1]
        for i in range(delta.shape[0]):
            acc = 0.0
            for j in range(d):
                v = delta[i, j]
                if clip > 0:  # the seed's clip, before dC/dy[k] is used
                    v = min(max(v, -clip), clip)
                v *= _sigma_prime(y[i, j], codes[k - 1])
                delta[i, j] = v
                acc += v
            db[i] = acc  # (3) dC/db[k] = dC/dy[k] nabla_sigma[k], summed over samples
        _matmul(delta, ys[k - 1], dWs[k - 1], False, True)  # (2) dC/dW[k] = y[k-1] dC/dy[k] nabla_sigma[k]
        if k > 1:
            _matmul(Ws[k - 1], delta, dC_dy_T[k - 1], True, False)  # (1) dC/dy[k-1] = dC/dy[k] nabla_sigma[k] W[k]
    return cost


@njit(cache=True, fastmath=FAST, inline="always")  # inlined: a b = 1 step is a few hundred multiply-adds
def _forward(Ws, bs, codes, ys):
    """y[k] = sigma(W[k] y[k-1] + b[k]) into ys[1..L]; ys[0] holds the batch x."""
    for k in range(1, len(Ws) + 1):
        _matmul(Ws[k - 1], ys[k - 1], ys[k], False, False)
        _activate(ys[k], bs[k - 1], codes[k - 1])


@njit(cache=True, fastmath=FAST, inline="always")  # inlined: a b = 1 step is a few hundred multiply-adds
def _cost_and_base(y_L, t, base):
    """C = 1/(2d) sum_i ||y[L](s_i) - t_i||^2, and the base case (dC/dy[L])^T = (y[L] - t) / d into base."""
    d = t.shape[1]
    cost = 0.0
    for i in range(t.shape[0]):
        for j in range(d):
            r = y_L[i, j] - t[i, j]
            cost += r * r
            base[i, j] = r / d
    return cost / (2 * d)


@njit(cache=True, fastmath=FAST)
def _sgd(Ws, bs, codes, clip, lr, x, t, indices, full_batch, ys, tb, dC_dy_T, history):
    """The whole loop: each step gathers its batch from the stream, runs the forward pass and the
    seed's backward loop, updating W[k] and b[k] as soon as (1) has used W[k] (no gradient
    arrays: lr dC/dW[k] is subtracted where it is formed)."""
    L = len(Ws)
    x_batch = ys[0]
    for step in range(history.shape[0]):
        if not full_batch:
            for j in range(indices.shape[1]):
                s = indices[step, j]
                for i in range(x.shape[0]):
                    x_batch[i, j] = x[i, s]
                for i in range(t.shape[0]):
                    tb[i, j] = t[i, s]
        _forward(Ws, bs, codes, ys)
        d = tb.shape[1]
        history[step] = _cost_and_base(ys[L], tb, dC_dy_T[L])
        for k in range(L, 0, -1):
            delta, y, y_prev, W, b = dC_dy_T[k], ys[k], ys[k - 1], Ws[k - 1], bs[k - 1]
            code = codes[k - 1]
            for i in range(delta.shape[0]):  # (dC/dy[k] nabla_sigma[k])^T, clipped first as the seed
                for j in range(d):
                    v = delta[i, j]
                    if clip > 0:
                        v = min(max(v, -clip), clip)
                    delta[i, j] = v * _sigma_prime(y[i, j], code)
            if k > 1:
                _matmul(W, delta, dC_dy_T[k - 1], True, False)  # (1), with W[k] before its update
            for i in range(W.shape[0]):
                g = 0.0
                for j in range(d):
                    g += delta[i, j]
                b[i] -= lr * g  # (3)
                for p in range(W.shape[1]):
                    g = 0.0
                    for j in range(d):
                        g += delta[i, j] * y_prev[p, j]
                    W[i, p] -= lr * g  # (2)


# Every sample's gradient and DP-SGD's clipped mean (reference_impl.per_sample): sample i's own pass is
# column i of the batch pass started from dC_i/dy_i[L] = (y_i[L] - t_i)^T, without the batch's 1/d.


@njit(cache=True, fastmath=FAST)
def _sample_deltas(Ws, bs, codes, t, ys, dC_dy_T, costs):
    """Forward pass; each sample's cost C_i = 1/2 ||t_i - y_i[L]||^2 into costs; then, for k = L..1,
    delta[k]^T = (dC/dy[k] nabla_sigma[k])^T into dC_dy_T[k], column i sample i's own."""
    L = len(Ws)
    _forward(Ws, bs, codes, ys)
    y_L, base = ys[L], dC_dy_T[L]
    costs[:] = 0
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            r = y_L[i, j] - t[i, j]
            costs[j] += 0.5 * r * r
            base[i, j] = r  # (dC_i/dy_i[L])^T: no 1/d
    for k in range(L, 0, -1):
        delta, y = dC_dy_T[k], ys[k]
        for i in range(delta.shape[0]):
            for j in range(delta.shape[1]):
                delta[i, j] *= _sigma_prime(y[i, j], codes[k - 1])
        if k > 1:
            _matmul(Ws[k - 1], delta, dC_dy_T[k - 1], True, False)  # (1) dC/dy[k-1] = dC/dy[k] nabla_sigma[k] W[k]


@njit(cache=True, fastmath=FAST)
def _per_sample_pass(Ws, bs, codes, t, ys, dC_dy_T, costs, column, dWs, dbs):
    """Each sample's costs, and its gradients into dWs[k-1] (d, l_k, l_{k-1}) and dbs[k-1] (d, l_k)."""
    _sample_deltas(Ws, bs, codes, t, ys, dC_dy_T, costs)
    for k in range(len(Ws), 0, -1):
        delta, y_prev, dW, db = dC_dy_T[k], ys[k - 1], dWs[k - 1], dbs[k - 1]
        for s in range(delta.shape[1]):
            for p in range(y_prev.shape[0]):  # y_s[k-1], contiguous for the rows below
                column[p] = y_prev[p, s]
            for i in range(delta.shape[0]):
                v = delta[i, s]
                db[s, i] = v  # (3), sample s's term: delta_s[k]
                for p in range(y_prev.shape[0]):
                    dW[s, i, p] = v * column[p]  # (2), sample s's term: delta_s[k]^T y_s[k-1]^T, an outer product


@njit(cache=True, fastmath=FAST)
def _clipped_pass(Ws, bs, codes, t, max_norm, ys, dC_dy_T, costs, factors, squares, dWs, dbs):
    """DP-SGD's clipped mean 1/d sum_i s_i g_i into dWs, dbs, s_i = min(1, C / ||g_i||), ||g_i||^2 =
    sum_k ||delta_i[k]||^2 (||y_i[k-1]||^2 + 1) (no per-sample array); returns the batch cost."""
    L, d = len(Ws), t.shape[1]
    _sample_deltas(Ws, bs, codes, t, ys, dC_dy_T, costs)
    factors[:] = 0
    for k in range(1, L + 1):
        delta, y_prev = dC_dy_T[k], ys[k - 1]
        squares[:] = 0
        for i in range(delta.shape[0]):
            for s in range(d):
                squares[s] += delta[i, s] * delta[i, s]  # ||delta_s[k]||^2
        for s in range(d):
            norm = 0.0
            for p in range(y_prev.shape[0]):
                norm += y_prev[p, s] * y_prev[p, s]  # ||y_s[k-1]||^2
            factors[s] += squares[s] * (norm + 1)
    for s in range(d):
        norm = np.sqrt(factors[s])
        factors[s] = (1.0 if norm <= max_norm else max_norm / norm) / d  # s_i / d (a zero gradient keeps 1)
    for k in range(1, L + 1):
        delta, db = dC_dy_T[k], dbs[k - 1]
        for i in range(delta.shape[0]):
            acc = 0.0
            for s in range(d):
                delta[i, s] *= factors[s]  # column s times s_s / d
                acc += delta[i, s]
            db[i] = acc  # (3) summed over samples
        _matmul(delta, ys[k - 1], dWs[k - 1], False, True)  # (2) summed over samples, as in the batch pass
    total = 0.0
    for s in range(d):
        total += costs[s]
    return total / d


# Forward mode and second order: the R-operator on the seed's equations (reference_impl.hadamard.tangents
# and r_backward), every product through _matmul, every elementwise line an explicit loop.


@njit(cache=True, fastmath=FAST, inline="always")
def _sigma_second(y, code):
    """sigma'' written through y, as reference_impl.activations."""
    if code == 0:
        return y * (1.0 - y) * (1.0 - 2.0 * y)
    if code == 1:
        return -2.0 * y * (1.0 - y * y)
    if code == 2:
        return -np.expm1(-y) * np.exp(-y)
    return 0.0


@njit(cache=True, fastmath=FAST)
def _tangents(Ws, bs, VWs, Vbs, codes, ys, R_zs, R_ys, scratch):
    """The forward pass and its tangents: R{z[k]} = V_W[k] y[k-1] + W[k] R{y[k-1]} + V_b[k],
    R{y[k]} = nabla_sigma[k] R{z[k]} (R{y[0]} = 0)."""
    _forward(Ws, bs, codes, ys)
    for k in range(1, len(Ws) + 1):
        R_z, R_y, y, V_b, code = R_zs[k], R_ys[k], ys[k], Vbs[k - 1], codes[k - 1]
        _matmul(VWs[k - 1], ys[k - 1], R_z, False, False)
        if k > 1:
            _matmul(Ws[k - 1], R_ys[k - 1], scratch[k], False, False)
        for i in range(R_z.shape[0]):
            for j in range(R_z.shape[1]):
                v = R_z[i, j] + V_b[i]
                if k > 1:
                    v += scratch[k][i, j]
                R_z[i, j] = v
                R_y[i, j] = _sigma_prime(y[i, j], code) * v


@njit(cache=True, fastmath=FAST)
def _hvp_pass(Ws, bs, VWs, Vbs, codes, t, ys, R_zs, R_ys, dC_dy_T, R_dC_dy_T, scratch, HWs, Hbs, weight_scratch):
    """Cost and H v into HWs, Hbs: the tangents, then the seed's backward pass and its R-image."""
    L = len(Ws)
    _tangents(Ws, bs, VWs, Vbs, codes, ys, R_zs, R_ys, scratch)
    d = t.shape[1]
    cost = _cost_and_base(ys[L], t, dC_dy_T[L])
    for i in range(t.shape[0]):
        for j in range(d):
            R_dC_dy_T[L][i, j] = R_ys[L][i, j] / d  # R{dC/dy[L]} = R{y[L]} / d
    for k in range(L, 0, -1):
        delta, R_delta, y, R_z, H_b, code = dC_dy_T[k], R_dC_dy_T[k], ys[k], R_zs[k], Hbs[k - 1], codes[k - 1]
        for i in range(delta.shape[0]):
            acc = 0.0
            for j in range(d):
                s = _sigma_prime(y[i, j], code)
                v = delta[i, j]
                # R{delta} = R{dC/dy[k]} nabla_sigma[k] + dC/dy[k] nabla2_sigma[k] diag(R{z[k]})
                r = R_delta[i, j] * s + v * _sigma_second(y[i, j], code) * R_z[i, j]
                R_delta[i, j] = r
                delta[i, j] = v * s
                acc += r
            H_b[i] = acc  # R{(3)}
        _matmul(R_delta, ys[k - 1], HWs[k - 1], False, True)  # R{(2)}: R{delta} y[k-1]^T ...
        if k > 1:
            H_W, R_next = HWs[k - 1], R_dC_dy_T[k - 1]  # locals: a tuple's item cannot take +=
            _matmul(delta, R_ys[k - 1], weight_scratch[k - 1], False, True)  # ... + delta R{y[k-1]}^T
            H_W += weight_scratch[k - 1]
            _matmul(Ws[k - 1], R_delta, R_next, True, False)  # R{(1)}: W^T R{delta} ...
            _matmul(VWs[k - 1], delta, scratch[k - 1], True, False)  # ... + V_W^T delta
            R_next += scratch[k - 1]
            _matmul(Ws[k - 1], delta, dC_dy_T[k - 1], True, False)  # (1)
    return cost


# name -> (sigma, sigma' through y) as the interface has them: the compiled scalar functions.
ACTIVATIONS = {
    name: (lambda z, c=code: _sigma(z, c), lambda y, c=code: _sigma_prime(y, c)) for name, code in CODES.items()
}


def use_compile_cache(path) -> None:
    """numba's cache in ``path`` instead of ``__pycache__``: every compiled function of this module
    looks there from now on (called before any of them has compiled in this process)."""
    numba.config.CACHE_DIR = str(path)
    for function in globals().values():
        if isinstance(function, numba.core.dispatcher.Dispatcher):
            function.enable_caching()  # picks its cache locator anew, from CACHE_DIR


_COLD_COMPILE: dict[tuple, float] = {}  # (task, dtype, depth) -> seconds, measured once in a process

# Run in a fresh process whose numba cache is an empty folder: nothing compiled, nothing to load.
PROBE = """
import sys
import numba
from bench.suite.frameworks import numba_mlp
numba.njit(lambda: 0)()  # numba's own start-up (LLVM, the typing registry): not this pass's compile
print(numba_mlp.compile_here(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def cold_compile_seconds(task: str, dtype: str, depth: int) -> float:
    """What numba compiles for ``task``'s timed call at this dtype and depth (its signature: widths
    and batches do not change it), from nothing: in a fresh process with an empty cache. Once per
    signature in a process; in the process itself, functions the pass shares with another (the
    forward pass of J/F, the SGD loop) may have compiled already, or load from the run's cache."""
    key = (task, dtype, depth)
    if key not in _COLD_COMPILE:
        with tempfile.TemporaryDirectory() as empty:
            command = [sys.executable, "-c", PROBE, task, dtype, str(depth)]
            done = subprocess.run(command, env={**os.environ, "NUMBA_CACHE_DIR": empty}, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"numba's compile probe failed ({' '.join(command[3:])}): {done.stderr[-1000:]}")
        _COLD_COMPILE[key] = float(done.stdout.split()[-1])
    return _COLD_COMPILE[key]


def compile_here(task: str, dtype: str, depth: int) -> float:
    """Seconds to make a small pass of the signature ready in this process (its buffers, a few
    microseconds, and the compile, without running it)."""
    params = [(np.full((4, 4), 0.1, dtype), np.zeros(4, dtype)) for _ in range(depth)]
    x, t, codes = np.ones((4, 4), dtype), np.zeros((4, 4), dtype), _codes("tanh", depth)
    if task == "train":
        return timed(lambda: _prepare_train(params, x, t, 2, 0.1, None, codes, None, {}))[1]
    if task in ("jvp", "hvp"):
        return timed(lambda: _prepare_second_order(task, params, x, t, params, codes, {}))[1]
    if task in ("per-sample", "clipped"):
        return timed(lambda: _prepare_per_sample(task, params, x, t, 1.0, codes, {}))[1]
    return timed(lambda: _prepare_gradient(params, x, t, codes, {}))[1]


def _ready(function, args: tuple) -> None:
    """``function`` compiled (or loaded from the cache) for the types of ``args``, without running it:
    the row's first call is then a call, as JAX's after its ahead-of-time compile."""
    function.compile(tuple(numba.typeof(a) for a in args))


def _compile_s(task: str, dtype, depth: int, options) -> float | None:
    """The golden's compile time where the row records it (``options["measure_compile"]``: the first
    replicate of a benchmark run), else None: no probe process for a row that would drop it."""
    return cold_compile_seconds(task, np.dtype(dtype).name, depth) if options.get("measure_compile") else None


class _Buffers:
    """Everything a pass writes, allocated once for a shape, batch and dtype."""

    def __init__(self, params, batch: int, x=None):
        dtype = params[0][0].dtype
        sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
        self.Ws = tuple([np.ascontiguousarray(W).copy() for W, _ in params])
        self.bs = tuple([np.ascontiguousarray(b).copy() for _, b in params])
        self.ys = tuple(
            [np.empty((n, batch), dtype) if x is None or k else np.ascontiguousarray(x) for k, n in enumerate(sizes)]
        )
        self.dC_dy_T = tuple([np.empty((n, batch), dtype) for n in sizes])
        self.dWs = tuple([np.empty_like(W) for W, _ in params])
        self.dbs = tuple([np.empty_like(b) for _, b in params])


def _codes(activation, depth):
    return np.array([CODES[name] for name in activation_names(activation, depth)], np.int64)


def _clip_value(clip, dtype):
    return dtype.type(0 if clip is None else clip)  # 0: no clip


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "numba")
    c = problem.config
    params, x, t = problem.params, np.ascontiguousarray(problem.x), np.ascontiguousarray(problem.t)
    codes = _codes(c.activation, len(problem.params))
    if task == "train":
        return _prepare_train(params, x, t, c.steps, c.lr, c.clip, codes, problem.indices(), options)
    if task in ("jvp", "hvp"):
        return _prepare_second_order(task, params, x, t, problem.vector, codes, options)
    if task in ("per-sample", "clipped"):
        max_norm = problem.max_norm if task == "clipped" else 1.0
        return _prepare_per_sample(task, params, x, t, max_norm, codes, options)
    return _prepare_gradient(params, x, t, codes, options)


class _Tangents(_Buffers):
    """A pass's buffers and the R-operator's: the vector, R{z}, R{y}, R{dC/dy}, scratch."""

    def __init__(self, params, vector, batch: int, x):
        super().__init__(params, batch, x)
        self.VWs = tuple([np.ascontiguousarray(V).copy() for V, _ in vector])
        self.Vbs = tuple([np.ascontiguousarray(v).copy() for _, v in vector])
        self.R_zs, self.R_ys, self.R_dC_dy_T, self.scratch = (
            tuple([np.zeros_like(y) for y in self.ys]) for _ in range(4)
        )
        self.weight_scratch = tuple([np.empty_like(dW) for dW in self.dWs])


def _prepare_second_order(task, params, x, t, vector, codes, options) -> Prepared:
    dtype = x.dtype
    work = _Tangents(params, vector, x.shape[1], x)
    if task == "jvp":
        args = (work.Ws, work.bs, work.VWs, work.Vbs, codes, work.ys, work.R_zs, work.R_ys, work.scratch)
        function, call = _tangents, lambda: _tangents(*args)
        convert = lambda _: jvp_values(work.ys[-1].copy(), work.R_ys[-1].copy())  # noqa: E731
        base_work = _Buffers(params, x.shape[1], x)  # the base pass: the forward pass and its cost
        base = lambda: _forward_cost(base_work.Ws, base_work.bs, codes, t, base_work.ys, base_work.dC_dy_T[-1])  # noqa: E731
    else:
        args = (work.Ws, work.bs, work.VWs, work.Vbs, codes, t, work.ys, work.R_zs, work.R_ys, work.dC_dy_T,
                work.R_dC_dy_T, work.scratch, work.dWs, work.dbs, work.weight_scratch)  # fmt: skip
        function, call = _hvp_pass, lambda: _hvp_pass(*args)
        convert = lambda cost: (float(cost), [(H.copy(), h.copy()) for H, h in zip(work.dWs, work.dbs)])  # noqa: E731
        gradient = _prepare_gradient(params, x, t, codes, {})  # the base pass: the golden's own gradient
        base = gradient.run
    _ready(function, args)
    return Prepared(call, convert, base, compile_s=_compile_s(task, dtype, len(params), options))


def jvp(params, x, vector, activation="tanh", form="manual"):
    check_form(FORMS, form, "numba")
    x = np.ascontiguousarray(x)
    prepared = _prepare_second_order("jvp", params, x, x[:1], vector, _codes(activation, len(params)), {})
    y, dy = prepared.to_numpy(prepared.run())[1][0]
    return y, dy


def hvp(params, x, t, vector, activation="tanh", form="manual"):
    check_form(FORMS, form, "numba")
    x, t = np.ascontiguousarray(x), np.ascontiguousarray(t)
    prepared = _prepare_second_order("hvp", params, x, t, vector, _codes(activation, len(params)), {})
    return prepared.to_numpy(prepared.run())


def _prepare_per_sample(task, params, x, t, max_norm, codes, options) -> Prepared:
    """Every sample's gradient into (d, ...) arrays made once (as the reference's out=), or the
    clipped mean into the batch gradient's shapes."""
    dtype, d = x.dtype, x.shape[1]
    work = _Buffers(params, d, x)
    costs = np.empty(d, dtype)
    if task == "per-sample":
        dWs = tuple([np.empty((d, *W.shape), dtype) for W, _ in params])
        dbs = tuple([np.empty((d, *b.shape), dtype) for _, b in params])
        column = np.empty(max(y.shape[0] for y in work.ys), dtype)
        function, args = _per_sample_pass, (work.Ws, work.bs, codes, t, work.ys, work.dC_dy_T, costs, column, dWs, dbs)
        convert = lambda _: (float(costs.mean(dtype=np.float64)), [(W.copy(), b.copy()) for W, b in zip(dWs, dbs)])  # noqa: E731
    else:
        factors, squares = np.empty(d, dtype), np.empty(d, dtype)
        args = (work.Ws, work.bs, codes, t, dtype.type(max_norm), work.ys, work.dC_dy_T, costs, factors, squares,
                work.dWs, work.dbs)  # fmt: skip
        function = _clipped_pass
        convert = lambda cost: (float(cost), [(W.copy(), b.copy()) for W, b in zip(work.dWs, work.dbs)])  # noqa: E731
    _ready(function, args)
    return Prepared(lambda: function(*args), convert, compile_s=_compile_s(task, dtype, len(params), options))


def _prepare_gradient(params, x, t, codes, options) -> Prepared:
    dtype = x.dtype
    work = _Buffers(params, x.shape[1], x)
    args = (work.Ws, work.bs, codes, _clip_value(None, dtype), t, work.ys, work.dC_dy_T, work.dWs, work.dbs)

    def run():
        return _pass(*args)

    def to_numpy(cost):
        return float(cost), [(dW.copy(), db.copy()) for dW, db in zip(work.dWs, work.dbs)]

    forward_work = _Buffers(params, x.shape[1], x)  # the pass's forward half alone, for J/F
    _ready(_pass, args)
    return Prepared(
        run,
        to_numpy,
        lambda: _forward_cost(forward_work.Ws, forward_work.bs, codes, t, forward_work.ys, forward_work.dC_dy_T[-1]),
        compile_s=_compile_s("gradient", dtype, len(params), options),
    )


@njit(cache=True, fastmath=FAST)
def _forward_cost(Ws, bs, codes, t, ys, scratch):
    """The cost alone (J/F's denominator): the forward pass and C, no backward pass."""
    _forward(Ws, bs, codes, ys)
    return _cost_and_base(ys[len(Ws)], t, scratch)


def _prepare_train(params, x, t, steps, lr, clip, codes, indices, options) -> Prepared:
    dtype = x.dtype
    full_batch = indices is None
    batch = x.shape[1] if full_batch else indices.shape[1]
    work = _Buffers(params, batch, x if full_batch else None)
    start = [(W.copy(), b.copy()) for W, b in zip(work.Ws, work.bs)]
    tb = t if full_batch else np.empty((t.shape[0], batch), dtype)
    stream = np.zeros((steps, 0), np.int64) if full_batch else np.ascontiguousarray(indices, dtype=np.int64)
    history = np.empty(steps)
    args = (
        work.Ws,
        work.bs,
        codes,
        _clip_value(clip, dtype),
        dtype.type(lr),
        x,
        t,
        stream,
        full_batch,
        work.ys,
        tb,
        work.dC_dy_T,
        history,
    )

    def run():
        for (W, b), (W0, b0) in zip(zip(work.Ws, work.bs), start):  # every call from the same start
            W[...] = W0
            b[...] = b0
        _sgd(*args)
        return history

    def to_numpy(history):
        return float(history[-1]), [(W.copy(), b.copy()) for W, b in zip(work.Ws, work.bs)]

    _ready(_sgd, args)
    return Prepared(run, to_numpy, compile_s=_compile_s("train", dtype, len(params), options))


def gradients(params, x, t, activation="tanh", clip=None, form="manual"):
    check_form(FORMS, form, "numba")
    x, t = np.ascontiguousarray(x), np.ascontiguousarray(t)
    work = _Buffers(params, x.shape[1], x)
    cost = _pass(
        work.Ws,
        work.bs,
        _codes(activation, len(params)),
        _clip_value(clip, x.dtype),
        t,
        work.ys,
        work.dC_dy_T,
        work.dWs,
        work.dbs,
    )
    return float(cost), [(dW, db) for dW, db in zip(work.dWs, work.dbs)]


def train(params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="manual"):
    check_form(FORMS, form, "numba")
    x, t = np.ascontiguousarray(x), np.ascontiguousarray(t)
    indices = stream_indices(x.shape[1], steps, batch_size, shuffle, seed)
    prepared = _prepare_train(params, x, t, steps, lr, clip, _codes(activation, len(params)), indices, {})
    history = prepared.run()
    return as_float_arrays(prepared.to_numpy(history)[1]), history.copy()
