"""Reference statistics of normal audio for anomaly scores, and their JSON file.

:func:`audioae.anomaly.fit_reference` computes a :class:`ReferenceStats` from a folder of
normal audio; :func:`save_reference` / :func:`load_reference` store it as JSON (never pickle;
every field checked on reading) so a later ``audioae anomaly --reference stats.json`` scores
against the same statistics; :func:`fit_threshold` turns the reference files' scores into a
threshold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .fileio import atomic_output

if TYPE_CHECKING:  # annotations only: no import of the pipeline at run time
    from .pipeline import Pipeline


COMPRESSION = 0.3
"""Exponent of the compressed magnitude ``|X|^0.3`` used by the ``standardised`` and
``compressed`` errors."""

STD_FLOOR = 1e-6
"""Added to every bin's reference standard deviation (compressed-magnitude units), to every
pooled-embedding dimension's, and (times ``1 + |mean|``) to every term's."""

TERMS = (
    "reconstruction",
    "reconstruction_p99",
    "level",
    "level_p99",
    "latent",
    "spectrum",
    "floor",
    "band",
    "quiet_band",
)
"""File-level terms (:func:`file_terms`), each standardised on the reference files' values."""

REFERENCE_FORMAT = "audioae-anomaly-reference"
REFERENCE_VERSION = 5
"""5 since the ``quiet_band`` term and the combined score built on it (round 18, 2026-12-03):
version 4 files lack the term. 4 was since the reference files' own scores are left-one-out
(round 12, 2026-12-01). Earlier versions are refused; fit them again."""


MAX_REFERENCE_BYTES = 256 * 2**20
"""The largest reference statistics file read (256 MiB; a reference of 100 000 files is
about 40 MB)."""

MIN_REFERENCE_FILES = 5
"""The fewest normal files ``audioae anomaly --reference DIR`` fits on: below it the spread of
the reference scores (the z-scores of the combined score, the threshold's quantile) is not
estimated (with one file every new file is thousands of spreads away)."""


class AnomalyReferenceError(ValueError):
    """Missing, unreadable or mismatched reference statistics (a user error on the CLI)."""


@dataclass
class ReferenceStats:
    """Statistics of normal audio for the ``standardised`` error and the combined score.

    Attributes:
        mean: per-bin mean of the signed compressed-magnitude error over the reference
            frames, ``(n_bins,)`` float64.
        std: per-bin standard deviation of that error plus :data:`STD_FLOOR`, ``(n_bins,)``.
        level_mean: per-bin mean of the features' compressed magnitude ``|X|^0.3`` over the
            reference frames, ``(n_bins,)`` float64.
        level_std: its per-bin standard deviation plus :data:`STD_FLOOR`, ``(n_bins,)``.
        embedding_mean: mean of the reference files' pooled embeddings (mean, std, delta per
            latent channel), ``(3 * latent_dim,)`` float64.
        embedding_std: their standard deviation plus :data:`STD_FLOOR`, ``(3 * latent_dim,)``.
        spectrum_mean: mean of the reference files' :func:`feature_spectrum`, ``(2 * n_bins,)``.
        spectrum_std: their standard deviation plus :data:`STD_FLOOR`, ``(2 * n_bins,)``.
        floor_mean: mean of the reference files' :func:`~audioae.anomaly.feature_floor`
            (log magnitude of the quietest frames per bin), ``(n_bins,)``.
        floor_std: their standard deviation plus :data:`STD_FLOOR`, ``(n_bins,)``.
        terms: ``{term: (mean, std, log_mean, log_std)}`` of every term of :data:`TERMS` and
            of its logarithm over the reference files (``latent``, ``spectrum`` and ``floor``
            left-one-out: each file against the other files' statistics).
        frames: number of reference frames.
        model_hash: hex digest of the model's weights the statistics belong to ("" = unchecked).
        scores: the reference files' scores, ``{error: {score: [one per file]}}``, for
            thresholds (:meth:`threshold`).
    """

    mean: torch.Tensor
    std: torch.Tensor
    level_mean: torch.Tensor
    level_std: torch.Tensor
    embedding_mean: torch.Tensor
    embedding_std: torch.Tensor
    spectrum_mean: torch.Tensor
    spectrum_std: torch.Tensor
    floor_mean: torch.Tensor
    floor_std: torch.Tensor
    terms: dict[str, tuple[float, float, float, float]]
    frames: int
    model_hash: str
    scores: dict[str, dict[str, list[float]]]

    @property
    def n_bins(self) -> int:
        return int(self.mean.shape[0])

    def check(self, pipe: Pipeline) -> None:
        """Raise :class:`AnomalyReferenceError` unless these statistics belong to ``pipe``'s model."""
        if self.n_bins != pipe.frontend.n_bins:
            raise AnomalyReferenceError(
                f"reference statistics fitted with another model: {self.n_bins} feature bins, "
                f"this model's {pipe.frontend.n_bins}"
            )
        if self.embedding_mean.shape[0] != 3 * pipe.model.latent_dim:
            raise AnomalyReferenceError(
                f"reference statistics fitted with another model: "
                f"{self.embedding_mean.shape[0]} embedding values, this model's pooled "
                f"embedding {3 * pipe.model.latent_dim}"
            )
        if self.model_hash and pipe.model_hash and self.model_hash != pipe.model_hash.hex():
            raise AnomalyReferenceError(
                "reference statistics were fitted with another model (weights differ)"
            )

    def threshold(self, error: str, score: str, quantile: float = 0.95) -> float:
        """The ``quantile`` of the reference files' ``score`` under ``error`` (see :func:`fit_threshold`).

        Raises:
            ValueError: no reference scores for that error and score (e.g. ``neg_elbo``).
        """
        values = self.scores.get(error, {}).get(score)
        if not values:
            raise ValueError(f"the reference has no {score!r} scores for the {error!r} error")
        return fit_threshold(values, quantile)


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


