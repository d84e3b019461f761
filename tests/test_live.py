"""Live denoising (``audioae.live``, ``audioae denoise MODEL - -o -``): raw PCM in and out, output
equal to whole-signal denoising with the same causal model (resampled to the model's rate and
back at other rates), aligned and as long as the input; Ctrl-C ends the stream and keeps what
arrived; bad streams, look-ahead models and closed pipes get one clear line."""

import io
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from conftest import tone_in_noise

from audioae.audio import AudioError
from audioae.cli import main
from audioae.live import LiveReport, RawPCMReader, RawPCMWriter, denoise_live
from audioae.pipeline import Pipeline, PipelineError

TOLERANCE = 1e-5  # max abs difference (full scale 1.0), float PCM at the model's rate


class Trickle(io.RawIOBase):
    """A pipe that delivers at most ``step`` bytes per read, as a real one may."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(self.step, len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


_signal = tone_in_noise


def _run(causal_pipe, x: np.ndarray, sample_rate: int, pcm: str = "f32le", **kwargs):
    reader = RawPCMReader(io.BytesIO(_pcm_bytes(x, pcm)), x.shape[0], pcm)
    out = io.BytesIO()
    report = denoise_live(
        causal_pipe,
        reader,
        RawPCMWriter(out, x.shape[0], pcm),
        sample_rate=sample_rate,
        channels=x.shape[0],
        **kwargs,
    )
    return report, _from_bytes(out.getvalue(), x.shape[0], pcm)


def _pcm_bytes(x: np.ndarray, pcm: str) -> bytes:
    out = io.BytesIO()
    RawPCMWriter(out, x.shape[0], pcm).write(x)
    return out.getvalue()


def _from_bytes(data: bytes, channels: int, pcm: str) -> np.ndarray:
    return RawPCMReader(io.BytesIO(data), channels, pcm).read(len(data))


# --- raw PCM -------------------------------------------------------------------------------


def test_reader_scales_integers_and_waits_for_full_blocks():
    frames = np.array([[0, 1], [-32768, 32767], [16384, -16384]], "<i2")  # (frames, channels)
    reader = RawPCMReader(Trickle(frames.tobytes(), step=3), channels=2, pcm="s16le")
    first = reader.read(2)
    assert first.shape == (2, 2)  # a full block although the pipe gave 3 bytes at a time
    np.testing.assert_array_equal(first, [[0.0, -1.0], [1 / 32768, 32767 / 32768]])
    last = reader.read(2)
    assert last.shape == (2, 1) and reader.read(2).shape == (2, 0)
    np.testing.assert_array_equal(last[:, 0], [0.5, -0.5])


def test_reader_drops_a_partial_last_frame_and_refuses_non_finite_floats(caplog):
    """A stream cut inside a frame (a recorder killed mid-write) keeps its whole frames, with
    a warning; before, the error threw away everything the command had processed."""
    reader = RawPCMReader(io.BytesIO(b"\0" * 6), channels=2, pcm="s16le")
    with caplog.at_level(logging.WARNING, logger="audioae"):
        assert reader.read(10).shape == (2, 1)
    assert reader.dropped_bytes == 2 and reader.read(10).shape == (2, 0)
    assert "stdin: the stream ended inside a frame (2 trailing byte(s) dropped" in caplog.text
    bad = np.array([0.1, np.nan], "<f4").tobytes()
    with pytest.raises(AudioError, match="NaN or Inf"):
        RawPCMReader(io.BytesIO(bad), channels=1, pcm="f32le").read(4)
    with pytest.raises(ValueError, match="pcm"):
        RawPCMReader(io.BytesIO(b""), channels=1, pcm="u8")


@pytest.mark.parametrize("pcm, step", [("s16le", 1 / 32767), ("s32le", 1 / 2147483647)])
def test_writer_clips_and_round_trips_within_one_step(pcm, step):
    x = np.array([[0.0, 0.25, -0.7, 1.5, -2.0]])
    out = io.BytesIO()
    writer = RawPCMWriter(out, 1, pcm)
    writer.write(x)
    assert writer.clipped == 2 and writer.written == 5
    back = _from_bytes(out.getvalue(), 1, pcm)[0]
    np.testing.assert_allclose(back, np.clip(x[0], -1, 1), atol=1.01 * step)


# --- the engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("channels, seconds", [(1, 1.3), (2, 0.77)])
def test_live_at_the_model_rate_equals_offline_denoising(causal_pipe, channels, seconds):
    x = _signal(causal_pipe.sample_rate, seconds, channels)
    report, y = _run(causal_pipe, x, causal_pipe.sample_rate)
    offline = causal_pipe.denoise(torch.from_numpy(x)).numpy()
    assert y.shape == x.shape and report.frames == report.written == x.shape[1]
    assert np.abs(y - offline).max() < TOLERANCE
    stream = causal_pipe.frontend.stft_params
    block = report.block_frames
    assert block % stream.hop_length == 0
    assert report.latency_seconds == pytest.approx(
        (stream.n_fft + block - stream.hop_length) / causal_pipe.sample_rate
    )
    assert len(report.block_seconds) == -(-x.shape[1] // block) + (x.shape[1] % block == 0)


@pytest.mark.parametrize("sample_rate, quality", [(44100, "LQ"), (48000, "HQ")])
def test_live_at_another_rate_equals_offline_denoising_of_the_resampled_signal(
    causal_pipe, sample_rate, quality
):
    x = _signal(sample_rate, 1.1, 1)
    report, y = _run(causal_pipe, x, sample_rate, resample_quality=quality)
    model_rate = causal_pipe.sample_rate
    down = soxr.resample(x.T, sample_rate, model_rate, quality=quality).T
    clean = causal_pipe.denoise(torch.from_numpy(np.ascontiguousarray(down))).numpy()
    expected = soxr.resample(clean.T, model_rate, sample_rate, quality=quality).T
    assert y.shape == x.shape
    n = min(expected.shape[1], x.shape[1])
    assert np.abs(y[:, :n] - expected[:, :n]).max() < 1e-4
    assert report.latency_seconds > (causal_pipe.frontend.stft_params.n_fft / model_rate)


def test_ctrl_c_ends_the_stream_and_keeps_what_arrived(causal_pipe):
    x = _signal(causal_pipe.sample_rate, 1.0, 1)

    class Interrupted:
        def __init__(self) -> None:
            self.reader = RawPCMReader(io.BytesIO(_pcm_bytes(x, "f32le")), 1, "f32le")
            self.calls = 0

        def read(self, frames):
            self.calls += 1
            if self.calls == 4:
                raise KeyboardInterrupt
            return self.reader.read(frames)

    out = io.BytesIO()
    report = denoise_live(
        causal_pipe,
        Interrupted(),
        RawPCMWriter(out, 1, "f32le"),
        sample_rate=causal_pipe.sample_rate,
        channels=1,
    )
    y = _from_bytes(out.getvalue(), 1, "f32le")
    kept = 3 * report.block_frames
    assert report.interrupted and report.frames == kept and y.shape == (1, kept)
    offline = causal_pipe.denoise(torch.from_numpy(x[:, :kept])).numpy()
    assert np.abs(y - offline).max() < TOLERANCE
    assert "stopped by Ctrl-C" in report.summary()


@pytest.mark.parametrize("signum, name", [(2, "Ctrl-C"), (15, "SIGTERM")])
def test_a_signal_while_a_block_is_processed_ends_after_that_block(causal_pipe, signum, name):
    """SIGINT or SIGTERM delivered while a block is written (not while the source is read)
    ends the run after that block, with every sample kept and flushed. Before, the Ctrl-C
    escaped the loop and `denoise - -o take.wav` lost the whole recording (SIGTERM always)."""
    import signal

    x = _signal(causal_pipe.sample_rate, 1.0, 1)

    class SignalOnThirdWrite(RawPCMWriter):
        writes = 0

        def write(self, block):
            super().write(block)
            SignalOnThirdWrite.writes += 1
            if SignalOnThirdWrite.writes == 3:
                os.kill(os.getpid(), signum)  # handled before write() returns

    out = io.BytesIO()
    before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    report = denoise_live(
        causal_pipe,
        RawPCMReader(io.BytesIO(_pcm_bytes(x, "f32le")), 1, "f32le"),
        SignalOnThirdWrite(out, 1, "f32le"),
        sample_rate=causal_pipe.sample_rate,
        channels=1,
    )
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == before  # put back
    y = _from_bytes(out.getvalue(), 1, "f32le")
    kept = 3 * report.block_frames
    assert report.interrupted and report.frames == kept and y.shape == (1, kept)
    assert f"stopped by {name}" in report.summary()
    offline = causal_pipe.denoise(torch.from_numpy(x[:, :kept])).numpy()
    assert np.abs(y - offline).max() < TOLERANCE


def test_a_second_ctrl_c_while_a_block_is_in_hand_stops_at_once(causal_pipe):
    """A stalled output must not make a live run unstoppable."""
    import signal

    x = _signal(causal_pipe.sample_rate, 1.0, 1)

    class TwoSignals(RawPCMWriter):
        def write(self, block):
            super().write(block)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        denoise_live(
            causal_pipe,
            RawPCMReader(io.BytesIO(_pcm_bytes(x, "f32le")), 1, "f32le"),
            TwoSignals(io.BytesIO(), 1, "f32le"),
            sample_rate=causal_pipe.sample_rate,
            channels=1,
        )


def test_report_counts_blocks_slower_than_real_time():
    report = LiveReport(48000, 16000, 256, 0.04, block_seconds=[0.001, 0.017, 0.002])
    assert report.late_blocks() == 1 and report.duration == 3.0
    assert "1 over the block's duration" in report.summary()


def test_live_refuses_a_model_with_look_ahead(causal_models):
    offline = Pipeline.load(causal_models["offline"], device="cpu")
    with pytest.raises(PipelineError, match="causal"):
        _run(offline, _signal(16000, 0.2, 1), 16000)


# --- the command -----------------------------------------------------------------------------


def _stdio(monkeypatch, data: bytes) -> io.BytesIO:
    """Replace stdin with ``data`` and stdout with a buffer; returns stdout's bytes buffer."""
    stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdout", stdout)
    return stdout.buffer


