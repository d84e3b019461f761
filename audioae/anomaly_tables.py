"""The tables of ``audioae anomaly``: files ranked by score, and per-frame scores, as CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .anomaly import COMBINED_TERMS, AnomalyScore
from .fileio import atomic_output


@dataclass
class RankedScore:
    """A row of the ranked table: ``rank`` 1 is the most anomalous file."""

    rank: int
    score: AnomalyScore
    value: float
    anomalous: bool | None


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

    Columns: rank, file, duration_s, error (the per-frame error's name), score (the ranking
    score's name), score_combined (empty without reference statistics), score_mean,
    score_p95, neg_elbo (empty unless variational), ``z_<term>`` for every term of
    :data:`COMBINED_TERMS` (its z-score over the reference files, which says what made a
    file anomalous; empty without reference statistics), rms_dbfs (the file's level, dBFS,
    ``-inf`` for digital silence; empty when unknown: a score that rises or falls with the
    level, or silence the model reconstructs well, shows here), then threshold and
    anomalous (0/1) when a threshold was fitted.

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    header = ["rank", "file", "duration_s", "error", "score"]
    header += ["score_combined", "score_mean", "score_p95", "neg_elbo"]
    header += [f"z_{t}" for t in COMBINED_TERMS]
    header += ["rms_dbfs"]
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
                s.error,
                score,
                "" if s.combined is None else f"{s.combined:.6g}",
                f"{s.mean:.6g}",
                f"{s.p95:.6g}",
                "" if s.neg_elbo is None else f"{s.neg_elbo:.6g}",
            ]
            z = s.term_z or {}
            line += ["" if t not in z else f"{z[t]:.4g}" for t in COMBINED_TERMS]
            line += ["" if s.rms_db is None else f"{s.rms_db:.2f}"]
            if threshold is not None:
                line += [f"{threshold:.6g}", int(bool(row.anomalous))]
            writer.writerow(line)
    return Path(path)


def write_frames_csv(
    path: str | os.PathLike, scores: Sequence[AnomalyScore], *, overwrite: bool = False
) -> Path:
    """Write per-frame scores atomically: file, frame, time_s, error, neg_elbo (empty unless
    VAE), edge (1 for a frame whose analysis window reaches past the file's start or end,
    :attr:`~audioae.anomaly.FrameErrors.edge`: its error is high by construction).

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "frame", "time_s", "error", "neg_elbo", "edge"])
        for s in scores:
            f = s.frames
            elbo = f.neg_elbo.tolist() if f.neg_elbo is not None else [None] * len(f.error)
            rows = zip(f.times_s.tolist(), f.error.tolist(), elbo, f.edge.tolist())
            for i, (t, e, n, edge) in enumerate(rows):
                writer.writerow(
                    [s.file, i, f"{t:.4f}", f"{e:.6g}", "" if n is None else f"{n:.6g}", int(edge)]
                )
    return Path(path)
