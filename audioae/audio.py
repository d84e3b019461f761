"""Audio files in and out: load any format libsndfile reads, resample with soxr, save atomically.

Waveforms are float32 tensors of shape ``(channels, time)`` in [-1, 1] full scale; sample
rates are in Hz. Every failure to read a file is an :class:`AudioError` that names the file
and the cause (missing, a directory, empty, truncated, corrupt, not audio, unsupported
format, NaN/Inf samples), so a dataset scan or a CLI can report it in one line.

Decoding is libsndfile (through ``soundfile``); resampling is libsoxr (through ``soxr``,
"HQ" quality). Both are plumbing: the DSP of the toolkit lives in ``functional.py``.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from audioae.fileio import atomic_output

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc",
    ".au", ".snd", ".w64", ".rf64", ".caf",
)  # fmt: skip
"""File suffixes :func:`find_audio_files` collects by default (matched case-insensitively)."""

# Suffix -> libsndfile major format for :func:`save_audio`.
_SAVE_FORMATS = {
    ".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
    ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF", ".au": "AU", ".w64": "W64",
}  # fmt: skip
# Lossy containers: a PCM/FLOAT subtype request is replaced by the container's codec.
_CODEC_SUBTYPES = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
# Well-known formats libsndfile cannot decode, with a hint.
_UNSUPPORTED_HINTS = {
    ".m4a": "AAC/MP4", ".mp4": "MP4", ".aac": "AAC", ".wma": "Windows Media Audio",
    ".webm": "WebM", ".mka": "Matroska", ".ape": "Monkey's Audio", ".wv": "WavPack",
}  # fmt: skip
_MAX_CHANNELS = 64  # more "channels" than this in save_audio is taken for a (time, channels) mix-up


class AudioError(ValueError):
    """A file cannot be used as audio. ``str(err)`` is ``"<path>: <reason>"``.

    Attributes:
        path: the offending file or folder.
        reason: what is wrong with it and, where possible, what to do.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NoAudioFilesError(AudioError):
    """A folder holds no audio file with a recognised extension (raised by ``inspect_folder``)."""


class ClippingWarning(UserWarning):
    """:func:`save_audio` had to clip samples outside [-1, 1] to write an integer/lossy format."""


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


def _unreadable_reason(path: Path, message: str) -> str:
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
            return (
                f"unsupported format: {_UNSUPPORTED_HINTS[suffix]} ({suffix}) cannot be decoded by "
                f"libsndfile; convert it, e.g. `ffmpeg -i IN{suffix} OUT.flac`"
            )
        if _looks_like_text(head):
            return "not audio: the file is text"
        common = ("WAV", "FLAC", "OGG", "MP3", "AIFF", "AU", "W64", "CAF")
        readable = ", ".join(f for f in common if f in sf.available_formats()) + ", ..."
        return f"unsupported or not audio: libsndfile does not recognise the format (it reads {readable})"
    return f"corrupt or truncated: {message}"


