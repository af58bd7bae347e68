"""The ``ar`` plugin's sampling speed: KV cache vs recomputing the prefix, and samples/s vs batch.

Both ways draw the same samples with the same shipped weights through the shared sampler; the
only difference is the ``kv_cache`` option: with it each of the 64 steps feeds one token per
sample through the network, without it step t feeds the whole prefix of t + 1 tokens. Repeats
are interleaved so that drift in the machine's speed hits both alike; medians are reported.

Run: ``python benchmarks/bench_ar_kvcache.py [--repeats 5] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genproto import registry


def _seconds(model: object, n: int, batch: int, kv_cache: bool) -> float:
    start = time.perf_counter()
    model.sample(n, seed=0, batch_size=batch, kv_cache=kv_cache)  # type: ignore[attr-defined]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = registry.get("ar")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")

    # 1. KV cache vs full prefix at batch 256.
    _seconds(model, 256, 256, True)  # warm-up
    cached, full = [], []
    for _ in range(args.repeats):
        cached.append(_seconds(model, 256, 256, True))
        full.append(_seconds(model, 256, 256, False))
    c, f = statistics.median(cached), statistics.median(full)
    print("\n| batch 256 | seconds (median) | samples/s |\n|---|---|---|")
    print(f"| KV cache | {c:.3f} | {256 / c:.0f} |")
    print(f"| recompute prefix | {f:.3f} | {256 / f:.0f} |")
    print(f"\nspeed-up of the KV cache: {f / c:.2f}x")

    # 2. samples/s against batch size (KV cache), at least 256 samples (16 at batch 1).
    print("\n| batch size | samples | seconds (median) | samples/s |\n|---|---|---|---|")
    for batch in (1, 16, 64, 256, 1024):
        n = 32 if batch == 1 else max(256, batch)
        times = [_seconds(model, n, batch, True) for _ in range(max(1, args.repeats // 2))]
        t = statistics.median(times)
        print(f"| {batch} | {n} | {t:.3f} | {n / t:.0f} |")


if __name__ == "__main__":
    main()
