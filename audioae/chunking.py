"""Chunked processing of long signals with flat memory.

Long files are cut into windows ``[start - margin, end + margin)`` whose boundaries fall on a
grid of ``align`` samples (the model's hop times its time downsampling), processed one at a
time, and only each window's centre ``[start, end)`` is kept. Because every window starts on
the same frame/stride grid as the whole file, a frame in a window's centre sees exactly the
samples it would see in whole-file processing, as long as ``margin`` covers the receptive
field: chunked output then equals whole-file output up to float rounding (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """One chunk: process samples ``[start, stop)``, keep ``[keep_start, keep_stop)`` (absolute samples)."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_windows(total: int, chunk: int, margin: int, align: int) -> list[Window]:
    """Cut ``total`` samples into aligned windows of ``chunk`` kept samples plus ``margin`` each side.

    ``chunk`` and ``margin`` are rounded up to multiples of ``align``. A signal no longer than
    ``chunk`` gives a single window covering it all.

    Raises:
        ValueError: a non-positive ``chunk`` or ``align``, or a negative ``margin``.
    """
    if chunk <= 0 or align <= 0 or margin < 0:
        raise ValueError(
            f"plan_windows: need chunk > 0, align > 0, margin >= 0 (got {chunk}, {align}, {margin})"
        )
    chunk = math.ceil(chunk / align) * align
    margin = math.ceil(margin / align) * align
    windows = []
    keep_start = 0
    while True:
        keep_stop = min(keep_start + chunk, total)
        if total - keep_stop < align:  # do not leave a sliver for a last window
            keep_stop = total
        windows.append(
            Window(
                max(0, keep_start - margin), min(total, keep_stop + margin), keep_start, keep_stop
            )
        )
        if keep_stop >= total:
            return windows
        keep_start = keep_stop


@dataclass(frozen=True)
class Span:
    """The part ``[begin, end)`` (absolute samples) of one window's output to join, and where
    the next window's part begins (``next_begin``, None for the last); see
    :func:`centred_spans`."""

    begin: int
    end: int
    next_begin: int | None

    def part(self, output: torch.Tensor, start: int, end: int | None = None) -> torch.Tensor:
        """This span's samples ``[begin, end)`` of a window's output ``(..., n)`` whose first
        sample is the absolute sample ``start`` (``end``: another end than the span's, e.g.
        the signal's length for the last window)."""
        return output[..., self.begin - start : (self.end if end is None else end) - start]


def centred_spans(windows: list[Window], fade: int, total: int) -> list[Span]:
    """Parts of the windows' outputs whose :class:`CrossfadeStream` fades (of ``fade``
    samples) are centred on the keep boundaries.

    Window ``i`` contributes ``[keep_start - fade // 2, keep_stop + fade // 2)``, clamped to
    ``[0, total)`` (the first from 0, the last to ``total``), so neighbouring parts overlap by
    ``fade`` samples around each boundary, and only there. Joining whole windows instead
    centres each fade in the windows' overlap, which is not the boundary where windows are
    clamped at the signal's start; and with windows shorter than their margins, fades of
    neighbouring boundaries run into each other and the weights stop summing to one.

    Requirements (the caller's): ``fade`` at most the shortest keep chunk but the last one
    (:func:`plan_windows`' ``chunk``), so fades never overlap; each window's output covers
    its part (the margin is at least ``fade // 2``). A fade shorter than the margin leaves
    ``margin - fade // 2`` samples of context between a part's end and its window's edge.

    Raises:
        ValueError: ``fade`` negative or longer than an inner keep chunk.
    """
    half = fade // 2
    inner = [w.keep_stop - w.keep_start for w in windows[:-1]]
    if fade < 0 or (inner and fade > min(inner)):
        raise ValueError(f"centred_spans: fade {fade} must be in 0..{min(inner, default=0)}")
    spans = []
    for i, w in enumerate(windows):
        last = i + 1 == len(windows)
        begin = 0 if i == 0 else max(0, w.keep_start - half)
        end = total if last else min(total, w.keep_stop + half)
        spans.append(Span(begin, end, None if last else max(0, w.keep_stop - half)))
    return spans


