"""The features -> waveform seam: every caller turns features or linear magnitudes into a
waveform through a :class:`PhaseReconstructor`, choosing the phase method by name.

Methods (:data:`PHASE_METHODS`):

- ``"griffin-lim"``: fast Griffin-Lim on the linear magnitude, its random initial phase drawn
  from a generator seeded with ``PhaseConfig.seed`` (the same input gives the same waveform);
- ``"kept-phase"``: the inverse STFT of the magnitude with the phase of a reference STFT
  (e.g. the noisy input when denoising; :func:`istft_with_phase`);
- with a learned decoder (:class:`audioae.vocoder.Vocoder`), :func:`learned_methods` adds
  ``"learned"`` (the decoder's magnitude and phase, one inverse STFT, chunked; the decoder
  sees reflected features beyond the signal's ends, ``edge_context``, so the edges carry no
  zero-padding burst) and
  ``"learned+griffin-lim"`` (``PhaseConfig.warm_start_iter`` iterations of fast Griffin-Lim
  started from the decoder's phase, on the decoder's magnitude when given features, which
  is closer to the true ``|STFT|`` than the front-end's inversion of a mel, or on the
  magnitude the caller gave).

A method is a function of one :class:`PhaseRequest`; a new one is added to
:data:`PHASE_METHODS` or, when it needs per-model state such as weights, passed to one
reconstructor: ``PhaseReconstructor(frontend, config, methods=learned_methods(vocoder))``.

Shapes: features ``(..., n_bins, frames)``, magnitudes ``(..., n_freq, frames)`` with
``n_freq = n_fft // 2 + 1``, waveforms ``(..., time)``; everything runs on the input's device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from audioae.config import PhaseConfig
from audioae.functional import StftParams, griffin_lim

if TYPE_CHECKING:  # pragma: no cover
    from audioae.features import FrontEnd

__all__ = [
    "PHASE_METHODS",
    "PhaseMethod",
    "PhaseReconstructor",
    "PhaseRequest",
    "griffin_lim",
    "istft_with_phase",
    "learned_methods",
]


def istft_with_phase(
    magnitude: Tensor,
    reference_stft: Tensor,
    params: StftParams,
    window: Tensor | None = None,
    length: int | None = None,
) -> Tensor:
    """Waveform from a magnitude and the phase of a reference STFT (e.g. the noisy input
    when denoising): ``ISTFT(magnitude * reference / |reference|)``.

    Bins where the reference is exactly 0 get zero phase.

    Args:
        magnitude: non-negative ``(..., n_freq, frames)``.
        reference_stft: complex ``(..., n_freq, frames)``, broadcastable to ``magnitude``.
        params: the STFT settings (those of the reference).
        window: ``(win_length,)`` synthesis window (default a periodic Hann window).
        length: exact output length in samples (see :func:`audioae.functional.istft`).

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
    return params.istft(magnitude * phasor, window, length)


class PhaseRequest:
    """What a phase method gets: the front-end, the phase settings, the features or the
    linear magnitude to invert, the output length and an optional reference STFT.

    Attributes:
        frontend: the :class:`~audioae.features.FrontEnd` (STFT settings, window,
            feature <-> magnitude maps).
        config: the :class:`~audioae.config.PhaseConfig`.
        features: ``(..., n_bins, frames)`` when the caller gave features, else None.
        length: exact output length in samples, or None for ``(frames - 1) * hop_length``.
        reference_stft: complex ``(..., n_freq, frames)`` or None.
    """

    def __init__(
        self,
        frontend: FrontEnd,
        config: PhaseConfig,
        *,
        features: Tensor | None = None,
        magnitude: Tensor | None = None,
        length: int | None = None,
        reference_stft: Tensor | None = None,
    ) -> None:
        if (features is None) == (magnitude is None):
            raise ValueError("give exactly one of features and magnitude")
        self.frontend = frontend
        self.config = config
        self.features = features
        self._magnitude = magnitude
        self.length = length
        self.reference_stft = reference_stft

    def magnitude(self) -> Tensor:
        """The linear magnitude ``(..., n_freq, frames)`` (computed from the features once,
        on first use: the mel inversion of ``LogMel`` is not free)."""
        if self._magnitude is None:
            assert self.features is not None
            self._magnitude = self.frontend.to_magnitude(self.features)
        return self._magnitude

    def window(self, like: Tensor) -> Tensor:
        """The front-end's synthesis window on ``like``'s device and in its dtype."""
        return self.frontend.window.to(device=like.device, dtype=like.dtype)


PhaseMethod = Callable[[PhaseRequest], Tensor]
"""A phase method: :class:`PhaseRequest` -> waveform ``(..., time)``."""


def _griffin_lim(request: PhaseRequest) -> Tensor:
    """Seeded fast Griffin-Lim on the request's magnitude."""
    if request.reference_stft is not None:
        raise ValueError("griffin-lim estimates the phase: it takes no reference_stft")
    mag = request.magnitude()
    generator = torch.Generator(device=mag.device)
    generator.manual_seed(request.config.seed)
    return request.frontend.stft_params.griffin_lim(
        mag,
        request.window(mag),
        n_iter=request.config.n_iter,
        momentum=request.config.momentum,
        init="random",
        generator=generator,
        length=request.length,
    )


