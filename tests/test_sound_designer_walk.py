"""What two walks of the fifth session (2026-12-03) found: a sound designer's through
encode / decode / interpolate / sample (output names a job cannot write, a model-less decode
of a folder whose first file is corrupt, another shipped model's ``.aae`` file, the band a
codec at 16 kHz cannot keep, the level of morphs and draws) and a student's training and
sampling a VAE of their own (draws turned down together, the checkpoint a model file holds,
a clipped sample after resampling, another model's prior, a refusal after indexing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioae.cli import main
from audioae.jobs import JobError, plan_job
from tests.conftest import sine


def _wav(path: Path, seconds: float = 0.5, freq: float = 330.0, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, sine(freq, seconds=seconds, sample_rate=sample_rate).T, sample_rate)
    return path


def test_one_file_jobs_refuse_an_output_name_they_cannot_write(tmp_path):
    src = _wav(tmp_path / "a.wav")
    with pytest.raises(
        JobError, match=r"-o .*out\.wav: this job writes \.aae files, not \.wav; name it out\.aae"
    ):
        plan_job([src], tmp_path / "out.wav", suffix=".aae")
    with pytest.raises(JobError, match=r"cannot write '\.aae' files; use one of \.wav"):
        plan_job([src], tmp_path / "out.aae")  # an audio job (denoise, reconstruct)
    with pytest.raises(JobError, match=r"cannot write '\.xyz' files"):
        plan_job([src], tmp_path / "out.xyz", suffix=".wav")  # decode's folder suffix
    pairs, _ = plan_job([src], tmp_path / "out.flac", suffix=".wav")  # decode -o out.flac
    assert pairs == [(src, tmp_path / "out.flac")]
    # a trailing slash is a folder, even with a dot in its name
    pairs, _ = plan_job([src], f"{tmp_path / 'take.v2'}/", suffix=".aae")
    assert pairs == [(src, tmp_path / "take.v2" / "a.aae")]
    # several inputs into a name with a trailing slash: a folder too
    b = _wav(tmp_path / "b.wav")
    pairs, _ = plan_job([src, b], f"{tmp_path / 'lat.aae'}/", suffix=".aae")
    assert [t for _, t in pairs] == [tmp_path / "lat.aae" / "a.aae", tmp_path / "lat.aae" / "b.aae"]
    with pytest.raises(JobError, match="looks like a file"):
        plan_job([src, b], tmp_path / "lat.aae", suffix=".aae")


def test_encode_to_an_audio_name_is_refused_before_any_work(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    assert main(["encode", "codec", str(src), "-o", str(tmp_path / "a_small.wav"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "this job writes .aae files, not .wav; name it a_small.aae, or give a folder" in err
    assert not (tmp_path / "a_small.wav").exists()


def test_modelless_decode_takes_the_model_from_the_first_readable_file(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    lat = tmp_path / "lat"
    assert main(["encode", "codec", str(src), "-o", str(lat / "b.aae"), "--quiet"]) == 0
    (lat / "a_bad.aae").write_bytes(b"junk, sorted first")
    capsys.readouterr()
    assert main(["decode", str(lat), "-o", str(tmp_path / "dec"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "1 written" in out and "failed" in out and "a_bad.aae" in out
    info = sf.info(tmp_path / "dec" / "b.wav")
    assert (info.samplerate, info.frames) == (16000, 8000)
    # nothing readable at all: one error naming the first problem
    (lat / "b.aae").write_bytes(b"also junk")
    assert main(["decode", str(lat), "-o", str(tmp_path / "dec2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 .aae files can be read" in err and "a_bad.aae" in err


def test_decode_names_the_shipped_model_that_made_a_file(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    assert main(["encode", "timbre", str(src), "-o", str(tmp_path / "t.aae"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["decode", "codec", str(tmp_path / "t.aae"), "-o", str(tmp_path / "t.wav")]) == 1
    out = capsys.readouterr().out
    assert "made with the shipped model 'timbre', not this one: audioae decode timbre" in out
    assert not (tmp_path / "t.wav").exists()


def test_a_folder_without_aae_files_says_so(tmp_path, capsys):
    _wav(tmp_path / "audio" / "a.wav")
    assert main(["decode", "codec", str(tmp_path / "audio"), "-o", str(tmp_path / "x")]) == 1
    assert "no .aae files in this folder" in capsys.readouterr().out


def test_encode_says_once_that_the_band_above_the_model_rate_is_not_kept(tmp_path, capsys):
    hi = [_wav(tmp_path / "in" / f"h{i}.wav", sample_rate=48000) for i in range(2)]
    lo = _wav(tmp_path / "in" / "l.wav")
    assert (
        main(["encode", "codec", *map(str, [*hi, lo]), "-o", str(tmp_path / "lat"), "--quiet"]) == 0
    )
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: {hi[0]} is at 48000 Hz and the model works at 16000 Hz: nothing above 8000 Hz "
        "is kept (decode writes the file's own rate, without that band)"
    ]
    # the decoded file is at the input's rate and length (without the band above 8 kHz)
    assert main(["decode", str(tmp_path / "lat" / "h0.aae"), "-o", str(tmp_path / "h0.wav")]) == 0
    info = sf.info(tmp_path / "h0.wav")
    assert (info.samplerate, info.frames) == (48000, 24000)


def test_matched_gains_put_the_steps_on_the_db_line_between_the_ends():
    from audioae.latent_interpolation import MAX_LEVEL_GAIN_DB, matched_gains_db

    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    gains = matched_gains_db([-20.0, -35.0, -44.0, -10.0, -12.0], alphas)
    assert gains == pytest.approx([0.0, 17.0, 28.0, -4.0, 0.0])  # targets -18, -16, -14
    # a near-silent step is raised by at most MAX_LEVEL_GAIN_DB
    assert matched_gains_db([-20.0, -120.0, -20.0], [0.0, 0.5, 1.0])[1] == MAX_LEVEL_GAIN_DB
    with pytest.raises(ValueError, match="one level per blend weight"):
        matched_gains_db([-20.0], [0.0])


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolate_matches_levels_and_leaves_the_ends_as_decoded(method):
    import torch

    from audioae.latent_interpolation import MAX_LEVEL_GAIN_DB, gain_curve, rms_db
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("timbre", device="cpu")
    t = torch.arange(16000) / 16000
    a = (0.3 * torch.exp(-2 * t) * torch.sin(2 * torch.pi * 440 * t))[None]
    b = (0.2 * torch.exp(-2 * t) * torch.sign(torch.sin(2 * torch.pi * 220 * t)))[None]
    kw = {"method": method, "phase": "learned"}
    raw = pipe.interpolate(a, b, 5, level="model", **kw)
    matched = pipe.interpolate(a, b, 5, **kw)  # the default: match
    assert raw.gains_db == [0.0] * 5
    for end in (0, -1):
        torch.testing.assert_close(matched.steps[end], raw.steps[end], rtol=0, atol=0)
    first, last = rms_db(raw.steps[0]), rms_db(raw.steps[-1])
    for alpha, step, gain in zip(matched.alphas, matched.steps, matched.gains_db, strict=True):
        if abs(gain) < MAX_LEVEL_GAIN_DB:
            assert rms_db(step) == pytest.approx((1 - alpha) * first + alpha * last, abs=0.01)
    # the morph: the steps' gains as a curve over its duration, 0 dB at both ends
    ramp_end = (pipe.encode(a).shape[-1] - 1) * pipe.align
    curve = gain_curve(matched.alphas, matched.gains_db, raw.morph.shape[-1], ramp_end)
    assert float(curve[0]) == 1.0 and float(curve[-1]) == 1.0
    middle = ramp_end // 2  # alpha 0.5: the middle step's gain
    assert float(curve[middle]) == pytest.approx(10 ** (matched.gains_db[2] / 20), rel=1e-3)
    torch.testing.assert_close(matched.morph, raw.morph * curve, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="level: 'loud' is not one of match, model"):
        pipe.interpolate(a, b, 3, level="loud")


def test_sample_peak_db_normalises_each_sound_and_quiet_draws_are_named(tmp_path, caplog, capsys):
    import logging

    out = tmp_path / "s"
    with caplog.at_level(logging.INFO, logger="audioae.apps"):
        assert main(["sample", "timbre", "-o", str(out), "--n", "2", "--quiet"]) == 0
    raw = [sf.read(out / f"sample_{i:02d}.wav")[0] for i in range(2)]
    peaks = [20 * np.log10(np.abs(w).max()) for w in raw]
    assert max(peaks) < -12  # the shipped VAE's standard-prior draws are quiet ...
    assert "--peak-db -1" in caplog.text  # ... and the command says so
    assert (
        main(
            [
                "sample",
                "timbre",
                "-o",
                str(out),
                "--n",
                "2",
                "--peak-db",
                "-1",
                "--force",
                "--quiet",
            ]
        )
        == 0
    )
    for i, before in enumerate(raw):
        after = sf.read(out / f"sample_{i:02d}.wav")[0]
        assert 20 * np.log10(np.abs(after).max()) == pytest.approx(-1.0, abs=0.01)  # 16-bit PCM
        # the same sound, only louder
        assert np.corrcoef(before, after)[0, 1] > 0.999
    with pytest.raises(SystemExit):
        main(["sample", "timbre", "-o", str(out), "--peak-db", "3", "--force"])
    assert "--peak-db: must be in [-60, 0] dBFS, got 3" in capsys.readouterr().err


def test_sample_at_temperature_zero_says_the_sounds_are_the_same(tmp_path, capsys):
    out = tmp_path / "s"
    assert (
        main(["sample", "timbre", "-o", str(out), "--n", "2", "--temperature", "0", "--quiet"]) == 0
    )
    assert (
        "--temperature 0 draws the prior's mean every time: the 2 sounds share one latent"
        in capsys.readouterr().err
    )
    a, b = (sf.read(out / f"sample_{i:02d}.wav")[0] for i in range(2))
    assert np.array_equal(a, b)


def test_fit_prior_on_little_or_silent_audio_is_warned_about(tmp_path, caplog):
    import logging

    from audioae.apps_generation import fit_prior_files
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("timbre", device="cpu")
    short = _wav(tmp_path / "one" / "short.wav", seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="audioae.apps"):
        _, used = fit_prior_files(pipe, [short])
    assert used == 1
    assert "fitted on 0.5 s of audio in 1 file(s); draws follow" in caplog.text
    caplog.clear()
    silent = tmp_path / "two" / "silent.wav"
    silent.parent.mkdir()
    sf.write(silent, np.zeros(16000 * 12, np.float32), 16000)
    with caplog.at_level(logging.WARNING, logger="audioae.apps"):
        fit_prior_files(pipe, [silent.parent])
    assert "12.0 s of audio in 1 file(s), 1 of them silent (below -60 dBFS)" in caplog.text
    caplog.clear()
    for i in range(3):  # 12 s of sound: no warning
        _wav(tmp_path / "three" / f"n{i}.wav", seconds=4.0, freq=220.0 * (i + 1))
    with caplog.at_level(logging.WARNING, logger="audioae.apps"):
        fit_prior_files(pipe, [tmp_path / "three"])
    assert "the prior is fitted on" not in caplog.text


def test_the_morph_gain_reaches_0_db_where_the_blend_reaches_b(tmp_path):
    """A short A (few latent frames): the blend ramp ends at the last latent frame, well
    before the last sample; from there on the morph is B and gets B's step gain (0 dB)."""
    import torch

    from audioae.latent_interpolation import gain_curve
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("timbre", device="cpu")
    t = torch.arange(4000) / 16000
    a = (0.3 * torch.sin(2 * torch.pi * 440 * t))[None]
    b = (0.2 * torch.sign(torch.sin(2 * torch.pi * 220 * t)))[None]
    kw = {"phase": "learned"}
    raw = pipe.interpolate(a, b, 5, level="model", **kw)
    matched = pipe.interpolate(a, b, 5, **kw)
    frames = pipe.encode(a).shape[-1]
    ramp_end = (frames - 1) * pipe.align
    assert 0 < ramp_end <= 3500  # the case: B's end well before the last sample
    torch.testing.assert_close(matched.morph[ramp_end:], raw.morph[ramp_end:], rtol=0, atol=0)
    curve = gain_curve(matched.alphas, matched.gains_db, 4000, ramp_end)
    half = ramp_end // 2  # blend weight 0.5 there: the middle step's gain
    assert float(curve[half]) == pytest.approx(10 ** (matched.gains_db[2] / 20), rel=1e-6)
    assert gain_curve([0.0, 1.0], [0.0, 0.0], 3, 0).tolist() == [1.0, 1.0, 1.0]


