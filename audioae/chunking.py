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


class CrossfadeWriter:
    """Stream pieces into one ``(..., total)`` output with complementary linear crossfades.

    Pieces arrive in order; each is written as soon as it is added, so memory holds the output
    and one piece, never the list of pieces. Where piece ``i`` overlaps piece ``i + 1`` (its
    start is given as ``next_start``), ``i`` fades out and ``i + 1`` fades in over at most
    ``fade`` samples centred in the overlap; the two weights sum to one everywhere.
    """

    def __init__(self, total: int, fade: int) -> None:
        self.total = total
        self.fade = fade
        self.out: torch.Tensor | None = None
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

    def add(self, start: int, piece: torch.Tensor, next_start: int | None = None) -> None:
        """Write ``piece (..., n)`` starting at sample ``start``; ``next_start``: where the next piece begins."""
        n = min(piece.shape[-1], self.total - start)
        if self.out is None:
            self.out = piece.new_zeros(*piece.shape[:-1], self.total)
        w = piece.new_ones(n)
        if self._prev_end is not None:
            self._ramp(w, 0, max(0, self._prev_end - start), rising=True)
        if next_start is not None:
            self._ramp(w, next_start - start, max(0, start + n - next_start), rising=False)
        self.out[..., start : start + n] += piece[..., :n] * w
        self._prev_end = start + n

    def result(self) -> torch.Tensor:
        if self.out is None:
            raise ValueError("CrossfadeWriter: no pieces were added")
        return self.out
