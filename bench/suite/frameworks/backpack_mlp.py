"""Per-sample gradients with BackPACK (PyTorch): the seed's MLP as ``nn.Sequential`` modules
(``opacus_mlp.sequential``), extended, with an extended ``MSELoss(reduction="sum")``.

Forms (tasks ``per-sample``, ``clipped`` and ``hvp`` only; its batch gradient is torch's):
- ``batchgrad``: ``BatchGrad`` gives ``p.grad_batch``, each sample's gradient of ||y_i - t_i||^2,
  twice the seed's per-sample cost's: halved in the timed call. For ``clipped``, ``BatchL2Grad``
  gives each sample's squared gradient norm per parameter without a per-sample array (four times
  the seed's, for the same reason), then a second backward pass of the weighted costs gives the
  clipped mean.

- ``hvp``: ``backpack.hessianfree.hvp.hessian_vector_product`` of the seed's cost: its R_op over
  a graph of the gradient (double backward, as torch's own reverse over reverse).

BackPACK's backward hooks warn that no input requires a gradient (true: x needs none); the warning
is silenced around the call.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import torch
from backpack import backpack, extend
from backpack.extensions import BatchGrad, BatchL2Grad
from backpack.hessianfree.hvp import hessian_vector_product
from torch import nn

from . import BackendUnavailable, Prepared, activation_names, check_form, torch_mlp
from .opacus_mlp import rows, sequential

ACTIVATIONS = torch_mlp.ACTIVATIONS
FORMS = {
    "batchgrad": "BatchGrad (per-sample); BatchL2Grad norms and a second backward pass (clipped); "
    "backpack.hessianfree's hessian_vector_product (hvp)"
}
set_threads = torch_mlp.set_threads
gradients, train = torch_mlp.gradients, torch_mlp.train  # its batch gradient and training are torch's own


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "backpack")
    if task not in ("per-sample", "clipped", "hvp"):
        raise BackendUnavailable(f"backpack has no {task} form")
    names = activation_names(problem.config.activation, len(problem.params))
    if task == "hvp":
        return _prepare_hvp(problem, names)
    model = extend(sequential(problem.params, names))
    squared_error = extend(nn.MSELoss(reduction="sum"))  # sum_i ||y_i - t_i||^2 = 2 sum_i C_i
    params = list(model.parameters())
    x, t = rows(problem)
    d = x.shape[0]

    def per_sample():
        model.zero_grad(set_to_none=True)
        y = model(x)
        with warnings.catch_warnings(), backpack(BatchGrad()):
            warnings.simplefilter("ignore", UserWarning)
            squared_error(y, t).backward()
        costs = 0.5 * ((y.detach() - t) ** 2).sum(dim=1)
        return costs, [0.5 * p.grad_batch for p in params]

    max_norm = problem.max_norm if task == "clipped" else None

    def clipped():
        model.zero_grad(set_to_none=True)
        y = model(x)
        costs = 0.5 * ((y - t) ** 2).sum(dim=1)
        with warnings.catch_warnings(), backpack(BatchL2Grad()):
            warnings.simplefilter("ignore", UserWarning)
            squared_error(y, t).backward(retain_graph=True)
        norms = (sum(p.batch_l2 for p in params) / 4).sqrt()  # the seed's per-sample gradient norms
        weights = torch_mlp.clip_weights(norms, max_norm, d)
        model.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            (weights * costs).sum().backward()  # 1/d sum_i s_i g_i
        return costs.detach().mean(), [p.grad for p in params]

    if task == "per-sample":
        return Prepared(per_sample, torch_mlp.per_sample_to_numpy)
    return Prepared(clipped, torch_mlp.to_numpy)


def _prepare_hvp(problem, names) -> Prepared:
    model = sequential(problem.params, names)
    params = list(model.parameters())  # W[1], b[1], W[2], ...: the vector's order
    vector = [torch.from_numpy(np.asarray(v)) for layer in problem.vector for v in layer]
    x, t = rows(problem)
    d = x.shape[0]
    squared_error = nn.MSELoss(reduction="sum")

    def hvp():
        cost = squared_error(model(x), t) / (2 * d)  # the seed's cost
        return cost.detach(), hessian_vector_product(cost, params, vector)

    def gradient():  # the base pass: torch's gradient of the same module
        cost = squared_error(model(x), t) / (2 * d)
        return cost, torch.autograd.grad(cost, params)

    return Prepared(hvp, torch_mlp.to_numpy, gradient)


def hvp(params, x, t, vector, activation="tanh", form="batchgrad"):
    check_form(FORMS, form, "backpack")
    config = SimpleNamespace(activation=activation)
    problem = SimpleNamespace(params=params, x=np.asarray(x), t=np.asarray(t), vector=vector, config=config)
    prepared = _prepare_hvp(problem, activation_names(activation, len(params)))
    return prepared.to_numpy(prepared.run())