def test_peak_db_raises_a_near_silent_draw_by_at_most_40_db(tmp_path, caplog):
    import logging

    from audioae.apps_generation import sample_files
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("timbre", device="cpu")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with caplog.at_level(logging.WARNING, logger="audioae.apps"):
        sample_files(pipe, tmp_path / "raw", n=1, like=silent)
        sample_files(pipe, tmp_path / "up", n=1, like=silent, peak_db=-1.0)
    raw = sf.read(tmp_path / "raw" / "variation_00.wav", dtype="float32")[0]
    up = sf.read(tmp_path / "up" / "variation_00.wav", dtype="float32")[0]
    assert np.abs(raw).max() < 10 ** (-41 / 20)  # the decoder's residue: more than 40 dB down
    ratio = np.abs(up).max() / np.abs(raw).max()
    assert 20 * np.log10(ratio) == pytest.approx(40.0, abs=0.1)
    assert "variation_00.wav raised by 40 dB only" in caplog.text
    assert "silent.wav is silent (RMS -120 dBFS): its variations are what the model" in caplog.text
    # 0 dBFS is written as full scale, not turned down
    sample_files(pipe, tmp_path / "full", n=1, peak_db=0.0)
    full = sf.read(tmp_path / "full" / "sample_00.wav", dtype="int16")[0]
    assert np.abs(full.astype(np.int32)).max() >= 32766


