"""Probing audio files: header checks and the reasons a file cannot be used, without decoding it.

:func:`audio_info` reads a file's header into an :class:`AudioInfo`; every failure is an
:class:`~audioae.audio.AudioError` naming the file and the cause (missing, a directory, empty,
truncated, corrupt, not audio, unsupported format). :func:`probe_file` and
:func:`unreadable_reason` are the checks and wording :mod:`audioae.audio`'s decoders share.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from audioae.audio_errors import AudioError

# Well-known formats libsndfile cannot decode, with a hint.
_UNSUPPORTED_HINTS = {
    ".m4a": "AAC/MP4", ".mp4": "MP4", ".aac": "AAC", ".wma": "Windows Media Audio",
    ".webm": "WebM", ".mka": "Matroska", ".ape": "Monkey's Audio", ".wv": "WavPack",
}  # fmt: skip

UNSUPPORTED_AUDIO_EXTENSIONS = tuple(_UNSUPPORTED_HINTS)
"""Suffixes of audio formats libsndfile cannot decode: folder jobs report such files as
failed (with a conversion hint) instead of passing over them."""

# What a file that is not a regular file is, by its st_mode (see not_regular_reason).
_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about an audio file (no samples decoded).

    Attributes:
        path: the file.
        sample_rate: Hz.
        channels: channel count.
        frames: samples per channel (for MP3, as declared by the stream header).
        duration: seconds, ``frames / sample_rate``.
        format: libsndfile major format, e.g. ``"WAV"``, ``"FLAC"``, ``"OGG"``.
        subtype: libsndfile subtype, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return printable / len(head) > 0.95


def _container_problem(path: Path, size: int) -> str | None:
    """Check a RIFF/WAVE or AIFF file's data chunk against the file size (libsndfile silently
    shortens a truncated WAV to what is there, so a file cut mid-copy would otherwise load).

    Returns a reason string when the file is truncated, else None. Sizes of 0 or 0xFFFFFFFF
    (left unknown by streaming writers) are not checked.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return None
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            endian, data_id = "<", b"data"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            endian, data_id = ">", b"SSND"
        else:
            return None
        pos = 12
        for _ in range(4096):  # bounded walk over the chunks
            chunk = f.read(8)
            if len(chunk) < 8:
                return (
                    f"truncated: the file ends before its '{data_id.decode()}' (audio data) chunk"
                )
            cid, csize = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
            pos += 8
            if cid == data_id:
                available = size - pos
                if csize not in (0, 0xFFFFFFFF) and csize > available:
                    return (
                        f"truncated: the header declares {csize} bytes of audio data "
                        f"but only {available} are in the file"
                    )
                return None
            pos += csize + (csize & 1)
            if pos > size:
                name = cid.decode("latin-1").strip()
                return f"truncated or corrupt: the '{name}' chunk runs past the end of the file"
            f.seek(pos)
    return None


def unsupported_format_reason(suffix: str) -> str:
    """Why a file with ``suffix`` (one of :data:`UNSUPPORTED_AUDIO_EXTENSIONS`) cannot be
    decoded, with a conversion command."""
    return (
        f"unsupported format: {_UNSUPPORTED_HINTS[suffix]} ({suffix}) cannot be decoded by "
        f"libsndfile; convert it, e.g. `ffmpeg -i IN{suffix} OUT.flac`"
    )


def unreadable_reason(path: Path, message: str) -> str:
    """Turn a libsndfile error message into a reason a user can act on."""
    message = message.strip().rstrip(".")
    if message.lower().startswith("error :"):
        message = message[len("error :") :].strip()
    if "not recognised" in message.lower() or "unknown format" in message.lower():
        suffix = path.suffix.lower()
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError:
            head = b""
        if suffix in _UNSUPPORTED_HINTS:
            return unsupported_format_reason(suffix)
        if _looks_like_text(head):
            return "not audio: the file is text"
        common = ("WAV", "FLAC", "OGG", "MP3", "AIFF", "AU", "W64", "CAF")
        readable = ", ".join(f for f in common if f in sf.available_formats()) + ", ..."
        return f"unsupported or not audio: libsndfile does not recognise the format (it reads {readable})"
    return f"corrupt or truncated: {message}"


def not_regular_reason(mode: int) -> str | None:
    """Why a file of ``st_mode`` ``mode`` (from ``os.stat``) is refused without being opened,
    or None for a regular file: opening a named pipe blocks until something writes to it,
    and a device can be endless.
    """
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a file")
    return f"not a regular file ({kind}); refused without opening it"


def probe_file(path: Path) -> sf._SoundFileInfo:
    """All header-level checks shared by :func:`load_audio` and :func:`audio_info`.

    A named pipe, socket or device is refused from its ``stat`` alone, never opened.
    """
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(
            path, "is a directory, not an audio file (use find_audio_files to scan it)"
        )
    try:
        st = path.stat()
        special = not_regular_reason(st.st_mode)
        if special is not None:
            raise AudioError(path, special)
        size = st.st_size
        if size == 0:
            raise AudioError(path, "empty file (0 bytes)")
        problem = _container_problem(path, size)
    except OSError as exc:
        raise AudioError(path, f"cannot be read: {exc.strerror or exc}") from None
    if problem is not None:
        raise AudioError(path, problem)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            path, unreadable_reason(path, getattr(exc, "error_string", str(exc)))
        ) from None
    if info.frames <= 0:
        raise AudioError(path, "empty: the file holds no audio frames")
    return info


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read an audio file's header without decoding its samples.

    Checks everything :func:`load_audio` checks except the sample values (NaN/Inf) and, for
    compressed formats, damage inside the stream, which only decoding can reveal.

    Raises:
        AudioError: missing, a directory, not a regular file (a named pipe, socket or
            device: never opened), empty, truncated, corrupt, not audio, unsupported.
    """
    path = Path(path)
    info = probe_file(path)
    return AudioInfo(
        path=path,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=info.frames / info.samplerate,
        format=str(info.format),
        subtype=str(info.subtype),
    )


__all__ = [
    "UNSUPPORTED_AUDIO_EXTENSIONS",
    "AudioInfo",
    "audio_info",
    "not_regular_reason",
    "unsupported_format_reason",
]
