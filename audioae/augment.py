"""Augmentation for denoising data and test mixtures: mixing at an SNR, coloured noise,
random EQ, random gain, synthetic room reverberation, band-limiting and speed perturbation.

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

from .audio import resample

SPEED_RESOLUTION = 1000
"""Speed factors are rounded to ``1 / SPEED_RESOLUTION`` (:func:`change_speed`)."""


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


EARLY_REVERB_SECONDS = 0.05
"""Where the early part of a room impulse response ends (s): the 50 ms early/late boundary of
the C50 speech clarity index (ISO 3382-1). Reflections before it fuse with the direct sound and
help intelligibility; later ones smear it."""


def synthetic_rir(
    sample_rate: int,
    rt60: float,
    drr_db: float,
    generator: torch.Generator | None = None,
    n_reflections: int = 4,
) -> Tensor:
    """A synthetic room impulse response ``(n,)`` float32, ``n = ceil(rt60 * sample_rate) + 1``.

    ``h[0] = 1`` is the direct path (so a source keeps its level and timing); ``h[1:]`` is
    Gaussian noise under the exponential envelope ``exp(-3 ln(10) t / rt60)`` (energy falls by
    60 dB in ``rt60`` seconds: Schroeder's diffuse-field model, "Frequency-correlation functions
    of frequency responses in rooms", 1962; the same shape as Polack's time-domain model, 1988),
    plus ``n_reflections`` early reflections: spikes of random sign at times uniform in
    1..``EARLY_REVERB_SECONDS``, 2 to 4 times the envelope's level there. The reverberant part
    is scaled so the direct-to-reverberant energy ratio ``1 / sum(h[1:]^2)`` is ``drr_db`` dB.
    Every draw comes from ``generator``, so one seed gives one response.

    Args:
        sample_rate: Hz.
        rt60: reverberation time (s), the time for the energy to fall by 60 dB.
        drr_db: direct-to-reverberant ratio (dB).
        generator: torch generator for the noise, reflection times, amplitudes and signs.
        n_reflections: early reflections added to the diffuse tail.

    Raises:
        ValueError: ``rt60`` not finite and > 0, ``sample_rate < 1`` or ``n_reflections < 0``.
    """
    if not (math.isfinite(rt60) and rt60 > 0) or sample_rate < 1 or n_reflections < 0:
        raise ValueError(
            f"synthetic_rir: need rt60 > 0, sample_rate >= 1, n_reflections >= 0; got "
            f"rt60={rt60}, sample_rate={sample_rate}, n_reflections={n_reflections}"
        )
    n_tail = max(math.ceil(rt60 * sample_rate), 1)
    t = torch.arange(1, n_tail + 1, dtype=torch.float64) / sample_rate  # (n_tail,) s
    envelope = torch.exp(-3.0 * math.log(10.0) * t / rt60)
    tail = torch.randn(n_tail, generator=generator, dtype=torch.float64) * envelope
    last_early = min(max(round(EARLY_REVERB_SECONDS * sample_rate), 2), n_tail)
    first_early = min(max(round(0.001 * sample_rate), 1), last_early)
    if n_reflections:
        where = torch.randint(first_early - 1, last_early, (n_reflections,), generator=generator)
        size = 2.0 + 2.0 * torch.rand(n_reflections, generator=generator, dtype=torch.float64)
        sign = torch.randint(0, 2, (n_reflections,), generator=generator).double() * 2 - 1
        tail = tail.index_add(0, where, sign * size * envelope[where])
    tail = tail * math.sqrt(10.0 ** (-drr_db / 10.0) / float(tail.square().sum().clamp_min(1e-30)))
    return torch.cat([torch.ones(1, dtype=torch.float64), tail]).float()


def fft_convolve(wav: Tensor, kernel: Tensor, circular: bool = False) -> Tensor:
    """``wav (..., time)`` convolved with ``kernel (k,)`` by FFT, cropped to ``time`` samples.

    ``circular=False``: the first ``time`` samples of the linear convolution (the tail past
    the end is dropped); ``circular=True``: the circular convolution of period ``time``
    (the kernel folded onto the period first), for a signal that is itself a circular crop,
    such as a stationary noise segment, so it has no onset. Computed in float64, returned in
    ``wav``'s dtype.
    """
    time = wav.shape[-1]
    if time == 0:
        return wav.clone()
    x = wav.double()
    h = kernel.double().to(wav.device)
    if circular:
        h = torch.nn.functional.pad(h, (0, -h.numel() % time)).reshape(-1, time).sum(0)
        return torch.fft.irfft(torch.fft.rfft(x) * torch.fft.rfft(h), n=time).to(wav.dtype)
    n = 1 << (time + h.numel() - 2).bit_length()  # a power of two >= time + k - 1
    y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(h, n=n), n=n)
    return y[..., :time].to(wav.dtype)


def low_pass(wav: Tensor, sample_rate: int, cutoff_hz: float) -> Tensor:
    """``wav (..., time)`` low-passed at ``cutoff_hz``: a zero-phase FFT-domain filter.

    Gain 1 up to ``cutoff_hz``, a raised-cosine roll-off over the next sixth of an octave
    (to ``cutoff_hz * 2^(1/6)``, about 12 % higher) and 0 above, applied to the rFFT of the
    signal zero-padded to twice its length (so the filter's short ringing does not wrap
    round). The smooth edge keeps the ringing of a brick wall (Gibbs) short. Above the
    roll-off the output holds no energy beyond float rounding (measured through a tapered
    window; a plain DFT of the crop shows the leakage of its own cut edges), far beyond the
    stop band of a telephone channel (ITU-T G.712). Same shape and dtype as ``wav``.

    Raises:
        ValueError: ``cutoff_hz`` not in ``(0, sample_rate / 2)``.
    """
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(
            f"low_pass: cutoff_hz must be in (0, {sample_rate / 2:g}) Hz, got {cutoff_hz}"
        )
    time = wav.shape[-1]
    n = 2 * max(time, 1)
    freq = torch.fft.rfftfreq(n, d=1.0 / sample_rate, dtype=torch.float64).to(wav.device)
    edge = cutoff_hz * 2.0 ** (1.0 / 6.0)
    ramp = ((freq - cutoff_hz) / (edge - cutoff_hz)).clamp(0.0, 1.0)
    response = 0.5 * (1.0 + torch.cos(math.pi * ramp))  # 1 below the cutoff, 0 above the edge
    y = torch.fft.irfft(torch.fft.rfft(wav.double(), n=n) * response, n=n)
    return y[..., :time].to(wav.dtype)


def change_speed(wav: Tensor, factor: float) -> Tensor:
    """Play ``wav (..., time)`` ``factor`` times faster: ``(..., round(time / factor))``.

    Speed perturbation (Ko, Peddinti, Povey and Khudanpur, "Audio augmentation for speech
    recognition", Interspeech 2015): the waveform is resampled as if it had been recorded at
    ``factor`` times its rate, so duration shrinks by ``factor`` while pitch and formants rise
    by it, which to a model is another speaker's voice. Band-limited (libsoxr, see
    :func:`audioae.audio.resample`); ``factor`` is rounded to :data:`SPEED_RESOLUTION` steps.

    Raises:
        ValueError: ``factor`` not in [0.5, 2].
    """
    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"change_speed: factor must be in [0.5, 2], got {factor}")
    source_rate = round(factor * SPEED_RESOLUTION)
    return resample(wav, source_rate, SPEED_RESOLUTION)


__all__ = [
    "EARLY_REVERB_SECONDS",
    "change_speed",
    "colored_noise",
    "fft_convolve",
    "low_pass",
    "mix_at_snr",
    "random_biquad",
    "random_gain",
    "synthetic_rir",
]