def test_cli_pipes_raw_pcm_through_the_model(causal_models, causal_pipe, monkeypatch, capsys):
    x = _signal(44100, 0.9, 2)
    out = _stdio(monkeypatch, _pcm_bytes(x, "s16le"))
    args = ["denoise", str(causal_models["causal"]), "-", "-o", "-", "--sample-rate", "44100"]
    assert main([*args, "--channels", "2"]) == 0
    y = _from_bytes(out.getvalue(), 2, "s16le")
    _, expected = _run(causal_pipe, _from_bytes(_pcm_bytes(x, "s16le"), 2, "s16le"), 44100)
    assert y.shape == x.shape
    assert np.abs(y - expected).max() <= 1.01 / 32767  # one step of 16-bit PCM
    err = capsys.readouterr().err
    assert "live from stdin (44100 Hz, 2 channel(s), s16le)" in err and "latency" in err


def test_cli_file_to_stdout_equals_the_file_stream_job(causal_models, tmp_path, monkeypatch):
    x = _signal(16000, 1.2, 1)
    source = tmp_path / "in.wav"
    sf.write(source, x.T, 16000, subtype="FLOAT")
    assert main(["denoise", str(causal_models["causal"]), str(source), "-o", str(tmp_path / "s.wav"),
                 "--stream", "--quiet"]) == 0  # fmt: skip
    streamed, _ = sf.read(tmp_path / "s.wav", dtype="float32", always_2d=True)
    out = _stdio(monkeypatch, b"")
    assert main(["denoise", str(causal_models["causal"]), str(source), "-o", "-", "--pcm", "f32le",
                 "--quiet"]) == 0  # fmt: skip
    y = _from_bytes(out.getvalue(), 1, "f32le")
    assert np.abs(y - streamed.T).max() < TOLERANCE


