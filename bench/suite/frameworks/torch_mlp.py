"""The MLP in PyTorch: eager autograd, and the seed's equations in torch ops (``manual``).

``torch.nn.functional.softplus`` returns z itself for z > 20 (its ``threshold``); the reference
computes log(1 + e^z) exactly. They differ by at most 2e-9 there, so cross-checks keep
pre-activations below 20 (any network initialised by ``init_params`` on unit-scale data does).
"""

from __future__ import annotations

import contextlib
import warnings
from types import SimpleNamespace

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

from . import (
    BackendUnavailable,
    Prepared,
    activation_names,
    as_float_arrays,
    check_form,
    jvp_values,
    stream_indices,
    timed,
)

ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, lambda y: y * (1 - y)),
    "tanh": (torch.tanh, lambda y: 1 - y * y),
    "softplus": (F.softplus, lambda y: -torch.expm1(-y)),
    "relu": (torch.relu, lambda y: (y > 0).to(y.dtype)),  # derivative 0 at 0, as the reference
    "identity": (lambda z: z, torch.ones_like),
}


def set_threads(threads: int) -> dict:
    """``threads`` intra-op threads, one inter-op thread (allowed once, before inter-op work)."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set in this process: keep it
        torch.set_num_interop_threads(1)
    if torch.get_num_threads() != threads:
        raise RuntimeError(f"torch runs {torch.get_num_threads()} threads, expected {threads}")
    return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads()}


def to_tensors(params, x, t, requires_grad: bool = True):
    """NumPy -> torch, same dtype; parameters copied so that training never touches the inputs."""
    tensors = [
        (torch.tensor(W, requires_grad=requires_grad), torch.tensor(b, requires_grad=requires_grad)) for W, b in params
    ]
    return tensors, torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(t))


def cost(params, x, t, names, clip=None) -> torch.Tensor:
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y))
        if clip is not None and y.requires_grad:
            # The seed clips every dC/dy[k] before it is used: a hook on y[k]'s gradient.
            y.register_hook(lambda g: g.clamp(-clip, clip))
    return ((y - t) ** 2).sum() / (2 * x.shape[1])


@torch.no_grad()
def manual_gradients(params, x, t, names, clip=None):
    """The seed's three equations in torch ops, Hadamard form, no autograd graph.

    As in ``reference_impl.hadamard``, dC/dy[k] is stored transposed, one column per sample.
    """
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y[-1])))
    residual = y[-1] - t
    d = x.shape[1]
    dC_dy_T = residual / d  # base case: (dC/dy[L])^T
    grads = [None] * len(params)
    for k in range(len(params), 0, -1):
        if clip is not None:
            dC_dy_T = dC_dy_T.clamp(-clip, clip)  # the seed's clip
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])  # (dC/dy[k] nabla_sigma[k])^T
        grads[k - 1] = (delta @ y[k - 1].T, delta.sum(dim=1))  # (2) dC/dW[k], (3) dC/db[k]
        if k > 1:
            dC_dy_T = params[k - 1][0].T @ delta  # (1) (dC/dy[k-1])^T = W[k]^T delta
    return (residual * residual).sum() / (2 * d), [g for layer in grads for g in layer]


class ClipGradient(torch.autograd.Function):
    """Identity forward; clips the incoming dC/dy[k] to [-clip, clip] (the seed's clip) in a form
    torch.func's transforms accept, where tensor hooks are not allowed."""

    @staticmethod
    def forward(y, clip):
        return y.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.clip = inputs[1]

    @staticmethod
    def backward(ctx, g):
        return g.clamp(-ctx.clip, ctx.clip), None


def functional_cost(flat, x, t, names, clip=None) -> torch.Tensor:
    """The cost as a function of the flat parameter tuple (W1, b1, W2, ...), for torch.func."""
    y = x
    for k, name in enumerate(names):
        y = ACTIVATIONS[name][0](torch.addmm(flat[2 * k + 1][:, None], flat[2 * k], y))
        if clip is not None:
            y = ClipGradient.apply(y, clip)
    return ((y - t) ** 2).sum() / (2 * x.shape[1])


FORMS = {
    "autodiff": "eager autograd (torch.autograd.grad; training: backward() into .grad and torch.optim.SGD)",
    "manual": "the seed's equations in torch ops, no autograd graph",
    "func": "torch.func.grad_and_value of the cost, eager",
    "compile": "torch.compile of torch.func.grad_and_value (inductor)",
}


def value_and_grad(form, names, clip=None):
    """flat parameters, x, t -> (cost, flat gradients), in the form's way (not the compiled one)."""
    if form == "manual":
        return lambda flat, x, t: manual_gradients(list(zip(flat[::2], flat[1::2])), x, t, names, clip)
    if form in ("func", "compile"):
        grad_and_value = torch.func.grad_and_value(functional_cost)
        return lambda flat, x, t: grad_and_value(tuple(flat), x, t, names, clip)[::-1]

    def autodiff(flat, x, t):
        c = cost(list(zip(flat[::2], flat[1::2])), x, t, names, clip)
        return c, torch.autograd.grad(c, flat)  # fresh gradients, as ri.gradients without out=

    return autodiff


def compiled(f):
    """torch.compile(f); it compiles on its first call. Needs a C++ compiler (inductor runs g++)."""
    with warnings.catch_warnings():  # torch's compiler stack imports its own deprecated APIs
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.compile(f, dynamic=False)


def first_call(f, *args):
    """Call once (torch.compile compiles here) and time it; a compiler that fails says why."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return timed(lambda: f(*args))[1]
    except Exception as exc:  # inductor needs a working C++ toolchain; say why, don't crash the run
        raise BackendUnavailable(f"torch.compile does not work here: {type(exc).__name__}: {exc}"[:300]) from exc


# Per-sample gradients and DP-SGD's clipped mean (tasks "per-sample" and "clipped"), per form:
# autodiff loops over samples (torch.autograd.grad of one sample's cost, the baseline everyone
# quotes), func vmaps torch.func.grad_and_value over the samples, manual writes the outer products
# and the ghost norms in torch ops. Sample i's cost is 1/2 ||y_i - t_i||^2 (the seed's at d = 1).


@torch.no_grad()
def manual_sample_deltas(params, x, t, names):
    """Each sample's cost, and (k, delta[k], y[k-1]) for k = L..1, delta's column i sample i's."""
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y[-1])))
    dC_dy_T = y[-1] - t  # each sample's own base case: no 1/d
    costs = 0.5 * (dC_dy_T * dC_dy_T).sum(dim=0)
    layers = []
    for k in range(len(params), 0, -1):
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])
        layers.append((k, delta, y[k - 1]))
        if k > 1:
            dC_dy_T = params[k - 1][0].T @ delta  # (1)
    return costs, layers


