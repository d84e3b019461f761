"""Score the causal streaming denoiser against the offline one and spectral subtraction.

    python benchmarks/denoise_stream.py runs/denoise_stream/model.safetensors

The harness of `bench_quality.py`'s denoising section (test split, every held-out speech
clip mixed with one unseen and one seen noise type at 0/5/10/15 dB SNR, seed 0): PESQ-WB,
STOI and SI-SDR (dB) of the noisy input, spectral subtraction, the shipped offline denoiser
(``data/models/denoise.safetensors``) and the causal model run block by block through
:class:`audioae.streaming_denoiser.StreamingDenoiser` (16 ms blocks, the four SNR rows as four
channels of one stream). Also checks on the first clip that the streamed output equals offline
denoising with the same causal model, and measures the real-time factors on one thread in the
same run: one channel of >= 30 s of held-out speech (processing time / audio duration, median
of 3 runs; model loading and the stream's set-up excluded), streamed in 16 ms blocks packed
(:mod:`audioae.streaming_layers`, the default) and layer by layer (the model's own modules),
and offline with the same causal model, with the ratio streamed / offline. Prints markdown
tables (``--rtf-only``: the real-time factors and the equality check only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.pipeline import Pipeline  # noqa: E402
from audioae.streaming_denoiser import StreamingDenoiser  # noqa: E402
from benchmarks import bench_quality  # noqa: E402  (its denoise scoring loop, reused)
from benchmarks.baselines.classical import spectral_subtraction  # noqa: E402
from benchmarks.bench_quality import SAMPLE_RATE, load, load_split  # noqa: E402
from benchmarks.quality_metrics import markdown_table  # noqa: E402

BLOCK_SECONDS = 0.016
RTF_SECONDS = 30.0


def stream_blocks(
    pipe: Pipeline, x: torch.Tensor, stream: StreamingDenoiser | None = None
) -> torch.Tensor:
    """``x (channels, time)`` through ``stream`` (default a fresh packed one) in 16 ms blocks;
    aligned output, same shape."""
    block = int(BLOCK_SECONDS * pipe.sample_rate)
    stream = stream or StreamingDenoiser(pipe, channels=x.shape[0])
    pieces = [stream.process(x[:, i : i + block]) for i in range(0, x.shape[-1], block)]
    return torch.cat([*pieces, stream.flush()], dim=-1)


def real_time_factor(fn: Callable[[], object], seconds: float, runs: int = 3) -> float:
    """Median over ``runs`` of ``fn``'s wall time / ``seconds`` of audio (after a warm-up)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / seconds


def measure_rtf(causal: Pipeline, offline: Pipeline, long: torch.Tensor) -> None:
    """Print the real-time factors (one thread) of ``long (1, time)``; see the module docstring."""
    seconds = long.shape[-1] / SAMPLE_RATE
    streams = {packed: StreamingDenoiser(causal, packed=packed) for packed in (True, False)}
    assert streams[True].packed, "the causal model did not pack"

    def streamed(packed: bool) -> Callable[[], object]:
        def run() -> None:
            streams[packed].reset()  # the set-up (packing the weights) is not timed
            stream_blocks(causal, long, streams[packed])

        return run

    with torch.inference_mode():
        stream_blocks(causal, long[..., :SAMPLE_RATE], streams[True])  # warm-up
        causal.denoise(long[..., :SAMPLE_RATE])
        offline.denoise(long[..., :SAMPLE_RATE])
        rtf = {
            "causal streamed, 16 ms blocks, packed": real_time_factor(streamed(True), seconds),
            "causal streamed, 16 ms blocks, layer by layer": real_time_factor(
                streamed(False), seconds
            ),
            "causal offline": real_time_factor(lambda: causal.denoise(long), seconds),
            "shipped offline": real_time_factor(lambda: offline.denoise(long), seconds),
        }
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    net = streams[True]._net
    kernel = "float16-weight products" if net is not None and net.uses_fp16 else "float32"
    print(f"\nreal-time factors, 1 thread, {seconds:.0f} s, median of 3 (load average {load}):")
    for name, value in rtf.items():
        pipe = offline if name.startswith("shipped") else causal
        params = sum(p.numel() for p in pipe.model.parameters())
        print(f"RTF {name}: {value:.4f} ({params / 1e6:.2f} M parameters)")
    base = rtf["causal offline"]
    packed = rtf["causal streamed, 16 ms blocks, packed"] / base
    layered = rtf["causal streamed, 16 ms blocks, layer by layer"] / base
    print(f"streamed / offline, same causal model: packed {packed:.1f}x, layer by layer ", end="")
    print(f"{layered:.1f}x (packed path: {kernel})")


