"""Benchmarks of the shared sampler, as ratios measured within one run.

    python benchmarks/bench_sampler.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_sampler.py --quick    # smaller n, for a smoke run

1. Overhead: ``genproto.sampling.run`` against a hand-written bare torch loop
   over the same network, batch size and keyed noise, interleaved repeats, at
   n = 65,536, for a single-pass MLP decoder and a 50-step MLP denoising loop.
   Target: throughput ratio >= 0.97.
2. Against the machine's limit: achieved FLOP/s of the network evaluations
   while sampling divided by the FLOP/s of a large fp32 matmul measured in the
   same run, over batch sizes 1 .. 65,536 (samples/s reported too).
   Target: >= 0.70 at the best batch size.
3. Keyed noise cost: the time to draw all of the denoising loop's keyed noise
   as a fraction of the whole sampling run, timed in the same rounds as the run.
   Target: <= 5%.

Every ratio is the median of per-round ratios (timings of one round run back to
back, order rotated) with its low-high range, and each timing's spread
((max - min) / median): a wide range says the machine was loaded, not that the
figure moved.
4. Memory: streaming 1M and 10M two-dimensional samples to ``.npy``; peak RSS
   of the process. Target: < 500 MB and < 10% growth from 1M to 10M.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from reference_models import MLPDecoder, MLPDenoiser, linear_flops

from genproto import sampling
from genproto.streams import KeyedStreams


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_loop(n: int, batch: int, seed: int, body: Callable[[KeyedStreams], torch.Tensor],
              width: int) -> torch.Tensor:
    """What a user would write by hand: chunks, keyed noise, inference mode, no engine."""
    out = torch.empty(n, width)
    with torch.inference_mode():
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            out[start:stop] = body(KeyedStreams.for_range(seed, start, stop))
    return out


def rounds(fns: Sequence[Callable[[], object]], repeats: int) -> list[list[float]]:
    """Times of each of ``fns`` in ``repeats`` rounds, the order rotated each round.

    Every round runs all of them back to back, so a load that comes and goes on a shared
    machine falls on all of a round's timings alike; ``times[i][r]`` is fn i in round r.
    """
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for k in range(len(fns)):
            i = (k + r) % len(fns)
            times[i].append(timed(fns[i]))
    return times


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median of ``values``.

    The order statistics ``(x_(j), x_(n+1-j))`` with the largest ``j`` for which
    ``P(B < j) <= (1 - confidence) / 2``, ``B ~ Binomial(n, 1/2)``: the median lies below
    ``x_(j)`` only if fewer than ``j`` values do (Conover, *Practical Nonparametric
    Statistics*, 3rd ed., 1999, section 3.2). It assumes nothing about the values' shape but
    that rounds are independent; a drift slower than a round makes it somewhat too narrow.
    Too few values for any ``j >= 1`` give the whole range.
    """
    ordered = sorted(values)
    n = len(ordered)
    tail, below, j = (1.0 - confidence) / 2, 0.0, 0
    while j < n // 2:
        below += math.comb(n, j) / 2.0**n  # P(B = j) added: P(B < j + 1)
        if below > tail:
            break
        j += 1
    if j == 0:
        return ordered[0], ordered[-1]
    return ordered[j - 1], ordered[n - j]


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> dict[str, float]:
    """The median of the per-round ratios ``num[r] / den[r]``, their range, and a 95%
    confidence interval of the median (:func:`median_interval`).

    A ratio of two timings taken in the same round is what load does not skew much; the
    range says how stable it was (report it beside the median, never the median alone), the
    interval how far the median itself may be from the one more rounds would give.
    """
    ratios = [a / b for a, b in zip(num, den, strict=True)]
    ci_low, ci_high = median_interval(ratios)
    return {"median": statistics.median(ratios), "low": min(ratios), "high": max(ratios),
            "ci_low": ci_low, "ci_high": ci_high}


def best_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """``min(num) / min(den)``: the ratio of the two fastest timings of a run.

    On a shared machine load only ever adds time, so each side's fastest repeat is its
    closest reading of the undisturbed cost (the reason ``timeit`` reports the minimum); with
    many short rounds both minima come from quiet moments. It complements the paired median,
    which says what a user sees under the load of the moment: report both.
    """
    return min(num) / min(den)


def _put(results: dict[str, float], name: str, ratio: dict[str, float]) -> None:
    """``name`` (the median), ``name_low`` and ``name_high`` into ``results``."""
    results[name] = ratio["median"]
    results[f"{name}_low"], results[f"{name}_high"] = ratio["low"], ratio["high"]


def spread(times: Sequence[float]) -> float:
    """(max - min) / median of one timing's repeats: 0 on a quiet machine."""
    return (max(times) - min(times)) / statistics.median(times)


def matmul_flops(size: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1))
    a @ b  # warm-up
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best


