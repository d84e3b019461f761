"""inspect.py: a folder's problems are found, listed and turned into actionable warnings."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import sine

from audioae.audio import AudioError, NoAudioFilesError
from audioae.config import ConfigError, load_config
from audioae.folder_report import inspect_folder


@pytest.fixture
def mixed_folder(tmp_path, write_audio):
    """good x2 (one stereo 22.05 kHz), silent, near-silent, clipped, corrupt, short, and a text file."""
    write_audio("good.wav", sine(440.0, 2.0))
    write_audio("sub/good stereo.flac", sine(330.0, 1.5, 22050, channels=2), 22050)
    write_audio("silent.wav", np.zeros((1, 32000), np.float32))
    write_audio("hum.wav", sine(50.0, 2.0, amplitude=1e-4), subtype="FLOAT")  # -83 dBFS
    write_audio("clipped.wav", np.clip(sine(440.0, 2.0, amplitude=1.5), -1, 1), subtype="FLOAT")
    write_audio("short.wav", sine(440.0, 0.3))
    good = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "corrupt.wav").write_bytes(good[: len(good) // 2])
    (tmp_path / "readme.txt").write_text("a text file")
    return tmp_path


def test_mixed_folder_lists_each_problem(mixed_folder):
    report = inspect_folder(
        mixed_folder, segment_seconds=1.0, batch_size=4, val_fraction=0.1, silence_db=-60.0
    )
    root = mixed_folder
    assert report.n_files == 7
    assert [p for p, _ in report.unreadable] == [root / "corrupt.wav"]
    assert "truncated" in report.unreadable[0][1]
    assert report.silent == [root / "hum.wav", root / "silent.wav"]
    assert report.clipped == [root / "clipped.wav"]
    assert report.too_short == [root / "short.wav"]
    assert report.usable == [
        root / "clipped.wav",
        root / "good.wav",
        root / "short.wav",
        root / "sub" / "good stereo.flac",
    ]
    assert report.sample_rates == {16000: 5, 22050: 1}
    assert report.channel_counts == {1: 5, 2: 1}
    assert report.ignored == {".txt": 1}
    assert report.total_duration == pytest.approx(2.0 * 4 + 1.5 + 0.3)
    stats = {f.path.name: f for f in report.files}
    assert stats["silent.wav"].rms_db == -np.inf
    assert stats["hum.wav"].rms_db == pytest.approx(20 * np.log10(1e-4 / np.sqrt(2)), abs=0.1)
    assert stats["clipped.wav"].clipped_fraction > 0.3
    assert stats["good.wav"].clipped_fraction == 0.0


def test_mixed_folder_warnings_say_what_to_change(mixed_folder):
    report = inspect_folder(mixed_folder, segment_seconds=1.0, batch_size=4, val_fraction=0.1)
    text = "\n".join(report.warnings)
    assert "1 of 7 files cannot be read" in text
    assert "2 files are silent" in text and "data.silence_db=-60" in text
    assert "1 file clips" in text
    assert "shorter than data.segment_seconds=1 s" in text and "data.segment_seconds=0.3" in text
    # 4 usable files * 0.1 rounds to 0, yet training holds out one file (data.split_by_hash)
    assert len(report.val_files) == 1 and report.val_files[0] in report.usable
    assert "only 4 usable files" in text and "1 file (25% of the data) is held out" in text
    assert "set data.val_fraction=0" in text
    assert "only 3 training files for data.batch_size=4" in text and "set data.batch_size=3" in text
    report = inspect_folder(mixed_folder, batch_size=4, val_fraction=0.0)
    text = "\n".join(report.warnings)
    assert "val_fraction" not in text and "batch_size" not in text and report.val_files == []
    report = inspect_folder(mixed_folder, batch_size=16, val_fraction=0.5)
    assert len(report.val_files) == 2 and not any("val_fraction" in w for w in report.warnings)
    assert any("only 2 training files for data.batch_size=16" in w for w in report.warnings)


def test_format_renders_every_section(mixed_folder):
    out = inspect_folder(mixed_folder, batch_size=4).format()
    for needle in (
        "audio files: 7 (6 readable, 1 unreadable), 4 usable",
        "16000 Hz x 5, 22050 Hz x 1",
        "1 ch x 5, 2 ch x 1",
        ".txt x 1",
        "corrupt.wav: truncated",
        "silent.wav (-inf dBFS)",
        "clipped.wav (",
        "short.wav (0.30 s)",
        "warnings (",
    ):
        assert needle in out, needle


def test_healthy_folder_has_no_warnings(tmp_path, write_audio):
    for i in range(12):
        write_audio(f"clip_{i:02d}.wav", sine(200.0 + 50 * i, 1.2))
    report = inspect_folder(tmp_path, batch_size=8, val_fraction=0.1)
    assert report.warnings == [] and "no problems found" in report.format()
    assert (
        len(report.val_files) == 1 and "validation split: 1 of 12 usable files" in report.format()
    )
    assert len(report.usable) == 12 and not (report.silent or report.clipped or report.too_short)


def test_low_sample_rate_and_nothing_usable(tmp_path, write_audio):
    write_audio("phone.wav", sine(300.0, 1.0, 8000), 8000)
    report = inspect_folder(tmp_path, sample_rate=16000, batch_size=1, val_fraction=0.0)
    assert any(
        "below audio.sample_rate=16000 Hz" in w and "audio.sample_rate=8000" in w
        for w in report.warnings
    )
    (tmp_path / "phone.wav").unlink()
    write_audio("quiet.wav", np.zeros((1, 16000), np.float32))
    report = inspect_folder(tmp_path, batch_size=1)
    assert report.usable == [] and any("no usable files" in w for w in report.warnings)
    write_audio("one.wav")
    report = inspect_folder(tmp_path, batch_size=1, val_fraction=0.2)
    assert any("only 1 usable file: training cannot hold one out" in w for w in report.warnings)


def test_nan_file_is_unreadable_and_single_file_root(tmp_path, write_audio):
    data = sine(440.0, 1.0)
    data[0, 10] = np.nan
    path = write_audio("nan.wav", data, subtype="FLOAT")
    report = inspect_folder(path, batch_size=1, val_fraction=0.0)
    assert report.unreadable == [(path, "1 of 16000 samples are NaN or Inf")]


def test_empty_or_missing_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoAudioFilesError, match="no audio files found"):
        inspect_folder(tmp_path / "empty")
    other = tmp_path / "m4a_only"
    other.mkdir()
    (other / "song.m4a").write_bytes(b"\x00" * 10)
    with pytest.raises(NoAudioFilesError, match=r"\.m4a x 1"):
        inspect_folder(other)
    with pytest.raises(AudioError, match="no such file or folder"):
        inspect_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="val_fraction"):
        sf.write(str(tmp_path / "ok.wav"), sine()[0], 16000)
        inspect_folder(tmp_path, val_fraction=1.0)


def test_a_crop_shorter_than_one_stft_window_is_never_suggested(tmp_path, write_audio):
    """A 10 ms file made inspect suggest data.segment_seconds=0.01, which config accepted and
    which trained a model on zero padding (-52 dB reconstructions; this session's student
    review); now the suggestion is left out and the config refuses it."""
    write_audio("data/a.wav", sine(seconds=1.5))
    write_audio("data/tick.wav", sine(seconds=0.01))
    text = "\n".join(inspect_folder(tmp_path / "data", segment_seconds=1.0, n_fft=1024).warnings)
    assert "shorter than data.segment_seconds=1 s" in text
    assert "segment_seconds=0.01" not in text and "remove them" in text
    with pytest.raises(
        ConfigError,
        match=r"^--set data\.segment_seconds=0\.01: data\.segment_seconds: 0\.01 s \(160 samples\) is "
        r"shorter than one STFT window \(features\.n_fft = 1024 samples, 64 ms\)",
    ):
        load_config("conv2d_vae", ["data.segment_seconds=0.01"])
