"""Reference methods the demo and the benchmarks compare the models with.

Spectral subtraction (denoising)
    Power spectral subtraction (Boll, "Suppression of acoustic noise in speech using spectral
    subtraction", IEEE TASSP 1979) with over-subtraction and a spectral floor (Berouti, Schwartz
    & Makhoul, ICASSP 1979): ``|S|^2 = |Y~|^2 - alpha sigma^2``, floored at ``beta sigma^2``,
    where ``|Y~|^2`` is the noisy power smoothed recursively over frames (Boll's magnitude
    averaging) and ``alpha = alpha_0 - slope * SNR_seg`` (segmental a-posteriori SNR in dB)
    clipped to ``[1, alpha_max]``. Waveforms ``(..., time)`` in, the same shape out; analysis
    is an STFT with a periodic Hann window of ``frame_ms`` (rounded to a power of two in
    samples; the tuned 128 ms is ``n_fft = 2048`` at 16 kHz) and a hop of a quarter of it;
    synthesis is the weighted overlap-add inverse with the noisy phase. The frame recursions
    run in NumPy float64 on the CPU.

    The noise PSD comes from the noisy input alone: :func:`track_noise_psd` is the
    speech-presence-probability (SPP) MMSE tracker of Gerkmann & Hendriks, "Unbiased
    MMSE-based noise power estimation with low complexity and low tracking delay", IEEE TASLP
    20(4), 2012 (fixed a-priori SNR of 15 dB, equal priors, stagnation avoidance, smoothing
    0.8), started from a quantile estimate (Stahl, Fischer & Bippus, ICASSP 2000): per bin, the
    mean power of the ``init_quantile`` quietest frames of the clip. The parameters were tuned
    on the train split (``benchmarks/baselines/classical.py``, which also holds the Wiener
    filter built on the same tracker).

Opus (compression)
    Opus (IETF RFC 6716, Valin et al. 2012) through the ``ffmpeg`` command-line tool with
    libopus. :func:`opus_roundtrip` writes the signal to a temporary 16-bit WAV, encodes it with
    ``ffmpeg -c:a libopus -b:a <K>k`` (libopus defaults otherwise: VBR, ``application=audio``,
    complexity 10, 20 ms frames) into an Ogg Opus file, decodes that back to 48 kHz float WAV
    and resamples it to the input rate with soxr. The Ogg pre-skip is applied by the decoder,
    so the output is time-aligned with the input. Metadata is stripped so the file holds only
    the Ogg/Opus headers and the packets; the real bitrate is measured from the file size,
    container included. libopus accepts 6..510 kbit/s per channel; requests below 6 are
    refused rather than silently raised. Needs ``ffmpeg`` on the PATH
    (:func:`ffmpeg_has_libopus`).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from .audio import resample
from .functional import istft, stft

__all__ = [
    "OPUS_MIN_KBPS",
    "NoiseTrackerParams",
    "OpusResult",
    "SpectralSubtractionParams",
    "ffmpeg_has_libopus",
    "opus_roundtrip",
    "spectral_subtraction",
    "track_noise_psd",
]


@dataclass(frozen=True)
class NoiseTrackerParams:
    """SPP-MMSE noise tracker (Gerkmann & Hendriks 2012) and its quantile initialisation.

    ``xi_h1_db``: fixed a-priori SNR (dB) assumed under speech presence; ``prior_h1``: prior
    speech-presence probability; ``alpha_pow``: smoothing of the noise PSD; ``alpha_spp`` and
    ``spp_cap``: stagnation avoidance; ``init_quantile``: fraction of the quietest frames
    averaged for the initial PSD; ``init_scale``: factor on that estimate.
    """

    xi_h1_db: float = 15.0
    prior_h1: float = 0.5
    alpha_pow: float = 0.8
    alpha_spp: float = 0.9
    spp_cap: float = 0.99
    init_quantile: float = 0.3
    init_scale: float = 1.0


@dataclass(frozen=True)
class SpectralSubtractionParams:
    """Power spectral subtraction (Boll 1979; Berouti et al. 1979).

    ``frame_ms``: analysis window (ms; hop is a quarter of it); ``alpha0``: over-subtraction
    factor at 0 dB segmental SNR, decreasing by ``slope`` per dB and clipped to
    ``[1, alpha_max]``; ``beta``: spectral floor as a fraction of the noise PSD;
    ``smoothing``: recursive averaging of the noisy power over frames (0 = none).
    """

    frame_ms: float = 128.0
    alpha0: float = 5.0
    slope: float = 0.1
    alpha_max: float = 5.0
    beta: float = 0.1
    smoothing: float = 0.0
    tracker: NoiseTrackerParams = NoiseTrackerParams()


def _frame_sizes(frame_ms: float, sample_rate: int) -> tuple[int, int]:
    n_fft = 2 ** round(math.log2(frame_ms * 1e-3 * sample_rate))
    return n_fft, n_fft // 4


def _analyse(wav: Tensor, frame_ms: float, sample_rate: int) -> tuple[Tensor, Tensor, int, int]:
    """``wav (..., time)`` -> (``spec (batch, n_freq, frames)`` complex, power, n_fft, hop)."""
    if not wav.is_floating_point():
        raise TypeError(f"expected a floating-point waveform, got {wav.dtype}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
    n_fft, hop = _frame_sizes(frame_ms, sample_rate)
    spec = stft(wav.reshape(-1, wav.shape[-1]), n_fft, hop)
    power = spec.real.square() + spec.imag.square()
    return spec, power, n_fft, hop


def _synthesise(spec: Tensor, gain: Tensor, like: Tensor, n_fft: int, hop: int) -> Tensor:
    out = istft(spec * gain, n_fft, hop, length=like.shape[-1])
    return out.reshape(like.shape).to(like.dtype)


def _tracker_numpy(power: np.ndarray, params: NoiseTrackerParams) -> np.ndarray:
    """:func:`track_noise_psd` on a frame-major float64 array ``(frames, batch, n_freq)``."""
    frames, batch, n_freq = power.shape
    tiny = np.finfo(np.float64).tiny
    count = max(1, int(round(params.init_quantile * frames)))
    order = np.argsort(power.sum(-1), axis=0, kind="stable")[:count]  # (count, batch)
    quiet = np.take_along_axis(power, order[:, :, None], axis=0)  # (count, batch, n_freq)
    sigma = np.maximum(quiet.mean(0) * params.init_scale, tiny)
    xi_h1 = 10.0 ** (params.xi_h1_db / 10.0)
    ratio = (1.0 - params.prior_h1) / params.prior_h1 * (1.0 + xi_h1)
    expo = xi_h1 / (1.0 + xi_h1)
    a_pow, a_spp, cap = params.alpha_pow, params.alpha_spp, params.spp_cap
    smoothed_spp = np.zeros_like(sigma)
    out = np.empty_like(power)
    for t in range(frames):
        y = power[t]
        spp = 1.0 / (1.0 + ratio * np.exp(-np.minimum(y / sigma, 80.0) * expo))
        smoothed_spp = a_spp * smoothed_spp + (1.0 - a_spp) * spp
        spp = np.where(smoothed_spp > cap, np.minimum(spp, cap), spp)
        sigma = np.maximum(a_pow * sigma + (1.0 - a_pow) * ((1.0 - spp) * y + spp * sigma), tiny)
        out[t] = sigma
    return out


def _frame_major(power: Tensor) -> np.ndarray:
    """``(batch, n_freq, frames)`` tensor -> ``(frames, batch, n_freq)`` contiguous float64 array."""
    return np.ascontiguousarray(power.detach().to("cpu", torch.float64).numpy().transpose(2, 0, 1))


def _to_tensor(frame_major: np.ndarray, like: Tensor) -> Tensor:
    """``(frames, batch, n_freq)`` array -> ``(batch, n_freq, frames)`` tensor on ``like``'s device/dtype."""
    return torch.from_numpy(np.ascontiguousarray(frame_major.transpose(1, 2, 0))).to(
        like.device, like.dtype
    )


