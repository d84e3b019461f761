"""Opus (IETF RFC 6716, Valin et al. 2012) through the ``ffmpeg`` command-line tool with libopus,
as the compression baseline.

:func:`opus_roundtrip` writes the signal to a temporary 16-bit WAV, encodes it with ``ffmpeg
-c:a libopus -b:a <K>k`` (libopus defaults otherwise: VBR, ``application=audio``, complexity
10, 20 ms frames) into an Ogg Opus file, decodes that back to 48 kHz float WAV with ffmpeg and
resamples it to the input rate with soxr (``audioae.audio.resample``). The Ogg pre-skip is
applied by the decoder, so the output is time-aligned with the input. Metadata is stripped
(``-map_metadata -1 -fflags +bitexact``) so the file holds only the Ogg/Opus headers and the
packets. The real bitrate is measured from the file size, container included. libopus accepts
6..510 kbit/s per channel; requests below 6 are refused here rather than silently raised.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch
from torch import Tensor

from audioae.audio import resample

__all__ = ["OPUS_MIN_KBPS", "OpusResult", "ffmpeg_has_libopus", "opus_roundtrip"]

OPUS_MIN_KBPS = 6.0


@dataclass(frozen=True)
class OpusResult:
    """``decoded``: ``(time,)`` float32 at the input rate and length; ``num_bytes``: size of the
    ``.opus`` file; ``bitrate_kbps``: ``num_bytes * 8 / duration / 1000`` (container included);
    ``requested_kbps``: the ``-b:a`` value; ``seconds``: encode + decode wall time."""

    decoded: Tensor
    num_bytes: int
    bitrate_kbps: float
    requested_kbps: float
    seconds: float


def ffmpeg_has_libopus() -> bool:
    """True when ``ffmpeg`` is on the PATH and lists the ``libopus`` encoder."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return False
    out = subprocess.run(
        [exe, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    )
    return " libopus " in out.stdout


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        raise RuntimeError(
            f"{' '.join(cmd[:3])} ... failed ({result.returncode}): {' | '.join(tail)}"
        )


def opus_roundtrip(wav: Tensor, sample_rate: int, kbps: float) -> OpusResult:
    """Encode a mono signal with Opus at ``kbps`` kbit/s and decode it back.

    Args:
        wav: ``(time,)`` or ``(1, time)`` float in [-1, 1] at ``sample_rate`` Hz (written as
            16-bit PCM for ffmpeg).
        sample_rate: Hz (any rate ffmpeg reads; Opus itself runs at 48 kHz).
        kbps: requested bitrate, kbit/s (``-b:a``), at least 6.

    Returns:
        :class:`OpusResult`.

    Raises:
        ValueError: ``kbps`` below Opus's minimum of 6 kbit/s, or a multi-channel input.
        FileNotFoundError: ``ffmpeg`` is not installed.
        RuntimeError: ffmpeg failed (e.g. built without libopus).
    """
    if kbps < OPUS_MIN_KBPS:
        raise ValueError(f"Opus needs at least {OPUS_MIN_KBPS} kbit/s, got {kbps}")
    x = wav.detach().to("cpu", torch.float32)
    if x.dim() == 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 1:
        raise ValueError(
            f"opus_roundtrip expects a mono (time,) signal, got shape {tuple(wav.shape)}"
        )
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FileNotFoundError("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="audioae_opus_") as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / "out.opus", Path(tmp) / "dec.wav"
        sf.write(str(src), x.clamp(-1.0, 1.0).numpy(), sample_rate, subtype="PCM_16")
        start = time.perf_counter()
        quiet = [exe, "-hide_banner", "-loglevel", "error", "-y"]
        _run(
            [
                *quiet,
                "-i",
                str(src),
                "-c:a",
                "libopus",
                "-b:a",
                f"{kbps:g}k",
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(enc),
            ]
        )
        _run([*quiet, "-i", str(enc), "-ar", "48000", "-c:a", "pcm_f32le", str(dec)])
        seconds = time.perf_counter() - start
        num_bytes = enc.stat().st_size
        data, rate = sf.read(str(dec), dtype="float32", always_2d=True)
    decoded = resample(torch.from_numpy(data[:, 0].copy()), rate, sample_rate)
    n = x.shape[-1]
    decoded = torch.nn.functional.pad(decoded, (0, max(0, n - decoded.shape[-1])))[:n]
    return OpusResult(
        decoded, num_bytes, num_bytes * 8.0 * sample_rate / n / 1000.0, float(kbps), seconds
    )
