"""What ``audioae train`` says about the folder it trains on: the split with its hours of audio,
the unusable files (a few named, the rest counted), a validation set that one long file
dominates, files whose sample rate is below the model's, a stereo file whose channels cancel
in the mono mix (:func:`silent_reason`) and symbolic links to files already listed
(:func:`linked_twins`). Plain text for
:mod:`audioae.data`'s log lines; ``audioae inspect`` (:mod:`audioae.folder_report`) gives the
full listing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = [
    "BAD_FILES_SHOWN",
    "DOMINANT_SHARE",
    "bad_files_message",
    "dominant_file",
    "format_seconds",
    "low_rate_message",
    "linked_twins",
    "drop_linked_twins",
    "silent_reason",
    "silent_text",
]

BAD_FILES_SHOWN = 10
"""Unusable files named one per line by ``train``; the rest are counted (``inspect`` lists all)."""

DOMINANT_SHARE = 0.5
"""A validation set whose largest file holds more than this share of its audio is warned about."""


def format_seconds(seconds: float) -> str:
    """``"12.3 s"`` below 2 minutes, ``"28.0 min"`` below 2 hours, else ``"3.4 h"``."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def bad_files_message(
    bad: Sequence[tuple[Path, str]], root: Path, limit: int = BAD_FILES_SHOWN
) -> str:
    """The warning listing unusable ``(file, reason)`` pairs: the first ``limit`` named, the
    others counted with a pointer to ``audioae inspect`` (a collection with hundreds of
    bad files flooded the log on every run and resume)."""
    lines = [f"left out {len(bad)} unusable audio file(s):"]
    lines += [f"  {path}: {why}" for path, why in bad[:limit]]
    if len(bad) > limit:
        lines.append(
            f"  ... and {len(bad) - limit} more (`audioae inspect {root}` lists the data folder's)"
        )
    return "\n".join(lines)


def dominant_file(
    files: Sequence[Path], seconds: np.ndarray, share: float = DOMINANT_SHARE
) -> tuple[Path, float] | None:
    """``(file, its share)`` when one of two or more ``files`` holds more than ``share`` of
    their total duration ``seconds`` (aligned with ``files``), else None."""
    if len(files) < 2 or float(seconds.sum()) <= 0:
        return None
    i = int(np.argmax(seconds))
    part = float(seconds[i] / seconds.sum())
    return (files[i], part) if part > share else None


def low_rate_message(rates: np.ndarray, sample_rate: int) -> str | None:
    """The warning for files (their native ``rates``, Hz) below the model's ``sample_rate``,
    worded as ``audioae inspect`` words it; None when there are none."""
    low = rates[rates < sample_rate]
    if not low.size:
        return None
    lowest = int(low.min())
    return (
        f"{low.size} file(s) have a sample rate below audio.sample_rate={sample_rate} Hz "
        f"(lowest {lowest} Hz): they are upsampled and hold nothing above {lowest / 2:g} Hz; "
        f"set audio.sample_rate={lowest} or replace them"
    )


def silent_text(silence_db: float) -> str:
    """The reason a file whose mono mix is below ``silence_db`` (dBFS) is left out, before
    :func:`silent_reason` looks closer."""
    return f"silent (RMS below data.silence_db = {silence_db:g} dBFS)"


CANCEL_CHECK_SECONDS = 60.0
""":func:`silent_reason` reads at most this much of a multichannel file (s)."""


def silent_reason(path: str | Path, silence_db: float) -> str:
    """Why a file whose mono mix is below ``silence_db`` (dBFS) is left out as silent: when a
    channel of its first :data:`CANCEL_CHECK_SECONDS` is at or above ``silence_db`` on its
    own, its channels cancel when mixed to mono (left and right out of phase), which the
    reason says with the loudest channel's level; else plain silence. Before, a loud
    out-of-phase stereo file was reported as silent at -96 dBFS with nothing else."""
    plain = silent_text(silence_db)
    try:
        with sf.SoundFile(str(path)) as f:
            if f.channels < 2:
                return plain
            x = f.read(int(CANCEL_CHECK_SECONDS * f.samplerate), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError):
        return plain
    if not x.size:
        return plain
    rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0))
    loudest = 20 * np.log10(max(float(rms.max()), 1e-12))
    if loudest < silence_db:
        return plain
    return (
        f"its channels cancel when mixed to mono (out of phase; the loudest channel is at "
        f"{loudest:.1f} dBFS, the mix below data.silence_db = {silence_db:g} dBFS): training "
        "mixes to mono, so flip one channel's polarity or keep one channel"
    )


def linked_twins(files: Sequence[Path]) -> list[int]:
    """Indices into ``files`` of symbolic links whose target is also among ``files`` (by its
    own path or through an earlier link): the same recording twice, which could land in
    both the training and the validation split. The real file (or the first link) stays.
    Folders reached twice are already walked once (:func:`audioae.audio.find_audio_paths`);
    paths are resolved only when some file is a link."""
    links = [i for i, f in enumerate(files) if os.path.islink(f)]
    if not links:
        return []
    linked = set(links)
    order = [i for i in range(len(files)) if i not in linked] + links  # real files first
    seen: set[str] = set()
    twins = []
    for i in order:
        real = os.path.realpath(files[i])
        if real in seen:
            twins.append(i)
        seen.add(real)
    return sorted(twins)


def drop_linked_twins(
    rows: Sequence[int], file_of: Callable[[int], Path]
) -> tuple[list[int], list[int]]:
    """``(rows kept, twin rows)``: ``rows`` (an index's rows, ``file_of(row)`` their files)
    less the :func:`linked_twins` among them, as training and ``inspect`` both leave them out."""
    twins = {rows[k] for k in linked_twins([file_of(i) for i in rows])}
    return [i for i in rows if i not in twins], sorted(twins)
