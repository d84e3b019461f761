"""Options that do not go together, outputs that cannot be written and inputs too short for a
job end in one line, ``audioae: error: ...`` (exit 2), before any work; never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioae.cli import main
from tests.conftest import sine


def _wav(path: Path, seconds: float = 0.5, freq: float = 330.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, sine(freq, seconds=seconds).T, 16000, subtype="PCM_16")
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


def test_anomaly_option_clashes_are_one_line_errors(tmp_path, capsys):
    src = _wav(tmp_path / "in" / "a.wav")
    out = tmp_path / "s.csv"
    base = ["anomaly", "codec", str(src), "-o", str(out), "--quiet"]
    assert main([*base, "--error", "log", "--score", "neg_elbo"]) == 2
    assert _error(capsys) == (
        "audioae: error: --score neg_elbo needs a variational model (model.bottleneck: gaussian)"
    )
    assert main([*base, "--error", "log", "--save-reference", str(tmp_path / "r.json")]) == 2
    assert "--save-reference needs --reference DIR" in _error(capsys)
    (tmp_path / "empty").mkdir()
    assert main([*base, "--reference", str(tmp_path / "empty")]) == 2
    assert "empty" in _error(capsys)
    with pytest.raises(SystemExit) as stop:  # argparse refuses the value itself
        main([*base, "--reference", str(tmp_path / "empty"), "--quantile", "1.5"])
    assert stop.value.code == 2
    assert "--quantile: must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_refuses_before_any_work(tmp_path, capsys):
    out = tmp_path / "e.csv"
    assert main(["evaluate", "codec", "-o", str(out)]) == 2
    assert "give --data DIR" in _error(capsys)
    clean = _wav(tmp_path / "clean" / "a.wav").parent
    args = ["evaluate", "denoise", "--clean", str(clean), "-o", str(out), "--quiet"]
    assert main([*args, "--noisy", str(clean), "--noise", str(clean)]) == 2
    assert "exactly one of --noisy" in _error(capsys)
    (tmp_path / "no_noise").mkdir()
    assert main([*args, "--noise", str(tmp_path / "no_noise")]) == 2
    assert "no_noise" in _error(capsys)
    # an existing output is refused before the model is run, not after
    out.write_text("mine")
    assert main([*args, "--noise", str(clean)]) == 2
    assert "--force" in _error(capsys) and out.read_text() == "mine"


def test_outputs_that_cannot_be_written_are_refused_before_work(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    target = blocker / "sub" / "out.csv"
    assert main(["anomaly", "codec", str(src), "-o", str(target), "--error", "log", "--quiet"]) == 2
    assert (
        _error(capsys) == f"audioae: error: {target}: cannot write here: {blocker} is not a folder"
    )
    assert main(["evaluate", "codec", "--data", str(tmp_path), "-o", str(target)]) == 2
    assert "cannot write here" in _error(capsys)
    assert main(["sample", "timbre", "-o", str(blocker / "samples"), "--n", "1"]) == 2
    assert "cannot write here" in _error(capsys)
    assert main(["interpolate", "timbre", str(src), str(src), "-o", str(blocker / "m")]) == 2
    assert "cannot write here" in _error(capsys)
    assert blocker.read_text() == "a file where a folder should be"


def test_sample_bounds_the_audio_it_draws(tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["sample", "timbre", "-o", str(out), "--n", "10", "--seconds", "400"]) == 2
    assert "4000 s of audio; at most 3600 s per run" in _error(capsys)
    assert not out.exists()


def test_a_prior_fitted_on_too_little_audio_says_so(tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(160, dtype=np.float32) + 0.1, 16000)  # 10 ms
    out = tmp_path / "samples"
    assert main(["sample", "timbre", "-o", str(out), "--fit-prior", str(short), "--n", "1"]) == 2
    message = _error(capsys)
    assert (
        str(short) in message and "too short" in message and "at least 2 latent frames" in message
    )
    assert not out.exists()


def test_a_file_where_a_folder_is_expected_is_named(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    out = tmp_path / "s.csv"
    assert main(["anomaly", "codec", str(src), "-o", str(out), "--reference", str(src)]) == 2
    assert _error(capsys) == (
        f"audioae: error: {src}: an audio file; --reference takes a folder of normal audio "
        "(5 files or more) or a statistics .json written by --save-reference"
    )
    run = tmp_path / "run"
    assert main(["train", "tiny", "--data", str(src), "--out", str(run), "--quiet"]) == 2
    assert _error(capsys) == f"audioae: error: {src}: a file; --data takes a folder of audio files"
    assert not out.exists()


def test_several_inputs_into_an_output_named_like_a_file_are_refused(tmp_path, capsys):
    a, b = _wav(tmp_path / "in" / "a.wav"), _wav(tmp_path / "in" / "b.wav", freq=440.0)
    two = tmp_path / "two.npy"
    assert main(["embed", "codec", str(a), str(b), "-o", str(two), "--quiet"]) == 2
    assert _error(capsys) == (
        f"audioae: error: -o {two} looks like a file, but these inputs give one output per "
        f"file; give a folder, e.g. -o {tmp_path / 'two'}/"
    )
    clean = tmp_path / "clean.wav"
    assert main(["denoise", "denoise", str(a.parent), "-o", str(clean), "--quiet"]) == 2
    assert "looks like a file" in _error(capsys)
    assert not two.exists() and not clean.exists()
    # one file into a file name stays what it was
    assert main(["embed", "codec", str(a), "-o", str(two), "--quiet"]) == 0
    assert two.is_file()


def test_encode_with_a_mask_model_is_refused_once(tmp_path, capsys):
    a, b = _wav(tmp_path / "in" / "a.wav"), _wav(tmp_path / "in" / "b.wav", freq=440.0)
    out = tmp_path / "latents"
    assert main(["encode", "denoise", str(a), str(b), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("predicts a mask") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_folder_job_into_a_folder_inside_its_input_can_be_rerun(tmp_path, capsys):
    folder = tmp_path / "takes"
    _wav(folder / "a.wav")
    _wav(folder / "b.wav", freq=440.0)
    out = folder / "clean"
    args = ["denoise", "denoise", str(folder), "-o", str(out), "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav"]
    first = (out / "a.wav").read_bytes()
    capsys.readouterr()
    # the outputs inside the input folder are not taken for inputs the second time
    assert main([*args, "--skip-existing"]) == 0
    assert "0 written, 2 skipped" in capsys.readouterr().out
    assert not (out / "clean").exists() and (out / "a.wav").read_bytes() == first


def test_ctrl_c_outside_training_exits_130_in_one_line(tmp_path, capsys, monkeypatch):
    import audioae.cli.analysis as analysis

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(analysis, "_pipeline", interrupted)
    src = _wav(tmp_path / "a.wav")
    assert main(["embed", "codec", str(src), "-o", str(tmp_path / "e.npy"), "--quiet"]) == 130
    assert _error(capsys) == "audioae embed: interrupted"


def test_an_output_file_that_is_a_folder_is_refused(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    folder = tmp_path / "taken"
    folder.mkdir()
    args = ["anomaly", "codec", str(src), "-o", str(folder), "--error", "log", "--force", "--quiet"]
    assert main(args) == 2
    assert (
        _error(capsys) == f"audioae: error: {folder}: is a folder; give a file name for this output"
    )


def test_noise_for_a_recipe_that_does_not_denoise_is_refused(tmp_path, capsys):
    data, noise = tmp_path / "data", tmp_path / "noise"
    for folder in (data, noise):
        folder.mkdir()
        _wav(folder / "a.wav")
    run = tmp_path / "run"
    args = ["train", "tiny", "--data", str(data), "--noise", str(noise), "--out", str(run)]
    assert main([*args, "--quiet"]) == 2
    assert _error(capsys) == (
        f"audioae: error: --noise {noise}: recipe 'tiny' does not denoise (data.denoise: false); "
        "drop --noise, or add --set data.denoise=true to train it as a denoising autoencoder "
        "(noisy inputs, clean targets)"
    )
    assert not run.exists()


def test_a_rebuilt_file_turned_down_to_avoid_clipping_says_by_how_much(tmp_path, caplog):
    import logging

    import numpy as np
    import soundfile as sf

    t = np.arange(16000 * 2) / 16000
    loud = np.clip(4 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t), -1, 1)
    src = tmp_path / "loud.wav"
    sf.write(src, loud.astype(np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="audioae"):
        assert main(["reconstruct", "codec", str(src), "-o", str(out), "--quiet"]) == 0
    rebuilt, _ = sf.read(out / "loud.wav")
    peak = float(np.abs(rebuilt).max())
    messages = [r.getMessage() for r in caplog.records if "turned down by" in r.getMessage()]
    assert len(messages) == 1 and messages[0].startswith(str(out / "loud.wav"))
    assert 0.98 < peak <= 0.99 + 1e-6


def test_decode_to_float_keeps_peaks_above_full_scale(tmp_path, caplog):
    """A 16-bit decode that would clip is turned down as a whole; a float one holds the
    overs, so it keeps the level (before, both were turned down: 11.9 dB on a clipped file)."""
    import logging

    import numpy as np
    import soundfile as sf

    t = np.arange(16000 * 2) / 16000
    loud = np.clip(4 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t), -1, 1)
    src = tmp_path / "loud.wav"
    sf.write(src, loud.astype(np.float32), 16000, subtype="FLOAT")
    assert main(["encode", "codec", str(src), "-o", str(tmp_path / "loud.aae"), "--quiet"]) == 0
    peaks = {}
    for subtype in ("PCM_16", "FLOAT"):
        out = tmp_path / f"{subtype}.wav"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="audioae"):
            args = ["decode", str(tmp_path / "loud.aae"), "-o", str(out), "--subtype", subtype]
            assert main(args) == 0
        peaks[subtype] = float(np.abs(sf.read(out)[0]).max())
        turned = "turned down by" in caplog.text
        assert turned == (subtype == "PCM_16"), caplog.text
    assert peaks["PCM_16"] <= 0.99 + 1e-4 < 1.0 < peaks["FLOAT"]
    assert "peaks at" in caplog.text and "kept as it is" in caplog.text
    # .ogg writes Vorbis whatever --subtype says: turned down, not clipped
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="audioae"):
        ogg = ["decode", str(tmp_path / "loud.aae"), "-o", str(tmp_path / "o.ogg")]
        assert main([*ogg, "--subtype", "FLOAT"]) == 0
    assert "turned down by" in caplog.text and "clipped" not in caplog.text


def test_a_folder_job_reports_audio_it_cannot_decode(tmp_path, capsys):
    folder = tmp_path / "session"
    folder.mkdir()
    _wav(folder / "take1.wav")
    (folder / "interview.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    out = tmp_path / "clean"
    assert main(["denoise", "denoise", str(folder), "-o", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert f"{folder / 'interview.m4a'}: unsupported format: AAC/MP4 (.m4a)" in said
    assert "1 written" in said and "1 failed" in said
    assert (out / "take1.wav").is_file() and not (out / "interview.wav").exists()
