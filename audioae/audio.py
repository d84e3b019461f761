"""Audio files in and out: load any format libsndfile reads, resample with soxr, save atomically.

Waveforms are float32 tensors of shape ``(channels, time)`` in [-1, 1] full scale; sample
rates are in Hz. Every failure to read a file is an :class:`AudioError` that names the file
and the cause (missing, a directory, empty, truncated, corrupt, not audio, unsupported
format, NaN/Inf samples), so a dataset scan or a CLI can report it in one line.

Decoding is libsndfile (through ``soundfile``); resampling is libsoxr (through ``soxr``,
"HQ" quality). Both are plumbing: the DSP of the toolkit lives in ``functional.py``.

Layout: the error classes live in :mod:`audioae.audio_errors`, header probing
(:func:`audio_info`) in :mod:`audioae.audio_probe`, resampling (:func:`resample`,
:func:`steep_soxr`) in :mod:`audioae.resampling`; this module re-exports them and holds
decoding, saving and finding files. Import from here.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audioae.arguments import is_integer
from audioae.audio_errors import AudioError, ClippingWarning, NoAudioFilesError
from audioae.audio_probe import AudioInfo, audio_info, probe_file, unreadable_reason
from audioae.fileio import atomic_output
from audioae.resampling import SOXR_STEEP_FILTER as SOXR_STEEP_FILTER
from audioae.resampling import resample
from audioae.resampling import steep_soxr as steep_soxr

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
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
"""Sample formats that hold values beyond full scale (nothing is clipped or turned down)."""
_MAX_CHANNELS = 64  # more "channels" than this in save_audio is taken for a (time, channels) mix-up


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
    info = probe_file(path)
    decoded = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for chunk in f.blocks(blocksize=int(chunk_frames), dtype="float32", always_2d=True):
                decoded += chunk.shape[0]
                yield chunk
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            path, unreadable_reason(path, getattr(exc, "error_string", str(exc)))
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
            path, unreadable_reason(path, getattr(exc, "error_string", str(exc)))
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
    info = probe_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(dtype="float32", always_2d=True)  # (frames, channels)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            path, unreadable_reason(path, getattr(exc, "error_string", str(exc)))
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
        ValueError: ``sample_rate`` is not a positive integer (44100.5 was written as 44100).
    """
    path = Path(path)
    if not is_integer(sample_rate) or sample_rate <= 0:
        raise ValueError(
            f"save_audio: sample_rate must be a positive integer (Hz), got {sample_rate!r}"
        )
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
    if subtype not in FLOAT_SUBTYPES:
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
    hidden: list[str] | None = None,
) -> list[str]:
    """:func:`find_audio_files` as path strings (the data index lists 100 000s of files, for
    which path objects alone cost a fraction of a second).

    ``hidden``: when a list is given, the audio files left out as hidden (a name, or a folder
    between ``root`` and them, starting with ``.``) are appended to it in the same walk
    (hidden folders are then walked too, their files never returned)."""
    root = Path(root)
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        raise AudioError(root, "no such file or folder")
    wanted = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    seen_dirs: set[str] = set()
    hidden_dirs: list[str] = []  # hidden folders met on the way (walked after, for ``hidden``)
    found: list[str] = []  # Path objects only at the end: a corpus has 100 000s of files

    def unreadable(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else root
        reason = f"cannot list this folder: {exc.strerror or exc}"
        if errors is None:
            log.warning("%s: %s", folder, reason)
        else:
            errors.append((folder, reason))

    def walk(top, onerror):
        for dirpath, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(real)
            yield dirpath, dirnames, filenames

    for dirpath, dirnames, filenames in walk(root, unreadable):
        hidden_dirs += [os.path.join(dirpath, d) for d in dirnames if d.startswith(".")]
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if os.path.splitext(name)[1].lower() not in wanted:
                continue
            if not name.startswith("."):
                found.append(os.path.join(dirpath, name))
            elif hidden is not None:
                hidden.append(os.path.join(dirpath, name))
    for top in hidden_dirs if hidden is not None else ():
        for dirpath, _, filenames in walk(top, None):  # unreadable: nothing was to be read
            hidden += [
                os.path.join(dirpath, name)
                for name in filenames
                if os.path.splitext(name)[1].lower() in wanted
            ]
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
    "FLOAT_SUBTYPES",
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
