"""From a decoder's raw output to a bounded mask: the magnitude mask and the complex ratio mask.

Mask models (``model.output: mask`` or ``crm``) end in a layer of raw values ("logits"); this
module is the one place that turns them into the mask, for the model's forward, the packed
streaming path (:mod:`audioae.streaming_layers`) and any other caller.

- ``mask``: ``sigmoid(logits)``, a gain in [0, 1] per bin, ``(batch, n_bins, frames)``.
- ``crm``: a complex ratio mask (Williamson, Wang & Wang, "Complex ratio masking for monaural
  speech separation", 2016), ``(batch, n_bins, frames)`` complex, from ``2 * n_bins`` logit
  channels: the first ``n_bins`` the real part, the last ``n_bins`` the imaginary part.
  The magnitude is bounded with a tanh as in DCCRN-E (Hu et al. 2020), the phase left free:
  with ``z = (CRM_OFFSET + real) + i imag``,

      M = z * CRM_BOUND * tanh(|z| / CRM_BOUND) / |z|,   so   |M| <= CRM_BOUND.

  ``CRM_BOUND`` is 2 rather than DCCRN's 1: the ideal mask ``S / Y`` exceeds 1 in magnitude
  wherever the noise partly cancels the speech (noise and speech in opposite phase).
  Measured on the bundled train-split speech and noise (``scripts/crm_bound_stats.py``: 40 mixtures per
  SNR, n_fft 512, hop 128): at 0 / 5 / 10 dB SNR, 47-49 % of the clean energy lies in bins
  with ``|S / Y| > 1`` but only 1.0 / 0.4 / 0.2 % in bins with ``|S / Y| > 2``; the ideal
  mask clipped to ``|M| <= 1`` reconstructs the clean speech at 23 / 25 / 28 dB SDR, clipped
  to 2 at 35 / 38 / 41 dB (the ideal magnitude mask with the noisy phase: 13 / 16 / 20 dB).
  A bound of 2 thus covers nearly every bin, yet limits how much an unsure model can amplify
  (Williamson et al. compress each part to [-10, 10] instead). ``CRM_OFFSET = 2 atanh(1 / 2)``
  makes zero logits the identity mask (``M = 1``), so an untrained model, whose last layer
  outputs values near zero, starts close to passing its input through.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "CRM_BOUND",
    "CRM_OFFSET",
    "MAX_MASK_EXPONENT",
    "MAX_POST_FILTER",
    "check_mask_exponent",
    "check_post_filter",
    "post_filter",
    "shape_mask",
    "complex_ratio_mask",
    "magnitude_mask",
    "mask_from_logits",
    "sharpen_mask",
]

CRM_BOUND = 2.0
CRM_OFFSET = CRM_BOUND * math.atanh(1.0 / CRM_BOUND)  # |M| = 1 for zero logits
MAX_MASK_EXPONENT = 8.0


def magnitude_mask(logits: torch.Tensor) -> torch.Tensor:
    """``sigmoid(logits)``: a magnitude mask in [0, 1], same shape as ``logits``."""
    return torch.sigmoid(logits)


def complex_ratio_mask(logits: torch.Tensor, n_bins: int) -> torch.Tensor:
    """The bounded complex ratio mask of ``logits`` (see the module docstring).

    Computed in float32 (or float64 for float64 logits), also under autocast.

    Args:
        logits: real ``(..., 2 * n_bins, frames)``: real parts, then imaginary parts.
        n_bins: mask bins.

    Returns:
        Complex ``(..., n_bins, frames)`` with ``|mask| <= CRM_BOUND``; zero logits give 1.

    Raises:
        ValueError: ``logits`` has not ``2 * n_bins`` channels.
    """
    if logits.dim() < 2 or logits.shape[-2] != 2 * n_bins:
        raise ValueError(
            f"a complex ratio mask needs logits (..., {2 * n_bins}, frames), got {tuple(logits.shape)}"
        )
    if logits.dtype != torch.float64:
        logits = logits.float()
    real = logits[..., :n_bins, :] + CRM_OFFSET
    imag = logits[..., n_bins:, :]
    radius = torch.sqrt(real.square() + imag.square() + 1e-12)
    gain = CRM_BOUND * torch.tanh(radius / CRM_BOUND) / radius  # -> 1 as radius -> 0
    return torch.complex(real * gain, imag * gain)


def mask_from_logits(logits: torch.Tensor, n_bins: int, complex_mask: bool) -> torch.Tensor:
    """:func:`complex_ratio_mask` when ``complex_mask``, else :func:`magnitude_mask`.

    Args:
        logits: ``(..., n_bins, frames)``, or ``(..., 2 * n_bins, frames)`` for a complex mask.
        n_bins: mask bins.
        complex_mask: the model predicts a complex ratio mask (``model.output: crm``).

    Returns:
        ``(..., n_bins, frames)``: real in [0, 1], or complex with ``|mask| <= CRM_BOUND``.

    Raises:
        ValueError: wrong channel count.
    """
    if complex_mask:
        return complex_ratio_mask(logits, n_bins)
    if logits.dim() < 2 or logits.shape[-2] != n_bins:
        raise ValueError(f"expected mask logits (..., {n_bins}, frames), got {tuple(logits.shape)}")
    return magnitude_mask(logits)


def check_mask_exponent(exponent: float) -> float:
    """``exponent`` as a float when it is a usable :func:`sharpen_mask` exponent.

    Raises:
        ValueError: not a finite number in ``(0, MAX_MASK_EXPONENT]``.
    """
    value = float(exponent)
    if not (math.isfinite(value) and 0.0 < value <= MAX_MASK_EXPONENT):
        raise ValueError(f"mask_exponent: must be in (0, {MAX_MASK_EXPONENT:g}], got {exponent}")
    return value


def sharpen_mask(mask: torch.Tensor, exponent: float) -> torch.Tensor:
    """A mask's gains raised to ``exponent``: above 1 it suppresses more, below 1 less.

    Every gain ``g = |mask|`` up to 1 becomes ``g ** exponent`` (a gain of 0 or 1 is kept);
    a complex mask keeps its phase, and its gains above 1 (where the model amplifies a bin)
    are left alone. This is the gain exponent of the parametric Wiener filter (Lim &
    Oppenheim, "Enhancement and bandwidth compression of noisy speech", 1979), applied after
    the model: a mask trained with a magnitude or waveform loss leaves residual noise in the
    bins it is unsure of, and an exponent above 1 trades some of it for speech distortion
    (the same trade as DeepFilterNet's optional post-filter, Schroeter et al. 2022, after
    PercepNet, Valin et al. 2020). ``exponent == 1`` returns ``mask`` itself.

    Args:
        mask: real ``(..., n_bins, frames)`` in [0, 1], or complex.
        exponent: in ``(0, MAX_MASK_EXPONENT]``.

    Returns:
        Same shape and dtype as ``mask``.

    Raises:
        ValueError: ``exponent`` out of range.
    """
    exponent = check_mask_exponent(exponent)
    if exponent == 1.0:
        return mask
    if not mask.is_complex():
        return mask.clamp(0.0, 1.0).pow(exponent)
    gain = mask.abs().clamp_min(1e-12)
    factor = torch.where(gain < 1.0, gain.pow(exponent - 1.0), torch.ones_like(gain))
    return mask * factor


MAX_POST_FILTER = 1.0
"""Largest accepted :func:`post_filter` ``beta`` (DeepFilterNet's default is 0.02)."""


def check_post_filter(beta: float) -> float:
    """``beta`` as a float when it is a usable :func:`post_filter` strength.

    Raises:
        ValueError: not a finite number in ``[0, MAX_POST_FILTER]``.
    """
    value = float(beta)
    if not (math.isfinite(value) and 0.0 <= value <= MAX_POST_FILTER):
        raise ValueError(f"post_filter: must be in [0, {MAX_POST_FILTER:g}], got {beta}")
    return value


def post_filter(mask: torch.Tensor, beta: float) -> torch.Tensor:
    """The perceptually motivated post-filter of PercepNet (Valin et al., "A perceptually-
    motivated approach for low-complexity, real-time enhancement of fullband speech", 2020),
    as DeepFilterNet applies it (Schroeter et al., "DeepFilterNet2", 2022).

    Each gain ``g = min(|mask|, 1)`` is multiplied by ``(1 + beta) / (1 + beta / sin(pi g / 2)^2)``:
    1 at ``g = 1``, above 0.98 for ``g >= 0.5`` at ``beta = 0.02``, and falling towards 0 with
    ``g`` (0.56 at ``g = 0.1``), so bins the model already attenuates are attenuated further
    (less residual noise between words) while bins it keeps are left nearly alone. A complex
    mask keeps its phase. ``beta == 0`` returns ``mask`` itself.

    Args:
        mask: real ``(..., n_bins, frames)`` in [0, 1], or complex.
        beta: strength in ``[0, MAX_POST_FILTER]``.

    Returns:
        Same shape and dtype as ``mask``.

    Raises:
        ValueError: ``beta`` out of range.
    """
    beta = check_post_filter(beta)
    if beta == 0.0:
        return mask
    gain = (mask.abs() if mask.is_complex() else mask).clamp(1e-12, 1.0)
    sine = torch.sin(0.5 * math.pi * gain).clamp_min(1e-12)
    return mask * ((1.0 + beta) / (1.0 + beta / sine.square()))


def shape_mask(mask: torch.Tensor, exponent: float = 1.0, beta: float = 0.0) -> torch.Tensor:
    """:func:`sharpen_mask` with ``exponent``, then :func:`post_filter` with ``beta``: what the
    denoising paths apply to a model's mask (both 1 / 0: the mask itself).

    Raises:
        ValueError: ``exponent`` or ``beta`` out of range.
    """
    return post_filter(sharpen_mask(mask, exponent), beta)
