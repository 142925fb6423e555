"""The MLP in JAX: ``jax.value_and_grad`` (jitted or op by op), and the seed's equations in
``jax.numpy`` (``manual``: jit-compiled, no ``jax.grad``).

float64 is enabled when this module is imported, before any JAX array exists: without it a
float64 request silently becomes float32. Importing JAX does not start its CPU backend, so a
CPU affinity set afterwards (and before the first array) still limits JAX's threads.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from . import Prepared, activation_names, as_float_arrays, check_form, jvp_values, stream_indices, timed

jax.config.update("jax_enable_x64", True)


def use_compile_cache(path) -> None:
    """JAX's persistent compilation cache in ``path``: a later worker of the run loads each
    compiled program instead of compiling it again (every program, however quick to compile)."""
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


ACTIVATIONS = {
    "sigmoid": (jax.nn.sigmoid, lambda y: y * (1 - y)),
    "tanh": (jnp.tanh, lambda y: 1 - y * y),
    "softplus": (jax.nn.softplus, lambda y: -jnp.expm1(-y)),
    "relu": (jax.nn.relu, lambda y: (y > 0).astype(y.dtype)),  # derivative 0 at 0, as the reference
    "identity": (lambda z: z, jnp.ones_like),
}


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def clip_gradient(y, clip):
    """Identity forward; clips the incoming gradient dC/dy[k] to [-clip, clip], as the seed."""
    return y


clip_gradient.defvjp(lambda y, clip: (y, None), lambda clip, _, g: (jnp.clip(g, -clip, clip),))


def cost(params, x, t, names, clip=None):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](W @ y + b[:, None])
        if clip is not None:
            y = clip_gradient(y, clip)
    return jnp.sum((y - t) ** 2) / (2 * x.shape[1])


def manual_value_and_grad(params, x, t, names, clip=None):
    """The seed's three equations in jax.numpy, Hadamard form; dC/dy[k] stored transposed, one
    column per sample, as in ``reference_impl.hadamard``."""
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](W @ y[-1] + b[:, None]))
    residual = y[-1] - t
    d = x.shape[1]
    dC_dy_T = residual / d  # base case: (dC/dy[L])^T
    grads = [None] * len(params)
    for k in range(len(params), 0, -1):
        if clip is not None:
            dC_dy_T = jnp.clip(dC_dy_T, -clip, clip)  # the seed's clip
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])  # (dC/dy[k] nabla_sigma[k])^T
        grads[k - 1] = (delta @ y[k - 1].T, delta.sum(axis=1))  # (2) dC/dW[k], (3) dC/db[k]
        if k > 1:
            dC_dy_T = params[k - 1][0].T @ delta  # (1) (dC/dy[k-1])^T = W[k]^T delta
    return jnp.sum(residual * residual) / (2 * d), grads


def value_and_grad(names, clip=None, manual=False):
    if manual:
        return functools.partial(manual_value_and_grad, names=names, clip=clip)
    return jax.value_and_grad(functools.partial(cost, names=names, clip=clip))


def to_device(params, x, t):
    """NumPy -> JAX arrays on the CPU device, once (passing NumPy would copy on every call)."""
    return jax.device_put(([tuple(layer) for layer in params], x, t))


def compile_ahead(f, *args):
    """jax.jit(f) compiled for exactly these arguments, outside any timed region."""
    return jax.jit(f).lower(*args).compile()


def sgd_step(names, lr, clip, manual):
    """One SGD step on one batch: (params, x, t) -> (cost, new params)."""
    f = value_and_grad(names, clip, manual)

    def step(params, x, t):
        c, grads = f(params, x, t)
        return c, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    return step


FORMS = {
    "autodiff": "jax.jit of jax.value_and_grad (training: one jitted step per iteration; per-sample: jit of vmap)",
    "manual": "the seed's equations in jax.numpy, jitted, no jax.grad",
    "eager": "jax.value_and_grad op by op, no jit",
    "scan": "the whole SGD loop in one jitted lax.scan",
    "loop": "per-sample: a Python loop over samples of a jitted value_and_grad of one sample",
    "revrev": "hvp: jax.grad of <jax.grad, v> (reverse over reverse), jitted",
}


# Forward mode and second order (tasks "jvp" and "hvp"): JAX's transforms, or the R-operator written out.

ACTIVATION_SECOND = {  # sigma'' through y, as reference_impl.activations
    "sigmoid": lambda y: y * (1 - y) * (1 - 2 * y),
    "tanh": lambda y: -2 * y * (1 - y * y),
    "softplus": lambda y: -jnp.expm1(-y) * jnp.exp(-y),
    "relu": jnp.zeros_like,
    "identity": jnp.zeros_like,
}


def network_output(params, x, names):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](W @ y + b[:, None])
    return y


def manual_tangents(params, x, vector, names):
    """Forward tangents: y[0..L], R{z[k]} and R{y[k]} (reference_impl.hadamard.tangents)."""
    y, R_z, R_y = [x], [None], [jnp.zeros_like(x)]
    for k, ((W, b), (V_W, V_b), name) in enumerate(zip(params, vector, names), start=1):
        y.append(ACTIVATIONS[name][0](W @ y[-1] + b[:, None]))
        R_z.append(V_W @ y[k - 1] + (W @ R_y[k - 1] if k > 1 else 0) + V_b[:, None])  # R{z[k]}
        R_y.append(ACTIVATIONS[name][1](y[k]) * R_z[k])  # R{y[k]} = nabla_sigma[k] R{z[k]}
    return y, R_z, R_y


def manual_hvp(params, x, t, vector, names):
    """The R-operator on the seed's three equations, Hadamard form (reference_impl.hadamard.r_backward)."""
    y, R_z, R_y = manual_tangents(params, x, vector, names)
    d = x.shape[1]
    residual = y[-1] - t
    dC_dy_T, R_dC_dy_T = residual / d, R_y[-1] / d
    products = [None] * len(params)
    for k in range(len(params), 0, -1):
        name, W, V_W = names[k - 1], params[k - 1][0], vector[k - 1][0]
        nabla_sigma = ACTIVATIONS[name][1](y[k])
        delta = dC_dy_T * nabla_sigma
        R_delta = R_dC_dy_T * nabla_sigma + dC_dy_T * ACTIVATION_SECOND[name](y[k]) * R_z[k]
        H_W = R_delta @ y[k - 1].T + (delta @ R_y[k - 1].T if k > 1 else 0)  # R{(2)}
        products[k - 1] = (H_W, R_delta.sum(axis=1))  # R{(3)}
        if k > 1:
            R_dC_dy_T = W.T @ R_delta + V_W.T @ delta  # R{(1)}
            dC_dy_T = W.T @ delta  # (1)
    return jnp.sum(residual * residual) / (2 * d), products


