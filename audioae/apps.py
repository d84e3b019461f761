"""File-level applications over a :class:`~audioae.pipeline.Pipeline`: the work behind the CLI.

Each function reads one input file at any sample rate and channel count, runs the model at
its own sample rate (resampling with soxr) and writes an output with the input's sample rate,
length and channel count, atomically and never over an existing file unless ``overwrite``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .audio import (
    AudioError,
    audio_info,
    load_audio,
    output_subtype,
    resample,
    save_audio,
    writable_format,
)
from .embed import Embedding, embed_waveform
from .fileio import OutputExistsError
from .pipeline import Pipeline

if TYPE_CHECKING:  # the codec is imported when a latent file is read
    from .latent_header import AAEHeader


log = logging.getLogger(__name__)


@dataclass
class EncodeStats:
    """What ``encode_file`` wrote: file size (bytes), real bitrate (kbit/s, header included),
    ratio to 16-bit PCM, and the input's sample rate (Hz; the model keeps nothing above half
    of its own)."""

    path: Path
    num_bytes: int
    bitrate_kbps: float
    pcm16_ratio: float
    sample_rate: int = 0


def load_for_model(
    pipe: Pipeline, path: str | os.PathLike, *, pad: bool = True
) -> tuple[torch.Tensor, int, int]:
    """Read ``path`` keeping its channels and resample to the model's rate (with the filter of
    the model's ``audio.resampler``).

    Returns ``(wav (channels, time) at pipe.sample_rate, original sample_rate, original length)``.
    Inputs shorter than one STFT frame (``n_fft`` samples) are zero-padded for processing,
    unless ``pad`` is false: denoising (a look-ahead denoiser takes speech followed by
    digital silence for a click), embeddings and anomaly scores (which then equal what the
    tensor methods give for the same samples).
    """
    wav, sample_rate = load_audio(path, mono=False)
    length = wav.shape[-1]
    wav = resample(wav, sample_rate, pipe.sample_rate, steep=pipe.steep_resampling)
    n_fft = pipe.config.features.n_fft
    if pad and wav.shape[-1] < n_fft:
        wav = torch.nn.functional.pad(wav, (0, n_fft - wav.shape[-1]))
    return wav, sample_rate, length


def save_like_input(
    path: str | os.PathLike,
    wav: torch.Tensor,
    model_rate: int,
    sample_rate: int,
    length: int,
    *,
    overwrite: bool,
    source: str | os.PathLike | None = None,
    steep: bool = False,
    limit: bool = False,
) -> Path:
    """Resample ``wav`` (channels, time) from ``model_rate`` back to ``sample_rate``, fit it to
    ``length`` and save it. ``limit``: scale it down as a whole if it would clip, after the
    resampling (whose filter can overshoot a peak scaled at the model's rate).

    With ``source`` (the input file) the output keeps the input's resolution (24-bit stays
    24-bit, float stays float where the container can hold it, see
    :func:`audioae.audio.output_subtype`); a float input written to an integer container
    is scaled down as a whole if it would clip, never clipped. Otherwise 16-bit PCM.
    ``steep``: resample with the steep filter (a model whose ``audio.resampler`` is
    ``steep``; :attr:`audioae.pipeline.Pipeline.steep_resampling`).
    """
    wav = resample(wav.detach().cpu(), model_rate, sample_rate, steep=steep)
    if wav.shape[-1] < length:
        wav = torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))
    wav = wav[..., :length]
    subtype = "PCM_16"
    if source is not None:
        source_subtype = audio_info(source).subtype
        subtype = output_subtype(source_subtype, path)
        if source_subtype.upper() in ("FLOAT", "DOUBLE") and subtype not in ("FLOAT", "DOUBLE"):
            limit = True
    if limit:
        (wav,) = within_full_scale([wav], path)
    save_audio(path, wav, sample_rate, subtype=subtype, overwrite=overwrite)
    return Path(path)


def embed_file(pipe: Pipeline, path: str | os.PathLike) -> Embedding:
    """Read any audio file (any rate and channel count), resample to the model's rate, embed.

    Raises:
        audioae.audio.AudioError: unreadable or empty file.
    """
    # unpadded, as embed_waveform sees a tensor of the same samples
    wav, sample_rate, length = load_for_model(pipe, path, pad=False)
    return embed_waveform(pipe, wav, duration_s=length / sample_rate)


def denoise_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str = "noisy",
    wet: float = 1.0,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
    overwrite: bool = False,
    stream: bool = False,
) -> Path:
    """Denoise one file (every channel), keeping its sample rate, length and channel count.

    A file longer than one chunk window is streamed (windowed reads, incremental writes:
    memory does not grow with its length, see :mod:`audioae.streaming`); the output equals
    whole-file processing within float rounding. ``stream``: run a causal model block by
    block as in real time (:class:`audioae.streaming_denoiser.StreamingDenoiser`, any file
    length, output aligned with the input). ``wet``, ``mask_exponent`` and ``post_filter``: as in
    :meth:`audioae.pipeline.Pipeline.denoise`.

    Raises:
        PipelineError: ``stream`` with a model that is not causal.
    """
    from .streaming import can_stream, denoise_file_streaming

    refuse_existing(target, overwrite)
    if stream or can_stream(pipe, source):
        return denoise_file_streaming(
            pipe,
            source,
            target,
            phase=phase,
            wet=wet,
            mask_exponent=mask_exponent,
            post_filter=post_filter,
            overwrite=overwrite,
            realtime=stream,
        )
    wav, sample_rate, length = load_for_model(pipe, source, pad=False)  # its own samples: a
    # 5 ms file zero-padded to one window lost about 45 dB
    own = max(1, round(length * pipe.sample_rate / sample_rate))
    if own < pipe.min_denoise_samples:  # one STFT frame, mostly padding: left as it is
        log.warning(
            "%s: %d samples (%.1f ms) is shorter than one hop of the model (%.1f ms): written "
            "unchanged, not denoised",
            source,
            length,
            1000 * length / sample_rate,
            1000 * pipe.min_denoise_samples / pipe.sample_rate,
        )
        original, _ = load_audio(source, mono=False)
        return save_like_input(
            target, original, sample_rate, sample_rate, length, overwrite=overwrite, source=source
        )
    clean = pipe.denoise(
        wav, phase=phase, wet=wet, mask_exponent=mask_exponent, post_filter=post_filter
    )
    return save_like_input(
        target,
        clean,
        pipe.sample_rate,
        sample_rate,
        length,
        overwrite=overwrite,
        source=source,
        steep=pipe.steep_resampling,
    )


def reconstruct_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Encode, decode and rebuild one file through the phase path (``phase``: a method of
    ``pipe.phase_methods`` or ``"input"``; default ``pipe.default_phase``).

    A rebuilt phase can put peaks above full scale where the input had none; the output is
    then scaled down as a whole (see :func:`within_full_scale`) instead of clipped.
    """
    refuse_existing(target, overwrite)
    wav, sample_rate, length = load_for_model(pipe, source)
    return save_like_input(
        target,
        pipe.reconstruct(wav, phase=phase),
        pipe.sample_rate,
        sample_rate,
        length,
        overwrite=overwrite,
        source=source,
        steep=pipe.steep_resampling,
        limit=True,
    )


