"""Band-limited resampling of waveforms with libsoxr (through ``soxr``): one-shot
:func:`resample` ("HQ", optionally with the steep filter) and :func:`steep_soxr`, the
steep-filter resampler object streaming code feeds block by block.

:mod:`audioae.audio` re-exports these names: import them from there.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from .arguments import is_integer


def resample(
    wav: torch.Tensor, orig_sr: int, target_sr: int, *, steep: bool = False
) -> torch.Tensor:
    """Band-limited resampling of ``wav (..., time)`` from ``orig_sr`` to ``target_sr`` Hz.

    Uses libsoxr at "HQ" quality (a polyphase/FFT resampler with a steep linear-phase
    anti-aliasing filter; Robs & Bagwell, SoX Resampler library): flat to about 0.91 of the
    lower rate's Nyquist frequency (16 kHz: -0.4 dB at 7.5 kHz, -10 dB at 7.7 kHz). With
    ``steep``, libsoxr's ``SOXR_STEEP_FILTER`` variant of the same quality: flat to 0.99 of it
    (16 kHz: -0.4 dB at 7.9 kHz, below -130 dB from 8.1 kHz; no aliasing either way; see
    docs/benchmarks.md, "Resampling into a 16 kHz model"). Every leading index is an
    independent channel. The computation runs in NumPy on the CPU; the result is moved back
    to ``wav``'s device. Not differentiable (the result carries no gradient).

    Args:
        wav: ``(..., time)`` floating tensor.
        orig_sr, target_sr: sample rates in Hz (positive integers).

    Returns:
        ``(..., round(time * target_sr / orig_sr))`` tensor, same dtype and device as ``wav``
        (float64 is computed in float64, every other float dtype in float32). ``wav`` itself
        when the rates are equal. An input without samples (``time == 0``, or no channels)
        gives a zero-filled tensor of that shape (``(..., 0)`` for ``time == 0``), never an
        error.

    Raises:
        TypeError: ``wav`` is not a floating-point tensor.
        ValueError: a rate is not a positive integer (a float such as 44100.5 was truncated).
    """
    if not isinstance(wav, torch.Tensor) or not wav.is_floating_point():
        raise TypeError(
            f"resample: wav must be a floating-point tensor, got {getattr(wav, 'dtype', type(wav))}"
        )
    if not (is_integer(orig_sr) and is_integer(target_sr)) or orig_sr <= 0 or target_sr <= 0:
        raise ValueError(
            f"resample: sample rates must be positive integers (Hz), got {orig_sr!r} -> "
            f"{target_sr!r}"
        )
    if orig_sr == target_sr:
        return wav
    work_dtype = torch.float64 if wav.dtype == torch.float64 else torch.float32
    lead, time = wav.shape[:-1], wav.shape[-1]
    if wav.numel() == 0:  # no samples or no channels: nothing for soxr (reshape(-1, 0) fails)
        out_len = int(round(time * target_sr / orig_sr))
        return torch.zeros(*lead, out_len, dtype=wav.dtype, device=wav.device)
    x = wav.detach().to("cpu", work_dtype).reshape(-1, time).numpy()  # (channels, time)
    if steep:
        y = _soxr_steep(np.ascontiguousarray(x.T), int(orig_sr), int(target_sr))
    else:
        y = soxr.resample(
            np.ascontiguousarray(x.T), int(orig_sr), int(target_sr), quality="HQ"
        )  # (time', channels)
    out = torch.from_numpy(np.ascontiguousarray(y.T)).reshape(*lead, y.shape[0])
    return out.to(device=wav.device, dtype=wav.dtype)


SOXR_STEEP_FILTER = 0x40
"""libsoxr's recipe flag (``soxr.h``) for a passband to 0.99 of Nyquist instead of 0.913."""


def steep_soxr(
    orig_sr: int, target_sr: int, channels: int, quality: str = "HQ", dtype: str = "float32"
) -> soxr.soxr_ext.CSoxr:
    """A libsoxr resampler of ``quality`` with the steep-filter flag, for ``dtype`` samples
    (``"float32"`` or ``"float64"``); feed it ``(time, channels)`` blocks through its
    ``process_<dtype>(block, last)`` method, ``last=True`` on the final one.

    python-soxr's public functions take only the five quality names, so this builds its
    resampler object (``soxr.soxr_ext.CSoxr``, what ``soxr.ResampleStream`` wraps) with the
    flag added. One-shot :func:`resample` and :class:`audioae.audiostream.StreamResampler`
    both use it.
    """
    stype = soxr.soxr_ext.SOXR_FLOAT64_I if dtype == "float64" else soxr.soxr_ext.SOXR_FLOAT32_I
    recipe = getattr(soxr, quality.upper()) | SOXR_STEEP_FILTER
    return soxr.soxr_ext.CSoxr(orig_sr, target_sr, channels, stype, recipe, False)


def _soxr_steep(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """soxr HQ with the steep-filter flag, ``x (time, channels)`` float32/float64 -> the same,
    in one flushed call."""
    kind = "float64" if x.dtype == np.float64 else "float32"
    resampler = steep_soxr(orig_sr, target_sr, x.shape[1], dtype=kind)
    return getattr(resampler, f"process_{kind}")(np.ascontiguousarray(x, dtype=kind), True)


__all__ = ["SOXR_STEEP_FILTER", "resample", "steep_soxr"]
