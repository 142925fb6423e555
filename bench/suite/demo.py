"""The seed's demo in every installed framework: the same network, start and sample stream.

    python -m bench.suite.demo [--steps 3000] [--lr 0.1] [--clip 0.005] [--batch-size B] [--out FIGURE]

Trains with ``reference_impl`` and, where installed, PyTorch (autograd) and JAX (jit), and shows
that the cost curves coincide, for full-batch descent and for ``--batch-size 1`` alike.
"""

from __future__ import annotations

import numpy as np

from reference_impl import demo

from . import frameworks


def framework_histories(params, x, t, args) -> dict[str, np.ndarray]:
    histories = {}
    for name in sorted(set(frameworks.FRAMEWORKS) - {"numpy"}):  # each in its own default form
        try:
            mirror = frameworks.load(name)
        except frameworks.FrameworkMissing as exc:
            print(f"  {name}: skipped ({exc})")
            continue
        histories[name] = mirror.train(
            params, x, t, steps=args.steps, lr=args.lr, clip=args.clip, batch_size=args.batch_size
        )[1]
    return histories


def main(argv: list[str] | None = None) -> int:
    return demo.run(argv, __doc__.splitlines()[0], framework_histories)


if __name__ == "__main__":
    raise SystemExit(main())
