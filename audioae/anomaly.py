"""Anomaly scores from reconstruction error in the model's own feature space.

An autoencoder trained on "normal" audio reconstructs such audio well and other audio badly.
Per feature frame the error is ``mean over bins |features - reconstruction|`` (the features
are the model's own front-end: log-mel or log-magnitude, in nats of log magnitude); a file's
scores are the mean and the 95th percentile of that error over frames. For VAEs the
reconstruction uses the posterior mean, and the negative ELBO per frame is also given: the
summed absolute error (a unit-scale Laplace likelihood, plus ``n_bins * log 2``) plus the KL
of the frame's latent to ``N(0, I)``, in nats per feature frame.

Multichannel input is mixed to mono first. Long files are processed in windows on the
model's stride grid with a margin on each side (as :mod:`audioae.chunking` does for
encoding), so chunked and whole-file frame errors agree within float rounding.

Mask models (``model.output: mask``) are refused (:class:`audioae.pipeline.PipelineError`):
they "reconstruct" their input by masking it, so their error measures what the mask
removes, not how well the model knows the sound.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .chunking import plan_windows
from .fileio import atomic_output

SCORES = ("mean", "p95", "neg_elbo")
"""Score names: mean or 95th percentile of the per-frame error, or the mean negative ELBO (VAEs)."""


@dataclass
class FrameErrors:
    """Per-frame reconstruction errors of one signal.

    Attributes:
        error: mean absolute feature error per frame, ``(frames,)``.
        neg_elbo: negative ELBO per frame in nats, ``(frames,)``; None unless variational.
        hop_s: seconds between frames (frame ``i`` is centred at ``i * hop_s``).
    """

    error: torch.Tensor
    neg_elbo: torch.Tensor | None
    hop_s: float

    @property
    def times_s(self) -> torch.Tensor:
        """Centre of every frame in seconds, ``(frames,)``."""
        return torch.arange(self.error.shape[0], dtype=torch.float64) * self.hop_s


@dataclass
class AnomalyScore:
    """One file's anomaly scores (higher = less like what the model was trained on).

    Attributes:
        file: the input path as given (or a label).
        duration_s: input duration (s).
        mean: mean over frames of the per-frame error.
        p95: 95th percentile over frames of the per-frame error.
        neg_elbo: mean over frames of the negative ELBO (nats); None unless variational.
        frames: the per-frame errors.
    """

    file: str
    duration_s: float
    mean: float
    p95: float
    neg_elbo: float | None
    frames: FrameErrors

    def value(self, score: str) -> float:
        """The score named ``score`` (one of :data:`SCORES`).

        Raises:
            ValueError: unknown name, or ``neg_elbo`` for a non-variational model.
        """
        if score not in SCORES:
            raise ValueError(f"score: {score!r} is not one of {', '.join(SCORES)}")
        value = getattr(self, score)
        if value is None:
            raise ValueError(
                "score neg_elbo needs a variational model (model.bottleneck: gaussian)"
            )
        return float(value)


@dataclass
class RankedScore:
    """A row of the ranked table: ``rank`` 1 is the most anomalous file."""

    rank: int
    score: AnomalyScore
    value: float
    anomalous: bool | None


def _windows(pipe, total: int):
    sr = pipe.sample_rate
    chunk = max(pipe.align, int(pipe.chunk_seconds * sr))
    margin = max(pipe.align, int(pipe.margin_seconds * sr), pipe.config.features.n_fft)
    return plan_windows(total, chunk, margin, pipe.align)


@torch.inference_mode()
def frame_errors(pipe, wav: torch.Tensor) -> FrameErrors:
    """Per-frame reconstruction error of a waveform ``(channels, time)`` or ``(time,)`` at ``pipe.sample_rate``.

    Returns errors for ``pipe.num_frames(time)`` frames (centred STFT frames).

    Raises:
        audioae.pipeline.PipelineError: a mask model (see the module docstring).
        ValueError: not a 1-D/2-D waveform, or NaN/Inf samples.
    """
    pipe.require_latent_decoder("anomaly scoring")
    wav = torch.as_tensor(wav, dtype=torch.float32)
    if wav.ndim == 1:
        wav = wav.unsqueeze(0)
    if wav.ndim != 2:
        raise ValueError(f"expected a waveform (channels, time) or (time,), got {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise ValueError("waveform contains NaN or Inf samples")
    wav = wav.mean(0, keepdim=True).to(pipe.device)
    total = wav.shape[-1]
    hop = pipe.hop_length
    down = pipe.model.time_downsampling
    variational = pipe.is_variational
    errors, elbos = [], []
    for w in _windows(pipe, total):
        features = pipe.frontend(wav[..., w.start : w.stop])  # (1, n_bins, frames_w)
        out = pipe.model(features, sample_posterior=False)
        diff = (features - out.reconstruction).abs()[0]  # (n_bins, frames_w)
        first = (w.keep_start - w.start) // hop
        last = diff.shape[-1] if w.keep_stop >= total else (w.keep_stop - w.start) // hop
        errors.append(diff.mean(0)[first:last])
        if variational:
            kl = out.kl[0].sum(0)  # (latent_frames_w,) nats per latent frame
            kl_frames = (kl / down).repeat_interleave(down)[: diff.shape[-1]]
            nll = diff.sum(0) + diff.shape[0] * math.log(2.0)
            elbos.append((nll + kl_frames)[first:last])
    return FrameErrors(
        error=torch.cat(errors).float().cpu(),
        neg_elbo=torch.cat(elbos).float().cpu() if variational else None,
        hop_s=hop / pipe.sample_rate,
    )


def score_waveform(
    pipe, wav: torch.Tensor, *, duration_s: float | None = None, file: str = ""
) -> AnomalyScore:
    """Scores of a waveform ``(channels, time)`` at ``pipe.sample_rate`` (see :func:`frame_errors`)."""
    frames = frame_errors(pipe, wav)
    wav_len = torch.as_tensor(wav).shape[-1]
    return AnomalyScore(
        file=file,
        duration_s=float(wav_len / pipe.sample_rate if duration_s is None else duration_s),
        mean=float(frames.error.mean()),
        p95=float(torch.quantile(frames.error.double(), 0.95)),
        neg_elbo=None if frames.neg_elbo is None else float(frames.neg_elbo.mean()),
        frames=frames,
    )


def score_file(pipe, path: str | os.PathLike) -> AnomalyScore:
    """Read any audio file (any rate and channel count), resample to the model's rate, score it.

    Raises:
        audioae.audio.AudioError: unreadable or empty file.
        audioae.pipeline.PipelineError: a mask model.
    """
    from .apps import load_for_model

    wav, sample_rate, length = load_for_model(pipe, path)
    return score_waveform(pipe, wav, duration_s=length / sample_rate, file=str(path))


def fit_threshold(values: Sequence[float], quantile: float = 0.95) -> float:
    """The ``quantile`` of reference scores (linear interpolation): files above it are flagged.

    Raises:
        ValueError: no values, or ``quantile`` outside [0, 1].
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile: must be in [0, 1], got {quantile}")
    if len(values) == 0:
        raise ValueError("fit_threshold: no reference scores")
    return float(np.quantile(np.asarray(values, dtype=np.float64), quantile))


