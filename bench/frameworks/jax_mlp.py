"""The MLP in JAX: ``jax.value_and_grad``, jitted or op by op.

float64 is enabled when this module is imported, before any JAX array exists: without it a
float64 request silently becomes float32. Importing JAX does not start its CPU backend, so a
CPU affinity set afterwards (and before the first array) still limits JAX's threads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "relu": jax.nn.relu,  # derivative 0 at 0, as the reference
    "identity": lambda z: z,
}


def activation_names(activation: str | Sequence[str], depth: int) -> tuple[str, ...]:
    return (activation,) * depth if isinstance(activation, str) else tuple(activation)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def clip_gradient(y, clip):
    """Identity forward; clips the incoming gradient dC/dy[k] to [-clip, clip], as the seed."""
    return y


def _clip_forward(y, clip):
    return y, None


def _clip_backward(clip, _, g):
    return (jnp.clip(g, -clip, clip),)


clip_gradient.defvjp(_clip_forward, _clip_backward)


def cost(params, x, t, activations: tuple[str, ...], clip: float | None = None):
    y = x
    for (W, b), name in zip(params, activations):
        y = ACTIVATIONS[name](W @ y + b[:, None])
        if clip is not None:
            y = clip_gradient(y, clip)
    return jnp.sum((y - t) ** 2) / (2 * x.shape[1])


def to_device(params, x, t):
    """NumPy -> JAX arrays on the CPU device, once (passing NumPy would copy on every call)."""
    return jax.device_put(([tuple(layer) for layer in params], x, t))


def value_and_grad(activations: tuple[str, ...], clip: float | None = None):
    return jax.value_and_grad(functools.partial(cost, activations=activations, clip=clip))


def to_numpy(result) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    c, grads = result
    return float(c), [(np.asarray(dW), np.asarray(db)) for dW, db in grads]


def gradients(params, x, t, activation="tanh", clip=None, jit=False):
    """Cost and gradients as NumPy, in the reference's format."""
    f = value_and_grad(activation_names(activation, len(params)), clip)
    params_j, x_j, t_j = to_device(params, x, t)
    return to_numpy((jax.jit(f) if jit else f)(params_j, x_j, t_j))


def train(params, x, t, steps, lr, clip=None, activation="tanh"):
    """The reference's full-batch SGD in JAX (one jitted step): (new params, cost history)."""
    f = value_and_grad(activation_names(activation, len(params)), clip)

    @jax.jit
    def step(params, x, t):
        c, grads = f(params, x, t)
        return c, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    params_j, x_j, t_j = to_device(params, x, t)
    history = np.empty(steps)
    for i in range(steps):
        history[i], params_j = step(params_j, x_j, t_j)
    return [(np.asarray(W), np.asarray(b)) for W, b in params_j], history
