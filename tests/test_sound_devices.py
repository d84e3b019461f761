"""Live denoising from a sound card (``audioae.sound_devices``, ``audioae live``).

Most tests use a fake ``sounddevice`` module that serves a prepared signal in blocking reads
and keeps what is played; everything between the streams and the files is the real code. One
test runs the command in a fresh process through the real sounddevice, PortAudio and ALSA,
with a virtual sound card made of two files (skipped where PortAudio or ALSA is missing). What
is recorded must equal offline denoising with the same causal model (at the model's rate) or
the pipe-based live stream (at another rate); what is played must be the same samples after
the stated lead-in of silence."""

import io
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tone_in_noise

from audioae.cli import main
from audioae.live import RawPCMReader, RawPCMWriter, denoise_live
from audioae.pipeline import Pipeline, PipelineError
from audioae.sound_devices import (
    DeviceReader,
    SoundDeviceError,
    denoise_devices,
    import_sounddevice,
    list_devices,
)

TOLERANCE = 1e-5  # max abs difference (full scale 1.0), float files at the model's rate


class FakePortAudioError(Exception):
    pass


class FakeSoundDevice(types.ModuleType):
    """The parts of ``sounddevice`` audioae uses: one input device serving ``signal``
    ``(channels, n)`` and one output device keeping what is written (blocking I/O)."""

    PortAudioError = FakePortAudioError

    def __init__(self, signal: np.ndarray, rate: int, *, overflow_at=(), interrupt_at=None):
        super().__init__("sounddevice")
        self.signal, self.rate = signal, rate
        self.overflow_at, self.interrupt_at = set(overflow_at), interrupt_at
        self.played: list[np.ndarray] = []
        self.events: list[str] = []
        self.opened: list[dict] = []
        fake = self

        class _Stream:
            latency = 0.01

            def __init__(self, samplerate, channels, dtype, device):
                if device not in (None, 0, 1, "Fake"):
                    raise FakePortAudioError(f"no such device {device!r}")
                if channels > 2:
                    raise FakePortAudioError("Invalid number of channels")
                self.samplerate, self.channels, self.pos, self.reads = samplerate, channels, 0, 0
                fake.opened.append({"kind": type(self).__name__, "samplerate": samplerate})

            def start(self):
                fake.events.append(f"start {type(self).__name__}")

            def close(self):
                fake.events.append(f"close {type(self).__name__}")

        class InputStream(_Stream):
            def read(self, frames):
                self.reads += 1
                if self.reads == fake.interrupt_at:
                    raise KeyboardInterrupt
                block = fake.signal[:, self.pos : self.pos + frames]
                block = np.pad(block, ((0, 0), (0, frames - block.shape[1])))
                self.pos += frames
                return block.T.astype(np.float32), self.reads in fake.overflow_at

        class OutputStream(_Stream):
            def write(self, data):
                assert data.flags["C_CONTIGUOUS"] and data.dtype == np.float32
                fake.played.append(data.T.copy())
                return False

        class Stream(InputStream, OutputStream):
            """Full duplex: ``device`` is the pair (input, output); ``latency`` too."""

            latency = (0.004, 0.006)

            def __init__(self, samplerate, channels, dtype, device):
                if not (isinstance(device, tuple) and len(device) == 2):
                    raise FakePortAudioError(f"a duplex stream needs two devices, not {device!r}")
                for one in device:
                    super().__init__(samplerate, channels, dtype, one)
                fake.opened[-2:] = [{"kind": "Stream", "samplerate": samplerate}]

        self.InputStream, self.OutputStream, self.Stream = InputStream, OutputStream, Stream

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return "> 0 Fake mic, ALSA (2 in, 0 out)\n< 1 Fake speaker, ALSA (0 in, 2 out)"
        if device not in (None, 0, 1, "Fake"):
            raise ValueError(f"No {kind} device matching {device!r}")
        name = "Fake mic" if kind == "input" else "Fake speaker"
        return {"name": name, "default_samplerate": float(self.rate)}

    def played_signal(self) -> np.ndarray:
        return np.concatenate(self.played, axis=1)


_signal = tone_in_noise