def test_cli_stdin_to_a_file_is_atomic_and_never_overwrites(
    causal_models, tmp_path, monkeypatch, capsys
):
    x = _signal(16000, 0.5, 1)
    target = tmp_path / "live.wav"
    cmd = ["denoise", str(causal_models["causal"]), "-", "-o", str(target), "--quiet"]
    _stdio(monkeypatch, _pcm_bytes(x, "s16le"))
    assert main(cmd) == 0
    y, sr = sf.read(target, dtype="float32", always_2d=True)
    assert sr == 16000 and y.shape == (x.shape[1], 1)
    assert sf.info(target).subtype == "PCM_16"
    _stdio(monkeypatch, _pcm_bytes(x, "s16le"))
    assert main(cmd) == 2
    assert "exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.wav"]  # no temporary left


@pytest.mark.parametrize(
    "extra, message",
    [
        (["x.wav"], "exactly one input"),
        (["--phase", "griffin-lim"], "noisy phase"),
    ],
)
def test_cli_live_refusals(causal_models, monkeypatch, capsys, extra, message):
    _stdio(monkeypatch, b"")
    assert main(["denoise", str(causal_models["causal"]), "-", *extra, "-o", "-"]) == 2
    assert message in capsys.readouterr().err


def test_cli_live_refuses_a_look_ahead_model_and_keeps_a_truncated_stream(
    causal_models, monkeypatch, capsys
):
    _stdio(monkeypatch, b"\0" * 100)
    assert main(["denoise", str(causal_models["offline"]), "-", "-o", "-"]) == 2
    assert "needs a causal model" in capsys.readouterr().err
    out = _stdio(monkeypatch, b"\0" * 101)  # 50.5 frames of s16le: the 50 are kept
    assert main(["denoise", str(causal_models["causal"]), "-", "-o", "-"]) == 0
    assert "stdin: the stream ended inside a frame (1 trailing byte(s) dropped" in (
        capsys.readouterr().err
    )
    assert len(out.getvalue()) == 100


