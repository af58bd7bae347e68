"""``genproto compare [NAMES...]`` — the cheatsheet's table of paradigms, measured.

``--data digits`` (the default) measures the models of the 8x8 digits (and the Census names);
``--data points`` measures every model offering a 2-D configuration against the exact
densities of :data:`genproto.compare.POINTS_DATASETS`; ``--data names`` measures every model
offering a names configuration (and the text models) on each Census list against the known
distribution.
"""

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


#: The values of ``--data``.
DATA = ("digits", "points", "names")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _check_folder(path: Path, what: str) -> None:
    if not path.parent.exists():
        raise InvalidArgumentError(
            f"folder of the {what}", value=str(path.parent), allowed="an existing folder",
            fix=f"Create it first: mkdir -p {path.parent}",
        )


def _check_data(args: argparse.Namespace) -> str:
    """``--data``, and the flags that only one kind of data takes."""
    if args.data not in DATA:
        raise InvalidArgumentError("--data", value=args.data, allowed=" | ".join(DATA),
                                   fix="Use --data digits (the default), points or names")
    takes = {"--per-class": ("digits",), "--datasets": ("points",), "--held-out": ("points",)}
    given = {"--per-class": args.per_class, "--datasets": args.datasets,
             "--held-out": args.held_out}
    for flag, value in given.items():
        if value is not None and args.data not in takes[flag]:
            other = takes[flag][0]
            raise InvalidArgumentError(f"{flag} with --data {args.data}", value=value,
                                       allowed=f"only with --data {other}",
                                       fix=f"Leave {flag} out, or pass --data {other}")
    return str(args.data)


def _measure(args: argparse.Namespace, data: str) -> Any:
    """The comparison ``--data`` asks for (a Comparison, PointsComparison or
    NamesComparison)."""
    from genproto.compare import (
        DEFAULT_HELD_OUT,
        DEFAULT_N,
        DEFAULT_NAMES_N,
        DEFAULT_PER_CLASS,
        DEFAULT_POINTS_N,
        DEFAULT_STEPS,
        NAMES_STEPS,
        POINTS_DATASETS,
        compare,
        compare_names,
        compare_points,
    )

    progress = True if args.progress else None
    if data == "names":
        return compare_names(
            args.names or None, n=args.n if args.n is not None else DEFAULT_NAMES_N,
            seed=args.seed, steps=args.steps or NAMES_STEPS, batch_size=args.batch_size,
            progress=progress)
    steps = args.steps or DEFAULT_STEPS
    if data == "points":
        return compare_points(
            args.names or None, datasets=args.datasets or POINTS_DATASETS,
            n=args.n if args.n is not None else DEFAULT_POINTS_N,
            held_out=args.held_out if args.held_out is not None else DEFAULT_HELD_OUT,
            seed=args.seed, steps=steps, batch_size=args.batch_size, progress=progress)
    return compare(
        args.names or None, n=args.n if args.n is not None else DEFAULT_N,
        per_class=args.per_class if args.per_class is not None else DEFAULT_PER_CLASS,
        seed=args.seed, steps=steps, batch_size=args.batch_size, progress=progress,
    )


def _compare(args: argparse.Namespace) -> int:
    from genproto.compare import save_chart, save_names_chart, save_points_chart

    data = _check_data(args)
    report = Path(args.output) if args.output else None
    plot = Path(args.plot) if args.plot else None
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise InvalidArgumentError("--plot file", value=str(plot),
                                       allowed="a path ending in .png")
        _check_folder(plot, "plot")
    if report is not None:
        _check_folder(report, "report")
    comparison = _measure(args, data)
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
        draw: Any = {"points": save_points_chart, "names": save_names_chart}.get(data, save_chart)
        draw(comparison, plot)
        print(f"wrote the plot to {plot}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    from genproto.compare import (
        DEFAULT_HELD_OUT,
        DEFAULT_N,
        DEFAULT_NAMES_N,
        DEFAULT_PER_CLASS,
        DEFAULT_POINTS_N,
        DEFAULT_STEPS,
        NAMES_STEPS,
        POINTS_DATASETS,
    )

    p = sub.add_parser(
        "compare", help="measure the installed models: the table of paradigms and its claims"
    )
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="models to compare (default: every installed model; with --data points, "
                   "every model offering a 2-D configuration; with --data names, every names "
                   "model)")
    p.add_argument("--data", default="digits", metavar="digits|points|names",
                   help="digits (default): the 8x8 digits and the Census names; points: the 2-D "
                   "densities " + ", ".join(POINTS_DATASETS) + ", against their exact log p; "
                   "names: every paradigm's names model on each Census list, against the "
                   "known distribution")
    p.add_argument("-o", "--output", default=None,
                   help="also write the report: .md (markdown), .json, or plain text")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="draw quality against sampling cost (points: samples over the density's "
                   "contours) into this .png")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("-n", type=bounded_int(1, 10**7), default=None,
                   help=f"unconditional samples per model; a text model: samples per Census list "
                   f"(default {DEFAULT_N}); points: samples per model and dataset (default "
                   f"{DEFAULT_POINTS_N}); names: samples per model and list (default "
                   f"{DEFAULT_NAMES_N})")
    p.add_argument("--per-class", type=bounded_int(1, 10**6), default=None,
                   help=f"conditional samples per class (digits; default {DEFAULT_PER_CLASS})")
    p.add_argument("--datasets", type=_names, default=None, metavar="NAME,NAME,...",
                   help="points: the toy 2-D densities (default "
                   + ",".join(POINTS_DATASETS) + ")")
    p.add_argument("--held-out", type=bounded_int(2, 10**7), default=None, metavar="N",
                   help=f"points: held-out points the KL is measured on (default "
                   f"{DEFAULT_HELD_OUT})")
    p.add_argument("--seed", type=seed, default=0, help="seed of every run (default 0)")
    p.add_argument("--steps", type=_steps, default=None, metavar="K,K,...",
                   help="step counts to sweep for models with a steps option (default "
                   + ",".join(map(str, DEFAULT_STEPS)) + "; names: "
                   + ",".join(map(str, NAMES_STEPS)) + "; plus the model's default)")
    p.add_argument("--batch-size", type=bounded_int(1, 2**31),
                   default=None, help="samples per batch")
    p.add_argument("--progress", action="store_true",
                   help="always show the progress bar (default: on a terminal)")
    p.set_defaults(func=_compare)