def second_order_program(task, form, names):
    """(params, x, t, vector) -> jvp: (y[L], J v); hvp: (cost, H v)."""
    if task == "jvp":
        if form == "manual":
            return lambda params, x, t, vector: (lambda y, _, R_y: (y[-1], R_y[-1]))(
                *manual_tangents(params, x, vector, names)
            )
        return lambda params, x, t, vector: jax.jvp(lambda p: network_output(p, x, names), (params,), (vector,))
    if form == "manual":
        return lambda params, x, t, vector: manual_hvp(params, x, t, vector, names)
    value_and_grad_ = jax.value_and_grad(functools.partial(cost, names=names))
    if form == "revrev":

        def directional(p, x, t, vector):  # <grad C(p), v>, with C as the auxiliary output
            c, g = value_and_grad_(p, x, t)
            return sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(vector))), c

        return lambda params, x, t, vector: (lambda hv, c: (c, hv))(
            *jax.grad(directional, has_aux=True)(params, x, t, vector)
        )

    def forward_over_reverse(params, x, t, vector):
        (c, _), (_, hv) = jax.jvp(lambda p: value_and_grad_(p, x, t), (params,), (vector,))
        return c, hv

    return forward_over_reverse


def _prepare_second_order(task, form, problem, names) -> Prepared:
    args = (*to_device(problem.params, problem.x, problem.t), jax.device_put([tuple(v) for v in problem.vector]))
    program, compile_s = timed(lambda: compile_ahead(second_order_program(task, form, names), *args))
    if task == "jvp":  # the base pass: the forward pass (and its cost)
        base = compile_ahead(functools.partial(cost, names=names), *args[:3])
    else:  # the base pass: the same form's own gradient
        base = compile_ahead(value_and_grad(names, manual=form == "manual"), *args[:3])
    return Prepared(
        lambda: jax.block_until_ready(program(*args)),
        (lambda result: jvp_values(*result)) if task == "jvp" else to_numpy,
        lambda: jax.block_until_ready(base(*args[:3])),
        compile_s,
        compiled_bytes(program),
    )


