"""``genproto check NAME... [--seed S] [--profile PROFILE] [--property P] [--truth T] [--json]``.

The contract suite on installed models. One line per property with the seconds it took:
``PASS``; ``FAIL`` with the shrunk counterexample and a one-line reproduction;
``INCONCLUSIVE`` when a sub-check could not decide (a quadrature that does not converge), which
is neither a pass nor a failure; ``N/A`` with the declared reason; ``SKIP`` when a prerequisite
failed. Notes of sub-checks that were skipped follow, indented. The exit status is 1 when any
property failed (an inconclusive one does not fail the run).

``--truth NAME2D`` names the known density of the models' data (a toy2d density) for the
``truth`` property (no model beats the truth); without it a model built with ``-M
dataset=NAME2D`` gets that density. An unknown name, or a density whose points are not the
model's events (a 2-D density for an 8x8 image model), is a one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from genproto import registry
from genproto.cli.args import seed
from genproto.cli.sample import parse_assignments

__all__ = ["add_parser"]

#: The profile names ``--profile`` takes: the short ones, and the registered ones they stand for.
PROFILES = ("ci", "thorough", "genproto-ci", "genproto-thorough")


def _check(args: argparse.Namespace) -> int:
    from genproto.testing import PROPERTY_NAMES
    from genproto.testing.suite import ContractSession, summary

    reg = registry.default()
    properties = args.property or None
    for name in args.property or ():
        if name not in PROPERTY_NAMES:
            from genproto.errors import InvalidArgumentError

            raise InvalidArgumentError("--property", value=name,
                                       allowed=", ".join(PROPERTY_NAMES))
    truth = None
    if args.truth is not None:
        from genproto.testing.truth import resolve_truth

        truth = resolve_truth(args.truth, argument="--truth")  # an unknown name: exit 2
    reports = []
    for name in dict.fromkeys(args.name):
        entry = reg.entry(name)
        options = parse_assignments(args.model_option, entry.options, "model")
        # Bad options for this model are the user's error (one line, exit 2), not the
        # model failing its contract: build it once before any property runs.
        model = reg.get(name, **options)
        if truth is not None:
            _check_fit(truth, model, args.truth)
        session = ContractSession(name, profile=args.profile, registry=reg, options=options,
                                  seed=args.seed, truth=truth)
        report = session.report(properties)
        reports.append(report)
        if not args.json:
            print(report.format())
            sys.stdout.flush()
    ok = all(r.ok for r in reports)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        print(summary(reports))
    return 0 if ok else 1


def _check_fit(truth: Any, model: Any, asked: str) -> None:
    """A ``--truth`` whose points cannot be this model's events is the user's error."""
    from genproto.errors import InvalidArgumentError
    from genproto.testing.truth import truth_misfit

    misfit = truth_misfit(truth, model)
    if misfit is not None:
        raise InvalidArgumentError(
            f"--truth for model {model.name!r}", value=asked,
            allowed="a density of the model's events",
            fix=f"{misfit[0].upper()}{misfit[1:]}. Drop --truth, or check a model of that data "
                f"(e.g. -M dataset={asked})",
        )


def add_parser(sub: Any) -> None:
    from genproto.testing import PROPERTY_NAMES  # import-light: no torch, no Hypothesis

    p = sub.add_parser(
        "check", help="run the contract suite on installed models",
        description="Run genproto's contract suite on installed models: one line per property "
                    "(PASS, FAIL with a counterexample and a reproduction, INCONCLUSIVE, N/A, "
                    "SKIP) with its time. Exit status 1 when a property failed.",
    )
    p.add_argument("name", nargs="+", help="registered model name(s) (see `genproto list`)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: per model, every property's status, message, "
                        "reproduction, counterexample, notes and seconds")
    p.add_argument("--seed", type=seed, default=None, metavar="S",
                   help="seed of everything the suite draws: Hypothesis's examples and the "
                        "statistical checks' samples (default: the fixed, derandomized ones, "
                        "the same on every run); a failure found with --seed S is found again "
                        "with it")
    p.add_argument("--profile", default="ci", choices=PROFILES,
                   help="Hypothesis profile: ci (few examples, derandomized; the default) or "
                        "thorough (many more, freshly random unless --seed is given); the old "
                        "names genproto-ci and genproto-thorough still work")
    p.add_argument("--property", action="append", default=[], metavar="P",
                   help="check only this property and its prerequisites (repeatable); one of: "
                        + ", ".join(PROPERTY_NAMES))
    p.add_argument("--truth", default=None, metavar="NAME2D",
                   help="the known density of the models' data, a toy2d name (e.g. "
                        "eight_gaussians), for the truth property: no declared exact or bound "
                        "log-likelihood may beat it (default: the density named by -M "
                        "dataset=NAME2D, if any)")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option for every model checked, e.g. -M dataset=toy2d")
    p.set_defaults(func=_check)
