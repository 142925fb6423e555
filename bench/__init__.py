"""Benchmarks of MLP gradients: the matrix-calculus reference against PyTorch and JAX autograd.

The pipeline, one folder a stage; each imports only from the stages before it:

- ``suite/``: what runs (backends, frameworks, grids, the plan of rows);
- ``harness/``: how it is timed (the parent and its workers, one row's protocol, the thread
  policy, the replicates' statistics);
- ``report/``: what it means (tables, page, plots; agree, compare, merge, validate).

``plugin`` is pytest's entry (``-p bench.plugin``) that drives the three, and ``bench_*.py`` are
the four tasks pytest collects.
"""
