"""GPU checks and benchmarks of the shared sampler: one prepared script of a few minutes.

    python benchmarks/gpu_check.py [--out results.json]

On a machine with a CUDA GPU it reports:

1. the keyed streams' self-test on the GPU, and CPU == GPU for integer draws
   (bitwise) and for normals (within a few ulp);
2. batch-size invariance of a 50-step MLP denoising loop on the GPU;
3. throughput of the sampler against a bare torch loop (ratio), fp32 and bf16,
   for the single-pass decoder and the 50-step loop, at n = 65,536;
4. achieved FLOP/s against a large matmul's, over batch sizes;
5. samples/s of the bare 50-step loop with and without a captured CUDA graph
   (what graph capture could gain on the step loop);
6. genproto-diffusers against the equivalent diffusers hand loop with ``generator=``
   (bench_diffusers.py's figure: the shipped digits-unet, DDIM, 20 steps, batch 1 / 16 / 256),
   when genproto-diffusers is installed;
7. genproto-transformers against ``generate(do_sample=True)`` (bench_transformers.py's figure:
   the shipped names model and a random GPT-2 of 50,257 tokens, batch 1 / 16 / 256), when
   genproto-transformers is installed;
8. issue 22, target 1 on the GPU: every installed shipped configuration through the engine
   against its bare loop (``benchmarks/bare/``, bench_models.py's figure), samples compared
   bit for bit first, batch 1,024 and 16;
9. target 2: the ``ar`` digits sampler against Hugging Face ``generate`` on a GPT-2 of the
   same shape (bench_ar_vs_hf.py's figure), tokens/s and fraction of the GPU's matmul rate;
10. target 3: keyed ``normal`` / ``uniform`` against ``torch.randn`` / ``torch.rand`` of the
    same size on the GPU (prebuilt streams and ``for_range`` + draw);
11. target 4: the shipped diffusion denoiser's counted FLOP/s while sampling over the GPU's
    matmul rate (bench_diffusion_matmul.py's count), eager and with a captured CUDA graph of
    the bare step loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from reference_models import MLPDecoder, MLPDenoiser, linear_flops

import genproto
from genproto import sampling
from genproto.streams import KeyedStreams, selftest


def cuda_time(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def graphed_timing(body: Callable[[], torch.Tensor]) -> tuple[float, float, torch.Tensor]:
    """Seconds of ``body`` eager and replayed from a captured CUDA graph, and the graph's
    output (warmed up on a side stream first, as capture requires)."""
    eager = cuda_time(body, 3)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = body()
    return eager, cuda_time(graph.replay, 3), captured


def _guarded(name: str, fn: Callable[[], object]) -> object:
    """``fn()``, or a one-line note of why it could not run (the rest of the check goes on)."""
    try:
        return fn()
    except Exception as exc:  # a figure that cannot be taken is reported, not fatal
        return f"{name} skipped: {type(exc).__name__}: {exc}"


def _every_model(dev: torch.device) -> object:
    """Engine / bare loop for every installed shipped configuration (bench_models.py)."""
    import bare

    def one(config: Any, module: Any) -> dict[str, object]:
        model = bare.load(config).to(dev)
        row: dict[str, object] = {"config": config.label}
        for batch in (1024, 16):
            n = batch * (8 if batch == 1024 else 32)
            cond = bare.condition_for(model, n)
            values = bare.canonical(model, cond, n)

            def bare_fn(n: int = n, batch: int = batch, values: Any = values) -> torch.Tensor:
                return bare.bare_run(model, module.bare_batch, n, seed=0, batch_size=batch,
                                     condition=values)

            def engine_fn(n: int = n, batch: int = batch, cond: Any = cond) -> torch.Tensor:
                return sampling.run(model, n, seed=0, batch_size=batch, condition=cond,
                                    progress=False).samples

            row[f"equal_{batch}"] = bool(torch.equal(bare_fn(), engine_fn()))
            row[f"ratio_{batch}"] = cuda_time(bare_fn, 3) / cuda_time(engine_fn, 3)
        return row

    rows: list[object] = []
    for config, module, why in bare.installed():
        if module is None:
            rows.append({"config": config.label, "skipped": why})
        else:
            rows.append(_guarded(config.label, lambda c=config, m=module: one(c, m)))
    return rows


def _ar_vs_hf(dev: torch.device) -> object:
    """Tokens/s of the ``ar`` sampler and of ``generate`` on the same shape (bench_ar_vs_hf)."""

    def run() -> list[dict[str, float]]:
        import bench_ar_vs_hf as b

        ar = genproto.registry.get("ar", device=str(dev))
        hf = b.hugging_face(4, 64, 4).to(dev)
        size = 8192
        mat = torch.randn(size, size, device=dev)
        peak = 2 * size**3 / cuda_time(lambda: mat @ mat)
        flops = b.flops_per_token(4, 64, b.LEVELS)
        rows = []
        for batch in (1, 16, 256, 1024, 8192):
            n = max(batch, 64)
            labels = torch.arange(n) % b.CLASSES
            t_ar = cuda_time(lambda n=n, batch=batch, labels=labels: ar.sample(
                n, seed=0, batch_size=batch, condition=labels), 3)

            def hf_run(n: int = n, batch: int = batch) -> None:
                with torch.inference_mode():
                    for first in range(0, n, batch):
                        size_ = min(batch, n - first)
                        prompt = (torch.arange(first, first + size_, device=dev) % b.CLASSES
                                  + b.LEVELS).unsqueeze(1)
                        hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                                    do_sample=True, top_k=0, top_p=1.0, max_new_tokens=b.PIXELS,
                                    min_new_tokens=b.PIXELS, use_cache=True, pad_token_id=0)

            t_hf = cuda_time(hf_run, 3)
            tokens = n * b.PIXELS
            rows.append({"batch": batch, "ar_tokens_per_s": tokens / t_ar,
                         "hf_tokens_per_s": tokens / t_hf, "ar_over_hf": t_hf / t_ar,
                         "ar_fraction_of_matmul": tokens / t_ar * flops / peak})
        return rows

    return _guarded("ar_vs_hf", run)


def _streams(dev: torch.device) -> object:
    """Keyed draws over torch's of the same size, on the GPU (bench_streams.py's ratios)."""

    def run() -> list[dict[str, float]]:
        rows = []
        for batch in (1024, 65536):
            streams = KeyedStreams.for_range(0, 0, batch, device=dev)
            row: dict[str, float] = {"rows": batch}
            row["normal_over_randn"] = cuda_time(lambda s=streams: s.normal(64)) / cuda_time(
                lambda batch=batch: torch.randn(batch, 64, device=dev))
            row["uniform_over_rand"] = cuda_time(lambda s=streams: s.uniform(64)) / cuda_time(
                lambda batch=batch: torch.rand(batch, 64, device=dev))
            row["for_range_normal_over_randn"] = cuda_time(
                lambda batch=batch: KeyedStreams.for_range(0, 0, batch, device=dev).normal(64)
            ) / cuda_time(lambda batch=batch: torch.randn(batch, 64, device=dev))
            rows.append(row)
        return rows

    return _guarded("streams", run)


def _diffusion_matmul(dev: torch.device, peak: float) -> object:
    """Counted matrix FLOP/s of the shipped digits diffusion while sampling, over ``peak``
    (section 4's 8192^3 matmul), eager; and the bare 50-step loop with a CUDA graph."""

    def run() -> dict[str, object]:
        import bare
        import bare.diffusion as bare_diffusion
        from torch.utils.flop_counter import FlopCounterMode

        config = next(c for c in bare.CONFIGS if c.label == "diffusion")
        model = bare.load(config).to(dev)
        rows = []
        for batch in (1024, 8192, 65536):
            labels = torch.arange(batch) % 10

            def sample(batch: int = batch, labels: torch.Tensor = labels) -> None:
                sampling.run(model, batch, seed=0, batch_size=batch, condition=labels,
                             progress=False)

            with FlopCounterMode(display=False) as counter:
                sample()
            seconds = cuda_time(sample, 3)
            rows.append({"batch": batch, "samples_per_s": batch / seconds,
                         "fraction_of_matmul": counter.get_total_flops() / seconds / peak})
        out: dict[str, object] = {"eager": rows}
        b = 8192
        values = bare.canonical(model, torch.arange(b) % 10, b)
        static = torch.arange(b, device=dev)
        with torch.inference_mode():
            def body() -> torch.Tensor:
                return bare_diffusion.bare_batch(model, KeyedStreams(0, static, device=dev),
                                                 values)

            eager, graphed, captured = graphed_timing(body)
            out["graph_equal_to_eager"] = bool(torch.equal(captured, body()))
        out["bare_loop_eager_samples_per_s"] = b / eager
        out["bare_loop_graph_samples_per_s"] = b / graphed
        return out

    return _guarded("diffusion_matmul", run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to do")
        return
    dev = torch.device("cuda")
    res: dict[str, object] = {"device": torch.cuda.get_device_name(dev), "torch": torch.__version__}

    # 1. streams on the GPU
    selftest(dev)
    cpu = KeyedStreams.for_range(7, 0, 4096)
    gpu = KeyedStreams.for_range(7, 0, 4096, device=dev)
    res["words_equal"] = bool(torch.equal(cpu.words(64), gpu.words(64).cpu()))
    res["uniform_equal"] = bool(torch.equal(cpu.uniform(64), gpu.uniform(64).cpu()))
    res["normal_max_abs_diff"] = float((cpu.normal(64) - gpu.normal(64).cpu()).abs().max())

    # 2. batch invariance on the GPU
    den = MLPDenoiser().to(dev)
    whole = den.sample(4096, seed=1, batch_size=4096)
    split = den.sample(4096, seed=1, batch_size=997)
    res["gpu_batch_max_abs_diff"] = float((whole - split).abs().max())
    cpu_den = MLPDenoiser()
    res["cpu_vs_gpu_max_abs_diff"] = float(
        (cpu_den.sample(256, seed=1) - den.sample(256, seed=1).cpu()).abs().max())

    # 3. overhead, fp32 and bf16
    n, batch = 65536, 65536
    dec = MLPDecoder().to(dev)

    def bare(model: MLPDenoiser | MLPDecoder, body: Callable[[KeyedStreams], torch.Tensor],
             precision: str) -> None:
        ctx = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
        with torch.inference_mode(), ctx:
            for start in range(0, n, batch):
                body(KeyedStreams.for_range(0, start, min(n, start + batch), device=dev))

    for precision in ("fp32", "bf16"):
        t_bare = cuda_time(lambda p=precision: bare(dec, dec.bare, p))
        t_eng = cuda_time(lambda p=precision: sampling.run(dec, n, seed=0, batch_size=batch,
                                                           precision=p, progress=False))
        res[f"decoder_{precision}_ratio"] = t_bare / t_eng
        res[f"decoder_{precision}_samples_per_s"] = n / t_eng
        t_bare = cuda_time(lambda p=precision: bare(den, lambda s: den.loop(s, 50), p), 3)
        t_eng = cuda_time(lambda p=precision: sampling.run(den, n, seed=0, batch_size=batch,
                                                           precision=p, progress=False), 3)
        res[f"denoise50_{precision}_ratio"] = t_bare / t_eng
        res[f"denoise50_{precision}_samples_per_s"] = n / t_eng

    # 4. against the matmul
    a = torch.randn(8192, 8192, device=dev)
    peak = 2 * 8192**3 / cuda_time(lambda: a @ a)
    sweep = []
    for b in (256, 4096, 65536, 262144):
        t = cuda_time(lambda b=b: sampling.run(dec, b, seed=0, batch_size=b, progress=False))
        sweep.append({"batch": b, "samples_per_s": b / t,
                      "fraction_of_matmul": linear_flops(dec.net) * b / t / peak})
    res["matmul_tflops"] = peak / 1e12
    res["sweep"] = sweep

    # 5. CUDA graph of the bare 50-step loop at a fixed batch
    b = 16384
    static_idx = torch.arange(b, device=dev)
    with torch.inference_mode():
        def body() -> torch.Tensor:
            return den.loop(KeyedStreams(0, static_idx, device=dev), 50)

        eager, graphed, out = graphed_timing(body)
        res["graph_equal_to_eager"] = bool(torch.allclose(out, body(), atol=1e-5))
    res["denoise50_eager_samples_per_s"] = b / eager
    res["denoise50_graph_samples_per_s"] = b / graphed

    # 6. genproto-diffusers vs the hand loop (benchmarks/bench_diffusers.py), if installed
    try:
        import bench_diffusers
        unet = genproto.registry.get("digits-unet", device="cuda")
    except Exception as exc:  # the plugin is optional here
        res["diffusers"] = f"skipped: {type(exc).__name__}: {exc}"
    else:
        res["diffusers"] = [bench_diffusers.measure(unet, batch, 20, 5, "cuda")
                            for batch in (1, 16, 256)]

    # 7. genproto-transformers vs transformers' generate (benchmarks/bench_transformers.py)
    try:
        import tempfile

        import bench_transformers

        with tempfile.TemporaryDirectory() as scratch:
            figures = {}
            for name in ("names", "gpt2-small"):
                lm, prompt = bench_transformers.build(name, "cuda", Path(scratch))
                figures[name] = [bench_transformers.measure(lm, prompt, batch, max(3, 512 // batch),
                                                            "cuda")
                                 for batch in (1, 16, 256)]
        res["transformers"] = figures
    except Exception as exc:  # the plugin is optional here
        res["transformers"] = f"skipped: {type(exc).__name__}: {exc}"
    # 8-11. issue 22's targets on the GPU
    res["models"] = _every_model(dev)
    res["ar_vs_hf"] = _ar_vs_hf(dev)
    res["streams"] = _streams(dev)
    res["diffusion_matmul"] = _diffusion_matmul(dev, peak)
    print(json.dumps(res, indent=2))
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