@torch.no_grad()
def manual_per_sample(params, x, t, names):
    costs, layers = manual_sample_deltas(params, x, t, names)
    grads = [None] * len(params)
    for k, delta, y_prev in layers:  # (2) and (3), one term per sample: an outer product and delta itself
        grads[k - 1] = (delta.T[:, :, None] * y_prev.T[:, None, :], delta.T.clone())
    return costs, [g for layer in grads for g in layer]


def clip_weights(norms: torch.Tensor, max_norm: float, d: int) -> torch.Tensor:
    """s_i / d with s_i = min(1, C / ||g_i||) (a zero gradient keeps 1)."""
    return (max_norm / norms).clamp(max=1.0) / d


@torch.no_grad()
def manual_clipped(params, x, t, names, max_norm):
    """Ghost clipping: ||g_i||^2 = sum_k ||delta_i[k]||^2 (||y_i[k-1]||^2 + 1), then one weighted
    product per layer; no per-sample array."""
    costs, layers = manual_sample_deltas(params, x, t, names)
    squares = sum((delta * delta).sum(dim=0) * ((y_prev * y_prev).sum(dim=0) + 1) for _, delta, y_prev in layers)
    weights = clip_weights(squares.sqrt(), max_norm, x.shape[1])
    grads = [None] * len(params)
    for k, delta, y_prev in layers:
        scaled = delta * weights
        grads[k - 1] = (scaled @ y_prev.T, scaled.sum(dim=1))
    return costs.mean(), [g for layer in grads for g in layer]


def clipped_from_per_sample(costs, flat_grads, max_norm):
    """The clipped mean from materialised per-sample gradients (the loop and vmap forms)."""
    d = costs.shape[0]
    norms = sum((g.reshape(d, -1) ** 2).sum(dim=1) for g in flat_grads).sqrt()
    weights = clip_weights(norms, max_norm, d)
    return costs.mean(), [torch.tensordot(weights, g, dims=1) for g in flat_grads]


