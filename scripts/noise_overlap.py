#!/usr/bin/env python3
"""Find training noise that shares a recording with validation or test noise.

Game and sound-effect packages often cut their sounds from the same freesound.org recordings,
so a training noise from one package can hold a stretch of a validation noise from another.
For every pair (training file, reference file) this script slides a probe (the first
``PROBE_S`` seconds of the shorter file) along the longer one and reports the largest
normalised cross-correlation of the probe with the stretch under it: about 1 for a shared
stretch (at any gain), near 0 for independent recordings. Files shorter than ``MIN_PROBE_S``
are skipped, because a short click matches any transient.

    python scripts/noise_overlap.py ~/.cache/audioae/corpus/noise \\
        --against ~/.cache/audioae/corpus/val_noise TEST_NOISE_DIR --top 10

(``TEST_NOISE_DIR``: a folder holding the test split's noises, e.g. links to
``data/noise/babble.flac`` and ``bubbles.flac``.) Prints the ``--top`` pairs, largest first,
and exits 1 when any pair reaches ``--threshold`` (default 0.5; on the ambient candidates of
2026-11-30 the three MegaGlest loops that share a stretch with LinCity-NG's ``MarketFull1``
scored 0.91, 0.69 and 0.63, and once they were left out every training noise at least 2 s
long scored 0.23 or less).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from audioae.audio import find_audio_files, load_audio

SAMPLE_RATE = 16000
PROBE_S = 4.0
MIN_PROBE_S = 2.0


def load_mono(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The samples of ``path`` as float64 mono ``(time,)`` at ``sample_rate`` Hz
    (:func:`audioae.audio.load_audio`: channels averaged, soxr "HQ"; raises ``AudioError``
    naming the file when it cannot be decoded)."""
    wav, _ = load_audio(path, sample_rate=sample_rate)
    return wav[0].double().numpy()


def max_local_correlation(a: np.ndarray, b: np.ndarray, probe: int, min_probe: int) -> float:
    """Largest |normalised cross-correlation| of the first ``probe`` samples of the shorter of
    ``a`` and ``b`` (both ``(time,)``) against every equally long stretch of the longer one,
    each stretch normalised by its own energy; 0.0 when the shorter has under ``min_probe``
    samples. Computed with one FFT (Wiener-Khinchin)."""
    if b.size > a.size:
        a, b = b, a
    b = b[:probe]
    if b.size < min_probe or not np.any(b):
        return 0.0
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    energy = np.concatenate([[0.0], np.cumsum(a**2)])
    lags = np.arange(a.size - b.size + 1)
    local = energy[lags + b.size] - energy[lags]
    norm = np.sqrt(np.maximum(local, 1e-12) * float(np.dot(b, b)))
    return float(np.max(np.abs(corr[lags]) / norm))


def overlaps(
    files: list[Path], references: list[Path], probe_s: float = PROBE_S
) -> list[tuple[float, Path, Path]]:
    """For every file of ``files``, its largest :func:`max_local_correlation` over
    ``references`` and the reference reaching it, largest first."""
    probe, min_probe = int(probe_s * SAMPLE_RATE), int(MIN_PROBE_S * SAMPLE_RATE)
    refs = [(r, load_mono(r)) for r in references]
    found = []
    for f in files:
        x = load_mono(f)
        score, ref = max(
            ((max_local_correlation(x, y, probe, min_probe), r) for r, y in refs),
            key=lambda t: t[0],
            default=(0.0, Path()),
        )
        found.append((score, f, ref))
    return sorted(found, key=lambda t: -t[0])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("train", type=Path, help="folder of training noise (searched recursively)")
    parser.add_argument("--against", type=Path, nargs="+", required=True, help="reference folders")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    refs = [f for d in args.against for f in find_audio_files(d)]
    found = overlaps(list(find_audio_files(args.train)), refs)
    for score, f, ref in found[: args.top]:
        print(f"{score:.3f}  {f}  ~  {ref}")
    flagged = [t for t in found if t[0] >= args.threshold]
    if flagged:
        print(f"{len(flagged)} file(s) at or above {args.threshold}", file=sys.stderr)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
