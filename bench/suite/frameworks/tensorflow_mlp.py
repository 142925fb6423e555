"""The MLP in TensorFlow: ``GradientTape`` compiled by XLA (``tf.function(jit_compile=True)``) or
op by op, the seed's equations in TF ops (``manual``, compiled, no tape), and the whole SGD loop
in one compiled function (``loop``).

TensorFlow prints oneDNN and CPU-feature lines when it loads; ``TF_CPP_MIN_LOG_LEVEL=2`` (set
here unless the user set it) keeps the suite's output to its own. Its thread pools are sized once,
before its first operation, by ``set_threads`` (the suite's thread policy calls it).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: its C++ logging reads it once

import numpy as np
import tensorflow as tf

from . import Prepared, activation_names, as_float_arrays, check_form, jvp_values, stream_indices, timed

ACTIVATIONS = {
    "sigmoid": (tf.sigmoid, lambda y: y * (1 - y)),
    "tanh": (tf.tanh, lambda y: 1 - y * y),
    "softplus": (tf.nn.softplus, lambda y: -tf.math.expm1(-y)),
    "relu": (tf.nn.relu, lambda y: tf.cast(y > 0, y.dtype)),  # derivative 0 at 0, as the reference
    "identity": (lambda z: z, tf.ones_like),
}
FORMS = {
    "autodiff": "tf.function(jit_compile=True) of a GradientTape (training: one compiled step per iteration)",
    "eager": "GradientTape op by op, no tf.function",
    "manual": "the seed's equations in TF ops, tf.function(jit_compile=True), no tape",
    "loop": "the whole SGD loop in one tf.function(jit_compile=True); per-sample: a Python loop over samples of "
    "one sample's compiled gradient",
}


def set_threads(threads: int) -> dict:
    """Intra-op threads as every library, one inter-op thread (as torch); only before the first op."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an operation: its pools are fixed
        pass
    return {
        "tensorflow_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def _clipper(clip):
    @tf.custom_gradient
    def clip_gradient(y):
        """Identity forward; clips the incoming dC/dy[k] to [-clip, clip], as the seed."""
        return tf.identity(y), lambda g: tf.clip_by_value(g, -clip, clip)

    return clip_gradient


def cost(params, x, t, names, clip=None):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](tf.matmul(W, y) + b[:, None])
        if clip is not None:
            y = _clipper(clip)(y)
    return tf.reduce_sum((y - t) ** 2) / (2 * x.shape[1])


def manual_value_and_grad(params, x, t, names, clip=None):
    """The seed's three equations in TF ops, Hadamard form; dC/dy[k] stored transposed, one
    column per sample, as in ``reference_impl.hadamard``."""
    y = [x]
    for (W, b), name in zip(params, names):
        y.append(ACTIVATIONS[name][0](tf.matmul(W, y[-1]) + b[:, None]))
    residual = y[-1] - t
    d = x.shape[1]
    dC_dy_T = residual / d  # base case: (dC/dy[L])^T
    grads = [None] * len(params)
    for k in range(len(params), 0, -1):
        if clip is not None:
            dC_dy_T = tf.clip_by_value(dC_dy_T, -clip, clip)  # the seed's clip
        delta = dC_dy_T * ACTIVATIONS[names[k - 1]][1](y[k])  # (dC/dy[k] nabla_sigma[k])^T
        grads[k - 1] = (tf.matmul(delta, y[k - 1], transpose_b=True), tf.reduce_sum(delta, axis=1))  # (2), (3)
        if k > 1:
            dC_dy_T = tf.matmul(params[k - 1][0], delta, transpose_a=True)  # (1) (dC/dy[k-1])^T = W[k]^T delta
    return tf.reduce_sum(residual * residual) / (2 * d), grads


def value_and_grad(names, clip=None, manual=False):
    """(params, x, t) -> (cost, [(dW, db), ...]), not compiled."""
    if manual:
        return lambda params, x, t: manual_value_and_grad(params, x, t, names, clip)

    def taped(params, x, t):
        with tf.GradientTape() as tape:
            tape.watch(params)
            c = cost(params, x, t, names, clip)
        return c, tape.gradient(c, params)

    return taped


def _compiled(f, form):
    return f if form == "eager" else tf.function(f, jit_compile=True)


# Per-sample gradients and DP-SGD's clipped mean (tasks "per-sample" and "clipped"): autodiff is
# tf.vectorized_map of one sample's GradientTape under tf.function with XLA; loop calls one
# sample's compiled gradient from Python. Sample i's cost is 1/2 ||y_i - t_i||^2.


