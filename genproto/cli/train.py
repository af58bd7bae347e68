"""``genproto train NAME -o DIR`` — train a model with its paradigm's own objective."""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from genproto import registry
from genproto.cli.args import bounded_int, positive_float, seed
from genproto.cli.sample import parse_assignments
from genproto.errors import InvalidArgumentError

__all__ = ["add_parser"]


def _train(args: argparse.Namespace) -> int:
    from genproto.training import MODEL_DIR, Trainable, fit

    entry = registry.default().entry(args.name)
    options = parse_assignments(args.model_option, entry.options, "model")
    if any(o.name == "pretrained" for o in entry.options) and not args.resume:
        # training starts from a fresh initialisation, never from the shipped weights
        options.setdefault("pretrained", False)
    model: Any = registry.get(args.name, **options)
    if not isinstance(model, Trainable):
        raise InvalidArgumentError(
            f"model {args.name!r} cannot be trained with `genproto train`",
            allowed="models implementing genproto.training.Trainable",
        )
    if args.device:
        model.to(args.device)  # type: ignore[attr-defined]
    settings = model.training_defaults()
    changes = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size),
                                 ("lr", args.lr), ("seed", args.seed)) if v is not None}
    settings = attrs.evolve(settings, **changes)
    result = fit(model, args.output, settings=settings, resume=args.resume,
                 progress=True if args.progress else None)
    print(
        f"trained {args.name!r} for {result.steps - result.resumed_from} steps "
        f"(to step {result.steps}, seed {settings.seed}) in {result.seconds:.0f} s; "
        f"weights in {result.directory / MODEL_DIR} — load with "
        f"genproto.load({str(result.directory / MODEL_DIR)!r})"
    )
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model (fixed seed, resumable, progress bar)")
    p.add_argument("name", help="registered model name")
    p.add_argument("-o", "--output", required=True, help="folder for the checkpoint and state")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option, e.g. -M dataset=toy2d (repeatable)")
    p.add_argument("--steps", type=bounded_int(1, 10**9),
                   default=None, help="total optimisation steps")
    p.add_argument("--batch-size", type=bounded_int(1, 2**20), default=None)
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--device", default=None, help="cpu or cuda[:N]")
    p.add_argument("--resume", action="store_true", help="continue from the state in --output")
    p.add_argument("--progress", action="store_true", help="always show a progress bar")
    p.set_defaults(func=_train)
