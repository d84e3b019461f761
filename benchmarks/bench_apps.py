"""Real-time factor and peak memory of denoise, encode and decode on long files (issue: apps).

    python benchmarks/bench_apps.py [--models data/models] [--minutes 1 30] [--threads 2] [--write]
    python benchmarks/bench_apps.py --memory [--memory-minutes 1 30 180] [--write]

``--memory`` measures the peak resident memory of the ``audioae denoise`` command itself on
generated files of 1, 30 and 180 minutes (8 kHz mono 16-bit, bundled speech tiled, as in the
report of a 3-hour 8 kHz file that took 2.6 GB), each in its own subprocess, and prints each
peak's growth over the 1-minute run's; ``--write`` puts it in the "## Long-file memory"
section of docs/benchmarks.md.

Each (operation, length) runs in its own subprocess so its peak resident memory (ru_maxrss)
is its own. The input is real bundled speech tiled to the length. RTF = processing time /
audio duration (lower is faster; 0.02 = 50x faster than real time). The memory target: the
long run's peak exceeds the short run's by no more than its audio buffers (input + output
float32 + the 16-bit file), i.e. nothing in the model path grows with length.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from docs_section import replace_section  # noqa: E402  (sibling module: run as a script)


def _child(op: str, models: Path, minutes: float, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from audioae.audio import find_audio_files, load_audio
    from audioae.codec import encode_latent
    from audioae.pipeline import Pipeline

    name = "denoise" if op == "denoise" else "codec"
    pipe = Pipeline.load(models / f"{name}.safetensors", device="cpu")
    sr = pipe.sample_rate
    speech = torch.cat(
        [
            load_audio(f, sample_rate=sr)[0]
            for f in find_audio_files(ROOT / "data" / "speech" / "nl")[:20]
        ],
        -1,
    )
    length = int(minutes * 60 * sr)
    wav = torch.empty(1, length)  # tile without a transient second copy of the long input
    for start in range(0, length, speech.shape[-1]):
        n = min(speech.shape[-1], length - start)
        wav[:, start : start + n] = speech[:, :n]
    del speech
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if op == "decode":
        latent = pipe.encode(wav)
        started = time.perf_counter()
        out = pipe.decode(latent, length)
    elif op == "encode":
        started = time.perf_counter()
        latent = pipe.encode(wav)
        payload = encode_latent(
            latent.cpu(),
            bits=6,
            model_hash=pipe.model_hash,
            sample_rate=sr,
            length=length,
            channels=1,
        )
        out = payload
    else:
        started = time.perf_counter()
        out = pipe.denoise(wav)
    elapsed = time.perf_counter() - started
    del out
    return {
        "op": op,
        "minutes": minutes,
        "seconds": elapsed,
        "rtf": elapsed / (length / sr),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": base_rss / 1024,
        "audio_buffers_mb": length * 4 * 2 / 2**20,
    }


MEMORY_RATE = 8000
_MEMORY_CHILD = """
import re, sys, time, torch
torch.set_num_threads(int(sys.argv[4]))
from audioae.cli import main
started = time.perf_counter()
rc = main(["denoise", sys.argv[1], sys.argv[2], "-o", sys.argv[3], "--force", "--quiet"])
elapsed = time.perf_counter() - started
status = open("/proc/self/status").read()
print("RESULT", rc, elapsed, int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024)
"""


def _long_file(path: Path, minutes: float) -> Path:
    """Bundled speech tiled to ``minutes`` at 8 kHz mono 16-bit, written block by block."""
    import soundfile as sf

    from audioae.audio import find_audio_files, load_audio

    speech = _concat(
        [
            load_audio(f, sample_rate=MEMORY_RATE)[0][0]
            for f in find_audio_files(ROOT / "data" / "speech" / "nl")[:20]
        ]
    )
    total = int(minutes * 60 * MEMORY_RATE)
    with sf.SoundFile(path, "w", MEMORY_RATE, 1, subtype="PCM_16") as f:
        while f.frames < total:
            f.write(speech[: total - f.frames])
    return path


def _concat(pieces):
    """One NumPy array from 1-D tensors."""
    import numpy as np

    return np.concatenate([p.numpy() for p in pieces])


def memory_rows(models: Path, minutes: list[float], threads: int) -> list[dict]:
    """Peak RSS (VmHWM) of ``audioae denoise`` per file length, each run in a fresh process."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        for m in minutes:
            source = _long_file(Path(tmp) / f"in_{m:g}min.wav", m)
            out = Path(tmp) / "out.wav"
            cmd = [sys.executable, "-c", _MEMORY_CHILD, str(models / "denoise.safetensors")]
            cmd += [str(source), str(out), str(threads)]
            result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, check=True)
            line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
            _, rc, seconds, peak = line.split()
            if int(rc) != 0:
                raise RuntimeError(f"audioae denoise failed on {m} min: {result.stdout}")
            rows.append(
                {
                    "minutes": m,
                    "seconds": float(seconds),
                    "peak_rss_mb": float(peak),
                    "file_mb": source.stat().st_size / 2**20,
                    "float32_at_16k_mb": m * 60 * 16000 * 4 / 2**20,
                }
            )
            source.unlink()
            print(
                f"denoise {m:g} min: peak RSS {float(peak):.0f} MB ({float(seconds):.0f} s)",
                flush=True,
            )
    return rows


