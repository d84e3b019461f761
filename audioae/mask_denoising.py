"""One window through a mask model: the denoised STFT or magnitude of a waveform.

The per-window maths behind :meth:`audioae.pipeline.Pipeline.denoise_window`; chunking,
phase and blending across windows stay in :mod:`audioae.pipeline`. ``model`` is an
:class:`audioae.models.AutoEncoder` that predicts a mask and ``frontend`` its front-end
(``model.frontend``); ``x`` is a waveform ``(channels, time)`` on the model's device.
"""

from __future__ import annotations

import torch

from .functional import apply_complex_mask
from .models.masks import shape_mask


def denoised_magnitude(
    model: torch.nn.Module,
    frontend: torch.nn.Module,
    x: torch.Tensor,
    wet: float,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex STFT of ``x (channels, time)`` and the model's magnitude (its mask shaped by
    ``mask_exponent`` and ``post_filter``, :func:`~audioae.models.masks.shape_mask`)
    blended with the input's by ``wet``."""
    spec = frontend.stft(x)
    noisy_mag = spec.abs()
    features = frontend.from_magnitude(noisy_mag)
    out = model(features)
    if mask_exponent == 1.0 and post_filter == 0.0:
        clean = out.reconstruction
    else:
        mask = shape_mask(out.mask, mask_exponent, post_filter)
        clean = frontend.apply_mask(features, mask)
    clean_mag = frontend.to_magnitude(clean)
    return spec, wet * clean_mag + (1.0 - wet) * noisy_mag


def denoised_spectrum(
    model: torch.nn.Module,
    frontend: torch.nn.Module,
    x: torch.Tensor,
    wet: float,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
) -> torch.Tensor:
    """Masks over STFT bins (complex ratio masks, and real masks of a front-end whose bins
    are STFT bins): ``(wet * M + 1 - wet) * STFT(x)`` ``(channels, n_freq, frames)``
    (:func:`audioae.functional.apply_complex_mask`) for ``x (channels, time)``, with ``M``
    the model's mask after :func:`~audioae.models.masks.shape_mask`. For a real mask
    this is the masked magnitude with the noisy phase, without the round trip through the
    features and the phase (the same values up to float rounding, about a tenth faster)."""
    spec = frontend.stft(x)
    features = frontend.from_magnitude(spec.abs())
    latent = model.encode(features).sample  # the mask alone: no feature reconstruction
    if model.deep_filter:  # the shaped mask plus the filter over neighbouring frames
        mask, coefficients = model.decode_filter(latent, features.shape[-1])
        shaped = shape_mask(mask, mask_exponent, post_filter)
        est = model.filter_spectrum(spec, shaped, coefficients)
        return wet * est + (1.0 - wet) * spec
    mask = model.decode_mask(latent, features.shape[-1])
    return apply_complex_mask(spec, shape_mask(mask, mask_exponent, post_filter), wet)
