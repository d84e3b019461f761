"""The denoising half of :class:`audioae.pipeline.Pipeline` (a mixin it inherits): a mask
model's (or a denoising autoencoder's) denoising of a waveform ``(channels, time)`` at the
model's ``sample_rate`` (Hz), whole (:meth:`DenoiseMixin.denoise`, chunked) or one window of a
longer signal (:meth:`DenoiseMixin.denoise_window`). The per-window mask maths live in
:mod:`audioae.mask_denoising`; the methods work through the pipeline's ``_prepare``,
``_too_short``, ``plan``, ``phase`` and front-end.
"""

from __future__ import annotations

import torch

from .chunking import CrossfadeWriter, centred_spans
from .functional import check_wet
from .mask_denoising import denoised_magnitude, denoised_spectrum
from .models.masks import check_mask_exponent, check_post_filter
from .pipeline_errors import PipelineError
from .waveforms import as_waveform

__all__ = ["DenoiseMixin"]


class DenoiseMixin:
    """Denoising for :class:`audioae.pipeline.Pipeline`."""

    @torch.inference_mode()
    def denoise_window(
        self,
        x: torch.Tensor,
        *,
        phase: str = "noisy",
        wet: float = 1.0,
        mask_exponent: float = 1.0,
        post_filter: float = 0.0,
    ) -> torch.Tensor:
        """Denoise one window ``x (channels, n)`` of a longer signal, as :meth:`denoise` does per chunk.

        With a window from :meth:`plan` and ``phase="noisy"``, the window's kept part equals
        the same samples of whole-signal :meth:`denoise` (float rounding). Returns ``(channels, n)``.
        """
        x = self._prepare(x)
        if self.masks_the_stft:
            # the masked STFT carries its own phase
            est = denoised_spectrum(self.model, self.frontend, x, wet, mask_exponent, post_filter)
            if phase == "noisy":
                return self.frontend.istft(est, x.shape[-1])
            return self.phase.from_magnitude(est.abs(), x.shape[-1], method=phase)
        spec, mag = denoised_magnitude(
            self.model, self.frontend, x, wet, mask_exponent, post_filter
        )
        if phase == "noisy":
            return self.phase.from_magnitude(mag, x.shape[-1], spec, method="kept-phase")
        return self.phase.from_magnitude(mag, x.shape[-1], method=phase)

    def _process_with_kept_phase(
        self, wav: torch.Tensor, wet: float, mask_exponent: float = 1.0, post_filter: float = 0.0
    ) -> torch.Tensor:
        out = torch.empty_like(wav)
        for w in self.plan(wav.shape[-1]):
            y = self.denoise_window(
                wav[..., w.start : w.stop],
                phase="noisy",
                wet=wet,
                mask_exponent=mask_exponent,
                post_filter=post_filter,
            )
            out[..., w.keep_start : w.keep_stop] = y[
                ..., w.keep_start - w.start : w.keep_stop - w.start
            ]
        return out

    @torch.inference_mode()
    def denoise(
        self,
        wav: torch.Tensor,
        *,
        phase: str = "noisy",
        wet: float = 1.0,
        mask_exponent: float = 1.0,
        post_filter: float = 0.0,
        sample_rate: int | None = None,
    ) -> torch.Tensor:
        """Denoise a waveform ``(channels, time)``; each channel is processed on its own.

        Args:
            phase: ``"noisy"`` combines the clean magnitude with the noisy phase (ISTFT with a
                kept phase; chunked output equals whole-file output within float rounding);
                for a complex-mask model (``model.output: crm``) it inverts the masked STFT
                ``M * STFT(wav)``, whose phase is the noisy one rotated by the mask;
                ``"griffin-lim"`` (or with a decoder ``learned``, ``learned+griffin-lim``)
                estimates a new phase for the denoised magnitude.
            wet: blend in the magnitude domain, 1 = fully denoised, 0 = the input (a complex
                mask blends the spectra: ``wet * M + 1 - wet``).
            mask_exponent: the model's mask gains are raised to this power before they are
                applied (:func:`audioae.models.masks.sharpen_mask`): above 1 removes more noise
                and risks more speech distortion, below 1 less; 1 = the mask as trained.
            post_filter: strength ``beta`` of PercepNet's post-filter applied to the mask
                after the exponent (:func:`audioae.models.masks.post_filter`; DeepFilterNet
                uses 0.02): attenuates further the bins the model already attenuates;
                0 = off.
            sample_rate: the waveform's rate (Hz) when it is not the model's
                (:attr:`sample_rate`): resampled to the model's and the result back, as long
                as the input (as ``audioae denoise`` does with files). Without it the
                waveform is taken to be at the model's rate.

        A model without a mask (a denoising autoencoder that reconstructs clean features)
        denoises by reconstruction with the noisy phase; ``audioae denoise`` takes mask models
        only (:meth:`require_task`).

        An input shorter than :attr:`min_denoise_samples` (one hop: 8 ms for the shipped
        denoisers) is too short to denoise; it is returned unchanged (a copy, whatever
        ``wet`` and ``phase``) and a :class:`ShortInputWarning` gives its length. Do not
        zero-pad a short input before calling: speech followed by digital silence looks like
        a click to a denoiser that looks ahead (the shipped ``denoise`` took 43 dB off 5 ms
        of speech zero-padded to ``n_fft``, 3 dB off 20 ms; unpadded, 0.1 dB off 20 ms).

        Returns:
            The denoised waveform ``(channels, time)``, as long as ``wav``.

        Raises:
            ValueError: unknown ``phase``, ``wet`` outside [0, 1], ``mask_exponent``
                outside (0, 8] or ``post_filter`` outside [0, 1].
            PipelineError: ``mask_exponent`` or ``post_filter`` for a model without a mask.
        """
        resampled = self._resampled_in(wav, sample_rate)
        if resampled is not None:
            out = self.denoise(
                resampled,
                phase=phase,
                wet=wet,
                mask_exponent=mask_exponent,
                post_filter=post_filter,
            )
            return self._resampled_out(out, int(sample_rate), as_waveform(wav).shape[-1])
        modes = ("noisy", *self.phase_methods)
        if phase not in modes:
            raise ValueError(f"phase: {phase!r} is not one of {', '.join(modes)}")
        wet = check_wet(wet)
        mask_exponent = check_mask_exponent(mask_exponent)
        post_filter = check_post_filter(post_filter)
        if (mask_exponent != 1.0 or post_filter != 0.0) and not self.model.predicts_mask:
            raise PipelineError(
                f"mask_exponent and post_filter shape a mask; model {self.config.name!r} is "
                f"{self.purpose} and predicts none"
            )
        wav = self._prepare(wav)
        if self._too_short(wav, stacklevel=4):
            return wav.clone()
        if phase == "noisy":
            return self._process_with_kept_phase(wav, wet, mask_exponent, post_filter)
        windows = self.plan(wav.shape[-1])
        writer = CrossfadeWriter(wav.shape[-1], self.crossfade)
        for w, span in zip(windows, centred_spans(windows, self.crossfade, wav.shape[-1])):
            y = self.denoise_window(
                wav[..., w.start : w.stop],
                phase=phase,
                wet=wet,
                mask_exponent=mask_exponent,
                post_filter=post_filter,
            )
            writer.add(span.begin, span.part(y, w.start), span.next_begin)
        return writer.result()
