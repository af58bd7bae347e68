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
   genproto-transformers is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

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

        eager = cuda_time(body, 3)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            body()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = body()
        graphed = cuda_time(graph.replay, 3)
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
    print(json.dumps(res, indent=2))
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
