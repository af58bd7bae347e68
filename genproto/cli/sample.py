"""``genproto sample NAME -n N [-o grid.png | samples.npy | out.txt | out.jsonl]`` — draw
and save samples.

* ``--condition VALUE`` is read as the kind of condition the model declares: a class label
  (``3``), text as is (``"a prompt"``), comma-separated token ids (``5,17,3``) or numbers
  (``0.5,-1,2``, reshaped to the declared shape); ``--condition-file FILE`` gives one a
  line, one line a sample (:mod:`genproto.cli.args`).
* ``.txt`` and ``.jsonl`` need a text model (:class:`genproto.protocol.TextCodec`): one
  sample's text a line, or one JSON object a sample with its prompt, text, tokens (up to
  and including the stop), log-likelihood in nats (``null`` without a likelihood) and seed.
* ``-O KEY=VALUE`` sets a sample option, or a factory option when the model's factory
  declares KEY (as ``-M KEY=VALUE`` would); a key that is both is refused as ambiguous.
* ``--interpolate A B [--steps N]`` decodes a model's latent path from A to B (protocol 2.2's
  :class:`~genproto.protocol.Interpolates`; texts for a text model, else ``.npy`` files), and
  ``--interpolate STEPS`` draws protocol 2.1's digit strips (:mod:`genproto.cli.interpolate`).

The output is written atomically (:mod:`genproto._atomic`): killed or failing, the
command leaves the old file or the complete new one, never a part or a temporary
file. An existing output is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genproto import registry
from genproto._atomic import atomic_open, atomic_write_bytes, check_target
from genproto.cli.args import (
    MAX_INTERPOLATE,
    MAX_SAMPLES,
    ConditionArgument,
    bounded_int,
    parse_condition,
    read_condition_file,
    seed,
)
from genproto.errors import InvalidArgumentError, OptionError, OutputError, PluginError
from genproto.options import Option

if TYPE_CHECKING:
    import torch

#: The outputs that hold text, for a model that is a TextCodec.
TEXT_OUTPUTS = (".txt", ".jsonl")
#: Where samples go without ``-o`` (a text model prints its texts instead).
DEFAULT_OUTPUT = "samples.png"

__all__ = ["add_parser", "checked_texts", "parse_assignments"]


def _parse_value(text: str, spec: Option | None) -> Any:
    """Read ``text`` as the declared option's type (or guess for undeclared keys)."""
    kind = spec.type if spec is not None else None
    if kind is bool or (kind is None and text.lower() in ("true", "false")):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        return text
    for candidate in ((int,) if kind is int else (float,) if kind is float else (int, float)):
        try:
            return candidate(text)
        except ValueError:
            continue
    if text.lower() == "none":
        return None
    return text


def parse_assignments(items: list[str], declared: tuple[Option, ...], what: str) -> dict[str, Any]:
    """Turn ``["steps=20", "sampler=ddim"]`` into typed keyword options."""
    specs = {o.name: o for o in declared}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise OptionError(
                f"{what} option", option=item, value=item, allowed="KEY=VALUE, e.g. steps=20"
            )
        out[key.replace("-", "_")] = _parse_value(text, specs.get(key.replace("-", "_")))
    return out


def _key(item: str) -> str:
    return item.partition("=")[0].replace("-", "_")


