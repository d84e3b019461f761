"""Mel filterbank (exactly ``librosa.filters.mel``) and the inverse of a mel spectrogram.
Re-exported by :mod:`audioae.functional`, the module to import them from.
"""

from __future__ import annotations

import functools
import math

import librosa
import numpy as np
import torch
from torch import Tensor


@functools.lru_cache(maxsize=32)
def _mel_numpy(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float,
    f_max: float | None,
    htk: bool,
    norm: str | None,
) -> np.ndarray:
    fb = librosa.filters.mel(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=f_min,
        fmax=f_max,
        htk=htk,
        norm=norm,
        dtype=np.float64,
    )
    fb.setflags(write=False)
    return fb


def check_mel_bands(sample_rate: float, n_mels: int, f_min: float, f_max: float | None) -> None:
    """Refuse a mel band layout with no filters to build: ``n_mels`` <= 0, or band edges
    outside ``0 <= f_min < f_max <= sample_rate / 2`` (``f_max`` None: ``sample_rate / 2``).

    Raises:
        ValueError: naming the values and the rule.
    """
    nyquist = sample_rate / 2
    top = nyquist if f_max is None else f_max
    if n_mels <= 0 or not 0 <= f_min < top <= nyquist:
        raise ValueError(
            f"need n_mels > 0 and 0 <= f_min < f_max <= sample_rate / 2 = {nyquist}; got "
            f"n_mels={n_mels}, f_min={f_min}, f_max={f_max}"
        )


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Triangular mel filterbank, exactly ``librosa.filters.mel`` (Slaney 1998 Auditory Toolbox
    mel scale by default, HTK formula with ``htk=True``), cached per argument set.

    Args:
        sample_rate: Hz. n_fft: FFT size in samples. n_mels: number of filters.
        f_min, f_max: band edges in Hz (``f_max`` default ``sample_rate / 2``).
        htk: use the HTK mel formula instead of Slaney's.
        norm: ``"slaney"`` (each filter divided by its width in Hz, constant energy per
            channel) or None (peak 1).

    Returns:
        Tensor ``(n_mels, n_fft // 2 + 1)``, a fresh copy the caller may modify.

    Raises:
        ValueError: non-positive sizes, band edges outside ``0 <= f_min < f_max <=
            sample_rate / 2`` (:func:`check_mel_bands`; librosa returns empty filters there,
            with a warning), or an unknown ``norm``.
    """
    if sample_rate <= 0 or n_fft <= 0 or n_mels <= 0:
        raise ValueError(
            f"sample_rate, n_fft and n_mels must be > 0, got {sample_rate}, {n_fft}, {n_mels}"
        )
    check_mel_bands(sample_rate, n_mels, f_min, f_max)
    if norm not in ("slaney", None):
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    fb = _mel_numpy(
        int(sample_rate),
        int(n_fft),
        int(n_mels),
        float(f_min),
        f_max if f_max is None else float(f_max),
        bool(htk),
        norm,
    )
    return torch.tensor(fb, dtype=dtype, device=device)


def mel_to_linear(mel: Tensor, filterbank: Tensor, n_iter: int = 100) -> Tensor:
    """Non-negative linear magnitude ``X`` with ``filterbank @ X ~ mel``: non-negative least
    squares ``min ||filterbank @ X - mel||_F^2, X >= 0``, one problem per frame, batched.

    Solver: accelerated projected gradient (FISTA; Beck & Teboulle, "A fast iterative
    shrinkage-thresholding algorithm for linear inverse problems", SIAM J. Imaging Sci. 2009)
    in the diagonal metric ``D = diag(A^T A 1)`` (``A = filterbank``), which majorises
    ``A^T A`` for a non-negative ``A`` (the bound behind Lee & Seung's multiplicative NNLS/NMF
    updates, NIPS 2001), so the per-bin step ``1 / D_jj`` is safe and projection stays a clamp
    at 0. Compared with the scalar step ``1 / ||A||_2^2`` it converges faster on the wide
    (small-weight) high-frequency Slaney filters. Started from the pseudo-inverse solution
    clipped at 0 (the start ``librosa.feature.inverse.mel_to_stft`` uses before L-BFGS-B).
    The problem is underdetermined (``n_mels < n_freq``); bins no filter covers stay at 0.

    Args:
        mel: non-negative mel magnitude ``(..., n_mels, frames)``.
        filterbank: non-negative ``(n_mels, n_freq)``, e.g. :func:`mel_filterbank`.
        n_iter: FISTA iterations (0 returns the clipped pseudo-inverse).

    Returns:
        ``(..., n_freq, frames)`` in ``mel``'s dtype and device.

    Raises:
        ValueError: shape mismatch between ``mel`` and ``filterbank``, a negative
            filterbank, or ``n_iter < 0``.
    """
    if filterbank.dim() != 2 or mel.dim() < 2 or mel.shape[-2] != filterbank.shape[0]:
        raise ValueError(
            f"mel {tuple(mel.shape)} does not match filterbank {tuple(filterbank.shape)}: expected mel (..., n_mels, frames)"
        )
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    fb64 = filterbank.detach().to(device=mel.device, dtype=torch.float64)
    if bool((fb64 < 0).any()):
        raise ValueError("filterbank must be non-negative")
    pinv = torch.linalg.pinv(fb64).to(mel.dtype)  # (n_freq, n_mels)
    diag = fb64.transpose(0, 1) @ fb64.sum(dim=1)  # D_jj = (A^T A 1)_j, (n_freq,)
    step = torch.where(diag > 0, 1.0 / diag.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    step = step.to(mel.dtype).unsqueeze(-1)  # (n_freq, 1); 0 where no filter covers the bin
    fb = fb64.to(mel.dtype)
    fb_t = fb.transpose(0, 1)
    x = (pinv @ mel).clamp_min_(0.0)  # (..., n_freq, frames)
    y = x
    t = 1.0
    for _ in range(n_iter):
        grad = fb_t @ (fb @ y - mel)
        x_next = (y - step * grad).clamp_min_(0.0)
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        y = x_next + ((t - 1.0) / t_next) * (x_next - x)
        x, t = x_next, t_next
    return x
