"""``genproto check NAME... [--json] [--profile P]`` -- the contract suite on installed models.

One line per property: ``PASS``; ``FAIL`` with the shrunk counterexample and a one-line
reproduction; ``N/A`` with the declared reason; ``SKIP`` when a prerequisite failed. Notes of
sub-checks that were skipped follow, indented. The exit status is 1 when any property failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from genproto import registry
from genproto.cli.sample import parse_assignments

__all__ = ["add_parser"]

PROFILES = ("genproto-ci", "genproto-thorough")


def _check(args: argparse.Namespace) -> int:
    from genproto.testing.suite import PROPERTY_NAMES, ContractSession

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
        session = ContractSession(name, profile=args.profile, registry=reg, options=options)
        report = session.report(properties)
        reports.append(report)
        if not args.json:
            print(report.format())
            sys.stdout.flush()
    ok = all(r.ok for r in reports)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        failed = sum(len(r.failures) for r in reports)
        verdict = "all properties hold" if ok else f"{failed} failed"
        seconds = sum(r.seconds for r in reports)
        print(f"{len(reports)} model(s) checked in {seconds:.1f} s: {verdict}")
    return 0 if ok else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="run the contract suite on installed models")
    p.add_argument("name", nargs="+", help="registered model name(s) (see `genproto list`)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--profile", default=PROFILES[0], choices=PROFILES,
                   help="Hypothesis profile: fast and derandomized (default) or thorough")
    p.add_argument("--property", action="append", default=[], metavar="NAME",
                   help="check only this property and its prerequisites (repeatable)")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option for every model checked, e.g. -M dataset=toy2d")
    p.set_defaults(func=_check)
