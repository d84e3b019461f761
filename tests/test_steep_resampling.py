"""The steep resampling filter and ``audio.resampler``: what reaches a model, in every path."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import CAUSAL_MASK_MODEL, tiny_model_file

from audioae.apps import denoise_file, load_for_model
from audioae.audio import resample
from audioae.audiostream import ResampledReader, StreamResampler
from audioae.clips import FileClips
from audioae.config import ConfigError, load_config
from audioae.dataindex import index_folder
from audioae.live import RawPCMReader, RawPCMWriter, denoise_live
from audioae.pipeline import Pipeline
from audioae.streaming import denoise_file_streaming

CAUSAL = CAUSAL_MASK_MODEL


def _tone(hz: float, rate: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.tile(0.4 * np.sin(2 * np.pi * hz * t), (channels, 1)).astype(np.float32)


def _level_db(x, ref) -> float:
    """Level of ``x`` against ``ref`` (dB), 2000 edge samples of ``x`` left out."""
    x = np.asarray(x)[..., 2000:-2000]
    return float(10 * np.log10(np.mean(x**2) / np.mean(np.asarray(ref) ** 2) + 1e-30))


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    root = tmp_path_factory.mktemp("steep_models")
    return {
        name: Pipeline.load(
            tiny_model_file(root / f"{name}.safetensors", [*CAUSAL, f"audio.resampler={name}"]),
            device="cpu",
        )
        for name in ("hq", "steep")
    }


def test_the_steep_filter_keeps_the_top_band_and_aliases_nothing() -> None:
    x = torch.from_numpy(_tone(7850.0, 48000))
    assert _level_db(resample(x, 48000, 16000, steep=True), x) > -0.5
    assert _level_db(resample(x, 48000, 16000), x) < -25.0  # HQ: gone
    above = torch.from_numpy(_tone(8300.0, 48000))  # would fold onto 7.7 kHz
    assert _level_db(resample(above, 48000, 16000, steep=True), above) < -100.0
    # upwards too: a 7.85 kHz tone at 16 kHz reaches 44.1 kHz whole
    y = torch.from_numpy(_tone(7850.0, 16000))
    assert _level_db(resample(y, 16000, 44100, steep=True), y) > -0.5
    assert resample(y.double(), 16000, 44100, steep=True).dtype == torch.float64


@pytest.mark.parametrize("quality", ["HQ", "LQ"])
def test_the_stream_resampler_equals_one_shot_resampling_with_the_steep_filter(quality) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 44100)).astype(np.float32)
    stream = StreamResampler(44100, 16000, 2, quality, steep=True)
    pieces = [stream(x[:, i : i + 1000]) for i in range(0, x.shape[1], 1000)]
    pieces.append(stream(np.zeros((2, 0), np.float32), last=True))
    y = np.concatenate(pieces, axis=1)
    assert y.shape == (2, 16000)
    if quality == "HQ":
        one_shot = resample(torch.from_numpy(x), 44100, 16000, steep=True).numpy()
        assert np.abs(y - one_shot).max() < 1e-5
    assert stream.delay() == 0.0  # flushed
    tone = _tone(7850.0, 48000)
    lq = StreamResampler(48000, 16000, 1, quality, steep=True)
    out = np.concatenate([lq(tone), lq(np.zeros((1, 0), np.float32), last=True)], axis=1)
    assert _level_db(out, tone) > -1.0


def test_audio_resampler_is_checked() -> None:
    assert load_config(None, ["audio.resampler=steep"]).audio.resampler == "steep"
    with pytest.raises(ConfigError, match="audio.resampler.*hq, steep"):
        load_config(None, ["audio.resampler=sinc"])


def test_file_jobs_bring_a_file_to_the_model_with_its_filter(pipes, tmp_path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(7850.0, 48000).T, 48000, subtype="FLOAT")
    ref = _tone(7850.0, 48000)
    wav_hq, rate, length = load_for_model(pipes["hq"], path)
    wav_steep, _, _ = load_for_model(pipes["steep"], path)
    assert (rate, length) == (48000, 48000) and wav_steep.shape == wav_hq.shape == (1, 16000)
    assert pipes["steep"].steep_resampling and not pipes["hq"].steep_resampling
    assert _level_db(wav_steep, ref) > -0.5
    assert _level_db(wav_hq, ref) < -25.0
    # the whole file job: the output of a model that passes the band keeps it at 48 kHz
    for name, pipe in pipes.items():
        out = denoise_file(pipe, path, tmp_path / f"out_{name}.wav", wet=0.0)
        back, out_rate = sf.read(out, dtype="float32")
        assert out_rate == 48000 and back.shape == (48000,)
        if name == "steep":
            assert _level_db(back, ref) > -1.0  # dry: the input through both resamplers
        else:
            assert _level_db(back, ref) < -25.0


def test_streaming_file_jobs_use_the_same_filter(pipes, tmp_path) -> None:
    path = tmp_path / "tone.wav"
    x = _tone(7850.0, 48000, seconds=2.0)
    sf.write(path, x.T, 48000, subtype="FLOAT")
    for name, pipe in pipes.items():
        reader = ResampledReader(path, 16000, steep=pipe.steep_resampling)
        piece = reader.window(0, reader.total)
        offline, _, _ = load_for_model(pipe, path)
        assert np.abs(piece - offline.numpy()).max() < 1e-5
        out = denoise_file_streaming(pipe, path, tmp_path / f"s_{name}.wav", wet=0.0)
        back, _ = sf.read(out, dtype="float32")
        level = _level_db(back, x)
        assert level > -1.0 if name == "steep" else level < -25.0


def test_live_denoising_uses_the_models_filter(pipes) -> None:
    x = _tone(7850.0, 48000, seconds=1.0)
    buf = io.BytesIO(np.ascontiguousarray(x.T).astype("<f4").tobytes())
    out = io.BytesIO()
    pipe = pipes["steep"]
    denoise_live(
        pipe,
        RawPCMReader(buf, 1, "f32le"),
        RawPCMWriter(out, 1, "f32le"),
        sample_rate=48000,
        channels=1,
        wet=0.0,
    )
    y = np.frombuffer(out.getvalue(), "<f4")
    assert y.shape == (48000,)
    assert _level_db(y[4000:], x) > -1.5  # the dry path keeps the 7.85 kHz tone


def test_training_crops_are_resampled_with_the_configured_filter(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    x = _tone(7850.0, 48000, seconds=2.0)
    sf.write(folder / "tone.wav", x.T, 48000)
    index = index_folder(folder)
    crops = {
        steep: FileClips(index, [0], 16000, steep=steep).read(0, 8000, 16000)
        for steep in (False, True)
    }
    assert _level_db(crops[True].numpy(), x) > -0.5
    assert _level_db(crops[False].numpy(), x) < -25.0
