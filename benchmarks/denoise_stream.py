"""Score the causal streaming denoiser against the offline one and spectral subtraction.

    python benchmarks/denoise_stream.py runs/denoise_stream/model.safetensors

The harness of `bench_quality.py`'s denoising section (test split, every held-out speech
clip mixed with one unseen and one seen noise type at 0/5/10/15 dB SNR, seed 0): PESQ-WB,
STOI and SI-SDR (dB) of the noisy input, spectral subtraction, the shipped offline denoiser
(``data/models/denoise.safetensors``) and the causal model run block by block through
:class:`audioae.streaming_denoiser.StreamingDenoiser` (16 ms blocks, the four SNR rows as four
channels of one stream). Also checks on the first clip that the streamed output equals offline
denoising with the same causal model, and measures the streaming real-time factor on one
thread: one channel of >= 30 s of held-out speech fed in 16 ms blocks (processing time /
audio duration, model loading excluded). Prints markdown tables.
"""

from __future__ import annotations

import argparse
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


def stream_blocks(pipe: Pipeline, x: torch.Tensor) -> torch.Tensor:
    """``x (channels, time)`` through a fresh stream in 16 ms blocks; aligned output, same shape."""
    block = int(BLOCK_SECONDS * pipe.sample_rate)
    stream = StreamingDenoiser(pipe, channels=x.shape[0])
    pieces = [stream.process(x[:, i : i + block]) for i in range(0, x.shape[-1], block)]
    return torch.cat([*pieces, stream.flush()], dim=-1)


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
    speech = []
    while sum(s.shape[-1] for s in speech) < RTF_SECONDS * SAMPLE_RATE:
        speech += [load(p) for p in split["speech"]["test"]]
    long = torch.cat(speech)[None]
    with torch.inference_mode():
        for name, pipe, fn in (
            ("causal streamed, 16 ms blocks", causal, lambda x: stream_blocks(causal, x)),
            ("causal offline", causal, causal.denoise),
            ("shipped offline", offline, offline.denoise),
        ):
            fn(long[..., :SAMPLE_RATE])  # warm-up
            start = time.perf_counter()
            fn(long)
            rtf = (time.perf_counter() - start) / (long.shape[-1] / SAMPLE_RATE)
            params = sum(p.numel() for p in pipe.model.parameters())
            print(
                f"RTF {name}: {rtf:.4f} (1 thread, {long.shape[-1] / SAMPLE_RATE:.0f} s; {params / 1e6:.2f} M parameters)"
            )


if __name__ == "__main__":
    main()