def track_noise_psd(power: Tensor, params: NoiseTrackerParams = NoiseTrackerParams()) -> Tensor:
    """Noise power spectral density per frame, tracked from the noisy power alone.

    Speech-presence-probability MMSE tracker (Gerkmann & Hendriks, IEEE TASLP 2012) started
    from a quantile estimate (Stahl et al., ICASSP 2000); see the module docstring. The
    frame recursion runs in NumPy (float64) on the CPU: its per-frame vectors are tiny, so
    torch's per-operation overhead would dominate; the result returns to ``power``'s device.

    Args:
        power: noisy periodogram ``|Y|^2``, ``(batch, n_freq, frames)``, non-negative.
        params: tracker settings.

    Returns:
        Noise PSD estimate ``(batch, n_freq, frames)``, ``power``'s dtype and device; the
        estimate for frame ``t`` is the one updated with frame ``t`` (as in the paper).

    Raises:
        ValueError: ``power`` is not 3-D or has no frames.
    """
    if power.dim() != 3 or power.shape[-1] == 0:
        raise ValueError(
            f"expected power (batch, n_freq, frames > 0), got shape {tuple(power.shape)}"
        )
    return _to_tensor(_tracker_numpy(_frame_major(power), params), power)


def spectral_subtraction(
    wav: Tensor, sample_rate: int, params: SpectralSubtractionParams = SpectralSubtractionParams()
) -> Tensor:
    """Power spectral subtraction with over-subtraction and a spectral floor (Boll 1979; Berouti 1979).

    Args:
        wav: noisy waveform ``(..., time)``, float, at ``sample_rate`` Hz.
        sample_rate: Hz; sets the frame size (``params.frame_ms``).
        params: see :class:`SpectralSubtractionParams`.

    Returns:
        Enhanced waveform, same shape, dtype and device as ``wav`` (noisy phase).

    Raises:
        TypeError: ``wav`` is not floating point.  ValueError: ``sample_rate <= 0``.
    """
    spec, power, n_fft, hop = _analyse(wav, params.frame_ms, sample_rate)
    p = _frame_major(power)  # (frames, batch, n_freq)
    noise = _tracker_numpy(p, params.tracker)
    smooth = np.empty_like(p)
    acc = p[0]
    for t in range(p.shape[0]):  # Boll's averaging of the noisy power over frames
        acc = params.smoothing * acc + (1.0 - params.smoothing) * p[t]
        smooth[t] = acc
    tiny = np.finfo(np.float64).tiny
    snr_seg = 10.0 * np.log10(
        np.maximum(smooth.sum(-1, keepdims=True), tiny) / noise.sum(-1, keepdims=True)
    )
    alpha = np.clip(
        params.alpha0 - params.slope * snr_seg, 1.0, params.alpha_max
    )  # (frames, batch, 1)
    clean = np.maximum(smooth - alpha * noise, params.beta * noise)
    gain = np.minimum(np.sqrt(clean / np.maximum(p, tiny)), 1.0)
    return _synthesise(spec, _to_tensor(gain, power), wav, n_fft, hop)


