"""Long files with flat memory: windowed reads, per-window processing, incremental writes.

:func:`denoise_file_streaming` reads the input through a streaming resampler
(:class:`~audioae.audiostream.ResampledReader`), runs :meth:`Pipeline.denoise_window` on the
chunk windows of :meth:`Pipeline.plan` (the windows whole-signal :meth:`Pipeline.denoise`
uses), resamples each kept part back to the input rate with a second streaming resampler and
appends it to the output's atomic temporary file. Memory holds one window, its output and
the resamplers' state: it does not grow with the file's length. The output equals
:func:`audioae.apps.denoise_file`'s whole-file output within float rounding (test:
``tests/test_streaming.py``, max abs difference < 1e-4 of full scale on a 70 s file).

With ``realtime=True`` the pieces come instead from a causal model's
:class:`~audioae.streaming_denoiser.StreamingDenoiser`, fed :data:`REALTIME_BLOCK_SECONDS`
blocks as a live callback would (``audioae denoise --stream``); its output is aligned with the
input (the stream's delay is compensated) and equals whole-file denoising with that model.

A float input written to an integer container must be scaled down as a whole if it would
clip (as :func:`audioae.apps.save_like_input` does); its peak is only known at the end, so
that case writes a float temporary file first and copies it, scaled, block by block
(:func:`write_scaled`, which ``audioae decode`` uses too: a decoded sound's peak is also
only known at the end).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .audio import FLOAT_SUBTYPES, audio_info, output_subtype, writable_format
from .audiostream import (
    BLOCK_FRAMES,
    BlockReader,
    ResampledReader,
    StreamResampler,
    open_writer,
)
from .chunking import CrossfadeStream, centred_spans
from .functional import check_wet
from .models.masks import check_mask_exponent, check_post_filter
from .pipeline import Pipeline
from .streaming_denoiser import StreamingDenoiser

log = logging.getLogger(__name__)

REALTIME_BLOCK_SECONDS = 0.016
"""Block length of ``--stream`` denoising (s), rounded down to whole hops (16 ms: 2 hops of 8 ms)."""

STREAMING_EXCLUDED_FORMATS = ("MP3",)
"""Formats whose header frame count may be an estimate: these are processed whole."""

PEAK = 0.99
"""Full-scale target of a float input written to an integer container (as ``apps.within_full_scale``)."""


def can_stream(pipe: Pipeline, source: str | os.PathLike) -> bool:
    """True when ``source`` spans more than one chunk window at the model's rate and its
    format has an exact frame count (see :data:`STREAMING_EXCLUDED_FORMATS`)."""
    info = audio_info(source)
    if info.format.upper() in STREAMING_EXCLUDED_FORMATS:
        return False
    total = round(info.frames * pipe.sample_rate / info.sample_rate)
    return total >= pipe.frontend.n_fft and len(pipe.plan(total)) > 1


def _denoised_pieces(
    pipe: Pipeline,
    reader: ResampledReader,
    phase: str,
    wet: float,
    mask_exponent: float,
    post_filter: float = 0.0,
):
    """Yield the denoised signal at the model's rate, in order, as ``(channels, n)`` float32 arrays."""
    windows = pipe.plan(reader.total)
    fade = CrossfadeStream(reader.total, pipe.crossfade) if phase != "noisy" else None
    spans = centred_spans(windows, pipe.crossfade, reader.total)  # as Pipeline.denoise joins
    for i, (w, span) in enumerate(zip(windows, spans)):
        x = torch.from_numpy(reader.window(w.start, w.stop))
        y = pipe.denoise_window(
            x, phase=phase, wet=wet, mask_exponent=mask_exponent, post_filter=post_filter
        ).cpu()
        if fade is None:
            piece = y[..., w.keep_start - w.start : w.keep_stop - w.start]
        else:
            piece = fade.add(span.begin, span.part(y, w.start), span.next_begin)
        if i + 1 < len(windows):
            reader.release(windows[i + 1].start)
        yield piece.numpy()
    if fade is not None:
        yield fade.finish().numpy()


