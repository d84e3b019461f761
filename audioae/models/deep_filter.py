"""Deep filtering: a short complex filter over neighbouring STFT frames on the low bins.

A gain per bin (a magnitude mask) can only scale what one frame holds. Deep filtering
(Mack & Habets, "Deep filtering: signal extraction and reconstruction using complex
time-frequency filters", 2020; Schroeter, Escalante-B., Rosenkranz & Maier, "DeepFilterNet",
2022) gives each low bin a complex FIR filter over ``order`` frames of the noisy STFT ``X``,
``lookahead`` of them in the future, which can rebuild a harmonic's phase and fill a bin the
noise dominates from the frames around it. audioae adds the filter to the mask's output
instead of replacing it (a residual form), so a model whose filter head outputs zeros is the
magnitude-mask model it was fine-tuned from:

    Y(t, f) = G(t, f) X(t, f) + sum_{i=0}^{order-1} C_i(t, f) X(t + i - order + 1 + lookahead, f)

for ``f < df_bins`` (frames outside the signal count as zero), ``Y = G X`` above. Each
coefficient's real and imaginary parts are the softsign ``r / (1 + |r|)`` of the head's raw
output ``r`` (bounded like DeepFilterNet's tanh, ``|Re|, |Im| < 1``, at a fraction of its
cost on a CPU). Coefficients are kept as real tensors ``(batch, 2, order, df_bins, frames)``
(real parts, imaginary parts), and the filter runs in real arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["deep_filter_coefficients", "apply_deep_filter"]


def deep_filter_coefficients(raw: torch.Tensor, df_bins: int, order: int) -> torch.Tensor:
    """Filter coefficients from a head's raw output.

    Args:
        raw: real ``(batch, 2 * order * df_bins, frames)``: the real parts (tap-major, then
            bin), then the imaginary parts.
        df_bins: filtered bins.
        order: taps per bin.

    Returns:
        Real ``(batch, 2, order, df_bins, frames)``: real parts, then imaginary parts, each
        in (-1, 1); float32 (float64 for float64 input).

    Raises:
        ValueError: ``raw`` has not ``2 * df_bins * order`` channels.
    """
    if raw.dim() != 3 or raw.shape[1] != 2 * df_bins * order:
        raise ValueError(
            f"deep-filter coefficients need (batch, {2 * df_bins * order}, frames), "
            f"got {tuple(raw.shape)}"
        )
    if raw.dtype != torch.float64:
        raw = raw.float()
    return (raw / (1.0 + raw.abs())).unflatten(1, (2, order, df_bins))


def apply_deep_filter(
    spec: torch.Tensor, mask: torch.Tensor, coefficients: torch.Tensor, lookahead: int
) -> torch.Tensor:
    """The enhanced STFT ``Y`` of the module docstring.

    Args:
        spec: the noisy complex STFT ``(batch, n_freq, frames)``.
        mask: the magnitude mask ``(batch, n_freq, frames)`` (real).
        coefficients: real ``(batch, 2, order, df_bins, frames)`` (real parts, imaginary
            parts; :func:`deep_filter_coefficients`), ``df_bins <= n_freq``.
        lookahead: future frames the filter reads, ``0 <= lookahead < order``.

    Returns:
        Complex ``(batch, n_freq, frames)``, the dtype of ``spec``.

    Raises:
        ValueError: ``spec`` is not complex, ``mask`` is, or the shapes or ``lookahead``
            do not fit.
    """
    if not spec.is_complex() or mask.is_complex():
        raise ValueError(
            f"spec must be a complex STFT and mask real, got {spec.dtype} and {mask.dtype}"
        )
    if spec.dim() != 3 or mask.shape != spec.shape:
        raise ValueError(
            f"spec and mask must both be (batch, n_freq, frames); got {tuple(spec.shape)} "
            f"and {tuple(mask.shape)}"
        )
    batch, n_freq, frames = spec.shape
    if (
        coefficients.dim() != 5
        or coefficients.shape[:2] != (batch, 2)
        or coefficients.shape[3] > n_freq
        or coefficients.shape[4] != frames
    ):
        raise ValueError(
            f"coefficients must be ({batch}, 2, order, df_bins <= {n_freq}, {frames}), "
            f"got {tuple(coefficients.shape)}"
        )
    order, df_bins = coefficients.shape[2], coefficients.shape[3]
    if not 0 <= lookahead < order:
        raise ValueError(f"lookahead: must be in 0..{order - 1}, got {lookahead}")
    real_dtype = spec.real.dtype
    mask = mask.to(real_dtype)
    coefficients = coefficients.to(real_dtype)
    # tap i reads frame t + i - (order - 1 - lookahead): a shifted slice of the padded low bins
    low = F.pad(spec[:, :df_bins], (order - 1 - lookahead, lookahead))
    low_re, low_im = low.real, low.imag
    gain = mask[:, :df_bins]
    out_re = gain * spec.real[:, :df_bins]
    out_im = gain * spec.imag[:, :df_bins]
    for i in range(order):
        c_re, c_im = coefficients[:, 0, i], coefficients[:, 1, i]
        x_re, x_im = low_re[..., i : i + frames], low_im[..., i : i + frames]
        out_re = out_re + c_re * x_re - c_im * x_im
        out_im = out_im + c_re * x_im + c_im * x_re
    return torch.cat([torch.complex(out_re, out_im), mask[:, df_bins:] * spec[:, df_bins:]], dim=1)
