"""The ``.aae`` file header and its bounded parsing (the format is in :mod:`audioae.codec`).

The envelope (magic, version, size field, CRC32), the header fields and their limits, the
checks of a header against the payload size and against the decoding model's
:class:`LatentLayout`, and the file-size helpers (bitrate, compression ratio, the least cost
of a coded value). :mod:`audioae.codec` codes the payload and re-exports these names.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from .latent_entropy import MIN_SCALE, PROBABILITY_BITS, WINDOW_CODES

MAGIC = b"\x89AAE"
VERSION = 1
HASH_BYTES = 16
_FLAG_FLOAT32 = 0x01
_MAX_SYMBOLS = 1 << 31
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000
MAX_CHANNELS = 64
MAX_LATENT_DIM = 4096
_MIN_BITS_MARGIN = 0.5  # the reader allows half the least cost per value
_CODER_SLACK_BITS = 64  # a range coder's final state (two 32-bit words)


class CodecError(ValueError):
    """An ``.aae`` file cannot be read: not an .aae file, unknown version, truncated,
    corrupted (CRC mismatch), made with another model, or inconsistent header fields."""


class OtherModelError(CodecError):
    """An ``.aae`` file made with another model than the one decoding it; ``model_hash`` is
    the 16-byte digest of the model that made it (its header's)."""

    def __init__(self, message: str, model_hash: bytes) -> None:
        super().__init__(message)
        self.model_hash = bytes(model_hash)

    def __reduce__(self):  # pickles and copies (process pools) with the hash
        return (type(self), (str(self), self.model_hash))


@dataclass(frozen=True, eq=False)
class AAEHeader:
    """Parsed ``.aae`` header. ``lo``/``hi`` are the per-dimension quantiser ranges (float64,
    shape ``(latent_dim,)``); ``predictors`` the per-dimension predictor codes
    (``PREDICTOR_COEFFS`` indices); ``window_code`` the entropy-model window exponent; sizes in
    bytes (``total_bytes = header_bytes + payload_bytes + 4``)."""

    version: int
    model_hash: bytes
    sample_rate: int
    length: int
    channels: int
    latent_dim: int
    latent_frames: int
    bits: int
    window_code: int
    predictors: tuple[int, ...]
    lo: np.ndarray
    hi: np.ndarray
    float32_params: bool
    header_bytes: int
    payload_bytes: int
    total_bytes: int

    @property
    def step(self) -> np.ndarray:
        """Quantiser step per dimension, ``(hi - lo) / 2**bits``, shape ``(latent_dim,)``."""
        return (self.hi - self.lo) / (1 << self.bits)

    @property
    def duration_seconds(self) -> float:
        """Audio duration, ``length / sample_rate`` seconds."""
        return self.length / self.sample_rate

    @property
    def bitrate_kbps(self) -> float:
        """Bitrate of the whole file (header included), kbit/s."""
        return bitrate_kbps(self.total_bytes, self.length, self.sample_rate)


@dataclass(frozen=True)
class LatentLayout:
    """The latents a model makes, to cross-check an ``.aae`` header against the decoding model.

    Attributes:
        sample_rate: the model's sample rate (Hz).
        latent_dim: the model's latent dimensions.
        hop_length: STFT hop of the model's front-end (samples at ``sample_rate``).
        time_downsampling: STFT frames per latent frame.
        min_length: inputs shorter than this many samples (at the model's rate) were zero-padded
            to it before encoding (the front-end's ``n_fft``).
    """

    sample_rate: int
    latent_dim: int
    hop_length: int
    time_downsampling: int
    min_length: int = 1

    def latent_frames(self, length: int, sample_rate: int) -> int:
        """Latent frames the model makes of ``length`` samples at ``sample_rate`` Hz: the
        audio resampled to the model's rate (``round(length * self.sample_rate / sample_rate)``
        samples, at least ``min_length``), centred STFT frames ``n // hop_length + 1``, then
        ``ceil(frames / time_downsampling)``. Integer arithmetic, exact for any size."""
        model_length = (2 * length * self.sample_rate + sample_rate) // (2 * sample_rate)
        model_length = max(model_length, self.min_length, 1)
        frames = model_length // self.hop_length + 1
        return -(-frames // self.time_downsampling)


# ----------------------------------------------------------------------------- helpers


def bitrate_kbps(num_bytes: int, length: int, sample_rate: int) -> float:
    """Bitrate in kbit/s of ``num_bytes`` bytes for ``length`` samples at ``sample_rate`` Hz.

    Raises:
        ValueError: ``length`` or ``sample_rate`` not positive.
    """
    if length <= 0 or sample_rate <= 0:
        raise ValueError(
            f"bitrate needs length > 0 and sample_rate > 0, got {length}, {sample_rate}"
        )
    return num_bytes * 8.0 * sample_rate / length / 1000.0


def pcm16_ratio(num_bytes: int, length: int, sample_rate: int, channels: int = 1) -> float:
    """Compression ratio against 16-bit PCM of the same audio: the PCM bitrate
    ``16 * sample_rate * channels`` bit/s over :func:`bitrate_kbps` (= ``2 * length * channels / num_bytes``).

    Raises:
        ValueError: ``num_bytes``, ``length`` or ``sample_rate`` not positive.
    """
    if num_bytes <= 0:
        raise ValueError(f"num_bytes must be > 0, got {num_bytes}")
    pcm_kbps = 16.0 * sample_rate * channels / 1000.0
    return pcm_kbps / bitrate_kbps(num_bytes, length, sample_rate)


def min_bits_per_value(bits: int) -> float:
    """The least code length (bits) the entropy model can give one value at ``2**bits`` levels.

    See :mod:`audioae.codec`'s docstring ("Bounded reading"): the larger of the continuous model's bound
    and the leaky quantizer's, without the reader's margin.
    """
    levels = 1 << bits
    continuous = -math.log2(1.0 - 0.5 * math.exp(-0.5 / MIN_SCALE))
    leaky = -math.log2(1.0 - (levels - 1) * 2.0**-PROBABILITY_BITS)
    return max(continuous, leaky)


def max_coded_values(payload_bytes: int, bits: int) -> int:
    """The most values a payload of ``payload_bytes`` bytes can hold at ``2**bits`` levels
    (with the reader's margin of 2 on the cost per value); a header claiming more is refused."""
    capacity = 8 * (payload_bytes + 3) + _CODER_SLACK_BITS
    return int(capacity / (_MIN_BITS_MARGIN * min_bits_per_value(bits)))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Reader:
    """Sequential reader; ``what`` prefixes the error raised when bytes run out."""

    def __init__(self, data: bytes, pos: int, end: int, what: str) -> None:
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > self.end:
            raise CodecError(f"{self.what}: the {field} field runs past the end of the header")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def varint(self, field: str) -> int:
        value = 0
        for i in range(9):
            b = self.byte(field)
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return value
        raise CodecError(f"{self.what}: the {field} field is not a valid varint")


def _check_envelope(data: bytes) -> int:
    """Magic, version, size and CRC; returns the offset after the size field."""
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):
            raise CodecError(f"truncated .aae file: only {len(data)} bytes")
        raise CodecError("not an .aae file (bad magic bytes)")
    if data[: len(MAGIC)] != MAGIC:
        raise CodecError("not an .aae file (bad magic bytes)")
    if len(data) == len(MAGIC):
        raise CodecError("truncated .aae file: no version byte")
    version = data[len(MAGIC)]
    if version != VERSION:
        raise CodecError(
            f"unknown .aae format version {version}; this audioae reads version {VERSION} "
            "(the file was written by a newer or incompatible audioae)"
        )
    pos, total = len(MAGIC) + 1, 0
    for i in range(9):
        if pos >= len(data):
            raise CodecError(f"truncated .aae file: {len(data)} bytes, the header is incomplete")
        b = data[pos]
        pos += 1
        total |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            break
    else:
        raise CodecError("corrupted .aae file: invalid size field")
    crc_ok = len(data) >= pos + 4 and zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "little")
    if len(data) < total and not crc_ok:
        raise CodecError(f"truncated .aae file: the header says {total} bytes, found {len(data)}")
    if not crc_ok:
        raise CodecError("corrupted .aae file: CRC32 mismatch")
    if len(data) != total:
        raise CodecError(
            f"inconsistent .aae header: size field says {total} bytes, the file has {len(data)}"
        )
    return pos


