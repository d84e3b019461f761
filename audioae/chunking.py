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


def crossfade_concat(pieces: list[tuple[int, torch.Tensor]], total: int, fade: int) -> torch.Tensor:
    """Overlap pieces ``(start_sample, wav (..., n))`` into ``(..., total)`` with linear crossfades.

    Where two consecutive pieces overlap, the first fades out and the second fades in over
    the overlap (at most ``fade`` samples, centred in it); elsewhere each piece is copied.
    """
    if not pieces:
        raise ValueError("crossfade_concat: no pieces")
    first = pieces[0][1]
    out = first.new_zeros(*first.shape[:-1], total)
    weight = first.new_zeros(total)
    for index, (start, piece) in enumerate(pieces):
        n = min(piece.shape[-1], total - start)
        w = piece.new_ones(n)
        if index > 0:
            prev_start, prev = pieces[index - 1]
            overlap = max(0, min(prev_start + prev.shape[-1], total) - start)
            f = min(fade, overlap)
            lead = (overlap - f) // 2
            w[:lead] = 0.0
            if f > 0:
                w[lead : lead + f] = torch.linspace(
                    0.0, 1.0, f + 2, device=w.device, dtype=w.dtype
                )[1:-1]
        if index + 1 < len(pieces):
            next_start = pieces[index + 1][0]
            overlap = max(0, start + n - next_start)
            f = min(fade, overlap)
            lead = (overlap - f) // 2
            begin = next_start - start
            if f > 0:
                w[begin + lead : begin + lead + f] = torch.linspace(
                    1.0, 0.0, f + 2, device=w.device, dtype=w.dtype
                )[1:-1]
            w[begin + lead + f :] = 0.0
        out[..., start : start + n] += piece[..., :n] * w
        weight[start : start + n] += w
    return out / weight.clamp_min(1e-8)
