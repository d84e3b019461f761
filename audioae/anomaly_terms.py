"""The file-level terms of the anomaly scores and their combination (see :mod:`audioae.anomaly`,
which re-exports every name here).

A file's terms (:func:`file_terms`) are scale quantities of one file: the standardised
reconstruction error's mean and 99th percentile, the features' own level, the diagonal-Gaussian
distance of the pooled latent, of the long-term spectrum and of the floor from the reference
files', the ``band`` error and the same over the quietest frames (``quiet_band``).
:func:`term_zscores` standardises them over the reference
files and :func:`combined_score` sums (or takes the maximum of) the z-scores of
:data:`COMBINED_TERMS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .anomaly_frames import Reconstruction, compressed_error, compressed_features, level_frames
from .anomaly_reference import AnomalyReferenceError, ReferenceStats
from .embed import pool_frames

__all__ = [
    "BAND_FRACTION",
    "COMBINE",
    "COMBINED_TERMS",
    "FLOOR_EPS",
    "FLOOR_QUANTILE",
    "LOG_TERMS",
    "QUIET_FRACTION",
    "TERM_FLOOR",
    "band_error",
    "combined_score",
    "feature_floor",
    "feature_spectrum",
    "file_terms",
    "latent_distance",
    "quiet_frames",
    "term_zscores",
]

if TYPE_CHECKING:  # annotations only: no import of the pipeline at run time
    from .pipeline import Pipeline


COMBINED_TERMS = ("reconstruction", "latent", "quiet_band")
"""The terms of the ``combined`` score, the default with reference statistics, chosen on
validation splits of the benchmark's train data (docs/benchmarks.md): round 18 (2026-12-03)
replaced round 5's ``band`` term by ``quiet_band``, which won 9 of the anomaly recipe's 10
validation cells (speech, and notes over five pitch folds) against 8 for reconstruction +
latent + band, the default from round 5 to 18."""

COMBINE = "sum"
"""How the standardised terms are combined: ``sum`` or ``max``."""

LOG_TERMS = True
"""Standardise the logarithm of each term (the terms are positive scale quantities, mean
squared z-scores, whose spread grows with their level) rather than the term itself."""

FLOOR_QUANTILE = 0.01
"""Quantile over frames of the ``floor`` term (:func:`feature_floor`): the quietest 1 %."""

QUIET_FRACTION = 0.1
"""The ``quiet_band`` term looks at this share of a file's frames, the quietest by the energy
of the input features (at least one frame)."""

BAND_FRACTION = 0.125
"""The ``band`` term averages the squared per-bin mean errors of this share of the bins (the
largest ones, at least one bin): an anomaly confined to part of the spectrum."""

FLOOR_EPS = 1e-5
"""Magnitudes are clamped to at least this before the ``floor`` term's logarithm."""

TERM_FLOOR = 1e-12
"""Terms are clamped to at least this before their logarithm is taken."""


def feature_spectrum(pipe: Pipeline, rec: Reconstruction) -> torch.Tensor:
    """Mean and std over frames of ``|X|^0.3`` per bin: ``(2 * n_bins,)`` float64, the file's
    long-term spectrum and its spread."""
    x = compressed_features(pipe, rec)
    return torch.cat([x.mean(-1), x.std(-1, correction=0)])


def feature_floor(pipe: Pipeline, rec: Reconstruction) -> torch.Tensor:
    """The file's floor per bin: the :data:`FLOOR_QUANTILE` quantile over frames of
    ``log(max(|X|, FLOOR_EPS))``, ``(n_bins,)`` float64.

    The level of the quietest frames, in the spirit of minimum-statistics noise estimation
    (Martin, "Noise power spectral density estimation based on optimal smoothing and minimum
    statistics", 2001): stationary sound added to normal audio (hum, hiss, a noise recording)
    raises it, digital silence where normal audio always has a noise floor (a dropout) lowers
    it. Logarithmic, so the difference between a quiet room and digital zero counts.
    """
    x = rec.magnitude(pipe).clamp_min(FLOOR_EPS).log()
    return torch.quantile(x, FLOOR_QUANTILE, dim=-1)


