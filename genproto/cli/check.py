"""``genproto check NAME... [--seed S] [--profile ci|thorough] [--property P] [--json]``.

The contract suite on installed models. One line per property with the seconds it took:
``PASS``; ``FAIL`` with the shrunk counterexample and a one-line reproduction;
``INCONCLUSIVE`` when a sub-check could not decide (a quadrature that does not converge), which
is neither a pass nor a failure; ``N/A`` with the declared reason; ``SKIP`` when a prerequisite
failed. Notes of sub-checks that were skipped follow, indented. The exit status is 1 when any
property failed (an inconclusive one does not fail the run).
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
    reports = []
    for name in dict.fromkeys(args.name):
        entry = reg.entry(name)
        options = parse_assignments(args.model_option, entry.options, "model")
        # Bad options for this model are the user's error (one line, exit 2), not the
        # model failing its contract: build it once before any property runs.
        reg.get(name, **options)
        session = ContractSession(name, profile=args.profile, registry=reg, options=options,
                                  seed=args.seed)
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
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option for every model checked, e.g. -M dataset=toy2d")
    p.set_defaults(func=_check)
