"""Stage 1, what runs: the backends as static facts (``registry``), the same MLP in each
framework (``frameworks/``), an entry made runnable (``backends``), the configurations and named
grids (``grids``), and which rows a worker times in what order (``plan``). Imports nothing of the
stages after it."""
