"""Training data: fixed-length segments cropped from folders of audio, reproducibly.

A folder is indexed once (:mod:`audioae.dataindex`: headers and a loudness summary per
file, cached beside the data or in the run folder and reused while the files do not
change); the datasets then read each crop's window from its file on demand
(:class:`audioae.clips.FileClips`: ``soundfile.read(start=, frames=)``, mixed to mono and
resampled to ``audio.sample_rate``), in the DataLoader's workers, so memory and start-up do
not grow with the corpus. Files that cannot be used (unreadable, non-finite samples, silent
throughout) are left out and reported in ONE warning; an empty or too-small folder raises
:class:`DatasetError` saying what to change. Datasets also accept clips already in memory
(:class:`audioae.clips.MemoryClips`), which the tests and the examples use.

Randomness is explicit: segment ``i`` of epoch ``e`` is drawn from a generator seeded by
``(data.seed, e, i)``, so a crop depends neither on the worker that makes it nor on the
order of the batches, and a resumed run sees the same data. The epoch travels inside the
index (``index = epoch * len(dataset) + i``) supplied by
:class:`audioae.samplers.EpochSampler`, which also shards the indices over DDP processes. Validation segments are fixed (the same every epoch).

Features are not computed here: the datasets yield waveforms and the training module
computes features batched on its device.

Layout: this module builds the datasets from folders (:func:`build_datasets`,
:class:`Datasets`); :mod:`audioae.crops` holds :class:`AudioFolder` and the seed streams,
:mod:`audioae.mixtures` :class:`DenoisingFolder`, :mod:`audioae.datasplit` the path-hash
split, :mod:`audioae.data_errors` :class:`DatasetError` and :mod:`audioae.samplers` the
samplers. Import every name from here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from .clips import FileClips
from .config import Config, is_short_clip
from .crops import SPLITS as SPLITS
from .crops import AudioFolder
from .data_errors import DataReadError, DatasetError
from .data_report import (
    BAD_FILES_SHOWN,
    bad_files_message,
    dominant_file,
    drop_linked_twins,
    format_seconds,
    low_rate_message,
    silent_reason,
    silent_text,
)
from .dataindex import FolderIndex, index_folder
from .datasplit import path_hash, split_by_hash, split_kept, split_relative
from .fileio import name_some
from .mixtures import DenoisingFolder
from .samplers import EpochSampler, GroupedBatches, shutdown_workers

__all__ = [
    "AudioFolder",
    "DataReadError",
    "DatasetError",
    "Datasets",
    "DenoisingFolder",
    "EpochSampler",
    "GroupedBatches",
    "build_datasets",
    "choose_split",
    "path_hash",
    "shutdown_workers",
    "split_by_hash",
    "split_kept",
    "split_relative",
]

log = logging.getLogger(__name__)


@dataclass
class Datasets:
    """What :func:`build_datasets` returns: the two datasets and the file accounting.

    ``index_file`` is where the data folder's index is cached (None: memory only). The
    file lists (:attr:`train_files`, :attr:`val_files`) are made when first asked for: a
    corpus of 100 000 files should not pay for 100 000 path objects at every start.
    """

    train: Dataset
    val: Dataset | None
    index: FolderIndex
    train_rows: list[int]
    val_rows: list[int]
    bad_files: list[tuple[Path, str]]
    skipped_short: list[Path]
    noise_files: list[Path]
    index_file: Path | None = None

    @property
    def train_files(self) -> list[Path]:
        """The training files (under the data folder)."""
        return [self.index.file(i) for i in self.train_rows]

    @property
    def val_files(self) -> list[Path]:
        """The validation files."""
        return [self.index.file(i) for i in self.val_rows]

    @property
    def val_paths(self) -> list[str]:
        """The validation files as POSIX paths relative to the data folder (what a run records)."""
        return [self.index.paths[i] for i in self.val_rows]


def _index(
    root: Path,
    what: str,
    cache_dir: Path | None,
    progress: bool,
    workers: int | None,
    report: bool = True,
) -> FolderIndex:
    """The index of a data or noise folder; DatasetError when missing or without audio.
    Without ``report`` (a DDP rank other than 0) the index's warnings (hidden files, a folder
    it cannot cache in) are not logged: rank 0 gives them once."""
    if root.is_file():
        raise DatasetError(f"{root}: a file; --{what} takes a folder of audio files")
    if not root.is_dir():
        raise DatasetError(f"{root}: {what} folder not found")
    index_log = logging.getLogger(index_folder.__module__)
    level = index_log.level
    if not report:
        index_log.setLevel(logging.ERROR)
    try:
        index = index_folder(root, cache_dir=cache_dir, progress=progress, workers=workers)
    finally:
        index_log.setLevel(level)
    if not len(index) and not index.bad:
        raise DatasetError(
            f"{root}: no audio files found in the {what} folder (searched recursively); add .wav/.flac/.ogg/.mp3 files"
        )
    return index


def _usable(index: FolderIndex, silence_db: float) -> tuple[list[int], list[tuple[Path, str]]]:
    """Rows of ``index`` that are not silent, and the unusable files (unreadable or silent)."""
    bad = index.bad_files
    rows = []
    for i in range(len(index)):
        if index.rms_db[i] < silence_db:
            bad.append((index.file(i), silent_text(silence_db)))
        else:
            rows.append(i)
    return rows, sorted(bad, key=lambda item: item[0])


def choose_split(
    relative_paths: list[str],
    root: Path,
    val_fraction: float,
    val_paths: Collection[str] | None,
    report: bool,
) -> tuple[list[int], list[int]]:
    """Training's split of the usable files ``relative_paths`` (relative to ``root``):
    the recorded validation files ``val_paths`` where given and any of them is left
    (:func:`audioae.datasplit.split_kept`; with ``report``, a warning when some or all are
    gone), else the hash split (:func:`audioae.datasplit.split_relative`).

    Returns:
        ``(train_indices, val_indices)`` into ``relative_paths``.
    """
    if val_paths is None or val_fraction <= 0:
        return split_relative(relative_paths, root, val_fraction)
    recorded = len(set(val_paths))
    train_idx, val_idx = split_kept(relative_paths, val_paths)
    if not val_idx or not train_idx:
        if report:
            log.warning(
                "%s: %s of the %d validation file(s) recorded for this run; the validation "
                "files are chosen anew, so the best checkpoint's validation loss and later "
                "ones compare different audio",
                root,
                "none is left" if not val_idx else "every usable file is one",
                recorded,
            )
        return split_relative(relative_paths, root, val_fraction)
    if report and len(val_idx) < recorded:
        gone = sorted(set(val_paths) - {relative_paths[i] for i in val_idx})
        log.warning(
            "%s: %d of the %d validation file(s) recorded for this run are gone or unusable "
            "(%s); validating on the other %d, so later validation losses are measured on "
            "less audio than the best checkpoint's",
            root,
            recorded - len(val_idx),
            recorded,
            name_some(gone),
            len(val_idx),
        )
    return train_idx, val_idx


def build_datasets(
    cfg: Config,
    data_dir: str | os.PathLike,
    noise_dir: str | os.PathLike | None = None,
    *,
    world_size: int = 1,
    report: bool = True,
    cache_dir: str | os.PathLike | None = None,
    index_workers: int | None = None,
    progress: bool | None = None,
    val_paths: Collection[str] | None = None,
) -> Datasets:
    """Index and split ``data_dir``; return training and validation datasets that read lazily.

    The folders are indexed (:func:`audioae.dataindex.index_folder`: cached, so a second
    call reads only the files that changed); the datasets read each crop's window from its
    file when asked (:class:`~audioae.clips.FileClips`). Denoising datasets
    (:class:`DenoisingFolder`) are built when ``cfg.data.denoise`` is true or ``noise_dir``
    is given; the noise folder is read lazily too. Unusable files (unreadable, NaN/Inf,
    silent throughout) are left out and listed in ONE warning (when ``report``); clips
    shorter than a segment are zero-padded (``data.short_clips: pad``, with a warning) or
    left out (``skip``). ``world_size`` (DDP processes) is only used to check that an epoch
    has at least one batch per process.

    Args:
        cache_dir: where to cache the indexes when the data folders are not writable
            (``audioae train`` passes the run folder).
        index_workers: processes for indexing new files (default: the CPUs, at most 8).
        progress: a progress bar while indexing new files (default: ``report``).
        val_paths: the validation files a run recorded (paths relative to ``data_dir``;
            ``audioae train --resume`` passes them): those still usable stay the
            validation set and every other file trains (:func:`split_kept`), with a warning
            when some are gone. None, or none of them left: the path-hash split
            (:func:`split_relative`).

    Raises:
        DatasetError: missing or empty folder, no usable file, too few files for the split,
            every clip too short under ``short_clips: skip``, or ``samples_per_epoch`` smaller
            than one batch per process; each message says what to change.
    """
    root = Path(data_dir)
    d = cfg.data
    sr = cfg.audio.sample_rate
    steep = cfg.audio.resampler == "steep"
    cache = Path(cache_dir) if cache_dir is not None else None
    progress = report if progress is None else progress
    index = _index(root, "data", cache, progress, index_workers, report)
    rows, bad = _usable(index, d.silence_db)
    rows, twins = drop_linked_twins(rows, index.file)
    if twins and report:
        log.warning(
            "%s: %d symbolic link(s) point to audio already in the folder and are used once: %s",
            root,
            len(twins),
            name_some([index.file(i) for i in twins]),
        )
    short = [
        i
        for i in rows
        if is_short_clip(
            index.frames[i], index.sample_rate[i], sample_rate=sr, segment_seconds=d.segment_seconds
        )
    ]
    if d.short_clips == "skip":
        skipped = set(short)
        rows = [i for i in rows if i not in skipped]

    noise_index: FolderIndex | None = None
    noise_rows: list[int] = []
    if noise_dir is not None:
        noise_index = _index(Path(noise_dir), "noise", cache, progress, index_workers, report)
        noise_rows, noise_bad = _usable(noise_index, d.silence_db)
        bad = bad + noise_bad
    if report and bad:
        # the files named get a closer look (a stereo file whose channels cancel is not
        # silent); only those, and only on the rank that reports: it reads audio
        shown = [
            (f, silent_reason(f, d.silence_db) if why == silent_text(d.silence_db) else why)
            for f, why in bad[:BAD_FILES_SHOWN]
        ]
        log.warning("%s", bad_files_message(shown + bad[BAD_FILES_SHOWN:], root))
    if report and (low := low_rate_message(index.sample_rate[rows], sr)):
        log.warning("%s: %s", root, low)
    if report and short:
        action = (
            "left out (data.short_clips=skip)"
            if d.short_clips == "skip"
            else "zero-padded at the end (data.short_clips=pad; set data.short_clips=skip to leave them out)"
        )
        log.warning(
            "%d of %d clip(s) are shorter than data.segment_seconds=%g s: %s",
            len(short),
            len(short) + len(rows) - (0 if d.short_clips == "skip" else len(short)),
            d.segment_seconds,
            action,
        )

    if not rows:
        hint = (
            f"every clip is shorter than data.segment_seconds={d.segment_seconds:g} s; lower it or set data.short_clips=pad"
            if short and d.short_clips == "skip"
            else "add usable audio files"
        )
        n_files = len(index) + len(index.bad)
        raise DatasetError(
            f"{root}: no usable audio file out of {n_files} ({len(bad)} unusable); {hint}"
        )
    if noise_index is not None and not noise_rows:
        raise DatasetError(
            f"{noise_dir}: no usable noise file out of {len(noise_index) + len(noise_index.bad)}; add noise files"
        )

    train_idx, val_idx = choose_split(
        [index.paths[i] for i in rows], root, d.val_fraction, val_paths, report
    )
    per_step = d.batch_size * max(world_size, 1)
    if d.samples_per_epoch < per_step:
        raise DatasetError(
            f"data.samples_per_epoch={d.samples_per_epoch} is smaller than one batch "
            f"(data.batch_size={d.batch_size} x {world_size} process(es)); raise it or lower data.batch_size"
        )
    train: Dataset = AudioFolder(
        FileClips(index, [rows[i] for i in train_idx], sr, steep), cfg, "train"
    )
    val: Dataset | None = None
    if val_idx and d.val_segments > 0:
        val = AudioFolder(FileClips(index, [rows[i] for i in val_idx], sr, steep), cfg, "val")
    if d.denoise or noise_dir is not None:
        noise = FileClips(noise_index, noise_rows, sr, steep) if noise_index is not None else None
        train = DenoisingFolder(train, noise, cfg)
        val = DenoisingFolder(val, noise, cfg) if val is not None else None
    seconds = index.frames / index.sample_rate
    train_rows, val_rows = [rows[i] for i in train_idx], [rows[i] for i in val_idx]
    left_out = len(bad) + len(twins) + (len(short) if d.short_clips == "skip" else 0)
    if report:  # (not on the other DDP ranks)
        log.info(
            "%s: %d training file(s) (%s) and %d validation file(s) (%s), %d left out (index: %s)",
            root,
            len(train_idx),
            format_seconds(float(seconds[train_rows].sum())),
            len(val_idx),
            format_seconds(float(seconds[val_rows].sum())),
            left_out,
            index.cache_file or "memory only",
        )
    top = dominant_file([index.file(i) for i in val_rows], seconds[val_rows])
    if report and top is not None:
        log.warning(
            "%s holds %.0f%% of the validation audio, so the validation loss (and the best "
            "checkpoint) mostly measures that one file; split long recordings into pieces",
            top[0],
            100 * top[1],
        )
    return Datasets(
        train=train,
        val=val,
        index=index,
        train_rows=train_rows,
        val_rows=val_rows,
        bad_files=bad,
        skipped_short=[index.file(i) for i in short] if d.short_clips == "skip" else [],
        noise_files=[noise_index.file(i) for i in noise_rows] if noise_index is not None else [],
        index_file=index.cache_file,
    )
