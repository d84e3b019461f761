"""A resumed run keeps its validation files while the data folder changes, and a file
removed or changed during training stops it with one line naming the file."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from audioae.cli import main
from audioae.clips import FileClips
from audioae.config import load_config, resolve_recipe
from audioae.data import DataReadError, build_datasets, split_kept, split_relative
from audioae.dataindex import index_folder

SR = 16000


def _write(path: Path, seed: int, seconds: float = 1.0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.2 * rng.standard_normal(int(seconds * SR))).astype(np.float32), SR)


def _folder(root: Path, n: int) -> Path:
    for i in range(n):
        _write(root / f"clip{i:02d}.wav", i)
    return root


def _smallest_hash_names(existing: list[str], count: int, fraction: float) -> list[str]:
    """New file names that the hash split would hold out before all the existing ones."""
    names, k = [], 0
    while len(names) < count:
        name = f"added{k:04d}.wav"
        _, val = split_relative([*existing, name], "root", 1 / (len(existing) + 1))
        if len(existing) in val:
            names.append(name)
        k += 1
    return names


def test_split_kept_never_moves_a_file_between_the_sets() -> None:
    paths = [f"f{i:03d}.wav" for i in range(40)]
    train, val = split_relative(paths, "root", 0.1)
    recorded = [paths[i] for i in val]
    grown = paths + _smallest_hash_names(paths, 4, 0.1)
    # the hash split of the grown folder moves recorded validation files into training
    _, grown_val = split_relative(grown, "root", 0.1)
    assert set(recorded).isdisjoint(grown[i] for i in grown_val)
    kept_train, kept_val = split_kept(grown, recorded)
    assert [grown[i] for i in kept_val] == sorted(recorded)
    assert sorted(kept_train + kept_val) == list(range(len(grown)))
    assert {grown[i] for i in kept_train} == set(grown) - set(recorded)
    shrunk = [p for p in paths if p != recorded[0]]
    _, shrunk_val = split_kept(shrunk, recorded)
    assert [shrunk[i] for i in shrunk_val] == sorted(recorded[1:])
    assert split_kept(["other.wav"], recorded) == ([0], [])


def _train(data: Path, run: Path, *extra: str, resume: bool = False, fraction: float = 0.2) -> int:
    args = ["train", "tiny", "--data", str(data), "--out", str(run), "--quiet"]
    sets = ["data.num_workers=0", "training.val_every=2", f"data.val_fraction={fraction}"]
    return main([*args, *(["--resume"] if resume else []), *extra, "--set", *sets])


def test_resume_keeps_the_recorded_validation_files(tmp_path: Path, caplog) -> None:
    data, run = _folder(tmp_path / "data", 10), tmp_path / "run"
    assert _train(data, run, "--max-steps", "2") == 0
    record = json.loads((run / "split.json").read_text())
    assert record["val_fraction"] == 0.2 and len(record["val"]) == 2
    cfg = load_config(resolve_recipe("tiny"), ["data.val_fraction=0.2"])
    assert record["val"] == build_datasets(cfg, data, report=False).val_paths

    existing = sorted(p.name for p in data.iterdir() if p.suffix == ".wav")
    for i, name in enumerate(_smallest_hash_names(existing, 6, 0.2)):
        _write(data / name, 100 + i)
    grown = build_datasets(cfg, data, report=False).val_paths
    assert set(grown) != set(record["val"])  # what a fresh split would hold out now
    assert _train(data, run, "--max-steps", "4", resume=True) == 0
    assert json.loads((run / "split.json").read_text()) == record

    (data / record["val"][0]).unlink()
    with caplog.at_level(logging.WARNING, logger="audioae"):
        assert _train(data, run, "--max-steps", "6", resume=True) == 0
    assert "1 of the 2 validation file(s) recorded for this run are gone" in caplog.text
    assert json.loads((run / "split.json").read_text())["val"] == record["val"][1:]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audioae"):
        assert _train(data, run, "--max-steps", "8", resume=True, fraction=0.3) == 0
    assert "data.val_fraction is 0.3, the run started with 0.2" in caplog.text


def test_a_damaged_split_record_is_warned_about_and_chosen_anew(tmp_path: Path, caplog) -> None:
    data, run = _folder(tmp_path / "data", 10), tmp_path / "run"
    assert _train(data, run, "--max-steps", "2") == 0
    (run / "split.json").write_text('{"val_fraction": 0.2, "val": [1, 2]}')
    with caplog.at_level(logging.WARNING, logger="audioae"):
        assert _train(data, run, "--max-steps", "3", resume=True) == 0
    assert "not a record of validation files" in caplog.text
    assert len(json.loads((run / "split.json").read_text())["val"]) == 2


def _clips(root: Path) -> FileClips:
    index = index_folder(root, workers=1)
    return FileClips(index, list(range(len(index))), SR)


def test_a_removed_or_changed_file_is_named_with_what_happened(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", 3)
    clips = _clips(root)
    assert clips.read(0, 0, 100).shape == (100,)
    (root / clips.paths[0]).unlink()
    with pytest.raises(DataReadError, match="removed since the data folder was indexed") as err:
        clips.read(0, 0, 100)
    assert str(err.value).startswith(str(root / clips.paths[0]))
    assert "--resume" in str(err.value)
    changed = root / clips.paths[1]
    changed.write_bytes(b"not audio any more")
    with pytest.raises(DataReadError, match="changed since the data folder was indexed"):
        clips.read(1, 0, 100)


class _Reads(Dataset):
    def __init__(self, clips: FileClips) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.clips.read(0, 0, 100)


def test_the_error_crosses_a_dataloader_worker_as_one_line(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", 2)
    clips = _clips(root)
    (root / clips.paths[0]).unlink()
    loader = DataLoader(_Reads(clips), batch_size=2, num_workers=1)
    with pytest.raises(DataReadError) as err:
        next(iter(loader))
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{root / clips.paths[0]}: removed since")


def test_training_stops_with_one_line_when_a_file_goes(tmp_path: Path, monkeypatch, capsys) -> None:
    from audioae.training import AutoEncoderModule

    data, run = _folder(tmp_path / "data", 6), tmp_path / "run"
    original = AutoEncoderModule.training_step

    def removing(self, batch, batch_idx):
        if self.global_step == 2:
            for path in sorted(data.glob("*.wav")):
                os.unlink(path)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(AutoEncoderModule, "training_step", removing)
    args = ["train", "tiny", "--data", str(data), "--out", str(run), "--quiet"]
    sets = ["data.num_workers=1", "training.checkpoint_every=1", "training.val_every=100"]
    assert main([*args, "--max-steps", "40", "--set", *sets]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error") == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"audioae: error: {data}") and "removed since the data folder" in last
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_inspect_run_shows_the_split_a_resume_keeps(tmp_path: Path, capsys) -> None:
    data, run = _folder(tmp_path / "data", 10), tmp_path / "run"
    assert _train(data, run, "--max-steps", "2") == 0
    recorded = json.loads((run / "split.json").read_text())["val"]
    existing = sorted(p.name for p in data.iterdir() if p.suffix == ".wav")
    for i, name in enumerate(_smallest_hash_names(existing, 6, 0.2)):
        _write(data / name, 100 + i)
    capsys.readouterr()

    assert main(["inspect", str(data), "--run", str(run)]) == 0  # the run's config: fraction 0.2
    line = next(x for x in capsys.readouterr().out.splitlines() if "validation split" in x)
    assert line.startswith("  validation split, recorded by the run: 2 of 16 usable files (")
    assert all(name in line for name in recorded)

    assert main(["inspect", str(data), "--set", "data.val_fraction=0.2"]) == 0  # a fresh split
    line = next(x for x in capsys.readouterr().out.splitlines() if "validation split" in x)
    assert "recorded" not in line and not all(name in line for name in recorded)

    assert main(["inspect", str(data), "--run", str(data)]) == 2
    assert "--run " + str(data) + ": not a training run folder" in capsys.readouterr().err