def test_other_model_error_pickles_with_its_hash():
    import pickle

    from audioae.codec import CodecError, OtherModelError

    err = pickle.loads(pickle.dumps(OtherModelError("x.aae: another model", b"\x01" * 16)))
    assert isinstance(err, CodecError) and str(err) == "x.aae: another model"
    assert err.model_hash == b"\x01" * 16


def test_temperature_zero_variations_say_they_are_one_sound(tmp_path, capsys):
    src = _wav(tmp_path / "a.wav")
    out = tmp_path / "v"
    args = [
        "sample",
        "timbre",
        "--like",
        str(src),
        "-o",
        str(out),
        "--n",
        "2",
        "--temperature",
        "0",
    ]
    assert main([*args, "--quiet"]) == 0
    assert (
        f"--temperature 0 draws {src}'s posterior mean every time: the 2 sounds share one latent"
        in capsys.readouterr().err
    )


def test_embed_into_a_folder_named_with_a_dot_and_a_trailing_slash(tmp_path):
    src = _wav(tmp_path / "a.wav")
    assert main(["embed", "timbre", str(src), "-o", f"{tmp_path / 'feats.v2'}/", "--quiet"]) == 0
    assert (tmp_path / "feats.v2" / "a.npy").is_file()


def test_each_draw_is_turned_down_on_its_own(tmp_path, caplog, monkeypatch):
    """Draws are separate sounds: one that would clip is turned down alone, named."""
    import logging

    import torch

    from audioae.apps_generation import sample_files
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("timbre", device="cpu")
    t = torch.arange(8000) / 16000
    fixed = torch.stack(
        [0.5 * torch.sin(2 * torch.pi * 440 * t), 3.0 * torch.sin(2 * torch.pi * 220 * t)]
    )
    monkeypatch.setattr(pipe, "sample", lambda *a, **k: fixed.clone())
    with caplog.at_level(logging.WARNING, logger="audioae.apps"):
        sample_files(pipe, tmp_path / "s", n=2)
    quiet, loud = (sf.read(tmp_path / "s" / f"sample_{i:02d}.wav")[0] for i in range(2))
    assert np.abs(quiet).max() == pytest.approx(0.5, abs=1e-4)  # left as drawn
    assert np.abs(loud).max() == pytest.approx(0.99, abs=1e-4)  # turned down alone
    assert "sample_01.wav: turned down by" in caplog.text
    assert "sample_00.wav" not in caplog.text


