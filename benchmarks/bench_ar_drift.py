"""The ``ar`` plugin's quality numbers and its drift: per-position log-likelihood, samples vs data.

Prints, for the shipped weights (fixed seeds):

* the reference classifier's accuracy on 1,000 conditional samples (100 per class) at
  temperature 1, and with top-k / lower temperature for comparison;
* the Frechet distance of those samples to the test split, next to ``frechet_floor()``;
* exact test bits/dim, conditional on the true class and of the class marginal;
* drift, the autoregressive failure mode: ``-log2 p(x_t | x_<t, c)`` averaged over the model's
  own samples and over the test images, position by position (as 8x8 grids in raster order)
  and by image row. A model that drifts off the data manifold while sampling shows its own
  samples growing less likely than real images as t increases.

Run: ``python benchmarks/bench_ar_drift.py [-n 1000]``; writes markdown to stdout.
"""

from __future__ import annotations

import argparse
import math

import torch

from genproto import registry
from genproto.data import load_digits
from genproto.metrics import bits_per_dim, conditional_accuracy, digits_frechet, frechet_floor

PIXELS = 64


def _grid(values: torch.Tensor) -> str:
    rows = ["| row | " + " | ".join(f"c{j}" for j in range(8)) + " |",
            "|---|" + "---|" * 8]
    for i in range(8):
        cells = " | ".join(f"{float(v):.2f}" for v in values[i * 8:(i + 1) * 8])
        rows.append(f"| {i} | {cells} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="samples (a multiple of 10)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    model = registry.get("ar")
    test = load_digits("test")
    labels = torch.arange(args.n) % 10

    # 1. Sample quality at a few sampling settings.
    print("| sampling | conditional accuracy | Frechet distance (test) |\n|---|---|---|")
    settings: list[tuple[str, dict[str, object]]] = [
        ("temperature 1", {}), ("temperature 0.8", {"temperature": 0.8}),
        ("top-k 4", {"top_k": 4}), ("greedy (temperature 0)", {"temperature": 0.0}),
    ]
    samples_t1 = torch.empty(0)
    for name, options in settings:
        samples = model.sample(args.n, condition=labels, seed=args.seed, **options)
        if not options:
            samples_t1 = samples
        acc = conditional_accuracy(samples, labels)
        print(f"| {name} | {acc:.3f} | {digits_frechet(samples):.2f} |")
    print(f"\nFrechet floor (test vs train split): {frechet_floor():.2f}")

    # 2. Exact test bits/dim.
    cond = bits_per_dim(model.log_likelihood(test.x, test.y), PIXELS)
    marg = bits_per_dim(model.log_likelihood(test.x), PIXELS)
    train = load_digits("train")
    train_marg = bits_per_dim(model.log_likelihood(train.x), PIXELS)
    print("\n| data | bits/dim (exact) |\n|---|---|")
    print(f"| test, given the true class | {cond:.4f} |")
    print(f"| test, class marginal | {marg:.4f} |")
    print(f"| train, class marginal | {train_marg:.4f} |")

    # 3. Drift: per-position NLL (bits) of the model's own samples vs test images.
    to_bits = -1.0 / math.log(2)
    own = model.log_likelihood_per_position(samples_t1, labels).mean(0) * to_bits  # (64,)
    data = model.log_likelihood_per_position(test.x, test.y).mean(0) * to_bits  # (64,)
    print("\nPer-position NLL in bits, model's own samples (temperature 1, given their class):\n")
    print(_grid(own))
    print("\nPer-position NLL in bits, test images (given their true class):\n")
    print(_grid(data))
    print("\n| image row | samples: bits/pixel | test: bits/pixel | samples - test |")
    print("|---|---|---|---|")
    for i in range(8):
        a, b = float(own[i * 8:(i + 1) * 8].mean()), float(data[i * 8:(i + 1) * 8].mean())
        print(f"| {i} | {a:.3f} | {b:.3f} | {a - b:+.3f} |")
    print(f"| all | {float(own.mean()):.3f} | {float(data.mean()):.3f} | "
          f"{float(own.mean() - data.mean()):+.3f} |")


if __name__ == "__main__":
    main()
