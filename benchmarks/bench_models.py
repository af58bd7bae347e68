"""Every installed shipped model through the shared sampler against a bare loop over its networks.

    python benchmarks/bench_models.py                       # every installed configuration
    python benchmarks/bench_models.py --only gan vae flow   # some plugins (registry names)
    python benchmarks/bench_models.py --quick               # fewer, shorter rounds: a smoke run
    python benchmarks/bench_models.py --budget 40           # more rounds a row: a narrower interval

Issue 22, target 1: ``genproto.sampling.run`` (what ``model.sample`` calls) reaches >= 0.97x the
throughput of a hand-written torch loop over the same networks, batch size and keyed draws at
batch 1,024, and >= 0.90x at batch 16, for every shipped configuration. The bare loops live in
``benchmarks/bare/<plugin>.py`` (:mod:`bare`); before timing, each is checked to give the very
samples the engine gives (bitwise, at two batch sizes), so a ratio is never a comparison of two
different computations. A configuration without its bare module yet is listed with a note.

Figures per row, from many short rounds (the two loops timed back to back in each round, order
rotated; :func:`bench_sampler.rounds`; ``n`` sized per configuration so a timing takes about
``--seconds`` and covers at least ``MIN_BATCHES`` batches where those fit the budget, never
fewer than two):

* **paired median** of the per-round ratios ``bare / engine`` with its 95% confidence
  interval (distribution-free, :func:`bench_sampler.median_interval`) and the rounds' low-high
  range: on a machine whose speed drifts from second to second (a shared host), rounds of a
  few tens of milliseconds put the same drift on both timings of a round, and the median of
  many such pairs moves less from run to run than that of a few long rounds (session 9, two
  runs minutes apart, 41 rounds of 0.05 s: within 0.05 of each other on every gan row, where
  5 rounds of 0.3 s had moved by up to 0.13);
* the **verdict** against the target, from the interval, not the median alone: ``ok`` when
  the whole interval is at or above the target, ``below`` when all of it is under, ``within
  noise`` when it straddles the target (more rounds, ``--budget``, would decide). Session 10,
  the bare loop timed against itself for 150 rounds (gan grid25, batch 1,024): median 1.002,
  interval 0.989-1.011 -- the resolution a row of that many rounds has;
* **best**, ``min(bare) / min(engine)`` (:func:`bench_sampler.best_ratio`), and **total**,
  ``sum(bare) / sum(engine)``: two other readings of the same rounds; where they stray from the
  median, the rounds were too few for the load.

A row gets as many rounds as fit in ``--budget`` seconds (15 by default: ~150 rounds of short
timings), at most ``--repeats`` and never fewer than five (a batch of 1,024 digits from a
50-step diffusion takes seconds: such rows are long timings, not short rounds, and their
intervals say so).

Short runs include the engine's fixed cost per run (planning, provenance with the weights hash,
eval mode: ~0.3 ms), as a user's calls do.

Progress bars are off in both loops.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import bare
from bench_sampler import best_ratio, paired_ratio, rounds, spread

from genproto import sampling
from genproto.model import Model

TARGETS = {1024: 0.97, 16: 0.90}  # issue 22, target 1: batch size -> the least ratio
CHECK_N = 40  # samples compared bitwise, bare loop against the engine
MIN_ROUNDS = 5  # the fewest rounds a row gets, however long its timings
#: The fewest batches a timing covers when they fit the budget: throughput at a batch size is
#: the steady state, where the engine's fixed cost per run (planning, the condition's digest,
#: the weights hash: 0.5-1 ms on the session-10 machine) is under 1% (session 10: at about
#: 0.05 s a timing, gan digits at batch 1,024 ran 3 batches and read 0.958, the fixed cost
#: ~2% of it)
MIN_BATCHES = 8


def engine_run(model: Model, n: int, batch: int, condition: Any) -> torch.Tensor:
    return sampling.run(model, n, seed=0, batch_size=batch, condition=condition,
                        progress=False).samples


def same_samples(model: Model, module: ModuleType) -> bool:
    """The bare loop gives the engine's samples bit for bit, at batch 16 and all at once."""
    condition = bare.condition_for(model, CHECK_N)
    values = bare.canonical(model, condition, CHECK_N)
    for batch in (16, CHECK_N):
        mine = bare.bare_run(model, module.bare_batch, CHECK_N, seed=0, batch_size=batch,
                             condition=values)
        if not torch.equal(mine, engine_run(model, CHECK_N, batch, condition)):
            return False
    return True


