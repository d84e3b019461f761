"""Audio files read and written a block at a time, so memory does not grow with their length.

:class:`BlockReader` decodes a file in blocks of frames with the checks :func:`audioae.audio.load_audio`
makes on the whole file (NaN/Inf samples, a stream shorter than its header says);
:class:`ResampledReader` resamples those blocks with one streaming soxr resampler (the same
output as resampling the whole file, sample for sample) and serves any window of the result
that lies after the part already released; :class:`AudioFileWriter` writes blocks into the
atomic temporary file of :func:`audioae.fileio.atomic_output`, clipping like
:func:`audioae.audio.save_audio`. Arrays are NumPy float32 ``(channels, frames)``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .audio import (
    FLOAT_SUBTYPES,
    AudioError,
    ClippingWarning,
    audio_info,
    steep_soxr,
    writable_format,
)
from .fileio import atomic_output

BLOCK_FRAMES = 1 << 16
"""Frames decoded per read (65,536: 4 s at 16 kHz)."""


class BlockReader:
    """Decode ``path`` in order, ``frames`` at a time: ``(channels, n)`` float32 blocks.

    Raises (from :meth:`read`):
        AudioError: the file cannot be opened or decoded, a block holds NaN/Inf samples, or
            the stream ends before the frame count its header declares.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        info = audio_info(self.path)  # the header checks of load_audio
        self.sample_rate, self.channels, self.frames = info.sample_rate, info.channels, info.frames
        self.position = 0
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(self.path, f"cannot be decoded: {exc}") from None

    def read(self, frames: int = BLOCK_FRAMES) -> np.ndarray:
        """The next ``min(frames, remaining)`` frames, ``(channels, n)``; ``n == 0`` at the end."""
        want = min(frames, self.frames - self.position)
        if want <= 0:
            return np.zeros((self.channels, 0), np.float32)
        try:
            data = self._file.read(want, dtype="float32", always_2d=True)  # (n, channels)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(self.path, f"cannot be decoded: {exc}") from None
        if data.shape[0] < want:
            raise AudioError(
                self.path,
                f"truncated or corrupt: the header declares {self.frames} frames but only "
                f"{self.position + data.shape[0]} could be decoded",
            )
        finite = np.isfinite(data)
        if not finite.all():
            frames = np.flatnonzero(~finite.all(axis=1))
            first = self.position + int(frames[0])
            raise AudioError(
                self.path,
                f"NaN or Inf samples, the first at frame {first} ({first / self.sample_rate:.3f} s)",
            )
        self.position += data.shape[0]
        return np.ascontiguousarray(data.T)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resampled_length(frames: int, orig_sr: int, target_sr: int) -> int:
    """Length after resampling ``frames`` samples (what :func:`audioae.audio.resample` returns)."""
    return frames if orig_sr == target_sr else int(round(frames * target_sr / orig_sr))


class StreamResampler:
    """soxr resampling of consecutive blocks ``(channels, n)``; its state runs across blocks,
    so the concatenated output equals one-shot resampling of the whole (with the default
    ``quality="HQ"``, :func:`audioae.audio.resample`).

    ``quality``: soxr's recipe, ``"VHQ"``, ``"HQ"``, ``"MQ"``, ``"LQ"`` or ``"QQ"``; lower ones
    hold fewer samples back (see :meth:`delay`), which is what live processing needs.
    ``steep``: the recipe with libsoxr's steep-filter flag (passband to 0.99 of the lower
    Nyquist frequency); with ``"HQ"`` the concatenated output equals
    :func:`audioae.audio.resample` with ``steep=True``.
    """

    def __init__(
        self,
        orig_sr: int,
        target_sr: int,
        channels: int,
        quality: str = "HQ",
        steep: bool = False,
    ) -> None:
        self.same = orig_sr == target_sr
        self.channels = channels
        if not self.same and steep:
            self._stream = steep_soxr(orig_sr, target_sr, channels, quality)
            self._process = self._stream.process_float32
        elif not self.same:
            self._stream = soxr.ResampleStream(
                orig_sr, target_sr, channels, dtype="float32", quality=quality
            )
            self._process = self._stream.resample_chunk

    def delay(self) -> float:
        """Output samples (at the target rate) the filter currently holds back; 0 when the
        rates are equal."""
        return 0.0 if self.same else float(self._stream.delay())

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next block ``(channels, n)``; ``last`` flushes the filter's tail."""
        if self.same:
            return block
        y = self._process(np.ascontiguousarray(block.T, np.float32), last)
        return np.ascontiguousarray(y.reshape(-1, self.channels).T)