def jvp(params, x, vector, activation="tanh", form="autodiff"):
    names = activation_names(activation, len(params))
    args = (*to_device(params, x, x[:1]), jax.device_put([tuple(v) for v in vector]))
    y, dy = jax.jit(second_order_program("jvp", form, names))(*args)
    return np.asarray(y), np.asarray(dy)


def hvp(params, x, t, vector, activation="tanh", form="autodiff"):
    names = activation_names(activation, len(params))
    args = (*to_device(params, x, t), jax.device_put([tuple(v) for v in vector]))
    return to_numpy(jax.jit(second_order_program("hvp", form, names))(*args))


# Per-sample gradients and DP-SGD's clipped mean (tasks "per-sample" and "clipped"). Sample i's
# cost is 1/2 ||y_i - t_i||^2, the seed's cost at d = 1.


def sample_value_and_grad(names):
    """(params, x_i, t_i) of one sample (vectors) -> (C_i, its gradients)."""
    one = jax.value_and_grad(functools.partial(cost, names=names))
    return lambda params, xi, ti: one(params, xi[:, None], ti[:, None])


def manual_per_sample(params, x, t, names):
    """The seed's equations with each sample's own base case; (2) and (3) one term per sample."""
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](W @ y[-1] + b[:, None]))
    dC_dy_T = y[-1] - t  # no 1/d: each sample's own cost
    costs = 0.5 * jnp.sum(dC_dy_T * dC_dy_T, axis=0)
    layers = []
    for k in range(len(params), 0, -1):
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])
        layers.append((k, delta, y[k - 1]))
        if k > 1:
            dC_dy_T = params[k - 1][0].T @ delta  # (1)
    return costs, layers[::-1]


def clip_weights(norms, max_norm, d):
    """s_i / d with s_i = min(1, C / ||g_i||) (a zero gradient keeps 1)."""
    return jnp.minimum(max_norm / norms, 1.0).astype(norms.dtype) / d


def per_sample_program(form, names, max_norm=None):
    """(params, x, t) -> (costs, per-sample grads) or, with ``max_norm``, (cost, clipped mean grads)."""
    if form == "manual":

        def per_sample(params, x, t):
            costs, layers = manual_per_sample(params, x, t, names)
            return costs, [(delta.T[:, :, None] * y_prev.T[:, None, :], delta.T) for _, delta, y_prev in layers]

        def clipped(params, x, t):  # ghost norms: ||delta_i|| ||y_i||, one weighted product per layer
            costs, layers = manual_per_sample(params, x, t, names)
            squares = sum(jnp.sum(delta * delta, 0) * (jnp.sum(y_prev * y_prev, 0) + 1) for _, delta, y_prev in layers)
            weights = clip_weights(jnp.sqrt(squares), max_norm, x.shape[1])
            return jnp.mean(costs), [
                ((delta * weights) @ y_prev.T, (delta * weights).sum(1)) for _, delta, y_prev in layers
            ]
    else:

        def per_sample(params, x, t):
            costs, grads = jax.vmap(sample_value_and_grad(names), in_axes=(None, 1, 1))(params, x, t)
            return costs, grads

        def clipped(params, x, t):
            return _clipped_of(per_sample(params, x, t), max_norm)

    return per_sample if max_norm is None else clipped


def _prepare_per_sample(task, form, args, problem, names) -> Prepared:
    params, x, t = args
    max_norm = problem.max_norm if task == "clipped" else None
    convert = per_sample_to_numpy if task == "per-sample" else to_numpy
    if form == "loop":  # one sample's compiled gradient, called per sample from Python
        one, compile_s = timed(lambda: compile_ahead(sample_value_and_grad(names), params, x[:, 0], t[:, 0]))
        columns = [(x[:, i], t[:, i]) for i in range(x.shape[1])]  # on the device before timing
        gather = jax.jit(
            lambda results: (
                jnp.stack([c for c, _ in results]),
                jax.tree.map(lambda *g: jnp.stack(g), *[g for _, g in results]),
            )
        )
        finish = (lambda r: r) if max_norm is None else jax.jit(lambda r: _clipped_of(r, max_norm))

        def loop():
            return jax.block_until_ready(finish(gather([one(params, xi, ti) for xi, ti in columns])))

        return Prepared(loop, convert, compile_s=compile_s)
    program, compile_s = timed(lambda: compile_ahead(per_sample_program(form, names, max_norm), *args))
    return Prepared(
        lambda: jax.block_until_ready(program(*args)),
        convert,
        compile_s=compile_s,
        compiled_bytes=compiled_bytes(program),
    )


