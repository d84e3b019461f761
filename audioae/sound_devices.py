"""Live denoising from a sound card: a microphone in, a loudspeaker and/or a file out.

:func:`denoise_devices` runs :func:`audioae.live.denoise_live` between PortAudio streams
opened through the optional ``sounddevice`` package (``pip install 'audioae[live]'``; on Linux
PortAudio itself comes from the system, e.g. ``apt install libportaudio2``)::

    audioae live denoise_stream                          # default microphone -> loudspeaker
    audioae live denoise_stream --record take.wav --no-play --duration 30

The sound card delivers blocking reads of :data:`audioae.live.LIVE_BLOCK_SECONDS`; each block
is denoised and written at once. What is recorded to a file is the aligned output of
:func:`~audioae.live.denoise_live` (equal to offline processing of the same causal model, see
there). What is played is the same samples after a lead-in of silence as long as the stream's
algorithmic latency plus one block, so the output device always holds about a block more than
it needs (without it every block would arrive just as the device runs dry).

Latency heard at the loudspeaker: the stream's algorithmic latency (the denoiser's 40 ms with
the shipped ``denoise_stream`` at 16 kHz, plus the resamplers' at other rates), one block of
buffer (16 ms), and the sound card's own input and output latency (PortAudio's estimate,
reported by :attr:`DeviceReport.device_latency_seconds`). By default the input and output are
two streams on their own clocks (even on one sound card, PortAudio may not tie them); over a
long run a few blocks may under- or overflow, which the report counts. With ``duplex=True``
(``--duplex``) one full-duplex stream carries both, on one clock, for a sound card that records
and plays (a headset, an audio interface); PortAudio refuses it for a pair of devices it cannot
run together.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .audiostream import open_writer
from .live import LIVE_BLOCK_SECONDS, LIVE_RESAMPLE_QUALITY, BlockSink, LiveReport, denoise_live
from .pipeline import Pipeline, PipelineError
from .streaming_denoiser import is_causal

__all__ = [
    "DeviceReader",
    "DeviceReport",
    "DeviceWriter",
    "SoundDeviceError",
    "TeeSink",
    "denoise_devices",
    "import_sounddevice",
    "list_devices",
]

DeviceSpec = int | str | None
"""A PortAudio device: its index, a substring of its name, or ``None`` for the default."""


class SoundDeviceError(Exception):
    """``sounddevice`` or PortAudio is missing, or a sound card cannot be opened."""


def import_sounddevice() -> ModuleType:
    """The ``sounddevice`` module.

    Raises:
        SoundDeviceError: it is not installed, or it cannot load the PortAudio library.
    """
    try:
        import sounddevice
    except ImportError:
        raise SoundDeviceError(
            "live sound-card input and output need the sounddevice package: "
            "pip install 'audioae[live]'"
        ) from None
    except OSError as exc:  # sounddevice raises OSError when libportaudio is not found
        raise SoundDeviceError(
            f"sounddevice cannot load PortAudio ({exc}): install it, e.g. "
            "apt install libportaudio2 (Debian/Ubuntu) or brew install portaudio (macOS)"
        ) from None
    return sounddevice


def list_devices() -> str:
    """PortAudio's table of sound devices (index, name, host API, input/output channels);
    ``>`` marks the default input and ``<`` the default output.

    Raises:
        SoundDeviceError: as :func:`import_sounddevice`.
    """
    sd = import_sounddevice()
    return str(sd.query_devices())


def _device_info(sd: ModuleType, device: DeviceSpec, kind: str) -> dict[str, Any]:
    try:
        return dict(sd.query_devices(device, kind))
    except (ValueError, sd.PortAudioError) as exc:
        if device is None:
            problem = f"no default {kind} device ({exc}; PortAudio sees {len(sd.query_devices())})"
        else:
            problem = f"{kind} device {device!r}: {exc}"
        raise SoundDeviceError(f"{problem}; audioae live --list-devices lists them") from None


class DeviceReader:
    """Blocks ``(channels, n)`` float32 from a started PortAudio input stream.

    :meth:`read` blocks until the sound card has delivered ``frames`` frames; with
    ``max_frames`` it returns fewer once that many have been read (the end of the stream).
    ``overflows`` counts reads whose input had overflowed (samples the card dropped because
    they were not read in time). NaN or infinite samples (a broken driver) are set to 0 and
    counted in ``non_finite``: one would otherwise stay in the causal model's state for the
    rest of the stream.
    """

    def __init__(self, stream: Any, channels: int, max_frames: int | None = None) -> None:
        self.stream, self.channels, self.max_frames = stream, channels, max_frames
        self.frames = 0
        self.overflows = 0
        self.non_finite = 0

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames ``(channels, n)``; ``n < frames`` only at ``max_frames``."""
        if self.max_frames is not None:
            frames = max(0, min(frames, self.max_frames - self.frames))
        if frames == 0:
            return np.zeros((self.channels, 0), np.float32)
        data, overflowed = self.stream.read(frames)  # (frames, channels)
        self.overflows += bool(overflowed)
        self.frames += frames
        block = np.ascontiguousarray(np.asarray(data, np.float32).T)
        bad = ~np.isfinite(block)
        if bad.any():
            self.non_finite += int(np.count_nonzero(bad))
            block[bad] = 0.0
        return block


