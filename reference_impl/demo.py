"""The seed's demo: an all-tanh network learns a sinusoid by SGD with clipping.

    python -m reference_impl.demo [--steps 3000] [--lr 0.1] [--clip 0.005] [--out results/demo/sine-fit.png]

Prints the cost as it falls and writes a PNG (target vs fit, cost per step). Where PyTorch and
JAX are installed it trains the same network from the same initial parameters in both and shows
that the three cost trajectories coincide. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

import reference_impl as ri

SIZES = [1, 16, 16, 1]


def sine_task(samples: int = 64):
    x = np.linspace(-np.pi, np.pi, samples).reshape(1, -1)
    return x, 0.8 * np.sin(x)


def framework_trajectories(params, x, t, steps, lr, clip) -> dict[str, np.ndarray]:
    """The same training in every installed framework (the mirrors live in bench.frameworks)."""
    try:
        from bench import frameworks
    except ImportError:
        return {}
    histories = {}
    for name in sorted(frameworks.FRAMEWORKS):
        try:
            module = frameworks.load(name)
        except frameworks.FrameworkMissing as exc:
            print(f"  {name}: skipped ({exc})")
            continue
        histories[name] = module.train(params, x, t, steps=steps, lr=lr, clip=clip)[1]
    return histories


def save_figure(path: Path, x, t, fit, histories: dict[str, np.ndarray], caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(x.ravel(), t.ravel(), "k--", label="target 0.8 sin(x)")
    left.plot(x.ravel(), fit.ravel(), "C0", label="fit (reference, hadamard)")
    left.set(xlabel="x", ylabel="y", title="Sinusoid fit")
    left.legend()
    for (name, history), style in zip(histories.items(), ["-", "--", ":"]):
        right.semilogy(history, style, label=name, linewidth=2 if style == "-" else 1.5)
    right.set(xlabel="SGD step", ylabel="cost C", title="Cost per step (curves coincide)")
    right.legend()
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the target and renamed: an interrupted run never leaves half a PNG.
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png.tmp", delete=False) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp.name, path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--clip", type=float, default=0.005, help="clip every dC/dy[k] to [-c, c]")
    parser.add_argument("--out", type=Path, default=Path("results/demo/sine-fit.png"))
    args = parser.parse_args(argv)

    x, t = sine_task()
    params = ri.init_params(SIZES, seed=0)
    try:
        trained, history = ri.train(params, x, t, steps=args.steps, lr=args.lr, clip=args.clip)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    print(f"network {SIZES}, all tanh, {x.shape[1]} samples, lr {args.lr}, clip {args.clip}")
    for step in sorted({0, *range(0, args.steps, max(1, args.steps // 10)), args.steps - 1} & set(range(args.steps))):
        print(f"  step {step:5d}  cost {history[step]:.6f}")

    histories = {"reference (NumPy)": history}
    for name, other in framework_trajectories(params, x, t, args.steps, args.lr, args.clip).items():
        histories[name] = other
        difference = np.max(np.abs(other - history) / history)
        print(f"  {name}: max relative difference of the cost over {args.steps} steps: {difference:.1e}")

    caption = f"{SIZES} tanh network, SGD lr={args.lr}, clip={args.clip}: cost {history[0]:.4f} -> {history[-1]:.6f}"
    save_figure(args.out, x, t, ri.forward(trained, x), histories, caption)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