def rank_scores(
    scores: Sequence[AnomalyScore], *, score: str = "mean", threshold: float | None = None
) -> list[RankedScore]:
    """Sort by ``score`` (highest first); flag ``value > threshold`` when a threshold is given.

    Raises:
        ValueError: unknown score name, or ``neg_elbo`` for a non-variational model.
    """
    values = [s.value(score) for s in scores]
    order = sorted(range(len(scores)), key=lambda i: (-values[i], scores[i].file))
    return [
        RankedScore(
            rank=r + 1,
            score=scores[i],
            value=values[i],
            anomalous=None if threshold is None else values[i] > threshold,
        )
        for r, i in enumerate(order)
    ]


def write_scores_csv(
    path: str | os.PathLike,
    ranked: Sequence[RankedScore],
    *,
    score: str = "mean",
    threshold: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the ranked table atomically.

    Columns: rank, file, duration_s, score (the ranking score's name), score_mean, score_p95,
    neg_elbo (empty unless variational), then threshold and anomalous (0/1) when a threshold
    was fitted.

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    header = ["rank", "file", "duration_s", "score", "score_mean", "score_p95", "neg_elbo"]
    if threshold is not None:
        header += ["threshold", "anomalous"]
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in ranked:
            s = row.score
            line = [
                row.rank,
                s.file,
                f"{s.duration_s:.6f}",
                score,
                f"{s.mean:.6g}",
                f"{s.p95:.6g}",
                "" if s.neg_elbo is None else f"{s.neg_elbo:.6g}",
            ]
            if threshold is not None:
                line += [f"{threshold:.6g}", int(bool(row.anomalous))]
            writer.writerow(line)
    return Path(path)


def write_frames_csv(
    path: str | os.PathLike, scores: Sequence[AnomalyScore], *, overwrite: bool = False
) -> Path:
    """Write per-frame scores atomically: file, frame, time_s, error, neg_elbo (empty unless VAE).

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "frame", "time_s", "error", "neg_elbo"])
        for s in scores:
            f = s.frames
            elbo = f.neg_elbo.tolist() if f.neg_elbo is not None else [None] * len(f.error)
            for i, (t, e, n) in enumerate(zip(f.times_s.tolist(), f.error.tolist(), elbo)):
                writer.writerow(
                    [s.file, i, f"{t:.4f}", f"{e:.6g}", "" if n is None else f"{n:.6g}"]
                )
    return Path(path)