def memory_table(rows: list[dict]) -> str:
    base = rows[0]
    lines = [
        "| length (min) | input file (MB) | one float32 copy at 16 kHz (MB) | time (s) | peak RSS (MB) | "
        f"growth over {base['minutes']:g} min (MB) | peak / {base['minutes']:g}-min peak |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['minutes']:g} | {r['file_mb']:.0f} | {r['float32_at_16k_mb']:.0f} | {r['seconds']:.0f} | "
            f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - base['peak_rss_mb']:+.0f} | "
            f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 30.0])
    parser.add_argument("--ops", nargs="+", default=["denoise", "encode", "decode"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--write",
        action="store_true",
        help="replace the ## Applications section of docs/benchmarks.md",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="measure the peak RSS of `audioae denoise` on long generated files instead",
    )
    parser.add_argument("--memory-minutes", type=float, nargs="+", default=[1.0, 30.0, 180.0])
    parser.add_argument("--child", nargs=2, metavar=("OP", "MINUTES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.models, float(args.child[1]), args.threads)))
        return
    if args.memory:
        rows = memory_rows(args.models, args.memory_minutes, args.threads)
        table = memory_table(rows)
        print(table)
        if args.write:
            replace_section(
                "## Long-file memory\n\n"
                f"Measured by `python benchmarks/bench_apps.py --memory --write` on {platform.machine()} "
                f"with {args.threads} torch threads on {time.strftime('%Y-%m-%d')}: the peak resident "
                "memory (VmHWM) of the whole `audioae denoise` command (Python, torch and the model "
                "included), each length in a fresh process. Input: bundled Dutch speech tiled to the "
                "length, 8 kHz mono 16-bit (the model runs at 16 kHz, so every window is resampled "
                "up and back down). The file is read in blocks, resampled with one streaming soxr "
                "resampler, denoised per chunk window and written block by block (`audioae/streaming.py`), "
                "so no buffer grows with the length; the last column is each peak over the "
                "1-minute run's, measured in the same benchmark run. Before streaming, a 3-hour "
                "8 kHz file took 2.6 GB.\n\n" + table + "\n"
            )
        return
    rows = []
    for op in args.ops:
        for minutes in args.minutes:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                op,
                str(minutes),
                "--models",
                str(args.models),
                "--threads",
                str(args.threads),
            ]
            result = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{op:8s} {minutes:5.1f} min: RTF {row['rtf']:.4f} ({1 / row['rtf']:.0f}x real time), peak RSS {row['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    lines = [
        "| operation | length (min) | time (s) | RTF | x real time | peak RSS (MB) | RSS after loading input (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['op']} | {r['minutes']:g} | {r['seconds']:.1f} | {r['rtf']:.4f} | {1 / r['rtf']:.0f} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} |"
        )
    growth = []
    for op in args.ops:
        mine = sorted((r for r in rows if r["op"] == op), key=lambda r: r["minutes"])
        if len(mine) >= 2:
            short, long = mine[0], mine[-1]
            extra = long["peak_rss_mb"] - short["peak_rss_mb"]
            buffers = long["audio_buffers_mb"] - short["audio_buffers_mb"]
            growth.append(
                f"- {op}: peak grows by {extra:.0f} MB from {short['minutes']:g} to {long['minutes']:g} min; "
                f"the extra audio buffers (input + output float32) are {buffers:.0f} MB; ratio {extra / buffers:.2f}"
            )
    table = "\n".join(lines + [""] + growth)
    print(table)
    if args.write:
        from audioae.pipeline import Pipeline

        phase = Pipeline.load(args.models / "codec.safetensors", device="cpu").default_phase
        section = (
            "## Applications\n\n"
            f"Measured by `python benchmarks/bench_apps.py --write` on {platform.machine()} with "
            f"{args.threads} torch threads, models from `{args.models.relative_to(ROOT) if args.models.is_relative_to(ROOT) else args.models}`, "
            f"on {time.strftime('%Y-%m-%d')}. Input: bundled Dutch speech tiled to the length, 16 kHz mono. "
            f"Denoise uses the noisy phase; decode uses the codec's default phase method "
            f"(`{phase}`). Each row is its own process.\n\n" + table + "\n"
        )
        replace_section(section)


if __name__ == "__main__":
    main()
