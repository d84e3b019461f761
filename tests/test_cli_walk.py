"""What a student following the README's anomaly workflow tripped over (2026-12-03, fourth
session), each now said in one line before any work, or shown where it was hidden."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import sine, tiny_model_file

from audioae.cli import main


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    return tiny_model_file(tmp_path / "model.safetensors")


@pytest.fixture()
def normal(tmp_path: Path, write_audio) -> Path:
    for i in range(6):
        write_audio(f"normal/n{i}.wav", sine(220.0 + 40 * i, seconds=0.5))
    return tmp_path / "normal"


def test_anomaly_refuses_a_folder_output_a_missing_reference_and_one_path_twice(
    model, normal, tmp_path, capsys
) -> None:
    base = ["anomaly", str(model), str(normal), "--quiet", "--device", "cpu"]
    cases = [
        (["-o", str(tmp_path / "out") + "/"], "anomaly writes one CSV table; give its name"),
        (["-o", "s.csv", "--reference", str(tmp_path / "typo.json")], "typo.json: no such file"),
        (
            ["-o", str(tmp_path / "s.csv"), "--reference", str(normal)]
            + ["--save-reference", str(tmp_path / "s.csv")],
            "must be different files",
        ),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.csv").exists()


def test_anomaly_shows_each_files_level_and_names_files_shorter_than_a_window(
    model, normal, tmp_path, write_audio, capsys
) -> None:
    new = tmp_path / "new"
    write_audio("new/loud.wav", sine(300.0, seconds=0.5))
    write_audio("new/quiet.wav", sine(300.0, seconds=0.5, amplitude=0.005))
    write_audio("new/short.wav", sine(300.0, seconds=0.01))  # 10 ms: under one 16 ms window
    out = tmp_path / "scores.csv"
    args = ["anomaly", str(model), str(new), "-o", str(out), "--reference", str(normal)]
    assert main([*args, "--quiet", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "1 file(s) shorter than the model's analysis window (16 ms)" in err
    assert "short.wav (10 ms)" in err
    rows = {Path(r["file"]).name: r for r in csv.DictReader(out.open())}
    level = {name: float(r["rms_dbfs"]) for name, r in rows.items()}
    assert level["loud.wav"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)
    assert level["quiet.wav"] == pytest.approx(level["loud.wav"] - 40.0, abs=0.1)


def test_embed_refuses_a_table_name_as_its_output_and_offers_no_skip(
    model, normal, tmp_path, capsys
) -> None:
    one = normal / "n0.wav"
    assert main(["embed", str(model), str(one), "-o", str(tmp_path / "t.csv")]) == 2
    assert "embed writes each file's frames as .npy" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()  # it held NumPy bytes, then the job failed
    out = tmp_path / "emb"
    assert main(["embed", str(model), str(normal), "-o", str(out), "--quiet"]) == 0
    (out / "embeddings.csv").unlink()
    assert main(["embed", str(model), str(normal), "-o", str(out), "--quiet"]) == 1
    printed = capsys.readouterr()
    assert "output exists" in printed.out and "--skip-existing" not in printed.out + printed.err


def test_config_of_a_run_folder_and_of_a_checkpoint(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "recipes" / "tiny.yaml", run / "config.yaml")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04" + bytes(2000))
    assert main(["config", str(run)]) == 0
    out = capsys.readouterr().out
    import yaml

    from audioae.config import load_config

    assert out.startswith(f"# the config of the training run {run} (its config.yaml)")
    assert yaml.safe_load(out) == load_config(run / "config.yaml").to_dict()
    assert main(["config", str(run / "checkpoints" / "last.ckpt")]) == 2
    assert "a training checkpoint, not a model file" in capsys.readouterr().err


def test_inspect_exits_1_when_nothing_is_usable(tmp_path, capsys) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.wav").write_bytes(b"not audio at all" * 10)
    assert main(["inspect", str(junk)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"folder: {junk}") and "no usable files" in out
    main(["inspect", str(junk / "x.wav")])
    assert capsys.readouterr().out.startswith(f"file: {junk / 'x.wav'}")  # not "folder:"


def test_a_run_folder_named_like_a_shipped_model_is_named_in_a_warning(
    model, tmp_path, monkeypatch
) -> None:
    from audioae.modelfile import resolve_model_file

    (tmp_path / "timbre").mkdir()
    shutil.copy(model, tmp_path / "timbre" / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="the folder timbre/ holds a model file too"):
        assert resolve_model_file("timbre").parent.name != "timbre"  # the shipped one


def test_a_reference_of_another_model_says_so(tmp_path) -> None:
    import torch

    from audioae.anomaly import fit_reference
    from audioae.anomaly_reference import AnomalyReferenceError
    from audioae.pipeline import Pipeline

    small = Pipeline.load(tiny_model_file(tmp_path / "a.safetensors"), device="cpu")
    wide = Pipeline.load(
        tiny_model_file(tmp_path / "b.safetensors", ["model.latent_dim=12"]), device="cpu"
    )
    stats, _ = fit_reference(small, [torch.randn(1, 4000) * 0.1 for _ in range(5)])
    with pytest.raises(AnomalyReferenceError, match="fitted with another model: .* embedding"):
        stats.check(wide)


def test_a_resume_that_changes_settings_names_them(tmp_path, caplog) -> None:
    from conftest import copy_notes

    from audioae.config import load_config
    from audioae.training import train

    folder = copy_notes(tmp_path / "notes")
    first = ["training.max_steps=2", "training.val_every=2", "training.checkpoint_every=2"]
    out = tmp_path / "run"
    train(load_config("tiny", first), folder, out_dir=out, progress=False)
    recipe = load_config("tiny", ["training.val_every=2", "training.checkpoint_every=2"])
    with caplog.at_level("WARNING"):
        train(recipe, folder, out_dir=out, resume=True, max_steps=3, progress=False)
    assert "differ from its config.yaml" not in caplog.text  # --max-steps: on purpose
    with caplog.at_level("WARNING"):
        train(recipe, folder, out_dir=out, resume=True, progress=False)
    assert f"training.max_steps: 3 -> {recipe.training.max_steps}" in caplog.text