def _pipe_stream(causal_pipe, x: np.ndarray, rate: int):
    """``x (channels, n)`` through the pipe-based live stream (float PCM in and out): its
    report and output, what a sound-card run at ``rate`` must record."""
    pcm, out = io.BytesIO(), io.BytesIO()
    RawPCMWriter(pcm, x.shape[0], "f32le").write(x)
    report = denoise_live(
        causal_pipe,
        RawPCMReader(io.BytesIO(pcm.getvalue()), x.shape[0], "f32le"),
        RawPCMWriter(out, x.shape[0], "f32le"),
        sample_rate=rate,
        channels=x.shape[0],
    )
    return report, RawPCMReader(io.BytesIO(out.getvalue()), x.shape[0], "f32le").read(10**7)


def _install(monkeypatch, fake) -> FakeSoundDevice:
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


@pytest.mark.parametrize("channels", [1, 2])
def test_recorded_and_played_sound_equal_offline_denoising(
    causal_pipe, tmp_path, monkeypatch, channels
):
    rate = causal_pipe.sample_rate
    x = _signal(rate, 1.2, channels)
    fake = _install(monkeypatch, FakeSoundDevice(x, rate))
    out = tmp_path / "clean.wav"
    report = denoise_devices(
        causal_pipe,
        record=out,
        record_subtype="FLOAT",
        channels=channels,
        duration=x.shape[1] / rate,
    )
    recorded, sr = sf.read(out, dtype="float32", always_2d=True)
    offline = causal_pipe.denoise(torch.from_numpy(x)).numpy()
    assert sr == rate and recorded.T.shape == x.shape
    assert np.abs(recorded.T - offline).max() < TOLERANCE
    played = fake.played_signal()
    lead = report.lead_in_frames
    live = report.live
    assert lead == int(np.ceil(live.latency_seconds * rate)) + live.block_frames
    assert played.shape == (channels, lead + x.shape[1])
    assert not played[:, :lead].any()
    assert np.abs(played[:, lead:] - offline).max() < TOLERANCE
    # the input starts before the output's lead-in is written (none of it is lost), both close
    assert fake.events[:2] == ["start InputStream", "start OutputStream"]
    assert sorted(fake.events[2:]) == ["close InputStream", "close OutputStream"]
    assert report.heard_latency_seconds == pytest.approx(lead / rate + 0.02)
    assert report.overflows == report.underflows == 0


def test_a_duplex_stream_reads_and_plays_on_one_stream(causal_pipe, tmp_path, monkeypatch):
    rate = causal_pipe.sample_rate
    x = _signal(rate, 1.0, 1, seed=2)
    fake = _install(monkeypatch, FakeSoundDevice(x, rate))
    out = tmp_path / "clean.wav"
    report = denoise_devices(
        causal_pipe, record=out, record_subtype="FLOAT", duration=x.shape[1] / rate, duplex=True
    )
    assert fake.opened == [{"kind": "Stream", "samplerate": rate}]
    assert fake.events == ["start Stream", "close Stream"]  # started once, closed once
    offline = causal_pipe.denoise(torch.from_numpy(x)).numpy()
    recorded, _ = sf.read(out, dtype="float32", always_2d=True)
    assert np.abs(recorded.T - offline).max() < TOLERANCE
    played, lead = fake.played_signal(), report.lead_in_frames
    assert played.shape == (1, lead + x.shape[1]) and not played[:, :lead].any()
    assert np.abs(played[:, lead:] - offline).max() < TOLERANCE
    assert report.device_latency_seconds == pytest.approx(0.01)  # input + output
    with pytest.raises(ValueError, match="duplex needs play"):
        denoise_devices(causal_pipe, record=out, overwrite=True, play=False, duplex=True)


def test_at_the_devices_default_rate_it_equals_the_pipe_stream(causal_pipe, tmp_path, monkeypatch):
    rate = 48000  # the fake devices' default; the model runs at 16 kHz
    x = _signal(rate, 0.9, 1, seed=1)
    fake = _install(monkeypatch, FakeSoundDevice(x, rate))
    out = tmp_path / "clean.wav"
    report = denoise_devices(
        causal_pipe, record=out, record_subtype="FLOAT", play=False, duration=x.shape[1] / rate
    )
    assert fake.opened == [{"kind": "InputStream", "samplerate": rate}]  # no output stream
    recorded, sr = sf.read(out, dtype="float32", always_2d=True)
    _, want = _pipe_stream(causal_pipe, x, rate)
    assert sr == rate and recorded.T.shape == x.shape == want.shape
    assert np.abs(recorded.T - want).max() < 1e-6
    assert report.lead_in_frames == 0 and report.output_name == ""


