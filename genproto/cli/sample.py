"""``genproto sample NAME -n N [-o grid.png | samples.npy] [--force]`` — draw and save samples.

The output is written atomically (:mod:`genproto._atomic`): killed or failing, the
command leaves the old file or the complete new one, never a part or a temporary
file. An existing output is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

from genproto import registry
from genproto._atomic import check_target
from genproto.cli.args import MAX_INTERPOLATE, MAX_SAMPLES, bounded_int, seed
from genproto.errors import InvalidArgumentError, OptionError, OutputError
from genproto.options import Option

__all__ = ["add_parser", "parse_assignments"]


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


def _sample(args: argparse.Namespace) -> int:
    entry = registry.default().entry(args.name)
    model_options = parse_assignments(args.model_option, entry.options, "model")
    model: Any = registry.get(args.name, **model_options)
    if args.device:
        model.to(args.device)
    sample_options = parse_assignments(
        args.option, tuple(getattr(model, "sample_options", ())), "sample"
    )
    if args.steps is not None:
        sample_options["steps"] = args.steps
    output = Path(args.output)
    if output.suffix not in (".png", ".npy"):
        raise InvalidArgumentError(
            "output file", value=str(output), allowed="a path ending in .png or .npy"
        )
    check_target(args.output, what="output file")  # a folder, a missing folder, a NUL...
    if args.interpolate is not None:
        return _interpolate(args, model, output)
    from genproto import sampling

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if output.suffix != ".npy":
            raise InvalidArgumentError(
                f"output of a distributed run ({world} processes)", value=str(output),
                allowed="a .npy file", fix="Write .npy under torchrun, or run one process for .png",
            )
        _init_distributed(model)
    _refuse_existing(output, force=args.force)
    common: dict[str, Any] = dict(
        condition=args.condition, seed=args.seed, batch_size=args.batch_size,
        progress=None if not args.progress else True, **sample_options,
    )
    if output.suffix == ".npy":
        result = sampling.write_npy(model, args.n, output, **common)
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


def _interpolate(args: argparse.Namespace, model: Any, output: Path) -> int:
    """Rows of images decoded along straight latent lines between test digits."""
    strip = getattr(model, "interpolation_strip", None)
    if strip is None or output.suffix != ".png" or args.interpolate < 2:
        raise InvalidArgumentError(
            "--interpolate", value=f"{args.name} {args.interpolate} -> {output.name}",
            allowed="a latent-variable model with interpolation_strip (e.g. vae), "
            "STEPS >= 2 and a .png output",
        )
    from genproto.pictures import image_grid, save_png

    _refuse_existing(output, force=args.force)
    seed = 0 if args.seed is None else args.seed
    images = strip(args.interpolate, pairs=max(1, args.n // args.interpolate), seed=seed,
                   condition=args.condition)
    picture = image_grid(images, levels=model.capabilities.event.levels,
                         columns=args.interpolate)
    save_png(picture, output, {"genproto:seed": str(seed),
                               "genproto:interpolate": str(args.interpolate)})
    print(f"wrote an interpolation strip of {args.name!r} to {output} (seed {seed})")
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


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sample", help="draw samples and save them as .png or .npy")
    p.add_argument("name", help="registered model name (see `genproto list`)")
    p.add_argument("-n", type=bounded_int(0, MAX_SAMPLES),
                   default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--output", default="samples.png", help="output .png or .npy")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file (atomically: the old file stays "
                   "until the new one is complete)")
    p.add_argument("--condition", type=int, default=None, help="class label for every sample")
    p.add_argument("--seed", type=seed, default=None, help="seed (default: fresh, printed)")
    p.add_argument("--steps", type=bounded_int(1, 10**6),
                   default=None, help="sampling steps (diffusion models)")
    p.add_argument("--batch-size", type=bounded_int(1, 2**31),
                   default=None, help="samples per batch")
    p.add_argument("--device", default=None, help="cpu or cuda[:N]")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sample option, e.g. -O temperature=0.8 (repeatable)")
    p.add_argument("-M", "--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option, e.g. -M dataset=toy2d (repeatable)")
    p.add_argument("--interpolate", type=bounded_int(2, MAX_INTERPOLATE),
                   default=None, metavar="STEPS",
                   help="latent-variable models: rows of STEPS images between test digits")
    p.add_argument("--progress", action="store_true", help="always show a progress bar")
    p.add_argument("--provenance", action="store_true", help="print the provenance record")
    p.set_defaults(func=_sample)