def _kept_phase(request: PhaseRequest) -> Tensor:
    """ISTFT of the request's magnitude with the reference STFT's phase."""
    if request.reference_stft is None:
        raise ValueError("kept-phase needs a reference_stft whose phase it keeps")
    mag = request.magnitude()
    return istft_with_phase(
        mag,
        request.reference_stft,
        request.frontend.stft_params,
        request.window(mag),
        request.length,
    )


def _request_features(request: PhaseRequest) -> Tensor:
    if request.reference_stft is not None:
        raise ValueError("the learned decoder estimates the phase: it takes no reference_stft")
    if request.features is not None:
        return request.features
    return request.frontend.from_magnitude(request.magnitude())


def learned_methods(vocoder) -> dict[str, PhaseMethod]:
    """``{"learned", "learned+griffin-lim"}`` methods of one learned decoder.

    Args:
        vocoder: an :class:`audioae.vocoder.Vocoder` for the reconstructor's front-end (on
            the inputs' device). Given a magnitude instead of features, the methods compute
            the front-end's features of it first.
    """

    def learned(request: PhaseRequest) -> Tensor:
        features = _request_features(request)
        return vocoder.decode(features, request.length)

    def learned_griffin_lim(request: PhaseRequest) -> Tensor:
        features = _request_features(request)
        with torch.no_grad():  # with reflected context beyond the ends, as vocoder.decode
            out = vocoder.spectrum(features.reshape(-1, *features.shape[-2:]), edge_context=True)
        shape = (*features.shape[:-2], out.magnitude.shape[-2], features.shape[-1])
        # given features, the decoder's magnitude (trained against |STFT|; better than the
        # front-end's inversion of a mel); given a magnitude, that one
        mag = out.magnitude.reshape(shape) if request.features is not None else request.magnitude()
        return request.frontend.stft_params.griffin_lim(
            mag,
            request.window(mag),
            n_iter=request.config.warm_start_iter,
            momentum=request.config.momentum,
            init=out.phase.reshape(shape),
            length=request.length,
        )

    return {"learned": learned, "learned+griffin-lim": learned_griffin_lim}


PHASE_METHODS: dict[str, PhaseMethod] = {
    "griffin-lim": _griffin_lim,
    "kept-phase": _kept_phase,
}
"""The built-in phase methods by name."""


class PhaseReconstructor:
    """Features (or linear magnitudes) -> waveform with a named phase method.

    Args:
        frontend: an :class:`audioae.features.FrontEnd` (supplies ``to_magnitude`` and the
            STFT settings and window).
        config: :class:`audioae.config.PhaseConfig` (``n_iter``, ``momentum``, ``seed``).
        methods: extra or replacing methods by name, on top of :data:`PHASE_METHODS`.

    Without a ``method``, a call uses ``"kept-phase"`` when it is given a reference STFT and
    otherwise :attr:`default_method`.
    """

    def __init__(
        self,
        frontend: FrontEnd,
        config: PhaseConfig | None = None,
        methods: Mapping[str, PhaseMethod] | None = None,
    ) -> None:
        self.frontend = frontend
        self.config = config if config is not None else PhaseConfig()
        self.methods: dict[str, PhaseMethod] = {**PHASE_METHODS, **(methods or {})}

    @property
    def default_method(self) -> str:
        """``config.method`` when this reconstructor has it (e.g. ``learned`` needs a decoder),
        else ``"griffin-lim"``."""
        method = self.config.method
        return method if method in self.methods and method != "kept-phase" else "griffin-lim"

    def magnitude(self, features: Tensor) -> Tensor:
        """Linear magnitude ``(..., n_freq, frames)`` of ``features (..., n_bins, frames)``."""
        return self.frontend.to_magnitude(features)

    def __call__(
        self,
        features: Tensor,
        length: int | None = None,
        reference_stft: Tensor | None = None,
        *,
        method: str | None = None,
    ) -> Tensor:
        """Waveform ``(..., time)`` from the front-end's ``features (..., n_bins, frames)``.

        Args:
            features: the front-end's features.
            length: exact output length in samples (default ``(frames - 1) * hop_length``).
            reference_stft: complex ``(..., n_freq, frames)`` whose phase ``"kept-phase"`` keeps.
            method: a name in ``self.methods``; see the class docstring for the default.

        Raises:
            ValueError: an unknown method, a reference missing or given where the method
                does not take one, shapes inconsistent with the front-end, or a bad ``length``.
        """
        request = PhaseRequest(
            self.frontend,
            self.config,
            features=features,
            length=length,
            reference_stft=reference_stft,
        )
        return self._run(request, method)

    def from_magnitude(
        self,
        magnitude: Tensor,
        length: int | None = None,
        reference_stft: Tensor | None = None,
        *,
        method: str | None = None,
    ) -> Tensor:
        """Waveform ``(..., time)`` from a linear ``magnitude (..., n_freq, frames)``; as
        :meth:`__call__` otherwise."""
        request = PhaseRequest(
            self.frontend,
            self.config,
            magnitude=magnitude,
            length=length,
            reference_stft=reference_stft,
        )
        return self._run(request, method)

    def _run(self, request: PhaseRequest, method: str | None) -> Tensor:
        if method is None:
            method = "kept-phase" if request.reference_stft is not None else self.default_method
        try:
            fn = self.methods[method]
        except KeyError:
            raise ValueError(
                f"phase method {method!r} is not one of {', '.join(self.methods)}"
            ) from None
        return fn(request)