def _realtime_pieces(
    pipe: Pipeline,
    reader: ResampledReader,
    channels: int,
    wet: float,
    mask_exponent: float,
    post_filter: float = 0.0,
):
    """Yield a causal model's streaming output at the model's rate, block by block, ``(channels, n)``."""
    hop = pipe.hop_length
    block = max(hop, int(REALTIME_BLOCK_SECONDS * pipe.sample_rate) // hop * hop)
    stream = StreamingDenoiser(
        pipe, channels=channels, wet=wet, mask_exponent=mask_exponent, post_filter=post_filter
    )
    for start in range(0, reader.total, block):
        stop = min(start + block, reader.total)
        x = torch.from_numpy(reader.window(start, stop))
        reader.release(stop)
        yield stream.process(x).cpu().numpy()
    yield stream.flush().cpu().numpy()


def _write_resampled(
    pieces, writer, model_rate: int, sample_rate: int, length: int, steep: bool = False
) -> None:
    """Resample ``pieces`` to ``sample_rate`` and write exactly ``length`` frames (zero-padded)."""
    resampler = None
    for piece in pieces:
        if resampler is None:
            resampler = StreamResampler(model_rate, sample_rate, piece.shape[0], steep=steep)
        _write_upto(writer, resampler(piece), length)
    if resampler is not None:
        _write_upto(
            writer, resampler(np.zeros((resampler.channels, 0), np.float32), last=True), length
        )
    if writer.written < length:
        channels = resampler.channels if resampler is not None else 1
        writer.write(np.zeros((channels, length - writer.written), np.float32))


def _write_upto(writer, block: np.ndarray, length: int) -> None:
    room = length - writer.written
    if room > 0 and block.shape[1]:
        writer.write(block[:, :room])


def write_scaled(
    pieces: Iterable[np.ndarray],
    target: str | os.PathLike,
    model_rate: int,
    sample_rate: int,
    channels: int,
    length: int,
    *,
    subtype: str,
    overwrite: bool,
    steep: bool = False,
) -> float:
    """Write waveform ``pieces`` (each ``(channels, n)`` float at ``model_rate``, in order)
    to ``target`` at ``sample_rate``, exactly ``length`` frames, turned down as a whole when
    their peak exceeds :data:`PEAK` (never clipped) unless ``subtype`` is a float format,
    which holds them at their level (:data:`audioae.audio.FLOAT_SUBTYPES`). The peak is only known at the end, so
    the pieces go to a float temporary file beside ``target`` first (one block in memory at
    a time) and are copied from it, scaled, into ``target``'s atomic temporary file.

    Returns:
        the gain applied (1.0 when nothing was turned down).

    Raises:
        AudioError: NaN or Inf samples, or ``target`` cannot be written; nothing is left
            behind (the temporary files are removed).
        OutputExistsError: ``target`` exists and not ``overwrite``.
        Any exception of ``pieces`` itself, with the same clean-up.
    """
    Path(target).parent.mkdir(parents=True, exist_ok=True)  # as the atomic writer does
    fd, name = tempfile.mkstemp(
        prefix=f".{Path(target).stem}.", suffix=".w64", dir=Path(target).parent
    )
    os.close(fd)
    scratch = Path(name)
    try:
        with open_writer(scratch, sample_rate, channels, subtype="FLOAT", overwrite=True) as first:
            _write_resampled(pieces, first, model_rate, sample_rate, length, steep)
        # a float file holds the overs; .ogg/.mp3 write their codec instead (writable_format)
        keeps_level = writable_format(target, subtype)[1] in FLOAT_SUBTYPES
        gain = 1.0 if first.peak <= PEAK or keeps_level else PEAK / first.peak
        if keeps_level and first.peak > 1.0:
            log.info(
                "%s: peaks at %.2f full scale, kept as it is (a float file holds it; a player "
                "may clip it, and a 16- or 24-bit output is turned down as a whole instead)",
                target,
                first.peak,
            )
        with (
            BlockReader(scratch) as again,
            open_writer(
                target, sample_rate, channels, subtype=subtype, overwrite=overwrite, gain=gain
            ) as writer,
        ):
            while (block := again.read(BLOCK_FRAMES)).shape[1]:
                writer.write(block)
    finally:
        scratch.unlink(missing_ok=True)
    return gain


def denoise_file_streaming(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str = "noisy",
    wet: float = 1.0,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
    overwrite: bool = False,
    realtime: bool = False,
) -> Path:
    """Denoise one file of any length with flat memory; same output as whole-file denoising.

    Keeps the input's sample rate, length, channel count and resolution (see
    :func:`audioae.apps.save_like_input`). ``realtime``: run a causal model's
    :class:`~audioae.streaming_denoiser.StreamingDenoiser` block by block (``phase`` must be
    ``"noisy"``).

    Raises:
        PipelineError: ``realtime`` with a model that is not causal.
        AudioError: the input cannot be decoded (also mid-file) or the output cannot be written.
        OutputExistsError: ``target`` exists and not ``overwrite``.
        ValueError: unknown ``phase``, ``wet`` outside [0, 1], ``mask_exponent`` outside
            (0, 8] or ``post_filter`` outside [0, 1] (see
            :meth:`audioae.pipeline.Pipeline.denoise`).
    """
    if phase not in ("noisy", "griffin-lim"):
        raise ValueError(f"phase: {phase!r} is not one of noisy, griffin-lim")
    wet = check_wet(wet)
    mask_exponent = check_mask_exponent(mask_exponent)
    post_filter = check_post_filter(post_filter)
    if realtime and phase != "noisy":
        raise ValueError("streaming denoising keeps the noisy phase: phase must be 'noisy'")
    if realtime:
        StreamingDenoiser(pipe)  # refuses a model that is not causal before any file is opened
    info = audio_info(source)
    subtype = output_subtype(info.subtype, target)
    rescale = info.subtype.upper() in ("FLOAT", "DOUBLE") and subtype not in ("FLOAT", "DOUBLE")
    steep = pipe.steep_resampling
    reader = ResampledReader(source, pipe.sample_rate, steep=steep)
    try:
        pieces = (
            _realtime_pieces(pipe, reader, info.channels, wet, mask_exponent, post_filter)
            if realtime
            else _denoised_pieces(pipe, reader, phase, wet, mask_exponent, post_filter)
        )
        if not rescale:
            with open_writer(
                target, info.sample_rate, info.channels, subtype=subtype, overwrite=overwrite
            ) as writer:
                _write_resampled(
                    pieces, writer, pipe.sample_rate, info.sample_rate, info.frames, steep
                )
            return Path(target)
        write_scaled(
            pieces,
            target,
            pipe.sample_rate,
            info.sample_rate,
            info.channels,
            info.frames,
            subtype=subtype,
            overwrite=overwrite,
            steep=steep,
        )
        return Path(target)
    finally:
        reader.close()
