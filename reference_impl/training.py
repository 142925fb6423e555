"""Stochastic gradient descent as the seed runs it: a stream of samples, clipping, in-place updates.

Samples form a stream, epoch after epoch; step s uses stream entries s*b ... s*b + b - 1. Without
shuffling each epoch is 0..d-1 in order (so b = 1 is the seed's per-sample loop); with shuffling
each epoch is a new permutation drawn from ``np.random.default_rng(seed)``. Every buffer (the
parameters' copies, their gradients, the mini-batch, the pass's temporaries) is allocated once,
before the first step: a step allocates no array (for tanh, relu and identity; sigmoid and
softplus make temporaries of a layer's size).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .network import cost_and_output_derivative
from .validation import Params
from .workspace import Workspace


def batch_stream(samples: int, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[np.ndarray]:
    """The sample indices of step 0, 1, 2, ... (each time the same buffer of b ints, refilled)."""
    rng = np.random.default_rng(seed)
    order, position = np.arange(samples), samples
    indices = np.empty(batch_size, np.intp)
    while True:
        filled = 0
        while filled < batch_size:
            if position == samples:  # a new epoch
                if shuffle:
                    order = rng.permutation(samples)
                position = 0
            take = min(batch_size - filled, samples - position)
            indices[filled : filled + take] = order[position : position + take]
            filled, position = filled + take, position + take
        yield indices


def batch_indices(samples: int, batch_size: int, steps: int, shuffle: bool = False, seed: int = 0) -> np.ndarray:
    """The whole stream as a (steps, b) array: what other implementations replay to train alike."""
    stream = batch_stream(samples, batch_size, shuffle, seed)
    return np.array([next(stream).copy() for _ in range(steps)], dtype=np.intp).reshape(steps, batch_size)


class SGD:
    """The seed's SGD with every buffer allocated once: ``run(steps)`` continues from the current
    parameters, ``reset(params)`` copies a start back in place (a training loop that is timed
    repeatedly from one start pays no allocation and no setup per call).

    The seed's step, written to make few NumPy calls (a tiny network's step is call overhead):
    - the bias is folded into the weights: [W[k] b[k]] [y[k-1]; 1] = W[k] y[k-1] + b[k], so one
      product gives z[k] in the forward pass and [dC/dW[k] dC/db[k]] in equation (2);
    - the learning rate is folded into dC/dy[L]: every gradient is linear in it, and the seed's
      clip commutes with it, clip(lr v, lr c) = lr clip(v, c); an update is then one subtraction.
    """

    def __init__(self, params: Params, x, t, lr, clip, activations, backward, batch_size, shuffle=False, seed=0):
        self.sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
        d, dtype = (x.shape[1] if batch_size is None else batch_size), x.dtype
        self.x, self.t, self.lr, self.clip, self.activations, self.backward = x, t, lr, clip, activations, backward
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.Wb = [np.concatenate([W, b[:, None]], axis=1) for W, b in params]  # [W[k] b[k]], copies
        self.dWb = [np.empty_like(a) for a in self.Wb]
        self.y1 = [np.ones((width + 1, d), dtype) for width in self.sizes]  # [y[k]; 1]: the last row stays 1
        self.y = [a[:-1] for a in self.y1]  # y[k] itself, a view
        self.work = Workspace.allocate(tuple(self.sizes), d, dtype)
        if batch_size is None:
            self.y[0][...] = x
        self.t_batch = t if batch_size is None else np.empty((t.shape[0], d), dtype)
        self.layers = [(W[:, :-1], None) for W in self.Wb]  # W[k] as a view; equation (2) fills dWb[k] whole
        self.grads = [(dW, None) for dW in self.dWb]
        self.stream = None if batch_size is None else batch_stream(x.shape[1], batch_size, shuffle, seed)

    def reset(self, params: Params) -> None:
        """Back to ``params`` and to the start of the sample stream, in place."""
        for Wb, (W, b) in zip(self.Wb, params):
            Wb[:, :-1], Wb[:, -1] = W, b
        if self.batch_size is not None:
            self.stream = batch_stream(self.x.shape[1], self.batch_size, self.shuffle, self.seed)

    def run(self, steps: int, history: np.ndarray | None = None) -> np.ndarray:
        """``steps`` updates W[k] -= lr dC/dW[k], b[k] -= lr dC/db[k]; the cost of every step's
        batch before its update, into ``history`` (made if None)."""
        history = np.empty(steps) if history is None else history
        y, y1, lr, clip = self.y, self.y1, self.lr, self.clip
        for step in range(steps):
            if self.stream is not None:
                indices = next(self.stream)
                np.take(self.x, indices, axis=1, out=y[0], mode="clip")  # mode="clip": no internal copy
                np.take(self.t, indices, axis=1, out=self.t_batch, mode="clip")
            for k, activation in enumerate(self.activations, start=1):
                z = np.matmul(self.Wb[k - 1], y1[k - 1], out=y[k])  # z[k] = W[k] y[k-1] + b[k]
                sigma = activation.sigma(z)  # y[k] = sigma_k(z[k]); in place for tanh, relu, identity
                if sigma is not z:
                    y[k][...] = sigma
            history[step], dC_dy_T = cost_and_output_derivative(y[-1], self.t_batch, out=self.work.dC_dy_T[-1])
            dC_dy_T *= lr  # lr is a Python float: float32 stays float32
            self.backward(
                self.layers,
                y,
                dC_dy_T,
                self.activations,
                None if clip is None else lr * clip,
                self.grads,
                self.work,
                inputs=y1,
            )
            for W, dW in zip(self.Wb, self.dWb):
                W -= dW  # dW is already lr dC/d[W b]
        return history

    def params(self) -> Params:
        """The current parameters, as new (W, b) arrays."""
        return [(W[:, :-1].copy(), W[:, -1].copy()) for W in self.Wb]