def untimed(fn: Callable[[torch.Tensor], torch.Tensor]) -> bench_quality.Denoiser:
    """``fn`` in inference mode as a :func:`~benchmarks.bench_quality.score_denoisers` method
    (its time is not measured here: the real-time factors are measured on their own)."""

    def run(x: torch.Tensor) -> tuple[torch.Tensor, float]:
        with torch.inference_mode():
            return fn(x), 0.0

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the causal denoiser's model file")
    parser.add_argument("--offline", type=Path, default=ROOT / "data/models/denoise.safetensors")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--clips", type=int, default=None, help="first N test clips only")
    parser.add_argument(
        "--rtf-only", action="store_true", help="skip the quality tables (RTF and equality only)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    split = load_split(args.data)
    causal = Pipeline.load(args.model, device="cpu")
    offline = Pipeline.load(args.offline, device="cpu")
    assert causal.sample_rate == offline.sample_rate == SAMPLE_RATE
    methods = {
        "noisy input": lambda x: x,
        "spectral subtraction": lambda x: spectral_subtraction(x, SAMPLE_RATE),
        "audioae denoiser (offline, shipped)": offline.denoise,
        "audioae causal, streamed": lambda x: stream_blocks(causal, x),
    }
    clips = split["speech"]["test"][: args.clips]
    if args.rtf_only:
        with torch.inference_mode():
            noisy = load(clips[0])[None]
            noisy = noisy + 0.05 * torch.randn(
                noisy.shape, generator=torch.Generator().manual_seed(0)
            )
            for packed in (True, False):
                est = stream_blocks(causal, noisy, StreamingDenoiser(causal, packed=packed))
                diff = float((est - causal.denoise(noisy)).abs().max())
                how = "packed" if packed else "layer by layer"
                print(
                    f"streamed ({how}) vs offline, same causal model, first clip + noise: ", end=""
                )
                print(f"max abs difference {diff:.2e}")
    else:
        score_quality(causal, offline, methods, clips, split)
    speech = []
    while sum(s.shape[-1] for s in speech) < RTF_SECONDS * SAMPLE_RATE:
        speech += [load(p) for p in split["speech"]["test"]]
    measure_rtf(causal, offline, torch.cat(speech)[None])


def score_quality(
    causal: Pipeline, offline: Pipeline, methods: dict, clips: list, split: dict
) -> None:
    """The quality tables of every method, and the streamed-equals-offline check."""
    groups = bench_quality.noise_groups(split)
    worst = 0.0

    def check_streamed(i: int, group: str, name: str, noisy: torch.Tensor, est: torch.Tensor):
        nonlocal worst
        if name == "audioae causal, streamed" and i == 0:
            with torch.inference_mode():
                worst = max(worst, float((est - causal.denoise(noisy)).abs().max()))

    result = bench_quality.score_denoisers(
        clips,
        groups,
        {name: untimed(fn) for name, fn in methods.items()},
        progress="  ",
        on_output=check_streamed,
    )
    for group in groups:
        rows = [[name, *result.means(group, name)] for name in methods]
        print(f"\n**{group} noise**; means over {len(clips)} clips per SNR:\n")
        print(markdown_table(bench_quality.denoise_header(), rows))
    print(f"\nstreamed vs offline (same causal model), max abs difference: {worst:.2e}")


if __name__ == "__main__":
    main()
