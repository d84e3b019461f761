"""The one check of a waveform handed to audioae from Python (tensor or numpy array).

:func:`as_waveform` is what :class:`audioae.pipeline.Pipeline`, embeddings, anomaly scores and
the streaming denoiser take their input through, so they accept and refuse the same things:
float samples in ``(channels, time)`` or ``(time,)``; integer PCM, complex or boolean
samples, the ``(time, channels)`` layout that ``soundfile.read`` returns, NaN or Inf samples
are refused with one line saying what to do.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MAX_CHANNELS", "as_waveform", "check_layout"]

MAX_CHANNELS = 64
"""More "channels" than this, and more of them than samples, is taken for a ``(time,
channels)`` array (``soundfile.read``'s layout) passed where ``(channels, time)`` is expected."""


def check_layout(
    shape: tuple[int, ...], what: str = "waveform", max_channels: int = MAX_CHANNELS
) -> None:
    """Refuse a ``(time, channels)`` layout: a shape whose second-to-last dimension is larger
    than :data:`MAX_CHANNELS` and than the last (the time) one, which is at most
    ``max_channels`` (the metrics pass 8, so a batch ``(100, 50)`` of 50-sample signals stays
    a batch).

    Raises:
        ValueError: naming the shape and the transpose to pass instead.
    """
    if (
        len(shape) >= 2
        and shape[-2] > MAX_CHANNELS
        and shape[-2] > shape[-1]
        and shape[-1] <= max_channels
    ):
        raise ValueError(
            f"{what} of shape {tuple(shape)} looks like (time, channels), the layout "
            "soundfile.read returns; pass (channels, time), e.g. wav.T"
        )


def as_waveform(
    wav: torch.Tensor | np.ndarray, *, what: str = "waveform", allow_empty: bool = False
) -> torch.Tensor:
    """``wav`` as a float32 tensor ``(channels, time)`` (a ``(time,)`` input gets one channel),
    on its own device; float64 input is converted, never integers.

    Args:
        wav: samples in [-1, 1], ``(channels, time)`` or ``(time,)``, tensor or numpy array.
        what: the name the errors give it ("waveform", "block", "estimate").
        allow_empty: accept zero samples (a stream's empty block).

    Raises:
        ValueError: integer samples (int16 PCM: divide by 32768), complex or boolean samples;
            not 1-D or 2-D; a ``(time, channels)`` layout (:func:`check_layout`); no samples;
            NaN or Inf samples, or float64 values beyond float32's range.
    """
    wav = torch.as_tensor(wav)
    if not wav.is_floating_point():
        integer = not (wav.is_complex() or wav.dtype == torch.bool)
        hint = " (integer samples: convert to float in [-1, 1], e.g. int16 PCM / 32768)"
        raise ValueError(
            f"expected a floating-point {what} in [-1, 1], got {wav.dtype}{hint if integer else ''}"
        )
    if wav.ndim == 1:
        wav = wav.unsqueeze(0)
    if wav.ndim != 2:
        raise ValueError(
            f"expected a {what} (channels, time) or (time,), got shape {tuple(wav.shape)}"
        )
    check_layout(tuple(wav.shape), what)
    if wav.numel() == 0 and not allow_empty:
        raise ValueError(f"empty {what} (shape {tuple(wav.shape)}): nothing to process")
    if not bool(torch.isfinite(wav).all()):
        raise ValueError(f"{what} contains NaN or Inf samples")
    wav = wav.to(torch.float32)
    if not bool(torch.isfinite(wav).all()):
        raise ValueError(f"{what} has samples beyond float32's range; audio is in [-1, 1]")
    return wav
