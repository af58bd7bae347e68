"""``genproto compare [NAMES...]`` — the cheatsheet's table of paradigms, measured."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genproto.cli.args import bounded_int, seed
from genproto.errors import InvalidArgumentError

__all__ = ["add_parser"]


def _steps(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--steps takes comma-separated ints such as 5,10,20,50 (got {text!r})"
        ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--steps values must be >= 1 (got {text!r})")
    return values


def _check_folder(path: Path, what: str) -> None:
    if not path.parent.exists():
        raise InvalidArgumentError(
            f"folder of the {what}", value=str(path.parent), allowed="an existing folder",
            fix=f"Create it first: mkdir -p {path.parent}",
        )


def _compare(args: argparse.Namespace) -> int:
    from genproto.compare import compare, save_chart

    report = Path(args.output) if args.output else None
    plot = Path(args.plot) if args.plot else None
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise InvalidArgumentError("--plot file", value=str(plot),
                                       allowed="a path ending in .png")
        _check_folder(plot, "plot")
    if report is not None:
        _check_folder(report, "report")
    comparison = compare(
        args.names or None, n=args.n, per_class=args.per_class, seed=args.seed,
        steps=args.steps, batch_size=args.batch_size, progress=True if args.progress else None,
    )
    print(comparison.to_json() if args.json else comparison.text())
    if report is not None:
        from genproto._atomic import atomic_open

        suffix = report.suffix.lower()
        body = (comparison.markdown() if suffix == ".md"
                else comparison.to_json() + "\n" if suffix == ".json"
                else comparison.text() + "\n")
        with atomic_open(report) as fh:
            fh.write(body.encode("utf-8"))
        print(f"wrote the report to {report}", file=sys.stderr)
    if plot is not None:
        save_chart(comparison, plot)
        print(f"wrote the plot to {plot}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    from genproto.compare import DEFAULT_N, DEFAULT_PER_CLASS, DEFAULT_STEPS

    p = sub.add_parser(
        "compare", help="measure the installed models: the table of paradigms and its claims"
    )
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="models to compare (default: every installed model)")
    p.add_argument("-o", "--output", default=None,
                   help="also write the report: .md (markdown), .json, or plain text")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="draw quality against sampling cost into this .png")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("-n", type=bounded_int(1, 10**7), default=DEFAULT_N,
                   help=f"unconditional samples per model; a text model: samples per Census list "
                   f"(default {DEFAULT_N})")
    p.add_argument("--per-class", type=bounded_int(1, 10**6), default=DEFAULT_PER_CLASS,
                   help=f"conditional samples per class (default {DEFAULT_PER_CLASS})")
    p.add_argument("--seed", type=seed, default=0, help="seed of every run (default 0)")
    p.add_argument("--steps", type=_steps, default=DEFAULT_STEPS, metavar="K,K,...",
                   help="step counts to sweep for models with a steps option (default "
                   + ",".join(map(str, DEFAULT_STEPS)) + ", plus the model's default)")
    p.add_argument("--batch-size", type=bounded_int(1, 2**31),
                   default=None, help="samples per batch")
    p.add_argument("--progress", action="store_true",
                   help="always show the progress bar (default: on a terminal)")
    p.set_defaults(func=_compare)
