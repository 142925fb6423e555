"""The MLP in JAX: ``jax.value_and_grad`` (jitted or op by op), and the seed's equations in
``jax.numpy`` (``manual``: jit-compiled, no ``jax.grad``).

float64 is enabled when this module is imported, before any JAX array exists: without it a
float64 request silently becomes float32. Importing JAX does not start its CPU backend, so a
CPU affinity set afterwards (and before the first array) still limits JAX's threads.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import activation_names, stream_indices

jax.config.update("jax_enable_x64", True)

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


def gradient_function(params, x, t, activation="tanh", clip=None, manual=False, jit=True):
    """The call, and (as its ``peak_bytes``) XLA's account of the compiled program's memory."""
    args = to_device(params, x, t)
    f = value_and_grad(activation_names(activation, len(params)), clip, manual)
    compiled = compile_ahead(f, *args) if jit else f

    def run():
        return jax.block_until_ready(compiled(*args))

    memory = compiled.memory_analysis() if jit else None
    run.peak_bytes = None if memory is None else (memory.argument_size_in_bytes + memory.output_size_in_bytes
                                                  + memory.temp_size_in_bytes - memory.alias_size_in_bytes)  # fmt: skip
    return run


def forward_function(params, x, t, activation="tanh", jit=True):
    args = to_device(params, x, t)
    f = functools.partial(cost, names=activation_names(activation, len(params)))
    compiled = compile_ahead(f, *args) if jit else f
    return lambda: jax.block_until_ready(compiled(*args))


def to_numpy(result):
    c, grads = result
    return float(c), [(np.asarray(dW), np.asarray(db)) for dW, db in grads]


def gradients(params, x, t, activation="tanh", clip=None, manual=False, jit=False):
    return to_numpy(gradient_function(params, x, t, activation, clip, manual, jit)())


def sgd_step(names, lr, clip, manual):
    """One SGD step on one batch: (params, x, t) -> (cost, new params)."""
    f = value_and_grad(names, clip, manual)

    def step(params, x, t):
        c, grads = f(params, x, t)
        return c, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    return step


def training_function(params, x, t, steps, lr, clip, activation, indices, manual=False, whole_loop=False):
    """One jitted step per Python iteration, or (``whole_loop``) all steps in one ``lax.scan``,
    compiled ahead of time. Returns the call and, for the caller's record, nothing else: the
    compile happens here, outside the timed call."""
    step = sgd_step(activation_names(activation, len(params)), lr, clip, manual)
    params_j, x_j, t_j = to_device(params, x, t)
    if whole_loop:
        batches = jax.device_put(np.zeros((steps, 0), np.intp) if indices is None else indices)

        def loop(params, x, t, batches):
            def body(params, i):
                c, params = step(params, *((x, t) if indices is None else (x[:, i], t[:, i])))
                return params, c

            return jax.lax.scan(body, params, batches)

        compiled = compile_ahead(loop, params_j, x_j, t_j, batches)
        return lambda: jax.block_until_ready(compiled(params_j, x_j, t_j, batches))

    if indices is None:
        compiled = compile_ahead(step, params_j, x_j, t_j)
        calls = [(x_j, t_j)] * steps
    else:  # each step's batch on the device before timing: slicing a JAX array eagerly is a dispatch of its own
        compiled = compile_ahead(
            lambda p, x, t, i: step(p, x[:, i], t[:, i]), params_j, x_j, t_j, jax.device_put(indices[0])
        )
        calls = [(x_j, t_j, i) for i in jax.device_put(list(indices))]

    def run():
        params, history = params_j, []
        for args in calls:
            c, params = compiled(params, *args)
            history.append(c)
        return jax.block_until_ready((params, history))

    return run


def train(params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0,
          manual=False, whole_loop=False):  # fmt: skip
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    params_j, history = training_function(params, x, t, steps, lr, clip, activation, indices, manual, whole_loop)()
    return [(np.asarray(W), np.asarray(b)) for W, b in params_j], np.array([float(c) for c in history])
