"""Denoisers on recordings at 44.1 / 48 kHz: the file job's path, against the model's own rate.

    python benchmarks/denoise_band.py [LABEL=]MODEL ... [--rate 48000] [--clips N]

A recording at 48 kHz reaches a 16 kHz model through a resampler, whose transition band
leaves nothing in the top of the model's band (above about 7.3 kHz with soxr HQ). This
benchmark scores each model on the same mixtures twice, with the harness of
``bench_quality.py``'s denoising section (36 test-split clips, one unseen and one seen noise
type at 0/5/10/15 dB, seed 0; PESQ-WB, STOI, SI-SDR at 16 kHz against the clean clip):

- ``at 16 kHz``: the mixture as it is (the reference row of each model);
- ``through R Hz``: the mixture upsampled to ``--rate`` (soxr HQ, as a recording of the same
  band) and denoised as ``audioae denoise`` does a file at that rate
  (:func:`audioae.audio.resample` to the model's rate with the model's ``audio.resampler``;
  the model; resampled back the same way), then brought back to 16 kHz (HQ) to be scored.
  ``--recording steep`` makes the recording, and brings it back, with the steep filter
  instead (flat to 7.9 kHz), as a full-band recording of the scene would hold the 16 kHz
  clip's top band; the model's own path is unchanged.

For each model it prints the mean PESQ over the 8 cells of both rows and their ratio (the
row through ``--rate`` divided by the one at 16 kHz, same run). One torch thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import resample  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks import bench_quality  # noqa: E402
from benchmarks.bench_quality import SAMPLE_RATE, load_split  # noqa: E402
from benchmarks.quality_metrics import markdown_table  # noqa: E402


def through_rate(pipe: Pipeline, rate: int, steep_recording: bool = False):
    """A ``score_denoisers`` method: the mixture as a ``rate`` Hz file, denoised as a file job."""
    steep = pipe.steep_resampling

    def run(noisy: torch.Tensor) -> tuple[torch.Tensor, float]:
        recording = resample(noisy, SAMPLE_RATE, rate, steep=steep_recording)
        model_in = resample(recording, rate, pipe.sample_rate, steep=steep)
        out = resample(pipe.denoise(model_in), pipe.sample_rate, rate, steep=steep)
        back = resample(out, rate, SAMPLE_RATE, steep=steep_recording)[..., : noisy.shape[-1]]
        return torch.nn.functional.pad(back, (0, noisy.shape[-1] - back.shape[-1])), 0.0

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="[LABEL=]model file or shipped name")
    parser.add_argument("--rate", type=int, default=48000, help="the recordings' rate (Hz)")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--clips", type=int, default=None, help="first N test clips only")
    parser.add_argument(
        "--recording",
        choices=["hq", "steep"],
        default="hq",
        help="filter that makes the recording and scores it (default hq)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    split = load_split(args.data)
    methods = {"noisy input": lambda x: (x, 0.0)}
    pairs = []
    for spec in args.models:
        label, _, path = spec.rpartition("=")
        label = label or Path(path).stem
        pipe = Pipeline.load(path, device="cpu")
        if pipe.sample_rate != SAMPLE_RATE:
            parser.error(f"{path}: a {pipe.sample_rate} Hz model; this benchmark is for 16 kHz")
        native, through = f"{label} at 16 kHz", f"{label} through {args.rate} Hz"
        methods[native] = lambda x, pipe=pipe: (pipe.denoise(x), 0.0)
        methods[through] = through_rate(pipe, args.rate, args.recording == "steep")
        pairs.append((native, through))
    groups = bench_quality.noise_groups(split)
    clips = split["speech"]["test"][: args.clips]
    result = bench_quality.score_denoisers(clips, groups, methods, progress="  ")
    for group in groups:
        rows = [[name, *result.means(group, name)] for name in methods]
        print(f"\n**{group} noise**; means over {len(clips)} clips per SNR:\n")
        print(markdown_table(bench_quality.denoise_header(), rows))
    print("\nmean PESQ over the 8 cells; ratio of the row through the rate to the one at 16 kHz:")
    for native, through in pairs:
        a, b = result.mean_pesq(native), result.mean_pesq(through)
        print(f"- {native}: {a:.3f}; {through}: {b:.3f} ({b / a:.3f}x)")


if __name__ == "__main__":
    main()
