"""The GAN's truncation trick measured: Frechet distance, accuracy and diversity vs truncation.

For each truncation bound t (the latent z drawn from N(0, I) conditioned on [-t, t]^Z;
``None`` = no truncation) draws N unconditional samples of the shipped ``gan`` model and
reports the Frechet distance to the digits test split (reference classifier features;
genproto.metrics.digits_frechet), the conditional accuracy on 1,000 conditional samples
(100 per class), the mode coverage of the unconditional samples, the mean per-pixel standard
deviation within a class (diversity) and the sampling time. Prints a Markdown table and draws
the curve of Frechet distance against t with Pillow.

Run: ``python benchmarks/bench_gan_truncation.py [--n 2000] [--plot PATH.png]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from genproto import registry
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor, mode_coverage

BOUNDS: tuple[float | None, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, None)


def measure(n: int, seed: int) -> list[dict[str, float | None]]:
    model = registry.get("gan")
    labels = torch.arange(1000) % 10
    rows: list[dict[str, float | None]] = []
    for t in BOUNDS:
        began = time.perf_counter()
        samples = model.sample(n, seed=seed, truncation=t)  # (N, 8, 8) unconditional
        seconds = time.perf_counter() - began
        conditional = model.sample(1000, condition=labels, seed=seed + 1, truncation=t)
        per_class = conditional.float().reshape(100, 10, 64)  # row r holds class r % 10
        spread = float(per_class.std(0).mean())
        rows.append({
            "truncation": t,
            "frechet": digits_frechet(samples),
            "accuracy": conditional_accuracy(conditional, labels),
            "rarest": mode_coverage(samples).min_ratio,
            "spread": spread,
            "ms_per_1000": 1000 * seconds * 1000 / n,
        })
    return rows


def table(rows: list[dict[str, float | None]], n: int) -> str:
    lines = [
        f"| truncation t | Frechet distance (N={n}) | accuracy (1,000 cond.) | rarest class / "
        "uniform | pixel std within class | ms / 1,000 samples |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = "None" if r["truncation"] is None else f"{r['truncation']:g}"
        lines.append(
            f"| {t} | {r['frechet']:.2f} | {r['accuracy']:.3f} | {r['rarest']:.2f} | "
            f"{r['spread']:.2f} | {r['ms_per_1000']:.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, float | None]], floor: float, path: Path) -> None:
    """Frechet distance against t (None drawn at the right edge as 'none'), with the floor."""
    width, height, margin = 640, 400, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    finite = [r for r in rows if r["truncation"] is not None]
    x_max = max(float(r["truncation"] or 0) for r in finite) + 0.75
    y_max = max(float(r["frechet"] or 0) for r in rows) * 1.15

    def at(t: float, fd: float) -> tuple[float, float]:
        return (margin + (width - 2 * margin) * t / x_max,
                height - margin - (height - 2 * margin) * fd / y_max)

    draw.line([at(0, 0), at(x_max, 0)], fill="black")
    draw.line([at(0, 0), at(0, y_max)], fill="black")
    for tick in range(int(x_max) + 1):
        x, y = at(tick, 0)
        draw.line([(x, y), (x, y + 5)], fill="black")
        draw.text((x - 3, y + 8), str(tick), fill="black")
    for k in range(5):
        value = y_max * k / 4
        x, y = at(0, value)
        draw.line([(x - 5, y), (x, y)], fill="black")
        draw.text((x - 40, y - 6), f"{value:.1f}", fill="black")
    fx0, fy = at(0, floor)
    fx1, _ = at(x_max, floor)
    draw.line([(fx0, fy), (fx1, fy)], fill=(150, 150, 150))
    draw.text((fx1 - 110, fy - 14), f"floor {floor:.2f}", fill=(110, 110, 110))
    points = [at(float(r["truncation"] or 0), float(r["frechet"] or 0)) for r in finite]
    draw.line(points, fill=(200, 40, 40), width=2)
    for x, y in points:
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 40, 40))
    none = next(r for r in rows if r["truncation"] is None)
    nx, ny = at(x_max - 0.25, float(none["frechet"] or 0))
    draw.line([(points[-1][0], ny), (fx1, ny)], fill=(40, 40, 200))
    draw.text((nx - 110, ny - 14), f"no truncation {float(none['frechet'] or 0):.2f}",
              fill=(40, 40, 200))
    draw.text((margin, 15), "gan: Frechet distance to digits test split vs truncation t",
              fill="black")
    draw.text((width // 2 - 40, height - 25), "truncation t", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="unconditional samples per bound")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=Path("docs/plugins/gan_truncation.png"))
    args = parser.parse_args()
    rows = measure(args.n, args.seed)
    floor = frechet_floor()
    print(table(rows, args.n))
    print(f"\nFrechet floor (digits test vs train split): {floor:.2f}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    plot(rows, floor, args.plot)
    print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
