"""``python -m genproto_transformers.export CHECKPOINT FOLDER``: a genproto checkpoint of an
``hf-causal-lm`` or ``names`` model, written back in Hugging Face format.

``genproto train names -o RUN`` leaves a genproto checkpoint in ``RUN/model``; this
writes its weights with ``save_pretrained`` (safetensors) beside the tokenizer, in a
folder any transformers user can load -- how ``weights/names`` is made::

    genproto train names -o runs/names
    python -m genproto_transformers.export runs/names/model \\
        plugins/transformers/genproto_transformers/weights/names

The folder is written whole in a temporary sibling and renamed into place
(:func:`genproto._atomic.atomic_directory`), so a failed export leaves the old one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genproto._atomic import atomic_directory
from genproto.errors import GenprotoError, InvalidArgumentError

__all__ = ["export", "main"]


def export(checkpoint: str | Path, folder: str | Path) -> Path:
    """Write the model of ``checkpoint`` to ``folder`` with ``save_pretrained``."""
    import genproto
    from genproto_transformers.model import HFCausalLM

    model = genproto.load(checkpoint)
    if not isinstance(model, HFCausalLM):
        raise InvalidArgumentError(
            "checkpoint model", value=type(model).__name__,
            allowed="an hf-causal-lm or names checkpoint",
            fix="Export only checkpoints of genproto-transformers models",
        )
    from genproto_transformers.loading import quiet

    model.lm.tie_weights()
    with quiet(), atomic_directory(folder, replace=True, what="export folder") as staged:
        model.lm.to("cpu").save_pretrained(staged)
        model.tokenizer.save_pretrained(staged)
    return Path(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genproto_transformers.export",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkpoint", help="a genproto checkpoint folder (RUN/model)")
    parser.add_argument("folder", help="the Hugging Face folder to (re)write")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {export(args.checkpoint, args.folder)}")
    except GenprotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
