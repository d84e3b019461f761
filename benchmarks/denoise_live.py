"""Live denoising through pipes: quality at the rates microphones use, time per block, latency.

    python benchmarks/denoise_live.py [MODEL] [--clips N] [--seconds S]

MODEL defaults to the shipped causal ``denoise_stream``. Three parts, one torch thread:

1. **Quality** (the harness of ``bench_quality.py``'s denoising section: test-split speech mixed
   with one unseen and one seen noise type at 0/5/10/15 dB, seed 0; PESQ-WB, STOI, SI-SDR at
   16 kHz): the causal model fed at its own rate through :func:`audioae.live.denoise_live`
   (the reference: equal to offline denoising with it), and the same mixtures upsampled to
   48 kHz and 44.1 kHz (soxr HQ, as a microphone stream of 16 kHz-band speech) and denoised
   live at that rate, with the live resampling at ``LQ`` (the default) and ``HQ``; each output
   is resampled back to 16 kHz (HQ) to be scored. The ratio column is each row's mean PESQ over
   the 8 cells divided by the reference's.
2. **Time per block** of :func:`~audioae.live.denoise_live` on >= 30 s of held-out speech
   (PCM conversion and resampling included; reading and writing excluded): median, 99th
   percentile and max against the block's 16 ms, and the live path's real-time factor
   divided by that of the bare :class:`~audioae.streaming_denoiser.StreamingDenoiser` on the
   same audio in 16 ms blocks (the reference, same run).
3. **Latency through a real pipe**: ``python -m audioae denoise MODEL - -o -`` as a
   subprocess, its stdin written 16 ms at a time at real-time pace for ``--seconds``; for every
   chunk read back, the time from the moment its oldest sample was captured (written, less the
   samples after it in its 16 ms block) to the moment it arrived (process start-up excluded:
   timing starts with the first output).
   Compared with the algorithmic latency the command prints.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import resample  # noqa: E402
from audioae.live import RawPCMReader, RawPCMWriter, denoise_live  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks import bench_quality  # noqa: E402
from benchmarks.bench_quality import SAMPLE_RATE, load, load_split  # noqa: E402
from benchmarks.denoise_stream import stream_blocks  # noqa: E402
from benchmarks.quality_metrics import markdown_table  # noqa: E402

RATES = ((48000, "LQ"), (48000, "HQ"), (44100, "LQ"), (44100, "HQ"))
TIMING_SECONDS = 30.0


def live(pipe: Pipeline, x: np.ndarray, sample_rate: int, quality: str = "LQ"):
    """``x (channels, n)`` float32 at ``sample_rate`` through :func:`denoise_live` in memory
    (f32le); returns ``(output (channels, n), report)``."""
    data = io.BytesIO()
    RawPCMWriter(data, x.shape[0], "f32le").write(x)
    reader = RawPCMReader(io.BytesIO(data.getvalue()), x.shape[0], "f32le")
    out = io.BytesIO()
    report = denoise_live(
        pipe,
        reader,
        RawPCMWriter(out, x.shape[0], "f32le"),
        sample_rate=sample_rate,
        channels=x.shape[0],
        resample_quality=quality,
    )
    y = RawPCMReader(io.BytesIO(out.getvalue()), x.shape[0], "f32le").read(report.frames)
    return y, report


def method(pipe: Pipeline, sample_rate: int, quality: str):
    """A :func:`bench_quality.score_denoisers` method: 16 kHz in, live at ``sample_rate``, 16 kHz out."""

    def run(noisy: torch.Tensor) -> tuple[torch.Tensor, float]:
        x = resample(noisy.float(), SAMPLE_RATE, sample_rate).numpy()
        y, _ = live(pipe, x, sample_rate, quality)
        y = resample(torch.from_numpy(y), sample_rate, SAMPLE_RATE)[:, : noisy.shape[-1]]
        if y.shape[-1] < noisy.shape[-1]:
            y = torch.nn.functional.pad(y, (0, noisy.shape[-1] - y.shape[-1]))
        return y, 0.0

    return run


def quality(pipe: Pipeline, split: dict, clips: list) -> None:
    methods = {"noisy input": lambda x: (x, 0.0)}
    reference = f"live at {SAMPLE_RATE} Hz (the model's rate)"
    methods[reference] = method(pipe, SAMPLE_RATE, "LQ")
    for rate, q in RATES:
        methods[f"live at {rate} Hz, resampling {q}"] = method(pipe, rate, q)
    groups = bench_quality.noise_groups(split)
    result = bench_quality.score_denoisers(clips, groups, methods, progress="  ")
    base = result.mean_pesq(reference)
    for group in groups:
        rows = [[name, *result.means(group, name)] for name in methods]
        print(f"\n**{group} noise**; means over {len(clips)} clips per SNR:\n")
        print(markdown_table(bench_quality.denoise_header(), rows))
    print("\nmean PESQ over the 8 cells, ratio to live at the model's rate:")
    for name in methods:
        print(f"- {name}: {result.mean_pesq(name):.3f} ({result.mean_pesq(name) / base:.3f}x)")


def timing(pipe: Pipeline, speech: torch.Tensor) -> None:
    seconds = speech.shape[-1] / SAMPLE_RATE
    rows = []
    with torch.inference_mode():
        stream_blocks(pipe, speech[:, :SAMPLE_RATE])  # warm-up
        start = time.perf_counter()
        stream_blocks(pipe, speech)
        bare = (time.perf_counter() - start) / seconds
    for rate, q in ((SAMPLE_RATE, "LQ"), *RATES):
        _, report = live(pipe, resample(speech, SAMPLE_RATE, rate).numpy(), rate, q)
        ms = np.asarray(report.block_seconds) * 1e3
        rtf = float(np.sum(report.block_seconds)) / seconds
        rows.append(
            [
                f"{rate} Hz" + (f", {q}" if rate != SAMPLE_RATE else ""),
                f"{1e3 * report.latency_seconds:.1f}",
                f"{np.median(ms):.2f}",
                f"{np.percentile(ms, 99):.2f}",
                f"{ms.max():.2f}",
                f"{report.late_blocks()}",
                f"{rtf:.4f}",
                f"{rtf / bare:.2f}",
            ]
        )
    load_avg = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"\ntime per 16 ms block, {seconds:.0f} s of speech, 1 thread (load average {load_avg}):\n"
    )
    header = ["stream", "latency (ms)", "median (ms)", "p99 (ms)", "max (ms)", "late blocks",
              "RTF", "RTF / bare stream"]  # fmt: skip
    print(markdown_table(header, rows))
    print(f"\nbare StreamingDenoiser in 16 ms blocks (the reference): RTF {bare:.4f}")


def pipe_latency(model: str, speech: np.ndarray, rate: int, seconds: float) -> list[str]:
    """Feed ``speech`` (1, n) at ``rate`` to the command in real time; latencies of the output."""
    block = int(0.016 * rate)
    n = min(speech.shape[1], int(seconds * rate)) // block * block
    data = np.rint(np.clip(speech[0, :n], -1, 1) * 32767).astype("<i2").tobytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "audioae", "denoise", model, "-", "-o", "-"]
    proc = subprocess.Popen(
        [*cmd, "--sample-rate", str(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        bufsize=0,
    )
    written = np.zeros(n // block)  # time each input block was written

    def feed() -> None:
        start = time.perf_counter()
        for i in range(n // block):
            target = start + i * block / rate
            time.sleep(max(0.0, target - time.perf_counter()))
            proc.stdin.write(data[2 * i * block : 2 * (i + 1) * block])
            written[i] = time.perf_counter()
        proc.stdin.close()

    # wait until the model is loaded: the command prints its start line to stderr first
    line = proc.stderr.readline().decode().strip()
    writer = threading.Thread(target=feed)
    writer.start()
    got, latencies = 0, []
    while chunk := proc.stdout.read(4096):
        now = time.perf_counter()
        first, got = got, got + len(chunk) // 2
        i = first // block  # the input block holding the chunk's first (oldest) sample
        if written[i] > 0 and got < n - block:  # the end flushes without waiting: not counted
            # a sample captured live waits for its block to fill: its capture time is the
            # block's write time less the samples after it in the block; the chunk's first
            # sample waited longest, so this is the worst latency within the chunk
            latencies.append(now - written[i] + (block - 1 - first % block) / rate)
    writer.join()
    proc.wait()
    ms = np.asarray(latencies) * 1e3
    return [
        f"{rate} Hz",
        line.split("latency ")[-1] if "latency" in line else "?",
        f"{statistics.median(ms):.1f}",
        f"{np.percentile(ms, 95):.1f}",
        f"{ms.max():.1f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="denoise_stream")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--clips", type=int, default=None, help="first N test clips only")
    parser.add_argument("--seconds", type=float, default=10.0, help="pipe test length (s)")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pipe = Pipeline.load(args.model, device="cpu")
    assert pipe.sample_rate == SAMPLE_RATE
    split = load_split(args.data)
    if not args.skip_quality:
        quality(pipe, split, split["speech"]["test"][: args.clips])
    speech = []
    while sum(s.shape[-1] for s in speech) < TIMING_SECONDS * SAMPLE_RATE:
        speech += [load(p) for p in split["speech"]["test"]]
    long = torch.cat(speech)[None]
    timing(pipe, long)
    rows = []
    for rate in (SAMPLE_RATE, 48000):
        x = resample(long, SAMPLE_RATE, rate).numpy()
        rows.append(pipe_latency(args.model, x, rate, args.seconds))
    print(f"\nlatency through a pipe, input paced in real time for {args.seconds:g} s:\n")
    header = ["stream", "algorithmic (stated)", "median (ms)", "p95 (ms)", "max (ms)"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
