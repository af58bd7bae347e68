"""Cost of keyed noise: KeyedStreams.normal vs torch.randn vs one MLP forward pass.

Times N(0, 1) noise for a (65,536, 64) float32 batch three ways -- keyed streams (the words alone
and the full normal draw), ``torch.randn`` with an explicit generator, and one forward pass of a
64 -> 512 -> 512 -> 64 ReLU MLP on that batch -- with the repeats interleaved so that drift in
the machine's speed hits all of them alike, and prints the median times and their ratios.

Run: ``python benchmarks/bench_streams.py [--repeats 7] [--device cpu] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from genproto.streams import KeyedStreams

BATCH, DIM, HIDDEN = 65_536, 64, 512


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    generator = torch.Generator(device=device).manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(DIM, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, DIM),
    ).to(device)
    x = torch.randn(BATCH, DIM, generator=generator, device=device)

    def keyed_normal() -> object:
        return KeyedStreams.for_range(0, 0, BATCH, device=device).normal(DIM)

    def keyed_words() -> object:
        return KeyedStreams.for_range(0, 0, BATCH, device=device).words(DIM // 2)

    def randn() -> object:
        return torch.randn(BATCH, DIM, generator=generator, device=device)

    def forward() -> object:
        with torch.inference_mode():
            return mlp(x)

    cases: dict[str, Callable[[], object]] = {
        "keyed normal": keyed_normal,
        "keyed words only": keyed_words,
        "torch.randn": randn,
        "MLP forward": forward,
    }
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(_timed(fn, device))

    median = {name: statistics.median(ts) for name, ts in times.items()}
    print(
        f"device={device} threads={torch.get_num_threads()} batch={BATCH}x{DIM} "
        f"repeats={args.repeats} (median ms)"
    )
    for name, t in median.items():
        print(f"  {name:<18} {1e3 * t:9.2f} ms")
    print(f"  keyed normal / torch.randn  = {median['keyed normal'] / median['torch.randn']:.2f}")
    print(f"  keyed normal / MLP forward  = {median['keyed normal'] / median['MLP forward']:.3f}")


if __name__ == "__main__":
    main()
