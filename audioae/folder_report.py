"""Dataset check before training (``audioae inspect DIR``): what is in a folder and what will go wrong.

:func:`inspect_folder` reads a folder's index (every audio file decoded once, then cached:
:mod:`audioae.dataindex`) and reports counts,
total duration, sample-rate and channel histograms, and the files training would trip on:
unreadable (with the reason), silent, clipped and too short. It then turns those findings,
together with the data settings of a recipe, into warnings that each say what to change.
It never modifies the folder. The files it calls usable are the ones training draws crops
from: the same silence rule, the same too-short rule (:func:`audioae.config.is_short_clip`,
with ``data.short_clips``), and the validation files are chosen by the same function over
the same index paths (``audioae.data.split_relative``), so the report shows the real split.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audioae.audio import (
    AUDIO_EXTENSIONS,
    NoAudioFilesError,
    find_audio_files,
    load_audio,
)
from audioae.config import SHORT_CLIP_POLICIES, Config, is_short_clip
from audioae.data import choose_split, split_kept
from audioae.data_report import drop_linked_twins, silent_reason, silent_text
from audioae.dataindex import CLIP_LEVEL, FolderIndex, index_folder


@dataclass(frozen=True)
class FileStats:
    """One readable file.

    Attributes:
        path: the file.
        sample_rate: native rate (Hz).
        channels: channel count.
        duration: seconds.
        rms_db: level of the mono mix (mean of channels), dBFS (-inf for digital silence).
        clipped_fraction: share of samples (all channels) with ``|x| >= clip_level``, in [0, 1].
    """

    path: Path
    sample_rate: int
    channels: int
    duration: float
    rms_db: float
    clipped_fraction: float


@dataclass
class FolderReport:
    """What :func:`inspect_folder` found. Paths are as found under ``root``.

    Attributes:
        root: the inspected folder (or file).
        files: stats of every readable file, sorted by path.
        unreadable: ``(path, reason)`` for each file that failed to load.
        silent: readable files whose RMS is below ``silence_db`` dBFS.
        clipped: readable files with more than ``clip_fraction`` of samples at ``|x| >= clip_level``.
        too_short: readable, non-silent files shorter than one training crop
            (:func:`audioae.config.is_short_clip`): zero-padded, or left out under
            ``short_clips="skip"``.
        sample_rates: histogram ``{Hz: file count}`` of readable files.
        channel_counts: histogram ``{channels: file count}`` of readable files.
        ignored: histogram ``{suffix: count}`` of non-hidden files skipped for their extension.
        warnings: one line per problem, each saying what to change.
        val_files: the usable files training holds out for validation
            (:func:`audioae.data.choose_split`).
        split_recorded: ``val_files`` are the validation files a run recorded (``split.json``,
            ``inspect --run``), as ``--resume`` keeps them, not a fresh split.
        settings: the parameters the report was made with (``short_clips`` among them).
        linked: symbolic links to files already listed (:func:`audioae.data_report.linked_twins`),
            which training uses once.
    """

    root: Path
    files: list[FileStats]
    unreadable: list[tuple[Path, str]]
    silent: list[Path]
    clipped: list[Path]
    too_short: list[Path]
    sample_rates: dict[int, int]
    channel_counts: dict[int, int]
    ignored: dict[str, int]
    warnings: list[str]
    val_files: list[Path] = field(default_factory=list)
    split_recorded: bool = False
    settings: dict[str, float | str] = field(default_factory=dict)
    linked: list[Path] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        """Audio files found (readable + unreadable)."""
        return len(self.files) + len(self.unreadable)

    @property
    def total_duration(self) -> float:
        """Total duration of the readable files, seconds."""
        return float(sum(f.duration for f in self.files))

    @property
    def skips_short(self) -> bool:
        """Whether training leaves the too-short files out (``data.short_clips=skip``)."""
        return self.settings.get("short_clips") == "skip"

    @property
    def usable(self) -> list[Path]:
        """What training will draw crops from: readable, non-silent files, less the too-short
        ones under ``short_clips="skip"``."""
        left_out = set(self.silent) | set(self.linked)
        left_out |= set(self.too_short) if self.skips_short else set()
        return [f.path for f in self.files if f.path not in left_out]

    def _rel(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) if str(rel) != "." else path.name

    def format(self) -> str:
        """A readable multi-line text report (what ``audioae inspect`` prints)."""
        stats = {f.path: f for f in self.files}
        s = self.settings
        lines = [f"{'file' if Path(self.root).is_file() else 'folder'}: {self.root}"]
        lines.append(
            f"  audio files: {self.n_files} ({len(self.files)} readable, {len(self.unreadable)} unreadable), "
            f"{len(self.usable)} usable, total {self.total_duration:.1f} s ({self.total_duration / 60:.1f} min)"
        )
        if self.sample_rates:
            rates = ", ".join(f"{sr} Hz x {n}" for sr, n in sorted(self.sample_rates.items()))
            lines.append(f"  sample rates: {rates}")
            chans = ", ".join(f"{c} ch x {n}" for c, n in sorted(self.channel_counts.items()))
            lines.append(f"  channels: {chans}")
        if self.val_files:
            held = ", ".join(self._rel(p) for p in self.val_files[:5]) + (
                ", ..." if len(self.val_files) > 5 else ""
            )
            source = ", recorded by the run" if self.split_recorded else ""
            lines.append(
                f"  validation split{source}: {len(self.val_files)} of {len(self.usable)} usable "
                f"files ({held})"
            )
        if self.ignored:
            other = ", ".join(
                f"{ext or '(no suffix)'} x {n}" for ext, n in sorted(self.ignored.items())
            )
            lines.append(f"  ignored (not audio extensions): {other}")
        if self.linked:
            lines.append(f"links to files already listed, used once ({len(self.linked)}):")
            lines += [f"  {self._rel(p)}" for p in self.linked]
        if self.unreadable:
            lines.append(f"unreadable ({len(self.unreadable)}):")
            lines += [f"  {self._rel(p)}: {reason}" for p, reason in self.unreadable]
        if self.silent:
            lines.append(
                f"silent ({len(self.silent)}), RMS below {s.get('silence_db', float('nan')):g} dBFS:"
            )
            silence_db = s.get("silence_db", float("nan"))
            for p in self.silent:
                why = silent_reason(p, silence_db)
                cancel = "" if why == silent_text(silence_db) else f": {why}"
                lines.append(f"  {self._rel(p)} ({stats[p].rms_db:.1f} dBFS){cancel}")
        if self.clipped:
            lines.append(f"clipped or over full scale ({len(self.clipped)}):")
            lines += [
                f"  {self._rel(p)} ({100 * stats[p].clipped_fraction:.2f}% of samples at or over full scale)"
                for p in self.clipped
            ]
        if self.too_short:
            fate = "left out" if self.skips_short else "zero-padded"
            lines.append(
                f"too short ({len(self.too_short)}), under "
                f"{s.get('segment_seconds', float('nan')):g} s ({fate}):"
            )
            lines += [f"  {self._rel(p)} ({stats[p].duration:.2f} s)" for p in self.too_short]
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines += [f"  - {w}" for w in self.warnings]
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def _ignored_suffixes(root: Path, wanted: set[str]) -> dict[str, int]:
    """Count non-hidden files under ``root`` whose suffix is not an audio extension."""
    if not root.is_dir():
        return {}
    counts: Counter[str] = Counter()
    for _dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            suffix = os.path.splitext(name)[1].lower()
            if not name.startswith(".") and suffix not in wanted:
                counts[suffix] += 1
    return dict(counts)


def _files(count: int, singular_verb: str, plural_verb: str) -> str:
    """``"1 file is"`` / ``"3 files are"``."""
    return f"1 file {singular_verb}" if count == 1 else f"{count} files {plural_verb}"


def _warnings(
    report: FolderReport,
    *,
    sample_rate: int,
    segment_seconds: float,
    batch_size: int,
    val_fraction: float,
    silence_db: float,
    clip_level: float,
    clip_fraction: float,
) -> list[str]:
    out: list[str] = []
    n = report.n_files
    if report.unreadable:
        out.append(
            f"{len(report.unreadable)} of {n} files cannot be read and will be skipped: "
            f"fix or remove them (reasons listed above)"
        )
    if report.silent:
        out.append(
            f"{_files(len(report.silent), 'is', 'are')} silent (RMS below data.silence_db={silence_db:g} dBFS) and will be "
            f"skipped: remove them, or lower data.silence_db if they are quiet recordings you want"
        )
    if report.clipped:
        out.append(
            f"{_files(len(report.clipped), 'clips', 'clip')} (more than {100 * clip_fraction:g}% of samples at |x| >= {clip_level:g}): "
            f"the model will learn the distortion; replace them with unclipped recordings or remove them"
        )
    if report.too_short:
        out.append(_short_warning(report, segment_seconds))
    low = sorted({f.sample_rate for f in report.files if f.sample_rate < sample_rate})
    if low:
        n_low = sum(1 for f in report.files if f.sample_rate < sample_rate)
        out.append(
            f"{_files(n_low, 'has', 'have')} a sample rate below audio.sample_rate={sample_rate} Hz (lowest {low[0]} Hz): "
            f"they are upsampled and hold nothing above {low[0] / 2:g} Hz; set audio.sample_rate={low[0]} or replace them"
        )
    usable = len(report.usable)
    if usable == 0:
        out.append(_nothing_usable_warning(report, segment_seconds))
        return out
    if val_fraction > 0 and usable < 2:
        out.append(
            f"only {usable} usable file: training cannot hold one out for validation and fails; "
            f"add files or set data.val_fraction=0"
        )
        return out
    n_val = len(report.val_files)
    if val_fraction > 0 and round(val_fraction * usable) < 1:
        out.append(
            f"only {usable} usable files: data.val_fraction={val_fraction:g} asks for {val_fraction * usable:.2g} "
            f"files, so 1 file ({100 / usable:.0f}% of the data) is held out for validation anyway; "
            f"add files (at least {math.ceil(1 / val_fraction)}) or set data.val_fraction=0"
        )
    n_train = usable - n_val
    if n_train < batch_size:
        out.append(
            f"only {n_train} training files for data.batch_size={batch_size}: every batch repeats files; "
            f"add files or set data.batch_size={n_train}"
        )
    return out


def _short_warning(report: FolderReport, segment_seconds: float) -> str:
    """The too-short warning: what training does with those files and what to change."""
    short = set(report.too_short)
    shortest = min(f.duration for f in report.files if f.path in short)
    fit = math.floor(shortest * 100) / 100
    window = float(report.settings.get("n_fft", 0)) / float(report.settings["sample_rate"])
    if fit > 0 and fit >= window:
        use = f"set data.segment_seconds={fit:g} to use them whole"
    else:  # a crop shorter than one STFT window would be mostly padding (and is refused)
        use = "remove them"
    if report.skips_short:
        fate = "leaves them out (data.short_clips=skip)"
        other = "data.short_clips=pad to zero-pad them"
    else:
        fate = "zero-pads them (data.short_clips=pad)"
        other = "data.short_clips=skip to leave them out"
    return (
        f"{_files(len(report.too_short), 'is', 'are')} shorter than "
        f"data.segment_seconds={segment_seconds:g} s (shortest {shortest:.3g} s): training "
        f"{fate}; {use}, or set {other}"
    )


def _nothing_usable_warning(report: FolderReport, segment_seconds: float) -> str:
    """The warning when training would find no file to draw crops from (it refuses to start)."""
    if report.skips_short and report.too_short:
        return (
            "no usable files (every file is unreadable, silent or, with data.short_clips=skip, "
            f"shorter than data.segment_seconds={segment_seconds:g} s): training cannot start; "
            "lower data.segment_seconds or set data.short_clips=pad"
        )
    return (
        "no usable files (every file is unreadable or silent): training cannot start; "
        "add readable, non-silent audio"
    )


def _file_stats(index: FolderIndex, clip_level: float) -> list[FileStats]:
    """One :class:`FileStats` per readable file of ``index``, in index order."""
    files: list[FileStats] = []
    for i in range(len(index)):
        clipped = float(index.clipped_fraction[i])
        if clip_level != CLIP_LEVEL:  # the index counts at CLIP_LEVEL: decode for another level
            wav, _ = load_audio(index.file(i), mono=False)
            clipped = float((wav.abs() >= clip_level).double().mean())
        files.append(
            FileStats(
                path=index.file(i),
                sample_rate=int(index.sample_rate[i]),
                channels=int(index.channels[i]),
                duration=float(index.frames[i] / index.sample_rate[i]),
                rms_db=float(index.rms_db[i]),
                clipped_fraction=clipped,
            )
        )
    return files


def _short_rows(
    index: FolderIndex, rows: list[int], sample_rate: int, segment_seconds: float
) -> list[int]:
    """The ``rows`` of ``index`` shorter than one training crop, by training's own rule."""
    return [
        i
        for i in rows
        if is_short_clip(
            index.frames[i],
            index.sample_rate[i],
            sample_rate=sample_rate,
            segment_seconds=segment_seconds,
        )
    ]


