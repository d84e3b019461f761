"""Where training crops come from: clips held in memory, or files read lazily window by window.

A *clip store* is a list of mono clips at one sample rate that a dataset crops from. It
answers three questions: how long clip ``k`` is (samples at the store's rate), how loud each
of its blocks is (for silence rejection before reading anything), and what the samples
``[start, start + length)`` are. :class:`MemoryClips` holds decoded tensors;
:class:`FileClips` reads only the asked-for window of an indexed file
(``soundfile.read(start=, frames=)``, :func:`audioae.audio.read_frames`), mixes it to mono
and resamples it with soxr, so a dataset's memory does not grow with the corpus.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from .audio import mix_to_mono, read_frames, resample
from .audio_errors import AudioError
from .data_errors import DataReadError
from .dataindex import FolderIndex

RESAMPLE_MARGIN_SECONDS = 0.02
"""Context read on each side of a window that is resampled, so filter edges fall outside it."""


def fit_length(wav: torch.Tensor, length: int) -> torch.Tensor:
    """``wav (time,)`` cut to, or zero-padded at the end to, ``(length,)``."""
    if wav.numel() >= length:
        return wav[:length]
    return torch.nn.functional.pad(wav, (0, length - wav.numel()))


class MemoryClips:
    """Decoded mono clips ``(time,)`` float32 at ``sample_rate`` Hz, blocks of ``grid`` samples."""

    def __init__(self, clips: Sequence[torch.Tensor], sample_rate: int) -> None:
        self.clips = [torch.as_tensor(c, dtype=torch.float32).reshape(-1) for c in clips]
        self.sample_rate = int(sample_rate)
        self.lengths = np.array([c.numel() for c in self.clips], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.clips)

    def block_energy(self, k: int, grid: int) -> np.ndarray:
        """Sum of squares of each ``grid``-sample block of clip ``k`` (the last may be partial)."""
        x = self.clips[k].numpy().astype(np.float64)
        n_blocks = max(-(-x.size // grid), 1)
        padded = np.zeros(n_blocks * grid)
        padded[: x.size] = x * x
        return padded.reshape(n_blocks, grid).sum(axis=1)

    def grid(self, segment_samples: int) -> int:
        """Block length (samples): a quarter of a segment."""
        return max(segment_samples // 4, 1)

    def read(self, k: int, start: int, length: int) -> torch.Tensor:
        """Samples ``[start, start + length)`` of clip ``k``, zero-padded past its end: ``(length,)``."""
        return fit_length(self.clips[k][start : start + length], length)


class FileClips:
    """Indexed files, read lazily as mono at ``sample_rate`` Hz.

    Only the columns a dataset needs are kept (paths, rates, lengths, block levels), as
    arrays, so a store of 100 000 files costs a few megabytes and forked DataLoader workers
    share it. Blocks are the index's ``block_seconds`` long.

    Args:
        index: the folder's :class:`~audioae.dataindex.FolderIndex`.
        rows: which of its files (indices into ``index.paths``).
        sample_rate: the rate crops are delivered at (Hz).
        steep: resample other rates with the steep filter (``audio.resampler: steep``,
            :func:`audioae.audio.resample`).
    """

    def __init__(
        self, index: FolderIndex, rows: Sequence[int], sample_rate: int, steep: bool = False
    ) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.root = index.root
        self.paths = [index.paths[int(r)] for r in rows]
        self.source_rate = index.sample_rate[rows].copy()
        self.frames = index.frames[rows].copy()
        self.size = index.size[rows].copy()
        self.mtime_ns = index.mtime_ns[rows].copy()
        self.sample_rate = int(sample_rate)
        self.steep = steep
        self.block_seconds = index.block_seconds
        self.lengths = np.round(self.frames * self.sample_rate / self.source_rate).astype(np.int64)
        counts = index.block_offsets[rows + 1] - index.block_offsets[rows]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._blocks = (
            np.concatenate(
                [index.block_db[index.block_offsets[r] : index.block_offsets[r + 1]] for r in rows]
            )
            if len(rows)
            else np.zeros(0, np.int16)
        )

    def __len__(self) -> int:
        return len(self.paths)

    def grid(self, segment_samples: int) -> int:
        """Block length (samples at ``sample_rate``): the index's block."""
        return max(round(self.block_seconds * self.sample_rate), 1)

    def block_energy(self, k: int, grid: int) -> np.ndarray:
        """Sum of squares of each block of clip ``k`` at ``sample_rate`` (from the index levels)."""
        centi = self._blocks[self._offsets[k] : self._offsets[k + 1]].astype(np.float64)
        mean_square = 10.0 ** (centi / 1000.0)
        sizes = np.full(mean_square.size, float(grid))
        if sizes.size:
            sizes[-1] = max(self.lengths[k] - grid * (sizes.size - 1), 0)
        return mean_square * sizes

    def read(self, k: int, start: int, length: int) -> torch.Tensor:
        """Samples ``[start, start + length)`` of clip ``k`` at ``sample_rate``, zero-padded: ``(length,)``.

        Reads only that window (plus :data:`RESAMPLE_MARGIN_SECONDS` of context on each side
        when the file's rate differs), mixes it to mono and resamples it.

        Raises:
            audioae.data.DataReadError: the file cannot be read any more; the message says
                whether it was removed or changed since the folder was indexed.
        """
        try:
            return self._read(k, start, length)
        except AudioError as exc:
            raise DataReadError(self._read_failure(k, exc)) from None

    def _read_failure(self, k: int, exc: AudioError) -> str:
        """Why clip ``k`` could not be read, and what to do: one line naming the file."""
        path = self.root / self.paths[k]
        resume = "training stopped; --resume goes on from the last checkpoint without it"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return f"{path}: removed since the data folder was indexed; {resume}"
        except OSError as err:
            return f"{path}: cannot be read any more ({err.strerror}); {resume}"
        if (st.st_size, st.st_mtime_ns) != (int(self.size[k]), int(self.mtime_ns[k])):
            return (
                f"{path}: changed since the data folder was indexed; training stopped; "
                "--resume goes on from the last checkpoint with the folder indexed again"
            )
        return f"{exc}; {resume}"

    def _read(self, k: int, start: int, length: int) -> torch.Tensor:
        path = self.root / self.paths[k]
        source_rate = int(self.source_rate[k])
        if source_rate == self.sample_rate:
            data = read_frames(path, start, length)
            wav = torch.from_numpy(mix_to_mono(data))
        else:
            ratio = source_rate / self.sample_rate
            margin = math.ceil(RESAMPLE_MARGIN_SECONDS * source_rate)
            # start the read where both sample grids meet, so the window is not shifted
            step = source_rate // math.gcd(source_rate, self.sample_rate)
            first = (max(math.floor(start * ratio) - margin, 0) // step) * step
            last = math.ceil((start + length) * ratio) + margin
            data = read_frames(path, first, last - first)
            mono = torch.from_numpy(mix_to_mono(data))
            offset = start - first * self.sample_rate // source_rate
            wav = resample(mono.float(), source_rate, self.sample_rate, steep=self.steep)
            wav = wav[offset : offset + length]
        return fit_length(wav.float(), length).contiguous()


ClipStore = MemoryClips | FileClips
"""Either store: what :class:`audioae.data.AudioFolder` crops from."""


def read_circular(store: ClipStore, k: int, offset: int, length: int) -> torch.Tensor:
    """``length`` samples of clip ``k`` from ``offset``, wrapping to its start (tiled if short)."""
    total = int(store.lengths[k])
    if total <= 0:
        return torch.zeros(length)
    pieces, got, pos = [], 0, offset % total
    while got < length:
        take = min(total - pos, length - got)
        pieces.append(store.read(k, pos, take))
        got += take
        pos = 0
    return torch.cat(pieces)


__all__ = [
    "ClipStore",
    "FileClips",
    "MemoryClips",
    "RESAMPLE_MARGIN_SECONDS",
    "fit_length",
    "read_circular",
]
