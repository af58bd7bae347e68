"""Cost of keyed randomness against torch's own generator (issue 22, target 3).

For each batch size (16, 1,024, 4,096, 65,536 rows of 64 values by default) times, in one process
with the repeats interleaved so that drift in the machine's speed hits every case alike:

* keyed ``normal(64)`` and ``uniform(64)`` on prebuilt streams against ``torch.randn`` /
  ``torch.rand`` of the same size (with an explicit generator);
* ``KeyedStreams.for_range`` + ``normal(64)`` (the per-batch key derivation included);
* keyed ``categorical`` over 17 classes (Gumbel-max, what the autoregressive sampler draws per
  step) against a torch Gumbel-max over the same logits, ``argmax(logits - log(-log(rand)))``.

Each figure is the median over rounds of the per-round ratio keyed / torch, with the spread
(min-max over rounds) so that a loaded machine shows as a wide range rather than a wrong number.
Small draws are timed as the mean of many calls per round (per-call Python and dispatch cost is
what matters there). Then one forward pass of a 64 -> 512 -> 512 -> 64 MLP on 65,536 rows puts
the noise in proportion.

``--compiled`` sets ``GENPROTO_STREAMS_COMPILE=1`` (the opt-in fused integer kernels of
genproto/_streams_compiled.py) and first reports the one-off compile latency of each kernel.

Run: ``python benchmarks/bench_streams.py [--threads 1] [--rounds 7] [--sizes 16,1024,4096,65536]
[--compiled]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from genproto.streams import KeyedStreams

DIM, CLASSES, HIDDEN = 64, 17, 512


def _per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _calls_for(batch: int) -> int:
    """Calls per round so that a round lasts >= ~20 ms at every size."""
    return max(3, 400_000 // (batch * DIM))


def _ratio_row(
    name: str, keyed: Callable[[], object], torch_fn: Callable[[], object], batch: int, rounds: int
) -> str:
    calls = _calls_for(batch)
    keyed()
    torch_fn()
    ratios, kt, tt = [], [], []
    for _ in range(rounds):
        a = _per_call(keyed, calls)
        b = _per_call(torch_fn, calls)
        kt.append(a)
        tt.append(b)
        ratios.append(a / b)
    return (
        f"  {batch:>7} x {name:<26} {1e6 * statistics.median(kt):10.1f} "
        f"{1e6 * statistics.median(tt):10.1f} {statistics.median(ratios):7.2f} "
        f"[{min(ratios):.2f}-{max(ratios):.2f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--sizes", default="16,1024,4096,65536", help="batch sizes, comma-sep.")
    parser.add_argument("--compiled", action="store_true", help="GENPROTO_STREAMS_COMPILE=1")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ["GENPROTO_STREAMS_COMPILE"] = "1" if args.compiled else "0"
    if args.compiled:
        for kind in ("normal", "uniform"):
            start = time.perf_counter()
            getattr(KeyedStreams.for_range(0, 0, 4096), kind)(DIM)
            print(
                f"compiled {kind}: first draw (compile + check) {time.perf_counter() - start:.2f} s"
            )
    sizes = [int(size) for size in args.sizes.split(",")]
    generator = torch.Generator().manual_seed(0)

    print(
        f"threads={torch.get_num_threads()} rounds={args.rounds} compiled={args.compiled} "
        f"(median us per call; "
        f"ratio = median of per-round ratios [min-max])"
    )
    print(f"  {'rows':>7}   {'draw':<26} {'keyed us':>10} {'torch us':>10} {'ratio':>7}")
    for batch in sizes:
        streams = KeyedStreams.for_range(0, 0, batch)
        logits = torch.randn(batch, CLASSES, generator=generator)

        def torch_gumbel_max(logits: torch.Tensor = logits, batch: int = batch) -> object:
            u = torch.rand(batch, CLASSES, generator=generator)
            return torch.sub(logits, u.log_().neg_().log_()).argmax(dim=-1)

        cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
            (
                f"normal({DIM}) vs randn",
                lambda s=streams: s.normal(DIM),
                lambda b=batch: torch.randn(b, DIM, generator=generator),
            ),
            (
                f"uniform({DIM}) vs rand",
                lambda s=streams: s.uniform(DIM),
                lambda b=batch: torch.rand(b, DIM, generator=generator),
            ),
            (
                f"for_range+normal({DIM})",
                lambda b=batch: KeyedStreams.for_range(0, 0, b).normal(DIM),
                lambda b=batch: torch.randn(b, DIM, generator=generator),
            ),
            (
                f"categorical({CLASSES}) vs G-max",
                lambda s=streams, x=logits: s.categorical(x),
                torch_gumbel_max,
            ),
        ]
        for name, keyed, torch_fn in cases:
            print(_ratio_row(name, keyed, torch_fn, batch, args.rounds))

    mlp = torch.nn.Sequential(
        torch.nn.Linear(DIM, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, DIM),
    )
    batch = 65_536
    x = torch.randn(batch, DIM, generator=generator)
    streams = KeyedStreams.for_range(0, 0, batch)

    def forward() -> object:
        with torch.inference_mode():
            return mlp(x)

    print(_ratio_row("normal vs MLP forward", lambda: streams.normal(DIM), forward, batch, 5))


if __name__ == "__main__":
    main()