def inspect_folder(
    root: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    segment_seconds: float = 1.0,
    batch_size: int = 16,
    val_fraction: float = 0.1,
    silence_db: float = -60.0,
    short_clips: str = "pad",
    clip_level: float = CLIP_LEVEL,
    clip_fraction: float = 0.001,
    n_fft: int = 1024,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    progress: bool = False,
    val_paths: Collection[str] | None = None,
) -> FolderReport:
    """Report what training would trip on in the audio files under ``root``.

    The files' facts come from the folder's index (:func:`audioae.dataindex.index_folder`,
    the one training uses): every file is decoded once and the result cached beside the
    data, so a second inspection of an unchanged folder reads no audio (``progress``: a
    progress bar while new files are decoded).

    The keyword arguments mirror a recipe: ``audio.sample_rate`` (Hz), ``data.segment_seconds``
    (s), ``data.batch_size``, ``data.val_fraction``, ``data.silence_db`` (dBFS),
    ``data.short_clips`` (``pad`` or ``skip``), ``features.n_fft`` (samples: a crop length
    shorter than one window is not suggested). A file is *silent* when the RMS of its mono
    mix is below ``silence_db`` dBFS (the index's level, as training's), *clipped* when more
    than ``clip_fraction`` of its samples have ``|x| >= clip_level``, *too short* when it is
    not silent and, counted in samples at ``sample_rate``, shorter than one crop
    (:func:`audioae.config.is_short_clip`, training's rule). ``report.usable`` is what
    training draws crops from (not silent; not too short under ``short_clips="skip"``);
    ``report.val_files`` is the split training will make of them
    (:func:`audioae.data.choose_split` over the same index paths; ``val_paths``: the
    validation files a run recorded, kept as ``--resume`` keeps them, with training's
    warnings when some are gone), and the validation/batch warnings are computed from it.

    Args:
        root: a folder (scanned recursively, see ``audio.find_audio_files``) or one file.

    Returns:
        a :class:`FolderReport`; ``report.format()`` renders it as text.

    Raises:
        NoAudioFilesError: (a subclass of ``AudioError``) the folder holds no audio file; the
            message lists the extensions looked for and any other files found.
        AudioError: ``root`` does not exist.
        ValueError: a parameter is out of range, or ``short_clips`` is neither ``pad`` nor
            ``skip``.
    """
    if sample_rate <= 0 or segment_seconds <= 0 or batch_size <= 0:
        raise ValueError(
            f"inspect_folder: sample_rate, segment_seconds and batch_size must be > 0 "
            f"(got {sample_rate}, {segment_seconds}, {batch_size})"
        )
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"inspect_folder: val_fraction must be in [0, 1), got {val_fraction}")
    if short_clips not in SHORT_CLIP_POLICIES:
        raise ValueError(
            f"inspect_folder: short_clips must be one of {', '.join(SHORT_CLIP_POLICIES)}, "
            f"got {short_clips!r}"
        )
    root = Path(root)
    extensions = tuple(extensions)
    wanted = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    paths = find_audio_files(root, extensions)
    ignored = _ignored_suffixes(root, wanted)
    if not paths:
        other = ""
        if ignored:
            listing = ", ".join(
                f"{ext or '(no suffix)'} x {n}" for ext, n in sorted(ignored.items())
            )
            other = f"; found only other files ({listing}): convert audio to .wav or .flac"
        raise NoAudioFilesError(
            root, f"no audio files found (looked for {', '.join(sorted(wanted))}){other}"
        )

    index = index_folder(root, extensions=extensions, progress=progress)
    files = _file_stats(index, clip_level)
    loud = [i for i in range(len(index)) if index.rms_db[i] >= silence_db]  # as training's
    loud, twins = drop_linked_twins(loud, index.file)
    short = _short_rows(index, loud, sample_rate, segment_seconds)
    report = FolderReport(
        root=root,
        files=files,
        unreadable=index.bad_files,
        silent=[f.path for f in files if f.rms_db < silence_db],
        clipped=[f.path for f in files if f.clipped_fraction > clip_fraction],
        too_short=[index.file(i) for i in short],
        linked=[index.file(i) for i in twins],
        sample_rates=dict(sorted(Counter(f.sample_rate for f in files).items())),
        channel_counts=dict(sorted(Counter(f.channels for f in files).items())),
        ignored=ignored,
        warnings=[],
        settings={
            "sample_rate": sample_rate,
            "segment_seconds": segment_seconds,
            "batch_size": batch_size,
            "val_fraction": val_fraction,
            "silence_db": silence_db,
            "short_clips": short_clips,
            "n_fft": n_fft,
        },
    )
    skipped = set(short) if short_clips == "skip" else set()
    rows = [i for i in loud if i not in skipped]  # report.usable, as index rows
    if val_fraction > 0 and len(rows) >= 2:  # the very split training makes of the same rows
        rels = [index.paths[i] for i in rows]
        _, val_idx = choose_split(rels, root, val_fraction, val_paths, report=True)
        report.val_files = [index.file(rows[i]) for i in val_idx]
        if val_paths is not None:  # choose_split kept the record when it left both sides
            kept_train, kept_val = split_kept(rels, val_paths)
            report.split_recorded = bool(kept_train and kept_val)
    report.warnings = _warnings(
        report,
        sample_rate=sample_rate,
        segment_seconds=segment_seconds,
        batch_size=batch_size,
        val_fraction=val_fraction,
        silence_db=silence_db,
        clip_level=clip_level,
        clip_fraction=clip_fraction,
    )
    return report


def inspect_for_config(
    root: str | os.PathLike,
    cfg: Config,
    *,
    progress: bool = False,
    val_paths: Collection[str] | None = None,
) -> FolderReport:
    """:func:`inspect_folder` with the settings of a recipe's config ``cfg`` (``audio``,
    ``data``): what ``audioae inspect DIR --recipe NAME`` reports; ``val_paths``: a run's
    recorded validation files (``--run``).

    Raises:
        as :func:`inspect_folder`.
    """
    return inspect_folder(
        root,
        sample_rate=cfg.audio.sample_rate,
        segment_seconds=cfg.data.segment_seconds,
        batch_size=cfg.data.batch_size,
        val_fraction=cfg.data.val_fraction,
        silence_db=cfg.data.silence_db,
        short_clips=cfg.data.short_clips,
        n_fft=cfg.features.n_fft,
        progress=progress,
        val_paths=val_paths,
    )


__all__ = ["FileStats", "FolderReport", "inspect_folder", "inspect_for_config"]