def per_sample_of(form, names):
    """flat parameters, x, t -> (costs (d,), flat per-sample gradients (d, ...)), in the form's way."""
    if form == "manual":
        return lambda flat, x, t: manual_per_sample(list(zip(flat[::2], flat[1::2])), x, t, names)
    if form == "func":
        one = torch.func.grad_and_value(lambda flat, xi, ti: functional_cost(flat, xi[:, None], ti[:, None], names))
        each = torch.func.vmap(one, in_dims=(None, 1, 1))

        def vmapped(flat, x, t):
            grads, costs = each(tuple(flat), x, t)
            return costs, list(grads)

        return vmapped

    def loop(flat, x, t):
        pairs = list(zip(flat[::2], flat[1::2]))
        costs, grads = [], [[] for _ in flat]
        for i in range(x.shape[1]):
            c = cost(pairs, x[:, i : i + 1], t[:, i : i + 1], names)
            for collected, g in zip(grads, torch.autograd.grad(c, flat)):
                collected.append(g)
            costs.append(c.detach())
        return torch.stack(costs), [torch.stack(g) for g in grads]

    return loop


def prepare_per_sample(task, form, problem) -> Prepared:
    if form == "compile":
        raise BackendUnavailable(f"torch-compile has no {task} form")
    names = activation_names(problem.config.activation, len(problem.params))
    params_t, x_t, t_t = to_tensors(problem.params, problem.x, problem.t, requires_grad=form == "autodiff")
    flat = [p for layer in params_t for p in layer]
    per_sample = per_sample_of(form, names)
    if task == "per-sample":
        return Prepared(lambda: per_sample(flat, x_t, t_t), per_sample_to_numpy)
    max_norm = problem.max_norm
    if form == "manual":
        return Prepared(lambda: manual_clipped(params_t, x_t, t_t, names, max_norm), to_numpy)
    return Prepared(lambda: clipped_from_per_sample(*per_sample(flat, x_t, t_t), max_norm), to_numpy)


def per_sample_to_numpy(result):
    costs, flat = result
    arrays = [g.detach().numpy() for g in flat]
    return float(costs.detach().mean()), list(zip(arrays[::2], arrays[1::2]))


# Forward mode and second order (tasks "jvp" and "hvp"): autodiff is torch.autograd (forward_ad's
# dual tensors; double backward with create_graph=True, reverse over reverse), func is torch.func
# (jvp; jvp of grad, forward over reverse), manual the R-operator in torch ops.

# forward_ad loads its decompositions on the first dual tensor, through torch.jit.script, which warns
# that it is deprecated: entered once here, with that warning silenced, so no timed call pays it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with fwAD.dual_level():
        fwAD.make_dual(torch.zeros(1), torch.zeros(1))

ACTIVATION_SECOND = {  # sigma'' through y, as reference_impl.activations
    "sigmoid": lambda y: y * (1 - y) * (1 - 2 * y),
    "tanh": lambda y: -2 * y * (1 - y * y),
    "softplus": lambda y: -torch.expm1(-y) * torch.exp(-y),
    "relu": torch.zeros_like,
    "identity": torch.zeros_like,
}


def network_output(flat, x, names):
    y = x
    for k, name in enumerate(names):
        y = ACTIVATIONS[name][0](torch.addmm(flat[2 * k + 1][:, None], flat[2 * k], y))
    return y


@torch.no_grad()
def manual_tangents(flat, x, vflat, names):
    """Forward tangents: y[0..L], R{z[k]}, R{y[k]} (reference_impl.hadamard.tangents)."""
    y, R_z, R_y = [x], [None], [None]
    for k, name in enumerate(names, start=1):
        W, b, V_W, V_b = flat[2 * k - 2], flat[2 * k - 1], vflat[2 * k - 2], vflat[2 * k - 1]
        y.append(ACTIVATIONS[name][0](torch.addmm(b[:, None], W, y[-1])))
        z = torch.addmm(V_b[:, None], V_W, y[k - 1])
        R_z.append(z if k == 1 else z.addmm_(W, R_y[k - 1]))  # R{z[k]} = V_W y[k-1] + W R{y[k-1]} + V_b
        R_y.append(ACTIVATIONS[name][1](y[k]) * R_z[k])  # R{y[k]} = nabla_sigma[k] R{z[k]}
    return y, R_z, R_y


