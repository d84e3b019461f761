"""audio.py: decoding every format, errors that name the file, soxr resampling, atomic saving, scanning."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import requires_cuda, sine

from audioae.audio import (
    AudioError,
    ClippingWarning,
    audio_info,
    find_audio_files,
    find_audio_paths,
    load_audio,
    resample,
    rms_db,
    save_audio,
)
from audioae.fileio import OutputExistsError

HAS_MP3 = "MP3" in sf.available_formats()

# (suffix, subtype, max abs error on a half-scale sine). Integer formats: about one LSB
# (rounding plus libsndfile's 2^(b-1)-1 write / 2^(b-1) read scaling); float formats exact.
LOSSLESS = [
    (".wav", "PCM_U8", 1.5 / 2**7),
    (".wav", "PCM_16", 1.5 / 2**15),
    (".wav", "PCM_24", 1.5 / 2**23),
    (".wav", "PCM_32", 1e-6),
    (".wav", "FLOAT", 0.0),
    (".wav", "DOUBLE", 0.0),
    (".flac", "PCM_16", 1.5 / 2**15),
    (".flac", "PCM_24", 1.5 / 2**23),
    (".aiff", "PCM_16", 1.5 / 2**15),
]


def _peak_hz(wav: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(wav.double() * torch.hann_window(wav.shape[-1], dtype=torch.float64))
    return float(spectrum.abs().argmax()) * sample_rate / wav.shape[-1]


def _snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    return 10 * math.log10(np.sum(reference**2) / np.sum((estimate - reference) ** 2))


# ---------------------------------------------------------------- loading, every format


@pytest.mark.parametrize(("suffix", "subtype", "atol"), LOSSLESS)
def test_load_lossless_formats_match_written_samples(write_audio, suffix, subtype, atol):
    ref = sine(440.0, 0.5, 16000, amplitude=0.5)
    path = write_audio(f"x{suffix}", ref, 16000, subtype)
    wav, sr = load_audio(path)
    assert sr == 16000
    assert wav.dtype == torch.float32 and wav.shape == (1, ref.shape[1])
    assert np.abs(wav.numpy() - ref).max() <= atol


@pytest.mark.parametrize(("suffix", "subtype", "atol"), LOSSLESS)
def test_save_then_load_round_trip(tmp_path, suffix, subtype, atol):
    ref = torch.from_numpy(sine(300.0, 0.5, 22050, amplitude=0.5, channels=2))
    path = save_audio(tmp_path / f"out{suffix}", ref, 22050, subtype=subtype)
    info = audio_info(path)
    assert (info.subtype, info.channels, info.sample_rate, info.frames) == (
        subtype,
        2,
        22050,
        ref.shape[1],
    )
    wav, sr = load_audio(path, mono=False)
    assert sr == 22050 and wav.shape == ref.shape
    assert (wav - ref).abs().max().item() <= atol


@pytest.mark.parametrize("suffix", [".ogg"] + ([".mp3"] if HAS_MP3 else []))
def test_lossy_round_trip_keeps_length_and_waveform(tmp_path, suffix):
    ref = sine(440.0, 1.0, 16000, amplitude=0.5)
    path = save_audio(tmp_path / f"out{suffix}", torch.from_numpy(ref), 16000)  # PCM_16 -> codec
    info = audio_info(path)
    assert info.format == {".ogg": "OGG", ".mp3": "MP3"}[suffix]
    wav, sr = load_audio(path)
    assert sr == 16000 and wav.shape == (1, 16000)
    assert _snr_db(wav.numpy()[0], ref[0]) > 15.0  # a lossy codec, but the same waveform
    assert _peak_hz(wav[0], sr) == pytest.approx(440.0, abs=1.0)


def test_stereo_keep_channels_or_mix_to_mono(write_audio):
    ref = np.stack([sine(440.0, 0.25)[0], sine(660.0, 0.25, amplitude=0.25)[0]])
    path = write_audio("stereo.wav", ref, 16000, "FLOAT")
    kept, _ = load_audio(path, mono=False)
    mixed, _ = load_audio(path, mono=True)
    assert kept.shape == (2, ref.shape[1]) and mixed.shape == (1, ref.shape[1])
    torch.testing.assert_close(kept, torch.from_numpy(ref))
    torch.testing.assert_close(mixed, torch.from_numpy(ref.mean(axis=0, keepdims=True)))


def test_load_with_sample_rate_resamples(write_audio):
    path = write_audio("cd.wav", sine(1000.0, 1.0, 44100), 44100, "FLOAT")
    wav, sr = load_audio(path, sample_rate=16000)
    assert sr == 16000 and wav.shape == (1, 16000)
    assert _peak_hz(wav[0], sr) == pytest.approx(1000.0, abs=1.0)
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(path, sample_rate=0)


# ---------------------------------------------------------------- bad files


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each bad case -> (path, a word the reason must contain)."""
    good = tmp / "good.wav"
    sf.write(str(good), sine(440.0, 1.0)[0], 16000, subtype="PCM_16")
    blob = good.read_bytes()
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, word: str) -> None:
        (tmp / name).write_bytes(data)
        cases[name] = (tmp / name, word)

    put("empty.wav", b"", "empty")
    put("header_only.wav", blob[:44], "truncated")
    put("cut_mid_data.wav", blob[: 44 + len(blob) // 3], "truncated")
    put("cut_in_header.wav", blob[:30], "truncated")
    put("text.wav", b"this is a text file, not a wav\n" * 4, "text")
    put(
        "noise_bytes.wav",
        bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8)),
        "not audio",
    )
    put(
        "song.m4a",
        b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(64),
        "unsupported",
    )
    flac = tmp / "whole.flac"
    sf.write(str(flac), sine(440.0, 1.0)[0], 16000)
    put("cut.flac", flac.read_bytes()[: flac.stat().st_size // 2], "corrupt")
    ogg = tmp / "whole.ogg"
    sf.write(str(ogg), sine(440.0, 1.0)[0], 16000)
    put("cut.ogg", ogg.read_bytes()[: ogg.stat().st_size // 2], "corrupt")
    if HAS_MP3:  # the stream header (Xing) declares more frames than the cut file decodes
        mp3 = tmp / "whole.mp3"
        sf.write(str(mp3), sine(440.0, 1.0)[0], 16000)
        put("cut.mp3", mp3.read_bytes()[: mp3.stat().st_size // 2], "frames but only")
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        data = sine(440.0, 0.1)[0]
        data[100] = value
        sf.write(str(tmp / name), data, 16000, subtype="FLOAT")
        cases[name] = (tmp / name, "NaN or Inf")
    sf.write(str(tmp / "zero_frames.wav"), np.zeros(0, np.float32), 16000)
    cases["zero_frames.wav"] = (tmp / "zero_frames.wav", "no audio frames")
    (tmp / "a folder.wav").mkdir()
    cases["directory"] = (tmp / "a folder.wav", "directory")
    cases["missing"] = (tmp / "missing.wav", "no such file")
    return cases


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return _bad_files(tmp_path)


CASES = [
    "empty.wav", "header_only.wav", "cut_mid_data.wav", "cut_in_header.wav", "text.wav",
    "noise_bytes.wav", "song.m4a", "cut.flac", "cut.ogg", "nan.wav", "inf.wav",
    "zero_frames.wav", "directory", "missing",
] + (["cut.mp3"] if HAS_MP3 else [])  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_load_bad_file_raises_audio_error_naming_file(bad_files, case):
    path, word = bad_files[case]
    with pytest.raises(AudioError) as info:
        load_audio(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == path and str(path) in str(err)
    assert word.lower() in err.reason.lower()


@pytest.mark.parametrize(
    "case", [c for c in CASES if c not in ("nan.wav", "inf.wav", "cut.flac", "cut.mp3")]
)
def test_audio_info_rejects_header_level_problems(bad_files, case):
    path, word = bad_files[case]
    with pytest.raises(AudioError, match=word):
        audio_info(path)


def test_audio_info_reports_header(write_audio):
    path = write_audio("s.wav", sine(440.0, 0.5, 44100, channels=2), 44100, "PCM_24")
    info = audio_info(path)
    assert info.path == path
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 22050)
    assert info.duration == pytest.approx(0.5)
    assert (info.format, info.subtype) == ("WAV", "PCM_24")


# ---------------------------------------------------------------- resampling


def test_resample_length_frequency_and_level():
    x = torch.from_numpy(sine(1000.0, 1.0, 44100, amplitude=0.5))
    y = resample(x, 44100, 16000)
    assert y.shape == (1, 16000) and y.dtype == torch.float32
    assert _peak_hz(y[0], 16000) == pytest.approx(1000.0, abs=1.0)
    level = float(rms_db(y[0, 1000:-1000]))  # away from the filter's edge transients
    assert level == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.05)


def test_resample_removes_content_above_new_nyquist():
    x = torch.from_numpy(sine(12000.0, 1.0, 44100, amplitude=0.5))  # above 8 kHz
    y = resample(x, 44100, 16000)
    assert float(rms_db(y[0, 1000:-1000])) < -100.0  # -9 dB input; edges hold the onset transient


def test_resample_batched_equals_per_channel_and_keeps_dtype():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, 3, 4410)).astype(np.float32))
    y = resample(x, 44100, 16000)
    assert y.shape == (2, 3, 1600)
    torch.testing.assert_close(y[1, 2], resample(x[1, 2], 44100, 16000))
    assert resample(x.double(), 44100, 16000).dtype == torch.float64
    assert resample(x, 16000, 16000) is x


@pytest.mark.parametrize("shape", [(0,), (2, 0), (3, 1, 0), (0, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_resample_of_no_samples_is_empty_not_an_error(shape, dtype):
    x = torch.zeros(shape, dtype=dtype)
    for orig_sr, target_sr in ((16000, 8000), (8000, 44100)):
        y = resample(x, orig_sr, target_sr)
        expected = (*shape[:-1], round(shape[-1] * target_sr / orig_sr))
        assert y.shape == expected and y.dtype == dtype and y.device == x.device
        assert not y.any()


def test_resample_rejects_bad_input():
    with pytest.raises(TypeError):
        resample(torch.zeros(10, dtype=torch.int16), 8000, 16000)
    with pytest.raises(ValueError):
        resample(torch.zeros(10), 0, 16000)


@requires_cuda
def test_resample_keeps_cuda_device():
    x = torch.from_numpy(sine(440.0, 0.1, 16000)).cuda()
    y = resample(x, 16000, 8000)
    assert y.device == x.device and y.shape == (1, 800)
    empty = resample(x[:, :0], 16000, 8000)
    assert empty.device == x.device and empty.shape == (1, 0)


def test_rms_db_of_sine_and_silence():
    assert float(rms_db(torch.from_numpy(sine(440.0, 1.0, amplitude=1.0)))) == pytest.approx(
        -3.0103, abs=1e-3
    )
    assert float(rms_db(torch.zeros(100))) == -math.inf


# ---------------------------------------------------------------- saving


def test_save_refuses_overwrite_and_leaves_no_temp_files(tmp_path):
    path = save_audio(tmp_path / "a.wav", torch.from_numpy(sine(440.0, 0.1)), 16000)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        save_audio(path, torch.zeros(1, 50), 16000)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_save_overwrite_replaces(tmp_path):
    path = save_audio(tmp_path / "a.wav", torch.from_numpy(sine(440.0, 0.1)), 16000)
    save_audio(path, torch.zeros(1, 50), 8000, overwrite=True)
    wav, sr = load_audio(path)
    assert sr == 8000 and wav.shape == (1, 50) and wav.abs().max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_save_clips_pcm_with_warning_but_not_float(tmp_path):
    x = torch.tensor([[0.5, 1.5, -2.0, 0.0]])
    with pytest.warns(ClippingWarning, match="clipped 2 of 4"):
        save_audio(tmp_path / "pcm.wav", x, 16000)
    wav, _ = load_audio(tmp_path / "pcm.wav")
    np.testing.assert_allclose(wav.numpy(), [[0.5, 32767 / 32768, -1.0, 0.0]], atol=1 / 32768)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_audio(tmp_path / "float.wav", x, 16000, subtype="FLOAT")
    wav, _ = load_audio(tmp_path / "float.wav")
    torch.testing.assert_close(wav, x)


def test_save_1d_input_is_mono(tmp_path):
    save_audio(tmp_path / "m.flac", torch.from_numpy(sine(440.0, 0.1)[0]), 16000, subtype="PCM_24")
    assert audio_info(tmp_path / "m.flac").channels == 1


@pytest.mark.parametrize(
    ("name", "wav", "subtype", "word"),
    [
        ("nan.wav", torch.tensor([[0.1, float("nan")]]), "PCM_16", "NaN"),
        ("x.mp4", torch.zeros(1, 10), "PCM_16", "cannot write"),
        ("f.flac", torch.zeros(1, 10), "FLOAT", "cannot be written to FLAC"),
        ("t.wav", torch.zeros(1000, 2), "PCM_16", "(channels, time)"),
        ("e.wav", torch.zeros(1, 0), "PCM_16", "no samples"),
    ],
)
def test_save_rejects_bad_requests_without_writing(tmp_path, name, wav, subtype, word):
    with pytest.raises(AudioError) as info:
        save_audio(tmp_path / name, wav, 16000, subtype=subtype)
    assert word in info.value.reason and info.value.path == tmp_path / name
    assert list(tmp_path.iterdir()) == []


@requires_cuda
def test_save_from_cuda_tensor(tmp_path):
    x = torch.from_numpy(sine(440.0, 0.1)).cuda()
    save_audio(tmp_path / "c.wav", x, 16000, subtype="FLOAT")
    torch.testing.assert_close(load_audio(tmp_path / "c.wav")[0], x.cpu())


# ---------------------------------------------------------------- scanning, odd paths


def test_find_audio_files_recursive_sorted_case_insensitive(tmp_path, write_audio):
    names = ["b.wav", "a/z.FLAC", "a/b/deep.Ogg", "A.WAV", "c.aiff"]
    for name in names:
        write_audio(name, subtype="VORBIS" if name.lower().endswith(".ogg") else None)
    write_audio(".hidden.wav")
    write_audio(".cache/inside_hidden.wav")
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "a" / "cover.jpg").write_bytes(b"\xff\xd8")
    found = find_audio_files(tmp_path)
    assert found == sorted(tmp_path / n for n in names)
    assert [p.name for p in found] == ["A.WAV", "deep.Ogg", "z.FLAC", "b.wav", "c.aiff"]
    assert find_audio_files(tmp_path, extensions=["wav"]) == [
        tmp_path / "A.WAV",
        tmp_path / "b.wav",
    ]


def test_find_audio_paths_collects_hidden_audio_in_the_same_walk(tmp_path, write_audio):
    write_audio("keep/a.wav")
    write_audio(".take.wav")
    write_audio(".cache/x/deep.flac")  # a folder inside a hidden folder is hidden too
    write_audio("keep/._a.wav")
    (tmp_path / ".cache" / "x" / "notes.txt").write_text("not audio")
    os.symlink(tmp_path / "keep", tmp_path / ".alias")  # a hidden link to a visible folder
    hidden: list[str] = []
    found = find_audio_paths(tmp_path, hidden=hidden)
    assert found == [str(tmp_path / "keep" / "a.wav")]
    assert sorted(os.path.relpath(p, tmp_path) for p in hidden) == [
        ".cache/x/deep.flac",
        ".take.wav",
        "keep/._a.wav",
    ]
    assert find_audio_paths(tmp_path) == found  # without the list: the same files


def test_find_audio_files_single_file_missing_root_and_empty(tmp_path, sine_wav):
    assert find_audio_files(sine_wav) == [sine_wav]
    with pytest.raises(AudioError, match="no such file or folder"):
        find_audio_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert find_audio_files(tmp_path / "empty") == []


def test_paths_with_spaces_and_non_ascii(tmp_path):
    path = tmp_path / "dossier à moi" / "naïve ünï 音声 file.flac"
    x = torch.from_numpy(sine(440.0, 0.2))
    save_audio(path, x, 16000, subtype="PCM_24")
    assert find_audio_files(tmp_path) == [path]
    assert audio_info(path).frames == x.shape[1]
    wav, _ = load_audio(path)
    assert (wav - x).abs().max() < 1e-5
    broken = path.with_name("cassé é.wav")
    broken.write_bytes(b"")
    with pytest.raises(AudioError, match="cassé é.wav"):
        load_audio(broken)


def test_mix_to_mono_is_the_channel_mean() -> None:
    import numpy as np

    from audioae.audio import mix_to_mono

    rng = np.random.default_rng(0)
    for channels in (1, 2, 3, 6):
        data = rng.standard_normal((1000, channels)).astype(np.float32)
        mono = mix_to_mono(data)
        assert mono.shape == (1000,) and mono.dtype == np.float32
        tol = 0.0 if channels <= 2 else 1e-6  # exact for one or two channels
        np.testing.assert_allclose(mono, data.mean(axis=1), rtol=0, atol=tol)
