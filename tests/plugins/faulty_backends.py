"""Loaded with ``-p tests.plugins.faulty_backends`` into a benchmark run (the parent and, through
its arguments, every worker): three backends that exist only in the tests, each with one fault,
so a test can check that each fault ends as its outcome while every other cell is measured.

- ``test-hang``: its gradient call never returns (a row that must end as ``timeout``);
- ``test-raise``: preparing it raises (``error``, with the message kept);
- ``test-wrong``: fast and wrong, its gradients scaled by 1.01 (``incorrect``: timed, kept, the run fails).
"""

import time

import numpy as np

from bench.suite import registry
from bench.suite.frameworks import Prepared, numpy_mlp

FORMS = {"hang": "never returns", "raise": "raises", "wrong": "gradients 1 % too large"}
ACTIVATIONS = numpy_mlp.ACTIVATIONS
gradients, train = numpy_mlp.gradients, numpy_mlp.train


def prepare(task, form, problem, options) -> Prepared:
    if form == "raise":
        raise RuntimeError("injected failure while preparing")
    good = numpy_mlp.prepare(task, "hadamard", problem, options)
    if form == "hang":

        def hang():
            time.sleep(3600)

        return Prepared(hang, good.to_numpy, good.forward)

    def wrong_numbers(result):
        cost, grads = good.to_numpy(result)
        return cost, [(np.asarray(dW) * 1.01, np.asarray(db) * 1.01) for dW, db in grads]

    return Prepared(good.run, wrong_numbers, good.forward)


registry.FRAMEWORKS["faulty"] = registry.FrameworkInfo("faulty", __name__, "numpy", None)
for form in FORMS:
    entry = registry.Entry(f"test-{form}", "faulty", form, FORMS[form], tasks=registry.GRADIENT, opt_in=True)
    registry.REGISTRY[entry.name] = entry
