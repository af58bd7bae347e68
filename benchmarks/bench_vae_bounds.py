"""The VAE's likelihood bounds on the digits test split: ELBO and IWAE L_k, k = 1 .. 1000.

Evaluates the shipped ``vae`` model on the 359 test digits with their classes, for each
``k`` in ``--ks`` and each seed in ``--seeds`` (importance samples from the keyed streams of
(seed, row), so every number is reproducible), and prints a Markdown table of bits/dim (mean over
seeds, and the spread between seeds) with the seconds each bound took. ``k = 1`` is the ELBO
(analytic KL, one reconstruction sample); Burda et al. (2016) prove L_1 <= L_k <= L_{k+1} <=
log p(x | c), so the bits/dim must fall as ``k`` grows. Also prints the class-marginal ELBO
(``condition=None``: log mean_c exp L(x, c)) and sample quality (reference-classifier accuracy on
1,000 conditional samples, digits Frechet distance vs its floor) for both output modes.

Run: ``python benchmarks/bench_vae_bounds.py [--ks 1 10 100 1000] [--seeds 0 1 2] [--threads N]``
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch

import genproto
from genproto.data import load_digits
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = genproto.registry.get("vae")
    test = load_digits("test")
    dim = test.event.dimension
    print(f"machine: {platform.machine()} CPU, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; {len(test)} test digits, D = {dim}")
    print()
    print("| bound | bits/dim (mean over seeds) | spread between seeds | seconds per run |")
    print("|---|---|---|---|")
    for k in args.ks:
        values, seconds = [], []
        for seed in args.seeds:
            start = time.perf_counter()
            nats = model.log_likelihood(test.x, test.y, seed=seed, k=k)
            seconds.append(time.perf_counter() - start)
            values.append(float(-nats.mean()) / (dim * math.log(2)))
        name = "ELBO (k = 1)" if k == 1 else f"IWAE k = {k}"
        spread = max(values) - min(values)
        print(f"| {name} | {statistics.mean(values):.4f} | {spread:.4f} | "
              f"{statistics.median(seconds):.2f} |")
    start = time.perf_counter()
    marginal = model.log_likelihood(test.x, None, seed=0)
    print(f"\nclass-marginal ELBO (condition=None): "
          f"{float(-marginal.mean()) / (dim * math.log(2)):.4f} bits/dim "
          f"({time.perf_counter() - start:.2f} s)")
    labels = torch.arange(10).repeat_interleave(100)
    floor = frechet_floor()
    for output in ("sample", "mode"):
        x = model.sample(1000, condition=labels, seed=0, output=output)
        print(f"output={output!r}: accuracy {conditional_accuracy(x, labels):.3f}, "
              f"Frechet distance {digits_frechet(x):.2f} (floor {floor:.2f})")


if __name__ == "__main__":
    main()
