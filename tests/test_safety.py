"""Nothing the user owns is lost, folder jobs finish and tell the truth, and bad command lines
get one clear line (issue 12, items 3-5). Uses the shipped models; every case runs in tmp_path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA

from audioae.audio import output_subtype, save_audio
from audioae.cli import main
from audioae.fileio import atomic_output
from audioae.jobs import JobError, plan_job, run_job

DENOISE = str(DATA / "models" / "denoise.safetensors")
CODEC = str(DATA / "models" / "codec.safetensors")
TIMBRE = str(DATA / "models" / "timbre.safetensors")


def _tone(seconds: float = 0.5, sample_rate: int = 16000, peak: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (peak * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def _write(path: Path, data: np.ndarray, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sample_rate, subtype=subtype)
    return path


# --- files: umask, fsync, bit depth ---------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_outputs_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = save_audio(tmp_path / "x.wav", torch.zeros(1, 160), 16000)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_atomic_output_fsyncs_the_file_before_the_rename(tmp_path, monkeypatch):
    synced: list[bool] = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(not (tmp_path / "out.bin").exists())  # before the final name exists
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with atomic_output(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"abc")
    assert (tmp_path / "out.bin").read_bytes() == b"abc"
    assert synced and synced[0] is True


@pytest.mark.parametrize(
    ("source", "suffix", "expected"),
    [
        ("PCM_24", ".wav", "PCM_24"),
        ("PCM_32", ".wav", "PCM_32"),
        ("FLOAT", ".wav", "FLOAT"),
        ("FLOAT", ".flac", "PCM_24"),
        ("PCM_16", ".wav", "PCM_16"),
        ("PCM_24", ".ogg", "PCM_16"),
    ],
)
def test_output_subtype_keeps_the_resolution(source, suffix, expected):
    assert output_subtype(source, Path("out" + suffix)) == expected


def test_denoise_keeps_24_bit_and_float_inputs(tmp_path, capsys):
    _write(tmp_path / "in" / "deep.wav", _tone(), subtype="PCM_24")
    loud = _tone(peak=1.0) * 1e6  # float input far above full scale
    _write(tmp_path / "in" / "float.wav", loud, subtype="FLOAT")
    _write(tmp_path / "in" / "loud.flac", _tone(), subtype="PCM_24")
    assert main(["denoise", DENOISE, str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    assert sf.info(tmp_path / "out" / "deep.wav").subtype == "PCM_24"
    assert sf.info(tmp_path / "out" / "float.wav").subtype == "FLOAT"
    out, _ = sf.read(tmp_path / "out" / "float.wav")
    assert np.abs(out).max() > 1e5  # float stays float: nothing clipped at full scale


def test_float_input_to_an_integer_container_is_scaled_not_clipped(tmp_path):
    from audioae.apps import save_like_input

    source = _write(tmp_path / "f.wav", _tone(peak=1.0) * 1e3, subtype="FLOAT")
    wav = torch.from_numpy(_tone(peak=1.0) * 1e3)[None]
    out = save_like_input(
        tmp_path / "o.flac", wav, 16000, 16000, wav.shape[-1], overwrite=False, source=source
    )
    data, _ = sf.read(out)
    assert sf.info(out).subtype == "PCM_24"
    assert np.abs(data).max() <= 0.991
    expected = wav[0].numpy() * (0.99 / float(wav.abs().max()))
    assert np.abs(data - expected).max() < 1e-4  # the same sine, scaled: nothing clipped


# --- folder jobs ----------------------------------------------------------------------------


def test_same_stem_inputs_are_refused_before_anything_is_written(tmp_path, capsys):
    _write(tmp_path / "in" / "take.wav", _tone())
    _write(tmp_path / "in" / "take.flac", _tone())  # both would be written as take.aae
    _write(tmp_path / "in" / "other.wav", _tone())
    code = main(["encode", CODEC, str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--force"])
    err = capsys.readouterr().err
    assert code == 2 and "take.flac" in err and "take.wav" in err and "more than one input" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "error", [RuntimeError("cuDNN error"), MemoryError(), sf.LibsndfileError(0, "disk full: ")]
)
def test_any_per_file_error_is_reported_and_the_job_goes_on(tmp_path, error):
    pairs = [(tmp_path / f"{i}.wav", tmp_path / "out" / f"{i}.wav") for i in range(3)]
    done: list[Path] = []

    def work(source: Path, target: Path) -> None:
        if source.name == "1.wav":
            raise error
        done.append(target)

    report = run_job(pairs, work, desc="test", progress=False)
    assert [p.name for p in report.written] == ["0.wav", "2.wav"] == [p.name for p in done]
    assert len(report.failed) == 1 and report.failed[0][0].name == "1.wav"
    assert report.failed[0][1]  # a reason, never an empty string
    assert report.exit_code == 1


def test_keyboard_interrupt_stops_the_job(tmp_path):
    def work(source: Path, target: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job([(tmp_path / "a.wav", tmp_path / "b.wav")], work, desc="t", progress=False)


def test_unreadable_subfolder_is_reported(tmp_path, monkeypatch):
    _write(tmp_path / "in" / "ok.wav", _tone())
    (tmp_path / "in" / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root ignores chmod, so fake the refusal
    pairs, problems = plan_job([tmp_path / "in"], tmp_path / "out")
    assert [p.name for p, _ in pairs] == ["ok.wav"]
    assert len(problems) == 1 and problems[0][0].name == "locked"
    assert "cannot list this folder" in problems[0][1]


def test_output_that_is_an_input_is_refused_in_plan(tmp_path):
    src = _write(tmp_path / "x.wav", _tone())
    with pytest.raises(JobError, match="also an input"):
        plan_job([src], src)


def test_interpolate_never_overwrites_its_inputs(tmp_path, capsys):
    a = _write(tmp_path / "step_00.wav", _tone())
    b = _write(tmp_path / "step_01.wav", _tone())
    before = a.read_bytes()
    code = main(
        ["interpolate", TIMBRE, str(a), str(b), "-o", str(tmp_path), "--steps", "2", "--force"]
    )
    assert code == 2 and "is one of the inputs" in capsys.readouterr().err
    assert a.read_bytes() == before and b.read_bytes() != b""


# --- one clear line for every bad command ---------------------------------------------------


def test_a_model_for_another_task_is_refused_in_one_line(tmp_path, capsys):
    src = _write(tmp_path / "x.wav", _tone())
    assert main(["denoise", CODEC, str(src), "-o", str(tmp_path / "y.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a denoiser" in err and "codec" in err
    assert not (tmp_path / "y.wav").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_one_line(tmp_path, capsys):
    src = _write(tmp_path / "x.wav", _tone())
    assert (
        main(["denoise", DENOISE, str(src), "-o", str(tmp_path / "y.wav"), "--device", "cuda"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("audioae: error: device 'cuda'") and err.count("\n") == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", TIMBRE, "-o", "OUT", "--n", "0"],
        ["sample", TIMBRE, "-o", "OUT", "--seconds", "-1"],
        ["sample", TIMBRE, "-o", "OUT", "--seconds", "nan"],
        ["interpolate", TIMBRE, "a.wav", "b.wav", "-o", "OUT", "--steps", "1"],
        ["encode", CODEC, "x.wav", "-o", "OUT", "--bits", "17"],
        ["denoise", DENOISE, "x.wav", "-o", "OUT", "--wet", "1.5"],
        ["denoise", DENOISE, "x.wav", "-o", "OUT", "--mask-exponent", "0"],
        ["denoise", DENOISE, "x.wav", "-o", "OUT", "--mask-exponent", "9"],
        ["config", "tiny", "--set", "no_equals_sign"],
        ["denoise", DENOISE, "x.wav", "-o", "OUT", "--force", "--skip-existing"],
    ],
)
def test_invalid_values_are_usage_errors_without_traceback(tmp_path, capsys, argv):
    argv = [str(tmp_path / "OUT") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err
    assert not (tmp_path / "OUT").exists()


def test_set_before_the_recipe_does_not_swallow_it(capsys):
    assert (
        main(["config", "--set", "training.max_steps=7", "model.latent_dim=5", "tiny", "--show"])
        == 0
    )
    shown = capsys.readouterr().out
    assert "name: tiny" in shown and "max_steps: 7" in shown and "latent_dim: 5" in shown


def test_evaluate_denoising_refuses_a_codec_and_reports_failed_files(tmp_path, capsys):
    clean = tmp_path / "clean"
    _write(clean / "a.wav", _tone(1.0))
    (clean / "broken.wav").write_bytes(b"RIFF....not audio")
    noise = tmp_path / "noise"
    _write(noise / "n.wav", 0.1 * np.random.default_rng(1).standard_normal(8000).astype(np.float32))
    common = ["--clean", str(clean), "--noise", str(noise), "--snr", "5", "--quiet"]
    assert main(["evaluate", CODEC, *common, "-o", str(tmp_path / "c.csv")]) == 2
    assert "not a denoiser" in capsys.readouterr().err
    assert main(["evaluate", DENOISE, *common, "-o", str(tmp_path / "d.csv")]) == 1
    printed = capsys.readouterr().out
    assert "failed" in printed and "broken.wav" in printed and (tmp_path / "d.csv").is_file()
