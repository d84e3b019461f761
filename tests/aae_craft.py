"""Build ``.aae`` bytes field by field (valid size field and CRC32), for attack and fuzz tests.

Not a test module: imported by ``test_bounded_parsing.py`` and ``test_fuzz.py``.
"""

from __future__ import annotations

import zlib

import numpy as np

from audioae.codec import MAGIC, VERSION


def varint(value: int) -> bytes:
    """Unsigned LEB128, the header's integer encoding.

    Raises:
        ValueError: a negative value (it has no unsigned encoding; the loop would not end).
    """
    if value < 0:
        raise ValueError(f"varint: a negative value {value} has no unsigned encoding")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def craft_aae(
    *,
    model_hash: bytes = b"\x11" * 16,
    flags: int = 0,
    bits: int = 6,
    window: int = 3,
    sample_rate: int = 16000,
    length: int = 16000,
    channels: int = 1,
    latent_dim: int = 8,
    latent_frames: int = 32,
    payload: bytes = b"\x00",
    lo: float = -1.0,
    hi: float = 1.0,
) -> bytes:
    """A whole ``.aae`` file with the given header fields (predictor codes 0, the same lo/hi
    for every dimension in float16), ``payload`` as the coded values, a consistent size field
    and a valid CRC32."""
    params = np.full(latent_dim, lo, "<f2").tobytes() + np.full(latent_dim, hi, "<f2").tobytes()
    body = b"".join(
        [
            model_hash,
            bytes([flags, bits, window]),
            varint(sample_rate),
            varint(length),
            varint(channels),
            varint(latent_dim),
            varint(latent_frames),
            bytes((latent_dim + 3) // 4),
            params,
            payload,
        ]
    )
    return with_envelope(body)


def with_envelope(body: bytes) -> bytes:
    """Magic, version and a size field that counts itself in front of ``body``, then the CRC32."""
    prefix = MAGIC + bytes([VERSION])
    total = len(prefix) + len(body) + 4 + 1
    while len(prefix) + len(varint(total)) + len(body) + 4 != total:
        total = len(prefix) + len(varint(total)) + len(body) + 4
    head = prefix + varint(total) + body
    return head + zlib.crc32(head).to_bytes(4, "little")


def body_of(data: bytes) -> bytes:
    """The bytes between the size field and the CRC32 of a well-formed file."""
    pos = len(MAGIC) + 1
    while data[pos] & 0x80:
        pos += 1
    return data[pos + 1 : -4]


def replace_fields(data: bytes, **fields: int) -> bytes:
    """Rewrite the varint fields (``sample_rate``, ``length``, ``channels``, ``latent_dim``,
    ``latent_frames``) of a well-formed file, keeping every other byte; size and CRC fixed."""
    body = body_of(data)
    names = ("sample_rate", "length", "channels", "latent_dim", "latent_frames")
    pos, values = 16 + 3, {}
    for name in names:
        value, shift = 0, 0
        while True:
            b = body[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        values[name] = fields.pop(name, value)
    if fields:
        raise KeyError(f"unknown fields {sorted(fields)}")
    head = body[: 16 + 3] + b"".join(varint(values[n]) for n in names)
    return with_envelope(head + body[pos:])
