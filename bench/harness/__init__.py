"""Stage 2, how it is timed: the parent and its worker processes (``runner``, ``session``), one
row prepared, warmed up, timed and checked (``measure``, ``timing``), the process and thread policy
(``policy``), fresh-process rows (``isolate``), the machine and FLOP facts a row records
(``machine``, ``flops``), the row itself (``schema``), and the statistics that decide how many
replicates a cell gets and what interval it has (``stats``). Imports only from ``bench.suite``."""