# ----------------------------------------------------------------------------- Opus

OPUS_MIN_KBPS = 6.0


@dataclass(frozen=True)
class OpusResult:
    """``decoded``: ``(time,)`` float32 at the input rate and length; ``num_bytes``: size of the
    ``.opus`` file; ``bitrate_kbps``: ``num_bytes * 8 / duration / 1000`` (container included);
    ``requested_kbps``: the ``-b:a`` value; ``seconds``: encode + decode wall time."""

    decoded: Tensor
    num_bytes: int
    bitrate_kbps: float
    requested_kbps: float
    seconds: float


def ffmpeg_has_libopus() -> bool:
    """True when ``ffmpeg`` is on the PATH and lists the ``libopus`` encoder."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return False
    out = subprocess.run(
        [exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    )
    return " libopus " in out.stdout


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        raise RuntimeError(
            f"{' '.join(cmd[:3])} ... failed ({result.returncode}): {' | '.join(tail)}"
        )


def opus_roundtrip(wav: Tensor, sample_rate: int, kbps: float) -> OpusResult:
    """Encode a mono signal with Opus at ``kbps`` kbit/s and decode it back.

    Args:
        wav: ``(time,)`` or ``(1, time)`` float in [-1, 1] at ``sample_rate`` Hz (written as
            16-bit PCM for ffmpeg).
        sample_rate: Hz (any rate ffmpeg reads; Opus itself runs at 48 kHz).
        kbps: requested bitrate, kbit/s (``-b:a``), at least 6.

    Returns:
        :class:`OpusResult`.

    Raises:
        ValueError: ``kbps`` below Opus's minimum of 6 kbit/s, or a multi-channel input.
        FileNotFoundError: ``ffmpeg`` is not installed.
        RuntimeError: ffmpeg failed (e.g. built without libopus).
    """
    if kbps < OPUS_MIN_KBPS:
        raise ValueError(f"Opus needs at least {OPUS_MIN_KBPS} kbit/s, got {kbps}")
    x = wav.detach().to("cpu", torch.float32)
    if x.dim() == 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 1:
        raise ValueError(
            f"opus_roundtrip expects a mono (time,) signal, got shape {tuple(wav.shape)}"
        )
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FileNotFoundError("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="audioae_opus_") as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / "out.opus", Path(tmp) / "dec.wav"
        sf.write(str(src), x.clamp(-1.0, 1.0).numpy(), sample_rate, subtype="PCM_16")
        start = time.perf_counter()
        quiet = [exe, "-hide_banner", "-loglevel", "error", "-y"]
        _run(
            [
                *quiet,
                "-i",
                str(src),
                "-c:a",
                "libopus",
                "-b:a",
                f"{kbps:g}k",
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(enc),
            ]
        )
        _run([*quiet, "-i", str(enc), "-ar", "48000", "-c:a", "pcm_f32le", str(dec)])
        seconds = time.perf_counter() - start
        num_bytes = enc.stat().st_size
        data, rate = sf.read(str(dec), dtype="float32", always_2d=True)
    decoded = resample(torch.from_numpy(data[:, 0].copy()), rate, sample_rate)
    n = x.shape[-1]
    decoded = torch.nn.functional.pad(decoded, (0, max(0, n - decoded.shape[-1])))[:n]
    return OpusResult(
        decoded, num_bytes, num_bytes * 8.0 * sample_rate / n / 1000.0, float(kbps), seconds
    )