class DeviceWriter:
    """Writes blocks ``(channels, n)`` to a started PortAudio output stream (blocking).

    Samples outside [-1, 1] are clipped (counted in ``clipped``); ``underflows`` counts writes
    after which the card had run out of samples (a gap heard as a click).
    """

    def __init__(self, stream: Any, channels: int) -> None:
        self.stream, self.channels = stream, channels
        self.written = 0
        self.clipped = 0
        self.underflows = 0

    def write(self, block: np.ndarray) -> None:
        """Play ``block`` ``(channels, n)`` after what was written before."""
        data = np.asarray(block, np.float32)
        if data.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got a block {data.shape}")
        if data.shape[1] == 0:
            return
        over = np.abs(data) > 1.0
        if over.any():
            self.clipped += int(np.count_nonzero(over))
            data = np.clip(data, -1.0, 1.0)
        self.underflows += bool(self.stream.write(np.ascontiguousarray(data.T)))
        self.written += data.shape[1]


class TeeSink:
    """Writes every block to each of ``sinks`` in turn (a loudspeaker and a file)."""

    def __init__(self, sinks: list[BlockSink]) -> None:
        self.sinks = sinks

    def write(self, block: np.ndarray) -> None:
        for sink in self.sinks:
            sink.write(block)


@dataclass
class DeviceReport:
    """What a sound-card run did.

    Attributes:
        live: the stream's :class:`~audioae.live.LiveReport` (frames, algorithmic latency,
            processing time per block, Ctrl-C).
        input_name, output_name: the devices' names (``output_name`` empty without playback).
        lead_in_frames: frames of silence played before the first denoised sample.
        device_latency_seconds: PortAudio's estimate of the input plus output latency (s).
        overflows, underflows: input reads that had overflowed, output writes that underflowed.
        clipped: played samples clipped to [-1, 1].
        non_finite: NaN or infinite input samples, set to 0.
    """

    live: LiveReport
    input_name: str
    output_name: str
    lead_in_frames: int
    device_latency_seconds: float
    overflows: int = 0
    underflows: int = 0
    clipped: int = 0
    non_finite: int = 0

    @property
    def heard_latency_seconds(self) -> float:
        """From the microphone to the loudspeaker (s): the lead-in plus the sound cards'."""
        return self.lead_in_frames / self.live.sample_rate + self.device_latency_seconds

    def summary(self) -> str:
        """One line: the stream's summary plus the sound cards' misses."""
        misses = f"; {self.overflows} input overflows, {self.underflows} output underflows"
        clipped = f"; {self.clipped} samples clipped" if self.clipped else ""
        bad = f"; {self.non_finite} NaN/Inf input samples set to 0" if self.non_finite else ""
        return self.live.summary() + misses + clipped + bad


def _lead_in(report: LiveReport) -> int:
    """Silence to play first: the stream's algorithmic latency plus one block (frames)."""
    return math.ceil(report.latency_seconds * report.sample_rate) + report.block_frames