_TENSORS = (
    "mean",
    "std",
    "level_mean",
    "level_std",
    "embedding_mean",
    "embedding_std",
    "spectrum_mean",
    "spectrum_std",
    "floor_mean",
    "floor_std",
)


def save_reference(
    path: str | os.PathLike, stats: ReferenceStats, *, overwrite: bool = False
) -> Path:
    """Write ``stats`` as JSON (format :data:`REFERENCE_FORMAT`, version :data:`REFERENCE_VERSION`), atomically.

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    doc = {
        "format": REFERENCE_FORMAT,
        "version": REFERENCE_VERSION,
        "compression": COMPRESSION,
        "model_hash": stats.model_hash,
        "frames": stats.frames,
        **{name: getattr(stats, name).tolist() for name in _TENSORS},
        "terms": {k: list(v) for k, v in stats.terms.items()},
        "scores": stats.scores,
    }
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
    return Path(path)


def load_reference(path: str | os.PathLike) -> ReferenceStats:
    """Read statistics written by :func:`save_reference`.

    Raises:
        AnomalyReferenceError: not such a file (unreadable, larger than
            :data:`MAX_REFERENCE_BYTES`, not JSON, or holding a value
            :func:`audioae.jsonfile.read_bounded_json` refuses: NaN, Infinity, an overflowing
            number, deep nesting), an unknown version (version 1 files, from
            before the combined score, version 2 ones, from before the ``floor`` and ``band``
            terms, version 3 ones, whose reference scores were in-sample, and version 4 ones,
            from before the ``quiet_band`` term, must be fitted again), or inconsistent
            fields.
    """
    from .audio import AUDIO_EXTENSIONS

    if Path(path).suffix.lower() in AUDIO_EXTENSIONS:
        raise AnomalyReferenceError(
            f"{path}: an audio file; --reference takes a folder of normal audio (5 files or "
            "more) or a statistics .json written by --save-reference"
        )
    from .jsonfile import BoundedJsonError, read_bounded_json

    try:
        doc = read_bounded_json(path, MAX_REFERENCE_BYTES)
    except BoundedJsonError as exc:
        raise AnomalyReferenceError(
            f"{path}: not a readable reference statistics file ({exc})"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != REFERENCE_FORMAT:
        raise AnomalyReferenceError(f"{path}: not an {REFERENCE_FORMAT} file")
    if doc.get("version") != REFERENCE_VERSION or doc.get("compression") != COMPRESSION:
        raise AnomalyReferenceError(
            f"{path}: version {doc.get('version')!r} (compression {doc.get('compression')!r}) is "
            f"not supported; this audioae reads version {REFERENCE_VERSION!r} (compression "
            f"{COMPRESSION}): fit it again with --reference DIR --save-reference"
        )
    try:
        tensors = {name: torch.tensor(doc[name], dtype=torch.float64) for name in _TENSORS}
        terms = {str(k): tuple(float(x) for x in v[:4]) for k, v in doc["terms"].items()}
        stats = ReferenceStats(
            **tensors,
            terms=terms,
            frames=int(doc["frames"]),
            model_hash=str(doc["model_hash"]),
            scores={
                str(e): {str(k): [float(v) for v in vals] for k, vals in d.items()}
                for e, d in doc["scores"].items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise AnomalyReferenceError(f"{path}: malformed reference statistics ({exc})") from exc
    pairs = [("mean", "std"), ("level_mean", "level_std"), ("embedding_mean", "embedding_std")]
    for a, b in [*pairs, ("spectrum_mean", "spectrum_std"), ("floor_mean", "floor_std")]:
        m, sd = tensors[a], tensors[b]
        if m.ndim != 1 or m.shape != sd.shape or not bool((sd > 0).all()):
            raise AnomalyReferenceError(
                f"{path}: {a} and {b} must be equal-length lists with {b} > 0"
            )
    for name in ("level_mean", "floor_mean"):
        if tensors["mean"].shape != tensors[name].shape:
            raise AnomalyReferenceError(f"{path}: mean and {name} differ in length")
    if tensors["spectrum_mean"].shape[0] != 2 * tensors["mean"].shape[0]:
        raise AnomalyReferenceError(f"{path}: spectrum_mean must have 2 values per bin")
    if set(terms) != set(TERMS) or not all(
        len(t) == 4 and t[1] > 0 and t[3] > 0 for t in terms.values()
    ):
        raise AnomalyReferenceError(f"{path}: terms must be {', '.join(TERMS)} with std > 0")
    return stats
