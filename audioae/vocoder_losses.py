"""Training losses of the learned decoder (:mod:`audioae.vocoder`).

All take waveforms ``(batch, time)`` or spectra ``(batch, n_freq, frames)`` and return a
scalar (the mean over the batch):

- :func:`mr_stft_loss`: spectral convergence + log-magnitude L1 at several resolutions
  (Yamamoto et al. 2020, Parallel WaveGAN);
- :func:`log_mel_loss`: L1 of log-mel spectra (HiFi-GAN, Vocos);
- :func:`magnitude_loss`: spectral convergence + log-magnitude L1 of a predicted magnitude
  against the reference's (the single-resolution term of Yamamoto et al. 2020, on the
  magnitude head rather than on the re-analysed waveform);
- :func:`complex_loss`: L1 of power-law compressed complex spectra, which trains the phase
  where the energy is (APNet2's real/imaginary loss with compression);
- :func:`phase_losses`: anti-wrapping losses on instantaneous phase, group delay and
  instantaneous angular frequency (APNet, Ai & Ling 2023), weighted by the reference
  magnitude so silent bins, whose phase is noise, do not dominate.

:func:`vocoder_loss` combines them with the weights of a
:class:`~audioae.config.VocoderLossConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from audioae import functional as AF
from audioae.config import VocoderLossConfig
from audioae.losses import LossResult

__all__ = [
    "anti_wrap",
    "complex_loss",
    "log_mel_loss",
    "magnitude_loss",
    "mr_stft_loss",
    "phase_losses",
    "vocoder_loss",
]

_MAG_EPS = 1e-5


def _magnitude(spec: Tensor) -> Tensor:
    """``|spec|`` with a finite gradient at 0: ``sqrt(re^2 + im^2 + eps^2)``."""
    re_im = torch.view_as_real(spec)
    return (re_im.square().sum(-1) + _MAG_EPS**2).sqrt()


def magnitude_loss(estimate: Tensor, reference: Tensor) -> Tensor:
    """Spectral convergence ``||R - E||_F / ||R||_F`` plus ``mean |log R - log E|`` of two
    linear magnitudes ``(batch, n_freq, frames)`` (``R``: the reference)."""
    floor = _MAG_EPS  # the least value of _magnitude
    sc = torch.linalg.vector_norm(reference - estimate, dim=(-2, -1)) / torch.linalg.vector_norm(
        reference, dim=(-2, -1)
    ).clamp_min(1e-7)
    log_l1 = (reference.clamp_min(floor).log() - estimate.clamp_min(floor).log()).abs().mean()
    return sc.mean() + log_l1


def mr_stft_loss(
    estimate: Tensor, reference: Tensor, resolutions: Sequence[Sequence[int]]
) -> Tensor:
    """Mean over ``resolutions`` (``(n_fft, hop_length)``) of spectral convergence
    ``||R| - |E||_F / ||R||_F`` plus ``mean |log |R| - log |E||``; waveforms ``(batch, time)``."""
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        window = AF.hann_window(n_fft, dtype=estimate.dtype, device=estimate.device)
        est = _magnitude(AF.stft(estimate, n_fft, hop, window=window))
        ref = _magnitude(AF.stft(reference, n_fft, hop, window=window))
        total = total + magnitude_loss(est, ref)  # _magnitude is >= its floor: clamps are no-ops
    return total / max(len(resolutions), 1)


def log_mel_loss(
    estimate: Tensor, reference: Tensor, filterbank: Tensor, stft: AF.StftParams
) -> Tensor:
    """``mean |log(M |E| + eps) - log(M |R| + eps)|`` with the mel filterbank ``M (n_mels,
    n_freq)`` at ``stft``'s settings; waveforms ``(batch, time)``."""
    window = AF.hann_window(stft.win_length, dtype=estimate.dtype, device=estimate.device)
    fb = filterbank.to(device=estimate.device, dtype=estimate.dtype)
    est = torch.matmul(fb, _magnitude(stft.stft(estimate, window)))
    ref = torch.matmul(fb, _magnitude(stft.stft(reference, window)))
    return (torch.log(est + _MAG_EPS) - torch.log(ref + _MAG_EPS)).abs().mean()


