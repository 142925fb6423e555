"""The reference itself behind the ``Framework`` interface: ``reference_impl`` on NumPy.

Forms: the two variants. The gradient call passes ``out=`` arrays made once, as a training loop
does; the forward pass alone (for J/F) runs the reference's own forward pass into its reused
workspace, so forward and gradient are timed the same way (no fresh arrays in either).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import reference_impl as ri
from reference_impl.diag import check_memory
from reference_impl.network import cost_and_output_derivative, forward_pass
from reference_impl.validation import check_activations
from reference_impl.workspace import clear, get_workspace

from . import BackendUnavailable, Prepared, check_form, jvp_values

FORMS = {
    "hadamard": "the seed's equations with the elementwise product",
    "diag": "the seed's equations with explicit diagonal Jacobians",
}
ACTIVATIONS = {name: (a.sigma, a.derivative) for name, a in ri.ACTIVATIONS.items()}


def prepare(task: str, form: str, problem, options: Mapping) -> Prepared:
    check_form(FORMS, form, "numpy")
    params, x, t, c = problem.params, problem.x, problem.t, problem.config
    budget = options.get("diag_budget_bytes")
    if task == "train":
        _refuse_over_budget(params, c.batch_size or c.batch, form, budget)
        state = ri.trainer(
            params,
            x,
            t,
            lr=c.lr,
            clip=c.clip,
            activation=c.activation,
            variant=form,
            batch_size=c.batch_size,
            memory_budget=budget,
        )
        history = np.empty(c.steps)

        def train():  # every call from the same start, restored in place: no allocation, no setup
            state.reset(params)
            return state.run(c.steps, history)

        def cold_train():  # ri.train as a user calls it: its buffers, copies and history made anew
            return ri.train(
                params,
                x,
                t,
                steps=c.steps,
                lr=c.lr,
                clip=c.clip,
                activation=c.activation,
                variant=form,
                batch_size=c.batch_size,
                memory_budget=budget,
            )

        return Prepared(train, lambda result: (float(result[-1]), state.params()), traced_call=cold_train)

    if task == "per-sample":
        samples = [(np.empty((c.batch, *W.shape), W.dtype), np.empty((c.batch, *b.shape), b.dtype)) for W, b in params]
        _refuse_over_budget(params, c.batch, form, budget)

        def per_sample():
            return ri.per_sample_gradients(params, x, t, c.activation, form, out=samples, memory_budget=budget)

        return Prepared(per_sample, lambda result: (float(result[0].mean()), result[1]))
    out = [(np.empty_like(W), np.empty_like(b)) for W, b in params]  # reused, as a hot loop does
    if task == "clipped":
        _refuse_over_budget(params, c.batch, form, budget)
        max_norm = problem.max_norm

        def clipped():
            return ri.clipped_gradients(params, x, t, max_norm, c.activation, form, out=out, memory_budget=budget)

        def cold_clipped():
            clear()
            return ri.clipped_gradients(params, x, t, max_norm, c.activation, form, memory_budget=budget)

        return Prepared(clipped, lambda result: result, traced_call=cold_clipped)
    forward = _forward_cost(params, x, t, c.activation)
    if task in ("jvp", "hvp"):
        return _prepare_second_order(task, form, problem, out, forward, budget)

    def gradient():
        return ri.gradients(params, x, t, activation=c.activation, variant=form, out=out, memory_budget=budget)

    def cold_gradient():  # what one call needs from nothing: the workspace, temporaries and the outputs
        clear()
        return ri.gradients(params, x, t, activation=c.activation, variant=form, memory_budget=budget)

    _refuse_over_budget(params, x.shape[1], form, budget)
    return Prepared(gradient, lambda result: result, forward, traced_call=cold_gradient)


def _forward_cost(params, x, t, activation):
    """The forward pass and its cost, in the pass's own reused buffers (no allocation): the base
    pass of J/F and of JVP ÷ forward."""
    activations = check_activations(activation, len(params))
    sizes = (x.shape[0], *(W.shape[0] for W, _ in params))

    def forward():
        work = get_workspace(sizes, x.shape[1], x.dtype)
        y = forward_pass(params, x, activations, work)
        return cost_and_output_derivative(y[-1], t, out=work.dC_dy_T[-1])[0]

    return forward


def _prepare_second_order(task, form, problem, out, forward, budget) -> Prepared:
    """``ri.jvp`` (its base pass: the forward pass) or ``ri.hvp`` (base: the variant's own gradient)."""
    params, x, t, vector, c = problem.params, problem.x, problem.t, problem.vector, problem.config
    _refuse_over_budget(params, x.shape[1], form, budget, stacks=2 if task == "hvp" else 1)
    if task == "jvp":
        run = lambda: ri.jvp(params, x, vector, activation=c.activation, variant=form)  # noqa: E731
        return Prepared(run, lambda result: jvp_values(*result), forward)
    grads = [(np.empty_like(W), np.empty_like(b)) for W, b in params]

    def hvp():
        return ri.hvp(params, x, t, vector, activation=c.activation, variant=form, out=out, memory_budget=budget)

    def gradient():
        return ri.gradients(params, x, t, activation=c.activation, variant=form, out=grads, memory_budget=budget)

    return Prepared(hvp, lambda result: result, gradient)


def _refuse_over_budget(params, batch: int, form: str, budget: int | None, stacks: int = 1) -> None:
    """The library's own guard, asked before anything runs: diag over the budget is unavailable."""
    if form == "diag":
        sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
        try:
            check_memory(sizes, batch, params[0][0].dtype, budget, stacks)
        except ri.MemoryBudgetError as exc:
            raise BackendUnavailable(str(exc)) from None


def jvp(params, x, vector, activation="tanh", form="hadamard"):
    return ri.jvp(params, x, vector, activation=activation, variant=form)


def hvp(params, x, t, vector, activation="tanh", form="hadamard"):
    return ri.hvp(params, x, t, vector, activation=activation, variant=form)


def gradients(params, x, t, activation="tanh", clip=None, form="hadamard"):
    return ri.gradients(params, x, t, activation=activation, variant=form, clip=clip)


def train(
    params, x, t, steps, lr, clip=None, activation="tanh", batch_size=None, shuffle=False, seed=0, form="hadamard"
):
    return ri.train(
        params,
        x,
        t,
        steps=steps,
        lr=lr,
        clip=clip,
        activation=activation,
        variant=form,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )
