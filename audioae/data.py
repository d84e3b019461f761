"""Training data: fixed-length segments cropped from folders of audio, reproducibly.

A folder is scanned recursively (:func:`audioae.audio.find_audio_files`), every file is
decoded once, resampled to ``audio.sample_rate`` and mixed to mono
(:func:`audioae.audio.load_audio`), and kept in memory as a 1-D float32 tensor (the bundled
folders are small; forked workers share the cache copy-on-write). Files that cannot be used
(unreadable, non-finite samples, silent throughout) are left out and reported in ONE
warning; an empty or too-small folder raises :class:`DatasetError` saying what to change.

Randomness is explicit: segment ``i`` of epoch ``e`` is drawn from a generator seeded by
``(data.seed, e, i)``, so a crop depends neither on the worker that makes it nor on the
order of the batches, and a resumed run sees the same data. The epoch travels inside the
index (``index = epoch * len(dataset) + i``) supplied by :class:`EpochSampler`, which also
shards the indices over DDP processes. Validation segments are fixed (the same every epoch).

Features are not computed here: the datasets yield waveforms and the training module
computes features batched on its device.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .audio import rms_db
from .augment import colored_noise, mix_at_snr, random_biquad, random_gain
from .config import Config

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
_TRAIN, _VAL, _NOISE = 0, 1, 2  # stream markers mixed into the seeds


class DatasetError(ValueError):
    """A folder cannot give a training set; the message says what to change."""


@dataclass
class LoadedClips:
    """Decoded clips of a folder and the files that were left out.

    ``clips[i]`` is a mono waveform ``(time,)`` float32 at the requested sample rate,
    decoded from ``paths[i]``; ``bad`` lists ``(path, reason)`` for unusable files and
    ``short`` the files left out by ``data.short_clips: skip``.
    """

    root: Path
    paths: list[Path] = field(default_factory=list)
    clips: list[torch.Tensor] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)
    short: list[Path] = field(default_factory=list)


def load_clips(
    files: Sequence[str | os.PathLike],
    sample_rate: int,
    *,
    root: str | os.PathLike | None = None,
    silence_db: float = -60.0,
    min_samples: int = 0,
) -> LoadedClips:
    """Decode ``files`` to mono ``(time,)`` float32 tensors at ``sample_rate`` Hz.

    A file is left out (listed in ``bad`` with the reason) when it cannot be decoded
    (:class:`audioae.audio.AudioError`), holds NaN/Inf samples, is empty, or is silent
    (whole-file RMS below ``silence_db`` dBFS, as ``audioae inspect`` counts it). Files
    shorter than ``min_samples`` are listed in ``short`` and left out. Never raises for a
    single bad file.
    """
    from .audio import AudioError, load_audio

    files = [Path(f) for f in files]
    out = LoadedClips(root=Path(root) if root is not None else Path("."))
    for path in files:
        try:
            wav, _ = load_audio(path, sample_rate=sample_rate, mono=True)
        except (AudioError, OSError, RuntimeError, ValueError) as exc:
            out.bad.append(
                (path, exc.reason if isinstance(exc, AudioError) else f"unreadable ({exc})")
            )
            continue
        wav = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
        if wav.numel() == 0:
            out.bad.append((path, "no samples"))
        elif not bool(torch.isfinite(wav).all()):
            out.bad.append((path, "NaN or Inf samples"))
        elif float(rms_db(wav)) < silence_db:
            out.bad.append((path, f"silent (RMS below data.silence_db = {silence_db:g} dBFS)"))
        elif wav.numel() < min_samples:
            out.short.append(path)
        else:
            out.paths.append(path)
            out.clips.append(wav.contiguous())
    return out


def path_hash(relative_path: str) -> int:
    """Stable 64-bit hash of a POSIX relative path (SHA-1 prefix), used for the split."""
    return int.from_bytes(hashlib.sha1(relative_path.encode("utf-8")).digest()[:8], "big")


def split_by_hash(
    paths: Sequence[Path], root: str | os.PathLike, val_fraction: float
) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of ``paths`` by a hash of each path relative to ``root``.

    Paths are taken relative to ``root`` as spelled (absolute or relative to the working
    directory), without following symlinks.

    The ``round(val_fraction * n)`` files (at least one when ``val_fraction > 0``) with the
    smallest hashes are held out, so the split depends only on the file names, not on
    their order, the machine or the run.

    Returns:
        ``(train_indices, val_indices)`` into ``paths``, each sorted.

    Raises:
        DatasetError: ``val_fraction > 0`` with fewer than two files.
    """
    n = len(paths)
    if val_fraction <= 0:
        return list(range(n)), []
    if n < 2:
        raise DatasetError(
            f"{root}: {n} usable file(s) cannot be split into training and validation; "
            "add files or set data.val_fraction=0"
        )
    base = os.path.abspath(root)
    keys = []
    for i, p in enumerate(paths):
        # Relative to the folder as scanned, symlinks not followed: a folder of links (such as
        # the demo's split folders) splits the same whichever way the folder is spelled.
        rel = Path(os.path.relpath(os.path.abspath(p), base)).as_posix()
        keys.append((path_hash(rel), rel, i))
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    ranked = sorted(keys)
    val = sorted(i for _, _, i in ranked[:n_val])
    train = sorted(i for _, _, i in ranked[n_val:])
    return train, val


