"""Activation functions and their derivatives, the derivative written through the layer output.

The seed expresses every derivative through ``y = sigma(z)`` (so the backward pass never needs
the pre-activation ``z``): tanh' = 1 - y^2, sigmoid' = y(1 - y), softplus' = 1 - exp(-y),
relu' = 1[y > 0] (0 at 0, as PyTorch and JAX use), identity' = 1. The second derivatives that
the Hessian-vector product needs follow the same rule: tanh'' = -2y(1 - y^2), sigmoid'' =
y(1 - y)(1 - 2y), softplus'' = (1 - e^-y) e^-y, relu'' = identity'' = 0.

Every function keeps its input's dtype (only Python scalars are mixed in, which NumPy 2 treats
as "weak") and is stable for pre-activations up to +-1e4 in float32 and float64: no exp of a
large positive number is ever taken. ``sigma`` may overwrite its argument (the forward pass hands
it a buffer it owns) and ``derivative`` writes into ``out``: a pass allocates no temporaries for
tanh, relu and identity.
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


def _tanh_derivative(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.multiply(y, y, out=out)
    return np.subtract(1, out, out=out)  # 1 - y^2


def _sigmoid_derivative(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.subtract(1, y, out=out)
    return np.multiply(out, y, out=out)  # y (1 - y)


def _softplus_derivative(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    # 1 - exp(-y) written as -expm1(-y): accurate when y is tiny (z very negative).
    np.negative(y, out=out)
    np.expm1(out, out=out)
    return np.negative(out, out=out)


def _relu_derivative(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.greater(y, 0, out=out)  # 0 at 0, the convention of PyTorch and JAX


def _identity_derivative(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    out.fill(1)
    return out


# Second derivatives sigma''(z), also written through y (the R-operator's nabla^2 sigma, ``hvp``).


def _tanh_second(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    _tanh_derivative(y, out)
    out *= y
    return np.multiply(out, -2, out=out)  # -2 y (1 - y^2)


def _sigmoid_second(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    _sigmoid_derivative(y, out)
    out *= 1 - 2 * y  # a temporary: sigmoid is not on an allocation-free path anyway
    return out  # y (1 - y) (1 - 2y)


def _softplus_second(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    # sigma' = 1 - e^-y is the logistic function of z, so sigma'' = sigma' (1 - sigma') = sigma' e^-y.
    _softplus_derivative(y, out)
    out *= np.exp(-y)
    return out


def _zero(y: np.ndarray, out: np.ndarray) -> np.ndarray:
    out.fill(0)  # relu (almost everywhere) and identity are piecewise linear
    return out


@dataclass(frozen=True)
class Activation:
    """sigma and its first and second derivatives as functions of sigma's output y.

    ``sigma(z)`` may overwrite z; ``derivative(y, out)`` and ``second_derivative(y, out)`` write
    into ``out`` (y's shape and dtype).
    """

    name: str
    sigma: Callable[[np.ndarray], np.ndarray]
    derivative_into: Callable[[np.ndarray, np.ndarray], np.ndarray]
    second_derivative_into: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def derivative(self, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.derivative_into(y, np.empty_like(y) if out is None else out)

    def second_derivative(self, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.second_derivative_into(y, np.empty_like(y) if out is None else out)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _sigmoid_derivative, _sigmoid_second),
        Activation("tanh", lambda z: np.tanh(z, out=z), _tanh_derivative, _tanh_second),
        Activation("softplus", _softplus, _softplus_derivative, _softplus_second),
        Activation("relu", lambda z: np.maximum(z, 0, out=z), _relu_derivative, _zero),
        Activation("identity", lambda z: z, _identity_derivative, _zero),
    )
}
