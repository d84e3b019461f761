"""Reproducible fixed-length crops of a clip store: :class:`AudioFolder` and its seed streams.

Segment ``i`` of epoch ``e`` is drawn from a generator seeded by ``(data.seed, stream, split,
e, i)`` (:meth:`AudioFolder._seed`); each augmentation of an item draws from its own stream
(the ``*_STREAM`` markers), so turning one on changes no other draw. :func:`seeded_rng` and
:func:`torch_generator` make the generators; :mod:`audioae.mixtures` draws its noise and
rooms from the same streams. :mod:`audioae.data` re-exports :class:`AudioFolder`: import it
from there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import rms_db
from .augment import change_speed, random_gain
from .clips import ClipStore, FileClips, MemoryClips, fit_length
from .config import Config
from .data_errors import DatasetError

__all__ = [
    "CHANNEL_STREAM",
    "CROWD_STREAM",
    "NOISE_STREAM",
    "SPEED_STREAM",
    "AudioFolder",
    "as_store",
    "seeded_rng",
    "torch_generator",
]

SPLITS = ("train", "val")
_TRAIN, _VAL = 0, 1  # split markers of the seed tuple
# seed stream markers: the crop itself draws from stream 0, each augmentation from its own
NOISE_STREAM, CHANNEL_STREAM, SPEED_STREAM, CROWD_STREAM = 2, 3, 4, 5


def seeded_rng(*seed: int) -> np.random.Generator:
    """A numpy generator seeded from the integer tuple ``seed``."""
    return np.random.default_rng([int(v) & 0xFFFFFFFF for v in seed])


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from the next value of ``rng``."""
    return torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))


def as_store(clips: Sequence[torch.Tensor] | ClipStore, sample_rate: int) -> ClipStore:
    """``clips`` as a clip store: a store as it is, waveforms ``(time,)`` as a :class:`MemoryClips`."""
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
    times the Nyquist frequency (:class:`~audioae.mixtures.DenoisingFolder` band-limits its mixture to match).

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
        self.store = as_store(clips, cfg.audio.sample_rate)
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
        rng = seeded_rng(*self._seed(index, SPEED_STREAM))
        return float(rng.uniform(1.0 - self.speed_perturb, 1.0 + self.speed_perturb))

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = seeded_rng(*self._seed(int(index), 0))
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
