"""What `audioae train` says about its folder: hours of audio per split, unusable files named
up to a limit, a validation set one file dominates, low sample rates, recorded validation
files that are gone, and a left-out count that includes skipped short clips."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from audioae.config import load_config
from audioae.data import build_datasets
from audioae.data_report import bad_files_message, dominant_file, format_seconds, low_rate_message

SR = 16000


def test_format_seconds_and_the_messages() -> None:
    assert [format_seconds(s) for s in (12.34, 1680.0, 3 * 3600.0)] == [
        "12.3 s",
        "28.0 min",
        "3.0 h",
    ]
    bad = [(Path(f"d/b{i:02d}.wav"), "empty file (0 bytes)") for i in range(12)]
    text = bad_files_message(bad, Path("d"), limit=10)
    assert text.count("empty file") == 10 and "d/b09.wav" in text and "d/b10.wav" not in text
    assert text.endswith("... and 2 more (`audioae inspect d` lists the data folder's)")
    assert bad_files_message(bad[:3], Path("d")).count("\n") == 3  # all named, no count line
    files = [Path("a"), Path("b"), Path("c")]
    assert dominant_file(files, np.array([240.0, 10.0, 10.0])) == (Path("a"), 240 / 260)
    assert dominant_file(files, np.array([10.0, 10.0, 10.0])) is None
    assert dominant_file(files[:1], np.array([240.0])) is None  # one file: nothing to compare
    assert low_rate_message(np.array([16000, 8000, 11025]), 16000).startswith(
        "2 file(s) have a sample rate below audio.sample_rate=16000 Hz (lowest 8000 Hz)"
    )
    assert low_rate_message(np.array([16000, 44100]), 16000) is None


def _write(root: Path, name: str, seconds: float, sample_rate: int = SR) -> None:
    rng = np.random.default_rng(len(name))
    x = (0.1 * rng.standard_normal(int(seconds * sample_rate))).astype(np.float32)
    sf.write(str(root / name), x, sample_rate)


def test_train_names_hours_a_dominant_validation_file_and_gone_files(tmp_path, caplog) -> None:
    root = tmp_path / "d"
    root.mkdir()
    _write(root, "long.wav", 60.0)
    for i in range(6):
        _write(root, f"a{i}.wav", 2.0)
    _write(root, "low.wav", 2.0, sample_rate=8000)
    _write(root, "tiny.wav", 0.1)  # shorter than a segment: skipped below
    cfg = load_config(
        None, ["data.val_fraction=0.3", "data.short_clips=skip", "data.segment_seconds=0.5"]
    )
    with caplog.at_level(logging.INFO, logger="audioae"):
        build_datasets(cfg, root, val_paths=["long.wav", "a0.wav", "gone.wav"], index_workers=1)
    text = caplog.text
    assert "d: 6 training file(s) (12.0 s) and 2 validation file(s) (62.0 s), 1 left out" in text
    assert f"{root / 'long.wav'} holds 97% of the validation audio" in text
    assert (
        "1 of the 3 validation file(s) recorded for this run are gone or unusable (gone.wav)"
        in text
    )
    assert "1 file(s) have a sample rate below audio.sample_rate=16000 Hz (lowest 8000 Hz)" in text


def test_an_out_of_phase_stereo_file_is_not_called_just_silent(tmp_path) -> None:
    from audioae.data_report import silent_reason

    t = np.arange(SR) / SR
    left = 0.35 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "anti.wav", np.stack([left, -left], 1).astype(np.float32), SR)
    sf.write(tmp_path / "quiet.wav", np.zeros((SR, 2), np.float32), SR)
    sf.write(tmp_path / "mono.wav", np.zeros(SR, np.float32), SR)
    reason = silent_reason(tmp_path / "anti.wav", -60.0)
    assert reason.startswith("its channels cancel when mixed to mono (out of phase; the loudest")
    assert "-12.1 dBFS" in reason
    for name in ("quiet.wav", "mono.wav", "missing.wav"):
        assert silent_reason(tmp_path / name, -60.0) == (
            "silent (RMS below data.silence_db = -60 dBFS)"
        )


def _linked_library(root: Path, files: int, links: int) -> Path:
    """``root/lib/n0.wav ...`` (1 s each) and ``root/favs/nK.wav -> ../lib/nK.wav`` for the
    first ``links`` of them (a favourites folder of links)."""
    (root / "lib").mkdir(parents=True)
    (root / "favs").mkdir()
    for i in range(files):
        _write(root / "lib", f"n{i}.wav", 1.0)
    for i in range(links):
        (root / "favs" / f"n{i}.wav").symlink_to(Path("..") / "lib" / f"n{i}.wav")
    return root


def test_a_symlinked_twin_is_used_once(tmp_path, caplog) -> None:
    """Before: `favs/x.flac -> ../lib/x.flac` was a second file, and the two copies could be
    split between training and validation."""
    from audioae.data_report import linked_twins

    root = _linked_library(tmp_path / "d", files=6, links=3)
    (root / "favs" / "again.wav").symlink_to(Path("..") / "lib" / "n5.wav")
    files = sorted(root.rglob("*.wav"))
    twins = [files[i].relative_to(root).as_posix() for i in linked_twins(files)]
    assert twins == ["favs/again.wav", "favs/n0.wav", "favs/n1.wav", "favs/n2.wav"]
    assert linked_twins(sorted((root / "lib").glob("*.wav"))) == []
    cfg = load_config(None, ["data.val_fraction=0.3"])
    with caplog.at_level(logging.INFO, logger="audioae"):
        ds = build_datasets(cfg, root, index_workers=1)
    assert len(ds.train_rows) + len(ds.val_rows) == 6
    assert (
        "4 symbolic link(s) point to audio already in the folder and are used once" in caplog.text
    )


def test_inspect_shows_the_split_training_makes_with_links(tmp_path) -> None:
    """inspect leaves symlinked twins out as training does, so its validation split is
    training's (before, it counted them and could show another split)."""
    from audioae.folder_report import inspect_for_config

    root = _linked_library(tmp_path / "d", files=8, links=3)
    cfg = load_config(None, ["data.val_fraction=0.3"])
    report = inspect_for_config(root, cfg)
    ds = build_datasets(cfg, root, index_workers=1, report=False)
    assert len(report.usable) == 8 and len(report.linked) == 3
    assert sorted(report.val_files) == sorted(ds.index.file(i) for i in ds.val_rows)
    assert "links to files already listed, used once (3):" in report.format()
