"""Recorded (clean, noisy) pairs in evaluate_model and `audioae evaluate --clean --noisy`:
unpaired files and pairs of different lengths are reported, never dropped or cropped silently."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioae.evaluate import PAIR_LENGTH_TOLERANCE_S, evaluate_model, evaluate_pair

SR = 16000


class _Identity:
    """A stand-in Pipeline at 16 kHz whose denoiser returns its input."""

    sample_rate = SR

    def denoise(self, wav):
        return wav


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """A tone with a little noise, ``seconds`` long (rounded to samples), float32."""
    n = round(seconds * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)


def _pair(root: Path, name: str, clean_s: float | None, noisy_s: float | None, seed=0) -> None:
    """clean/NAME of ``clean_s`` seconds and noisy/NAME of ``noisy_s`` (None: no such file);
    the noisy file is the clean signal (extended) plus noise."""
    long = _speechlike(max(clean_s or 0, noisy_s or 0), seed)
    rng = np.random.default_rng(seed + 100)
    for side, seconds in (("clean", clean_s), ("noisy", noisy_s)):
        if seconds is None:
            continue
        x = long[: round(seconds * SR)]
        if side == "noisy":
            x = x + (0.05 * rng.standard_normal(x.size)).astype(np.float32)
        (root / side / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / side / name, x, SR, subtype="FLOAT")


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "audioae.evaluate"]


def _run(root: Path, caplog, **kwargs):
    caplog.set_level(logging.WARNING, logger="audioae.evaluate")
    return evaluate_model(
        _Identity(), clean=root / "clean", noisy=root / "noisy", progress=False, **kwargs
    )


def test_unpaired_files_and_length_mismatches_are_reported(tmp_path, caplog):
    _pair(tmp_path, "a.wav", 1.0, 1.03)  # codec-like padding: cropped, warned
    _pair(tmp_path, "b.wav", 2.0, 2.5)  # 0.5 s apart: most likely the wrong pair, fails
    _pair(tmp_path, "c.wav", 1.0, None)  # clean without a noisy partner: not used
    _pair(tmp_path, "d.wav", None, 1.0)  # noisy without a clean partner: fails
    _pair(tmp_path, "e.wav", 1.0, 1.0)  # a proper pair
    rows, skipped = _run(tmp_path, caplog)

    assert [(Path(r.file).name, r.condition) for r in rows] == [
        ("a.wav", "noisy"),
        ("a.wav", "denoised"),
        ("e.wav", "noisy"),
        ("e.wav", "denoised"),
    ]
    failed = {p.name: reason for p, reason in skipped}
    assert sorted(failed) == ["b.wav", "d.wav"]
    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    assert failed["d.wav"] == f"no clean reference {clean / 'd.wav'}"
    assert failed["b.wav"] == (
        f"the pair differs in length by 0.500 s (noisy 2.500 s, clean {clean / 'b.wav'} "
        "2.000 s), more than the 0.1 s allowed for codec padding: probably the wrong pair"
    )

    lines = _warnings(caplog)
    assert lines == [
        f"evaluate: 1 noisy file(s) have no clean file of the same relative path in "
        f"{clean} and fail: {noisy / 'd.wav'}",
        f"evaluate: 1 clean file(s) have no noisy file of the same relative path in "
        f"{noisy} and are not used: {clean / 'c.wav'}",
        f"evaluate: {noisy / 'a.wav'} is 1.030 s, its clean {clean / 'a.wav'} "
        "1.000 s: scored over the shorter 1.000 s",
        "evaluate: recorded pairs: 2 file(s) unpaired (1 noisy without a clean partner: "
        "failed; 1 clean without a noisy partner: not used); 1 pair(s) of different lengths "
        "cropped to the shorter (by up to 30.0 ms); 1 pair(s) failed: lengths differ by more "
        "than 0.1 s",
    ]


def test_a_cropped_pair_is_scored_over_the_shorter_length(tmp_path, caplog):
    _pair(tmp_path, "a.wav", 1.05, 1.0)  # the clean one is the longer here
    rows, skipped = _run(tmp_path, caplog)
    assert skipped == []
    clean = torch.from_numpy(sf.read(tmp_path / "clean" / "a.wav", dtype="float32")[0])
    noisy = torch.from_numpy(sf.read(tmp_path / "noisy" / "a.wav", dtype="float32")[0])
    expected = evaluate_pair(noisy, clean[:SR], SR, speech=False)
    assert rows[0].condition == "noisy" and rows[0].metrics == expected
    assert "is 1.000 s, its clean" in _warnings(caplog)[0]
    assert "1.050 s: scored over the shorter 1.000 s" in _warnings(caplog)[0]


def test_many_length_mismatches_name_five_and_count_all(tmp_path, caplog):
    for i in range(7):
        _pair(tmp_path, f"f{i}.wav", 1.0, 1.0 + 0.002 * (i + 1), seed=i)  # 2 .. 14 ms longer
    rows, skipped = _run(tmp_path, caplog)
    assert skipped == [] and len(rows) == 14
    lines = _warnings(caplog)
    per_file = [line for line in lines if "scored over the shorter" in line]
    assert [Path(line.split()[1]).name for line in per_file] == [f"f{i}.wav" for i in range(5)]
    assert per_file[-1].endswith("(further pairs of different lengths are only counted)")
    assert lines[-1] == (
        "evaluate: recorded pairs: 7 pair(s) of different lengths cropped to the shorter "
        "(by up to 14.0 ms)"
    )
    assert len(lines) == 6


def test_tolerance_boundaries(tmp_path, caplog):
    assert PAIR_LENGTH_TOLERANCE_S == 0.1
    n = SR  # 1 s clean
    _pair(tmp_path, "one_sample.wav", 1.0, (n + 1) / SR)  # rounding: not reported
    _pair(tmp_path, "at_limit.wav", 1.0, (n + 1600) / SR)  # exactly 0.1 s: cropped
    _pair(tmp_path, "over_limit.wav", 1.0, (n + 1601) / SR)  # one sample more: fails
    rows, skipped = _run(tmp_path, caplog)
    assert sorted({Path(r.file).name for r in rows}) == ["at_limit.wav", "one_sample.wav"]
    assert [(p.name, "differs in length by 0.100 s" in why) for p, why in skipped] == [
        ("over_limit.wav", True)
    ]
    per_file = [line for line in _warnings(caplog) if "scored over the shorter" in line]
    assert len(per_file) == 1 and "at_limit.wav" in per_file[0]

    caplog.clear()
    rows, skipped = _run(tmp_path, caplog, length_tolerance_s=0.0)  # only rounding allowed
    assert {Path(r.file).name for r in rows} == {"one_sample.wav"}
    assert sorted(p.name for p, _ in skipped) == ["at_limit.wav", "over_limit.wav"]
    assert _warnings(caplog)[-1] == (
        "evaluate: recorded pairs: 2 pair(s) failed: lengths differ by more than 0 s"
    )
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="length_tolerance_s must be >= 0"):
            _run(tmp_path, caplog, length_tolerance_s=bad)


def test_matched_folders_warn_nothing(tmp_path, caplog):
    _pair(tmp_path, "a.wav", 1.0, 1.0)
    _pair(tmp_path, "sub/b.wav", 0.5, 0.5)
    rows, skipped = _run(tmp_path, caplog)
    assert len(rows) == 4 and skipped == [] and _warnings(caplog) == []


def test_cli_prints_the_warnings_and_an_unused_clean_file_is_no_failure(tmp_path, capsys):
    from audioae.cli import main

    _pair(tmp_path, "a.wav", 1.0, 1.02)
    _pair(tmp_path, "c.wav", 1.0, None)
    out = tmp_path / "r.csv"
    argv = ["evaluate", "denoise", "--clean", str(tmp_path / "clean"), "--quiet"]
    argv += ["--noisy", str(tmp_path / "noisy"), "-o", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert (
        f"audioae: evaluate: 1 clean file(s) have no noisy file of the same relative path in "
        f"{tmp_path / 'noisy'} and are not used: {tmp_path / 'clean' / 'c.wav'}"
    ) in err
    assert (
        f"audioae: evaluate: {tmp_path / 'noisy' / 'a.wav'} is 1.020 s, its clean "
        f"{tmp_path / 'clean' / 'a.wav'} 1.000 s: scored over the shorter 1.000 s"
    ) in err
    assert err[-1] == (
        "audioae: evaluate: recorded pairs: 1 file(s) unpaired (0 noisy without a clean "
        "partner: failed; 1 clean without a noisy partner: not used); 1 pair(s) of different "
        "lengths cropped to the shorter (by up to 20.0 ms)"
    )
    assert "2 rows written" in captured.out and "0 file(s) failed" in captured.out


def test_a_missing_clean_folder_is_an_error_naming_it(tmp_path, caplog):
    from audioae.audio import AudioError

    _pair(tmp_path, "a.wav", None, 1.0)
    missing = re.escape(f"{tmp_path / 'clean'}: no such file or folder")
    with pytest.raises(AudioError, match=missing):
        _run(tmp_path, caplog)