def parse_header(data: bytes, layout: LatentLayout | None = None) -> AAEHeader:
    """Check and parse the header of ``.aae`` bytes (the payload is not decoded).

    Args:
        data: the whole file.
        layout: the decoding model's latents; when given, the header must agree with it
            (see :func:`check_layout`).

    Raises:
        CodecError: bad magic, unknown version, truncated, CRC mismatch, a field out of its
            range (naming the field), more coded values than the payload can carry, or a
            header that disagrees with ``layout``.
    """
    data = bytes(data)
    pos = _check_envelope(data)
    end = len(data) - 4
    r = _Reader(data, pos, end, "inconsistent .aae header")
    model_hash = r.take(HASH_BYTES, "model hash")
    flags, bits, window_code = r.byte("flags"), r.byte("bits"), r.byte("window")
    sample_rate, length = r.varint("sample_rate"), r.varint("length")
    channels, dims, frames = r.varint("channels"), r.varint("latent_dim"), r.varint("latent_frames")
    problems = []
    if flags & ~_FLAG_FLOAT32:
        problems.append(f"unknown flags {flags:#04x}")
    if not 1 <= bits <= 16:
        problems.append(f"bits {bits} not in 1..16")
    if window_code not in WINDOW_CODES:
        problems.append(f"window code {window_code} not in {WINDOW_CODES}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        problems.append(f"sample_rate {sample_rate} Hz not in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}")
    if not 1 <= channels <= MAX_CHANNELS:
        problems.append(f"channels {channels} not in 1..{MAX_CHANNELS}")
    if not 1 <= dims <= MAX_LATENT_DIM:
        problems.append(f"latent_dim {dims} not in 1..{MAX_LATENT_DIM}")
    if channels * dims * frames >= _MAX_SYMBOLS:
        problems.append(f"latent_frames: {channels}x{dims}x{frames} latent values is too many")
    if problems:
        raise CodecError("inconsistent .aae header: " + "; ".join(problems))
    packed = r.take((dims + 3) // 4, "predictor codes")
    codes = tuple((packed[d // 4] >> (2 * (d % 4))) & 3 for d in range(dims))
    if dims % 4 and packed[-1] >> (2 * (dims % 4)):
        raise CodecError("inconsistent .aae header: unused predictor bits are set")
    size, dtype = (4, "<f4") if flags & _FLAG_FLOAT32 else (2, "<f2")
    lo = np.frombuffer(r.take(dims * size, "lo"), dtype=dtype).astype(np.float64)
    hi = np.frombuffer(r.take(dims * size, "hi"), dtype=dtype).astype(np.float64)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= hi).all()):
        raise CodecError("inconsistent .aae header: quantiser ranges must be finite with lo <= hi")
    payload_bytes = end - r.pos
    if (payload_bytes == 0) != (frames == 0):
        raise CodecError(
            f"inconsistent .aae header: {frames} latent frames but {payload_bytes} payload bytes"
        )
    values, most = channels * dims * frames, max_coded_values(payload_bytes, bits)
    if values > most:
        raise CodecError(
            f"inconsistent .aae header: latent_frames {frames} gives {values} coded values "
            f"({channels} channels x {dims} dims), more than the {payload_bytes}-byte payload can "
            f"carry at {bits} bits (at most {most})"
        )
    header = AAEHeader(
        version=VERSION,
        model_hash=model_hash,
        sample_rate=sample_rate,
        length=length,
        channels=channels,
        latent_dim=dims,
        latent_frames=frames,
        bits=bits,
        window_code=window_code,
        predictors=codes,
        lo=lo,
        hi=hi,
        float32_params=bool(flags & _FLAG_FLOAT32),
        header_bytes=r.pos,
        payload_bytes=payload_bytes,
        total_bytes=len(data),
    )
    if layout is not None:
        check_layout(header, layout)
    return header


def check_layout(header: AAEHeader, layout: LatentLayout) -> None:
    """Check that a parsed header fits the model that is to decode it.

    ``latent_dim`` must equal the model's and ``latent_frames`` must be within one frame of
    ``layout.latent_frames(header.length, header.sample_rate)``, so ``length`` (the audio the
    decoder will allocate and write) is tied to the coded values the payload carries.

    Raises:
        CodecError: naming the field and both values.
    """
    if header.latent_dim != layout.latent_dim:
        raise CodecError(
            f"inconsistent .aae header: latent_dim {header.latent_dim} differs from the model's "
            f"{layout.latent_dim}"
        )
    expected = layout.latent_frames(header.length, header.sample_rate)
    if abs(header.latent_frames - expected) > 1:
        raise CodecError(
            f"inconsistent .aae header: latent_frames {header.latent_frames} does not match length "
            f"{header.length} samples at {header.sample_rate} Hz (the model makes {expected} "
            f"frames of it: hop_length {layout.hop_length} x time downsampling "
            f"{layout.time_downsampling} at {layout.sample_rate} Hz)"
        )


__all__ = [
    "HASH_BYTES",
    "MAGIC",
    "MAX_CHANNELS",
    "MAX_LATENT_DIM",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "VERSION",
    "AAEHeader",
    "CodecError",
    "LatentLayout",
    "bitrate_kbps",
    "check_layout",
    "max_coded_values",
    "min_bits_per_value",
    "parse_header",
    "pcm16_ratio",
]
