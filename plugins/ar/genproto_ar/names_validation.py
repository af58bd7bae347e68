"""The validation slice the names model's sizes and length were picked on, never the test split.

``python -m genproto_ar.names_validation --hidden 256 --steps 6000`` trains :class:`NamesAR` on
frequency-weighted draws of 90 % of each list's *train* names and prints, every ``--every`` steps,
the cross-entropy (nats per name, weighted by the truth renormalised over them, as
:func:`genproto.metrics.text.cross_entropy` weighs the test names) on the other 10 %, beside the
truth's own. The held-out tenth is a fixed draw (seed :data:`SPLIT_SEED`), by name as the
train/test split is, so it measures what the test split measures -- generalisation to names
never seen -- without looking at the test names.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time

import attrs
import torch

from genproto.data.dataset import Dataset
from genproto.data.names import NAMES_LISTS, load_names
from genproto.data.names_text import encode_names, names_training_draws
from genproto.training import fit
from genproto_ar.names import (
    DRAWS_PER_LIST,
    DROPOUT,
    LAYERS,
    TYPE_DRAWS_PER_LIST,
    NamesAR,
    NamesRNN,
    per_name_nats,
    with_type_draws,
)

__all__ = ["HELD_OUT", "SPLIT_SEED", "Slice", "validation_slice"]

#: Share of each list's train names held out for validation.
HELD_OUT = 0.1
SPLIT_SEED = 1234


@attrs.frozen
class Slice:
    """One list's validation slice: held-out train names and their Census probabilities."""

    names: list[str]
    probs: torch.Tensor

    def truth_nats(self) -> float:
        """The truth's ``-sum_x q(x) log p(x)`` on the slice."""
        q = self.probs / self.probs.sum()
        return -float((q * self.probs.log()).sum())


def validation_slice(draws_per_list: int = DRAWS_PER_LIST, *, seed: int = 0,
                     type_draws: int = TYPE_DRAWS_PER_LIST) -> tuple[Dataset, tuple[Slice, ...]]:
    """Training draws from 90 % of each list's train names (by frequency, as
    :func:`~genproto.data.names_text.names_training_draws` draws from all of them, then
    ``type_draws`` uniform over those names as :meth:`NamesAR.training_data` adds them) and the
    other 10 % of each list, the same on every machine."""
    split = torch.Generator().manual_seed(SPLIT_SEED)
    draws = torch.Generator().manual_seed(seed)
    parts, slices, tables = [], [], []
    for which in NAMES_LISTS:
        data = load_names("train", which)
        order = torch.randperm(len(data.names), generator=split)
        cut = round(HELD_OUT * len(data.names))
        held, kept = order[:cut], order[cut:]
        table = encode_names([data.names[i] for i in kept.tolist()])
        picks = torch.multinomial(data.probs[kept], draws_per_list, replacement=True,
                                  generator=draws)
        parts.append(table[picks])
        tables.append(table)
        slices.append(Slice([data.names[i] for i in held.tolist()], data.probs[held]))
    reference = names_training_draws(1)
    labels = torch.arange(len(NAMES_LISTS)).repeat_interleave(draws_per_list)
    rest = Dataset(torch.cat(parts), labels, "names/train minus validation", reference.event,
                   num_classes=len(NAMES_LISTS))
    return with_type_draws(rest, tables, type_draws), tuple(slices)


class _Validated(NamesAR):
    """NamesAR trained on the slice's draws, reporting the held-out cross-entropy."""

    def __init__(self, hidden: int, layers: int, dropout: float, data: Dataset,
                 slices: tuple[Slice, ...]) -> None:
        super().__init__(hidden=hidden)
        self.net = NamesRNN(hidden, layers)
        self.dropout = dropout
        self._data, self._slices = data, slices

    def training_data(self) -> Dataset:
        return self._data

    def training_report(self) -> dict[str, float]:
        was_training = self.net.training
        report = {f"{which}_val_nats": per_name_nats(self, s.names, s.probs, c)
                  for c, (which, s) in enumerate(zip(NAMES_LISTS, self._slices, strict=True))}
        self.net.train(was_training)
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--dropout", type=float, default=DROPOUT)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--types", type=int, default=TYPE_DRAWS_PER_LIST)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args(argv)
    data, slices = validation_slice(type_draws=args.types)
    print("truth:", {w: round(s.truth_nats(), 3) for w, s in zip(NAMES_LISTS, slices,
                                                                 strict=True)})
    model = _Validated(args.hidden or NamesAR().hidden, args.layers, args.dropout, data, slices)
    defaults = model.training_defaults()
    settings = attrs.evolve(defaults, steps=args.steps or defaults.steps, report_every=args.every,
                            save_every=args.steps or defaults.steps, lr=args.lr or defaults.lr,
                            batch_size=args.batch or defaults.batch_size)
    print(settings, f"layers={args.layers} dropout={args.dropout} hidden={model.hidden} "
          f"types={args.types}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = fit(model, out, settings=settings, progress=False)
    for step, report in result.reports:
        mean = sum(report.values()) / len(report)
        print(f"step {step}: " + ", ".join(f"{k}={v:.3f}" for k, v in report.items())
              + (f", mean={mean:.3f}" if math.isfinite(mean) else ""))
    print(f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