def latent_distance(pooled: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> float:
    """Diagonal-Gaussian distance ``mean over dims ((pooled - mean) / std)^2`` of a pooled embedding."""
    return float(((pooled.double() - mean) / std).square().mean())


def _quantile(x: torch.Tensor, q: float) -> float:
    return float(torch.quantile(x.double(), q))


def file_terms(
    pipe: Pipeline,
    rec: Reconstruction,
    reference: ReferenceStats,
    *,
    embedding: tuple[torch.Tensor, torch.Tensor] | None = None,
    spectrum: tuple[torch.Tensor, torch.Tensor] | None = None,
    floor: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """The file-level terms of :data:`TERMS` for one :class:`Reconstruction` (raw, unstandardised).

    ``reconstruction`` / ``reconstruction_p99``: mean / 99th percentile over frames of the
    standardised error; ``level`` / ``level_p99``: the same of :func:`level_frames`;
    ``latent``: :func:`latent_distance` of the pooled embedding (mean, std and mean absolute
    delta of the latent frames, :func:`audioae.embed.pool_frames`) from the reference files'.
    ``spectrum``: the same distance of :func:`feature_spectrum` from the reference files';
    ``floor``: the same distance of :func:`feature_floor`; ``band``: :func:`band_error` of the
    standardised error; ``quiet_band``: the same over the :func:`quiet_frames` only.
    ``embedding`` / ``spectrum`` / ``floor`` override the reference's ``(mean, std)`` of those
    vectors (used for the reference files' own, leave-one-out, values).
    """
    z = (compressed_error(pipe, rec) - reference.mean[:, None]) / reference.std[:, None]
    err = z.square().mean(0)
    lvl = level_frames(pipe, rec, reference)
    emb_mean, emb_std = embedding or (reference.embedding_mean, reference.embedding_std)
    spec_mean, spec_std = spectrum or (reference.spectrum_mean, reference.spectrum_std)
    floor_mean, floor_std = floor or (reference.floor_mean, reference.floor_std)
    return {
        "reconstruction": float(err.mean()),
        "reconstruction_p99": _quantile(err, 0.99),
        "level": float(lvl.mean()),
        "level_p99": _quantile(lvl, 0.99),
        "latent": latent_distance(torch.cat(pool_frames(rec.latent)), emb_mean, emb_std),
        "spectrum": latent_distance(feature_spectrum(pipe, rec), spec_mean, spec_std),
        "floor": latent_distance(feature_floor(pipe, rec), floor_mean, floor_std),
        "band": band_error(z),
        "quiet_band": band_error(z[:, quiet_frames(pipe, rec)]),
    }


def quiet_frames(
    pipe: Pipeline, rec: Reconstruction, fraction: float = QUIET_FRACTION, *, inner: bool = False
) -> torch.Tensor:
    """The file's quietest frames: a boolean mask ``(frames,)``, true where the energy of the
    input features (sum over bins of ``|X|^2``) is at or below its ``fraction`` quantile
    (default :data:`QUIET_FRACTION`) over the file's frames; at least one frame. ``inner``:
    over the frames whose window lies inside the signal only (not :attr:`Reconstruction.edge`,
    whose STFT padding makes them quiet; all frames when every one is an edge frame).

    Why (docs/benchmarks.md, rounds 7 and 18): a steady sound added under a sound that
    decays or pauses (mains hum under a note, a whine under speech) fills its quiet frames,
    where the model has least else to reconstruct, while the loud frames' errors dilute it
    in a mean over all frames. The ``band`` error over these frames alone scored notes hum
    0.87 AUROC against 0.60 over all frames on the benchmark's validation pitch folds.
    The default keeps the padded edge frames among the candidates (``inner=False``): on
    steady audio they raise every file's term alike, which the z-score over the reference
    files absorbs, and leaving them out lost notes hum on validation (round 20).

    Raises:
        ValueError: ``fraction`` outside (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: must be in (0, 1], got {fraction!r}")
    energy = rec.magnitude(pipe).square().sum(0)  # float64 (Reconstruction.magnitude)
    allowed = torch.ones_like(energy, dtype=torch.bool)
    if inner and not bool(rec.edge.all()):
        allowed = ~rec.edge
    quiet = allowed & (energy <= torch.quantile(energy[allowed], fraction))
    if not bool(quiet.any()):  # NaN-free energy always has its quantile's frame; be safe
        quiet = allowed & (energy == energy[allowed].min())
    return quiet


def band_error(z: torch.Tensor) -> float:
    """The ``band`` term of standardised signed errors ``z`` ``(n_bins, frames)``: each bin's
    mean over frames, squared, averaged over the largest :data:`BAND_FRACTION` of the bins.

    The frame-level error averages over all bins, so a fault confined to a few bins that
    lasts the whole file (mains hum, a whine, band-limited noise) is diluted there; a bin the
    model misses in every frame stands out here, since normal audio's errors average out
    over frames.
    """
    per_bin = z.mean(-1).square()
    k = max(1, round(BAND_FRACTION * per_bin.shape[0]))
    return float(per_bin.topk(k).values.mean())


def term_zscores(
    terms: dict[str, float],
    reference: ReferenceStats,
    names: Sequence[str] = COMBINED_TERMS,
    log: bool = LOG_TERMS,
) -> dict[str, float]:
    """The terms ``names`` as z-scores over the reference files (``log``: of their logarithm).

    Raises:
        AnomalyReferenceError: a term the reference lacks.
    """
    missing = [n for n in names if n not in reference.terms]
    if missing:
        raise AnomalyReferenceError(f"the reference statistics have no {missing} terms")
    if log:
        return {
            n: (math.log(max(terms[n], TERM_FLOOR)) - reference.terms[n][2]) / reference.terms[n][3]
            for n in names
        }
    return {n: (terms[n] - reference.terms[n][0]) / reference.terms[n][1] for n in names}


def combined_score(
    terms: dict[str, float],
    reference: ReferenceStats,
    names: Sequence[str] = COMBINED_TERMS,
    how: str = COMBINE,
    log: bool = LOG_TERMS,
) -> float:
    """Sum (``how="sum"``) or maximum (``"max"``) of the terms ``names`` as z-scores over the
    reference files: ``(term - mean) / std`` with :attr:`ReferenceStats.terms` (``log``: of
    ``log(term)``).

    Raises:
        ValueError: unknown ``how``; AnomalyReferenceError: a term the reference lacks.
    """
    if how not in ("sum", "max"):
        raise ValueError(f"how: {how!r} is not 'sum' or 'max'")
    z = term_zscores(terms, reference, names, log).values()
    return float(sum(z) if how == "sum" else max(z))
