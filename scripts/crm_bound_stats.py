#!/usr/bin/env python3
"""How large does a complex ratio mask need to be? The numbers behind ``models.masks.CRM_BOUND``.

Mixes random bundled *train-split* speech clips with random train-split noises (``data/splits.yaml``)
at 0, 5 and 10 dB SNR (40 mixtures each, seeded) and, on the STFT of the recipes (n_fft 512,
hop 128 at 16 kHz), prints:

- the share of the clean energy in bins where the ideal mask ``|S / Y|`` exceeds 1, 1.5, 2;
- the SDR (dB) of ``ISTFT(M Y)`` against the clean speech for the ideal mask ``M = S / Y``
  with its magnitude clipped at 1, 1.5, 2 and not clipped, and for the ideal magnitude mask
  ``|S| / |Y|`` with the noisy phase (what a magnitude mask can at best do).

Usage: ``python scripts/crm_bound_stats.py`` (one thread, about a minute).
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from audioae.audio import load_audio
from audioae.augment import mix_at_snr
from audioae.demo import load_splits
from audioae.features import LogMagnitude
from audioae.functional import StftParams, apply_complex_mask

DATA = Path(__file__).parents[1] / "data"
BOUNDS = (1.0, 1.5, 2.0)


def _append_sdr(
    values: list[float], front: LogMagnitude, spec: torch.Tensor, clean: torch.Tensor
) -> None:
    """Append the SDR (dB) of ``ISTFT(spec)`` against ``clean`` (skipped for silent clips)."""
    est = front.stft_params.istft(spec, front.window, clean.shape[-1])
    err = (est - clean).square().sum() / clean.square().sum()
    if torch.isfinite(err) and err > 0:
        values.append(-10 * torch.log10(err).item())


def main() -> None:
    torch.set_num_threads(1)
    front = LogMagnitude(16000, StftParams(512, 128))
    splits = load_splits(DATA)  # the train split only: the held-out files stay unheard
    speech = sorted(splits["speech"]["train"])
    noise = sorted(splits["noise"]["train"])
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    for snr in (0.0, 5.0, 10.0):
        above = dict.fromkeys(BOUNDS, 0.0)
        energy = 0.0
        sdr: dict[float, list[float]] = {b: [] for b in (*BOUNDS, float("inf"))}
        magnitude_sdr: list[float] = []
        for _ in range(40):
            clean, _ = load_audio(rng.choice(speech), 16000)
            noise_wav, _ = load_audio(rng.choice(noise), 16000)
            noisy = mix_at_snr(clean, noise_wav, snr, gen)
            s, y = front.stft(clean), front.stft(noisy)
            ratio = s.abs() / y.abs().clamp_min(1e-8)
            power = s.abs().square()
            energy += power.sum().item()
            for b in BOUNDS:
                above[b] += power[ratio > b].sum().item()
            ideal = s / y
            for b in sdr:
                clipped = ideal * (b / ideal.abs().clamp_min(1e-12)).clamp(max=1.0)
                _append_sdr(sdr[b], front, apply_complex_mask(y, clipped), clean)
            _append_sdr(magnitude_sdr, front, y * ratio, clean)
        shares = ", ".join(f"|S/Y| > {b:g}: {100 * above[b] / energy:.1f} %" for b in BOUNDS)
        sdrs = ", ".join(f"|M| <= {b:g}: {sum(v) / len(v):.1f} dB" for b, v in sdr.items())
        magnitude = sum(magnitude_sdr) / len(magnitude_sdr)
        print(
            f"SNR {snr:g} dB: clean energy in bins with {shares}; ideal mask SDR with {sdrs}; "
            f"ideal magnitude mask, noisy phase: {magnitude:.1f} dB"
        )


if __name__ == "__main__":
    main()