@torch.no_grad()
def manual_hvp(flat, x, t, vflat, names):
    """The R-operator on the seed's three equations (reference_impl.hadamard.r_backward)."""
    y, R_z, R_y = manual_tangents(flat, x, vflat, names)
    d = x.shape[1]
    residual = y[-1] - t
    dC_dy_T, R_dC_dy_T = residual / d, R_y[-1] / d
    products = [None] * (2 * len(names))
    for k in range(len(names), 0, -1):
        name, W, V_W = names[k - 1], flat[2 * k - 2], vflat[2 * k - 2]
        nabla_sigma = ACTIVATIONS[name][1](y[k])
        delta = dC_dy_T * nabla_sigma
        R_delta = R_dC_dy_T * nabla_sigma + dC_dy_T * ACTIVATION_SECOND[name](y[k]) * R_z[k]
        H_W = R_delta @ y[k - 1].T  # R{(2)}
        if k > 1:
            H_W.addmm_(delta, R_y[k - 1].T)
        products[2 * k - 2], products[2 * k - 1] = H_W, R_delta.sum(dim=1)  # R{(3)}
        if k > 1:
            R_dC_dy_T = (W.T @ R_delta).addmm_(V_W.T, delta)  # R{(1)}
            dC_dy_T = W.T @ delta  # (1)
    return (residual * residual).sum() / (2 * d), products


def second_order(task, form, names):
    """(flat params, x, t, flat vector) -> jvp: (y[L], J v); hvp: (cost, flat H v)."""
    if task == "jvp":
        if form == "manual":
            return lambda flat, x, t, vflat: (lambda y, _, R_y: (y[-1], R_y[-1]))(
                *manual_tangents(flat, x, vflat, names)
            )
        if form == "func":
            return lambda flat, x, t, vflat: torch.func.jvp(
                lambda *f: network_output(f, x, names), tuple(flat), tuple(vflat)
            )

        def dual_numbers(flat, x, t, vflat):
            with fwAD.dual_level():
                duals = [fwAD.make_dual(p, v) for p, v in zip(flat, vflat)]
                primal, tangent = fwAD.unpack_dual(network_output(duals, x, names))
                return primal, tangent

        return dual_numbers
    if form == "manual":
        return lambda flat, x, t, vflat: manual_hvp(flat, x, t, vflat, names)
    if form == "func":
        grad_and_value = torch.func.grad_and_value(functional_cost)

        def forward_over_reverse(flat, x, t, vflat):
            (_, c), (hv, _) = torch.func.jvp(lambda *f: grad_and_value(f, x, t, names), tuple(flat), tuple(vflat))
            return c, hv

        return forward_over_reverse

    def double_backward(flat, x, t, vflat):
        c = cost(list(zip(flat[::2], flat[1::2])), x, t, names)
        grads = torch.autograd.grad(c, flat, create_graph=True)
        directional = sum((g * v).sum() for g, v in zip(grads, vflat))
        return c, torch.autograd.grad(directional, flat)

    return double_backward


def jvp_to_numpy(result):
    return jvp_values(*(a.detach().numpy() for a in result))


def _prepare_second_order(task, form, problem, names) -> Prepared:
    params_t, x_t, t_t = to_tensors(problem.params, problem.x, problem.t, requires_grad=form == "autodiff")
    flat = [p for layer in params_t for p in layer]
    vflat = [torch.from_numpy(np.asarray(v)) for layer in problem.vector for v in layer]
    program = second_order(task, form, names)
    if task == "jvp":  # the base pass: the forward pass and its cost
        detached = [p.detach() for p in flat]

        def base():
            with torch.inference_mode():
                return cost(list(zip(detached[::2], detached[1::2])), x_t, t_t, names)
    else:  # the base pass: the same form's own gradient
        gradient = value_and_grad(form, names)

        def base():
            return gradient(flat, x_t, t_t)

    return Prepared(lambda: program(flat, x_t, t_t, vflat), jvp_to_numpy if task == "jvp" else to_numpy, base)


def jvp(params, x, vector, activation="tanh", form="autodiff"):
    check_form(FORMS, form, "torch")
    params_t, x_t, _ = to_tensors(params, x, x[:1], requires_grad=False)
    flat = [p for layer in params_t for p in layer]
    vflat = [torch.from_numpy(np.asarray(v)) for layer in vector for v in layer]
    y, dy = second_order("jvp", form, activation_names(activation, len(params)))(flat, x_t, None, vflat)
    return y.detach().numpy(), dy.detach().numpy()


