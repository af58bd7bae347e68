"""Diffusion's failure mode, measured: sample quality against the number of denoising steps K.

For K = 5, 10, 20, 50, 100 and all T = 1000 steps (DDIM, deterministic; and ancestral DDPM
at the same K), draws 1,000 class-conditional digits (100 per class, seed 0) from the shipped
diffusion model and reports the Frechet distance to the test split (reference-classifier
features), the conditional accuracy and the wall time. Writes a Markdown table and a plot
(Pillow) and names the fewest DDIM steps whose Frechet distance is within 10% of the
all-steps value.

Run (2-core CPU: about 10 minutes; take the shared CPU lock):

    flock /tmp/genproto-cpu.lock python benchmarks/bench_diffusion_steps.py \\
        --table docs/plugins/diffusion_steps.md --plot docs/plugins/diffusion_steps.png
"""

from __future__ import annotations

import argparse
import itertools
import math
import platform
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import genproto
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor

STEPS = (5, 10, 20, 50, 100, 1000)


def measure(n: int, samplers: tuple[str, ...]) -> list[dict[str, object]]:
    model = genproto.registry.get("diffusion")
    labels = torch.arange(n) % 10
    rows: list[dict[str, object]] = []
    for sampler in samplers:
        for k in STEPS:
            began = time.perf_counter()
            x = model.sample(n, condition=labels, seed=0, steps=k, sampler=sampler)
            seconds = time.perf_counter() - began
            rows.append({"sampler": sampler, "K": k, "fd": digits_frechet(x),
                         "accuracy": conditional_accuracy(x, labels), "seconds": seconds})
            print(rows[-1], flush=True)
    return rows


def fewest_within(rows: list[dict[str, object]], sampler: str, tolerance: float = 0.10) -> int:
    mine = [r for r in rows if r["sampler"] == sampler]
    full = float(mine[-1]["fd"])  # type: ignore[arg-type]
    ok = [int(r["K"]) for r in mine if float(r["fd"]) <= (1 + tolerance) * full]  # type: ignore[arg-type, call-overload]
    return min(ok)


def table(rows: list[dict[str, object]], n: int) -> str:
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}; {n} samples (100 per class), seed 0, "
        f"guidance 2. Frechet floor (test vs train split): {frechet_floor():.2f}.",
        "",
        "| sampler | K | Frechet distance | conditional accuracy | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['K']} | {float(r['fd']):.2f} | "  # type: ignore[arg-type]
                     f"{float(r['accuracy']):.3f} | {float(r['seconds']):.1f} |")  # type: ignore[arg-type]
    samplers = sorted({str(r["sampler"]) for r in rows})
    lines.append("")
    for s in samplers:
        lines.append(f"Fewest {s.upper()} steps within 10% of the all-steps Frechet distance: "
                     f"K = {fewest_within(rows, s)}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, object]], path: Path) -> None:
    """FD (left axis) and accuracy (right axis) against log K, one line per sampler."""
    w, h, m = 640, 400, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    fds = [float(r["fd"]) for r in rows]  # type: ignore[arg-type]
    top = max(fds) * 1.1
    lx = [math.log10(k) for k in STEPS]

    def px(k: int) -> float:
        return m + (math.log10(k) - lx[0]) / (lx[-1] - lx[0]) * (w - 2 * m)

    def py(v: float, hi: float) -> float:
        return h - m - v / hi * (h - 2 * m)

    d.rectangle([m, m, w - m, h - m], outline="black")
    for k in STEPS:
        d.text((px(k) - 8, h - m + 6), str(k), fill="black")
    for i in range(5):
        v = top * i / 4
        d.text((8, py(v, top) - 6), f"{v:.1f}", fill="black")
        d.text((w - m + 6, py(i / 4, 1.0) - 6), f"{i / 4:.2f}", fill="gray")
    d.text((w // 2 - 70, h - m + 24), "denoising steps K (log)", fill="black")
    d.text((m, 20), "Frechet distance (solid, left)  accuracy (dashed, right)", fill="black")
    colours = {"ddim": (31, 119, 180), "ddpm": (214, 39, 40)}
    for sampler, colour in colours.items():
        mine = [r for r in rows if r["sampler"] == sampler]
        if not mine:
            continue
        pts = [(px(int(r["K"])), py(float(r["fd"]), top)) for r in mine]  # type: ignore[arg-type, call-overload]
        d.line(pts, fill=colour, width=3)
        acc = [(px(int(r["K"])), py(float(r["accuracy"]), 1.0)) for r in mine]  # type: ignore[arg-type, call-overload]
        for a, b in itertools.pairwise(acc):
            d.line([a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)], fill=colour, width=2)
        d.text((pts[0][0] + 6, pts[0][1] - 14), sampler.upper(), fill=colour)
    floor_y = py(frechet_floor(), top)
    d.line([(m, floor_y), (w - m, floor_y)], fill=(120, 120, 120), width=1)
    d.text((w - m - 90, floor_y - 14), "floor", fill=(120, 120, 120))
    img.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--samplers", default="ddim,ddpm")
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    rows = measure(args.n, tuple(args.samplers.split(",")))
    text = table(rows, args.n)
    print(text)
    if args.table:
        args.table.write_text(text)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