def overhead(n: int, repeats: int) -> dict[str, float]:
    """Engine against the bare loop, and the keyed noise's share of the 50-step run.

    Each figure is the median of per-round ratios of timings taken in the same round (with
    their range and each timing's spread). Session 4's loaded run read a keyed-noise
    fraction of 0.60 against 0.047-0.059 quiet because the noise was timed in its own
    repeats after the engine's: load during one and not the other went straight into the
    ratio. Timed in the same rounds, load falls on both.
    """
    decoder = MLPDecoder()
    denoiser = MLPDenoiser()
    batch = 8192
    results: dict[str, float] = {}
    bare, engine = rounds([
        lambda: bare_loop(n, batch, 0, decoder.bare, 64),
        lambda: sampling.run(decoder, n, seed=0, batch_size=batch, progress=False),
    ], repeats)
    _put(results, "single_pass_ratio", paired_ratio(bare, engine))
    results["single_pass_samples_per_s"] = n / statistics.median(engine)
    steps = 50

    def noise_only() -> None:
        for start in range(0, n, batch):
            s = KeyedStreams.for_range(0, start, min(n, start + batch))
            s.normal(64)
            for _ in range(steps - 1):
                s.normal(64)

    bare, engine, noise = rounds([
        lambda: bare_loop(n, batch, 0, lambda s: denoiser.loop(s, steps), 64),
        lambda: sampling.run(denoiser, n, seed=0, batch_size=batch, progress=False, steps=steps),
        noise_only,
    ], repeats)
    _put(results, "denoise_50_ratio", paired_ratio(bare, engine))
    results["denoise_50_samples_per_s"] = n / statistics.median(engine)
    _put(results, "keyed_noise_fraction", paired_ratio(noise, engine))
    results["engine_50_spread"] = spread(engine)
    results["noise_spread"] = spread(noise)
    return results


def batch_sweep(quick: bool) -> tuple[float, list[dict[str, float]]]:
    decoder = MLPDecoder()
    flops_per_sample = linear_flops(decoder.net)
    peak = matmul_flops()
    rows = []
    sizes = [1, 16, 256, 4096, 65536] if quick else [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]
    for b in sizes:
        n = min(65536, max(8 * b, 2048)) if b > 1 else 512
        sampling.run(decoder, min(n, 2 * b), seed=0, batch_size=b, progress=False)  # warm-up
        t = min(timed(lambda n=n, b=b: sampling.run(decoder, n, seed=0, batch_size=b,
                                                     progress=False))
                for _ in range(2))
        achieved = flops_per_sample * n / t
        rows.append({"batch_size": b, "samples_per_s": n / t, "gflops": achieved / 1e9,
                     "fraction_of_matmul": achieved / peak})
    return peak, rows


MEMORY_CHILD = """
import sys, torch
sys.path.insert(0, {bench!r})
from collections.abc import Mapping
from genproto import Capabilities, EventSpace, Likelihood, Paradigm, SampleCost, sampling
from genproto.model import Model
class Points(Model):
    def __init__(self):
        super().__init__(Capabilities(Paradigm.FLOW, Likelihood.NONE, SampleCost.single_pass(),
                                      EventSpace.continuous((2,))), name="points")
        self.net = torch.nn.Linear(2, 2)
    def networks(self): return {{"net": self.net}}
    def sample_batch(self, streams, condition, **o): return self.net(streams.normal(2))
sampling.write_npy(Points(), {n}, {path!r}, seed=0, batch_size=65536, progress=False)
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(int(hwm.split()[1]) * 1024)
"""


def memory(quick: bool) -> dict[str, float]:
    out = {}
    counts = [100_000, 1_000_000] if quick else [1_000_000, 10_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            code = MEMORY_CHILD.format(bench=str(Path(__file__).parent), n=n,
                                       path=str(Path(tmp) / "out.npy"))
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True)
            out[f"peak_rss_mb_{n}"] = int(proc.stdout.strip()) / 2**20
    small, large = (out[f"peak_rss_mb_{n}"] for n in counts)
    out["growth"] = large / small - 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", choices=("overhead", "sweep", "memory"),
                        help="run one of the three parts")
    args = parser.parse_args()
    n = 8192 if args.quick else 65536
    repeats = 3 if args.quick else 5
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print(f"machine: {machine}")
    results: dict[str, object] = {"machine": machine, "n": n}
    if args.only in (None, "overhead"):
        results["overhead"] = overhead(n, repeats)
        print("overhead:", json.dumps(results["overhead"], indent=1))
    if args.only in (None, "sweep"):
        peak, rows = batch_sweep(args.quick)
        results["matmul_gflops"] = peak / 1e9
        results["sweep"] = rows
        print(f"fp32 matmul 2048^3: {peak / 1e9:.1f} GFLOP/s")
        print("| batch | samples/s | GFLOP/s | of matmul |\n|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['batch_size']} | {r['samples_per_s']:,.0f} | {r['gflops']:.1f} | "
                  f"{r['fraction_of_matmul']:.2f} |")
    if args.only in (None, "memory"):
        results["memory"] = memory(args.quick)
        print("memory:", json.dumps(results["memory"], indent=1))
    print(f"own peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
