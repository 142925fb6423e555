"""Activation functions and their derivatives, the derivative written through the layer output.

The seed expresses every derivative through ``y = sigma(z)`` (so the backward pass never needs
the pre-activation ``z``): tanh' = 1 - y^2, sigmoid' = y(1 - y), softplus' = 1 - exp(-y),
relu' = 1[y > 0] (0 at 0, as PyTorch and JAX use), identity' = 1.

Every function keeps its input's dtype (only Python scalars are mixed in, which NumPy 2 treats
as "weak") and is stable for pre-activations up to +-1e4 in float32 and float64: no exp of a
large positive number is ever taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-|z|) never overflows; the two branches are 1/(1+e^-z) and e^z/(1+e^z).
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|), exact for large |z| in both directions.
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)  # in place: z is the forward pass's own temporary


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def _identity(z: np.ndarray) -> np.ndarray:
    return z


@dataclass(frozen=True)
class Activation:
    """sigma and its derivative as a function of sigma's output y.

    ``sigma`` may overwrite its argument: the forward pass hands it a temporary it owns.
    """

    name: str
    sigma: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, lambda y: y * (1 - y)),
        Activation("tanh", _tanh, lambda y: 1 - y * y),
        # 1 - exp(-y) written as -expm1(-y): accurate when y is tiny (z very negative).
        Activation("softplus", _softplus, lambda y: -np.expm1(-y)),
        # The derivative at 0 is taken to be 0, the convention of PyTorch and JAX.
        Activation("relu", _relu, lambda y: (y > 0).astype(y.dtype)),
        Activation("identity", _identity, np.ones_like),
    )
}