def sized_n(model: Model, batch: int, seconds: float, condition_n: int,
            longest: float) -> tuple[int, float]:
    """Samples that make one engine run take about ``seconds``, and at least ``MIN_BATCHES``
    batches unless those would take more than ``longest`` seconds (then as many as fit, two at
    least), sized on a run long enough that the engine's fixed cost per run does not skew it;
    and the seconds such a run is expected to take."""
    batches = 2
    engine_run(model, batches * batch, batch, bare.condition_for(model, batches * batch))
    while True:
        start = time.perf_counter()
        engine_run(model, batches * batch, batch, bare.condition_for(model, batches * batch))
        took = time.perf_counter() - start
        if took > seconds / 4 or batches * batch >= condition_n:
            break
        batches *= 8
    per_batch = took / batches
    floor = max(2, min(MIN_BATCHES, int(longest / per_batch)))
    batches = max(floor, min(round(seconds / per_batch), condition_n // batch))
    return batch * batches, per_batch * batches


def measure(model: Model, module: ModuleType, batch: int, repeats: int,
            seconds: float, budget: float) -> dict[str, float]:
    n, expected = sized_n(model, batch, seconds, 1 << 17, budget / (2 * MIN_ROUNDS))
    # as many rounds as the budget holds: fewer for a model whose timings take seconds
    repeats = max(min(MIN_ROUNDS, repeats), min(repeats, int(budget / (2 * expected))))
    condition = bare.condition_for(model, n)
    values = bare.canonical(model, condition, n)
    bare_t, engine_t = rounds([
        lambda: bare.bare_run(model, module.bare_batch, n, seed=0, batch_size=batch,
                              condition=values),
        lambda: engine_run(model, n, batch, condition),
    ], repeats)
    ratio = paired_ratio(bare_t, engine_t)
    return {"batch_size": batch, "n": n, "best": best_ratio(bare_t, engine_t),
            "total": sum(bare_t) / sum(engine_t),
            "ratio": ratio["median"], "low": ratio["low"], "high": ratio["high"],
            "ci_low": ratio["ci_low"], "ci_high": ratio["ci_high"],
            "engine_samples_per_s": n / statistics.median(engine_t),
            "bare_samples_per_s": n / statistics.median(bare_t),
            "engine_spread": spread(engine_t), "bare_spread": spread(bare_t),
            "rounds": repeats}


def verdict_of(row: dict[str, Any], target: float) -> str:
    """``ok`` when the median's whole confidence interval is at or above ``target``,
    ``**below**`` when all of it is under, ``within noise`` when it straddles it."""
    if row["ci_low"] >= target:
        return "ok"
    if row["ci_high"] < target:
        return "**below**"
    return "within noise"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="MODEL",
                        help="registry names of the models to run (default: all installed)")
    parser.add_argument("--configs", nargs="+", metavar="LABEL",
                        help='rows to run by their label in the table, e.g. vae "ar '
                        'dataset=names" (default: every configuration of the --only models)')
    parser.add_argument("--batches", nargs="+", type=int, default=[1024, 16])
    parser.add_argument("--repeats", type=int, default=401, help="the most rounds a row gets")
    parser.add_argument("--seconds", type=float, default=0.05, help="about one timing's length")
    parser.add_argument("--budget", type=float, default=15.0,
                        help="seconds of timing a row: its rounds are as many as fit "
                        f"(at least {MIN_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help="3 rounds of about 0.1 s")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    repeats, seconds = (3, 0.1) if args.quick else (args.repeats, args.seconds)
    machine = {"cpu": platform.processor() or platform.machine(),
               "threads": torch.get_num_threads(), "torch": torch.__version__,
               "python": platform.python_version()}
    print(f"machine: {machine}; {repeats} rounds of about {seconds} s a timing", flush=True)
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    for config, module, why in bare.installed():
        if (args.only and config.model not in args.only) or (
                args.configs and config.label not in args.configs):
            continue
        if module is None:
            notes.append(f"{config.label}: skipped ({why})")
            print(notes[-1], flush=True)
            continue
        model = bare.load(config)
        equal = same_samples(model, module)
        for batch in args.batches:
            row = {"config": config.label, "equal": equal,
                   **measure(model, module, batch, repeats, seconds, args.budget)}
            results.append(row)
            print(f"{row['config']:<28} batch {batch:>5}: best {row['best']:.3f}, total "
                  f"{row['total']:.3f}, paired {row['ratio']:.3f} (95% CI "
                  f"{row['ci_low']:.3f}-{row['ci_high']:.3f}; rounds "
                  f"{row['low']:.3f}-{row['high']:.3f}), "
                  f"{row['engine_samples_per_s']:,.0f} "
                  f"vs {row['bare_samples_per_s']:,.0f} samples/s, n={row['n']}, "
                  f"{row['rounds']} rounds"
                  + ("" if equal else "  SAMPLES DIFFER"), flush=True)
    print("\n| model | batch | engine / bare: paired median (95% CI) | rounds low-high | best "
          "| total | target | engine samples/s | bare samples/s | n |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        target = TARGETS.get(r["batch_size"])
        verdict = "" if target is None else f" {verdict_of(r, target)}"
        print(f"| {r['config']}{'' if r['equal'] else ' (samples differ!)'} | {r['batch_size']} "
              f"| {r['ratio']:.3f} ({r['ci_low']:.3f}-{r['ci_high']:.3f}) | "
              f"{r['low']:.3f}-{r['high']:.3f} ({r['rounds']}) | {r['best']:.3f} | "
              f"{r['total']:.3f} | "
              f"{'' if target is None else f'>= {target}'}{verdict} | "
              f"{r['engine_samples_per_s']:,.0f} | {r['bare_samples_per_s']:,.0f} | {r['n']:,} |")
    for note in notes:
        print(f"- {note}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": results, "notes": notes},
                                        indent=2))


if __name__ == "__main__":
    main()