class CrossfadeStream:
    """Join overlapping pieces with complementary linear crossfades, emitting finished samples.

    Pieces arrive in order. Where piece ``i`` overlaps piece ``i + 1`` (its start is given as
    ``next_start``), ``i`` fades out and ``i + 1`` fades in over at most ``fade`` samples
    centred in the overlap; the two weights sum to one everywhere. :meth:`add` returns the
    samples that no later piece can touch any more (up to ``next_start``), so a caller can
    write them out at once: memory holds one piece and one overlap, never the whole output.
    """

    def __init__(self, total: int, fade: int) -> None:
        self.total = total
        self.fade = fade
        self.emitted = 0  # samples [0, emitted) have been returned
        self._pending: torch.Tensor | None = None  # weighted sum over [emitted, ...)
        self._prev_end: int | None = None

    def _ramp(self, w: torch.Tensor, begin: int, overlap: int, rising: bool) -> None:
        f = min(self.fade, overlap)
        lead = (overlap - f) // 2
        if rising:
            w[begin : begin + lead] = 0.0
            values = torch.linspace(0.0, 1.0, f + 2, device=w.device, dtype=w.dtype)[1:-1]
        else:
            w[begin + lead + f :] = 0.0
            values = torch.linspace(1.0, 0.0, f + 2, device=w.device, dtype=w.dtype)[1:-1]
        if f > 0:
            w[begin + lead : begin + lead + f] = values

    def add(self, start: int, piece: torch.Tensor, next_start: int | None = None) -> torch.Tensor:
        """Add ``piece (..., n)`` starting at sample ``start``; ``next_start``: where the next
        piece begins (``None``: this is the last one).

        Returns the finished samples ``(..., k)`` that follow the ones returned before (from
        sample :attr:`emitted` up to ``next_start``, or to this piece's end for the last one).

        Raises:
            ValueError: ``start`` lies before samples already returned.
        """
        if start < self.emitted:
            raise ValueError(f"CrossfadeStream: piece at {start} starts before {self.emitted}")
        n = max(0, min(piece.shape[-1], self.total - start))
        w = piece.new_ones(n)
        if self._prev_end is not None:
            self._ramp(w, 0, max(0, self._prev_end - start), rising=True)
        if next_start is not None:
            self._ramp(w, next_start - start, max(0, start + n - next_start), rising=False)
        end = max(
            start + n, self.emitted + (0 if self._pending is None else self._pending.shape[-1])
        )
        buffer = piece.new_zeros(*piece.shape[:-1], end - self.emitted)
        if self._pending is not None:
            buffer[..., : self._pending.shape[-1]] += self._pending
        buffer[..., start - self.emitted : start - self.emitted + n] += piece[..., :n] * w
        self._prev_end = start + n
        upto = end if next_start is None else min(max(next_start, self.emitted), end)
        ready, self._pending = (
            buffer[..., : upto - self.emitted],
            buffer[..., upto - self.emitted :],
        )
        self.emitted = upto
        return ready

    def finish(self) -> torch.Tensor:
        """The samples not returned yet, zero-padded up to ``total`` (silence where no piece reached)."""
        if self._pending is None:
            raise ValueError("CrossfadeStream: no pieces were added")
        rest = self._pending
        if self.emitted + rest.shape[-1] < self.total:
            rest = torch.nn.functional.pad(rest, (0, self.total - self.emitted - rest.shape[-1]))
        rest = rest[..., : self.total - self.emitted]
        self.emitted, self._pending = self.total, rest[..., :0]
        return rest


class CrossfadeWriter:
    """Collect pieces joined by :class:`CrossfadeStream` into one ``(..., total)`` output.

    Memory holds the output and one piece, never the list of pieces.
    """

    def __init__(self, total: int, fade: int) -> None:
        self.total = total
        self._stream = CrossfadeStream(total, fade)
        self.out: torch.Tensor | None = None

    def add(self, start: int, piece: torch.Tensor, next_start: int | None = None) -> None:
        """Write ``piece (..., n)`` starting at sample ``start``; ``next_start``: where the next piece begins."""
        if self.out is None:
            self.out = piece.new_zeros(*piece.shape[:-1], self.total)
        begin = self._stream.emitted
        ready = self._stream.add(start, piece, next_start)
        self.out[..., begin : begin + ready.shape[-1]] = ready

    def result(self) -> torch.Tensor:
        if self.out is None:
            raise ValueError("CrossfadeWriter: no pieces were added")
        begin = self._stream.emitted
        rest = self._stream.finish()
        self.out[..., begin : begin + rest.shape[-1]] = rest
        return self.out