def test_ctrl_c_keeps_the_recording_of_what_arrived(causal_pipe, tmp_path, monkeypatch):
    rate = causal_pipe.sample_rate
    x = _signal(rate, 2.0, 1)
    _install(monkeypatch, FakeSoundDevice(x, rate, overflow_at={2}, interrupt_at=5))
    out = tmp_path / "clean.wav"
    report = denoise_devices(causal_pipe, record=out, record_subtype="FLOAT")  # no duration
    kept = 4 * report.live.block_frames
    recorded, _ = sf.read(out, dtype="float32", always_2d=True)
    assert report.live.interrupted and recorded.shape == (kept, 1)
    offline = causal_pipe.denoise(torch.from_numpy(x[:, :kept])).numpy()
    assert np.abs(recorded.T - offline).max() < TOLERANCE
    assert report.overflows == 1
    assert "1 input overflows, 0 output underflows" in report.summary()


def test_reader_zeroes_and_counts_non_finite_samples():
    class Stream:
        def read(self, frames):
            data = np.full((frames, 1), 0.25, np.float32)
            data[1, 0], data[3, 0] = np.nan, np.inf
            return data, False

    reader = DeviceReader(Stream(), channels=1)
    np.testing.assert_array_equal(reader.read(4), [[0.25, 0.0, 0.25, 0.0]])
    assert reader.non_finite == 2


def test_reader_stops_at_max_frames_and_counts_overflows():
    class Stream:
        def read(self, frames):
            return np.ones((frames, 2), np.float32), True

    reader = DeviceReader(Stream(), channels=2, max_frames=5)
    assert reader.read(3).shape == (2, 3) and reader.read(3).shape == (2, 2)
    assert reader.read(3).shape == (2, 0) and reader.overflows == 2 and reader.frames == 5


def test_refusals(causal_models, causal_pipe, monkeypatch):
    rate = causal_pipe.sample_rate
    _install(monkeypatch, FakeSoundDevice(_signal(rate, 0.5, 1), rate))
    with pytest.raises(ValueError, match="nothing to do"):
        denoise_devices(causal_pipe, play=False)
    with pytest.raises(ValueError, match="duration must be > 0"):
        denoise_devices(causal_pipe, duration=0)
    with pytest.raises(SoundDeviceError, match=r"input device 'USB': No input device matching"):
        denoise_devices(causal_pipe, input_device="USB", duration=0.1)
    with pytest.raises(SoundDeviceError, match=r"cannot open 'Fake mic'.*3 channel\(s\)"):
        denoise_devices(causal_pipe, channels=3, duration=0.1)
    offline = Pipeline.load(causal_models["offline"], device="cpu")
    with pytest.raises(PipelineError, match="needs a causal model"):
        denoise_devices(offline, duration=0.1)


def test_a_missing_sounddevice_gets_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    with pytest.raises(SoundDeviceError, match=r"pip install 'audioae\[live\]'"):
        import_sounddevice()


