"""The MLP in HIPS autograd: a tape over NumPy's own kernels.

``autograd.numpy`` wraps the very NumPy functions the reference calls, so autograd's time over
``numpy-hadamard``'s is NumPy's autograd tax with the kernels cancelling (up to the reference's
reused buffers: autograd allocates fresh arrays on every call, as any tape does).
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
from autograd import hessian_vector_product, make_jvp
from autograd.extend import defvjp, primitive
from autograd.misc import flatten

from . import Prepared, activation_names, as_float_arrays, check_form, jvp_values, stream_indices

ACTIVATIONS = {
    "sigmoid": (lambda z: 0.5 * (anp.tanh(0.5 * z) + 1), lambda y: y * (1 - y)),  # no overflow of exp(-z) in float32
    "tanh": (anp.tanh, lambda y: 1 - y * y),
    "softplus": (lambda z: anp.logaddexp(0, z), lambda y: -anp.expm1(-y)),
    "relu": (lambda z: anp.where(z > 0, z, 0), lambda y: (y > 0).astype(y.dtype)),  # derivative 0 at 0
    "identity": (lambda z: z, anp.ones_like),
}
FORMS = {
    "autodiff": "autograd.value_and_grad of the cost (training: one step per iteration; jvp: make_jvp; "
    "hvp: hessian_vector_product, reverse over reverse)"
}


@primitive
def clip_gradient(y, clip):
    """Identity forward; clips the incoming dC/dy[k] to [-clip, clip], as the seed."""
    return y


defvjp(clip_gradient, lambda ans, y, clip: lambda g: np.clip(g, -clip, clip))


def cost(params, x, t, names, clip=None):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](anp.dot(W, y) + b[:, None])
        if clip is not None:
            y = clip_gradient(y, float(clip))
    return anp.sum((y - t) ** 2) / (2 * x.shape[1])


def _value_and_grad(names, clip=None):
    return autograd.value_and_grad(lambda params, x, t: cost(params, x, t, names, clip))


def network_output(params, x, names):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](anp.dot(W, y) + b[:, None])
    return y


def second_order(task, names, params, x, t, vector):
    """A call of the task on these arguments: jvp -> (y[L], J v) by ``make_jvp``; hvp -> (cost, H v)
    by ``hessian_vector_product``. Both take one flat vector: the parameters flattened once here."""
    flat, unflatten = flatten(params)
    flat_vector, _ = flatten([tuple(layer) for layer in vector])
    if task == "jvp":
        jvp_at = make_jvp(lambda f: network_output(unflatten(f), x, names))

        def forward_mode():
            y, dy = jvp_at(flat)(flat_vector)
            # autograd's forward mode makes float64 tangents of constants (np.where's 0 for relu): the
            # user casts back, so the call does too
            return y, dy.astype(y.dtype, copy=False)

        return forward_mode
    hvp_of = hessian_vector_product(lambda f: cost(unflatten(f), x, t, names))
    return lambda: (cost(params, x, t, names), unflatten(hvp_of(flat, flat_vector)))


def jvp(params, x, vector, activation="tanh", form="autodiff"):
    check_form(FORMS, form, "autograd")
    names = activation_names(activation, len(params))
    return second_order("jvp", names, [tuple(layer) for layer in params], x, None, vector)()


def hvp(params, x, t, vector, activation="tanh", form="autodiff"):
    check_form(FORMS, form, "autograd")
    names = activation_names(activation, len(params))
    return _to_numpy(second_order("hvp", names, [tuple(layer) for layer in params], x, t, vector)())


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "autograd")
    c, params = problem.config, [tuple(layer) for layer in problem.params]
    names = activation_names(c.activation, len(params))
    if task in ("jvp", "hvp"):
        call = second_order(task, names, params, problem.x, problem.t, problem.vector)
        base_of = _value_and_grad(names) if task == "hvp" else lambda p, x, t: cost(p, x, t, names)
        return Prepared(
            call,
            (lambda result: jvp_values(*result)) if task == "jvp" else _to_numpy,
            lambda: base_of(params, problem.x, problem.t),
        )
    if task == "train":
        step = _sgd(names, c.lr, c.clip)
        indices = problem.indices()
        return Prepared(lambda: step(params, problem.x, problem.t, c.steps, indices), _trained)
    f = _value_and_grad(names)
    if task in ("per-sample", "clipped"):  # a Python loop over samples: one tape per sample
        columns = [(problem.x[:, i : i + 1], problem.t[:, i : i + 1]) for i in range(c.batch)]
        max_norm = problem.max_norm if task == "clipped" else None

        def loop():
            results = [f(params, xi, ti) for xi, ti in columns]
            costs = np.array([cost_ for cost_, _ in results])
            grads = [tuple(np.stack([g[k][j] for _, g in results]) for j in range(2)) for k in range(len(params))]
            return (costs, grads) if max_norm is None else _clipped_of(costs, grads, max_norm)

        return Prepared(loop, lambda r: (float(np.mean(r[0])), as_float_arrays(r[1])))
    return Prepared(
        lambda: f(params, problem.x, problem.t), _to_numpy, lambda: cost(params, problem.x, problem.t, names)
    )


def _clipped_of(costs, grads, max_norm):
    """The clipped mean from the loop's per-sample gradients (NumPy: autograd has no more to add)."""
    d = len(costs)
    norms = np.sqrt(sum(np.sum(g.reshape(d, -1) ** 2, axis=1) for layer in grads for g in layer))
    with np.errstate(divide="ignore"):
        weights = (np.minimum(max_norm / norms, 1.0) / d).astype(costs.dtype)
    return costs, [tuple(np.tensordot(weights, g, axes=1) for g in layer) for layer in grads]


def _sgd(names, lr, clip):
    f = _value_and_grad(names, clip)

    def train_steps(params, x, t, steps, indices):
        history = np.empty(steps)
        for step in range(steps):
            batch = (x, t) if indices is None else (x[:, indices[step]], t[:, indices[step]])
            history[step], grads = f(params, *batch)
            params = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
        return params, history

    return train_steps


def _to_numpy(result):
    c, grads = result
    return float(c), as_float_arrays(grads)


def _trained(result):
    params, history = result
    return float(history[-1]), as_float_arrays(params)


def gradients(params, x, t, activation="tanh", clip=None, form="autodiff"):
    check_form(FORMS, form, "autograd")
    names = activation_names(activation, len(params))
    return _to_numpy(_value_and_grad(names, clip)([tuple(layer) for layer in params], x, t))


def train(
    params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="autodiff"
):
    check_form(FORMS, form, "autograd")
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    step = _sgd(activation_names(activation, len(params)), lr, clip)
    trained, history = step([tuple(layer) for layer in params], x, t, steps, indices)
    return as_float_arrays(trained), history
