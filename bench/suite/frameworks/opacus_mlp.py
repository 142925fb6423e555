"""Per-sample gradients with Opacus (PyTorch): the seed's MLP as an ``nn.Sequential`` of ``Linear``
layers and activations, samples as rows (Opacus's batch_first layout).

Forms (tasks ``per-sample`` and ``clipped`` only; its batch gradient is torch's):
- ``hooks``: ``GradSampleModule`` with ``loss_reduction="sum"`` on the summed per-sample costs
  1/2 ||y_i - t_i||^2, so ``p.grad_sample`` is each sample's gradient (with the default "mean"
  Opacus rescales them by the batch size). For ``clipped``, ``GradSampleModuleFastGradientClipping``
  with ghost clipping: its hooks give every sample's gradient norm without a per-sample array, and
  a second backward pass of the weighted costs gives the clipped mean, as Opacus's own
  ``DPTensorFastGradientClipping.backward`` does, with one change: the weights are exactly
  min(1, C / ||g_i||), where Opacus divides by ||g_i|| + 1e-6 (a 1e-6 relative difference that the
  float64 tolerance, 1e-10, would call incorrect).
"""

from __future__ import annotations

import warnings

import torch
from opacus.grad_sample import GradSampleModule, GradSampleModuleFastGradientClipping
from torch import nn

from . import BackendUnavailable, Prepared, activation_names, check_form, torch_mlp

ACTIVATIONS = torch_mlp.ACTIVATIONS
FORMS = {"hooks": "GradSampleModule hooks; ghost-clipping norms and a second backward pass for the clipped mean"}
MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softplus": nn.Softplus, "relu": nn.ReLU, "identity": nn.Identity}
set_threads = torch_mlp.set_threads
gradients, train = torch_mlp.gradients, torch_mlp.train  # its batch gradient and training are torch's own


def sequential(params, names) -> nn.Sequential:
    """The seed's network as torch modules: Linear's weight is (l_k, l_{k-1}), W[k]'s shape."""
    layers = []
    for (W, b), name in zip(params, names):
        W_t, b_t = torch.from_numpy(W), torch.from_numpy(b)
        linear = nn.Linear(W.shape[1], W.shape[0], dtype=W_t.dtype)
        with torch.no_grad():
            linear.weight.copy_(W_t)
            linear.bias.copy_(b_t)
        layers += [linear, MODULES[name]()]
    return nn.Sequential(*layers)


def rows(problem):
    """Samples as rows, as nn.Linear takes them: x^T and t^T, made contiguous once."""
    return torch.from_numpy(problem.x.T.copy()), torch.from_numpy(problem.t.T.copy())


def prepare(task, form, problem, options) -> Prepared:
    check_form(FORMS, form, "opacus")
    if task not in ("per-sample", "clipped"):
        raise BackendUnavailable(f"opacus has no {task} form")
    names = activation_names(problem.config.activation, len(problem.params))
    x, t = rows(problem)
    d = x.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about its own defaults (secure RNG, ...)
        if task == "per-sample":
            module = GradSampleModule(sequential(problem.params, names), batch_first=True, loss_reduction="sum")
        else:
            module = GradSampleModuleFastGradientClipping(
                sequential(problem.params, names),
                batch_first=True,
                loss_reduction="sum",
                max_grad_norm=problem.max_norm,
                use_ghost_clipping=True,
            )
    params = list(module.parameters())  # W1, b1, W2, ...: the reference's order

    def per_sample():
        module.zero_grad(set_to_none=True)  # also clears grad_sample: Opacus accumulates it otherwise
        costs = 0.5 * ((module(x) - t) ** 2).sum(dim=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # its hooks: "no inputs require gradients" (x needs none)
            costs.sum().backward()
        return costs.detach(), [p.grad_sample for p in params]

    max_norm = problem.max_norm if task == "clipped" else None

    def clipped():
        module.zero_grad(set_to_none=True)
        costs = 0.5 * ((module(x) - t) ** 2).sum(dim=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # its hooks: "no inputs require gradients" (x needs none)
            costs.sum().backward(retain_graph=True)  # the hooks: each sample's gradient norm, ghost clipping
        weights = torch_mlp.clip_weights(module.get_norm_sample(), max_norm, d)
        module.zero_grad(set_to_none=True)
        module.disable_hooks()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            (weights * costs).sum().backward()  # 1/d sum_i s_i g_i
        module.enable_hooks()
        return costs.detach().mean(), [p.grad for p in params]

    if task == "per-sample":
        return Prepared(per_sample, torch_mlp.per_sample_to_numpy)
    return Prepared(clipped, torch_mlp.to_numpy)
