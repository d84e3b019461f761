"""The model-using commands run in-process on files: denoise, reconstruct, encode/decode, interpolate,
sample, evaluate; and the bad-input matrix (every input either works or fails with a clear error
naming the file, and a folder job finishes the rest)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, tiny_model_file

from audioae.cli import main


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "ae": tiny_model_file(root / "ae.safetensors"),
        "vae": tiny_model_file(root / "vae.safetensors", ["model.bottleneck=gaussian"]),
        "denoise": tiny_model_file(
            root / "denoise.safetensors", ["features.kind=log_magnitude", "model.output=mask"]
        ),
    }


def _write(path: Path, data: np.ndarray, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sample_rate, subtype=subtype)
    return path


def _tone(seconds: float = 0.5, sample_rate: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def test_denoise_keeps_rate_length_and_channels(models, tmp_path):
    src = _write(tmp_path / "in" / "stereo 44k é.wav", _tone(0.7, 44100, 2), 44100)
    assert (
        main(["denoise", str(models["denoise"]), str(src), "-o", str(tmp_path / "out"), "--quiet"])
        == 0
    )
    out, sr = sf.read(tmp_path / "out" / "stereo 44k é.wav")
    assert sr == 44100 and out.shape == (int(0.7 * 44100), 2)


def test_denoise_folder_mirrors_tree_and_never_overwrites(models, tmp_path, capsys):
    _write(tmp_path / "in" / "a.wav", _tone())
    _write(tmp_path / "in" / "sub" / "b.flac", _tone())
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF....not audio")
    args = [
        "denoise",
        str(models["denoise"]),
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--quiet",
    ]
    assert main(args) == 1  # one file failed: the job finishes the rest, then says so
    assert (tmp_path / "out" / "a.wav").is_file() and (
        tmp_path / "out" / "sub" / "b.flac"
    ).is_file()
    report = capsys.readouterr().out
    assert "2 written, 0 skipped (output exists), 1 failed" in report and "broken.wav" in report
    before = (tmp_path / "out" / "a.wav").read_bytes()
    assert main(args) == 1
    assert (
        "exists" in capsys.readouterr().out and (tmp_path / "out" / "a.wav").read_bytes() == before
    )
    assert main([*args, "--force"]) == 1 and "3 written" not in capsys.readouterr().out
    # resume: finished outputs are left alone and counted apart from the real failure
    assert main([*args, "--skip-existing"]) == 1
    report = capsys.readouterr().out
    assert "0 written, 2 skipped (output exists), 1 failed" in report
    assert (tmp_path / "out" / "a.wav").read_bytes() == before


def test_output_may_not_be_an_input(models, tmp_path, capsys):
    src = _write(tmp_path / "x.wav", _tone())
    assert main(["denoise", str(models["denoise"]), str(src), "-o", str(src), "--force"]) == 2
    assert "also an input" in capsys.readouterr().err


def test_encode_decode_round_trip_and_errors(models, tmp_path, capsys):
    src = _write(tmp_path / "note.wav", _tone(1.0, 22050), 22050)
    assert (
        main(
            [
                "encode",
                str(models["ae"]),
                str(src),
                "-o",
                str(tmp_path / "z"),
                "--bits",
                "6",
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "kbit/s" in printed and "smaller than 16-bit PCM" in printed
    aae = tmp_path / "z" / "note.aae"
    assert main(["decode", str(models["ae"]), str(aae), "-o", str(tmp_path / "y"), "--quiet"]) == 0
    out, sr = sf.read(tmp_path / "y" / "note.wav")
    assert sr == 22050 and out.shape == (22050,)
    # a latent file made with another model is refused, clearly, and nothing is written
    assert main(["decode", str(models["vae"]), str(aae), "-o", str(tmp_path / "w"), "--quiet"]) == 1
    assert "another model" in capsys.readouterr().out and not (tmp_path / "w" / "note.wav").exists()
    # --subtype: the same samples in 24-bit or float; a container that cannot hold it fails
    # that file before decoding, naming it, and writes nothing
    for subtype, name in (("float", "f.wav"), ("PCM_24", "p.flac"), ("float", "bad.flac")):
        target = tmp_path / name
        rc = main(
            ["decode", str(models["ae"]), str(aae), "-o", str(target), "--quiet"]
            + ["--subtype", subtype]
        )
        if name == "bad.flac":
            assert rc == 1 and not target.exists()
            assert (
                "bad.flac: subtype FLOAT cannot be written to .flac; of PCM_16, PCM_24, FLOAT it holds PCM_16, PCM_24"
                in capsys.readouterr().out
            )
            continue
        assert rc == 0 and sf.info(target).subtype == subtype.upper()
        assert np.abs(sf.read(target)[0] - out).max() < 2**-15 * 1.01  # 16-bit rounding


def test_decode_without_a_model_finds_the_shipped_one_that_encoded(models, tmp_path, capsys):
    src = _write(tmp_path / "in" / "tone.wav", _tone(4.0))
    assert main(["encode", "codec", str(src), "-o", str(tmp_path / "lat"), "--quiet"]) == 0
    aae = tmp_path / "lat" / "tone.aae"
    assert aae.stat().st_size > 4096  # longer than a first read of the header would be
    named, found, folder = tmp_path / "named.wav", tmp_path / "found.wav", tmp_path / "dec"
    assert main(["decode", "codec", str(aae), "-o", str(named), "--quiet"]) == 0
    assert main(["decode", str(aae), "-o", str(found), "--quiet"]) == 0
    assert main(["decode", str(tmp_path / "lat"), "-o", str(folder), "--quiet"]) == 0
    assert found.read_bytes() == named.read_bytes() == (folder / "tone.wav").read_bytes()
    capsys.readouterr()
    # a file of a model that is not shipped: the model must be named, and nothing is written
    assert (
        main(["encode", str(models["ae"]), str(src), "-o", str(tmp_path / "own"), "--quiet"]) == 0
    )
    own = tmp_path / "own" / "tone.aae"
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.aae").write_bytes(b"not a latent file")
    cases = [
        ([str(own)], "not shipped with audioae (model hash "),
        ([str(tmp_path / "nope.aae")], "nope.aae: no such file"),
        ([str(tmp_path / "empty")], "no .aae files in"),
        ([str(tmp_path / "junk.aae")], "junk.aae: not an .aae file"),
        (["codec"], "give the .aae files or folders to decode"),
        ([str(src)], "is an audio file; decode rebuilds audio from the .aae latent files"),
        (["codec", str(src)], "tone.wav is an audio file"),
    ]
    for inputs, message in cases:
        assert main(["decode", *inputs, "-o", str(tmp_path / "x.wav"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("audioae: error:") and message in err, err
    assert not (tmp_path / "x.wav").exists()


def test_interpolate_and_sample_refuse_an_audio_file_as_their_output_folder(
    models, tmp_path, capsys
):
    a = _write(tmp_path / "a.wav", _tone(0.5))
    for argv, verb in (
        (["interpolate", str(models["vae"]), str(a), str(a)], "interpolate"),
        (["sample", str(models["vae"])], "sample"),
    ):
        assert main([*argv, "-o", str(tmp_path / "out.wav"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"{verb}: -o {tmp_path / 'out.wav'} looks like an audio file" in err
        assert f"e.g. -o {tmp_path / 'out'}/" in err and not (tmp_path / "out.wav").exists()
    (tmp_path / "made.wav").mkdir()  # an existing folder of that name is the user's choice
    assert main(["sample", str(models["vae"]), "-o", str(tmp_path / "made.wav"), "--quiet"]) == 0
    assert len(list((tmp_path / "made.wav").glob("sample_*.wav"))) >= 1


def test_interpolate_and_sample_write_expected_files(models, tmp_path, capsys):
    a = DATA / "notes" / "flute_60.flac"
    b = DATA / "notes" / "trumpet_60.flac"
    if not (a.exists() and b.exists()):
        a, b = sorted((DATA / "notes").glob("*.flac"))[:2]
    out = tmp_path / "morph"
    assert (
        main(["interpolate", str(models["vae"]), str(a), str(b), "--steps", "3", "-o", str(out)])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png",
        "morph.wav",
        "step_00.wav",
        "step_01.wav",
        "step_02.wav",
    ]
    assert (
        main(
            [
                "sample",
                str(models["vae"]),
                "--n",
                "2",
                "--seconds",
                "0.5",
                "-o",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert sf.info(tmp_path / "s" / "sample_01.wav").frames == 8000
    assert main(["sample", str(models["ae"]), "-o", str(tmp_path / "t")]) == 2
    assert "variational" in capsys.readouterr().err
    # --force over an earlier run with more outputs: the extra files are named, not removed
    # (they were left silently: this session's student review)
    morph = [str(models["vae"]), str(a), str(b), "-o", str(out), "--force"]
    assert main(["interpolate", *morph, "--steps", "2"]) == 0
    assert "1 step file(s) from an earlier run are not part of this one" in capsys.readouterr().err
    assert (out / "step_02.wav").exists()
    sample = ["sample", str(models["vae"]), "--seconds", "0.5", "-o", str(tmp_path / "s")]
    assert main([*sample, "--n", "1", "--force"]) == 0
    assert "left as they were: sample_01.wav" in capsys.readouterr().err
    assert main([*sample, "--n", "2", "--force"]) == 0
    assert "earlier run" not in capsys.readouterr().err


def test_evaluate_denoising_writes_csv_and_table(models, tmp_path, capsys):
    clean = tmp_path / "clean"
    _write(clean / "a.wav", _tone(1.0))
    noise = tmp_path / "noise"
    _write(noise / "n.wav", 0.1 * np.random.default_rng(1).standard_normal(8000).astype(np.float32))
    csv = tmp_path / "r.csv"
    assert (
        main(
            [
                "evaluate",
                str(models["denoise"]),
                "--clean",
                str(clean),
                "--noise",
                str(noise),
                "--snr",
                "0",
                "10",
                "-o",
                str(csv),
                "--quiet",
            ]
        )
        == 0
    )
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("file,condition,si_sdr") and len(lines) == 5
    assert "noisy@10dB" in capsys.readouterr().out


# ---- the bad-input matrix ------------------------------------------------------------------


def _make(kind: str, root: Path) -> tuple[Path, str | None]:
    """Build one input; return (path, None if it must work, else a word the error must contain)."""
    rng = np.random.default_rng(0)
    tone = _tone(0.4)
    if kind == "missing":
        return root / "missing.wav", "no such file"
    if kind == "empty":
        (root / "empty.wav").write_bytes(b"")
        return root / "empty.wav", "empty"
    if kind == "corrupt":
        data = root / "c.wav"
        _write(data, tone)
        data.write_bytes(data.read_bytes()[:60])
        return data, "truncated"
    if kind == "not_audio":
        (root / "text.wav").write_text("hello, not audio")
        return root / "text.wav", ""
    if kind == "nan":
        return _write(
            root / "nan.wav", np.full((800, 1), np.nan, np.float32), subtype="FLOAT"
        ), "nan"
    cases = {
        "shorter_than_a_frame": (tone[:10], 16000, "PCM_16"),
        "silence": (np.zeros((8000, 1), np.float32), 16000, "PCM_16"),
        "clipping": (np.clip(tone * 10, -1, 1), 16000, "PCM_16"),
        "pcm_u8": (tone, 16000, "PCM_U8"),
        "pcm_24": (tone, 16000, "PCM_24"),
        "float": (tone, 16000, "FLOAT"),
        "stereo": (_tone(0.4, 16000, 2), 16000, "PCM_16"),
        "surround_5_1": (
            _tone(0.4, 16000, 6) + 0.01 * rng.standard_normal((6400, 6)).astype(np.float32),
            16000,
            "PCM_16",
        ),
        "rate_8k": (_tone(0.4, 8000), 8000, "PCM_16"),
        "rate_96k": (_tone(0.4, 96000), 96000, "PCM_16"),
        "space and ünïcödé": (tone, 16000, "PCM_16"),
    }
    data, sr, subtype = cases[kind]
    return _write(root / f"{kind}.wav", data, sr, subtype), None


KINDS = [
    "missing",
    "empty",
    "corrupt",
    "not_audio",
    "nan",
    "shorter_than_a_frame",
    "silence",
    "clipping",
    "pcm_u8",
    "pcm_24",
    "float",
    "stereo",
    "surround_5_1",
    "rate_8k",
    "rate_96k",
    "space and ünïcödé",
]


@pytest.mark.parametrize("command", ["denoise", "reconstruct", "encode"])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_matrix(models, tmp_path, capsys, command, kind):
    src, error = _make(kind, tmp_path)
    model = models["denoise" if command == "denoise" else "ae"]
    code = main([command, str(model), str(src), "-o", str(tmp_path / "out"), "--quiet"])
    printed = capsys.readouterr()
    if error is None:
        assert code == 0, printed
        outputs = list((tmp_path / "out").iterdir())
        assert len(outputs) == 1
        if command != "encode":
            info, source = sf.info(outputs[0]), sf.info(src)
            assert (info.samplerate, info.channels, info.frames) == (
                source.samplerate,
                source.channels,
                source.frames,
            )
    else:
        assert code == 1
        assert src.name in printed.out and error in printed.out.lower()
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_folder_job_finishes_the_rest_and_unwritable_output_is_reported(models, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for kind in KINDS[1:]:
        _make(kind, folder)
    assert (
        main(
            ["denoise", str(models["denoise"]), str(folder), "-o", str(tmp_path / "out"), "--quiet"]
        )
        == 1
    )
    report = capsys.readouterr().out
    assert f"{len(KINDS) - 5} written, 0 skipped (output exists), 4 failed" in report
    # an output folder that cannot be created (its parent is a file; chmod does not stop root)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    code = main(
        [
            "denoise",
            str(models["denoise"]),
            str(folder / "silence.wav"),
            "-o",
            str(blocker / "out"),
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert (
        code == 1
        and "silence.wav" in printed
        and "0 written, 0 skipped (output exists), 1 failed" in printed
    )


def test_generated_sounds_are_scaled_together_only_when_they_would_clip():
    from audioae.apps import within_full_scale

    quiet = [torch.full((4,), 0.5), torch.full((4,), -0.25)]
    assert within_full_scale(quiet) is quiet
    loud = within_full_scale([torch.full((4,), 2.0), torch.full((4,), 1.0)])
    torch.testing.assert_close(loud[0], torch.full((4,), 0.99))
    torch.testing.assert_close(loud[1], torch.full((4,), 0.495))


def test_decode_and_reconstruct_scale_down_instead_of_clipping(models, tmp_path, monkeypatch):
    import warnings

    from audioae.apps import decode_file, encode_file, reconstruct_file
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load(models["ae"], device="cpu")
    src = _write(tmp_path / "note.wav", _tone(0.5))
    encode_file(pipe, src, tmp_path / "note.aae", bits=6)

    def loud(*args, **kwargs):  # one peak at 2.0 on a 0.5 floor
        return torch.full((1, 8000), 0.5).index_fill(-1, torch.tensor([10]), 2.0)

    def loud_pieces(*args, **kwargs):  # decode_file writes decode_stream's pieces
        whole = loud()
        return iter([whole[:, :3000], whole[:, 3000:]])

    monkeypatch.setattr(pipe, "decode_stream", loud_pieces)
    monkeypatch.setattr(pipe, "reconstruct", loud)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ClippingWarning would fail the test
        decode_file(pipe, tmp_path / "note.aae", tmp_path / "dec.wav")
        reconstruct_file(pipe, src, tmp_path / "rec.wav")
    for name in ("dec.wav", "rec.wav"):
        out, _ = sf.read(tmp_path / name)
        assert out.max() == pytest.approx(0.99, abs=1e-3)  # the peak, scaled to 0.99
        assert np.median(out) == pytest.approx(
            0.5 * 0.99 / 2.0, abs=1e-3
        )  # the rest by the same gain
