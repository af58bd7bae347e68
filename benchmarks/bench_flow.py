"""The coupling flow: its dequantisation bound vs k, sample quality vs latent scale, and speed.

On the shipped ``flow`` model (digits, class-conditional) this prints

* the test-split bits/dim of the importance-weighted dequantisation bound for each ``k`` in
  ``--ks`` (dequantisation noise from the keyed streams of (seed, row); the bound can only
  tighten on average as k grows, Burda et al. 2016 theorem 1), and of the class marginal;
* reference-classifier accuracy on 1,000 conditional samples (100 per class) and the digits
  Frechet distance (vs its floor) at each latent scale in ``--latent-scales``;
* sampling throughput (samples/s, one inverse pass each) next to the VAE's (one decoder pass
  each) when the ``vae`` plugin is installed, and log-likelihood throughput (digits/s, k = 1);

and on the shipped ``eight_gaussians`` flow the mean log-density gap on 10,000 samples of the true
density, an estimate of KL(true || model) in nats (the likelihood there is exact).

Run: ``python benchmarks/bench_flow.py [--ks 1 4 16 64] [--seeds 0 1 2] [--threads N]``
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch

import genproto
from genproto.data import load_digits, toy2d
from genproto.errors import UnknownModelError
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor


def _throughput(model: genproto.Model, n: int, repeats: int = 3) -> float:
    """Samples per second for ``n`` class-conditional samples (best of ``repeats``)."""
    best = math.inf
    for r in range(repeats):
        start = time.perf_counter()
        model.sample(n, condition=r % 10, seed=r, batch_size=n)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--latent-scales", type=float, nargs="+",
                        default=[0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = genproto.registry.get("flow")
    test = load_digits("test")
    dim = test.event.dimension
    params = sum(p.numel() for net in model.networks().values() for p in net.parameters())
    print(f"machine: {platform.machine()} CPU, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; flow with {params:,} parameters; {len(test)} test digits")
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
        print(f"| dequantisation k = {k} | {statistics.mean(values):.4f} | "
              f"{max(values) - min(values):.4f} | {statistics.median(seconds):.2f} |")
    marginal = model.log_likelihood(test.x, None, seed=0)
    print(f"\nclass-marginal bound (condition=None, k = 1): "
          f"{float(-marginal.mean()) / (dim * math.log(2)):.4f} bits/dim")
    print(f"\nFrechet floor (test vs train digits): {frechet_floor():.2f}\n")
    print("| latent scale | accuracy (1,000 conditional samples) | Frechet distance |")
    print("|---|---|---|")
    labels = torch.arange(10).repeat_interleave(100)
    for t in args.latent_scales:
        x = model.sample(1000, condition=labels, seed=0, latent_scale=t)
        print(f"| {t:g} | {conditional_accuracy(x, labels):.3f} | {digits_frechet(x):.2f} |")
    x = model.sample(1000, condition=labels, seed=0)
    print(f"| default | {conditional_accuracy(x, labels):.3f} | {digits_frechet(x):.2f} |")
    print()
    flow_rate = _throughput(model, 1000)
    line = f"sampling: flow {flow_rate:,.0f} samples/s (one inverse pass each)"
    try:
        vae = genproto.registry.get("vae")
        vae_rate = _throughput(vae, 1000)
        line += (f"; vae {vae_rate:,.0f} samples/s (one decoder pass); "
                 f"ratio {flow_rate / vae_rate:.2f}")
    except UnknownModelError:
        line += "; vae plugin not installed"
    print(line)
    start = time.perf_counter()
    model.log_likelihood(test.x, test.y, seed=0)
    print(f"log-likelihood (k = 1): {len(test) / (time.perf_counter() - start):,.0f} digits/s")
    toy = genproto.registry.get("flow", dataset="eight_gaussians")
    truth = toy2d("eight_gaussians")
    points = truth.sample(10_000, torch.Generator().manual_seed(0))
    gap = truth.log_prob(points.double()) - toy.log_likelihood(points).double()
    print(f"eight_gaussians: KL(true || flow) ~ {float(gap.mean()):.4f} nats "
          f"(+- {2 * float(gap.std()) / math.sqrt(len(gap)):.4f}, 10,000 samples)")


if __name__ == "__main__":
    main()