def test_a_closed_reader_stops_the_command_with_one_line(causal_models, tmp_path):
    """A real pipe: the reader of stdout leaves after a few bytes (as `| head -c` would)."""
    x = _signal(16000, 30.0, 1)
    source = tmp_path / "in.raw"
    source.write_bytes(_pcm_bytes(x, "s16le"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "audioae", "denoise", str(causal_models["causal"]), "-", "-o", "-"]
    with source.open("rb") as stdin:
        proc = subprocess.Popen(
            cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        first = proc.stdout.read(1024)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert len(first) == 1024
    assert code == 1 and "stdout was closed by its reader" in err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_cli_choices_agree_with_the_engine() -> None:
    """The CLI keeps its ``--pcm`` and ``--resample-quality`` choices torch-free; they must agree."""
    from audioae.cli import live as cli_live
    from audioae.live import LIVE_RESAMPLE_QUALITY, PCM_FORMATS

    assert list(cli_live.FILE_SUBTYPES) == list(PCM_FORMATS)
    assert cli_live._DEFAULT_RESAMPLE_QUALITY == LIVE_RESAMPLE_QUALITY


def test_a_file_job_refuses_the_raw_stream_options(tmp_path, capsys):
    """Before: --resample-quality (and --sample-rate, --channels, --pcm) were ignored for
    files, so `--stream --resample-quality LQ` seemed to match the live pipe and did not."""
    x = _signal(16000, 0.5, 1)
    src = tmp_path / "a.wav"
    sf.write(src, x.T, 16000)
    for option in (["--resample-quality", "LQ"], ["--pcm", "f32le"], ["--channels", "2"]):
        args = ["denoise", "denoise_stream", str(src), "-o", str(tmp_path / "out.wav"), "--stream"]
        assert main([*args, *option]) == 2
        assert f"{option[0]}: for raw streams only" in capsys.readouterr().err
    assert not (tmp_path / "out.wav").exists()


def test_a_file_into_stdout_refuses_the_raw_input_options(causal_models, tmp_path, capsys):
    """Before: `denoise file.wav -o - --sample-rate 48000` ignored the rate without a word."""
    src = tmp_path / "a.wav"
    sf.write(src, _signal(16000, 0.5, 1).T, 16000)
    args = ["denoise", str(causal_models["causal"]), str(src), "-o", "-", "--sample-rate", "48000"]
    assert main(args) == 2
    assert "--sample-rate and --channels describe raw input on stdin" in capsys.readouterr().err