def _clipped_of(costs, grads, max_norm):
    """The clipped mean 1/d sum_i min(1, C / ||g_i||) g_i from the per-sample gradients."""
    d = tf.shape(costs)[0]
    flat = [g for layer in grads for g in layer]
    norms = tf.sqrt(tf.add_n([tf.reduce_sum(tf.reshape(g, (d, -1)) ** 2, axis=1) for g in flat]))
    weights = tf.minimum(max_norm / norms, 1.0) / tf.cast(d, norms.dtype)
    return tf.reduce_mean(costs), [tuple(tf.tensordot(weights, g, axes=1) for g in layer) for layer in grads]


def _prepare_per_sample(task, form, params, x, t, problem, names) -> Prepared:
    one = value_and_grad(names)
    max_norm = problem.max_norm if task == "clipped" else None
    convert = per_sample_to_numpy if task == "per-sample" else to_numpy
    if form == "loop":
        sample = tf.function(lambda xi, ti: one(params, xi, ti), jit_compile=True)
        columns = [(x[:, i : i + 1], t[:, i : i + 1]) for i in range(x.shape[1])]  # sliced before timing
        compile_s = timed(lambda: sample(*columns[0]))[1]

        def loop():
            results = [sample(xi, ti) for xi, ti in columns]
            costs = tf.stack([c for c, _ in results])
            grads = [tuple(tf.stack([g[k][j] for _, g in results]) for j in range(2)) for k in range(len(params))]
            return (costs, grads) if max_norm is None else _clipped_of(costs, grads, max_norm)

        return Prepared(loop, convert, compile_s=compile_s, compile_runs=1 / x.shape[1])  # one sample's call

    def per_sample(x, t):
        costs, grads = tf.vectorized_map(
            lambda column: one(params, column[0][:, None], column[1][:, None]), (tf.transpose(x), tf.transpose(t))
        )
        return (costs, grads) if max_norm is None else _clipped_of(costs, grads, max_norm)

    program = tf.function(per_sample, jit_compile=True)
    compile_s = timed(lambda: program(x, t))[1]  # traced and compiled on its first call
    return Prepared(lambda: program(x, t), convert, compile_s=compile_s, compile_runs=1)


def per_sample_to_numpy(result):
    costs, grads = result
    return float(np.mean(costs.numpy())), as_float_arrays([(dW.numpy(), db.numpy()) for dW, db in grads])


# Forward mode and second order (tasks "jvp" and "hvp"): forward mode by tf.autodiff.ForwardAccumulator,
# the Hessian-vector product by nested GradientTapes (reverse over reverse), each compiled by XLA
# (autodiff) or op by op (eager).


def network_output(params, x, names):
    y = x
    for (W, b), name in zip(params, names):
        y = ACTIVATIONS[name][0](tf.matmul(W, y) + b[:, None])
    return y


def second_order(task, names):
    """(params, x, t, vector) -> jvp: (y[L], J v); hvp: (cost, H v), not compiled."""
    if task == "jvp":

        def forward_accumulator(params, x, t, vector):
            with tf.autodiff.ForwardAccumulator(params, vector) as accumulator:
                y = network_output(params, x, names)
            return y, accumulator.jvp(y)

        return forward_accumulator

    def nested_tapes(params, x, t, vector):
        with tf.GradientTape() as outer:
            outer.watch(params)
            with tf.GradientTape() as inner:
                inner.watch(params)
                c = cost(params, x, t, names)
            grads = inner.gradient(c, params)
            directional = tf.add_n(
                [tf.reduce_sum(g * v) for layer, vs in zip(grads, vector) for g, v in zip(layer, vs)]
            )
        return c, outer.gradient(directional, params)

    return nested_tapes


def _prepare_second_order(task, form, params, x, t, problem, names) -> Prepared:
    vector = [(tf.constant(V), tf.constant(v)) for V, v in problem.vector]
    program = _compiled(second_order(task, names), form)
    if task == "jvp":  # the base pass: the forward pass and its cost
        base = _compiled(lambda params, x, t: cost(params, x, t, names), form)
    else:  # the base pass: the same form's own gradient
        base = _compiled(value_and_grad(names), form)
    compile_s = None if form == "eager" else timed(lambda: program(params, x, t, vector))[1]
    if form != "eager":
        base(params, x, t)
    return Prepared(
        lambda: program(params, x, t, vector),
        (lambda result: jvp_values(*result)) if task == "jvp" else to_numpy,
        lambda: base(params, x, t),
        compile_s,
        compile_runs=0 if form == "eager" else 1,
    )


def jvp(params, x, vector, activation="tanh", form="eager"):
    check_form(FORMS, form, "tensorflow")
    program = _compiled(second_order("jvp", activation_names(activation, len(params))), form)
    constants = [(tf.constant(W), tf.constant(b)) for W, b in params]
    y, dy = program(
        constants, tf.constant(x), tf.constant(x[:1]), [(tf.constant(V), tf.constant(v)) for V, v in vector]
    )
    return y.numpy(), dy.numpy()


