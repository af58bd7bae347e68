"""``genproto`` — the command line.

Commands:

* ``genproto list [--json]`` — the table of paradigms, generated live from the
  registry: name, paradigm(s), training objective, sampling procedure,
  likelihood and cost per sample.
* ``genproto plugins [--json]`` — installed plugins, versions, hooks, load errors.
* ``genproto info NAME [-M KEY=VALUE] [--json]`` — one model's capabilities (as configured
  by the factory options) and options.
* ``genproto sample NAME -n N [-o out.png|out.npy]`` — draw samples (``--interpolate``
  for latent-variable models; ``.npy`` output can be sharded under torchrun).
* ``genproto train NAME -o DIR [--resume]`` — train with the paradigm's own objective.
* ``genproto check NAME...`` — the contract suite, one line per property.
* ``genproto compare [NAMES...]`` — the measured table of paradigms and the claims it tests.
* ``genproto classify NAME`` — the generative classifier beside the reference classifier.

Errors from genproto, and ``OSError`` from the file system, print as one line
(``error: ...``) and exit with status 2; they are never tracebacks. Ctrl-C exits
130; SIGTERM removes a half-written output (:mod:`genproto._atomic`) and ends
the process by that signal (143 in a shell).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from genproto import registry
from genproto.cli.args import OneLineParser
from genproto.cli.table import render_table
from genproto.errors import GenprotoError
from genproto.options import Option
from genproto.registry import ModelEntry

__all__ = ["main"]


def _paradigms(entry: ModelEntry) -> str:
    return " + ".join(p.value for p in entry.capabilities.paradigms)


def _list(args: argparse.Namespace) -> int:
    entries = registry.entries()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": e.name,
                        "plugin": e.plugin,
                        "distribution": e.distribution,
                        "version": e.version,
                        "description": e.description,
                        **e.capabilities.to_dict(),
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
        return 0
    if not entries:
        print("No models installed. Install a plugin, e.g. `pip install -e plugins/diffusion`.")
        _print_failures()
        return 0
    rows = [
        [
            e.name,
            _paradigms(e),
            e.capabilities.objective,
            e.capabilities.sampling,
            e.capabilities.likelihood.value,
            e.capabilities.cost.describe(),
        ]
        for e in entries
    ]
    print(
        render_table(
            ["name", "paradigm", "training objective", "sampling", "likelihood", "cost / sample"],
            rows,
            widths=[16, 20, 28, 28, 10, 30],
        )
    )
    _print_failures()
    return 0


def _print_failures() -> None:
    for record in registry.default().failures():
        print(f"warning: plugin {record.label()} failed to load: {record.error}", file=sys.stderr)


def _plugins(args: argparse.Namespace) -> int:
    records = registry.plugins()
    collisions = registry.default().collisions()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "distribution": r.distribution,
                        "version": r.version,
                        "hooks": list(r.hooks),
                        "models": list(r.models),
                        "error": r.error,
                        "collisions": [
                            c.describe() for c in collisions if c.name in r.models
                        ],
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return 1 if any(not r.loaded for r in records) else 0
    if not records:
        print("No genproto plugins installed.")
        return 0
    rows = [
        [
            r.name,
            f"{r.distribution or '-'} {r.version or ''}".strip(),
            ", ".join(r.hooks) or "-",
            ", ".join(r.models) or "-",
            "ok" if r.loaded else f"FAILED: {r.error}",
        ]
        for r in records
    ]
    print(
        render_table(
            ["plugin", "distribution", "hooks", "models", "status"], rows,
            widths=[16, 28, 18, 24, 60],
        )
    )
    if collisions:
        print("\nModel names offered by several plugins (GENPROTO_PREFER=name=DIST chooses):")
        for c in collisions:
            print(f"  {c.describe()}")
    return 1 if any(not r.loaded for r in records) else 0


def _option_dict(o: Option) -> dict[str, Any]:
    return {"name": o.name, "type": o.type.__name__, "default": o.default,
            "allowed": o.allowed(), "help": o.help, "aliases": list(o.aliases)}


def _info(args: argparse.Namespace) -> int:
    from genproto.cli.sample import parse_assignments

    entry = registry.default().entry(args.name)
    caps = entry.capabilities_for(**parse_assignments(args.model_option, entry.options, "model"))
    if args.json:
        print(
            json.dumps(
                {
                    "name": entry.name,
                    "plugin": entry.plugin,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    "description": entry.description,
                    "capabilities": caps.to_dict(),
                    "options": [_option_dict(o) for o in entry.options],
                },
                indent=2,
            )
        )
        return 0
    lines = [
        f"{entry.name} — {entry.description}" if entry.description else entry.name,
        f"  plugin:           {entry.plugin} ({entry.distribution or '-'} {entry.version or ''})",
        f"  paradigm:         {_paradigms(entry)}",
        f"  objective:        {caps.objective}",
        f"  sampling:         {caps.sampling}",
        f"  likelihood:       {caps.likelihood.value}",
        f"  cost / sample:    {caps.cost.describe()}",
        f"  event:            {caps.event.describe()}",
        f"  condition:        {caps.condition.describe() if caps.condition else 'none'}",
        f"  protocol version: {caps.protocol_version}",
    ]
    if caps.parts:
        lines.append("  composed of:")
        lines.extend(f"    {part.describe()}" for part in caps.parts)
    lines.append("  options:" if entry.options else "  options:          none")
    for o in entry.options:
        formerly = f" (formerly {', '.join(map(repr, o.aliases))})" if o.aliases else ""
        lines.append(f"    {o.name} = {o.default!r}  ({o.allowed()})  {o.help}{formerly}".rstrip())
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="genproto",
        description="Generative models of four paradigms behind one checked protocol.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="the table of installed models and their paradigms")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_list)
    p = sub.add_parser("plugins", help="installed plugins, their versions and load errors")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_plugins)
    p = sub.add_parser("info", help="one model's capabilities and options")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="describe the model built with this factory option (repeatable)")
    p.set_defaults(func=_info)
    from genproto.cli import check as check_cmd
    from genproto.cli import classify as classify_cmd
    from genproto.cli import compare as compare_cmd
    from genproto.cli import sample as sample_cmd
    from genproto.cli import train as train_cmd

    sample_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    compare_cmd.add_parser(sub)
    classify_cmd.add_parser(sub)
    check_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genproto`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except GenprotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path or disk the library did not type (e.g. train's mkdir)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
