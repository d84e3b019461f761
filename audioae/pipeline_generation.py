"""The generative half of :class:`audioae.pipeline.Pipeline` (a mixin it inherits): latent
interpolation between two sounds, prior samples, a fitted prior, and variations of a sound
from its posterior. Every method works through the pipeline's ``encode``, ``decode``,
``_encode_chunks`` and ``_prepare``; waveforms are ``(channels, time)`` at the model's
``sample_rate`` (Hz), latents ``(batch, latent_dim, latent_frames)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F

from .arguments import check_integer, is_integer
from .latent_interpolation import (
    INTERPOLATION_METHODS,
    LEVEL_MODES,
    Interpolation,
    blend_latents,
    gain_curve,
    matched_gains_db,
    rms_db,
)
from .latent_prior import STANDARD_PRIOR, LatentPrior, fit_latent_prior
from .pipeline_errors import PipelineError

MAX_TEMPERATURE = 10.0
"""The largest sampling temperature :meth:`GenerativeMixin.sample` and
:meth:`GenerativeMixin.variations` accept (a latent 10 prior standard deviations out is far
outside anything a decoder saw)."""


MAX_SAMPLE_AUDIO_SECONDS = 3600.0
"""The most audio one :meth:`GenerativeMixin.sample` call draws, ``n * seconds`` (an hour;
the sounds are made in memory at once, 4 bytes a sample)."""


def _check_temperature(temperature: float) -> None:
    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be in [0, {MAX_TEMPERATURE:g}], got {temperature}")


class GenerativeMixin:
    """Interpolation, sampling and variations for :class:`audioae.pipeline.Pipeline`."""

    @torch.inference_mode()
    def interpolate(
        self,
        wav_a: torch.Tensor,
        wav_b: torch.Tensor,
        steps: int = 8,
        *,
        method: str = "linear",
        phase: str | None = None,
        level: str = "match",
    ) -> Interpolation:
        """Latent interpolation from A to B (timbre morph); mono, at the model's sample rate.

        Both inputs are mixed to mono and encoded (VAEs: posterior means). If their lengths
        differ, B's latent sequence is linearly time-stretched to A's number of latent frames,
        so every output has A's length. ``method``: ``linear`` or ``slerp`` (per latent frame).
        ``phase``: as :meth:`decode`. ``level``: ``match`` (default) scales each step so its
        RMS level in dB lies on the line between the two ends' (the ends, the
        reconstructions of A and B, are left as decoded; the morph gets the same gains as a
        curve over its duration: :func:`~audioae.latent_interpolation.matched_gains_db`,
        :func:`~audioae.latent_interpolation.gain_curve`); ``model`` keeps the decoder's
        levels, which dip (linear) or swell (slerp) between the ends.

        Raises:
            ValueError: ``steps`` not a whole number (bools and floats refused; numpy
                integers taken) or below 2, an unknown method, phase method or level mode.
        """
        self.require_latent_decoder("interpolate")
        steps = check_integer("steps", steps, minimum=2)
        if method not in INTERPOLATION_METHODS:
            raise ValueError(f"method: {method!r} is not one of {', '.join(INTERPOLATION_METHODS)}")
        if level not in LEVEL_MODES:
            raise ValueError(f"level: {level!r} is not one of {', '.join(LEVEL_MODES)}")
        a = self._prepare(wav_a).mean(0, keepdim=True)
        b = self._prepare(wav_b).mean(0, keepdim=True)
        za, zb = self.encode(a), self.encode(b)
        if zb.shape[-1] != za.shape[-1]:
            zb = F.interpolate(zb, size=za.shape[-1], mode="linear", align_corners=True)
        length = a.shape[-1]
        phase = self.resolve_phase(phase)
        alphas = [i / (steps - 1) for i in range(steps)]
        outputs = [
            self.decode(blend_latents(za, zb, alpha, method), length, phase=phase)[0]
            for alpha in alphas
        ]
        ramp = torch.linspace(0.0, 1.0, za.shape[-1], device=za.device).view(1, 1, -1)
        morph = self.decode(blend_latents(za, zb, ramp, method), length, phase=phase)[0]
        gains = [0.0] * steps
        if level == "match":
            gains = matched_gains_db([rms_db(o) for o in outputs], alphas)
            outputs = [o * 10 ** (g / 20) if g else o for o, g in zip(outputs, gains, strict=True)]
            ramp_samples = (za.shape[-1] - 1) * self.align  # where the ramp reaches B
            curve = gain_curve(alphas, gains, morph.shape[-1], ramp_samples)
            morph = morph * curve.to(morph.device)
        return Interpolation(steps=outputs, alphas=alphas, morph=morph, gains_db=gains)

    @torch.inference_mode()
    def sample(
        self,
        n: int = 1,
        seconds: float = 2.0,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        phase: str | None = None,
        prior: LatentPrior | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` sounds of ``seconds`` s from a VAE's prior: ``(n, time)``. Every latent
        value is ``temperature * N(0, 1)`` (``temperature`` below 1 draws nearer the prior's
        mode: tamer, more typical sounds; above 1 wilder ones); with ``prior`` (a
        :class:`~audioae.latent_prior.LatentPrior`, e.g. fitted to encoded real sounds by
        :meth:`fit_prior`), ``mean + temperature * std * u`` of that prior's process.
        ``phase`` as :meth:`decode`.

        Raises:
            PipelineError: the model is not variational (``model.bottleneck`` is not gaussian),
                or ``prior`` was fitted for another model (its ``model_hash``).
            ValueError: ``n`` not a whole number (bools and floats refused; numpy integers
                taken) or below 1, ``seconds <= 0``, ``n * seconds`` above
                :data:`MAX_SAMPLE_AUDIO_SECONDS`, or a temperature outside [0, 10].
        """
        self._require_variational("sampling")
        if not is_integer(n) or n < 1 or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(
                f"need a whole n >= 1 and a finite seconds > 0, got n={n!r}, seconds={seconds}"
            )
        n = int(n)
        if round(seconds * self.sample_rate) < 1:
            raise ValueError(f"seconds={seconds:g} is shorter than one sample")
        if n * seconds > MAX_SAMPLE_AUDIO_SECONDS:
            raise ValueError(
                f"{n} sounds of {seconds:g} s is {n * seconds:g} s of audio; one call draws at "
                f"most {MAX_SAMPLE_AUDIO_SECONDS:g} s (n * seconds)"
            )
        _check_temperature(temperature)
        if prior is not None and prior.model_hash not in (None, self.model_hash):
            raise PipelineError(
                f"the prior was fitted for another model (model hash {prior.model_hash.hex()[:12]}…, "
                f"this model's {self.model_hash.hex()[:12]}…); fit it with this pipeline's "
                "fit_prior"
            )
        length = int(round(seconds * self.sample_rate))
        z = (prior or STANDARD_PRIOR).draw(
            n,
            self.model.latent_dim,
            self.num_latent_frames(length),
            temperature=temperature,
            generator=generator,
        )
        return self.decode(z.to(self.device), length, phase=phase)

    @torch.inference_mode()
    def fit_prior(self, wavs: list[torch.Tensor], *, temporal: bool = True) -> LatentPrior:
        """A :class:`~audioae.latent_prior.LatentPrior` fitted to the posterior means of
        ``wavs`` (each ``(channels, time)``, mixed to mono), for :meth:`sample`
        (:func:`~audioae.latent_prior.fit_latent_prior`).

        Raises:
            PipelineError: the model is not variational.
            TypeError: ``wavs`` is one tensor or array (whose rows would be taken for
                sounds), not a list of waveforms.
            ValueError: as :func:`~audioae.latent_prior.fit_latent_prior`.
        """
        if isinstance(wavs, torch.Tensor | np.ndarray):
            raise TypeError(
                f"fit_prior takes a list of waveforms, got one {type(wavs).__name__} of shape "
                f"{tuple(wavs.shape)}; pass [wav] for one sound"
            )
        self._require_variational("fitting a prior")
        latents = [self.encode(self._prepare(w).mean(0, keepdim=True))[0].cpu() for w in wavs]
        prior = fit_latent_prior(latents, temporal=temporal)
        return dataclasses.replace(prior, model_hash=self.model_hash or None)  # b"": unknown

    @torch.inference_mode()
    def variations(
        self,
        wav: torch.Tensor,
        n: int = 4,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        phase: str | None = None,
    ) -> torch.Tensor:
        """``n`` variations of a sound from a VAE's posterior: ``(n, time)``, as long as ``wav``
        ``(channels, time)`` (mixed to mono).

        Each latent value is drawn as ``mean + temperature * std * N(0, 1)`` from the
        posterior of ``wav`` (Kingma & Welling, "Auto-encoding variational Bayes", 2014): the
        sounds the model holds consistent with the input. ``temperature`` 0 gives the
        reconstruction from the posterior mean every time; larger values stray further.
        ``phase`` as :meth:`decode`.

        Raises:
            PipelineError: the model is not variational.
            ValueError: ``n`` not a whole number (bools and floats refused; numpy integers
                taken) or below 1, or a temperature outside [0, 10].
        """
        self._require_variational("drawing variations")
        n = check_integer("n", n, minimum=1)
        _check_temperature(temperature)
        mono = self._prepare(wav).mean(0, keepdim=True)
        mean, std = self.posterior(mono)
        noise = torch.randn((n, *mean.shape[1:]), generator=generator, device="cpu")
        z = mean + temperature * std * noise.to(self.device)
        return self.decode(z, mono.shape[-1], phase=phase)

    def _require_variational(self, what: str) -> None:
        if not self.is_variational:
            raise PipelineError(
                f"{what} needs a variational model (model.bottleneck: gaussian); this model's "
                f"bottleneck is {self.config.model.bottleneck!r}"
            )

    @torch.inference_mode()
    def posterior(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A VAE's posterior of a waveform ``(channels, time)``: its mean and standard
        deviation, each ``(channels, latent_dim, latent_frames)``, encoded in aligned chunks
        (as :meth:`encode`).

        Raises:
            PipelineError: the model is not variational.
        """
        self._require_variational("the posterior")
        mean, logvar = self._encode_chunks(wav, "mean", "logvar")
        return mean, (0.5 * logvar).exp()


__all__ = ["MAX_TEMPERATURE", "GenerativeMixin"]