def hvp(params, x, t, vector, activation="tanh", form="eager"):
    check_form(FORMS, form, "tensorflow")
    program = _compiled(second_order("hvp", activation_names(activation, len(params))), form)
    constants = [(tf.constant(W), tf.constant(b)) for W, b in params]
    return to_numpy(
        program(constants, tf.constant(x), tf.constant(t), [(tf.constant(V), tf.constant(v)) for V, v in vector])
    )


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "tensorflow")
    c = problem.config
    names = activation_names(c.activation, len(problem.params))
    params = [(tf.constant(W), tf.constant(b)) for W, b in problem.params]
    x, t = tf.constant(problem.x), tf.constant(problem.t)
    if task == "train":
        return _prepare_train(form, params, x, t, c, names, problem.indices())
    if task in ("per-sample", "clipped"):
        return _prepare_per_sample(task, form, params, x, t, problem, names)
    if task in ("jvp", "hvp"):
        return _prepare_second_order(task, form, params, x, t, problem, names)
    f = _compiled(value_and_grad(names, manual=form == "manual"), form)
    forward = _compiled(lambda params, x, t: cost(params, x, t, names), form)
    # tf.function traces and XLA compiles on the first call: its time is the compile time.
    compile_s = None if form == "eager" else timed(lambda: f(params, x, t))[1]
    if form != "eager":
        forward(params, x, t)
    # TensorFlow executes synchronously by default (no asynchronous dispatch as JAX's): a call
    # returns when its results exist.
    return Prepared(
        lambda: f(params, x, t),
        to_numpy,
        lambda: forward(params, x, t),
        compile_s,
        compile_runs=0 if form == "eager" else 1,
    )


def _prepare_train(form, params, x, t, c, names, indices) -> Prepared:
    start = [(tf.Variable(W), tf.Variable(b)) for W, b in params]
    variables = [v for layer in start for v in layer]
    initial = [tf.identity(v) for v in variables]
    f = value_and_grad(names, c.clip, manual=form == "manual")
    batches = None if indices is None else tf.constant(indices)

    def step(xb, tb):
        cost_, grads = f([(W, b) for W, b in start], xb, tb)
        for v, g in zip(variables, (g for layer in grads for g in layer)):
            v.assign_sub(c.lr * g)
        return cost_

    if form == "loop":

        @tf.function(jit_compile=True)
        def loop():
            history = tf.TensorArray(x.dtype, size=c.steps)
            for i in tf.range(c.steps):  # AutoGraph: a tf.while_loop, compiled whole by XLA
                xb, tb = (
                    (x, t) if batches is None else (tf.gather(x, batches[i], axis=1), tf.gather(t, batches[i], axis=1))
                )
                history = history.write(i, step(xb, tb))
            return history.stack()

        run_steps = loop
    else:
        compiled_step = _compiled(step, form)
        if batches is None:
            calls = [(x, t)] * c.steps
        else:  # each step's batch made before timing, as jax's: gathering is an op of its own
            calls = [(tf.gather(x, i, axis=1), tf.gather(t, i, axis=1)) for i in batches]

        def run_steps():
            return tf.stack([compiled_step(*batch) for batch in calls])

    def run():
        for v, v0 in zip(variables, initial):  # every call from the same start, restored in place
            v.assign(v0)
        return start, run_steps()

    def to_numpy(result):
        trained, history = result
        return float(history[-1]), as_float_arrays([(W.numpy(), b.numpy()) for W, b in trained])

    compile_s = None if form == "eager" else timed(run)[1]
    return Prepared(run, to_numpy, compile_s=compile_s, compile_runs=0 if form == "eager" else 1)


def to_numpy(result):
    c, grads = result
    return float(c), as_float_arrays([(dW.numpy(), db.numpy()) for dW, db in grads])


def gradients(params, x, t, activation="tanh", clip=None, form="eager"):
    """Op by op by default (no compile per shape); ``form="autodiff"`` checks the compiled program."""
    check_form(FORMS, form, "tensorflow")
    f = _compiled(value_and_grad(activation_names(activation, len(params)), clip, form == "manual"), form)
    return to_numpy(f([(tf.constant(W), tf.constant(b)) for W, b in params], tf.constant(x), tf.constant(t)))


def train(
    params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="autodiff"
):
    check_form(FORMS, form, "tensorflow")
    indices = stream_indices(np.shape(x)[1], steps, batch_size, shuffle, seed)
    config = type("TrainConfig", (), {"steps": steps, "lr": lr, "clip": clip})
    params_t = [(tf.constant(W), tf.constant(b)) for W, b in params]
    prepared = _prepare_train(
        form, params_t, tf.constant(x), tf.constant(t), config, activation_names(activation, len(params)), indices
    )
    trained, history = prepared.run()
    return as_float_arrays([(W.numpy(), b.numpy()) for W, b in trained]), history.numpy().astype(np.float64)
