"""Anomaly scores from reconstruction error in the model's own feature space.

An autoencoder trained on "normal" audio reconstructs such audio well and other audio badly.
Per feature frame, one of three errors (:data:`ERRORS`) between the model's front-end features
``X`` and their reconstruction ``X'`` (as magnitudes per bin, ``|X|``: linear STFT or mel-band
magnitude):

- ``standardised`` (the default): the signed error of compressed magnitudes
  ``d = |X|^0.3 - |X'|^0.3`` per bin, standardised with that bin's mean and standard deviation
  over the frames of a reference set of normal audio (:class:`ReferenceStats`), then
  ``mean over bins ((d - mean) / std)^2`` (a diagonal Mahalanobis distance of the error; about 1
  on normal audio). Level-aware (quiet bins cannot dominate, unlike log errors) and comparable
  across bins. Needs reference statistics: :func:`fit_reference` on normal audio, stored as JSON.
- ``compressed``: ``mean over bins |d|``; no statistics needed, but loud bins dominate.
- ``log``: ``mean over bins |X - X'|`` in nats of log magnitude (the first score). Dominated
  by quiet bins, so audio that fills the spectrum (clipping, broadband noise) scores *lower*.

The choice of ``standardised`` was made on a validation split carved from the benchmark's
train split (``benchmarks/bench_embed.py --validate``; docs/benchmarks.md). A file's scores are
the mean and the 95th percentile of the per-frame error over frames.

With reference statistics a file also gets file-level terms (:func:`file_terms`; :data:`TERMS`)
and the ``combined`` score, the default with a reference: the logarithm of each term of
:data:`COMBINED_TERMS` as a z-score over the reference files' values, summed (about 0 on
normal audio). Its terms are the standardised error's mean; the ``latent`` distance, a
diagonal-Gaussian distance of the file's pooled embedding (mean, std and mean absolute delta
of its latent frames, as ``audioae embed`` writes) from the reference files': a latent-density
term, which sees audio the model reconstructs well but encodes unlike normal audio (stationary
noise among speech); and the ``quiet_band`` error, :func:`band_error` over the file's
quietest tenth of frames (:func:`quiet_frames`), which sees a steady fault confined to a few
bins (hum under a decaying note) that the loud frames and the mean over bins dilute. The
combination was chosen on validation splits (docs/benchmarks.md, rounds 1-5 and 18; round 5's
``band`` term, the same over all frames, was in it until round 18). The other terms (99th
percentile of the error; the features' own per-bin level z-score, mean and 99th percentile;
the distance of the file's long-term spectrum; the ``floor``, the log level of each bin's
quietest frames, :func:`feature_floor`) were candidates there and stay available to
:func:`combined_score`. For VAEs the
reconstruction uses the posterior mean, and the negative ELBO per frame is also given: the
summed absolute log error (a unit-scale Laplace likelihood, plus ``n_bins * log 2``) plus the KL
of the frame's latent to ``N(0, I)``, in nats per feature frame (whatever the error).

For a model trained to inpaint bands (``model.inpaint_groups`` > 0, :mod:`audioae.inpaint`)
the reconstruction of every bin comes from a pass with that bin's group masked at the input,
so the error is how badly the rest of the spectrum predicts the bin (the latent, the KL and
embeddings still come from the unmasked input). The reference statistics are fitted the same
way, so every score and term applies unchanged.

Multichannel input is mixed to mono first. Long files are processed in windows on the
model's stride grid with a margin on each side (as :mod:`audioae.chunking` does for
encoding), so chunked and whole-file frame errors agree within float rounding.

Mask models (``model.output: mask`` or ``crm``) are refused (:class:`audioae.pipeline.PipelineError`):
they "reconstruct" their input by masking it, so their error measures what the mask
removes, not how well the model knows the sound.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from .anomaly_frames import (
    ERRORS,
    FrameErrors,
    Reconstruction,
    check_error,
    compressed_error,
    compressed_features,
    errors_of,
    frame_errors,
    reconstruct_frames,
)

__all__ = [
    "BAND_FRACTION",
    "COMBINE",
    "COMBINED_TERMS",
    "ERRORS",
    "FLOOR_EPS",
    "FLOOR_QUANTILE",
    "LOG_TERMS",
    "QUIET_FRACTION",
    "SCORES",
    "TERM_FLOOR",
    "AnomalyScore",
    "FrameErrors",
    "Reconstruction",
    "band_error",
    "combined_score",
    "compressed_error",
    "errors_of",
    "feature_floor",
    "feature_spectrum",
    "file_terms",
    "fit_reference",
    "frame_errors",
    "latent_distance",
    "quiet_frames",
    "reconstruct_frames",
    "score_file",
    "score_reconstruction",
    "score_waveform",
    "term_stats",
    "term_zscores",
]
from .anomaly_reference import (
    STD_FLOOR,
    TERMS,
    AnomalyReferenceError,
    ReferenceStats,
)
from .anomaly_terms import (
    BAND_FRACTION,
    COMBINE,
    COMBINED_TERMS,
    FLOOR_EPS,
    FLOOR_QUANTILE,
    LOG_TERMS,
    QUIET_FRACTION,
    TERM_FLOOR,
    band_error,
    combined_score,
    feature_floor,
    feature_spectrum,
    file_terms,
    latent_distance,
    quiet_frames,
    term_zscores,
)
from .embed import pool_frames

if TYPE_CHECKING:  # annotations only: no import of the pipeline at run time
    from .pipeline import Pipeline


SCORES = ("combined", "mean", "p95", "neg_elbo")
"""Score names: the combined score (needs reference statistics; the default), the mean or
95th percentile of the per-frame error, or the mean negative ELBO (VAEs)."""


@dataclass
class AnomalyScore:
    """One file's anomaly scores (higher = less like what the model was trained on).

    Attributes:
        file: the input path as given (or a label).
        duration_s: input duration (s).
        error: the per-frame error the scores are made of (one of :data:`ERRORS`).
        mean: mean over frames of the per-frame error.
        p95: 95th percentile over frames of the per-frame error.
        neg_elbo: mean over frames of the negative ELBO (nats); None unless variational.
        frames: the per-frame errors.
        terms: the raw file-level terms (:func:`file_terms`); None without reference statistics.
        combined: the combined score (:func:`combined_score`: the terms of
            :data:`COMBINED_TERMS` as z-scores over the reference files, summed; about 0 on
            normal audio); None without reference statistics.
        term_z: those z-scores, ``{term: z}``; None without reference statistics.
        rms_db: the file's level (RMS of its mono mix, dBFS; ``-inf`` for digital silence),
            set by :func:`score_file`; None for a waveform scored directly. An autoencoder
            reconstructs silence well, so a silent file scores low: check the level too.
    """

    file: str
    duration_s: float
    error: str
    mean: float
    p95: float
    neg_elbo: float | None
    frames: FrameErrors
    terms: dict[str, float] | None = None
    combined: float | None = None
    term_z: dict[str, float] | None = None
    rms_db: float | None = None

    def value(self, score: str) -> float:
        """The score named ``score`` (one of :data:`SCORES`).

        Raises:
            ValueError: unknown name, or ``neg_elbo`` for a non-variational model.
        """
        if score not in SCORES:
            raise ValueError(f"score: {score!r} is not one of {', '.join(SCORES)}")
        value = getattr(self, score)
        if value is None and score == "combined":
            raise AnomalyReferenceError(
                "score combined needs reference statistics of normal audio (fit_reference, or "
                "--reference DIR|stats.json on the command line)"
            )
        if value is None:
            raise ValueError(
                "score neg_elbo needs a variational model (model.bottleneck: gaussian)"
            )
        return float(value)


def _score(
    frames: FrameErrors,
    duration_s: float,
    file: str,
    terms: dict[str, float] | None = None,
    reference: ReferenceStats | None = None,
) -> AnomalyScore:
    have = terms is not None and reference is not None
    return AnomalyScore(
        file=file,
        duration_s=float(duration_s),
        error=frames.kind,
        mean=float(frames.error.mean()),
        p95=float(torch.quantile(frames.error.double(), 0.95)),
        neg_elbo=None if frames.neg_elbo is None else float(frames.neg_elbo.mean()),
        frames=frames,
        terms=terms,
        combined=combined_score(terms, reference) if have else None,
        term_z=term_zscores(terms, reference) if have else None,
    )


def score_reconstruction(
    pipe: Pipeline,
    rec: Reconstruction,
    *,
    duration_s: float,
    file: str = "",
    error: str = "standardised",
    reference: ReferenceStats | None = None,
) -> AnomalyScore:
    """Scores of one :class:`Reconstruction`: the per-frame ``error``'s mean and p95, and with
    ``reference`` the file-level terms and the combined score.

    Raises:
        ValueError: see :func:`errors_of`.
    """
    frames = errors_of(pipe, rec, error, reference)
    if reference is None:
        return _score(frames, duration_s, file)
    return _score(frames, duration_s, file, file_terms(pipe, rec, reference), reference)


def score_waveform(
    pipe: Pipeline,
    wav: torch.Tensor,
    *,
    duration_s: float | None = None,
    file: str = "",
    error: str = "standardised",
    reference: ReferenceStats | None = None,
) -> AnomalyScore:
    """Scores of a waveform ``(channels, time)`` at ``pipe.sample_rate`` (see :func:`frame_errors`);
    with ``reference``, also the combined score (:func:`score_reconstruction`)."""
    pipe.require_latent_decoder("anomaly scoring")
    check_error(error, reference)
    if reference is not None:
        reference.check(pipe)
    wav_len = torch.as_tensor(wav).shape[-1]
    return score_reconstruction(
        pipe,
        reconstruct_frames(pipe, wav),
        duration_s=wav_len / pipe.sample_rate if duration_s is None else duration_s,
        file=file,
        error=error,
        reference=reference,
    )


def score_file(
    pipe: Pipeline,
    path: str | os.PathLike,
    *,
    error: str = "standardised",
    reference: ReferenceStats | None = None,
) -> AnomalyScore:
    """Read any audio file (any rate and channel count), resample to the model's rate, score it.

    Raises:
        audioae.audio.AudioError: unreadable or empty file.
        audioae.pipeline.PipelineError: a mask model.
        ValueError: see :func:`frame_errors`.
    """
    from .apps import load_for_model
    from .audio import rms_db

    wav, sample_rate, length = load_for_model(pipe, path, pad=False)  # as score_waveform
    score = score_waveform(
        pipe,
        wav,
        duration_s=length / sample_rate,
        file=str(path),
        error=error,
        reference=reference,
    )
    score.rms_db = float(rms_db(wav.mean(0)))
    return score


def _mean_std(x: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(dim), x.std(dim, correction=0) + STD_FLOOR


def _leave_one_out(parts: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per file ``i``, the mean and std (plus floor) over the columns of every *other* file's
    part ``(dims, n)`` (its frames, or one column for a file-level vector), as :func:`_mean_std`
    of their concatenation would give (of all files when there are fewer than three); from
    per-file sums in float64, in linear time."""
    if len(parts) < 3:
        return [_mean_std(torch.cat(list(parts), -1))] * len(parts)
    sums = [(f.double().sum(-1), f.double().square().sum(-1), f.shape[-1]) for f in parts]
    total = sum(s for s, _, _ in sums)
    total_sq = sum(q for _, q, _ in sums)
    count = sum(n for _, _, n in sums)
    out = []
    for (s, q, n), f in zip(sums, parts, strict=True):
        mean = (total - s) / (count - n)
        var = ((total_sq - q) / (count - n) - mean.square()).clamp_min(0.0)
        out.append((mean.to(f.dtype), var.sqrt().to(f.dtype) + STD_FLOOR))
    return out


