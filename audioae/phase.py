"""Phase paths from features back to a waveform: Griffin-Lim, ISTFT with a kept phase, and
mel -> linear magnitude inversion.

Shapes: magnitudes ``(..., n_freq, frames)`` with ``n_freq = n_fft // 2 + 1``, mel spectra
``(..., n_mels, frames)``, waveforms ``(..., time)``; everything runs on the input's device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from audioae.config import PhaseConfig
from audioae.functional import griffin_lim, istft

if TYPE_CHECKING:  # pragma: no cover
    from audioae.features import FrontEnd

__all__ = ["griffin_lim", "istft_with_phase", "mel_to_linear", "PhaseReconstructor"]


def istft_with_phase(
    magnitude: Tensor,
    reference_stft: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    length: int | None = None,
) -> Tensor:
    """Waveform from a magnitude and the phase of a reference STFT (e.g. the noisy input
    when denoising): ``ISTFT(magnitude * reference / |reference|)``.

    Bins where the reference is exactly 0 get zero phase.

    Args:
        magnitude: non-negative ``(..., n_freq, frames)``.
        reference_stft: complex ``(..., n_freq, frames)``, broadcastable to ``magnitude``.
        n_fft, hop_length, win_length, window, center, length: as for
            :func:`audioae.functional.istft`.

    Returns:
        Real waveform ``(..., time)``.

    Raises:
        ValueError: ``reference_stft`` is not complex or does not broadcast to ``magnitude``.
    """
    if not reference_stft.is_complex():
        raise ValueError("reference_stft must be a complex STFT (..., n_freq, frames)")
    try:
        shape = torch.broadcast_shapes(magnitude.shape, reference_stft.shape)
    except RuntimeError:
        raise ValueError(
            f"magnitude {tuple(magnitude.shape)} and reference_stft {tuple(reference_stft.shape)} do not broadcast"
        ) from None
    if shape[-2:] != magnitude.shape[-2:]:
        raise ValueError(
            f"reference_stft has {tuple(reference_stft.shape[-2:])} bins x frames, magnitude {tuple(magnitude.shape[-2:])}"
        )
    angle = reference_stft.to(magnitude.device).angle().to(magnitude.dtype)  # angle(0) = 0
    phasor = torch.polar(torch.ones_like(angle), angle)
    return istft(magnitude * phasor, n_fft, hop_length, win_length, window, center, length)


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
        filterbank: non-negative ``(n_mels, n_freq)``, e.g. :func:`audioae.functional.mel_filterbank`.
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


class PhaseReconstructor:
    """Features -> waveform: the front-end's linear magnitude, then Griffin-Lim (seeded) or,
    given a reference STFT, the ISTFT with the reference's phase.

    Args:
        frontend: an :class:`audioae.features.FrontEnd` (supplies ``to_magnitude`` and the
            STFT settings and window).
        config: :class:`audioae.config.PhaseConfig` (``n_iter``, ``momentum``, ``seed``).

    Each call draws Griffin-Lim's random initial phase from a fresh ``torch.Generator`` seeded
    with ``config.seed`` on the features' device, so the same features give the same waveform.
    """

    def __init__(self, frontend: FrontEnd, config: PhaseConfig | None = None):
        self.frontend = frontend
        self.config = config if config is not None else PhaseConfig()

    def magnitude(self, features: Tensor) -> Tensor:
        """Linear magnitude ``(..., n_freq, frames)`` of ``features (..., n_bins, frames)``."""
        return self.frontend.to_magnitude(features)

    def __call__(
        self, features: Tensor, length: int | None = None, reference_stft: Tensor | None = None
    ) -> Tensor:
        """Waveform ``(..., time)`` from ``features (..., n_bins, frames)``.

        Args:
            features: the front-end's features.
            length: exact output length in samples (default ``(frames - 1) * hop_length``).
            reference_stft: complex ``(..., n_freq, frames)``; when given, its phase is kept
                instead of running Griffin-Lim.

        Raises:
            ValueError: shapes inconsistent with the front-end, or a bad ``length``.
        """
        fe = self.frontend
        mag = self.magnitude(features)
        window = fe.window.to(device=mag.device, dtype=mag.dtype)
        if reference_stft is not None:
            return istft_with_phase(
                mag,
                reference_stft,
                fe.n_fft,
                fe.hop_length,
                fe.win_length,
                window,
                fe.center,
                length,
            )
        generator = torch.Generator(device=mag.device)
        generator.manual_seed(self.config.seed)
        return griffin_lim(
            mag,
            fe.n_fft,
            fe.hop_length,
            fe.win_length,
            window,
            n_iter=self.config.n_iter,
            momentum=self.config.momentum,
            init="random",
            generator=generator,
            length=length,
            center=fe.center,
            pad_mode=fe.pad_mode,
        )