def complex_loss(estimate: Tensor, reference: Tensor, compression: float) -> Tensor:
    """``mean |c(E) - c(R)|`` over real and imaginary parts, ``c(X) = |X|^p exp(i angle X)``
    (``p = compression``); complex spectra ``(batch, n_freq, frames)``."""

    def compress(spec: Tensor) -> Tensor:
        mag = _magnitude(spec)
        return torch.view_as_real(spec) * (mag.pow(compression - 1.0)).unsqueeze(-1)

    return (compress(estimate) - compress(reference)).abs().mean()


def anti_wrap(x: Tensor) -> Tensor:
    """``|x - 2 pi round(x / 2 pi)|``: the distance of a phase difference to 0 on the circle."""
    return (x - 2.0 * math.pi * torch.round(x / (2.0 * math.pi))).abs()


def phase_losses(estimate: Tensor, reference: Tensor, magnitude: Tensor) -> dict[str, Tensor]:
    """Anti-wrapping phase losses (APNet) weighted by ``magnitude``.

    Args:
        estimate, reference: phases in radians ``(batch, n_freq, frames)``.
        magnitude: the reference magnitude ``(batch, n_freq, frames)``; the weights are its
            square root, normalised to mean 1 per item.

    Returns:
        ``{"phase_ip", "phase_gd", "phase_iaf"}``: instantaneous phase, group delay (the
        difference along frequency) and instantaneous angular frequency (along time); each
        is about ``pi / 2`` for a random phase and 0 for the reference.
    """
    w = magnitude.detach().sqrt()
    w = w / w.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-7)
    diff = estimate - reference

    def weighted(x: Tensor, weight: Tensor) -> Tensor:
        return (anti_wrap(x) * weight).mean()

    gd = torch.diff(estimate, dim=-2) - torch.diff(reference, dim=-2)
    iaf = torch.diff(estimate, dim=-1) - torch.diff(reference, dim=-1)
    return {
        "phase_ip": weighted(diff, w),
        "phase_gd": weighted(gd, 0.5 * (w[..., 1:, :] + w[..., :-1, :])),
        "phase_iaf": weighted(iaf, 0.5 * (w[..., 1:] + w[..., :-1])),
    }


def vocoder_loss(
    wav: Tensor,
    spec: Tensor,
    phase: Tensor,
    target_wav: Tensor,
    target_spec: Tensor,
    cfg: VocoderLossConfig,
    *,
    mel_filterbank: Tensor,
    stft: AF.StftParams,
    magnitude: Tensor | None = None,
) -> LossResult:
    """The weighted sum of the losses above (terms with weight 0 are skipped).

    Args:
        wav: the decoder's waveform ``(batch, time)``; ``target_wav`` the reference.
        spec: the decoder's complex spectrum ``(batch, n_freq, frames)`` and ``phase`` its phase.
        target_spec: the complex STFT of ``target_wav`` at the front-end's settings.
        cfg: the weights.
        mel_filterbank: ``(n_mels, n_freq)`` of the mel loss; ``stft`` the front-end's settings.
        magnitude: the magnitude head ``(batch, n_freq, frames)``; default ``|spec|``.

    Returns:
        :class:`~audioae.losses.LossResult` with every computed term (detached) and ``total``.
    """
    terms: dict[str, Tensor] = {}
    total = wav.new_zeros(())
    if cfg.mr_stft_weight > 0:
        terms["mr_stft"] = mr_stft_loss(wav, target_wav, cfg.resolutions)
        total = total + cfg.mr_stft_weight * terms["mr_stft"]
    if cfg.mel_weight > 0:
        terms["mel"] = log_mel_loss(wav, target_wav, mel_filterbank, stft)
        total = total + cfg.mel_weight * terms["mel"]
    if cfg.magnitude_weight > 0:
        head = _magnitude(spec) if magnitude is None else magnitude
        terms["magnitude"] = magnitude_loss(head, _magnitude(target_spec))
        total = total + cfg.magnitude_weight * terms["magnitude"]
    if cfg.complex_weight > 0:
        terms["complex"] = complex_loss(spec, target_spec, cfg.compression)
        total = total + cfg.complex_weight * terms["complex"]
    weights = {
        "phase_ip": cfg.phase_ip_weight,
        "phase_gd": cfg.phase_gd_weight,
        "phase_iaf": cfg.phase_iaf_weight,
    }
    if any(v > 0 for v in weights.values()):
        for name, value in phase_losses(
            phase, target_spec.angle(), _magnitude(target_spec)
        ).items():
            terms[name] = value
            total = total + weights[name] * value
    terms = {name: value.detach() for name, value in terms.items()}
    terms["total"] = total.detach()
    return LossResult(total=total, terms=terms)
