"""benchmarks/denoise_validation.py: scoring on a folder of voices and a relative noise folder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import denoise_validation as dv  # noqa: E402

SR = 16000


def _clip(path: Path, f0: float, seconds: float = 1.5) -> None:
    """A voiced-like test signal: a harmonic tone with a slow 4 Hz amplitude envelope."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.2 * x / np.max(np.abs(x)), SR)


def test_scores_voices_folders_with_a_relative_noise_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pesq")
    for lang, f0 in (("da", 140.0), ("en", 210.0)):
        _clip(tmp_path / "voices" / lang / "r" / "c0.flac", f0)
    noise = tmp_path / "noise" / "crowd" / "n.flac"
    noise.parent.mkdir(parents=True)
    sf.write(noise, 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    monkeypatch.chdir(tmp_path)  # --unseen-noise relative to here, not to --data
    argv = ["denoise", "--voices", "voices/da", "voices/en", "--unseen-noise", "noise"]
    threads = torch.get_num_threads()
    try:
        dv.main([*argv, "--data", str(ROOT / "data")])
    finally:
        torch.set_num_threads(threads)  # the script sets one thread for itself
    out = capsys.readouterr().out
    assert "== unseen noise (2 clips)" in out and "== seen noise (2 clips)" in out
    rows = [line for line in out.splitlines() if "PESQ" in line]
    assert len(rows) == 4 and sum("denoise" in r for r in rows) == 2
    values = [float(v) for r in rows for v in r.split("PESQ")[1].split("|")[0].split()]
    assert len(values) == 16 and all(1.0 <= v <= 4.7 for v in values)


def test_refuses_voice_folders_without_audio(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        dv.main(["denoise", "--voices", str(tmp_path / "empty")])


def test_paired_difference_interval() -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(1.2, 2.5, size=(40, 4))
    shifted = reference + 0.05 + rng.normal(0, 0.01, size=(40, 4))
    mean, low, high = dv.paired_difference(shifted, reference)
    assert abs(mean - 0.05) < 0.005 and low < mean < high and low > 0.04 and high < 0.06
    noisy = reference + rng.normal(0, 0.2, size=(40, 4))  # no real difference: 0 inside
    mean, low, high = dv.paired_difference(noisy, reference)
    assert low < 0 < high
    assert dv.paired_difference(reference, reference) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shapes differ"):
        dv.paired_difference(reference, reference[:3])


def test_rows_after_the_first_model_get_a_paired_difference(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pesq")
    for i, f0 in enumerate((140.0, 180.0, 230.0)):
        _clip(tmp_path / "voices" / f"c{i}.flac", f0)
    threads = torch.get_num_threads()
    try:
        dv.main(
            ["denoise", "--voices", str(tmp_path / "voices"), "--mask-exponents", "1,2"]
            + ["--data", str(ROOT / "data")]
        )
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for section in out.split("== ")[1:]:
        lines = section.splitlines()[1:]
        table = {
            line.split("PESQ")[0].strip(): [
                float(v) for v in line.split("PESQ")[1].split("|")[0].split()
            ]
            for line in lines
            if "|" in line
        }
        diffs = [line for line in lines if "PESQ - denoise:" in line]
        assert len(diffs) == 1 and diffs[0].split("PESQ")[0].strip() == "denoise ^2"
        shown = float(diffs[0].split(":")[1].split()[0])
        expected = np.mean(table["denoise ^2"]) - np.mean(table["denoise"])
        assert abs(shown - expected) < 2e-3  # the table's values are rounded
        low, high = (float(v) for v in diffs[0].split("CI")[1].split(",")[0].split(".."))
        assert low <= shown <= high