def _probe(path: Path) -> sf._SoundFileInfo:
    """All header-level checks shared by :func:`load_audio` and :func:`audio_info`."""
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(
            path, "is a directory, not an audio file (use find_audio_files to scan it)"
        )
    try:
        size = path.stat().st_size
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
            path, _unreadable_reason(path, getattr(exc, "error_string", str(exc)))
        ) from None
    if info.frames <= 0:
        raise AudioError(path, "empty: the file holds no audio frames")
    return info


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read an audio file's header without decoding its samples.

    Checks everything :func:`load_audio` checks except the sample values (NaN/Inf) and, for
    compressed formats, damage inside the stream, which only decoding can reveal.

    Raises:
        AudioError: missing, a directory, empty, truncated, corrupt, not audio, unsupported.
    """
    path = Path(path)
    info = _probe(path)
    return AudioInfo(
        path=path,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=info.frames / info.samplerate,
        format=str(info.format),
        subtype=str(info.subtype),
    )


# Integer and float subtypes by resolution, and what to fall back to when a container
# cannot hold one (e.g. FLAC has no FLOAT or PCM_32): the nearest resolution it can hold.
_KEEP_DEPTH = {
    "DOUBLE": ("DOUBLE", "FLOAT", "PCM_24", "PCM_16"),
    "FLOAT": ("FLOAT", "PCM_24", "PCM_16"),
    "PCM_32": ("PCM_32", "FLOAT", "PCM_24", "PCM_16"),
    "PCM_24": ("PCM_24", "FLOAT", "PCM_16"),
}


def output_subtype(source_subtype: str, target: str | os.PathLike) -> str:
    """The subtype to write ``target`` with so that it keeps an input's resolution.

    24/32-bit and float inputs keep their subtype where ``target``'s container can hold it,
    else the nearest finer one it can (FLAC: 24-bit); everything else, and lossy containers,
    get 16-bit PCM (``save_audio``'s default).
    """
    fmt = _SAVE_FORMATS.get(Path(target).suffix.lower())
    if fmt is None or fmt in _CODEC_SUBTYPES:
        return "PCM_16"
    for candidate in _KEEP_DEPTH.get(source_subtype.upper(), ()):
        if sf.check_format(fmt, candidate):
            return candidate
    return "PCM_16"


def _check_decoded(path: Path, info: sf._SoundFileInfo, decoded: int) -> None:
    """Raise :class:`AudioError` when fewer frames decoded than the header declares."""
    declared = int(info.frames)
    # MP3 frame counts come from the stream header and may be estimates: allow 1 % or two frames.
    tolerance = max(2 * 1152, declared // 100) if info.format == "MP3" else 0
    if decoded == 0:
        raise AudioError(path, "empty: no audio frames could be decoded")
    if declared - decoded > tolerance:
        raise AudioError(
            path,
            f"truncated or corrupt: the header declares {declared} frames but only {decoded} could be decoded",
        )


def iter_frames(path: str | os.PathLike, chunk_frames: int) -> Iterator[np.ndarray]:
    """Decode a whole file chunk by chunk: float32 arrays ``(frames, channels)`` at its native rate.

    Every chunk but the last holds ``chunk_frames`` frames, so memory stays at one chunk
    whatever the file's length. Runs the checks of :func:`load_audio` except NaN/Inf (the
    caller sees the samples).

    Raises:
        AudioError: as :func:`load_audio`, including a stream that decodes fewer frames than
            its header declares (raised after the last chunk).
    """
    path = Path(path)
    info = _probe(path)
    decoded = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for chunk in f.blocks(blocksize=int(chunk_frames), dtype="float32", always_2d=True):
                decoded += chunk.shape[0]
                yield chunk
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            path, _unreadable_reason(path, getattr(exc, "error_string", str(exc)))
        ) from None
    _check_decoded(path, info, decoded)


def read_frames(path: str | os.PathLike, start: int, frames: int) -> np.ndarray:
    """Decode only frames ``[start, start + frames)`` of a file: float32 ``(frames', channels)``.

    ``frames' < frames`` when the file ends first (``0`` past its end). No header checks beyond
    what opening the file does: meant for files already indexed (:mod:`audioae.dataindex`).

    Raises:
        AudioError: the file cannot be opened or decoded (e.g. changed since it was indexed).
    """
    path = Path(path)
    try:
        data, _ = sf.read(
            str(path),
            start=max(int(start), 0),
            frames=max(int(frames), 0),
            dtype="float32",
            always_2d=True,
        )
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(
            path, _unreadable_reason(path, getattr(exc, "error_string", str(exc)))
        ) from None
    return data


def mix_to_mono(data: np.ndarray) -> np.ndarray:
    """The mean of the channels of ``(frames, channels)`` samples, as ``(frames,)`` (same dtype).

    A matrix-vector product: numpy's ``mean(axis=1)`` over a few interleaved channels is a
    strided reduction about 5x slower, and training runs this for every crop of a stereo
    file. Exactly equal to the mean for one or two channels.
    """
    channels = data.shape[1]
    if channels == 1:
        return data[:, 0]
    return data @ np.full(channels, 1.0 / channels, dtype=data.dtype)


def load_audio(
    path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True
) -> tuple[torch.Tensor, int]:
    """Decode an audio file to a float32 tensor ``(channels, time)``, full scale [-1, 1].

    Any format libsndfile reads: WAV (8/16/24/32-bit integer, 32/64-bit float), FLAC,
    OGG/Vorbis and Opus, MP3 (libsndfile >= 1.1), AIFF, AU, W64, CAF, ...

    Args:
        path: the file.
        sample_rate: resample to this rate (Hz) with soxr "HQ" if given and different.
        mono: mix down to one channel (mean of the channels), giving ``(1, time)``;
            else keep every channel, ``(channels, time)``.

    Returns:
        ``(wav, sample_rate)``: wav of shape ``(channels, time)`` float32 on the CPU, and its
        sample rate in Hz (``sample_rate`` if given, else the file's).

    Raises:
        AudioError: the file is missing, a directory, empty (0 bytes or 0 frames), truncated or
            corrupt, not audio, in an unsupported format, or holds NaN/Inf samples.
        ValueError: ``sample_rate`` is not a positive integer.
    """
    if sample_rate is not None and (
        not isinstance(sample_rate, int | np.integer) or sample_rate <= 0
    ):
        raise ValueError(
            f"load_audio: sample_rate must be a positive integer (Hz), got {sample_rate!r}"
        )
    path = Path(path)
    info = _probe(path)
    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(dtype="float32", always_2d=True)  # (frames, channels)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            path, _unreadable_reason(path, getattr(exc, "error_string", str(exc)))
        ) from None
    _check_decoded(path, info, data.shape[0])
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        raise AudioError(path, f"{bad} of {data.size} samples are NaN or Inf")
    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # (channels, time)
    if mono and wav.shape[0] > 1:
        wav = wav.mean(dim=0, keepdim=True)
    sr = int(info.samplerate)
    if sample_rate is not None and int(sample_rate) != sr:
        wav = resample(wav, sr, int(sample_rate))
        sr = int(sample_rate)
    return wav, sr


def resample(
    wav: torch.Tensor, orig_sr: int, target_sr: int, *, steep: bool = False
) -> torch.Tensor:
    """Band-limited resampling of ``wav (..., time)`` from ``orig_sr`` to ``target_sr`` Hz.

    Uses libsoxr at "HQ" quality (a polyphase/FFT resampler with a steep linear-phase
    anti-aliasing filter; Robs & Bagwell, SoX Resampler library): flat to about 0.91 of the
    lower rate's Nyquist frequency (16 kHz: -0.4 dB at 7.5 kHz, -10 dB at 7.7 kHz). With
    ``steep``, libsoxr's ``SOXR_STEEP_FILTER`` variant of the same quality: flat to 0.99 of it
    (16 kHz: -0.4 dB at 7.9 kHz, below -130 dB from 8.1 kHz; no aliasing either way; see
    docs/benchmarks.md, "Resampling into a 16 kHz model"). Every leading index is an
    independent channel. The computation runs in NumPy on the CPU; the result is moved back
    to ``wav``'s device. Not differentiable (the result carries no gradient).

    Args:
        wav: ``(..., time)`` floating tensor.
        orig_sr, target_sr: sample rates in Hz (positive integers).

    Returns:
        ``(..., round(time * target_sr / orig_sr))`` tensor, same dtype and device as ``wav``
        (float64 is computed in float64, every other float dtype in float32). ``wav`` itself
        when the rates are equal. An input without samples (``time == 0``, or no channels)
        gives a zero-filled tensor of that shape (``(..., 0)`` for ``time == 0``), never an
        error.

    Raises:
        TypeError: ``wav`` is not a floating-point tensor.
        ValueError: a rate is not positive.
    """
    if not isinstance(wav, torch.Tensor) or not wav.is_floating_point():
        raise TypeError(
            f"resample: wav must be a floating-point tensor, got {getattr(wav, 'dtype', type(wav))}"
        )
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(
            f"resample: sample rates must be positive (Hz), got {orig_sr} -> {target_sr}"
        )
    if orig_sr == target_sr:
        return wav
    work_dtype = torch.float64 if wav.dtype == torch.float64 else torch.float32
    lead, time = wav.shape[:-1], wav.shape[-1]
    if wav.numel() == 0:  # no samples or no channels: nothing for soxr (reshape(-1, 0) fails)
        out_len = int(round(time * target_sr / orig_sr))
        return torch.zeros(*lead, out_len, dtype=wav.dtype, device=wav.device)
    x = wav.detach().to("cpu", work_dtype).reshape(-1, time).numpy()  # (channels, time)
    if steep:
        y = _soxr_steep(np.ascontiguousarray(x.T), int(orig_sr), int(target_sr))
    else:
        y = soxr.resample(
            np.ascontiguousarray(x.T), int(orig_sr), int(target_sr), quality="HQ"
        )  # (time', channels)
    out = torch.from_numpy(np.ascontiguousarray(y.T)).reshape(*lead, y.shape[0])
    return out.to(device=wav.device, dtype=wav.dtype)


SOXR_STEEP_FILTER = 0x40
"""libsoxr's recipe flag (``soxr.h``) for a passband to 0.99 of Nyquist instead of 0.913."""


def steep_soxr(
    orig_sr: int, target_sr: int, channels: int, quality: str = "HQ", dtype: str = "float32"
) -> soxr.soxr_ext.CSoxr:
    """A libsoxr resampler of ``quality`` with the steep-filter flag, for ``dtype`` samples
    (``"float32"`` or ``"float64"``); feed it ``(time, channels)`` blocks through its
    ``process_<dtype>(block, last)`` method, ``last=True`` on the final one.

    python-soxr's public functions take only the five quality names, so this builds its
    resampler object (``soxr.soxr_ext.CSoxr``, what ``soxr.ResampleStream`` wraps) with the
    flag added. One-shot :func:`resample` and :class:`audioae.audiostream.StreamResampler`
    both use it.
    """
    stype = soxr.soxr_ext.SOXR_FLOAT64_I if dtype == "float64" else soxr.soxr_ext.SOXR_FLOAT32_I
    recipe = getattr(soxr, quality.upper()) | SOXR_STEEP_FILTER
    return soxr.soxr_ext.CSoxr(orig_sr, target_sr, channels, stype, recipe, False)


def _soxr_steep(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """soxr HQ with the steep-filter flag, ``x (time, channels)`` float32/float64 -> the same,
    in one flushed call."""
    kind = "float64" if x.dtype == np.float64 else "float32"
    resampler = steep_soxr(orig_sr, target_sr, x.shape[1], dtype=kind)
    return getattr(resampler, f"process_{kind}")(np.ascontiguousarray(x, dtype=kind), True)


def writable_format(path: str | os.PathLike, subtype: str = "PCM_16") -> tuple[str, str]:
    """The libsndfile ``(format, subtype)`` :func:`save_audio` writes ``path`` with.

    The format comes from the suffix; for the lossy .ogg/.mp3 a PCM/FLOAT ``subtype`` is
    replaced by the container's codec.

    Raises:
        AudioError: an unknown suffix or a subtype the container cannot hold.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None or fmt not in sf.available_formats():
        choices = ", ".join(s for s, f in _SAVE_FORMATS.items() if f in sf.available_formats())
        raise AudioError(path, f"cannot write '{path.suffix}' files; use one of {choices}")
    subtype = subtype.upper()
    if fmt in _CODEC_SUBTYPES and subtype not in sf.available_subtypes(fmt):
        subtype = _CODEC_SUBTYPES[fmt]
    if not sf.check_format(fmt, subtype):
        valid = ", ".join(sorted(sf.available_subtypes(fmt)))
        raise AudioError(path, f"subtype {subtype} cannot be written to {fmt}; use one of {valid}")
    return fmt, subtype


def save_audio(
    path: str | os.PathLike,
    wav: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
    overwrite: bool = False,
) -> Path:
    """Write ``wav`` to ``path`` atomically (temp file + rename, see ``fileio.atomic_output``).

    The container comes from the suffix: .wav/.wave, .flac, .ogg/.oga (Vorbis), .mp3,
    .aiff/.aif, .au, .w64. ``subtype`` is a libsndfile subtype: ``"PCM_16"`` (default),
    ``"PCM_24"``, ``"PCM_32"``, ``"PCM_U8"`` (8-bit WAV), ``"FLOAT"``, ``"DOUBLE"``...; for the
    lossy .ogg/.mp3 a PCM/FLOAT subtype is replaced by the codec (VORBIS, MPEG_LAYER_III).
    For integer and lossy subtypes samples outside [-1, 1] are clipped, with a
    :class:`ClippingWarning` giving the count.

    Args:
        path: destination file; its folder is created if needed.
        wav: ``(channels, time)`` or ``(time,)`` samples, full scale [-1, 1]; any device.
        sample_rate: Hz.
        subtype: libsndfile subtype (see above).
        overwrite: replace an existing file; otherwise refuse.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false (nothing is written).
        AudioError: unknown suffix, a subtype the container cannot hold, a bad shape, no
            samples, or NaN/Inf in the data.
        ValueError: ``sample_rate`` is not positive.
    """
    path = Path(path)
    if sample_rate <= 0:
        raise ValueError(f"save_audio: sample_rate must be positive (Hz), got {sample_rate!r}")
    fmt, subtype = writable_format(path, subtype)

    data = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise AudioError(
            path, f"expected wav of shape (channels, time) or (time,), got {tuple(data.shape)}"
        )
    if data.shape[0] > _MAX_CHANNELS and data.shape[0] > data.shape[1]:
        raise AudioError(
            path, f"shape {tuple(data.shape)} looks like (time, channels); pass (channels, time)"
        )
    if data.shape[1] == 0:
        raise AudioError(path, "no samples to write (time length 0)")
    data = data.astype(np.float64 if subtype == "DOUBLE" else np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        raise AudioError(path, f"{bad} of {data.size} samples are NaN or Inf; nothing was written")
    if subtype not in _FLOAT_SUBTYPES:
        over = int(np.count_nonzero(np.abs(data) > 1.0))
        if over:
            warnings.warn(
                f"{path}: clipped {over} of {data.size} samples to [-1, 1] to write {subtype}",
                ClippingWarning,
                stacklevel=2,
            )
            data = np.clip(data, -1.0, 1.0)
    with atomic_output(path, overwrite=overwrite) as tmp:
        sf.write(
            str(tmp), np.ascontiguousarray(data.T), int(sample_rate), subtype=subtype, format=fmt
        )
    return path


def find_audio_files(
    root: str | os.PathLike,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    *,
    errors: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """All audio files under ``root``, recursively, sorted.

    Files are matched by suffix, case-insensitively (``extensions`` with or without the
    dot). Hidden files and folders (names starting with ``"."``) are skipped, as are atomic
    writers' temp files. Symlinked folders are followed once (cycles are cut). A file path as
    ``root`` returns ``[root]`` whatever its suffix. Nothing is opened: a matched file may still
    fail in :func:`load_audio`.

    Args:
        root: a folder (or one file).
        extensions: suffixes to match.
        errors: when given, every sub-folder that cannot be listed (permissions, I/O error)
            is appended as ``(folder, reason)``; otherwise such folders are logged and skipped.

    Returns:
        Paths ``root / relative`` sorted by their path components; ``[]`` for a folder
        without audio files.

    Raises:
        AudioError: ``root`` does not exist.
    """
    return [Path(path) for path in find_audio_paths(root, extensions, errors=errors)]


def find_audio_paths(
    root: str | os.PathLike,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    *,
    errors: list[tuple[Path, str]] | None = None,
) -> list[str]:
    """:func:`find_audio_files` as path strings (the data index lists 100 000s of files, for
    which path objects alone cost a fraction of a second)."""
    root = Path(root)
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        raise AudioError(root, "no such file or folder")
    wanted = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    seen_dirs: set[str] = set()
    found: list[str] = []  # Path objects only at the end: a corpus has 100 000s of files

    def unreadable(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else root
        reason = f"cannot list this folder: {exc.strerror or exc}"
        if errors is None:
            log.warning("%s: %s", folder, reason)
        else:
            errors.append((folder, reason))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in wanted:
                found.append(os.path.join(dirpath, name))
    found.sort(key=lambda path: path.split(os.sep))  # by components, as Paths sort
    return found


def rms_db(wav: torch.Tensor) -> torch.Tensor:
    """Root-mean-square level of ``wav (..., time)`` in dBFS, ``20 log10(rms)`` (-inf for digital silence).

    The package's one RMS level: :mod:`audioae.data` (silent files and crops) and
    ``audioae inspect`` both measure with it. Computed in float64.

    Returns:
        ``(...)`` tensor of levels in dB relative to full scale (a full-scale sine is -3.01 dB).
    """
    power = wav.double().pow(2).mean(dim=-1)
    return (10.0 * torch.log10(power)).to(wav.dtype)


__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "ClippingWarning",
    "NoAudioFilesError",
    "audio_info",
    "find_audio_files",
    "find_audio_paths",
    "iter_frames",
    "load_audio",
    "mix_to_mono",
    "read_frames",
    "resample",
    "rms_db",
    "save_audio",
]
