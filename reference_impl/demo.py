"""The seed's demo: an all-tanh network learns a sinusoid by SGD with clipping.

    python -m reference_impl.demo [--steps 3000] [--lr 0.1] [--clip 0.005] [--batch-size B]
                                  [--out FIGURE (default results/demo/sine-fit[-bB].png)]

Prints the cost as it falls and writes a PNG (target vs fit, cost per step). ``--batch-size 1``
is the seed's own per-sample loop; the default is full-batch gradient descent. Needs matplotlib
(the ``bench`` extra) for the figure. The same training in PyTorch and JAX, all curves in one
figure, is ``python -m bench.suite.demo``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

import reference_impl as ri

SIZES = [1, 16, 16, 1]
SAMPLES, LR, CLIP = 64, 0.1, 0.005  # the seed's task and SGD: bench.suite.grids takes them from here


def sine_task(samples: int = SAMPLES):
    x = np.linspace(-np.pi, np.pi, samples).reshape(1, -1)
    return x, 0.8 * np.sin(x)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=LR)
    p.add_argument("--clip", type=float, default=CLIP, help="clip every dC/dy[k] to [-c, c]")
    p.add_argument("--batch-size", type=int, default=None, help="samples per SGD step (default: all 64)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the figure (default: results/demo/sine-fit.png, or sine-fit-b<B>.png for --batch-size B)",
    )
    return p


def default_figure(batch_size: int | None) -> Path:
    """One figure per batch size: a b = 1 run never overwrites the full-batch one."""
    return Path("results/demo") / f"sine-fit{'' if batch_size is None else f'-b{batch_size}'}.png"


def print_history(history: np.ndarray) -> None:
    steps = len(history)
    for step in sorted({0, *range(0, steps, max(1, steps // 10)), steps - 1} & set(range(steps))):
        print(f"  step {step:5d}  cost {history[step]:.6f}")


def save_figure(path: Path, x, t, fit, histories: dict[str, np.ndarray], caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(x.ravel(), t.ravel(), "k--", label="target 0.8 sin(x)")
    left.plot(x.ravel(), fit.ravel(), "C0", label="fit (reference, hadamard)")
    left.set(xlabel="x", ylabel="y", title="Sinusoid fit")
    left.legend()
    for i, (name, history) in enumerate(histories.items()):
        right.semilogy(history, ["-", "--", ":", "-."][i % 4], label=name, linewidth=2.5 - 0.4 * i)
    right.set(xlabel="SGD step", ylabel="cost C of the step's batch", title="Cost per step")
    right.legend()
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the target and renamed: an interrupted run never leaves half a PNG.
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png.tmp", delete=False) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    plt.close(fig)


def run(argv, description: str, others=lambda params, x, t, args: {}) -> int:
    """Train the reference (and, via ``others``, other implementations), print, draw."""
    args = parser(description).parse_args(argv)
    x, t = sine_task()
    params = ri.init_params(SIZES, seed=0)
    try:
        trained, history = ri.train(
            params, x, t, steps=args.steps, lr=args.lr, clip=args.clip, batch_size=args.batch_size
        )
    except (TypeError, ValueError) as exc:
        parser(description).error(str(exc))
    batch = "full batch" if args.batch_size is None else f"batch size {args.batch_size}"
    args.out = args.out or default_figure(args.batch_size)
    print(f"network {SIZES}, all tanh, {x.shape[1]} samples, {batch}, lr {args.lr}, clip {args.clip}")
    print_history(history)
    fit = [float(np.sum((ri.forward(p, x) - t) ** 2)) / (2 * x.shape[1]) for p in (params, trained)]
    print(f"  cost on all {x.shape[1]} samples: {fit[0]:.6f} before, {fit[1]:.6f} after")  # b = 1: a step sees one
    histories = {"reference (NumPy)": history}
    for name, other in others(params, x, t, args).items():
        histories[name] = other
        difference = np.max(np.abs(other - history) / history)
        print(f"  {name}: max relative difference of the cost over {args.steps} steps: {difference:.1e}")
    caption = (
        f"{SIZES} tanh network, {batch}, lr={args.lr}, clip={args.clip}: cost {history[0]:.4f} -> {history[-1]:.6f}"
    )
    save_figure(args.out, x, t, ri.forward(trained, x), histories, caption)
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