def term_stats(values: Sequence[float]) -> tuple[float, float, float, float]:
    """``(mean, std, log_mean, log_std)`` of one term's values over the reference files, as
    :attr:`ReferenceStats.terms` holds them: population standard deviations plus
    ``STD_FLOOR * (1 + |mean|)``, logarithms of the values floored at :data:`TERM_FLOOR`."""
    x = torch.tensor(list(values), dtype=torch.float64)
    logs = x.clamp_min(TERM_FLOOR).log()
    m, lm = float(x.mean()), float(logs.mean())
    return (
        m,
        float(x.std(correction=0)) + STD_FLOOR * (1.0 + abs(m)),
        lm,
        float(logs.std(correction=0)) + STD_FLOOR * (1.0 + abs(lm)),
    )


def fit_reference(
    pipe: Pipeline, signals: Sequence[torch.Tensor]
) -> tuple[ReferenceStats, list[dict[str, AnomalyScore]]]:
    """Fit :class:`ReferenceStats` on waveforms of normal audio ``(channels, time)`` at ``pipe.sample_rate``.

    Give at least :data:`~audioae.anomaly_reference.MIN_REFERENCE_FILES` (5) signals, 20 or
    more for a steady threshold (``audioae anomaly --reference`` refuses fewer than 5): with
    one or two, the spreads the terms are standardised by are not estimated and a new file
    scores thousands of them away.

    The per-bin statistics pool every frame of every signal; the embedding statistics, one
    pooled embedding per signal. The signals are then scored under every error of
    :data:`ERRORS`, kept for thresholds, each as a new file would be: with every statistic
    (per-bin error and level, embedding, spectrum, floor) fitted on the *other* signals
    (left-one-out, the jackknife; all signals when there are fewer than three), so no file is
    measured against statistics it helped to fit and the terms' z-scores and a threshold's
    quantile describe unseen normal audio. The returned statistics are fitted on all signals.

    Returns:
        the statistics, and per signal ``{error: AnomalyScore}`` (``file`` left empty).

    Raises:
        ValueError: no signals; see also :func:`reconstruct_frames`.
    """
    if len(signals) == 0:
        raise ValueError("fit_reference: no reference audio")
    recs = [reconstruct_frames(pipe, wav) for wav in signals]
    lengths = [torch.as_tensor(wav).shape[-1] for wav in signals]
    errors = [compressed_error(pipe, r) for r in recs]
    levels = [compressed_features(pipe, r) for r in recs]
    err_mean, err_std = _mean_std(torch.cat(errors, -1))
    lvl_mean, lvl_std = _mean_std(torch.cat(levels, -1))
    pooled = torch.stack([torch.cat(pool_frames(r.latent)) for r in recs]).double()
    emb_mean, emb_std = _mean_std(pooled, 0)
    spectra = torch.stack([feature_spectrum(pipe, r) for r in recs])
    spec_mean, spec_std = _mean_std(spectra, 0)
    floors = torch.stack([feature_floor(pipe, r) for r in recs])
    floor_mean, floor_std = _mean_std(floors, 0)
    stats = ReferenceStats(
        mean=err_mean,
        std=err_std,
        level_mean=lvl_mean,
        level_std=lvl_std,
        embedding_mean=emb_mean,
        embedding_std=emb_std,
        spectrum_mean=spec_mean,
        spectrum_std=spec_std,
        floor_mean=floor_mean,
        floor_std=floor_std,
        terms={},
        frames=sum(int(r.features.shape[-1]) for r in recs),
        model_hash=pipe.model_hash.hex() if pipe.model_hash else "",
        scores={},
    )
    # each reference file is scored as a new file would be: with every statistic fitted on
    # the other reference files (per-bin ones from running sums)
    own = [
        replace(stats, mean=e_mean, std=e_std, level_mean=l_mean, level_std=l_std)
        for (e_mean, e_std), (l_mean, l_std) in zip(
            _leave_one_out(errors), _leave_one_out(levels), strict=True
        )
    ]
    raw = [
        file_terms(pipe, r, s, embedding=emb, spectrum=spec, floor=flo)
        for r, s, emb, spec, flo in zip(
            recs,
            own,
            *(_leave_one_out([v[:, None] for v in x]) for x in (pooled, spectra, floors)),
            strict=True,
        )
    ]
    for name in TERMS:
        stats.terms[name] = term_stats([t[name] for t in raw])
    per_signal = []
    for r, n, t, s in zip(recs, lengths, raw, own, strict=True):
        per_signal.append(
            {e: _score(errors_of(pipe, r, e, s), n / pipe.sample_rate, "", t, s) for e in ERRORS}
        )
    keys = SCORES if pipe.is_variational else tuple(k for k in SCORES if k != "neg_elbo")
    stats.scores = {e: {k: [s[e].value(k) for s in per_signal] for k in keys} for e in ERRORS}
    return stats, per_signal