def test_a_missing_portaudio_gets_an_install_hint(monkeypatch):
    real_import = __import__

    def fail_on_sounddevice(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr("builtins.__import__", fail_on_sounddevice)
    with pytest.raises(SoundDeviceError, match=r"cannot load PortAudio .*libportaudio2"):
        import_sounddevice()


def test_the_real_sounddevice_on_a_machine_without_sound_devices(causal_pipe):
    try:
        sd = import_sounddevice()
    except SoundDeviceError as exc:
        pytest.skip(f"no usable sounddevice here: {exc}")
    if len(sd.query_devices()):
        pytest.skip("this machine has sound devices")
    assert list_devices() == ""
    with pytest.raises(SoundDeviceError, match="no default input device .*PortAudio sees 0"):
        denoise_devices(causal_pipe, duration=0.1)


# --- the command -----------------------------------------------------------------------------


def test_cli_records_without_playing(causal_models, causal_pipe, tmp_path, monkeypatch, capsys):
    rate = causal_pipe.sample_rate
    x = _signal(rate, 0.7, 1)
    _install(monkeypatch, FakeSoundDevice(x, rate))
    out = tmp_path / "take.wav"
    argv = ["live", str(causal_models["causal"]), "--no-play", "--record", str(out)]
    assert main([*argv, "--duration", "0.7", "--pcm", "f32le", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"live: 'Fake mic' at 16000 Hz, 1 channel(s) -> {out}; blocks of 16 ms; latency" in err
    assert re.search(r"latency \d+ ms \(denoiser and resamplers\); 0.7 s\n", err)
    recorded, _ = sf.read(out, dtype="float32", always_2d=True)
    offline = causal_pipe.denoise(torch.from_numpy(x)).numpy()
    assert np.abs(recorded.T - offline).max() < TOLERANCE
    # an existing recording is never overwritten without --force
    before = out.read_bytes()
    assert main([*argv, "--duration", "0.2"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before


def test_cli_lists_devices_and_refuses_what_cannot_run(causal_models, monkeypatch, capsys):
    _install(monkeypatch, FakeSoundDevice(_signal(16000, 0.2, 1), 16000))
    assert main(["live", "--list-devices"]) == 0
    assert "Fake speaker" in capsys.readouterr().out
    cases = [
        (["live"], "give a causal denoising model"),
        (["live", str(causal_models["causal"]), "--no-play"], "--no-play without --record"),
        (
            ["live", str(causal_models["causal"]), "--no-play", "--record", "x.wav", "--duplex"],
            "cannot go with --no-play",
        ),
        (["live", str(causal_models["offline"]), "--duration", "0.1"], "needs a causal model"),
        (["live", str(causal_models["causal"]), "--input-device", "USB"], "input device 'USB'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("audioae: error:") and message in err


# --- a real PortAudio stream -----------------------------------------------------------------


def _alsa_file_env(home, infile, outfile) -> dict:
    """An environment whose ALSA default device captures from ``infile`` and plays into
    ``outfile`` (raw samples in the stream's format: ALSA's ``file`` plugin over ``null``, one
    for each direction, joined by ``asym``). PortAudio reads ``~/.asoundrc`` when it starts,
    so the file is given through HOME to a fresh process."""
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.mic {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
        f'  infile "{infile}"\n  format "raw"\n}}\n'
        f'pcm.speaker {{\n  type file\n  slave.pcm "null"\n  file "{outfile}"\n'
        '  format "raw"\n}\n'
        'pcm.!default {\n  type asym\n  capture.pcm "mic"\n  playback.pcm "speaker"\n}\n'
    )
    return {**os.environ, "HOME": str(home)}


@pytest.mark.parametrize("rate, duplex", [(16000, False), (48000, False), (16000, True)])
def test_through_real_portaudio_and_alsa(causal_models, causal_pipe, tmp_path, rate, duplex):
    """The command end to end in a fresh process, through sounddevice, PortAudio and ALSA (a
    virtual sound card made of two files), with two streams or one duplex stream: the
    recording equals the pipe-based live stream (offline denoising at the model's 16 kHz),
    and what was played is the stated lead-in of silence, then the same samples."""
    x = tone_in_noise(rate, 1.0, 1, seed=3)
    infile, outfile = tmp_path / "mic.raw", tmp_path / "speaker.raw"
    x[0].astype("<f4").tofile(infile)
    env = _alsa_file_env(tmp_path / "home", infile, outfile)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sounddevice as sd; d = sd.query_devices(kind='input'); "
            "print(sd.query_hostapis(d['hostapi'])['name'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "ALSA":
        pytest.skip(f"no sounddevice with PortAudio's ALSA host here: {probe.stderr[-200:]}")
    out = tmp_path / "take.wav"
    argv = [
        sys.executable,
        "-m",
        "audioae",
        "live",
        str(causal_models["causal"]),
        "--device",
        "cpu",
    ]
    argv += ["--record", str(out), "--pcm", "f32le", "--duration", "1", "--sample-rate", str(rate)]
    run = subprocess.run(
        argv + ["--duplex"] * duplex, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    where = f"'default' at {rate} Hz, 1 channel(s) -> 'default' and {out}"
    assert where + " (one duplex stream)" * duplex + ";" in run.stderr
    recorded, sr = sf.read(out, dtype="float32", always_2d=True)
    report, want = _pipe_stream(causal_pipe, x, rate)
    assert sr == rate and recorded.T.shape == x.shape == want.shape
    assert np.abs(recorded.T - want).max() < TOLERANCE
    if rate == causal_pipe.sample_rate:
        assert np.abs(want - causal_pipe.denoise(torch.from_numpy(x)).numpy()).max() < TOLERANCE
    played = np.fromfile(outfile, "<f4")
    lead = int(np.ceil(report.latency_seconds * rate)) + report.block_frames
    assert played.size > lead + rate // 2  # PortAudio may drop the last buffer on close
    assert not played[:lead].any()
    n = min(played.size - lead, x.shape[1])
    assert np.abs(played[lead : lead + n] - want[0, :n]).max() < TOLERANCE