def encode_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    bits: int = 6,
    overwrite: bool = False,
) -> EncodeStats:
    """Compress one file into a ``.aae`` latent file (see :mod:`audioae.codec`)."""
    from .codec import bitrate_kbps, pcm16_ratio, write_aae

    pipe.require_latent_decoder("encode")
    refuse_existing(target, overwrite)
    wav, sample_rate, length = load_for_model(pipe, source)
    latent = pipe.encode(wav).cpu()
    target = Path(target)
    write_aae(
        target,
        latent,
        bits=bits,
        model_hash=pipe.model_hash,
        sample_rate=sample_rate,
        length=length,
        channels=wav.shape[0],
        overwrite=overwrite,
    )
    size = target.stat().st_size
    return EncodeStats(
        target,
        size,
        bitrate_kbps(size, length, sample_rate),
        pcm16_ratio(size, length, sample_rate, wav.shape[0]),
        sample_rate,
    )


DECODE_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
"""The sample formats ``audioae decode --subtype`` offers."""


def _holds(target: str | os.PathLike, subtype: str) -> bool:
    try:
        writable_format(target, subtype)
    except AudioError:
        return False
    return True


def decode_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str | None = None,
    overwrite: bool = False,
    subtype: str = "PCM_16",
) -> Path:
    """Rebuild audio from a ``.aae`` file made with this pipeline's model (``phase``: a
    method of ``pipe.phase_methods``, default ``pipe.default_phase``).

    Griffin-Lim's phase can put peaks above full scale; a 16- or 24-bit (or lossy) output is
    then scaled down as a whole (as :func:`within_full_scale`, with the same warning) instead
    of clipped, and a ``FLOAT`` one keeps them (a float file holds them). Written
    with the libsndfile ``subtype`` (default 16-bit PCM; ``PCM_24``, ``FLOAT``; lossy
    containers use their codec, see :func:`audioae.audio.writable_format`). The audio is decoded piece by piece (:meth:`Pipeline.decode_stream`)
    into a float temporary file beside ``target`` and copied from it, so memory does not
    grow with the file's length.

    Raises:
        audioae.codec.CodecError: not a latent file, corrupt, truncated, made with another model,
            a header that does not fit this model (latent size, frames for its length), or
            values the model decodes to NaN/Inf samples (a stored range far beyond its
            latents'); the message starts with ``source``, nothing is written.
        audioae.audio.AudioError: ``target``'s container cannot hold ``subtype`` (checked
            before decoding; nothing is written).
    """
    from .codec import LatentLayout, OtherModelError, read_aae
    from .streaming import PEAK, write_scaled

    refuse_existing(target, overwrite)
    try:
        writable_format(target, subtype)
    except AudioError:
        held = [s for s in DECODE_SUBTYPES if _holds(target, s)]
        raise AudioError(
            target,
            f"subtype {subtype.upper()} cannot be written to {Path(target).suffix or 'it'}; of "
            f"{', '.join(DECODE_SUBTYPES)} it holds {', '.join(held) or 'none'} (.wav holds all)",
        ) from None
    layout = LatentLayout(
        pipe.sample_rate,
        pipe.model.latent_dim,
        pipe.hop_length,
        pipe.model.time_downsampling,
        pipe.config.features.n_fft,
    )
    try:
        decoded = read_aae(source, model_hash=pipe.model_hash, layout=layout)
    except OtherModelError as exc:
        from .modelfile import shipped_model_with_hash

        name = shipped_model_with_hash(exc.model_hash)
        if name is None:
            raise
        raise OtherModelError(
            f"{source}: this .aae file was made with the shipped model {name!r}, not this one: "
            f"audioae decode {name} {source} -o ...",
            exc.model_hash,
        ) from None
    header = decoded.header
    model_length = max(1, round(header.length * pipe.sample_rate / header.sample_rate))
    pieces = pipe.decode_stream(decoded.latent, model_length, phase=phase)
    gain = write_scaled(
        _finite_pieces(source, pieces, header, pipe.sample_rate),
        target,
        pipe.sample_rate,
        header.sample_rate,
        header.channels,
        header.length,
        subtype=subtype,
        overwrite=overwrite,
        steep=pipe.steep_resampling,
    )
    if gain < 1.0:
        warn_turned_down(target, PEAK / gain, PEAK)
    return Path(target)