def denoise_devices(
    pipe: Pipeline,
    *,
    input_device: DeviceSpec = None,
    output_device: DeviceSpec = None,
    play: bool = True,
    record: str | os.PathLike | None = None,
    record_subtype: str = "PCM_16",
    overwrite: bool = False,
    sample_rate: int | None = None,
    channels: int = 1,
    duration: float | None = None,
    wet: float = 1.0,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
    block_seconds: float = LIVE_BLOCK_SECONDS,
    resample_quality: str = LIVE_RESAMPLE_QUALITY,
    duplex: bool = False,
    on_start: Callable[[DeviceReport], None] | None = None,
) -> DeviceReport:
    """Denoise a sound card's input live with a causal model; play it and/or record it.

    Runs until ``duration`` seconds have been read or Ctrl-C (what arrived is denoised,
    played and recorded, and the recording is kept).

    Args:
        pipe: a pipeline holding a causal mask model (``denoise_stream``).
        input_device, output_device: PortAudio devices (index or name substring; ``None``:
            the system's default).
        play: play the denoised stream on ``output_device``.
        record: also write the denoised stream to this audio file (atomically; the recorded
            samples are aligned with the input, without the playback's lead-in).
        record_subtype: the file's sample format (libsndfile subtype).
        overwrite: replace an existing ``record`` file.
        sample_rate: the sound card's rate (Hz); default: the input device's default rate.
            Resampled to the model's and back when different.
        channels: input channels, each denoised on its own (and played on as many).
        duration: stop after this many seconds of input (s); ``None``: until Ctrl-C.
        wet, mask_exponent, post_filter, block_seconds, resample_quality: as in
            :func:`audioae.live.denoise_live`.
        duplex: open the input and output as one full-duplex PortAudio stream (one clock, so
            no drift between them); needs ``play``.
        on_start: called with the report (latencies known, nothing processed) when the
            streams start.

    Returns:
        A :class:`DeviceReport`.

    Raises:
        SoundDeviceError: ``sounddevice``/PortAudio missing, an unknown device, or settings
            the device refuses (rate, channels).
        ValueError: neither ``play`` nor ``record``, ``duplex`` without ``play``,
            ``duration <= 0``, or as
            :func:`~audioae.live.denoise_live`.
        OutputExistsError: ``record`` exists and ``overwrite`` is false.
        PipelineError: the model is not causal or not a denoiser.
    """
    if not play and record is None:
        raise ValueError("nothing to do: play is off and no record file is given")
    if duplex and not play:
        raise ValueError("a duplex stream plays what it records: duplex needs play")
    if duration is not None and not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if not is_causal(pipe):  # before any device or file is opened
        raise PipelineError(
            "live denoising needs a causal model (model.causal: true, e.g. the shipped "
            "denoise_stream); this model looks ahead"
        )
    sd = import_sounddevice()
    info_in = _device_info(sd, input_device, "input")
    info_out = _device_info(sd, output_device, "output") if play else {"name": ""}
    rate = int(sample_rate or round(float(info_in["default_samplerate"])))
    max_frames = None if duration is None else max(1, round(duration * rate))
    with contextlib.ExitStack() as stack:
        try:  # opened stopped; started in ``started`` below, closed (and stopped) on exit
            if duplex:
                source_stream = sink_stream = sd.Stream(
                    samplerate=rate,
                    channels=channels,
                    dtype="float32",
                    device=(input_device, output_device),
                )
            else:
                source_stream = sd.InputStream(
                    samplerate=rate, channels=channels, dtype="float32", device=input_device
                )
            stack.callback(source_stream.close)
            sink_stream = source_stream if duplex else None
            if play and not duplex:
                sink_stream = sd.OutputStream(
                    samplerate=rate, channels=channels, dtype="float32", device=output_device
                )
                stack.callback(sink_stream.close)
        except (ValueError, sd.PortAudioError) as exc:
            raise SoundDeviceError(
                f"cannot open {info_in['name']!r}"
                + (f" -> {info_out['name']!r}" if play else "")
                + (" as one duplex stream" if duplex else "")
                + f" at {rate} Hz with {channels} channel(s): {exc}"
            ) from None
        reader = DeviceReader(source_stream, channels, max_frames)
        speaker = DeviceWriter(sink_stream, channels) if sink_stream is not None else None
        sinks: list[BlockSink] = [speaker] if speaker is not None else []
        if record is not None:
            sinks.append(
                stack.enter_context(
                    open_writer(record, rate, channels, subtype=record_subtype, overwrite=overwrite)
                )
            )
        if duplex:  # a duplex stream's latency is the pair (input, output)
            device_latency = float(sum(source_stream.latency))
        else:
            device_latency = float(source_stream.latency) + (
                float(sink_stream.latency) if sink_stream is not None else 0.0
            )
        result: dict[str, DeviceReport] = {}

        def started(live: LiveReport) -> None:
            result["report"] = report = DeviceReport(
                live,
                str(info_in["name"]),
                str(info_out["name"]),
                _lead_in(live) if speaker is not None else 0,
                device_latency,
            )
            # The input starts first: while the lead-in is written (a blocking write returns
            # once the output's buffer has room, so part of it may already have played), the
            # microphone's samples wait in the input's buffer, and what was written but not
            # yet played plus what waits to be read stays one lead-in long.
            source_stream.start()
            if sink_stream is not None and speaker is not None:
                if sink_stream is not source_stream:
                    sink_stream.start()
                speaker.write(np.zeros((channels, report.lead_in_frames), np.float32))
                speaker.written = speaker.underflows = 0  # count from the denoised samples on
            if on_start is not None:
                on_start(report)

        live = denoise_live(
            pipe,
            reader,
            TeeSink(sinks),
            sample_rate=rate,
            channels=channels,
            wet=wet,
            mask_exponent=mask_exponent,
            post_filter=post_filter,
            block_seconds=block_seconds,
            resample_quality=resample_quality,
            on_start=started,
        )
        report = result["report"]
        report.live = live
        report.overflows, report.non_finite = reader.overflows, reader.non_finite
        if speaker is not None:
            report.underflows, report.clipped = speaker.underflows, speaker.clipped
        return report