def hvp(params, x, t, vector, activation="tanh", form="autodiff"):
    check_form(FORMS, form, "torch")
    params_t, x_t, t_t = to_tensors(params, x, t, requires_grad=form == "autodiff")
    flat = [p for layer in params_t for p in layer]
    vflat = [torch.from_numpy(np.asarray(v)) for layer in vector for v in layer]
    return to_numpy(second_order("hvp", form, activation_names(activation, len(params)))(flat, x_t, t_t, vflat))


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "torch")
    c = problem.config
    names = activation_names(c.activation, len(problem.params))
    if task == "train":
        return _prepare_train(form, problem, names)
    if task in ("per-sample", "clipped"):
        return prepare_per_sample(task, form, problem)
    if task in ("jvp", "hvp"):
        return _prepare_second_order(task, form, problem, names)
    params_t, x_t, t_t = to_tensors(problem.params, problem.x, problem.t, requires_grad=form == "autodiff")
    flat = [p for layer in params_t for p in layer]
    f = value_and_grad(form, names)
    compile_s = None
    if form == "compile":
        f = compiled(f)
        compile_s = first_call(f, flat, x_t, t_t)
    forward_params = [p.detach() for p in flat]

    def forward():
        with torch.inference_mode():
            return cost(list(zip(forward_params[::2], forward_params[1::2])), x_t, t_t, names)

    return Prepared(lambda: f(flat, x_t, t_t), to_numpy, forward, compile_s, compile_runs=1 if compile_s else 0)


def _prepare_train(form, problem, names) -> Prepared:
    c = problem.config
    x_t, t_t = torch.from_numpy(np.asarray(problem.x)), torch.from_numpy(np.asarray(problem.t))
    indices = problem.indices()
    batches = None if indices is None else [torch.from_numpy(i) for i in indices]
    start = to_tensors(problem.params, problem.x, problem.t, requires_grad=form == "autodiff")[0]
    flat = [p for layer in start for p in layer]
    optimizer = torch.optim.SGD(flat, lr=c.lr) if form == "autodiff" else None
    initial = [p.detach().clone() for p in flat]
    step_of = value_and_grad(form, names, c.clip)
    if form == "compile":
        step_of = compiled(step_of)

    def batch(step):
        return (x_t, t_t) if batches is None else (x_t[:, batches[step]], t_t[:, batches[step]])

    def run():
        with torch.no_grad():  # every call from the same start, restored in place: no new tensors
            for p, p0 in zip(flat, initial):
                p.copy_(p0)
        history = torch.empty(c.steps, dtype=torch.float64)
        for step in range(c.steps):
            if form == "autodiff":
                optimizer.zero_grad()
                cost_ = cost(start, *batch(step), names, c.clip)
                cost_.backward()
                optimizer.step()
            else:
                cost_, grads = step_of(flat, *batch(step))
                with torch.no_grad():
                    for p, g in zip(flat, grads):
                        p.sub_(g, alpha=c.lr)
            history[step] = cost_.detach()
        return [(W.detach().clone(), b.detach().clone()) for W, b in zip(flat[::2], flat[1::2])], history

    compile_s = first_call(run) if form == "compile" else None
    return Prepared(
        run,
        lambda result: (float(result[1][-1]), as_float_arrays(result[0])),
        compile_s=compile_s,
        compile_runs=1 if compile_s else 0,
    )


def to_numpy(result):
    c, flat = result
    arrays = [g.detach().numpy() for g in flat]
    return float(c.detach()), list(zip(arrays[::2], arrays[1::2]))


def gradients(params, x, t, activation="tanh", clip=None, form="autodiff"):
    check_form(FORMS, form, "torch")
    params_t, x_t, t_t = to_tensors(params, x, t, requires_grad=form == "autodiff")
    flat = [p for layer in params_t for p in layer]
    return to_numpy(value_and_grad(form, activation_names(activation, len(params)), clip)(flat, x_t, t_t))


def train(
    params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="autodiff"
):
    check_form(FORMS, form, "torch")
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    config = SimpleNamespace(activation=activation, steps=steps, lr=lr, clip=clip)
    problem = SimpleNamespace(params=params, x=x, t=t, config=config, indices=lambda: indices)
    trained, history = _prepare_train(form, problem, activation_names(activation, len(params))).run()
    return as_float_arrays(trained), history.numpy()
