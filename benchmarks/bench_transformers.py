"""genproto-transformers sampling throughput against transformers' own ``generate``.

Same network, same batch, same prompt, same maximum length: ``model.sample(n, ...)`` (keyed
inverse-CDF draws, rows dropped from the cache as they stop, output checks, counting)
against ``model.lm.generate(do_sample=True, ...)`` (torch's global RNG, every row computed
until the last one stops). Interleaved repeats, totals, one process, so the ratio is what
to read (the machine's speed cancels)::

    python benchmarks/bench_transformers.py [--batches 1 16 256] [--models names gpt2-small]
    python benchmarks/bench_transformers.py --device cuda      # where a GPU is lent

``names`` is the shipped model (29 tokens, 24 at most, prompt "female"); ``gpt2-small`` a
random GPT-2 of width 256, 4 blocks, GPT-2's 50,257-token vocabulary, 32 new tokens after
the prompt "ab" (random weights rarely draw the stop, so rows run to the end in both).
``tokens/row`` is the mean number of new tokens each side produced (stop included).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import genproto


def _gpt2_small(folder: Path) -> Path:
    from genproto_transformers.chars import char_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    from genproto.training import seeded_init

    config = GPT2Config(vocab_size=50257, n_positions=128, n_embd=256, n_layer=4, n_head=4,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    with seeded_init(0):
        GPT2LMHeadModel(config).save_pretrained(folder)
    char_tokenizer("abcdefgh:").save_pretrained(folder)
    return folder


def build(name: str, device: str, scratch: Path) -> tuple[Any, str]:
    if name == "names":
        return genproto.registry.get("names", device=device), "female"
    folder = _gpt2_small(scratch / name)
    return genproto.registry.get("hf-causal-lm", path=str(folder), max_new_tokens=32,
                                 device=device), "ab"


def _median(times: list[float]) -> float:
    return sorted(times)[len(times) // 2]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(model: Any, prompt: str, batch: int, repeats: int, device: str) -> dict[str, float]:
    """Samples/s of genproto and of ``generate(do_sample=True)`` at one batch size: totals over
    interleaved repeats (rows stop at random lengths, so a few repeats of small batches would
    compare different amounts of work), and the mean new tokens per row each produced."""
    lm, eos = model.lm, model.description.eos
    ids = model.tokenizer(model._with_suffix(prompt))["input_ids"]
    length = model.max_new_tokens
    inputs = torch.tensor([ids] * batch, device=model.device)
    kwargs: dict[str, Any] = dict(do_sample=True, max_new_tokens=length, eos_token_id=eos,
                                  pad_token_id=eos, top_k=0, top_p=1.0, temperature=1.0)
    ours = theirs = 0.0
    ours_tokens = their_tokens = 0.0
    with torch.inference_mode():
        model.sample(batch, condition=prompt, seed=0)  # warm-up both
        lm.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
    for repeat in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        x = model.sample(batch, condition=prompt, seed=repeat, batch_size=batch)
        _sync(device)
        ours += time.perf_counter() - t0
        ours_tokens += float(model.capabilities.event.lengths(x).double().sum())
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = lm.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
        _sync(device)
        theirs += time.perf_counter() - t0
        stops = (out[:, len(ids):] == eos).int()
        their_tokens += float(((stops.cumsum(1) - stops) == 0).sum())
    rows = batch * repeats
    return {"batch": batch, "repeats": repeats, "genproto_samples_per_s": rows / ours,
            "generate_samples_per_s": rows / theirs, "ratio": theirs / ours,
            "genproto_tokens_per_row": ours_tokens / rows,
            "generate_tokens_per_row": their_tokens / rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--models", nargs="+", default=["names", "gpt2-small"])
    parser.add_argument("--rows", type=int, default=512,
                        help="samples per side at least (names; a tenth for gpt2-small)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            model, prompt = build(name, args.device, Path(scratch))
            rows = args.rows if name == "names" else max(1, args.rows // 10)
            for batch in args.batches:
                r = measure(model, prompt, batch, max(3, -(-rows // batch)), args.device)
                print(f"{name:>10} batch {batch:4d}: genproto {r['genproto_samples_per_s']:9.1f} "
                      f"samples/s ({r['genproto_tokens_per_row']:4.1f} tokens/row), generate "
                      f"{r['generate_samples_per_s']:9.1f} samples/s "
                      f"({r['generate_tokens_per_row']:4.1f} tokens/row): ratio {r['ratio']:.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
