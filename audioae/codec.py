"""The ``.aae`` compressed latent file: per-dimension uniform quantisation + adaptive range coding.

A latent ``(channels, latent_dim, latent_frames)`` is stored as integer symbols, one per value,
entropy-coded with a range coder (``constriction``, Bamler 2022) under a quantized Laplace model
whose location and scale adapt as the file is decoded, so no probability table is stored.

Quantisation
    Each latent dimension ``d`` (shared by all channels) is quantised uniformly to
    ``L = 2**bits`` levels over its range in this file, ``[lo[d], hi[d]]`` = its min and max
    (rounded outwards to the stored precision): ``q = floor((x - lo) / step)`` clipped to
    ``0..L-1`` with ``step = (hi - lo) / L``, reconstructed at the bin centre
    ``lo + (q + 0.5) * step``. Every value is therefore within ``step / 2`` of its original
    (plus the float32 rounding of the result).
    The full range was chosen over a clipped one (mean ± k·std): with an entropy coder a
    clipped range only buys a smaller step at a higher rate and adds unbounded overload
    errors, so its rate/distortion curve flattens out. Measured on synthetic AR(1) latents
    (32 dims, 16..940 frames, Laplace and Gaussian innovations, bits 2..10), compared at equal
    rate with k in {2, 2.5, 3, 4}: at ~1.5 bit/value the full range was within 0.3 dB of the
    best k; from ~3.3 bit/value on it had equal or lower MSE than every k (up to 41 dB lower
    at ~9 bit/value).

Entropy model (the same code runs in the encoder and the decoder, in float64 with only
``+ - * /``, so both compute bit-identical parameters)
    For each stream (channel, dimension) and frame ``t``: the running mean ``m`` of the symbols
    decoded so far (``(L-1)/2`` before the first), the previous symbol ``p`` and a scale ``b``.
    The prediction is ``m + a[d] * (p - m)`` (first-order autoregression, ``a[d]`` one of
    ``PREDICTOR_COEFFS``, chosen per dimension by the encoder), clipped to ``[0, L-1]``;
    the symbol is coded with a Laplace distribution of that location and scale ``b``,
    quantized to integers (tails folded onto the end symbols). Then
    ``b += (|q - prediction| - b) / min(t + 2, W)``, floored at ``MIN_SCALE``, starting at
    ``L / 4``: a running mean absolute error that becomes an exponential moving average over
    ``W = 2**w`` frames (Laplace maximum-likelihood scale). The encoder picks ``w`` for the
    file and ``a[d]`` per dimension by estimating the code length of every choice.
    Measured against a static per-dimension quantized Laplace with its mean and scale stored
    in float16 (4 bytes per dimension), bits/value of payload plus model parameters, bits=8,
    Laplace innovations, 16 / 156 / 940 frames: correlated non-stationary latents 7.48 / 6.65
    / 6.09 (static 10.02 / 7.21 / 6.47); i.i.d. stationary latents 7.75 / 7.18 / 6.71 (static
    10.00 / 7.41 / 6.74). A quantized Gaussian instead of the Laplace cost 0.2-0.33 bit/value.

Layout (little-endian unless stated; ``varint`` = unsigned LEB128, 1..9 bytes)::

    offset  size          field
    0       4             magic b"\\x89AAE"
    4       1             format version (1)
    5       varint        total file size in bytes (header + payload + CRC)
    .       16            model hash (identifies the model that made the latent)
    .       1             flags: bit 0 set = lo/hi stored as float32, clear = float16; others 0
    .       1             bits (1..16): L = 2**bits quantiser levels
    .       1             w (1..6): entropy-model window W = 2**w frames
    .       varint        sample_rate (Hz)
    .       varint        length (audio samples per channel)
    .       varint        channels
    .       varint        latent_dim
    .       varint        latent_frames
    .       ceil(D/4)     predictor codes, 2 bits per dimension (dimension d in bits
                          2*(d%4)..2*(d%4)+1 of byte d//4; a[d] = PREDICTOR_COEFFS[code])
    .       D*s           lo[d], s = 2 (float16) or 4 (float32)
    .       D*s           hi[d]
    .       P             payload: range-coder words (uint32) stored big-endian, frame-major
                          then channel then dimension; up to 3 trailing zero bytes of the
                          last word are left out (the reader pads them back)
    end-4   4             CRC32 (zlib) of every preceding byte

With ``latent_dim = 32`` the header is about 170 bytes plus the 4-byte CRC (128 of them are
lo/hi in float16; float32 is used only when float16 would widen a range by more than 1 % or
overflow).

Bounded reading (a crafted header must not make a reader work or allocate more than the audio
it really describes)
    Every header is checked without the model: ``sample_rate`` in
    ``MIN_SAMPLE_RATE..MAX_SAMPLE_RATE`` Hz, ``channels`` in ``1..MAX_CHANNELS``, ``latent_dim`` in
    ``1..MAX_LATENT_DIM``, and the number of coded values ``channels * latent_dim * latent_frames``
    no more than the payload can carry (:func:`max_coded_values`). With the decoding model's
    :class:`LatentLayout` (what :func:`audioae.apps.decode_file` passes) the header must also
    agree with the model: ``latent_dim`` equal to the model's and ``latent_frames`` equal (within
    one frame) to the frames the model makes of ``length`` samples at ``sample_rate``, so the
    work and memory of decoding are proportional to the audio the file holds. The header's
    ``sample_rate`` is the *input's* rate (the decoder resamples back to it), so it need not be
    the model's.

    The payload bound: the entropy model never gives a symbol a probability above
    ``1 - 0.5 * exp(-0.5 / MIN_SCALE)`` (the folded end bin of a Laplace at the smallest scale,
    centred on it), and ``constriction``'s leaky quantizer (24-bit probabilities) gives each of
    the other ``L - 1`` symbols at least ``2**-24``, so every coded value costs at least
    ``max(-log2(1 - 0.5 * exp(-10)), -log2(1 - (L - 1) * 2**-24))`` bits (3.3e-5 bits at ``L = 64``).
    A range coder emits the information it codes, less at most its final state, so
    ``values * min_bits <= 8 * (payload_bytes + 3) + 64``; the reader allows half that cost per
    value as a margin. Measured: 10^7 constant symbols at the smallest scale take 1.27x
    (``L = 2``), 1.47x (``L = 64``) and 177x (``L = 65536``) the continuous bound.

This module codes the payload and reads and writes files; the header, its limits and checks
are in :mod:`audioae.latent_header` and the quantiser and entropy model in
:mod:`audioae.latent_entropy` (the names of both that belong to the format's API are
re-exported here).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import constriction
import numpy as np
import torch
from torch import Tensor

from audioae.fileio import atomic_output

from .arguments import check_integer
from .latent_entropy import (
    MIN_SCALE as MIN_SCALE,  # re-exported: part of the format's documented bound
)
from .latent_entropy import (
    PREDICTOR_COEFFS,
    WINDOW_CODES,
    AdaptiveLaplace,
    bytes_to_words,
    choose_model,
    dequantise,
    entropy_encode,
    laplace_family,
    outward_bounds,
    quantise,
    run_params,
)
from .latent_header import (
    _FLAG_FLOAT32,
    _MAX_SYMBOLS,
    HASH_BYTES,
    MAGIC,
    MAX_CHANNELS,
    MAX_LATENT_DIM,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    VERSION,
    AAEHeader,
    CodecError,
    LatentLayout,
    OtherModelError,
    _varint,
    bitrate_kbps,
    check_layout,
    max_coded_values,
    min_bits_per_value,
    parse_header,
    pcm16_ratio,
)

_DEQUANTISE_FRAMES = 4096


@dataclass(frozen=True)
class DecodedLatent:
    """``latent``: float32 ``(channels, latent_dim, latent_frames)`` on CPU; ``header``: its header."""

    latent: Tensor
    header: AAEHeader


# ----------------------------------------------------------------------------- encode / decode


def encode_latent(
    latent: Tensor,
    *,
    bits: int,
    model_hash: bytes,
    sample_rate: int,
    length: int,
    channels: int,
) -> bytes:
    """Quantise and entropy-code a latent into the bytes of an ``.aae`` file.

    Args:
        latent: ``(channels, latent_dim, latent_frames)`` float tensor, any device.
        bits: quantiser resolution, 1..16 (``2**bits`` levels per dimension over its range).
        model_hash: 16 bytes identifying the model (checked by :func:`decode_latent`).
        sample_rate: audio sample rate (Hz) of the encoded audio.
        length: audio length in samples per channel.
        channels: audio channel count; must equal ``latent.shape[0]``.

    Returns:
        The whole file (header, payload, CRC32).

    Raises:
        ValueError: wrong shape, non-finite values, an argument out of range, or ``bits``,
            ``sample_rate``, ``length`` or ``channels`` not a whole number (numpy integers
            taken; bools and floats refused).
    """
    bits = check_integer("bits", bits)
    sample_rate = check_integer("sample_rate", sample_rate)
    length = check_integer("length", length)
    channels = check_integer("channels", channels)
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in 1..16, got {bits!r}")
    if not isinstance(model_hash, bytes | bytearray) or len(model_hash) != HASH_BYTES:
        raise ValueError(f"model_hash must be {HASH_BYTES} bytes")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE or not 0 <= length < 1 << 63:
        raise ValueError(
            f"need sample_rate in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz and 0 <= length < 2**63, "
            f"got {sample_rate}, {length}"
        )
    if not 0 < channels <= MAX_CHANNELS:
        raise ValueError(f"channels must be in 1..{MAX_CHANNELS}, got {channels}")
    if (
        latent.dim() != 3
        or latent.shape[0] != channels
        or not 0 < latent.shape[1] <= MAX_LATENT_DIM
    ):
        raise ValueError(
            f"latent must be (channels={channels}, latent_dim in 1..{MAX_LATENT_DIM}, latent_frames), "
            f"got {tuple(latent.shape)}"
        )
    x = latent.detach().to("cpu", torch.float32).numpy().astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("latent contains NaN or infinite values")
    if x.size >= _MAX_SYMBOLS:
        raise ValueError(f"latent too large for one .aae file ({x.size} values)")
    _, dims, frames = x.shape
    levels = 1 << bits
    if frames:
        lo, hi = x.min(axis=(0, 2)), x.max(axis=(0, 2))
    else:
        lo = hi = np.zeros(dims)
    lo_s, hi_s, ok = outward_bounds(lo, hi, np.float16)
    flags = 0
    if not ok:  # float32 always holds the float32 latent's own min and max exactly
        lo_s, hi_s, flags = lo.astype(np.float32), hi.astype(np.float32), _FLAG_FLOAT32
    lo_q, hi_q = lo_s.astype(np.float64), hi_s.astype(np.float64)
    q = quantise(x, lo_q, hi_q, levels)

    window_code, codes = (
        choose_model(q, levels) if frames else (WINDOW_CODES[0], np.zeros(dims, int))
    )
    preds, scales = run_params(q, levels, window_code, codes)
    payload = entropy_encode(
        q.transpose(2, 0, 1).reshape(-1), preds.reshape(-1), scales.reshape(-1), levels
    )

    packed = bytearray((dims + 3) // 4)
    for d, code in enumerate(codes):
        packed[d // 4] |= int(code) << (2 * (d % 4))
    endian = "<f4" if flags & _FLAG_FLOAT32 else "<f2"
    body = b"".join(
        [
            bytes(model_hash),
            bytes([flags, bits, window_code]),
            _varint(sample_rate),
            _varint(length),
            _varint(channels),
            _varint(dims),
            _varint(frames),
            bytes(packed),
            lo_s.astype(endian).tobytes(),
            hi_s.astype(endian).tobytes(),
            payload,
        ]
    )
    prefix = MAGIC + bytes([VERSION])
    # the total-size varint counts itself: iterate until its own length is stable
    total = len(prefix) + len(body) + 4 + 1
    while len(prefix) + len(_varint(total)) + len(body) + 4 != total:
        total = len(prefix) + len(_varint(total)) + len(body) + 4
    head = prefix + _varint(total) + body
    return head + zlib.crc32(head).to_bytes(4, "little")


def decode_latent(
    data: bytes, *, model_hash: bytes | None = None, layout: LatentLayout | None = None
) -> DecodedLatent:
    """Decode ``.aae`` bytes back to a latent.

    Time and memory are linear in the number of coded values, which the header checks bound
    by the payload size (and, with ``layout``, tie to the audio length); about 6 bytes of
    memory per value.

    Args:
        data: the whole file.
        model_hash: when given (16 bytes), the file must have been made by that model.
        layout: when given, the header must fit that model's latents (:func:`check_layout`).

    Returns:
        :class:`DecodedLatent` with ``latent`` float32 ``(channels, latent_dim, latent_frames)``.

    Raises:
        CodecError: bad magic, unknown version, truncated, CRC mismatch, inconsistent header
            fields (see :func:`parse_header`); :class:`OtherModelError`, a subclass, for
            another model's file.
    """
    if model_hash is not None and len(model_hash) != HASH_BYTES:
        raise ValueError(f"model_hash must be {HASH_BYTES} bytes")
    header = parse_header(data)
    if model_hash is not None and header.model_hash != bytes(model_hash):
        raise OtherModelError(
            f"this .aae file was made with another model (model hash {header.model_hash.hex()[:12]}…, "
            f"expected {bytes(model_hash).hex()[:12]}…); decode it with the model that encoded it",
            header.model_hash,
        )
    if layout is not None:
        check_layout(header, layout)
    levels = 1 << header.bits
    c, d, frames = header.channels, header.latent_dim, header.latent_frames
    q = np.empty((c, d, frames), dtype=np.uint16)  # bits <= 16
    if frames:
        payload = bytes(data)[header.header_bytes : header.header_bytes + header.payload_bytes]
        decoder = constriction.stream.queue.RangeDecoder(bytes_to_words(payload))
        family = laplace_family(levels)
        coeffs = np.asarray(PREDICTOR_COEFFS)[list(header.predictors)][None, :]
        model = AdaptiveLaplace(levels, coeffs, np.float64(2.0**header.window_code), (c, d))
        for t in range(frames):
            pred, scale = model.params()
            try:
                sym = decoder.decode(family, pred.reshape(-1), scale.reshape(-1))
            except Exception as exc:  # constriction reports exhausted/invalid data
                raise CodecError(f"corrupted .aae payload: {exc}") from None
            q[:, :, t] = np.asarray(sym).reshape(c, d)
            model.update(q[:, :, t], pred)
    latent = np.empty((c, d, frames), dtype=np.float32)
    for t in range(0, frames, _DEQUANTISE_FRAMES):  # bounded float64 temporaries
        piece = q[:, :, t : t + _DEQUANTISE_FRAMES]
        latent[:, :, t : t + piece.shape[-1]] = dequantise(piece, header.lo, header.hi, levels)
    return DecodedLatent(latent=torch.from_numpy(latent), header=header)


def write_aae(
    path: str | os.PathLike,
    latent: Tensor,
    *,
    bits: int,
    model_hash: bytes,
    sample_rate: int,
    length: int,
    channels: int,
    overwrite: bool = False,
) -> int:
    """Encode ``latent`` (see :func:`encode_latent`) and write it atomically to ``path``.

    Returns:
        The file size in bytes.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: invalid latent or arguments.
    """
    data = encode_latent(
        latent,
        bits=bits,
        model_hash=model_hash,
        sample_rate=sample_rate,
        length=length,
        channels=channels,
    )
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_bytes(data)
    return len(data)


MAX_AAE_BYTES = 1 << 30
"""The largest ``.aae`` file read (1 GiB; a day of audio at 6 kbit/s is about 65 MB)."""


def read_aae(
    path: str | os.PathLike,
    model_hash: bytes | None = None,
    *,
    layout: LatentLayout | None = None,
) -> DecodedLatent:
    """Read and decode an ``.aae`` file (see :func:`decode_latent`).

    Only the magic bytes are read from a file that does not start with them, and at most
    :data:`MAX_AAE_BYTES` from one that does.

    Raises:
        FileNotFoundError: no such file.
        CodecError: as :func:`decode_latent`, or larger than :data:`MAX_AAE_BYTES`; the
            message prefixed with the path.
    """
    with open(path, "rb") as fh:
        data = fh.read(len(MAGIC))
        if data == MAGIC:
            data += fh.read(MAX_AAE_BYTES + 1 - len(data))
    if len(data) > MAX_AAE_BYTES:
        raise CodecError(f"{path}: larger than {MAX_AAE_BYTES} bytes, more than an .aae file holds")
    try:
        return decode_latent(data, model_hash=model_hash, layout=layout)
    except OtherModelError as exc:
        raise OtherModelError(f"{path}: {exc}", exc.model_hash) from None
    except CodecError as exc:
        raise CodecError(f"{path}: {exc}") from None


def describe_aae(path: str | os.PathLike) -> str:
    """What ``audioae inspect FILE.aae`` prints: the model that made the file (a shipped
    model's name, else its hash), the audio it stands for (sample rate, channels, duration),
    the latent (size, frames, bits per value) and the file's size and bitrate. The whole
    file is checked (CRC, payload) as :func:`read_aae` checks it.

    Raises:
        FileNotFoundError, CodecError: as :func:`read_aae`.
    """
    from .modelfile import shipped_model_with_hash

    h = read_aae(path).header
    name = shipped_model_with_hash(h.model_hash)
    model = f"{name} (shipped)" if name else f"hash {h.model_hash.hex()[:16]} (not a shipped model)"
    seconds = h.length / h.sample_rate
    return "\n".join(
        [
            f"{path}: audioae latent file, format version {h.version}",
            f"  model: {model}",
            f"  audio: {h.sample_rate} Hz, {h.channels} channel(s), {seconds:.3f} s "
            f"({h.length} frames)",
            f"  latent: {h.latent_dim} x {h.latent_frames} frames per channel, {h.bits} bits "
            "per value",
            f"  size: {h.total_bytes} bytes, "
            f"{bitrate_kbps(h.total_bytes, h.length, h.sample_rate):.2f} kbit/s "
            f"({pcm16_ratio(h.total_bytes, h.length, h.sample_rate, h.channels):.0f}x smaller "
            "than 16-bit PCM)",
        ]
    )


__all__ = [
    "AAEHeader",
    "CodecError",
    "DecodedLatent",
    "LatentLayout",
    "OtherModelError",
    "bitrate_kbps",
    "check_layout",
    "decode_latent",
    "describe_aae",
    "encode_latent",
    "max_coded_values",
    "min_bits_per_value",
    "parse_header",
    "pcm16_ratio",
    "read_aae",
    "write_aae",
]