def _route_options(
    entry: registry.ModelEntry, model_items: list[str], option_items: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """Split ``-O`` items: a key the factory declares goes to the factory (as with ``-M``).

    Returns (factory items, sample items, the keys routed to the factory); a key given
    with both ``-M`` and ``-O`` is an :class:`OptionError`.
    """
    canonical = {alias: o.name for o in entry.options for alias in (o.name, *o.aliases)}
    with_m = {canonical.get(_key(item), _key(item)) for item in model_items}
    factory, sample, routed = list(model_items), list[str](), list[str]()
    for item in option_items:
        name = canonical.get(_key(item))
        if name is None:
            sample.append(item)
            continue
        if name in with_m:
            raise OptionError(
                f"model option {name!r} given both with -M and with -O", option=name,
                value=item, allowed="each factory option once",
                fix="Give it once (-M KEY=VALUE or -O KEY=VALUE)",
            )
        with_m.add(name)
        factory.append(item)
        routed.append(_key(item))
    return factory, sample, routed


def _check_routed(model: Any, routed: list[str]) -> None:
    """A ``-O`` key that is a factory option must not also be a sample option."""
    sample_names = {alias for o in getattr(model, "sample_options", ())
                    for alias in (o.name, *o.aliases)}
    for key in routed:
        if key in sample_names:
            raise OptionError(
                f"-O {key}=... is ambiguous: {key!r} is both a factory option and a sample "
                f"option of model {model.name!r}", option=key,
                allowed="-M KEY=VALUE for the factory option",
                fix=f"Pass -M {key}=VALUE to set the factory option",
            )


def _condition(args: argparse.Namespace, model: Any) -> ConditionArgument:
    """``--condition`` / ``--condition-file`` read as the model's declared condition kind."""
    spec = model.capabilities.condition
    if args.condition_file is not None:
        return read_condition_file(args.condition_file, spec, args.n, model=model.name)
    if args.condition is not None:
        return parse_condition(args.condition, spec, model=model.name)
    return ConditionArgument(None)


def _check_output_kind(output: Path, model: Any) -> None:
    """``.txt`` and ``.jsonl`` need a model whose samples are text (a TextCodec)."""
    from genproto.protocol import TextCodec

    if output.suffix in TEXT_OUTPUTS and not isinstance(model, TextCodec):
        raise InvalidArgumentError(
            f"output file: {output.suffix} needs a text model (to_text/from_text), and "
            f"{model.name!r} is not one", value=str(output),
            allowed="a path ending in .png or .npy",
            fix="Write a picture (.png) or the raw samples (.npy)",
        )


def _sample(args: argparse.Namespace) -> int:
    entry = registry.default().entry(args.name)
    factory_items, sample_items, routed = _route_options(entry, args.model_option, args.option)
    model_options = parse_assignments(factory_items, entry.options, "model")
    if args.interpolate is not None and len(args.interpolate) == 2:
        return _interpolate_path(args, registry.get(args.name, **model_options), sample_items,
                                 routed)
    built: Any = None
    if args.output is None:
        from genproto.protocol import TextCodec

        built = registry.get(args.name, **model_options)
        if isinstance(built, TextCodec):  # a text model without -o prints its samples
            return _print_texts(args, built, sample_items, routed)
        args.output = DEFAULT_OUTPUT
    output = Path(args.output)
    if output.suffix not in (".png", ".npy", *TEXT_OUTPUTS):
        raise InvalidArgumentError(
            "output file", value=str(output),
            allowed="a path ending in .png or .npy (.txt or .jsonl for a text model)",
        )
    check_target(args.output, what="output file")  # a folder, a missing folder, a NUL...
    model: Any = built if built is not None else registry.get(args.name, **model_options)
    if args.device:
        model.to(args.device)
    _check_routed(model, routed)
    sample_options = parse_assignments(
        sample_items, tuple(getattr(model, "sample_options", ())), "sample"
    )
    if args.steps is not None:
        sample_options["steps"] = args.steps
    condition = _condition(args, model)
    _check_output_kind(output, model)
    if args.interpolate is not None:  # one value: protocol 2.1's digit strips
        from genproto.cli.interpolate import strip

        _refuse_existing(output, force=args.force)
        return strip(args, model, output, condition.value, args.interpolate[0])
    from genproto import sampling

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if output.suffix != ".npy":
            raise InvalidArgumentError(
                f"output of a distributed run ({world} processes)", value=str(output),
                allowed="a .npy file", fix="Write .npy under torchrun, or run one process for "
                f"{output.suffix}",
            )
        _init_distributed(model)
    _refuse_existing(output, force=args.force)
    common: dict[str, Any] = dict(
        condition=condition.value, seed=args.seed, batch_size=args.batch_size,
        progress=None if not args.progress else True, **sample_options,
    )
    if output.suffix == ".npy":
        result = sampling.write_npy(model, args.n, output, **common)
    elif output.suffix in TEXT_OUTPUTS:
        result = sampling.run(model, args.n, **common)
        _write_text(model, result, output, condition, batch_size=args.batch_size)
    else:
        from genproto.pictures import save_png, to_picture

        result = sampling.run(model, args.n, **common)
        picture = to_picture(result.samples, model.capabilities.event)
        save_png(
            picture,
            output,
            {"genproto:seed": str(result.seed), "genproto:provenance": result.provenance.to_dict()},
        )
    if sampling.distributed_rank()[0] != 0:
        return 0
    print(
        f"wrote {args.n} samples of {args.name!r} to {output} "
        f"(seed {result.seed}, {result.evaluations_per_sample:g} network evaluations per sample)"
    )
    if args.provenance:
        print(json.dumps(result.provenance.to_dict(), indent=2))
    sys.stdout.flush()
    return 0


def _print_texts(args: argparse.Namespace, model: Any, sample_items: list[str],
                 routed: list[str]) -> int:
    """No ``-o`` for a text model: its samples' texts on standard output, one a line."""
    from genproto import sampling

    if args.device:
        model.to(args.device)
    _check_routed(model, routed)
    sample_options = parse_assignments(
        sample_items, tuple(getattr(model, "sample_options", ())), "sample"
    )
    if args.steps is not None:
        sample_options["steps"] = args.steps
    result = sampling.run(model, args.n, condition=_condition(args, model).value, seed=args.seed,
                          batch_size=args.batch_size,
                          progress=None if not args.progress else True, **sample_options)
    for text in checked_texts(model, result.samples):
        print(text)
    if args.provenance:
        print(json.dumps(result.provenance.to_dict(), indent=2))
    sys.stdout.flush()
    return 0


def checked_texts(model: Any, samples: torch.Tensor) -> list[str]:
    """``model.to_text(samples)``, checked: one str a sample."""
    texts = model.to_text(samples)
    if not isinstance(texts, list) or len(texts) != samples.shape[0] or not all(
        isinstance(t, str) for t in texts
    ):
        raise PluginError(
            f"to_text() of model {model.name!r} returned", value=texts,
            allowed=f"a list of {samples.shape[0]} str, one a sample",
            fix="This is a bug in the plugin; report it to its authors",
        )
    return texts


def _write_text(
    model: Any, result: Any, output: Path, condition: ConditionArgument, *,
    batch_size: int | None,
) -> None:
    """``.txt``: each sample's text on a line. ``.jsonl``: one JSON object a sample (index,
    seed, prompt, text, tokens up to and including the stop, log-likelihood in nats or null).
    """
    from genproto.protocol import Likelihood

    x = result.samples
    texts = checked_texts(model, x)
    if output.suffix == ".txt":
        broken = next((i for i, t in enumerate(texts) if "\n" in t or "\r" in t), None)
        if broken is not None:
            raise OutputError(
                f"output file: sample {broken}'s text holds a line break, so a .txt of one "
                "sample a line cannot keep it", value=texts[broken],
                allowed="texts without line breaks", fix="Write .jsonl instead",
            )
        atomic_write_bytes(output, "".join(t + "\n" for t in texts).encode("utf-8"))
        return
    event = model.capabilities.event
    rows = x.reshape(x.shape[0], -1).cpu()
    lengths = (event.lengths(x).tolist() if event.is_sequence
               else [rows.shape[1]] * rows.shape[0])
    nats: list[float | None] = [None] * x.shape[0]
    if model.capabilities.likelihood is not Likelihood.NONE:
        values = model.log_likelihood(x, condition.value, seed=result.seed,
                                      batch_size=batch_size)
        nats = [v if math.isfinite(v) else None for v in values.double().cpu().tolist()]
    with atomic_open(output) as fh:
        for i, text in enumerate(texts):
            line = {"index": i, "seed": result.seed, "prompt": condition.prompt(i),
                    "text": text, "tokens": rows[i, : lengths[i]].tolist(),
                    "log_likelihood": nats[i]}
            fh.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))


