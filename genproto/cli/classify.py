"""``genproto classify NAME`` — a conditional model as a generative classifier, beside the CNN."""

from __future__ import annotations

import argparse
import json
from typing import Any

from genproto import registry
from genproto.cli.args import bounded_int, seed

__all__ = ["add_parser"]


def _classify(args: argparse.Namespace) -> int:
    from genproto.cli.sample import parse_assignments
    from genproto.generative_classifier import generative_accuracy

    entry = registry.default().entry(args.name)
    model: Any = registry.get(args.name, **parse_assignments(args.model_option, entry.options,
                                                              "model"))
    if args.device:
        model.to(args.device)
    options = parse_assignments(args.option, tuple(getattr(model, "likelihood_options", ())),
                                "likelihood")
    result = generative_accuracy(model, n=args.n, seed=args.seed, batch_size=args.batch_size,
                                 options=options)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    kind = {"bound": "a lower bound on log p(x|c)", "estimate": "an estimate of log p(x|c)"}.get(
        result.likelihood, "log p(x|c)")
    print(
        f"generative classifier {result.model!r}: argmax_c log p(x|c) + log p(c), uniform p(c); "
        f"{result.likelihood} likelihood ({kind})\n"
        f"  generative     (p(x|c), {result.model}):  accuracy {result.accuracy:.4f}\n"
        f"  discriminative (p(c|x), reference CNN):  accuracy {result.reference_accuracy:.4f}\n"
        f"  on the first {result.n} images of the digits test split; seed {result.seed}; "
        f"likelihood options {result.options or 'default'}; {result.seconds:.1f} s"
    )
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "classify",
        help="test accuracy of a conditional model as a generative classifier, beside the "
        "reference (discriminative) classifier's",
    )
    p.add_argument("name", help="a class-conditional digits model with a likelihood")
    p.add_argument("-n", type=bounded_int(1, 10**7), default=None,
                   help="classify the first N test images (default: all 359)")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the likelihood's random numbers (bounds, estimates)")
    p.add_argument("--batch-size", type=bounded_int(1, 2**31),
                   default=None, help="rows per likelihood batch")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a likelihood option, e.g. -O k=64 for a VAE's IWAE bound (repeatable)")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option (repeatable)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N]")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_classify)
