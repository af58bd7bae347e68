"""``python -m genproto_diffusers.export CHECKPOINT FOLDER``: a genproto checkpoint of a
``diffusers`` or ``digits-unet`` model, written back in diffusers format.

``genproto train digits-unet -o RUN`` leaves a genproto checkpoint in ``RUN/model``; this
writes its UNet with ``save_pretrained`` (safetensors) into ``FOLDER/unet`` and the
scheduler it was trained with into ``FOLDER/scheduler`` -- a pipeline folder any diffusers
user can load -- which is how ``weights/digits-unet`` is made::

    genproto train digits-unet -o runs/digits-unet
    python -m genproto_diffusers.export runs/digits-unet/model \\
        plugins/diffusers/genproto_diffusers/weights/digits-unet

The folder is written whole in a temporary sibling and renamed into place
(:func:`genproto._atomic.atomic_directory`), so a failed export leaves the old one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genproto._atomic import atomic_directory
from genproto.errors import GenprotoError, InvalidArgumentError

__all__ = ["export", "main"]


def export(checkpoint: str | Path, folder: str | Path) -> Path:
    """Write the UNet and scheduler of ``checkpoint`` to ``folder`` with ``save_pretrained``."""
    import genproto
    from genproto_diffusers.digits import DigitsUNet, scheduler_config
    from genproto_diffusers.model import DiffusersModel

    model = genproto.load(checkpoint)
    if not isinstance(model, DiffusersModel):
        raise InvalidArgumentError(
            "checkpoint model", value=type(model).__name__,
            allowed="a diffusers or digits-unet checkpoint",
            fix="Export only checkpoints of genproto-diffusers models",
        )
    # replace=True needs an existing folder (genproto._atomic renames it aside first)
    replace = Path(folder).exists()
    with atomic_directory(folder, replace=replace, what="export folder") as staged:
        model.unet.to("cpu").save_pretrained(Path(staged) / "unet")
        if isinstance(model, DigitsUNet):  # the training schedule, not the sampling one
            import diffusers

            lib: Any = diffusers
            scheduler = lib.DDPMScheduler(**scheduler_config())
        else:
            scheduler = model.scheduler
        scheduler.save_pretrained(Path(staged) / "scheduler")
    return Path(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genproto_diffusers.export",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkpoint", help="a genproto checkpoint folder (RUN/model)")
    parser.add_argument("folder", help="the diffusers folder to (re)write")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {export(args.checkpoint, args.folder)}")
    except GenprotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