def _clipped_of(result, max_norm):
    costs, grads = result
    flat = jax.tree.leaves(grads)
    norms = jnp.sqrt(sum(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in flat))
    weights = clip_weights(norms, max_norm, costs.shape[0])
    return jnp.mean(costs), jax.tree.map(lambda g: jnp.tensordot(weights, g, axes=1), grads)


def per_sample_to_numpy(result):
    costs, grads = result
    return float(np.mean(np.asarray(costs))), as_float_arrays(grads)


def compiled_bytes(program) -> int | None:
    """XLA's own account of a compiled program's memory: arguments, outputs and temporaries."""
    memory = program.memory_analysis()
    if memory is None:
        return None
    return (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "jax")
    c = problem.config
    names = activation_names(c.activation, len(problem.params))
    args = to_device(problem.params, problem.x, problem.t)
    if task == "train":
        return _prepare_train(form, args, c, names, problem.indices())
    if task in ("per-sample", "clipped"):
        return _prepare_per_sample(task, form, args, problem, names)
    if task in ("jvp", "hvp"):
        return _prepare_second_order(task, form, problem, names)
    f = value_and_grad(names, manual=form == "manual")
    forward = functools.partial(cost, names=names)
    if form == "eager":
        return Prepared(
            lambda: jax.block_until_ready(f(*args)), to_numpy, lambda: jax.block_until_ready(forward(*args))
        )
    program, compile_s = timed(lambda: compile_ahead(f, *args))  # the gradient's compile alone
    forward_program = compile_ahead(forward, *args)
    return Prepared(
        lambda: jax.block_until_ready(program(*args)),
        to_numpy,
        lambda: jax.block_until_ready(forward_program(*args)),
        compile_s,
        compiled_bytes(program),
    )


def _prepare_train(form, args, c, names, indices) -> Prepared:
    """One jitted step per Python iteration, or (``scan``) all steps in one ``lax.scan``,
    compiled ahead of time here, outside the timed call."""
    step = sgd_step(names, c.lr, c.clip, manual=form == "manual")
    params_j, x_j, t_j = args
    if form == "scan":
        batches = jax.device_put(np.zeros((c.steps, 0), np.intp) if indices is None else indices)

        def loop(params, x, t, batches):
            def body(params, i):
                cost_, params = step(params, *((x, t) if indices is None else (x[:, i], t[:, i])))
                return params, cost_

            return jax.lax.scan(body, params, batches)

        program, compile_s = timed(lambda: compile_ahead(loop, params_j, x_j, t_j, batches))
        run = lambda: jax.block_until_ready(program(params_j, x_j, t_j, batches))  # noqa: E731
        return Prepared(run, _trained_to_numpy, compile_s=compile_s)

    if indices is None:
        program, compile_s = timed(lambda: compile_ahead(step, params_j, x_j, t_j))
        calls = [(x_j, t_j)] * c.steps
    else:  # each step's batch on the device before timing: slicing a JAX array eagerly is a dispatch of its own
        batched = lambda p, x, t, i: step(p, x[:, i], t[:, i])  # noqa: E731
        program, compile_s = timed(lambda: compile_ahead(batched, params_j, x_j, t_j, jax.device_put(indices[0])))
        calls = [(x_j, t_j, i) for i in jax.device_put(list(indices))]

    def run():
        params, history = params_j, []
        for call_args in calls:
            cost_, params = program(params, *call_args)
            history.append(cost_)
        return jax.block_until_ready((params, history))

    return Prepared(run, _trained_to_numpy, compile_s=compile_s)


def _trained_to_numpy(result):
    params, history = result
    return float(np.ravel(np.asarray(history))[-1]), as_float_arrays(params)


def to_numpy(result):
    c, grads = result
    return float(c), as_float_arrays(grads)


def gradients(params, x, t, activation="tanh", clip=None, form="eager"):
    """Op by op by default (no compile per shape); ``form="autodiff"`` checks the jitted program."""
    check_form(FORMS, form, "jax")
    f = value_and_grad(activation_names(activation, len(params)), clip, manual=form == "manual")
    args = to_device(params, x, t)
    return to_numpy((f if form == "eager" else jax.jit(f))(*args))


def train(
    params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="autodiff"
):
    check_form(FORMS, form, "jax")
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    config = SimpleNamespace(steps=steps, lr=lr, clip=clip)
    names = activation_names(activation, len(params))
    trained, history = _prepare_train(form, to_device(params, x, t), config, names, indices).run()
    return as_float_arrays(trained), np.array([float(c) for c in np.ravel(history)])
