"""Per-frame reconstruction and its errors, the first stage of :mod:`audioae.anomaly` (which
re-exports every name here): a signal's features and the model's reconstruction frame by frame
(:func:`reconstruct_frames`, windowed on the model's stride grid), the per-frame errors of
:data:`ERRORS` (:func:`frame_errors`) and the feature views the file-level terms read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .anomaly_reference import (
    COMPRESSION,
    AnomalyReferenceError,
    ReferenceStats,
)
from .inpaint import inpaint, silence_features
from .waveforms import as_waveform

if TYPE_CHECKING:  # annotations only: no import of the pipeline at run time
    from .pipeline import Pipeline


ERRORS = ("standardised", "compressed", "log")
"""Per-frame errors (see the module docstring); the first is the default."""


def edge_frames(frames: int, hop_s: float, window_s: float, duration_s: float) -> torch.Tensor:
    """``(frames,)`` bool: the frames (frame ``i`` centred at ``i * hop_s``) whose analysis
    window of ``window_s`` seconds reaches past the signal's start or its end at
    ``duration_s``, filled by the STFT's padding. All False when either length is unknown
    (0)."""
    t = torch.arange(frames, dtype=torch.float64) * hop_s
    if window_s <= 0 or duration_s <= 0:
        return torch.zeros_like(t, dtype=torch.bool)
    half, eps = window_s / 2, 1e-9
    return (t - half < -eps) | (t + half > duration_s + eps)


@dataclass
class FrameErrors:
    """Per-frame reconstruction errors of one signal.

    Attributes:
        error: the per-frame error named by ``kind``, ``(frames,)``.
        neg_elbo: negative ELBO per frame in nats, ``(frames,)``; None unless variational.
        hop_s: seconds between frames (frame ``i`` is centred at ``i * hop_s``).
        kind: the error's name (:data:`ERRORS`).
        window_s: the analysis window (``n_fft``) in seconds; 0 when unknown.
        duration_s: the signal's duration in seconds; 0 when unknown.
    """

    error: torch.Tensor
    neg_elbo: torch.Tensor | None
    hop_s: float
    kind: str = "standardised"
    window_s: float = 0.0
    duration_s: float = 0.0

    @property
    def times_s(self) -> torch.Tensor:
        """Centre of every frame in seconds, ``(frames,)``."""
        return torch.arange(self.error.shape[0], dtype=torch.float64) * self.hop_s

    @property
    def edge(self) -> torch.Tensor:
        """``(frames,)`` bool: frames whose analysis window reaches past the signal's start or
        end (filled by the STFT's padding). Their error is higher by construction, since the
        model learnt from frames inside recordings: on speech the last frame of a file often
        scores several times the median, so a "most anomalous moment" there says little.
        All False when ``window_s`` or ``duration_s`` is unknown (:func:`edge_frames`)."""
        return edge_frames(self.error.shape[0], self.hop_s, self.window_s, self.duration_s)


@dataclass
class Reconstruction:
    """A signal's features and their reconstruction, frame by frame.

    Attributes:
        features: the model's front-end features, ``(n_bins, frames)`` (log magnitude, nats).
        reconstruction: the model's output for them (VAEs: from the posterior mean),
            ``(n_bins, frames)``; for a ``model.inpaint_groups`` model every bin's comes from
            the pass that masked its group (:func:`audioae.inpaint.inpaint`).
        kl: KL of each frame's latent to ``N(0, I)`` in nats per feature frame, ``(frames,)``;
            None unless variational.
        hop_s: seconds between frames.
        latent: the encoder output per latent frame (VAEs: the posterior mean), ``(latent_dim,
            latent_frames)``, the frames :func:`audioae.embed.embed_waveform` gives.
        latent_rate_hz: latent frames per second.
        window_s: the analysis window (``n_fft``) in seconds; 0 when unknown.
        duration_s: the signal's duration in seconds; 0 when unknown.
    """

    features: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor | None
    hop_s: float
    latent: torch.Tensor
    latent_rate_hz: float
    window_s: float = 0.0
    duration_s: float = 0.0
    _magnitudes: dict[str, torch.Tensor] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def edge(self) -> torch.Tensor:
        """``(frames,)`` bool: frames whose analysis window reaches past the signal's start or
        end (:func:`edge_frames`; as :attr:`FrameErrors.edge`)."""
        return edge_frames(self.features.shape[-1], self.hop_s, self.window_s, self.duration_s)

    def magnitude(self, pipe: Pipeline, which: str = "features") -> torch.Tensor:
        """Linear magnitude per bin of ``features`` or ``reconstruction``, ``(n_bins, frames)``
        float64, clamped at 0 (``pipe.frontend.bin_magnitude``); computed once per
        reconstruction, since every file-level term starts from it."""
        if which not in self._magnitudes:
            source = getattr(self, which).double()
            self._magnitudes[which] = pipe.frontend.bin_magnitude(source).clamp_min(0.0)
        return self._magnitudes[which]


@torch.inference_mode()
def reconstruct_frames(pipe: Pipeline, wav: torch.Tensor) -> Reconstruction:
    """Features and reconstruction of a waveform ``(channels, time)`` or ``(time,)`` at ``pipe.sample_rate``.

    Mixed to mono; ``pipe.frontend.num_frames(time)`` frames (centred STFT frames), computed in windows
    on the model's stride grid, so chunked and whole-file results agree within float rounding.

    Raises:
        audioae.pipeline.PipelineError: a mask model (see the module docstring).
        ValueError: what :func:`audioae.waveforms.as_waveform` refuses (integer PCM, a
            ``(time, channels)`` layout, NaN/Inf samples, ...).
    """
    pipe.require_latent_decoder("anomaly scoring")
    wav = as_waveform(wav).mean(0, keepdim=True).to(pipe.device)
    total = wav.shape[-1]
    hop = pipe.hop_length
    down = pipe.model.time_downsampling
    variational = pipe.is_variational
    groups = pipe.config.model.inpaint_groups
    fill = silence_features(pipe.frontend) if groups else None
    feats, recons, kls, latents = [], [], [], []
    for w in pipe.plan(total):
        features = pipe.frontend(wav[..., w.start : w.stop])  # (1, n_bins, frames_w)
        out = pipe.model(features, sample_posterior=False)
        recon = out.reconstruction
        if groups:
            recon = inpaint(
                lambda x: pipe.model(x, sample_posterior=False).reconstruction,
                features,
                groups,
                fill,
            )
        frames_w = features.shape[-1]
        first = (w.keep_start - w.start) // hop
        last = frames_w if w.keep_stop >= total else (w.keep_stop - w.start) // hop
        feats.append(features[0, :, first:last])
        recons.append(recon[0, :, first:last])
        z = out.latent.sample if out.latent.mean is None else out.latent.mean
        first_z = (w.keep_start - w.start) // pipe.align
        last_z = z.shape[-1] if w.keep_stop >= total else (w.keep_stop - w.start) // pipe.align
        latents.append(z[0, :, first_z:last_z])
        if variational:
            kl = out.kl[0].sum(0)  # (latent_frames_w,) nats per latent frame
            kls.append((kl / down).repeat_interleave(down)[:frames_w][first:last])
    return Reconstruction(
        features=torch.cat(feats, -1).float().cpu(),
        reconstruction=torch.cat(recons, -1).float().cpu(),
        kl=torch.cat(kls).float().cpu() if variational else None,
        hop_s=hop / pipe.sample_rate,
        latent=torch.cat(latents, -1)[:, : pipe.num_latent_frames(total)].float().cpu(),
        latent_rate_hz=pipe.sample_rate / pipe.align,
        window_s=pipe.config.features.n_fft / pipe.sample_rate,
        duration_s=total / pipe.sample_rate,
    )


def check_error(error: str, reference: ReferenceStats | None) -> None:
    """``error`` is one of :data:`ERRORS`, with reference statistics when it needs them.

    Raises:
        ValueError: an unknown error, or ``standardised`` without a reference.
    """
    if error not in ERRORS:
        raise ValueError(f"error: {error!r} is not one of {', '.join(ERRORS)}")
    if error == "standardised" and reference is None:
        raise AnomalyReferenceError(
            "the standardised error needs reference statistics of normal audio "
            "(fit_reference, or --reference DIR|stats.json on the command line)"
        )


def compressed_error(pipe: Pipeline, rec: Reconstruction) -> torch.Tensor:
    """Signed compressed-magnitude error ``|X|^0.3 - |X'|^0.3`` per bin, ``(n_bins, frames)`` float64."""
    return rec.magnitude(pipe) ** COMPRESSION - rec.magnitude(pipe, "reconstruction") ** COMPRESSION


def errors_of(
    pipe: Pipeline,
    rec: Reconstruction,
    error: str = "standardised",
    reference: ReferenceStats | None = None,
) -> FrameErrors:
    """The per-frame ``error`` (and negative ELBO for VAEs) of one :class:`Reconstruction`.

    Raises:
        ValueError: unknown ``error``, or ``standardised`` without ``reference``, or a
            reference of another model or bin count.
    """
    check_error(error, reference)
    log_diff = (rec.features - rec.reconstruction).abs()  # (n_bins, frames)
    if error == "log":
        value = log_diff.mean(0)
    elif error == "compressed":
        value = compressed_error(pipe, rec).abs().mean(0).float()
    else:
        reference.check(pipe)
        z = (compressed_error(pipe, rec) - reference.mean[:, None]) / reference.std[:, None]
        value = z.square().mean(0).float()
    neg_elbo = None
    if rec.kl is not None:
        neg_elbo = log_diff.sum(0) + log_diff.shape[0] * math.log(2.0) + rec.kl
    return FrameErrors(
        error=value,
        neg_elbo=neg_elbo,
        hop_s=rec.hop_s,
        kind=error,
        window_s=rec.window_s,
        duration_s=rec.duration_s,
    )


def frame_errors(
    pipe: Pipeline,
    wav: torch.Tensor,
    *,
    error: str = "standardised",
    reference: ReferenceStats | None = None,
) -> FrameErrors:
    """Per-frame ``error`` of a waveform ``(channels, time)`` or ``(time,)`` at ``pipe.sample_rate``.

    Returns errors for ``pipe.frontend.num_frames(time)`` frames (centred STFT frames).

    Raises:
        audioae.pipeline.PipelineError: a mask model (see the module docstring).
        ValueError: not a 1-D/2-D waveform, NaN/Inf samples, unknown ``error``, or
            ``standardised`` without a matching ``reference``.
    """
    pipe.require_latent_decoder("anomaly scoring")
    check_error(error, reference)
    if reference is not None:
        reference.check(pipe)
    return errors_of(pipe, reconstruct_frames(pipe, wav), error, reference)


def compressed_features(pipe: Pipeline, rec: Reconstruction) -> torch.Tensor:
    """Compressed magnitudes ``|X|^0.3`` of the input features, ``(n_bins, frames)`` float64."""
    return rec.magnitude(pipe) ** COMPRESSION


def level_frames(pipe: Pipeline, rec: Reconstruction, reference: ReferenceStats) -> torch.Tensor:
    """Per frame, ``mean over bins ((|X|^0.3 - level_mean) / level_std)^2``, ``(frames,)`` float64.

    The features' own level per bin against the reference frames (about 1 on normal audio):
    sees energy where normal audio has none (hum) or none where it has some, whatever the
    model reconstructs.
    """
    z = (compressed_features(pipe, rec) - reference.level_mean[:, None]) / reference.level_std[
        :, None
    ]
    return z.square().mean(0)