def test_train_says_which_checkpoint_the_model_file_holds(tmp_path, capsys):
    from conftest import copy_notes

    data = copy_notes(tmp_path / "notes", count=8)
    args = ["train", "tiny", "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]
    steps = ["training.max_steps=3", "training.val_every=2", "training.checkpoint_every=2"]
    assert main([*args, "--set", *steps]) == 0
    out = capsys.readouterr().out
    assert "trained 3 steps" in out
    assert (
        "(the best validation checkpoint, step 2; validation runs every training.val_every" in out
    )


def test_reconstruct_turns_down_after_resampling_so_nothing_clips(tmp_path, recwarn):
    """A rebuilt phase peaking above full scale, written at 44.1 kHz: turned down after the
    resampler (whose filter overshoots a peak scaled at 16 kHz), not clipped."""
    from audioae.audio_errors import ClippingWarning

    t = np.arange(2 * 44100) / 44100
    src = tmp_path / "square.wav"
    sf.write(
        src,
        (0.97 * np.sign(np.sin(2 * np.pi * 220 * t))).astype(np.float32),
        44100,
        subtype="PCM_16",
    )
    out = tmp_path / "rec.wav"
    assert main(["reconstruct", "timbre", str(src), "-o", str(out), "--quiet"]) == 0
    data = sf.read(out, dtype="int16")[0].astype(np.int32)
    assert 0.95 * 32768 < np.abs(data).max() <= 0.99 * 32768 + 1
    assert not [w for w in recwarn if issubclass(w.category, ClippingWarning)]


def test_a_prior_fitted_by_another_model_is_refused_from_python(tmp_path):
    import torch

    from audioae.latent_prior import LatentPrior
    from audioae.pipeline import Pipeline, PipelineError

    timbre = Pipeline.load("timbre", device="cpu")
    t = torch.arange(16000) / 16000
    prior = timbre.fit_prior([0.3 * torch.sin(2 * torch.pi * 330 * t)[None]])
    assert prior.model_hash == timbre.model_hash
    assert timbre.sample(1, 0.5, prior=prior).shape == (1, 8000)  # its own: accepted
    other = LatentPrior(prior.mean, prior.std, prior.correlation, model_hash=b"\x02" * 16)
    with pytest.raises(PipelineError, match="the prior was fitted for another model"):
        timbre.sample(1, 0.5, prior=other)
    unknown = LatentPrior(prior.mean, prior.std, prior.correlation)  # no hash: not checked
    assert timbre.sample(1, 0.5, prior=unknown).shape == (1, 8000)


def test_train_into_an_existing_run_is_refused_before_indexing(tmp_path, capsys):
    from conftest import copy_notes

    data = copy_notes(tmp_path / "notes", count=8)
    run = tmp_path / "run"
    steps = ["training.max_steps=2", "training.val_every=2", "training.checkpoint_every=2"]
    args = ["train", "tiny", "--data", str(data), "--quiet", "--set", *steps]
    assert main([*args, "--out", str(run)]) == 0
    (data / ".audioae-index.json").unlink()
    capsys.readouterr()
    assert main([*args, "--out", str(run)]) == 2  # a run is there: refused ...
    assert main([*args, "--out", str(tmp_path / "new"), "--resume"]) == 2  # nothing to resume
    captured = capsys.readouterr()
    assert "a run already exists here" in captured.err
    assert "nothing to resume from" in captured.err
    assert not (data / ".audioae-index.json").exists()  # ... before the folder was indexed
