"""genproto-diffusers sampling throughput against the equivalent hand loop with ``generator=``.

Same UNet, same scheduler, same batch, same steps, same guidance: ``model.sample(n, ...)``
(keyed latents from the streams, the engine's validation, forward-hook counting and output
check, the mapping to levels) against the loop a diffusers user writes -- ``torch.randn(...,
generator=g)`` latents, one UNet call a step, ``scheduler.step(..., generator=g)`` -- under
``torch.inference_mode`` (what ``DiffusionPipeline.__call__`` runs under: ``torch.no_grad``).
``DDIMPipeline`` itself takes no class labels, so the hand loop is the fair reference.
Interleaved repeats, medians, one process, so the ratio is what to read::

    python benchmarks/bench_diffusers.py [--batches 1 16 256] [--steps 20] [--device cpu]
    python benchmarks/bench_diffusers.py --drift [--model tiny32]   # batch drift, K = 50

``--drift`` measures what ``BatchTolerance`` declares: 256 samples at the default steps drawn
with ``batch_size`` 1, 7, 64 against one batch of 256 -- the largest float difference (in
[-1, 1] units, before rounding) and the share of samples whose levels differ.

The UNet is the shipped ``digits-unet`` (a 0.65M-parameter UNet2DModel on 1x8x8) with DDIM;
``--model tiny32`` uses a random 3x32x32 UNet2DModel of widths 32/64 instead.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import genproto


def _build(name: str, device: str, scratch: Path) -> Any:
    if name == "digits-unet":
        return genproto.registry.get("digits-unet", device=device)
    from diffusers import DDIMScheduler, UNet2DModel

    from genproto.training import seeded_init

    with seeded_init(0):
        unet = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=1,
                           block_out_channels=(32, 64), norm_num_groups=8,
                           down_block_types=("DownBlock2D", "DownBlock2D"),
                           up_block_types=("UpBlock2D", "UpBlock2D"))
    unet.save_pretrained(scratch)
    DDIMScheduler(beta_schedule="squaredcos_cap_v2").save_pretrained(scratch)
    return genproto.registry.get("diffusers", path=str(scratch), device=device)


def hand_loop(model: Any, n: int, labels: torch.Tensor | None, steps: int,
              generator: torch.Generator) -> torch.Tensor:
    """What a diffusers user writes: global-style generator, one UNet call a step."""
    scheduler = copy.deepcopy(model.scheduler)
    scheduler.set_timesteps(steps, device=model.device)
    x = torch.randn((n, *model.shape), generator=generator, device=model.device)
    x = x * scheduler.init_noise_sigma
    kwargs = {} if labels is None else {"class_labels": labels.to(model.device)}
    for t in scheduler.timesteps:
        eps = model.unet(scheduler.scale_model_input(x, t), t, **kwargs).sample
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x


def _time(fn: Any, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(model: Any, batch: int, steps: int, repeats: int, device: str,
            n: int = 64) -> dict[str, float]:
    """Samples/s of both sides for ``max(n, batch)`` samples drawn ``batch`` at a time (one
    ``model.sample`` call; as many hand loops), so a run's fixed costs are spread as in use."""
    n = max(n, batch)
    conditional = model.capabilities.condition is not None
    labels = (torch.arange(n) % model.capabilities.condition.num_classes
              if conditional else None)
    generator = torch.Generator(device=device).manual_seed(0)

    def ours() -> None:
        model.sample(n, condition=labels, seed=0, batch_size=batch, steps=steps)

    def theirs() -> None:
        with torch.inference_mode():
            for start in range(0, n, batch):
                part = None if labels is None else labels[start:start + batch]
                hand_loop(model, min(batch, n - start), part, steps, generator)

    ours(), theirs()  # warm-up
    a, b = [], []
    for _ in range(repeats):
        a.append(_time(ours, device))
        b.append(_time(theirs, device))
    mine, hand = statistics.median(a), statistics.median(b)
    return {"batch": batch, "n": n, "genproto_samples_per_s": n / mine,
            "hand_loop_samples_per_s": n / hand, "ratio": hand / mine}


def drift(model: Any, n: int = 256, sizes: tuple[int, ...] = (1, 7, 64)) -> dict[str, Any]:
    """Float and level drift between batch sizes, at the model's default steps."""
    from genproto.streams import KeyedStreams

    conditional = model.capabilities.condition is not None
    labels = (torch.arange(n) % model.capabilities.condition.num_classes
              if conditional else None)
    options = model.check_sample_options({})

    def floats(size: int) -> torch.Tensor:
        parts = []
        with torch.inference_mode():
            for start in range(0, n, size):
                stop = min(n, start + size)
                streams = KeyedStreams.for_range(0, start, stop)
                cond = None if labels is None else labels[start:stop]
                parts.append(model.denoise(streams, cond, **options))
        return torch.cat(parts)

    reference = floats(n)
    out: dict[str, Any] = {"n": n, "steps": options["steps"]}
    for size in sizes:
        x = floats(size)
        flips = (model.to_events(x) != model.to_events(reference)).reshape(n, -1).any(1)
        out[f"batch_{size}"] = {"max_abs_diff": float((x - reference).abs().max()),
                                "rows_with_a_changed_level": float(flips.double().mean())}
        print(f"batch {size:3d} vs {n}: max |diff| {out[f'batch_{size}']['max_abs_diff']:.2e}, "
              f"rows with a changed level {out[f'batch_{size}']['rows_with_a_changed_level']:.3f}",
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--model", default="digits-unet", choices=("digits-unet", "tiny32"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--drift", action="store_true", help="measure batch drift instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = _build(args.model, args.device, Path(scratch))
        if args.drift:
            result = drift(model)
            if args.out:
                args.out.write_text(json.dumps(result, indent=2))
            return
        rows = []
        for batch in args.batches:
            repeats = 5
            row = measure(model, batch, args.steps, repeats, args.device)
            rows.append(row)
            print(f"{args.model} batch {batch:4d}: genproto {row['genproto_samples_per_s']:9.1f} "
                  f"samples/s, hand loop {row['hand_loop_samples_per_s']:9.1f} samples/s, "
                  f"ratio {row['ratio']:.3f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "steps": args.steps,
                                        "device": args.device, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