def _interpolate_path(args: argparse.Namespace, model: Any, sample_items: list[str],
                      routed: list[str]) -> int:
    """``--interpolate A B``: the model's decoded latent path, printed (a text model without
    ``-o``) or written as ``genproto sample`` writes samples."""
    from genproto.cli.interpolate import interpolate_between, write_path
    from genproto.protocol import TextCodec

    text = isinstance(model, TextCodec)
    output = None if args.output is None and text else Path(args.output or DEFAULT_OUTPUT)
    if output is not None:
        if output.suffix not in (".png", ".npy", *TEXT_OUTPUTS):
            raise InvalidArgumentError(
                "output file", value=str(output),
                allowed="a path ending in .png or .npy (.txt or .jsonl for a text model)",
            )
        check_target(str(output), what="output file")
        _check_output_kind(output, model)
        _refuse_existing(output, force=args.force)
    if args.device:
        model.to(args.device)
    _check_routed(model, routed)
    if sample_items:
        raise InvalidArgumentError(
            "-O with --interpolate A B", value=sample_items,
            allowed="factory options only (-M KEY=VALUE): interpolate() takes no sample options",
            fix="Drop the -O sample options",
        )
    path = interpolate_between(args, model, _condition(args, model))
    write_path(model, path, output, checked_texts(model, path.events) if text else None)
    sys.stdout.flush()
    return 0


