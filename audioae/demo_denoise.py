"""The demo's denoising stage: held-out speech mixed with real noise, denoised by audioae and by
the classical baseline, scored, and timed on one long clip."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .audio import load_audio
from .demo_common import DOWN, UP, Splits, mean_row, sound_item
from .report import Section

if TYPE_CHECKING:
    from .pipeline import Pipeline

SNRS_DB = (0.0, 5.0, 10.0)

LONG_CLIP_SECONDS = 30.0
"""The real-time factor is measured on held-out speech concatenated to at least this long."""


def speech_metrics_available() -> bool:
    """True when the eval extra (``pesq`` and ``pystoi``) is installed."""
    return all(importlib.util.find_spec(name) for name in ("pesq", "pystoi"))


def _long_clip(splits: Splits, sr: int) -> torch.Tensor:
    """Held-out speech clips concatenated (repeated if needed) to >= :data:`LONG_CLIP_SECONDS`: ``(1, time)``."""
    files = splits["speech"]["test"]
    pieces: list[torch.Tensor] = []
    total = 0
    while total < LONG_CLIP_SECONDS * sr:
        pieces.append(load_audio(files[len(pieces) % len(files)], sample_rate=sr)[0])
        total += pieces[-1].shape[-1]
    return torch.cat(pieces, -1)


def _timed(fn: Callable[[], torch.Tensor]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_denoise_stage(pipe: Pipeline, splits: Splits, out: Path, quick: bool) -> Section:
    """Denoise held-out speech mixed with real noise at :data:`SNRS_DB`; sounds under ``out/denoise``.

    ``pipe``: the denoising :class:`~audioae.pipeline.Pipeline`; ``splits``: from
    :func:`audioae.demo.load_splits`. ``quick``: one clip and one (unseen) noise instead of two
    of each.
    Every mixture is also denoised by the classical baseline
    (:func:`audioae.baselines.spectral_subtraction`). Returns the report section: sounds,
    figures, a table of SI-SDR (plus PESQ and STOI when installed) per method with the change
    over the noisy input and the mean per method, and the real-time factor of both methods
    measured on one long clip (>= :data:`LONG_CLIP_SECONDS`).
    """
    from .augment import mix_at_snr
    from .baselines import spectral_subtraction
    from .metrics import pesq_wb, si_sdr, stoi

    speech_metrics = speech_metrics_available()
    sr = pipe.sample_rate
    clips = splits["speech"]["test"][: 1 if quick else 2]
    noises = [splits["noise"]["test"][0]] + ([] if quick else [splits["noise"]["train"][0]])
    section = Section("Denoising (held-out speaker, real noise)")
    methods = ("noisy input", "spectral subtraction", "audioae")
    rows: list[list[object]] = []
    per_method: dict[str, list[list[object]]] = {m: [] for m in methods}
    generator = torch.Generator().manual_seed(0)

    def scores(wav: torch.Tensor, reference: torch.Tensor) -> list[float]:
        values = [float(si_sdr(wav[0], reference[0]))]
        if speech_metrics:
            values += [
                float(pesq_wb(wav[0], reference[0], sr)),
                float(stoi(wav[0], reference[0], sr)),
            ]
        return values

    for clip in clips:
        clean = load_audio(clip, sample_rate=sr)[0]
        section.items.append(
            sound_item(out, f"denoise/{clip.stem}_clean", clean, sr, f"clean: {clip.stem}")
        )
        for noise_path in noises:
            noise = load_audio(noise_path, sample_rate=sr)[0]
            seen = "unseen" if noise_path in splits["noise"]["test"] else "seen"
            for snr in SNRS_DB:
                noisy = mix_at_snr(clean, noise, snr, generator=generator)
                gain = min(1.0, 0.99 / float(noisy.abs().max()))  # mixture within full scale
                noisy, reference = noisy * gain, clean * gain
                outputs = {
                    "noisy input": noisy,
                    "spectral subtraction": spectral_subtraction(noisy, sr),
                    "audioae": pipe.denoise(noisy).cpu(),
                }
                tag = f"{clip.stem}_{noise_path.stem}_{snr:g}dB"
                section.items.append(
                    sound_item(
                        out,
                        f"denoise/{tag}_noisy",
                        noisy,
                        sr,
                        f"noisy: {noise_path.stem} ({seen}) at {snr:g} dB",
                    )
                )
                section.items.append(
                    sound_item(
                        out,
                        f"denoise/{tag}_denoised",
                        outputs["audioae"],
                        sr,
                        f"audioae denoised: {noise_path.stem} at {snr:g} dB",
                    )
                )
                if snr == SNRS_DB[0]:
                    section.items.append(
                        sound_item(
                            out,
                            f"denoise/{tag}_spectral_subtraction",
                            outputs["spectral subtraction"],
                            sr,
                            f"spectral subtraction (baseline): {noise_path.stem} at {snr:g} dB",
                        )
                    )
                before = scores(noisy, reference)
                for method in methods:
                    values = (
                        before if method == "noisy input" else scores(outputs[method], reference)
                    )
                    row: list[object] = [
                        clip.stem,
                        f"{noise_path.stem} ({seen})",
                        f"{snr:g}",
                        method,
                    ]
                    for value, base in zip(values, before):
                        row += [value, "" if method == "noisy input" else value - base]
                    rows.append(row)
                    per_method[method].append(row)
    metric_names = [f"SI-SDR (dB) {UP}"] + ([f"PESQ {UP}", f"STOI {UP}"] if speech_metrics else [])
    header = ["clip", "noise", "SNR (dB)", "method"]
    for name in metric_names:
        header += [name, f"Δ {name.replace(' ' + UP, '')} vs noisy {UP}"]
    rows += [mean_row(f"mean: {m}", per_method[m], 4) for m in methods]
    section.table(
        "Each mixture: the noisy input, the classical baseline (spectral subtraction, as in "
        "benchmarks/bench_quality.py) and audioae's denoiser; Δ = the change over the noisy "
        "input; the last rows are the means per method",
        header,
        rows,
    )
    if not speech_metrics:
        section.notes.append(
            'PESQ and STOI were not computed: they need `pip install "audioae[eval]"` '
            "(the pesq and pystoi packages)."
        )
    long = _long_clip(splits, sr)
    long_noisy = mix_at_snr(
        long, load_audio(noises[0], sample_rate=sr)[0], 5.0, generator=generator
    )
    long_noisy = long_noisy * min(1.0, 0.99 / float(long_noisy.abs().max()))
    seconds = long.shape[-1] / sr
    timing = []
    for method, fn in (
        ("spectral subtraction", lambda: spectral_subtraction(long_noisy, sr)),
        ("audioae", lambda: pipe.denoise(long_noisy)),
    ):
        elapsed = _timed(fn)
        timing.append([method, seconds, elapsed, elapsed / seconds, seconds / elapsed])
    section.table(
        f"Speed on one long clip: the held-out speech concatenated to {seconds:.0f} s, "
        f"denoised in one call on this machine ({torch.get_num_threads()} torch threads, "
        f"{pipe.device.type}); RTF = processing time / audio duration",
        ["method", "audio (s)", f"time (s) {DOWN}", f"RTF {DOWN}", f"x real time {UP}"],
        timing,
    )
    return section
