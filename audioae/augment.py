"""Augmentation for denoising data and test mixtures: mixing at an SNR, coloured noise,
random EQ and random gain.

Pure functions on waveforms ``(..., time)`` or ``(time,)``; their randomness comes only from
the ``torch.Generator`` or ``numpy.random.Generator`` passed in, so training crops
(:mod:`audioae.data`) and evaluation mixtures (:mod:`audioae.evaluate`, the benchmarks) are
reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def mix_at_snr(
    clean: Tensor, noise: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """``clean + g * segment``: a noise segment scaled so the mixture's SNR is exactly ``snr_db``.

    The segment is ``clean``'s length, read from ``noise`` circularly (tiled when shorter,
    cropped when longer) from a random offset drawn from ``generator`` (one offset per noise
    row). ``g = sqrt(P_clean / (P_segment * 10^(snr_db / 10)))`` with ``P`` the mean square
    over time of the segment actually added, so ``10 log10(P_clean / P_{g segment}) = snr_db``.
    A silent clean signal gets ``g = 0``. Pure torch, on ``clean``'s device.

    Args:
        clean: ``(..., time)``.
        noise: ``(..., noise_time)`` broadcastable to ``clean`` on the leading dims, or ``(noise_time,)``.
        snr_db: dB, a float or a tensor broadcastable to ``clean.shape[:-1]``.
        generator: for the offsets; None uses torch's global RNG.

    Returns:
        Noisy ``(..., time)``, ``clean``'s dtype.

    Raises:
        ValueError: empty noise, or a silent noise segment.
    """
    n = noise.shape[-1]
    if n == 0:
        raise ValueError("mix_at_snr: noise is empty")
    time = clean.shape[-1]
    gen_device = generator.device if generator is not None else torch.device("cpu")
    offset = torch.randint(0, n, noise.shape[:-1], generator=generator, device=gen_device).to(
        noise.device
    )
    index = (offset.unsqueeze(-1) + torch.arange(time, device=noise.device)) % n
    segment = torch.gather(noise, -1, index.expand(*noise.shape[:-1], time)).to(clean.device)
    p_clean = clean.double().square().mean(-1)
    p_noise = segment.double().square().mean(-1)
    if bool((p_noise == 0).any()):
        raise ValueError("mix_at_snr: the noise segment is silent; cannot reach a finite SNR")
    snr = torch.as_tensor(snr_db, dtype=torch.float64, device=clean.device)
    gain = torch.sqrt(p_clean / (p_noise * 10.0 ** (snr / 10.0)))
    return (clean.double() + gain.unsqueeze(-1) * segment.double()).to(clean.dtype)


def colored_noise(
    color: str, n_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Synthetic noise ``(n_samples,)`` float32 with unit RMS.

    ``white``: flat spectrum; ``pink``: power ~ 1/f; ``brown`` (red): power ~ 1/f^2 (made by
    shaping the rFFT of white Gaussian noise; the DC bin is zeroed).

    Raises:
        ValueError: unknown colour.
    """
    exponents = {"white": 0.0, "pink": 0.5, "brown": 1.0}
    if color not in exponents:
        raise ValueError(f"noise colour must be one of {', '.join(exponents)}, got {color!r}")
    white = torch.randn(n_samples, generator=generator)
    if exponents[color] > 0:
        spec = torch.fft.rfft(white)
        freq = torch.arange(spec.numel(), dtype=torch.float32).clamp_min(1.0)
        spec = spec / freq.pow(exponents[color])
        spec[0] = 0
        white = torch.fft.irfft(spec, n=n_samples)
    return (white / white.square().mean().sqrt().clamp_min(1e-12)).float()


def random_biquad(
    wav: torch.Tensor, rng: np.random.Generator, r_max: float = 0.375
) -> torch.Tensor:
    """``wav (time,)`` through a random second-order filter, the augmentation of RNNoise.

    ``H(z) = (1 + r1 z^-1 + r2 z^-2) / (1 + r3 z^-1 + r4 z^-2)`` with each ``r`` uniform in
    ``[-r_max, r_max]`` (Valin, "A hybrid DSP/deep learning approach to real-time full-band
    speech enhancement", 2018; DeepFilterNet trains with the same kind of filter). With
    ``r_max = 3/8`` the poles stay inside the unit circle and the response varies by roughly
    +-10 dB over the band, so a model cannot rely on one fixed spectral tilt of speech or
    noise. Applied by FFT with zero padding to twice the length (the filter's tail beyond the
    crop is dropped).
    """
    r = rng.uniform(-r_max, r_max, size=4)
    n = 2 * wav.numel()
    z = torch.exp(-2j * math.pi * torch.fft.rfftfreq(n, dtype=torch.float64))
    response = (1 + r[0] * z + r[1] * z**2) / (1 + r[2] * z + r[3] * z**2)
    spec = torch.fft.rfft(wav.double(), n=n) * response
    return torch.fft.irfft(spec, n=n)[: wav.numel()].to(wav.dtype)


def random_gain(
    wav: torch.Tensor, rng: np.random.Generator, gain_db_min: float, gain_db_max: float
) -> torch.Tensor:
    """``wav`` scaled by a gain drawn uniformly in ``[gain_db_min, gain_db_max]`` dB from ``rng``.

    Level augmentation: one draw of ``rng``; same shape and dtype as ``wav``.
    """
    return wav * 10.0 ** (float(rng.uniform(gain_db_min, gain_db_max)) / 20.0)


__all__ = ["colored_noise", "mix_at_snr", "random_biquad", "random_gain"]