def _refuse_existing(output: Path, *, force: bool) -> None:
    """An existing output is replaced (atomically) only with ``--force``."""
    if os.path.lexists(output) and not force:
        raise OutputError(
            "output file already exists", value=str(output),
            allowed="a new file, or an existing one with --force",
            fix="Pass --force to replace it, or choose another name",
        )


def _init_distributed(model: Any) -> None:
    """Join the process group torchrun describes: nccl for CUDA models, gloo on CPU."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if model.device.type == "cuda":
        import torch

        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        model.to(f"cuda:{local}")
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    atexit.register(dist.destroy_process_group)


class _Ends(argparse.Action):
    """``--interpolate`` takes one value (STEPS, the digit strips) or two (the ends A B)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if len(values) > 2:
            parser.error(f"argument --interpolate: expected A B (two ends) or STEPS, got "
                         f"{len(values)} values")
        setattr(namespace, self.dest, list(values))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sample", help="draw samples and save them as .png or .npy "
                       "(.txt or .jsonl for a text model)")
    p.add_argument("name", help="registered model name (see `genproto list`)")
    p.add_argument("-n", type=bounded_int(0, MAX_SAMPLES),
                   default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--output", default=None,
                   help="output .png or .npy; .txt (a sample a line) or .jsonl (a JSON object "
                   "a sample) for a text model")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file (atomically: the old file stays "
                   "until the new one is complete)")
    given = p.add_mutually_exclusive_group()
    given.add_argument("--condition", default=None, metavar="VALUE",
                       help="the condition of every sample, as the model declares it: a class "
                       "label (3), text, token ids (5,17,3) or numbers (--condition=-0.5,1,2)")
    given.add_argument("--condition-file", default=None, metavar="FILE",
                       help="one condition a line (text, a label, ids or numbers as for "
                       "--condition), one line for each of the -n samples")
    p.add_argument("--seed", type=seed, default=None, help="seed (default: fresh, printed)")
    p.add_argument("--steps", type=bounded_int(1, 10**6),
                   default=None, help="sampling steps (diffusion models); with --interpolate A B "
                   "the events on the path, ends included (default 8)")
    p.add_argument("--batch-size", type=bounded_int(1, 2**31),
                   default=None, help="samples per batch")
    p.add_argument("--device", default=None, help="cpu or cuda[:N]")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sample option, e.g. -O temperature=0.8, or a factory option the "
                   "model declares, e.g. -O path=DIR (repeatable)")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option, e.g. -M dataset=toy2d (repeatable)")
    p.add_argument("--interpolate", nargs="+", action=_Ends, default=None, metavar=("A", "B"),
                   help="A B: the model's decoded latent path from A to B (texts for a text "
                   "model, else .npy files of one event; models implementing "
                   "genproto.protocol.Interpolates, e.g. vae -M dataset=names); STEPS alone: "
                   f"rows of STEPS (2..{MAX_INTERPOLATE}) images between test digits (vae)")
    p.add_argument("--progress", action="store_true", help="always show a progress bar")
    p.add_argument("--provenance", action="store_true", help="print the provenance record")
    p.set_defaults(func=_sample)