def _finite_pieces(
    source: str | os.PathLike, pieces, header: AAEHeader, sample_rate: int
) -> Iterator[np.ndarray]:
    """The decoded ``pieces`` (tensors ``(channels, n)``) as arrays, blaming the ``.aae``
    file ``source`` for the first NaN/Inf sample.

    Raises:
        audioae.codec.CodecError: a piece holds NaN or Inf; the message names ``source``,
            where the first bad sample is (s) and the file's stored value range.
    """
    from .codec import CodecError

    done = 0
    for piece in pieces:
        bad = ~torch.isfinite(piece)
        if bad.any():
            first = done + int(bad.any(0).nonzero()[0])
            raise CodecError(
                f"{source}: the model decodes its latent to NaN or Inf samples (the first "
                f"at {first / sample_rate:.3f} s): its stored value range, "
                f"{header.lo.min():.3g} to {header.hi.max():.3g}, is far outside the "
                "model's latents; nothing was written"
            )
        done += piece.shape[-1]
        yield piece.detach().cpu().numpy()


def within_full_scale(
    wavs: list[torch.Tensor], what: str | os.PathLike = "output", peak: float = 0.99
) -> list[torch.Tensor]:
    """Generated or re-phased sounds: if any would clip, scale them all by one common gain so
    the loudest peaks at ``peak`` (relative levels between them are kept), with a warning
    naming ``what`` and the gain in dB (the user hears a quieter file)."""
    loudest = max(float(w.abs().max()) for w in wavs)
    if not math.isfinite(loudest) or loudest <= peak:  # NaN is refused when written
        return wavs
    warn_turned_down(what, loudest, peak)
    return [w * (peak / loudest) for w in wavs]


def warn_turned_down(what: str | os.PathLike, loudest: float, peak: float) -> None:
    """The warning of an output turned down as a whole so that its ``loudest`` sample peaks
    at ``peak`` (full scale 1): the file and the gain in dB."""
    log.warning(
        "%s: turned down by %.1f dB so that its peak (%.2f full scale) does not clip",
        what,
        20 * math.log10(loudest / peak),
        loudest,
    )


def refuse_existing(path: str | os.PathLike, overwrite: bool) -> None:
    """Fail before any work when the output exists (the atomic writer checks again at the end)."""
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(Path(path))