class ResampledReader:
    """Windows of a file at ``sample_rate`` Hz, decoded and resampled block by block.

    ``total`` is the resampled length. :meth:`window` returns samples ``[start, stop)``
    (zero beyond ``total``); :meth:`release` drops everything before a sample, which no later
    window may ask for. Memory holds the requested window plus one block.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, steep: bool = False) -> None:
        self.reader = BlockReader(path)
        self.total = resampled_length(self.reader.frames, self.reader.sample_rate, sample_rate)
        self._resampler = StreamResampler(
            self.reader.sample_rate, sample_rate, self.reader.channels, steep=steep
        )
        self._buffer = np.zeros((self.reader.channels, 0), np.float32)
        self._offset = 0  # absolute index of self._buffer[:, 0]
        self._done = False

    def window(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` ``(channels, stop - start)``.

        Raises:
            ValueError: ``start`` lies before the released part.
            AudioError: the file fails to decode (see :class:`BlockReader`).
        """
        if start < self._offset:
            raise ValueError(f"window starts at {start}, before the released {self._offset}")
        while not self._done and self._offset + self._buffer.shape[1] < stop:
            block = self.reader.read()
            last = self.reader.position >= self.reader.frames
            out = self._resampler(block, last=last)
            self._buffer = np.concatenate([self._buffer, out], axis=1)
            self._done = last
        a, b = start - self._offset, stop - self._offset
        piece = self._buffer[:, a:b]
        if piece.shape[1] < b - a:
            piece = np.pad(piece, ((0, 0), (0, b - a - piece.shape[1])))
        return piece

    def release(self, before: int) -> None:
        """Forget the samples before ``before``."""
        drop = max(0, min(before - self._offset, self._buffer.shape[1]))
        self._buffer = self._buffer[:, drop:].copy()
        self._offset += drop

    def close(self) -> None:
        self.reader.close()


class AudioFileWriter:
    """Append blocks ``(channels, n)`` to an open audio file (see :func:`open_writer`).

    Integer and lossy subtypes clip samples outside [-1, 1]; the count is warned about once
    when the file is closed (:class:`~audioae.audio.ClippingWarning`). ``gain`` multiplies
    every block before it is written.
    """

    def __init__(self, handle: sf.SoundFile, path: Path, subtype: str, gain: float = 1.0) -> None:
        self._handle, self.path, self.subtype, self.gain = handle, path, subtype, gain
        self.written = 0
        self.clipped = 0
        self.peak = 0.0

    def write(self, block: np.ndarray) -> None:
        """Write ``block (channels, n)`` after the previous ones.

        Raises:
            AudioError: NaN or Inf samples (the file is then removed by :func:`open_writer`).
        """
        data = np.asarray(block, np.float64 if self.subtype == "DOUBLE" else np.float32)
        if self.gain != 1.0:
            data = data * self.gain
        if not np.isfinite(data).all():
            raise AudioError(self.path, "NaN or Inf samples; nothing was written")
        if data.size:
            self.peak = max(self.peak, float(np.abs(data).max()))
        if self.subtype not in FLOAT_SUBTYPES:
            over = np.abs(data) > 1.0
            if over.any():
                self.clipped += int(np.count_nonzero(over))
                data = np.clip(data, -1.0, 1.0)
        self._handle.write(np.ascontiguousarray(data.T))
        self.written += data.shape[1]


@contextlib.contextmanager
def open_writer(
    path: str | os.PathLike,
    sample_rate: int,
    channels: int,
    *,
    subtype: str = "PCM_16",
    overwrite: bool = False,
    gain: float = 1.0,
) -> Iterator[AudioFileWriter]:
    """An :class:`AudioFileWriter` on the atomic temporary file of ``path``; renamed onto
    ``path`` when the block succeeds, removed when it fails.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        AudioError: an unknown suffix or a subtype the container cannot hold.
    """
    path = Path(path)
    fmt, subtype = writable_format(path, subtype)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with sf.SoundFile(
            str(tmp), "w", int(sample_rate), int(channels), subtype=subtype, format=fmt
        ) as handle:
            writer = AudioFileWriter(handle, path, subtype, gain)
            yield writer
        if writer.written == 0:
            raise AudioError(path, "no samples to write (time length 0)")
    if writer.clipped:
        warnings.warn(
            f"{path}: clipped {writer.clipped} of {writer.written * channels} samples to [-1, 1] "
            f"to write {subtype}",
            ClippingWarning,
            stacklevel=3,
        )
