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
