"""Pure-torch DSP: STFT/ISTFT, magnitude and log compression, mel filterbank and its inverse,
Griffin-Lim, and :class:`StftParams`, the STFT settings as one value.

Every function works on tensors with arbitrary leading (batch/channel) dimensions, waveforms
``(..., time)`` and spectrograms ``(..., n_freq, frames)`` with ``n_freq = n_fft // 2 + 1``,
and runs on the input's device and dtype. Conventions follow librosa (periodic Hann window,
``center=True`` with zero padding of ``n_fft // 2`` samples on both sides), so results match
``librosa.stft`` / ``librosa.istft`` / ``librosa.griffinlim`` up to float rounding.

The functions take the STFT settings as separate arguments (as torchaudio's functional
does); code that carries the settings around passes one :class:`StftParams` and calls its
methods (``params.stft(wav)``, ``params.istft(spec, length=...)``, ``params.griffin_lim(...)``).

Layout: the STFT and inverse STFT live in :mod:`audioae.stft`, the mel filterbank in
:mod:`audioae.mel`, Griffin-Lim in :mod:`audioae.griffin_lim`; this module re-exports them
and holds log compression, complex masks and :class:`StftParams`. Import from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "StftParams",
    "stft",
    "istft",
    "magnitude",
    "spectrogram",
    "log_compress",
    "log_decompress",
    "apply_complex_mask",
    "check_wet",
    "mel_filterbank",
    "mel_to_linear",
    "griffin_lim",
    "hann_window",
]

from .griffin_lim import griffin_lim
from .mel import mel_filterbank, mel_to_linear
from .stft import (
    PAD_MODES,
    check_frame_args,
    hann_window,
    istft,
    magnitude,
    num_frames,
    spectrogram,
    stft,
)


def log_compress(mag: Tensor, eps: float) -> Tensor:
    """``log(mag + eps)`` (natural log) with a fixed floor ``eps`` > 0; any shape.

    Raises:
        ValueError: ``eps`` not > 0 (``log(0)`` is -inf).
    """
    if not eps > 0:
        raise ValueError(f"log_compress: eps must be > 0, got {eps!r}")
    return torch.log(mag + eps)


def log_decompress(x: Tensor, eps: float) -> Tensor:
    """Exact inverse of :func:`log_compress`: ``max(exp(x) - eps, 0)``; any shape."""
    return (torch.exp(x) - eps).clamp_min(0.0)


def check_wet(wet: float) -> float:
    """``wet`` as a float when it is a usable dry/wet blend, in [0, 1].

    Raises:
        ValueError: ``wet`` outside [0, 1] (or NaN).
    """
    value = float(wet)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"wet: must be in [0, 1], got {wet}")
    return value


def apply_complex_mask(spec: Tensor, mask: Tensor, wet: float = 1.0) -> Tensor:
    """The complex STFT ``spec`` times a complex ratio mask: ``(wet * mask + 1 - wet) * spec``.

    Complex ratio masking (Williamson, Wang & Wang 2016): the mask scales each bin's magnitude
    and rotates its phase, so ``ISTFT`` of the result is the denoised waveform. ``wet`` blends
    the mask with the identity (1 = the masked spectrum, 0 = ``spec``), i.e. the output
    spectra are blended linearly.

    Args:
        spec: complex ``(..., n_freq, frames)``.
        mask: complex (or real) ``(..., n_freq, frames)``, broadcastable to ``spec``.
        wet: blend in [0, 1].

    Returns:
        Complex ``(..., n_freq, frames)`` (the broadcast shape).

    Raises:
        ValueError: ``spec`` is not complex, the shapes do not broadcast, or ``wet`` is
            outside [0, 1].
    """
    if not spec.is_complex():
        raise ValueError(f"spec must be a complex STFT, got {spec.dtype}")
    try:
        torch.broadcast_shapes(spec.shape, mask.shape)
    except RuntimeError:
        raise ValueError(
            f"mask {tuple(mask.shape)} does not broadcast to spec {tuple(spec.shape)}"
        ) from None
    wet = check_wet(wet)
    if wet != 1.0:
        mask = wet * mask + (1.0 - wet)
    return spec * mask


@dataclass(frozen=True)
class StftParams:
    """The settings of one STFT, passed whole instead of as six arguments.

    Args:
        n_fft: FFT size in samples, > 0.
        hop_length: frame advance in samples, > 0.
        win_length: window length in samples, in ``1..n_fft``; None means ``n_fft`` and is
            resolved at construction, so ``win_length`` is always the effective length.
        center: frame ``t`` is centred at sample ``t * hop_length`` (``n_fft // 2`` samples
            of padding on both sides), as librosa.
        pad_mode: the ``center`` padding, ``"constant"`` (zeros) or ``"reflect"``.

    Raises:
        ValueError: non-positive sizes, ``win_length`` outside ``1..n_fft`` or an unknown
            ``pad_mode``.

    The methods call the module's functions with these settings; ``window`` is the
    ``(win_length,)`` analysis window (default a periodic Hann window built on the fly).
    """

    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    center: bool = True
    pad_mode: str = "constant"

    def __post_init__(self) -> None:
        win_length = check_frame_args(self.n_fft, self.hop_length, self.win_length)
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        object.__setattr__(self, "n_fft", int(self.n_fft))
        object.__setattr__(self, "hop_length", int(self.hop_length))
        object.__setattr__(self, "win_length", int(win_length))

    @property
    def n_freq(self) -> int:
        """Number of one-sided frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def num_frames(self, length: int) -> int:
        """STFT frames of a signal of ``length`` samples: ``1 + length // hop_length`` with
        ``center``, else ``1 + (length - n_fft) // hop_length``.

        Raises:
            ValueError: ``length < 0``, or shorter than ``n_fft`` without ``center``.
        """
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if not self.center and length < self.n_fft:
            raise ValueError(f"length {length} is shorter than n_fft={self.n_fft} (center=False)")
        return num_frames(length, self.n_fft, self.hop_length, self.center)

    def stft(self, wav: Tensor, window: Tensor | None = None) -> Tensor:
        """:func:`stft` of ``wav (..., time)``: complex ``(..., n_freq, frames)``."""
        return stft(
            wav, self.n_fft, self.hop_length, self.win_length, window, self.center, self.pad_mode
        )

    def spectrogram(
        self,
        wav: Tensor,
        window: Tensor | None = None,
        power: float = 1.0,
        projection: Tensor | None = None,
    ) -> Tensor:
        """:func:`spectrogram` of ``wav (..., time)``: real ``(..., n_out, frames)``."""
        return spectrogram(
            wav,
            self.n_fft,
            self.hop_length,
            self.win_length,
            window,
            self.center,
            self.pad_mode,
            power,
            projection,
        )

    def istft(
        self, spec: Tensor, window: Tensor | None = None, length: int | None = None
    ) -> Tensor:
        """:func:`istft` of a complex ``spec (..., n_freq, frames)``: real ``(..., time)``."""
        return istft(
            spec, self.n_fft, self.hop_length, self.win_length, window, self.center, length
        )

    def griffin_lim(
        self,
        magnitude: Tensor,
        window: Tensor | None = None,
        *,
        n_iter: int = 32,
        momentum: float = 0.99,
        init: str | Tensor = "random",
        generator: torch.Generator | None = None,
        length: int | None = None,
    ) -> Tensor:
        """:func:`griffin_lim` of a magnitude ``(..., n_freq, frames)``: real ``(..., time)``."""
        return griffin_lim(
            magnitude,
            self.n_fft,
            self.hop_length,
            self.win_length,
            window,
            n_iter=n_iter,
            momentum=momentum,
            init=init,
            generator=generator,
            length=length,
            center=self.center,
            pad_mode=self.pad_mode,
        )
