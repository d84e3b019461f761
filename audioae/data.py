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
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import rms_db
from .augment import (
    EARLY_REVERB_SECONDS,
    change_speed,
    colored_noise,
    fft_convolve,
    low_pass,
    mix_at_snr,
    random_biquad,
    random_gain,
    synthetic_rir,
)
from .clips import ClipStore, FileClips, MemoryClips, fit_length, read_circular
from .config import Config
from .dataindex import FolderIndex, index_folder
from .fileio import relative_posix
from .samplers import EpochSampler, GroupedBatches, shutdown_workers

__all__ = [
    "AudioFolder",
    "DatasetError",
    "Datasets",
    "DenoisingFolder",
    "EpochSampler",
    "GroupedBatches",
    "build_datasets",
    "path_hash",
    "shutdown_workers",
    "split_by_hash",
    "split_relative",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
_TRAIN, _VAL, _NOISE, _CHANNEL, _SPEED, _CROWD = 0, 1, 2, 3, 4, 5  # seed stream markers
_CROWD_DRR_DB = (-6.0, 3.0)  # direct-to-reverberant ratios of distant babble talkers (dB)
_DRR_DB = (-3.0, 12.0)  # direct-to-reverberant ratios of the synthetic rooms (dB)


class DatasetError(ValueError):
    """A folder cannot give a training set; the message says what to change."""


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
    base = os.path.abspath(root)
    # Relative to the folder as scanned, symlinks not followed: a folder of links (such as
    # the demo's split folders) splits the same whichever way the folder is spelled.
    return split_relative([relative_posix(p, base) for p in paths], root, val_fraction)


def split_relative(
    relative_paths: Sequence[str], root: str | os.PathLike, val_fraction: float
) -> tuple[list[int], list[int]]:
    """:func:`split_by_hash` of paths already relative to ``root`` (POSIX strings, as the
    data index stores them); ``root`` only names the folder in errors.

    Raises:
        DatasetError: ``val_fraction > 0`` with fewer than two files.
    """
    n = len(relative_paths)
    if val_fraction <= 0:
        return list(range(n)), []
    if n < 2:
        raise DatasetError(
            f"{root}: {n} usable file(s) cannot be split into training and validation; "
            "add files or set data.val_fraction=0"
        )
    keys = [(path_hash(rel), rel, i) for i, rel in enumerate(relative_paths)]
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


def _as_store(clips: Sequence[torch.Tensor] | ClipStore, sample_rate: int) -> ClipStore:
    if isinstance(clips, (MemoryClips, FileClips)):
        return clips
    return MemoryClips(clips, sample_rate)


_CHUNK_CLIPS = 2048  # clips per vectorised pass when finding loud starts (bounds the memory)


def _loud_blocks(
    store: ClipStore, segment: int, grid: int, threshold_db: float
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate crop starts (in blocks of ``grid`` samples) whose crop is at least ``threshold_db`` loud.

    A crop starting at block ``b`` is judged by the ``span = round(segment / grid)`` blocks
    it covers (blocks past the clip's end count as silence). Returns ``(starts, offsets)``:
    clip ``k``'s loud starts are ``starts[offsets[k]:offsets[k + 1]]`` (int32 block indices).
    """
    span = max(1, round(segment / grid))
    starts, counts = [], []
    for lo in range(0, len(store), _CHUNK_CLIPS):
        ks = range(lo, min(lo + _CHUNK_CLIPS, len(store)))
        energies = [store.block_energy(k, grid) for k in ks]
        n_blocks = np.array([e.size for e in energies], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(n_blocks)])
        cs = np.concatenate([[0.0], np.cumsum(np.concatenate(energies))])
        last = np.maximum(store.lengths[lo : lo + len(ks)] - segment, 0)
        n_cand = np.minimum(last // grid + 1, np.maximum(n_blocks, 1))
        clip = np.repeat(np.arange(len(ks)), n_cand)
        b = np.arange(clip.size) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
        begin = first[clip] + b
        end = np.minimum(begin + span, first[clip + 1])
        mean_square = (cs[end] - cs[begin]) / (span * grid)
        with np.errstate(divide="ignore"):
            loud = 10.0 * np.log10(np.maximum(mean_square, 0.0)) >= threshold_db
        starts.append(b[loud].astype(np.int32))
        counts.append(np.bincount(clip[loud], minlength=len(ks)))
    counts_all = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts_all)]).astype(np.int64)
    return (np.concatenate(starts) if starts else np.zeros(0, np.int32)), offsets


class AudioFolder(Dataset):
    """Fixed-length waveform segments ``(segment_samples,)`` float32 cropped from a clip store.

    ``split="train"``: ``len`` is ``data.samples_per_epoch``; item ``epoch * len + i`` is a
    random crop seeded by ``(data.seed, epoch, i)``. ``split="val"``: ``len`` is
    ``data.val_segments`` and item ``i`` is the same crop in every epoch.

    The clips are decoded tensors or indexed files read lazily (:mod:`audioae.clips`): an
    item reads only its window. Silence rejection: at construction every clip's candidate
    starts (a grid of blocks: a quarter segment in memory, the index's block for files) whose
    crop is quieter than ``data.silence_db`` dBFS by the block levels are dropped; a crop
    picks a clip with probability proportional to its number of loud starts, a loud start,
    and a random offset within its block; if the crop it reads is quiet after all, the block
    start itself is read instead. Only when a whole split holds no loud crop at all are
    quiet crops used. Clips shorter than a segment are zero-padded at the end.

    With ``data.speed_perturb`` (training only) a crop of ``ceil(segment_samples * factor)``
    samples is read and played ``factor`` times faster (:func:`~audioae.augment.change_speed`),
    the factor uniform in ``1 ± speed_perturb`` from its own seed stream; the gain is drawn
    after it, as without it. A slowed crop (``factor < 1``) holds nothing above ``factor``
    times the Nyquist frequency (:class:`DenoisingFolder` band-limits its mixture to match).

    Args:
        clips: mono waveforms ``(time,)`` at ``cfg.audio.sample_rate``, or a clip store
            (:class:`~audioae.clips.MemoryClips`, :class:`~audioae.clips.FileClips`).
        cfg: the run's config (``data`` section and ``segment_samples``).
        split: ``"train"`` or ``"val"``.

    Raises:
        DatasetError: no clips.
        ValueError: unknown ``split``.
    """

    def __init__(
        self, clips: Sequence[torch.Tensor] | ClipStore, cfg: Config, split: str = "train"
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.store = _as_store(clips, cfg.audio.sample_rate)
        if len(self.store) == 0:
            raise DatasetError(f"no clips for the {split} split")
        self.split = split
        self.segment_samples = cfg.segment_samples
        self.silence_db = cfg.data.silence_db
        self.seed = cfg.data.seed
        self.gain_db = (cfg.data.gain_db_min, cfg.data.gain_db_max)
        self.length = cfg.data.samples_per_epoch if split == "train" else cfg.data.val_segments
        self.speed_perturb = cfg.data.speed_perturb if split == "train" else 0.0
        self.grid = self.store.grid(self.segment_samples)
        self._starts, self._offsets = _loud_blocks(
            self.store, self.segment_samples, self.grid, self.silence_db
        )
        if self._offsets[-1] == 0:  # nothing loud anywhere: fall back to every start
            self._starts, self._offsets = _loud_blocks(
                self.store, self.segment_samples, self.grid, -math.inf
            )
        counts = np.diff(self._offsets).astype(np.float64)
        self._cumulative = np.cumsum(counts / counts.sum())

    def __len__(self) -> int:
        return self.length

    def _seed(self, index: int, stream: int) -> tuple[int, ...]:
        if self.split == "val":
            return (self.seed, stream, _VAL, index % max(self.length, 1))
        epoch, i = divmod(index, max(self.length, 1))
        return (self.seed, stream, _TRAIN, epoch, i)

    def _speed(self, index: int) -> float:
        """The crop's speed factor (1 when ``data.speed_perturb`` is off or for validation),
        from its own seed stream so that turning it on changes no other draw."""
        if self.speed_perturb == 0.0:
            return 1.0
        rng = _rng(*self._seed(index, _SPEED))
        return float(rng.uniform(1.0 - self.speed_perturb, 1.0 + self.speed_perturb))

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = _rng(*self._seed(int(index), 0))
        factor = self._speed(int(index))
        # a sped-up crop reads more of the clip, a slowed one less, then is resampled to length
        seg = self.segment_samples if factor == 1.0 else math.ceil(self.segment_samples * factor)
        k = min(
            int(np.searchsorted(self._cumulative, rng.random(), side="right")), len(self.store) - 1
        )
        starts = self._starts[self._offsets[k] : self._offsets[k + 1]]
        base = int(starts[int(rng.integers(0, len(starts)))]) * self.grid
        last = max(int(self.store.lengths[k]) - seg, 0)
        base = min(base, last)
        start = min(base + int(rng.integers(0, self.grid)), last)
        piece = self.store.read(k, start, seg)
        if float(rms_db(piece)) < self.silence_db and start != base:
            piece = self.store.read(k, base, seg)
        if factor != 1.0:
            piece = fit_length(change_speed(piece, factor), self.segment_samples)
        if self.gain_db != (0.0, 0.0):  # drawn last, so the crops do not depend on it
            piece = random_gain(piece, rng, *self.gain_db)
        return piece


class DenoisingFolder(Dataset):
    """``(noisy, clean)`` pairs, each ``(segment_samples,)`` float32, for denoising training.

    The clean segment is ``clean[index]``; the noise is a circular crop of a noise clip from a
    random offset (read lazily from a :class:`~audioae.clips.FileClips` store: only the
    window) or, without noise clips, synthetic ``data.noise_colors`` noise
    (:func:`~audioae.augment.colored_noise`), mixed by :func:`~audioae.augment.mix_at_snr` at an SNR uniform in
    ``[data.snr_db_min, data.snr_db_max]`` dB. A ``data.babble_fraction`` share of the
    mixtures uses babble instead: the sum of 3 to ``data.babble_talkers`` other crops of the
    clean folder, each at unit RMS (competing talkers, as in the NOISEX-92 babble recording),
    and a ``data.babble_reverb_fraction`` share of those is a crowd in a room: every talker
    convolved with its own synthetic response of one room (RT60 uniform in
    ``[data.rt60_min, data.rt60_max]`` s, each talker's direct-to-reverberant ratio uniform in
    -6..3 dB: distant voices; drawn from their own seed stream), as recorded babble (a
    canteen, a market, a stadium) is heard, not close-talking voices summed dry. A
    ``data.synthetic_noise_fraction`` share uses ``data.noise_colors`` noise even when
    noise clips are given (with ``data.random_eq``: stationary noise of a random spectral
    shape, so the model learns to remove any steady noise floor, not only the clips' types).
    Noise, colour, babble and SNR are seeded like the crops, so validation mixtures are fixed.

    The channel, drawn from its own seed stream (so turning it on changes no other draw, and
    with both fractions 0 the pairs are exactly those without it):

    - ``data.reverb_fraction`` of the mixtures happen in a synthetic room: RT60 uniform in
      ``[data.rt60_min, data.rt60_max]`` s, direct-to-reverberant ratio uniform in -3..12 dB.
      The speech is convolved with one response (:func:`~audioae.augment.synthetic_rir`,
      direct path 1, so its level and timing are kept) and the noise, a second source in the
      same room, with another (circularly: the noise segment is a circular crop). The SNR is
      that of the reverberant speech. The target is the speech convolved with the direct path
      and the early reflections only (the first :data:`~audioae.augment.EARLY_REVERB_SECONDS`
      = 50 ms): the model learns to remove late reverberation and noise, while removing the
      early reflections too would ask it to invert an unknown room and invent detail (the
      usual "early reverberation" target of dereverberating speech enhancers).
    - ``data.band_limit_fraction`` of the mixtures, after mixing, are low-passed
      (:func:`~audioae.augment.low_pass`) at a cutoff drawn from ``data.band_limit_hz``, the
      target as well: a denoiser cannot restore a band the channel removed, so it learns to
      take narrow-band input without adding or removing anything above the cutoff.

    With ``data.speed_perturb`` (:class:`AudioFolder`), a crop slowed by ``factor < 1`` has no
    speech above ``factor`` times the Nyquist frequency, so its mixture and target are both
    low-passed (:func:`~audioae.augment.low_pass`) to end a sixth of an octave under it: were
    the noise left there, the model would learn that the top band of speech is noise.

    Args:
        clean: the clean-speech :class:`AudioFolder` (its split decides train/val behaviour).
        noise_clips: mono noise waveforms ``(time,)`` or a clip store, or None/empty for
            synthetic noise.
        cfg: the run's config.
    """

    def __init__(
        self,
        clean: AudioFolder,
        noise_clips: Sequence[torch.Tensor] | ClipStore | None,
        cfg: Config,
    ) -> None:
        self.clean = clean
        self.noise = _as_store(
            noise_clips if noise_clips is not None else [], cfg.audio.sample_rate
        )
        self.colors = list(cfg.data.noise_colors)
        if not len(self.noise) and not self.colors:
            raise DatasetError(
                "no noise: give a noise folder (--noise DIR) or set data.noise_colors"
            )
        self.snr_range = (cfg.data.snr_db_min, cfg.data.snr_db_max)
        self.babble_fraction = cfg.data.babble_fraction
        self.babble_talkers = cfg.data.babble_talkers
        self.babble_reverb_fraction = cfg.data.babble_reverb_fraction
        self.random_eq = cfg.data.random_eq
        self.synthetic_fraction = cfg.data.synthetic_noise_fraction if self.colors else 0.0
        self.sample_rate = cfg.audio.sample_rate
        self.reverb_fraction = cfg.data.reverb_fraction
        self.rt60_range = (cfg.data.rt60_min, cfg.data.rt60_max)
        self.band_limit_fraction = cfg.data.band_limit_fraction
        self.band_limit_hz = list(cfg.data.band_limit_hz)

    def _babble(self, rng: np.random.Generator, length: int, index: int) -> torch.Tensor:
        """Babble ``(length,)``: the sum of 3..``babble_talkers`` clean crops, each at unit RMS,
        in a room for a ``babble_reverb_fraction`` share (see the class)."""
        talkers = int(rng.integers(3, self.babble_talkers + 1))
        room = None
        if self.babble_reverb_fraction > 0:  # its own stream: the other draws are unchanged
            crowd = _rng(*self.clean._seed(index, _CROWD))
            if crowd.random() < self.babble_reverb_fraction:
                rt60 = float(crowd.uniform(*self.rt60_range))
                room = (rt60, crowd, _torch_generator(crowd))
        out = torch.zeros(length)
        for _ in range(talkers):
            crop = self.clean[int(rng.integers(0, 2**31 - 1))][:length]
            if room is not None:
                rt60, crowd, gen = room
                drr_db = float(crowd.uniform(*_CROWD_DRR_DB))
                crop = fft_convolve(crop, synthetic_rir(self.sample_rate, rt60, drr_db, gen))
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
        noise = self._noise(rng, gen, clean, int(index))
        if self.random_eq:
            noise = random_biquad(noise, rng)
        if self.reverb_fraction == 0 and self.band_limit_fraction == 0:
            noisy, target = mix_at_snr(clean, noise, snr_db, generator=gen).float(), clean
        else:
            noisy, target = self._through_channel(int(index), clean, noise, snr_db, gen)
        factor = self.clean._speed(int(index))
        if factor < 1.0:  # a slowed crop holds nothing above factor x Nyquist: nor does its mix
            cutoff = factor * self.sample_rate / 2 / 2.0 ** (1.0 / 6.0)
            noisy = low_pass(noisy, self.sample_rate, cutoff)
            target = low_pass(target, self.sample_rate, cutoff)
        return noisy, target

    def _through_channel(
        self,
        index: int,
        clean: torch.Tensor,
        noise: torch.Tensor,
        snr_db: float,
        gen: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(noisy, target)`` of one mixture with its room and band limit (see the class)."""
        rng = _rng(*self.clean._seed(index, _CHANNEL))
        # every value is drawn whether used or not, so each fraction leaves the other's draws alone
        reverb = bool(rng.random() < self.reverb_fraction)
        rt60 = float(rng.uniform(*self.rt60_range))
        drr_db = float(rng.uniform(*_DRR_DB))
        room = _torch_generator(rng)
        band_limit = bool(rng.random() < self.band_limit_fraction)
        cutoffs = self.band_limit_hz
        cutoff = cutoffs[int(rng.integers(0, len(cutoffs)))] if cutoffs else 0.0
        speech, target = clean, clean
        if reverb:
            speech_rir = synthetic_rir(self.sample_rate, rt60, drr_db, room)
            noise_rir = synthetic_rir(self.sample_rate, rt60, drr_db, room)
            early = speech_rir[: round(EARLY_REVERB_SECONDS * self.sample_rate) + 1]
            speech = fft_convolve(clean, speech_rir)
            target = fft_convolve(clean, early)
            noise = fft_convolve(noise, noise_rir, circular=True)
        noisy = mix_at_snr(speech, noise, snr_db, generator=gen)
        if band_limit:
            noisy = low_pass(noisy, self.sample_rate, cutoff)
            target = low_pass(target, self.sample_rate, cutoff)
        return noisy.float(), target.float()

    def _noise(
        self, rng: np.random.Generator, gen: torch.Generator, clean: torch.Tensor, index: int
    ) -> torch.Tensor:
        """A noise segment ``(len(clean),)``: babble, a crop of a noise clip, or coloured noise."""
        length = clean.numel()
        if self.babble_fraction > 0 and rng.random() < self.babble_fraction:
            return self._babble(rng, length, index)
        synthetic = self.synthetic_fraction > 0 and rng.random() < self.synthetic_fraction
        for _ in range(3 if len(self.noise) and not synthetic else 0):
            k = int(rng.integers(0, len(self.noise)))
            offset = int(rng.integers(0, max(int(self.noise.lengths[k]), 1)))
            segment = read_circular(self.noise, k, offset, length)  # tiled if short
            if bool(segment.square().sum() > 0):  # a digitally silent stretch: draw again
                return segment
        color = self.colors[int(rng.integers(0, len(self.colors)))] if self.colors else "white"
        return colored_noise(color, length, gen)


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


def _index(
    root: Path, what: str, cache_dir: Path | None, progress: bool, workers: int | None
) -> FolderIndex:
    """The index of a data or noise folder; DatasetError when missing or without audio."""
    if not root.is_dir():
        raise DatasetError(f"{root}: {what} folder not found")
    index = index_folder(root, cache_dir=cache_dir, progress=progress, workers=workers)
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
            bad.append((index.file(i), f"silent (RMS below data.silence_db = {silence_db:g} dBFS)"))
        else:
            rows.append(i)
    return rows, sorted(bad, key=lambda item: item[0])


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
    index = _index(root, "data", cache, progress, index_workers)
    rows, bad = _usable(index, d.silence_db)
    lengths = np.round(index.frames * sr / np.maximum(index.sample_rate, 1)).astype(np.int64)
    short = [i for i in rows if lengths[i] < cfg.segment_samples]
    if d.short_clips == "skip":
        rows = [i for i in rows if lengths[i] >= cfg.segment_samples]

    noise_index: FolderIndex | None = None
    noise_rows: list[int] = []
    if noise_dir is not None:
        noise_index = _index(Path(noise_dir), "noise", cache, progress, index_workers)
        noise_rows, noise_bad = _usable(noise_index, d.silence_db)
        bad = bad + noise_bad
    if report and bad:
        listing = "\n".join(f"  {p}: {why}" for p, why in bad)
        log.warning("left out %d unusable audio file(s):\n%s", len(bad), listing)
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

    train_idx, val_idx = split_relative([index.paths[i] for i in rows], root, d.val_fraction)
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
    log.info(
        "%s: %d training and %d validation file(s), %d left out (index: %s)",
        root,
        len(train_idx),
        len(val_idx),
        len(bad),
        index.cache_file or "memory only",
    )
    return Datasets(
        train=train,
        val=val,
        index=index,
        train_rows=[rows[i] for i in train_idx],
        val_rows=[rows[i] for i in val_idx],
        bad_files=bad,
        skipped_short=[index.file(i) for i in short] if d.short_clips == "skip" else [],
        noise_files=[noise_index.file(i) for i in noise_rows] if noise_index is not None else [],
        index_file=index.cache_file,
    )