def _rng(*seed: int) -> np.random.Generator:
    """A numpy generator seeded from the integer tuple ``seed``."""
    return np.random.default_rng([int(v) & 0xFFFFFFFF for v in seed])


def _torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from the next value of ``rng``."""
    return torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))


def _crop(clip: torch.Tensor, start: int, length: int) -> torch.Tensor:
    piece = clip[start : start + length]
    if piece.numel() < length:
        piece = torch.nn.functional.pad(piece, (0, length - piece.numel()))
    return piece


class AudioFolder(Dataset):
    """Fixed-length waveform segments ``(segment_samples,)`` float32 cropped from decoded clips.

    ``split="train"``: ``len`` is ``data.samples_per_epoch``; item ``epoch * len + i`` is a
    random crop seeded by ``(data.seed, epoch, i)``. ``split="val"``: ``len`` is
    ``data.val_segments`` and item ``i`` is the same crop in every epoch.

    Silence rejection: at construction every clip's candidate starts (a grid of a quarter
    segment) whose crop has an RMS below ``data.silence_db`` dBFS are dropped (prefix sums
    of the energy make this O(length)); a crop picks a clip with probability proportional
    to its number of loud starts, a loud start, and a random offset within its grid cell
    (the offset is dropped if it makes the crop quiet). Only when a whole split holds no
    loud crop at all are quiet crops used. Clips shorter than a segment are zero-padded at
    the end.

    Args:
        clips: mono waveforms ``(time,)`` at ``cfg.audio.sample_rate`` (see :func:`load_clips`).
        cfg: the run's config (``data`` section and ``segment_samples``).
        split: ``"train"`` or ``"val"``.

    Raises:
        DatasetError: no clips.
        ValueError: unknown ``split``.
    """

    def __init__(self, clips: Sequence[torch.Tensor], cfg: Config, split: str = "train") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not clips:
            raise DatasetError(f"no clips for the {split} split")
        self.clips = [torch.as_tensor(c, dtype=torch.float32).reshape(-1) for c in clips]
        self.split = split
        self.segment_samples = cfg.segment_samples
        self.silence_db = cfg.data.silence_db
        self.seed = cfg.data.seed
        self.gain_db = (cfg.data.gain_db_min, cfg.data.gain_db_max)
        self.length = cfg.data.samples_per_epoch if split == "train" else cfg.data.val_segments
        self.grid = max(self.segment_samples // 4, 1)
        self.starts = [self._loud_starts(c) for c in self.clips]  # per clip: int64 array of starts
        counts = np.array([len(s) for s in self.starts], dtype=np.float64)
        if counts.sum() == 0:  # nothing loud anywhere: fall back to every start
            self.starts = [self._loud_starts(c, threshold_db=-math.inf) for c in self.clips]
            counts = np.array([len(s) for s in self.starts], dtype=np.float64)
        self._cumulative = np.cumsum(counts / counts.sum())

    def _loud_starts(self, clip: torch.Tensor, threshold_db: float | None = None) -> np.ndarray:
        seg = self.segment_samples
        threshold = self.silence_db if threshold_db is None else threshold_db
        x = clip.numpy().astype(np.float64)
        energy = np.concatenate([[0.0], np.cumsum(x * x)])
        last = max(x.size - seg, 0)
        starts = np.unique(np.append(np.arange(0, last + 1, self.grid), last))
        ends = np.minimum(starts + seg, x.size)
        mean_square = (energy[ends] - energy[starts]) / seg  # padding counts as silence
        with np.errstate(divide="ignore"):
            level = 10.0 * np.log10(mean_square)
        return starts[level >= threshold]

    def __len__(self) -> int:
        return self.length

    def _seed(self, index: int, stream: int) -> tuple[int, ...]:
        if self.split == "val":
            return (self.seed, stream, _VAL, index % max(self.length, 1))
        epoch, i = divmod(index, max(self.length, 1))
        return (self.seed, stream, _TRAIN, epoch, i)

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = _rng(*self._seed(int(index), 0))
        seg = self.segment_samples
        k = min(
            int(np.searchsorted(self._cumulative, rng.random(), side="right")), len(self.clips) - 1
        )
        clip, starts = self.clips[k], self.starts[k]
        base = int(starts[int(rng.integers(0, len(starts)))])
        start = min(base + int(rng.integers(0, self.grid)), max(clip.numel() - seg, 0))
        piece = _crop(clip, start, seg)
        if float(rms_db(piece)) < self.silence_db:
            piece = _crop(clip, base, seg)
        if self.gain_db != (0.0, 0.0):  # drawn last, so the crops do not depend on it
            piece = random_gain(piece, rng, *self.gain_db)
        return piece


class DenoisingFolder(Dataset):
    """``(noisy, clean)`` pairs, each ``(segment_samples,)`` float32, for denoising training.

    The clean segment is ``clean[index]``; the noise is a circular crop of a noise clip from a
    random offset or, without noise clips, synthetic ``data.noise_colors`` noise
    (:func:`~audioae.augment.colored_noise`), mixed by :func:`~audioae.augment.mix_at_snr` at an SNR uniform in
    ``[data.snr_db_min, data.snr_db_max]`` dB. A ``data.babble_fraction`` share of the
    mixtures uses babble instead: the sum of 3 to ``data.babble_talkers`` other crops of the
    clean folder, each at unit RMS (competing talkers, as in the NOISEX-92 babble recording),
    and a ``data.synthetic_noise_fraction`` share uses ``data.noise_colors`` noise even when
    noise clips are given (with ``data.random_eq``: stationary noise of a random spectral
    shape, so the model learns to remove any steady noise floor, not only the clips' types).
    Noise, colour, babble and SNR are seeded like the crops, so validation mixtures are fixed.

    Args:
        clean: the clean-speech :class:`AudioFolder` (its split decides train/val behaviour).
        noise_clips: mono noise waveforms ``(time,)``, or None/empty for synthetic noise.
        cfg: the run's config.
    """

    def __init__(
        self, clean: AudioFolder, noise_clips: Sequence[torch.Tensor] | None, cfg: Config
    ) -> None:
        self.clean = clean
        self.noise_clips = [
            torch.as_tensor(c, dtype=torch.float32).reshape(-1) for c in noise_clips or []
        ]
        self.colors = list(cfg.data.noise_colors)
        if not self.noise_clips and not self.colors:
            raise DatasetError(
                "no noise: give a noise folder (--noise DIR) or set data.noise_colors"
            )
        self.snr_range = (cfg.data.snr_db_min, cfg.data.snr_db_max)
        self.babble_fraction = cfg.data.babble_fraction
        self.babble_talkers = cfg.data.babble_talkers
        self.random_eq = cfg.data.random_eq
        self.synthetic_fraction = cfg.data.synthetic_noise_fraction if self.colors else 0.0

    def _babble(self, rng: np.random.Generator, length: int) -> torch.Tensor:
        """Babble ``(length,)``: the sum of 3..``babble_talkers`` clean crops, each at unit RMS."""
        talkers = int(rng.integers(3, self.babble_talkers + 1))
        out = torch.zeros(length)
        for _ in range(talkers):
            crop = self.clean[int(rng.integers(0, 2**31 - 1))][:length]
            out[: crop.numel()] += crop / crop.square().mean().sqrt().clamp_min(1e-8)
        return out

    @property
    def split(self) -> str:
        return self.clean.split

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = self.clean[index]
        rng = _rng(*self.clean._seed(int(index), _NOISE))
        gen = _torch_generator(rng)
        snr_db = float(rng.uniform(*self.snr_range))
        if self.random_eq:
            clean = random_biquad(clean, rng)
        noise = self._noise(rng, gen, clean)
        if self.random_eq:
            noise = random_biquad(noise, rng)
        return mix_at_snr(clean, noise, snr_db, generator=gen).float(), clean

    def _noise(
        self, rng: np.random.Generator, gen: torch.Generator, clean: torch.Tensor
    ) -> torch.Tensor:
        """A noise segment ``(len(clean),)``: babble, a crop of a noise clip, or coloured noise."""
        length = clean.numel()
        if self.babble_fraction > 0 and rng.random() < self.babble_fraction:
            return self._babble(rng, length)
        synthetic = self.synthetic_fraction > 0 and rng.random() < self.synthetic_fraction
        for _ in range(3 if self.noise_clips and not synthetic else 0):
            clip = self.noise_clips[int(rng.integers(0, len(self.noise_clips)))]
            offset = int(rng.integers(0, clip.numel()))  # a circular crop, tiled if short
            segment = clip[(offset + torch.arange(length)) % clip.numel()]
            if bool(segment.square().sum() > 0):  # a digitally silent stretch: draw again
                return segment
        color = self.colors[int(rng.integers(0, len(self.colors)))] if self.colors else "white"
        return colored_noise(color, length, gen)


class EpochSampler(Sampler[int]):
    """Indices that carry the epoch: ``epoch * n + i``, sharded over DDP processes.

    Lightning calls :meth:`set_epoch` at the start of each epoch. With ``fixed=True``
    (validation) the indices are ``0..n-1`` in every epoch. With ``shard=True`` and
    ``torch.distributed`` initialised, process ``rank`` of ``world`` gets
    ``i = rank, rank + world, ...`` (``n // world`` indices each, so every process runs
    the same number of steps).
    """

    def __init__(self, n: int, *, fixed: bool = False, shard: bool = True) -> None:
        self.n = int(n)
        self.fixed = fixed
        self.shard = shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int]:
        if self.shard and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        return self.n // self._rank_world()[1]

    def __iter__(self) -> Iterator[int]:
        rank, world = self._rank_world()
        offset = 0 if self.fixed else self.epoch * self.n
        per_rank = self.n // world
        return iter(range(offset + rank, offset + rank + per_rank * world, world))


@dataclass
class Datasets:
    """What :func:`build_datasets` returns: the two datasets and the file accounting."""

    train: Dataset
    val: Dataset | None
    train_files: list[Path]
    val_files: list[Path]
    bad_files: list[tuple[Path, str]]
    skipped_short: list[Path]
    noise_files: list[Path]


def _scan(root: Path, what: str) -> list[Path]:
    from .audio import find_audio_files

    if not root.is_dir():
        raise DatasetError(f"{root}: {what} folder not found")
    files = list(find_audio_files(root))
    if not files:
        raise DatasetError(
            f"{root}: no audio files found in the {what} folder (searched recursively); add .wav/.flac/.ogg/.mp3 files"
        )
    return files


def build_datasets(
    cfg: Config,
    data_dir: str | os.PathLike,
    noise_dir: str | os.PathLike | None = None,
    *,
    world_size: int = 1,
    report: bool = True,
) -> Datasets:
    """Scan, decode and split ``data_dir``; return training and validation datasets.

    Denoising datasets (:class:`DenoisingFolder`) are built when ``cfg.data.denoise`` is
    true or ``noise_dir`` is given. Unusable files are left out and listed in ONE warning
    (when ``report``). ``world_size`` (DDP processes) is only used to check that an epoch
    has at least one batch per process.

    Raises:
        DatasetError: missing or empty folder, no usable file, too few files for the split,
            every clip too short under ``short_clips: skip``, or ``samples_per_epoch`` smaller
            than one batch per process; each message says what to change.
    """
    root = Path(data_dir)
    files = _scan(root, "data")
    d = cfg.data
    min_samples = cfg.segment_samples if d.short_clips == "skip" else 0
    loaded = load_clips(
        files, cfg.audio.sample_rate, root=root, silence_db=d.silence_db, min_samples=min_samples
    )

    noise = LoadedClips(root=Path(noise_dir) if noise_dir else root)
    if noise_dir is not None:
        noise = load_clips(
            _scan(Path(noise_dir), "noise"),
            cfg.audio.sample_rate,
            root=noise_dir,
            silence_db=d.silence_db,
        )
    bad = loaded.bad + noise.bad
    if report and bad:
        listing = "\n".join(f"  {p}: {why}" for p, why in bad)
        log.warning("left out %d unusable audio file(s):\n%s", len(bad), listing)
    if report and loaded.short:
        log.warning(
            "left out %d clip(s) shorter than data.segment_seconds=%g s (data.short_clips=skip)",
            len(loaded.short),
            d.segment_seconds,
        )

    if not loaded.clips:
        hint = (
            f"every clip is shorter than data.segment_seconds={d.segment_seconds:g} s; lower it or set data.short_clips=pad"
            if loaded.short and not loaded.bad
            else "add usable audio files"
        )
        raise DatasetError(
            f"{root}: no usable audio file out of {len(files)} ({len(loaded.bad)} unusable); {hint}"
        )
    if noise_dir is not None and not noise.clips:
        raise DatasetError(
            f"{noise_dir}: no usable noise file out of {len(noise.bad)}; add noise files"
        )

    train_idx, val_idx = split_by_hash(loaded.paths, root, d.val_fraction)
    per_step = d.batch_size * max(world_size, 1)
    if d.samples_per_epoch < per_step:
        raise DatasetError(
            f"data.samples_per_epoch={d.samples_per_epoch} is smaller than one batch "
            f"(data.batch_size={d.batch_size} x {world_size} process(es)); raise it or lower data.batch_size"
        )
    train: Dataset = AudioFolder([loaded.clips[i] for i in train_idx], cfg, "train")
    val: Dataset | None = None
    if val_idx and d.val_segments > 0:
        val = AudioFolder([loaded.clips[i] for i in val_idx], cfg, "val")
    if d.denoise or noise_dir is not None:
        train = DenoisingFolder(train, noise.clips, cfg)
        val = DenoisingFolder(val, noise.clips, cfg) if val is not None else None
    log.info(
        "%s: %d training and %d validation file(s), %d left out",
        root,
        len(train_idx),
        len(val_idx),
        len(bad),
    )
    return Datasets(
        train=train,
        val=val,
        train_files=[loaded.paths[i] for i in train_idx],
        val_files=[loaded.paths[i] for i in val_idx],
        bad_files=bad,
        skipped_short=loaded.short,
        noise_files=noise.paths,
    )
