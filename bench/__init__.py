"""Benchmarks of MLP gradients: the matrix-calculus reference against PyTorch and JAX autograd.

Layout: ``config`` (grids of widths, depths, batches, dtypes), ``backends`` (the registry),
``flops`` (FLOP model and matrix-multiply floor), ``policy`` (one thread and allocator
policy for every library), ``plugin`` (pytest options, machine info, saving a run), ``bench_gradients`` (the
benchmark itself), ``isolate`` (each row again in a fresh subprocess), ``report`` (tables
and plots from a run's JSON), ``frameworks`` (the MLP written in PyTorch and JAX).
"""
