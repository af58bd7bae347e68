"""What the engine's per-batch output check costs, as a share of the batch it checks.

The sampler checks every ``sample_batch`` output against the declared event (shape,
dtype, levels in range, no NaN/inf: ``genproto.sampling._checked_samples``). This times
that check beside the batch itself for the single-pass models, where it is most visible,
in one process (a ratio, so the machine's speed cancels out)::

    OMP_NUM_THREADS=1 python benchmarks/bench_output_check.py [--batch 1024] [--models gan vae]
"""

from __future__ import annotations

import argparse
import time

import torch

import genproto
from genproto import sampling
from genproto.streams import KeyedStreams


def _median(times: list[float]) -> float:
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--models", nargs="+", default=["gan", "vae", "flow"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        model = genproto.registry.get(name)
        options = model.check_sample_options({})
        streams = KeyedStreams.for_range(0, 0, args.batch)
        labels = None
        if model.capabilities.condition is not None:
            labels = streams.fork("condition").randint(model.capabilities.condition.num_classes)
        batch, check = [], []
        with torch.inference_mode():
            out = model.sample_batch(streams, labels, **options)
            for _ in range(args.repeats):  # interleaved, so load changes hit both alike
                t0 = time.perf_counter()
                model.sample_batch(KeyedStreams.for_range(0, 0, args.batch), labels, **options)
                batch.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for _ in range(100):
                    sampling._checked_samples(model, out, args.batch)
                check.append((time.perf_counter() - t0) / 100)
        b, c = _median(batch), _median(check)
        print(f"{name:>6}: batch of {args.batch} {b * 1e3:7.2f} ms, output check "
              f"{c * 1e6:6.1f} us = {100 * c / b:.2f}% of the batch")


if __name__ == "__main__":
    main()
