"""Sounds drawn from a VAE: the standard prior against a prior fitted to encoded real sounds.

    python benchmarks/bench_sampling.py [MODEL] [--n 28] [--seed 0]

The reference is the held-out notes (the notes' test split of ``data/splits.yaml``). The
prior is fitted (:meth:`audioae.pipeline.Pipeline.fit_prior`) on the notes' train split only.
For each way of sampling it draws ``--n`` sounds as long as the held-out notes' median
(the model's default phase method) and prints, against the held-out notes, in the same run:

- **FD**: the Frechet distance between Gaussians fitted to the 64-band log-mel frames (dB,
  floored at -80 dB; n_fft 1024, hop 256) of the drawn sounds and of the held-out notes,
  the statistic of FAD (Kilgour et al., "Frechet Audio Distance", 2019) on log-mel frames
  instead of a classifier's embeddings; lower is closer;
- **flux**: the mean absolute change of those log-mel frames from one frame to the next
  (dB), how fast the sound changes, and its ratio to the held-out notes' own.

The train notes against the held-out notes give the floor of FD (real against real). One
torch thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np
import torch
import yaml
from scipy import linalg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402


def log_mel_db(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """64-band log-mel power ``(frames, 64)`` in dB, floored at -80 dB."""
    mel = librosa.feature.melspectrogram(
        y=wav, sr=sample_rate, n_fft=1024, hop_length=256, n_mels=64
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-8, top_db=None).clip(-80, None).T


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def stats(wavs: list[np.ndarray], sample_rate: int) -> tuple[np.ndarray, float]:
    """All log-mel frames of ``wavs`` stacked, and their mean frame-to-frame flux (dB)."""
    mels = [log_mel_db(w, sample_rate) for w in wavs]
    flux = float(np.mean([np.abs(np.diff(m, axis=0)).mean() for m in mels]))
    return np.concatenate(mels), flux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="timbre")
    parser.add_argument("--n", type=int, default=28, help="sounds drawn per way")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline.load(args.model, device="cpu")
    sr = pipe.sample_rate
    splits = yaml.safe_load((ROOT / "data" / "splits.yaml").read_text())

    def load(split: str) -> list[torch.Tensor]:
        paths = [ROOT / "data" / p for p in splits["notes"][split]]
        return [load_audio(p, sample_rate=sr, mono=True)[0] for p in paths]

    train, test = load("train"), load("test")
    seconds = float(np.median([w.shape[-1] for w in test])) / sr
    real, real_flux = stats([w[0].numpy() for w in test], sr)
    floor, train_flux = stats([w[0].numpy() for w in train], sr)
    fitted = pipe.fit_prior(train)
    independent = pipe.fit_prior(train, temporal=False)
    ways = [
        ("standard prior, temperature 1", None, 1.0),
        ("standard prior, temperature 0.5", None, 0.5),
        ("fitted prior, independent frames", independent, 1.0),
        ("fitted prior (audioae sample --fit-prior)", fitted, 1.0),
    ]
    print(
        f"{args.model}: {len(train)} train notes (the fit), {len(test)} held-out notes, "
        f"{args.n} sounds of {seconds:.2f} s per way, phase {pipe.default_phase}, seed {args.seed}"
    )
    print("| sounds | FD to the held-out notes | / train notes' | flux (dB) | / held-out notes' |")
    print("|---|---|---|---|---|")
    base = frechet(floor, real)
    print(f"| train notes (real) | {base:.1f} | 1.00 | {train_flux:.2f} | "
          f"{train_flux / real_flux:.2f} |")  # fmt: skip
    for label, prior, temperature in ways:
        gen = torch.Generator().manual_seed(args.seed)
        wavs = pipe.sample(args.n, seconds, temperature=temperature, generator=gen, prior=prior)
        frames, flux = stats([w.numpy() for w in wavs], sr)
        fd = frechet(frames, real)
        print(f"| {label} | {fd:.1f} | {fd / base:.2f} | {flux:.2f} | {flux / real_flux:.2f} |")


if __name__ == "__main__":
    main()
